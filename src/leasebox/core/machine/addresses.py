"""Which IPv4 addresses a client may take, be served by or route through, and subnet masks."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

_THIS_NETWORK = IPv4Network("0.0.0.0/8")


def usable(address: IPv4Address) -> bool:
    """A unicast address a host may hold: not 0/8, not loopback, multicast, class E or
    the limited broadcast (255.255.255.255 is inside class E)."""
    return not (
        address in _THIS_NETWORK
        or address.is_loopback
        or address.is_multicast
        or address.is_reserved  # 240.0.0.0/4, class E
    )


def prefixlen_from_mask(mask: IPv4Address) -> int | None:
    """The prefix length of a contiguous mask of /1 to /32, else None."""
    bits = int(mask)
    inverted = ~bits & 0xFFFFFFFF
    # A contiguous mask is ones then zeros: its complement plus one is a power of two.
    if bits == 0 or inverted & (inverted + 1):
        return None
    return 32 - inverted.bit_length()


def mask_from_prefixlen(prefixlen: int) -> IPv4Address:
    """The subnet mask of a prefix length of 0 to 32."""
    return IPv4Address((0xFFFFFFFF << (32 - prefixlen)) & 0xFFFFFFFF)


def is_subnet_edge(address: IPv4Address, prefixlen: int) -> bool:
    """True for the network or broadcast address of a subnet that has them (/30 and wider;
    /31 and /32 have no such addresses, RFC 3021)."""
    if prefixlen > 30:
        return False
    network = IPv4Network((address, prefixlen), strict=False)
    return address in (network.network_address, network.broadcast_address)
