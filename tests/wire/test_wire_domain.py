"""Option 119 (RFC 3397 search list, RFC 1035 compression): decoding is bounded and
terminates for every input; only backward pointers are followed."""

from __future__ import annotations

import pytest

from leasebox.core.wire.domain import _read_name, decode_search_list, encode_search_list
from leasebox.core.wire.errors import BadOption
from leasebox.core.wire.limits import MAX_SEARCH_NAMES


def name(*labels: str) -> bytes:
    return b"".join(bytes((len(x),)) + x.encode() for x in labels) + b"\0"


def pointer(offset: int) -> bytes:
    return bytes((0xC0 | offset >> 8, offset & 0xFF))


def test_uncompressed_names() -> None:
    assert decode_search_list(name("example", "com") + name("example", "net")) == (
        "example.com", "example.net")


def test_compressed_names() -> None:
    data = name("example", "com") + b"\x04corp" + pointer(0) + b"\x03lab" + pointer(13)
    assert decode_search_list(data) == ("example.com", "corp.example.com", "lab.corp.example.com")


def test_a_name_that_is_only_a_pointer() -> None:
    assert decode_search_list(name("a", "b") + pointer(2)) == ("a.b", "b")


def test_the_published_poc_is_rejected() -> None:
    # CVE-2020-7461 PoC: a label made of pointer bytes, then a pointer to itself.
    with pytest.raises(BadOption):
        decode_search_list(bytes.fromhex("02c00100014 1c001".replace(" ", "")))


@pytest.mark.parametrize("data", [
    pointer(0),  # points at itself
    b"\x01a" + pointer(0),  # points at the start of its own name: would loop
    name("a") + b"\x01b" + pointer(3),  # points at its own first label
    name("a") + pointer(5),  # forward pointer
    name("a") + pointer(0x3FFF),  # far forward
])
def test_pointers_that_do_not_point_backwards(data: bytes) -> None:
    with pytest.raises(BadOption, match="backwards"):
        decode_search_list(data)


def test_pointer_chain_must_strictly_decrease() -> None:
    # name 1 at 3 is "b" + pointer to 0 ("a"); name 2 jumps to 3, whose pointer goes to 0:
    # every target lies below the previous one, so this is followed.
    good = name("a") + b"\x01b" + pointer(0) + pointer(3)
    assert decode_search_list(good) == ("a", "b.a", "b.a")
    # A name at 4 jumping to 0, where the pointer at 2 leads to 0 again. "Strictly before the
    # pointer" alone would allow it (0 < 2) and loop forever; it is not below the last target.
    loop = b"\x01a" + pointer(0) + pointer(0)
    with pytest.raises(BadOption, match="backwards"):
        _read_name(loop, 4)


def test_pointer_in_the_last_octet() -> None:
    with pytest.raises(BadOption, match="cut off"):
        decode_search_list(name("a") + b"\xc0")


def test_label_past_the_end() -> None:
    with pytest.raises(BadOption, match="past the end"):
        decode_search_list(b"\x05abc")


def test_name_without_terminator() -> None:
    with pytest.raises(BadOption, match="past the end"):
        decode_search_list(b"\x01a")


@pytest.mark.parametrize("kind", [0x40, 0x80])
def test_reserved_label_types(kind: int) -> None:
    with pytest.raises(BadOption, match="reserved"):
        decode_search_list(bytes((kind | 1,)) + b"a\0")


def test_expansion_past_255_octets_is_rejected() -> None:
    # Each name adds 4 labels to the previous one by pointer: cheap on the wire, long names.
    data = bytearray(name("a" * 60))
    starts = [0]
    while len(starts) < 6:
        starts.append(len(data))
        data += b"\x3c" + b"b" * 60 + pointer(starts[-2])
    with pytest.raises(BadOption, match="255"):
        decode_search_list(bytes(data))


def test_pointer_chains_are_bounded() -> None:
    # 300 pointers, each to the one before: every step is backwards, but the chain is long.
    data = bytearray(name("a"))
    for i in range(300):
        data += pointer(len(data) - 2 if i else 0)
    with pytest.raises(BadOption, match="too many compression pointers"):
        _read_name(bytes(data), len(data) - 2)
    with pytest.raises(BadOption):
        decode_search_list(bytes(data))


def test_name_count_is_bounded() -> None:
    data = name("a") + pointer(0) * MAX_SEARCH_NAMES
    with pytest.raises(BadOption, match="more than"):
        decode_search_list(data)


@pytest.mark.parametrize("data", [
    name("a;b"), name("-a"), name("a b"), name("a\nb"), b"\x00", b"\x00\x00",
])
def test_unsafe_or_empty_names_reject_the_option(data: bytes) -> None:
    with pytest.raises(BadOption):
        decode_search_list(data)


def test_the_root_name_is_skipped() -> None:
    """A trailing NUL, or "search ." in a server's configuration: the root alone, nothing
    to search; the other names stay."""
    assert decode_search_list(name("example", "com") + b"\x00") == ("example.com",)
    assert decode_search_list(b"\x00" + name("a")) == ("a",)


def test_empty_option() -> None:
    with pytest.raises(BadOption):
        decode_search_list(b"")


def test_encoder_compresses_shared_suffixes() -> None:
    data = encode_search_list(["example.com", "corp.example.com", "lab.corp.example.com"])
    assert data == name("example", "com") + b"\x04corp" + pointer(0) + b"\x03lab" + pointer(13)


def test_encoder_keeps_case() -> None:
    names = ("Example.com", "x.example.com")
    assert decode_search_list(encode_search_list(names)) == names


@pytest.mark.parametrize("bad", ["", "a..b", "a;b", "-a", "a" * 64])
def test_encoder_refuses_unsafe_names(bad: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        encode_search_list(["ok.example", bad])


def test_total_expansion_is_bounded() -> None:
    # 60 names of ~100 characters, each a label plus a pointer to one long shared suffix:
    # small on the wire, 6000 octets written out.
    data = bytearray(name("s" * 40, "t" * 40))
    for i in range(60):
        data += bytes((20,)) + f"{i:020d}".encode() + pointer(0)
    assert len(data) < 1500
    with pytest.raises(BadOption, match="expand"):
        decode_search_list(bytes(data))
