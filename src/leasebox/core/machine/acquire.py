"""Handlers for getting a new lease: INIT, SELECTING, REQUESTING, PROBING.

Each handler takes (context, event); transitions.py says which state and event kind call it
and which states it may leave the client in.
"""

from __future__ import annotations

from leasebox.core.log import Logger
from leasebox.core.machine import steps, timing
from leasebox.core.machine.checks import expect_message, expired
from leasebox.core.machine.context import Context
from leasebox.core.machine.lease import is_infinite
from leasebox.core.machine.types import Event, LeaseEventKind, ProbeResult
from leasebox.core.wire.types import Message

log = Logger("leasebox.core.machine")


def init_timer(ctx: Context, event: Event) -> None:
    """DISCOVER when INIT's wait is over. A lease kept while the client looks for another
    (reboot.py: no answer to INIT-REBOOT) goes when it expires, wait or not."""
    if expired(ctx):
        steps.drop_lease(ctx, "expired")
    if ctx.link_up and ctx.wake_at is not None and ctx.now >= ctx.wake_at:
        steps.start_selecting(ctx)


def init_renew(ctx: Context, event: Event) -> None:
    """An operator asked for a lease now: cut short whatever INIT was waiting for."""
    if ctx.link_up:
        ctx.wake_at = ctx.now


# ---- SELECTING -----------------------------------------------------------------------


def selecting_timer(ctx: Context, event: Event) -> None:
    if expired(ctx):  # a rapid-commit lease ran out while netconf was applying it
        steps.drop_lease(ctx, "expired")
        steps.enter_init(ctx)
    elif ctx.bind_kind is not None:
        return
    elif ctx.window_end is not None and ctx.now >= ctx.window_end:
        steps.start_requesting(ctx, _choose(ctx))
    elif ctx.wake_at is not None and ctx.now >= ctx.wake_at:
        steps.next_try_or_start_over(ctx, timing.DISCOVER_ATTEMPTS, steps.send_discover,
                                     "no usable offer after %d DISCOVERs; starting again")
        if ctx.tries == timing.DISCOVERS_WARNED:
            _say_unanswered(ctx)


def _say_unanswered(ctx: Context) -> None:
    """Past a switch port's spanning-tree wait (30 s), before a boot's wait for the network
    gives up (120 s): a warning, once since the last lease or link-up, then info."""
    report = log.info if ctx.unanswered_said else log.warning
    ctx.unanswered_said = True
    if any(until > ctx.now for _, _, until in ctx.avoided):
        # (an unusable ACK, a refusal or a decline: the same offer comes again, passed over)
        why = (f"the offers are of addresses refused or declined lately, passed over for "
               f"{timing.AVOID_TIME:.0f} s after")
    else:
        why = ("no DHCP server answers on this link (its cable, switch port or VLAN; the "
               "server or relay), or none that leasebox may use")
    report("no usable offer after %d DISCOVERs in %.0f s: %s; still asking", ctx.tries - 1,
           ctx.now - ctx.started_at, why)


def selecting_renew(ctx: Context, event: Event) -> None:
    """An operator asked for a lease now while DISCOVERs go unanswered (a server back after
    an outage, the next retransmission up to a minute away): the next DISCOVER goes at once.
    With an offer in hand, the REQUEST follows anyway."""
    if ctx.bind_kind is None and ctx.window_end is None:
        ctx.wake_at = ctx.now


def selecting_offer(ctx: Context, event: Event) -> None:
    offer = expect_message(event)
    if ctx.config.ipv6_only_preferred and offer.ipv6_only_preferred is not None:
        steps.v6only_wait(ctx, offer.server_id, offer.ipv6_only_preferred)
        return
    if offer.server_id is not None and steps.is_avoided(ctx, offer.server_id, offer.yiaddr):
        log.debug("offer of %s from %s ignored: recently refused or declined",
                  offer.yiaddr, offer.server_id)
        return
    if ctx.config.offer_window <= 0:
        steps.start_requesting(ctx, offer)
        return
    if len(ctx.offers) < timing.MAX_OFFERS:
        ctx.offers.append(offer)
    if ctx.window_end is None:
        ctx.window_end = ctx.now + ctx.config.offer_window


def _choose(ctx: Context) -> Message:
    """The offer of the address held before if there is one, else the first."""
    for offer in ctx.offers:
        if offer.yiaddr == ctx.previous_address:
            return offer
    return ctx.offers[0]


def selecting_ack(ctx: Context, event: Event) -> None:
    """Rapid commit (RFC 4039): an ACK straight after DISCOVER, when asked for."""
    ack = expect_message(event)
    if not (ctx.config.rapid_commit and ack.rapid_commit):
        log.debug("ACK in SELECTING without rapid commit ignored")
        return
    if ctx.config.ipv6_only_preferred and ack.ipv6_only_preferred is not None:
        steps.v6only_wait(ctx, ack.server_id, ack.ipv6_only_preferred)
        return
    if ack.server_id is not None and steps.is_avoided(ctx, ack.server_id, ack.yiaddr):
        # as its OFFER would be: taken again, it would be declined or refused again, and
        # another server's offer never get its turn
        log.debug("rapid-commit ACK of %s from %s ignored: recently refused or declined",
                  ack.yiaddr, ack.server_id)
        return
    _accept(ctx, ack, ctx.sent_at)


# ---- REQUESTING ----------------------------------------------------------------------


def requesting_timer(ctx: Context, event: Event) -> None:
    if not steps.exchange_due(ctx):
        return
    offer = ctx.offer
    if ctx.unusable_tries >= 2 and offer is not None and offer.server_id is not None:
        # The server answered two REQUESTs with an ACK leasebox cannot use (no lease time,
        # say), and will answer each so: the offer has failed. (After one, the REQUEST
        # goes again: that ACK may be a forged one, and the server's good one lost.)
        # Another server's offer gets its turn, and INIT backs off as after a NAK, rather
        # than the same REQUEST again and again for a minute, then "no answer" and the
        # same offer taken again.
        log.warning("%s from %s not taken: its ACK was not usable (%s); not asked for "
                    "again for %d s", offer.yiaddr, offer.server_id, ctx.unusable,
                    timing.AVOID_TIME)
        steps.avoid_address(ctx, offer.server_id, offer.yiaddr)
        steps.restart_after_failure(ctx)
        return
    steps.next_try_or_start_over(ctx, timing.REQUEST_ATTEMPTS, steps.send_request,
                                 "no answer to %d REQUESTs; starting again")


def _from_chosen_server(ctx: Context, message: Message) -> bool:
    return steps.heard(message, ctx.offer is not None
                       and message.server_id == ctx.offer.server_id, "not the server requested")


def requesting_ack(ctx: Context, event: Event) -> None:
    ack = expect_message(event)
    if _from_chosen_server(ctx, ack):
        _accept(ctx, ack, ctx.sent_at)


def requesting_nak(ctx: Context, event: Event) -> None:
    nak = expect_message(event)
    if _from_chosen_server(ctx, nak):
        # one NAK is ordinary (a lease from another network); the same again and again
        # means a server that offers what it then refuses: warned at 2, 4, 8... in a row
        row = ctx.failures + 1
        report = log.warning if row >= 2 and not row & (row - 1) else log.info
        report("server %s NAKed %s%s%s", nak.server_id, ctx.offer.yiaddr if ctx.offer else "",
               f": {nak.error_message}" if nak.error_message else "",
               f" ({row} failures in a row: its pool or reservations, or another server "
               "authoritative for this subnet?)" if row >= 2 else "")
        held = ctx.lease  # kept while the client looked for a lease (reboot.py)
        if held is not None and ctx.offer is not None and ctx.offer.yiaddr == held.address:
            steps.drop_lease(ctx, f"NAK from {nak.server_id}")  # refused: it goes
        steps.restart_after_failure(ctx)


def _accept(ctx: Context, ack: Message, acquired_at: float) -> None:
    lease = steps.usable_lease(ctx, ack, acquired_at)
    if lease is None:
        return
    steps.accept_ack(ctx, ack, lease, LeaseEventKind.ACQUIRED)


# ---- PROBING -------------------------------------------------------------------------


def probing_result(ctx: Context, event: Event) -> None:
    if not isinstance(event, ProbeResult):
        raise TypeError(f"bug: {event!r} in probing_result")
    candidate = ctx.candidate
    if candidate is None or event.address != candidate.address:
        log.debug("stale probe result for %s ignored", event.address)
        return
    if event.conflict:
        steps.decline(ctx, candidate, "address in use (ARP probe)")
    else:
        _probed(ctx)


def probing_timer(ctx: Context, event: Event) -> None:
    if expired(ctx):
        steps.drop_lease(ctx, "expired")
        steps.enter_init(ctx)
    elif ctx.candidate is not None and ctx.wake_at is not None and ctx.now >= ctx.wake_at:
        log.warning("no answer to the ARP probe of %s; taking it as free",
                    ctx.candidate.address)
        _probed(ctx)


def _probed(ctx: Context) -> None:
    lease = ctx.candidate
    if lease is None:
        raise RuntimeError("bug: no probed lease")
    ctx.candidate = None
    ctx.wake_at = None
    if not is_infinite(lease) and ctx.now >= lease.expires_at:
        # it ran out while its address was probed (the machine slept meanwhile): never
        # applied, so nothing to remove, and no server holds it for us any more
        log.warning("the lease of %s ran out while its address was probed; starting over",
                    lease.address)
        steps.enter_init(ctx)
        return
    ctx.lease = lease
    steps.apply(ctx, lease)

