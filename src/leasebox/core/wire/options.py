"""DHCP options: walking the TLV fields, the table of known options, and the drop policy.

Structure versus content. A field whose TLV structure is broken (a length octet missing, an
option running past the end of its field) cannot be read at all: DecodeError. A well-framed
option whose *value* breaks its rules is BadOption; then the policy decides:

* the message cannot be understood without it (REQUIRED below): DecodeError;
* otherwise the option is dropped, its code listed in Message.dropped, and decoding goes on.

Defined behaviour for the framing corner cases:
* PAD (0) is skipped wherever it appears, in runs of any length.
* END (255) stops the walk; whatever follows it in that field is padding and is not read.
* A field that ends without END, right after a complete option, is accepted: the end of
  the field ends the list (the framing is intact, so nothing is guessed).
* Repeated options are concatenated in the order options, file, sname (RFC 3396) and
  decoded as one value; a fixed-size option that is repeated therefore has the wrong length,
  unless every copy is the same whole value (FIXED_SIZE): then it is that value. dnsmasq
  sends option 54 twice when it is configured with dhcp-option=54 and the client asks for
  it; different copies still make the wrong length, as a guess at one could change the
  message's meaning.
* Options the codec does not know are kept raw, bounded in count and size; beyond the
  bound they are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

from leasebox.core.generics import TYPE_CHECKING
from leasebox.core.record import record
from leasebox.core.wire import domain, routes, strings
from leasebox.core.wire.errors import BadOption
from leasebox.core.wire.limits import (
    MAX_OPTION_DATA,
    MAX_UNKNOWN_BYTES,
    MAX_UNKNOWN_OPTIONS,
    MIN_MAX_MESSAGE_SIZE,
    MIN_MTU,
)
from leasebox.core.wire.types import DecodeError, EncodeError, Message, MessageType, OptionCode

if TYPE_CHECKING:
    from typing import Any

Chunks = dict[int, list[bytes]]

# The options whose value has one size, which a server repeating the same copy cannot
# have meant to lengthen (see the module's docstring).
FIXED_SIZE: dict[int, int] = {
    OptionCode.MESSAGE_TYPE: 1, OptionCode.SUBNET_MASK: 4, OptionCode.INTERFACE_MTU: 2,
    OptionCode.BROADCAST_ADDRESS: 4, OptionCode.REQUESTED_IP: 4, OptionCode.LEASE_TIME: 4,
    OptionCode.SERVER_ID: 4, OptionCode.MAX_MESSAGE_SIZE: 2, OptionCode.RENEWAL_TIME: 4,
    OptionCode.REBINDING_TIME: 4, OptionCode.IPV6_ONLY_PREFERRED: 4,
}


def joined(code: int, parts: list[bytes]) -> bytes:
    """The value of an option from its copies: concatenated (RFC 3396), or the one value
    of a fixed-size option whose copies are all that same whole value."""
    first = parts[0]
    if len(parts) == 1 or (len(first) == FIXED_SIZE.get(code)
                           and all(part == first for part in parts)):
        return first
    return b"".join(parts)

# Options whose absence is fine but whose corruption is not: dropping them would turn a
# broken message into a different, plausible one (an ACK with no server id or lease time,
# which an engine might fill in with guesses). Option 53 is always required; 52 (overload)
# is structural and handled by the message decoder.
REQUIRED: dict[MessageType | None, frozenset[int]] = {
    MessageType.OFFER: frozenset({OptionCode.SERVER_ID, OptionCode.LEASE_TIME}),
    MessageType.ACK: frozenset({OptionCode.SERVER_ID, OptionCode.LEASE_TIME}),
    MessageType.NAK: frozenset({OptionCode.SERVER_ID}),
}


def scan(data: bytes, start: int, end: int, chunks: Chunks, where: str) -> None:
    """Walk one option field data[start:end], appending each option's bytes to `chunks`.

    Work is linear in end - start: every step consumes at least one octet.
    """
    pos = start
    while pos < end:
        code = data[pos]
        if code == OptionCode.PAD:
            pos += 1
            continue
        if code == OptionCode.END:
            return
        if pos + 1 >= end:
            raise DecodeError(f"option {code} in {where} has no length octet")
        value_end = pos + 2 + data[pos + 1]
        if value_end > end:
            raise DecodeError(f"option {code} in {where} runs past the end of the field")
        chunk = data[pos + 2 : value_end]
        existing = chunks.get(code)
        if existing is None:
            chunks[code] = [chunk]
        else:
            existing.append(chunk)
        pos = value_end


# ---- value parsers: bytes -> value, or BadOption ---------------------------------------------


def _address(value: bytes) -> IPv4Address:
    if len(value) != 4:
        raise BadOption(f"length {len(value)}, must be 4")
    return IPv4Address(value)


def _addresses(value: bytes) -> tuple[IPv4Address, ...]:
    # Empty is "none": dnsmasq's `dhcp-option=option:router` without a value (OpenStack
    # Neutron's subnet without a gateway; likewise option 6 with DNS turned off) sends it to
    # keep its default back. RFC 2132 asks for 4 octets at least; the meaning is plain.
    if len(value) % 4:
        raise BadOption(f"length {len(value)}, must be a multiple of 4")
    return tuple(IPv4Address(value[i : i + 4]) for i in range(0, len(value), 4))


def _netmask(value: bytes) -> IPv4Address:
    mask = _address(value)
    inverted = ~int(mask) & 0xFFFFFFFF
    if inverted & (inverted + 1):  # contiguous masks invert to 2**k - 1
        raise BadOption(f"{mask} is not a contiguous netmask")
    return mask


def _u32(value: bytes) -> int:
    if len(value) != 4:
        raise BadOption(f"length {len(value)}, must be 4")
    return int.from_bytes(value, "big")


def _u16_at_least(minimum: int) -> Callable[[bytes], int]:
    def parse(value: bytes) -> int:
        if len(value) != 2:
            raise BadOption(f"length {len(value)}, must be 2")
        number = int.from_bytes(value, "big")
        if number < minimum:
            raise BadOption(f"{number} is below the minimum {minimum}")
        return number

    return parse


def _message_type(value: bytes) -> MessageType:
    if len(value) != 1:
        raise BadOption(f"length {len(value)}, must be 1")
    try:
        return MessageType(value[0])
    except ValueError:
        raise BadOption(f"unknown message type {value[0]}") from None


def _code_list(value: bytes) -> tuple[int, ...]:
    if not value:
        raise BadOption("empty list")
    return tuple(value)


def _raw_at_least(minimum: int) -> Callable[[bytes], bytes]:
    def parse(value: bytes) -> bytes:
        if len(value) < minimum:
            raise BadOption(f"length {len(value)}, must be at least {minimum}")
        return value

    return parse


def _flag(value: bytes) -> bool:
    if value:
        raise BadOption(f"length {len(value)}, must be 0")
    return True


# ---- value encoders: value -> bytes, or ValueError (wrapped into EncodeError) -----------------


def _check_address(value: object) -> IPv4Address:
    if not isinstance(value, IPv4Address):
        raise ValueError(f"{value!r} is not an IPv4Address")
    return value


def _enc_address(value: object) -> bytes:
    return _check_address(value).packed


def _enc_addresses(value: object) -> bytes:
    if not isinstance(value, tuple):
        raise ValueError("must be a tuple of IPv4Address")
    return b"".join(_check_address(v).packed for v in value)


def _enc_netmask(value: object) -> bytes:
    packed = _enc_address(value)
    _netmask(packed)  # the decoder's own rule, so the two cannot disagree
    return packed


def _enc_uint(size: int, minimum: int = 0) -> Callable[[object], bytes]:
    def encode(value: object) -> bytes:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{value!r} is not an int")
        if not minimum <= value < 1 << (8 * size):
            raise ValueError(f"{value} out of range {minimum}..{(1 << (8 * size)) - 1}")
        return value.to_bytes(size, "big")

    return encode


def _enc_message_type(value: object) -> bytes:
    if not isinstance(value, MessageType):
        raise ValueError(f"{value!r} is not a MessageType")
    return bytes((value,))


def _enc_code_list(value: object) -> bytes:
    if not isinstance(value, tuple) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value
    ):
        raise ValueError("must be a tuple of option codes 0..255")
    return bytes(value)


def _enc_raw_at_least(minimum: int) -> Callable[[object], bytes]:
    def encode(value: object) -> bytes:
        if not isinstance(value, bytes):
            raise ValueError(f"{value!r} is not bytes")
        if len(value) < minimum:
            raise ValueError(f"length {len(value)}, must be at least {minimum}")
        return value

    return encode


def _enc_text(problem: Callable[[str], str | None]) -> Callable[[object], bytes]:
    def encode(value: object) -> bytes:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a str")
        reason = problem(value)
        if reason:
            raise ValueError(f"{value!r}: {reason}")
        return value.encode("ascii")

    return encode


def _enc_flag(value: object) -> bytes:
    if value is not True:
        raise ValueError(f"{value!r} is not a bool")
    return b""


def _enc_search(value: object) -> bytes:
    if not isinstance(value, tuple) or not all(isinstance(n, str) for n in value):
        raise ValueError("must be a tuple of str")
    return domain.encode_search_list(value)


def _enc_routes(value: object) -> bytes:
    if not isinstance(value, tuple):
        raise ValueError("must be a tuple of Route")
    return routes.encode_routes(value)


@record
class OptionSpec:
    code: OptionCode
    field: str  # the Message attribute
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]
    # () means "absent" for list-valued options, except where the contract says otherwise
    empty_is_absent: bool = True

    def present(self, value: object) -> bool:
        if value is None or value is False:
            return False
        return not (self.empty_is_absent and value == ())


_C = OptionCode
SPECS: dict[int, OptionSpec] = {
    spec.code: spec
    for spec in (
        OptionSpec(_C.MESSAGE_TYPE, "message_type", _message_type, _enc_message_type),
        OptionSpec(_C.SUBNET_MASK, "subnet_mask", _netmask, _enc_netmask),
        OptionSpec(_C.ROUTER, "routers", _addresses, _enc_addresses),
        OptionSpec(_C.DNS_SERVERS, "dns_servers", _addresses, _enc_addresses),
        OptionSpec(_C.HOSTNAME, "hostname", strings.decode_hostname,
                   _enc_text(strings.hostname_problem)),
        OptionSpec(_C.DOMAIN_NAME, "domain_name", strings.decode_domain_names,
                   _enc_text(strings.domain_names_problem)),
        OptionSpec(_C.INTERFACE_MTU, "mtu", _u16_at_least(MIN_MTU), _enc_uint(2, MIN_MTU)),
        OptionSpec(_C.BROADCAST_ADDRESS, "broadcast_address", _address, _enc_address),
        OptionSpec(_C.NTP_SERVERS, "ntp_servers", _addresses, _enc_addresses),
        OptionSpec(_C.REQUESTED_IP, "requested_ip", _address, _enc_address),
        OptionSpec(_C.LEASE_TIME, "lease_time", _u32, _enc_uint(4)),
        OptionSpec(_C.SERVER_ID, "server_id", _address, _enc_address),
        OptionSpec(_C.PARAMETER_REQUEST_LIST, "parameter_request_list", _code_list,
                   _enc_code_list),
        OptionSpec(_C.MESSAGE, "error_message", strings.decode_message,
                   _enc_text(strings.message_problem)),
        OptionSpec(_C.MAX_MESSAGE_SIZE, "max_message_size", _u16_at_least(MIN_MAX_MESSAGE_SIZE),
                   _enc_uint(2, MIN_MAX_MESSAGE_SIZE)),
        OptionSpec(_C.RENEWAL_TIME, "renewal_time", _u32, _enc_uint(4)),
        OptionSpec(_C.REBINDING_TIME, "rebinding_time", _u32, _enc_uint(4)),
        OptionSpec(_C.VENDOR_CLASS_ID, "vendor_class_id", _raw_at_least(1),
                   _enc_raw_at_least(1)),
        # RFC 2132 9.14: a type octet and at least one octet of identifier
        OptionSpec(_C.CLIENT_ID, "client_id", _raw_at_least(2), _enc_raw_at_least(2)),
        OptionSpec(_C.RAPID_COMMIT, "rapid_commit", _flag, _enc_flag),
        # RFC 4702 2: flags, RCODE1, RCODE2, then the (possibly empty) name
        OptionSpec(_C.CLIENT_FQDN, "client_fqdn", _raw_at_least(3), _enc_raw_at_least(3)),
        OptionSpec(_C.IPV6_ONLY_PREFERRED, "ipv6_only_preferred", _u32, _enc_uint(4)),
        OptionSpec(_C.CAPTIVE_PORTAL, "captive_portal", strings.decode_portal,
                   _enc_text(strings.portal_problem)),
        OptionSpec(_C.DOMAIN_SEARCH, "domain_search", domain.decode_search_list, _enc_search),
        OptionSpec(_C.CLASSLESS_STATIC_ROUTE, "classless_routes", routes.decode_routes,
                   _enc_routes, empty_is_absent=False),
    )
}

# Codes that never appear as a Message value: framing, and overload (decided by the encoder).
NOT_UNKNOWN = frozenset(SPECS) | {_C.PAD, _C.END, _C.OVERLOAD}


@record(frozen=False)
class Decoded:
    values: dict[str, Any]
    unknown: list[tuple[int, bytes]]
    dropped: dict[int, str]  # each option dropped, and why


def drop_reason(code: int, why: str) -> str:
    """How a dropped option is named to an operator. `why` is the codec's own text: of
    the value, at most numbers (a length, a mask), never a name or string from it."""
    spec = SPECS.get(code)
    name = f" ({spec.field.replace('_', ' ')})" if spec is not None else ""
    return f"option {code}{name}: {why}"


def decode_values(chunks: Chunks) -> Decoded:
    """Turn concatenated option data into Message keyword arguments, applying the policy."""
    out = Decoded({}, [], {})
    message_type: MessageType | None = None
    raw = chunks.get(_C.MESSAGE_TYPE)
    if raw is not None:
        try:
            message_type = _message_type(joined(_C.MESSAGE_TYPE, raw))
        except BadOption as e:
            raise DecodeError(f"option 53 (message type): {e.reason}") from None
        out.values["message_type"] = message_type
    required = REQUIRED.get(message_type, frozenset())
    unknown_bytes = 0
    for code in sorted(chunks):
        if code in (_C.MESSAGE_TYPE, _C.OVERLOAD):
            continue
        parts = chunks[code]
        value = joined(code, parts)
        spec = SPECS.get(code)
        if spec is None:
            if (len(out.unknown) < MAX_UNKNOWN_OPTIONS
                    and unknown_bytes + len(value) <= MAX_UNKNOWN_BYTES):
                out.unknown.append((code, value))
                unknown_bytes += len(value)
            else:
                out.dropped[code] = (f"over the {MAX_UNKNOWN_OPTIONS} options or "
                                     f"{MAX_UNKNOWN_BYTES} octets kept of options not known")
            continue
        try:
            if len(value) > MAX_OPTION_DATA:
                raise BadOption(f"longer than {MAX_OPTION_DATA} octets")
            decoded = spec.decode(value)
        except BadOption as e:
            if code in required:
                name = spec.field.replace("_", " ")
                raise DecodeError(f"option {code} ({name}): {e.reason}") from None
            out.dropped[code] = e.reason
            continue
        if decoded is not None:  # None: the value means "absent" (captive portal URN)
            out.values[spec.field] = decoded
    return out


def encode_values(msg: Message) -> bytes:
    """Every present option as TLVs (53 first, then by code), END; no padding."""
    values: list[tuple[int, bytes]] = []
    for code, spec in SPECS.items():
        value = getattr(msg, spec.field)
        if not spec.present(value):
            continue
        try:
            encoded = spec.encode(value)
        except ValueError as e:
            raise EncodeError(f"{spec.field} (option {code}): {e}") from None
        if len(encoded) > MAX_OPTION_DATA:
            raise EncodeError(f"{spec.field} (option {code}): longer than {MAX_OPTION_DATA} octets")
        values.append((code, encoded))
    values.extend(_check_unknown(msg.unknown))
    # Message type first: some servers look for it there. The rest in code order, so the
    # same Message always encodes to the same bytes.
    values.sort(key=lambda item: (item[0] != _C.MESSAGE_TYPE, item[0]))
    out = bytearray()
    for code, value in values:
        if not value:
            out += bytes((code, 0))
        # RFC 3396: a value over 255 octets goes out as consecutive options of the same code
        for i in range(0, len(value), 255):
            piece = value[i : i + 255]
            out.append(code)
            out.append(len(piece))
            out += piece
    out.append(_C.END)
    return bytes(out)


def _check_unknown(unknown: object) -> list[tuple[int, bytes]]:
    if not isinstance(unknown, tuple):
        raise EncodeError("unknown: must be a tuple of (code, bytes)")
    seen: set[int] = set()
    total = 0
    for item in unknown:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int)
                and isinstance(item[1], bytes)):
            raise EncodeError(f"unknown: {item!r} is not a (code, bytes) pair")
        code, value = item
        if not 0 < code < 255 or code in NOT_UNKNOWN:
            raise EncodeError(f"unknown: code {code} is not an unknown option code")
        if code in seen:
            raise EncodeError(f"unknown: code {code} given twice")
        if seen and code < max(seen):  # decoded in code order: as given, or not equal
            raise EncodeError(f"unknown: code {code} after a higher one (not in code order)")
        seen.add(code)
        total += len(value)
    if len(seen) > MAX_UNKNOWN_OPTIONS or total > MAX_UNKNOWN_BYTES:
        raise EncodeError(
            f"unknown: more than {MAX_UNKNOWN_OPTIONS} options or {MAX_UNKNOWN_BYTES} octets")
    return list(unknown)
