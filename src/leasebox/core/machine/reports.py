"""Handlers for what the adapter reports or asks, in any state: the link, netconf's
answers, address conflicts, renew/release/stop requests.

These events can race with the engine's own progress (netconf answers an apply the engine
has since taken back; an operator's request arrives just after the state changed), so one
that no longer applies is ignored with a debug line, never an error.
"""

from __future__ import annotations

from leasebox.core.log import Logger
from leasebox.core.machine import requests, steps, timing
from leasebox.core.machine.context import Context
from leasebox.core.machine.lease import is_infinite
from leasebox.core.machine.reboot import restart
from leasebox.core.machine.types import (
    AddressConflict,
    ConfigRefused,
    Event,
    GuardAddress,
    Lease,
    LeaseEvent,
    LeaseEventKind,
    LeaveRequested,
    LinkDown,
    LinkUp,
    State,
)

log = Logger("leasebox.core.machine")


# ---- the link ----------------------------------------------------------------------------


def link_down(ctx: Context, event: Event) -> None:
    """Stop every exchange and timer but the lease's expiry. A lease in use stays applied
    and waits in INIT-REBOOT to be verified at the next LinkUp; an unverified ACK or a
    probe in progress is dropped."""
    ctx.link_up = False
    ctx.confirm_by = None  # (the wait starts again with the carrier)
    if ctx.state is State.STOPPED:
        return
    if isinstance(event, LinkDown) and event.gone and ctx.applied is not None:
        # the adapter applies it again on the new link; its verification reports ACQUIRED
        ctx.unannounced = True
    steps.clear_exchange(ctx)
    if ctx.lease is not None:
        ctx.state = State.INIT_REBOOT
    else:
        steps.enter_init(ctx)


def link_up(ctx: Context, event: Event) -> None:
    if not isinstance(event, LinkUp):
        raise TypeError(f"bug: {event!r} in link_up")
    if ctx.link_up and event.mac == ctx.mac:
        log.debug("link already up")
        return
    if ctx.link_up:  # another MAC: whatever was in flight was for the old one
        log.info("MAC address changed; starting over")
        link_down(ctx, event)
    ctx.mac = event.mac
    ctx.link_up = True
    ctx.reattached = ctx.lease is not None
    if ctx.applied is not None and ctx.state is not State.STOPPED:
        ctx.confirm_by = ctx.now + timing.CONFIRM_TIME  # (Client.handle)
    ctx.unanswered_said, ctx.discovers = False, 0
    if ctx.state is not State.STOPPED:
        # A new attachment: pending waits (after a decline, IPv6-only) no longer apply, nor
        # does the failures' backoff: a laptop moving between networks gets a NAK for the
        # last one's address at each arrival, with a good lease between them.
        ctx.failures = 0
        restart(ctx)
        # but not RFC 2131 3.1.5's wait after a DECLINE: a carrier that flaps must not
        # bring the next DISCOVER sooner
        if ctx.state is State.INIT and ctx.wake_at is not None:
            ctx.wake_at = max(ctx.wake_at, ctx.decline_until)


# ---- netconf's answers -----------------------------------------------------------------


def _answer_is_current(ctx: Context) -> bool:
    """Count one answer off; True when it answers the newest ApplyLease, still wanted."""
    if ctx.applies_pending == 0:
        log.debug("answer from netconf with no apply pending ignored")
        return False
    ctx.applies_pending -= 1
    return ctx.applies_pending == 0 and ctx.applied is not None


def config_applied(ctx: Context, event: Event) -> None:
    superseded = ctx.applies_pending > 1
    if not _answer_is_current(ctx):
        if superseded and ctx.applied is not None and ctx.confirmed is None:
            # An earlier apply took effect after all: something of ours is on the
            # interface now, and a refusal of the newer one must take it away.
            ctx.confirmed = ctx.applied
        return
    ctx.confirmed = ctx.applied
    # While another server's grant of the address is probed, the answer is a late one for
    # the lease in use (a renewal's): the bind is the candidate's, once probed and applied.
    if ctx.bind_kind is not None and ctx.candidate is None:
        steps.finish_bind(ctx)


def config_refused(ctx: Context, event: Event) -> None:
    """netconf's policy refused the lease: it is unusable. No DECLINE (the address is not
    in use by anyone; the server did nothing wrong by its own rules), but the same address
    from the same server is not requested again for AVOID_TIME, and INIT backs off.
    A lease the kernel failed (`event.failed`) is not avoided: the failure says nothing
    about the address (most often its link went away while netconf applied it), and a
    server offers a client the same address again, so avoiding it would leave the link
    without any for AVOID_TIME. It is asked for again instead; INIT backs off all the
    same."""
    if not isinstance(event, ConfigRefused):
        raise TypeError(f"bug: {event!r} in config_refused")
    if event.in_use:
        _in_use_refused(ctx, event)
        return
    if not _answer_is_current(ctx):
        return
    refused = ctx.applied
    if refused is None:
        return
    if event.failed and _renewal_kept(ctx, refused):
        ctx.actions.append(LeaseEvent(LeaseEventKind.FAILED, refused, event.reason,
                                      kept=True))
        return
    # netconf did not take this one; an earlier version of the lease (before a renewal)
    # may still be on the interface, and goes too.
    ctx.applied = ctx.confirmed
    steps.remove(ctx)
    steps.forget(ctx)
    if event.failed:
        ctx.actions.append(LeaseEvent(LeaseEventKind.FAILED, refused, event.reason))
    else:
        ctx.actions.append(LeaseEvent(LeaseEventKind.REFUSED, refused, event.reason))
        steps.avoid(ctx, refused)
    ctx.lease = None
    ctx.previous_address = refused.address if event.failed else None
    if ctx.state is State.STOPPED:
        steps.clear_exchange(ctx)
    else:
        steps.restart_after_failure(ctx)


def _in_use_refused(ctx: Context, event: ConfigRefused) -> None:
    """netconf's policy, changed since the lease was applied (AllowedAddresses= edited, then
    the engine restarted), refuses the lease in use, sent to it again: it goes now, as a
    refused lease does, not at the server's next ACK. Only an applied lease with no apply
    of its own under way: else the answer to that apply decides. Also one being verified
    (INIT-REBOOT, REBOOTING: an engine restarted in the middle of an exchange resumes so,
    with its lease applied), which would stay applied while no server answered."""
    lease = ctx.applied
    if lease is None or ctx.applies_pending or event.failed or ctx.state not in (
            State.BOUND, State.RENEWING, State.REBINDING, State.INIT_REBOOT,
            State.REBOOTING):
        return
    steps.remove(ctx)
    steps.forget(ctx)
    ctx.actions.append(LeaseEvent(LeaseEventKind.REFUSED, lease, event.reason))
    steps.avoid(ctx, lease)
    ctx.lease = None
    ctx.previous_address = None
    steps.restart_after_failure(ctx)


def _renewal_kept(ctx: Context, failed: Lease) -> bool:
    """The kernel failed a renewal of the address in use: netconf rolled its change back
    and the lease it had applied before is still there, and still valid. Carry on with it
    as if this ACK had been lost: the REQUEST goes again when RFC 2131 says (at least 60 s
    on, and at T2 or expiry as ever), rather than dropping a working address for INIT."""
    kept = ctx.confirmed
    if kept is None or (kept.address, kept.prefixlen) != (failed.address, failed.prefixlen) \
            or ctx.state not in (State.RENEWING, State.REBINDING, State.INIT_REBOOT) \
            or (ctx.state is State.INIT_REBOOT and ctx.link_up):
        return False  # (another prefix length is another address to netconf: it went)
    ctx.applied = ctx.lease = kept
    if ctx.state is State.INIT_REBOOT:
        # The carrier went while netconf applied the renewal (the kernel's failure most
        # often comes of that): the lease in use waits to be verified, as any at a carrier
        # loss, rather than being dropped, with its file, for a DISCOVER.
        log.info("keeping the lease in use, to be verified when the carrier is back")
        return True
    if is_infinite(kept):  # renewed only when an operator asks: BOUND, as before
        steps.resume_lease(ctx)
        log.info("keeping the lease in use")
        return True
    steps.begin_exchange(ctx, ctx.state)
    until = kept.t2_at if ctx.state is State.RENEWING else kept.expires_at
    ctx.wake_at = ctx.now + timing.renew_retry_delay(ctx.now, until)
    log.info("keeping the lease in use; the %s REQUEST goes again in %.0f s",
             ctx.state.name.lower(), ctx.wake_at - ctx.now)
    return True


# ---- conflicts -------------------------------------------------------------------------


def address_conflict(ctx: Context, event: Event) -> None:
    if not isinstance(event, AddressConflict):
        raise TypeError(f"bug: {event!r} in address_conflict")
    address = ctx.guarded
    if address is None or event.address != address:
        log.debug("conflict for %s ignored: not an address in use", event.address)
        return
    last = ctx.defended_at
    if last is None or ctx.now - last >= timing.DEFEND_INTERVAL:
        # RFC 5227 2.4 (b): defend once with an announcement; a second conflict within
        # DEFEND_INTERVAL means the other host insists, and the address is given up.
        log.warning("another host uses %s: defending it", address)
        ctx.defended_at = ctx.now
        ctx.actions.append(GuardAddress(address, 1))
        return
    lease = ctx.lease or ctx.applied
    if lease is None:  # guarded implies confirmed, which implies applied
        raise RuntimeError("bug: a guarded address without a lease")
    steps.decline(ctx, lease, "address in use (ARP seen after defending it)")


# ---- operator requests -----------------------------------------------------------------


def _holds_granted_lease(ctx: Context) -> bool:
    """A server granted the lease held (not merely remembered from disk): in this run, or
    it is still applied, being verified after a flap or kept while a DISCOVER looks for
    another (applied leases are taken off at their expiry)."""
    lease = ctx.lease
    return lease is not None and (ctx.state in steps.BOUND_STATES
                                  or ctx.bind_kind is not None or ctx.applied == lease)


def _send_release(ctx: Context, granted: bool = False) -> bool:
    """RELEASE the lease held, when the server granted it (or `granted` says it did)."""
    lease = ctx.lease
    if lease is None or not ctx.link_up or not (granted or _holds_granted_lease(ctx)):
        return False
    steps.send(ctx, requests.release(ctx.config, steps.new_xid(ctx), steps.mac(ctx),
                                     lease.address, lease.server_id), lease.server_id)
    return True


def _stopped(ctx: Context) -> None:
    steps.clear_exchange(ctx)
    ctx.state = State.STOPPED


def release(ctx: Context, event: Event, granted: bool = False) -> None:
    """Give the lease back (RELEASE when one was granted), take it off, forget it, and stay
    STOPPED until a RenewRequested: an operator who released does not want a link flap to
    take a new lease behind their back."""
    lease = ctx.lease
    sent = _send_release(ctx, granted)
    steps.remove(ctx)
    steps.forget(ctx)
    if lease is not None:
        detail = f"RELEASE sent to {lease.server_id}" if sent else "no RELEASE sent"
        ctx.actions.append(LeaseEvent(LeaseEventKind.RELEASED, lease, detail))
    ctx.lease = None
    ctx.previous_address = None
    _stopped(ctx)


def leave(ctx: Context, event: Event) -> None:
    """The service is stopping. RELEASE only if asked and configured; without it the lease
    stays in the lease file for the next start (INIT-REBOOT), and on the interface too when
    keep_configuration says so."""
    if not isinstance(event, LeaveRequested):
        raise TypeError(f"bug: {event!r} in stop")
    lease = ctx.lease
    ctx.kept_granted = _holds_granted_lease(ctx)
    released = event.release and ctx.config.send_release and _send_release(ctx)
    if released and event.keep_configuration:
        # as leasebox.conf(5) says: not a fault, said so that a kept address not kept is
        # explained
        log.info("RELEASE sent (SendRelease=): the configuration goes with the lease; "
                 "KeepConfiguration= keeps it only when no RELEASE is sent")
    applied = ctx.applied
    if released or not event.keep_configuration:
        steps.remove(ctx)
    if released and lease is not None:
        steps.forget(ctx)
        ctx.actions.append(LeaseEvent(LeaseEventKind.RELEASED, lease,
                                      f"RELEASE sent to {lease.server_id}"))
        ctx.lease = None
    elif applied is not None and ctx.applied is None and not event.shutdown:
        # Taken off the link without a RELEASE (SendRelease=no, no carrier): the hooks
        # that set something up at "bound" hear of it too. Not as the system goes down,
        # when no hook can run before the next boot.
        why = ("the MAC address changed" if event.mac_changed else "no RELEASE sent"
               if event.release else "lease kept for the next start")
        ctx.actions.append(LeaseEvent(LeaseEventKind.LEFT, applied,
                                      f"configuration removed, {why}"))
    elif applied is not None and ctx.applied is not None and not event.shutdown:
        # nothing for the hooks (what they set up at "bound" stays true), but the journal
        # says where the address stands, or the stop reads like a restart's. (Not as the
        # system goes down: the engine keeps it then when netconf has exited, and says so.)
        log.info("leaving %s/%d on the link (KeepConfiguration=yes): it stays until its "
                 "lifetime ends, its DNS and NTP until leasebox runs here again",
                 applied.address, applied.prefixlen)
    _stopped(ctx)


def stopped_release(ctx: Context, event: Event) -> None:
    """A release after a leave that kept the lease (SendRelease=no, KeepConfiguration=yes,
    no io then): the server holds it until it runs out, so it goes back now as from BOUND,
    with what is still applied of it. One that ran out meanwhile, or that was only
    remembered from disk at the leave (never confirmed), is only forgotten."""
    lease = ctx.lease
    release(ctx, event, granted=ctx.kept_granted and lease is not None
            and ctx.now < lease.expires_at)


def stopped_renew(ctx: Context, event: Event) -> None:
    """Start again after a stop or release: verify a kept lease, else DISCOVER."""
    restart(ctx)
