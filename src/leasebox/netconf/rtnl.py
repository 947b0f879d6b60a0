"""The kernel: netconf's requests on its own rtnetlink socket, encoded by pyroute2.

Each change is one rtnetlink request: pyroute2's message classes (rtmsg, and for the
address and the link classes of ours on pyroute2's nlmsg) encode it; netconf sends it on its own
socket and reads the kernel's answer with leasebox.runtime.rtnetlink's parser. The
encodings are byte for byte the same under Debian's pyroute2 0.7.2 and 0.7.7 and PyPI's
0.9.x. Not IPRoute: its modules (every
message family, tc, the request machinery; 0.9's asyncio) cost ~20 ms of CPU and ~2 MiB
more at each netconf start on Debian 12 (~60 ms with 0.9), and it wrote the kernel's
address lifetimes differently in 0.7 and 0.9. netconf loads the message classes when it
starts, not on the first request, so the import is off the first lease's path whenever
the exchange takes longer than it. A netlink error leaves this module as OSError with the
kernel's errno.

The link (read before every change) and its addresses are read on the same socket with
leasebox.runtime.rtnetlink's parser: pyroute2's get_links kept 0.5-1.9 KiB on every call,
which the soak saw as netconf growing by ~2 KiB a renewal (tests/RESULTS.md).
"""

from __future__ import annotations

import errno
import importlib.util
import socket
import struct
import sys
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from leasebox.core.record import record
from leasebox.core.values import INFINITE
from leasebox.netconf.validate import PlannedRoute
from leasebox.runtime import rtnetlink
from leasebox.runtime.rtnetlink import (
    IFLA_MTU,
    NLM_F_ACK,
    NLM_F_APPEND,
    NLM_F_CREATE,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    RTM_DELADDR,
    RTM_DELROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
)

RTPROT_DHCP = 16
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_TABLE_COMPAT = 252  # rtm_table of a route whose table (in RTA_TABLE) is past 255
RTN_UNICAST = 1
IFA_F_NOPREFIXROUTE = 0x200
# the ifaddrmsg attributes netconf sets (linux/if_addr.h)
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_CACHEINFO, IFA_FLAGS, IFA_RT_PRIORITY = 1, 2, 4, 6, 8, 9
# IFLA_AF_SPEC > AF_INET > IFLA_INET_CONF > one IPV4_DEVCONF_* (linux/ip.h, from 1): what
# `sysctl net.ipv4.conf.IFACE.KEY` sets, over rtnetlink (netconf has no /proc/sys)
IFLA_AF_SPEC, IFLA_INET_CONF, NLA_F_NESTED = 26, 1, 0x8000
IPV4_DEVCONF_IGNORE_ROUTES_WITH_LINKDOWN = 29
MTU_CEILING = 65535  # when the kernel does not report IFLA_MAX_MTU (before 4.10)
READ_TIMEOUT = 5.0  # seconds for each datagram of the kernel's answer to one request
READ_BUFFER = 1 << 17  # an RTM_NEWLINK without VF details (not asked for) is a few KiB
MAX_DATAGRAMS = 4096  # of one answer: a dump of more addresses than any link has


def _attr(atype: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), atype) + value
    return raw + bytes(-len(raw) % 4)


def _nested(atype: int, inner: bytes) -> bytes:
    return _attr(atype | NLA_F_NESTED, inner)


@record
class LinkInfo:
    index: int
    name: str
    mtu: int
    max_mtu: int
    loopback: bool
    ipv6: bool = False  # the link has an IPv6 address (IPv6 is enabled on it)
    up: bool = True  # administratively up (IFF_UP)
    # the kind of the bridge, bond, team... the link is a port of ("master" when the kernel
    # names none), whose master takes its frames; "" for none, or a VRF (io.loop.port_of)
    port_of: str = ""


def import_messages() -> tuple[Any, Any, Any]:
    """The address message, pyroute2's rtmsg, loaded without the package's __init__, and
    the link message; the address and link messages are ours, on pyroute2's nlmsg.

    That __init__ loads all of pyroute2's public classes (0.7: every entry point, with NDB,
    IPDB, the console and importlib.metadata's scan of site-packages): ~60 ms of CPU and
    ~8 MiB netconf never uses (Debian 12's 0.7.2). So `pyroute2` goes into sys.modules as
    a bare package and only the message modules run; they import each other by full name.
    The bare package stays: in this process `from pyroute2 import X` works for submodules
    only, not for classes.
    """
    # pyroute2 0.7's console (loaded by that __init__) imports readline, whose terminfo
    # lookup calls setfsuid under Debian 13's ncurses 6.5: a syscall the unit's filter
    # refuses. Nothing loads it now; the guard stays in case a module ever does.
    sys.modules.setdefault("readline", None)  # type: ignore[arg-type]
    if "pyroute2" not in sys.modules:
        spec = importlib.util.find_spec("pyroute2")
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError("pyroute2 is not installed")
        sys.modules["pyroute2"] = importlib.util.module_from_spec(spec)
    # lazy: see the module docstring
    from pyroute2.netlink import nla, nlmsg  # noqa: PLC0415
    from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: PLC0415

    class ifaddrmsg(nlmsg):  # type: ignore[misc]  # pyroute2 has no types
        """The kernel's struct ifaddrmsg (rtnetlink(7)) with the attributes netconf sets.
        pyroute2 0.7's ifaddrmsg (Debian 12 and 13) has no IFA_RT_PRIORITY, the metric of
        the kernel's prefix route; an attribute it does not know is dropped unsaid."""

        prefix = "IFA_"
        fields = (("family", "B"), ("prefixlen", "B"), ("flags", "B"), ("scope", "B"),
                  ("index", "I"))
        nla_map = ((IFA_ADDRESS, "IFA_ADDRESS", "ipaddr"), (IFA_LOCAL, "IFA_LOCAL", "ipaddr"),
                   (IFA_BROADCAST, "IFA_BROADCAST", "ipaddr"),
                   (IFA_CACHEINFO, "IFA_CACHEINFO", "cacheinfo"),
                   (IFA_FLAGS, "IFA_FLAGS", "uint32"),
                   (IFA_RT_PRIORITY, "IFA_RT_PRIORITY", "uint32"))

        class cacheinfo(nla):  # type: ignore[misc]
            fields = (("ifa_preferred", "I"), ("ifa_valid", "I"), ("cstamp", "I"),
                      ("tstamp", "I"))

    class ifinfmsg(nlmsg):  # type: ignore[misc]  # pyroute2 has no types
        """pyroute2's ifinfmsg with only the attribute netconf sets: its module loads every
        link kind's plugin, multiprocessing, pickle and pyroute2.config, whose platform
        probe forks `uname -p` and `file -b` (~9 ms and ~1.4 MiB of each netconf start).
        The layout is the kernel's struct ifinfomsg (rtnetlink(7)), as pyroute2 writes it;
        the attribute's number is explicit, as pyroute2's nla_map allows."""

        prefix = "IFLA_"
        fields = (("family", "B"), ("__align", "x"), ("ifi_type", "H"), ("index", "i"),
                  ("flags", "I"), ("change", "I"))
        nla_map = ((IFLA_MTU, "IFLA_MTU", "uint32"),)

    return ifaddrmsg, rtmsg, ifinfmsg


class Rtnl:
    """netconf's rtnetlink socket, opened by netconf itself (systemd's ListenNetlink= would
    give a socket bound to groups: the kernel's events would mix with its answers)."""

    def __init__(self) -> None:
        self._messages: tuple[Any, Any, Any] | None = None
        self._reader: socket.socket | None = None
        self._seq = 0

    def open(self) -> None:
        """Load pyroute2's message classes now (netconf's start-up), not for the first
        lease."""
        self._classes()

    def _classes(self) -> tuple[Any, Any, Any]:
        if self._messages is None:
            self._messages = import_messages()
        return self._messages

    def request(self, what: str, kind: int, flags: int, message: Any) -> None:
        """Send one change (a pyroute2 message, its header's type and flags set here) and
        wait for the kernel's acknowledgement; its refusal is OSError with the errno."""
        seq = self._next_seq()
        header = message["header"]
        header["type"] = kind
        header["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        header["sequence_number"] = seq
        header["pid"] = 0
        message.encode()
        self._ask(what, bytes(message.data), seq,
                  lambda e: isinstance(e, rtnetlink.NetlinkError) and e.seq == seq)

    def address_message(self, index: int, iface: IPv4Interface) -> Any:
        msg = self._classes()[0]()
        msg["family"] = socket.AF_INET
        msg["prefixlen"] = iface.network.prefixlen
        msg["index"] = index
        msg["attrs"] = [("IFA_LOCAL", str(iface.ip)), ("IFA_ADDRESS", str(iface.ip))]
        return msg

    def route_message(self, index: int, route: PlannedRoute,
                      source: IPv4Address | None = None) -> Any:
        msg = self._classes()[1]()
        msg["family"] = socket.AF_INET
        msg["dst_len"] = route.destination.prefixlen
        msg["table"] = route.table if route.table < 256 else RT_TABLE_COMPAT
        msg["proto"] = RTPROT_DHCP
        msg["scope"] = RT_SCOPE_LINK if route.gateway is None else RT_SCOPE_UNIVERSE
        msg["type"] = RTN_UNICAST
        attrs: list[tuple[str, Any]] = []
        if route.destination.prefixlen:
            attrs.append(("RTA_DST", str(route.destination.network_address)))
        attrs += [("RTA_OIF", index), ("RTA_PRIORITY", route.metric),
                  ("RTA_TABLE", route.table)]
        if route.gateway is not None:
            attrs.append(("RTA_GATEWAY", str(route.gateway)))
        if source is not None:
            attrs.append(("RTA_PREFSRC", str(source)))
        msg["attrs"] = attrs
        return msg

    def link_message(self, index: int) -> Any:
        msg = self._classes()[2]()
        msg["index"] = index
        return msg

    def set_inet_conf(self, index: int, key: int, value: int) -> None:
        """One IPv4 setting of link `index` (an IPV4_DEVCONF_* key), as sysctl would set
        it; by hand: pyroute2 encodes IFLA_INET_CONF as the kernel dumps it (an array),
        not as it takes it (nested attributes)."""
        seq = self._next_seq()
        conf = _nested(IFLA_AF_SPEC, _nested(socket.AF_INET, _nested(
            IFLA_INET_CONF, _attr(key, struct.pack("=I", value)))))
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, 0, 0) + conf
        request = struct.pack("=IHHII", 16 + len(body), RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK,
                              seq, 0) + body
        self._ask(f"set IPv4 setting {key} of link {index}", request, seq,
                  lambda e: isinstance(e, rtnetlink.NetlinkError) and e.seq == seq)

    def close(self) -> None:
        self._close_reader()

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # ---- reads ---------------------------------------------------------------------------

    def _ask(self, what: str, request: bytes, seq: int,
             last: Callable[[rtnetlink.LinkEvent], bool]) -> list[rtnetlink.LinkEvent]:
        """Send one request on netconf's own socket; what the kernel answers, up to the
        event `last` accepts. A netlink error comes back as OSError with its errno.

        Only answers come to this socket (it joins no group). A late answer must not pass
        for the next request's, so any error closes the socket and the next one starts anew.
        """
        if self._reader is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                 socket.NETLINK_ROUTE)
            sock.settimeout(READ_TIMEOUT)
            self._reader = sock
        got: list[rtnetlink.LinkEvent] = []
        try:
            self._reader.send(request)
            for _ in range(MAX_DATAGRAMS):
                for event in rtnetlink.parse(self._reader.recv(READ_BUFFER)):
                    if isinstance(event, rtnetlink.NetlinkError) and event.seq == seq \
                            and event.errno:
                        code = event.errno
                        raise OSError(code, f"{what}: {errno.errorcode.get(code, code)}")
                    got.append(event)
                    if last(event):
                        return got
        except (OSError, rtnetlink.LinkParseError) as exc:
            self._close_reader()
            if isinstance(exc, OSError) and exc.errno:
                raise
            raise OSError(errno.EIO, f"{what}: {exc}") from None
        self._close_reader()
        raise OSError(errno.EIO, f"{what}: no end to the kernel's answer")

    def _next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def read_link(self, index: int) -> rtnetlink.LinkFacts:
        """The kernel's RTM_NEWLINK for `index`; OSError(ENODEV) when there is none."""
        seq = self._next_seq()
        got = self._ask(f"read link {index}", rtnetlink.getlink_request(index, seq), seq,
                        lambda e: isinstance(e, rtnetlink.LinkFacts) and e.ifindex == index)
        facts = got[-1]
        assert isinstance(facts, rtnetlink.LinkFacts)  # what `last` accepted
        return facts

    def addresses(self, index: int, family: int) -> list[rtnetlink.AddressFact]:
        """The addresses of one family on link `index` (an RTM_GETADDR dump)."""
        seq = self._next_seq()
        got = self._ask(f"read addresses of {index}",
                        rtnetlink.getaddr_request(index, seq, family), seq,
                        lambda e: isinstance(e, rtnetlink.DumpDone) and e.seq == seq)
        return [e for e in got if isinstance(e, rtnetlink.AddressFact)
                and e.seq == seq and e.ifindex == index and e.family == family]

    def link(self, index: int) -> LinkInfo:
        facts = self.read_link(index)
        if facts.mtu is None:
            raise OSError(errno.EIO, f"read link {index}: no MTU")
        return LinkInfo(
            index=facts.ifindex,
            name=facts.name or "",  # absent or not a valid name: never ours
            mtu=facts.mtu,
            # 0 is what some drivers report for "no limit"
            max_mtu=min(facts.max_mtu, MTU_CEILING) if facts.max_mtu else MTU_CEILING,
            loopback=bool(facts.flags & rtnetlink.IFF_LOOPBACK),
            up=bool(facts.flags & rtnetlink.IFF_UP),
            ipv6=bool(self.addresses(index, socket.AF_INET6)),
            port_of=(facts.master_kind or "master") if facts.master
            and facts.master_kind != "vrf" else "",
        )

    def bind(self, index: int) -> Link:
        return Link(self, index)


class Link:
    """The one link netconf may change: every request names its ifindex (apply.Kernel)."""

    def __init__(self, rtnl: Rtnl, index: int) -> None:
        self.rtnl = rtnl
        self.index = index

    def link_mtu(self) -> int:
        return self.rtnl.link(self.index).mtu

    def set_mtu(self, mtu: int) -> None:
        msg = self.rtnl.link_message(self.index)
        msg["attrs"] = [("IFLA_MTU", mtu)]
        self.rtnl.request(f"set mtu {mtu}", RTM_NEWLINK, 0, msg)

    def ignore_routes_without_carrier(self) -> None:
        """The kernel skips the link's routes while it has no carrier (its "linkdown"
        routes), so that another link's default route carries the traffic meanwhile: a
        lease is kept, address and routes, through a carrier loss, for a flap's sake."""
        self.rtnl.set_inet_conf(self.index, IPV4_DEVCONF_IGNORE_ROUTES_WITH_LINKDOWN, 1)

    def set_up(self) -> None:
        """Administratively up (never down: leasebox brings a link up, nothing more)."""
        msg = self.rtnl.link_message(self.index)
        msg["flags"] = msg["change"] = rtnetlink.IFF_UP
        self.rtnl.request("set link up", RTM_NEWLINK, 0, msg)

    # ---- addresses -----------------------------------------------------------------------

    def set_address(
        self, iface: IPv4Interface, broadcast: IPv4Address | None, lifetime: int,
        prefix_route: bool = True, metric: int = 0,
    ) -> None:
        """Add or update (NLM_F_REPLACE) the address with kernel lifetimes (IFA_CACHEINFO;
        all ones is forever). `address_lifetimes` reads them back. `metric`: the kernel's
        prefix route's (IFA_RT_PRIORITY, Linux 4.18; a replace changes it too)."""
        msg = self.rtnl.address_message(self.index, iface)
        if broadcast is not None:
            msg["attrs"].append(("IFA_BROADCAST", str(broadcast)))
        msg["attrs"].append(("IFA_CACHEINFO", {"ifa_preferred": lifetime,
                                               "ifa_valid": lifetime, "cstamp": 0,
                                               "tstamp": 0}))
        if not prefix_route:  # RouteTable=N: netconf adds the prefix route to table N
            msg["attrs"].append(("IFA_FLAGS", IFA_F_NOPREFIXROUTE))
        elif metric:
            msg["attrs"].append(("IFA_RT_PRIORITY", metric))
        self.rtnl.request(f"set address {iface}", RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE,
                          msg)

    def address_lifetimes(self, iface: IPv4Interface) -> tuple[int, int] | None:
        """(valid, preferred) seconds as the kernel holds them; None when absent."""
        for fact in self.rtnl.addresses(self.index, socket.AF_INET):
            if fact.prefixlen == iface.network.prefixlen and fact.address == iface.ip.packed:
                return fact.lifetimes or (INFINITE, INFINITE)
        return None

    def del_address(self, iface: IPv4Interface) -> bool:
        """False when it was already gone (expired, or removed by someone else)."""
        try:
            self.rtnl.request(f"delete address {iface}", RTM_DELADDR, 0,
                              self.rtnl.address_message(self.index, iface))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH):
                return False
            raise
        return True

    # ---- routes --------------------------------------------------------------------------

    def add_route(self, route: PlannedRoute, source: IPv4Address | None = None) -> bool:
        """Add a route, with `source` as its preferred source address; False when this
        exact route (same proto, device, gateway, source) exists.

        NLM_F_APPEND rather than NLM_F_EXCL: another link's DHCP default route with the same
        metric is a different route and must not make ours fail, while an identical one can
        only be ours from before a restart, and is adopted.
        """
        return self._route_change(f"add route {route}", RTM_NEWROUTE,
                                  NLM_F_CREATE | NLM_F_APPEND, route, source, errno.EEXIST)

    def del_route(self, route: PlannedRoute, source: IPv4Address | None = None) -> bool:
        """Delete exactly this route (proto, device and gateway must match, and `source`
        if given; without it the kernel takes the first route with any source); False if
        gone."""
        return self._route_change(f"delete route {route}", RTM_DELROUTE, 0, route, source,
                                  errno.ESRCH)

    def _route_change(self, what: str, kind: int, flags: int, route: PlannedRoute,
                      source: IPv4Address | None, moot: int) -> bool:
        """False when the kernel answers `moot` (already there, or already gone)."""
        try:
            self.rtnl.request(what, kind, flags,
                              self.rtnl.route_message(self.index, route, source))
        except OSError as exc:
            if exc.errno == moot:
                return False
            raise
        return True
