"""Hypothesis strategies for valid Messages, frames and byte mutations."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

from hypothesis import strategies as st

from leasebox.core.wire import Message, MessageType, Op, Route
from leasebox.core.wire.options import NOT_UNKNOWN

CLIENT_TYPES = {MessageType.DISCOVER, MessageType.REQUEST, MessageType.DECLINE,
                MessageType.RELEASE, MessageType.INFORM}

addresses = st.integers(0, 2**32 - 1).map(IPv4Address)
u32 = st.integers(0, 2**32 - 1)
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_LDH = _ALNUM + "-"


def _name(raw: bytes, suffix: str) -> str:
    """Bytes to an RFC 1123 name: a zero octet ends a label, the rest map to letters,
    digits and inner hyphens."""
    labels = []
    for part in raw.split(b"\0"):
        label = "".join(_LDH[b % len(_LDH)] for b in part[:63])
        if label:
            labels.append(_ALNUM[part[0] % 62] + label[1:-1] + _ALNUM[part[-1] % 62]
                          if len(label) > 1 else _ALNUM[part[0] % 62])
    name = ".".join(labels)
    return f"{name}.{suffix}" if name and suffix else name or suffix


# A few shared suffixes, so that search-list names get compressed.
hostnames = st.builds(_name, st.binary(max_size=40),
                      st.sampled_from(["example.com", "corp.example.com", "com", "net", ""])
                      ).filter(bool)
_URI = [*"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#[]@!&()*+,=",
        "%20", "%2f"]
portals = st.builds(
    lambda host, path: f"https://{host}/{''.join(_URI[b % len(_URI)] for b in path)}",
    hostnames, st.binary(max_size=30))


# Strategies below draw one binary blob and slice it, rather than a list of many small
# draws: a Message has dozens of fields, and per-element draws made generation the
# bottleneck of the property tests.


def _printable(raw: bytes) -> str:
    return "".join(chr(0x20 + b % 95) for b in raw)


printable = st.binary(min_size=1, max_size=300).map(_printable)


def _routes(raw: bytes) -> tuple[Route, ...]:
    out = []
    for i in range(0, len(raw) - 8, 9):
        width = raw[i] % 33
        network = int.from_bytes(raw[i + 1 : i + 5], "big") & ((1 << 32) - (1 << (32 - width)))
        out.append(Route(IPv4Network((network, width)), IPv4Address(raw[i + 5 : i + 9])))
    return tuple(out)


def route_tables(long: bool) -> st.SearchStrategy[tuple[Route, ...]]:
    # Over 28 routes do not fit in one option: RFC 3396 splitting.
    # at least one route: option 121 has no empty form (RFC 3442)
    return st.binary(min_size=9, max_size=9 * (40 if long else 10)).map(_routes)


def _addresses(raw: bytes) -> tuple[IPv4Address, ...]:
    return tuple(IPv4Address(raw[i : i + 4]) for i in range(0, len(raw) - 3, 4))


def address_lists(long: bool) -> st.SearchStrategy[tuple[IPv4Address, ...]]:
    # More than 63 addresses do not fit in one option: RFC 3396 splitting.
    return st.binary(max_size=4 * (80 if long else 8)).map(_addresses)


def _option_fields(long: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Every option field of a Message. Built once per variant: strategies are cheap to
    draw from but not to construct and validate."""
    max_len = 255 if long else 60
    optional = st.none
    return st.fixed_dictionaries({
        "subnet_mask": optional() | st.integers(0, 32).map(
            lambda n: IPv4Address((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF)),
        "routers": address_lists(long),
        "dns_servers": address_lists(long),
        "hostname": optional() | hostnames,
        "domain_name": optional() | hostnames,
        "mtu": optional() | st.integers(68, 0xFFFF),
        "broadcast_address": optional() | addresses,
        "ntp_servers": address_lists(long),
        "requested_ip": optional() | addresses,
        "lease_time": optional() | u32,
        "server_id": optional() | addresses,
        "parameter_request_list": st.binary(max_size=max_len).map(tuple),
        "error_message": optional() | (printable if long else printable.map(lambda s: s[:200])),
        "max_message_size": optional() | st.integers(576, 0xFFFF),
        "renewal_time": optional() | u32,
        "rebinding_time": optional() | u32,
        "vendor_class_id": optional() | st.binary(min_size=1, max_size=max_len),
        "client_id": optional() | st.binary(min_size=2, max_size=max_len),
        "rapid_commit": st.booleans(),
        "client_fqdn": optional() | st.binary(min_size=3, max_size=max_len),
        "ipv6_only_preferred": optional() | u32,
        "captive_portal": optional() | portals,
        "domain_search": st.lists(hostnames, max_size=8 if long else 3).map(tuple),
        "classless_routes": optional() | route_tables(long),
        "unknown": st.dictionaries(
            st.integers(1, 254).filter(lambda c: c not in NOT_UNKNOWN),
            st.binary(max_size=max_len), max_size=4).map(lambda d: tuple(sorted(d.items()))),
    })


_OPTIONS = {True: _option_fields(True), False: _option_fields(False)}
_NO_NUL = st.binary(max_size=64).map(lambda b: b.replace(b"\0", b"x"))
_FILE = st.binary(max_size=128).map(lambda b: b.replace(b"\0", b"y"))
_ANY_CHADDR = st.binary(max_size=16)
_ETHERNET_CHADDR = st.binary(min_size=6, max_size=6)


@st.composite
def messages(draw: st.DrawFn, long_options: bool = True) -> Message:
    """Any Message that encode accepts, in the canonical form decode returns.

    long_options=False keeps every option under 256 octets (no RFC 3396 splitting), for
    comparison with parsers that do not concatenate.
    """
    message_type = draw(st.none() | st.sampled_from(MessageType))
    if message_type is None:
        op = draw(st.sampled_from(Op))
    else:
        op = Op.BOOTREQUEST if message_type in CLIENT_TYPES else Op.BOOTREPLY
    htype = draw(st.sampled_from([1, 1, 1, 6, 32, 255]))
    fields: dict[str, Any] = dict(
        op=op, xid=draw(u32), htype=htype,
        chaddr=draw(_ETHERNET_CHADDR if htype == 1 else _ANY_CHADDR),
        hops=draw(st.integers(0, 255)), secs=draw(st.integers(0, 0xFFFF)),
        flags=draw(st.integers(0, 0xFFFF)), ciaddr=draw(addresses), yiaddr=draw(addresses),
        siaddr=draw(addresses), giaddr=draw(addresses), sname=draw(_NO_NUL), file=draw(_FILE),
        message_type=message_type,
    )
    fields.update(draw(_OPTIONS[long_options]))
    return Message(**fields)
