"""Values that the codec, the state machine and the contract between processes all speak
of, defined once. Pure."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network

from leasebox.core.record import record

INFINITE = 0xFFFFFFFF  # RFC 2131 3.3: a lease time of all ones is an infinite lease
# How much of a lease leasebox carries: the lease is cut to these where it is built (more
# classless routes than MAX_ROUTES refuse it), the ipc contract carries no more, netconf
# accepts no more, and a status reply stays small by construction.
MAX_ROUTERS = 8
# 255: the contract's count is one octet. A 1500-octet ACK has room for ~250 routes
# at most, so no real server's table is cut short or refused (64 refused an
# enterprise's option 121 and left the link with no address).
MAX_ROUTES = 255
MAX_DNS = 8
MAX_NTP = 8
MAX_DOMAINS = 16  # the domain name and the search list together
# What the client asks for (option 55) unless configured otherwise: mask, classless routes,
# router, DNS, host name, domain, MTU, broadcast, NTP, lease time, server id, T1, T2, captive
# portal, search list. RFC 3442: 121 before 3 (and 33), as a server short of room fills in
# order. The host name is only reported (status, LEASEBOX_HOSTNAME): dnsmasq sends its name
# for the host only to a client that asks, as systemd-networkd's does.
REQUEST_OPTIONS: tuple[int, ...] = (1, 121, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 114,
                                    119)
CAPTIVE_PORTAL_OPTION = 114  # RFC 8910; UseCaptivePortal=no leaves it out


class ProbeTiming(StrEnum):
    """How an ARP probe is paced (ARPProbeTiming=; the numbers are io's, in io/arp.py)."""

    FAST = "fast"  # 3 probes 0.2 s apart, 0.3 s more to listen: about 0.7 s
    RFC5227 = "rfc5227"  # RFC 5227 2.1.1 as written: 1 s random wait, probes 1-2 s apart, 2 s


@record
class Route:
    """One classless static route (option 121). gateway 0.0.0.0 means on-link."""

    destination: IPv4Network
    gateway: IPv4Address

    def __str__(self) -> str:
        return f"{self.destination} via {self.gateway}"


def router_on_link(routers: tuple[IPv4Address, ...], address: IPv4Address,
                   prefixlen: int) -> IPv4Address | None:
    """The router of option 3 a client uses: the first on the lease's link (RFC 2132 3.5:
    in order of preference), that is in its subnet and neither the address itself nor the
    subnet's network or broadcast address; a /32 lease's first, which a host route
    reaches. netconf checks more (reserved addresses); what the engine reports agrees."""
    if prefixlen == 32:
        return next((r for r in routers if r != address), None)
    net = IPv4Network((address, prefixlen), strict=False)
    edges = (net.network_address, net.broadcast_address) if prefixlen <= 30 else ()
    return next((r for r in routers if r in net and r != address and r not in edges), None)
