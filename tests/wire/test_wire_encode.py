"""encode: canonical layout, RFC 3396 splitting, padding, and refusing what decode would
not give back unchanged."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from leasebox.core import record
from leasebox.core.wire import (
    MAGIC_COOKIE,
    EncodeError,
    Message,
    MessageType,
    Op,
    Route,
    decode,
    encode,
)
from leasebox.core.wire.limits import MAX_OPTION_DATA, MAX_UNKNOWN_OPTIONS
from tests.wire.wire_samples import MAC, typical_ack


def walk(data: bytes) -> list[tuple[int, bytes]]:
    """The options of an encoded message, in order, up to END (test-side reader)."""
    out, pos = [], 240
    while data[pos] != 255:
        code, length = data[pos], data[pos + 1]
        out.append((code, data[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    return out


def test_layout() -> None:
    data = encode(typical_ack())
    assert data[236:240] == MAGIC_COOKIE
    codes = [code for code, _ in walk(data)]
    assert codes[0] == 53
    assert codes[1:] == sorted(codes[1:])
    assert 0 not in codes


def test_padded_to_the_bootp_minimum() -> None:
    small = Message(op=Op.BOOTREQUEST, xid=1, chaddr=MAC)
    data = encode(small)
    assert len(data) == 300
    assert data[240] == 255 and data[241:] == bytes(59)


def test_deterministic() -> None:
    assert encode(typical_ack()) == encode(typical_ack())


def test_unknown_options_go_into_place_in_code_order() -> None:
    msg = typical_ack(unknown=((43, b"v"), (250, b"z")))
    codes = [code for code, _ in walk(encode(msg))]
    assert codes.index(43) < codes.index(51) and codes[-1] == 250
    assert decode(encode(msg)) == msg
    # decode gives them in code order: given in another, they would not come back equal
    with pytest.raises(EncodeError, match="not in code order"):
        encode(typical_ack(unknown=((250, b"z"), (43, b"v"))))


def test_a_search_list_that_decodes_to_nothing_is_refused() -> None:
    """Compression fits 40 names sharing a long suffix into 420 octets, but written out
    they pass the decoder's 4096-octet bound, and it would drop the option."""
    suffix = ".".join(["s" * 60] * 3)
    names = tuple(f"n{i}.{suffix}" for i in range(40))
    with pytest.raises(EncodeError, match="expand to more than"):
        encode(typical_ack(domain_search=names))
    assert decode(encode(typical_ack(domain_search=names[:20]))).domain_search == names[:20]


def test_long_options_are_split_per_rfc_3396() -> None:
    servers = tuple(IPv4Address(i) for i in range(1, 101))  # 400 octets
    data = encode(typical_ack(dns_servers=servers))
    pieces = [value for code, value in walk(data) if code == 6]
    assert [len(p) for p in pieces] == [255, 145]
    assert decode(data).dns_servers == servers


def test_zero_values_are_present() -> None:
    msg = typical_ack(lease_time=0, renewal_time=0)
    assert decode(encode(msg)) == msg
    assert (51, b"\0\0\0\0") in walk(encode(msg))


def test_an_empty_route_table_cannot_be_encoded() -> None:
    # option 121 has no empty form on the wire (RFC 3442: at least 5 octets)
    with pytest.raises(EncodeError):
        encode(typical_ack(classless_routes=()))


def test_empty_lists_are_absent() -> None:
    msg = typical_ack(routers=(), domain_search=(), parameter_request_list=())
    codes = {code for code, _ in walk(encode(msg))}
    assert not codes & {3, 55, 119}


def test_round_trip_of_every_field() -> None:
    msg = typical_ack(
        hops=3, secs=7, flags=0x8000, ciaddr=IPv4Address("192.0.2.77"),
        giaddr=IPv4Address("192.0.2.200"), sname=b"server", file=b"boot/file",
        requested_ip=IPv4Address("192.0.2.10"), parameter_request_list=(1, 3, 6, 255, 0),
        error_message="ok", max_message_size=1500, vendor_class_id=b"leasebox",
        client_id=b"\x01" + MAC, rapid_commit=True, client_fqdn=b"\x01\x00\x00host",
        ipv6_only_preferred=1800, captive_portal="https://portal.example/?a=b&c=d",
        unknown=((43, b"\x01\x02"), (224, b"")),
    )
    assert decode(encode(msg)) == msg


REFUSED: list[tuple[str, object]] = [
    ("op", 1), ("op", 3), ("xid", -1), ("xid", 2**32), ("xid", True), ("secs", 65536),
    ("flags", -1), ("hops", 256), ("htype", 0), ("htype", 256), ("chaddr", bytes(17)),
    ("chaddr", bytes(5)), ("chaddr", "02:00:00:00:00:01"), ("ciaddr", "192.0.2.1"),
    ("yiaddr", None), ("sname", bytes(65)), ("sname", b"a\0b"), ("file", bytes(129)),
    ("file", "boot"), ("message_type", 5), ("message_type", MessageType.DISCOVER),
    ("subnet_mask", IPv4Address("255.0.255.0")), ("subnet_mask", "255.255.255.0"),
    ("routers", [IPv4Address(1)]), ("routers", ("192.0.2.1",)),
    ("dns_servers", (IPv4Address(1),) * (MAX_OPTION_DATA // 4 + 1)),
    ("hostname", "evil;reboot"), ("hostname", ""), ("hostname", "a" * 254),
    ("domain_name", "example.com."), ("domain_name", b"example.com"), ("mtu", 67),
    ("mtu", 65536), ("broadcast_address", 0), ("lease_time", -1), ("lease_time", 2**32),
    ("renewal_time", 1.5), ("parameter_request_list", (256,)),
    ("parameter_request_list", [1, 3]), ("error_message", "a\nb"), ("error_message", ""),
    ("max_message_size", 575), ("vendor_class_id", b""), ("client_id", b"\x01"),
    ("client_fqdn", b"ab"), ("rapid_commit", "yes"), ("ipv6_only_preferred", -5),
    ("captive_portal", "http://portal.example/"), ("captive_portal", "https://x/ y"),
    ("domain_search", ("ok.example", "-bad")), ("domain_search", ["example.com"]),
    ("domain_search", tuple(f"n{i}.example" for i in range(65))),
    ("classless_routes", (("10.0.0.0/8", "192.0.2.1"),)),
    ("classless_routes", [Route(IPv4Network("10.0.0.0/8"), IPv4Address(1))]),
    ("unknown", ((53, b"\x05"),)), ("unknown", ((52, b"\x01"),)), ("unknown", ((0, b""),)),
    ("unknown", ((255, b""),)), ("unknown", ((200, b""), (200, b"x"))),
    ("unknown", ((200, "text"),)), ("unknown", [(200, b"")]),
    ("unknown", tuple((c, b"") for c in range(160, 161 + MAX_UNKNOWN_OPTIONS))),
]


@pytest.mark.parametrize(("field", "value"), REFUSED,
                         ids=[f"{f}={v!r:.30}" for f, v in REFUSED])
def test_encode_refuses(field: str, value: object) -> None:
    msg = record.replace(typical_ack(), **{field: value})
    with pytest.raises(EncodeError):
        encode(msg)


def test_encode_refuses_a_non_message() -> None:
    with pytest.raises(EncodeError):
        encode(b"bytes")


def test_dropped_is_not_encoded() -> None:
    msg = typical_ack(dropped=(1, 2, 3))
    assert decode(encode(msg)) == record.replace(msg, dropped=(), drop_reasons=())


def test_client_fqdn_option() -> None:
    from leasebox.core.wire.errors import BadOption
    from leasebox.core.wire.strings import client_fqdn

    assert client_fqdn("a.example", server_updates=True, no_updates=False) == \
        b"\x05\x00\x00\x01a\x07example\x00"
    assert client_fqdn("a.example", server_updates=False, no_updates=True)[0] == 0x0C
    for bad in ("host", "a..b", "-a.example", "a" * 64 + ".example", ""):
        with pytest.raises(BadOption):
            client_fqdn(bad, server_updates=True, no_updates=False)
