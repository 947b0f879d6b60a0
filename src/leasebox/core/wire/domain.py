"""Option 119, the domain search list (RFC 3397): names in RFC 1035 wire form, compressed.

Decoding never recurses and always terminates: a compression pointer must point strictly
before the place where the current run of labels began (the name's start, then the previous
pointer's target), so successive targets strictly decrease and no pointer can be reached
twice. Every name is bounded (255 octets, 127 pointers), so is the count of names, and so is
the total expansion: the names written out uncompressed must fit in MAX_OPTION_DATA, which
also guarantees that whatever decodes here can be encoded again (the lease file does that).
Each name must pass the host name check. Any violation rejects the whole option.
"""

from __future__ import annotations

from collections.abc import Iterable

from leasebox.core.wire.errors import BadOption
from leasebox.core.wire.limits import (
    MAX_NAME_WIRE_LENGTH,
    MAX_OPTION_DATA,
    MAX_POINTERS_PER_NAME,
    MAX_SEARCH_NAMES,
)
from leasebox.core.wire.strings import hostname_problem

_POINTER = 0xC0
_MAX_POINTER_TARGET = 0x3FFF


def decode_search_list(data: bytes) -> tuple[str, ...]:
    if not data:
        raise BadOption("empty search list")
    names: list[str] = []
    expanded = 0
    pos = 0
    while pos < len(data):
        if len(names) == MAX_SEARCH_NAMES:
            raise BadOption(f"more than {MAX_SEARCH_NAMES} names")
        name, pos = _read_name(data, pos)
        expanded += len(name) + 2  # its uncompressed wire length
        if expanded > MAX_OPTION_DATA:
            raise BadOption(f"names expand to more than {MAX_OPTION_DATA} octets")
        if name:  # the root alone (a trailing NUL, "search ."): nothing to search
            names.append(name)
    if not names:
        raise BadOption("no name but the root")
    return tuple(names)


def _read_name(data: bytes, start: int) -> tuple[str, int]:
    """The name at `start`, and where the next name begins."""
    end = len(data)
    labels: list[str] = []
    wire_length = 1  # the terminating root label
    pointers = 0
    floor = start  # a pointer must point strictly below this
    resume = -1  # where the next name starts: after the first pointer or the root label
    pos = start
    while True:
        if pos >= end:
            raise BadOption("name runs past the end of the option")
        length = data[pos]
        if length == 0:
            if resume < 0:
                resume = pos + 1
            break
        kind = length & _POINTER
        if kind == _POINTER:
            if pos + 1 >= end:
                raise BadOption("compression pointer cut off at the end of the option")
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= floor:
                raise BadOption("compression pointer does not point backwards")
            pointers += 1
            if pointers > MAX_POINTERS_PER_NAME:
                raise BadOption("too many compression pointers in one name")
            if resume < 0:
                resume = pos + 2
            pos = floor = target
            continue
        if kind:
            raise BadOption("reserved label type")
        label_end = pos + 1 + length
        if label_end > end:
            raise BadOption("label runs past the end of the option")
        wire_length += length + 1
        if wire_length > MAX_NAME_WIRE_LENGTH:
            raise BadOption(f"name longer than {MAX_NAME_WIRE_LENGTH} octets")
        labels.append(data[pos + 1 : label_end].decode("latin-1"))
        pos = label_end
    name = ".".join(labels)
    problem = hostname_problem(name) if labels else None
    if problem:
        raise BadOption(f"search name: {problem}")
    return name, resume


def encode_search_list(names: Iterable[str]) -> bytes:
    """Names in wire form, with suffix compression against names already written.

    Compression keeps the option short and means the round-trip tests exercise the
    decoder's pointer handling. Suffixes match case-sensitively so decoding gives back the
    exact spelling. Raises ValueError for a name that fails the host name check.
    """
    out = bytearray()
    seen: dict[str, int] = {}  # suffix -> offset where it was written
    count = expanded = 0
    for name in names:
        count += 1
        if count > MAX_SEARCH_NAMES:
            raise ValueError(f"more than {MAX_SEARCH_NAMES} names")
        problem = hostname_problem(name)
        if problem:
            raise ValueError(f"{name!r}: {problem}")
        expanded += len(name) + 2  # the decoder's bound, on the names written out
        if expanded > MAX_OPTION_DATA:
            raise ValueError(f"names expand to more than {MAX_OPTION_DATA} octets")
        labels = name.split(".")
        for i, label in enumerate(labels):
            suffix = ".".join(labels[i:])
            offset = seen.get(suffix)
            if offset is not None:
                out += bytes((_POINTER | offset >> 8, offset & 0xFF))
                break
            if len(out) <= _MAX_POINTER_TARGET:
                seen[suffix] = len(out)
            out.append(len(label))
            out += label.encode("ascii")
        else:
            out.append(0)
    if len(out) > MAX_OPTION_DATA:
        raise ValueError(f"search list longer than {MAX_OPTION_DATA} octets")
    return bytes(out)
