"""Every option's length and value rules, the drop-or-reject policy, RFC 3396
concatenation, unknown options, and the framing corner cases (pad, END, missing END)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from leasebox.core.wire import DecodeError, Message, MessageType, Route, decode
from leasebox.core.wire.limits import MAX_OPTION_DATA, MAX_UNKNOWN_BYTES, MAX_UNKNOWN_OPTIONS
from tests.wire.wire_samples import SERVER, opt, raw_ack, raw_message

REQUEST = opt(53, b"\x03")


def request_with(*options: bytes) -> Message:
    """A client REQUEST carrying `options`: no option is required in it, so a bad one is
    dropped, never fatal."""
    return decode(raw_message(REQUEST + b"".join(options) + b"\xff", op=1))


# code, Message field, value that decodes, what it decodes to
VALID: list[tuple[int, str, bytes, Any]] = [
    (1, "subnet_mask", b"\xff\xff\xff\x00", IPv4Address("255.255.255.0")),
    (1, "subnet_mask", b"\x00\x00\x00\x00", IPv4Address("0.0.0.0")),
    (1, "subnet_mask", b"\xff\xff\xff\xff", IPv4Address("255.255.255.255")),
    (3, "routers", b"\xc0\x00\x02\x01", (IPv4Address("192.0.2.1"),)),
    (6, "dns_servers", bytes(range(8)), (IPv4Address("0.1.2.3"), IPv4Address("4.5.6.7"))),
    (12, "hostname", b"host-1", "host-1"),
    (15, "domain_name", b"example.com", "example.com"),
    (26, "mtu", b"\x00\x44", 68),
    (26, "mtu", b"\xff\xff", 65535),
    (28, "broadcast_address", b"\xc0\x00\x02\xff", IPv4Address("192.0.2.255")),
    (42, "ntp_servers", b"\xc0\x00\x02\x7b" * 3, (IPv4Address("192.0.2.123"),) * 3),
    (50, "requested_ip", b"\xc0\x00\x02\x0a", IPv4Address("192.0.2.10")),
    (51, "lease_time", b"\xff\xff\xff\xff", 0xFFFFFFFF),
    (51, "lease_time", b"\x00\x00\x00\x00", 0),
    (54, "server_id", b"\xc0\x00\x02\x01", IPv4Address("192.0.2.1")),
    (55, "parameter_request_list", b"\x01\x03\x06", (1, 3, 6)),
    (56, "error_message", b"no leases left", "no leases left"),
    (57, "max_message_size", b"\x02\x40", 576),
    (58, "renewal_time", b"\x00\x00\x0e\x10", 3600),
    (59, "rebinding_time", b"\x00\x00\x1c\x20", 7200),
    (60, "vendor_class_id", b"x", b"x"),
    (61, "client_id", b"\x01\x02", b"\x01\x02"),
    (80, "rapid_commit", b"", True),
    (81, "client_fqdn", b"\x00\x00\x00", b"\x00\x00\x00"),
    (108, "ipv6_only_preferred", b"\x00\x00\x07\x08", 1800),
    (114, "captive_portal", b"https://portal.example/", "https://portal.example/"),
    (119, "domain_search", b"\x07example\x03com\x00", ("example.com",)),
    (121, "classless_routes", b"\x00\xc0\x00\x02\x01", (Route(IPv4Network("0.0.0.0/0"),
                                                           IPv4Address("192.0.2.1")),)),
]

# code, Message field, a value the option's rules reject
INVALID: list[tuple[int, str, bytes]] = (
    [(code, field, bytes(n)) for code, field in [
        (1, "subnet_mask"), (28, "broadcast_address"), (50, "requested_ip"),
        (51, "lease_time"), (54, "server_id"), (58, "renewal_time"),
        (59, "rebinding_time"), (108, "ipv6_only_preferred")]
     for n in (0, 1, 2, 3, 5, 8)]
    + [(code, field, bytes(n)) for code, field in [
        (3, "routers"), (6, "dns_servers"), (42, "ntp_servers")]
       for n in (1, 2, 3, 5, 6, 7, 9)]  # 0: "none" (test_wire_hostile)
    + [(code, field, b"\x05\xdc"[:n] + b"\x00" * max(0, n - 2)) for code, field in [
        (26, "mtu"), (57, "max_message_size")] for n in (0, 1, 3, 4)]
    + [
        (1, "subnet_mask", b"\xff\x00\xff\x00"),  # not contiguous
        (1, "subnet_mask", b"\x00\x00\x00\xff"),
        (26, "mtu", b"\x00\x43"),  # 67 < 68
        (57, "max_message_size", b"\x02\x3f"),  # 575 < 576
        (12, "hostname", b""),
        (15, "domain_name", b""),
        (55, "parameter_request_list", b""),
        (56, "error_message", b""),
        (60, "vendor_class_id", b""),
        (61, "client_id", b""),
        (61, "client_id", b"\x01"),
        (80, "rapid_commit", b"\x01"),
        (81, "client_fqdn", b""),
        (81, "client_fqdn", b"\x00\x00"),
        (114, "captive_portal", b""),
        (119, "domain_search", b""),
        (121, "classless_routes", b""),  # RFC 3442: at least 5 octets
        (121, "classless_routes", b"\x00"),
        (121, "classless_routes", b"\x00\x01\x02\x03"),
    ]
)


@pytest.mark.parametrize(("code", "field", "value", "expected"), VALID)
def test_option_valid(code: int, field: str, value: bytes, expected: Any) -> None:
    msg = request_with(opt(code, value))
    assert getattr(msg, field) == expected
    assert msg.dropped == ()


@pytest.mark.parametrize(("code", "field", "value"), INVALID)
def test_option_invalid_is_dropped(code: int, field: str, value: bytes) -> None:
    msg = request_with(opt(code, value))
    assert getattr(msg, field) in (None, (), False)
    assert msg.dropped == (code,)


def test_a_dropped_option_leaves_the_others() -> None:
    msg = request_with(opt(1, b"\xff"), opt(3, SERVER.packed), opt(26, b"\x00"))
    assert msg.routers == (SERVER,)
    assert msg.dropped == (1, 26)
    # each one said, by number and name, with the codec's reason (nothing of the value)
    assert msg.drop_reasons == ("option 1 (subnet mask): length 1, must be 4",
                                "option 26 (mtu): length 1, must be 2")


def test_a_name_with_an_underscore_is_dropped_with_its_reason() -> None:
    msg = request_with(opt(15, b"corp_lan.example"), opt(114, b'"https://portal.example/"'))
    assert msg.domain_name is None and msg.captive_portal is None
    assert msg.dropped == (15, 114)
    assert msg.drop_reasons[0].startswith("option 15 (domain name): not an RFC 1123 name")
    assert msg.drop_reasons[1].startswith("option 114 (captive portal): ")
    assert all("corp_lan" not in why and '"' not in why for why in msg.drop_reasons)


# ---- the policy: options a message cannot be understood without ------------------------


@pytest.mark.parametrize("message_type", [2, 5, 6])  # OFFER ACK NAK
def test_bad_server_id_rejects_server_messages(message_type: int) -> None:
    data = raw_message(opt(53, bytes([message_type])) + opt(54, b"\xc0\x00\x02")
                       + opt(51, bytes(4)) + b"\xff")
    with pytest.raises(DecodeError, match="option 54"):
        decode(data)


@pytest.mark.parametrize("message_type", [2, 5])  # OFFER ACK
def test_bad_lease_time_rejects_offer_and_ack(message_type: int) -> None:
    data = raw_message(opt(53, bytes([message_type])) + opt(54, SERVER.packed)
                       + opt(51, b"\x00\x00") + b"\xff")
    with pytest.raises(DecodeError, match="option 51"):
        decode(data)


def test_bad_lease_time_in_nak_is_only_dropped() -> None:
    msg = decode(raw_message(opt(53, b"\x06") + opt(54, SERVER.packed) + opt(51, b"\x00")
                             + b"\xff"))
    assert msg.lease_time is None
    assert msg.dropped == (51,)


def test_absent_server_id_is_left_to_the_engine() -> None:
    # Missing is not malformed: the codec reports it faithfully, the engine ignores the ACK.
    msg = decode(raw_message(opt(53, b"\x05") + b"\xff"))
    assert msg.message_type is MessageType.ACK
    assert msg.server_id is None
    assert msg.lease_time is None


@pytest.mark.parametrize("value", [b"", b"\x05\x05", b"\x00", b"\x0a", b"\xff"])
def test_bad_message_type_rejects_the_message(value: bytes) -> None:
    with pytest.raises(DecodeError, match="option 53"):
        decode(raw_message(opt(53, value) + b"\xff"))


def test_repeated_message_type_is_one_value_or_rejected() -> None:
    """The same copy twice is that type; two different ones cannot be guessed between."""
    assert decode(raw_message(opt(53, b"\x05") + opt(53, b"\x05") + b"\xff")).message_type \
        is MessageType.ACK
    with pytest.raises(DecodeError, match="option 53"):
        decode(raw_message(opt(53, b"\x05") + opt(53, b"\x06") + b"\xff"))


# ---- safe strings --------------------------------------------------------------------------

HOSTILE_NAMES = [
    b"foo;reboot", b"-oProxyCommand=x", b"a\nb", b"$(id)", b"`id`", b"a b", b"foo_bar",
    b"a..b", b".a", b"a-", b"-a", b"x" * 64, b"a." * 126 + b"ab", b"caf\xc3\xa9", b"bell\x07",
    b"a'b", b'a"b', b"a\\b", b"a|b", b"a&b", b"a>b", b"a\0b", b"..", b".", b"\0",
]


@pytest.mark.parametrize("code", [12, 15])
@pytest.mark.parametrize("value", HOSTILE_NAMES + [b"good.example $(id)", b"a\tb", b" "])
def test_unsafe_names_are_dropped(code: int, value: bytes) -> None:
    if code == 15 and value == b"a b":
        return  # two names: see test_several_domain_names
    msg = request_with(opt(code, value))
    assert msg.hostname is None and msg.domain_name is None
    assert msg.dropped == (code,)


@pytest.mark.parametrize(("value", "expected"), [
    (b"ec2.internal corp.example.com", "ec2.internal corp.example.com"),  # AWS option sets
    (b"a.example.  b.example. \0", "a.example b.example"),
    (b"example.com .", "example.com"),  # the root alone is no name (as in option 119)
])
def test_several_domain_names(value: bytes, expected: str) -> None:
    """Option 15 with several names (AWS, ISC's option domain-name "a b"): kept, each
    checked; the lease takes the first as the domain and the others as the search list."""
    assert request_with(opt(15, value)).domain_name == expected
    assert request_with(opt(12, value)).hostname is None  # a host has one name


@pytest.mark.parametrize(("value", "expected"), [
    (b"example.com", "example.com"),
    (b"Example-1.COM", "Example-1.COM"),
    (b"example.com.", "example.com"),  # fully qualified spelling
    (b"host\0\0", "host"),  # RFC 2132 2: trailing NULs are deleted
    (b"123.example", "123.example"),
    (b"a" * 63 + b".b", "a" * 63 + ".b"),
    (b"a." * 126 + b"a", "a." * 126 + "a"),  # 253 characters
])
def test_safe_names(value: bytes, expected: str) -> None:
    assert request_with(opt(15, value)).domain_name == expected


@pytest.mark.parametrize("value", [
    b"http://portal.example/", b"https://", b"https:///path", b"https://x/a b",
    b"https://x/'", b'https://x/"', b"https://x/\\", b"https://x/;reboot", b"https://x/$HOME",
    b"https://x/`id`", b"https://x/\n", b"https://x/\x1b[2J", b"https://x/%zz",
    b"javascript:alert(1)", b"https://x/<script>", b"https://x/{a}", b"https://x/\xff",
    b"file:///etc/passwd", b"-https://x/",
])
def test_unsafe_captive_portal_is_dropped(value: bytes) -> None:
    msg = request_with(opt(114, value))
    assert msg.captive_portal is None
    assert msg.dropped == (114,)


@pytest.mark.parametrize("value", [
    b"https://portal.example.com/login?id=1&x=2", b"https://[2001:db8::1]/",
    b"https://a.example:8443/p%20q#frag", b"https://a.example",
])
def test_safe_captive_portal(value: bytes) -> None:
    assert request_with(opt(114, value)).captive_portal == value.decode()


def test_captive_portal_unrestricted_urn_means_none() -> None:
    msg = request_with(opt(114, b"urn:ietf:params:capport:unrestricted"))
    assert msg.captive_portal is None
    assert msg.dropped == ()


@pytest.mark.parametrize("value", [b"a\nb", b"\x1b[31mred", b"caf\xe9", b"tab\there", b"\x7f"])
def test_unsafe_message_text_is_dropped(value: bytes) -> None:
    msg = request_with(opt(56, value))
    assert msg.error_message is None
    assert msg.dropped == (56,)


# ---- RFC 3396 concatenation -------------------------------------------------------------


def test_split_address_list_is_concatenated() -> None:
    msg = request_with(opt(6, bytes([192, 0, 2, 1, 192])), opt(6, bytes([0, 2, 2])))
    assert msg.dns_servers == (IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"))


def test_split_fixed_option_is_concatenated() -> None:
    assert request_with(opt(1, b"\xff\xff"), opt(1, b"\xff\x00")).subnet_mask == IPv4Address(
        "255.255.255.0")


def test_repeated_different_fixed_option_has_the_wrong_length() -> None:
    msg = request_with(opt(1, b"\xff\xff\xff\x00"), opt(1, b"\xff\xff\x00\x00"))
    assert msg.subnet_mask is None
    assert msg.dropped == (1,)


def test_a_fixed_option_repeated_as_the_same_copy_is_that_value() -> None:
    """dnsmasq configured with dhcp-option=54 sends option 54 twice when asked for it (as
    nettools' n-dhcp4 found with NetworkManager): the one value, not the wrong length, so
    the OFFER, ACK or NAK is not refused for it. Only whole copies of one size count."""
    server = opt(54, bytes([192, 0, 2, 1]))
    lease_time = opt(51, (3600).to_bytes(4, "big"))
    for copies in ((server, server), (server, server, server)):
        msg = decode(raw_message(opt(53, b"\x02") + b"".join(copies) + lease_time * 2
                                 + opt(1, b"\xff\xff\xff\x00") * 2 + b"\xff"))
        assert msg.server_id == IPv4Address("192.0.2.1") and msg.lease_time == 3600
        assert msg.subnet_mask == IPv4Address("255.255.255.0") and msg.dropped == ()
    with pytest.raises(DecodeError, match="option 54"):  # two different server ids
        decode(raw_message(opt(53, b"\x02") + server + opt(54, bytes([192, 0, 2, 9]))
                           + lease_time + b"\xff"))
    # a variable-length option repeated is still one list, as RFC 3396 says
    msg = request_with(opt(6, bytes([192, 0, 2, 1])), opt(6, bytes([192, 0, 2, 1])))
    assert msg.dns_servers == (IPv4Address("192.0.2.1"),) * 2


def test_long_option_over_many_pieces() -> None:
    addresses = bytes(range(4)) * 200  # 800 octets, 4 pieces
    pieces = [opt(6, addresses[i : i + 255]) for i in range(0, 800, 255)]
    assert len(request_with(*pieces).dns_servers) == 200


def test_concatenation_is_bounded() -> None:
    piece = bytes(252)
    pieces = [opt(6, piece)] * (MAX_OPTION_DATA // 252 + 1)
    msg = request_with(*pieces)
    assert msg.dns_servers == ()
    assert msg.dropped == (6,)


# ---- unknown options --------------------------------------------------------------------


def test_unknown_options_are_kept_raw_in_code_order() -> None:
    msg = request_with(opt(224, b"b"), opt(43, b"vendor"), opt(200))
    assert msg.unknown == ((43, b"vendor"), (200, b""), (224, b"b"))


def test_unknown_options_are_bounded_in_count() -> None:
    codes = [c for c in range(128, 254)][: MAX_UNKNOWN_OPTIONS + 5]
    msg = request_with(*(opt(c, b"x") for c in codes))
    assert [c for c, _ in msg.unknown] == codes[:MAX_UNKNOWN_OPTIONS]
    assert msg.dropped == tuple(codes[MAX_UNKNOWN_OPTIONS:])


def test_unknown_options_are_bounded_in_size() -> None:
    big = bytes(255)
    codes = list(range(128, 128 + MAX_UNKNOWN_BYTES // 255 + 2))
    msg = request_with(*(opt(c, big) for c in codes))
    assert sum(len(v) for _, v in msg.unknown) <= MAX_UNKNOWN_BYTES
    assert msg.dropped and set(msg.dropped) | {c for c, _ in msg.unknown} == set(codes)


# ---- framing: pad, END, missing END, data after END --------------------------------------


def test_pad_runs_anywhere() -> None:
    msg = decode(raw_message(b"\0" * 50 + opt(53, b"\x05") + b"\0" * 7 + opt(54, SERVER.packed)
                             + b"\0" + opt(51, bytes(4)) + b"\0" * 3 + b"\xff"))
    assert msg.server_id == SERVER


def test_missing_end_is_accepted_when_the_last_option_is_whole() -> None:
    data = raw_ack(opt(3, SERVER.packed), end=b"", pad_to=0)
    assert decode(data).routers == (SERVER,)


def test_data_after_end_is_not_read() -> None:
    # Garbage after END, including an option that would run past the end: ignored.
    data = raw_ack(end=b"\xff" + opt(1, b"\x00") + b"\x03\xff", pad_to=0)
    msg = decode(data)
    assert msg.subnet_mask is None
    assert msg.dropped == ()


def test_code_without_length_octet_is_structural() -> None:
    with pytest.raises(DecodeError, match="no length octet"):
        decode(raw_ack(opt(3, SERVER.packed), end=b"\x03", pad_to=0))


def test_option_running_past_the_end_is_structural() -> None:
    with pytest.raises(DecodeError, match="runs past the end"):
        decode(raw_ack(opt(3, SERVER.packed, length=8), end=b"", pad_to=0))


def test_zero_length_unknown_and_flag_options() -> None:
    msg = request_with(opt(80), opt(250), opt(121))
    assert msg.rapid_commit
    assert msg.unknown == ((250, b""),)
    assert msg.classless_routes is None and 121 in msg.dropped  # RFC 3442: at least 5 octets
