"""Everything the client remembers between events, and the deadline that follows from it.

One mutable record shared by the handlers; the Client owns it, the handlers change it.
Field comments say what each one means, since the handlers rely on those meanings.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from leasebox.core.machine.lease import is_infinite
from leasebox.core.machine.types import (
    Action,
    ClientConfig,
    Lease,
    LeaseEventKind,
    Random,
    State,
)
from leasebox.core.record import field, record
from leasebox.core.wire.types import Message


@record(frozen=False)
class Context:
    config: ClientConfig
    rng: Random
    state: State = State.INIT
    now: float = 0.0  # `now` of the event being handled (of the last one, between events)

    mac: bytes | None = None  # from the last LinkUp; kept while the link is down
    link_up: bool = False

    # The lease the client holds: granted by an ACK, remembered from disk, or kept across a
    # link-down. In INIT, SELECTING and REQUESTING only while an applied lease is kept as
    # the client looks for another (an unanswered INIT-REBOOT, reboot.py). In PROBING only
    # the lease in use while another server's grant of its address is probed (steps).
    lease: Lease | None = None
    # An ACKed lease whose address is being probed (PROBING only).
    candidate: Lease | None = None
    # The lease of the last ApplyLease not since followed by a RemoveLease: what netconf
    # holds, or will hold once it has worked through what it was sent.
    applied: Lease | None = None
    # The lease netconf last confirmed with ConfigApplied (and not since removed).
    confirmed: Lease | None = None
    # ApplyLease actions not yet answered. netconf answers each one once, in order, so an
    # answer is for the newest apply only when this drops to 0; earlier answers are stale.
    applies_pending: int = 0
    persisted: bool = False  # the adapter's lease file holds a lease (ours or remembered)
    # Set while waiting for the answer to the ApplyLease that completes a binding: the
    # lease event to report when it comes (ACQUIRED, RENEWED, REBOUND), and its detail.
    bind_kind: LeaseEventKind | None = None
    bind_detail: str = ""
    # The lease applied was granted by a DISCOVER or an INIT-REBOOT and has not been
    # reported ACQUIRED yet: its bind was cut short (the link went down, or the engine
    # restarted, before netconf's answer), so that its verification reports ACQUIRED, not
    # RENEWED: the hooks, the journal and the lease file have not seen it bound.
    unannounced: bool = False
    # The options the codec dropped from the last ACK taken, as last said (at warning: a
    # server that sends the same bad option at every renewal is said to once a run).
    dropped_said: tuple[str, ...] = ()
    clamp_said: str = ""  # the lease time clamp last warned of (steps.accept_ack)

    # The exchange in flight: its xid (None: no reply is awaited), when it started (for
    # `secs`), when its current REQUEST first went out (the lease's acquired_at), and how
    # many times the current message has been sent.
    xid: int | None = None
    started_at: float = 0.0
    sent_at: float = 0.0
    discover_secs: float = 0.0  # of the last DISCOVER: its REQUEST repeats it (RFC 2131 4.4.1)
    link_mtu: int | None = None  # the link's, as the adapter last reported it (option 57)
    tries: int = 0
    # The state's own timer: start of INIT or INIT-REBOOT, next retransmission, or the end
    # of an ARP probe. Lease timers (T1, T2, expiry) come from the lease.
    wake_at: float | None = None
    offers: list[Message] = field(default_factory=list)  # SELECTING, offer window open
    window_end: float | None = None  # when the offer window closes
    offer: Message | None = None  # the OFFER being requested (REQUESTING)
    # Why the last ACK of the exchange in flight could not be used (lease.py), or "": when
    # no usable one follows by the next retransmission, the exchange has failed (it was
    # answered, not lost). Not in the snapshot: a restarted engine asks again.
    unusable: str = ""
    # how many tries (REQUESTs) such an ACK answered, and the last: one might be anyone's
    # (a forged frame needs only the broadcast REQUEST's xid and option 54), two are the
    # server's way (acquire.requesting_timer)
    unusable_tries: int = 0
    unusable_try: int = 0
    # when a lease kept applied through a carrier loss goes unless an ACK confirms it
    # (timing.CONFIRM_TIME after the carrier's return; Client.handle); None: no such wait
    confirm_by: float | None = None

    # asked for again in DISCOVER, and preferred among the offers if a window collects
    # them (ClientConfig.offer_window; 0, the default, takes the first)
    previous_address: IPv4Address | None = None
    failures: int = 0  # NAKs, refusals, failures and declines since the last binding
    # DISCOVERs without a usable offer have been warned of since the last binding or link-up
    # (acquire.selecting_timer): once, not every three minutes on a link without a server
    unanswered_said: bool = False
    # DISCOVERs sent since then, and when the first went: the status's "how long it has been
    # asking", across the new exchange each round of DISCOVERs (3 minutes) starts
    discovers: int = 0
    discovering_since: float = 0.0
    # STOPPED after a leave that kept the lease: whether the server had granted it (in use,
    # not only remembered from disk), so that a release may give it back
    kept_granted: bool = False
    decline_until: float = 0.0  # no DISCOVER before this, a link flap or not (DECLINE_WAIT)
    # The link came up (again) since the lease held was last probed or applied: with
    # ARPProbe=yes its address is probed again before use (RFC 5227 2.1: at every link
    # establishment). Not in the snapshot: a restarted engine probes nothing again.
    reattached: bool = False
    # (server, address, until): not to be requested again before `until`.
    avoided: list[tuple[IPv4Address, IPv4Address, float]] = field(default_factory=list)
    forcerenew_logged_at: float | None = None
    # RFC 5227 ongoing detection (config.arp_probe): the address io was last told to watch
    # (GuardAddress), and when a conflict for it was last defended. Not in the snapshot: a
    # new engine tells io again, with announcements.
    guarded: IPv4Address | None = None
    defended_at: float | None = None

    actions: list[Action] = field(default_factory=list)  # output of the event being handled


def deadline(ctx: Context) -> float | None:
    """The next moment the client wants a TimerExpired, or None."""
    times = [t for t in (ctx.wake_at, ctx.window_end, ctx.confirm_by) if t is not None]
    lease = ctx.lease
    if lease is not None and not is_infinite(lease) and ctx.state is not State.STOPPED:
        if ctx.state is State.BOUND:
            times.append(lease.t1_at)
        elif ctx.state is State.RENEWING:
            times.append(lease.t2_at)
        else:
            times.append(lease.expires_at)
    return min(times, default=None)
