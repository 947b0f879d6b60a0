"""DHCPv4 wire types: codes as IntEnums, the decoded message as a frozen record.

This module is the codec's public contract: the engine builds and reads only these types.
Everything here is pure (no I/O); values are already validated when a Message comes out of
`decode`, and `encode` refuses a Message whose values are out of range.
"""

from __future__ import annotations

from enum import IntEnum
from ipaddress import IPv4Address

from leasebox.core.record import record
from leasebox.core.values import Route

ZERO = IPv4Address(0)
BROADCAST = IPv4Address("255.255.255.255")
MAGIC_COOKIE = b"\x63\x82\x53\x63"
SERVER_PORT = 67
CLIENT_PORT = 68


class DecodeError(Exception):
    """The one exception the codec raises for bad input. `reason` is one short line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EncodeError(ValueError):
    """A Message that cannot be put on the wire (a value out of range, too long)."""


class Op(IntEnum):
    BOOTREQUEST = 1
    BOOTREPLY = 2


class MessageType(IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8
    FORCERENEW = 9


class OptionCode(IntEnum):
    PAD = 0
    SUBNET_MASK = 1
    ROUTER = 3
    DNS_SERVERS = 6
    HOSTNAME = 12
    DOMAIN_NAME = 15
    INTERFACE_MTU = 26
    BROADCAST_ADDRESS = 28
    NTP_SERVERS = 42
    REQUESTED_IP = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETER_REQUEST_LIST = 55
    MESSAGE = 56
    MAX_MESSAGE_SIZE = 57
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    VENDOR_CLASS_ID = 60
    CLIENT_ID = 61
    RAPID_COMMIT = 80
    CLIENT_FQDN = 81
    IPV6_ONLY_PREFERRED = 108
    CAPTIVE_PORTAL = 114
    DOMAIN_SEARCH = 119
    CLASSLESS_STATIC_ROUTE = 121
    END = 255


@record
class Message:
    """One BOOTP/DHCP message, fixed header plus the options leasebox understands.

    Option fields are None (or empty) when the option is absent, or when it was present but
    malformed and not needed to understand the message; such dropped option codes are listed
    in `dropped`. Options the codec does not know are kept, bounded, in `unknown`.

    What decode guarantees (and encode requires) beyond the types: every str field is in its
    safe character set (RFC 1123 names without a trailing dot; captive_portal an https URI
    of safe characters, None for RFC 8910's "unrestricted" URN; error_message printable
    ASCII); subnet_mask is a contiguous mask; mtu >= 68; max_message_size >= 576;
    message_type matches op; `unknown` is sorted by code, one entry per code; `dropped` is
    sorted. encode ignores `dropped` and `drop_reasons`. See wire/options.py for the
    drop-or-reject policy.
    """

    op: Op
    xid: int
    chaddr: bytes  # hlen bytes (6 for Ethernet)
    htype: int = 1
    hops: int = 0
    secs: int = 0
    flags: int = 0  # bit 15 = BROADCAST
    ciaddr: IPv4Address = ZERO
    yiaddr: IPv4Address = ZERO
    siaddr: IPv4Address = ZERO
    giaddr: IPv4Address = ZERO
    sname: bytes = b""  # raw, NUL-stripped; empty when overloaded with options
    file: bytes = b""  # raw, NUL-stripped; empty when overloaded with options
    # options
    message_type: MessageType | None = None
    subnet_mask: IPv4Address | None = None
    routers: tuple[IPv4Address, ...] = ()
    dns_servers: tuple[IPv4Address, ...] = ()
    hostname: str | None = None
    domain_name: str | None = None
    mtu: int | None = None
    broadcast_address: IPv4Address | None = None
    ntp_servers: tuple[IPv4Address, ...] = ()
    requested_ip: IPv4Address | None = None
    lease_time: int | None = None
    server_id: IPv4Address | None = None
    parameter_request_list: tuple[int, ...] = ()
    error_message: str | None = None  # option 56
    max_message_size: int | None = None
    renewal_time: int | None = None
    rebinding_time: int | None = None
    vendor_class_id: bytes | None = None
    client_id: bytes | None = None
    rapid_commit: bool = False
    client_fqdn: bytes | None = None  # option 81, raw (flags, rcode1, rcode2, name)
    ipv6_only_preferred: int | None = None  # option 108, seconds (V6ONLY_WAIT)
    captive_portal: str | None = None
    domain_search: tuple[str, ...] = ()
    classless_routes: tuple[Route, ...] | None = None  # None = absent; () = present, empty
    unknown: tuple[tuple[int, bytes], ...] = ()
    dropped: tuple[int, ...] = ()
    # why, for each dropped option in `dropped`'s order: "option 15 (domain name): ..."
    drop_reasons: tuple[str, ...] = ()

    @property
    def broadcast_flag(self) -> bool:
        return bool(self.flags & 0x8000)
