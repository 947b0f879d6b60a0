"""One test (at least) for every class in notes/hostile-dhcp-inputs.md, named after it.

Classes whose defence lives in the engine or netconf are tested here for the codec's half:
the codec hands the value over faithfully and bounded, never guessing."""

from __future__ import annotations

import struct
import time
from ipaddress import IPv4Address, IPv4Network

import pytest

from leasebox.core.wire import (
    DecodeError,
    EncodeError,
    Message,
    MessageType,
    Route,
    decode,
    decode_frame,
    encode,
    encode_frame,
)
from leasebox.core.wire.limits import MAX_MESSAGE_SIZE, MAX_OPTION_DATA
from tests.wire.builders import discover, request_selecting
from tests.wire.wire_samples import (
    MAC,
    SERVER,
    opt,
    raw_ack,
    raw_message,
    split_opt,
    typical_ack,
)


def test_option_length_runs_past_the_end_of_the_packet() -> None:
    for options in (opt(6, bytes(4), length=5), b"\x06", opt(6, b"", length=255),
                    opt(3, SERVER.packed) + b"\x0c\x08abc"):
        with pytest.raises(DecodeError, match=r"length octet|runs past the end"):
            decode(raw_ack(options, end=b"", pad_to=0))


@pytest.mark.parametrize("length", [0, 1, 2, 3, 5])
def test_fixed_size_option_with_the_wrong_length(length: int) -> None:
    # CVE-2019-5747 missed the subnet mask: dropped, never read past its end.
    msg = decode(raw_ack(opt(1, b"\xff" * length)))
    assert msg.subnet_mask is None
    assert msg.dropped == (1,)
    # ... and the server id of an ACK is needed: the message goes.
    with pytest.raises(DecodeError, match="option 54"):
        decode(raw_message(opt(53, b"\x05") + opt(54, b"\xc0" * length) + opt(51, bytes(4))
                           + b"\xff"))


def test_option_longer_than_the_structure_it_is_copied_into() -> None:
    msg = decode(raw_ack(opt(1, b"\xff" * 255), opt(26, b"\x05\xdc" * 100),
                         opt(108, bytes(255)), opt(12, b"a" * 255)))
    assert (msg.subnet_mask, msg.mtu, msg.ipv6_only_preferred, msg.hostname) == (
        None, None, None, None)
    assert msg.dropped == (1, 12, 26, 108)
    # a long option that is allowed to be long is still capped after concatenation
    pieces = [opt(61, b"\x01" * 255)] * (MAX_OPTION_DATA // 255 + 1)
    msg = decode(raw_ack(*pieces))
    assert msg.client_id is None and msg.dropped == (61,)


def test_option_52_overload_repeated_self_referencing_and_in_the_last_octet() -> None:
    ack = opt(53, b"\x05") + opt(54, SERVER.packed) + opt(51, bytes(4))
    with pytest.raises(DecodeError, match="option 52"):  # repeated
        decode(raw_message(ack + opt(52, b"\x03") + opt(52, b"\x03") + b"\xff"))
    msg = decode(raw_message(ack + opt(52, b"\x03") + b"\xff",  # self-referencing
                             file=opt(52, b"\x03") + b"\xff", sname=opt(52, b"\x01") + b"\xff"))
    assert msg.dropped == (52,)
    with pytest.raises(DecodeError):  # code in the last octet
        decode(raw_message(ack, pad_to=0) + b"\x34")


@pytest.mark.parametrize("data", [
    bytes.fromhex("02c0010001 41c001"),  # the CVE-2020-7461 PoC
    b"\x01a\xc0\x00",  # pointer loop
    b"\x01a\x00\xc0\x05",  # forward pointer
    b"\x01a\x00\xc0",  # pointer in the last octet
    b"\x3fa" + b"a" * 62 + b"\x00" + b"\x3f" + b"b" * 63 + b"\xc0\x00" + b"\x3f" + b"c" * 63
    + b"\xc0\x41" + b"\x3f" + b"d" * 63 + b"\xc0\x83",  # expansion past 255
])
def test_option_119_compression_pointer_loop_forward_last_octet_expansion(data: bytes) -> None:
    # CPU time, not the wall clock: a decode that loops or blows up takes seconds of it,
    # while a shared machine's stall can take 0.17 s of wall time from one that does not
    start = time.process_time()
    msg = decode(raw_ack(split_opt(119, data)))
    assert time.process_time() - start < 0.1
    assert msg.domain_search == ()
    assert msg.dropped == (119,)


@pytest.mark.parametrize("data", [
    b"\x21" + bytes(8),  # prefix 33
    b"\x18\xc6\x33",  # truncated destination
    b"\x00\xc0\x00\x02\x01\x00",  # trailing octet
])
def test_option_121_prefix_over_32_truncated_destination_trailing_bytes(data: bytes) -> None:
    msg = decode(raw_ack(opt(121, data)))
    assert msg.classless_routes is None
    assert msg.dropped == (121,)


def test_zero_length_options_pad_runs_missing_end_data_after_end() -> None:
    assert decode(raw_ack(opt(80), opt(121), opt(222))).unknown == ((222, b""),)
    assert decode(raw_ack(opt(1, bytes(0)))).dropped == (1,)  # zero length where not allowed
    # an empty address list is "none" (dnsmasq's router or DNS option without a value)
    assert decode(raw_ack(opt(3, bytes(0)), opt(6, bytes(0)))).dropped == ()
    assert decode(raw_ack(b"\0" * 500, opt(3, SERVER.packed))).routers == (SERVER,)
    assert decode(raw_ack(opt(3, SERVER.packed), end=b"", pad_to=0)).routers == (SERVER,)
    after = decode(raw_ack(end=b"\xff" + opt(3, SERVER.packed) + b"\x06\xff"))
    assert after.routers == ()


def test_rfc_3396_split_repeated_options() -> None:
    routes = b"\x18\xc6\x33\x64\xc0\x00\x02\x01"
    msg = decode(raw_ack(opt(121, routes[:3]), opt(3, SERVER.packed), opt(121, routes[3:])))
    assert msg.classless_routes == (Route(IPv4Network("198.51.100.0/24"), SERVER),)
    # concatenated first, then bounded and decoded as one value
    msg = decode(raw_ack(*[opt(6, b"\x01" * 252)] * 17))
    assert msg.dropped == (6,)


SHELL = [b"x;reboot", b"$(reboot)", b"`reboot`", b"x\nreboot", b"x\rreboot", b"-x",
         b"x\x00y", b"x|y", b"x&&y", b"'x'", b"x\x1b[2J", b"x y", b"x\\y"]
# Ordinary URI characters: after "https://host/" they are part of a path or query.
URI_SAFE = {b"-x", b"x&&y"}


@pytest.mark.parametrize("value", SHELL)
def test_shell_metacharacters_newlines_control_bytes_leading_dash_in_strings(
        value: bytes) -> None:
    search = bytes((len(value),)) + value + b"\x00"
    portal = b"https://portal.example/" + value
    msg = decode(raw_ack(opt(12, value), opt(15, value), opt(119, search), opt(114, portal),
                         opt(56, value + b"\x07")))
    # option 15 may be several names, one space between each (and the lease splits them)
    several = value == b"x y"
    assert (msg.hostname, msg.domain_name, msg.domain_search, msg.error_message) == (
        None, "x y" if several else None, (), None)
    dropped = {12, 15, 56, 119} - ({15} if several else set())
    if value in URI_SAFE:
        assert msg.captive_portal == portal.decode()
    else:
        assert msg.captive_portal is None
        dropped.add(114)
    assert msg.dropped == tuple(sorted(dropped))
    # and as a whole captive portal URI, a leading dash is not https
    assert decode(raw_ack(opt(114, value))).captive_portal is None


def test_echoing_server_data_into_outgoing_packets_without_a_size_check() -> None:
    # CVE-2018-15688: whatever a server said, every outgoing field is bounded at build time.
    with pytest.raises(EncodeError, match="hostname"):
        discover(1, MAC, hostname="a" * 300)
    with pytest.raises(EncodeError, match="hostname"):
        discover(1, MAC, hostname="evil;reboot")
    with pytest.raises(EncodeError, match="client_id"):
        discover(1, MAC, client_id=b"\x01" * (MAX_OPTION_DATA + 1))
    with pytest.raises(EncodeError, match="chaddr"):
        request_selecting(1, MAC * 3, server_id=SERVER, requested_ip=SERVER)
    with pytest.raises(EncodeError, match="unknown"):
        encode(typical_ack(unknown=tuple((c, bytes(255)) for c in range(160, 180))))


def test_forcerenew_type_9_without_authentication() -> None:
    # The codec decodes it (so the engine can log and ignore it), and nothing more.
    msg = decode(raw_message(opt(53, b"\x09") + opt(54, SERVER.packed) + b"\xff"))
    assert msg.message_type is MessageType.FORCERENEW


def test_the_clients_own_lease_file() -> None:
    # The lease file stores the encoded ACK and decodes it with the same strict codec: a
    # damaged copy is a DecodeError or a smaller, still-valid message, never a crash.
    good = encode(typical_ack())
    for i in range(0, len(good), 7):
        damaged = good[:i] + bytes((good[i] ^ 0xA5,)) + good[i + 1:]
        try:
            assert isinstance(decode(damaged), Message)
        except DecodeError:
            pass


@pytest.mark.parametrize(("lease", "t1", "t2"), [
    (3600, 3600, 1800), (3600, 1800, 7200), (0, 0, 0), (1, 1, 1),
    (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
])
def test_t1_over_t2_t2_over_lease_lease_0_tiny_infinite(lease: int, t1: int, t2: int) -> None:
    # Clamping is the engine's job; the codec hands the numbers over exactly.
    msg = decode(encode(typical_ack(lease_time=lease, renewal_time=t1, rebinding_time=t2)))
    assert (msg.lease_time, msg.renewal_time, msg.rebinding_time) == (lease, t1, t2)


def test_truncated_ipv4_udp_headers_bad_ihl_bad_checksums_fragments_wrong_ports() -> None:
    frame = encode_frame(encode(typical_ack()), src_mac=MAC, src_port=67, dst_port=68)
    assert decode_frame(frame).dst_port == 68
    bad = [
        frame[:14 + 19],  # truncated IPv4 header
        frame[:14 + 20 + 7],  # truncated UDP header
        frame[:14] + b"\x44" + frame[15:],  # IHL 4
        frame[:24] + b"\x00\x00" + frame[26:],  # IPv4 checksum
        frame[:40] + bytes((frame[40] ^ 1,)) + frame[41:],  # UDP checksum
        frame[:20] + b"\x20\x00" + frame[22:],  # MF set (and checksum now wrong too)
        encode_frame(b"x" * 300, src_mac=MAC, src_port=67, dst_port=67),  # wrong port
    ]
    for data in bad:
        with pytest.raises(DecodeError):
            decode_frame(data)


def test_wrong_xid_wrong_chaddr_offer_to_someone_else_ack_without_server_id() -> None:
    # The engine drops these; the codec must report xid, chaddr and a missing server id
    # exactly as sent, so the engine can tell.
    other = bytes.fromhex("02deadbeef00")
    msg = decode(raw_message(opt(53, b"\x05") + opt(51, bytes(4)) + b"\xff",
                             xid=0xDEADBEEF, chaddr=other))
    assert (msg.xid, msg.chaddr, msg.server_id) == (0xDEADBEEF, other, None)


def test_routes_that_pull_traffic_away() -> None:
    # TunnelVision (CVE-2024-3661) uses two /1 routes to beat a VPN's default route. Policy
    # (ignore, or a separate table) is netconf's; the codec must not hide or merge them.
    vpn_bypass = b"\x01\x00\xc0\x00\x02\x66" + b"\x01\x80\xc0\x00\x02\x66"
    msg = decode(raw_ack(opt(121, vpn_bypass)))
    gw = IPv4Address("192.0.2.102")
    assert msg.classless_routes == (Route(IPv4Network("0.0.0.0/1"), gw),
                                    Route(IPv4Network("128.0.0.0/1"), gw))


def test_floods_of_junk_frames() -> None:
    # The worst inputs for the decoder are the largest ones full of tiny options; even
    # those take a bounded, small time. (The e2e test floods a real link.)
    tiny = b"".join(opt(c, b"") for c in range(128, 254)) * 600
    worst = [
        raw_ack(tiny[: MAX_MESSAGE_SIZE - 260], pad_to=0),
        raw_ack(b"\x00" * (MAX_MESSAGE_SIZE - 260), pad_to=0),
        raw_ack(opt(119, (b"\x01a" + b"\xc0\x00") * 63), *[opt(6, b"\x01" * 252)] * 250),
        struct.pack("!B", 2) + bytes(MAX_MESSAGE_SIZE - 1),
    ]
    start = time.process_time()  # (CPU time: see above)
    for data in worst:
        try:
            decode(data)
        except DecodeError:
            pass
    assert time.process_time() - start < 1.0
