"""Canned packets written out octet by octet, decoded and checked field by field."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from leasebox.core.wire import DecodeError, MessageType, Op, Route, decode, encode
from tests.wire.wire_samples import MAC, header, opt, raw_message

# An ACK in the shape dnsmasq sends: BOOTREPLY, Ethernet, xid 0x3903f326, yiaddr
# 192.168.1.100, siaddr 192.168.1.1, then options.
ACK_HEX = """
02 01 06 00 39 03 f3 26 00 00 00 00
00 00 00 00 c0 a8 01 64 c0 a8 01 01 00 00 00 00
00 0b 82 01 fc 42 00 00 00 00 00 00 00 00 00 00
""" + "00 " * 64 + "00 " * 128 + """
63 82 53 63
35 01 05
36 04 c0 a8 01 01
33 04 00 00 0e 10
3a 04 00 00 07 08
3b 04 00 00 0c 4e
01 04 ff ff ff 00
1c 04 c0 a8 01 ff
03 04 c0 a8 01 01
06 08 c0 a8 01 01 08 08 08 08
0f 0b 65 78 61 6d 70 6c 65 2e 63 6f 6d
1a 02 05 dc
0c 06 6c 61 70 74 6f 70
79 0d 18 c6 33 64 c0 a8 01 fe 00 c0 a8 01 01
77 13 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00 03 6c 61 62 c0 00
ff
"""


def test_dnsmasq_style_ack() -> None:
    msg = decode(bytes.fromhex(ACK_HEX).ljust(300, b"\0"))
    assert msg.op is Op.BOOTREPLY
    assert msg.xid == 0x3903F326
    assert msg.chaddr == bytes.fromhex("000b8201fc42")
    assert msg.yiaddr == IPv4Address("192.168.1.100")
    assert msg.siaddr == IPv4Address("192.168.1.1")
    assert msg.message_type is MessageType.ACK
    assert msg.server_id == IPv4Address("192.168.1.1")
    assert (msg.lease_time, msg.renewal_time, msg.rebinding_time) == (3600, 1800, 3150)
    assert msg.subnet_mask == IPv4Address("255.255.255.0")
    assert msg.broadcast_address == IPv4Address("192.168.1.255")
    assert msg.routers == (IPv4Address("192.168.1.1"),)
    assert msg.dns_servers == (IPv4Address("192.168.1.1"), IPv4Address("8.8.8.8"))
    assert msg.domain_name == "example.com"
    assert msg.mtu == 1500
    assert msg.hostname == "laptop"
    assert msg.classless_routes == (
        Route(IPv4Network("198.51.100.0/24"), IPv4Address("192.168.1.254")),
        Route(IPv4Network("0.0.0.0/0"), IPv4Address("192.168.1.1")),
    )
    assert msg.domain_search == ("example.com", "lab.example.com")
    assert msg.dropped == ()
    assert msg.unknown == ()


def test_canned_ack_reencodes_to_the_same_message() -> None:
    msg = decode(bytes.fromhex(ACK_HEX).ljust(300, b"\0"))
    assert decode(encode(msg)) == msg


def test_offer() -> None:
    data = raw_message(opt(53, b"\x02") + opt(54, bytes([192, 0, 2, 1]))
                       + opt(51, b"\x00\x01\x51\x80") + opt(1, b"\xff\xff\xfe\x00") + b"\xff")
    msg = decode(data)
    assert msg.message_type is MessageType.OFFER
    assert msg.lease_time == 86400
    assert msg.subnet_mask == IPv4Address("255.255.254.0")


def test_nak_with_message() -> None:
    data = raw_message(opt(53, b"\x06") + opt(54, bytes([192, 0, 2, 1]))
                       + opt(56, b"requested address not available") + b"\xff",
                       yiaddr="0.0.0.0")
    msg = decode(data)
    assert msg.message_type is MessageType.NAK
    assert msg.error_message == "requested address not available"
    assert msg.yiaddr == IPv4Address(0)


def test_forcerenew_decodes() -> None:
    # The engine ignores it (CVE-2020-13529), but the codec must still understand it.
    msg = decode(raw_message(opt(53, b"\x09") + opt(54, bytes([192, 0, 2, 1])) + b"\xff"))
    assert msg.message_type is MessageType.FORCERENEW


def test_plain_bootp_reply_has_no_message_type() -> None:
    msg = decode(raw_message(opt(1, b"\xff\xff\xff\x00") + b"\xff"))
    assert msg.message_type is None
    assert msg.subnet_mask == IPv4Address("255.255.255.0")


def test_sname_and_file_are_c_strings() -> None:
    msg = decode(raw_message(opt(53, b"\x02") + b"\xff", sname=b"tftp.example\0junk",
                             file=b"pxelinux.0"))
    assert msg.sname == b"tftp.example"
    assert msg.file == b"pxelinux.0"


def test_client_discover_from_a_client() -> None:
    data = raw_message(opt(53, b"\x01") + opt(55, bytes([1, 3, 6, 15, 119, 121]))
                       + opt(61, b"\x01" + MAC) + opt(57, b"\x05\xdc") + opt(80) + b"\xff",
                       op=1, yiaddr="0.0.0.0", flags=0x8000)
    msg = decode(data)
    assert msg.op is Op.BOOTREQUEST
    assert msg.message_type is MessageType.DISCOVER
    assert msg.broadcast_flag
    assert msg.parameter_request_list == (1, 3, 6, 15, 119, 121)
    assert msg.client_id == b"\x01" + MAC
    assert msg.max_message_size == 1500
    assert msg.rapid_commit


@pytest.mark.parametrize("options", [
    opt(53, b"\x02"),  # OFFER
    opt(53, b"\x05"),  # ACK
])
def test_server_types_in_a_bootrequest_are_rejected(options: bytes) -> None:
    with pytest.raises(DecodeError, match="BOOTREQUEST"):
        decode(raw_message(options + b"\xff", op=1))


def test_client_types_in_a_bootreply_are_rejected() -> None:
    with pytest.raises(DecodeError, match="BOOTREPLY"):
        decode(raw_message(opt(53, b"\x01") + b"\xff", op=2))


def test_header_helper_is_240_octets() -> None:
    assert len(header()) == 240
