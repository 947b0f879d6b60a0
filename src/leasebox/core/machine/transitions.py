"""Every transition rule of the client, as data: (state, event kind) -> handler and the
states that handler may leave the client in.

Reading the table tells the whole protocol; the handlers it names do the work. The Client
looks up each event here:
- no row: the event does not apply in that state and is ignored (logged at debug). That is
  right for the network (stray, late or duplicate replies) and for the adapter too, whose
  reports race with the engine's own progress (a ConfigApplied for an apply since taken
  back, a RenewRequested just after the state changed). Adapter misuse that no state could
  accept (not an event, time going backwards) is a UsageError, raised before the lookup.
- a row whose handler leaves a state not listed: a bug in the engine; the Client raises.

Replies become OFFER/ACK/NAK only after replies.screen has checked xid, chaddr, client id,
server identifier and yiaddr. A TimerExpired reaches the table only once get_timer() is due.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from leasebox.core.machine import acquire, bound, reboot, reports
from leasebox.core.machine.context import Context
from leasebox.core.machine.kinds import Kind
from leasebox.core.machine.types import Event, State
from leasebox.core.record import record

Handler = Callable[[Context, Event], None]


@record
class Rule:
    handler: Handler
    next_states: frozenset[State]


def _rule(handler: Handler, *next_states: State) -> Rule:
    return Rule(handler, frozenset(next_states))


S = State
K = Kind


def _adapter_rows(state: State, can_bind: bool) -> dict[Kind, Rule]:
    """The rows every state but STOPPED has alike: link, netconf answers, conflicts,
    release and stop. `can_bind`: the state may be waiting for the apply that binds."""
    link_up = {
        S.INIT: (S.INIT, S.REBOOTING),  # REBOOTING: a lease kept while it looks for one
        S.INIT_REBOOT: (S.INIT_REBOOT, S.REBOOTING, S.INIT),
    }.get(state, (state, S.INIT, S.REBOOTING))  # the same MAC again, or a new one
    return {
        K.LINK_UP: _rule(reports.link_up, *link_up),
        K.LINK_DOWN: _rule(reports.link_down, S.INIT, S.INIT_REBOOT),
        K.APPLIED: _rule(reports.config_applied, state, *((S.BOUND,) if can_bind else ())),
        # a renewal the kernel failed keeps the lease in use (an infinite one: BOUND; its
        # renewal by an operator can reach REBINDING with the new, finite lease's T2)
        K.REFUSED: _rule(reports.config_refused, state, S.INIT,
                         *((S.BOUND,) if state in (S.RENEWING, S.REBINDING) else ())),
        K.CONFLICT: _rule(reports.address_conflict, state, S.INIT),
        K.RELEASE: _rule(reports.release, S.STOPPED),
        K.LEAVE: _rule(reports.leave, S.STOPPED),
    }


TABLE: Mapping[State, Mapping[Kind, Rule]] = {
    S.INIT: {
        **_adapter_rows(S.INIT, can_bind=False),
        K.TIMER: _rule(acquire.init_timer, S.SELECTING, S.INIT),
        K.RENEW: _rule(acquire.init_renew, S.INIT),
    },
    S.SELECTING: {
        **_adapter_rows(S.SELECTING, can_bind=True),
        K.TIMER: _rule(acquire.selecting_timer, S.SELECTING, S.REQUESTING, S.INIT),
        K.OFFER: _rule(acquire.selecting_offer, S.SELECTING, S.REQUESTING, S.INIT),
        K.ACK: _rule(acquire.selecting_ack, S.SELECTING, S.PROBING, S.INIT),  # rapid commit
        K.RENEW: _rule(acquire.selecting_renew, S.SELECTING),
    },
    S.REQUESTING: {
        **_adapter_rows(S.REQUESTING, can_bind=True),
        K.TIMER: _rule(acquire.requesting_timer, S.REQUESTING, S.INIT),
        K.ACK: _rule(acquire.requesting_ack, S.REQUESTING, S.PROBING),
        K.NAK: _rule(acquire.requesting_nak, S.REQUESTING, S.INIT),
    },
    S.PROBING: {
        **_adapter_rows(S.PROBING, can_bind=True),
        K.TIMER: _rule(acquire.probing_timer, S.PROBING, S.INIT),
        K.PROBED: _rule(acquire.probing_result, S.PROBING, S.INIT),
    },
    S.BOUND: {
        **_adapter_rows(S.BOUND, can_bind=False),
        K.TIMER: _rule(bound.bound_timer, S.RENEWING, S.REBINDING, S.INIT),
        K.RENEW: _rule(bound.bound_renew, S.RENEWING),
    },
    S.RENEWING: {
        **_adapter_rows(S.RENEWING, can_bind=True),
        K.TIMER: _rule(bound.renewing_timer, S.RENEWING, S.REBINDING, S.INIT,
                       S.BOUND),  # BOUND: an infinite lease nobody answered for
        K.ACK: _rule(bound.renewing_ack, S.RENEWING, S.PROBING),
        K.NAK: _rule(bound.renewing_nak, S.RENEWING, S.INIT),
        K.RENEW: _rule(bound.retry_now, S.RENEWING),
    },
    S.REBINDING: {
        **_adapter_rows(S.REBINDING, can_bind=True),
        K.TIMER: _rule(bound.rebinding_timer, S.REBINDING, S.INIT),
        K.RENEW: _rule(bound.retry_now, S.REBINDING),
        K.ACK: _rule(bound.renewing_ack, S.REBINDING, S.PROBING),
        K.NAK: _rule(bound.renewing_nak, S.INIT),
    },
    S.INIT_REBOOT: {
        **_adapter_rows(S.INIT_REBOOT, can_bind=False),
        K.TIMER: _rule(reboot.init_reboot_timer, S.REBOOTING, S.INIT),
    },
    S.REBOOTING: {
        **_adapter_rows(S.REBOOTING, can_bind=True),
        K.TIMER: _rule(reboot.rebooting_timer, S.REBOOTING, S.INIT, S.SELECTING),
        K.ACK: _rule(reboot.rebooting_ack, S.REBOOTING, S.PROBING, S.INIT),
        K.NAK: _rule(reboot.rebooting_nak, S.INIT),
    },
    S.STOPPED: {
        K.LINK_UP: _rule(reports.link_up, S.STOPPED),
        K.LINK_DOWN: _rule(reports.link_down, S.STOPPED),
        K.APPLIED: _rule(reports.config_applied, S.STOPPED),
        K.REFUSED: _rule(reports.config_refused, S.STOPPED),
        K.RENEW: _rule(reports.stopped_renew, S.INIT, S.INIT_REBOOT, S.REBOOTING),
        K.RELEASE: _rule(reports.stopped_release, S.STOPPED),
    },
}


def rule_for(state: State, kind: Kind) -> Rule | None:
    return TABLE[state].get(kind)
