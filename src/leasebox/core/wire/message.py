"""BOOTP/DHCP messages: the fixed header, option overload, and the whole-message checks.

decode() is total: for any input it returns a Message or raises DecodeError, with work
linear in the input length. encode() is its inverse for every Message it accepts, and
refuses (EncodeError) any Message that decode would not give back unchanged.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from leasebox.core.generics import TYPE_CHECKING
from leasebox.core.wire import options
from leasebox.core.wire.limits import (
    BOOTP_MIN_SIZE,
    FILE_OFFSET,
    FILE_SIZE,
    MAX_HLEN,
    MAX_MESSAGE_SIZE,
    MIN_MESSAGE_SIZE,
    OPTIONS_OFFSET,
    SNAME_OFFSET,
    SNAME_SIZE,
)
from leasebox.core.wire.types import (
    MAGIC_COOKIE,
    DecodeError,
    EncodeError,
    Message,
    MessageType,
    Op,
    OptionCode,
)

if TYPE_CHECKING:
    from typing import Any

# op htype hlen hops xid secs flags ciaddr yiaddr siaddr giaddr chaddr sname file cookie
_HEADER = struct.Struct("!BBBBIHHIIII16s64s128s4s")
assert _HEADER.size == MIN_MESSAGE_SIZE

ETHERNET = 1
_OVERLOAD_FILE, _OVERLOAD_SNAME = 1, 2

# RFC 2131 table 2/3: which side sends which type. A BOOTREPLY that says DISCOVER is
# nonsense, and the engine should never have to ask.
_CLIENT_TYPES = frozenset({
    MessageType.DISCOVER, MessageType.REQUEST, MessageType.DECLINE,
    MessageType.RELEASE, MessageType.INFORM,
})


def _expected_op(message_type: MessageType) -> Op:
    return Op.BOOTREQUEST if message_type in _CLIENT_TYPES else Op.BOOTREPLY


def _cstring(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def decode(data: bytes) -> Message:
    """Decode one BOOTP/DHCP payload (the UDP data). Raises only DecodeError."""
    if not isinstance(data, bytes):
        if not isinstance(data, bytearray | memoryview):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    size = len(data)
    if size < MIN_MESSAGE_SIZE:
        raise DecodeError(f"{size} octets, a DHCP message has at least {MIN_MESSAGE_SIZE}")
    if size > MAX_MESSAGE_SIZE:
        raise DecodeError(f"{size} octets, more than fits in a UDP datagram")
    (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr,
     chaddr, sname, file, cookie) = _HEADER.unpack_from(data)
    if op not in (Op.BOOTREQUEST, Op.BOOTREPLY):
        raise DecodeError(f"op {op} is neither BOOTREQUEST nor BOOTREPLY")
    if htype == 0:
        raise DecodeError("htype 0 is reserved")
    if hlen > MAX_HLEN:
        raise DecodeError(f"hlen {hlen} > {MAX_HLEN}")
    if htype == ETHERNET and hlen != 6:
        raise DecodeError(f"hlen {hlen} for Ethernet, must be 6")
    if cookie != MAGIC_COOKIE:
        raise DecodeError("no DHCP magic cookie")

    chunks: options.Chunks = {}
    options.scan(data, OPTIONS_OFFSET, size, chunks, "options")
    extra: dict[int, str] = {}
    overload = _overload(chunks)
    if overload:
        # RFC 2131 4.1: file first, then sname. Each field is read once, and an overload
        # option found inside them is dropped, not followed: there is nothing to loop on.
        if overload & _OVERLOAD_FILE:
            options.scan(data, FILE_OFFSET, FILE_OFFSET + FILE_SIZE, chunks, "file")
        if overload & _OVERLOAD_SNAME:
            options.scan(data, SNAME_OFFSET, SNAME_OFFSET + SNAME_SIZE, chunks, "sname")
        if len(chunks[OptionCode.OVERLOAD]) > 1:
            extra[OptionCode.OVERLOAD] = "repeated inside the fields it overloads"

    decoded = options.decode_values(chunks)
    message_type = decoded.values.get("message_type")
    if message_type is not None and op != _expected_op(message_type):
        raise DecodeError(f"{message_type.name} in a {Op(op).name}")
    fields: dict[str, Any] = decoded.values
    return Message(
        op=Op(op), xid=xid, chaddr=chaddr[:hlen], htype=htype, hops=hops, secs=secs,
        flags=flags, ciaddr=IPv4Address(ciaddr), yiaddr=IPv4Address(yiaddr),
        siaddr=IPv4Address(siaddr), giaddr=IPv4Address(giaddr),
        sname=b"" if overload & _OVERLOAD_SNAME else _cstring(sname),
        file=b"" if overload & _OVERLOAD_FILE else _cstring(file),
        unknown=tuple(decoded.unknown),
        dropped=tuple(sorted(decoded.dropped | extra)),
        drop_reasons=tuple(options.drop_reason(code, why) for code, why in
                           sorted((decoded.dropped | extra).items())),
        **fields,
    )


def _overload(chunks: options.Chunks) -> int:
    """Option 52 from the options field, before sname/file are read. Structural: its value
    decides what the rest of the packet means, so a bad one rejects the message."""
    parts = chunks.get(OptionCode.OVERLOAD)
    if parts is None:
        return 0
    value = b"".join(parts)
    if len(value) != 1 or value[0] not in (1, 2, 3):
        raise DecodeError("option 52 (overload) must be one octet 1, 2 or 3")
    return value[0]


def check(msg: Message) -> None:
    """Raise EncodeError unless `msg` can be encoded (and would decode back unchanged)."""
    encode(msg)


def encode(msg: Message) -> bytes:
    """The wire form of `msg`: header, cookie, options in canonical order, END, padding to
    the BOOTP minimum of 300 octets. Never uses option overload."""
    if not isinstance(msg, Message):
        raise EncodeError(f"expected a Message, got {type(msg).__name__}")
    header = _encode_header(msg)
    body = options.encode_values(msg)
    out = header + body
    if len(out) < BOOTP_MIN_SIZE:
        out += bytes(BOOTP_MIN_SIZE - len(out))
    if len(out) > MAX_MESSAGE_SIZE:
        raise EncodeError(f"message of {len(out)} octets does not fit in a UDP datagram")
    return out


def _uint(name: str, value: object, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise EncodeError(f"{name}: {value!r} is not an integer 0..{(1 << bits) - 1}")
    return value


def _addr(name: str, value: object) -> int:
    if not isinstance(value, IPv4Address):
        raise EncodeError(f"{name}: {value!r} is not an IPv4Address")
    return int(value)


def _field_bytes(name: str, value: object, size: int) -> bytes:
    # decode reads these as C strings, so an embedded NUL would cut the value short
    if not isinstance(value, bytes) or len(value) > size or b"\0" in value:
        raise EncodeError(f"{name}: must be at most {size} bytes without NUL")
    return value


def _encode_header(msg: Message) -> bytes:
    if not isinstance(msg.op, Op):
        raise EncodeError(f"op: {msg.op!r} is not an Op")
    if msg.message_type is not None and isinstance(msg.message_type, MessageType):
        if msg.op != _expected_op(msg.message_type):
            raise EncodeError(f"{msg.message_type.name} in a {msg.op.name}")
    htype = _uint("htype", msg.htype, 8)
    if htype == 0:
        raise EncodeError("htype: 0 is reserved")
    chaddr = msg.chaddr
    if not isinstance(chaddr, bytes) or len(chaddr) > MAX_HLEN:
        raise EncodeError(f"chaddr: must be at most {MAX_HLEN} bytes")
    if htype == ETHERNET and len(chaddr) != 6:
        raise EncodeError(f"chaddr: {len(chaddr)} bytes for Ethernet, must be 6")
    return _HEADER.pack(
        msg.op, htype, len(chaddr), _uint("hops", msg.hops, 8), _uint("xid", msg.xid, 32),
        _uint("secs", msg.secs, 16), _uint("flags", msg.flags, 16),
        _addr("ciaddr", msg.ciaddr), _addr("yiaddr", msg.yiaddr),
        _addr("siaddr", msg.siaddr), _addr("giaddr", msg.giaddr),
        chaddr, _field_bytes("sname", msg.sname, SNAME_SIZE),
        _field_bytes("file", msg.file, FILE_SIZE), MAGIC_COOKIE,
    )
