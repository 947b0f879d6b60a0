"""Interface names as they arrive in argv (from the unit's %i): checked before any use.

A name becomes part of paths (/run/leasebox/IFACE/...) and of log lines, so it must be a
name the kernel would accept and nothing more: 1..15 bytes, no '/', no whitespace, no ':',
not '.' or '..' (the kernel's dev_valid_name rules), limited here to a safe ASCII set.

It is also part of each process's dynamic user and group (below), which systemd creates
only under its strict rules for user names: letters, digits, '_' and '-', at most 31
characters (so the longest prefix, leasebox-io- or leasebox-nc-, leaves room for 15). A
VLAN device's usual name (eth0.10) has a dot: leasebox refuses it with the reason, where
the units would fail with systemd's 217/USER; a device can have another name (Name= in a
systemd.netdev or .link file, or `ip link add link eth0 name vlan10 type vlan id 10`).
"""

from __future__ import annotations

import socket

# spelled out, not a regular expression: io loads nothing else that needs `re`
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_KERNEL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-")
IFNAMSIZ = 16  # the kernel's, with the terminating NUL


# The units name each process's dynamic identity after the interface (leasebox-io-X,
# leasebox-X, leasebox-nc-X): for an interface called io-eth0 the engine would be
# leasebox-io-eth0, io@eth0's own user. Such names are refused.
RESERVED_PREFIXES = ("io-", "nc-")


def check(name: str) -> str:
    if (not 0 < len(name) < IFNAMSIZ or not _KERNEL.issuperset(name) or name in (".", "..")
            or name.startswith("-")):
        hint = " (the interface's own name, not systemd-escape'd)" if "\\x" in name else ""
        raise ValueError(f"invalid interface name {name[:32]!r}{hint}")
    if not _SAFE.issuperset(name):
        raise ValueError(f"interface name {name!r}: systemd's dynamic users, one per process "
                         "and interface, take letters, digits, '_' and '-' only; give the "
                         "device another name (Name= in a systemd.link or .netdev file)")
    if name.startswith(RESERVED_PREFIXES):
        raise ValueError(f"interface name {name!r} would share its identities with another "
                         f"interface's leasebox processes (names starting "
                         f"{' or '.join(RESERVED_PREFIXES)} are not supported)")
    return name


class AlternativeName(ValueError):
    """The name is another interface's alternative name (`ip link`'s altname, which udev
    gives many interfaces), which the kernel looks names up by too."""


def index_of(name: str) -> int | None:
    """The ifindex of the interface called `name`, None when there is none. Raises
    AlternativeName for another interface's altname: io and netconf would find that
    interface, then take its own name for a rename, and start over, for ever."""
    try:
        index = socket.if_nametoindex(name)
        primary = socket.if_indextoname(index)
    except OSError:
        return None  # (gone in between too)
    if primary != name and index == _index_or_none(name):  # (not renamed in between)
        raise AlternativeName(f"{name} is an alternative name of {primary}: leasebox runs "
                              f"on an interface by its own name (leasebox@{primary}.target)")
    return index if primary == name else None


def _index_or_none(name: str) -> int | None:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None
