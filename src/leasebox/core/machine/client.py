"""The DHCPv4 client as a sans-I/O state machine (h11/aioquic shape).

    client = Client(config, rng, remembered)
    actions = client.handle(event)     # events carry `now`; actions say what to do
    deadline = client.get_timer()      # absolute, on the adapter's monotonic clock

The client reads no clock, draws no randomness but from `rng`, and does no I/O. Each event
is checked for misuse, turned into a Kind (replies are screened first), looked up in
transitions.TABLE and handed to the handler found there.

Decisions, and where each is explained:
- BOUND is entered on ConfigApplied, not on the ACK: the ACK yields ApplyLease, and only
  netconf's confirmation yields PersistLease, the LeaseEvent and BOUND, so the state never
  says BOUND before the address is on the interface (steps.accept_ack, finish_bind). The
  adapter answers every ApplyLease exactly once, in order (reports._answer_is_current).
- ConfigRefused: no DECLINE; anything of the lease on the interface is removed, the
  address is avoided at that server for 5 minutes (not when the kernel failed it), INIT
  backs off (reports.config_refused). But a renewal of the address in use that the kernel
  failed keeps the lease in use, and the REQUEST goes again later (reports._renewal_kept).
- NAKs, refusals, failures and declines in a row back off 0, 2, 4 ... 60 s; a decline
  waits at least 10 s (timing.failure_backoff). The count starts over with a lease that
  survived a renewal, and with the carrier's return (a new attachment).
- No initial delay before the first DISCOVER, not RFC 2131's 1-10 s (see timing.py).
- INIT-REBOOT gives up after 2 REQUESTs (about 5 s) for a DISCOVER: an applied lease stays
  applied meanwhile, until a new lease replaces it or it expires; a lease only remembered
  from disk is dropped (reboot.py).
- Events that do not apply in a state are ignored; misuse is a UsageError (transitions.py).
- ReleaseRequested ends in STOPPED until RenewRequested (control.release).
- An ACK without a subnet mask is not used, unless it renews the lease held, from its
  server (lease.py).
"""

from __future__ import annotations

import math
from ipaddress import IPv4Address

from leasebox.core.log import Logger
from leasebox.core.machine import snapshot as snapshots
from leasebox.core.machine import steps, timing
from leasebox.core.machine.context import Context, deadline
from leasebox.core.machine.errors import LeaseError, SnapshotError, UsageError
from leasebox.core.machine.kinds import Kind
from leasebox.core.machine.lease import check_lease
from leasebox.core.machine.replies import screen
from leasebox.core.machine.steps import BOUND_STATES
from leasebox.core.machine.transitions import rule_for
from leasebox.core.machine.types import (
    Action,
    AddressConflict,
    ClientConfig,
    ConfigApplied,
    ConfigRefused,
    Event,
    GuardAddress,
    Lease,
    LeaveRequested,
    LinkDown,
    LinkUp,
    MessageReceived,
    ProbeResult,
    Random,
    ReleaseRequested,
    RenewRequested,
    State,
    StateChanged,
    TimerExpired,
)
from leasebox.core.wire.types import Message, MessageType

log = Logger("leasebox.core.machine")

MAC_LENGTH = 6  # Ethernet (htype 1) is the only link type leasebox serves
FORCERENEW_LOG_INTERVAL = 60.0

_KINDS: dict[type, Kind] = {
    LinkUp: Kind.LINK_UP,
    LinkDown: Kind.LINK_DOWN,
    TimerExpired: Kind.TIMER,
    ConfigApplied: Kind.APPLIED,
    ConfigRefused: Kind.REFUSED,
    ProbeResult: Kind.PROBED,
    AddressConflict: Kind.CONFLICT,
    RenewRequested: Kind.RENEW,
    ReleaseRequested: Kind.RELEASE,
    LeaveRequested: Kind.LEAVE,
}


class Client:
    """One interface's DHCP client. `remembered`: a lease from the lease file, verified with
    INIT-REBOOT once the link is up (it must be one lease_from_ack made). `previous`: the
    address of one that ran out, asked for again in the DISCOVER."""

    def __init__(self, config: ClientConfig, rng: Random, remembered: Lease | None = None,
                 previous: IPv4Address | None = None) -> None:
        self._ctx = Context(config, rng)
        self._ctx.previous_address = previous
        if remembered is not None:
            try:
                check_lease(remembered)
            except LeaseError as exc:
                raise UsageError(f"remembered lease: {exc.reason}") from None
            self._ctx.lease = remembered
            self._ctx.persisted = True
            self._ctx.previous_address = remembered.address
            self._ctx.state = State.INIT_REBOOT

    @classmethod
    def restore(cls, config: ClientConfig, rng: Random, data: bytes,
                now: float | None = None) -> Client:
        """A client that carries on from `snapshot()` data, emitting nothing: BOUND,
        RENEWING and REBINDING resume with the same lease and deadlines. Raises
        SnapshotError, and only that, for data that is not a valid snapshot, or (given
        the clock's `now`) one taken later than now: the client would refuse its first
        event, which goes back in time."""
        client = cls(config, rng)
        client._ctx = snapshots.decode(config, rng, data)
        if now is not None and client._ctx.now > now:
            raise SnapshotError(f"taken {client._ctx.now - now:.0f} s after now")
        return client

    def snapshot(self) -> bytes:
        """The live state, to hand to `restore` in another process (see snapshot.py)."""
        return snapshots.encode(self._ctx)

    @property
    def state(self) -> State:
        return self._ctx.state

    @property
    def lease(self) -> Lease | None:
        """The lease held: in use, being verified, or kept across a link-down."""
        return self._ctx.lease

    @property
    def applied(self) -> bool:
        """Whether a lease is configured on the link (netconf applied it, and it has not
        been removed); not so for one only remembered from disk."""
        return self._ctx.applied is not None

    @property
    def mac(self) -> bytes | None:
        """The link's MAC address as the last LinkUp gave it (kept while the link is down)."""
        return self._ctx.mac

    @property
    def awaited_xid(self) -> int | None:
        """The xid of the exchange in progress, which a reply must carry; None when no
        reply is awaited (every reply is then dropped)."""
        return self._ctx.xid

    @property
    def discovers(self) -> tuple[int, float] | None:
        """Looking for a server (INIT, SELECTING with no offer in hand): the DISCOVERs sent
        since the last lease or link-up, and when the first went (on the adapter's clock);
        else None."""
        ctx = self._ctx
        if ctx.state not in (State.INIT, State.SELECTING) or self.offer_in_hand \
                or not ctx.discovers:
            return None
        return ctx.discovers, ctx.discovering_since

    @property
    def offer_in_hand(self) -> bool:
        """In SELECTING, an offer is being chosen or a rapid-commit lease applied: the
        exchange is under way, not waiting for a server."""
        return self._ctx.window_end is not None or self._ctx.bind_kind is not None

    def set_link_mtu(self, mtu: int) -> None:
        """The link's MTU (at every report): what the DISCOVERs and REQUESTs that follow
        offer as their largest reply (option 57)."""
        self._ctx.link_mtu = mtu

    def get_timer(self) -> float | None:
        """When the client wants a TimerExpired (absolute monotonic seconds), or None."""
        return deadline(self._ctx)

    def handle(self, event: Event) -> list[Action]:
        """Process one event; return what the adapter is to do, in order."""
        ctx = self._ctx
        self._check(event)
        ctx.now = event.now
        kind = self._kind(event)
        if kind is None:
            return []
        old = ctx.state
        ctx.actions = []
        if kind is Kind.TIMER and ctx.confirm_by is not None and ctx.now >= ctx.confirm_by:
            ctx.confirm_by = None
            if ctx.applied is not None and ctx.lease is not None:
                steps.drop_unconfirmed(ctx)  # whatever the state's own timer then does
        rule = rule_for(ctx.state, kind)
        if rule is None:
            log.debug("%s ignored in %s", kind, ctx.state)
            return self._done(old)
        rule.handler(ctx, event)
        if ctx.state not in rule.next_states:
            raise RuntimeError(f"bug: {kind} took {old} to {ctx.state}, not in the table")
        return self._done(old)

    def _done(self, old: State) -> list[Action]:
        """The actions of the event handled, with the transition from `old` if any."""
        ctx = self._ctx
        self._guard()
        actions, ctx.actions = ctx.actions, []
        if ctx.state is not old:
            actions.append(self._transition(old))
        return actions

    def _guard(self) -> None:
        """RFC 5227 2.3-2.4: while a lease netconf confirmed is in use and the link is up,
        io watches ARP for its address; announced when the watch starts."""
        ctx = self._ctx
        wanted = None
        if ctx.config.arp_probe and ctx.link_up and ctx.state in BOUND_STATES \
                and ctx.confirmed is not None:
            wanted = ctx.confirmed.address
        if wanted != ctx.guarded:
            ctx.guarded, ctx.defended_at = wanted, None
            ctx.actions.append(GuardAddress(wanted, timing.ANNOUNCE_NUM if wanted else 0))

    def _check(self, event: Event) -> None:
        if not isinstance(event, MessageReceived) and type(event) not in _KINDS:
            raise UsageError(f"not an engine event: {event!r}")
        if not isinstance(event.now, int | float) or not math.isfinite(event.now):
            raise UsageError(f"event time {event.now!r} is not a finite number")
        if event.now < self._ctx.now:
            raise UsageError(f"event time {event.now} is before {self._ctx.now}: "
                             "the clock must be monotonic")
        if isinstance(event, MessageReceived) and not isinstance(event.message, Message):
            raise UsageError("MessageReceived needs a decoded Message")
        if isinstance(event, LinkUp) and (not isinstance(event.mac, bytes)
                                          or len(event.mac) != MAC_LENGTH):
            raise UsageError(f"LinkUp needs a {MAC_LENGTH}-octet MAC address")

    def _kind(self, event: Event) -> Kind | None:
        ctx = self._ctx
        if isinstance(event, TimerExpired):
            due = deadline(ctx)
            return Kind.TIMER if due is not None and event.now >= due else None
        if not isinstance(event, MessageReceived):
            return _KINDS[type(event)]
        message = event.message
        if message.message_type is MessageType.FORCERENEW:
            # Unauthenticated FORCERENEW lets anyone on the link steer the client
            # (CVE-2020-13529); leasebox implements no RFC 6704 authentication.
            last = ctx.forcerenew_logged_at
            if last is None or event.now - last >= FORCERENEW_LOG_INTERVAL:
                ctx.forcerenew_logged_at = event.now
                log.warning("FORCERENEW from %s ignored (unauthenticated)", message.server_id)
            return None
        verdict = screen(message, ctx.xid, ctx.mac, ctx.config.client_id)
        if isinstance(verdict, Kind):  # a StrEnum: test for it before str
            return verdict
        log.debug("reply dropped in %s: %s", ctx.state, verdict)
        return None

    def _transition(self, old: State) -> StateChanged:
        ctx = self._ctx
        due = deadline(ctx)
        timeout = None if due is None else max(due - ctx.now, 0.0)
        if timeout is None:
            log.debug("%s -> %s, no timeout", old, ctx.state)
        else:
            log.debug("%s -> %s, timeout %.1f s", old, ctx.state, timeout)
        return StateChanged(old, ctx.state, timeout)
