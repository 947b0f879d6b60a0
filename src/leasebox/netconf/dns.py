"""Handing DNS servers and search domains on: a resolv.conf-format file per interface.

Written for systems without systemd-resolved (for a symlink from /etc/resolv.conf, or for
whatever an administrator sets up to merge per-link files). Only values that passed
validation reach this module, and it checks them once more while rendering, so no name
from the network can inject a line into the file.
The write is atomic (see leasebox.runtime.atomicfile): a reader sees the old file or the new one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from ipaddress import IPv4Address

from leasebox.netconf.validate import check_domain
from leasebox.runtime import atomicfile as atomic

# Where netconf wrote the file before it had a directory of its own (a leasebox before
# 2026-12-07): below the runtime directory, which only root could read.
OLD_FILENAME = "resolv.conf"


def render(ifname: str, servers: Sequence[IPv4Address], domains: Sequence[str]) -> str:
    if not ifname.isprintable() or any(c.isspace() for c in ifname):
        raise ValueError(f"interface name {ifname!r} not fit for a comment")
    lines = [f"# Written by leasebox-netconf for {ifname} from its DHCP lease. Do not edit."]
    for server in servers:
        if not isinstance(server, IPv4Address):
            raise TypeError(f"not an IPv4 address: {server!r}")
        lines.append(f"nameserver {server}")
    if domains:
        lines.append("search " + " ".join(check_domain(name) for name in domains))
    return "\n".join(lines) + "\n"


class ResolvConfFile:
    """The file DIRECTORY/IFACE.conf that this netconf owns for its one interface.

    DIRECTORY is shared by every interface's netconf (group leasebox may write it): a
    dynamic user's own directories are below /run/private, which no other user may enter,
    and every user's resolver must read this file."""

    def __init__(self, directory: str, ifname: str) -> None:
        self.directory = directory
        self.ifname = ifname
        self.filename = f"{ifname}.conf"
        self.path = os.path.join(directory, self.filename)

    def write(self, servers: Sequence[IPv4Address], domains: Sequence[str]) -> None:
        data = render(self.ifname, servers, domains).encode("ascii")
        atomic.write_atomic(self.directory, self.filename, data, mode=0o644)  # resolvers read it

    def remove(self) -> bool:
        """False when there was no file."""
        return atomic.remove(self.directory, self.filename)
