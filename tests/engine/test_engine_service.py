"""The engine process's adapter and dispatch functions over real sockets, without root: io
is one end of a socketpair, netconf a listening socket in a temporary directory, the clocks
are fakes. Then the lease file and the live state, read back as the hostile input they are
on a restart."""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import select
import signal
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leasebox import ipc
from leasebox.core import events, wire
from leasebox.core import log as core_log
from leasebox.core.log import ERROR, INFO, WARNING
from leasebox.core.machine import replies
from leasebox.core.machine.types import ClientConfig, Lease, LeaseEventKind, State
from leasebox.core.record import replace
from leasebox.core.values import (
    MAX_DNS,
    MAX_DOMAINS,
    MAX_NTP,
    MAX_ROUTERS,
    MAX_ROUTES,
    REQUEST_OPTIONS,
)
from leasebox.core.wire.limits import MAX_UNKNOWN_BYTES
from leasebox.ctl.dispatch import environment
from leasebox.engine import dispatch, journal, leasefile, service
from leasebox.engine.livestate import LiveState
from leasebox.engine.main import ACCEPT_PAUSE, IO_WAIT, STOP_GRACE, Loop
from leasebox.engine.service import EngineService, Settings
from leasebox.ipc import channel, control
from leasebox.runtime import sd
from tests.conftest import Logs
from tests.machine.machine_helpers import (
    ADDRESS,
    MAC,
    OTHER_ADDRESS,
    OTHER_MAC,
    SERVER,
    Harness,
    ack,
    nak,
    offer,
)
from tests.profiles import examples

SERVER_MAC = bytes.fromhex("020000000099")
WALL0 = 1_800_000_000.0


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    svc: EngineService
    io: socket.socket  # our end: what the engine sends io arrives here
    netconf: socket.socket  # listening, as netconf's socket unit would
    clock: Clock
    state_dir: Path
    netconf_conn: socket.socket | None = None  # the engine's connection, once it made one

    def from_engine(self) -> ipc.Message:
        """The engine's next message to io; its timers run (on the fake clock) until then."""
        for _ in range(10):
            if select.select([self.io], [], [], 0)[0]:
                break
            deadline = self.svc.timer()
            assert deadline is not None, "the engine has nothing to send and no timer"
            self.clock.now = max(self.clock.now, deadline)
            self.svc.on_timer(self.clock.now)
        msg = channel.recv(self.io, ipc.Peer.ENGINE, ipc.Peer.IO)
        assert msg is not None
        return msg

    def sent(self, confirm: bool = True) -> wire.Message:
        """The next message the engine had io send; confirmed (TxDone) as io does."""
        msg = self.from_engine()
        assert isinstance(msg, ipc.SendBroadcast | ipc.SendUnicast), msg
        if confirm:
            dispatch.engine_dispatch_io(self.svc, ipc.TxDone(True))
        return wire.decode(msg.payload)

    def reply(self, message: wire.Message) -> None:
        frame = wire.encode_frame(wire.encode(message), src_mac=SERVER_MAC, src_ip=SERVER,
                                  src_port=wire.SERVER_PORT, dst_port=wire.CLIENT_PORT)
        dispatch.engine_dispatch_io(self.svc, ipc.Frames((frame,)))

    def fail_apply(self, reason: str, logs: Logs) -> tuple[core_log.Record, list[str]]:
        """netconf answers the engine's next Apply FAILED: the journal record of the
        failed event, and the hook events queued so far."""
        assert self.netconf_conn is not None
        apply = channel.recv(self.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
        assert isinstance(apply, ipc.Apply)
        dispatch.engine_dispatch_netconf(self.svc, ipc.Result(
            apply.request_id, ipc.ResultStatus.FAILED, reason))
        [record] = [r for r in logs.at_least(INFO, "leasebox.engine")
                    if r.fields.get("LEASE_EVENT") == "failed"]
        queued = sorted((self.state_dir / "events").iterdir())
        return record, [json.loads(p.read_text())["event"] for p in queued]

    def applies(self) -> ipc.Apply:
        """netconf applies the engine's next Apply (on the connection it has): OK."""
        assert self.netconf_conn is not None
        apply = channel.recv(self.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
        assert isinstance(apply, ipc.Apply)
        dispatch.engine_dispatch_netconf(self.svc, ipc.Result(
            apply.request_id, ipc.ResultStatus.OK, ""))
        return apply

    def restart_io(self) -> None:
        """io restarted: the engine loses its connection and gets a new one."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(5)
        self.svc.drop_io()
        self.svc.io_connected(theirs)
        self.io.close()
        self.io = ours

    def control(self, command: control.Command) -> dict[str, object]:
        reply = dispatch.engine_dispatch_control(
            self.svc, control.encode_request(control.Request(command)))
        result: dict[str, object] = control.decode_reply(reply)
        return result


def make_rig(tmp_path: Path, mac: bytes = MAC, clock: Clock | None = None,
             config: ClientConfig | None = None, carrier: bool | None = True) -> Rig:
    """`carrier` None: io has not reported the link yet (no client)."""
    clock = clock or Clock()
    state_dir = tmp_path / "state"
    state_dir.mkdir(exist_ok=True)
    path = tmp_path / f"netconf-{os.urandom(4).hex()}.sock"
    netconf = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    netconf.bind(str(path))
    netconf.listen(4)
    netconf.settimeout(5)
    settings_ = Settings("eth0", config or ClientConfig(), str(state_dir), str(path))
    svc = EngineService(settings_, LiveState(None), clock=clock,
                        wall=lambda: WALL0 + clock.now)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.settimeout(5)
    svc.io = theirs
    if carrier is not None:
        dispatch.engine_dispatch_io(svc, ipc.LinkState(2, mac, 1500, carrier))
    return Rig(svc, ours, netconf, clock, state_dir)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    r.io.close()
    r.netconf.close()


def bind(r: Rig) -> ipc.Apply:
    discover = r.sent()
    assert discover.message_type is wire.MessageType.DISCOVER and discover.chaddr[:6] == MAC
    r.reply(offer(discover))
    request = r.sent()
    assert request.message_type is wire.MessageType.REQUEST
    assert request.requested_ip == ADDRESS
    r.reply(ack(request))
    conn, _ = r.netconf.accept()  # the engine connects to netconf with the Apply
    conn.settimeout(5)
    apply = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(apply, ipc.Apply) and apply.address == ADDRESS
    assert r.svc.state is not State.BOUND  # BOUND means applied: not before netconf says so
    dispatch.engine_dispatch_netconf(r.svc, ipc.Result(apply.request_id, ipc.ResultStatus.OK,
                                                       ""))
    assert r.svc.state is State.BOUND
    r.netconf_conn = conn
    return apply


@contextlib.contextmanager
def control_loop(rig: Rig) -> Iterator[tuple[Loop, socket.socket, socket.socket]]:
    """The engine's loop over the rig, and a control connection to it: (the loop, our
    end, the engine's end, which loop._recv_control reads)."""
    listener, other = socket.socketpair()
    loop = Loop(rig.svc, listener, None)
    ctl, conn = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        yield loop, ctl, conn
    finally:
        for sock in (listener, other, ctl, conn, loop.wake_r, loop.wake_w):
            sock.close()
        loop.alarm.close()


class _FullTable(socket.socket):
    """A listener whose accept() fails as with the process's descriptors all in use."""
    full = True

    def accept(self) -> tuple[socket.socket, Any]:
        if self.full:
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_a_full_descriptor_table_pauses_the_listener_not_the_engine(
        rig: Rig, tmp_path: Path, logs: Logs) -> None:
    """accept() failing for want of descriptors (the system's: ENFILE) was fatal to the
    engine. The connection waits in the backlog, so the listener stays readable: the loop
    leaves it alone for ACCEPT_PAUSE, then takes the connection."""
    listener = _FullTable(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(tmp_path / "engine.sock"))
    listener.listen(4)
    listener.setblocking(False)
    io_end = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    io_end.connect(str(tmp_path / "engine.sock"))
    loop = Loop(rig.svc, listener, None)
    old_io = rig.svc.io
    try:
        loop._sync_registrations()
        assert listener in loop.registered
        loop._accept_io()
        loop._sync_registrations()
        assert listener not in loop.registered and loop._timeout() <= ACCEPT_PAUSE
        rig.clock.now += ACCEPT_PAUSE
        loop._sync_registrations()
        assert listener in loop.registered
        loop._accept_io()  # still full: said once, not every second
        assert [r.text() for r in logs.at_least(WARNING, "leasebox.engine")] == [
            "cannot accept a data connection: Too many open files; trying again every 1 s"]
        listener.full = False
        rig.clock.now += ACCEPT_PAUSE
        loop._sync_registrations()
        loop._accept_io()
        assert rig.svc.io is not None and rig.svc.io is not old_io
        assert "data connections are accepted again" in logs.text
    finally:
        for sock in (listener, io_end, loop.wake_r, loop.wake_w):
            sock.close()
        loop.alarm.close()


def removed_by_netconf(r: Rig) -> None:
    """netconf takes the engine's first connection and carries out its Remove; the
    connection is kept in r.netconf_conn."""
    conn, _ = r.netconf.accept()
    conn.settimeout(5)
    remove = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(remove, ipc.Remove)
    dispatch.engine_dispatch_netconf(r.svc, ipc.Result(remove.request_id,
                                                       ipc.ResultStatus.OK, ""))
    r.netconf_conn = conn


def applied_by_netconf(r: Rig) -> socket.socket:
    """netconf takes the engine's first connection and applies its Apply; the connection."""
    conn, _ = r.netconf.accept()
    conn.settimeout(5)
    apply = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(apply, ipc.Apply)
    dispatch.engine_dispatch_netconf(r.svc, ipc.Result(apply.request_id, ipc.ResultStatus.OK,
                                                       ""))
    return conn


def bind_guarded(r: Rig) -> socket.socket:
    """With ARPProbe=yes: bind through the probe; io is told to guard the address once
    netconf has applied it. Returns the engine's connection to netconf."""
    r.reply(offer(r.sent()))
    r.reply(ack(r.sent()))
    assert r.from_engine() == ipc.Probe(ADDRESS)
    dispatch.engine_dispatch_io(r.svc, ipc.ProbeResult(ADDRESS, conflict=False))
    conn = applied_by_netconf(r)
    assert r.from_engine() == ipc.Guard(ADDRESS, 2)
    return conn


def test_the_last_error_goes_once_a_lease_is_applied_again(rig: Rig) -> None:
    """A failed apply (the link went while netconf applied it, as in hotplug) shows in
    status, but not for days after the next lease is in use."""
    apply = bind(rig)
    rig.svc.last_error = ""
    assert rig.control(control.Command.RENEW)["ok"] is True
    request = rig.sent()
    rig.reply(ack(request))
    assert rig.netconf_conn is not None
    again = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(again, ipc.Apply) and again.request_id != apply.request_id
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(again.request_id,
                                                         ipc.ResultStatus.FAILED, "ENODEV"))
    assert "ENODEV" in str(rig.control(control.Command.STATUS)["result"])
    rig.clock.now += 70
    rig.svc.on_timer(rig.clock.now)
    rig.reply(ack(rig.sent()))
    last = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(last, ipc.Apply)
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(last.request_id, ipc.ResultStatus.OK,
                                                         ""))
    result = rig.control(control.Command.STATUS)["result"]
    assert isinstance(result, dict) and result["last_error"] is None


def test_what_netconf_left_out_shows_in_status_while_it_holds(rig: Rig) -> None:
    """netconf's OK to an apply says what of the lease it did not install (a router off the
    link, an MTU out of range): status shows it while that lease is in use, until the next
    OK says otherwise or the configuration is removed."""
    def status() -> dict[str, object]:
        result = rig.control(control.Command.STATUS)["result"]
        assert isinstance(result, dict)
        return result

    def renew(notes: str) -> None:
        assert rig.control(control.Command.RENEW)["ok"] is True
        rig.reply(ack(rig.sent()))
        assert rig.netconf_conn is not None
        apply = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
        assert isinstance(apply, ipc.Apply)
        dispatch.engine_dispatch_netconf(
            rig.svc, ipc.Result(apply.request_id, ipc.ResultStatus.OK, notes))

    bind(rig)
    assert status()["netconf_notes"] is None
    skipped = "router skipped: 198.51.100.1 is not on the link; mtu 9000 ignored (outside 68..1500)"
    renew(skipped)
    assert status()["netconf_notes"] == skipped
    rig.clock.now += 70  # past the renew command's rate
    renew("")
    assert status()["netconf_notes"] is None
    rig.clock.now += 70
    no_route = "no default route: no router of the lease is usable"
    renew(no_route)
    # a new netconf (the old one exited idle) gets the lease in use again, and says so again
    rig.svc.drop_netconf()
    rig.svc.connect_netconf()
    rig.netconf_conn, _ = rig.netconf.accept()
    rig.netconf_conn.settimeout(5)
    reapply = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(reapply, ipc.Apply)
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(reapply.request_id,
                                                         ipc.ResultStatus.OK, no_route))
    assert status()["netconf_notes"] == no_route
    assert rig.control(control.Command.LEAVE)["ok"] is True
    assert rig.sent().message_type is wire.MessageType.RELEASE  # confirmed: the Remove goes
    assert rig.netconf_conn is not None
    remove = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(remove, ipc.Remove)
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(remove.request_id,
                                                         ipc.ResultStatus.OK, ""))
    assert status()["netconf_notes"] is None


def test_a_leave_before_io_reported_the_link_holds(tmp_path: Path) -> None:
    """`leaseboxctl leave` while io waits for the interface to appear (or restarts): there
    is no client yet to stop, and the one io's first report makes stays idle, as a client
    that existed would have, until `leaseboxctl renew`."""
    r = make_rig(tmp_path, carrier=None)
    assert r.svc.client is None
    assert r.control(control.Command.LEAVE)["ok"] is True
    dispatch.engine_dispatch_io(r.svc, ipc.LinkState(2, MAC, 1500, True))
    assert r.svc.state is State.STOPPED and r.svc.timer() is None
    assert not select.select([r.io], [], [], 0)[0]  # no DISCOVER
    assert r.control(control.Command.RENEW)["ok"] is True
    assert r.sent().message_type is wire.MessageType.DISCOVER
    r.io.close()
    r.netconf.close()


def test_an_io_that_restarts_while_probing_probes_again(tmp_path: Path) -> None:
    """io restarted during the ARP probe of a new address: the new io is asked to probe it
    again, or the address would be taken as free, unprobed, when the probe's time is up."""
    r = make_rig(tmp_path, config=ClientConfig(arp_probe=True))
    r.reply(offer(r.sent()))
    r.reply(ack(r.sent()))
    assert r.from_engine() == ipc.Probe(ADDRESS)
    r.restart_io()
    assert r.from_engine() == ipc.Probe(ADDRESS)
    dispatch.engine_dispatch_io(r.svc, ipc.ProbeResult(ADDRESS, conflict=False))
    assert r.svc.ledger.pending  # probed: the lease goes to netconf
    r.io.close()
    r.netconf.close()


def test_arp_guard_through_the_dispatch_functions(tmp_path: Path) -> None:
    # ARPProbe=yes: probe, then the guard once netconf has applied the lease, again for an
    # io that reconnects (unannounced); a conflict is defended, a second one declined.
    r = make_rig(tmp_path, config=ClientConfig(arp_probe=True))
    conn = bind_guarded(r)
    r.restart_io()
    assert r.from_engine() == ipc.Guard(ADDRESS, 0)
    intruder = bytes.fromhex("020000009999")
    dispatch.engine_dispatch_io(r.svc, ipc.Conflict(ADDRESS, intruder))
    assert r.from_engine() == ipc.Guard(ADDRESS, 1)
    r.clock.now += 3
    dispatch.engine_dispatch_io(r.svc, ipc.Conflict(ADDRESS, intruder))
    assert r.sent().message_type is wire.MessageType.DECLINE
    assert r.from_engine() == ipc.Guard(None)
    assert r.svc.state is State.INIT
    conn.close()
    r.io.close()
    r.netconf.close()


def test_a_lease_through_the_dispatch_functions(rig: Rig) -> None:
    bind(rig)
    reply = rig.control(control.Command.STATUS)
    status = reply["result"]
    assert reply["ok"] is True and isinstance(status, dict) and status["state"] == "BOUND"
    lease = status["lease"]
    assert isinstance(lease, dict) and lease["address"] == str(ADDRESS)
    # the lease file holds the ACK for the next start
    assert (rig.state_dir / leasefile.FILENAME).exists()


def bind_short(rig: Rig) -> None:
    """A 10-minute lease, bound, netconf's connection taken."""
    rig.reply(offer(rig.sent()))
    rig.reply(ack(rig.sent(), lease_time=600))
    rig.netconf_conn, _ = rig.netconf.accept()
    rig.netconf_conn.settimeout(5)
    rig.applies()


def renew_short(rig: Rig) -> None:
    """Its next renewal, at T1."""
    request = rig.sent()
    assert request.message_type is wire.MessageType.REQUEST and request.ciaddr == ADDRESS
    rig.reply(ack(request, lease_time=600))
    rig.applies()
    assert rig.svc.state is State.BOUND


def test_the_engines_stop_writes_the_renewal_the_file_has_not_had(rig: Rig) -> None:
    """The loop's end, however it comes (a stop, a peer's violation), writes the lease
    the file has not had, so that the next boot judges it by its last ACK."""
    path = rig.state_dir / leasefile.FILENAME
    bind_short(rig)
    first = path.read_bytes()
    renew_short(rig)
    assert path.read_bytes() == first  # within the hour: not written
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT,
                                                       signal.SIGPIPE)}
    try:
        with control_loop(rig) as (loop, _, _):
            loop.terminate = True  # as SIGTERM
            assert loop.run() == 0
    finally:
        signal.set_wakeup_fd(-1)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert path.read_bytes() != first
    stored = leasefile.load(str(rig.state_dir), now_mono=rig.clock.now,
                            now_wall=WALL0 + rig.clock.now, min_lease_time=0)
    assert isinstance(stored, Lease) and stored.expires_at > rig.clock.now + 500


def test_a_lease_file_that_cannot_be_written_is_said_once_and_tried_again(
        rig: Rig, monkeypatch: pytest.MonkeyPatch, logs: Logs) -> None:
    """A full /var: each renewal tries the file again (the disk may have room again), and
    the error is said once, not at every renewal of a short lease; the recovery too."""
    stored: list[Lease] = []
    real_store = leasefile.store

    tries = itertools.count()

    def full(directory: str, lease: Lease, acquired_wall: float) -> None:
        # as os.open() of the temporary file says it: a new name each try
        raise OSError(errno.ENOSPC, "No space left on device", f"{directory}/.lease.{next(tries)}")
    monkeypatch.setattr(leasefile, "store", full)
    bind_short(rig)
    for _ in range(3):
        renew_short(rig)
    errors = [r.text() for r in logs.at_least(ERROR, "leasebox.engine")]
    assert errors == [f"cannot write the lease file: [Errno 28] No space left on device: "
                      f"'{rig.state_dir}/.lease.0' (tried again at each renewal)"]
    assert next(tries) == 4

    def store(directory: str, lease: Lease, acquired_wall: float) -> None:
        stored.append(lease)
        real_store(directory, lease, acquired_wall)
    monkeypatch.setattr(leasefile, "store", store)
    renew_short(rig)
    assert len(stored) == 1 and (rig.state_dir / leasefile.FILENAME).exists()
    assert "the lease file is written again" in logs.text
    assert len(logs.at_least(ERROR, "leasebox.engine")) == 1


def test_a_status_line_unchanged_is_not_sent_again(rig: Rig,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """STATUS= went to PID 1 at each state change, each DISCOVER and each minute, the same
    line again included (PID 1 then tells the bus of its StatusText)."""
    sent: list[str] = []
    monkeypatch.setattr(sd, "notify", lambda *lines: sent.extend(lines))
    rig.svc.update_status(force=True)  # as sent when io reported the link: not again
    rig.svc.update_status(force=True)
    rig.clock.now += service.STATUS_REFRESH
    rig.svc.update_status()
    assert sent == []
    bind(rig)
    statuses = [s for s in sent if s.startswith("STATUS=")]
    assert statuses[-1].startswith("STATUS=Bound ")
    assert all(a != b for a, b in itertools.pairwise(statuses)), statuses


def test_renewals_rewrite_the_lease_file_at_most_hourly(rig: Rig) -> None:
    """A 10-minute lease renews every ~5 minutes: written at each, it was 288 writes (two
    fsyncs each) a day on what may be an SD card, for a file only the next cold start reads.
    Written at the bind, then again at the first renewal an hour or more later, and at the
    stop with the last renewal not yet written."""
    path = rig.state_dir / leasefile.FILENAME
    bind_short(rig)
    bound_at, first = rig.clock.now, path.read_bytes()

    def renew() -> bytes:
        renew_short(rig)
        return path.read_bytes()

    written = [first]
    while (rig.svc.timer() or 0) - bound_at < service.LEASE_FILE_REFRESH:  # T1 next
        assert renew() == first
    written.append(renew())  # the first renewal an hour on
    assert written[1] != first
    again = renew()
    assert again == written[1]
    rig.svc.store_renewal()  # the stop
    last = path.read_bytes()
    assert last != written[1]
    # as the next boot reads it: the last renewal's lease, not an hour-old one run out
    stored = leasefile.load(str(rig.state_dir), now_mono=rig.clock.now,
                            now_wall=WALL0 + rig.clock.now, min_lease_time=0)
    assert isinstance(stored, Lease) and stored.expires_at > rig.clock.now + 500


def test_a_lease_that_ran_out_while_off_is_asked_for_again(tmp_path: Path) -> None:
    """A machine off for longer than its lease: the lease file's address goes in the
    DISCOVER (option 50), as when the lease runs out while the engine runs, and a new
    address then is "changed" for the hooks, the old one named."""
    first = make_rig(tmp_path)
    bind(first)
    off = LiveState(os.memfd_create("reboot"))  # a reboot: no live state
    rig = restarted(first, off, after=7 * 3600)
    discover = rig.sent()
    assert discover.message_type is wire.MessageType.DISCOVER
    assert discover.requested_ip == ADDRESS
    assert rig.svc.events.last_address == str(ADDRESS)
    # another MAC's lease file: nothing of it is asked for
    other = restarted(first, LiveState(os.memfd_create("other")), after=7 * 3600,
                      mac=b"\x02\x00\x5e\x00\x00\x99")
    assert other.sent().requested_ip is None


def test_a_replaced_link_is_verified_by_init_reboot(rig: Rig) -> None:
    # The interface was removed and came back (same name and MAC, new ifindex): what was
    # applied went with the old link. io reports the carrier lost before it exits, but
    # the new ifindex alone must be enough (io may have been killed in between).
    bind(rig)
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(7, MAC, 1500, True))
    request = rig.sent()
    assert request.message_type is wire.MessageType.REQUEST
    assert request.requested_ip == ADDRESS and request.server_id is None  # INIT-REBOOT
    assert rig.svc.state is State.REBOOTING
    # and the same again through a carrier loss reported first
    rig.reply(ack(request))
    rig.applies()
    assert rig.svc.state is State.BOUND
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(7, MAC, 1500, False))
    status = rig.control(control.Command.STATUS)["result"]
    assert isinstance(status, dict) and status["status"].startswith("No carrier; keeping")
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(9, MAC, 1500, True))
    assert rig.sent().requested_ip == ADDRESS
    assert rig.svc.state is State.REBOOTING


def test_a_carrier_back_puts_the_lease_back_before_a_server_answers(tmp_path: Path) -> None:
    """`ip link set down` and `up` (rfkill too) took every route through the link, and
    brought back only the prefix route: the lease still in use goes to netconf again at
    once, so a server that does not answer the INIT-REBOOT costs no default route. Not
    after a leave that kept the configuration (SendRelease=no, KeepConfiguration=yes):
    that is no longer leasebox's."""
    rig = make_rig(tmp_path, config=ClientConfig(send_release=False))
    first = bind(rig)
    assert rig.netconf_conn is not None
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, True))
    request = rig.sent()
    assert request.message_type is wire.MessageType.REQUEST  # the INIT-REBOOT all the same
    # not at once: the exchange's own apply does it, and must not wait for this one
    assert not select.select([rig.netconf_conn], [], [], 0)[0]
    rig.clock.now += service.REAPPLY_DELAY
    rig.svc.on_timer(rig.clock.now)
    again = rig.applies()
    assert again.address == ADDRESS and again.routers == first.routers
    assert again.request_id != first.request_id
    assert rig.svc.state is State.REBOOTING
    # answered within the delay: the ACK's apply, and nothing more
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, True))
    rig.reply(ack(rig.sent()))
    rig.applies()
    assert rig.svc.state is State.BOUND
    rig.clock.now += service.REAPPLY_DELAY
    rig.svc.on_timer(rig.clock.now)
    assert not select.select([rig.netconf_conn], [], [], 0)[0]
    rig.svc.settings = replace(rig.svc.settings, keep_configuration=True)
    rig.control(control.Command.LEAVE)
    assert rig.svc.state is State.STOPPED
    for carrier in (False, True):
        dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, carrier))
    rig.clock.now += service.REAPPLY_DELAY
    rig.svc.on_timer(rig.clock.now)
    assert not select.select([rig.netconf_conn], [], [], 0)[0]


def _netconf_called(r: Rig) -> bool:
    """Whether the engine connected to netconf's socket since (socket activation)."""
    if not select.select([r.netconf], [], [], 0)[0]:
        return False
    r.netconf.accept()[0].close()
    return True


def test_a_link_removed_while_netconf_is_idle_starts_netconf(rig: Rig) -> None:
    """A NIC unplugged while netconf had exited idle: io says the carrier is lost and
    exits. Connecting starts a netconf, which takes back the DNS and NTP servers it handed
    on (netconf's own test); before, they stayed until the lease ran out."""
    bind(rig)
    assert rig.netconf_conn is not None
    rig.netconf_conn.close()  # netconf exits idle
    rig.svc.drop_netconf()
    assert not _netconf_called(rig)
    rig.restart_io()  # an io restarted with the carrier up: no reason to
    assert not _netconf_called(rig)
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))
    assert not _netconf_called(rig)  # a carrier lost alone: the link is still there
    rig.io.close()  # io exits: its link was removed
    rig.svc.drop_io()
    assert _netconf_called(rig)


def test_a_new_link_under_the_name_starts_netconf_whatever_its_mac(tmp_path: Path) -> None:
    """No lease held, so netconf has exited idle; the device goes and another comes under
    the name (a USB NIC, a phone's tethering with a MAC of its own each time). A new link
    is down: the netconf started for it brings it up (LinkUp=), or no DHCP ever starts."""
    for mac in (MAC, b"\x02\x00\x5e\x00\x00\x99"):
        (tmp_path / mac.hex()).mkdir()
        rig = make_rig(tmp_path / mac.hex(), carrier=False)
        assert not _netconf_called(rig)
        dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))
        assert not _netconf_called(rig)  # the same link
        dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(7, mac, 1500, False))
        assert _netconf_called(rig), mac.hex()
        rig.netconf.close()


def test_io_gone_without_a_lease_starts_no_netconf(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, carrier=False)
    rig.io.close()
    rig.svc.drop_io()
    assert not _netconf_called(rig)
    rig.netconf.close()


def test_io_gone_after_a_leave_starts_no_netconf(rig: Rig) -> None:
    """After `leaseboxctl leave` (STOPPED) what the leave kept is meant to stay: a netconf
    started then would bring the link up again when it comes back."""
    bind(rig)
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))
    rig.control(control.Command.LEAVE)
    assert rig.svc.state is State.STOPPED
    assert rig.netconf_conn is not None
    rig.netconf_conn.close()
    rig.svc.drop_netconf()
    rig.io.close()
    rig.svc.drop_io()
    assert not _netconf_called(rig)


def test_a_replaced_link_tells_the_hooks_bound_again(rig: Rig, logs: Logs) -> None:
    """What the hooks set up at "bound" went with the old link (a NIC unplugged and
    plugged back): its lease, verified on the new link, is "bound" again, not "renewed",
    and the journal says Acquired."""
    bind(rig)
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))  # unplugged
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(7, MAC, 1500, True))  # plugged back
    rig.reply(ack(rig.sent()))
    rig.applies()
    assert rig.svc.state is State.BOUND
    queued = sorted((rig.state_dir / "events").iterdir())
    assert [json.loads(p.read_text())["event"] for p in queued] == ["bound", "bound"]
    events_said = [r.fields.get("LEASE_EVENT") for r in logs.at_least(INFO, "leasebox.engine")
                   if r.fields.get("LEASE_EVENT")]
    assert events_said == ["acquired", "acquired"]


def test_a_link_gone_while_netconf_applied_does_not_bar_the_address(rig: Rig,
                                                                     logs: Logs) -> None:
    """The flapping NIC of test_lifecycle: the link was replaced, the INIT-REBOOT ACK came,
    and the link went away again while netconf applied it, so netconf answered FAILED
    (rolled back). That is no reason to refuse the address for AVOID_TIME, which left the
    link without one for 5 minutes: the server's next offer of it is taken."""
    bind(rig)
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(7, MAC, 1500, True))
    rig.reply(ack(rig.sent()))
    record, queued = rig.fail_apply("interface veth0 (ifindex 7) is gone", logs)
    assert rig.svc.state is State.INIT
    assert record.text().startswith(f"Could not apply {ADDRESS}/24")
    assert record.text().endswith("(interface veth0 (ifindex 7) is gone)")
    assert "LEASE_KEPT" not in record.fields and queued[-1] == "failed"
    assert rig.netconf_conn is not None
    # whatever is left of the lease goes
    assert isinstance(channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF),
                      ipc.Remove)
    discover = rig.sent()
    assert discover.message_type is wire.MessageType.DISCOVER
    rig.reply(offer(discover))
    request = rig.sent()
    assert request.message_type is wire.MessageType.REQUEST
    assert request.requested_ip == ADDRESS and request.server_id == SERVER


def test_a_renewal_the_kernel_failed_is_renew_failed_for_hooks_and_journal(
        rig: Rig, logs: Logs) -> None:
    """The lease in use stays (the state machine keeps it): the journal says so, with
    LEASE_KEPT=1, and the hooks' event is renew-failed, not failed, so that a hook that
    tears down on failed leaves a working address alone."""
    bind(rig)
    renew = rig.sent()  # at T1
    assert renew.message_type is wire.MessageType.REQUEST and renew.ciaddr == ADDRESS
    rig.reply(ack(renew))
    record, queued = rig.fail_apply("[Errno 105] No buffer space available", logs)
    assert rig.svc.state is State.RENEWING
    assert record.text().startswith(f"Could not apply the renewal of {ADDRESS}/24")
    assert record.fields["LEASE_KEPT"] == "1"
    assert queued == ["bound", "renew-failed"]


def test_an_answer_to_another_client_with_our_mac_is_said(rig: Rig, logs: Logs) -> None:
    """A server answering a request with our MAC address that we never sent: another DHCP
    client manages the interface (or a host has the same MAC). Said once an hour, with its
    MESSAGE_ID, whether it comes while we wait for an answer (pre-screened) or not; late
    answers to our own requests, and others' MAC addresses, are not."""
    discover = rig.sent()
    rig.reply(offer(discover))
    request = rig.sent()

    def warnings() -> list[str]:
        return [str(r.fields.get("DHCP_XID", "")) for r in logs.at_least(WARNING, "leasebox.engine")
                if r.fields.get("MESSAGE_ID") == events.OTHER_CLIENT_ID]

    rig.reply(offer(discover))  # late, to our DISCOVER, while the REQUEST waits
    rig.reply(offer(discover, xid=0x5EED0001, chaddr=OTHER_MAC))  # not us
    assert warnings() == []
    rig.reply(offer(discover, xid=0x5EED0002))  # pre-screened: another exchange's xid
    assert warnings() == ["5eed0002"]
    rig.reply(ack(request, lease_time=86400))
    applied_by_netconf(rig)
    assert rig.svc.state is State.BOUND
    rig.reply(ack(request, xid=0x5EED0003))  # decoded (no exchange): within the hour
    assert warnings() == ["5eed0002"]
    rig.clock.now += service.OTHER_CLIENT_WARN_INTERVAL
    rig.reply(ack(request, xid=0x5EED0003))
    rig.reply(ack(request))  # a late duplicate of our own
    assert warnings() == ["5eed0002", "5eed0003"]
    assert rig.svc.state is State.BOUND


def test_a_server_the_policy_refuses_is_said_apart_from_malformed_frames(
        rig: Rig, logs: Logs) -> None:
    """DenyServers= (or AllowServers=) refusing the one server there is: its sound OFFER
    was counted among "malformed" frames, sending the operator after a broken server or a
    checksum offload. Said as what it is, with where to look, once a minute."""
    from leasebox.engine.servers import ServerWatch
    rig.svc.servers = ServerWatch((), (SERVER,))
    discover = rig.sent()
    rig.reply(offer(discover))
    rig.reply(offer(discover))
    said = [r.message for r in logs.at_least(WARNING, "leasebox.engine")]
    assert said == [f"ignored a OFFER from DHCP server {SERVER} ({SERVER_MAC.hex(':')}): "
                    "denied by DenyServers= (leaseboxctl check-config eth0 shows where it "
                    "is set)"], said
    assert rig.svc.state is State.SELECTING


def test_peer_violations_and_bad_input(rig: Rig, logs: Logs) -> None:
    bind(rig)
    with pytest.raises(ipc.PeerViolation, match="unknown request"):
        dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(999, ipc.ResultStatus.OK, ""))
    with pytest.raises(ipc.PeerViolation):
        dispatch.engine_dispatch_netconf(rig.svc, ipc.TxDone(True))
    with pytest.raises(ipc.PeerViolation):
        dispatch.engine_dispatch_io(rig.svc, ipc.Remove(1))
    # a malformed frame from the network is dropped with a (rate-limited) warning, no more
    dispatch.engine_dispatch_io(rig.svc, ipc.Frames((b"\x00" * 60,)))
    assert any("dropped 1 frame(s): 1 malformed" in r.message for r in logs.at_least(WARNING))
    assert rig.svc.state is State.BOUND
    # a bad control request gets an error reply and nothing changes
    reply = control.decode_reply(dispatch.engine_dispatch_control(rig.svc, b"{nope"))
    assert reply["ok"] is False and rig.svc.state is State.BOUND
    assert rig.control(control.Command.RELEASE)["ok"] is True


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every frame that reaches the full decoder, in order."""
    seen: list[bytes] = []
    real = wire.decode_frame_message

    def counting(data: bytes) -> tuple[wire.Frame, wire.Message]:
        seen.append(data)
        return real(data)

    monkeypatch.setattr(wire, "decode_frame_message", counting)
    return seen


@pytest.mark.parametrize("use", [True, False])
def test_a_captive_portal_is_shown_and_logged_once(tmp_path: Path, use: bool,
                                                   logs: Logs) -> None:
    rig = make_rig(tmp_path)
    rig.svc.settings = replace(rig.svc.settings, use_captive_portal=use)
    portal = "https://portal.example/login?x=1"
    discover = rig.sent()
    rig.reply(offer(discover, captive_portal=portal))
    rig.reply(ack(rig.sent(), captive_portal=portal))
    conn, _ = rig.netconf.accept()
    apply = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(apply, ipc.Apply)
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(apply.request_id,
                                                         ipc.ResultStatus.OK, ""))
    status = rig.control(control.Command.STATUS)["result"]
    assert isinstance(status, dict)
    assert status["lease"]["captive_portal"] == (portal if use else None)
    lines = [r for r in logs.at_least(INFO, "leasebox.engine")
             if r.message.startswith("captive portal on")]
    assert len(lines) == (1 if use else 0)
    if use:
        assert lines[0].fields["CAPTIVE_PORTAL"] == portal
        assert lines[0].fields["MESSAGE_ID"] == journal.CAPTIVE_PORTAL_MESSAGE_ID
    conn.close()


def test_a_captive_portal_is_logged_again_for_the_next_lease(tmp_path: Path,
                                                            logs: Logs) -> None:
    """Hotel Wi-Fi: the lease lost overnight, the morning's brings the same portal, to be
    accepted again. It was not logged (nor shown by `leaseboxctl monitor`): only a
    portal-less lease or a restart made it news again."""
    rig = make_rig(tmp_path)
    rig.svc.settings = replace(rig.svc.settings, use_captive_portal=True)
    lease = Harness().acquire(captive_portal="https://portal.example/login")
    for kind in (LeaseEventKind.ACQUIRED, LeaseEventKind.RENEWED, LeaseEventKind.LOST,
                 LeaseEventKind.ACQUIRED):
        rig.svc._report_portal(kind, lease)
    lines = [r for r in logs.at_least(INFO, "leasebox.engine")
             if r.message.startswith("captive portal on")]
    assert len(lines) == 2


def test_frames_for_other_clients_are_screened_before_decoding(
        rig: Rig, decoded: list[bytes]) -> None:
    """Security hardening ("also"): op and chaddr are looked at where they lie before the
    whole frame is decoded, so a flood of other clients' traffic costs next to nothing."""
    discover = rig.sent()
    theirs = offer(discover, chaddr=OTHER_MAC)
    rig.reply(theirs)  # a reply to another client
    request = wire.Message(op=wire.Op.BOOTREQUEST, xid=1, chaddr=MAC,
                           message_type=wire.MessageType.DISCOVER)
    rig.reply(request)  # a request (ours, seen on the wire)
    assert decoded == [] and rig.svc.state is State.SELECTING
    rig.reply(offer(discover))  # ours: decoded, and taken
    assert len(decoded) == 1 and rig.svc.state is State.REQUESTING
    dispatch.engine_dispatch_io(rig.svc, ipc.Frames((b"\x00" * 60,)))  # malformed: to the decoder
    assert len(decoded) == 2


def test_each_frame_of_a_batch_is_taken_on_its_own(rig: Rig, decoded: list[bytes]) -> None:
    """io sends the frames of one wake-up together: junk before and after an answer costs
    the answer nothing, each is judged as if it had come alone."""
    discover = rig.sent()

    def framed(message: wire.Message) -> bytes:
        return wire.encode_frame(wire.encode(message), src_mac=SERVER_MAC, src_ip=SERVER,
                                 src_port=wire.SERVER_PORT, dst_port=wire.CLIENT_PORT)

    ours = framed(offer(discover))
    batch = (b"\x00" * 60, framed(offer(discover, chaddr=OTHER_MAC)), ours, b"\x00" * 61)
    dispatch.engine_dispatch_io(rig.svc, ipc.Frames(batch))
    assert decoded == [b"\x00" * 60, ours, b"\x00" * 61]
    assert rig.svc.state is State.REQUESTING
    # the first malformed one was logged at once; the other two wait for the next line
    assert (rig.svc.dropped, rig.svc.ignored) == (1, 1)


def test_the_prescreen_drops_replies_to_other_exchanges_and_clients(
        rig: Rig, decoded: list[bytes]) -> None:
    discover = rig.sent()
    rig.reply(offer(discover, xid=discover.xid ^ 1))  # another exchange's
    assert decoded == [] and rig.svc.state is State.SELECTING
    rig.reply(offer(discover))
    request = rig.sent()
    rig.reply(ack(request))
    apply = channel.recv(rig.netconf.accept()[0], ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(apply, ipc.Apply)
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(apply.request_id,
                                                         ipc.ResultStatus.OK, ""))
    assert rig.svc.state is State.BOUND and rig.svc.client is not None
    assert rig.svc.client.awaited_xid is None
    before = len(decoded)
    rig.reply(ack(request, chaddr=OTHER_MAC))  # another client's, while none is in progress
    assert len(decoded) == before and rig.svc.ignored == 2  # with the first one
    rig.reply(ack(request))  # a late duplicate to us: decoded (a FORCERENEW would be too)
    assert len(decoded) == before + 1 and rig.svc.state is State.BOUND


def _reply_frame(xid: int) -> bytearray:
    reply = wire.Message(op=wire.Op.BOOTREPLY, xid=xid, chaddr=MAC, yiaddr=ADDRESS,
                         message_type=wire.MessageType.ACK, server_id=SERVER)
    return bytearray(wire.encode_frame(wire.encode(reply), src_mac=SERVER_MAC, src_ip=SERVER,
                                       src_port=wire.SERVER_PORT, dst_port=wire.CLIENT_PORT))


@settings(max_examples=examples(400))
@given(st.data())
def test_the_prescreen_drops_only_what_the_machine_drops(data: st.DataObject) -> None:
    """Whatever the pre-screen drops, the decoder or the machine's own screen would have
    dropped too: it is a shortcut, never a second opinion."""
    xid = 0x1234ABCD
    frame = _reply_frame(xid)
    bootp = 14 + 20 + 8
    fields = [0, 1, 2, 4, 5, 6, 7, 28, 29, 33, 236, 237, 238, 239]
    for offset in data.draw(st.lists(st.sampled_from(fields), max_size=4)):
        frame[bootp + offset] = data.draw(st.integers(0, 255))
    awaited = data.draw(st.sampled_from([xid, None, xid ^ 0xFF]))
    if dispatch.prescreen(bytes(frame), MAC, awaited) is None:
        return
    try:
        _, message = wire.decode_frame_message(bytes(frame))
    except wire.DecodeError:
        return
    assert isinstance(replies.screen(message, awaited, MAC, None), str)


def test_renew_is_rate_limited(rig: Rig) -> None:
    bind(rig)
    replies = [rig.control(control.Command.RENEW) for _ in range(4)]
    # renewing now; the next two send the REQUEST again at once ...
    assert all(r["ok"] is True for r in replies[:3])
    assert [rig.sent().message_type for _ in range(3)] == [wire.MessageType.REQUEST] * 3
    assert "too many renew/release requests" in str(replies[3]["error"])  # ... then limited
    reply = rig.control(control.Command.RELEASE)
    assert reply["ok"] is False and "too many renew/release" in str(reply["error"])
    rig.clock.now += 9.6  # 0.4 s left: said as 1 s, not as "in 0 s"
    assert str(rig.control(control.Command.RELEASE)["error"]).endswith("try again in 1 s")
    rig.clock.now += 1.4  # the window has passed
    assert "too many" not in str(rig.control(control.Command.RELEASE).get("error", ""))


def test_a_refused_request_costs_none_of_the_rate(rig: Rig) -> None:
    for _ in range(5):  # no lease yet: refused for that, not for the rate
        assert rig.control(control.Command.RELEASE)["error"] == "no lease to release"
    bind(rig)
    assert rig.control(control.Command.RELEASE)["ok"] is True


def test_option_57_follows_the_links_mtu(rig: Rig) -> None:
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1400, True))  # say, option 26
    assert rig.sent().max_message_size == 1400


@pytest.mark.parametrize("command", [control.Command.RELEASE, control.Command.RENEW])
def test_release_and_renew_wait_for_io_to_send_them(rig: Rig,
                                                    command: control.Command) -> None:
    """Without io nothing can be sent: a renew had answered "Renewing" all the same, and
    the status showed the carrier io last reported, with nothing about io."""
    bind(rig)
    io, rig.svc.io = rig.svc.io, None  # io restarting
    reply = rig.control(command)
    assert reply["ok"] is False and "io is not running" in str(reply["error"])
    assert rig.svc.state is State.BOUND  # the lease is kept, not released unsent
    status = rig.control(control.Command.STATUS)["result"]
    assert isinstance(status, dict) and (status["io"], status["carrier"]) == (False, None)
    rig.svc.io = io
    assert rig.control(command)["ok"] is True
    sent = wire.MessageType.RELEASE if command is control.Command.RELEASE \
        else wire.MessageType.REQUEST
    assert rig.sent().message_type is sent
    status = rig.control(control.Command.STATUS)["result"]
    assert isinstance(status, dict) and (status["io"], status["carrier"]) == (True, True)


@pytest.mark.parametrize("io_comes", ["back", "never", "caller gone"])
def test_a_renew_while_io_restarts_waits_for_it(rig: Rig, io_comes: str) -> None:
    """`systemctl restart leasebox-engine@IFACE && leaseboxctl renew IFACE` was refused
    ("io is not running"): io comes back ~0.3 s after the engine's restart. A renew or a
    release now waits for io, up to IO_WAIT, and only then is refused. The connection is
    not read meanwhile (one request at a time): a caller gone is noticed at the reply."""
    bind(rig)
    io, rig.svc.io = rig.svc.io, None  # io restarting
    with control_loop(rig) as (loop, ctl, conn):
        loop.control_clients.admit(conn, 0, rig.clock.now)
        ctl.send(control.encode_request(control.Request(control.Command.RENEW)))
        loop._recv_control(conn)
        loop._housekeeping()
        assert len(loop.io_waiters) == 1 and loop._timeout() <= IO_WAIT
        loop._sync_registrations()
        assert conn not in loop.registered  # the next request waits for this one's reply
        ctl.setblocking(False)
        with pytest.raises(BlockingIOError):  # not answered yet
            ctl.recv(control.MAX_REPLY)
        if io_comes == "never":
            rig.clock.now += IO_WAIT
        else:
            if io_comes == "caller gone":  # leaseboxctl interrupted
                ctl.close()
            rig.clock.now += 0.3
            rig.svc.io = io
        loop._housekeeping()  # (a reply to a caller gone is lost, and harmless)
        assert not loop.io_waiters
        loop._sync_registrations()
        assert conn in loop.registered
        if io_comes == "caller gone":
            assert rig.svc.state is State.RENEWING  # asked for, and done
            return
        ctl.settimeout(5)
        reply = control.decode_reply(ctl.recv(control.MAX_REPLY))
    if io_comes == "back":
        assert reply["ok"] is True and rig.sent().message_type is wire.MessageType.REQUEST
        assert rig.svc.state is State.RENEWING
    else:
        assert reply["ok"] is False and "io is not running" in str(reply["error"])
        assert rig.svc.state is State.BOUND


def test_a_renew_held_for_io_is_not_done_after_a_leave(rig: Rig) -> None:
    """A leave while a renew waits for io: the renew, done once io was back, started the
    engine again on a link it had just left."""
    bind(rig)
    io, rig.svc.io = rig.svc.io, None
    with control_loop(rig) as (loop, ctl, conn):
        ctl.send(control.encode_request(control.Request(control.Command.RENEW)))
        loop._recv_control(conn)
        assert len(loop.io_waiters) == 1
        root, root_conn = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with root, root_conn:
            root.send(control.encode_request(control.Request(control.Command.LEAVE)))
            loop._recv_control(root_conn)
            ctl.settimeout(5)
            reply = control.decode_reply(ctl.recv(control.MAX_REPLY))
            assert reply == {"ok": False,
                             "error": "not done: the engine left the link meanwhile"}
            assert not loop.io_waiters and rig.svc.state is State.STOPPED
            rig.svc.io = io
            loop._housekeeping()
            assert rig.svc.state is State.STOPPED


@pytest.mark.parametrize("command", [control.Command.RENEW, control.Command.RELEASE])
@pytest.mark.parametrize("io_connected", [False, True])
def test_a_request_right_after_the_engines_restart_waits_for_the_lease(
        tmp_path: Path, command: control.Command, io_connected: bool) -> None:
    """Until io has reported the link a new engine has no client, and no lease: a release
    was refused ("no lease to release"), and either request was once io was connected
    but had not reported the link yet."""
    first = make_rig(tmp_path)
    bind(first)
    rig = restarted(first, first.svc.live, report=False)
    io = rig.svc.io
    rig.svc.io = io if io_connected else None
    with control_loop(rig) as (loop, ctl, conn):
        ctl.send(control.encode_request(control.Request(command)))
        loop._recv_control(conn)
        rig.svc.io = io
        loop._housekeeping()
        assert len(loop.io_waiters) == 1
        dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, True))
        loop._housekeeping()
        ctl.settimeout(5)
        reply = control.decode_reply(ctl.recv(control.MAX_REPLY))
    assert reply["ok"] is True, reply
    assert rig.sent().message_type is (wire.MessageType.REQUEST if command is
                                       control.Command.RENEW else wire.MessageType.RELEASE)


@pytest.mark.parametrize("command", [control.Command.RENEW, control.Command.RELEASE])
@pytest.mark.parametrize("io_connected", [False, True])
def test_a_request_io_never_came_for_says_so(tmp_path: Path, command: control.Command,
                                             io_connected: bool) -> None:
    """Refused after IO_WAIT with no link report from io: the lease is not known then, so
    not "no lease to release" (an operator told so would not try again), nor "no carrier"
    for a renew while io is connected but has not reported the link."""
    first = make_rig(tmp_path)
    bind(first)
    rig = restarted(first, first.svc.live, report=False)
    if not io_connected:
        rig.svc.io = None
    with control_loop(rig) as (loop, ctl, conn):
        ctl.send(control.encode_request(control.Request(command)))
        loop._recv_control(conn)
        assert len(loop.io_waiters) == 1
        rig.clock.now += IO_WAIT
        loop._housekeeping()
        ctl.settimeout(5)
        reply = control.decode_reply(ctl.recv(control.MAX_REPLY))
    assert reply["ok"] is False
    assert reply["error"] == ("io has not reported eth0 yet (restarting?); try again"
                              if io_connected else
                              "io is not running (restarting?): nothing can be sent; try again")


def test_a_request_after_held_ones_is_done_after_them(tmp_path: Path) -> None:
    """A renew held for io, then io's link report and an operator's release in one wake-up
    of the loop: the release went first, and the earlier renew, done after it, took a new
    lease although the operator's last word was release."""
    first = make_rig(tmp_path)
    bind(first)
    rig = restarted(first, first.svc.live, report=False)
    with control_loop(rig) as (loop, ctl, conn):
        ctl.send(control.encode_request(control.Request(control.Command.RENEW)))
        loop._recv_control(conn)
        assert len(loop.io_waiters) == 1
        dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, True))
        root, root_conn = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with root, root_conn:
            root.send(control.encode_request(control.Request(control.Command.RELEASE)))
            loop._recv_control(root_conn)
            loop._housekeeping()
            root.settimeout(5)
            assert control.decode_reply(root.recv(control.MAX_REPLY))["ok"] is True
        ctl.settimeout(5)
        assert control.decode_reply(ctl.recv(control.MAX_REPLY))["ok"] is True
    assert rig.svc.state is State.STOPPED  # renewed, then released


def test_a_renew_waiting_for_io_is_answered_when_the_engine_stops(rig: Rig) -> None:
    bind(rig)
    rig.svc.io = None  # io restarting
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT,
                                                       signal.SIGPIPE)}
    try:
        with control_loop(rig) as (loop, ctl, conn):
            ctl.send(control.encode_request(control.Request(control.Command.RELEASE)))
            loop._recv_control(conn)
            assert len(loop.io_waiters) == 1
            loop.terminate = True  # as SIGTERM
            assert loop.run() == 0
            ctl.settimeout(5)
            reply = control.decode_reply(ctl.recv(control.MAX_REPLY))
    finally:
        signal.set_wakeup_fd(-1)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert reply == {"ok": False, "error": "the engine stopped before io connected"}
    assert rig.svc.state is State.BOUND


def test_a_renew_after_a_release_starts_again_without_io(rig: Rig) -> None:
    """After a release, with the NIC unplugged (io waits for it), renew is the only way
    out of STOPPED: it starts again, and what it sends waits for io."""
    bind(rig)
    assert rig.control(control.Command.RELEASE)["ok"] is True
    rig.svc.io = None
    rig.clock.now += 11  # past the rate's window
    assert rig.control(control.Command.RENEW)["ok"] is True
    assert rig.svc.state is not State.STOPPED


def test_a_reply_too_large_is_an_error_reply_not_a_crash(rig: Rig,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    bind(rig)
    monkeypatch.setattr(control, "MAX_REPLY", 100)
    reply = dispatch.engine_dispatch_control(
        rig.svc, control.encode_request(control.Request(control.Command.STATUS)))
    assert b'"ok": false' in reply and b"reply not sent" in reply
    assert rig.svc.state is State.BOUND


def test_the_largest_lease_a_server_can_give_still_has_a_status(tmp_path: Path) -> None:
    """Every list of the lease at its bound, unknown options asked for with RequestOptions=
    up to the codec's bound: status, and renew's status afterwards, still fit one reply."""
    codes = tuple(range(224, 224 + MAX_UNKNOWN_BYTES // 255))  # site-specific: unknown
    r = make_rig(tmp_path, config=ClientConfig(request_options=REQUEST_OPTIONS + codes))
    discover = r.sent()
    r.reply(offer(discover))
    request = r.sent()
    label = "a" * 63

    def name(i: int) -> str:  # 253 characters, each name its own (no compression)
        return f"{label}.{label}.{label}.{i:02d}{'b' * 59}"

    def hosts(n: int, first: int) -> tuple[IPv4Address, ...]:
        return tuple(IPv4Address(f"192.0.2.{first + i}") for i in range(n))

    r.reply(ack(request, domain_name=name(99), domain_search=tuple(
                name(i) for i in range(MAX_DOMAINS)),
                routers=hosts(MAX_ROUTERS, 1), dns_servers=hosts(MAX_DNS, 20),
                ntp_servers=hosts(MAX_NTP, 40),
                classless_routes=tuple(wire.Route(IPv4Network(f"10.{i}.0.0/16"),
                                                  IPv4Address("192.0.2.1"))
                                       for i in range(MAX_ROUTES)),
                unknown=tuple((code, bytes([code]) * 255) for code in codes)))
    applied_by_netconf(r).close()
    assert r.svc.state is State.BOUND
    for command in (control.Command.STATUS, control.Command.RENEW):
        data = dispatch.engine_dispatch_control(
            r.svc, control.encode_request(control.Request(command)))
        reply = control.decode_reply(data)
        assert reply["ok"] is True, reply
    lease = control.decode_reply(dispatch.engine_dispatch_control(
        r.svc, control.encode_request(control.Request(control.Command.STATUS))))["result"]
    assert len(lease["lease"]["received_options"]) == len(codes)
    assert 16384 < len(data) < 30000, len(data)  # the limit was 16384


def test_leave_holds_the_remove_until_io_sent_the_release(rig: Rig) -> None:
    bind(rig)
    reply = rig.control(control.Command.LEAVE)
    assert reply["ok"] is True
    release = rig.sent(confirm=False)
    assert release.message_type is wire.MessageType.RELEASE
    assert rig.svc.ledger.held  # the Remove waits for io's TxDone
    assert rig.netconf_conn is not None
    rig.netconf_conn.setblocking(False)
    with pytest.raises(BlockingIOError):  # nothing for netconf yet
        rig.netconf_conn.recv(100)
    rig.netconf_conn.settimeout(5)
    dispatch.engine_dispatch_io(rig.svc, ipc.TxDone(True))
    remove = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(remove, ipc.Remove)


def test_leave_without_io_says_no_release_was_sent(rig: Rig, logs: Logs) -> None:
    """io is between restarts when the target stops: the RELEASE cannot go, so the hooks
    and the journal must not hear "released", and the lease file stays, as the server
    still holds the lease. The address goes as at any leave."""
    bind(rig)
    rig.io.close()
    rig.svc.drop_io()
    assert rig.control(control.Command.LEAVE)["ok"] is True
    assert rig.netconf_conn is not None
    remove = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(remove, ipc.Remove)
    assert (rig.state_dir / leasefile.FILENAME).exists()
    queued = sorted((rig.state_dir / "events").iterdir())
    assert [json.loads(p.read_text())["event"] for p in queued] == ["bound", "left"]
    assert any("no DHCPRELEASE can be sent" in r.text()
               for r in logs.at_least(WARNING, "leasebox.engine"))


@pytest.mark.parametrize("answer", ["ok", "failed", "none"])
def test_a_leave_says_whether_netconf_removed_the_configuration(rig: Rig,
                                                               answer: str) -> None:
    """The target's stop job (leaseboxctl leave) waits for the removal: one netconf failed
    is an error for it, not a "Stopped" with exit status 0 while the address may still be
    on the link; one it did not confirm in time, a warning. A leave after a failed one
    asks netconf again, and says how that ends."""
    bind(rig)
    with control_loop(rig) as (loop, ctl, conn):
        ctl.send(control.encode_request(control.Request(control.Command.LEAVE)))
        loop._recv_control(conn)
        assert rig.sent().message_type is wire.MessageType.RELEASE
        dispatch.engine_dispatch_io(rig.svc, ipc.TxDone(True))  # the Remove goes after it
        assert rig.netconf_conn is not None
        remove = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
        assert isinstance(remove, ipc.Remove) and len(loop.stop_waiters) == 1
        if answer == "none":
            rig.clock.now += STOP_GRACE
        else:
            status = ipc.ResultStatus.OK if answer == "ok" else ipc.ResultStatus.FAILED
            dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(
                remove.request_id, status, "" if answer == "ok" else "RTM_DELADDR: EPERM"))
        loop._housekeeping()
        assert not loop.stop_waiters
        ctl.settimeout(5)
        reply = control.decode_reply(ctl.recv(control.MAX_REPLY))
        assert reply["ok"] is (answer != "failed")
        if answer == "failed":
            assert reply["error"] == ("netconf could not remove the configuration "
                                      "(RTM_DELADDR: EPERM): some of it may still be on eth0")
            # the target's stop after a failed `leaseboxctl leave`: asked again
            ctl.send(control.encode_request(control.Request(control.Command.LEAVE)))
            loop._recv_control(conn)
            again = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
            assert isinstance(again, ipc.Remove) and len(loop.stop_waiters) == 1
            dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(again.request_id,
                                                                 ipc.ResultStatus.OK, ""))
            loop._housekeeping()
            assert control.decode_reply(ctl.recv(control.MAX_REPLY))["ok"] is True
        elif answer == "none":
            assert reply["result"]["warning"].startswith("netconf has not confirmed the "
                                                         "removal")
        else:
            assert reply["result"]["state"] == "STOPPED" and "warning" not in reply["result"]


@pytest.mark.parametrize("always", [False, True])
def test_shutdown_keeps_the_lease_unless_send_release_always(tmp_path: Path,
                                                              always: bool) -> None:
    rig = make_rig(tmp_path)
    rig.svc.settings = replace(rig.svc.settings, release_at_shutdown=always)
    bind(rig)
    assert rig.control(control.Command.SHUTDOWN)["ok"] is True
    if always:
        assert rig.sent().message_type is wire.MessageType.RELEASE
    else:
        rig.io.setblocking(False)
        with pytest.raises(BlockingIOError):  # no RELEASE
            rig.io.recv(100)
    assert rig.netconf_conn is not None
    remove = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(remove, ipc.Remove)  # the address goes either way
    assert (rig.state_dir / leasefile.FILENAME).exists() is not always
    assert rig.svc.state is State.STOPPED


@pytest.mark.parametrize("always", [False, True])
def test_shutdown_does_not_wait_for_an_idle_exited_netconf(tmp_path: Path,
                                                            always: bool) -> None:
    """At shutdown systemd starts no socket-activated service: an idle-exited netconf is
    not asked to remove anything, and the address it cannot remove is not released either
    (SendRelease=always)."""
    rig = make_rig(tmp_path)
    rig.svc.settings = replace(rig.svc.settings, release_at_shutdown=always)
    bind(rig)
    rig.svc.drop_netconf()  # netconf exited idle
    with control_loop(rig) as (loop, ctl, conn):
        ctl.send(control.encode_request(control.Request(control.Command.SHUTDOWN)))
        loop._recv_control(conn)
        assert not loop.stop_waiters
        ctl.settimeout(5)
        assert control.decode_reply(ctl.recv(control.MAX_REPLY))["ok"] is True
        assert rig.svc.state is State.STOPPED
        rig.io.setblocking(False)
        with pytest.raises(BlockingIOError):  # no RELEASE, even with SendRelease=always
            rig.io.recv(100)
        assert not rig.svc.ledger.pending  # nothing for netconf: the address stays
        rig.netconf.setblocking(False)
        with pytest.raises(BlockingIOError):  # and no connection to start it with
            rig.netconf.accept()
        assert (rig.state_dir / leasefile.FILENAME).exists()  # the lease is kept


def test_restart_uses_the_lease_file_for_init_reboot(tmp_path: Path) -> None:
    first = make_rig(tmp_path)
    bind(first)
    again = make_rig(tmp_path, clock=Clock(first.clock.now + 60))
    request = again.sent()
    assert request.message_type is wire.MessageType.REQUEST  # INIT-REBOOT, no DISCOVER
    assert request.requested_ip == ADDRESS and request.server_id is None


def test_a_renewal_ack_without_a_mask_leaves_a_lease_file_that_reads_back(
        tmp_path: Path) -> None:
    """Some routers send the subnet mask in the first ACK only. The lease file keeps the
    last ACK, and reads it back as a first one: it is stored with the mask in use, or the
    next start refused the file, threw it away and sent a DISCOVER."""
    r = make_rig(tmp_path)
    bind(r)
    renew = r.sent()  # at T1
    assert renew.message_type is wire.MessageType.REQUEST and renew.ciaddr == ADDRESS
    r.reply(ack(renew, subnet_mask=None))
    assert r.applies().prefixlen == 24
    lease = parse((r.state_dir / leasefile.FILENAME).read_bytes(), now=r.clock.now)
    assert isinstance(lease, Lease) and lease.prefixlen == 24
    again = make_rig(tmp_path, clock=Clock(r.clock.now + 60))
    request = again.sent()
    assert request.message_type is wire.MessageType.REQUEST  # INIT-REBOOT
    assert request.requested_ip == ADDRESS


def test_without_carrier_a_lease_only_remembered_is_not_said_kept(tmp_path: Path) -> None:
    """Booted without a carrier, the lease file's lease is not on the link: the status
    line says it is remembered, not kept (which is what a lease still applied is)."""
    bind(make_rig(tmp_path))
    again = make_rig(tmp_path, carrier=False)
    line = f"No carrier; {ADDRESS}/24 via {SERVER} remembered, to confirm"
    assert again.svc.status_field(again.clock.now) == f"STATUS={line}"
    reply = again.control(control.Command.STATUS)  # leaseboxctl status, and --json
    assert isinstance(reply["result"], dict) and reply["result"]["status"] == line


def test_a_lease_file_of_another_mac_is_not_used(tmp_path: Path) -> None:
    bind(make_rig(tmp_path))
    other = make_rig(tmp_path, mac=OTHER_MAC)
    assert other.sent().message_type is wire.MessageType.DISCOVER


def test_a_future_dated_lease_file_is_asked_for_again(tmp_path: Path, logs: Logs) -> None:
    """A clock behind the file (no real-time clock, before NTP): the remembered lease is
    asked for with INIT-REBOOT, which the server confirms or refuses; never used first."""
    first = make_rig(tmp_path)
    bind(first)
    path = first.state_dir / leasefile.FILENAME
    data = bytearray(path.read_bytes())
    magic, version, length, _ = leasefile.HEADER.unpack_from(data)
    leasefile.HEADER.pack_into(data, 0, magic, version, length, int((WALL0 + 10**6) * 1e9))
    path.write_bytes(bytes(data))
    again = make_rig(tmp_path, clock=Clock(first.clock.now + 60))
    request = again.sent()
    assert request.message_type is wire.MessageType.REQUEST  # INIT-REBOOT
    assert request.requested_ip == ADDRESS and request.server_id is None
    assert again.svc.ledger.applied is None  # nothing applied before the server's answer
    assert any("the clock is behind" in r.message
               for r in logs.at_least(WARNING, "leasebox.engine"))


def test_a_lease_file_of_a_later_version_is_kept_unread(tmp_path: Path) -> None:
    """A downgrade: the file of a later leasebox is not read, nor deleted (an upgrade back
    finds it)."""
    first = make_rig(tmp_path)
    bind(first)
    path = first.state_dir / leasefile.FILENAME
    data = bytearray(path.read_bytes())
    magic, _, length, acquired = leasefile.HEADER.unpack_from(data)
    leasefile.HEADER.pack_into(data, 0, magic, max(leasefile.READABLE) + 1, length, acquired)
    path.write_bytes(bytes(data))
    again = make_rig(tmp_path, clock=Clock(first.clock.now + 60))
    assert again.sent().message_type is wire.MessageType.DISCOVER
    assert path.read_bytes() == bytes(data)


def test_a_lease_file_that_cannot_be_read_or_removed_costs_only_the_reboot(
        tmp_path: Path, logs: Logs) -> None:
    """A directory where the lease file goes (not a regular file; unlink: EISDIR): the
    engine says so and asks for a new lease; it does not die at every start."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / leasefile.FILENAME).mkdir()
    r = make_rig(tmp_path)
    assert r.sent().message_type is wire.MessageType.DISCOVER
    assert any("discarding the lease file: not a regular file" in m.message
               for m in logs.at_least(WARNING, "leasebox.engine"))
    assert any("cannot remove the lease file" in m.message
               for m in logs.at_least(WARNING, "leasebox.engine"))


def test_a_lease_file_that_fails_to_read_is_kept(tmp_path: Path, logs: Logs,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An I/O error says nothing about the file: the engine starts without it, and the
    good lease is there for the next start."""
    first = make_rig(tmp_path)
    bind(first)
    path = first.state_dir / leasefile.FILENAME
    data = path.read_bytes()
    real_read = os.read

    def failing(fd: int, n: int) -> bytes:
        if n > leasefile.MAX_SIZE:  # the lease file's read, and no other
            raise OSError(errno.EIO, "Input/output error")
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", failing)
    again = make_rig(tmp_path, clock=Clock(first.clock.now + 60))
    monkeypatch.undo()
    assert again.sent().message_type is wire.MessageType.DISCOVER
    assert path.read_bytes() == data
    assert any("cannot read the lease file (cannot read: Input/output error)" in m.message
               for m in logs.at_least(WARNING, "leasebox.engine"))
    request = make_rig(tmp_path, clock=Clock(first.clock.now + 120)).sent()
    assert request.message_type is wire.MessageType.REQUEST  # INIT-REBOOT from the file


def test_a_fifo_in_place_of_the_lease_file_does_not_hang_the_start(
        tmp_path: Path, logs: Logs) -> None:
    (tmp_path / "state").mkdir()
    os.mkfifo(tmp_path / "state" / leasefile.FILENAME)
    r = make_rig(tmp_path)
    assert r.sent().message_type is wire.MessageType.DISCOVER
    assert any("discarding the lease file: not a regular file" in m.message
               for m in logs.at_least(WARNING, "leasebox.engine"))
    assert not (tmp_path / "state" / leasefile.FILENAME).exists()


def test_an_ack_a_jumbo_frame_carries_is_stored_and_read_back(tmp_path: Path) -> None:
    """io passes frames up to 9216 octets; the lease file held only 4096 of ACK, and a
    larger one was written, then refused and deleted at the next start."""
    r = make_rig(tmp_path)
    discover = r.sent()
    r.reply(offer(discover))
    request = r.sent()
    names = tuple(f"n{i:02d}." + "x" * 50 + ".example.com" for i in range(40))
    big = ack(request, unknown=tuple((200 + i, bytes(128)) for i in range(32)),
              domain_search=names)
    assert len(wire.encode(big)) > 4096
    r.reply(big)
    r.netconf_conn = applied_by_netconf(r)
    data = (r.state_dir / leasefile.FILENAME).read_bytes()
    assert len(data) > 4096 + leasefile.HEADER.size and parse(data) is not None


# ---- the lease file parser ---------------------------------------------------------------


def stored(tmp_path: Path) -> bytes:
    r = make_rig(tmp_path)
    bind(r)
    return (r.state_dir / leasefile.FILENAME).read_bytes()


def parse(data: bytes, now: float = 1060.0) -> object:
    return leasefile.parse(data, now_mono=now, now_wall=WALL0 + now, min_lease_time=60)


def test_lease_file_every_truncation_is_refused(tmp_path: Path) -> None:
    data = stored(tmp_path)
    assert parse(data) is not None
    for n in range(len(data)):
        with pytest.raises(leasefile.LeaseFileError):
            parse(data[:n])
    with pytest.raises(leasefile.LeaseFileError):
        parse(data + bytes(leasefile.MAX_SIZE))


def test_lease_file_expired_keeps_its_address_and_bad_header_refused(tmp_path: Path,
                                                                     logs: Logs) -> None:
    data = stored(tmp_path)
    expired = parse(data, now=1000.0 + 3600 + 1)  # not used, but its address is asked for
    assert isinstance(expired, leasefile.Expired) and expired.lease.address == ADDRESS
    # said (a board without a real-time clock: written before NTP set the clock, it looks
    # this old), not dropped without a word
    assert any("ran out" in r.message and str(ADDRESS) in r.message
               for r in logs.at_least(INFO, "leasebox.engine"))
    # version 1 (no length) is still read: a restart after an upgrade keeps its lease
    assert parse(data[:8] + b"\x01\x00\x00\x00" + data[12:]) is not None
    for bad in (b"XXXXXXXX" + data[8:], data[:8] + b"\x00" + data[9:]):
        with pytest.raises(leasefile.LeaseFileError, match="magic or version"):
            parse(bad)
    with pytest.raises(leasefile.NewerLeaseFile, match="version 9, from a later"):
        parse(data[:8] + b"\x09" + data[9:])
    # kept whatever its size: a later version may store more, or less, than this one
    for size in (leasefile.HEADER.size, leasefile.MAX_SIZE + 1):
        newer = (data[:8] + b"\x09" + data[9:] + bytes(leasefile.MAX_SIZE))[:size]
        with pytest.raises(leasefile.NewerLeaseFile):
            parse(newer)
    # a stored message that decodes but is not an ACK
    header, message = data[:leasefile.HEADER.size], wire.decode(data[leasefile.HEADER.size:])
    nak = wire.Message(op=wire.Op.BOOTREPLY, xid=message.xid, chaddr=message.chaddr,
                       message_type=wire.MessageType.NAK, server_id=SERVER)
    with pytest.raises(leasefile.LeaseFileError, match="not an ACK"):
        parse(header + wire.encode(nak))


LEASE_FILE = bytearray()


@settings(max_examples=examples(500), deadline=None)
@given(st.data())
def test_lease_file_mutations_give_a_lease_none_or_the_one_error(data: st.DataObject) -> None:
    if not LEASE_FILE:  # one real file, built once
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            LEASE_FILE.extend(stored(Path(tmp)))
    mutated = bytearray(LEASE_FILE)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    try:
        result = parse(bytes(mutated))
    except leasefile.LeaseFileError:
        return
    assert result is None or isinstance(result, leasefile.Expired) \
        or result.address is not None  # type: ignore[attr-defined]


# ---- the live state --------------------------------------------------------------------------


def test_live_state_round_trip_and_bounds() -> None:
    live = LiveState(None)
    assert live.read() == b""
    live.write(b'{"v": 1}')
    assert live.read() == b'{"v": 1}'
    live.write(b"x")  # a shorter snapshot leaves nothing of the longer one behind
    assert live.read() == b"x"
    with pytest.raises(ValueError, match="too large"):
        live.write(b"x" * 70000)
    live.clear()
    assert live.read() == b""
    again = LiveState(os.dup(live.fd))  # what a restarted engine gets from the FDSTORE
    live.write(b"kept")
    assert again.read() == b"kept" and again.inherited


def restarted(first: Rig, live: LiveState, after: float = 60.0, mac: bytes = MAC,
              report: bool = True, **settings: Any) -> Rig:
    """A new engine a minute (`after` seconds) after `first`, on its state directory, with
    `live` as the live state the FDSTORE kept, and `settings` changed; io reports the link
    up (with `mac`) unless not `report`."""
    clock = Clock(first.clock.now + after)
    settings_ = Settings("eth0", ClientConfig(), str(first.state_dir),
                         first.svc.settings.netconf_path, **settings)
    svc = EngineService(settings_, live, clock=clock, wall=lambda: WALL0 + clock.now)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.settimeout(5)
    svc.io = theirs
    if report:
        dispatch.engine_dispatch_io(svc, ipc.LinkState(2, mac, 1500, True))
    return Rig(svc, ours, first.netconf, clock, first.state_dir)


def test_a_late_answer_to_the_engine_before_a_restart_is_ours(tmp_path: Path,
                                                              logs: Logs) -> None:
    """An engine restarted between its REQUEST and the ACK starts the exchange again with
    a new xid (an exchange in flight is not kept): the old REQUEST's ACK, coming late, is no
    other client's. A RENEWING resumed keeps its xid, and its answer is ours too."""
    def said() -> list[object]:
        return [r for r in logs.at_least(WARNING, "leasebox.engine")
                if r.fields.get("MESSAGE_ID") == events.OTHER_CLIENT_ID]

    first = make_rig(tmp_path)
    first.reply(offer(first.sent()))
    request = first.sent()
    rig = restarted(first, first.svc.live, after=0.5)
    discover = rig.sent()
    assert discover.message_type is wire.MessageType.DISCOVER and discover.xid != request.xid
    rig.reply(ack(request))  # the old engine's answer, 0.5 s late
    assert said() == []
    rig.clock.now += service.RESTART_XID_GRACE
    rig.reply(ack(request, xid=0x5EED0004))  # after the grace: another client's
    assert len(said()) == 1

    # a restart of the target: the leave emptied the live state the FDSTORE hands over
    (tmp_path / "target").mkdir()
    before = make_rig(tmp_path / "target")
    discover = before.sent()
    emptied = LiveState(os.memfd_create("emptied"))
    assert emptied.read() == b""
    after = restarted(before, emptied, after=0.8)
    after.reply(offer(discover))  # a ping-checking server's late OFFER to the old DISCOVER
    assert len(said()) == 1

    (tmp_path / "renewing").mkdir()
    renewing = make_rig(tmp_path / "renewing")
    bind(renewing)
    renew = renewing.sent()  # at T1
    again = restarted(renewing, renewing.svc.live, after=0.5)
    assert again.svc.state is State.RENEWING and again.svc.client is not None
    again.clock.now += service.RESTART_XID_GRACE
    assert again.svc.client.awaited_xid == renew.xid
    again.reply(ack(renew))
    assert len(said()) == 1


def test_an_emptied_live_state_is_started_from_without_a_word(tmp_path: Path,
                                                               logs: Logs) -> None:
    """A restart of the target hands over the live state its leave emptied: that is no
    damage to warn of ("discarding the kept live state: size out of range" was)."""
    first = make_rig(tmp_path)
    bind(first)
    after = restarted(first, LiveState(os.memfd_create("emptied")))
    assert after.sent().message_type is wire.MessageType.REQUEST  # INIT-REBOOT, from the file
    assert not logs.at_least(WARNING, "leasebox.engine")


def test_a_damaged_live_state_falls_back_to_the_lease_file(tmp_path: Path) -> None:
    first = make_rig(tmp_path)
    bind(first)
    snapshot = first.svc.live.read()
    assert json.loads(snapshot)  # the machine's own strict JSON
    damaged = LiveState(None)
    damaged.write(snapshot[: len(snapshot) // 2])
    rig = restarted(first, damaged)
    request = rig.sent()
    assert request.message_type is wire.MessageType.REQUEST  # INIT-REBOOT from the file
    assert request.requested_ip == ADDRESS
    assert struct.calcsize("!8sB3xQ") == leasefile.HEADER.size  # the same size as version 1
    assert IPv4Address(0) == wire.ZERO


def test_a_live_state_from_a_later_time_falls_back_to_the_lease_file(tmp_path: Path) -> None:
    """A snapshot whose time is ahead of the clock (damaged) would make the client refuse
    its first event, and the engine crash at every start: it is discarded instead."""
    first = make_rig(tmp_path)
    bind(first)
    doc = json.loads(first.svc.live.read())
    doc["now"] += 10**6
    later = LiveState(None)
    later.write(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    rig = restarted(first, later)
    assert rig.sent().message_type is wire.MessageType.REQUEST  # INIT-REBOOT from the file


def test_after_a_restart_another_address_is_changed_for_the_hooks(tmp_path: Path) -> None:
    """The engine restarted (an upgrade, a crash; no live state kept): the lease file's
    address was bound before, so a new lease for another one is "changed", with the old
    address, for hooks that set things up for it; not "bound" as if it were the first."""
    first = make_rig(tmp_path)
    bind(first)
    rig = restarted(first, LiveState(None))
    request = rig.sent()
    assert request.requested_ip == ADDRESS  # INIT-REBOOT from the lease file
    rig.reply(nak(request))
    removed_by_netconf(rig)  # what the first engine applied of it
    discover = rig.sent()
    rig.reply(offer(discover, yiaddr=OTHER_ADDRESS))
    rig.reply(ack(rig.sent(), yiaddr=OTHER_ADDRESS))
    conn = rig.netconf_conn
    assert conn is not None
    apply = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(apply, ipc.Apply) and apply.address == OTHER_ADDRESS
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(apply.request_id,
                                                         ipc.ResultStatus.OK, ""))
    docs = [json.loads(p.read_text()) for p in sorted((rig.state_dir / "events").iterdir())]
    # (no "lost": the remembered lease was not in use)
    assert [(d["event"], d.get("old_address")) for d in docs] == [
        ("bound", None), ("changed", str(ADDRESS))]
    assert environment(docs[-1], "eth0")["LEASEBOX_OLD_ADDRESS"] == str(ADDRESS)
    assert environment(docs[0], "eth0")["LEASEBOX_OLD_ADDRESS"] == ""
    # the lease's start on the wall clock: when its REQUEST went (the fake clock's WALL0 +
    # now), its end that plus the lease time
    start = int(WALL0 + rig.svc.client.lease.acquired_at)  # type: ignore[union-attr]
    assert (docs[-1]["acquired"], docs[-1]["expires"]) == (start, start + 3600)
    conn.close()


def test_a_remembered_lease_dropped_unapplied_takes_a_predecessors_with_it(
        tmp_path: Path) -> None:
    """The engine started again without its live state, from the lease file, while netconf
    still holds the lease the first one applied, and the server NAKs it: the address,
    routes and DNS servers netconf holds go too, not only the lease file, though this
    engine never applied them; once. A server that does not answer the INIT-REBOOT takes
    nothing away (reboot.py): the lease file stays, and so does what netconf holds."""
    (tmp_path / "nak").mkdir()
    first = make_rig(tmp_path / "nak")
    bind(first)
    rig = restarted(first, LiveState(None))
    assert rig.svc.netconf_unsure
    request = rig.sent()
    assert request.requested_ip == ADDRESS
    rig.reply(nak(request))
    removed_by_netconf(rig)
    assert not rig.svc.netconf_unsure and rig.svc.state in (State.INIT, State.SELECTING)
    assert rig.sent().message_type is wire.MessageType.DISCOVER
    assert rig.netconf_conn is not None and _netconf_gets(rig.netconf_conn) == []

    (tmp_path / "silent").mkdir()
    first = make_rig(tmp_path / "silent")
    bind(first)
    rig = restarted(first, LiveState(None))
    while (sent := rig.sent()).message_type is wire.MessageType.REQUEST:
        pass
    assert sent.message_type is wire.MessageType.DISCOVER and rig.svc.netconf_unsure
    assert rig.svc.netconf is None and not rig.svc.ledger.pending
    assert (rig.state_dir / leasefile.FILENAME).exists()


def test_a_lease_file_that_cannot_go_keeps_no_predecessors_address(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: Logs) -> None:
    """/var remounted read-only (ext4's errors=remount-ro) while the engine restarted from
    its lease file: the NAK's removal of what the predecessor applied does not wait on the
    file, and the journal says what failed."""
    rig = _cold_restart(tmp_path)

    def read_only(directory: str) -> None:
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(leasefile, "forget", read_only)
    rig.reply(nak(rig.sent()))
    removed_by_netconf(rig)
    assert not rig.svc.netconf_unsure
    assert "cannot remove the lease file: [Errno 30] Read-only file system" in logs.text


def _cold_restart(tmp_path: Path) -> Rig:
    """An engine that bound, then started again without its live state (from the lease
    file), while netconf still holds the lease it applied."""
    first = make_rig(tmp_path)
    bind(first)
    return restarted(first, LiveState(None))


def _netconf_gets(conn: socket.socket) -> list[ipc.Message]:
    got = []
    while select.select([conn], [], [], 0.2)[0]:
        msg = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
        assert msg is not None
        got.append(msg)
    return got


def test_netconf_gets_a_held_remove_before_the_apply_after_it(rig: Rig) -> None:
    """A renewal's REQUEST not yet confirmed by io (TxDone) when the server's ACK moves
    the client to another address: the Remove of the old one waits for io, and the Apply
    of the new one went before it; netconf then removed the new address."""
    bind(rig)
    assert rig.control(control.Command.RENEW)["ok"] is True
    rig.sent(confirm=True)
    rig.clock.now = rig.svc.timer() or rig.clock.now
    rig.svc.on_timer(rig.clock.now)
    request = rig.sent(confirm=False)  # a retransmission, io's TxDone to come
    other = IPv4Address("192.0.2.51")
    rig.reply(ack(request, yiaddr=other))
    assert rig.netconf_conn is not None
    assert _netconf_gets(rig.netconf_conn) == []  # both wait for io
    dispatch.engine_dispatch_io(rig.svc, ipc.TxDone(True))
    remove, apply = _netconf_gets(rig.netconf_conn)
    assert isinstance(remove, ipc.Remove) and isinstance(apply, ipc.Apply)
    assert remove.request_id < apply.request_id and apply.address == other


@pytest.mark.parametrize("netconf", ["exited idle", "gone unnoticed"])
def test_messages_released_together_reach_netconf_once_each(rig: Rig, netconf: str) -> None:
    """Held messages released together while netconf is not connected (it exited idle),
    or is gone and the first send fails: the connection made for them carries them all,
    and each was sent again after it; netconf's second answer to one is a peer
    violation, which ends the engine."""
    bind(rig)
    assert rig.netconf_conn is not None
    assert rig.control(control.Command.RENEW)["ok"] is True
    rig.sent(confirm=True)
    rig.clock.now = rig.svc.timer() or rig.clock.now
    rig.svc.on_timer(rig.clock.now)
    request = rig.sent(confirm=False)
    rig.reply(ack(request, yiaddr=IPv4Address("192.0.2.51")))  # a Remove and an Apply, held
    if netconf == "exited idle":
        rig.svc.drop_netconf()
    rig.netconf_conn.close()  # (gone unnoticed: the engine's end still thinks it is there)
    dispatch.engine_dispatch_io(rig.svc, ipc.TxDone(True))
    conn, _ = rig.netconf.accept()
    conn.settimeout(5)
    ids = [m.request_id for m in _netconf_gets(conn)
           if isinstance(m, ipc.Apply | ipc.Remove)]
    assert len(ids) == 2 and len(set(ids)) == 2, ids
    conn.close()


def test_a_mac_change_with_nothing_held_is_no_warning(tmp_path: Path, logs: Logs) -> None:
    """A bridge or bond takes its MAC from its first port at boot, its carrier still down:
    the engine, holding nothing and asking nothing, said so as a warning. Info; a change
    that ends an exchange or a lease stays a warning."""
    r = make_rig(tmp_path, carrier=False)
    dispatch.engine_dispatch_io(r.svc, ipc.LinkState(2, OTHER_MAC, 1500, False))
    assert not logs.at_least(WARNING, "leasebox.engine")
    assert any("MAC address changed" in rec.message for rec in logs.records)
    dispatch.engine_dispatch_io(r.svc, ipc.LinkState(2, OTHER_MAC, 1500, True))
    r.sent()  # a DISCOVER: an exchange under way
    dispatch.engine_dispatch_io(r.svc, ipc.LinkState(2, MAC, 1500, True))
    [warned] = [rec.message for rec in logs.at_least(WARNING, "leasebox.engine")]
    assert warned.startswith("MAC address changed to ")


def test_netconf_answering_a_replaced_clients_apply_is_not_the_new_ones(
        tmp_path: Path) -> None:
    """A MAC change while netconf (slow at boot) has not answered the old client's Apply:
    its OK was taken for the new client's, which went BOUND (lease file, "bound" hook)
    before its own lease was applied, and then took netconf's refusal of it as stale."""
    r = make_rig(tmp_path)
    r.reply(offer(r.sent()))
    r.reply(ack(r.sent()))  # Apply 1, unanswered
    dispatch.engine_dispatch_io(r.svc, ipc.LinkState(2, OTHER_MAC, 1500, True))
    r.reply(offer(r.sent()))
    r.reply(ack(r.sent()))
    conn, _ = r.netconf.accept()
    conn.settimeout(5)
    first, *middle, last = _netconf_gets(conn)
    assert isinstance(first, ipc.Apply) and isinstance(last, ipc.Apply)
    dispatch.engine_dispatch_netconf(r.svc, ipc.Result(first.request_id, ipc.ResultStatus.OK,
                                                       ""))
    assert r.svc.state is not State.BOUND
    for msg in middle:
        assert isinstance(msg, ipc.Remove)
        dispatch.engine_dispatch_netconf(r.svc, ipc.Result(msg.request_id,
                                                           ipc.ResultStatus.OK, ""))
    dispatch.engine_dispatch_netconf(r.svc, ipc.Result(last.request_id,
                                                       ipc.ResultStatus.FAILED, "EEXIST"))
    assert r.svc.state is not State.BOUND and "EEXIST" in r.svc.last_error
    conn.close()
    r.io.close()
    r.netconf.close()


def test_a_release_after_a_leave_keeps_the_engine_idle_across_a_restart(
        tmp_path: Path) -> None:
    """SendRelease=no and KeepConfiguration=yes: `leaseboxctl leave`, then `release`. The
    leave retired the live state and the release did not take it back: an engine
    restarted (a crash, an upgrade) found no STOPPED snapshot and the lease file gone,
    and took a new lease at once, against leaseboxctl(8)'s "stays idle ... until renew"."""
    r = make_rig(tmp_path, config=ClientConfig(send_release=False))
    r.svc.settings = replace(r.svc.settings, keep_configuration=True)
    bind(r)
    assert r.control(control.Command.LEAVE)["ok"] is True
    r.clock.now += 5
    assert r.control(control.Command.RELEASE)["ok"] is True
    after = restarted(r, r.svc.live, after=1)
    assert after.svc.state is State.STOPPED and after.svc.timer() is None


def test_a_leave_before_io_reported_the_link_takes_a_predecessors_address_off(
        tmp_path: Path) -> None:
    """An engine started without its live state (from the lease file), io not reporting
    yet (restarting): a leave has no client to stop, but netconf may hold the lease its
    predecessor applied. Once io reports the link, the idle client asks netconf to remove
    whatever it holds, as the leave would have."""
    first = make_rig(tmp_path)
    bind(first)
    rig = restarted(first, LiveState(None), report=False)
    assert rig.control(control.Command.LEAVE)["ok"] is True
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, True))
    assert rig.svc.state is State.STOPPED
    conn, remove = _netconf_connects(rig)
    assert isinstance(remove, ipc.Remove)
    conn.close()


def _netconf_connects(r: Rig) -> tuple[socket.socket, ipc.Message | None]:
    """netconf takes the engine's next connection: it, and the first message on it."""
    conn, _ = r.netconf.accept()
    conn.settimeout(5)
    return conn, channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)


@pytest.mark.parametrize("command", [control.Command.LEAVE, control.Command.RELEASE])
def test_an_engine_started_without_its_live_state_still_takes_the_address_off(
        tmp_path: Path, command: control.Command) -> None:
    """`systemctl stop leasebox-engine@IFACE` alone empties the FDSTORE, and io's next
    connection starts the engine again from the lease file, not knowing that netconf
    holds that lease's address: a leave (the target's stop) or a release before the lease
    was verified again left the address, routes and DNS on the link."""
    rig = _cold_restart(tmp_path)
    assert rig.sent().requested_ip == ADDRESS  # INIT-REBOOT, unanswered (a server away)
    assert rig.control(command)["ok"] is True
    rig.svc.on_timer(rig.clock.now + 2)  # (a RELEASE's removal waits for io's TxDone)
    conn, remove = _netconf_connects(rig)
    assert isinstance(remove, ipc.Remove)
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(remove.request_id,
                                                         ipc.ResultStatus.OK, ""))
    # known from now on: a second leave asks nothing more
    assert rig.control(control.Command.LEAVE)["ok"] is True
    conn.settimeout(0.2)
    with pytest.raises(TimeoutError):
        channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    conn.close()


def test_a_refused_apply_leaves_netconf_holding_what_it_held(tmp_path: Path) -> None:
    """netconf refused the restarted engine's apply and kept the predecessor's address:
    that answer must not count as knowing what netconf holds."""
    rig = _cold_restart(tmp_path)
    rig.reply(ack(rig.sent()))  # INIT-REBOOT answered
    conn, apply = _netconf_connects(rig)
    assert isinstance(apply, ipc.Apply)
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(apply.request_id,
                                                         ipc.ResultStatus.REFUSED, "policy"))
    assert rig.control(control.Command.LEAVE)["ok"] is True
    assert isinstance(channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF), ipc.Remove)
    conn.close()


def test_a_leave_of_an_engine_that_never_had_a_lease_asks_netconf_nothing(rig: Rig) -> None:
    """No lease file, so no predecessor's lease to remove: netconf is not started (nor
    waited for) to answer "nothing was applied"."""
    assert rig.sent().message_type is wire.MessageType.DISCOVER
    assert rig.control(control.Command.LEAVE)["ok"] is True
    assert rig.svc.ledger.pending_removals() == frozenset()
    rig.netconf.settimeout(0.2)
    with pytest.raises(TimeoutError):
        rig.netconf.accept()


def test_os_random_draws_in_range() -> None:
    from leasebox.engine.service import OsRandom

    rng = OsRandom()
    floats = [rng.random() for _ in range(2000)]
    assert all(0.0 <= f < 1.0 for f in floats) and len(set(floats)) > 1990
    for k in (0, 1, 7, 8, 9, 32, 33):
        values = {rng.getrandbits(k) for _ in range(300)}
        assert all(0 <= v < (1 << k) for v in values)
        assert len(values) == min(1 << k, len(values)) and (k == 0 or len(values) > 1)
    assert max(rng.getrandbits(32) for _ in range(300)) >= 1 << 31  # the top bit is drawn
    with pytest.raises(ValueError):
        rng.getrandbits(-1)


def test_a_new_mac_ends_the_guard_of_the_old_one(tmp_path: Path) -> None:
    # The link's MAC changed while an address was guarded: the engine starts over with a
    # new client, and io must stop announcing and defending the old client's address.
    r = make_rig(tmp_path, config=ClientConfig(arp_probe=True))
    conn = bind_guarded(r)
    dispatch.engine_dispatch_io(r.svc, ipc.LinkState(2, OTHER_MAC, 1500, True))
    assert r.from_engine() == ipc.Guard(None)
    assert r.svc.guarded is None
    discover = r.sent()  # the new client starts over, with its own MAC
    assert discover.message_type is wire.MessageType.DISCOVER
    assert discover.chaddr[:6] == OTHER_MAC
    conn.close()
    r.io.close()
    r.netconf.close()


def test_a_new_mac_takes_the_old_ones_configuration_off(tmp_path: Path, logs: Logs) -> None:
    """The link's MAC changed (a randomised MAC on another network): the new client starts
    from nothing, so what the old one applied is removed now, or nothing ever would."""
    r = make_rig(tmp_path)
    bind(r)
    dispatch.engine_dispatch_io(r.svc, ipc.LinkState(2, OTHER_MAC, 1500, True))
    assert r.netconf_conn is not None
    assert isinstance(channel.recv(r.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF),
                      ipc.Remove)
    assert any(rec.fields.get("LEASE_EVENT") == "left" for rec in logs.at_least(INFO,
                                                                               "leasebox.engine"))
    discover = r.sent()  # no RELEASE for the old MAC: io would not send it
    assert discover.message_type is wire.MessageType.DISCOVER
    assert discover.chaddr[:6] == OTHER_MAC


def test_a_new_mac_before_any_carrier_still_starts_a_client(tmp_path: Path) -> None:
    """Started with no carrier (the first client never saw a LinkUp), then the MAC changed
    as the link came up (a bond taking its first port's MAC): the new client asks for a
    lease, and does not resume the old one's stop."""
    r = make_rig(tmp_path, carrier=False)
    dispatch.engine_dispatch_io(r.svc, ipc.LinkState(2, OTHER_MAC, 1500, True))
    assert r.svc.state is State.INIT  # not STOPPED: a DISCOVER is due now
    r.svc.on_timer(r.clock.now)
    assert r.svc.state is State.SELECTING
    msg = channel.recv(r.io, ipc.Peer.ENGINE, ipc.Peer.IO)
    assert isinstance(msg, ipc.SendBroadcast)
    r.io.close()
    r.netconf.close()


def _quiet_io(r: Rig) -> None:
    """Read what the engine sent io until it sends nothing more (a RELEASE, a guard)."""
    r.io.settimeout(0.2)
    try:
        while channel.recv(r.io, ipc.Peer.ENGINE, ipc.Peer.IO) is not None:
            pass
    except TimeoutError:
        pass
    finally:
        r.io.settimeout(5)


@pytest.mark.parametrize("command", [control.Command.RELEASE, control.Command.LEAVE])
def test_a_new_mac_after_a_release_or_leave_stays_idle(tmp_path: Path,
                                                       command: control.Command) -> None:
    """After `leaseboxctl release` (or leave) the engine stays idle "also across link
    changes", until renew: a new MAC made a new client, which took a new lease at once."""
    r = make_rig(tmp_path)
    bind(r)
    assert r.control(command)["ok"] is True
    _quiet_io(r)
    dispatch.engine_dispatch_io(r.svc, ipc.LinkState(2, OTHER_MAC, 1500, True))
    r.clock.now += 60
    r.svc.on_timer(r.clock.now)
    assert r.svc.state is State.STOPPED and r.svc.timer() is None
    r.io.settimeout(0.2)
    with pytest.raises(TimeoutError):
        channel.recv(r.io, ipc.Peer.ENGINE, ipc.Peer.IO)
    r.io.settimeout(5)
    assert r.control(control.Command.RENEW)["ok"] is True
    discover = r.sent()
    assert discover.message_type is wire.MessageType.DISCOVER
    assert discover.chaddr[:6] == OTHER_MAC


def test_an_engine_restarted_after_a_release_on_a_new_mac_stays_idle(tmp_path: Path) -> None:
    """A release, then the MAC changed while the engine was away (an upgrade's restart):
    the kept live state, another MAC's, was dropped, and the new client took a lease."""
    first = make_rig(tmp_path)
    bind(first)
    assert first.control(control.Command.RELEASE)["ok"] is True
    _quiet_io(first)
    again = restarted(first, first.svc.live, mac=OTHER_MAC)
    again.svc.on_timer(again.clock.now + 60)
    assert again.svc.state is State.STOPPED and again.svc.timer() is None
    assert again.control(control.Command.RENEW)["ok"] is True
    discover = again.sent()
    assert discover.message_type is wire.MessageType.DISCOVER
    assert discover.chaddr[:6] == OTHER_MAC


@pytest.mark.parametrize("carrier", [True, False])
def test_a_restart_that_finds_a_new_mac_removes_what_the_old_one_applied(
        tmp_path: Path, carrier: bool) -> None:
    """The MAC changed while the engine was away (an upgrade's restart; many drivers take
    a new MAC only while the link is down): the kept live state, another MAC's, was
    dropped, and the address, routes and DNS its lease had applied stayed on the link
    until their lifetime ran out, where a MAC change while the engine runs removes them,
    and tells the hooks ("left", then "changed" for the next lease)."""
    first = make_rig(tmp_path)
    bind(first)
    if not carrier:  # `ip link set eth0 down`, heard; the restart; the new MAC; up
        dispatch.engine_dispatch_io(first.svc, ipc.LinkState(2, MAC, 1500, False))
    _quiet_io(first)
    again = restarted(first, first.svc.live, mac=OTHER_MAC)
    conn, _ = again.netconf.accept()  # the new engine's connection to netconf
    conn.settimeout(5)
    remove = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(remove, ipc.Remove)
    dispatch.engine_dispatch_netconf(again.svc, ipc.Result(remove.request_id,
                                                           ipc.ResultStatus.OK, ""))
    assert _netconf_gets(conn) == []  # once
    again.netconf_conn = conn
    discover = again.sent()  # and the new MAC's client starts from nothing
    assert discover.message_type is wire.MessageType.DISCOVER
    assert discover.chaddr[:6] == OTHER_MAC and discover.requested_ip is None
    other = IPv4Address("192.0.2.77")  # (a MAC-based reservation, say)
    again.reply(offer(discover, yiaddr=other))
    again.reply(ack(again.sent(), yiaddr=other))
    again.applies()
    queued = [json.loads(p.read_text()) for p in sorted((again.state_dir / "events").iterdir())]
    assert [e["event"] for e in queued] == ["bound", "left", "changed"]
    assert queued[2]["old_address"] == str(ADDRESS)


def test_a_release_whose_removal_was_held_is_removed_after_a_crash(tmp_path: Path) -> None:
    """A release holds its removal until io confirms the RELEASE went (up to a second):
    an engine that died in between left the address on the link, and the new one, idle
    after the operator's release, never removed it."""
    first = make_rig(tmp_path)
    bind(first)
    assert first.control(control.Command.RELEASE)["ok"] is True
    assert first.sent(confirm=False).message_type is wire.MessageType.RELEASE
    assert first.svc.ledger.held  # the removal waits for io's TxDone: then the crash
    again = restarted(first, first.svc.live)
    assert again.svc.state is State.STOPPED
    conn, _ = again.netconf.accept()
    with conn:
        got = _netconf_gets(conn)
    assert [type(m) for m in got] == [ipc.Remove], got


def test_a_renew_after_a_leave_keeps_the_live_state_again(rig: Rig) -> None:
    """`leaseboxctl leave`, then `renew`: the engine is back on the link, and a restart
    after that (a crash, an upgrade) resumes from the live state, not from nothing."""
    bind(rig)
    assert rig.control(control.Command.LEAVE)["ok"] is True
    assert rig.svc.live.read() == b""
    assert rig.control(control.Command.RENEW)["ok"] is True
    assert rig.svc.live.read() != b""


def test_renew_after_release_starts_again(rig: Rig) -> None:
    # `leaseboxctl release` leaves the interface STOPPED (a link flap takes no new lease
    # behind the operator's back); `leaseboxctl renew` is the way back.
    bind(rig)
    assert rig.control(control.Command.RELEASE)["ok"] is True
    assert rig.sent().message_type is wire.MessageType.RELEASE
    assert rig.svc.state is State.STOPPED
    assert rig.netconf_conn is not None
    assert isinstance(channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF),
                      ipc.Remove)
    reply = rig.control(control.Command.RENEW)
    assert reply["ok"] is True, reply
    discover = rig.sent()
    assert discover.message_type is wire.MessageType.DISCOVER  # the lease was forgotten
    assert rig.svc.state is State.SELECTING
    # unanswered so far: a renew sends the next DISCOVER now (a server back after an
    # outage), not at the next retransmission
    assert rig.control(control.Command.RENEW)["ok"] is True
    again = rig.sent()
    assert again.message_type is wire.MessageType.DISCOVER
    # once an offer is taken, that exchange is under way: nothing to renew
    rig.reply(offer(again))
    assert rig.sent().message_type is wire.MessageType.REQUEST
    reply = rig.control(control.Command.RENEW)
    assert reply["ok"] is False and "exchange is in progress" in str(reply["error"])


def test_a_renew_with_an_offer_in_hand_is_refused(tmp_path: Path) -> None:
    """In SELECTING with the offer window open, the REQUEST follows anyway: a renew is
    refused as for any exchange under way, not answered ok and dropped."""
    rig = make_rig(tmp_path, config=ClientConfig(offer_window=5.0))
    rig.reply(offer(rig.sent()))
    assert rig.svc.state is State.SELECTING
    reply = rig.control(control.Command.RENEW)
    assert reply["ok"] is False and "exchange is in progress" in str(reply["error"])


def test_io_gone_with_a_message_unread_is_a_disconnection(rig: Rig) -> None:
    """io exits (its NIC unplugged, a restart) with what the engine sent it unread: the
    engine's next read gets ECONNRESET, not EOF. That is io gone, as an EOF is, not a
    crash of the engine (and the exchange in flight with it)."""
    for _ in range(10):  # the first DISCOVER goes to io ...
        if select.select([rig.io], [], [], 0)[0]:
            break
        deadline = rig.svc.timer()
        assert deadline is not None
        rig.clock.now = max(rig.clock.now, deadline)
        rig.svc.on_timer(rig.clock.now)
    rig.io.close()  # ... and io goes without reading it
    listener, other = socket.socketpair()
    loop = Loop(rig.svc, listener, None)
    try:
        loop._recv_io()
        assert rig.svc.io is None
    finally:
        for sock in (listener, other, loop.wake_r, loop.wake_w):
            sock.close()
        loop.alarm.close()


def test_a_netconf_event_whose_connection_went_in_the_same_wake_up(rig: Rig) -> None:
    """select() said netconf's socket was readable, but an earlier handler of the same
    batch dropped that connection (a failed send), then maybe made a new one."""
    bind(rig)
    listener, other = socket.socketpair()
    loop = Loop(rig.svc, listener, None)
    try:
        rig.svc.drop_netconf()
        loop._recv_netconf()  # no connection: nothing to read, no crash
        rig.svc.connect_netconf()
        assert rig.svc.netconf is not None
        started = time.monotonic()
        loop._recv_netconf()  # a new connection, nothing on it yet: no wait
        assert time.monotonic() - started < 1 and rig.svc.netconf is not None
    finally:
        for sock in (listener, other, loop.wake_r, loop.wake_w):
            sock.close()
        loop.alarm.close()


def _restarted(first: Rig) -> Rig:
    """The engine started again with the live state systemd kept in its FDSTORE."""
    return restarted(first, LiveState(os.dup(first.svc.live.fd)), after=5)


def test_a_release_holds_across_a_restart_of_the_engine(rig: Rig) -> None:
    """After `leaseboxctl release` the link stays idle until `leaseboxctl renew`: a
    crash, the watchdog or an upgrade's restart of the engine does not take a new lease
    behind the operator's back."""
    bind(rig)
    assert rig.control(control.Command.RELEASE)["ok"] is True
    assert rig.sent().message_type is wire.MessageType.RELEASE
    again = _restarted(rig)
    assert again.svc.state is State.STOPPED
    assert again.svc.timer() is None and not select.select([again.io], [], [], 0.2)[0]
    assert again.control(control.Command.RENEW)["ok"] is True
    assert again.sent().message_type is wire.MessageType.DISCOVER
    again.io.close()


def test_a_restarted_engine_sends_its_lease_to_netconf_again(rig: Rig) -> None:
    """`systemctl restart leasebox-engine@IFACE` after a change of leasebox.conf: netconf
    serves the new engine by the files as they are now, so the resumed lease goes to it at
    once (RouteMetric=, UseDNS=... take effect), without an exchange with the server."""
    first = bind(rig)
    again = _restarted(rig)
    assert again.svc.state is State.BOUND
    conn, _ = again.netconf.accept()
    conn.settimeout(5)
    apply = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(apply, ipc.Apply)
    assert (apply.address, apply.prefixlen, apply.routers) == (
        first.address, first.prefixlen, first.routers)
    assert apply.lifetime < first.lifetime
    dispatch.engine_dispatch_netconf(again.svc, ipc.Result(apply.request_id,
                                                           ipc.ResultStatus.OK, ""))
    assert again.svc.state is State.BOUND and not again.svc.ledger.pending
    assert not select.select([again.io], [], [], 0.2)[0]  # nothing for the server
    conn.close()
    again.io.close()


def test_a_restarted_engines_lease_refused_by_a_new_policy_goes(rig: Rig) -> None:
    """AllowedAddresses= edited to leave the address in use out, then the engine restarted:
    netconf refuses the lease sent to it again, and the lease goes now (a Remove, and a
    DISCOVER), not at the server's next ACK hours later."""
    bind(rig)
    again = _restarted(rig)
    conn, _ = again.netconf.accept()
    conn.settimeout(5)
    apply = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(apply, ipc.Apply)
    dispatch.engine_dispatch_netconf(again.svc, ipc.Result(
        apply.request_id, ipc.ResultStatus.REFUSED, "address outside AllowedAddresses="))
    assert again.svc.state is not State.BOUND and again.svc.client is not None
    assert again.svc.client.lease is None
    assert [type(m) for m in _netconf_gets(conn)] == [ipc.Remove]
    assert again.sent().message_type is wire.MessageType.DISCOVER
    conn.close()
    again.io.close()


@pytest.mark.parametrize("policy", [
    {"deny_servers": (SERVER,)},
    {"allow_servers": (IPv4Address("192.0.2.254"),)},
])
def test_a_restarted_engines_lease_from_a_server_now_refused_goes(
        rig: Rig, policy: dict[str, Any]) -> None:
    """DenyServers= (or AllowServers=) edited to refuse the server of the lease in use (a
    rogue one the journal named), then the engine restarted to apply it: the lease goes
    now, with its routes and DNS (a Remove, and a DISCOVER), as a lease netconf's changed
    policy refuses; it stayed in use, its renewals' ACKs dropped, until it ran out."""
    bind(rig)
    again = restarted(rig, LiveState(os.dup(rig.svc.live.fd)), after=5, **policy)
    assert again.svc.client is not None and again.svc.client.lease is None
    assert again.svc.state is not State.BOUND
    conn, _ = again.netconf.accept()
    conn.settimeout(5)
    assert [type(m) for m in _netconf_gets(conn)] == [ipc.Remove]  # nothing re-applied
    assert again.sent().message_type is wire.MessageType.DISCOVER
    conn.close()
    again.io.close()


def test_a_lease_being_verified_from_a_server_now_denied_goes_at_a_restart(
        rig: Rig) -> None:
    """An engine restarted in the middle of an exchange (here an INIT-REBOOT after a
    carrier flap) resumes in INIT-REBOOT with its lease applied: it too goes when its
    server is denied now, not after no server answered for its verification."""
    bind(rig)
    _quiet_io(rig)
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))
    rig.clock.now += 1
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, True))
    assert rig.svc.state is State.REBOOTING and rig.svc.client is not None
    assert rig.svc.client.applied
    again = restarted(rig, LiveState(os.dup(rig.svc.live.fd)), after=5,
                      deny_servers=(SERVER,))
    assert again.svc.client is not None and not again.svc.client.applied
    assert again.svc.client.lease is None
    conn, _ = again.netconf.accept()
    conn.settimeout(5)
    assert [type(m) for m in _netconf_gets(conn)] == [ipc.Remove]
    assert again.sent().message_type is wire.MessageType.DISCOVER
    conn.close()
    again.io.close()


def test_a_restarted_engines_lease_is_kept_when_allowservers_may_name_its_mac(
        rig: Rig) -> None:
    """AllowServers= by MAC address: the lease in use keeps no MAC of its server, so the
    restart does not give it up; the server's next reply decides, as before."""
    bind(rig)
    again = restarted(rig, LiveState(os.dup(rig.svc.live.fd)), after=5,
                      allow_servers=(IPv4Address("192.0.2.254"), b"\x02\x00\x00\x00\x00\x99"))
    assert again.svc.state is State.BOUND
    conn, _ = again.netconf.accept()
    conn.settimeout(5)
    assert [type(m) for m in _netconf_gets(conn)] == [ipc.Apply]
    conn.close()
    again.io.close()


def test_a_restarted_engine_does_not_send_a_lease_that_ran_out(rig: Rig) -> None:
    """The engine restarted after its lease's end, before it had handled it: netconf gets
    the lease's removal, not the lease again (with its DNS servers) for one second."""
    first = bind(rig)
    again = restarted(rig, LiveState(os.dup(rig.svc.live.fd)), after=first.lifetime + 100)
    again.svc.on_timer(again.clock.now)
    conn, _ = again.netconf.accept()
    got = _netconf_gets(conn)
    assert got and all(isinstance(msg, ipc.Remove) for msg in got)
    conn.close()
    again.io.close()


def test_a_lease_kept_on_the_link_at_a_leave_is_not_sent_to_netconf_again(
        tmp_path: Path) -> None:
    """KeepConfiguration=yes, SendRelease=no and `leaseboxctl leave`: what stays on the link
    is not the engine's any more. The NIC replugged days later (a new ifindex, and a new
    netconf) gets nothing of that lease, long run out, and its DNS servers."""
    rig = make_rig(tmp_path, config=ClientConfig(send_release=False))
    rig.svc.settings = replace(rig.svc.settings, keep_configuration=True)
    bind(rig)
    assert rig.control(control.Command.LEAVE)["ok"] is True
    assert rig.netconf_conn is not None
    assert _netconf_gets(rig.netconf_conn) == []  # kept: no Remove
    rig.netconf_conn.close()
    rig.svc.drop_netconf()  # netconf exits idle
    rig.clock.now += 10 * 86400
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(7, MAC, 1500, True))
    assert rig.svc.state is State.STOPPED
    conn, _ = rig.netconf.accept()
    assert _netconf_gets(conn) == []
    conn.close()


def test_after_a_leave_the_next_start_takes_a_lease(rig: Rig) -> None:
    """Leaving (the target stops) retires the live state: the next start, a restart of
    the target whose stop kept the FDSTORE included, begins anew."""
    bind(rig)
    assert rig.control(control.Command.LEAVE)["ok"] is True
    assert rig.sent().message_type is wire.MessageType.RELEASE
    assert rig.netconf_conn is not None  # netconf's answer comes after the leave
    remove = channel.recv(rig.netconf_conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
    assert isinstance(remove, ipc.Remove)
    dispatch.engine_dispatch_netconf(rig.svc, ipc.Result(remove.request_id,
                                                         ipc.ResultStatus.OK, ""))
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))  # io stops
    assert rig.svc.state is State.STOPPED and rig.svc.live.read() == b""
    again = _restarted(rig)
    assert again.sent().message_type is wire.MessageType.DISCOVER
    again.io.close()


def test_renew_without_carrier_says_so(rig: Rig) -> None:
    bind(rig)
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, MAC, 1500, False))
    assert rig.svc.state is State.INIT_REBOOT
    reply = rig.control(control.Command.RENEW)
    assert reply["ok"] is False and "no carrier on eth0" in str(reply["error"])


def test_a_lost_lease_is_a_warning_in_the_journal(rig: Rig, logs: Logs) -> None:
    """journalctl -p warning shows the address lost: the server silent until the lease
    expired (the REBINDING warning before it), then the Lost event."""
    bind(rig)
    while rig.svc.state is not State.INIT and rig.svc.state is not State.SELECTING:
        rig.sent(confirm=True)  # the REQUESTs of RENEWING and REBINDING, unanswered
    texts = [r.text() for r in logs.at_least(WARNING, "leasebox")]
    assert any(t.startswith("no answer from ") for t in texts), texts
    assert any(t.startswith(f"Lost {ADDRESS}/") for t in texts), texts


def test_status_counting_seconds_is_sent_each_second(rig: Rig) -> None:
    """systemd shows STATUS= as last sent: a countdown in minutes is sent each minute, one
    in seconds (the last two minutes before T1, T2 or the expiry) each second."""
    bind(rig)
    lease = rig.svc.client.lease if rig.svc.client else None
    assert lease is not None
    now = rig.clock.now
    rig.svc.status_field(now)
    assert rig.svc.status_due() == now + 60.0  # "renews in 29 min"
    now = lease.t1_at - 100
    assert rig.svc.status_field(now).endswith("renews in 100 s")
    assert rig.svc.status_due() == now + 1.0


def test_a_netconf_that_cannot_be_reached_is_the_last_error(rig: Rig) -> None:
    """The server acknowledged, but netconf's socket is gone (its unit failed, its start
    limit): the status said only "Requesting an address", for as long as it lasted, and
    wait-online's timeout pointed at the DHCP server."""
    rig.netconf.close()
    os.unlink(rig.svc.settings.netconf_path)
    discover = rig.sent()
    rig.reply(offer(discover))
    rig.reply(ack(rig.sent()))
    status = rig.control(control.Command.STATUS)["result"]
    assert isinstance(status, dict) and status["state"] == "REQUESTING"
    assert status["last_error"] == (f"cannot reach netconf at {rig.svc.settings.netconf_path}: "
                                    "No such file or directory")
