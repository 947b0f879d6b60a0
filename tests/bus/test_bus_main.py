"""The real leasebox-bus process, socket-activated as systemd starts it, against a private
dbus-daemon with stand-ins for resolved and timesyncd: it holds, delivers, re-delivers to a
timesyncd that restarts, drops a client that breaks the contract and serves the next, and
exits when it has held nothing for its idle time."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from leasebox import ipc
from leasebox.core.log import ERROR, WARNING
from leasebox.ipc import channel
from tests import activation
from tests.bus.test_bus_dbus import PrivateBus, needs_fakes
from tests.conftest import Logs
from tests.waiting import wait_for

if TYPE_CHECKING:
    from leasebox.bus import main as bus_main
    from leasebox.bus.statefile import StateDir

SRC = Path(__file__).resolve().parents[2] / "src"
A = IPv4Address

pytestmark = [needs_fakes, pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason=(
    "leasebox-bus admits only netconf's dynamic identity or root"))]


class BusProcess:
    def __init__(self, tmp_path: Path, address: str, idle: float = 0.0) -> None:
        self.path = tmp_path / "leasebox-bus.sock"
        self.state = tmp_path / "links"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(str(self.path))
        listener.listen(8)
        fd = listener.fileno()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("LISTEN_", "NOTIFY_", "WATCHDOG_", "JOURNAL_"))}
        env.update(PYTHONPATH=f"{SRC}{os.pathsep}{SRC.parent}")
        self.log = tmp_path / "bus.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                activation.argv([("bus", fd)], [
                    sys.executable, "-m", "leasebox.bus.main", "--bus-address", address,
                    "--state-dir", str(self.state), "--exit-idle-time", str(idle), "--debug"]),
                env=env, pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        listener.close()

    def send(self, msg: ipc.Message) -> ipc.Message | None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(10)
            s.connect(str(self.path))
            channel.send(s, msg)
            return channel.recv(s, ipc.Peer.BUS, ipc.Peer.NETCONF)

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


@needs_fakes
def test_a_revert_owed_to_an_absent_resolved_keeps_the_bus(bus: PrivateBus,
                                                          tmp_path: Path) -> None:
    """resolved is away when the link is left: it would reload the DNS it was told when it
    comes back, so the bus does not exit idle before it has reverted the link."""
    fake = bus.start("resolved")
    proc = BusProcess(tmp_path, bus.address, idle=0.5)
    try:
        proc.send(ipc.Handoff(1, "lo", ipc.Names((A("192.0.2.53"),), (), ())))
        wait_for("delivered", lambda: "SetLinkDNS" in [c["call"] for c in bus.calls()], 10)
        bus.stop(fake)
        proc.send(ipc.Handoff(2, "lo", ipc.Names((), (), ())))
        with pytest.raises(subprocess.TimeoutExpired):
            proc.proc.wait(timeout=2.0)  # four idle times: it stays
        bus.start("resolved")
        wait_for("reverted once resolved is back",
                 lambda: "RevertLink" in [c["call"] for c in bus.calls()], 10)
        assert proc.proc.wait(timeout=15) == 0
        assert "holding nothing for 0.5 s" in proc.output()
    finally:
        proc.stop()


def test_holds_delivers_and_gives_a_new_timesyncd_its_servers(bus: PrivateBus,
                                                              tmp_path: Path) -> None:
    bus.start("resolved")
    timesyncd = bus.start("timesyncd")
    proc = BusProcess(tmp_path, bus.address)
    try:
        reply = proc.send(ipc.Handoff(1, "lo", ipc.Names((A("192.0.2.53"),), ("example.com",),
                                                         (A("192.0.2.123"),))))
        assert reply == ipc.HandoffResult(1, ipc.ResultStatus.OK, ""), proc.output()
        # the link's file is written before the reply: from netconf's "handed on" to
        # resolved's having it, wait-online sees the names on their way
        early = json.loads((proc.state / "lo.json").read_text())
        assert early["resolved"] in ("pending", "applied") and early["dns_servers"]
        calls = ["SetLinkDNS", "SetLinkDomains", "SetRuntimeNTPServers"]
        wait_for("the calls", lambda: sorted(c["call"] for c in bus.calls()) == sorted(calls), 15)
        wait_for("the state file", lambda: (proc.state / "lo.json").exists(), 15)
        doc = json.loads((proc.state / "lo.json").read_text())
        assert doc["resolved"] == "applied" and doc["timesyncd"] == "applied"

        # a client that breaks the contract loses its connection; the next is served
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(10)
            s.connect(str(proc.path))
            s.send(b"\x02\x40\x00\x01x")
            assert s.recv(100) == b""
        assert "broke the contract" in proc.output()

        # timesyncd restarts and forgets: it gets the servers again, unasked
        bus.stop(timesyncd)
        bus.start("timesyncd")
        wait_for("NTP again", lambda: [c["call"] for c in bus.calls()].count(
            "SetRuntimeNTPServers") == 2, 15)

        reply = proc.send(ipc.Handoff(2, "lo", ipc.Names((), (), ())))
        assert reply == ipc.HandoffResult(2, ipc.ResultStatus.OK, "")
        wait_for("revert", lambda: bus.calls()[-2:] == [
            {"call": "RevertLink", "ifindex": socket.if_nametoindex("lo")},
            {"call": "SetRuntimeNTPServers", "servers": []}] or bus.calls()[-2:] == [
            {"call": "SetRuntimeNTPServers", "servers": []},
            {"call": "RevertLink", "ifindex": socket.if_nametoindex("lo")}], 15)
        wait_for("the state file gone", lambda: not (proc.state / "lo.json").exists(), 15)
    finally:
        assert proc.stop() == 0, proc.output()


def test_waits_for_resolved_and_exits_when_idle(bus: PrivateBus, tmp_path: Path) -> None:
    # what a write cut short left (a bus killed while writing): removed at the start
    cut_short = tmp_path / "links" / ".lo.json.0123456789ab"
    cut_short.parent.mkdir()
    cut_short.write_text("{")
    proc = BusProcess(tmp_path, bus.address, idle=1.0)
    try:
        wait_for("the leftover removed", lambda: not cut_short.exists(), 10)
        assert proc.send(ipc.Handoff(1, "lo", ipc.Names((A("192.0.2.53"),), (), ()))) == \
            ipc.HandoffResult(1, ipc.ResultStatus.OK, "")
        wait_for("pending shown", lambda: (proc.state / "lo.json").exists() and json.loads(
            (proc.state / "lo.json").read_text())["resolved"].startswith("pending: "), 15)
        bus.start("resolved")  # NameOwnerChanged: delivered at once, not at the backoff
        wait_for("delivered once resolved is there",
                 lambda: [c["call"] for c in bus.calls()] == ["SetLinkDNS", "SetLinkDomains"],
                 5)
        proc.send(ipc.Handoff(2, "lo", ipc.Names((), (), ())))
        assert proc.proc.wait(timeout=15) == 0
        assert "holding nothing for 1 s" in proc.output()
    finally:
        proc.stop()


def _listening(path: str, sock: socket.socket | None = None) -> socket.socket:
    """A bus listener at `path` (`sock`, or a new SOCK_SEQPACKET socket), as socket
    activation hands it over."""
    listener = sock or socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(16)
    listener.setblocking(False)
    return listener


def _bus_loop(tmp_path: Path, listener: socket.socket,
              state: StateDir | None = None) -> bus_main.Bus:
    """The bus's loop over `listener`, with no system bus behind it (not run: its parts
    are called one by one)."""
    from leasebox.bus import main as bus_main
    from leasebox.bus.links import Links
    from leasebox.bus.services import BusServices
    from leasebox.bus.statefile import StateDir
    from leasebox.core.log import Logger

    services = BusServices("unix:path=/nonexistent")
    return bus_main.Bus(listener, Links(services), services,
                        state or StateDir(str(tmp_path / "st")), Logger("test.bus"), idle=0)


def test_no_netconf_can_keep_the_others_out(tmp_path: Path) -> None:
    """A netconf (one uid) holds a few connections at most, and none for long: the bus
    stays open to every other interface's hand-offs."""
    from leasebox.bus import main as bus_main

    path = str(tmp_path / "bus.sock")
    listener = _listening(path)
    bus = _bus_loop(tmp_path, listener)
    clients = []
    try:
        for _ in range(bus_main.MAX_PER_UID + 1):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            c.settimeout(2)
            c.connect(path)
            bus._accept()
            clients.append(c)
        assert len(bus.clients) == bus_main.MAX_PER_UID
        assert clients[-1].recv(16) == b""  # the one too many: closed at once
        now = time.monotonic()
        assert bus._timeout(now) is not None  # the loop wakes for the oldest
        bus._drop_stale(now + bus_main.CLIENT_TIMEOUT)
        assert not bus.clients and all(c.recv(16) == b"" for c in clients[:-1])
    finally:
        for c in clients:
            c.close()
        listener.close()


def test_a_state_directory_that_cannot_be_written_is_said_once(
        tmp_path: Path, logs: Logs) -> None:
    """/run full or read-only: the bus tries its state files again at each turn of its
    loop (at least every watchdog interval) and says so once, not every 15 s; and says when
    it could."""
    from leasebox.bus.links import Links
    from leasebox.bus.statefile import StateDir

    class FullRun(StateDir):
        full = True

        tries = 0

        def save(self, links: Links, now: float) -> None:
            if self.full:  # as a read-only /run says it: with each try's file
                self.tries += 1
                raise OSError(errno.EROFS, "Read-only file system", f"/run/x.{self.tries}")
            super().save(links, now)

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    state = FullRun(str(tmp_path / "st"))
    bus = _bus_loop(tmp_path, listener, state)
    try:
        for _ in range(3):
            bus._save()
        assert [r.text() for r in logs.at_least(ERROR, "test.bus")] == [
            f"cannot write {tmp_path / 'st'}: [Errno 30] Read-only file system: '/run/x.1' "
            "(will try again)"]
        state.full = False
        bus._save()
        assert f"{tmp_path / 'st'} written again" in logs.text
        assert len(logs.at_least(ERROR, "test.bus")) == 1
    finally:
        listener.close()


def test_a_full_descriptor_table_pauses_the_listener_not_the_bus(
        tmp_path: Path, logs: Logs) -> None:
    """accept() failing for want of descriptors was fatal to the bus; now its listener is
    left alone for ACCEPT_PAUSE (the connection waits in the backlog), then served."""
    from leasebox.bus import main as bus_main

    class FullTable(socket.socket):
        full = True

        def accept(self) -> tuple[socket.socket, object]:
            if self.full:
                raise OSError(errno.ENFILE, "Too many open files in system")
            return super().accept()

    path = str(tmp_path / "bus.sock")
    listener = FullTable(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    bus = _bus_loop(tmp_path, _listening(path, listener))
    client = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        client.connect(path)
        bus._accept()
        assert not bus.clients and bus.accept_paused is not None
        timeout = bus._timeout(time.monotonic())
        assert timeout is not None and timeout <= bus_main.ACCEPT_PAUSE
        bus._resume_accepting(time.monotonic())  # too early
        assert bus.accept_paused is not None
        bus._resume_accepting(time.monotonic() + bus_main.ACCEPT_PAUSE)
        assert bus.accept_paused is None and bus.sel.get_key(listener).data == "listener"
        bus._accept()  # still full: said once, not every second
        assert [r.text() for r in logs.at_least(WARNING, "test.bus")] == [
            "cannot accept a connection: Too many open files in system; trying again "
            "every 1 s"]
        listener.full = False
        bus._resume_accepting(time.monotonic() + 2 * bus_main.ACCEPT_PAUSE)
        bus._accept()
        assert len(bus.clients) == 1 and "connections are accepted again" in logs.text
    finally:
        client.close()
        listener.close()


def test_a_connection_carries_one_request(tmp_path: Path) -> None:
    """netconf asks once a connection. One that sent more and read no reply held the
    loop up for SEND_TIMEOUT a reply once its socket was full; the bus answers the first
    and closes."""
    path = str(tmp_path / "bus.sock")
    listener = _listening(path)
    bus = _bus_loop(tmp_path, listener)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    client.settimeout(5)
    try:
        client.connect(path)
        bus._accept()
        [conn] = bus.clients
        for rid in (1, 2, 3):
            channel.send(client, ipc.Handoff(rid, "eth9", ipc.Names((), (), ())))
        bus._serve(conn)
        assert not bus.clients
        reply = channel.recv(client, ipc.Peer.BUS, ipc.Peer.NETCONF)
        assert isinstance(reply, ipc.HandoffResult) and reply.request_id == 1
        assert client.recv(64) == b""  # closed, the rest unread
    finally:
        client.close()
        listener.close()


def test_the_bus_pings_its_watchdog_before_each_wait_on_the_system_bus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The services' calls (test_bus_dbus) ping the loop's watchdog through before_wait."""
    from leasebox.runtime import sd

    sent: list[str] = []
    monkeypatch.setattr(sd, "notify", lambda *lines: sent.extend(lines))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    bus = _bus_loop(tmp_path, listener)
    try:
        bus.watchdog = 15.0  # as under WatchdogSec=30s
        bus.services.before_wait()
        assert sent == ["WATCHDOG=1"]
    finally:
        listener.close()
