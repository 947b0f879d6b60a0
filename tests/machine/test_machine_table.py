"""The transition table itself: complete where it must be, and honest about next states."""

from __future__ import annotations

from leasebox.core.machine.kinds import Kind
from leasebox.core.machine.transitions import TABLE
from leasebox.core.machine.types import State


def test_every_state_has_rows() -> None:
    assert set(TABLE) == set(State)
    for state, rows in TABLE.items():
        assert rows, state
        for kind, rule in rows.items():
            assert isinstance(kind, Kind)
            assert rule.next_states <= set(State), (state, kind)
            assert callable(rule.handler)


def test_every_live_state_hears_the_adapter() -> None:
    for state in set(State) - {State.STOPPED}:
        for kind in (Kind.LINK_UP, Kind.LINK_DOWN, Kind.APPLIED, Kind.REFUSED, Kind.RELEASE,
                     Kind.LEAVE):
            assert kind in TABLE[state], (state, kind)
        # A live state either has a timer row or never sets a deadline.
        assert Kind.TIMER in TABLE[state] or state is State.STOPPED


def test_replies_are_heard_only_where_an_exchange_runs() -> None:
    for state, rows in TABLE.items():
        for kind in (Kind.OFFER, Kind.ACK, Kind.NAK):
            if kind in rows:
                assert state in (State.SELECTING, State.REQUESTING, State.RENEWING,
                                 State.REBINDING, State.REBOOTING), (state, kind)
    assert Kind.OFFER in TABLE[State.SELECTING]
    assert Kind.NAK not in TABLE[State.SELECTING]


def test_stop_and_release_always_end_in_stopped() -> None:
    for rows in TABLE.values():
        for kind in (Kind.LEAVE, Kind.RELEASE):
            if kind in rows:
                assert rows[kind].next_states == {State.STOPPED}


def test_bound_is_reached_only_through_netconf_or_a_kept_lease() -> None:
    for state, rows in TABLE.items():
        for kind, rule in rows.items():
            if State.BOUND in rule.next_states and state is not State.BOUND:
                # an infinite lease nobody answered for; a failed renewal of an infinite
                # lease, kept (in REBINDING too: the new lease's T2 came first)
                assert kind is Kind.APPLIED or (state, kind) in (
                    (State.RENEWING, Kind.TIMER), (State.RENEWING, Kind.REFUSED),
                    (State.REBINDING, Kind.REFUSED))
