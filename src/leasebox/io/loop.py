"""io's event loop: frames in to the engine, checked requests out to the wire.

One selector over the engine, packet, UDP and rtnetlink sockets (and the ARP socket while a
probe runs or an address is guarded); the only timers are the probe's, the announcements'
and the watchdog's. Each wake-up reads at most BURST datagrams from a socket, so a flood on
one cannot starve the others; every frame costs one bounded recv, and the frames of a
wake-up one send to the engine (ipc.FRAMES).
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from ipaddress import IPv4Address

from leasebox import ipc
from leasebox.core.log import Logger
from leasebox.core.record import record, replace
from leasebox.io import arp
from leasebox.io.dispatch import (
    Drop,
    StartGuard,
    StartProbe,
    Transmit,
    TransmitUnicast,
    io_dispatch_engine,
)
from leasebox.io.packet import SERVER_PORT, clear_udp_checksum
from leasebox.io.sockets import (
    AUXDATA,
    PACKET_AUXDATA,
    PACKET_BROADCAST,
    PACKET_HOST,
    SOL_PACKET,
    TP_STATUS_CSUMNOTREADY,
    drain,
    enable_auxdata,
)
from leasebox.ipc import channel
from leasebox.runtime import rtnetlink as link
from leasebox.runtime import sd
from leasebox.runtime.exits import EX_CONFIG

BURST = 64
NETLINK_BUFFER = 65536
LINK_QUERY_TIMEOUT = 2.0  # seconds to wait for the kernel's answer at start-up
WARN_EVERY = 10.0  # seconds between two warnings of one kind (network-driven events)
ADDR_SEQ_BASE = 0x80000000  # address queries' netlink sequence numbers; link queries' are low
LINKS_SEQ = 0x40000000  # the dump of all links (host_macs), between the two
ADDR_QUERY_TIMEOUT = 2.0  # seconds for the kernel's list of addresses (a GUARD's check)
ADDR_QUERY_TRIES = 3  # then the GUARD is given up: the next one asks again
ENGINE_SEND_WAIT = 10.0  # seconds a message to the engine waits for room (then: exit)
# earlier MACs of the link whose requests, made before the engine heard of a change, are
# dropped, not taken for a violation: a bridge or bond changes its MAC as ports are added
PREVIOUS_MACS = 4
# What the engine may put on the wire through io: DHCP needs a few requests a minute (a
# DISCOVER every 4 s and more at worst, a REQUEST, a DECLINE); a compromised engine, which
# has no network of its own, would use io as a way out (any UDP/67 destination, free-form
# options) and as a flood source. A burst of SEND_BURST, then SEND_RATE a second; what is
# over is not sent, said, and the engine told (its timers send again).
SEND_BURST = 20
SEND_RATE = 1.0

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_OSERR = 71  # EX_OSERR: a socket or capability operation failed
EXIT_PROTOCOL = 76  # EX_PROTOCOL: the engine broke the contract
EXIT_CONFIG = EX_CONFIG  # the interface or the handed-in sockets are unusable

_AUX_SPACE = socket.CMSG_SPACE(AUXDATA.size)
_ADDRESSED_TO_US = (PACKET_HOST, PACKET_BROADCAST)
_LINK_DOWN_ERRNOS = (errno.ENETDOWN, errno.ENXIO, errno.ENODEV)
_ENGINE_GONE = (BrokenPipeError, ConnectionResetError)


class Stop(BaseException):
    """Leave the loop with this exit code; `reason` is the one line logged.

    Not an Exception: SIGTERM raises it wherever io is (main._on_sigterm), which may be
    inside a handler for Exception, such as the log sinks' (a log line never takes its
    process down): there it was swallowed, the line went to stderr, and io ran on until
    systemd's SIGKILL (a stalled journald held a line long enough for that)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@record(frozen=False)
class Sockets:
    engine: socket.socket
    packet: socket.socket
    arp: socket.socket
    udp: socket.socket
    rtnl: socket.socket


def _aux_status(ancdata: list[tuple[int, int, bytes]]) -> int:
    """tp_status from a packet socket's ancillary data; 0 if absent."""
    for level, kind, data in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= AUXDATA.size:
            status: int = AUXDATA.unpack_from(data)[0]
            return status
    return 0


def report(stop: Stop, log: Logger) -> int:
    """Log why io stops, at the level its exit code deserves; return the code.

    SIGTERM is blocked from here on: io is leaving, and a SIGTERM now (systemd's stop
    while io reports another reason, or a second one) would raise Stop in the middle of
    this line, out of main() as a traceback. It stays pending until io exits."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    if stop.code == EXIT_PROTOCOL:
        log.critical("%s", stop.reason)
    elif stop.code == EXIT_OK:
        log.info("%s: exiting", stop.reason)
    else:
        log.error("%s", stop.reason)
    return stop.code


def _uniform(low: float, high: float) -> float:
    """A random number in [low, high] for probe timing (not worth the random module)."""
    return low + (high - low) * int.from_bytes(os.urandom(2), "big") / 0xFFFF


@record(frozen=False)
class _GuardCheck:
    """A GUARD waiting for the kernel to list the link's addresses."""

    address: IPv4Address
    announce: int
    seq: int
    found: bool = False
    deadline: float = 0.0  # for the answer to the latest query
    asked: int = 0


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


class _Throttle:
    """At most one warning per WARN_EVERY seconds per kind, with a count of the rest."""

    def __init__(self, log: Logger, clock: Callable[[], float]) -> None:
        self._log, self._clock = log, clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, kind: str, message: str) -> None:
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < WARN_EVERY:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        self._log.warning("%s%s", message, f" ({held} more since the last warning)" if held
                          else "")


class _SendBudget:
    """A token bucket: SEND_BURST requests at once, refilled at SEND_RATE a second."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tokens = float(SEND_BURST)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(SEND_BURST), self._tokens + (now - self._at) * SEND_RATE)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class IoLoop:
    def __init__(self, ifname: str, ifindex: int, socks: Sockets, log: Logger,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ifname, self.ifindex, self.socks, self.log = ifname, ifindex, socks, log
        self.clock = clock
        self.throttle = _Throttle(log, clock)
        self.budget = _SendBudget(clock)
        self.link: ipc.LinkState | None = None  # what the engine was last told
        # the link's MACs before its last changes, newest last (PREVIOUS_MACS at most)
        self.previous_macs: tuple[bytes, ...] = ()
        self.unsupported: str | None = None  # why the link is not one to run on (sit_out)
        self.probe: arp.ProbeRun | None = None
        self.guard: arp.GuardRun | None = None
        self.guard_check: _GuardCheck | None = None
        # from a random point: the rtnetlink socket outlives io (FDSTORE), and a dump an io
        # before asked for and did not read to the end must not answer this one's
        self.addr_seq = ADDR_SEQ_BASE + int.from_bytes(os.urandom(3), "big")
        self.last_announce = -arp.ANNOUNCE_MIN_GAP
        self.arp_watched = False
        # The Ethernet addresses of the host's other interfaces (ifindex: MAC), from a dump
        # of the links when ARP work begins and from their events since; their ARP is not
        # another host's (from_this_host).
        self.host_macs: dict[int, bytes] = {}
        self.requery = False  # the link is asked for again once the socket is read empty
        self.links_dumping = False
        self.seq = 0
        self.frame_buf = bytearray(ipc.MAX_FRAME)
        # The kernel refuses a datagram longer than the socket's send buffer (EMSGSIZE), which
        # net.core.wmem_default sets, and holds what the engine has not read yet against it:
        # FRAMES messages stay within a quarter of it (the default's: 53,248 octets; a
        # frame alone may be longer, and is dropped if the kernel refuses it).
        sndbuf = socks.engine.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        self.batch_limit = max(min(sndbuf // 4, 0xFFFF), 1)
        self.netlink_buf = bytearray(NETLINK_BUFFER)
        self.udp_buf = bytearray(1)
        self.watchdog = sd.watchdog_interval()
        self.next_watchdog = clock()
        self.sel = selectors.DefaultSelector()
        for sock in (socks.packet, socks.arp, socks.udp):
            sock.setblocking(False)
        for sock in (socks.packet, socks.arp):
            enable_auxdata(sock)

    # ---- start-up ----------------------------------------------------------------------

    def query_link(self) -> None:
        self.seq += 1
        self.socks.rtnl.send(link.getlink_request(self.ifindex, self.seq))

    def initial_link(self) -> None:
        """Ask the kernel for the link facts and tell the engine (or find the link is not
        one leasebox runs on: sit_out); bounded in time. Asked once what queued while io
        was away is read: a socket that overran meanwhile gets no answer before."""
        self.requery = True
        self.on_rtnl(initial=True)
        deadline = self.clock() + LINK_QUERY_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(self.socks.rtnl, selectors.EVENT_READ)
            while self.link is None and self.unsupported is None:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    raise Stop(EXIT_OSERR, "no answer from rtnetlink about the interface")
                if sel.select(remaining):
                    self.on_rtnl(initial=True)

    def sit_out(self, why: str) -> None:
        """The link is not one leasebox runs on (WireGuard, a tun device, InfiniBand,
        loopback, a bridge's port: port_of). Exiting, as io did, was no end: the link
        socket starts io again at the host's next link event (a container, a Wi-Fi scan),
        until systemd's start limit, the error logged each time. io stays instead, ready,
        saying why in STATUS=, and tells the engine nothing; it exits when the link is
        removed or renamed (a new link of the name is looked at afresh), becomes one to
        run on, or the engine stops."""
        self.unsupported = why
        self.log.error("%s: nothing to do until that changes or the link is removed or "
                       "renamed", why)
        sd.notify(f"STATUS={why}")

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        handlers: list[tuple[socket.socket, Callable[[], None]]] = [
            (self.socks.engine, self.on_engine),
            (self.socks.udp, self.on_udp),
            (self.socks.rtnl, self.on_rtnl),
        ]
        if self.unsupported is None:  # (sit_out: frames of that link are nobody's business)
            handlers.append((self.socks.packet, self.on_packet))
        for sock, handler in handlers:
            self.sel.register(sock, selectors.EVENT_READ, handler)
        try:
            while True:
                self.on_timers()
                for key, _ in self.sel.select(self.timeout()):
                    key.data()
        except Stop as stop:
            return self.stop(stop)

    def stop(self, stop: Stop) -> int:
        return report(stop, self.log)

    def timeout(self) -> float | None:
        deadlines = []
        if self.probe is not None:
            deadlines.append(self.probe.next_deadline())
        if self.guard is not None:
            announce = self.guard.next_deadline()
            if announce is not None:
                deadlines.append(announce)
        if self.guard_check is not None:
            deadlines.append(self.guard_check.deadline)
        if self.watchdog is not None:
            deadlines.append(self.next_watchdog)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - self.clock())

    def on_timers(self) -> None:
        now = self.clock()
        if self.watchdog is not None and now >= self.next_watchdog:
            sd.notify("WATCHDOG=1")
            self.next_watchdog = now + self.watchdog
        if self.probe is not None:
            if self.probe.due(now):
                self.probe.sent(now, self.send_probe(self.probe))
                if self.probe.given_up:
                    # nothing but the engine's own timeout would end it: said, and over
                    self.log.warning("ARP probe of %s: %d probes could not be sent; taking "
                                     "it as free, unchecked", self.probe.address,
                                     self.probe.failures)
                    self.finish_probe(conflict=False)
            elif self.probe.finished(now):
                # what came within the window may wait unread (the loop held up): first
                self.on_arp()
                if self.probe is not None:
                    self.finish_probe(conflict=False)
        if self.guard_check is not None and now >= self.guard_check.deadline:
            self.addresses_overdue(self.guard_check)
        if self.guard is not None and self.link is not None and self.guard.due(now):
            self.last_announce = now
            self.transmit(self.socks.arp, arp.announce_frame(self.link.mac, self.guard.address),
                          "ARP announcement")

    # ---- engine ------------------------------------------------------------------------

    def to_engine(self, msg: ipc.Message) -> None:
        """Send `msg`, waiting for room at most ENGINE_SEND_WAIT: an engine that takes
        nothing that long is stuck (a lease file's fsync on a dying SD card), and io exits
        saying so rather than hang until its watchdog's SIGABRT."""
        data = ipc.encode(msg)
        deadline = time.monotonic() + ENGINE_SEND_WAIT
        while True:
            try:
                self.socks.engine.send(data, socket.MSG_DONTWAIT)
                return
            except BlockingIOError:
                pass
            except _ENGINE_GONE:
                raise Stop(EXIT_OK, "engine closed its socket") from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise Stop(EXIT_FAILURE, f"the engine took nothing for {ENGINE_SEND_WAIT:g} s")
            with selectors.DefaultSelector() as sel:
                sel.register(self.socks.engine, selectors.EVENT_WRITE)
                sel.select(left)

    def on_engine(self) -> None:
        try:
            msg = channel.recv(self.socks.engine, ipc.Peer.ENGINE, ipc.Peer.IO)
            if msg is None:
                raise Stop(EXIT_OK, "engine closed its socket")
            if self.link is None:  # the link is not known (sit_out): the engine knows nothing
                raise Stop(EXIT_FAILURE, "engine message before the link is known")
            action = io_dispatch_engine(msg, self.link.mac, self.previous_macs)
        except ipc.PeerViolation as exc:
            raise Stop(EXIT_PROTOCOL, f"engine violated the contract: {exc}") from None
        except _ENGINE_GONE:
            raise Stop(EXIT_OK, "engine closed its socket") from None
        match action:
            case Transmit() | TransmitUnicast():
                self.to_engine(ipc.TxDone(self.send_request(action)))
            case StartProbe(address, rfc5227):
                self.start_probe(address, rfc5227)
            case StartGuard(address, announce):
                self.start_guard(address, announce)
            case Drop(why):
                self.log.info("not sent: %s (the engine sends again with the new one)", why)
                self.to_engine(ipc.TxDone(sent=False))

    def send_request(self, action: Transmit | TransmitUnicast) -> bool:
        """Put the engine's request on the wire, within its budget; whether it went."""
        if not self.budget.take():
            self.throttle.warn("budget", f"request not sent: the engine asks for more than "
                               f"{SEND_BURST} at once or {SEND_RATE:g} a second")
            return False
        if isinstance(action, Transmit):
            return self.transmit(self.socks.packet, action.frame, "broadcast")
        try:
            self.socks.udp.sendto(action.payload, (str(action.destination), SERVER_PORT))
        except OSError as exc:
            self.throttle.warn("unicast", f"unicast to {action.destination}: {exc.strerror}")
            return False
        return True

    def transmit(self, sock: socket.socket, frame: bytes, what: str) -> bool:
        try:
            sock.send(frame)
        except OSError as exc:
            # Link down, queue full: the engine's retransmission timers cover it.
            self.throttle.warn(what, f"{what} not sent: {exc.strerror}")
            return False
        return True

    # ---- frames ------------------------------------------------------------------------

    def read_frames(self, sock: socket.socket, udp: bool) -> list[bytes]:
        """Up to BURST whole frames addressed to this interface (to its MAC or broadcast);
        oversized ones dropped. For `udp` frames whose checksum the kernel never computed,
        the checksum is marked absent (see packet.clear_udp_checksum)."""
        frames: list[bytes] = []
        buf = self.frame_buf
        for _ in range(BURST):
            try:
                n, ancdata, _, addr = sock.recvmsg_into([buf], _AUX_SPACE, socket.MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in _LINK_DOWN_ERRNOS:
                    continue  # the socket reports the link going down once; not a frame
                raise Stop(EXIT_OSERR, f"packet socket: {exc.strerror}") from None
            if n > len(buf):
                self.throttle.warn("oversize", f"dropped a {n}-byte frame (limit {len(buf)})")
                continue
            # Not ours: frames this host sent, frames for other MACs (promiscuous mode), and
            # frames tagged for a VLAN this host has no device for, which the kernel untags
            # and hands to the parent device as PACKET_OTHERHOST. Nor frames of a VLAN (or
            # macvlan) device on top of ours, which the kernel hands to the parent's packet
            # sockets too, untagged, with that device's name ("" if it could not be named).
            if n == 0 or addr[2] not in _ADDRESSED_TO_US or addr[0] not in (self.ifname, ""):
                continue
            frame = buf[:n]  # a copy
            if udp and _aux_status(ancdata) & TP_STATUS_CSUMNOTREADY:
                clear_udp_checksum(frame)
            frames.append(bytes(frame))
        return frames

    def on_packet(self) -> None:
        # the frames of one wake-up go together: one send for up to ipc.MAX_FRAMES
        for batch in ipc.batches(self.read_frames(self.socks.packet, udp=True),
                                 self.batch_limit):
            try:
                self.socks.engine.send(ipc.encode(batch), socket.MSG_DONTWAIT)
            except BlockingIOError:
                # The engine is behind: dropping frames costs a DHCP retransmission,
                # blocking would stall link events and probes as well.
                self.throttle.warn("engine-full", "engine not reading: dropped "
                                   f"{len(batch.frames)} frame(s)")
            except _ENGINE_GONE:
                raise Stop(EXIT_OK, "engine closed its socket") from None
            except OSError as exc:
                if exc.errno != errno.EMSGSIZE:
                    raise
                # a send buffer smaller than one batch of frames (a tiny
                # net.core.wmem_default): those frames are lost, not io
                self.throttle.warn("engine-msgsize", f"dropped {len(batch.frames)} "
                                   "frame(s): larger than the engine socket's send buffer "
                                   "(net.core.wmem_default)")

    def on_udp(self) -> None:
        # Replies to port 68 reach the packet socket as well; this socket exists so the
        # kernel does not answer unicast replies with ICMP port unreachable. Discard.
        for _ in range(BURST):
            try:
                self.socks.udp.recv_into(self.udp_buf, 1, socket.MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. ECONNREFUSED left by an ICMP error for a unicast we sent

    # ---- link --------------------------------------------------------------------------

    def on_rtnl(self, initial: bool = False) -> None:
        for _ in range(BURST):
            try:
                n, (port, _groups) = self.socks.rtnl.recvfrom_into(
                    self.netlink_buf, len(self.netlink_buf), socket.MSG_TRUNC | socket.MSG_DONTWAIT
                )
            except (BlockingIOError, InterruptedError):
                if self.requery:  # read empty: the kernel's answers reach the socket again
                    self.requery = False
                    self.query_link()
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # events were lost: ask again, once read empty
                    # (the kernel drops every message to an overrun socket, an answer too,
                    # until its queue is empty; not for the addresses: a dump's answer is
                    # flow-controlled, never lost so, and a second dump would be refused)
                    self.requery = True
                    continue
                raise Stop(EXIT_OSERR, f"rtnetlink: {exc.strerror}") from None
            if port != 0:
                continue  # not from the kernel: another process cannot speak for the link
            if n > len(self.netlink_buf):
                self.requery = True
                continue
            try:
                events = list(link.parse(bytes(self.netlink_buf[:n])))
            except link.LinkParseError as exc:
                self.log.warning("unreadable rtnetlink message: %s", exc)
                self.requery = True
                continue
            for event in events:
                # the start-up rules hold until the link is known, not for the whole read
                self.on_link_event(event, initial and self.link is None)
        # A whole burst read: one whose last message emptied the queue ends in no
        # BlockingIOError above, and the socket wakes no select again.
        if self.requery and _read_empty(self.socks.rtnl):
            self.requery = False
            self.query_link()

    def on_host_link(self, event: link.LinkEvent) -> bool:
        """The host's other links and the end of their dump (host_macs): True for those."""
        if isinstance(event, link.LinkFacts | link.LinkGone) and event.ifindex != self.ifindex:
            if isinstance(event, link.LinkGone):
                self.host_macs.pop(event.ifindex, None)
            elif event.mtu is None:
                pass  # a partial message (cfg80211's wireless events): nothing to learn
            elif event.arphrd == link.ARPHRD_ETHER and event.mac and any(event.mac) \
                    and event.kind != "macvtap":
                self.host_macs[event.ifindex] = event.mac
            else:  # (a macvtap carries a VM's own MAC, and its frames go to the VM: another
                # host, whose ARP for an address is a real claim)
                self.host_macs.pop(event.ifindex, None)
            return True
        if isinstance(event, link.DumpDone | link.NetlinkError) and event.seq == LINKS_SEQ:
            self.links_dumping = False  # (refused, EBUSY: the events still count)
            return True
        return False

    def on_link_event(self, event: link.LinkEvent, initial: bool) -> None:
        if self.on_host_link(event):
            return
        match event:
            case link.LinkFacts() if event.ifindex == self.ifindex:
                if event.name is not None and event.name != self.ifname:
                    # ("": a name leasebox does not take: UTF-8, control characters, '/')
                    self.link_gone(f"{self.ifname} was renamed to "
                                   f"{event.name or 'a name leasebox does not take'}")
                self.on_link_facts(event, initial)
            case link.LinkGone(ifindex) if ifindex == self.ifindex:
                self.link_gone(f"{self.ifname} was removed")
            case link.AddressFact() | link.DumpDone():
                self.on_address_event(event)
            case link.NetlinkError(seq) if seq >= ADDR_SEQ_BASE:
                self.on_address_event(event)
            case link.NetlinkError(seq, err) if seq == self.seq and err:
                if err == errno.ENODEV:  # removed, its RTM_DELLINK lost (ENOBUFS) or not seen
                    self.link_gone(f"{self.ifname} was removed")
                if initial:
                    raise Stop(EXIT_CONFIG, f"cannot read link {self.ifname}: errno {err}")
                self.log.warning("rtnetlink refused the link query: errno %d", err)
            case link.Overrun():
                self.requery = True

    def on_address_event(self, event: link.LinkEvent) -> None:
        """The kernel's answer to the address query of a GUARD (start_guard)."""
        check = self.guard_check
        if check is None:
            return
        match event:
            case link.AddressFact(seq, ifindex, address) if seq == check.seq:
                if ifindex == self.ifindex and address == check.address.packed:
                    check.found = True
            case link.DumpDone(seq) if seq == check.seq:
                self.guard_checked(check)
            case link.NetlinkError(seq, err) if seq == check.seq and err == errno.EBUSY:
                pass  # another dump on the socket still runs (an io before): asked again soon
            case link.NetlinkError(seq, err) if seq == check.seq and err:
                self.log.warning("cannot list the addresses of %s: errno %d", self.ifname, err)
                self.guard_check = None

    def link_gone(self, why: str) -> None:
        """Our link is gone (removed, renamed away, or made a port: port_of): tell the
        engine the carrier is lost (it keeps the lease and verifies it when the link is
        back) and exit; systemd starts io again, which waits for an interface of this
        name."""
        if self.link is not None and self.link.carrier:
            self.to_engine(replace(self.link, carrier=False))
        sd.notify(f"STATUS={why}")
        raise Stop(EXIT_OK, why)

    def on_link_facts(self, facts: link.LinkFacts, initial: bool) -> None:
        mac, mtu = facts.mac, facts.mtu
        if mtu is None:
            # Not the whole link: cfg80211's wireless-extensions events (each Wi-Fi scan,
            # each association) are RTM_NEWLINK with a name and IFLA_WIRELESS only: no
            # address, MTU or operstate, so no carrier to believe either.
            self.log.debug("ignored a partial link message (no MTU)")
            return
        ether = mac if facts.arphrd == link.ARPHRD_ETHER and mac is not None and len(mac) == 6 \
            and mtu else None
        port = self.port_of(facts)
        if self.unsupported is not None:
            if ether is not None and port is None:
                # (a Wi-Fi interface out of monitor mode, a port taken out of its bridge)
                raise Stop(EXIT_OK, f"{self.ifname} is an Ethernet interface of its own now: "
                                    "starting again")
            return
        if ether is None:
            if initial:
                self.sit_out(f"{self.ifname} is not an Ethernet interface (link type "
                             f"{facts.arphrd}); leasebox runs on Ethernet links only"
                             if facts.arphrd != link.ARPHRD_ETHER else
                             f"{self.ifname} has no Ethernet address or MTU")
                return
            self.log.warning("ignored a link message without Ethernet address or MTU")
            return
        if port is not None:
            if initial:
                self.sit_out(port)
                return
            # made a port while running: as if removed (the engine keeps the lease, and
            # verifies it if the link is ever its own again); the io started next sits out
            self.link_gone(port)
        mac = ether
        state = ipc.LinkState(ifindex=self.ifindex, mac=mac, mtu=mtu, carrier=facts.carrier)
        if state == self.link:
            return
        self.to_engine(state)  # first: a carrier up starts the engine's exchange
        if self.link is not None and self.link.mac != mac:
            self.previous_macs = (*self.previous_macs, self.link.mac)[-PREVIOUS_MACS:]
        self.link = state
        self.log.info("link %s: mac %s mtu %d carrier %s", self.ifname, format_mac(mac), mtu,
                      "up" if facts.carrier else "down")
        sd.notify(f"STATUS=carrier {'up' if facts.carrier else 'down'}, mtu {mtu}")

    def port_of(self, facts: link.LinkFacts) -> str | None:
        """Why the link is not one to run on as a port of another (None: it is not one).
        A bridge, bond, team or Open vSwitch takes its ports' frames for itself: DHCP on
        the port sends DISCOVERs that the replies never come back to, and an address on
        it is dead. A VRF does not: its ports are run on as any link (dhcpcd too ignores
        bridge ports and bond slaves)."""
        if not facts.master or facts.master_kind == "vrf":
            return None
        kind = facts.master_kind or "master"
        return (f"{self.ifname} is a port of {kind} interface {facts.master} (`ip link show "
                f"{self.ifname}` names it), which takes its frames: leasebox runs on the "
                f"{kind} itself, not on its ports")

    # ---- ARP: probe, announce, guard --------------------------------------------------

    def watch_arp(self) -> None:
        """Read the ARP socket while a probe runs or an address is guarded, only then."""
        wanted = self.probe is not None or self.guard is not None
        if wanted and not self.arp_watched:
            drain(self.socks.arp)  # what queued while nobody read is old news
            self.sel.register(self.socks.arp, selectors.EVENT_READ, self.on_arp)
        elif not wanted and self.arp_watched:
            self.sel.unregister(self.socks.arp)
        self.arp_watched = wanted

    def start_probe(self, address: IPv4Address, rfc5227: bool = False) -> None:
        if self.probe is not None:
            # The engine has moved on (a new offer after a link flap); only the newest
            # probe is answered, and the engine ignores results it no longer waits for.
            self.log.info("probe for %s superseded by %s", self.probe.address, address)
        now = self.clock()
        self.probe = (arp.ProbeRun.rfc5227(address, now, _uniform) if rfc5227
                      else arp.ProbeRun.fast(address, now))
        if self.guard_check is None:  # (one dump at a time on the socket: EBUSY)
            self.dump_links()
        self.watch_arp()

    def dump_links(self) -> None:
        """Ask the kernel for every link (host_macs), before ARP work that judges frames."""
        if not self.links_dumping:
            self.links_dumping = True
            self.socks.rtnl.send(link.getlink_dump_request(LINKS_SEQ))

    def send_probe(self, probe: arp.ProbeRun) -> bool:
        """Whether the probe went out."""
        return self.link is not None and self.transmit(
            self.socks.arp, arp.probe_frame(self.link.mac, probe.address), "ARP probe")

    def start_guard(self, address: IPv4Address | None, announce: int) -> None:
        guard = self.guard
        if address is None:
            if guard is not None:
                self.log.info("no longer watching ARP for %s", guard.address)
            self.guard = self.guard_check = None
            self.watch_arp()
            return
        if guard is not None and guard.address == address:  # already checked: defend
            guard.left = max(guard.left, announce)
            guard.next_at = max(self.clock(), self.last_announce + arp.ANNOUNCE_MIN_GAP)
            return
        # Announcing an address tells every neighbour to send its traffic here: io does it
        # only for an address the kernel has on this link (netconf put it there), so the
        # engine cannot make io claim another host's address. Ask the kernel first.
        self.guard = None
        self.watch_arp()
        self.guard_check = _GuardCheck(address, announce, 0)
        self.ask_addresses(self.guard_check)

    def ask_addresses(self, check: _GuardCheck) -> None:
        self.addr_seq = ADDR_SEQ_BASE + (self.addr_seq + 1 - ADDR_SEQ_BASE) % ADDR_SEQ_BASE
        check.seq, check.found = self.addr_seq, False
        check.deadline, check.asked = self.clock() + ADDR_QUERY_TIMEOUT, check.asked + 1
        self.socks.rtnl.send(link.getaddr_request(self.ifindex, self.addr_seq))

    def addresses_overdue(self, check: _GuardCheck) -> None:
        """The kernel has not finished listing the addresses: ask again, a few times."""
        if check.asked < ADDR_QUERY_TRIES:
            self.ask_addresses(check)
            return
        self.guard_check = None
        self.throttle.warn("guard", f"not watching {check.address}: no list of the addresses "
                           f"of {self.ifname} from the kernel after {check.asked} queries")

    def guard_checked(self, check: _GuardCheck) -> None:
        self.guard_check = None
        if not check.found:
            self.throttle.warn("guard", f"not watching {check.address}: it is not on "
                               f"{self.ifname}")
            return
        next_at = max(self.clock(), self.last_announce + arp.ANNOUNCE_MIN_GAP)
        self.guard = arp.GuardRun(check.address, check.announce, next_at)
        self.log.info("watching ARP for %s (RFC 5227)", check.address)
        self.dump_links()  # (the address dump is over)
        self.watch_arp()

    def on_arp(self) -> None:
        state = self.link
        frames = self.read_frames(self.socks.arp, udp=False)
        if state is None:
            return
        if self.links_dumping:  # what the host's interfaces are, before judging their ARP
            self.on_rtnl()
        probe, guard = self.probe, self.guard
        for frame in frames:
            sender = frame[arp.SENDER_MAC:arp.SENDER_MAC + 6]
            if probe is not None and arp.is_conflict(frame, state.mac, probe.address) \
                    and not self.from_this_host(sender):
                self.log.warning("%s is in use by %s", probe.address, format_mac(sender))
                self.finish_probe(conflict=True)
                probe = None
            if guard is not None and arp.claims(frame, state.mac, guard.address) \
                    and not self.from_this_host(sender):
                # One report a burst: the engine needs to hear of a conflict, not of each
                # frame of a flood.
                self.throttle.warn("claimed", f"{format_mac(sender)} claims {guard.address}")
                self.to_engine(ipc.Conflict(guard.address, sender))
                guard = None

    def from_this_host(self, mac: bytes) -> bool:
        """Whether `mac` is one of this host's other interfaces': RFC 5227 2.1.1 counts
        only another host's ARP. With arp_ignore=0 (Linux's default) the kernel answers a
        probe for any address the host has, such as this link's own after a carrier loss,
        on every interface that hears it: a laptop's Wi-Fi on the dock's LAN made io
        decline a good lease."""
        if mac in self.host_macs.values():
            self.log.debug("ARP from %s, this host's own: not a conflict", format_mac(mac))
            return True
        return False

    def finish_probe(self, conflict: bool) -> None:
        probe = self.probe
        if probe is None:
            return
        self.probe = None
        self.watch_arp()
        if not conflict:
            self.log.info("probe for %s: no conflict", probe.address)
        self.to_engine(ipc.ProbeResult(address=probe.address, conflict=conflict))


def _read_empty(sock: socket.socket) -> bool:
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:  # (an overrun again: its ENOBUFS read here, and the queue not empty)
        return False
    return False
