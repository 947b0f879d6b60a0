"""leasebox-bus's handler for what a netconf sends, and who may send it.

Each netconf@X speaks for its one link: its credentials must say so. netconf@X runs as the
dynamic user leasebox-X in the dynamic group leasebox-nc-X (see leasebox.ipc.peers);
the kernel's SO_PEERCRED answer, taken when the connection was made, is looked up by name
here (this process has the user database; netconf and the engine have none). engine@X is
user leasebox-X too, but in group leasebox-X, so it cannot speak for the link's DNS; io@X is
another user. root may speak for any link.
"""

from __future__ import annotations

import grp
import pwd
import socket
from collections.abc import Callable

from leasebox import ipc
from leasebox.bus.links import Links, Want
from leasebox.core.log import Logger
from leasebox.core.names import BadDomain, check_domain
from leasebox.ipc.peers import Credentials

log = Logger("leasebox.bus")

IfIndex = Callable[[str], int]


def _name(lookup: Callable[[int], object], attr: str, ident: int) -> str | None:
    try:
        return str(getattr(lookup(ident), attr))
    except (KeyError, OverflowError):
        return None


def admits(peer: Credentials, ifname: str) -> bool:
    """May the process with these credentials speak for `ifname`?"""
    if peer.uid == 0:
        return True
    return (_name(pwd.getpwuid, "pw_name", peer.uid) == f"leasebox-{ifname}"
            and _name(grp.getgrgid, "gr_name", peer.gid) == f"leasebox-nc-{ifname}")


def _result(msg: ipc.Handoff, status: ipc.ResultStatus, reason: str = "") -> ipc.HandoffResult:
    return ipc.HandoffResult(msg.request_id, status, reason[:ipc.messages.MAX_REASON])


def bus_dispatch_netconf(links: Links, peer: Credentials, msg: ipc.Message,
                         ifindex: IfIndex = socket.if_nametoindex) -> ipc.HandoffResult:
    if not isinstance(msg, ipc.Handoff):
        raise ipc.PeerViolation(f"bus_dispatch_netconf: invalid {type(msg).__name__}")
    if not admits(peer, msg.ifname):
        log.warning("refused a hand-off for %s from uid %d gid %d: not netconf@%s",
                    msg.ifname, peer.uid, peer.gid, msg.ifname)
        return _result(msg, ipc.ResultStatus.REFUSED, f"not netconf@{msg.ifname}")
    names = msg.names
    try:
        for name in names.domains:
            check_domain(name)
    except BadDomain as exc:
        return _result(msg, ipc.ResultStatus.REFUSED, str(exc))
    if names.empty:
        links.update(msg.ifname, None)
        log.info("%s: nothing to hold any more", msg.ifname, extra={"INTERFACE": msg.ifname})
        return _result(msg, ipc.ResultStatus.OK)
    try:
        index = ifindex(msg.ifname)  # never an index from the peer: the name is checked
    except OSError:
        return _result(msg, ipc.ResultStatus.REFUSED, f"no interface {msg.ifname}")
    links.update(msg.ifname, Want(index, names))
    log.info("%s: DNS %s, search %s, NTP %s", msg.ifname,
             " ".join(map(str, names.dns_servers)) or "-", " ".join(names.domains) or "-",
             " ".join(map(str, names.ntp_servers)) or "-", extra={"INTERFACE": msg.ifname})
    return _result(msg, ipc.ResultStatus.OK)
