"""Play the service manager for one leasebox-io run inside a network namespace.

Run as `ip netns exec NS python spawn_io.py IFACE NAME=FD ... -- IO-ARGS`. Opens what the
socket units would (UDP 0.0.0.0:68 bound to IFACE, the rtnetlink link socket), adds the fds
named on the command line (the engine's end of a socketpair, FDSTORE fds), puts them at 3..
and execs leasebox-io with LISTEN_FDS/LISTEN_FDNAMES, LISTEN_PID being its own pid: exec
keeps the pid, so the check io makes holds (tests.activation does that part).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: find tests

from tests.activation import exec_activated, io_sockets


def main() -> None:
    sep = sys.argv.index("--")
    iface, named, io_args = sys.argv[1], sys.argv[2:sep], sys.argv[sep + 1:]
    opened = io_sockets(iface)  # kept open (referenced) until the exec
    fds = [(name, sock.fileno()) for name, sock in opened.items()]
    fds += [(n, int(fd)) for n, _, fd in (item.partition("=") for item in named)]
    script = Path(sys.executable).parent / "leasebox-io"
    program = [str(script)] if script.exists() else [sys.executable, "-m", "leasebox.io.main"]
    exec_activated([*program, iface, *io_args], fds)


if __name__ == "__main__":
    main()
