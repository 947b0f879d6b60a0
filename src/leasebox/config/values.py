"""Value parsers for leasebox.conf: text after `Key=` in, a typed value out.

Each one is total over strings: it returns a value or raises ValueError with a message that
reads well after `FILE:LINE: Key=: `. They are strict on purpose: a value the engine would
later fail to encode, or that would quietly widen netconf's policy, is refused here, at
start-up, with the file and line that said it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network

from leasebox.core.names import hostname_problem
from leasebox.core.values import ProbeTiming

_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
_FALSE = frozenset({"0", "no", "n", "false", "f", "off"})
U32_MAX = 0xFFFFFFFF
RT_TABLE_MAIN = 254
# Tables a DHCP lease must not write into: unspec, the compat "default" and "local" tables.
RESERVED_TABLES = frozenset({0, 253, 255})
# The kernel's overflow id: what an id outside a process's user namespace looks like inside
# it. A group with this number could never be told apart from "unknown", so it is refused.
OVERFLOW_ID = 65534
# RFC 8415 11.1: a DUID is a 2-octet type and at most 128 octets of identifier.
MAX_DUID = 130
# systemd.time(7)'s units of a second and more, spelled as it spells them: case matters
# there ("M" is a month), and a span here is whole seconds of at most a day or so
_SECONDS = {"": 1, **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
            **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
            **dict.fromkeys(("h", "hr", "hour", "hours"), 3600),
            **dict.fromkeys(("d", "day", "days"), 86400),
            **dict.fromkeys(("w", "week", "weeks"), 7 * 86400)}
# What separates words and surrounds values: systemd's whitespace (" \t", and the line ends
# the parser splits at). A no-break space pasted from a web page is part of a word, to be
# refused there, as systemd does: str.split() and str.strip() would quietly take it away.
WHITESPACE = " \t"
_SPAN_WORD = re.compile(r"([0-9]+)[ \t]*([a-zA-Z]*)")
_HEX_BYTES = re.compile(r"[0-9A-Fa-f]{2}(?::?[0-9A-Fa-f]{2})*")


class ClientIdentifier(StrEnum):
    MAC = "mac"  # option 61 = type 1 (Ethernet) + the interface's MAC address
    DUID = "duid"  # RFC 4361: type 255 + IAID + DUID
    NONE = "none"  # no option 61: the server keys the lease on chaddr


class SendRelease(StrEnum):
    YES = "yes"  # when leasebox is stopped; not at system shutdown or reboot
    NO = "no"
    ALWAYS = "always"  # at shutdown and reboot too


def send_release(text: str) -> SendRelease:
    if text.lower() == "always":
        return SendRelease.ALWAYS
    try:
        return SendRelease.YES if boolean(text) else SendRelease.NO
    except ValueError:
        raise ValueError(f"expected yes, no or always, not {text!r}") from None


def boolean(text: str) -> bool:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r} (yes/no, true/false, on/off, 1/0)")


def _decimal(text: str) -> int:
    """A string of ASCII digits as a number, a huge one as 2**64 (out of every range here):
    int() refuses more than 4300 digits with a message about Python, not the value."""
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= 20 else 1 << 64


def uint32(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"not an unsigned number: {text!r}")
    number = _decimal(text)
    if number > U32_MAX:
        raise ValueError(f"out of range 0..{U32_MAX}: {text}")
    return number


MTU_FLOOR = 576  # RFC 2132 option 26's own minimum
MTU_CEILING = 65535


def mtu(text: str) -> int:
    """MinimumMTU=: an MTU, 576..65535."""
    value = uint32(text)
    if not MTU_FLOOR <= value <= MTU_CEILING:
        raise ValueError(f"out of range {MTU_FLOOR}..{MTU_CEILING}: {text}")
    return value


def seconds(text: str) -> int:
    """A time span in whole seconds: `90`, `90s`, `5min`, `2h`, `1d`, or sums: `1h 30min`."""
    total, pos = 0, 0
    while pos < len(text):
        match = _SPAN_WORD.match(text, pos) if text.isascii() else None
        if match is None or match.group(2) not in _SECONDS:
            raise ValueError(f"not a time span: {text!r} (e.g. 60, 90s, 5min, 2h, 1d)")
        total += _decimal(match.group(1)) * _SECONDS[match.group(2)]
        pos = match.end()
        while pos < len(text) and text[pos] in WHITESPACE:
            pos += 1
    if total > U32_MAX:
        raise ValueError(f"longer than {U32_MAX} seconds: {text!r}")
    return total


MAX_MIN_LEASE = 86400


def min_lease_time(text: str) -> int:
    """MinimumLeaseTime=: a time span of at most a day. Raising every lease to longer than
    that would keep an address the server has long given to someone else."""
    value = seconds(text)
    if value > MAX_MIN_LEASE:
        raise ValueError(f"more than a day ({MAX_MIN_LEASE} s): {text!r}")
    return value


def words(text: str) -> list[str]:
    return [word for word in text.replace("\t", " ").split(" ") if word]


def _is_address(word: str) -> bool:
    try:
        IPv4Address(word)
    except ValueError:
        return False
    return True


def networks(text: str) -> tuple[IPv4Network, ...]:
    out = []
    for word in words(text):
        if "/" not in word and _is_address(word):  # a /32, which no wider lease lies in
            raise ValueError(f"a range needs its prefix length: {word!r} (such as "
                             f"10.20.0.0/16; {word}/32 would allow a /32 lease only)")
        try:
            # strict: host bits set in a range is a typo we would rather hear about
            out.append(IPv4Network(word, strict=True))
        except ValueError as exc:
            raise ValueError(f"not an IPv4 range: {word!r} ({exc})") from None
    return tuple(out)


ServerSpec = IPv4Address | bytes  # a server identifier, or a 6-byte source MAC address
_MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")


def host_address(text: str) -> IPv4Address:
    """One IPv4 address a host may hold (RequestAddress=): not 0/8, loopback, multicast,
    class E or the limited broadcast."""
    try:
        address = IPv4Address(text)
    except ValueError:
        raise ValueError(f"not an IPv4 address: {text!r}") from None
    if address in IPv4Network("0.0.0.0/8") or address.is_loopback or address.is_multicast \
            or address.is_reserved:
        raise ValueError(f"{address} is not an address a host may hold")
    return address


def servers(text: str) -> tuple[ServerSpec, ...]:
    """AllowServers=/DenyServers=: server identifiers (IPv4) and MAC addresses."""
    out: list[ServerSpec] = []
    for word in words(text):
        if _MAC.fullmatch(word):
            out.append(bytes.fromhex(word.replace(":", "")))
            continue
        try:
            out.append(IPv4Address(word))
        except ValueError:
            raise ValueError(f"not an IPv4 address or a MAC address: {word!r}") from None
    return tuple(out)


def show_servers(value: tuple[ServerSpec, ...]) -> str:
    return " ".join(v.hex(":") if isinstance(v, bytes) else str(v) for v in value)


def route_table(text: str) -> int:
    """RouteTable=: main or a table number (not a reserved one)."""
    if text == "main":
        return RT_TABLE_MAIN
    table = uint32(text)
    if table == 0 or table in RESERVED_TABLES:
        raise ValueError(f"table {table} is reserved")
    return table


def show_route_table(table: int) -> str:
    return "main" if table == RT_TABLE_MAIN else str(table)


def classless_table(text: str) -> int | None:
    """ClasslessRoutes=: main, ignore (None: option 121 is treated as absent) or table:N."""
    if text == "main":
        return RT_TABLE_MAIN
    if text == "ignore":
        return None
    kind, sep, number = text.partition(":")
    if kind == "table" and sep:
        table = uint32(number)
        if table in RESERVED_TABLES:
            raise ValueError(f"table {table} is reserved")
        return table
    raise ValueError(f"expected main, ignore or table:N, not {text!r}")


def show_classless_table(table: int | None) -> str:
    if table is None:
        return "ignore"
    return "main" if table == RT_TABLE_MAIN else f"table:{table}"


# RequestOptions= cannot take these out: no lease can be bound without them
NEEDED_OPTIONS = frozenset({1, 51, 54})
# The client sends these itself, each from its own setting: SendOption= cannot.
OWN_OPTIONS = frozenset({12, 43, 50, 53, 54, 55, 57, 60, 61, 77, 80, 81, 108})
# The codec reads these from the server by name and will not send them as raw data (the
# engine would fail at its first DISCOVER): SendOption= cannot either. The codec's list
# is leasebox.core.wire.options.NOT_UNKNOWN (tests/test_config.py keeps them in step).
SERVER_OPTIONS = frozenset({1, 3, 6, 15, 26, 28, 42, 51, 52, 56, 58, 59, 114, 119, 121})


def _code(word: str) -> int:
    code = _decimal(word) if word.isascii() and word.isdigit() else 0
    if not 1 <= code <= 254:
        raise ValueError(f"not an option code 1..254: {word!r}")
    return code


def option_codes(text: str) -> tuple[int, ...]:
    """Option codes 1..254 (0 and 255 are padding and the end mark, never options); -N
    takes a code out of the built-in list (kept as -N)."""
    out = []
    for word in words(text):
        if word.startswith("-"):
            code = _code(word[1:])
            if code in NEEDED_OPTIONS:
                raise ValueError(f"option {code} cannot be taken out: no lease without it")
            out.append(-code)
        else:
            out.append(_code(word))
    return tuple(out)


def _typed_value(kind: str, text: str) -> bytes:
    """VALUE of TYPE, as option data (network byte order)."""
    try:
        if kind in ("uint8", "uint16", "uint32"):
            size = {"uint8": 1, "uint16": 2, "uint32": 4}[kind]
            number = uint32(text)
            if number >= 1 << 8 * size:
                raise ValueError(f"out of range 0..{(1 << 8 * size) - 1}")
            return number.to_bytes(size, "big")
        if kind == "ipv4address":
            return b"".join(IPv4Address(a).packed for a in text.split(","))
        if kind == "string":
            if not text or not all(" " <= c <= "~" for c in text):
                raise ValueError("not printable ASCII")
            return text.encode("ascii")
        if kind == "hex":
            return hex_bytes(text)
    except (ValueError, OverflowError) as exc:
        article = "an" if kind == "ipv4address" else "a"
        raise ValueError(f"{text!r} is not {article} {kind}: {exc}") from None
    raise ValueError(f"unknown type {kind!r} (uint8, uint16, uint32, ipv4address, string, "
                     "hex)")


def _code_type_value(text: str) -> tuple[int, bytes]:
    code, sep, rest = text.partition(":")
    kind, sep2, value = rest.partition(":")
    if not sep or not sep2:
        raise ValueError(f"expected CODE:TYPE:VALUE, not {text!r}")
    data = _typed_value(kind, value)
    if len(data) > 255:
        raise ValueError(f"{len(data)} octets: an option holds at most 255")
    return _code(code), data


def send_option(text: str) -> tuple[tuple[int, bytes], ...]:
    """SendOption=CODE:TYPE:VALUE: one option the client sends as it is."""
    code, data = _code_type_value(text)
    if code in OWN_OPTIONS:
        raise ValueError(f"option {code} is sent from its own setting, not SendOption=")
    if code in SERVER_OPTIONS:
        raise ValueError(f"option {code} is one leasebox reads from the server; "
                         "SendOption= cannot send it")
    return ((code, data),)


def vendor_option(text: str) -> tuple[tuple[int, bytes], ...]:
    """SendVendorOption=CODE:TYPE:VALUE: one sub-option of option 43."""
    return (_code_type_value(text),)


def user_class(text: str) -> tuple[bytes, ...]:
    """UserClass=: user classes (RFC 3004), whitespace-separated printable ASCII. No quotes
    or backslashes: systemd takes them apart (networkd's UserClass="a b" is one class),
    and sent as they are they would make classes the administrator did not mean."""
    out = []
    for word in words(text):
        if len(word) > 255 or not all("!" <= c <= "~" for c in word):
            raise ValueError(f"not a user class (printable ASCII, at most 255): {word!r}")
        if any(c in "\"'\\" for c in word):
            raise ValueError(f"no quotes or backslashes in a user class: {word!r} (classes are "
                             "separated by spaces and cannot hold one)")
        out.append(word.encode("ascii"))
    return tuple(out)


def show_user_class(value: tuple[bytes, ...]) -> str:
    return " ".join(c.decode("ascii") for c in value)


def show_options(value: tuple[tuple[int, bytes], ...]) -> str:
    return " ".join(f"{code}:hex:{data.hex(':')}" for code, data in value)


class FQDNUpdate(StrEnum):
    BOTH = "both"
    PTR = "ptr"
    NONE = "none"


def fqdn_update(text: str) -> FQDNUpdate:
    try:
        return FQDNUpdate(text)
    except ValueError:
        raise ValueError(f"expected both, ptr or none, not {text!r}") from None


def probe_timing(text: str) -> ProbeTiming:
    try:
        return ProbeTiming(text)
    except ValueError:
        raise ValueError(f"expected fast or rfc5227, not {text!r}") from None


MAX_FQDN = 250  # 255 octets of option 81, less its 3 octets of flags and 2 of wire form


def fqdn(text: str) -> str:
    """FQDN=: a host name with at least two labels; a trailing dot is allowed and dropped."""
    name = text[:-1] if text.endswith(".") else text
    problem = hostname_problem(name)
    if problem:
        raise ValueError(f"{text!r}: {problem}")
    if "." not in name:
        raise ValueError(f"{text!r} is not fully qualified (no domain)")
    if len(name) > MAX_FQDN:
        # three octets of flags and the name in wire form (two more) in one option 81:
        # sent in two parts, servers that read only the first (dnsmasq) would cut it
        raise ValueError(f"{text!r} is longer than {MAX_FQDN} characters, all that one "
                         "client FQDN option (81) carries")
    return name


def hostname(text: str) -> str:
    # the codec's own rule, so that whatever is configured can always be encoded
    problem = hostname_problem(text)
    if problem:
        raise ValueError(f"{text!r}: {problem}")
    return text


def printable(text: str) -> str:
    """Printable ASCII, 1..255 characters: what fits one DHCP option and a log line."""
    if not text.isascii() or not text.isprintable() or len(text) > 255:
        raise ValueError(f"not 1..255 printable ASCII characters: {text!r}")
    return text


def hex_bytes(text: str) -> bytes:
    """Octets in hex, with or without colons: `00:04:1f:...` or `00041f...`."""
    if _HEX_BYTES.fullmatch(text) is None:
        raise ValueError(f"not hex octets (like 00:03:00:01:...): {text!r}")
    return bytes.fromhex(text.replace(":", ""))


def duid(text: str) -> bytes:
    raw = hex_bytes(text)
    if not 3 <= len(raw) <= MAX_DUID:
        raise ValueError(f"a DUID is a 2-octet type and 1..128 octets, not {len(raw)} octets")
    return raw


def show_hex(raw: bytes) -> str:
    return raw.hex(":")


def iaid(text: str) -> int:
    """A 32-bit IAID, in decimal or as 0x followed by hex digits."""
    if text.lower().startswith("0x"):
        digits = text[2:]
        if not digits or len(digits) > 8 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError(f"not a 32-bit number: {text!r}")
        return int(digits, 16)
    return uint32(text)


def gid(text: str) -> int:
    """A numeric group id: the engine has no user database to look a name up in."""
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"not a numeric group id: {text!r} (use `getent group NAME` to find "
                         "the number; the engine cannot resolve names in its sandbox)")
    number = _decimal(text)
    if number >= U32_MAX or number == OVERFLOW_ID:
        raise ValueError(f"group id {number} cannot be told apart from an unknown group")
    return number


def client_identifier(text: str) -> ClientIdentifier:
    try:
        return ClientIdentifier(text)
    except ValueError:
        choices = ", ".join(c.value for c in ClientIdentifier)
        raise ValueError(f"expected one of {choices}, not {text!r}") from None


def show(value: object) -> str:
    """A value as it is spelled in a file (the inverse of the parsers above)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, bytes):
        return show_hex(value)
    if isinstance(value, tuple):
        return " ".join(show(v) for v in value)
    return str(value)

