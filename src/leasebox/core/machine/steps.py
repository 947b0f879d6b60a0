"""The building blocks handlers are made of: start an exchange, send, apply, drop a lease.

Each step changes the context and appends actions; none decides which state comes next on
its own except the few whose name says so (enter_init, restart_after_failure, ...), so that
transitions.py stays the one place where the possible next states are listed.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

from leasebox.core.log import Logger
from leasebox.core.machine import requests, timing
from leasebox.core.machine.checks import expired
from leasebox.core.machine.context import Context
from leasebox.core.machine.errors import LeaseError
from leasebox.core.machine.lease import clamp_note, is_infinite, lease_from_ack
from leasebox.core.machine.types import (
    ApplyLease,
    ClientConfig,
    Lease,
    LeaseEvent,
    LeaseEventKind,
    PersistLease,
    ProbeAddress,
    RemoveLease,
    State,
    Transmit,
)
from leasebox.core.record import replace
from leasebox.core.wire.types import Message

log = Logger("leasebox.core.machine")

BOUND_STATES = frozenset({State.BOUND, State.RENEWING, State.REBINDING})


def mac(ctx: Context) -> bytes:
    if ctx.mac is None:  # every path that sends starts from a LinkUp, which sets it
        raise RuntimeError("bug: sending before any LinkUp")
    return ctx.mac


def new_xid(ctx: Context) -> int:
    return ctx.rng.getrandbits(32) & 0xFFFFFFFF


def send(ctx: Context, message: Message, destination: IPv4Address | None = None) -> None:
    ctx.actions.append(Transmit(message, destination))


def solicit_config(ctx: Context) -> ClientConfig:
    """The configuration a DISCOVER or REQUEST is built from: option 57 no larger than the
    link's MTU, as leasebox drops every IP fragment (a server that honours 57 sends a
    reply up to that size, which a smaller MTU would split)."""
    mtu = ctx.link_mtu
    if mtu is None or mtu >= ctx.config.max_message_size:
        return ctx.config
    return replace(ctx.config, max_message_size=mtu)


def secs(ctx: Context) -> float:
    return ctx.now - ctx.started_at


def clear_exchange(ctx: Context) -> None:
    """Forget the exchange in flight, its timers and anything ACKed but not yet bound."""
    ctx.xid = None
    ctx.tries = 0
    ctx.wake_at = None
    ctx.window_end = None
    ctx.offers.clear()
    ctx.offer = None
    ctx.unusable = ""
    ctx.unusable_tries = ctx.unusable_try = 0
    ctx.candidate = None
    ctx.bind_kind = None
    ctx.bind_detail = ""


def begin_exchange(ctx: Context, state: State) -> None:
    clear_exchange(ctx)
    ctx.state = state
    ctx.xid = new_xid(ctx)
    ctx.started_at = ctx.sent_at = ctx.now
    ctx.tries = 1


# ---- entering states -------------------------------------------------------------------


def enter_init(ctx: Context, delay: float = 0.0) -> None:
    """INIT, starting DISCOVER after `delay` (none: at once; see timing) once the link is
    up. The caller has dropped any lease."""
    clear_exchange(ctx)
    ctx.state = State.INIT
    if ctx.link_up:
        ctx.wake_at = ctx.now + delay


def restart_after_failure(ctx: Context, minimum: float = 0.0) -> None:
    """INIT after a NAK, refusal, failure or decline, backing off when they come in a row."""
    ctx.failures = min(ctx.failures + 1, timing.MAX_FAILURES)
    enter_init(ctx, max(minimum, timing.failure_backoff(ctx.failures)))


def start_selecting(ctx: Context) -> None:
    begin_exchange(ctx, State.SELECTING)
    send_discover(ctx)
    ctx.wake_at = ctx.now + timing.retransmit_delay(ctx.rng, 1)


def send_discover(ctx: Context) -> None:
    ctx.sent_at = ctx.now  # a rapid-commit ACK's lease runs from here (see send_request)
    if not ctx.discovers:
        ctx.discovering_since = ctx.now
    ctx.discovers += 1
    ctx.discover_secs = secs(ctx)
    wanted = ctx.previous_address or ctx.config.request_address
    if wanted is not None and any(a == wanted for _, a, until in ctx.avoided
                                  if until > ctx.now):
        wanted = None  # just declined or refused (RequestAddress=): not asked for again
    send(ctx, requests.discover(solicit_config(ctx), _xid(ctx), mac(ctx), ctx.discover_secs,
                                wanted))


def start_requesting(ctx: Context, offer: Message) -> None:
    """REQUEST the offered address (same xid as the DISCOVER, RFC 2131 4.4.1)."""
    xid, started, discover_secs = ctx.xid, ctx.started_at, ctx.discover_secs
    clear_exchange(ctx)
    ctx.state = State.REQUESTING
    ctx.xid, ctx.started_at, ctx.sent_at, ctx.tries = xid, started, ctx.now, 1
    ctx.discover_secs = discover_secs
    ctx.offer = offer
    send_request(ctx)
    ctx.wake_at = ctx.now + timing.retransmit_delay(ctx.rng, 1)


def start_rebooting(ctx: Context) -> None:
    begin_exchange(ctx, State.REBOOTING)
    send_request(ctx)
    ctx.wake_at = ctx.now + timing.reboot_delay(ctx.rng)


def start_renewing(ctx: Context) -> None:
    """RENEWING, at T1 or when an operator asks (the only way an infinite lease renews)."""
    lease = held(ctx)
    begin_exchange(ctx, State.RENEWING)
    send_request(ctx)
    if is_infinite(lease):
        ctx.wake_at = ctx.now + timing.retransmit_delay(ctx.rng, 1)
    else:
        ctx.wake_at = ctx.now + timing.renew_retry_delay(ctx.now, lease.t2_at)


def start_rebinding(ctx: Context) -> None:
    lease = held(ctx)
    # the first sign in the journal's warnings that the lease may be lost: until T2 the
    # renewal is silent, and a server gone since the lease began is noticed only now
    if ctx.state is State.RENEWING:
        why = f"no answer from {lease.server_id} to renewing {lease.address}"
    else:  # T1 and T2 went by unseen: a suspend, or a lease resumed or kept past T2
        why = f"{lease.address} is past its rebinding time (T2), not renewed"
    log.warning("%s: asking any server until it expires in %d s", why,
                max(0, int(lease.expires_at - ctx.now)))
    begin_exchange(ctx, State.REBINDING)
    send_request(ctx)
    ctx.wake_at = ctx.now + timing.renew_retry_delay(ctx.now, lease.expires_at)


def send_request(ctx: Context) -> None:
    """(Re)send the REQUEST of the current state, with the exchange's xid.

    The ACK's lease runs from the latest REQUEST (RFC 2131 4.4.1: the time the request was
    sent), not from the exchange's first: RENEWING and REBINDING go on for hours, and a
    lease timed from their start could be over when it comes. An ACK to an earlier
    REQUEST would be off by the time between the two, a minute at most but for an
    operator's renew."""
    ctx.sent_at = ctx.now
    xid, hw, elapsed = _xid(ctx), mac(ctx), secs(ctx)
    match ctx.state:
        case State.REQUESTING:
            offer = ctx.offer
            if offer is None or offer.server_id is None:
                raise RuntimeError("bug: REQUESTING without an offer")
            # RFC 2131 4.4.1: the same `secs` as the DISCOVER it answers the offer of
            send(ctx, requests.request_selecting(solicit_config(ctx), xid, hw, ctx.discover_secs,
                                                 offered=offer.yiaddr,
                                                 server_id=offer.server_id))
        case State.REBOOTING:
            send(ctx, requests.request_init_reboot(solicit_config(ctx), xid, hw, elapsed,
                                                   held(ctx).address))
        case State.RENEWING:
            lease = held(ctx)
            send(ctx, requests.request_renewing(solicit_config(ctx), xid, hw, elapsed,
                                                lease.address), lease.server_id)
        case State.REBINDING:
            send(ctx, requests.request_renewing(solicit_config(ctx), xid, hw, elapsed,
                                                held(ctx).address))
        case _:
            raise RuntimeError(f"bug: no REQUEST is sent in {ctx.state}")


def resume_lease(ctx: Context) -> None:
    """Carry on with the applied lease where its own timers say: BOUND before T1, RENEWING
    before T2, REBINDING after."""
    lease = held(ctx)
    if ctx.now >= lease.t2_at:
        start_rebinding(ctx)
    elif ctx.now >= lease.t1_at:
        start_renewing(ctx)
    else:
        clear_exchange(ctx)
        ctx.state = State.BOUND


def held(ctx: Context) -> Lease:
    if ctx.lease is None:
        raise RuntimeError(f"bug: no lease in {ctx.state}")
    return ctx.lease


def _xid(ctx: Context) -> int:
    if ctx.xid is None:
        raise RuntimeError(f"bug: no exchange in {ctx.state}")
    return ctx.xid


# ---- the lease and netconf ---------------------------------------------------------------


def apply(ctx: Context, lease: Lease) -> None:
    """Send the lease of the bind under way (bind_kind) to netconf."""
    ctx.actions.append(ApplyLease(lease))
    ctx.applied = lease
    ctx.applies_pending += 1
    # (not before: a lease only probed leaves the one applied as it was)
    ctx.unannounced = ctx.bind_kind is LeaseEventKind.ACQUIRED


def remove(ctx: Context) -> None:
    if ctx.applied is not None:
        ctx.actions.append(RemoveLease(ctx.applied))
    ctx.applied = None
    ctx.confirmed = None
    ctx.unannounced = False


def forget(ctx: Context) -> None:
    """Tell the adapter to delete the lease file, if it holds one."""
    if ctx.persisted:
        ctx.actions.append(PersistLease(None))
        ctx.persisted = False


def drop_lease(ctx: Context, detail: str) -> None:
    """Lose the lease held (expiry, NAK): take it off the interface, forget it, and report
    LOST when it was in use. The caller decides where to go next."""
    lease = ctx.lease
    was_applied = ctx.applied is not None
    ctx.confirm_by = None
    remove(ctx)
    forget(ctx)
    ctx.lease = None
    if lease is not None:
        ctx.previous_address = lease.address
        if was_applied:
            ctx.actions.append(LeaseEvent(LeaseEventKind.LOST, lease, detail))
        else:
            log.info("remembered lease %s dropped: %s", lease.address, detail)


def drop_unconfirmed(ctx: Context) -> None:
    """A lease kept applied through a carrier loss, not confirmed by timing.CONFIRM_TIME
    after the carrier came back: taken off the link (LOST). An exchange for another lease
    goes on; one that verifies this one (REBOOTING) has nothing left to verify."""
    drop_lease(ctx, f"not confirmed within {timing.CONFIRM_TIME:.0f} s of the carrier's "
                    "return (another network, where no server knows it?)")
    if ctx.state in (State.REBOOTING, State.INIT_REBOOT):
        enter_init(ctx)


def accept_ack(ctx: Context, ack: Message, lease: Lease, kind: LeaseEventKind) -> None:
    """An ACK ended the exchange: probe the address if it is new and probing is on, else
    apply it; BOUND follows when netconf confirms (reports.config_applied)."""
    ctx.confirm_by = None  # (a lease kept through a carrier loss: answered in time)
    detail = clamp_note(ack, lease)
    if detail:  # (at every renewal of such a lease: warned of once, as the options below)
        (log.warning if detail != ctx.clamp_said else log.debug)(
            "server %s: %s", lease.server_id, detail)
    ctx.clamp_said = detail
    if ack.drop_reasons:
        # Malformed options are left out of the lease, which works without them; an
        # operator who finds no search domain, say, must learn here that one was sent.
        text = "; ".join(ack.drop_reasons)
        if ack.drop_reasons != ctx.dropped_said:
            log.warning("server %s: left out of the lease: %s", lease.server_id, text)
        else:
            log.debug("server %s: left out again: %s", lease.server_id, text)
    ctx.dropped_said = ack.drop_reasons
    clear_exchange(ctx)
    if ctx.applied is not None and ctx.applied.address != lease.address:
        remove(ctx)  # the server moved us: the old address goes before the new one comes
    if ctx.applied is None or ctx.unannounced:
        kind = LeaseEventKind.ACQUIRED
    ctx.bind_kind, ctx.bind_detail = kind, detail
    # Probed when new to the link, after the link came up again (RFC 5227 2.1), and when
    # another server grants the address in use (the same subnet on another network, after a
    # flap): someone there may have it.
    other_server = ctx.applied is not None and ctx.applied.server_id != lease.server_id
    reattached, ctx.reattached = ctx.reattached, False
    if (ctx.applied is None or other_server or reattached) and ctx.config.arp_probe:
        if ctx.applied is None:
            ctx.lease = None  # a remembered lease is superseded by this one
        # (else the lease in use stays held while the other server's is probed: it is on
        # the link, and goes with a DECLINE, or when it expires, or the new one replaces it)
        ctx.candidate = lease
        ctx.state = State.PROBING
        ctx.wake_at = ctx.now + timing.PROBE_TIMEOUT
        ctx.actions.append(ProbeAddress(lease.address, ctx.config.arp_probe_timing))
    else:
        ctx.lease = lease
        apply(ctx, lease)


def finish_bind(ctx: Context) -> None:
    """netconf applied the lease: record it and say BOUND."""
    lease, kind, detail = held(ctx), ctx.bind_kind, ctx.bind_detail
    if kind is None:
        raise RuntimeError("bug: finishing a binding that was not started")
    ctx.actions.append(PersistLease(lease))
    ctx.actions.append(LeaseEvent(kind, lease, detail))
    ctx.persisted = True
    ctx.unannounced = False
    # A lease counts as good once it has survived a renewal: a server that ACKs and then
    # NAKs every renewal must meet the growing backoff, not a fresh start every T1.
    if kind in (LeaseEventKind.RENEWED, LeaseEventKind.REBOUND):
        ctx.failures = 0
    ctx.unanswered_said, ctx.discovers = False, 0
    ctx.previous_address = lease.address
    clear_exchange(ctx)
    ctx.state = State.BOUND


def avoid(ctx: Context, lease: Lease) -> None:
    avoid_address(ctx, lease.server_id, lease.address)


def avoid_address(ctx: Context, server: IPv4Address, address: IPv4Address) -> None:
    ctx.avoided.append((server, address, ctx.now + timing.AVOID_TIME))
    del ctx.avoided[:-timing.MAX_AVOIDED]


def is_avoided(ctx: Context, server: IPv4Address, address: IPv4Address) -> bool:
    ctx.avoided[:] = [entry for entry in ctx.avoided if entry[2] > ctx.now]
    return any(s == server and a == address for s, a, _ in ctx.avoided)


def decline(ctx: Context, lease: Lease, reason: str) -> None:
    """Someone else has the address: DECLINE it (RFC 2131 3.1.5), drop it, and start
    again no sooner than 10 s later."""
    send(ctx, requests.decline(ctx.config, new_xid(ctx), mac(ctx), lease.address,
                               lease.server_id))
    remove(ctx)
    forget(ctx)
    ctx.actions.append(LeaseEvent(LeaseEventKind.DECLINED, lease, reason))
    avoid(ctx, lease)
    ctx.lease = None
    ctx.previous_address = None
    ctx.decline_until = ctx.now + timing.DECLINE_WAIT
    restart_after_failure(ctx, timing.DECLINE_WAIT)


def v6only_wait(ctx: Context, server: IPv4Address | None, seconds: int) -> None:
    """RFC 8925: the network prefers IPv6-only; no IPv4 for V6ONLY_WAIT (at least 300 s)
    or until the link goes down and up again."""
    wait = max(seconds, timing.V6ONLY_WAIT_MIN)
    log.info("server %s prefers IPv6-only: no IPv4 address for %d s", server, wait)
    # a lease still applied (kept through a link flap) is lost, as the hooks must hear
    drop_lease(ctx, f"server {server} prefers IPv6-only (RFC 8925)")
    enter_init(ctx, float(wait))


def send_again(ctx: Context, send: Callable[[Context], None],
               delay: float | None = None) -> None:
    """The next try of an exchange: send, and wake after `delay`, or by default after RFC
    2131 4.1's backoff."""
    ctx.tries = min(ctx.tries + 1, timing.MAX_TRIES)
    send(ctx)
    if delay is None:
        delay = timing.retransmit_delay(ctx.rng, ctx.tries)
    ctx.wake_at = ctx.now + delay


def usable_lease(ctx: Context, ack: Message, acquired_at: float) -> Lease | None:
    """The lease an ACK grants, or None (logged) when it is not one leasebox can use. An
    ACK of the lease held (its address, from its server) may leave the mask out (lease.py)."""
    in_use = ctx.lease
    held = (in_use.prefixlen if in_use is not None and in_use.address == ack.yiaddr
            and in_use.server_id == ack.server_id else None)
    if ack.subnet_mask is None and held is not None:
        log.info("ACK from %s without a subnet mask: %s keeps /%d", ack.server_id,
                 ack.yiaddr, held)
    try:
        lease = lease_from_ack(ack, acquired_at, ctx.config.min_lease_time, held)
    except LeaseError as exc:
        # warned of once an exchange: anyone who hears the REQUEST can send such ACKs by
        # the thousand, and the journal must not carry each
        (log.debug if ctx.unusable else log.warning)(
            "ACK from %s not usable: %s", ack.server_id, exc.reason)
        ctx.unusable = exc.reason
        if ctx.unusable_try != ctx.tries or not ctx.unusable_tries:
            ctx.unusable_tries += 1
            ctx.unusable_try = ctx.tries
        return None
    if ack.subnet_mask is None and held is None:
        log.warning("ACK from %s without a subnet mask: %s taken as /%d, its class's (as "
                    "networkd and dhcpcd take it; the server should send option 1)",
                    ack.server_id, ack.yiaddr, lease.prefixlen)
    if is_infinite(lease):
        return lease
    t1, t2 = timing.fuzzed_times(ctx.rng, lease.renewal_time, lease.rebinding_time)
    return replace(lease, renewal_time=t1, rebinding_time=t2)


def next_try_or_start_over(ctx: Context, attempts: int, send: Callable[[Context], None],
                           gave_up: str) -> None:
    """Send again, or after `attempts` tries log `gave_up` (with the count) and start over."""
    if ctx.tries >= attempts:
        log.info(gave_up, ctx.tries)
        enter_init(ctx)
        return
    send_again(ctx, send)


def heard(message: Message, accepted: bool, why_not: str) -> bool:
    """`accepted`, with a debug line naming the message when it is not."""
    if not accepted:
        log.debug("%s from %s ignored: %s", message.message_type, message.server_id, why_not)
    return accepted


def exchange_due(ctx: Context) -> bool:
    """A timer in REQUESTING or REBOOTING: an expired lease is dropped (and the client
    starts over); True when it is time for the next try, unless a bind is under way."""
    if expired(ctx):
        drop_lease(ctx, "expired")
        enter_init(ctx)
        return False
    if ctx.bind_kind is not None:
        return False
    return ctx.wake_at is not None and ctx.now >= ctx.wake_at
