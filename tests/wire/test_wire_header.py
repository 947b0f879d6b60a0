"""The fixed header: sizes, op, htype/hlen, magic cookie."""

from __future__ import annotations

import pytest

from leasebox.core.wire import DecodeError, Op, decode
from leasebox.core.wire.limits import MAX_MESSAGE_SIZE
from tests.wire.wire_samples import raw_ack


def test_minimum_is_240_octets() -> None:
    data = raw_ack(pad_to=0)
    with pytest.raises(DecodeError, match="at least 240"):
        decode(data[:239])
    # header and cookie alone, no options at all: a BOOTP message without DHCP options
    msg = decode(data[:240])
    assert msg.message_type is None


def test_maximum_is_a_udp_datagram() -> None:
    with pytest.raises(DecodeError, match="UDP"):
        decode(raw_ack(pad_to=MAX_MESSAGE_SIZE + 1))
    assert decode(raw_ack(pad_to=MAX_MESSAGE_SIZE)).op is Op.BOOTREPLY


@pytest.mark.parametrize("op", [0, 3, 255])
def test_op(op: int) -> None:
    with pytest.raises(DecodeError, match="op"):
        decode(raw_ack(op=op))


@pytest.mark.parametrize(("htype", "hlen"), [(1, 0), (1, 5), (1, 7), (1, 16), (6, 17),
                                             (0, 6), (255, 255)])
def test_bad_htype_hlen(htype: int, hlen: int) -> None:
    with pytest.raises(DecodeError, match=r"htype|hlen"):
        decode(raw_ack(htype=htype, hlen=hlen))


@pytest.mark.parametrize(("htype", "hlen"), [(6, 6), (32, 0), (32, 16), (255, 3)])
def test_other_hardware(htype: int, hlen: int) -> None:
    chaddr = bytes(range(1, 17))
    msg = decode(raw_ack(htype=htype, hlen=hlen, chaddr=chaddr))
    assert msg.htype == htype
    assert msg.chaddr == chaddr[:hlen]


@pytest.mark.parametrize("cookie", [b"\x00\x00\x00\x00", b"\x63\x82\x53\x64", b"\x63\x53\x82\x63"])
def test_magic_cookie(cookie: bytes) -> None:
    with pytest.raises(DecodeError, match="cookie"):
        decode(raw_ack(cookie=cookie))


def test_chaddr_padding_is_ignored() -> None:
    msg = decode(raw_ack(chaddr=bytes(range(1, 17))))
    assert msg.chaddr == bytes(range(1, 7))


@pytest.mark.parametrize("value", ["not bytes", None, 42, [1, 2]])
def test_non_bytes_input_is_a_decode_error(value: object) -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        decode(value)  # type: ignore[arg-type]


def test_bytearray_and_memoryview() -> None:
    data = raw_ack()
    # any bytes-like object decodes, whatever the annotation promises callers
    assert decode(bytearray(data)) == decode(memoryview(data)) == decode(data)  # type: ignore[arg-type]
