"""What netconf has changed, kept in a file so that a restarted netconf still knows.

systemd restarts netconf after a broken peer or a crash while the kernel keeps the address,
routes and MTU. Without this file the new process could not remove them on the next
Remove, nor restore the MTU that was there before leasebox. The file lives in the runtime
directory (tmpfs: gone at reboot, like the kernel state it describes), is written
atomically after every change, and is read back strictly: anything unexpected and it is
ignored. One for another ifindex (the link was replaced) gives only what was handed on.
"""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from leasebox.core.values import MAX_ROUTES
from leasebox.ipc import Names
from leasebox.netconf.apply import Tracked
from leasebox.netconf.handoff import NOTHING, SINKS
from leasebox.netconf.validate import PlannedRoute, Refused, check_domain
from leasebox.runtime import atomicfile as atomic
from leasebox.runtime import readfile

FILENAME = "netconf.state"
MAX_STATE = 1 << 20  # bytes read back at most (the largest state is some tens of KiB)
VERSION = 2  # 2: DNS and NTP as handed on, and what is still to be handed on
READABLE = (1, 2)  # a netconf restarted by an upgrade still knows what the old one applied
# a /32 lease's plan: each classless route, and a host route to each gateway, plus one
MAX_ENTRIES = 2 * MAX_ROUTES + 2


class StateError(ValueError):
    pass


def _u32(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value <= 0xFFFFFFFF:
        raise StateError(f"{what}: {value!r}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if type(value) is not list or len(value) > MAX_ENTRIES:
        raise StateError(f"{what}: not a short list")
    return value


def to_json(ifindex: int, t: Tracked) -> str:
    return json.dumps({
        "version": VERSION,
        "ifindex": ifindex,
        "address": None if t.address is None else str(t.address),
        "routes": [[str(r.destination), None if r.gateway is None else str(r.gateway),
                    r.table, r.metric] for r in t.routes],
        "mtu": t.mtu,
        "original_mtu": t.original_mtu,
        "dns": _names_doc(t.dns),
        "wanted": None if t.wanted is None else _names_doc(t.wanted),
        "dns_to": t.dns_to,  # optional in version 2: an older netconf reads the rest
        "prefix_route": t.prefix_route,  # optional too
        "route_source": None if t.route_source is None else str(t.route_source),  # too
    }, sort_keys=True)


def _flag(value: Any) -> bool | None:
    if value is not None and type(value) is not bool:
        raise StateError(f"prefix_route: {value!r}")
    return value


def _sink(value: Any) -> str:
    if value != "" and value not in SINKS:
        raise StateError(f"dns_to: {value!r}")
    return str(value)


def _names_doc(names: Names) -> dict[str, list[str]]:
    return {"dns_servers": [str(a) for a in names.dns_servers], "domains": list(names.domains),
            "ntp_servers": [str(a) for a in names.ntp_servers]}


def _names(doc: Any) -> Names:
    if type(doc) is not dict:
        raise StateError("names: not an object")
    return Names(tuple(IPv4Address(str(a)) for a in _list(doc["dns_servers"], "servers")),
                 tuple(check_domain(str(d)) for d in _list(doc["domains"], "domains")),
                 tuple(IPv4Address(str(a)) for a in _list(doc["ntp_servers"], "ntp")))


def _names_v1(dns: Any) -> Names:
    if dns is None:
        return NOTHING
    return Names(tuple(IPv4Address(str(s)) for s in _list(dns[0], "servers")),
                 tuple(check_domain(str(d)) for d in _list(dns[1], "domains")))


def from_json(text: str, ifindex: int) -> Tracked:
    try:
        data = json.loads(text)
        if type(data) is not dict or data.get("version") not in READABLE:
            raise StateError(f"not a version {VERSION} state")
        if type(data.get("ifindex")) is not int:
            raise StateError(f"ifindex: {data.get('ifindex')!r}")
        address = data["address"]
        routes = []
        for entry in _list(data["routes"], "routes"):
            dest, gw, table, metric = _list(entry, "route")
            routes.append(PlannedRoute(IPv4Network(str(dest)),
                                       None if gw is None else IPv4Address(str(gw)),
                                       _u32(table, "table"), _u32(metric, "metric")))
        if data["version"] == 1:
            dns, wanted = _names_v1(data["dns"]), None
        else:
            dns = _names(data["dns"])
            wanted = None if data["wanted"] is None else _names(data["wanted"])
        tracked = Tracked(
            address=None if address is None else IPv4Interface(str(address)),
            routes=routes,
            mtu=None if data["mtu"] is None else _u32(data["mtu"], "mtu"),
            original_mtu=(None if data["original_mtu"] is None
                          else _u32(data["original_mtu"], "original_mtu")),
            dns=dns,
            wanted=wanted,
            dns_to=_sink(data.get("dns_to", "")),
            prefix_route=_flag(data.get("prefix_route")),
            route_source=(None if data.get("route_source") is None
                          else IPv4Address(str(data["route_source"]))),
        )
        if data["ifindex"] != ifindex:
            # The link was replaced (a NIC removed and added): its address, routes and MTU
            # went with the old one, but what was handed on for the interface's name is
            # still held by leasebox-bus (and the file), to be taken back at the next remove.
            # Where it went is forgotten, so that it is handed on again at once: leasebox-bus
            # looks the link up by name at each hand-off, and systemd-resolved holds the DNS
            # of the old link's index, which is gone.
            tracked = Tracked(dns=tracked.dns, wanted=tracked.wanted, dns_to="")
    except StateError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, RecursionError, Refused) as exc:
        # Any shape we did not write ourselves gets one answer: not ours, ignore it.
        # (RecursionError: JSON nested deeper than the parser's stack.)
        raise StateError(f"{type(exc).__name__}: {exc}") from None
    return tracked


class StateFile:
    def __init__(self, directory: str, ifindex: int) -> None:
        self.directory = directory
        self.ifindex = ifindex
        self.path = os.path.join(directory, FILENAME)

    def load(self) -> Tracked | None:
        """The state a previous netconf left; None when there is none. Raises StateError."""
        try:  # (not blocking on a FIFO, nor following a link, in its place)
            data = readfile.read_regular(self.path, MAX_STATE)
            text = data.decode("ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StateError(str(exc)) from None
        if len(data) > MAX_STATE:
            raise StateError(f"longer than {MAX_STATE} bytes")
        return from_json(text, self.ifindex)

    def discard(self) -> None:
        """Remove the file (one that is out of date misleads more than none)."""
        atomic.remove(self.directory, FILENAME)

    def save(self, tracked: Tracked) -> None:
        """Raises OSError when the file could not be made to say `tracked`; not when it
        says so already (a renewal's state, with a full /run)."""
        if tracked.empty:
            atomic.remove(self.directory, FILENAME)
            return
        data = to_json(self.ifindex, tracked).encode("ascii")
        try:
            # readable by all, as leasebox-bus's files: it says nothing `ip address` and
            # resolvectl do not, and leaseboxctl wait-online (root without capabilities,
            # so without CAP_DAC_OVERRIDE) reads whether the DNS is on its way
            atomic.write_atomic(self.directory, FILENAME, data, mode=0o644)
        except OSError:
            try:  # what the file says, read back (a read needs no space)
                same = readfile.read_regular(self.path, MAX_STATE) == data
            except OSError:
                same = False
            if not same:
                raise
