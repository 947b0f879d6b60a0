"""Which DHCP servers answer on the link, and which of them the engine listens to.

AllowServers=/DenyServers= name servers by server identifier (option 54) or by the source
MAC address of their frames; a reply matching DenyServers=, or not matching a non-empty
AllowServers=, is dropped before the state machine sees it. Every server that answers is
remembered, by server identifier and MAC address (one that copies a server's identifier
from another MAC is another: an impostor, or a relay, a VRRP pair), the MAX_SEEN heard
from most lately; when another one appears, the journal gets an event with its own
MESSAGE_ID naming them all (the caller bounds how often), so an administrator learns of a
rogue DHCP server from the client. Pure: no I/O, no clock.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from leasebox.config.values import ServerSpec
from leasebox.core import events
from leasebox.core.record import field, record

MAX_SEEN = 8
MESSAGE_ID = events.SERVERS_ID  # more than one DHCP server answers
OTHER_CLIENT_MESSAGE_ID = events.OTHER_CLIENT_ID  # another client answered with our MAC


@record
class Seen:
    server_id: IPv4Address | None
    mac: bytes

    def __str__(self) -> str:
        return f"{self.server_id or 'no server id'} ({self.mac.hex(':')})"


@record(frozen=False)
class ServerWatch:
    allow: tuple[ServerSpec, ...] = ()
    deny: tuple[ServerSpec, ...] = ()
    seen: list[Seen] = field(default_factory=list)

    def admits(self, server_id: IPv4Address | None, mac: bytes) -> str | None:
        """None when a reply from this server may be used; else why not."""
        ids = {server_id, mac} - {None}
        if any(spec in ids for spec in self.deny):
            return "denied by DenyServers="
        if self.allow and not any(spec in ids for spec in self.allow):
            return "not in AllowServers="
        return None

    def answered(self, server_id: IPv4Address | None, mac: bytes) -> bool:
        """Note a server that answered; True when it makes them more than one (new)."""
        entry = Seen(server_id, mac)
        known = entry in self.seen
        if known:  # heard again: the latest goes last
            self.seen.remove(entry)
        elif len(self.seen) >= MAX_SEEN:
            del self.seen[0]  # the one heard from least lately makes way: a new one counts
        self.seen.append(entry)
        return not known and len(self.seen) > 1

    def describe(self) -> list[str]:
        return [str(s) for s in self.seen]
