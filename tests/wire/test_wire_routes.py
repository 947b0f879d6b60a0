"""Option 121 (RFC 3442 classless static routes)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from leasebox.core.wire import Route
from leasebox.core.wire.errors import BadOption
from leasebox.core.wire.routes import decode_routes, encode_routes

GW = bytes([192, 0, 2, 1])


@pytest.mark.parametrize(("data", "destination"), [
    (b"\x00" + GW, "0.0.0.0/0"),
    (b"\x01\x80" + GW, "128.0.0.0/1"),
    (b"\x08\x0a" + GW, "10.0.0.0/8"),
    (b"\x09\x0a\x80" + GW, "10.128.0.0/9"),
    (b"\x18\xc6\x33\x64" + GW, "198.51.100.0/24"),
    (b"\x19\xc6\x33\x64\x80" + GW, "198.51.100.128/25"),
    (b"\x20\xc6\x33\x64\x07" + GW, "198.51.100.7/32"),
])
def test_significant_octets(data: bytes, destination: str) -> None:
    assert decode_routes(data) == (Route(IPv4Network(destination), IPv4Address(GW)),)


def test_several_routes_and_on_link() -> None:
    data = b"\x18\xc6\x33\x64" + GW + b"\x00" + bytes(4)
    assert decode_routes(data) == (
        Route(IPv4Network("198.51.100.0/24"), IPv4Address(GW)),
        Route(IPv4Network("0.0.0.0/0"), IPv4Address(0)),
    )


def test_empty_is_malformed() -> None:
    # RFC 3442: at least 5 octets; an empty table would override the Router option
    with pytest.raises(BadOption):
        decode_routes(b"")
    with pytest.raises(ValueError):
        encode_routes(())


@pytest.mark.parametrize("data", [
    b"\x21" + bytes(5) + GW,  # prefix 33
    b"\xff" + GW,  # prefix 255
    b"\x18\xc6\x33",  # destination cut short
    b"\x18\xc6\x33\x64\xc0\x00",  # gateway cut short
    b"\x00" + GW + b"\x00",  # trailing octet
    b"\x00" + GW + b"\x18\xc6\x33\x64" + GW[:3],  # second route cut short
    b"\x08\x0a\x00" + GW,  # misread width: 10.0.0.0/8 given 2 octets -> trailing bytes
    b"\x14\x0a\x00\x0f" + GW,  # 10.0.15.0/20: bits set beyond the prefix
    b"\x01\xc0" + GW,  # 192.0.0.0/1
])
def test_broken_tables_reject_the_option(data: bytes) -> None:
    with pytest.raises(BadOption):
        decode_routes(data)


def test_encode_writes_significant_octets_only() -> None:
    routes = (Route(IPv4Network("198.51.100.0/24"), IPv4Address(GW)),
              Route(IPv4Network("0.0.0.0/0"), IPv4Address(GW)))
    assert encode_routes(routes) == b"\x18\xc6\x33\x64" + GW + b"\x00" + GW


def test_encode_refuses_non_routes() -> None:
    with pytest.raises(ValueError, match="Route"):
        encode_routes(("10.0.0.0/8",))  # type: ignore[arg-type]
