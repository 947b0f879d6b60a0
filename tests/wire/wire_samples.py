"""Packets for the wire tests: a typical ACK as a Message, and raw builders for the
malformed packets that the encoder (rightly) refuses to produce."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv4Network

from leasebox.core.wire import MAGIC_COOKIE, Message, MessageType, Op, Route

MAC = bytes.fromhex("02005e100001")
SERVER = IPv4Address("192.0.2.1")
ADDRESS = IPv4Address("192.0.2.10")


def typical_ack(**changes: object) -> Message:
    """An ACK as a home or office server sends it: the options the bench measures."""
    fields: dict[str, object] = dict(
        op=Op.BOOTREPLY, xid=0x3903F326, chaddr=MAC, yiaddr=ADDRESS, siaddr=SERVER,
        message_type=MessageType.ACK, server_id=SERVER, lease_time=86400,
        renewal_time=43200, rebinding_time=75600, subnet_mask=IPv4Address("255.255.255.0"),
        broadcast_address=IPv4Address("192.0.2.255"), routers=(SERVER,),
        dns_servers=(IPv4Address("192.0.2.53"), IPv4Address("198.51.100.53")),
        domain_name="example.com",
        domain_search=("example.com", "corp.example.com", "lab.corp.example.com"),
        classless_routes=(
            Route(IPv4Network("198.51.100.0/24"), IPv4Address("192.0.2.254")),
            Route(IPv4Network("0.0.0.0/0"), SERVER),
        ),
        mtu=1500, ntp_servers=(IPv4Address("192.0.2.123"),), hostname="client-1",
    )
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


def opt(code: int, value: bytes = b"", length: int | None = None) -> bytes:
    """One option TLV; `length` lets a test lie about the length."""
    return bytes((code, len(value) if length is None else length)) + value


def header(
    *,
    op: int = 2,
    htype: int = 1,
    hlen: int = 6,
    xid: int = 0x01020304,
    flags: int = 0,
    yiaddr: str = "192.0.2.10",
    chaddr: bytes = MAC,
    sname: bytes = b"",
    file: bytes = b"",
    cookie: bytes = MAGIC_COOKIE,
) -> bytes:
    """The 240 octets up to and including the magic cookie."""
    return struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s4s", op, htype, hlen, 0, xid, 0, flags,
        bytes(4), IPv4Address(yiaddr).packed, SERVER.packed, bytes(4),
        chaddr.ljust(16, b"\0"), sname.ljust(64, b"\0"), file.ljust(128, b"\0"), cookie,
    )


def split_opt(code: int, value: bytes) -> bytes:
    """A long value as consecutive options of at most 255 octets (RFC 3396)."""
    return b"".join(opt(code, value[i : i + 255]) for i in range(0, len(value), 255)) or opt(code)


ACK_REQUIRED = opt(53, b"\x05") + opt(54, SERVER.packed) + opt(51, struct.pack("!I", 3600))


def raw_ack(*options: bytes, end: bytes = b"\xff", pad_to: int = 300, **fields: object) -> bytes:
    """A minimal valid ACK (type, server id, lease time) followed by `options`."""
    body = header(**fields) + ACK_REQUIRED + b"".join(options) + end  # type: ignore[arg-type]
    return body.ljust(pad_to, b"\0")


def raw_message(options: bytes, pad_to: int = 300, **fields: object) -> bytes:
    return (header(**fields) + options).ljust(pad_to, b"\0")  # type: ignore[arg-type]
