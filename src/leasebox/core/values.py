"""Values that the codec, the state machine and the contract between processes all speak
of, defined once. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

INFINITE = 0xFFFFFFFF  # RFC 2131 3.3: a lease time of all ones is an infinite lease
# What the client asks for (option 55) unless configured otherwise: mask, router, DNS,
# domain, MTU, broadcast, NTP, lease time, server id, T1, T2, search list, classless routes.
REQUEST_OPTIONS: tuple[int, ...] = (1, 3, 6, 15, 26, 28, 42, 51, 54, 58, 59, 119, 121)


@dataclass(frozen=True, slots=True)
class Route:
    """One classless static route (option 121). gateway 0.0.0.0 means on-link."""

    destination: IPv4Network
    gateway: IPv4Address

    def __str__(self) -> str:
        return f"{self.destination} via {self.gateway}"
