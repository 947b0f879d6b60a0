"""Handlers for keeping a lease: BOUND, RENEWING, REBINDING (RFC 2131 4.4.5)."""

from __future__ import annotations

from leasebox.core.log import Logger
from leasebox.core.machine import steps, timing
from leasebox.core.machine.checks import expect_message, expired
from leasebox.core.machine.context import Context
from leasebox.core.machine.lease import is_infinite
from leasebox.core.machine.types import Event, LeaseEventKind, State
from leasebox.core.wire.types import Message

log = Logger("leasebox.core.machine")


def bound_timer(ctx: Context, event: Event) -> None:
    # The checks go from the latest deadline down, so that a clock that jumped (a long
    # suspend) lands in the right state in one step.
    lease = steps.held(ctx)
    if expired(ctx):
        _expire(ctx)
    elif ctx.now >= lease.t2_at:
        steps.start_rebinding(ctx)
    elif ctx.now >= lease.t1_at:
        steps.start_renewing(ctx)


def bound_renew(ctx: Context, event: Event) -> None:
    steps.start_renewing(ctx)


def renewing_timer(ctx: Context, event: Event) -> None:
    lease = steps.held(ctx)
    if is_infinite(lease):
        _renew_infinite(ctx)
    elif expired(ctx):
        _expire(ctx)
    elif ctx.now >= lease.t2_at:
        steps.start_rebinding(ctx)
    elif ctx.wake_at is not None and ctx.now >= ctx.wake_at:
        _retransmit(ctx, lease.t2_at)


def _renew_infinite(ctx: Context) -> None:
    """An infinite lease has no T2 to retransmit against and nothing to lose: a few tries
    like any REQUEST, then back to BOUND."""
    if ctx.wake_at is None or ctx.now < ctx.wake_at:
        return
    if ctx.tries >= timing.REQUEST_ATTEMPTS:
        log.info("no answer to renewing an infinite lease; keeping it")
        steps.resume_lease(ctx)
        return
    steps.send_again(ctx, steps.send_request)


def rebinding_timer(ctx: Context, event: Event) -> None:
    lease = steps.held(ctx)
    if expired(ctx):
        _expire(ctx)
    elif ctx.wake_at is not None and ctx.now >= ctx.wake_at:
        _retransmit(ctx, lease.expires_at)


def retry_now(ctx: Context, event: Event) -> None:
    """An operator's renew while the server is not answering (RENEWING, REBINDING): the
    REQUEST goes again now, not after RFC 2131's 60 s or more. The control socket
    rate-limits renew requests, so this cannot become a flood."""
    if ctx.xid is None:  # the ACK is in; netconf has yet to confirm what it granted
        log.debug("renew ignored: the exchange has ended, its lease is being applied")
        return
    lease = steps.held(ctx)
    if is_infinite(lease):
        steps.send_again(ctx, steps.send_request)
    else:
        _retransmit(ctx, lease.t2_at if ctx.state is State.RENEWING else lease.expires_at)


def _retransmit(ctx: Context, until: float) -> None:
    ctx.tries = min(ctx.tries + 1, timing.MAX_TRIES)
    steps.send_request(ctx)
    ctx.wake_at = ctx.now + timing.renew_retry_delay(ctx.now, until)


def _expire(ctx: Context) -> None:
    steps.drop_lease(ctx, "expired")
    steps.enter_init(ctx)


def _from_leasing_server(ctx: Context, message: Message) -> bool:
    """RENEWING talks to the server that granted the lease; REBINDING to any."""
    return steps.heard(message, ctx.state is State.REBINDING
                       or message.server_id == steps.held(ctx).server_id,
                       "in RENEWING, not our server")


def renewing_ack(ctx: Context, event: Event) -> None:
    ack = expect_message(event)
    if not _from_leasing_server(ctx, ack):
        return
    lease = steps.usable_lease(ctx, ack, ctx.sent_at)
    if lease is None:
        return
    kind = LeaseEventKind.REBOUND if ctx.state is State.REBINDING else LeaseEventKind.RENEWED
    steps.accept_ack(ctx, ack, lease, kind)


def renewing_nak(ctx: Context, event: Event) -> None:
    nak = expect_message(event)
    # One without a server identifier (ESP-IDF's server sends none) counts in RENEWING too:
    # the REQUEST went unicast to the leasing server, so only it has the xid, or someone on
    # the path, who could copy the identifier as well. Ignored, it would leave the address
    # in use until T2 after the server has forgotten it (a soft AP's restart).
    if nak.server_id is not None and not _from_leasing_server(ctx, nak):
        return
    text = f": {nak.error_message}" if nak.error_message else ""
    steps.drop_lease(ctx, f"NAK from {nak.server_id or 'a server without identifier'}{text}")
    steps.restart_after_failure(ctx)
