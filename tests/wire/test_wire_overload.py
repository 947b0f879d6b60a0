"""Option 52: options in sname and file (RFC 2131 4.1), each read at most once."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from leasebox.core.wire import DecodeError, decode
from tests.wire.wire_samples import SERVER, opt, raw_message

ACK = opt(53, b"\x05") + opt(54, SERVER.packed)
DNS = IPv4Address("192.0.2.53")


def test_options_in_file() -> None:
    msg = decode(raw_message(ACK + opt(52, b"\x01") + b"\xff",
                             file=opt(51, bytes(4)) + opt(6, DNS.packed) + b"\xff"))
    assert msg.lease_time == 0
    assert msg.dns_servers == (DNS,)
    assert msg.file == b""


def test_options_in_sname() -> None:
    msg = decode(raw_message(ACK + opt(52, b"\x02") + b"\xff", sname=opt(51, bytes(4)) + b"\xff",
                             file=b"boot.img"))
    assert msg.lease_time == 0
    assert msg.sname == b""
    assert msg.file == b"boot.img"


def test_concatenation_order_is_options_file_sname() -> None:
    # RFC 3396 7: the aggregate buffer is options, then file, then sname.
    msg = decode(raw_message(ACK + opt(51, bytes(4)) + opt(52, b"\x03") + opt(6, b"\x01") + b"\xff",
                             file=opt(6, b"\x02\x03\x04\x05") + b"\xff",
                             sname=opt(6, b"\x06\x07\x08") + b"\xff"))
    assert msg.dns_servers == (IPv4Address("1.2.3.4"), IPv4Address("5.6.7.8"))


def test_overload_in_the_last_octet_of_the_packet() -> None:
    data = raw_message(ACK + opt(51, bytes(4)), pad_to=0) + b"\x34"
    with pytest.raises(DecodeError, match="no length octet"):
        decode(data)


def test_overload_whose_value_is_the_last_octet_without_end() -> None:
    data = raw_message(ACK + opt(51, bytes(4)) + opt(52, b"\x01"), pad_to=0,
                       file=b"\xff")
    assert decode(data).lease_time == 0


def test_repeated_overload_rejects_the_message() -> None:
    with pytest.raises(DecodeError, match="option 52"):
        decode(raw_message(ACK + opt(52, b"\x01") + opt(52, b"\x01") + b"\xff"))


@pytest.mark.parametrize("value", [b"", b"\x00", b"\x04", b"\x01\x02"])
def test_bad_overload_value_rejects_the_message(value: bytes) -> None:
    with pytest.raises(DecodeError, match="option 52"):
        decode(raw_message(ACK + opt(52, value) + b"\xff"))


def test_self_referencing_overload_is_dropped_not_followed() -> None:
    # file says "also read file" (and sname): each field is read once regardless.
    msg = decode(raw_message(ACK + opt(51, bytes(4)) + opt(52, b"\x01") + b"\xff",
                             file=opt(52, b"\x03") + opt(6, DNS.packed) + b"\xff",
                             sname=opt(6, DNS.packed) + b"\xff"))
    assert msg.dns_servers == (DNS,)  # sname was not read
    assert msg.dropped == (52,)


def test_option_running_past_the_end_of_file_is_structural() -> None:
    # 128 octets of file: an option starting at 126 with length 4 would read into the cookie.
    file = b"\0" * 126 + b"\x06\x04"
    with pytest.raises(DecodeError, match="file"):
        decode(raw_message(ACK + opt(52, b"\x01") + b"\xff", file=file))


def test_missing_end_in_sname_is_accepted() -> None:
    sname = opt(12, b"h" * 62)  # fills all 64 octets, no END
    msg = decode(raw_message(ACK + opt(51, bytes(4)) + opt(52, b"\x02") + b"\xff", sname=sname))
    assert msg.hostname == "h" * 62
