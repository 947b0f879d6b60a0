"""Ethernet II + IPv4 + UDP framing for the raw (AF_PACKET) path.

decode_frame checks every layer before the payload is looked at: a frame that is not a
whole, unfragmented, checksum-correct IPv4/UDP datagram to the DHCP client port is
rejected with DecodeError. encode_frame builds the frames a client sends before it has an
address (and that fake servers send in tests), with both checksums filled in.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from leasebox.core.record import record
from leasebox.core.wire.limits import MAX_MESSAGE_SIZE
from leasebox.core.wire.message import decode
from leasebox.core.wire.types import (
    BROADCAST,
    CLIENT_PORT,
    SERVER_PORT,
    ZERO,
    DecodeError,
    EncodeError,
    Message,
)

ETHERTYPE_IPV4 = 0x0800
IPPROTO_UDP = 17
ETHER_HEADER = struct.Struct("!6s6sH")
IPV4_HEADER = struct.Struct("!BBHHHBBHII")
UDP_HEADER = struct.Struct("!HHHH")
_ETHER_SIZE, _IP_SIZE, _UDP_SIZE = ETHER_HEADER.size, IPV4_HEADER.size, UDP_HEADER.size
_FLAG_RESERVED, _FLAG_MF, _OFFSET_MASK = 0x8000, 0x2000, 0x1FFF
BROADCAST_MAC = b"\xff" * 6


@record
class Frame:
    """One received Ethernet frame, after every header check; payload is the UDP data."""

    src_mac: bytes
    dst_mac: bytes
    src_ip: IPv4Address
    dst_ip: IPv4Address
    src_port: int
    dst_port: int
    payload: bytes


def _ones_sum(data: bytes) -> int:
    """The 16-bit ones' complement sum of `data` (RFC 1071), as 0..0xFFFE.

    2**16 = 1 (mod 0xFFFF), so summing 16-bit words with end-around carry is the same as
    reducing the whole buffer, read as one big integer, modulo 0xFFFF. That is one C call
    instead of a Python loop over every word. The only difference: a sum of 0xFFFF (ones'
    complement "negative zero") comes out as 0; callers account for it.
    """
    if len(data) & 1:
        data += b"\0"
    return int.from_bytes(data, "big") % 0xFFFF


def _checksum(data: bytes) -> int:
    # The complement of the sum. For a non-zero buffer whose sum is 0xFFFF the reduced sum is
    # 0 and the checksum 0; every header we sum is non-zero (version, protocol, lengths).
    total = _ones_sum(data)
    return 0xFFFF - total if total else 0


def _pseudo_header(src: int, dst: int, length: int) -> bytes:
    return struct.pack("!IIBBH", src, dst, 0, IPPROTO_UDP, length)


def decode_frame(data: bytes, *, dst_port: int = CLIENT_PORT) -> Frame:
    """Check one Ethernet frame down to UDP. `dst_port` is 68 for a client; a fake server
    in tests passes 67. Raises only DecodeError."""
    if not isinstance(data, bytes):
        if not isinstance(data, bytearray | memoryview):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    if len(data) < _ETHER_SIZE + _IP_SIZE + _UDP_SIZE:
        raise DecodeError(f"frame of {len(data)} octets is too short for Ethernet/IPv4/UDP")
    dst_mac, src_mac, ethertype = ETHER_HEADER.unpack_from(data)
    if ethertype != ETHERTYPE_IPV4:
        raise DecodeError(f"EtherType 0x{ethertype:04x} is not IPv4")

    ip = _ETHER_SIZE
    (version_ihl, _tos, total_length, _ident, flags_offset, _ttl, protocol, _csum,
     src_ip, dst_ip) = IPV4_HEADER.unpack_from(data, ip)
    if version_ihl >> 4 != 4:
        raise DecodeError(f"IP version {version_ihl >> 4}, not 4")
    header_length = (version_ihl & 0x0F) * 4
    if header_length < _IP_SIZE:
        raise DecodeError(f"IPv4 header length {header_length} < 20")
    available = len(data) - ip
    if header_length + _UDP_SIZE > available:
        raise DecodeError("IPv4 header runs past the end of the frame")
    # Ethernet pads short frames to 60 octets: the IP total length, not the frame, says
    # where the datagram ends.
    if total_length > available:
        raise DecodeError(f"IPv4 total length {total_length} runs past the end of the frame")
    if total_length < header_length + _UDP_SIZE:
        raise DecodeError(f"IPv4 total length {total_length} leaves no room for UDP")
    if _ones_sum(data[ip : ip + header_length]) != 0:
        raise DecodeError("IPv4 header checksum mismatch")
    if flags_offset & _FLAG_RESERVED:
        raise DecodeError("IPv4 reserved flag set")
    if flags_offset & (_FLAG_MF | _OFFSET_MASK):
        raise DecodeError("IPv4 fragment")
    if protocol != IPPROTO_UDP:
        raise DecodeError(f"IP protocol {protocol}, not UDP")

    udp = ip + header_length
    end = ip + total_length
    src_port, port, udp_length, udp_checksum = UDP_HEADER.unpack_from(data, udp)
    if udp_length != end - udp:
        raise DecodeError(f"UDP length {udp_length} does not match the IPv4 payload of "
                          f"{end - udp}")
    # Checksum 0 means "not computed" (RFC 768); otherwise the sum over pseudo-header and
    # datagram, checksum field included, must be ones' complement zero.
    if udp_checksum and _ones_sum(
        _pseudo_header(src_ip, dst_ip, udp_length) + data[udp:end]
    ) != 0:
        raise DecodeError("UDP checksum mismatch")
    if port != dst_port:
        raise DecodeError(f"UDP destination port {port}, not {dst_port}")
    # Servers and relay agents send from 67 to 68, clients from 68 to 67 (RFC 2131 4.1):
    # anything else is not a DHCP reply, whatever its payload says.
    expected_src = SERVER_PORT if dst_port == CLIENT_PORT else CLIENT_PORT
    if src_port != expected_src:
        raise DecodeError(f"UDP source port {src_port}, not {expected_src}")
    return Frame(
        src_mac=src_mac, dst_mac=dst_mac, src_ip=IPv4Address(src_ip),
        dst_ip=IPv4Address(dst_ip), src_port=src_port, dst_port=port,
        payload=data[udp + _UDP_SIZE : end],
    )


def decode_frame_message(data: bytes, *, dst_port: int = CLIENT_PORT) -> tuple[Frame, Message]:
    """decode_frame, then decode of its payload. Raises only DecodeError."""
    frame = decode_frame(data, dst_port=dst_port)
    return frame, decode(frame.payload)


def _mac(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != 6:
        raise EncodeError(f"{name}: must be 6 bytes")
    return value


def _port(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 0xFFFF:
        raise EncodeError(f"{name}: {value!r} is not a port 1..65535")
    return value


def encode_frame(
    payload: bytes,
    *,
    src_mac: bytes,
    dst_mac: bytes = BROADCAST_MAC,
    src_ip: IPv4Address = ZERO,
    dst_ip: IPv4Address = BROADCAST,
    src_port: int = CLIENT_PORT,
    dst_port: int = SERVER_PORT,
    ttl: int = 64,
) -> bytes:
    """An Ethernet II frame carrying `payload` in one unfragmented IPv4/UDP datagram."""
    if not isinstance(payload, bytes) or len(payload) > MAX_MESSAGE_SIZE:
        raise EncodeError(f"payload: must be bytes of at most {MAX_MESSAGE_SIZE} octets")
    if not isinstance(src_ip, IPv4Address) or not isinstance(dst_ip, IPv4Address):
        raise EncodeError("src_ip, dst_ip: must be IPv4Address")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= 255:
        raise EncodeError(f"ttl: {ttl!r} is not 1..255")
    src, dst = int(src_ip), int(dst_ip)
    sport, dport = _port("src_port", src_port), _port("dst_port", dst_port)
    udp_length = _UDP_SIZE + len(payload)
    udp_sum = _ones_sum(_pseudo_header(src, dst, udp_length)
                        + UDP_HEADER.pack(sport, dport, udp_length, 0) + payload)
    # RFC 768: a computed checksum of zero is sent as all ones (zero means "none").
    udp_checksum = 0xFFFF - udp_sum if udp_sum else 0xFFFF
    total_length = _IP_SIZE + udp_length
    # Identification 0: the datagram is never fragmented (RFC 6864 4.1 allows any value).
    ip_header = IPV4_HEADER.pack(0x45, 0, total_length, 0, 0, ttl, IPPROTO_UDP, 0, src, dst)
    ip_header = ip_header[:10] + _checksum(ip_header).to_bytes(2, "big") + ip_header[12:]
    return b"".join((
        ETHER_HEADER.pack(_mac("dst_mac", dst_mac), _mac("src_mac", src_mac), ETHERTYPE_IPV4),
        ip_header,
        UDP_HEADER.pack(sport, dport, udp_length, udp_checksum),
        payload,
    ))
