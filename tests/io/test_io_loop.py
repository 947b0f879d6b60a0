"""io's event loop, driven by hand without root: socketpairs stand in for the engine, the
packet, ARP and UDP sockets and rtnetlink (whose "kernel" end the test holds), and the
clock is a fake. For what needs the real kernel, see test_io_process.py."""

from __future__ import annotations

import contextlib
import errno
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address

import pytest

from leasebox import ipc
from leasebox.core import log as core_log
from leasebox.core.log import WARNING, Logger
from leasebox.io import arp, loop
from leasebox.io.loop import EXIT_FAILURE, IoLoop, Sockets, Stop
from leasebox.ipc import channel
from leasebox.runtime import rtnetlink, sd
from tests.conftest import Logs
from tests.io.iolab import bootrequest

ADDRESS = IPv4Address("192.0.2.10")
MAC = bytes.fromhex("020000000001")


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    io: IoLoop
    kernel: socket.socket  # the rtnetlink socket's other end: what io asks arrives here
    clock: Clock
    ends: list[socket.socket]  # the other end of each of io's sockets, in Sockets' order


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setattr(loop, "enable_auxdata", lambda sock: None)  # a packet socket's option
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(5)]
    engine, packet, arp, udp, rtnl = (ours for ours, _ in pairs)
    clock = Clock()
    log = Logger("leasebox.io.test")
    io = IoLoop("eth0", 2, Sockets(engine, packet, arp, udp, rtnl), log, clock)
    io.link = ipc.LinkState(2, MAC, 1500, True)
    kernel = pairs[4][1]
    kernel.setblocking(False)
    yield Rig(io, kernel, clock, [theirs for _, theirs in pairs])
    for a, b in pairs:
        a.close()
        b.close()


def _queries(kernel: socket.socket) -> list[int]:
    """The sequence numbers of the RTM_GETADDR requests io has sent since last asked."""
    seqs: list[int] = []
    while True:
        try:
            data = kernel.recv(4096)
        except BlockingIOError:
            return seqs
        length, mtype, _flags, seq, _port = struct.unpack_from("=IHHII", data)
        assert (length, mtype) == (len(data), rtnetlink.RTM_GETADDR)
        seqs.append(seq)


def test_a_guard_whose_address_list_never_comes_is_asked_again_then_dropped(
        rig: Rig, logs: Logs) -> None:
    rig.io.start_guard(ADDRESS, 2)
    assert len(_queries(rig.kernel)) == 1
    assert rig.io.timeout() == pytest.approx(loop.ADDR_QUERY_TIMEOUT)
    for tries in range(2, loop.ADDR_QUERY_TRIES + 1):
        rig.clock.now += loop.ADDR_QUERY_TIMEOUT
        rig.io.on_timers()
        assert len(_queries(rig.kernel)) == 1, f"query {tries}"
        assert rig.io.guard_check is not None
    rig.clock.now += loop.ADDR_QUERY_TIMEOUT
    rig.io.on_timers()
    assert rig.io.guard_check is None and rig.io.guard is None
    assert _queries(rig.kernel) == []
    assert "no list of the addresses of eth0 from the kernel after 3 queries" in "\n".join(
        r.message for r in logs.at_least(WARNING))
    assert rig.io.timeout() is None  # nothing left to wait for


def test_a_late_answer_is_not_taken_for_the_new_query(rig: Rig) -> None:
    rig.io.start_guard(ADDRESS, 2)
    (first,) = _queries(rig.kernel)
    rig.clock.now += loop.ADDR_QUERY_TIMEOUT
    rig.io.on_timers()
    (second,) = _queries(rig.kernel)
    assert second != first
    # the first query's answer, late: not the one io waits for
    rig.io.on_link_event(rtnetlink.AddressFact(first, 2, ADDRESS.packed), initial=False)
    rig.io.on_link_event(rtnetlink.DumpDone(first), initial=False)
    assert rig.io.guard is None and rig.io.guard_check is not None
    rig.io.on_link_event(rtnetlink.AddressFact(second, 2, ADDRESS.packed), initial=False)
    rig.io.on_link_event(rtnetlink.DumpDone(second), initial=False)
    assert rig.io.guard_check is None
    assert rig.io.guard is not None and rig.io.guard.address == ADDRESS


def _wireless_event(ifindex: int, name: bytes) -> rtnetlink.LinkEvent:
    """RTM_NEWLINK as cfg80211's wireless extensions send it at each scan and association
    (net/wireless/wext-core.c): an ifinfomsg, IFLA_IFNAME and IFLA_WIRELESS, nothing else."""
    name += b"\0"
    attr_name = struct.pack("=HH", 4 + len(name), 3) + name + b"\0" * (-len(name) % 4)
    iw_event = struct.pack("=HH", 12, 0x8B19) + bytes(8)  # SIOCGIWSCAN's completion
    attr_wireless = struct.pack("=HH", 4 + len(iw_event), 11) + iw_event
    up_lower_up = 0x1 | 0x10000
    body = struct.pack("=BxHiII", 0, rtnetlink.ARPHRD_ETHER, ifindex, up_lower_up, 0)
    body += attr_name + attr_wireless
    [event] = rtnetlink.parse(struct.pack("=IHHII", 16 + len(body), 16, 0, 0, 0) + body)
    return event


def test_a_wireless_extensions_event_is_not_the_link(rig: Rig, logs: Logs) -> None:
    """At start-up (the events that queued before io ran come first) it is neither "not
    an Ethernet interface", which stopped io for good, nor the carrier; nor a warning at
    each scan later."""
    event = _wireless_event(2, b"eth0")
    known = rig.io.link
    rig.io.link = None
    rig.io.on_link_event(event, initial=True)
    assert rig.io.link is None
    rig.io.link = known
    rig.io.on_link_event(event, initial=False)
    assert rig.io.link == known
    assert not logs.at_least(WARNING)


def test_a_link_sat_out_that_becomes_ethernet_is_looked_at_afresh(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """wlan0 in monitor mode (ARPHRD_IEEE80211_RADIOTAP) when io started: sat out. Back in
    managed mode, the same ifindex is an Ethernet link: io exits for systemd to start it
    again (Restart=always), where it used to ignore the link for as long as it ran."""
    monkeypatch.setattr(sd, "notify", lambda *lines: None)
    rig.io.link = None
    monitor = rtnetlink.LinkFacts(2, 803, bytes(6), 1500, False, name="eth0")
    rig.io.on_link_event(monitor, initial=True)
    assert rig.io.unsupported is not None and rig.io.link is None
    rig.io.on_link_event(monitor, initial=False)  # still not: nothing
    with pytest.raises(loop.Stop) as stop:
        rig.io.on_link_event(rtnetlink.LinkFacts(2, rtnetlink.ARPHRD_ETHER, MAC, 1500, True,
                                                 name="eth0"), initial=False)
    assert stop.value.code == loop.EXIT_OK and "of its own now" in stop.value.reason


def _port(master: int, kind: str) -> rtnetlink.LinkFacts:
    return rtnetlink.LinkFacts(2, rtnetlink.ARPHRD_ETHER, MAC, 1500, True, name="eth0",
                               master=master, master_kind=kind)


def test_a_bridge_port_is_sat_out_until_it_leaves_the_bridge(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """leasebox@eth0 with eth0 in br0: the bridge took every reply, so io sent DISCOVERs
    for ever with nothing said. It sits out now, saying why, and starts again once eth0 is
    a link of its own (`ip link set eth0 nomaster`)."""
    status: list[str] = []
    monkeypatch.setattr(sd, "notify", lambda *lines: status.extend(lines))
    rig.io.link = None
    rig.io.on_link_event(_port(7, "bridge"), initial=True)
    assert rig.io.link is None and rig.io.unsupported is not None
    assert "eth0 is a port of bridge interface 7" in rig.io.unsupported
    assert status == [f"STATUS={rig.io.unsupported}"]
    rig.io.on_link_event(_port(8, "bond"), initial=False)  # still a port: nothing
    with pytest.raises(loop.Stop) as stop:
        rig.io.on_link_event(_port(0, ""), initial=False)
    assert stop.value.code == loop.EXIT_OK and "of its own now" in stop.value.reason


def test_a_vrf_port_is_a_link_to_run_on(rig: Rig) -> None:
    """A VRF does not take its ports' frames: DHCP on eth0 in vrf-blue works."""
    rig.io.link = None
    rig.io.on_link_event(_port(7, "vrf"), initial=True)
    assert rig.io.unsupported is None and rig.io.link == ipc.LinkState(2, MAC, 1500, True)


def test_a_link_made_a_port_while_run_on_is_left(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """eth0 added to a bond while leased: the engine hears the carrier is gone (it keeps
    the lease, as for an unplugged cable) and io exits, for the next io to sit it out."""
    monkeypatch.setattr(sd, "notify", lambda *lines: None)
    with pytest.raises(loop.Stop) as stop:
        rig.io.on_link_event(_port(9, "bond"), initial=False)
    assert stop.value.code == loop.EXIT_OK and "port of bond interface 9" in stop.value.reason
    told = channel.recv(rig.ends[0], ipc.Peer.IO, ipc.Peer.ENGINE, nonblocking=True)
    assert told == ipc.LinkState(2, MAC, 1500, False)


def test_a_link_query_answered_enodev_is_a_removed_link(rig: Rig) -> None:
    """Its RTM_DELLINK lost in an overrun (ENOBUFS), the re-query finds no link: io exits
    for systemd to start it again, waiting for the interface, not for good (EX_CONFIG)."""
    rig.io.query_link()
    with pytest.raises(loop.Stop) as stop:
        rig.io.on_link_event(rtnetlink.NetlinkError(rig.io.seq, 19), initial=False)
    assert stop.value.code == loop.EXIT_OK and "removed" in stop.value.reason


def test_a_probe_that_cannot_be_sent_is_given_up_and_said(rig: Rig, logs: Logs) -> None:
    """Every probe failed to go out (a full queue, the link going down): io waited out the
    window and told the engine "no conflict" with nothing said. Now each is tried again a
    few times; then the address is taken as free, unchecked, with a warning."""
    rig.ends[2].close()  # the ARP socket's other end: every send fails (EPIPE)
    rig.io.start_probe(ADDRESS)
    for _ in range(20):
        rig.io.on_timers()
        rig.clock.now += 0.1
        if rig.io.probe is None:
            break
    assert rig.io.probe is None and rig.clock.now < 101.0  # not the whole window
    answer = channel.recv(rig.ends[0], ipc.Peer.IO, ipc.Peer.ENGINE, nonblocking=True)
    assert answer == ipc.ProbeResult(ADDRESS, conflict=False)
    assert any("5 probes could not be sent" in r.text() for r in logs.at_least(WARNING))


def test_a_busy_address_dump_is_asked_for_again_not_given_up(rig: Rig) -> None:
    """The kernel refuses a dump while another on the socket runs (EBUSY): io gave up the
    guard for good, unsaid to the engine. It asks again at the query's deadline."""
    rig.io.start_guard(ADDRESS, 2)
    (first,) = _queries(rig.kernel)
    rig.io.on_link_event(rtnetlink.NetlinkError(first, errno.EBUSY), initial=False)
    assert rig.io.guard_check is not None
    rig.clock.now += loop.ADDR_QUERY_TIMEOUT
    rig.io.on_timers()
    (second,) = _queries(rig.kernel)
    rig.io.on_link_event(rtnetlink.AddressFact(second, 2, ADDRESS.packed), initial=False)
    rig.io.on_link_event(rtnetlink.DumpDone(second), initial=False)
    assert rig.io.guard is not None and rig.io.guard.address == ADDRESS


def test_lost_events_ask_for_the_link_not_the_addresses_again(rig: Rig,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """ENOBUFS on rtnetlink: events were lost, a dump's answer was not; asking for the
    addresses again then would be refused while the first dump runs."""
    rig.io.start_guard(ADDRESS, 2)
    assert len(_queries(rig.kernel)) == 1

    class Overrun:
        calls = 0

        def recvfrom_into(self, *args: object) -> tuple[int, tuple[int, int]]:
            self.calls += 1
            if self.calls == 1:
                raise OSError(errno.ENOBUFS, "No buffer space available")
            raise BlockingIOError

    asked: list[str] = []
    monkeypatch.setattr(rig.io, "query_link", lambda: asked.append("link"))
    monkeypatch.setattr(rig.io, "ask_addresses", lambda check: asked.append("addresses"))
    monkeypatch.setattr(rig.io.socks, "rtnl", Overrun())
    rig.io.on_rtnl()
    assert asked == ["link"]


def test_an_overrun_read_last_in_a_burst_is_asked_about_too(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ENOBUFS read last in a burst, the queue empty after it: no read of that burst
    ends empty, and the socket wakes no select again; the query goes all the same."""
    class Socket:
        calls = 0

        def recvfrom_into(self, *args: object) -> tuple[int, tuple[int, int]]:
            self.calls += 1
            if self.calls == loop.BURST:
                raise OSError(errno.ENOBUFS, "No buffer space available")
            return 0, (0, 0)  # (a message of nothing)

        def recv(self, size: int, flags: int) -> bytes:
            assert flags & socket.MSG_PEEK
            raise BlockingIOError

    asked: list[str] = []
    monkeypatch.setattr(rig.io, "query_link", lambda: asked.append("link"))
    monkeypatch.setattr(rig.io.socks, "rtnl", Socket())
    rig.io.on_rtnl()
    assert asked == ["link"] and not rig.io.requery


def test_after_an_overrun_the_link_is_asked_for_once_the_socket_is_read_empty(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel drops every message to an overrun rtnetlink socket, an answer too, until
    its queue is read empty: a query sent at the ENOBUFS went unanswered, and a change
    lost in the overrun (a carrier, a removal) stayed unknown. A real socket, a tiny
    buffer, and a burst of unread answers about lo (nothing leaves the host)."""
    monkeypatch.setattr(loop, "enable_auxdata", lambda sock: None)
    rtnl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(4)]
    try:
        rtnl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        rtnl.bind((0, 0))
        engine, packet, arp_sock, udp = (ours for ours, _ in pairs)
        io = IoLoop("lo", socket.if_nametoindex("lo"),
                    Sockets(engine, packet, arp_sock, udp, rtnl), Logger("leasebox.io.test"),
                    Clock())
        answered: list[int] = []  # the link's facts, as answers come
        monkeypatch.setattr(io, "on_link_facts",
                            lambda facts, initial: answered.append(facts.ifindex))
        for seq in range(500, 600):  # more than the buffer holds: an overrun
            rtnl.send(rtnetlink.getlink_request(io.ifindex, seq))
        for _ in range(100):  # read it empty (each call reads a burst at most)
            io.on_rtnl()
            if io.seq:
                break
        assert io.seq == 1 and not io.requery  # asked once, when it was read empty
        answered.clear()
        assert select.select([rtnl], [], [], 2.0)[0], "no answer to the query"
        io.on_rtnl()
        assert answered == [io.ifindex]
    finally:
        rtnl.close()
        for a, b in pairs:
            a.close()
            b.close()


def test_the_hosts_other_interfaces_are_learned_from_link_events(rig: Rig) -> None:
    """A dump of every link when ARP work begins, and their events since: whose ARP is
    the host's own (from_this_host). This link's MAC is not among them."""
    other = bytes.fromhex("020000000077")
    rig.io.start_probe(ADDRESS)
    assert rig.io.links_dumping
    rig.io.on_link_event(rtnetlink.LinkFacts(9, rtnetlink.ARPHRD_ETHER, other, 1500, True,
                                             "wlan0"),
                         False)
    rig.io.on_link_event(rtnetlink.DumpDone(loop.LINKS_SEQ), False)
    assert not rig.io.links_dumping and rig.io.from_this_host(other)
    assert not rig.io.from_this_host(MAC)  # this link's: its own frames are dropped anyway
    rig.io.on_link_event(rtnetlink.LinkGone(9), False)
    assert not rig.io.from_this_host(other)


def test_a_macvtap_guests_arp_is_another_hosts(rig: Rig) -> None:
    """A VM host: libvirt's macvtap devices carry each guest's own MAC, and their frames go
    to the guest. Learned as this host's, a guest that holds the probed address answered
    unheard, and the address was taken though in use."""
    guest = bytes.fromhex("525400000001")
    rig.io.start_probe(ADDRESS)
    rig.io.on_link_event(rtnetlink.LinkFacts(9, rtnetlink.ARPHRD_ETHER, guest, 1500, True,
                                             "macvtap0", kind="macvtap"), False)
    rig.io.on_link_event(rtnetlink.DumpDone(loop.LINKS_SEQ), False)
    assert not rig.io.from_this_host(guest)
    # and a partial message (a Wi-Fi scan's) changes nothing of what was learned
    wlan = bytes.fromhex("020000000077")
    rig.io.on_link_event(rtnetlink.LinkFacts(8, rtnetlink.ARPHRD_ETHER, wlan, 1500, True,
                                             "wlan0"), False)
    rig.io.on_link_event(rtnetlink.LinkFacts(8, rtnetlink.ARPHRD_ETHER, None, None, True,
                                             "wlan0"), False)
    assert rig.io.from_this_host(wlan)


def test_the_probe_window_reads_what_came_before_it_closes(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """io held up through the listen window: the answer that came within it waits in the
    ARP socket. The window's end must not say "free" without reading it."""
    rig.io.start_probe(ADDRESS)
    while rig.io.probe is not None and rig.io.probe.end is None:
        rig.io.on_timers()
        rig.clock.now += arp.PROBE_INTERVAL
    taken = arp.announce_frame(bytes.fromhex("020000000099"), ADDRESS)  # another host's
    monkeypatch.setattr(rig.io, "read_frames", lambda sock, udp: [taken])
    rig.clock.now += 10.0
    rig.io.on_timers()
    answer = channel.recv(rig.ends[0], ipc.Peer.IO, ipc.Peer.ENGINE, nonblocking=True)
    assert answer == ipc.ProbeResult(ADDRESS, conflict=True)


def test_a_small_send_buffer_makes_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """net.core.wmem_default at its floor: the batch limit's own floor (one frame of the
    largest size) made one FRAMES message of twenty 400-octet frames, which the kernel
    refused whole, each of which it would have taken alone. (What an engine that does not
    read cannot take is dropped as ever: here, what the buffer holds arrives.)"""
    monkeypatch.setattr(loop, "enable_auxdata", lambda sock: None)
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(5)]
    try:
        engine = pairs[0][0]
        engine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)  # the kernel's floor
        io = IoLoop("eth0", 2, Sockets(*(ours for ours, _ in pairs)), Logger("t"), Clock())
        monkeypatch.setattr(io, "read_frames", lambda sock, udp: [bytes(400)] * 20)
        io.on_packet()
        got = 0
        pairs[0][1].setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while msg := channel.recv(pairs[0][1], ipc.Peer.IO, ipc.Peer.ENGINE):
                assert isinstance(msg, ipc.Frames)
                got += len(msg.frames)
        assert got > 0
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_a_batch_larger_than_the_send_buffer_is_dropped_not_fatal(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny net.core.wmem_default: the engine socket refused a batch of frames with
    EMSGSIZE, which killed io ("unexpected error", exit 1), again at every restart."""
    frame = bytes(300)
    monkeypatch.setattr(rig.io, "read_frames", lambda sock, udp: [frame])

    class Small:
        def send(self, data: bytes, flags: int = 0) -> int:
            raise OSError(errno.EMSGSIZE, "Message too long")

    monkeypatch.setattr(rig.io.socks, "engine", Small())
    rig.io.on_packet()  # no exception: said (throttled), and io goes on


def test_what_the_engine_may_put_on_the_wire_is_bounded(rig: Rig, logs: Logs) -> None:
    """A compromised engine has no network of its own; through io it could send UDP/67
    anywhere, free-form options and all, as fast as it likes. A burst of SEND_BURST, then
    SEND_RATE a second: what is over is not sent, the engine told so, and said once."""
    engine = rig.ends[0]
    payload = bytes(bootrequest(MAC))

    def ask(n: int) -> list[bool]:
        done = []
        for _ in range(n):
            channel.send(engine, ipc.SendUnicast(IPv4Address("192.0.2.1"), payload))
            rig.io.on_engine()
            reply = channel.recv(engine, ipc.Peer.IO, ipc.Peer.ENGINE)
            assert isinstance(reply, ipc.TxDone)
            done.append(reply.sent)
        return done

    out: list[tuple[bytes, tuple[str, int]]] = []

    class Udp:  # the UDP :68 socket, recording what goes out
        def sendto(self, data: bytes, address: tuple[str, int]) -> int:
            out.append((data, address))
            return len(data)

    rig.io.socks.udp = Udp()  # type: ignore[assignment]
    sent = ask(loop.SEND_BURST + 5)
    assert len(out) == loop.SEND_BURST
    assert sent.count(True) == loop.SEND_BURST and sent[loop.SEND_BURST:] == [False] * 5
    warned = [r for r in logs.at_least(WARNING, "leasebox.io.test") if "not sent" in r.message]
    assert len(warned) == 1
    rig.clock.now += 2 / loop.SEND_RATE  # refilled: two more
    assert ask(3) == [True, True, False]


def test_an_engine_that_takes_nothing_stops_io_not_hangs_it(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """io's messages to the engine (TxDone, link reports) waited for room for ever: an
    engine stuck in the kernel (a lease file's fsync on a dying SD card) hung io until its
    watchdog killed it, with no line saying why. The wait is bounded; then io exits."""
    monkeypatch.setattr(loop, "ENGINE_SEND_WAIT", 0.2)
    engine = rig.io.socks.engine
    while True:  # the engine's socket full: nothing read for a while
        try:
            engine.send(b"x" * 512, socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
    t0 = time.monotonic()
    with pytest.raises(Stop) as stop:
        rig.io.to_engine(ipc.TxDone(True))
    assert 0.2 <= time.monotonic() - t0 < 3.0
    assert stop.value.code == EXIT_FAILURE
    assert stop.value.reason == "the engine took nothing for 0.2 s"
    drained = rig.ends[0]  # the engine reads again: the next message goes
    drained.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while drained.recv(4096):
            pass
    rig.io.to_engine(ipc.TxDone(True))
    assert channel.recv(drained, ipc.Peer.IO, ipc.Peer.ENGINE) == ipc.TxDone(True)


def test_a_sigterm_while_io_reports_its_stop_waits_for_the_exit(logs: Logs) -> None:
    """io's SIGTERM handler raises Stop wherever io is: one that came while io logged why
    it stops (systemd's stop of an io that is leaving for another reason, or a second
    SIGTERM) raised out of that line, and main() left with a traceback and exit 1."""
    from leasebox.io.main import _on_sigterm
    said: list[str] = []

    def sink(record: core_log.Record) -> None:  # systemd's SIGTERM comes in the report
        said.append(record.message)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    saved_handler = signal.signal(signal.SIGTERM, _on_sigterm)
    saved_mask = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    core_log.configure(core_log.DEBUG, sink)  # (the logs fixture puts its own back)
    try:
        code = loop.report(Stop(EXIT_FAILURE, "the engine took nothing for 10 s"),
                           Logger("leasebox.io.test"))
        assert signal.SIGTERM in signal.sigpending()  # for the exit to discard
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, saved_mask)
        signal.signal(signal.SIGTERM, saved_handler)
    assert code == EXIT_FAILURE
    assert said == ["the engine took nothing for 10 s"]
