"""What leasebox-bus holds for each link, what systemd-resolved and -timesyncd have been told,
and when to try again. Pure: time is passed in, the services are called through `Services`.

- resolved keeps DNS per link, and keeps it across its own restarts (it saves what it was
  told under /run/systemd/resolve/netif/); a link's settings are sent when they change, and
  again after a failure.
- timesyncd has one list of runtime NTP servers for the whole machine, forgotten when it
  restarts: it gets the union of every link's servers, again whenever its name gets a new
  owner on the bus.
A failure (the service absent, refusing, slow) is retried with a bounded backoff and shown
in the link's status; it never affects anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Protocol

from leasebox.core.record import field, record
from leasebox.ipc import Names

FIRST_RETRY = 1.0
MAX_RETRY = 60.0
MAX_NTP_UNION = 32


class Target(StrEnum):
    RESOLVED = "systemd-resolved"
    TIMESYNCD = "systemd-timesyncd"


@record
class Want:
    ifindex: int
    names: Names


class Services(Protocol):
    """The calls leasebox-bus makes (bus.services; tests pass a fake). Raise OSError."""

    def set_link(self, ifindex: int, servers: Sequence[IPv4Address],
                 domains: Sequence[str]) -> None: ...
    def revert_link(self, ifindex: int) -> None: ...
    def set_ntp(self, servers: Sequence[IPv4Address]) -> None: ...


@record(frozen=False)
class Retry:
    """One target's pending work: what went wrong last, and when to try next."""

    error: str = ""
    next_try: float = 0.0
    delay: float = 0.0

    def failed(self, now: float, error: str) -> None:
        self.delay = FIRST_RETRY if self.delay == 0 else min(self.delay * 2, MAX_RETRY)
        self.error = error
        self.next_try = now + self.delay

    def now_please(self, now: float) -> None:
        """The service came (back): try at once, and start the backoff over."""
        self.next_try = now
        self.delay = 0.0


class ServicesLost(OSError):
    """The connection to the services broke or a call went unanswered (a hung resolved):
    the rest of the round would only wait as long again, link after link. Such a call
    may have been carried out all the same."""


class PartlySet(OSError):
    """resolved took a link's DNS servers but refused its domains: it holds some of it."""


@record(frozen=False)
class Links:
    services: Services
    wants: dict[str, Want] = field(default_factory=dict)
    # what resolved holds from us, per link: (ifindex, servers, domains)
    resolved_has: dict[str, tuple[int, tuple[IPv4Address, ...], tuple[str, ...]]] = field(
        default_factory=dict)
    resolved_todo: set[str] = field(default_factory=set)
    resolved_errors: dict[str, str] = field(default_factory=dict)  # why a link is still to do
    ntp_has: tuple[IPv4Address, ...] | None = None  # None: unknown (never told, or forgot)
    # timesyncd may hold servers of ours that ntp_has does not say (a call that went
    # unanswered, an earlier leasebox-bus's, an unseen restart): it is told again, even
    # nothing, rather than taken to hold what was last known
    ntp_doubt: bool = False
    retry: dict[Target, Retry] = field(default_factory=lambda: {t: Retry() for t in Target})

    # ---- what netconf asks ----------------------------------------------------------------

    def update(self, ifname: str, want: Want | None) -> None:
        """Hold `want` for the link (None or all empty: hold nothing for it)."""
        if want is not None and want.names.empty:
            want = None
        old = self.wants.get(ifname)
        ntp = self.ntp_union()
        if want is None:
            self.wants.pop(ifname, None)
        else:
            self.wants[ifname] = want
        if self.ntp_union() != ntp:  # at the next round too, as a link's DNS (below)
            self.retry[Target.TIMESYNCD].next_try = 0.0
        none: tuple[tuple[IPv4Address, ...], tuple[str, ...]] = ((), ())
        if (old.names.dns if old else none) != (want.names.dns if want else none) or (
                old and want and old.ifindex != want.ifindex) or (
                ifname in self.resolved_has and (want is None or not (
                    want.names.dns_servers or want.names.domains))):  # (resume_unknown)
            self.resolved_todo.add(ifname)
            # at the next round, not at the end of the backoff of a link resolved keeps
            # refusing (LinkBusy, NoSuchLink): that one is tried with it, once more
            self.retry[Target.RESOLVED].next_try = 0.0
            if ifname in self.resolved_errors:
                self.resolved_errors[ifname] = ""  # (not tried yet as it is now)

    def resume(self, ifname: str, want: Want) -> None:
        """Hold again what an earlier leasebox-bus held (its state file). resolved may still
        have that DNS (it keeps what it was told), so the link is reverted when it is left,
        even before anything was delivered again."""
        self.update(ifname, want)
        if want.names.dns_servers or want.names.domains:
            self.resolved_has[ifname] = (want.ifindex, (), ())
        if want.names.ntp_servers:  # which timesyncd may hold, the link left or not
            self.ntp_doubt = True

    def resume_unknown(self, ifname: str, ifindex: int) -> None:
        """A link an earlier leasebox-bus held, its file unreadable: resolved may have DNS
        from us for it, so a hand-off of nothing for the link reverts it."""
        self.resolved_has.setdefault(ifname, (ifindex, (), ()))

    def owed_reverts(self) -> dict[str, int]:
        """The links left (or keeping only NTP) whose DNS resolved still has from us: the
        ifindex to revert, for the state directory, so that a restarted leasebox-bus still
        reverts it (resolved keeps what it was told until then, even across its restarts)."""
        owed: dict[str, int] = {}
        for name, has in self.resolved_has.items():
            want = self.wants.get(name)
            if name in self.resolved_todo and (
                    want is None or not (want.names.dns_servers or want.names.domains)):
                owed[name] = has[0]
        return owed

    def resume_revert(self, ifname: str, ifindex: int) -> None:
        """A revert an earlier leasebox-bus owed (its state directory): owed again."""
        if ifname not in self.resolved_has:
            self.resolved_has[ifname] = (ifindex, (), ())
            self.resolved_todo.add(ifname)

    def ntp_union(self) -> tuple[IPv4Address, ...]:
        servers: dict[IPv4Address, None] = {}
        for name in sorted(self.wants):
            servers.update(dict.fromkeys(self.wants[name].names.ntp_servers))
        return tuple(servers)[:MAX_NTP_UNION]

    # ---- what the bus tells us ------------------------------------------------------------

    def owner_changed(self, target: Target, present: bool, now: float,
                      reconnected: bool = False) -> None:
        # A restarted resolved reloads what it was told, so only pending work is due; a
        # new timesyncd knows no runtime servers. Either way, what is due goes now, not at
        # the end of its backoff; but not when only our connection is new (`reconnected`):
        # a service that hangs would otherwise be asked again at once after each timeout.
        if target is Target.TIMESYNCD:
            if not reconnected or not present:
                # a new timesyncd holds none of ours, nor one not running: nothing is owed
                # to it (an owed take-back would keep the bus from its idle exit for ever)
                self.ntp_has = None
                self.ntp_doubt = False
            else:
                self._ntp_unknown()
        if present:
            if not reconnected:
                self.retry[target].now_please(now)
        else:  # nothing to try until it is back (or the backoff says to look again)
            self.retry[target].failed(now, f"{target} is not on the bus")
            if target is Target.RESOLVED:
                self.resolved_errors = {}  # (the same for each link now)

    def connection_lost(self, now: float, why: str) -> None:
        """The system bus connection broke: a timesyncd restart in the meantime would go
        unseen (no NameOwnerChanged), so its servers are given again once reconnected;
        both targets try again soon, not at once."""
        self._ntp_unknown()
        self.resolved_errors = {}  # (the same for each link now)
        for target in Target:
            self.retry[target].failed(now, why)

    def _ntp_unknown(self) -> None:
        """timesyncd may have restarted unseen: what it holds of ours is not known. The
        servers wanted go again; with none wanted, a revert still owed stays owed (an
        unknown holding would make it look done)."""
        if self.ntp_union():
            self.ntp_has = None
            self.ntp_doubt = True  # as wanted now, or nothing if the link leaves before

    # ---- delivery -------------------------------------------------------------------------

    def pending(self, target: Target) -> bool:
        if target is Target.RESOLVED:
            return bool(self.resolved_todo)
        wanted = self.ntp_union()
        return self.ntp_doubt or (
            self.ntp_has != wanted and (self.ntp_has is not None or bool(wanted)))

    def deliver(self, now: float) -> None:
        """Carry out what is due. Never raises: failures are kept for status and retry."""
        for target in Target:
            retry = self.retry[target]
            if not self.pending(target):
                retry.error, retry.delay = "", 0.0
            elif now >= retry.next_try:
                try:
                    self._deliver(target)
                except OSError as exc:
                    retry.failed(now, str(exc) or type(exc).__name__)
                else:
                    retry.error, retry.delay = "", 0.0

    def _deliver(self, target: Target) -> None:
        if target is Target.TIMESYNCD:
            wanted = self.ntp_union()
            try:
                self.services.set_ntp(wanted)
            except ServicesLost:  # carried out or not: told again, whatever is wanted then
                self.ntp_doubt = True
                raise
            self.ntp_has, self.ntp_doubt = wanted, False
            return
        # Link by link: resolved refusing one (a link it no longer knows, or one another
        # manager holds) must not keep the others from their DNS. The failed ones stay to do.
        failed: dict[str, str] = {}
        todo = sorted(self.resolved_todo)
        for i, name in enumerate(todo):
            try:
                self._deliver_link(name)
            except ServicesLost as exc:  # the others would wait as long: next round
                failed.update(dict.fromkeys(todo[i:], str(exc) or type(exc).__name__))
                break
            except OSError as exc:
                failed[name] = str(exc) or type(exc).__name__
            else:
                self.resolved_todo.discard(name)
        self.resolved_errors = failed
        if len(set(failed.values())) == 1:  # resolved absent, say: the same for each link
            raise OSError(next(iter(failed.values())))
        if failed:
            raise OSError("; ".join(f"{name}: {why}" for name, why in failed.items()))

    def _deliver_link(self, name: str) -> None:
        want = self.wants.get(name)
        has = self.resolved_has.get(name)
        dns = want.names if want is not None and (want.names.dns_servers or
                                                  want.names.domains) else None
        # Reverted when the link is left, re-created (a new ifindex), or keeps only its NTP
        # (UseDNS=no and UseDomains=no since): resolved would go on using the old servers.
        if has is not None and (want is None or dns is None or has[0] != want.ifindex):
            # Not when another name holds that ifindex now (a link renamed while leasebox
            # runs on both names): its DNS would go, its status say "applied"; its own
            # SetLinkDNS replaces what this one set.
            heirs = [other for other, w in self.wants.items() if other != name and
                     w.ifindex == has[0] and (w.names.dns_servers or w.names.domains)]
            if not heirs:
                self.services.revert_link(has[0])
            for other in heirs:  # what resolved holds is theirs to revert now, should
                self.resolved_has.setdefault(other, (has[0], (), ()))  # their set fail
            del self.resolved_has[name]
        if want is not None and dns is not None:
            try:
                self.services.set_link(want.ifindex, *dns.dns)
            except (ServicesLost, PartlySet):
                # carried out perhaps (a call unanswered in time), or in part: counted as
                # held, so that it is reverted when the link no longer wants it
                self.resolved_has[name] = (want.ifindex, *dns.dns)
                raise
            self.resolved_has[name] = (want.ifindex, *dns.dns)

    def next_deadline(self) -> float | None:
        times = [self.retry[t].next_try for t in Target if self.pending(t)]
        return min(times) if times else None

    # ---- status ---------------------------------------------------------------------------

    def target_status(self, ifname: str, target: Target, now: float) -> str:
        want = self.wants.get(ifname)
        if target is Target.RESOLVED:
            involved = ifname in self.resolved_todo or (
                want is not None and bool(want.names.dns_servers or want.names.domains))
            pending = ifname in self.resolved_todo
        else:
            involved = want is not None and bool(want.names.ntp_servers)
            pending = self.pending(target)
        if not involved:
            return "not used"
        if not pending:
            return "applied"
        retry = self.retry[target]
        if target is Target.RESOLVED and self.resolved_errors:  # each link's own
            error = self.resolved_errors.get(ifname, "")
        else:  # (the service absent: the same for every link)
            error = retry.error
        if not error:
            return "pending"
        return f"pending: {error}; next try in {max(0, retry.next_try - now):.0f} s"

    def summary(self, now: float) -> str:
        parts = []
        for target in Target:
            retry = self.retry[target]
            if self.pending(target) and retry.error:
                parts.append(f"{target} pending ({retry.error}), next try in "
                             f"{max(0, retry.next_try - now):.0f} s")
        links = ", ".join(sorted(self.wants)) or "none"
        return f"links: {links}" + ("; " + "; ".join(parts) if parts else "")
