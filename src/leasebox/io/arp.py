"""ARP address conflict detection (RFC 5227 probing), as a small clock-free state machine.

Timing: PROBE_COUNT probes PROBE_INTERVAL apart, then a LISTEN_WINDOW after the last one,
with no random initial wait. RFC 5227 asks for 3 probes 1-2 s apart and a 2 s wait (about
7 s in all); that is far slower than users tolerate on every lease, and dhcpcd users often
switch ARP off altogether for it. On a LAN any host that holds the address answers within
milliseconds, so about 0.7 s still catches real conflicts. The RFC's random wait protects
against many hosts probing in lockstep after a power cut; the engine's own DHCP timing is
already randomised. Change the numbers here, nowhere else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

PROBE_COUNT = 3
PROBE_INTERVAL = 0.2  # seconds between probes
LISTEN_WINDOW = 0.3  # seconds to listen after the last probe

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


def is_conflict(frame: bytes, mac: bytes, address: IPv4Address) -> bool:
    """Does this ARP frame say another host uses, or is probing for, `address`?

    RFC 5227 2.1.1: any ARP packet whose sender IP is the address, and any probe (sender IP
    0.0.0.0) whose target IP is the address, from a hardware address that is not ours.
    """
    if len(frame) < ARP_FRAME:
        return False
    htype, ptype, hlen, plen, op = _ARP_HEADER.unpack_from(frame, 14)
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4) or op not in (_REQUEST, _REPLY):
        return False
    if frame[SENDER_MAC:SENDER_MAC + 6] == mac:
        return False
    sender = frame[_SPA:_SPA + 4]
    target = frame[_TPA:_TPA + 4]
    packed = address.packed
    return sender == packed or (sender == bytes(4) and target == packed)


@dataclass(slots=True)
class ProbeRun:
    """One probe for one address. The loop calls `due(now)` to learn whether to send a probe
    and `finished(now)` to learn whether the window has closed without a conflict."""

    address: IPv4Address
    started: float
    sent: int = 0

    def next_deadline(self) -> float:
        if self.sent < PROBE_COUNT:
            return self.started + self.sent * PROBE_INTERVAL
        return self.started + (PROBE_COUNT - 1) * PROBE_INTERVAL + LISTEN_WINDOW

    def due(self, now: float) -> bool:
        """True when a probe should go out now (the caller sends it; this counts it)."""
        if self.sent < PROBE_COUNT and now >= self.next_deadline():
            self.sent += 1
            return True
        return False

    def finished(self, now: float) -> bool:
        return self.sent >= PROBE_COUNT and now >= self.next_deadline()
