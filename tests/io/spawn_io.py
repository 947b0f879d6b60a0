"""Play the service manager for one leasebox-io run inside a network namespace.

Run as `ip netns exec NS python spawn_io.py IFACE NAME=FD ... -- IO-ARGS`. Opens what the
socket units would (UDP 0.0.0.0:68 bound to IFACE, the rtnetlink link socket), adds the fds
named on the command line (the engine's end of a socketpair, FDSTORE fds), puts them at 3..
and execs leasebox-io with LISTEN_FDS/LISTEN_FDNAMES, LISTEN_PID being its own pid: exec
keeps the pid, so the check io makes holds.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from pathlib import Path

SO_BINDTODEVICE = 25
RTMGRP_LINK = 1


def main() -> None:
    sep = sys.argv.index("--")
    iface, named, io_args = sys.argv[1], sys.argv[2:sep], sys.argv[sep + 1:]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    udp.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
    udp.bind(("0.0.0.0", 68))
    rtnl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    rtnl.bind((0, RTMGRP_LINK))
    fds = [("udp", udp.fileno()), ("rtnl", rtnl.fileno())]
    fds += [(n, int(fd)) for n, _, fd in (item.partition("=") for item in named)]
    # Move every fd out of the way first, so placing them at 3.. cannot clobber another.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for _, fd in fds]
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i, inheritable=True)
        os.close(fd)
    env = dict(os.environ)
    env.update(LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(n for n, _ in fds),
               LISTEN_PID=str(os.getpid()))
    script = Path(sys.executable).parent / "leasebox-io"
    if script.exists():
        os.execve(script, [str(script), iface, *io_args], env)
    os.execve(sys.executable, [sys.executable, "-m", "leasebox.io.main", iface, *io_args], env)


if __name__ == "__main__":
    main()
