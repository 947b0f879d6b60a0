"""The kernel, through pyroute2: the only module that imports it.

Written against the API that Debian's pyroute2 0.7.2 and PyPI's 0.9.x share (IPRoute's
link_lookup, get_links, get_addr, addr, route, link). pyroute2 costs ~190 ms and ~32 MiB
to import, so it is loaded on first use, not when netconf starts. Netlink errors leave
this module as OSError with the kernel's errno, so callers need not know pyroute2.
"""

from __future__ import annotations

import errno
import socket
import sys
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from leasebox.core.values import INFINITE
from leasebox.netconf.validate import PlannedRoute

RTPROT_DHCP = 16
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFA_F_NOPREFIXROUTE = 0x200
MTU_CEILING = 65535  # when the kernel does not report IFLA_MAX_MTU (before 4.10)


@dataclass(frozen=True, slots=True)
class LinkInfo:
    index: int
    name: str
    mtu: int
    max_mtu: int
    loopback: bool
    ipv6: bool = False  # the link has an IPv6 address (IPv6 is enabled on it)
    up: bool = True  # administratively up (IFF_UP)


class Rtnl:
    """One rtnetlink socket, opened by netconf itself (systemd's ListenNetlink= gives a
    SOCK_RAW socket that pyroute2 0.9 refuses)."""

    def __init__(self) -> None:
        self._ipr: Any = None
        self._netlink_error: type[Exception] = Exception

    def _open(self) -> Any:
        if self._ipr is None:
            # pyroute2 0.7's package __init__ imports its interactive console, and with it
            # readline, whose terminfo lookup calls setfsuid under Debian 13's ncurses 6.5:
            # a syscall the unit's filter refuses. netconf has no terminal; keep it out.
            sys.modules.setdefault("readline", None)  # type: ignore[arg-type]
            from pyroute2 import IPRoute  # noqa: PLC0415 (lazy: see the module docstring)
            from pyroute2.netlink.exceptions import NetlinkError  # noqa: PLC0415

            self._netlink_error = NetlinkError
            self._ipr = IPRoute()
        return self._ipr

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        ipr = self._open()
        try:
            return getattr(ipr, method)(*args, **kwargs)
        except self._netlink_error as exc:
            code = int(getattr(exc, "code", 0) or errno.EIO)
            raise OSError(code, f"{what}: {errno.errorcode.get(code, code)}") from None

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    # ---- links ---------------------------------------------------------------------------

    def lookup(self, ifname: str) -> list[int]:
        return [int(i) for i in self.call(f"look up {ifname}", "link_lookup", ifname=ifname)]

    def link(self, index: int) -> LinkInfo:
        msgs = self.call(f"read link {index}", "get_links", index)
        if len(msgs) != 1:
            raise OSError(errno.ENODEV, f"link {index}: {len(msgs)} answers")
        msg = msgs[0]
        max_mtu = msg.get_attr("IFLA_MAX_MTU")
        return LinkInfo(
            index=int(msg["index"]),
            name=str(msg.get_attr("IFLA_IFNAME")),
            mtu=int(msg.get_attr("IFLA_MTU")),
            # 0 is what some drivers report for "no limit"
            max_mtu=min(int(max_mtu), MTU_CEILING) if max_mtu else MTU_CEILING,
            loopback=bool(int(msg["flags"]) & IFF_LOOPBACK),
            up=bool(int(msg["flags"]) & IFF_UP),
            ipv6=any(int(a["index"]) == index for a in self.call(
                f"read IPv6 addresses of {index}", "get_addr", index=index,
                family=socket.AF_INET6)),
        )

    def bind(self, index: int) -> Link:
        return Link(self, index)


class Link:
    """The one link netconf may change: every write names its ifindex (apply.Kernel)."""

    def __init__(self, rtnl: Rtnl, index: int) -> None:
        self.rtnl = rtnl
        self.index = index
        self._call = rtnl.call

    def link_mtu(self) -> int:
        return self.rtnl.link(self.index).mtu

    def set_mtu(self, mtu: int) -> None:
        self._call(f"set mtu {mtu}", "link", "set", index=self.index, mtu=mtu)

    def set_up(self) -> None:
        """Administratively up (never down: leasebox brings a link up, nothing more)."""
        self._call("set link up", "link", "set", index=self.index, state="up")

    # ---- addresses -----------------------------------------------------------------------

    def set_address(
        self, iface: IPv4Interface, broadcast: IPv4Address | None, lifetime: int,
        prefix_route: bool = True,
    ) -> None:
        """Add or update (NLM_F_REPLACE) the address with kernel lifetimes.

        Both lifetime spellings are passed, in this order, on purpose: 0.9 builds
        IFA_CACHEINFO from valid_lft/preferred_lft, while 0.7.2 ignores those (its filter
        reads the values from the `cacheinfo` dict instead) and would add a permanent
        address. `address_lifetimes` reads the result back so a future change shows.
        """
        kwargs: dict[str, Any] = {
            "index": self.index, "address": str(iface.ip), "prefixlen": iface.network.prefixlen,
            "valid_lft": lifetime, "preferred_lft": lifetime,
            "cacheinfo": {"valid": lifetime, "preferred": lifetime},
        }
        if broadcast is not None:
            kwargs["broadcast"] = str(broadcast)
        if not prefix_route:  # RouteTable=N: netconf adds the prefix route to table N
            kwargs["IFA_FLAGS"] = IFA_F_NOPREFIXROUTE
        self._call(f"set address {iface}", "addr", "replace", **kwargs)

    def address_lifetimes(self, iface: IPv4Interface) -> tuple[int, int] | None:
        """(valid, preferred) seconds as the kernel holds them; None when absent."""
        index = self.index
        for msg in self._call("read addresses", "get_addr", index=index, family=socket.AF_INET):
            if (
                int(msg["index"]) != index
                or int(msg["prefixlen"]) != iface.network.prefixlen
                or msg.get_attr("IFA_LOCAL") != str(iface.ip)
            ):
                continue
            info = msg.get_attr("IFA_CACHEINFO")
            if info is None:
                return (INFINITE, INFINITE)
            return (int(info["ifa_valid"]), int(info["ifa_preferred"]))
        return None

    def del_address(self, iface: IPv4Interface) -> bool:
        """False when it was already gone (expired, or removed by someone else)."""
        try:
            self._call(
                f"delete address {iface}", "addr", "del",
                index=self.index, address=str(iface.ip), prefixlen=iface.network.prefixlen,
            )
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH):
                return False
            raise
        return True

    # ---- routes --------------------------------------------------------------------------

    def _route_keys(self, route: PlannedRoute) -> dict[str, Any]:
        keys: dict[str, Any] = {
            "dst": str(route.destination), "oif": self.index, "table": route.table,
            "priority": route.metric, "proto": RTPROT_DHCP,
            "scope": RT_SCOPE_LINK if route.gateway is None else RT_SCOPE_UNIVERSE,
        }
        if route.gateway is not None:
            keys["gateway"] = str(route.gateway)
        return keys

    def add_route(self, route: PlannedRoute) -> bool:
        """Add a route; False when this exact route (same proto, device, gateway) exists.

        NLM_F_APPEND rather than NLM_F_EXCL: another link's DHCP default route with the same
        metric is a different route and must not make ours fail, while an identical one can
        only be ours from before a restart, and is adopted.
        """
        return self._route_change(f"add route {route}", "append", route, errno.EEXIST)

    def del_route(self, route: PlannedRoute) -> bool:
        """Delete exactly this route (proto, device and gateway must match); False if gone."""
        return self._route_change(f"delete route {route}", "del", route, errno.ESRCH)

    def _route_change(self, what: str, command: str, route: PlannedRoute, moot: int) -> bool:
        """False when the kernel answers `moot` (already there, or already gone)."""
        try:
            self._call(what, "route", command, **self._route_keys(route))
        except OSError as exc:
            if exc.errno == moot:
                return False
            raise
        return True
