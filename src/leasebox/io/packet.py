"""What io puts on the wire for the engine: the BOOTREQUEST check and the broadcast frame.

io never interprets DHCP, but it refuses to transmit anything that is not plainly a
BOOTREQUEST from this interface: a compromised engine must not be able to use io as a
general-purpose raw socket. The check covers only the fixed BOOTP header; options are the
engine's business and the server's.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

ETH_HEADER = 14
IPV4_HEADER = 20
UDP_HEADER = 8
MIN_BOOTREQUEST = 240  # fixed BOOTP header (236) + magic cookie
MAX_BOOTREQUEST = 1472  # 1500 less IPv4 and UDP headers: never fragment
BROADCAST_MAC = b"\xff" * 6
ETH_P_IP = 0x0800
IPPROTO_UDP = 17
CLIENT_PORT = 68
SERVER_PORT = 67
MAGIC_COOKIE = b"\x63\x82\x53\x63"
_OP, _HTYPE, _HLEN, _CHADDR, _COOKIE = 0, 1, 2, 28, 236
_BOOTREQUEST, _HTYPE_ETHER, _MAC_LEN = 1, 1, 6
_TTL = 64  # RFC 1700's default; DHCP messages never leave the link anyway
_BROADCAST = IPv4Address("255.255.255.255")


def bootrequest_fault(payload: bytes, mac: bytes) -> str | None:
    """Why `payload` is not a BOOTREQUEST io may send for `mac`, or None when it is."""
    if not MIN_BOOTREQUEST <= len(payload) <= MAX_BOOTREQUEST:
        return f"length {len(payload)} outside {MIN_BOOTREQUEST}..{MAX_BOOTREQUEST}"
    if payload[_OP] != _BOOTREQUEST:
        return f"op {payload[_OP]}, not BOOTREQUEST"
    if payload[_HTYPE] != _HTYPE_ETHER or payload[_HLEN] != _MAC_LEN:
        return f"htype {payload[_HTYPE]} hlen {payload[_HLEN]}, not Ethernet"
    chaddr = payload[_CHADDR:_CHADDR + 16]
    if chaddr[:_MAC_LEN] != mac:
        return "chaddr is not this interface's MAC"
    if any(chaddr[_MAC_LEN:]):
        return "chaddr padding is not zero"
    if payload[_COOKIE:_COOKIE + 4] != MAGIC_COOKIE:
        return "no magic cookie"
    return None


def source_fault(source: IPv4Address) -> str | None:
    """Why `source` cannot be the IPv4 source of a broadcast request, or None."""
    if source.is_unspecified:
        return None
    if source.is_multicast or source.is_loopback or source == _BROADCAST:
        return f"source {source} is not a unicast address"
    return None


def destination_fault(destination: IPv4Address) -> str | None:
    """Why a unicast request may not go to `destination`, or None."""
    if (destination.is_unspecified or destination.is_multicast or destination.is_loopback
            or destination == _BROADCAST):
        return f"destination {destination} is not a unicast address"
    return None


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`: one's complement of the one's complement
    sum of its 16-bit words, an odd last byte padded with zero."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def broadcast_frame(mac: bytes, source: IPv4Address, payload: bytes) -> bytes:
    """Ethernet + IPv4 + UDP around `payload`: from `mac` and `source`:68 to the broadcast
    MAC and 255.255.255.255:67, with both checksums filled in."""
    udp_len = UDP_HEADER + len(payload)
    total = IPV4_HEADER + udp_len
    ip = bytearray(struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, total,   # version 4, 20-byte header, no TOS, total length
        0, 0,             # id, flags/fragment offset: a datagram that is never fragmented
        _TTL, IPPROTO_UDP, 0,
        source.packed, _BROADCAST.packed,
    ))
    struct.pack_into("!H", ip, 10, checksum(bytes(ip)))
    pseudo = source.packed + _BROADCAST.packed + struct.pack("!BBH", 0, IPPROTO_UDP, udp_len)
    udp = bytearray(struct.pack("!HHHH", CLIENT_PORT, SERVER_PORT, udp_len, 0))
    udp_sum = checksum(pseudo + bytes(udp) + payload)
    # 0 means "no checksum" in UDP over IPv4, so a computed 0 is sent as its other form.
    struct.pack_into("!H", udp, 6, udp_sum or 0xFFFF)
    eth = BROADCAST_MAC + mac + struct.pack("!H", ETH_P_IP)
    return eth + bytes(ip) + bytes(udp) + payload


def clear_udp_checksum(frame: bytearray) -> None:
    """Mark an IPv4/UDP frame's checksum as absent (0), for a frame whose checksum the kernel
    says was never computed: sent from this host or through a virtual device (veth, virtio)
    with checksum offload, where the field holds only a partial sum. The frame is exactly
    what was sent; a wrong checksum would make the engine drop a good reply. Only the fixed
    offsets the BPF filter already relied on are read, within the frame's length."""
    if len(frame) < ETH_HEADER + IPV4_HEADER:
        return
    ihl = (frame[ETH_HEADER] & 0x0F) * 4
    at = ETH_HEADER + ihl + 6
    if ihl >= IPV4_HEADER and at + 2 <= len(frame):
        frame[at:at + 2] = b"\0\0"
