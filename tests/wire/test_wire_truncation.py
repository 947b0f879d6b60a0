"""Every prefix of a valid ACK and of a valid frame: DecodeError or a valid decode."""

from __future__ import annotations

import pytest

from leasebox.core import record
from leasebox.core.wire import DecodeError, Message, decode, decode_frame, encode, encode_frame
from tests.wire.wire_samples import MAC, typical_ack

ACK = typical_ack(error_message="x" * 300)  # one option long enough to be split
DATA = encode(ACK)


def absent(value: object) -> bool:
    return value is None or value is False or value == ()


def test_every_prefix_of_an_ack() -> None:
    decoded = 0
    for length in range(len(DATA) + 1):
        try:
            msg = decode(DATA[:length])
        except DecodeError:
            continue
        decoded += 1
        assert isinstance(msg, Message)
        # A prefix can only lose whole options, never change one; the exception is an
        # option split in pieces (RFC 3396), which may lose its last pieces.
        for name in record.fields(Message):
            value, original = getattr(msg, name), getattr(ACK, name)
            if name == "error_message" and value:
                assert original.startswith(value)
            else:
                assert absent(value) or value == original, (length, name)
    # cut right after an option (END missing) decodes, as documented
    assert decoded > 10


def test_full_length_decodes_to_the_original() -> None:
    assert decode(DATA) == ACK


@pytest.mark.parametrize("frame", [
    encode_frame(DATA, src_mac=MAC, src_port=67, dst_port=68),
    encode_frame(DATA[:300], src_mac=MAC, src_port=67, dst_port=68),
])
def test_every_prefix_of_a_frame(frame: bytes) -> None:
    for length in range(len(frame)):
        with pytest.raises(DecodeError):
            decode_frame(frame[:length])
    assert decode_frame(frame).dst_port == 68
