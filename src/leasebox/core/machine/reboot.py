"""Handlers for checking a lease the client already holds: INIT-REBOOT, REBOOTING.

INIT-REBOOT is where a held lease waits: one remembered from disk before the first
LinkUp, or one kept across a link-down (still applied, still counting down to expiry).
LinkUp (or the timer of a resumed snapshot) sends the init-reboot REQUEST (RFC 2131 3.2).

No answer after REBOOT_ATTEMPTS REQUESTs, ~5 s (RFC 2131 3.2 step 5 leaves the choice
open; timing.REBOOT_WAIT), the client does a DISCOVER, asking for that address again:
- a lease that is still applied (a link flap) stays applied meanwhile, until a new lease
  replaces it or it expires, so that a server that is down for a moment does not take the
  address away. Waiting for its T1 instead would leave a laptop that woke on another
  network with the old address for hours: Kea, and ISC dhcpd unless `authoritative`,
  answer an INIT-REBOOT for an address they do not know with nothing, where any server
  answers a DISCOVER;
- a lease only remembered from disk is not applied: configuring an unverified address on
  what may be another network is worse than the few seconds a DISCOVER costs.
"""

from __future__ import annotations

from leasebox.core.log import Logger
from leasebox.core.machine import steps, timing
from leasebox.core.machine.checks import expect_message, expired
from leasebox.core.machine.context import Context
from leasebox.core.machine.types import Event, LeaseEventKind, State

log = Logger("leasebox.core.machine")


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
    if not steps.exchange_due(ctx):
        return
    # ACKs that could not be used (lease.py) end the wait once they answered two REQUESTs
    # (the server answers so each time; one may be anyone's: acquire.requesting_timer)
    answer = f"an unusable ACK ({ctx.unusable})" if ctx.unusable else "no answer"
    if ctx.tries < timing.REBOOT_ATTEMPTS and ctx.unusable_tries < 2:
        steps.send_again(ctx, steps.send_request, timing.reboot_delay(ctx.rng))
    elif ctx.applied is not None:
        lease = steps.held(ctx)
        log.info("%s to INIT-REBOOT; asking with DISCOVER, keeping %s meanwhile", answer,
                 lease.address)
        ctx.previous_address = lease.address
        steps.start_selecting(ctx)  # the lease stays held and applied (see above)
    else:
        lease = steps.held(ctx)
        log.info("%s to INIT-REBOOT for %s; asking with DISCOVER", answer, lease.address)
        ctx.previous_address = lease.address
        ctx.lease = None
        steps.enter_init(ctx)


def rebooting_ack(ctx: Context, event: Event) -> None:
    ack = expect_message(event)
    if ctx.config.ipv6_only_preferred and ack.ipv6_only_preferred is not None:
        steps.v6only_wait(ctx, ack.server_id, ack.ipv6_only_preferred)
        return
    lease = steps.usable_lease(ctx, ack, ctx.sent_at)
    if lease is None:
        return
    steps.accept_ack(ctx, ack, lease, LeaseEventKind.RENEWED)


def rebooting_nak(ctx: Context, event: Event) -> None:
    nak = expect_message(event)
    text = f": {nak.error_message}" if nak.error_message else ""
    steps.drop_lease(ctx, f"NAK from {nak.server_id or 'a server without identifier'}{text}")
    steps.restart_after_failure(ctx)
