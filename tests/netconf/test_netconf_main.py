"""netconf's start-up without root: lazy pyroute2, and the inherited fds it insists on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from tests.io.iolab import needs_root
from tests.netconf.nclab import INTERPRETERS, SRC


def test_importing_main_does_not_load_pyroute2() -> None:
    code = ("import sys, leasebox.netconf.main, leasebox.netconf.dispatch; "
            "print('pyroute2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(SRC)), timeout=20, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("python", INTERPRETERS)
def test_netconf_loads_pyroute2s_messages_and_nothing_else_of_it(python: str) -> None:
    """A request encoded by pyroute2 reaches the kernel (lo of a new network namespace set
    up, and acknowledged); pyroute2's package __init__ (NDB and every public class),
    IPRoute and 0.7's pyroute2.lab (unittest.mock, asyncio) never loaded."""
    code = ("import json, sys; from importlib.metadata import version; "
            "from leasebox.netconf.rtnl import Rtnl; r = Rtnl(); r.open(); "
            "down = r.link(1).up; r.bind(1).set_up(); "
            "print(json.dumps([down, r.link(1).up, sorted(m for m in sys.modules if m in "
            "('pyroute2.iproute', 'pyroute2.ndb.main', 'pyroute2.ipdb', 'pyroute2.lab', "
            "'unittest.mock', 'asyncio')), sys.modules['readline'] is None, "
            "version('pyroute2')]))")
    out = subprocess.run(["unshare", "--net", python, "-I", "-c",
                          f"import sys; sys.path.insert(0, {str(SRC)!r}); " + code],
                         capture_output=True, text=True, timeout=30, check=True)
    down, up, loaded, no_readline, _version = json.loads(out.stdout)
    assert (down, up, loaded, no_readline) == (False, True, [], True), out.stderr


def run_with_fds(socks: list[tuple[str, socket.socket]]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "JOURNAL_"))}
    env.update(PYTHONPATH=str(SRC), LISTEN_FDS=str(len(socks)),
               LISTEN_FDNAMES=":".join(name for name, _ in socks))
    redirects = " ".join(f"{3 + i}<&{s.fileno()}" for i, (_, s) in enumerate(socks))
    script = f'export LISTEN_PID=$$; exec "$@" {redirects}'
    return subprocess.run(
        ["bash", "-c", script, "bash", sys.executable, "-m", "leasebox.netconf.main", "eth0"],
        env=env, pass_fds=[s.fileno() for _, s in socks], stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=20, check=False)


@pytest.mark.parametrize("case", ["none", "stream", "dgram", "both", "listening-engine",
                                  "connected-netconf"])
def test_unusable_inherited_sockets_exit_1(case: str) -> None:
    pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(f"\0leasebox-test-{os.getpid()}-{case}")
    listener.listen(1)
    stream = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    dgram = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    socks = {
        "none": [],
        "stream": [("engine", stream[1])],
        "dgram": [("netconf", dgram[1])],
        "both": [("engine", pair[1]), ("netconf", listener)],
        "listening-engine": [("engine", listener)],
        "connected-netconf": [("netconf", pair[1])],
    }[case]
    try:
        proc = run_with_fds(socks)
    finally:
        for s in (*pair, listener, *stream, *dgram):
            s.close()
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1
