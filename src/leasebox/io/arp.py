"""ARP address conflict detection (RFC 5227): probing, announcing, and watching a bound
address, as small clock-free pieces the loop drives.

Probe timing comes in two profiles, chosen by ARPProbeTiming=:
- fast (the default): PROBE_COUNT probes PROBE_INTERVAL apart, then LISTEN_WINDOW after the
  last one, with no random initial wait: about 0.7 s. RFC 5227's timing takes 4-7 s on
  every new lease, which is why dhcpcd users often switch ARP off altogether. On a LAN any
  host that holds the address answers within milliseconds, so 0.7 s still catches real
  conflicts; the RFC's random wait protects against hosts probing in lockstep after a power
  cut, which the engine's randomised DHCP retransmissions already spread.
- rfc5227: RFC 5227 2.1.1 as written: a random wait of up to PROBE_WAIT, PROBE_NUM probes
  PROBE_MIN-PROBE_MAX apart (random), ANNOUNCE_WAIT after the last one.
Announcements (2.3) are the RFC's in both: ANNOUNCE_NUM of them ANNOUNCE_INTERVAL apart,
once the address is in use; they delay nothing. Change the numbers here, nowhere else.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from ipaddress import IPv4Address

from leasebox.core.record import record

# The fast profile.
PROBE_COUNT = 3
PROBE_INTERVAL = 0.2  # seconds between probes
LISTEN_WINDOW = 0.3  # seconds to listen after the last probe
# RFC 5227 section 1.1, in seconds.
PROBE_WAIT = 1.0
PROBE_NUM = 3
PROBE_MIN = 1.0
PROBE_MAX = 2.0
ANNOUNCE_WAIT = 2.0
ANNOUNCE_INTERVAL = 2.0
# A probe the kernel would not send is tried again this much later, this many times in all.
SEND_RETRY = 0.1
MAX_SEND_FAILURES = 5
# io's own floor between two announcements, whatever the engine asks: a compromised engine
# cannot make io flood the link with them.
ANNOUNCE_MIN_GAP = 1.0

ETH_P_ARP = 0x0806
ARP_FRAME = 42  # Ethernet header + ARP for IPv4 over Ethernet, before any padding
_BROADCAST_MAC = b"\xff" * 6
_ZERO_MAC = b"\0" * 6
_ARP_HEADER = struct.Struct("!HHBBH")  # hardware type, protocol type, hlen, plen, operation
_REQUEST, _REPLY = 1, 2
SENDER_MAC, _SPA, _TPA = 22, 28, 38


def probe_frame(mac: bytes, address: IPv4Address) -> bytes:
    """An ARP probe: a broadcast request for `address` with sender IP 0.0.0.0 (RFC 5227 2.1.1),
    so no host's ARP cache learns an address we do not own yet."""
    eth = _BROADCAST_MAC + mac + struct.pack("!H", ETH_P_ARP)
    arp = _ARP_HEADER.pack(1, 0x0800, 6, 4, _REQUEST)
    return eth + arp + mac + bytes(4) + _ZERO_MAC + address.packed


def announce_frame(mac: bytes, address: IPv4Address) -> bytes:
    """An ARP announcement (RFC 5227 2.3): a broadcast request whose sender and target IP
    are both `address`, so every neighbour's cache maps it to `mac`."""
    eth = _BROADCAST_MAC + mac + struct.pack("!H", ETH_P_ARP)
    arp = _ARP_HEADER.pack(1, 0x0800, 6, 4, _REQUEST)
    return eth + arp + mac + address.packed + _ZERO_MAC + address.packed


def _sender(frame: bytes, mac: bytes) -> bytes | None:
    """The sender IP of an ARP request or reply for IPv4 over Ethernet from another host,
    or None for anything else (short, another kind, or our own)."""
    if len(frame) < ARP_FRAME:
        return None
    htype, ptype, hlen, plen, op = _ARP_HEADER.unpack_from(frame, 14)
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4) or op not in (_REQUEST, _REPLY):
        return None
    if frame[SENDER_MAC:SENDER_MAC + 6] == mac:
        return None
    return frame[_SPA:_SPA + 4]


def is_conflict(frame: bytes, mac: bytes, address: IPv4Address) -> bool:
    """Does this ARP frame say another host uses, or is probing for, `address`?

    RFC 5227 2.1.1: any ARP packet whose sender IP is the address, and any probe (sender IP
    0.0.0.0) whose target IP is the address, from a hardware address that is not ours.
    A probe is a broadcast (RFC 5227 1.1) sent by the host it names: a unicast one is a
    switch's liveness check (Cisco's IP device tracking asks that way for an address it
    has seen), and one whose Ethernet source is not its sender is some device's forwarding
    bug; counting either would decline a good lease over and over.
    """
    sender = _sender(frame, mac)
    if sender is None:
        return False
    packed = address.packed
    if sender == packed:
        return True
    return (sender == bytes(4) and frame[_TPA:_TPA + 4] == packed
            and frame[:6] == _BROADCAST_MAC and frame[6:12] == frame[SENDER_MAC:SENDER_MAC + 6])


def claims(frame: bytes, mac: bytes, address: IPv4Address) -> bool:
    """Does this ARP frame say another host uses `address`, which we have in use?

    RFC 5227 2.4: an ARP request or reply whose sender IP is the address, from a hardware
    address that is not ours. A probe for it (sender 0.0.0.0) is not: the kernel answers
    that one for us, which is the defence the prober needs.
    """
    return _sender(frame, mac) == address.packed


@record(frozen=False)
class ProbeRun:
    """One probe for one address. The loop asks `due(now)` whether to send a probe now,
    tells `sent(now, ok)` how the sending went, and asks `finished(now)` whether the window
    has closed without a conflict.

    Each wait counts from the probe actually sent before it, not from the start: a loop
    held up (a busy engine, a paused VM) must not send the probes back to back and declare
    the address free with no time for an answer. A probe the kernel would not send (a full
    queue, the link going down) is not counted, and is tried again SEND_RETRY later, up to
    MAX_SEND_FAILURES times; then the run gives up (`given_up`)."""

    address: IPv4Address
    waits: tuple[float, ...]  # before each probe: from the start, then from the one before
    window: float  # after the last probe
    next_at: float = 0.0
    count: int = 0  # probes sent
    end: float | None = None  # when the window closes, once the last probe is out
    failures: int = 0

    @classmethod
    def fast(cls, address: IPv4Address, started: float) -> ProbeRun:
        waits = (0.0,) + (PROBE_INTERVAL,) * (PROBE_COUNT - 1)
        return cls(address, waits, LISTEN_WINDOW, started)

    @classmethod
    def rfc5227(cls, address: IPv4Address, started: float,
                uniform: Callable[[float, float], float]) -> ProbeRun:
        """`uniform(a, b)`: a random number in [a, b]."""
        waits = (uniform(0.0, PROBE_WAIT),) + tuple(
            uniform(PROBE_MIN, PROBE_MAX) for _ in range(PROBE_NUM - 1))
        return cls(address, waits, ANNOUNCE_WAIT, started + waits[0])

    def next_deadline(self) -> float:
        return self.next_at if self.end is None else self.end

    def due(self, now: float) -> bool:
        """True when a probe should go out now (the caller sends it, and says `sent`)."""
        return self.end is None and not self.given_up and now >= self.next_at

    def sent(self, now: float, ok: bool) -> None:
        if not ok:
            self.failures += 1
            self.next_at = now + SEND_RETRY
            return
        self.count += 1
        if self.count < len(self.waits):
            self.next_at = now + self.waits[self.count]
        else:
            self.end = now + self.window

    @property
    def given_up(self) -> bool:
        return self.failures >= MAX_SEND_FAILURES

    def finished(self, now: float) -> bool:
        return self.end is not None and now >= self.end


@record(frozen=False)
class GuardRun:
    """An address in use: announced `left` more times, then watched (RFC 5227 2.3-2.4)."""

    address: IPv4Address
    left: int
    next_at: float  # when the next announcement may go out

    def due(self, now: float) -> bool:
        """True when an announcement should go out now (the caller sends it)."""
        if self.left > 0 and now >= self.next_at:
            self.left -= 1
            self.next_at = now + ANNOUNCE_INTERVAL
            return True
        return False

    def next_deadline(self) -> float | None:
        return self.next_at if self.left > 0 else None
