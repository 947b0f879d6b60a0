"""The one contract between leasebox's processes, like dhcpleased.h.

Every message is one SOCK_SEQPACKET datagram: a 4-byte header (version, type, payload
length) and a payload whose layout is fixed per type, with an exact length or explicit
bounds. Each type may travel in one direction only. A receiver that gets anything else —
wrong version, unknown type, wrong direction, wrong length, a value out of range — knows the
sender is broken or compromised: `decode` raises PeerViolation and the receiver exits.

Pure: no sockets here (see channel.py), so the contract is testable on bytes alone.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from enum import IntEnum, StrEnum
from ipaddress import IPv4Address, IPv4Network

from leasebox.core import names
from leasebox.core.record import record
from leasebox.core.values import (
    MAX_DNS,
    MAX_DOMAINS,
    MAX_NTP,
    MAX_ROUTERS,
    MAX_ROUTES,
    Route,
)
from leasebox.runtime import ifname as ifnames

VERSION = 4  # 2: APPLY carries NTP servers; HANDOFF. 3: PROBE timing; GUARD, CONFLICT.
# 4: FRAMES (several frames a datagram) in place of FRAME.
# VERSION is the header's, and stays 4 while the header does: from version 4 on a message
# type's layout never changes, its bounds (MAX_*, core.values') and enum values included;
# a new layout is a new type (a new MsgType number). Between
# dpkg's unpack and the postinst's restart, socket activation starts the new package's
# programs beside the old one's (a netconf after its idle exit, io after a replug, the bus):
# a version in every message made every message between them a violation, where with this
# rule they understand each other in all they both know, and a type one does not know is
# refused by name. tests/ipc/test_messages.py pins each type's layout and the bounds. (From
# the release of 2026-12-07 on: builds before it bumped VERSION for each change.)
HEADER = struct.Struct("!BBH")  # version, type, payload length
MAX_DATAGRAM = HEADER.size + 0xFFFF

MAC_LEN = 6
MAX_FRAME = 9216  # a jumbo Ethernet frame; io drops larger ones before they get here
# Frames one FRAMES message may carry: io sends those it read in one wake-up together, so
# that a flood costs io one send, and the engine one receive and one turn of its loop, per
# batch rather than per frame (the bench's junk flood: 60-74k frames per engine
# CPU-second before, 140-175k after). Each frame is preceded by its length (2 octets); the
# whole fits in the header's 16 bits.
MAX_FRAMES = 64
FRAME_LENGTH = struct.Struct("!H")
MIN_BOOTP = 240  # fixed BOOTP header + magic cookie
MAX_BOOTP = 1472  # 1500-byte MTU less IPv4 and UDP headers
MAX_REASON = 200
MAX_ANNOUNCE = 2  # ARP announcements one GUARD may ask for (RFC 5227 ANNOUNCE_NUM)


class PeerViolation(Exception):
    """A peer broke the contract. The receiver logs this one line and exits."""


class Peer(StrEnum):
    IO = "io"
    ENGINE = "engine"
    NETCONF = "netconf"
    BUS = "bus"  # leasebox-bus: hands DNS and NTP to systemd-resolved and -timesyncd


class MsgType(IntEnum):
    # io -> engine
    LINK_STATE = 1
    FRAMES = 2
    PROBE_RESULT = 3
    TX_DONE = 4
    CONFLICT = 5
    # engine -> io
    SEND_BROADCAST = 16
    SEND_UNICAST = 17
    PROBE = 18
    GUARD = 19
    # engine -> netconf
    APPLY = 32
    REMOVE = 33
    # netconf -> engine
    RESULT = 48
    # netconf -> bus
    HANDOFF = 64
    # bus -> netconf
    HANDOFF_RESULT = 80


class ResultStatus(IntEnum):
    OK = 0
    REFUSED = 1  # out of policy: nothing was changed
    FAILED = 2  # the kernel said no: whatever was added was rolled back


# ---- messages --------------------------------------------------------------------------------


@record
class LinkState:
    ifindex: int
    mac: bytes
    mtu: int
    carrier: bool


@record
class Frames:
    """Frames io received, in order of arrival (1 to MAX_FRAMES, each 1 to MAX_FRAME octets,
    together at most 0xFFFF octets with their lengths: see batches)."""

    frames: tuple[bytes, ...]


@record
class ProbeResult:
    address: IPv4Address
    conflict: bool


@record
class Conflict:
    """Another host (`mac`) sent ARP claiming the address io guards (RFC 5227 2.4)."""

    address: IPv4Address
    mac: bytes


@record
class TxDone:
    """io has handed one SendBroadcast/SendUnicast to the kernel (or failed to). It lets
    the engine order what must follow a transmission, e.g. removing the address only after
    the RELEASE sent from it has left."""

    sent: bool


@record
class SendBroadcast:
    source: IPv4Address  # 0.0.0.0, or the bound address when rebinding
    payload: bytes  # a BOOTREQUEST; io checks it and frames it


@record
class SendUnicast:
    destination: IPv4Address  # the server, port 67, over the UDP :68 socket
    payload: bytes


@record
class Probe:
    address: IPv4Address
    rfc5227: bool = False  # RFC 5227's own timing (seconds), not io's fast profile


@record
class Guard:
    """Watch ARP for another host claiming `address` (None: stop) after sending `announce`
    ARP announcements of it. io does so only for an address on its interface."""

    address: IPv4Address | None
    announce: int = 0


@record
class Apply:
    request_id: int
    address: IPv4Address
    prefixlen: int
    lifetime: int  # seconds left on the lease; INFINITE for an infinite lease
    mtu: int | None
    routers: tuple[IPv4Address, ...]
    classless_routes: tuple[Route, ...] | None  # None: option 121 absent
    dns_servers: tuple[IPv4Address, ...]
    domains: tuple[str, ...]  # the domain name first, then the search list
    ntp_servers: tuple[IPv4Address, ...] = ()


@record
class Remove:
    request_id: int


@record
class Result:
    request_id: int
    status: ResultStatus
    reason: str


@record
class Names:
    """What the name and time services should hold for one link."""

    dns_servers: tuple[IPv4Address, ...] = ()
    domains: tuple[str, ...] = ()
    ntp_servers: tuple[IPv4Address, ...] = ()

    @property
    def dns(self) -> tuple[tuple[IPv4Address, ...], tuple[str, ...]]:
        return self.dns_servers, self.domains

    @property
    def empty(self) -> bool:
        return not (self.dns_servers or self.domains or self.ntp_servers)


@record
class Handoff:
    """What systemd-resolved and -timesyncd should hold for one link, as netconf's policy
    let it through. All empty: nothing (any earlier per-link settings are reverted).
    DNS servers and domains go to resolved only when netconf hands DNS to resolved."""

    request_id: int
    ifname: str
    names: Names


@record
class HandoffResult:
    """OK: leasebox-bus holds the settings and delivers them (now, or when the services
    are back); REFUSED: it would not take them (a value or the sender's identity)."""

    request_id: int
    status: ResultStatus
    reason: str


Message = (
    LinkState | Frames | ProbeResult | Conflict | TxDone | SendBroadcast | SendUnicast | Probe
    | Guard | Apply | Remove | Result | Handoff | HandoffResult
)

# Each type: its class, and who may send it to whom. A type arriving on any other socket
# is a violation.
_IO, _ENGINE, _NETCONF, _BUS = Peer.IO, Peer.ENGINE, Peer.NETCONF, Peer.BUS
TYPES: dict[MsgType, tuple[type[Message], Peer, Peer]] = {
    MsgType.LINK_STATE: (LinkState, _IO, _ENGINE),
    MsgType.FRAMES: (Frames, _IO, _ENGINE),
    MsgType.PROBE_RESULT: (ProbeResult, _IO, _ENGINE),
    MsgType.CONFLICT: (Conflict, _IO, _ENGINE),
    MsgType.TX_DONE: (TxDone, _IO, _ENGINE),
    MsgType.SEND_BROADCAST: (SendBroadcast, _ENGINE, _IO),
    MsgType.SEND_UNICAST: (SendUnicast, _ENGINE, _IO),
    MsgType.PROBE: (Probe, _ENGINE, _IO),
    MsgType.GUARD: (Guard, _ENGINE, _IO),
    MsgType.APPLY: (Apply, _ENGINE, _NETCONF),
    MsgType.REMOVE: (Remove, _ENGINE, _NETCONF),
    MsgType.RESULT: (Result, _NETCONF, _ENGINE),
    MsgType.HANDOFF: (Handoff, _NETCONF, _BUS),
    MsgType.HANDOFF_RESULT: (HandoffResult, _BUS, _NETCONF),
}
TYPE_OF: dict[type[Message], MsgType] = {cls: t for t, (cls, _, _) in TYPES.items()}
DIRECTION: dict[MsgType, tuple[Peer, Peer]] = {t: (s, r) for t, (_, s, r) in TYPES.items()}


def i2s(value: int) -> str:
    """Name an IPC type for a log line, even one that is not in the enum."""
    try:
        return MsgType(value).name
    except ValueError:
        return f"type {value}"


# ---- layouts ---------------------------------------------------------------------------------

_LINK = struct.Struct("!I6sIB")
_PROBE_RESULT = struct.Struct("!4sB")
_ADDR = struct.Struct("!4s")
_ADDR_MAC = struct.Struct("!4s6s")
_ADDR_BYTE = struct.Struct("!4sB")
_APPLY_FIXED = struct.Struct("!I4sBIHBBBBBB")  # id, addr, plen, lifetime, mtu, flags, 5 counts
_HANDOFF_FIXED = struct.Struct("!IBBBB")  # id, name length, counts: dns, ntp, domains
_ROUTE = struct.Struct("!B4s4s")  # prefix length, destination, gateway
_RESULT_FIXED = struct.Struct("!IB")
_ID = struct.Struct("!I")
_CLASSLESS_PRESENT = 0x01
_PRINTABLE = frozenset(range(0x20, 0x7F))


def _violation(what: str, why: str) -> PeerViolation:
    return PeerViolation(f"invalid {what}: {why}")


def _check_name(name: str, what: str) -> bytes:
    problem = names.domain_problem(name)
    if problem:
        raise _violation(what, problem)
    return name.encode("ascii")


def _check_count(n: int, bound: int, what: str) -> None:
    if n > bound:
        raise _violation(what, f"{n} entries, at most {bound}")


def _check_u32(value: int, what: str) -> None:
    if not 0 <= value <= 0xFFFFFFFF:
        raise _violation(what, "not a 32-bit unsigned value")


def _payload(msg: Message) -> bytes:
    """Lay out one message. Raises PeerViolation for a value the contract does not allow,
    so a process cannot put out what its peer would have to reject."""
    match msg:
        case LinkState(ifindex, mac, mtu, carrier):
            if len(mac) != MAC_LEN or not 0 < ifindex <= 0x7FFFFFFF or not 0 < mtu <= 0xFFFFFFFF:
                raise _violation("LINK_STATE", "bad field")
            return _LINK.pack(ifindex, mac, mtu, int(carrier))
        case Frames(frames):
            if not 1 <= len(frames) <= MAX_FRAMES:
                raise _violation("FRAMES", f"{len(frames)} frames")
            if not all(1 <= len(data) <= MAX_FRAME for data in frames):
                raise _violation("FRAMES", "frame length")
            payload = b"".join(FRAME_LENGTH.pack(len(data)) + data for data in frames)
            if len(payload) > 0xFFFF:
                raise _violation("FRAMES", f"{len(payload)} octets")
            return payload
        case ProbeResult(address, conflict):
            return _PROBE_RESULT.pack(address.packed, int(conflict))
        case Conflict(address, mac):
            if len(mac) != MAC_LEN:
                raise _violation("CONFLICT", "bad MAC address")
            return _ADDR_MAC.pack(address.packed, mac)
        case TxDone(sent):
            return bytes([int(sent)])
        case SendBroadcast(source, payload) | SendUnicast(source, payload):
            if not MIN_BOOTP <= len(payload) <= MAX_BOOTP:
                raise _violation("SEND", f"payload length {len(payload)}")
            return source.packed + payload
        case Probe(address, rfc5227):
            return _ADDR_BYTE.pack(address.packed, int(rfc5227))
        case Guard(address, announce):
            _check_guard(address, announce)
            return _ADDR_BYTE.pack((address or IPv4Address(0)).packed, announce)
        case Apply():
            return _apply_payload(msg)
        case Remove(request_id):
            _check_u32(request_id, "REMOVE")
            return _ID.pack(request_id)
        case Result(request_id, status, reason) | HandoffResult(request_id, status, reason):
            what = TYPE_OF[type(msg)].name
            _check_u32(request_id, what)
            raw = reason.encode("ascii", "replace")
            if len(raw) > MAX_REASON or not set(raw) <= _PRINTABLE:
                raise _violation(what, "reason too long or not printable")
            return _RESULT_FIXED.pack(request_id, ResultStatus(status)) + raw
        case Handoff():
            return _handoff_payload(msg)
    raise _violation("message", f"unknown class {type(msg).__name__}")


def _check_guard(address: IPv4Address | None, announce: int) -> None:
    if address is not None and address.is_unspecified:
        raise _violation("GUARD", "0.0.0.0 is written as None")
    if not 0 <= announce <= (0 if address is None else MAX_ANNOUNCE):
        raise _violation("GUARD", f"{announce} announcements")


def _apply_payload(msg: Apply) -> bytes:
    _check_u32(msg.request_id, "APPLY")
    _check_u32(msg.lifetime, "APPLY lifetime")
    if not 0 <= msg.prefixlen <= 32:
        raise _violation("APPLY", "prefix length")
    if msg.mtu is not None and not 68 <= msg.mtu <= 0xFFFF:
        raise _violation("APPLY", "mtu")
    routes = msg.classless_routes or ()
    _check_count(len(msg.routers), MAX_ROUTERS, "APPLY routers")
    _check_count(len(routes), MAX_ROUTES, "APPLY routes")
    _check_count(len(msg.dns_servers), MAX_DNS, "APPLY dns")
    _check_count(len(msg.ntp_servers), MAX_NTP, "APPLY ntp")
    _check_count(len(msg.domains), MAX_DOMAINS, "APPLY domains")
    flags = _CLASSLESS_PRESENT if msg.classless_routes is not None else 0
    out = [
        _APPLY_FIXED.pack(
            msg.request_id, msg.address.packed, msg.prefixlen, msg.lifetime, msg.mtu or 0,
            flags, len(msg.routers), len(routes), len(msg.dns_servers), len(msg.ntp_servers),
            len(msg.domains),
        )
    ]
    out += [r.packed for r in msg.routers]
    out += [
        _ROUTE.pack(r.destination.prefixlen, r.destination.network_address.packed,
                    r.gateway.packed)
        for r in routes
    ]
    out += [d.packed for d in msg.dns_servers]
    out += [n.packed for n in msg.ntp_servers]
    for name in msg.domains:
        raw = _check_name(name, "APPLY domain")
        out.append(bytes([len(raw)]) + raw)
    return b"".join(out)


def _handoff_payload(msg: Handoff) -> bytes:
    _check_u32(msg.request_id, "HANDOFF")
    name = _check_ifname(msg.ifname)
    n = msg.names
    _check_count(len(n.dns_servers), MAX_DNS, "HANDOFF dns")
    _check_count(len(n.ntp_servers), MAX_NTP, "HANDOFF ntp")
    _check_count(len(n.domains), MAX_DOMAINS, "HANDOFF domains")
    out = [_HANDOFF_FIXED.pack(msg.request_id, len(name), len(n.dns_servers),
                               len(n.ntp_servers), len(n.domains)), name]
    out += [a.packed for a in (*n.dns_servers, *n.ntp_servers)]
    for domain in n.domains:
        raw = _check_name(domain, "HANDOFF domain")
        out.append(bytes([len(raw)]) + raw)
    return b"".join(out)


def _check_ifname(name: str) -> bytes:
    try:
        return ifnames.check(name).encode("ascii")
    except ValueError:
        raise _violation("HANDOFF", "interface name") from None


def encode(msg: Message) -> bytes:
    payload = _payload(msg)
    return HEADER.pack(VERSION, TYPE_OF[type(msg)], len(payload)) + payload


# ---- decoding --------------------------------------------------------------------------------


_MSG_TYPES = {int(kind): kind for kind in MsgType}  # one lookup per message, no set built


def decode(data: bytes, sender: Peer, receiver: Peer) -> Message:
    """Check and decode one datagram that `receiver` got on its socket from `sender`."""
    if len(data) < HEADER.size:
        raise _violation("message", f"{len(data)} bytes, shorter than the header")
    version, mtype, length = HEADER.unpack_from(data)
    if version != VERSION:
        raise _violation("message", f"header version {version}, not {VERSION} (a peer of "
                         "another leasebox release?)")
    kind = _MSG_TYPES.get(mtype)
    if kind is None:
        raise _violation("message", f"unknown {i2s(mtype)} (a peer of a newer leasebox "
                         "release?)")
    if DIRECTION[kind] != (sender, receiver):
        raise _violation(kind.name, f"not allowed from {sender} to {receiver}")
    body = data[HEADER.size:]
    if len(body) != length:
        raise _violation(kind.name, f"header says {length} bytes, datagram has {len(body)}")
    return _DECODERS[kind](bytes(body))


def _exact(body: bytes, size: int, what: str) -> None:
    if len(body) != size:
        raise _violation(what, f"length {len(body)}, expected {size}")


def _bool(value: int, what: str) -> bool:
    if value not in (0, 1):
        raise _violation(what, f"flag {value}")
    return value == 1


def _decode_link(body: bytes) -> Message:
    _exact(body, _LINK.size, "LINK_STATE")
    ifindex, mac, mtu, carrier = _LINK.unpack(body)
    if not 0 < ifindex <= 0x7FFFFFFF or mtu == 0:
        raise _violation("LINK_STATE", "ifindex or mtu")
    return LinkState(ifindex, mac, mtu, _bool(carrier, "LINK_STATE"))


def _decode_frames(body: bytes) -> Message:
    frames: list[bytes] = []
    at, end = 0, len(body)
    while at < end:
        if len(frames) == MAX_FRAMES:
            raise _violation("FRAMES", f"more than {MAX_FRAMES} frames")
        if end - at < FRAME_LENGTH.size:
            raise _violation("FRAMES", "truncated length")
        (length,) = FRAME_LENGTH.unpack_from(body, at)
        at += FRAME_LENGTH.size
        if not 1 <= length <= min(MAX_FRAME, end - at):
            raise _violation("FRAMES", f"frame length {length}")
        frames.append(body[at:at + length])
        at += length
    if not frames:
        raise _violation("FRAMES", "no frame")
    return Frames(tuple(frames))


def batches(frames: Sequence[bytes], limit: int = 0xFFFF) -> list[Frames]:
    """`frames` (each 1 to MAX_FRAME octets), in order, in as few FRAMES messages as fit,
    each at most `limit` octets of payload (at most 0xFFFF; a frame alone may exceed it)."""
    out: list[Frames] = []
    batch: list[bytes] = []
    size = 0
    for data in frames:
        if batch and (len(batch) == MAX_FRAMES
                      or size + FRAME_LENGTH.size + len(data) > min(limit, 0xFFFF)):
            out.append(Frames(tuple(batch)))
            batch, size = [], 0
        batch.append(data)
        size += FRAME_LENGTH.size + len(data)
    if batch:
        out.append(Frames(tuple(batch)))
    return out


def _decode_probe_result(body: bytes) -> Message:
    _exact(body, _PROBE_RESULT.size, "PROBE_RESULT")
    addr, conflict = _PROBE_RESULT.unpack(body)
    return ProbeResult(IPv4Address(addr), _bool(conflict, "PROBE_RESULT"))


def _decode_conflict(body: bytes) -> Message:
    _exact(body, _ADDR_MAC.size, "CONFLICT")
    addr, mac = _ADDR_MAC.unpack(body)
    return Conflict(IPv4Address(addr), mac)


def _decode_tx_done(body: bytes) -> Message:
    _exact(body, 1, "TX_DONE")
    return TxDone(_bool(body[0], "TX_DONE"))


def _decode_send(body: bytes, cls: type[SendBroadcast] | type[SendUnicast]) -> Message:
    if not 4 + MIN_BOOTP <= len(body) <= 4 + MAX_BOOTP:
        raise _violation(cls.__name__, f"length {len(body)}")
    return cls(IPv4Address(body[:4]), body[4:])


def _decode_probe(body: bytes) -> Message:
    _exact(body, _ADDR_BYTE.size, "PROBE")
    addr, rfc5227 = _ADDR_BYTE.unpack(body)
    return Probe(IPv4Address(addr), _bool(rfc5227, "PROBE"))


def _decode_guard(body: bytes) -> Message:
    _exact(body, _ADDR_BYTE.size, "GUARD")
    raw, announce = _ADDR_BYTE.unpack(body)
    addr = IPv4Address(raw)
    address = None if addr.is_unspecified else addr
    _check_guard(address, announce)
    return Guard(address, announce)


class _Reader:
    """Bounded cursor over one payload: every read checks it stays inside."""

    __slots__ = ("body", "pos", "what")

    def __init__(self, body: bytes, what: str) -> None:
        self.body, self.pos, self.what = body, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.body):
            raise _violation(self.what, "truncated")
        chunk = self.body[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def done(self) -> None:
        if self.pos != len(self.body):
            raise _violation(self.what, f"{len(self.body) - self.pos} trailing bytes")


def _decode_apply(body: bytes) -> Message:
    r = _Reader(body, "APPLY")
    (req, addr, plen, lifetime, mtu, flags, n_routers, n_routes, n_dns, n_ntp, n_domains) = (
        _APPLY_FIXED.unpack(r.take(_APPLY_FIXED.size))
    )
    if plen > 32 or flags & ~_CLASSLESS_PRESENT or (mtu and mtu < 68):
        raise _violation("APPLY", "prefix length, flags or mtu")
    _check_count(n_routers, MAX_ROUTERS, "APPLY routers")
    _check_count(n_routes, MAX_ROUTES, "APPLY routes")
    _check_count(n_dns, MAX_DNS, "APPLY dns")
    _check_count(n_ntp, MAX_NTP, "APPLY ntp")
    _check_count(n_domains, MAX_DOMAINS, "APPLY domains")
    if n_routes and not flags & _CLASSLESS_PRESENT:
        raise _violation("APPLY", "routes without the classless flag")
    routers = tuple(IPv4Address(r.take(4)) for _ in range(n_routers))
    routes: list[Route] = []
    for _ in range(n_routes):
        rplen, dest, gw = _ROUTE.unpack(r.take(_ROUTE.size))
        try:
            network = IPv4Network((dest, rplen))  # strict: host bits must be zero
        except ValueError as exc:
            raise _violation("APPLY", f"route {exc}") from None
        routes.append(Route(network, IPv4Address(gw)))
    dns = tuple(IPv4Address(r.take(4)) for _ in range(n_dns))
    ntp = tuple(IPv4Address(r.take(4)) for _ in range(n_ntp))
    domains = _take_domains(r, n_domains, "APPLY domain")
    r.done()
    return Apply(
        request_id=req, address=IPv4Address(addr), prefixlen=plen, lifetime=lifetime,
        mtu=mtu or None, routers=routers,
        classless_routes=tuple(routes) if flags & _CLASSLESS_PRESENT else None,
        dns_servers=dns, domains=domains, ntp_servers=ntp,
    )


def _take_domains(r: _Reader, count: int, what: str) -> tuple[str, ...]:
    domains = []
    for _ in range(count):
        name = r.take(r.take(1)[0]).decode("ascii", "replace")
        _check_name(name, what)
        domains.append(name)
    return tuple(domains)


def _decode_handoff(body: bytes) -> Message:
    r = _Reader(body, "HANDOFF")
    req, name_len, n_dns, n_ntp, n_domains = _HANDOFF_FIXED.unpack(r.take(_HANDOFF_FIXED.size))
    ifname = r.take(name_len).decode("ascii", "replace")
    _check_ifname(ifname)
    _check_count(n_dns, MAX_DNS, "HANDOFF dns")
    _check_count(n_ntp, MAX_NTP, "HANDOFF ntp")
    _check_count(n_domains, MAX_DOMAINS, "HANDOFF domains")
    dns = tuple(IPv4Address(r.take(4)) for _ in range(n_dns))
    ntp = tuple(IPv4Address(r.take(4)) for _ in range(n_ntp))
    domains = _take_domains(r, n_domains, "HANDOFF domain")
    r.done()
    return Handoff(req, ifname, Names(dns, domains, ntp))


def _decode_remove(body: bytes) -> Message:
    _exact(body, _ID.size, "REMOVE")
    return Remove(_ID.unpack(body)[0])


def _decode_result(body: bytes, cls: type[Result] | type[HandoffResult] = Result) -> Message:
    what = TYPE_OF[cls].name
    if not _RESULT_FIXED.size <= len(body) <= _RESULT_FIXED.size + MAX_REASON:
        raise _violation(what, f"length {len(body)}")
    req, status = _RESULT_FIXED.unpack_from(body)
    if status not in set(ResultStatus):
        raise _violation(what, f"status {status}")
    reason = body[_RESULT_FIXED.size:]
    if not set(reason) <= _PRINTABLE:
        raise _violation(what, "reason not printable")
    return cls(req, ResultStatus(status), reason.decode("ascii"))


_DECODERS: dict[MsgType, Callable[[bytes], Message]] = {
    MsgType.LINK_STATE: _decode_link,
    MsgType.FRAMES: _decode_frames,
    MsgType.PROBE_RESULT: _decode_probe_result,
    MsgType.CONFLICT: _decode_conflict,
    MsgType.TX_DONE: _decode_tx_done,
    MsgType.SEND_BROADCAST: lambda b: _decode_send(b, SendBroadcast),
    MsgType.SEND_UNICAST: lambda b: _decode_send(b, SendUnicast),
    MsgType.PROBE: _decode_probe,
    MsgType.GUARD: _decode_guard,
    MsgType.APPLY: _decode_apply,
    MsgType.REMOVE: _decode_remove,
    MsgType.RESULT: _decode_result,
    MsgType.HANDOFF: _decode_handoff,
    MsgType.HANDOFF_RESULT: lambda b: _decode_result(b, HandoffResult),
}
