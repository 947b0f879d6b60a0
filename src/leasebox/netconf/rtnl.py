"""The kernel: pyroute2 writes, and netconf reads its link by hand.

Written against the API that Debian's pyroute2 0.7.2 and PyPI's 0.9.x share (IPRoute's
addr, route, link). IPRoute's part of pyroute2 costs ~50 ms of CPU and ~8 MiB on top of
netconf's own modules (the whole package ~110 ms and ~16 MiB: see import_iproute); netconf
loads it when it starts, not on the first request, so the import is off the first lease's
path whenever the exchange takes longer than it. Netlink errors leave this module as
OSError with the kernel's errno, so callers need not know pyroute2.

The link (read before every change) and its addresses are read on netconf's own socket
with leasebox.runtime.rtnetlink's parser: pyroute2's get_links kept 0.5-1.9 KiB on every
call, which the soak saw as netconf growing by ~2 KiB a renewal (tests/RESULTS.md).
"""

from __future__ import annotations

import errno
import importlib.util
import socket
import sys
import types
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from leasebox.core.record import record
from leasebox.core.values import INFINITE
from leasebox.netconf.validate import PlannedRoute
from leasebox.runtime import rtnetlink

RTPROT_DHCP = 16
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
IFA_F_NOPREFIXROUTE = 0x200
MTU_CEILING = 65535  # when the kernel does not report IFLA_MAX_MTU (before 4.10)
READ_TIMEOUT = 5.0  # seconds for each datagram of the kernel's answer to one request
READ_BUFFER = 1 << 17  # an RTM_NEWLINK without VF details (not asked for) is a few KiB
MAX_DATAGRAMS = 4096  # of one answer: a dump of more addresses than any link has


@record
class LinkInfo:
    index: int
    name: str
    mtu: int
    max_mtu: int
    loopback: bool
    ipv6: bool = False  # the link has an IPv6 address (IPv6 is enabled on it)
    up: bool = True  # administratively up (IFF_UP)


class _LabApi:
    """pyroute2.lab.LAB_API with use_mock off: nothing of its own in IPRoute's MRO."""


def _mockless_lab() -> types.ModuleType:
    lab = types.ModuleType("pyroute2.lab", "pyroute2 0.7's LAB_API with mocking off")
    lab.LAB_API = _LabApi  # type: ignore[attr-defined]
    lab.registry = []  # type: ignore[attr-defined]
    lab.use_mock = False  # type: ignore[attr-defined]
    return lab


def import_iproute() -> tuple[Any, type[Exception]]:
    """pyroute2's IPRoute and NetlinkError, loaded without the package's __init__.

    That __init__ loads all of pyroute2's public classes (0.7: every entry point, with NDB,
    IPDB, the console and importlib.metadata's scan of site-packages): ~60 ms of CPU and
    ~8 MiB netconf never uses (Debian 12's 0.7.2). So `pyroute2` goes into sys.modules as
    a bare package and only IPRoute's own modules run; they import each other by full
    name. Works with Debian's 0.7.2 and 0.7.7 and PyPI's 0.9.x. The bare package stays:
    in this process `from pyroute2 import X` works for submodules only, not for classes.
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
    # 0.7's IPRoute inherits pyroute2.lab.LAB_API, the hook of its documentation's examples:
    # it wraps every method in unittest.mock when pyroute2.lab.use_mock is set. Importing
    # it loads unittest.mock, asyncio and ssl: ~25 ms of CPU and ~5 MiB at each netconf start on
    # Debian 12. netconf never sets use_mock, so it gets the hook with mocking off.
    if "pyroute2.lab" not in sys.modules and importlib.util.find_spec("pyroute2.lab"):
        sys.modules["pyroute2.lab"] = _mockless_lab()  # 0.9 has no pyroute2.lab
    from pyroute2.iproute import IPRoute  # noqa: PLC0415 (lazy: see the module docstring)
    from pyroute2.netlink.exceptions import NetlinkError  # noqa: PLC0415

    return IPRoute, NetlinkError


class Rtnl:
    """Two rtnetlink sockets, both opened by netconf itself: pyroute2's, which writes, and
    one that reads (systemd's ListenNetlink= would give a SOCK_RAW socket that pyroute2 0.9
    refuses)."""

    def __init__(self) -> None:
        self._ipr: Any = None
        self._netlink_error: type[Exception] = Exception
        self._reader: socket.socket | None = None
        self._seq = 0

    def open(self) -> None:
        """Load pyroute2 now (netconf's start-up), not when the first lease is applied."""
        self._open()

    def _open(self) -> Any:
        if self._ipr is None:
            iproute, self._netlink_error = import_iproute()
            self._ipr = iproute()
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
        for fact in self.rtnl.addresses(self.index, socket.AF_INET):
            if fact.prefixlen == iface.network.prefixlen and fact.address == iface.ip.packed:
                return fact.lifetimes or (INFINITE, INFINITE)
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
