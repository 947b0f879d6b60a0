"""netconf's start-up without root: lazy pyroute2, and the inherited fds it insists on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from tests.netconf.nclab import INTERPRETERS, SRC


def test_importing_main_does_not_load_pyroute2() -> None:
    code = ("import sys, leasebox.netconf.main, leasebox.netconf.dispatch; "
            "print('pyroute2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(SRC)), timeout=20, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("python", INTERPRETERS)
def test_netconf_loads_iproute_without_the_rest_of_pyroute2(python: str) -> None:
    """IPRoute works (a link is read through it), and pyroute2's package __init__, which
    loads NDB and every other public class, never ran; nor did 0.7's pyroute2.lab, which
    loads unittest.mock and asyncio (0.9 has no pyroute2.lab, and is built on asyncio)."""
    code = ("import json, sys; from importlib.metadata import version; "
            "from leasebox.netconf.rtnl import Rtnl; r = Rtnl(); r.open(); "
            "lab = sys.modules.get('pyroute2.lab'); "
            "print(json.dumps([r.call('lo', 'link', 'get', index=1)[0].get_attr('IFLA_IFNAME'), "
            "[m for m in ('pyroute2.ndb.main', 'pyroute2.ipdb', 'unittest.mock', 'asyncio') "
            "if m in sys.modules], sys.modules['readline'] is None, version('pyroute2'), "
            "lab is not None and not hasattr(lab, 'mock')]))")
    out = subprocess.run([python, "-I", "-c", f"import sys; sys.path.insert(0, {str(SRC)!r}); "
                          + code], capture_output=True, text=True, timeout=30, check=True)
    name, loaded, no_readline, version, stand_in = json.loads(out.stdout)
    assert (name, no_readline) == ("lo", True), out.stderr
    if version.startswith("0.7."):  # its IPRoute inherits pyroute2.lab's hook: ours
        assert loaded == [] and stand_in
    else:  # 0.9: no pyroute2.lab; IPRoute is built on asyncio, and imports unittest.mock
        assert not {"pyroute2.ndb.main", "pyroute2.ipdb"} & set(loaded)


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
