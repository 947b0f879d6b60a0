"""Ethernet II / IPv4 / UDP framing: every header check, and both checksums."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest

from leasebox.core.wire import (
    DecodeError,
    EncodeError,
    Frame,
    decode_frame,
    decode_frame_message,
    encode,
    encode_frame,
)
from leasebox.core.wire.frame import _checksum, _ones_sum
from tests.wire.wire_samples import MAC, SERVER, typical_ack

PAYLOAD = encode(typical_ack())
SERVER_MAC = bytes.fromhex("02005e100002")


def server_frame(payload: bytes = PAYLOAD, **kwargs: object) -> bytes:
    args: dict[str, object] = dict(src_mac=SERVER_MAC, dst_mac=MAC, src_ip=SERVER,
                                   dst_ip=IPv4Address("192.0.2.10"), src_port=67, dst_port=68)
    args.update(kwargs)
    return encode_frame(payload, **args)  # type: ignore[arg-type]


def reference_ones_sum(data: bytes) -> int:
    """RFC 1071 the slow way: 16-bit words, end-around carry."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


def with_ip_checksum(frame: bytes) -> bytes:
    """Recompute the IPv4 header checksum after a test edited the header."""
    ihl = (frame[14] & 0x0F) * 4
    header = frame[14:24] + b"\0\0" + frame[26 : 14 + ihl]
    return frame[:24] + _checksum(header).to_bytes(2, "big") + frame[26:]


def test_round_trip() -> None:
    frame, msg = decode_frame_message(server_frame())
    assert frame == Frame(src_mac=SERVER_MAC, dst_mac=MAC, src_ip=SERVER,
                          dst_ip=IPv4Address("192.0.2.10"), src_port=67, dst_port=68,
                          payload=PAYLOAD)
    assert msg == typical_ack()


def test_client_defaults() -> None:
    data = encode_frame(PAYLOAD, src_mac=MAC)
    frame = decode_frame(data, dst_port=67)
    assert frame.dst_mac == b"\xff" * 6
    assert (frame.src_ip, frame.dst_ip) == (IPv4Address(0), IPv4Address("255.255.255.255"))
    assert (frame.src_port, frame.dst_port) == (68, 67)
    assert data[14 + 8] == 64  # ttl


def test_header_checksum_is_correct() -> None:
    data = server_frame()
    assert reference_ones_sum(data[14:34]) == 0xFFFF


def test_udp_checksum_is_correct() -> None:
    data = server_frame()
    udp = data[34:]
    pseudo = data[26:34] + struct.pack("!BBH", 0, 17, len(udp))
    assert reference_ones_sum(pseudo + udp) == 0xFFFF


def test_udp_checksum_zero_means_none() -> None:
    data = server_frame()
    unchecked = data[:40] + b"\0\0" + data[42:]
    assert decode_frame(unchecked).payload == PAYLOAD


def test_computed_zero_checksum_is_sent_as_all_ones() -> None:
    # Choose the payload's last word so that the UDP sum comes out as 0xFFFF.
    base = server_frame(PAYLOAD[:-2] + b"\0\0")
    udp = base[34:]
    pseudo = base[26:34] + struct.pack("!BBH", 0, 17, len(udp))
    without = pseudo + udp[:6] + b"\0\0" + udp[8:]
    word = (0xFFFF - reference_ones_sum(without)) % 0xFFFF or 0xFFFF
    data = server_frame(PAYLOAD[:-2] + word.to_bytes(2, "big"))
    assert data[40:42] == b"\xff\xff"
    decode_frame(data)


def test_ethernet_padding_after_the_datagram_is_ignored() -> None:
    short = server_frame(b"x" * 10)  # a 52-octet frame, padded to 60 by the NIC
    assert decode_frame(short + bytes(8)).payload == b"x" * 10


def test_ip_options_are_skipped() -> None:
    data = server_frame(b"payload")
    options = b"\x01\x01\x01\x00"  # NOP NOP NOP EOL
    header = bytearray(data[14:34])
    header[0] = 0x46
    header[2:4] = (len(data) - 14 + 4).to_bytes(2, "big")
    frame = with_ip_checksum(data[:14] + bytes(header) + options + data[34:])
    assert decode_frame(frame).payload == b"payload"


def test_ones_sum_matches_rfc_1071_reference() -> None:
    for data in (b"", b"\x01", b"\xff\xff", b"\x00\x01\xf2\x03\xf4\xf5\xf6\xf7", bytes(range(255))):
        reference = reference_ones_sum(data)
        assert _ones_sum(data) == (0 if reference == 0xFFFF else reference)


def edit(frame: bytes, offset: int, value: bytes, *, fix_ip: bool = True) -> bytes:
    data = frame[:offset] + value + frame[offset + len(value):]
    return with_ip_checksum(data) if fix_ip else data


GOOD = server_frame()
BAD_FRAMES = {
    "empty": b"",
    "ethernet only": GOOD[:14],
    "truncated ip header": GOOD[:33],
    "truncated udp header": GOOD[:41],
    "ipv6 ethertype": edit(GOOD, 12, b"\x86\xdd", fix_ip=False),
    "vlan ethertype": edit(GOOD, 12, b"\x81\x00", fix_ip=False),
    "arp ethertype": edit(GOOD, 12, b"\x08\x06", fix_ip=False),
    "ip version 6": edit(GOOD, 14, b"\x65"),
    "ihl 4": edit(GOOD, 14, b"\x44"),
    "ihl 0": edit(GOOD, 14, b"\x40"),
    "ihl past the data": edit(GOOD[:14 + 60], 14, b"\x4f"),
    "total length past the data": edit(GOOD, 16, (len(GOOD) - 13).to_bytes(2, "big")),
    "total length under headers": edit(GOOD, 16, (27).to_bytes(2, "big")),
    "ip header checksum": edit(GOOD, 24, b"\x12\x34", fix_ip=False),
    "reserved flag": edit(GOOD, 20, b"\x80\x00"),
    "more fragments": edit(GOOD, 20, b"\x20\x00"),
    "fragment offset": edit(GOOD, 20, b"\x00\x01"),
    "last fragment": edit(GOOD, 20, b"\x00\xb9"),
    "tcp": edit(GOOD, 23, b"\x06"),
    "udp length short": edit(GOOD, 38, (len(GOOD) - 35).to_bytes(2, "big"), fix_ip=False),
    "udp length long": edit(GOOD, 38, (len(GOOD) - 33).to_bytes(2, "big"), fix_ip=False),
    "udp checksum": edit(GOOD, 40, bytes((GOOD[40] ^ 0x10, GOOD[41])), fix_ip=False),
    "payload bit flip": edit(GOOD, 300, bytes((GOOD[300] ^ 1,)), fix_ip=False),
    "wrong source ip for checksum": edit(GOOD, 26, b"\xc0\x00\x02\x02"),
    "port 67": server_frame(dst_port=67),
    "port 546": server_frame(dst_port=546),
}


@pytest.mark.parametrize("name", BAD_FRAMES)
def test_frame_rejected(name: str) -> None:
    with pytest.raises(DecodeError):
        decode_frame(BAD_FRAMES[name])


def test_a_good_frame_with_a_bad_message() -> None:
    with pytest.raises(DecodeError, match="240"):
        decode_frame_message(server_frame(b"\x02" * 100))


def test_port_is_a_parameter_for_fake_servers() -> None:
    frame = decode_frame(server_frame(src_port=68, dst_port=67), dst_port=67)
    assert (frame.src_port, frame.dst_port) == (68, 67)


@pytest.mark.parametrize(("src_port", "dst_port"), [(53, 68), (68, 68), (1067, 68), (67, 67)])
def test_wrong_source_port_is_not_a_dhcp_frame(src_port: int, dst_port: int) -> None:
    # a reply must come from the server port (a client's request from the client port)
    with pytest.raises(DecodeError, match="source port"):
        decode_frame(server_frame(src_port=src_port, dst_port=dst_port), dst_port=dst_port)


@pytest.mark.parametrize("value", ["frame", None, 7])
def test_non_bytes(value: object) -> None:
    with pytest.raises(DecodeError):
        decode_frame(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [
    {"src_mac": MAC[:5]}, {"src_mac": "02:00:5e:10:00:01"}, {"dst_mac": b"\xff" * 7},
    {"src_port": 0}, {"dst_port": 65536}, {"src_port": True}, {"ttl": 0}, {"ttl": 256},
    {"src_ip": "0.0.0.0"}, {"dst_ip": None},
])
def test_encode_frame_refuses(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"src_mac": MAC}
    args.update(kwargs)
    with pytest.raises(EncodeError):
        encode_frame(PAYLOAD, **args)  # type: ignore[arg-type]


def test_encode_frame_refuses_oversized_payload() -> None:
    with pytest.raises(EncodeError):
        encode_frame(bytes(65508), src_mac=MAC)
    assert len(encode_frame(bytes(65507), src_mac=MAC)) == 14 + 20 + 8 + 65507
