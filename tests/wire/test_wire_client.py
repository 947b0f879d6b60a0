"""The client builders against RFC 2131 table 5, and their round trips."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

import pytest

from leasebox.wire import (
    ZERO,
    EncodeError,
    Message,
    MessageType,
    Op,
    OptionCode,
    decline,
    decode,
    discover,
    encode,
    inform,
    release,
    request_init_reboot,
    request_rebinding,
    request_renewing,
    request_selecting,
)
from tests.wire.wire_samples import ADDRESS, MAC, SERVER

COMMON = dict(client_id=b"\x01" + MAC, hostname="client-1", vendor_class_id=b"leasebox 0.1",
              parameter_request_list=(1, 3, 6, 15, 119, 121), max_message_size=1500,
              ipv6_only_preferred=True)

BUILDERS: dict[str, Callable[[], Message]] = {
    "discover": lambda: discover(1, MAC, secs=3, broadcast=True, requested_ip=ADDRESS,
                                 lease_time=3600, rapid_commit=True, **COMMON),  # type: ignore[arg-type]
    "request_selecting": lambda: request_selecting(
        2, MAC, server_id=SERVER, requested_ip=ADDRESS, secs=4, broadcast=True,
        lease_time=3600, **COMMON),  # type: ignore[arg-type]
    "request_init_reboot": lambda: request_init_reboot(
        3, MAC, requested_ip=ADDRESS, broadcast=True, **COMMON),  # type: ignore[arg-type]
    "request_renewing": lambda: request_renewing(
        4, MAC, ciaddr=ADDRESS, **COMMON),  # type: ignore[arg-type]
    "request_rebinding": lambda: request_rebinding(
        5, MAC, ciaddr=ADDRESS, **COMMON),  # type: ignore[arg-type]
    "decline": lambda: decline(6, MAC, requested_ip=ADDRESS, server_id=SERVER,
                               client_id=b"\x01" + MAC, message="address in use"),
    "release": lambda: release(7, MAC, ciaddr=ADDRESS, server_id=SERVER,
                               client_id=b"\x01" + MAC),
    "inform": lambda: inform(8, MAC, ciaddr=ADDRESS, broadcast=False, **COMMON),  # type: ignore[arg-type]
}

# RFC 2131 table 5: (ciaddr, broadcast flag, requested ip, server id, carries common options)
TABLE_5 = {
    "discover": (ZERO, True, ADDRESS, None, True),
    "request_selecting": (ZERO, True, ADDRESS, SERVER, True),
    "request_init_reboot": (ZERO, True, ADDRESS, None, True),
    "request_renewing": (ADDRESS, False, None, None, True),
    "request_rebinding": (ADDRESS, False, None, None, True),
    "decline": (ZERO, False, ADDRESS, SERVER, False),
    "release": (ADDRESS, False, None, SERVER, False),
    "inform": (ADDRESS, False, None, None, True),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_round_trip(name: str) -> None:
    msg = BUILDERS[name]()
    assert decode(encode(msg)) == msg


@pytest.mark.parametrize("name", BUILDERS)
def test_table_5(name: str) -> None:
    msg = BUILDERS[name]()
    ciaddr, broadcast, requested_ip, server_id, common = TABLE_5[name]
    assert msg.op is Op.BOOTREQUEST
    assert msg.yiaddr == msg.siaddr == msg.giaddr == ZERO
    assert msg.ciaddr == ciaddr
    assert msg.broadcast_flag is broadcast
    assert msg.requested_ip == requested_ip
    assert msg.server_id == server_id
    assert msg.chaddr == MAC and msg.htype == 1
    if common:
        assert msg.hostname == "client-1"
        assert msg.vendor_class_id == b"leasebox 0.1"
        assert msg.max_message_size == 1500
        assert msg.parameter_request_list == (1, 3, 6, 15, 119, 121, 108)
    else:
        # DECLINE and RELEASE: everything but client id, server id (and message) MUST NOT
        assert msg.hostname is msg.vendor_class_id is msg.max_message_size is None
        assert msg.parameter_request_list == ()
        assert msg.lease_time is None and msg.secs == 0
    assert msg.client_id == b"\x01" + MAC


def test_message_types() -> None:
    types = {name: build().message_type for name, build in BUILDERS.items()}
    assert types == {
        "discover": MessageType.DISCOVER, "request_selecting": MessageType.REQUEST,
        "request_init_reboot": MessageType.REQUEST, "request_renewing": MessageType.REQUEST,
        "request_rebinding": MessageType.REQUEST, "decline": MessageType.DECLINE,
        "release": MessageType.RELEASE, "inform": MessageType.INFORM,
    }


def test_rapid_commit_only_in_discover() -> None:
    assert BUILDERS["discover"]().rapid_commit
    assert not any(build().rapid_commit for name, build in BUILDERS.items() if name != "discover")


def test_lease_time_never_in_inform_decline_release() -> None:
    for name in ("inform", "decline", "release"):
        assert BUILDERS[name]().lease_time is None
    assert BUILDERS["request_selecting"]().lease_time == 3600


def test_decline_carries_the_reason() -> None:
    assert BUILDERS["decline"]().error_message == "address in use"


def test_minimal_discover() -> None:
    msg = discover(0xFFFFFFFF, MAC)
    assert msg == Message(op=Op.BOOTREQUEST, xid=0xFFFFFFFF, chaddr=MAC,
                          message_type=MessageType.DISCOVER)
    assert len(encode(msg)) == 300


def test_ipv6_only_preferred_is_requested_once() -> None:
    prl = discover(1, MAC, parameter_request_list=(108, 1), ipv6_only_preferred=True)
    assert prl.parameter_request_list == (108, 1)
    only = discover(1, MAC, ipv6_only_preferred=True).parameter_request_list
    assert only == (OptionCode.IPV6_ONLY_PREFERRED,)


def test_other_hardware_types() -> None:
    msg = discover(1, b"", htype=32)  # InfiniBand: hlen 0 (RFC 4390)
    assert decode(encode(msg)) == msg


@pytest.mark.parametrize("build", [
    lambda: request_selecting(1, MAC, server_id=ZERO, requested_ip=ADDRESS),
    lambda: request_selecting(1, MAC, server_id=SERVER, requested_ip=ZERO),
    lambda: request_init_reboot(1, MAC, requested_ip=ZERO),
    lambda: request_renewing(1, MAC, ciaddr=ZERO),
    lambda: request_rebinding(1, MAC, ciaddr="192.0.2.10"),
    lambda: decline(1, MAC, requested_ip=ZERO, server_id=SERVER),
    lambda: release(1, MAC, ciaddr=ADDRESS, server_id=ZERO),
    lambda: inform(1, MAC, ciaddr=ZERO),
    lambda: discover(1, MAC[:5]),
    lambda: discover(2**32, MAC),
    lambda: discover(1, MAC, max_message_size=575),
    lambda: discover(1, MAC, hostname="-x"),
    lambda: discover(1, MAC, client_id=b"\x01"),
    lambda: discover(1, MAC, parameter_request_list=(1, 300)),
    lambda: discover(1, MAC, secs=-1),
    lambda: decline(1, MAC, requested_ip=ADDRESS, server_id=SERVER, message="a\nb"),
    lambda: request_selecting(1, MAC, server_id=SERVER, requested_ip=IPv4Address(1),
                              lease_time=2**32),
])
def test_builders_refuse_bad_values(build: Callable[[], Message]) -> None:
    with pytest.raises(EncodeError):
        build()
