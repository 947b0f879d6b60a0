"""Link facts from rtnetlink: hand-made messages, then real ones from a namespace."""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leasebox.core.values import INFINITE
from leasebox.io.sockets import open_rtnl
from leasebox.runtime import rtnetlink as link
from tests.io.iolab import MAC, Veth, in_netns, ip, needs_root


def _attr(atype: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), atype) + value
    return raw + b"\0" * (-len(raw) % 4)


def _newlink(ifindex: int, flags: int, attrs: bytes, mtype: int = link.RTM_NEWLINK,
             arphrd: int = 1, family: int = 0) -> bytes:
    body = struct.pack("=BxHiII", family, arphrd, ifindex, flags, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 0, 0) + body


UP = link.IFF_UP | link.IFF_LOWER_UP
ATTRS = (_attr(link.IFLA_ADDRESS, MAC) + _attr(link.IFLA_MTU, struct.pack("=I", 1500))
         + _attr(link.IFLA_OPERSTATE, bytes([link.IF_OPER_UP])))


def test_a_bridges_news_of_its_port_is_not_the_links() -> None:
    """`ip link set eth0 nomaster`: the bridge says RTM_DELLINK, AF_BRIDGE, for its port,
    which is still there; io took it for the link removed, and exited."""
    for mtype in (link.RTM_DELLINK, link.RTM_NEWLINK):
        assert list(link.parse(_newlink(7, UP, ATTRS, mtype, family=socket.AF_BRIDGE))) == []
    assert list(link.parse(_newlink(7, 0, b"", link.RTM_DELLINK))) == [link.LinkGone(7)]


def test_parse_newlink() -> None:
    (event,) = link.parse(_newlink(7, UP, ATTRS))
    assert event == link.LinkFacts(7, 1, MAC, 1500, carrier=True, flags=UP)
    (event,) = link.parse(_newlink(7, UP | link.IFF_LOOPBACK,
                                   ATTRS + _attr(link.IFLA_MAX_MTU, struct.pack("=I", 9000))))
    assert isinstance(event, link.LinkFacts)
    assert (event.flags, event.max_mtu) == (UP | link.IFF_LOOPBACK, 9000)
    (event,) = link.parse(_newlink(7, UP, ATTRS + _attr(link.IFLA_MAX_MTU, b"\1\2")))
    assert isinstance(event, link.LinkFacts) and event.max_mtu is None  # wrong size: unread


def _linkinfo(*inner: bytes) -> bytes:
    return _attr(link.IFLA_LINKINFO | 0x8000, b"".join(inner))  # (NLA_F_NESTED, as sent)


@pytest.mark.parametrize(("attrs", "master", "kind"), [
    (b"", 0, ""),
    (_attr(link.IFLA_MASTER, struct.pack("=I", 9)), 9, ""),
    (_attr(link.IFLA_MASTER, struct.pack("=I", 9))
     + _linkinfo(_attr(1, b"veth\0"), _attr(link.IFLA_INFO_SLAVE_KIND, b"bridge\0")),
     9, "bridge"),
    (_linkinfo(_attr(link.IFLA_INFO_SLAVE_KIND, b"vrf")), 0, "vrf"),
    (_linkinfo(_attr(link.IFLA_INFO_SLAVE_KIND, b"Br idge\0")), 0, ""),  # not a kind's name
    (_linkinfo(_attr(1, b"bridge\0")), 0, ""),  # the link's own kind, not its master's
    (_attr(link.IFLA_MASTER, b"\1\2"), 0, ""),  # wrong size: unread
])
def test_parse_master(attrs: bytes, master: int, kind: str) -> None:
    """A bridge's or bond's port is not a link to run on (io.loop, port_of)."""
    (event,) = link.parse(_newlink(7, UP, ATTRS + attrs))
    assert isinstance(event, link.LinkFacts)
    assert (event.master, event.master_kind) == (master, kind)


def test_parse_own_kind() -> None:
    (event,) = link.parse(_newlink(7, UP, ATTRS + _linkinfo(
        _attr(link.IFLA_INFO_KIND, b"macvtap\0"), _attr(link.IFLA_INFO_SLAVE_KIND, b"vrf\0"))))
    assert isinstance(event, link.LinkFacts)
    assert (event.kind, event.master_kind) == ("macvtap", "vrf")


def test_a_bad_nested_attribute_is_refused() -> None:
    with pytest.raises(link.LinkParseError):
        list(link.parse(_newlink(7, UP, ATTRS + _linkinfo(struct.pack("=HH", 40, 4)))))


@pytest.mark.parametrize(("raw", "name"), [
    (b"eth0\0", "eth0"), (b"eth0", "eth0"), (b"a" * 15 + b"\0", "a" * 15),
    (b"a" * 16, ""), (b"\0", ""), (b"et h0\0", ""), (b"a/b\0", ""),
    (b"\xc3\xa9\0", ""),  # present, but not a name leasebox takes: not ours either
])
def test_parse_ifname(raw: bytes, name: str) -> None:
    (event,) = link.parse(_newlink(7, UP, ATTRS + _attr(link.IFLA_IFNAME, raw)))
    assert isinstance(event, link.LinkFacts) and event.name == name


@pytest.mark.parametrize(("flags", "operstate", "carrier"), [
    (UP, link.IF_OPER_UP, True),
    (UP, link.IF_OPER_UNKNOWN, True),
    (link.IFF_UP, link.IF_OPER_UP, False),  # no lower layer
    (link.IFF_LOWER_UP, link.IF_OPER_UP, False),  # administratively down
    (UP, 5, False),  # dormant (e.g. 802.1X not done)
    (UP, 2, False),  # down
])
def test_carrier(flags: int, operstate: int, carrier: bool) -> None:
    attrs = _attr(link.IFLA_ADDRESS, MAC) + _attr(link.IFLA_OPERSTATE, bytes([operstate]))
    (event,) = link.parse(_newlink(7, flags, attrs))
    assert isinstance(event, link.LinkFacts)
    assert event.carrier == carrier


def test_parse_dellink_error_and_several_messages() -> None:
    err = struct.pack("=IHHII", 36, link.NLMSG_ERROR, 0, 9, 0) + struct.pack("=i", -19) + bytes(16)
    data = _newlink(3, UP, ATTRS) + _newlink(3, 0, b"", link.RTM_DELLINK) + err
    events = list(link.parse(data))
    assert events[1:] == [link.LinkGone(3), link.NetlinkError(9, 19)]


@pytest.mark.parametrize("data", [
    struct.pack("=IHHII", 8, link.RTM_NEWLINK, 0, 0, 0),  # length below the header
    struct.pack("=IHHII", 400, link.RTM_NEWLINK, 0, 0, 0),  # longer than the buffer
    struct.pack("=IHHII", 24, link.RTM_NEWLINK, 0, 0, 0) + bytes(8),  # short ifinfomsg
    _newlink(1, UP, struct.pack("=HH", 2, link.IFLA_MTU)),  # attribute shorter than itself
    _newlink(1, UP, struct.pack("=HH", 64, link.IFLA_MTU)),  # attribute past the end
])
def test_malformed_is_refused(data: bytes) -> None:
    with pytest.raises(link.LinkParseError):
        list(link.parse(data))


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_the_one_error(data: bytes) -> None:
    try:
        list(link.parse(data))
    except link.LinkParseError:
        pass


def test_getlink_request_layout() -> None:
    req = link.getlink_request(5, 42)
    assert struct.unpack_from("=IHHII", req) == (32, link.RTM_GETLINK, link.NLM_F_REQUEST, 42, 0)
    assert struct.unpack_from("=BxHiII", req, 16) == (0, 0, 5, 0, 0)


def _newaddr(ifindex: int, attrs: bytes, seq: int = 9, family: int = link.AF_INET) -> bytes:
    body = struct.pack("=BBBBI", family, 24, 0, 0, ifindex) + attrs
    return struct.pack("=IHHII", 16 + len(body), link.RTM_NEWADDR, 2, seq, 0) + body


def test_parse_address_dump() -> None:
    local = bytes([192, 0, 2, 10])
    v6 = bytes.fromhex("fe80000000000000000000000000000a")
    cacheinfo = _attr(link.IFA_CACHEINFO, struct.pack("=IIII", 300, 600, 1, 2))
    data = (_newaddr(7, _attr(link.IFA_ADDRESS, bytes([192, 0, 2, 99]))
                     + _attr(link.IFA_LOCAL, local) + cacheinfo)
            + _newaddr(8, _attr(link.IFA_LOCAL, b"\x0a\0\0\x01"))
            + _newaddr(7, _attr(link.IFA_LOCAL, bytes(16)), family=10)  # IPv6 has no LOCAL
            + _newaddr(7, _attr(link.IFA_ADDRESS, v6), family=10)
            + _newaddr(7, _attr(link.IFA_LOCAL, b"\x01\x02"))  # no 4-byte IFA_LOCAL
            + _newaddr(7, _attr(link.IFA_LOCAL, local), family=7)  # another family
            + _newaddr(7, _attr(link.IFA_LOCAL, local) + _attr(link.IFA_CACHEINFO, b"\0" * 8))
            + struct.pack("=IHHIIi", 20, link.NLMSG_DONE, 2, 9, 0, 0))
    assert list(link.parse(data)) == [
        link.AddressFact(9, 7, local, link.AF_INET, 24, (600, 300)),
        link.AddressFact(9, 8, b"\x0a\0\0\x01", link.AF_INET, 24),
        link.AddressFact(9, 7, v6, link.AF_INET6, 24),
        link.AddressFact(9, 7, local, link.AF_INET, 24),  # a short IFA_CACHEINFO is not read
        link.DumpDone(9)]
    with pytest.raises(link.LinkParseError):
        list(link.parse(_newaddr(7, b"")[:20]))  # a short ifaddrmsg


def test_a_dump_of_a_busy_host_is_read_whole() -> None:
    """Address dumps are not filtered by interface: a container host's veths put hundreds
    of fe80:: addresses in one datagram (a 32 KiB one holds ~450)."""
    v6 = bytes.fromhex("fe80000000000000000000000000000a")
    many = b"".join(_newaddr(100 + i, _attr(link.IFA_ADDRESS, v6), family=10)
                    for i in range(600))
    noops = struct.pack("=IHHII", 16, link.NLMSG_NOOP, 0, 0, 0) * 2000
    facts = list(link.parse(many + noops + struct.pack("=IHHIIi", 20, link.NLMSG_DONE, 2, 9,
                                                      0, 0)))
    assert len(facts) == 601 and facts[-1] == link.DumpDone(9)
    assert {f.ifindex for f in facts[:-1] if isinstance(f, link.AddressFact)} == set(
        range(100, 700))


def test_getaddr_request_layout() -> None:
    req = link.getaddr_request(5, 0x80000001)
    assert struct.unpack_from("=IHHII", req) == (
        24, link.RTM_GETADDR, link.NLM_F_REQUEST | link.NLM_F_DUMP, 0x80000001, 0)
    assert struct.unpack_from("=BBBBI", req, 16) == (link.AF_INET, 0, 0, 0, 5)


# ---- the kernel's own messages ----------------------------------------------------------


def _wait(sock: socket.socket, ifindex: int,
          want: Callable[[link.LinkEvent], bool]) -> link.LinkEvent:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if not select.select([sock], [], [], 0.1)[0]:
            continue
        for event in link.parse(sock.recv(65536)):
            if getattr(event, "ifindex", None) == ifindex and want(event):
                return event
    pytest.fail("no such link event within 3 s")


@needs_root
@pytest.mark.root
def test_real_link_events(veth: Veth) -> None:
    rtnl = in_netns(veth.netns, open_rtnl)
    ifindex = in_netns(veth.netns, lambda: socket.if_nametoindex(veth.io))
    rtnl.send(link.getlink_request(ifindex, 1))
    first = _wait(rtnl, ifindex, lambda e: isinstance(e, link.LinkFacts))
    assert isinstance(first, link.LinkFacts)
    assert first == link.LinkFacts(ifindex, link.ARPHRD_ETHER, MAC, 1500, carrier=True,
                                   name=veth.io, flags=first.flags, max_mtu=65535,
                                   kind="veth")
    assert first.flags & link.IFF_UP and not first.flags & link.IFF_LOOPBACK

    ip("-n", veth.netns, "link", "set", veth.peer, "down")
    _wait(rtnl, ifindex, lambda e: isinstance(e, link.LinkFacts) and not e.carrier)
    ip("-n", veth.netns, "link", "set", veth.peer, "up")
    _wait(rtnl, ifindex, lambda e: isinstance(e, link.LinkFacts) and e.carrier)
    ip("-n", veth.netns, "link", "set", veth.io, "mtu", "1400")
    _wait(rtnl, ifindex, lambda e: isinstance(e, link.LinkFacts) and e.mtu == 1400)
    ip("-n", veth.netns, "link", "del", veth.peer)
    _wait(rtnl, ifindex, lambda e: isinstance(e, link.LinkGone))
    rtnl.close()


@needs_root
@pytest.mark.root
def test_real_bridge_port(veth: Veth) -> None:
    """The kernel names a port's master and its kind, and says when it is a port no more."""
    rtnl = in_netns(veth.netns, open_rtnl)
    ifindex = in_netns(veth.netns, lambda: socket.if_nametoindex(veth.io))
    ip("-n", veth.netns, "link", "add", "lbbr0", "type", "bridge")
    try:
        bridge = in_netns(veth.netns, lambda: socket.if_nametoindex("lbbr0"))
        ip("-n", veth.netns, "link", "set", veth.io, "master", "lbbr0")
        event = _wait(rtnl, ifindex, lambda e: isinstance(e, link.LinkFacts) and e.master != 0)
        assert isinstance(event, link.LinkFacts)
        assert (event.master, event.master_kind) == (bridge, "bridge")
        ip("-n", veth.netns, "link", "set", veth.io, "nomaster")
        _wait(rtnl, ifindex, lambda e: isinstance(e, link.LinkFacts) and e.mtu is not None
              and e.master == 0 and e.master_kind == "")
    finally:
        ip("-n", veth.netns, "link", "del", "lbbr0")
        rtnl.close()


@needs_root
@pytest.mark.root
def test_real_query_for_a_missing_interface_is_an_error(veth: Veth) -> None:
    rtnl = in_netns(veth.netns, open_rtnl)
    rtnl.send(link.getlink_request(0x7FFF0000, 5))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if select.select([rtnl], [], [], 0.1)[0]:
            errors = [e for e in link.parse(rtnl.recv(65536))
                      if isinstance(e, link.NetlinkError)]
            if errors:
                assert errors == [link.NetlinkError(5, 19)]  # ENODEV
                break
    else:
        pytest.fail("no answer")
    rtnl.close()


@needs_root
@pytest.mark.root
def test_real_address_dump(veth: Veth) -> None:
    ip("-n", veth.netns, "addr", "add", "192.0.2.10/24", "dev", veth.io)
    ip("-n", veth.netns, "addr", "add", "198.51.100.7/32", "dev", veth.peer)
    rtnl = in_netns(veth.netns, open_rtnl)
    ifindex = in_netns(veth.netns, lambda: socket.if_nametoindex(veth.io))
    rtnl.send(link.getaddr_request(ifindex, 0x80000002))
    facts: list[link.AddressFact] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if not select.select([rtnl], [], [], 0.1)[0]:
            continue
        events = list(link.parse(rtnl.recv(65536)))
        facts += [e for e in events if isinstance(e, link.AddressFact)]
        if link.DumpDone(0x80000002) in events:
            break
    else:
        pytest.fail("no end of the dump within 3 s")
    mine = [f for f in facts if f.ifindex == ifindex]
    assert [(f.seq, f.address, f.family, f.prefixlen, f.lifetimes) for f in mine] == [
        (0x80000002, bytes([192, 0, 2, 10]), link.AF_INET, 24, (INFINITE, INFINITE))]
    rtnl.close()
