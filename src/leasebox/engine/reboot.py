"""Handlers for checking a lease the client already holds: INIT-REBOOT, REBOOTING.

INIT-REBOOT is where a held lease waits: one remembered from disk before the first
LinkUp, or one kept across a link-down (still applied, still counting down to expiry).
LinkUp (or the timer of a resumed snapshot) sends the init-reboot REQUEST (RFC 2131 3.2).

No answer after REBOOT_ATTEMPTS REQUESTs (RFC 2131 3.2 step 5 leaves the choice open):
- a lease that is still applied (a link flap) is kept and its own T1/T2 take over, so that
  a server that is down for a moment does not take the address away;
- a lease only remembered from disk is not applied: the client does a DISCOVER instead
  (asking for that address again). Configuring an unverified address on what may be another
  network is worse than the few seconds a DISCOVER costs.
"""

from __future__ import annotations

import logging

from leasebox.engine import steps, timing
from leasebox.engine.checks import expect_message, expired
from leasebox.engine.context import Context
from leasebox.engine.errors import LeaseError
from leasebox.engine.lease import lease_from_ack
from leasebox.engine.types import Event, LeaseEventKind, State

log = logging.getLogger("leasebox.engine")


def restart(ctx: Context) -> None:
    """Start over from what is held: verify a lease (now, or at LinkUp), or INIT."""
    if ctx.lease is None:
        steps.enter_init(ctx)
    elif expired(ctx):
        steps.drop_lease(ctx, "expired")
        steps.enter_init(ctx)
    elif ctx.link_up:
        steps.start_rebooting(ctx)
    else:
        steps.clear_exchange(ctx)
        ctx.state = State.INIT_REBOOT


def init_reboot_timer(ctx: Context, event: Event) -> None:
    restart(ctx)


def rebooting_timer(ctx: Context, event: Event) -> None:
    if expired(ctx):
        steps.drop_lease(ctx, "expired")
        steps.enter_init(ctx)
    elif ctx.bind_kind is not None:
        return
    elif ctx.wake_at is not None and ctx.now >= ctx.wake_at:
        if ctx.tries < timing.REBOOT_ATTEMPTS:
            ctx.tries += 1
            steps.send_request(ctx)
            ctx.wake_at = ctx.now + timing.retransmit_delay(ctx.rng, ctx.tries)
        elif ctx.applied is not None:
            log.info("no answer to INIT-REBOOT; keeping %s until its lease says otherwise",
                     steps.held(ctx).address)
            steps.resume_lease(ctx)
        else:
            lease = steps.held(ctx)
            log.info("no answer to INIT-REBOOT for %s; asking with DISCOVER", lease.address)
            ctx.previous_address = lease.address
            ctx.lease = None
            steps.enter_init(ctx)


def rebooting_ack(ctx: Context, event: Event) -> None:
    ack = expect_message(event)
    if ctx.config.ipv6_only_preferred and ack.ipv6_only_preferred is not None:
        steps.v6only_wait(ctx, ack.server_id, ack.ipv6_only_preferred)
        return
    try:
        lease = lease_from_ack(ack, ctx.sent_at, ctx.config.min_lease_time)
    except LeaseError as exc:
        log.warning("ACK from %s not usable: %s", ack.server_id, exc.reason)
        return
    steps.accept_ack(ctx, ack, lease, LeaseEventKind.RENEWED)


def rebooting_nak(ctx: Context, event: Event) -> None:
    nak = expect_message(event)
    text = f": {nak.error_message}" if nak.error_message else ""
    steps.drop_lease(ctx, f"NAK from {nak.server_id}{text}")
    steps.restart_after_failure(ctx)
