"""Differential tests against scapy (tests only: scapy is lenient by design, which is why
it is an oracle here and never a runtime dependency).

One way: scapy builds OFFER/ACK/NAK frames, our decoder reads them, the fields must match.
The other: our encoder builds frames, scapy dissects them (and recomputes both checksums),
the fields must match.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leasebox.core import record
from leasebox.core.wire import Message, MessageType, decode_frame_message, encode, encode_frame
from leasebox.core.wire.domain import encode_search_list
from leasebox.core.wire.options import SPECS
from tests.profiles import examples
from tests.wire.wire_strategies import addresses, hostnames, messages, route_tables

scapy_dhcp = pytest.importorskip("scapy.layers.dhcp")
scapy_inet = pytest.importorskip("scapy.layers.inet")
scapy_l2 = pytest.importorskip("scapy.layers.l2")
BOOTP, DHCP = scapy_dhcp.BOOTP, scapy_dhcp.DHCP
IP, UDP, Ether = scapy_inet.IP, scapy_inet.UDP, scapy_l2.Ether

MAC = bytes.fromhex("02005e100001")
SERVER_MAC = "02:00:5e:10:00:02"
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def scapy_frame(message_type: str, options: list[Any], *, xid: int = 0x11223344,
                yiaddr: str = "192.0.2.10", flags: int = 0, secs: int = 0) -> bytes:
    packet = (
        Ether(src=SERVER_MAC, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="192.0.2.1", dst="255.255.255.255")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, xid=xid, yiaddr=yiaddr, siaddr="192.0.2.1", chaddr=MAC, flags=flags,
                secs=secs)
        / DHCP(options=[("message-type", message_type), *options, "end"])
    )
    return bytes(packet)


def test_scapy_ack_with_everything() -> None:
    data = scapy_frame("ack", [
        ("server_id", "192.0.2.1"), ("lease_time", 86400), ("renewal_time", 43200),
        ("rebinding_time", 75600), ("subnet_mask", "255.255.255.0"),
        ("broadcast_address", "192.0.2.255"), ("router", "192.0.2.1", "192.0.2.2"),
        ("name_server", "192.0.2.53", "198.51.100.53"), ("domain", b"example.com"),
        ("hostname", b"client-1"), ("interface-mtu", 1500), ("NTP_server", "192.0.2.123"),
        ("classless_static_routes", "198.51.100.0/24:192.0.2.254", "0.0.0.0/0:192.0.2.1"),
        ("ipv6-only-preferred", 1800), ("captive-portal", b"https://portal.example/"),
        (119, encode_search_list(["example.com", "corp.example.com"])),
        ("vendor_specific", b"\x01\x02"),
    ], flags=0x8000, secs=5)
    frame, msg = decode_frame_message(data)
    assert str(frame.src_ip) == "192.0.2.1" and frame.src_port == 67
    assert msg.message_type is MessageType.ACK
    assert (msg.xid, msg.chaddr, msg.flags, msg.secs) == (0x11223344, MAC, 0x8000, 5)
    assert str(msg.yiaddr) == "192.0.2.10" and str(msg.siaddr) == "192.0.2.1"
    assert str(msg.server_id) == "192.0.2.1"
    assert (msg.lease_time, msg.renewal_time, msg.rebinding_time) == (86400, 43200, 75600)
    assert str(msg.subnet_mask) == "255.255.255.0"
    assert str(msg.broadcast_address) == "192.0.2.255"
    assert [str(a) for a in msg.routers] == ["192.0.2.1", "192.0.2.2"]
    assert [str(a) for a in msg.dns_servers] == ["192.0.2.53", "198.51.100.53"]
    assert msg.domain_name == "example.com" and msg.hostname == "client-1"
    assert msg.mtu == 1500 and [str(a) for a in msg.ntp_servers] == ["192.0.2.123"]
    assert [str(r) for r in msg.classless_routes or ()] == [
        "198.51.100.0/24 via 192.0.2.254", "0.0.0.0/0 via 192.0.2.1"]
    assert msg.ipv6_only_preferred == 1800
    assert msg.captive_portal == "https://portal.example/"
    assert msg.domain_search == ("example.com", "corp.example.com")
    assert msg.unknown == ((43, b"\x01\x02"),)
    assert msg.dropped == ()


def test_scapy_offer() -> None:
    _, msg = decode_frame_message(scapy_frame("offer", [
        ("server_id", "192.0.2.1"), ("lease_time", 600), ("subnet_mask", "255.255.0.0")]))
    assert msg.message_type is MessageType.OFFER
    assert msg.lease_time == 600 and str(msg.subnet_mask) == "255.255.0.0"


def test_scapy_nak() -> None:
    _, msg = decode_frame_message(scapy_frame("nak", [
        ("server_id", "192.0.2.1"), ("error_message", b"wrong network")], yiaddr="0.0.0.0"))
    assert msg.message_type is MessageType.NAK
    assert msg.error_message == "wrong network"


def test_scapy_unsafe_strings_are_dropped() -> None:
    _, msg = decode_frame_message(scapy_frame("ack", [
        ("server_id", "192.0.2.1"), ("lease_time", 600), ("hostname", b"x;reboot"),
        ("domain", b"$(id).example"), ("captive-portal", b"https://x/`id`")]))
    assert (msg.hostname, msg.domain_name, msg.captive_portal) == (None, None, None)
    assert msg.dropped == (12, 15, 114)


@settings(max_examples=examples(150), **SETTINGS)
@given(
    message_type=st.sampled_from(["offer", "ack", "nak"]),
    xid=st.integers(0, 2**32 - 1), yiaddr=addresses, server_id=addresses,
    lease=st.integers(0, 2**32 - 1), mask=st.integers(0, 32), routers=st.lists(addresses,
                                                                              max_size=5),
    dns=st.lists(addresses, min_size=1, max_size=5), domain=hostnames,
    mtu=st.integers(68, 0xFFFF), routes=route_tables(False),
)
def test_scapy_built_messages_decode_to_the_same_fields(
    *, message_type: str, xid: int, yiaddr: IPv4Address, server_id: IPv4Address, lease: int,
    mask: int, routers: list[IPv4Address], dns: list[IPv4Address], domain: str, mtu: int,
    routes: tuple[Any, ...],
) -> None:
    subnet = IPv4Address((0xFFFFFFFF << (32 - mask)) & 0xFFFFFFFF)
    options: list[Any] = [("server_id", str(server_id)), ("lease_time", lease),
                          ("subnet_mask", str(subnet)), ("name_server", *map(str, dns)),
                          ("domain", domain.encode()), ("interface-mtu", mtu)]
    if routers:
        options.append(("router", *map(str, routers)))
    if routes:
        options.append(("classless_static_routes",
                        *[f"{r.destination.network_address}/{r.destination.prefixlen}:"
                          f"{r.gateway}" for r in routes]))
    _, msg = decode_frame_message(scapy_frame(message_type, options, xid=xid,
                                              yiaddr=str(yiaddr)))
    assert msg.message_type is MessageType[message_type.upper()]
    assert (msg.xid, msg.yiaddr, msg.server_id, msg.lease_time) == (xid, yiaddr, server_id,
                                                                    lease)
    assert msg.subnet_mask == subnet and msg.dns_servers == tuple(dns)
    assert msg.routers == tuple(routers) and msg.domain_name == domain and msg.mtu == mtu
    assert msg.classless_routes == (routes or None)
    assert msg.dropped == ()


# ---- the other way: our frames dissected by scapy ---------------------------------------

ADDRESS_OPTIONS = {"subnet_mask": "subnet_mask", "broadcast_address": "broadcast_address",
                   "requested_addr": "requested_ip", "server_id": "server_id"}
LIST_OPTIONS = {"router": "routers", "name_server": "dns_servers", "NTP_server": "ntp_servers"}
INT_OPTIONS = {"lease_time": "lease_time", "renewal_time": "renewal_time",
               "rebinding_time": "rebinding_time", "interface-mtu": "mtu",
               "max_dhcp_size": "max_message_size", "ipv6-only-preferred": "ipv6_only_preferred"}
RAW_OPTIONS = {"vendor_class_id": "vendor_class_id", "client_id": "client_id",
               "client_FQDN": "client_fqdn"}
TEXT_OPTIONS = {"hostname": "hostname", "domain": "domain_name", "error_message": "error_message",
                "captive-portal": "captive_portal"}


def compare_with_scapy(msg: Message, frame: bytes) -> None:
    packet = Ether(frame)
    bootp = packet[BOOTP]
    assert (bootp.op, bootp.xid, bootp.secs, int(bootp.flags), bootp.hops) == (
        msg.op, msg.xid, msg.secs, msg.flags, msg.hops)
    assert (bootp.htype, bootp.hlen, bootp.chaddr[: bootp.hlen]) == (
        msg.htype, len(msg.chaddr), msg.chaddr)
    assert [bootp.ciaddr, bootp.yiaddr, bootp.siaddr, bootp.giaddr] == [
        str(msg.ciaddr), str(msg.yiaddr), str(msg.siaddr), str(msg.giaddr)]
    assert bootp.sname.rstrip(b"\0") == msg.sname and bootp.file.rstrip(b"\0") == msg.file
    seen: set[str] = set()
    for option in packet[DHCP].options:
        if option in ("end", "pad"):
            continue
        assert isinstance(option, tuple), f"scapy could not parse {option!r}"
        name, *values = option
        seen.add(name)
        if name == "message-type":
            assert values == [msg.message_type]
        elif name in ADDRESS_OPTIONS:
            assert values == [str(getattr(msg, ADDRESS_OPTIONS[name]))]
        elif name in LIST_OPTIONS:
            assert values == [str(a) for a in getattr(msg, LIST_OPTIONS[name])]
        elif name in INT_OPTIONS:
            assert values == [getattr(msg, INT_OPTIONS[name])]
        elif name in RAW_OPTIONS:
            assert values == [getattr(msg, RAW_OPTIONS[name])]
        elif name in TEXT_OPTIONS:
            assert values == [getattr(msg, TEXT_OPTIONS[name]).encode()]
        elif name == "param_req_list":
            assert values == [list(msg.parameter_request_list)]
        elif name == "rapid_commit":
            assert msg.rapid_commit and values == [b""]
        elif name == "classless_static_routes":
            assert values == [[f"{r.destination.network_address}/{r.destination.prefixlen}:"
                               f"{r.gateway}" for r in msg.classless_routes or ()]]
        elif name == 119:
            assert values == [encode_search_list(msg.domain_search)]
        else:
            code = name if isinstance(name, int) else scapy_dhcp.DHCPRevOptions[name][0]
            assert (code, values[0]) in msg.unknown, option
    # and scapy saw exactly the options the Message has, no more, no fewer
    seen_codes = {n if isinstance(n, int) else scapy_dhcp.DHCPRevOptions[n][0] for n in seen}
    expected = {code for code, spec in SPECS.items() if spec.present(getattr(msg, spec.field))}
    assert seen_codes == expected | {code for code, _ in msg.unknown}
    # scapy recomputes both checksums when they are deleted; ours must match.
    ip_sum, udp_sum = packet[IP].chksum, packet[UDP].chksum
    del packet[IP].chksum
    del packet[UDP].chksum
    again = Ether(bytes(packet))
    assert (again[IP].chksum, again[UDP].chksum) == (ip_sum, udp_sum)


def scapy_keeps_raw(code: int) -> bool:
    """Codes scapy shows as raw bytes. For the others it has a typed field, and parses
    what to us is an opaque unknown option its own way."""
    return not hasattr(scapy_dhcp.DHCPOptions.get(code), "getfield")


@settings(max_examples=examples(200), **SETTINGS)
@given(messages(long_options=False))
def test_our_frames_dissect_identically_in_scapy(msg: Message) -> None:
    msg = record.replace(msg, unknown=tuple(
        (code, value) for code, value in msg.unknown if scapy_keeps_raw(code)))
    frame = encode_frame(encode(msg), src_mac=MAC, src_ip=IPv4Address("192.0.2.1"),
                         dst_ip=IPv4Address("192.0.2.10"), src_port=67, dst_port=68)
    compare_with_scapy(msg, frame)
