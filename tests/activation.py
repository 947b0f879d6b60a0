"""Socket activation as systemd does it, for the tests and tests/launch.py: one copy.

The fds go to 3.. in the order named, LISTEN_FDS and LISTEN_FDNAMES name them, and
LISTEN_PID is the pid of the process that execs the program (exec keeps the pid, so the
check every leasebox program makes holds).

    python -m tests.activation NAME=FD... -- PROGRAM ARGS...

places the inherited FDs and execs PROGRAM; `ip netns exec NS ...` may stand in front of
PROGRAM, since it execs in turn. From Python: `exec_activated` (in this process) or
`argv` (a command line for subprocess.Popen, with the fds in pass_fds).
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

FIRST_FD = 3
SO_BINDTODEVICE = 25
RTMGRP_LINK = 1


def io_sockets(iface: str) -> dict[str, socket.socket]:
    """What io's socket units open: UDP 0.0.0.0:68 on the device, if it exists (else io
    binds it once the device appears) (SO_REUSEADDR, as systemd sets it; broadcast
    allowed), and the rtnetlink socket for link events."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if os.path.exists(f"/sys/class/net/{iface}"):
        udp.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
    udp.bind(("0.0.0.0", 68))
    rtnl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    rtnl.bind((0, RTMGRP_LINK))
    return {"udp": udp, "rtnl": rtnl}


def place_fds(fds: Sequence[int]) -> None:
    """Put `fds` at 3, 4, ... (inheritable), whatever numbers they have now."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100 + len(fds)) for fd in fds]
    for i, fd in enumerate(high):  # moved out of the way first: no target clobbers a source
        os.dup2(fd, FIRST_FD + i, inheritable=True)
        os.close(fd)


def environment(names: Sequence[str], base: Mapping[str, str] | None = None
                ) -> dict[str, str]:
    """The environment for the program: `base` (default: ours) with LISTEN_* set, LISTEN_PID
    to this process. NOTIFY_SOCKET and WATCHDOG_* are the caller's to set or leave out."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith("LISTEN_")}
    env.update(LISTEN_FDS=str(len(names)), LISTEN_FDNAMES=":".join(names),
               LISTEN_PID=str(os.getpid()))
    return env


def exec_activated(argv: Sequence[str], named: Sequence[tuple[str, int]],
                   base: Mapping[str, str] | None = None) -> NoReturn:
    place_fds([fd for _, fd in named])
    env = environment([name for name, _ in named], base)
    os.execvpe(argv[0], list(argv), env)


def argv(named: Sequence[tuple[str, int]], program: Sequence[str],
         python: str = sys.executable) -> list[str]:
    """A command line that runs `program` socket-activated with `named` fds (which the
    caller passes in pass_fds)."""
    return [python, "-m", "tests.activation", *(f"{n}={fd}" for n, fd in named), "--",
            *program]


def main() -> NoReturn:
    sep = sys.argv.index("--")
    named = [(n, int(fd)) for n, _, fd in (a.partition("=") for a in sys.argv[1:sep])]
    exec_activated(sys.argv[sep + 1:], named)


if __name__ == "__main__":
    main()
