"""leasebox-bus: hands each link's DNS to systemd-resolved and NTP to systemd-timesyncd.

    leasebox-bus [--bus-address ADDRESS] [--state-dir DIR] [--exit-idle-time S] [--debug]

One per machine, socket-activated by the netconf of any interface (ListenSequentialPacket=
named "bus"). resolved and timesyncd accept these calls only from root (or through polkit),
so this is the one leasebox process with uid 0; it has no capabilities, no network
addresses, and nothing to do but this. It keeps what each link should have in DIR (default
/run/leasebox-bus), delivers it, retries with a bounded backoff while a service is absent
or refusing, and delivers again when a service gets a new owner on the bus (timesyncd
forgets its runtime servers when it restarts). It exits after S idle seconds once it holds
nothing.

A netconf that breaks the ipc contract loses its connection (one CRIT line); the others,
which speak for other links, are not punished for it.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from leasebox import ipc
from leasebox.bus.dbus import SYSTEM_BUS, Connection, DBusError
from leasebox.bus.dispatch import bus_dispatch_netconf
from leasebox.bus.links import Links, Target
from leasebox.bus.services import RESOLVED, TIMESYNCD, BusServices
from leasebox.bus.statefile import StateDir
from leasebox.core.log import Logger
from leasebox.ipc import channel, peers
from leasebox.runtime import atomicfile as atomic
from leasebox.runtime import ifname as ifnames
from leasebox.runtime import log as logsetup
from leasebox.runtime import sandbox, sd
from leasebox.runtime.exits import EX_CONFIG, EX_OK
from leasebox.runtime.signals import StopSignals

SEND_TIMEOUT = 5.0
MAX_CLIENTS = 64
# netconf connects for each hand-off and leaves once answered; a connection held longer is
# dropped, and one uid holds a few at most, so that no netconf can keep the others out
CLIENT_TIMEOUT = 10.0
MAX_PER_UID = 4
# accept() failed for want of descriptors or memory: the connection waits in the backlog,
# which polls readable all along; the listener is left alone this long rather than spun on
ACCEPT_PAUSE = 1.0
TARGET_OF = {RESOLVED.bus_name: Target.RESOLVED, TIMESYNCD.bus_name: Target.TIMESYNCD}


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EX_CONFIG, f"{self.prog}: {message}\n")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _ArgumentParser(prog="leasebox-bus", description=__doc__.split("\n")[0])
    parser.add_argument("--bus-address", default=None, metavar="ADDRESS",
                        help=f"D-Bus system bus (default $DBUS_SYSTEM_BUS_ADDRESS or {SYSTEM_BUS})")
    parser.add_argument("--state-dir", default="/run/leasebox-bus", metavar="DIR")
    parser.add_argument("--exit-idle-time", type=float, default=0.0, metavar="SECONDS",
                        help="exit after SECONDS holding nothing and serving no one "
                        "(socket activation starts it again); 0 (default): never")
    parser.add_argument("--debug", action="store_true")
    return parser.parse_args(argv)


class Bus:
    """The event loop: netconf connections, the bus connection, retries, status."""

    def __init__(self, listener: socket.socket, links: Links, services: BusServices,
                 state: StateDir, log: Logger, *, idle: float) -> None:
        self.listener = listener
        self.links = links
        self.services = services
        self.state = state
        self.log = log
        self.idle = idle
        self.sel = selectors.DefaultSelector()
        self.clients: dict[socket.socket, peers.Credentials] = {}
        self.opened: dict[socket.socket, float] = {}  # when each client connected
        self.watched: Connection | None = None
        self.last_activity = time.monotonic()
        self.last_status = ""
        self.save_error = ""  # the state directory's last failure, said once
        self.accept_paused: float | None = None  # the listener left alone until then
        self.accept_error = ""  # why accept() failed, said once
        self.watchdog = sd.watchdog_interval()
        self.signals = StopSignals()
        self.sel.register(listener, selectors.EVENT_READ, "listener")
        self.sel.register(self.signals.reader, selectors.EVENT_READ, "wake")
        services.on_connect = self._watch
        services.on_close = lambda conn: self._unwatch()
        services.before_wait = self._ping_watchdog

    def _watch(self, conn: Connection) -> None:
        """A new bus connection: its signals (NameOwnerChanged) wake the loop."""
        if self.watched is not None:
            self._unwatch()
        self.watched = conn
        self.sel.register(conn, selectors.EVENT_READ, "dbus")
        now = time.monotonic()
        for name, target in TARGET_OF.items():
            # whatever was missed while there was no connection: assume it happened
            self._ping_watchdog()
            self.links.owner_changed(target, conn.owner(name) is not None, now,
                                     reconnected=True)

    def _ping_watchdog(self) -> None:
        if self.watchdog is not None:
            sd.notify("WATCHDOG=1")

    def _unwatch(self) -> None:
        if self.watched is not None:
            try:
                self.sel.unregister(self.watched)
            except (KeyError, ValueError):
                pass
            self.watched = None

    # ---- clients ---------------------------------------------------------------------------

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EMFILE, ENFILE, ENOMEM: said once, not fatal
            error = exc.strerror or str(exc)
            if error != self.accept_error:
                self.log.warning("cannot accept a connection: %s; trying again every %g s",
                                 error, ACCEPT_PAUSE)
            self.accept_error = error
            self.sel.unregister(self.listener)
            self.accept_paused = time.monotonic() + ACCEPT_PAUSE
            return
        if self.accept_error:
            self.log.info("connections are accepted again")
            self.accept_error = ""
        if len(self.clients) >= MAX_CLIENTS:
            self.log.warning("too many connections: refusing one")
            conn.close()
            return
        peer = peers.peer_credentials(conn)
        if sum(1 for p in self.clients.values() if p.uid == peer.uid) >= MAX_PER_UID:
            self.log.warning("uid %d (pid %d) holds %d connections already: refusing one",
                             peer.uid, peer.pid, MAX_PER_UID)
            conn.close()
            return
        conn.settimeout(SEND_TIMEOUT)
        self.clients[conn] = peer
        self.opened[conn] = time.monotonic()
        self.sel.register(conn, selectors.EVENT_READ, "client")

    def _drop(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        del self.clients[conn]
        del self.opened[conn]
        conn.close()

    def _drop_stale(self, now: float) -> None:
        for conn, opened in list(self.opened.items()):
            if now - opened >= CLIENT_TIMEOUT:
                peer = self.clients[conn]
                self.log.warning("netconf (pid %d, uid %d) held its connection %g s: dropped",
                                 peer.pid, peer.uid, CLIENT_TIMEOUT)
                self._drop(conn)

    def _serve(self, conn: socket.socket) -> None:
        peer = self.clients[conn]
        try:
            msg = channel.recv(conn, ipc.Peer.NETCONF, ipc.Peer.BUS)
        except ipc.PeerViolation as exc:
            self.log.critical("netconf (pid %d, uid %d) broke the contract, dropping it: %s",
                              peer.pid, peer.uid, exc)
            self._drop(conn)
            return
        except OSError:
            msg = None
        if msg is None:
            self._drop(conn)
            return
        try:
            reply = bus_dispatch_netconf(self.links, peer, msg)
        except ipc.PeerViolation as exc:
            self.log.critical("netconf (pid %d) broke the contract, dropping it: %s",
                              peer.pid, exc)
            self._drop(conn)
            return
        # The reply says "held", and goes first: delivery may wait on a slow resolver,
        # and netconf must not wait with it (the loop delivers right after). The link's
        # file says "pending" before it: `leaseboxctl wait-online` waits while either
        # netconf's state or this file has the names on their way.
        self._save()
        try:
            channel.send(conn, reply)
        except OSError as exc:
            self.log.warning("cannot reply to netconf (pid %d): %s", peer.pid, exc)
        # One request a connection, as netconf asks (handoff.BusClient): more would be a
        # netconf that may not read its replies, each of which could hold the loop up for
        # SEND_TIMEOUT while the other interfaces' hand-offs wait. (What else came is read
        # first: closing on unread data would reset the connection, the reply lost.)
        conn.setblocking(False)
        for _ in range(4):
            try:
                conn.recv(1)
            except OSError:
                break
        self._drop(conn)

    # ---- the loop --------------------------------------------------------------------------

    def _save(self) -> None:
        now = time.monotonic()
        try:
            self.state.save(self.links, now)
        except OSError as exc:  # tried again each turn (a full /run may have room again)
            error = exc.strerror or str(exc)  # (not the file's name: one of several)
            if error != self.save_error:
                self.log.error("cannot write %s: %s (will try again)", self.state.directory, exc)
            self.save_error = error
        else:
            if self.save_error:
                self.log.info("%s written again", self.state.directory)
                self.save_error = ""
        status = self.links.summary(now)
        for target in Target:
            error = self.links.retry[target].error
            if self.links.pending(target) and error and error not in self.last_status:
                self.log.warning("%s: %s; will try again", target, error)
        if status != self.last_status:
            sd.notify(f"STATUS={status}")
            self.last_status = status

    def _dbus_event(self) -> None:
        conn = self.watched
        if conn is None:
            return
        now = time.monotonic()
        try:
            for name, owner in conn.owner_changes():
                target = TARGET_OF.get(name)
                if target is not None:
                    self.log.info("%s %s", target, "is on the bus" if owner else "left the bus")
                    self.links.owner_changed(target, bool(owner), now)
        except (DBusError, OSError) as exc:
            self.log.warning("lost the system bus: %s", exc)
            self.services.close()
            self.links.connection_lost(now, f"lost the system bus: {exc}")

    def _resume_accepting(self, now: float) -> None:
        if self.accept_paused is not None and now >= self.accept_paused:
            self.accept_paused = None
            self.sel.register(self.listener, selectors.EVENT_READ, "listener")

    def _timeout(self, now: float) -> float | None:
        waits = [w for w in (self.watchdog,) if w is not None]
        deadline = self.links.next_deadline()
        if deadline is not None:
            waits.append(max(0.0, deadline - now))
        if self.idle > 0 and not self._busy():
            waits.append(max(0.0, self.last_activity + self.idle - now))
        if self.opened:
            waits.append(max(0.0, min(self.opened.values()) + CLIENT_TIMEOUT - now))
        if self.accept_paused is not None:
            waits.append(max(0.0, self.accept_paused - now))
        return min(waits) if waits else None

    def _busy(self) -> bool:
        """Holding something for a link, talking to a netconf, or owing resolved or
        timesyncd a change: a revert left undone while resolved is away would come back
        with it (it reloads what it was told), so the bus waits for it."""
        return bool(self.links.wants or self.clients
                    or any(self.links.pending(target) for target in Target))

    def run(self) -> int:
        self.links.deliver(time.monotonic())
        self._save()
        while True:
            if self.signals.received is not None:
                self.log.info("stopping on signal %d; resolved and timesyncd keep what they "
                              "were told", self.signals.received)
                return EX_OK
            now = time.monotonic()
            if self._busy():
                self.last_activity = now
            elif self.idle > 0 and now - self.last_activity >= self.idle:
                self.log.info("holding nothing for %g s: exiting until needed again",
                              self.idle)
                sd.notify("STOPPING=1", "STATUS=idle; started again on demand")
                return EX_OK
            self._resume_accepting(now)
            # a NameOwnerChanged that came in during the last calls is read already
            try:
                queued = self.watched is not None and self.watched.queued()
            except (DBusError, OSError):  # a broken stream: _dbus_event meets it, reconnects
                queued = True
            ready = self.sel.select(0 if queued else self._timeout(now))
            self._ping_watchdog()
            if queued and not any(key.data == "dbus" for key, _ in ready):
                self._dbus_event()
            for key, _ in ready:
                if key.data == "listener":
                    self._accept()
                elif key.data == "client":
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    self._serve(conn)
                elif key.data == "dbus":
                    self._dbus_event()
                else:
                    self.signals.drain()
            self._drop_stale(time.monotonic())
            self.links.deliver(time.monotonic())
            self._save()


def _take_listener(log: Logger) -> socket.socket | None:
    try:
        sock = sd.take_sockets(["bus"], log.warning).get("bus")
    except sd.ActivationError as exc:
        log.error("%s", exc)
        return None
    if sock is None or sock.family != socket.AF_UNIX or sock.type != socket.SOCK_SEQPACKET \
            or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        log.error("need one inherited listening AF_UNIX SOCK_SEQPACKET socket named 'bus'")
        return None
    return sock


def _resume(state: StateDir, links: Links, log: Logger,
            ifindex: Callable[[str], int] = socket.if_nametoindex) -> None:
    """What an earlier leasebox-bus held, and the reverts it still owed (its files). A
    link whose file cannot be read may have DNS at resolved from us, which netconf may
    still want (it sends nothing until that changes): it is reverted when netconf hands
    the link nothing, as for a file read, not now; the file stays until then."""
    wants, errors = state.load()
    owed, more = state.load_reverts()
    for error in errors + more:
        log.warning("ignoring %s", error)
    for name, want in wants.items():
        links.resume(name, want)
    for name, index in owed.items():
        links.resume_revert(name, index)
    for name in state.unread:
        try:
            links.resume_unknown(ifnames.check(name), ifindex(name))
        except (OSError, ValueError):  # gone (resolved forgot it with it), or no name
            continue
    if wants:
        log.info("holding again what an earlier leasebox-bus held: %s", ", ".join(wants))
    if owed:
        log.info("taking back from systemd-resolved what an earlier leasebox-bus still owed: "
                 "%s", ", ".join(owed))


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    log = logsetup.setup("bus", "-", debug=args.debug)
    listener = _take_listener(log)
    if listener is None:  # the unit's socket is wrong: restarting would not mend it
        return EX_CONFIG
    state = StateDir(args.state_dir)
    Path(args.state_dir).mkdir(mode=0o755, exist_ok=True)
    try:  # what writes cut short (a bus killed while writing) left: only this one writes
        if atomic.remove_leftovers(args.state_dir, None):
            log.info("removed the temporary files an interrupted write left in %s",
                     args.state_dir)
    except OSError as exc:
        log.warning("cannot remove the temporary files in %s: %s", args.state_dir,
                    exc.strerror or exc)
    address = args.bus_address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS
    services = BusServices(address)
    links = Links(services)
    _resume(state, links, log)
    sandbox.no_more_exec(log)
    bus = Bus(listener, links, services, state, log, idle=args.exit_idle_time)
    log.info("ready; D-Bus at %s", address)
    sd.notify("READY=1", f"STATUS={links.summary(time.monotonic())}")
    try:
        return bus.run()
    finally:
        services.close()


if __name__ == "__main__":
    sys.exit(main())
