"""Operator requests (renew, release, stop), misuse by the adapter, and timers."""

from __future__ import annotations

import math
import random

import pytest

from leasebox.core.log import WARNING
from leasebox.core.machine import Client, UsageError
from leasebox.core.machine.types import (
    ClientConfig,
    ConfigApplied,
    LeaseEvent,
    LeaseEventKind,
    LeaveRequested,
    LinkDown,
    LinkUp,
    MessageReceived,
    PersistLease,
    ReleaseRequested,
    RemoveLease,
    RenewRequested,
    State,
    TimerExpired,
)
from leasebox.core.wire.types import MessageType
from tests.conftest import Logs
from tests.machine.machine_helpers import (
    ADDRESS,
    MAC,
    SERVER,
    T0,
    Harness,
    nak,
    of_type,
    offer,
    remembered,
    sent,
)


def test_release() -> None:
    h = Harness()
    lease = h.acquire()
    actions = h.handle(ReleaseRequested(h.now))
    [release] = sent(actions)
    assert release.destination == SERVER
    msg = release.message
    assert msg.message_type is MessageType.RELEASE
    assert msg.ciaddr == ADDRESS and msg.server_id == SERVER and msg.requested_ip is None
    assert msg.parameter_request_list == () and msg.hostname is None
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.RELEASED
    assert h.state is State.STOPPED and h.client.lease is None
    assert h.client.get_timer() is None
    # A link flap does not take a new lease behind the operator's back...
    h.handle(LinkDown(h.now))
    assert h.link_up() == []
    assert h.state is State.STOPPED
    # ...a renew request does.
    h.handle(RenewRequested(h.now))
    assert h.state is State.INIT
    h.fire()
    assert h.state is State.SELECTING


def test_release_while_selecting_stops_without_sending() -> None:
    h = Harness()
    h.link_up()
    h.fire()
    actions = h.handle(ReleaseRequested(h.now))
    assert not sent(actions) and not of_type(actions, LeaseEvent)
    assert h.state is State.STOPPED


def test_stop_with_release() -> None:
    h = Harness()
    lease = h.acquire()
    actions = h.handle(LeaveRequested(h.now, release=True))
    assert sent(actions)[0].message.message_type is MessageType.RELEASE
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    assert h.state is State.STOPPED


def test_stop_with_release_but_configured_not_to() -> None:
    h = Harness(ClientConfig(send_release=False))
    lease = h.acquire()
    actions = h.handle(LeaveRequested(h.now, release=True))
    assert not sent(actions)
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    assert not of_type(actions, PersistLease)  # the lease file stays for the next start
    [event] = of_type(actions, LeaseEvent)  # and the hooks hear of it
    assert (event.kind, event.lease, event.detail) == (
        LeaseEventKind.LEFT, lease, "configuration removed, no RELEASE sent")


def test_a_mac_change_says_why_the_lease_left() -> None:
    """Its LEFT said "lease kept for the next start", which a lease of another MAC is not:
    the next start does not take it up."""
    h = Harness()
    lease = h.acquire()
    actions = h.handle(LeaveRequested(h.now, release=False, mac_changed=True))
    assert not sent(actions) and of_type(actions, RemoveLease) == [RemoveLease(lease)]
    [event] = of_type(actions, LeaseEvent)
    assert (event.kind, event.detail) == (LeaseEventKind.LEFT,
                                          "configuration removed, the MAC address changed")


@pytest.mark.parametrize("keep", [False, True])
def test_release_after_a_leave_that_kept_the_lease(keep: bool) -> None:
    """SendRelease=no (or no io at the leave) kept the lease, which the server still holds:
    `leaseboxctl release` gives it back then, with whatever is still applied of it. It had
    answered "Stopped" and sent nothing, and the next start took the lease up again."""
    h = Harness(ClientConfig(send_release=False))
    lease = h.acquire()
    h.handle(LeaveRequested(h.now, release=True, keep_configuration=keep))
    assert h.state is State.STOPPED and h.client.lease == lease
    actions = h.handle(ReleaseRequested(h.now + 60))
    [release] = sent(actions)
    assert release.message.message_type is MessageType.RELEASE
    assert release.message.ciaddr == ADDRESS and release.destination == SERVER
    assert of_type(actions, RemoveLease) == ([RemoveLease(lease)] if keep else [])
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.RELEASED
    assert h.state is State.STOPPED and h.client.lease is None


def test_release_after_a_leave_of_a_lease_never_confirmed_sends_nothing() -> None:
    """A leave while the remembered lease is being verified sends no RELEASE for it (the
    server may not hold it); nor does a release after."""
    h = Harness(remembered=remembered())
    h.link_up()
    assert h.state is State.REBOOTING
    assert not sent(h.handle(LeaveRequested(h.now, release=True)))
    assert h.state is State.STOPPED and h.client.lease is not None
    actions = h.handle(ReleaseRequested(h.now + 1))
    assert not sent(actions) and h.client.lease is None


def test_release_after_a_leave_of_a_lease_that_ran_out_sends_nothing() -> None:
    h = Harness(ClientConfig(send_release=False))
    lease = h.acquire()
    h.handle(LeaveRequested(h.now, release=True))
    actions = h.handle(ReleaseRequested(lease.expires_at + 1))
    assert not sent(actions)
    assert of_type(actions, PersistLease) == [PersistLease(None)]  # forgotten all the same
    assert h.client.lease is None


def test_stop_without_release() -> None:
    """The configuration goes, the lease stays (the lease file): a LEFT event tells the
    hooks; not at shutdown, when none could run before the next boot."""
    h = Harness()
    lease = h.acquire()
    actions = h.handle(LeaveRequested(h.now, release=False))
    assert not sent(actions)
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    assert not of_type(actions, PersistLease)
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.LEFT and event.lease == lease
    assert h.state is State.STOPPED
    h = Harness()
    h.acquire()
    actions = h.handle(LeaveRequested(h.now, release=False, shutdown=True))
    assert of_type(actions, RemoveLease) and not of_type(actions, LeaseEvent)


def test_stop_keeping_configuration(logs: Logs) -> None:
    h = Harness()
    lease = h.acquire()
    actions = h.handle(LeaveRequested(h.now, release=False, keep_configuration=True))
    assert [type(a).__name__ for a in actions] == ["StateChanged"]
    # no event for the hooks, but a line: the stop is not a restart
    assert f"leaving {lease.address}/{lease.prefixlen} on the link (KeepConfiguration=yes)" \
        in logs.text
    # not as the system goes down, when the engine keeps it for want of netconf whatever
    # KeepConfiguration= says (engine.dispatch), and says that itself
    logs.records.clear()
    h = Harness()
    h.acquire()
    h.handle(LeaveRequested(h.now, release=False, keep_configuration=True, shutdown=True))
    assert "KeepConfiguration" not in logs.text
    assert h.client.lease == lease
    # Renew after such a stop verifies the kept lease instead of taking a second one.
    actions = h.handle(RenewRequested(h.now))
    assert h.state is State.REBOOTING


def test_stop_with_release_ignores_keep_configuration(logs: Logs) -> None:
    h = Harness()
    lease = h.acquire()
    actions = h.handle(LeaveRequested(h.now, release=True, keep_configuration=True))
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    # as documented (leasebox.conf(5)): said, at info, in the files' own words
    assert not logs.at_least(WARNING, "leasebox.core.machine")
    assert "KeepConfiguration= keeps it only when no RELEASE is sent" in logs.text


def test_stopped_ignores_everything_but_renew_release_and_link() -> None:
    h = Harness()
    h.acquire()
    h.handle(LeaveRequested(h.now, release=False))
    assert h.handle(LeaveRequested(h.now, release=True)) == []
    h.advance(10000)
    assert h.handle(TimerExpired(h.now)) == []
    assert h.handle(ConfigApplied(h.now)) == []


def test_renew_in_init_cuts_the_wait_short() -> None:
    h = Harness()
    h.link_up()
    for _ in range(3):  # three NAKs in a row: a 4 s backoff
        h.fire()
        h.deliver(offer(h.last_sent().message))
        h.deliver(nak(h.last_sent().message))
    assert h.timer() - h.now >= 4
    h.handle(RenewRequested(h.now))
    assert h.timer() == h.now


def test_timer_before_deadline_is_a_no_op() -> None:
    h = Harness()
    h.acquire()
    due = h.timer()
    assert h.handle(TimerExpired(due - 0.001)) == []
    assert h.state is State.BOUND
    assert h.timer() == due


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_non_finite_time_is_a_usage_error(now: float) -> None:
    client = Client(ClientConfig(), random.Random(1))
    with pytest.raises(UsageError):
        client.handle(LinkUp(now, MAC))


def test_time_going_backwards_is_a_usage_error() -> None:
    h = Harness()
    h.link_up()
    with pytest.raises(UsageError):
        h.handle(TimerExpired(T0 - 1))


@pytest.mark.parametrize("mac", [b"", b"\x00" * 5, b"\x00" * 16])
def test_bad_mac_is_a_usage_error(mac: bytes) -> None:
    with pytest.raises(UsageError):
        Harness().handle(LinkUp(T0, mac))


def test_non_event_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        Harness().handle("LinkUp")  # type: ignore[arg-type]


def test_message_received_without_a_message_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        Harness().handle(MessageReceived(T0, b"\x02\x01"))  # type: ignore[arg-type]


def test_refusal_after_an_earlier_apply_went_through_removes_it() -> None:
    """Found by the random event test: apply #1, a link flap, apply #2; netconf applies #1
    (an answer the engine no longer waits for) and refuses #2. The address #1 put on the
    interface must be removed, not left behind with no lease to answer for it."""
    from leasebox.core.machine.types import ConfigRefused
    from tests.machine.machine_helpers import ack

    h = Harness()
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))  # apply #1
    h.handle(LinkDown(h.now))
    h.handle(LinkUp(h.now, MAC))
    h.deliver(ack(h.last_sent().message))  # INIT-REBOOT confirmed: apply #2
    assert h.handle(ConfigApplied(h.now)) == []  # #1 went through
    actions = h.handle(ConfigRefused(h.now, "policy"))  # #2 did not
    assert [a.lease.address for a in actions if isinstance(a, RemoveLease)] == [ADDRESS]
    assert h.state is State.INIT and h.client.lease is None
