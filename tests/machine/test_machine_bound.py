"""Keeping a lease: T1 renew (unicast), T2 rebind (broadcast), expiry, NAK, conflicts."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from leasebox.core.log import WARNING
from leasebox.core.machine.types import (
    AddressConflict,
    ApplyLease,
    ClientConfig,
    ConfigApplied,
    ConfigRefused,
    GuardAddress,
    Lease,
    LeaseEvent,
    LeaseEventKind,
    LinkDown,
    PersistLease,
    ProbeResult,
    RemoveLease,
    RenewRequested,
    State,
    StateChanged,
    TimerExpired,
)
from leasebox.core.wire.types import ZERO, MessageType
from tests.conftest import Logs
from tests.machine.machine_helpers import (
    ADDRESS,
    OTHER_ADDRESS,
    OTHER_SERVER,
    SERVER,
    Harness,
    ack,
    gaps,
    nak,
    of_type,
    offer,
    sent,
)


def bound(**ack_fields: object) -> Harness:
    h = Harness()
    h.acquire(**ack_fields)
    return h


def test_renewed_at_t1_unicast_to_server() -> None:
    h = bound()
    lease = h.client.lease
    assert lease is not None
    actions = h.fire()
    assert h.now == lease.t1_at
    [renew] = sent(actions)
    assert renew.destination == SERVER
    msg = renew.message
    assert msg.message_type is MessageType.REQUEST
    assert msg.ciaddr == ADDRESS
    assert msg.requested_ip is None and msg.server_id is None
    assert msg.flags == 0
    assert h.state is State.RENEWING
    renewed_at = h.now
    h.advance(0.2)
    [apply] = h.deliver(ack(msg))
    assert isinstance(apply, ApplyLease)
    assert apply.lease.acquired_at == renewed_at
    assert h.state is State.RENEWING
    actions = h.applied()
    assert of_type(actions, PersistLease) == [PersistLease(apply.lease)]
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.RENEWED
    assert not of_type(actions, RemoveLease)
    assert h.state is State.BOUND
    assert 1800 - 1800 / 16 <= apply.lease.renewal_time <= 1800
    assert h.timer() == pytest.approx(renewed_at + apply.lease.renewal_time)


@pytest.mark.parametrize(("ack_fields", "t1", "t2"), [
    ({}, 1800, 3150),  # the defaults of an hour's lease
    ({"renewal_time": 1000, "rebinding_time": 1001}, 1000, 1001),  # T2 kept after T1
    ({"lease_time": 86400 * 7}, 302400, 529200),  # a week's: 10 minutes at most
    ({"lease_time": 60}, 30, 52),  # the shortest lease by default: seconds
])
def test_t1_and_t2_are_fuzzed_earlier(ack_fields: dict[str, int], t1: int, t2: int) -> None:
    """RFC 2131 4.4.5: hosts leased together do not renew together. Each of T1 and T2
    comes earlier by a random part of 1/16 of it, at most 10 minutes, never later, and
    the client's timer follows what it drew."""
    drawn = set()
    for seed in range(40):
        h = Harness(seed=seed)
        lease = h.acquire(**ack_fields)
        assert t1 - min(t1 / 16, 600) <= lease.renewal_time <= t1
        assert t2 - min(t2 / 16, 600) <= lease.rebinding_time <= t2
        assert 0 < lease.renewal_time < lease.rebinding_time < lease.lease_time
        assert h.timer() == lease.t1_at
        drawn.add((lease.renewal_time, lease.rebinding_time))
    assert len(drawn) > 2  # spread


def test_an_infinite_lease_has_no_times_to_fuzz() -> None:
    lease = bound(lease_time=0xFFFFFFFF).client.lease
    assert lease is not None and lease.renewal_time == lease.rebinding_time == 0xFFFFFFFF


def test_a_renewal_ack_without_a_mask_keeps_the_prefix_length() -> None:
    """Some routers send the subnet mask in the first ACK only: a renewal of the address in
    use without one keeps its prefix length, where it was refused and the lease ran out.
    An ACK without a mask for another address gets its class's, not the held one."""
    h = bound(subnet_mask=IPv4Address("255.255.255.128"))
    h.fire()
    [apply] = h.deliver(ack(h.last_sent().message, subnet_mask=None))
    assert isinstance(apply, ApplyLease) and apply.lease.prefixlen == 25
    h.applied()
    assert h.state is State.BOUND
    h.fire()
    moved = of_type(h.deliver(ack(h.last_sent().message, subnet_mask=None,
                                  yiaddr=OTHER_ADDRESS)), ApplyLease)
    assert [a.lease.prefixlen for a in moved] == [24]


def test_a_suspend_past_t2_warns_of_no_renewal_that_was_never_sent(logs: Logs) -> None:
    """Asleep through T1 and T2, the client sent no REQUEST: the warning does not blame the
    server for not answering one."""
    h = bound(lease_time=7200)
    lease = h.client.lease
    assert lease is not None
    h.now = lease.t2_at + 60
    h.fire()
    assert h.state is State.REBINDING
    (warning,) = logs.at_least(WARNING)
    assert warning.text() == (f"{ADDRESS} is past its rebinding time (T2), not renewed: "
                              f"asking any server until it expires in "
                              f"{int(lease.expires_at - h.now)} s")


def test_renew_retransmits_at_half_the_time_to_t2() -> None:
    h = bound(lease_time=36000)  # T1 18000, T2 31500
    lease = h.client.lease
    assert lease is not None
    h.fire()
    times = [h.now]
    while h.state is State.RENEWING:
        if sent(h.fire()) and h.state is State.RENEWING:
            times.append(h.now)
    for before, gap in zip(times, gaps(times), strict=False):
        assert gap == pytest.approx(max(60, (lease.t2_at - before) / 2))
    assert len(times) > 5
    assert h.state is State.REBINDING
    assert h.now == lease.t2_at


def test_operator_renew_retries_at_once_while_renewing_and_rebinding() -> None:
    h = bound()
    lease = h.client.lease
    assert lease is not None
    h.fire()  # T1: RENEWING
    first = h.last_sent()
    h.advance(5)
    [again] = sent(h.handle(RenewRequested(h.now)))
    assert again.destination == SERVER and again.message.xid == first.message.xid
    assert h.state is State.RENEWING
    assert h.timer() == pytest.approx(h.now + max(60, (lease.t2_at - h.now) / 2))
    while h.state is State.RENEWING:
        h.fire()
    assert h.state is State.REBINDING
    h.advance(5)
    [rebind] = sent(h.handle(RenewRequested(h.now)))
    assert rebind.destination is None  # broadcast: any server may answer
    assert rebind.message.message_type is MessageType.REQUEST
    h.deliver(ack(rebind.message))
    h.applied()
    assert h.state is State.BOUND


def test_operator_renew_while_the_renewal_is_being_applied_is_ignored() -> None:
    # Found by test_machine_fuzz: the ACK has ended the exchange and netconf has not yet
    # confirmed it; there is no REQUEST to send again.
    h = bound()
    h.fire()
    h.deliver(ack(h.last_sent().message))
    assert h.state is State.RENEWING
    assert h.handle(RenewRequested(h.now)) == []
    h.applied()
    assert h.state is State.BOUND


def test_rebinding_at_t2_broadcast_then_rebound() -> None:
    h = bound()
    lease = h.client.lease
    assert lease is not None
    h.fire()  # T1
    while h.state is State.RENEWING:
        h.fire()
    assert h.now == lease.t2_at
    rebind = h.last_sent()
    assert rebind.destination is None
    assert rebind.message.ciaddr == ADDRESS and rebind.message.server_id is None
    # In REBINDING any server may answer.
    h.advance(1)
    actions = h.deliver(ack(rebind.message, server_id=OTHER_SERVER))
    assert of_type(actions, ApplyLease)
    actions = h.applied()
    assert of_type(actions, LeaseEvent)[0].kind is LeaseEventKind.REBOUND
    assert h.state is State.BOUND
    assert h.client.lease is not None and h.client.lease.server_id == OTHER_SERVER


def test_rebinding_retransmits_at_half_the_remaining_lease() -> None:
    h = bound(lease_time=36000)
    lease = h.client.lease
    assert lease is not None
    while h.state is not State.REBINDING:
        h.fire()
    times = [h.now]
    while h.state is State.REBINDING:
        if sent(h.fire()):
            times.append(h.now)
    for before, gap in zip(times, gaps(times), strict=False):
        assert gap == pytest.approx(max(60, (lease.expires_at - before) / 2))


def test_a_late_rebinding_ack_runs_from_the_latest_request() -> None:
    """A server silent from T1 for hours answers a REBINDING REQUEST at last, with a
    shorter lease: it runs from that REQUEST, not from the first of the exchange (nor
    from T1's), which would make it over on arrival."""
    h = bound(lease_time=86400)
    while h.state is not State.REBINDING:
        h.fire()
    while h.timer() - h.now > 120:  # the REQUESTs of REBINDING, hours apart at first
        h.fire()
    last = h.last_sent()
    h.advance(0.2)
    h.deliver(ack(last.message, lease_time=3600))
    h.applied()
    assert h.state is State.BOUND
    lease = h.client.lease
    assert lease is not None
    assert lease.acquired_at == h.now - 0.2 and lease.expires_at == h.now - 0.2 + 3600


def test_ack_from_another_server_ignored_in_renewing() -> None:
    h = bound()
    h.fire()
    request = h.last_sent().message
    assert h.deliver(ack(request, server_id=OTHER_SERVER)) == []
    assert h.deliver(nak(request, server_id=OTHER_SERVER)) == []
    assert h.state is State.RENEWING


def test_expiry_removes_configuration_and_restarts() -> None:
    h = bound()
    lease = h.client.lease
    assert lease is not None
    while h.state in (State.BOUND, State.RENEWING, State.REBINDING):
        actions = h.fire()
    assert h.now == lease.expires_at
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.LOST and event.detail == "expired"
    assert actions[-1] == StateChanged(State.REBINDING, State.INIT, pytest.approx(  # type: ignore[arg-type]
        h.timer() - h.now))
    assert h.state is State.INIT and h.client.lease is None
    h.fire()
    discover = h.last_sent().message
    assert discover.message_type is MessageType.DISCOVER
    assert discover.requested_ip == ADDRESS  # asks for the old address again


@pytest.mark.parametrize("rebinding", [False, True])
def test_nak_while_renewing(rebinding: bool) -> None:
    h = bound()
    lease = h.client.lease
    h.fire()
    if rebinding:
        while h.state is State.RENEWING:
            h.fire()
    actions = h.deliver(nak(h.last_sent().message, error_message="lease expired"))
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]  # type: ignore[arg-type]
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.LOST
    assert event.detail == f"NAK from {SERVER}: lease expired"
    assert h.state is State.INIT
    assert h.timer() - h.now < 0.1  # first NAK: no backoff


def test_renew_requested() -> None:
    h = bound()
    actions = h.handle(RenewRequested(h.now))
    assert sent(actions)[0].destination == SERVER
    assert h.state is State.RENEWING
    # already renewing: the REQUEST goes again at once (the control socket rate-limits)
    assert sent(h.handle(RenewRequested(h.now)))[0].destination == SERVER
    assert h.state is State.RENEWING


def test_server_moves_us_on_renew() -> None:
    h = bound()
    old = h.client.lease
    h.fire()
    actions = h.deliver(ack(h.last_sent().message, yiaddr=OTHER_ADDRESS))
    assert [type(a) for a in actions] == [RemoveLease, ApplyLease]
    assert actions[0] == RemoveLease(old)  # type: ignore[arg-type]
    actions = h.applied()
    assert of_type(actions, LeaseEvent)[0].kind is LeaseEventKind.ACQUIRED


def guarded() -> tuple[Harness, Lease]:
    """BOUND with ARPProbe=yes: probed, applied, announced and watched."""
    h = Harness(ClientConfig(arp_probe=True))
    h.link_up()
    h.fire()
    h.advance(0.2)
    h.deliver(offer(h.last_sent().message))
    h.advance(0.1)
    h.deliver(ack(h.last_sent().message))
    h.advance(0.7)
    h.handle(ProbeResult(h.now, ADDRESS, False))
    actions = h.applied()
    assert h.state is State.BOUND
    assert of_type(actions, GuardAddress) == [GuardAddress(ADDRESS, 2)]
    lease = h.client.lease
    assert lease is not None
    return h, lease


def test_conflict_is_defended_once_then_declined() -> None:
    # RFC 5227 2.4 (b): one announcement to defend; a second conflict within
    # DEFEND_INTERVAL gives the address up.
    h, lease = guarded()
    assert h.handle(AddressConflict(h.now, OTHER_ADDRESS)) == []  # not ours
    h.advance(60)
    assert h.handle(AddressConflict(h.now, ADDRESS)) == [GuardAddress(ADDRESS, 1)]
    assert h.state is State.BOUND
    h.advance(9.9)
    actions = h.handle(AddressConflict(h.now, ADDRESS))
    [decline] = sent(actions)
    msg = decline.message
    assert decline.destination is None
    assert msg.message_type is MessageType.DECLINE
    assert msg.requested_ip == ADDRESS and msg.server_id == SERVER and msg.ciaddr == ZERO
    assert msg.xid != sent(h.history)[0].message.xid
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    assert of_type(actions, LeaseEvent)[0].kind is LeaseEventKind.DECLINED
    assert of_type(actions, GuardAddress) == [GuardAddress(None, 0)]  # watch no more
    assert h.state is State.INIT
    wait = h.timer() - h.now
    assert 10 <= wait < 10.1
    h.advance(9)
    h.handle(TimerExpired(h.now))
    assert h.state is State.INIT  # not before the 10 s
    h.fire()
    assert h.state is State.SELECTING
    assert h.handle(AddressConflict(h.now, ADDRESS)) == []  # no longer ours


def test_conflicts_far_apart_are_each_defended() -> None:
    h, _ = guarded()
    for _ in range(3):
        assert h.handle(AddressConflict(h.now, ADDRESS)) == [GuardAddress(ADDRESS, 1)]
        h.advance(10)
    assert h.state is State.BOUND


def test_renewal_keeps_the_watch_and_link_loss_ends_it() -> None:
    h, _ = guarded()
    h.fire()
    h.deliver(ack(h.last_sent().message))
    actions = h.applied()
    assert h.state is State.BOUND
    assert not of_type(actions, GuardAddress)  # the same address: nothing new to say
    assert of_type(h.handle(LinkDown(h.now)), GuardAddress) == [GuardAddress(None, 0)]


def test_without_arp_probe_nothing_is_watched() -> None:
    h = bound()
    assert not of_type(h.history, GuardAddress)
    assert h.handle(AddressConflict(h.now, ADDRESS)) == []
    assert h.state is State.BOUND


def test_refused_renewal_drops_the_lease() -> None:
    h = bound()
    lease = h.client.lease
    h.fire()
    h.deliver(ack(h.last_sent().message, routers=(OTHER_SERVER,)))
    actions = h.handle(ConfigRefused(h.now, "router outside policy"))
    # The earlier version of the lease is still on the interface: it goes.
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]  # type: ignore[arg-type]
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    assert of_type(actions, LeaseEvent)[0].kind is LeaseEventKind.REFUSED
    assert h.state is State.INIT


def test_the_lease_in_use_refused_when_sent_again_goes() -> None:
    """netconf's policy changed (AllowedAddresses= edited, the engine restarted) and it
    refuses the lease in use, which the engine sent it again: the lease goes now, as a
    refused one does, not at the server's next ACK. A kernel failure of that reapply
    takes nothing away, and an answer while an apply of the machine's own is under way is
    that apply's to give."""
    h = bound()
    lease = h.client.lease
    assert h.handle(ConfigRefused(h.now, "no room", failed=True, in_use=True)) == []
    assert h.state is State.BOUND
    actions = h.handle(ConfigRefused(h.now, "address outside AllowedAddresses=",
                                     in_use=True))
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]  # type: ignore[arg-type]
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    [event] = of_type(actions, LeaseEvent)
    assert (event.kind, event.detail) == (LeaseEventKind.REFUSED,
                                          "address outside AllowedAddresses=")
    assert h.state is State.INIT and h.client.lease is None
    h, _ = _renewal_acked()
    assert h.handle(ConfigRefused(h.now, "too late", in_use=True)) == []
    assert h.state is State.RENEWING


def _renewal_acked() -> tuple[Harness, Lease]:
    """Bound, then RENEWING at T1, and the server's ACK in: netconf is applying it."""
    h = bound()
    lease = h.client.lease
    assert lease is not None
    h.fire()
    assert h.state is State.RENEWING
    h.deliver(ack(h.last_sent().message))
    return h, lease


def test_a_renewal_the_kernel_failed_keeps_the_lease_in_use() -> None:
    """netconf could not apply a renewal of the same address (FAILED: it rolled its change
    back, the lease it had applied stays): the address is not taken away, nor the lease
    file; the REQUEST goes again as if the ACK had been lost, and binds when it applies."""
    h, lease = _renewal_acked()
    actions = h.handle(ConfigRefused(h.now, "[Errno 105] No buffer space available",
                                     failed=True))
    assert not of_type(actions, RemoveLease) and not of_type(actions, PersistLease)
    assert [(e.kind, e.kept) for e in of_type(actions, LeaseEvent)] == [
        (LeaseEventKind.FAILED, True)]
    assert h.state is State.RENEWING and h.client.lease == lease
    assert h.timer() - h.now == pytest.approx(max(60, (lease.t2_at - h.now) / 2))
    assert h.handle(RenewRequested(h.now))  # an operator's renew goes at once
    request = h.last_sent().message
    assert request.message_type is MessageType.REQUEST and request.ciaddr == ADDRESS
    h.deliver(ack(request))
    actions = h.handle(ConfigApplied(h.now))
    assert [e.kind for e in of_type(actions, LeaseEvent)] == [LeaseEventKind.RENEWED]
    assert h.state is State.BOUND


def test_a_renewal_failed_after_the_carrier_went_keeps_the_lease_to_verify() -> None:
    """The carrier went while netconf applied a renewal, and its failure (the kernel's,
    for that very reason) is read after the LinkDown: the lease in use is kept, with its
    file, for INIT-REBOOT when the carrier is back, as if the failure had come first."""
    h, lease = _renewal_acked()
    h.advance(0.01)
    h.handle(LinkDown(h.now))
    actions = h.handle(ConfigRefused(h.now, "[Errno 19] No such device", failed=True))
    assert not of_type(actions, RemoveLease) and not of_type(actions, PersistLease)
    assert [(e.kind, e.kept) for e in of_type(actions, LeaseEvent)] == [
        (LeaseEventKind.FAILED, True)]
    assert h.state is State.INIT_REBOOT and h.client.lease == lease
    h.advance(5)
    h.link_up()
    request = h.last_sent().message
    assert request.message_type is MessageType.REQUEST and request.requested_ip == ADDRESS
    assert request.server_id is None  # INIT-REBOOT
    assert h.timer() is not None and h.timer() <= lease.expires_at


def test_a_renewal_to_another_prefix_length_the_kernel_failed_is_not_kept() -> None:
    """To netconf another prefix length is another address: it removed the old one before
    it failed the new one, so the lease in use is gone and cannot be kept."""
    h = bound()
    lease = h.client.lease
    h.fire()
    h.deliver(ack(h.last_sent().message, subnet_mask=IPv4Address("255.255.255.128")))
    actions = h.handle(ConfigRefused(h.now, "no", failed=True))
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]  # type: ignore[arg-type]
    assert [e.kept for e in of_type(actions, LeaseEvent)] == [False]
    assert h.state is State.INIT


def test_a_renewal_the_kernel_failed_still_expires_in_time() -> None:
    h = bound()
    lease = h.client.lease
    assert lease is not None
    for _ in range(40):
        if h.state is State.INIT:
            break
        h.fire()
        if h.state in (State.RENEWING, State.REBINDING) and h.now < lease.expires_at:
            h.deliver(ack(h.last_sent().message))
            actions = h.handle(ConfigRefused(h.now, "no", failed=True))
            assert h.client.lease == lease
            assert [e.kept for e in of_type(actions, LeaseEvent)] == [True]
    assert h.state is State.INIT and h.now == pytest.approx(lease.expires_at)
    assert h.client.lease is None


def test_an_infinite_lease_whose_renewal_the_kernel_failed_stays_bound() -> None:
    h = bound(lease_time=0xFFFFFFFF)
    lease = h.client.lease
    h.handle(RenewRequested(h.now))
    h.deliver(ack(h.last_sent().message, lease_time=0xFFFFFFFF))
    actions = h.handle(ConfigRefused(h.now, "no", failed=True))
    assert not of_type(actions, RemoveLease)
    assert [e.kept for e in of_type(actions, LeaseEvent)] == [True]
    assert h.state is State.BOUND and h.client.lease == lease
    assert h.client.get_timer() is None


def test_infinite_lease_has_no_timers() -> None:
    h = bound(lease_time=0xFFFFFFFF)
    lease = h.client.lease
    assert lease is not None and lease.lease_time == 0xFFFFFFFF
    assert h.client.get_timer() is None
    assert h.client.snapshot()


def test_renewing_an_infinite_lease_on_request() -> None:
    h = bound(lease_time=0xFFFFFFFF)
    h.handle(RenewRequested(h.now))
    assert h.state is State.RENEWING
    times = [h.now]
    while h.state is State.RENEWING:
        if sent(h.fire()):
            times.append(h.now)
    assert len(times) == 4 and all(g < 40 for g in gaps(times))
    assert h.state is State.BOUND and h.client.get_timer() is None


def test_tiny_lease_is_clamped_and_renewed_without_spinning() -> None:
    h = Harness(ClientConfig(min_lease_time=0))
    lease = h.acquire(lease_time=1, renewal_time=0, rebinding_time=0)
    assert (lease.lease_time, lease.renewal_time, lease.rebinding_time) == (10, 5, 8)
    h.fire()
    assert h.state is State.RENEWING
    assert h.timer() == lease.t2_at


def test_ack_then_nak_every_time_backs_off() -> None:
    """Security hardening ("also"): a server that ACKs and then NAKs every renewal used to
    reset the failure count at each bind, so the address flapped every T1 at full speed."""
    h = bound()
    waits = []
    for _ in range(4):
        h.fire()  # T1: RENEWING
        h.deliver(nak(h.last_sent().message))
        assert h.state is State.INIT
        waits.append(h.timer() - h.now)
        h.fire()  # INIT -> SELECTING, DISCOVER
        h.advance(0.2)
        h.deliver(offer(h.last_sent().message))
        h.advance(0.1)
        h.deliver(ack(h.last_sent().message))
        h.applied()
        assert h.state is State.BOUND
    assert waits[0] < 0.1 and waits[1] < waits[2] < waits[3]


# ---- suspend: the engine's clock (CLOCK_BOOTTIME) jumps across a deadline ------------------

@pytest.mark.parametrize(("crossed", "state", "message"), [
    ("t1", State.RENEWING, "unicast to the server"),
    ("t2", State.REBINDING, "broadcast"),
])
def test_a_resume_past_t1_or_t2_acts_at_once(crossed: str, state: State, message: str) -> None:
    # The next TimerExpired after the resume (the alarm fires at once) lands in the state
    # the lease is in now, and sends what that state sends, in one step.
    h = Harness()
    lease = h.acquire()
    deadline = lease.t1_at if crossed == "t1" else lease.t2_at
    h.now = deadline + 5.0 if crossed == "t1" else (lease.t2_at + lease.expires_at) / 2
    actions = h.handle(TimerExpired(h.now))
    assert h.state is state
    [tx] = sent(actions)
    assert tx.message.message_type is MessageType.REQUEST
    assert tx.message.ciaddr == ADDRESS
    assert (tx.destination == SERVER) == (message == "unicast to the server")
    assert h.client.lease == lease  # kept: only expiry removes it
    assert not of_type(actions, RemoveLease)


@pytest.mark.parametrize("from_state", [State.BOUND, State.RENEWING, State.REBINDING])
def test_a_resume_past_expiry_removes_the_address_at_once(from_state: State) -> None:
    h = Harness()
    lease = h.acquire()
    if from_state is not State.BOUND:
        h.now = lease.t1_at if from_state is State.RENEWING else lease.t2_at
        h.handle(TimerExpired(h.now))
        assert h.state is from_state
    h.now = lease.expires_at + 8 * 3600.0  # a night in suspend
    actions = h.handle(TimerExpired(h.now))
    assert of_type(actions, RemoveLease)
    assert h.client.lease is None
    assert h.state in (State.INIT, State.SELECTING)
    [event] = [e for e in of_type(actions, LeaseEvent) if e.kind is LeaseEventKind.LOST]
    assert event.lease.address == lease.address and event.detail == "expired"


def test_a_failed_renewal_of_an_infinite_lease_kept_in_rebinding() -> None:
    """An operator renews an infinite lease and gets a finite one; before netconf answers,
    that lease's T2 takes the client to REBINDING; then the kernel fails it: the infinite
    lease in use is kept, BOUND (found by the fuzz test's long profile)."""
    h = bound(lease_time=0xFFFFFFFF)
    h.handle(RenewRequested(h.now))
    h.deliver(ack(h.last_sent().message, lease_time=60))
    while h.state is not State.REBINDING:
        h.fire()
    actions = h.handle(ConfigRefused(h.now, "EINVAL", failed=True))
    assert h.state is State.BOUND and not of_type(actions, RemoveLease)
    assert h.client.lease is not None and h.client.lease.lease_time == 0xFFFFFFFF


def test_rebinding_is_the_first_warning_that_the_lease_may_go(logs: Logs) -> None:
    """Renewing is silent in the journal's warnings; from T2 on the server has not
    answered for long, and the administrator hears of it before the address goes."""
    h = bound(lease_time=7200)
    while h.state is not State.REBINDING:
        assert not logs.at_least(WARNING)
        h.fire()
    (warning,) = logs.at_least(WARNING)
    assert warning.text().startswith(f"no answer from {SERVER} to renewing ")
    lease = h.client.lease
    assert lease is not None  # T2 is 7/8 of 2 h, up to 1/16 of it earlier: 15-21 min left
    left = lease.lease_time - lease.rebinding_time
    assert 900 <= left <= 900 + 6300 / 16
    assert f"until it expires in {left} s" in warning.text()
