"""netconf's own link read (one RTM_GETLINK, leasebox.runtime.rtnetlink's parser) against
the kernel of a network namespace."""

from __future__ import annotations

import errno
import socket

from tests.io.iolab import in_netns
from tests.netconf.nclab import IFACE, ip

from leasebox.netconf.rtnl import MTU_CEILING, LinkInfo, Rtnl


def test_read_link_and_missing_link(netns: str) -> None:
    ip("-n", netns, "link", "set", IFACE, "mtu", "1400")

    def reads() -> tuple[list[LinkInfo], int | None]:
        rtnl = Rtnl()  # every socket it opens, it opens in this thread's netns
        try:
            index = socket.if_nametoindex(IFACE)
            first = rtnl.link(index)
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
    assert not down.up
    assert code == errno.ENODEV
    assert again == down
