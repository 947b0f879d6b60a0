"""Handing DNS to systemd-resolved: SetLinkDNS / SetLinkDomains / RevertLink over D-Bus.

resolved authorizes these calls itself (CAP_NET_ADMIN on the caller, else polkit's
org.freedesktop.resolve1.set-dns-servers / set-domains / revert). Values are validated
before they get here and re-checked while marshalling, as for the resolv.conf file.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from ipaddress import IPv4Address

from leasebox.netconf import dbus
from leasebox.netconf.validate import check_domain

RESOLVED_SOCKET = "/run/systemd/resolve/io.systemd.Resolve"
DESTINATION = "org.freedesktop.resolve1"
PATH = "/org/freedesktop/resolve1"
INTERFACE = "org.freedesktop.resolve1.Manager"


def resolved_running() -> bool:
    """resolved creates its varlink socket at start-up; its presence is the cheap check."""
    return os.path.exists(RESOLVED_SOCKET)


def set_link_dns_body(ifindex: int, servers: Sequence[IPv4Address]) -> bytes:
    w = dbus.Writer()
    w.i32(ifindex)

    def elements() -> None:
        for server in servers:
            if not isinstance(server, IPv4Address):
                raise TypeError(f"not an IPv4 address: {server!r}")
            w.struct_start()
            w.i32(socket.AF_INET)
            w.byte_array(server.packed)

    w.array(8, elements)
    return bytes(w.buf)


def set_link_domains_body(ifindex: int, domains: Sequence[str]) -> bytes:
    w = dbus.Writer()
    w.i32(ifindex)

    def elements() -> None:
        for name in domains:
            w.struct_start()
            w.string(check_domain(name))
            w.boolean(False)  # a search domain, not only a routing domain

    w.array(8, elements)
    return bytes(w.buf)


class ResolvedLink:
    """resolved's per-link DNS for our one interface (apply.Resolver)."""

    def __init__(self, ifindex: int, bus_address: str = dbus.SYSTEM_BUS) -> None:
        self.ifindex = ifindex
        self.bus_address = bus_address

    def _call(self, member: str, signature: str, body: bytes) -> None:
        with dbus.Connection(self.bus_address) as conn:
            conn.call(dbus.Call(DESTINATION, PATH, INTERFACE, member, signature, body))

    def write(self, servers: Sequence[IPv4Address], domains: Sequence[str]) -> None:
        self._call("SetLinkDNS", "ia(iay)", set_link_dns_body(self.ifindex, servers))
        self._call("SetLinkDomains", "ia(sb)", set_link_domains_body(self.ifindex, domains))

    def remove(self) -> bool:
        w = dbus.Writer()
        w.i32(self.ifindex)
        self._call("RevertLink", "i", bytes(w.buf))
        return True
