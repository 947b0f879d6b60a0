"""The BOOTREQUEST check and the broadcast frame builder (checksums checked by scapy)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from leasebox.io.packet import (
    bootrequest_fault,
    broadcast_frame,
    checksum,
    clear_udp_checksum,
    destination_fault,
    source_fault,
)
from tests.io.iolab import MAC, bootrequest


def test_good_bootrequest_passes() -> None:
    assert bootrequest_fault(bytes(bootrequest()), MAC) is None
    assert bootrequest_fault(bytes(bootrequest(size=240)), MAC) is None
    assert bootrequest_fault(bytes(bootrequest(size=1472)), MAC) is None


@pytest.mark.parametrize(("offset", "value", "why"), [
    (0, 2, "op"),  # BOOTREPLY
    (1, 6, "htype"),  # IEEE 802
    (2, 16, "hlen"),
    (28, 0x03, "chaddr"),  # another MAC
    (33, 0x00, "chaddr"),
    (34, 0x01, "padding"),  # chaddr beyond the MAC
    (43, 0xFF, "padding"),
    (236, 0x00, "cookie"),
    (239, 0x64, "cookie"),
])
def test_each_bad_field_is_refused(offset: int, value: int, why: str) -> None:
    p = bootrequest()
    p[offset] = value
    fault = bootrequest_fault(bytes(p), MAC)
    assert fault is not None, why


@pytest.mark.parametrize("size", [0, 1, 239, 1473, 9000])
def test_bad_length_is_refused(size: int) -> None:
    p = bootrequest(size=max(size, 244))[:size]
    assert bootrequest_fault(bytes(p), MAC) is not None


def test_other_mac_is_refused() -> None:
    assert bootrequest_fault(bytes(bootrequest()), bytes.fromhex("020000001002")) is not None


@pytest.mark.parametrize(("address", "ok"), [
    ("0.0.0.0", True), ("192.0.2.7", True), ("10.1.2.3", True),
    ("255.255.255.255", False), ("224.0.0.1", False), ("127.0.0.1", False),
])
def test_source_addresses(address: str, ok: bool) -> None:
    assert (source_fault(IPv4Address(address)) is None) == ok


@pytest.mark.parametrize(("address", "ok"), [
    ("192.0.2.1", True), ("0.0.0.0", False), ("255.255.255.255", False),
    ("239.1.1.1", False), ("127.0.0.53", False),
])
def test_destination_addresses(address: str, ok: bool) -> None:
    assert (destination_fault(IPv4Address(address)) is None) == ok


def test_checksum_known_values() -> None:
    # RFC 1071 section 3's example words, and the all-zero / odd-length cases.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF
    assert checksum(b"") == 0xFFFF
    assert checksum(b"\x01") == ~0x0100 & 0xFFFF


def _scapy_checksums(frame: bytes) -> tuple[int, int, int, int]:
    """(ip, udp) checksums as sent, and as scapy computes them from scratch."""
    pkt = Ether(frame)
    sent_ip, sent_udp = pkt[IP].chksum, pkt[UDP].chksum
    del pkt[IP].chksum
    del pkt[UDP].chksum
    fresh = Ether(bytes(pkt))
    return sent_ip, fresh[IP].chksum, sent_udp, fresh[UDP].chksum


@given(payload=st.binary(min_size=240, max_size=1472),
       source=st.sampled_from(["0.0.0.0", "192.0.2.77", "10.255.0.1"]))
def test_frame_checksums_match_scapy(payload: bytes, source: str) -> None:
    frame = broadcast_frame(MAC, IPv4Address(source), payload)
    sent_ip, want_ip, sent_udp, want_udp = _scapy_checksums(frame)
    assert sent_ip == want_ip
    assert sent_udp == want_udp


def test_frame_fields() -> None:
    payload = bytes(bootrequest())
    frame = broadcast_frame(MAC, IPv4Address("192.0.2.77"), payload)
    pkt = Ether(frame)
    assert pkt.dst == "ff:ff:ff:ff:ff:ff"
    assert pkt.src == "02:00:00:00:10:01"
    assert pkt.type == 0x0800
    assert (pkt[IP].version, pkt[IP].ihl, pkt[IP].proto, pkt[IP].flags, pkt[IP].frag) == (
        4, 5, 17, 0, 0)
    assert (pkt[IP].src, pkt[IP].dst, pkt[IP].len) == ("192.0.2.77", "255.255.255.255",
                                                       20 + 8 + len(payload))
    assert (pkt[UDP].sport, pkt[UDP].dport, pkt[UDP].len) == (68, 67, 8 + len(payload))
    assert bytes(pkt[UDP].payload) == payload
    assert len(frame) == 14 + 20 + 8 + len(payload)


def test_zero_udp_checksum_is_sent_as_ffff() -> None:
    # Find a payload whose UDP checksum computes to 0: vary two bytes until it does.
    base = bytearray(bootrequest())
    for i in range(1 << 16):
        base[300 - 2:300] = i.to_bytes(2, "big")
        frame = broadcast_frame(MAC, IPv4Address("0.0.0.0"), bytes(base))
        if frame[40:42] == b"\xff\xff":
            break
    else:
        pytest.fail("no payload with a zero UDP checksum found")
    assert _scapy_checksums(frame)[3] == 0xFFFF  # scapy maps a computed 0 the same way


def test_clear_udp_checksum() -> None:
    frame = bytearray(broadcast_frame(MAC, IPv4Address(0), bytes(bootrequest())))
    assert frame[40:42] != b"\0\0"
    clear_udp_checksum(frame)
    assert frame[40:42] == b"\0\0"
    assert Ether(bytes(frame))[UDP].chksum == 0
    assert Ether(bytes(frame))[IP].chksum == _scapy_checksums(bytes(frame))[1]  # IP intact


@given(st.binary(max_size=80))
def test_clear_udp_checksum_stays_inside_any_frame(data: bytes) -> None:
    frame = bytearray(data)
    clear_udp_checksum(frame)
    assert len(frame) == len(data)
