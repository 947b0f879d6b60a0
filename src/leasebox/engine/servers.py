"""Which DHCP servers answer on the link, and which of them the engine listens to.

AllowServers=/DenyServers= name servers by server identifier (option 54) or by the source
MAC address of their frames; a reply matching DenyServers=, or not matching a non-empty
AllowServers=, is dropped before the state machine sees it. Every server that answers is
remembered by its server identifier, with the MAC addresses it was heard from, the
MAX_SEEN heard from most lately; when another one appears, the journal gets an event with
its own MESSAGE_ID naming them all (the caller bounds how often), so an administrator
learns of a rogue DHCP server from the client.

One identifier from several MACs is one server, said at info: two routers relaying to it
(the HSRP or VRRP pair of most enterprise networks), the relay of the first exchange and
the gateway of a routed renewal, a server behind balance-alb bonding. Counted as servers,
they warned of a rogue server at every boot of every client of such a network. An impostor
that copies the real server's identifier looks the same; AllowServers= by MAC is what
keeps one out. Pure: no I/O, no clock.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from leasebox.config.values import ServerSpec
from leasebox.core import events
from leasebox.core.record import field, record

MAX_SEEN = 8
MAX_MACS = 4  # a server's, the latest
NOTHING_NEW, NEW_MAC, NEW_SERVER = 0, 1, 2  # what answered() heard
MESSAGE_ID = events.SERVERS_ID  # more than one DHCP server answers
OTHER_CLIENT_MESSAGE_ID = events.OTHER_CLIENT_ID  # another client answered with our MAC


@record
class Seen:
    server_id: IPv4Address | None
    macs: tuple[bytes, ...]

    def __str__(self) -> str:
        macs = ", ".join(mac.hex(":") for mac in self.macs)
        return f"{self.server_id or 'no server id'} ({macs})"


@record(frozen=False)
class ServerWatch:
    allow: tuple[ServerSpec, ...] = ()
    deny: tuple[ServerSpec, ...] = ()
    seen: list[Seen] = field(default_factory=list)

    def _known_id(self, server_id: IPv4Address | None, mac: bytes) -> IPv4Address | None:
        """`server_id`; for a reply without one (ESP-IDF's NAKs), the identifier of the
        server last heard from `mac`, if any: that server's NAK, not another server."""
        if server_id is not None:
            return server_id
        return next((s.server_id for s in reversed(self.seen)
                     if mac in s.macs and s.server_id is not None), None)

    def admits(self, server_id: IPv4Address | None, mac: bytes) -> str | None:
        """None when a reply from this server may be used; else why not."""
        ids = {self._known_id(server_id, mac), mac} - {None}
        if any(spec in ids for spec in self.deny):
            return "denied by DenyServers="
        if self.allow and not any(spec in ids for spec in self.allow):
            return "not in AllowServers="
        return None

    def refuses_lease(self, server_id: IPv4Address) -> str | None:
        """Why a lease from `server_id` is refused now, judged by its identifier alone (a
        lease resumed at a restart: the server's MAC is not kept with it); None when it is
        not, or when a MAC address in AllowServers= may be the server's (its next reply
        decides)."""
        if server_id in self.deny:
            return "denied by DenyServers="
        if self.allow and server_id not in self.allow \
                and not any(isinstance(spec, bytes) for spec in self.allow):
            return "not in AllowServers="
        return None

    def answered(self, server_id: IPv4Address | None, mac: bytes) -> int:
        """Note a server that answered: NEW_SERVER when it makes them more than one,
        NEW_MAC when a known one answered from another MAC, else NOTHING_NEW."""
        server_id = self._known_id(server_id, mac)
        entry = next((s for s in self.seen if s.server_id == server_id), None)
        if entry is None:
            if len(self.seen) >= MAX_SEEN:
                del self.seen[0]  # the one heard from least lately makes way
            self.seen.append(Seen(server_id, (mac,)))
            return NEW_SERVER if len(self.seen) > 1 else NOTHING_NEW
        self.seen.remove(entry)  # heard again: the latest goes last
        macs = (*(m for m in entry.macs if m != mac), mac)[-MAX_MACS:]
        self.seen.append(Seen(server_id, macs))
        return NOTHING_NEW if mac in entry.macs else NEW_MAC

    def describe(self) -> list[str]:
        return [str(s) for s in self.seen]
