"""netconf's start-up without root: lazy pyroute2, and the inherited fds it insists on."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests import activation
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
    IPRoute, 0.7's pyroute2.lab (unittest.mock, asyncio) and the ifinfmsg module (its
    plugins, multiprocessing, pyroute2.config's platform probe) never loaded."""
    code = ("import json, sys; from importlib.metadata import version; "
            "from leasebox.netconf.rtnl import Rtnl; r = Rtnl(); r.open(); "
            "down = r.link(1).up; r.bind(1).set_up(); "
            "print(json.dumps([down, r.link(1).up, sorted(m for m in sys.modules if m in "
            "('pyroute2.iproute', 'pyroute2.ndb.main', 'pyroute2.ipdb', 'pyroute2.lab', "
            "'unittest.mock', 'asyncio', 'pyroute2.netlink.rtnl.ifinfmsg', 'pyroute2.config', "
            "'multiprocessing')), sys.modules['readline'] is None, "
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
    assert proc.returncode == 78, proc.stderr  # the unit's sockets: restarting cannot help
    assert proc.stderr.count("\n") == 1


# ---- what netconf asks the kernel, byte for byte, under each pyroute2 -----------------------

_RECORD_REQUESTS = """
import json, sys
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from leasebox.netconf import rtnl
from leasebox.netconf.validate import PlannedRoute
sent = []
class Recording(rtnl.Rtnl):
    def _ask(self, what, request, seq, last):
        sent.append(request.hex())
        return []
r = Recording(); r.open(); link = r.bind(7)
link.set_address(IPv4Interface("192.0.2.5/24"), IPv4Address("192.0.2.255"), 600)
link.set_address(IPv4Interface("192.0.2.5/24"), None, 0xFFFFFFFF, prefix_route=False)
link.set_address(IPv4Interface("192.0.2.5/24"), None, 600, metric=600)
link.del_address(IPv4Interface("192.0.2.5/24"))
link.add_route(PlannedRoute(IPv4Network("0.0.0.0/0"), IPv4Address("192.0.2.1"), 254, 1024),
               IPv4Address("192.0.2.5"))
link.del_route(PlannedRoute(IPv4Network("198.51.100.0/25"), None, 1000, 5))
link.set_mtu(1400)
link.set_up()
print(json.dumps([sent, sorted(m for m in sys.modules if m in ('pyroute2.iproute',
      'pyroute2.ndb.main', 'pyroute2.ipdb', 'pyroute2.lab', 'unittest.mock', 'asyncio',
      'pyroute2.netlink.rtnl.ifinfmsg', 'pyroute2.config', 'multiprocessing'))]))
"""


def _nl(kind: int, flags: int, seq: int, body: bytes, *attrs: tuple[int, bytes]) -> str:
    """A netlink request as the kernel reads it: header, fixed part, attributes."""
    payload = body + b"".join(struct.pack("=HH", 4 + len(v), t) + v + bytes(-len(v) % 4)
                              for t, v in attrs)
    return (struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, 0) + payload).hex()


def _u32(value: int) -> bytes:
    return struct.pack("=I", value)


@pytest.mark.parametrize("python", INTERPRETERS)
def test_each_request_is_the_kernels_message_under_each_pyroute2(python: str) -> None:
    """pyroute2 encodes each change; an attribute name it did not know would be dropped
    without a word, so the bytes are compared with the kernel's layout written out here.
    Nothing of pyroute2 beyond its message classes loads."""
    out = subprocess.run([python, "-I", "-c", f"import sys; sys.path.insert(0, {str(SRC)!r})"
                          + _RECORD_REQUESTS], capture_output=True, text=True, timeout=30,
                         check=True)
    sent, loaded = json.loads(out.stdout)
    ip, bcast, gw, net = (socket.inet_aton(a) for a in ("192.0.2.5", "192.0.2.255",
                                                         "192.0.2.1", "198.51.100.0"))
    addr = struct.pack("=BBBBI", socket.AF_INET, 24, 0, 0, 7)
    request, ack, create, replace, append = 0x1, 0x4, 0x400, 0x100, 0x800
    assert sent == [
        _nl(20, request | ack | create | replace, 1, addr, (2, ip), (1, ip), (4, bcast),
            (6, struct.pack("=IIII", 600, 600, 0, 0))),
        _nl(20, request | ack | create | replace, 2, addr, (2, ip), (1, ip),
            (6, struct.pack("=IIII", 0xFFFFFFFF, 0xFFFFFFFF, 0, 0)), (8, _u32(0x200))),
        _nl(20, request | ack | create | replace, 3, addr, (2, ip), (1, ip),
            (6, struct.pack("=IIII", 600, 600, 0, 0)), (9, _u32(600))),
        _nl(21, request | ack, 4, addr, (2, ip), (1, ip)),
        _nl(24, request | ack | create | append, 5,
            struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 16, 0, 1, 0),
            (4, _u32(7)), (6, _u32(1024)), (15, _u32(254)), (5, gw), (7, ip)),
        _nl(25, request | ack, 6,
            struct.pack("=BBBBBBBBI", socket.AF_INET, 25, 0, 0, 252, 16, 253, 1, 0),
            (1, net), (4, _u32(7)), (6, _u32(5)), (15, _u32(1000))),
        _nl(16, request | ack, 7, struct.pack("=BxHiII", 0, 0, 7, 0, 0), (4, _u32(1400))),
        _nl(16, request | ack, 8, struct.pack("=BxHiII", 0, 0, 7, 1, 1)),
    ]
    assert loaded == []


_UNREADABLE = """
import errno, sys
from leasebox.netconf import main as m

class Rtnl:  # the kernel answers for the link with EIO, for a while
    def open(self): pass
    def close(self): pass
    def link(self, index):
        raise OSError(errno.EIO, "no end to the kernel's answer")

m.Rtnl = Rtnl
m._index = lambda name: 3
sys.exit(m.main(sys.argv[1:]))
"""


@contextlib.contextmanager
def _listening_netconf(tmp_path: Path, program: list[str], ifname: str, dns_to: str,
                       **env: str) -> Iterator[subprocess.Popen[str]]:
    """netconf socket-activated in listening mode (its socket unit's listener), its output
    in tmp_path/log; killed (by its own pid) if it still runs at the end."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(tmp_path / "netconf.sock"))
    listener.listen(4)
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("LISTEN_", "JOURNAL_", "NOTIFY_", "WATCHDOG_"))}
    environ.update(PYTHONPATH=f"{SRC}{os.pathsep}{SRC.parent}", **env)
    with (tmp_path / "log").open("w") as out:
        proc = subprocess.Popen(
            activation.argv([("netconf", listener.fileno())], [
                sys.executable, *program, ifname, "--config-root", str(tmp_path),
                "--runtime-dir", str(tmp_path / "run"), "--dns-to", dns_to,
                "--dns-dir", str(tmp_path / "dns"), "--bus-socket", str(tmp_path / "bus")]),
            env=environ, pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL, stdout=out,
            stderr=out, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        listener.close()


def test_a_link_that_cannot_be_read_is_waited_out_in_listening_mode(tmp_path: Path) -> None:
    """EIO (or ENOBUFS) reading the link: netconf exited 1, and so did every restart, each
    counting towards the unit's start limit, until the socket failed and, bound to it, the
    engine stopped. In listening mode it tries again, 1 s doubling; a stop ends the wait."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # as systemd's, for READY=1
    notify.bind(str(tmp_path / "notify"))
    try:
        with _listening_netconf(tmp_path, ["-c", _UNREADABLE], "eth9", "file",
                                NOTIFY_SOCKET=str(tmp_path / "notify")) as proc:
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=3.5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            notify.settimeout(1)
            said = notify.recv(4096).decode()  # ready while it waits: a start that never
            assert "READY=1" in said and "cannot read eth9" in said  # is would time out
    finally:
        notify.close()
    log = (tmp_path / "log").read_text()
    assert "cannot read interface eth9" in log and "trying again in 2 s" in log, log


def test_a_bus_breaking_the_contract_at_a_take_back_is_said_not_a_traceback(
        tmp_path: Path) -> None:
    """netconf started for a link not there, with DNS to take back (its state file): a
    leasebox-bus answering another request's id is a peer violation, logged as such and
    exit 1, not a traceback."""
    from ipaddress import IPv4Address

    from leasebox import ipc
    from leasebox.ipc import channel
    from leasebox.netconf.apply import Tracked
    from leasebox.netconf.state import StateFile

    StateFile(str(tmp_path / "run" / "nosuch0"), 7).save(
        Tracked(dns=ipc.Names((IPv4Address("192.0.2.53"),)), dns_to="resolved"))
    bus = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    bus.bind(str(tmp_path / "bus"))
    bus.listen(4)
    try:
        with _listening_netconf(tmp_path, ["-m", "leasebox.netconf.main"], "nosuch0",
                                "resolved") as proc:
            bus.settimeout(10)
            conn, _ = bus.accept()
            msg = channel.recv(conn, ipc.Peer.NETCONF, ipc.Peer.BUS)
            assert isinstance(msg, ipc.Handoff)
            channel.send(conn, ipc.HandoffResult(msg.request_id + 1, ipc.ResultStatus.OK, ""))
            proc.wait(timeout=10)
            conn.close()
    finally:
        bus.close()
    out = (tmp_path / "log").read_text()
    assert proc.returncode == 1
    assert "leasebox-bus broke the contract" in out and "Traceback" not in out, out
