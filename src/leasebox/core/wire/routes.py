"""Option 121, classless static routes (RFC 3442).

Each route is a prefix width, the significant octets of the destination, and a gateway.
Anything off (width > 32, a destination or gateway cut short, set bits beyond the prefix)
rejects the whole option: routes decide where traffic goes, so a partly understood route
table is worse than none. Zero length is malformed too (RFC 3442: the minimum length is 5):
taken as an empty table it would, by RFC 3442's rule that a present option 121 overrides the
Router option, let one empty option silently remove the default route.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from leasebox.core.values import Route
from leasebox.core.wire.errors import BadOption


def decode_routes(data: bytes) -> tuple[Route, ...]:
    if not data:
        raise BadOption("empty (RFC 3442: at least 5 bytes)")
    routes: list[Route] = []
    pos, end = 0, len(data)
    while pos < end:
        width = data[pos]
        if width > 32:
            raise BadOption(f"prefix length {width} > 32")
        significant = (width + 7) // 8
        gateway_at = pos + 1 + significant
        if gateway_at + 4 > end:
            raise BadOption("route cut off at the end of the option")
        destination = int.from_bytes(data[pos + 1 : gateway_at].ljust(4, b"\0"), "big")
        host_bits = (1 << (32 - width)) - 1
        if destination & host_bits:
            raise BadOption(f"destination has bits set beyond /{width}")
        gateway = IPv4Address(data[gateway_at : gateway_at + 4])
        routes.append(Route(IPv4Network((destination, width)), gateway))
        pos = gateway_at + 4
    return tuple(routes)


def encode_routes(routes: Iterable[Route]) -> bytes:
    """Raises ValueError for anything that is not a Route of IPv4 types, and for an empty
    table, which option 121 cannot carry."""
    out = bytearray()
    for route in routes:
        if not isinstance(route, Route):
            raise ValueError(f"{route!r} is not a Route")
        destination, gateway = route.destination, route.gateway
        if not isinstance(destination, IPv4Network) or not isinstance(gateway, IPv4Address):
            raise ValueError(f"{route!r}: destination must be IPv4Network, gateway IPv4Address")
        width = destination.prefixlen
        out.append(width)
        out += destination.network_address.packed[: (width + 7) // 8]
        out += gateway.packed
    if not out:
        raise ValueError("option 121 needs at least one route (RFC 3442)")
    return bytes(out)
