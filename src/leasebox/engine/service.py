"""The engine service: the state machine's adapter to its peers, files and clock.

Owns the connections to io and netconf and the live state; feeds the pure Client events
that carry `now`, and carries out the actions it returns. Handlers that receive from a
peer live in dispatch.py; this module composes what goes out (engine_compose_*).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address

from leasebox import ipc
from leasebox.config.values import ClientIdentifier, ServerSpec
from leasebox.core import wire
from leasebox.core.log import Logger
from leasebox.core.machine import Client, SnapshotError
from leasebox.core.machine.types import (
    ApplyLease,
    ClientConfig,
    ConfigRefused,
    Event,
    GuardAddress,
    Lease,
    LeaseEvent,
    LeaseEventKind,
    LeaveRequested,
    LinkDown,
    LinkUp,
    PersistLease,
    ProbeAddress,
    RemoveLease,
    State,
    StateChanged,
    TimerExpired,
    Transmit,
)
from leasebox.core.record import record, replace
from leasebox.core.values import INFINITE, ProbeTiming
from leasebox.engine import boottime, clientid, journal, leasefile
from leasebox.engine.clients import Rate
from leasebox.engine.events import EventQueue
from leasebox.engine.ledger import Ledger
from leasebox.engine.livestate import LiveState
from leasebox.engine.servers import MESSAGE_ID as SERVERS_MESSAGE_ID
from leasebox.engine.servers import NEW_MAC, NEW_SERVER, OTHER_CLIENT_MESSAGE_ID, ServerWatch
from leasebox.ipc import channel
from leasebox.runtime import sd

log = Logger("leasebox.engine")


class OsRandom:
    """The kernel's random numbers, as the state machine draws them (its Random protocol):
    what random.SystemRandom does, without loading random (and hashlib) into the engine."""

    def random(self) -> float:
        return (int.from_bytes(os.urandom(7), "big") >> 3) / (1 << 53)

    def getrandbits(self, k: int, /) -> int:
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        return int.from_bytes(os.urandom((k + 7) // 8), "big") >> ((-k) % 8)

DROP_LOG_INTERVAL = 10.0
SERVERS_WARN_INTERVAL = 60.0  # seconds between two "more than one DHCP server" lines
OTHER_CLIENT_WARN_INTERVAL = 3600.0  # seconds between two "another DHCP client" lines
SENT_XIDS = 32  # the xids of our last requests: answers to them are ours, however late
RESTART_XID_GRACE = 10.0  # seconds after a restart in which an unknown xid may be ours
STATUS_REFRESH = 60.0
# while STATUS= counts seconds (under two minutes to T1, T2 or the expiry), it is sent
# each second: `systemctl status` shows it as last sent
STATUS_REFRESH_SECONDS = 1.0
NETCONF_RETRY = 0.5
# after the carrier came back, the lease in use goes to netconf again if no ACK has by
# then (_reapply): not at once, where it would take CPU from the exchange itself
REAPPLY_DELAY = 1.0
# A renewal of the lease the file holds (its address, from its server) rewrites the file
# only this long after the last write: on an SD card a 2-minute lease was ~1,470 writes a
# day (two fsyncs each). The file only serves the next cold start, which confirms what it
# holds with the server; one behind by up to this long may look expired a little early,
# and the client then asks for its address with DISCOVER. A lease whose T1 comes later
# than this (over ~2 h 8 min: T1 may come 1/16 early) has every renewal written.
LEASE_FILE_REFRESH = 3600.0


@record
class Settings:
    interface: str
    client: ClientConfig
    state_dir: str
    netconf_path: str
    keep_configuration: bool = False
    release_at_shutdown: bool = False  # SendRelease=always
    use_captive_portal: bool = True  # UseCaptivePortal=
    fqdn: str | None = None  # FQDN=, sent in option 81
    # option 61 depends on the MAC address, known only once io reports the link
    client_id: ClientIdentifier = ClientIdentifier.MAC
    duid: bytes | None = None
    iaid: int | None = None
    allow_servers: tuple[ServerSpec, ...] = ()  # empty: any server not denied
    deny_servers: tuple[ServerSpec, ...] = ()
    boot_id: str | None = None  # written into the hooks' events (see events.boot_id)


class EngineService:
    def __init__(self, settings: Settings, live: LiveState,
                 clock: Callable[[], float] = boottime.now,
                 wall: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.live = live
        self.clock = clock
        self.wall = wall
        self.rng = OsRandom()  # xids must not be predictable off-link
        self.client: Client | None = None
        self.link: ipc.LinkState | None = None
        self.io: socket.socket | None = None
        self.guarded: IPv4Address | None = None  # the last GuardAddress, for a new io
        self.probe: ipc.Probe | None = None  # the last ProbeAddress, for a new io
        self.netconf: socket.socket | None = None
        self.netconf_retry_at: float | None = None
        self.reapply_at: float | None = None  # see REAPPLY_DELAY
        self.ledger = Ledger()  # what netconf and io were asked, and what is still due
        self.command_rate = Rate()  # renew and release from the control socket
        self.servers = ServerWatch(settings.allow_servers, settings.deny_servers)
        self.last_error = ""
        # the request id and netconf's reason of the last removal it did not carry out,
        # for a leave that waits for its removal (main.Loop)
        self.removal_failed: tuple[int, str] | None = None
        # netconf may hold a configuration this engine knows nothing of: it started without
        # its live state (a stop of the engine alone empties the FDSTORE; io's next
        # connection starts it again), from the lease file, and netconf has confirmed
        # nothing since. A leave or release then asks netconf to remove whatever it holds
        # (remove_unknown).
        self.netconf_unsure = False
        # an operator's leave came before io's first report made the client: that client
        # starts idle (STOPPED), as a client that existed would have stayed; None: none
        # came, else the leave's KeepConfiguration= (dispatch: what it asks of netconf)
        self.left_early: bool | None = None
        # what netconf left out of the lease in use, and why (its OK's notes: a router not
        # on the link, an MTU out of range), for the status
        self.netconf_notes = ""
        self.dropped = 0
        self.ignored = 0
        self.portal_reported: str | None = None  # the captive portal the journal was told
        self.events = EventQueue(settings.state_dir, settings.interface,  # for the hooks
                                 boot=settings.boot_id,
                                 captive_portal=settings.use_captive_portal)
        self.drop_logged_at = -DROP_LOG_INTERVAL
        self.servers_warned_at = -SERVERS_WARN_INTERVAL
        self.server_macs_said_at = -SERVERS_WARN_INTERVAL  # (NEW_MAC, at info)
        self.refused_warned_at = -SERVERS_WARN_INTERVAL  # AllowServers=/DenyServers=
        self.sent_xids: list[int] = []
        self.xids_unknown_until = 0.0
        self.other_client_warned_at: float | None = None
        self.status_at = 0.0
        self.status_in_seconds = False  # the last STATUS= counts seconds
        self.status_sent = ""  # the last STATUS= itself
        # the lease file as this process last wrote it: (address, server) and when; and a
        # renewal since that it did not write yet (LEASE_FILE_REFRESH), written at the stop
        self.stored: tuple[IPv4Address, IPv4Address] | None = None
        self.stored_at = 0.0
        self.unstored: Lease | None = None
        self.file_error = ""  # the last write or removal of it that failed, said once
        self.on_io_change: Callable[[], None] = lambda: None
        self.on_netconf_change: Callable[[], None] = lambda: None

    # ---- the state machine ---------------------------------------------------------------

    @property
    def state(self) -> State | None:
        return self.client.state if self.client else None

    def feed(self, event: Event) -> None:
        if self.client is None:
            return
        self.carry_out(self.client.handle(event))

    def timer(self) -> float | None:
        machine = self.client.get_timer() if self.client else None
        return min((d for d in (machine, self.reapply_at) if d is not None), default=None)

    def on_timer(self, now: float) -> None:
        if self.reapply_at is not None and now >= self.reapply_at:
            self.reapply_at = None
            self._reapply(now)
        deadline = self.client.get_timer() if self.client else None
        if deadline is not None and now >= deadline:
            self.feed(TimerExpired(now))

    def link_changed(self, link: ipc.LinkState) -> None:
        """io reported the link (at connect and on every change)."""
        old, self.link = self.link, link
        now = self.clock()
        if self.client is None or (old is not None and old.mac != link.mac):
            # released or left by an operator: idle for the new MAC too, until a renew
            idle = (self.client.state is State.STOPPED if self.client is not None
                    else self.left_early is not None)
            if self.client is None and idle:
                log.info("left before io reported the link: idle until leaseboxctl renew")
            if old is not None and old.mac != link.mac:
                # a warning when it costs something; a bridge or bond taking its MAC from
                # its first port at boot, with nothing held or asked yet, costs nothing
                held = self.client is not None and (
                    self.client.lease is not None or self.client.awaited_xid is not None)
                (log.warning if held else log.info)(
                    "MAC address changed to %s; %s", link.mac.hex(":"),
                    "staying idle until leaseboxctl renew" if idle else "starting over")
                # The old MAC's client goes, and what it applied with it: the new one
                # starts from nothing and would never remove it. No RELEASE: io sends
                # nothing for the old MAC any more.
                self.feed(LeaveRequested(now, release=False, mac_changed=True))
                self.live.clear()  # that client's (STOPPED) state is not the new one's
                self.ledger.new_client()  # netconf's answers to its Applies are not ours
            self.client = self._make_client(link.mac, now)
            if idle:
                self.client = self._idle(self.client, now)
            if self.client.awaited_xid is not None:  # a RENEWING or REBINDING resumed
                self.sent_xids = [self.client.awaited_xid]  # (note_answer_xid)
            self.client.set_link_mtu(link.mtu)
            if old is None:
                self._refuse_by_servers(now)
            # A restored client remembers whether its link was up; tell it how it is now.
            self.feed(LinkUp(now, link.mac) if link.carrier else LinkDown(now))
            if old is None and link.carrier:
                # A lease resumed from the live state (the engine restarted: a changed
                # configuration, an upgrade) goes to netconf again at once, which serves
                # this engine by the files as they are now: RouteMetric=, UseDNS= and the
                # like take effect without waiting for a server's next ACK.
                self._reapply(now)
            self.update_status(force=True)
            if old is not None and old.ifindex != link.ifindex:
                self.connect_netconf()  # a new link, down until netconf brings it up (below)
            return
        self.client.set_link_mtu(link.mtu)  # netconf may have changed it (option 26)
        if old is not None and old.ifindex != link.ifindex:
            # The interface was removed and one of its name came (back): whatever was
            # applied went with the old link. Verify the lease (INIT-REBOOT) as after a
            # carrier loss.
            log.info("%s is a new link (ifindex %d, was %d)", self.settings.interface,
                     link.ifindex, old.ifindex)
            self.feed(LinkDown(now, gone=True))
            old = replace(old, carrier=False)
            self.servers.seen.clear()  # (a new attachment, as after a carrier loss)
            # netconf may have exited idle: started again, it brings a new link up
            self.connect_netconf()
        if old is not None and old.carrier != link.carrier:
            if not link.carrier:
                # The servers heard are those of this attachment: a laptop that sleeps at
                # home and wakes at the office meets another server, which is no rogue
                self.servers.seen.clear()
            self.feed(LinkUp(now, link.mac) if link.carrier else LinkDown(now))
            # (a new link is verified first)
            same = link.carrier and old.ifindex == link.ifindex
            self.reapply_at = now + REAPPLY_DELAY if same else None
            self.update_status(force=True)

    def _refuse_by_servers(self, now: float) -> None:
        """A lease resumed from the live state whose server AllowServers=/DenyServers= now
        refuse (an operator denied a rogue server, then restarted the engine to apply it)
        goes at once, as a lease in use that netconf's changed policy refuses: else it
        stayed in use, with its routes and DNS, its renewals' ACKs dropped, until it ran
        out. Judged by the server identifier (ServerWatch.refuses_lease)."""
        client = self.client
        lease = client.lease if client is not None and client.applied else None
        if lease is None or client is None or client.state is State.STOPPED:
            return  # (an exchange in flight resumes as INIT-REBOOT, its lease applied)
        why = self.servers.refuses_lease(lease.server_id)
        if why is not None:
            log.warning("the lease in use is from DHCP server %s, %s now: giving it up",
                        lease.server_id, why)
            self.feed(ConfigRefused(now, f"server {lease.server_id} {why}", in_use=True))

    def _reapply(self, now: float) -> None:
        """The lease in use to netconf again, without an exchange: at an engine's start
        that resumed it (link_changed), and when the carrier came back REAPPLY_DELAY ago
        with no ACK applied since: `ip link set down` (and rfkill) took every route through
        the link with it, and `up` brings back only the prefix route. netconf puts the
        lease's back now, not when a server next answers."""
        applied = self.ledger.applied
        if applied is None or self.ledger.pending or self.state is State.STOPPED \
                or (applied.lease_time != INFINITE and now >= applied.expires_at):
            return  # (a lease that ran out: its removal is the state machine's to ask for)
        if (msg := self.ledger.apply(applied, now, "reapply")) is not None:
            self.send_netconf(msg)

    def _make_client(self, mac: bytes, now: float) -> Client:
        st = self.settings
        config = replace(st.client, client_id=clientid.client_identifier(
            st.client_id, mac, st.interface, st.duid, st.iaid))
        data = self.live.read()
        if data or self.live.inherited:
            # An engine restarted in the middle of an exchange starts it again with a new
            # xid (the live state keeps none in flight; a restart of the target left it
            # empty): a late answer to the old one is no other client's (note_answer_xid).
            # Not at boot, where a DHCP client left running is met first.
            self.xids_unknown_until = now + RESTART_XID_GRACE
        # empty: nothing was kept (a leave retired it, a new MAC cleared it): no word
        resumed = self._resumed(config, data, mac, now) if data else None
        if resumed is not None:
            return resumed
        remembered = None
        try:
            remembered = leasefile.load(self.settings.state_dir, now_mono=now,
                                        now_wall=self.wall(),
                                        min_lease_time=config.min_lease_time)
        except leasefile.NewerLeaseFile as exc:
            log.info("not reading the lease file (%s); it is replaced at the next lease", exc)
        except leasefile.UnreadableLeaseFile as exc:
            log.warning("cannot read the lease file (%s); starting without it, and keeping "
                        "it until the next lease replaces it", exc)
        except leasefile.LeaseFileError as exc:
            log.warning("discarding the lease file: %s", exc)
            try:
                leasefile.forget(self.settings.state_dir)
            except OSError as err:  # a directory in its place, a read-only file system
                log.error("cannot remove the lease file: %s", err)
        expired = None
        if isinstance(remembered, leasefile.Expired):
            expired, remembered = remembered.lease, None
        for lease in (remembered, expired):
            if lease is not None and lease.ack is not None and lease.ack.chaddr[:6] != mac:
                log.info("remembered lease belongs to another MAC address; not using it")
                remembered = expired = None
        if remembered is not None:
            log.info("remembered lease %s", journal.describe(remembered))
            # a predecessor's, which netconf may still hold (without a lease file it holds
            # nothing: a release removed it, and no lease was ever applied)
            self.netconf_unsure = self.client is None
        self._started_with(remembered or expired)
        return Client(config, self.rng, remembered,
                      previous=None if expired is None else expired.address)

    def _resumed(self, config: ClientConfig, data: bytes, mac: bytes,
                 now: float) -> Client | None:
        """The client the kept live state holds, or None (said why) when it cannot be."""
        try:
            client = Client.restore(config, self.rng, data, now)
        except SnapshotError as exc:
            log.warning("discarding the kept live state: %s", exc)
            return None
        if client.mac is not None and client.mac != mac:
            # the link's MAC changed (link_changed): that client's lease, if the server
            # binds it to the old MAC, is not this one's (as for the lease file); but an
            # operator's release still holds (a leave kept no live state)
            if client.state is State.STOPPED:
                log.info("kept live state belongs to another MAC address; idle until "
                         "leaseboxctl renew, as it was")
                self.remove_unknown(now, unsure=True)  # (as below, for a STOPPED one)
                return self._idle(Client(config, self.rng, None), now)
            log.info("kept live state belongs to another MAC address; not using it")
            self._left_by_old_mac(client, now)
            return None
        # STOPPED: released by an operator (a leave retires the live state), and a crash
        # or an upgrade's restart must not take a new lease
        log.info("resumed in %s from the kept live state%s", client.state,
                 "; idle until leaseboxctl renew" if client.state is State.STOPPED else "",
                 extra=self._fields(client.state, client.lease))
        if client.state is State.STOPPED:
            # the release's removal may have gone with the engine before it: held for io's
            # TxDone (up to a second), or not answered by netconf yet. Asked again; with
            # nothing left on the link, netconf has nothing to do.
            self.remove_unknown(now, unsure=True)
        if client.lease is not None and client.state in (
                State.BOUND, State.RENEWING, State.REBINDING):
            self.ledger.applied = client.lease
        self._started_with(client.lease)
        return client

    def _left_by_old_mac(self, client: Client, now: float) -> None:
        """The MAC changed while the engine was away: the old MAC's client (`client`, from
        the kept live state) leaves, as with a change while the engine runs (link_changed),
        and takes what it applied with it, said to the journal and the hooks ("left",
        and the next lease is "changed"). The new client starts from nothing and would
        never remove it: it stayed until its lifetime ran out."""
        self._started_with(client.lease)
        self.client = client
        try:
            self.feed(LeaveRequested(now, release=False, mac_changed=True))
        finally:
            self.client = None
        self.live.clear()
        self.ledger.new_client()
        self.remove_unknown(now, unsure=True)  # whatever its state said was applied

    @staticmethod
    def _idle(client: Client, now: float) -> Client:
        """`client` made STOPPED, as the one it replaces was after an operator's release or
        leave: a new MAC does not take a new lease behind their back. Nothing to carry
        out: no RELEASE, and the configuration stays (this client applied none)."""
        client.handle(LeaveRequested(now, release=False, keep_configuration=True))
        return client

    def _started_with(self, lease: Lease | None) -> None:
        """The lease a new client starts with was bound before: the hooks' next "bound"
        for another address is "changed", with this one as the old address."""
        if lease is not None and self.events.last_address is None:
            self.events.last_address = str(lease.address)

    # ---- actions -------------------------------------------------------------------------

    def carry_out(self, actions: Sequence[object]) -> None:
        now = self.clock()
        for action in actions:
            match action:
                case Transmit(message, destination):
                    self.engine_compose_io_transmit(message, destination)
                    if message.message_type is wire.MessageType.DISCOVER:
                        self.update_status(force=True)  # the count of them in STATUS=
                case ProbeAddress(address, timing):
                    self.probe = ipc.Probe(address, timing is ProbeTiming.RFC5227)
                    self.engine_compose_io(self.probe)
                case GuardAddress(address, announce):
                    self.guarded = address
                    self.engine_compose_io(ipc.Guard(address, announce))
                case ApplyLease(lease) | RemoveLease(lease):
                    self.reapply_at = None  # (what is applied now is this)
                    msg = (self.ledger.apply(lease, now) if isinstance(action, ApplyLease)
                           else self.ledger.remove(lease, now))
                    # (else held until io confirms a RELEASE, or behind what was held)
                    if msg is not None:
                        self.send_netconf(msg)
                case PersistLease(lease):
                    self._persist(lease, now)
                case LeaseEvent(kind, lease, detail, kept):
                    # a lease lost or not used is a warning (journalctl -p warning)
                    report = log.warning if kind in journal.WARNED else log.info
                    report(journal.event_text(kind, lease, detail, kept), extra={
                        **self._fields(self.state, lease),
                        "MESSAGE_ID": journal.MESSAGE_IDS[kind],
                        "LEASE_EVENT": kind.value,
                        **({"LEASE_KEPT": "1"} if kept else {}),
                    })
                    self._report_portal(kind, lease)
                    self.events.add(kind, lease, kept, self.wall() - (now - lease.acquired_at))
                case StateChanged():
                    # the state machine logs the transition line itself; journald gets
                    # DHCP_STATE= on it from the field filter (see main.py)
                    self.update_status(force=True)
                case _:
                    raise TypeError(f"unknown action {action!r}")
        if self.client is not None:
            self.live.write(self.client.snapshot())

    def _remembered_gone(self, now: float) -> None:
        """The lease file is forgotten, and with it the lease remembered from it, unapplied
        here (a NAK, an IPv6-only answer, a decline, a release): what a predecessor applied
        of it, which netconf may still hold, goes too. Not when the INIT-REBOOT only went
        unanswered, which keeps the file: a server down for a moment takes no address away
        (reboot.py). Once: a removal netconf fails is asked for again at a leave or
        release."""
        if self.netconf_unsure and self.removal_failed is None:
            self.remove_unknown(now)

    def captive_portal(self, lease: Lease | None) -> str | None:
        """The lease's captive portal URI, if UseCaptivePortal= says to show it."""
        if lease is None or not self.settings.use_captive_portal:
            return None
        return lease.captive_portal

    def _report_portal(self, kind: LeaseEventKind, lease: Lease) -> None:
        """One journal line when a lease brings a captive portal, or another one."""
        if kind not in (LeaseEventKind.ACQUIRED, LeaseEventKind.RENEWED,
                        LeaseEventKind.REBOUND):
            # the lease is gone or not used: the next one's portal is news again (a hotel's
            # the next morning, to be accepted again), though the same
            self.portal_reported = None
            return
        portal = self.captive_portal(lease)
        if portal is None or portal == self.portal_reported:
            self.portal_reported = portal
            return
        self.portal_reported = portal
        log.info("captive portal on %s: %s", self.settings.interface, portal, extra={
            **self._fields(self.state, lease),
            "MESSAGE_ID": journal.CAPTIVE_PORTAL_MESSAGE_ID, "CAPTIVE_PORTAL": portal})

    def fields(self) -> dict[str, str]:
        """The structured fields of the current moment, for every journal record."""
        return self._fields(self.state, self.client.lease if self.client else None)

    def _fields(self, state: State | None, lease: Lease | None) -> dict[str, str]:
        fields = {"DHCP_STATE": str(state) if state else "NONE"}
        if lease is not None:
            fields["LEASE_ADDRESS"] = f"{lease.address}/{lease.prefixlen}"
            fields["SERVER_ID"] = str(lease.server_id)
        return fields

    def _persist(self, lease: Lease | None, now: float) -> None:
        key = None if lease is None else (lease.address, lease.server_id)
        if key is not None and key == self.stored and now - self.stored_at < LEASE_FILE_REFRESH:
            log.debug("lease file not rewritten: written %.0f s ago", now - self.stored_at)
            self.unstored = lease
            return
        self.stored, self.unstored = None, None  # (not known, should the write fail)
        try:
            if lease is None:
                leasefile.forget(self.settings.state_dir)
            else:
                leasefile.store(self.settings.state_dir, lease,
                                self.wall() - (now - lease.acquired_at))
                self.stored, self.stored_at = key, now
        except (OSError, leasefile.LeaseFileError) as exc:
            # The lease still works without the file; only the next cold start is slower.
            # Tried again at each change and renewal (a full or read-only /var may come
            # back), said once: a short lease would repeat it every minute.
            verb = "write" if lease else "remove"
            # (by errno: the text names the random temporary file of each try)
            error = f"{verb}: {exc.strerror if isinstance(exc, OSError) else exc}"
            if error != self.file_error:
                log.error("cannot %s the lease file: %s%s", verb, exc,
                          " (tried again at each renewal)" if lease else "")
            self.file_error = error
        else:
            if self.file_error:
                log.info("the lease file is %s again", "written" if lease else "removed")
                self.file_error = ""
        if lease is None:  # whether or not the file could go (a /var remounted read-only)
            self._remembered_gone(now)

    def store_renewal(self) -> None:
        """At the stop: the file gets the last renewal it has not had (LEASE_FILE_REFRESH),
        so that the next boot judges the lease by its last ACK."""
        if self.unstored is not None:
            self.stored = None
            self._persist(self.unstored, self.clock())

    # ---- to io ---------------------------------------------------------------------------

    def engine_compose_io_transmit(self, message: wire.Message,
                                   destination: IPv4Address | None) -> None:
        if message.xid not in self.sent_xids:  # (note_answer_xid)
            self.sent_xids = [*self.sent_xids[1 - SENT_XIDS:], message.xid]
        payload = wire.encode(message)
        if destination is None:
            self.engine_compose_io(ipc.SendBroadcast(message.ciaddr, payload))
        else:
            self.engine_compose_io(ipc.SendUnicast(destination, payload))

    def engine_compose_io(self, msg: ipc.Message) -> None:
        if self.io is None:
            log.debug("io is not connected; dropping %s", type(msg).__name__)
            return
        try:
            channel.send(self.io, msg)
        except OSError as exc:
            log.warning("io connection lost while sending: %s", exc)
            self.drop_io()
            return
        if isinstance(msg, ipc.SendBroadcast | ipc.SendUnicast):
            self.ledger.transmitted()

    def tx_done(self) -> None:
        """io confirmed one transmission; send what was waiting for all of them."""
        self._send_released(self.ledger.tx_done())

    def release_held(self, now: float) -> None:
        self._send_released(self.ledger.due(now))

    def _send_released(self, released: list[ipc.Apply | ipc.Remove]) -> None:
        """Each once: a connection made for one (the first, or after a send failed)
        carries it and all the rest (on_connect)."""
        for msg in released:
            if self.netconf is None:
                self.connect_netconf()
                return
            self.send_netconf(msg)

    def io_connected(self, conn: socket.socket) -> None:
        """A new io (the old one restarted): it guards nothing yet; tell it, unannounced.
        And it probes nothing: a probe the old one was running starts again, or the
        address would be taken as free when the probe's time is up, unprobed."""
        self.io = conn
        if self.guarded is not None:
            self.engine_compose_io(ipc.Guard(self.guarded))
        if self.probe is not None and self.state is State.PROBING:
            log.info("io restarted while probing %s: probing again", self.probe.address)
            self.engine_compose_io(self.probe)

    def drop_io(self) -> None:
        if self.io is not None:
            self.io.close()
            self.io = None
            self.on_io_change()
            if self.link is not None and not self.link.carrier and self._hands_on_names():
                # io exits when its link is removed, having said the carrier is lost. A
                # netconf that exited idle would never hear of it and the lease's DNS and
                # NTP servers would stay handed on until the lease ran out: connecting
                # starts one, which takes them back if the link is gone and waits for it
                # (netconf.main), or is idle again soon if it is not (io restarted).
                self.connect_netconf()
        self._send_released(self.ledger.io_lost())

    # ---- to netconf ----------------------------------------------------------------------

    def remove_unknown(self, now: float, unsure: bool = False) -> None:
        """After a leave or release that took the configuration off (and when a lease file
        is forgotten: _remembered_gone): when the state machine asked for no removal, ask
        netconf anyway if what it holds is not known here. A removal netconf did not carry
        out before (a release's, an earlier leave's) is asked for again, so that this one
        too says how it ends; and an engine that started without its live state
        (netconf_unsure), or with another MAC's (`unsure`), does not know the address a
        predecessor applied."""
        if (self.removal_failed is None and not self.netconf_unsure and not unsure) \
                or self.ledger.pending_removals():
            return
        if (msg := self.ledger.remove(None, now)) is not None:
            self.send_netconf(msg)

    def send_netconf(self, msg: ipc.Apply | ipc.Remove) -> None:
        """Send now if connected; either way the message stays pending in the ledger until
        its Result, and goes again on a new connection."""
        if self.netconf is None:
            self.connect_netconf()  # sends everything pending and not held
            return
        try:
            channel.send(self.netconf, msg)
        except OSError as exc:
            log.warning("netconf connection lost while sending: %s", exc)
            self.drop_netconf()

    def _hands_on_names(self) -> bool:
        """Whether the lease held has DNS or NTP servers or domains that netconf may have
        handed on (not after a leave: the client is STOPPED, what it kept is kept)."""
        lease = self.client.lease if self.client is not None else None
        return lease is not None and self.state is not State.STOPPED and bool(
            lease.dns_servers or lease.ntp_servers or lease.domain_name or lease.domain_search)

    def connect_netconf(self) -> None:
        """Connect (socket activation starts netconf if it is not running)."""
        if self.netconf is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            sock.connect(self.settings.netconf_path)
        except OSError as exc:
            sock.close()
            if self.netconf_retry_at is None:
                log.warning("cannot reach netconf at %s: %s; retrying",
                            self.settings.netconf_path, exc.strerror)
            if self.ledger.pending:  # for the status: what holds the lease or its removal up
                self.last_error = (f"cannot reach netconf at {self.settings.netconf_path}: "
                                   f"{exc.strerror or exc}")
            self.netconf_retry_at = self.clock() + NETCONF_RETRY
            return
        self.netconf = sock
        self.netconf_retry_at = None
        self.on_netconf_change()
        for msg in self.ledger.on_connect(self.clock()):
            try:
                channel.send(sock, msg)
            except OSError as exc:
                log.warning("netconf connection lost while sending: %s", exc)
                self.drop_netconf()
                return

    def drop_netconf(self) -> None:
        if self.netconf is not None:
            self.netconf.close()
            self.netconf = None
            self.on_netconf_change()
        # Whatever is pending is sent again on the next connection. With nothing pending,
        # reconnect only when there is something to send: netconf may have exited idle,
        # and connecting would start it again for nothing.
        self.netconf_retry_at = self.clock() + NETCONF_RETRY if self.ledger.pending else None

    # ---- status ----------------------------------------------------------------------------

    def status_due(self) -> float:
        """When STATUS= is next sent again, for the countdown it shows."""
        return self.status_at + (STATUS_REFRESH_SECONDS if self.status_in_seconds
                                 else STATUS_REFRESH)

    def update_status(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now < self.status_due():
            return
        before = self.status_sent
        field = self.status_field(now)
        if field != before:  # the same again costs PID 1 and the bus for nothing
            sd.notify(field)

    def status_field(self, now: float) -> str:
        """STATUS= for the service manager as of `now`, noted as sent then."""
        self.status_at = now
        line = self.status_text(now)
        self.status_in_seconds = journal.counts_seconds(line)
        self.status_sent = "STATUS=" + line
        return self.status_sent

    def status_text(self, now: float) -> str:
        """The status line as of `now`: systemd's STATUS= and leaseboxctl status alike."""
        client = self.client
        return journal.status_line(self.state, client.lease if client else None,
                                   self.link.carrier if self.link else False, now,
                                   client.applied if client else False,
                                   client.discovers if client else None)

    def from_server(self, message: wire.Message, src_mac: bytes) -> bool:
        """Whether a reply may reach the state machine (AllowServers=/DenyServers=); notes
        every server that answers ours, and says so once more than one does."""
        if self.link is not None and message.chaddr[:6] != self.link.mac:
            return True  # not an answer to us: the machine ignores it anyway
        why = self.servers.admits(message.server_id, src_mac)
        now = self.clock()
        if why is not None:
            # a sound reply, not a malformed one: said apart, with where the policy is set
            if now - self.refused_warned_at >= SERVERS_WARN_INTERVAL:
                self.refused_warned_at = now
                log.warning("ignored a %s from DHCP server %s (%s): %s (leaseboxctl "
                            "check-config %s shows where it is set)",
                            "reply" if message.message_type is None
                            else message.message_type.name, message.server_id,
                            src_mac.hex(":"), why, self.settings.interface)
            return False
        heard = self.servers.answered(message.server_id, src_mac)
        # bounded: a host answering as ever new servers must not flood the journal
        if heard == NEW_SERVER and now - self.servers_warned_at >= SERVERS_WARN_INTERVAL:
            self.servers_warned_at = now
            names = ", ".join(self.servers.describe())
            log.warning("more than one DHCP server answers on %s: %s",
                        self.settings.interface, names,
                        extra={"MESSAGE_ID": SERVERS_MESSAGE_ID, "DHCP_SERVERS": names})
        elif heard == NEW_MAC and now - self.server_macs_said_at >= SERVERS_WARN_INTERVAL:
            self.server_macs_said_at = now
            log.info("DHCP server %s answers on %s from more than one MAC address (relays, "
                     "a VRRP pair; AllowServers= by MAC keeps impostors out): %s",
                     message.server_id, self.settings.interface,
                     ", ".join(self.servers.describe()))
        return True

    def note_answer_xid(self, xid: int, server: IPv4Address | None, src_mac: bytes) -> None:
        """A server's answer to this link's MAC address: one to an xid we never sent
        means another DHCP client with that MAC, on this host (dhclient, networkd,
        NetworkManager left managing the interface) or on another; said at once, then
        at most once an hour. A server AllowServers=/DenyServers= refuses is not heard."""
        now = self.clock()
        if xid in self.sent_xids or (self.client is not None and xid == self.client.awaited_xid
                                     ) or now < self.xids_unknown_until:
            return  # ours: in the live state (RENEWING resumed), or from before a restart
        if self.other_client_warned_at is not None and \
                now - self.other_client_warned_at < OTHER_CLIENT_WARN_INTERVAL:
            return
        if self.servers.admits(server, src_mac) is not None:
            return
        self.other_client_warned_at = now
        log.warning("DHCP server %s (%s) answered a request that leasebox did not send, made "
                    "with the MAC address of %s (xid %08x): another DHCP client may manage "
                    "%s, here or on a host with the same MAC address (leasebox(8), "
                    "COEXISTENCE)", server or "?", src_mac.hex(":"), self.settings.interface,
                    xid, self.settings.interface,
                    extra={"MESSAGE_ID": OTHER_CLIENT_MESSAGE_ID, "DHCP_XID": f"{xid:08x}"})

    def note_ignored(self) -> None:
        """A frame the pre-screen dropped: counted, and reported with the next malformed
        one (other clients' traffic is normal on a shared segment, worth no line itself)."""
        self.ignored += 1

    def note_dropped(self, reason: str) -> None:
        self.dropped += 1
        now = self.clock()
        if now - self.drop_logged_at >= DROP_LOG_INTERVAL:
            log.warning("dropped %d frame(s): %d malformed, %d not an answer to us; last "
                        "malformed: %s", self.dropped + self.ignored, self.dropped,
                        self.ignored, reason)
            self.drop_logged_at = now
            self.dropped = self.ignored = 0
