"""Where a link's DNS servers, search domains and NTP servers go from netconf.

- To leasebox-bus (one request per change over its socket), which holds them for
  systemd-resolved and systemd-timesyncd: only root may tell those services anything, and
  netconf is not root.
- DNS to a resolv.conf-format file instead, on a system without systemd-resolved; NTP still
  goes to leasebox-bus (for timesyncd).
Each sink raises OSError when it could not hand the values on; netconf keeps the address
and tries again later (apply.Configurator). A reply that breaks the ipc contract is a
broken peer: PeerViolation, and netconf exits.
"""

from __future__ import annotations

import errno
import os
import socket

from leasebox import ipc
from leasebox.ipc import Names, channel
from leasebox.netconf.dns import ResolvConfFile

BUS_SOCKET = "/run/leasebox-bus/bus.sock"
TIMEOUT = 5.0


NOTHING = Names()
SINKS = ("resolved", "file")  # the Resolvers' names, as netconf.state records them


class BusViolation(ipc.PeerViolation):
    """leasebox-bus answered outside the contract: fatal to netconf, as from the engine."""


class BusClient:
    """leasebox-bus, reached over its socket (a fresh connection per request)."""

    def __init__(self, ifname: str, path: str = BUS_SOCKET) -> None:
        self.ifname = ifname
        self.path = path
        self.request_id = 0

    def send(self, names: Names) -> None:
        self.request_id = (self.request_id + 1) & 0xFFFFFFFF
        msg = ipc.Handoff(self.request_id, self.ifname, names)
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC) as s:
            s.settimeout(TIMEOUT)
            try:
                s.connect(self.path)
                channel.send(s, msg)
                reply = channel.recv(s, ipc.Peer.BUS, ipc.Peer.NETCONF)
            except ipc.PeerViolation as exc:
                raise BusViolation(str(exc)) from None
            except TimeoutError:
                raise OSError(errno.ETIMEDOUT, "leasebox-bus did not answer in time") from None
            except OSError as exc:
                raise OSError(exc.errno, f"leasebox-bus: {exc.strerror or exc}") from None
        if reply is None:  # a bus stopping, restarted, or at its connection limit: again later
            raise OSError(errno.ECONNRESET, "leasebox-bus closed the connection unanswered")
        if not isinstance(reply, ipc.HandoffResult) or reply.request_id != msg.request_id:
            raise BusViolation(f"answered {reply!r} to #{msg.request_id}")
        if reply.status is not ipc.ResultStatus.OK:
            raise OSError(errno.EPERM, f"leasebox-bus refused: {reply.reason}")


class ToBus:
    """DNS and NTP both to leasebox-bus (systemd-resolved is installed). `stale`: the file
    DNS went to before systemd-resolved was installed, removed when this takes over."""

    name = SINKS[0]

    def __init__(self, bus: BusClient, stale: ResolvConfFile | None = None) -> None:
        self.bus = bus
        self.stale = stale

    def hand_off(self, new: Names, old: Names | None) -> None:
        if new != old:
            self.bus.send(new)
        if old is None and self.stale is not None:
            self.stale.remove()

    def lost(self, held: Names) -> bool:
        """Whether what this sink was given (`held`) is known to be gone: never here."""
        return False

    def describe(self) -> str:
        return f"DNS and NTP go to systemd-resolved and -timesyncd through {self.bus.path}"


class ToFileAndBus:
    """DNS to a resolv.conf-format file, NTP to leasebox-bus (no systemd-resolved)."""

    name = SINKS[1]

    def __init__(self, file: ResolvConfFile, bus: BusClient) -> None:
        self.file = file
        self.bus = bus

    def hand_off(self, new: Names, old: Names | None) -> None:
        if old is None or new.dns != old.dns:
            if new.dns_servers or new.domains:
                self.file.write(new.dns_servers, new.domains)
            else:
                self.file.remove()
        # after systemd-resolved (old None), leasebox-bus gives up the link's DNS this way
        if old is None or new.ntp_servers != old.ntp_servers:
            self.bus.send(Names(ntp_servers=new.ntp_servers))

    def lost(self, held: Names) -> bool:
        """Whether the file that `held` went to is gone."""
        return bool(held.dns_servers or held.domains) and not os.path.exists(self.file.path)

    def describe(self) -> str:
        return f"DNS goes to {self.file.path}; NTP to systemd-timesyncd through {self.bus.path}"
