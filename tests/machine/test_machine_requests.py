"""What goes out: RFC 2131 table 5, field by field, and every message encodes."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from leasebox.core import wire
from leasebox.core.machine import requests
from leasebox.core.machine.types import ClientConfig
from leasebox.core.wire.types import ZERO, Message, MessageType, Op
from tests.machine.machine_helpers import ADDRESS, MAC, SERVER

CONFIG = ClientConfig(client_id=b"\x01" + MAC, hostname="host-1", vendor_class_id=b"lbx",
                      request_options=(1, 3, 6), rapid_commit=True, ipv6_only_preferred=True,
                      max_message_size=1500, request_broadcast=True)
XID = 0x12345678


def all_messages() -> dict[str, Message]:
    return {
        "discover": requests.discover(CONFIG, XID, MAC, 3.7, ADDRESS),
        "selecting": requests.request_selecting(CONFIG, XID, MAC, 5, offered=ADDRESS,
                                                server_id=SERVER),
        "init-reboot": requests.request_init_reboot(CONFIG, XID, MAC, 0, ADDRESS),
        "renewing": requests.request_renewing(CONFIG, XID, MAC, 100000, ADDRESS),
        "decline": requests.decline(CONFIG, XID, MAC, ADDRESS, SERVER),
        "release": requests.release(CONFIG, XID, MAC, ADDRESS, SERVER),
    }


# name: (type, ciaddr, broadcast flag, requested ip, server id, carries the common options)
TABLE5 = {
    "discover": (MessageType.DISCOVER, ZERO, True, ADDRESS, None, True),
    "selecting": (MessageType.REQUEST, ZERO, True, ADDRESS, SERVER, True),
    "init-reboot": (MessageType.REQUEST, ZERO, True, ADDRESS, None, True),
    "renewing": (MessageType.REQUEST, ADDRESS, False, None, None, True),
    "decline": (MessageType.DECLINE, ZERO, False, ADDRESS, SERVER, False),
    "release": (MessageType.RELEASE, ADDRESS, False, None, SERVER, False),
}


@pytest.mark.parametrize("name", sorted(TABLE5))
def test_table5(name: str) -> None:
    msg = all_messages()[name]
    mtype, ciaddr, broadcast, requested, server, common = TABLE5[name]
    assert msg.op is Op.BOOTREQUEST and msg.xid == XID and msg.chaddr == MAC
    assert msg.message_type is mtype
    assert msg.ciaddr == ciaddr and msg.yiaddr == ZERO
    assert msg.broadcast_flag is broadcast
    assert msg.requested_ip == requested and msg.server_id == server
    assert msg.client_id == CONFIG.client_id  # every message, so the server finds the lease
    assert msg.lease_time is None
    if common:
        assert msg.hostname == "host-1" and msg.vendor_class_id == b"lbx"
        assert msg.parameter_request_list == (1, 3, 6, 108)
        assert msg.max_message_size == 1500
    else:
        assert msg.hostname is None and msg.vendor_class_id is None
        assert msg.parameter_request_list == () and msg.max_message_size is None
    assert msg.rapid_commit is (name == "discover")


def test_secs_is_bounded() -> None:
    msgs = all_messages()
    assert msgs["discover"].secs == 3
    assert msgs["renewing"].secs == 0xFFFF
    assert requests.discover(CONFIG, XID, MAC, -1, None).secs == 0


def test_classless_routes_are_asked_for_before_the_router() -> None:
    """RFC 3442: 121 MUST precede 3 and 33 in option 55 (a server fills in order);
    RequestOptions= adds codes after the default list (engine.config)."""
    default = requests.discover(ClientConfig(), XID, MAC, 0, None).parameter_request_list
    assert default.index(121) < default.index(3)


def test_max_message_size_never_below_576() -> None:
    config = ClientConfig(max_message_size=300)
    assert requests.discover(config, XID, MAC, 0, None).max_message_size == 576


def test_every_message_encodes() -> None:
    message_module = pytest.importorskip("leasebox.core.wire.message")
    decode = message_module.decode
    for name, msg in all_messages().items():
        back = decode(message_module.encode(msg))
        assert back.message_type is msg.message_type, name
        assert back.requested_ip == msg.requested_ip and back.server_id == msg.server_id
        assert back.ciaddr == msg.ciaddr and back.flags == msg.flags


def test_previous_address_only_when_known() -> None:
    assert requests.discover(ClientConfig(), XID, MAC, 0, None).requested_ip is None
    assert requests.discover(ClientConfig(), XID, MAC, 0,
                             IPv4Address("10.0.0.9")).requested_ip == IPv4Address("10.0.0.9")


def test_request_broadcast_no_clears_the_flag_before_there_is_an_address() -> None:
    """RequestBroadcast=no, the default; yes sets the flag (Table 5, above)."""
    quiet = ClientConfig()
    assert requests.discover(quiet, 1, MAC, 0, None).flags == 0
    assert requests.request_selecting(quiet, 1, MAC, 0, offered=ADDRESS,
                                      server_id=SERVER).flags == 0
    assert requests.request_init_reboot(quiet, 1, MAC, 0, ADDRESS).flags == 0
    loud = ClientConfig(request_broadcast=True)
    assert requests.discover(loud, 1, MAC, 0, None).flags == requests.BROADCAST_FLAG


def test_request_address_goes_in_a_discover_with_no_previous_address() -> None:
    from tests.machine.machine_helpers import Harness

    wanted = IPv4Address("192.0.2.123")
    h = Harness(ClientConfig(request_address=wanted))
    h.link_up()
    h.fire()
    assert h.last_sent().message.requested_ip == wanted
    plain = Harness()
    plain.link_up()
    plain.fire()
    assert plain.last_sent().message.requested_ip is None


def test_option_81_goes_instead_of_option_12() -> None:
    raw = b"\x05\x00\x00\x03box\x07example\x00"
    config = ClientConfig(hostname="box", client_fqdn=raw)
    for msg in (requests.discover(config, 1, MAC, 0, None),
                requests.request_renewing(config, 1, MAC, 0, ADDRESS)):
        assert msg.client_fqdn == raw and msg.hostname is None
        assert wire.decode(wire.encode(msg)).client_fqdn == raw
    assert requests.discover(ClientConfig(hostname="box"), 1, MAC, 0, None).hostname == "box"


def test_option_57_is_no_larger_than_the_links_mtu() -> None:
    """leasebox drops IP fragments: a server honouring option 57 must not send a reply
    the link would split (VXLAN's 1450, GCE's 1460)."""
    from tests.machine.machine_helpers import Harness

    h = Harness(ClientConfig(max_message_size=1500))
    h.client.set_link_mtu(1450)
    h.link_up()
    h.fire()
    assert h.last_sent().message.max_message_size == 1450
    h.client.set_link_mtu(9000)  # jumbo frames: the configured size stands
    h.fire()
    assert h.last_sent().message.max_message_size == 1500
