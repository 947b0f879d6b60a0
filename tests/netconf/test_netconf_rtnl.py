"""netconf's own link read (one RTM_GETLINK, leasebox.runtime.rtnetlink's parser) against
the kernel of a network namespace."""

from __future__ import annotations

import errno
import socket
from ipaddress import IPv4Interface

from tests.io.iolab import in_netns
from tests.netconf.nclab import IFACE, PEER, ip

from leasebox.netconf.rtnl import MTU_CEILING, LinkInfo, Rtnl


def test_read_link_and_missing_link(netns: str) -> None:
    ip("-n", netns, "link", "set", IFACE, "mtu", "1400")
    ip("-n", netns, "addr", "add", "192.0.2.10/24", "dev", IFACE, "valid_lft", "600",
       "preferred_lft", "300")
    ip("-n", netns, "addr", "add", "198.51.100.7/25", "dev", PEER)  # another link's

    def reads() -> tuple[list[LinkInfo], int | None]:
        rtnl = Rtnl()  # every socket it opens, it opens in this thread's netns
        try:
            index = socket.if_nametoindex(IFACE)
            first = rtnl.link(index)
            facts = rtnl.addresses(index, socket.AF_INET)
            assert [(f.address, f.prefixlen) for f in facts] == [(bytes([192, 0, 2, 10]), 24)]
            assert facts[0].lifetimes is not None
            valid, preferred = facts[0].lifetimes
            assert 590 <= valid <= 600 and 290 <= preferred <= 300
            link = rtnl.bind(index)
            lifetimes = link.address_lifetimes(IPv4Interface("192.0.2.10/24"))
            assert lifetimes is not None
            assert valid - 2 <= lifetimes[0] <= valid and preferred - 2 <= lifetimes[1] <= preferred
            assert link.address_lifetimes(IPv4Interface("192.0.2.10/25")) is None
            assert link.address_lifetimes(IPv4Interface("198.51.100.7/25")) is None
            ip("-n", netns, "link", "set", IFACE, "down")
            down = rtnl.link(index)
            try:
                rtnl.read_link(index + 1000)
                code = None
            except OSError as exc:
                code = exc.errno
            return [first, down, rtnl.link(index)], code  # a new socket after the error
        finally:
            rtnl.close()

    (first, down, again), code = in_netns(netns, reads)
    assert (first.name, first.mtu, first.max_mtu) == (IFACE, 1400, MTU_CEILING)
    assert first.up and not first.loopback
    assert first.ipv6  # a veth that is up has its IPv6 link-local address
    assert not down.up
    assert code == errno.ENODEV
    assert again == down
