"""INIT-REBOOT: a remembered lease, and a lease kept across a link-down."""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest

from leasebox.core.machine import Client, timing
from leasebox.core.machine.types import (
    Action,
    ApplyLease,
    ClientConfig,
    ConfigRefused,
    LeaseEvent,
    LeaseEventKind,
    LinkDown,
    LinkUp,
    PersistLease,
    ProbeAddress,
    ProbeResult,
    ReleaseRequested,
    RemoveLease,
    State,
    TimerExpired,
    Transmit,
)
from leasebox.core.record import replace
from leasebox.core.wire.types import ZERO, MessageType, Op
from tests.conftest import Logs
from tests.machine.machine_helpers import (
    ADDRESS,
    OTHER_ADDRESS,
    OTHER_MAC,
    OTHER_SERVER,
    SERVER,
    T0,
    Harness,
    ack,
    nak,
    of_type,
    offer,
    remembered,
    sent,
)


def rebooting(**kw: object) -> Harness:
    h = Harness(remembered=remembered(**kw))  # type: ignore[arg-type]
    assert h.state is State.INIT_REBOOT
    actions = h.link_up()
    assert h.state is State.REBOOTING
    [request] = sent(actions)
    assert request.destination is None
    msg = request.message
    assert msg.message_type is MessageType.REQUEST
    assert msg.requested_ip == ADDRESS
    assert msg.server_id is None and msg.ciaddr == ZERO
    assert msg.flags == 0  # RequestBroadcast=no, the default
    return h


def test_reboot_accepted() -> None:
    h = rebooting()
    h.advance(0.1)
    [apply] = h.deliver(ack(h.last_sent().message, server_id=OTHER_SERVER))
    assert isinstance(apply, ApplyLease)
    assert apply.lease.acquired_at == h.now - 0.1
    actions = h.applied()
    assert h.state is State.BOUND
    assert of_type(actions, LeaseEvent)[0].kind is LeaseEventKind.ACQUIRED
    assert of_type(actions, PersistLease) == [PersistLease(apply.lease)]


def test_reboot_naked() -> None:
    h = rebooting()
    actions = h.deliver(nak(h.last_sent().message))
    assert not of_type(actions, RemoveLease)  # never applied in this run
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    assert not of_type(actions, LeaseEvent)
    assert h.state is State.INIT and h.client.lease is None
    h.fire()
    assert h.last_sent().message.message_type is MessageType.DISCOVER


def test_a_nak_without_a_server_identifier_counts_but_in_requesting() -> None:
    """ESP-IDF's server NAKs with option 53 alone. After a flap to that network, its NAK of
    the old address must count: in REBOOTING any server may answer. In RENEWING too: the
    REQUEST went unicast to the leasing server, and a soft AP that restarted has forgotten
    the lease. Another server's NAK, with its identifier, still does not count there."""
    h = Harness()
    lease = h.acquire()
    h.handle(LinkDown(h.now))
    h.link_up()
    assert h.state is State.REBOOTING
    actions = h.deliver(nak(h.last_sent().message, server_id=None))
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    [event] = of_type(actions, LeaseEvent)
    assert event.detail == "NAK from a server without identifier"
    assert h.state is State.INIT
    h = Harness()
    lease = h.acquire()
    h.fire()
    assert h.state is State.RENEWING
    request = h.last_sent().message
    assert h.deliver(nak(request, server_id=IPv4Address("192.0.2.99"))) == []
    assert h.state is State.RENEWING
    actions = h.deliver(nak(request, server_id=None))
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    [event] = of_type(actions, LeaseEvent)
    assert event.detail == "NAK from a server without identifier"
    assert h.state is State.INIT


def test_reboot_without_answer_falls_back_to_discover() -> None:
    h = rebooting()
    times = [h.now]
    while h.state is State.REBOOTING:
        if sent(h.fire()):
            times.append(h.now)
    assert len(times) == 2
    assert 2 <= times[1] - times[0] <= 3
    assert h.state is State.INIT
    assert 2 <= h.now - times[1] <= 3
    assert h.now - times[0] <= 6  # dhcpcd's 5 s; RFC 2131's 4 s and 8 s were 10-14
    h.fire()
    discover = h.last_sent().message
    assert discover.message_type is MessageType.DISCOVER
    assert discover.requested_ip == ADDRESS


def test_unusable_acks_to_init_reboot_ask_with_discover(logs: Logs) -> None:
    """The server answers the INIT-REBOOT with an ACK without lease time. One may be anyone's
    (a forged one, the server's good one lost): the second REQUEST goes, as with no answer.
    Answered so again, the DISCOVER follows at once, the remembered lease dropped."""
    h = rebooting()
    assert h.deliver(ack(h.last_sent().message, lease_time=None)) == []
    again = [t.message for t in sent(h.fire())]
    assert [m.message_type for m in again] == [MessageType.REQUEST]
    assert h.deliver(ack(again[0], lease_time=None)) == []
    assert not sent(h.fire())
    assert h.state is State.INIT and h.timer() == h.now  # the remembered lease is dropped
    h.fire()
    assert h.last_sent().message.message_type is MessageType.DISCOVER
    assert any("an unusable ACK (no lease time" in r.message for r in logs.records)


def test_remembered_lease_expired_before_link_up() -> None:
    h = Harness(remembered=remembered(acquired_at=T0 - 4000))
    actions = h.link_up()
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    assert not of_type(actions, RemoveLease) and not of_type(actions, LeaseEvent)
    assert h.state is State.INIT


def test_remembered_lease_expires_while_link_down() -> None:
    lease = remembered()
    h = Harness(remembered=lease)
    assert h.timer() == lease.expires_at
    actions = h.fire()
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    assert h.state is State.INIT
    assert h.client.get_timer() is None  # link still down: nothing to do


def test_link_down_up_reboots_and_keeps_the_lease() -> None:
    h = Harness()
    lease = h.acquire()
    h.advance(100)
    actions = h.handle(LinkDown(h.now))
    assert actions[-1].new is State.INIT_REBOOT  # type: ignore[union-attr]
    assert not of_type(actions, RemoveLease)
    assert h.client.lease == lease
    assert h.timer() == lease.expires_at  # only expiry still counts
    h.advance(30)
    actions = h.link_up()
    assert h.state is State.REBOOTING
    [request] = sent(actions)
    assert request.message.requested_ip == ADDRESS
    actions = h.deliver(ack(request.message))
    [apply] = actions
    assert isinstance(apply, ApplyLease)  # the same address: an update, no removal
    actions = h.applied()
    assert of_type(actions, LeaseEvent)[0].kind is LeaseEventKind.RENEWED
    assert h.state is State.BOUND


def unanswered_after_a_flap(h: Harness) -> list[Action]:
    """A link flap, then no answer to the INIT-REBOOT: the actions of the last try."""
    h.handle(LinkDown(h.now))
    h.advance(10)
    h.link_up()
    actions: list[Action] = []
    while h.state is State.REBOOTING:
        actions = h.fire()
    return actions


def test_link_flap_without_answer_keeps_the_applied_lease_and_discovers() -> None:
    """No answer to the INIT-REBOOT after a flap (a server down for a moment, or another
    network whose server ignores an address it does not know, as Kea and ISC dhcpd
    without `authoritative` do): DISCOVER, asking for the address, which stays applied."""
    h = Harness()
    lease = h.acquire()
    actions = unanswered_after_a_flap(h)
    assert h.state is State.SELECTING
    assert not of_type(actions, RemoveLease) and not of_type(actions, ApplyLease)
    discover = h.last_sent().message
    assert discover.message_type is MessageType.DISCOVER
    assert discover.requested_ip == ADDRESS and h.client.lease == lease
    assert h.timer() <= lease.expires_at


def test_another_networks_offer_replaces_the_kept_lease() -> None:
    """The laptop woke on another network: its server answers the DISCOVER; the new lease
    takes the old one's place, which goes first."""
    h = Harness()
    lease = h.acquire()
    unanswered_after_a_flap(h)
    h.deliver(offer(h.last_sent().message, yiaddr=OTHER_ADDRESS, server_id=OTHER_SERVER))
    assert h.state is State.REQUESTING
    actions = h.deliver(ack(h.last_sent().message, yiaddr=OTHER_ADDRESS,
                            server_id=OTHER_SERVER))
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    [applied] = of_type(actions, ApplyLease)
    assert applied.lease.address == OTHER_ADDRESS
    actions = h.applied()
    assert h.state is State.BOUND
    assert [e.kind for e in of_type(actions, LeaseEvent)] == [LeaseEventKind.ACQUIRED]


def test_a_kept_lease_looked_for_with_discover_survives_a_restart_and_a_new_mac() -> None:
    """No answer to the INIT-REBOOT: SELECTING, the lease still kept. A restart resumes it
    as INIT-REBOOT (it is applied, and must stay known to be), and a LinkUp with another
    MAC goes on to verify it."""
    h = Harness()
    lease = h.acquire()
    h.handle(LinkDown(h.now))
    h.link_up()
    while h.state is not State.SELECTING:
        assert h.now < lease.expires_at
        h.fire()
    assert h.client.lease == lease
    back = Client.restore(h.config, random.Random(0), h.client.snapshot())
    assert back.state is State.INIT_REBOOT and back.lease is not None
    h.handle(LinkUp(h.now, OTHER_MAC))
    assert h.state is State.REBOOTING


def test_a_nak_for_the_kept_address_takes_it_off() -> None:
    """The DISCOVER asked for the kept address, a server offered it and then NAKed the
    REQUEST: the server refused it, so it goes (not kept until it expires)."""
    h = Harness()
    lease = h.acquire()
    unanswered_after_a_flap(h)
    h.deliver(offer(h.last_sent().message))
    actions = h.deliver(nak(h.last_sent().message))
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    assert h.client.lease is None and h.state is State.INIT


@pytest.mark.parametrize("flap", [True, False], ids=["discovering", "rebooting"])
def test_a_release_gives_back_the_kept_lease(flap: bool) -> None:
    """`leaseboxctl release` while the applied lease is kept (verified by INIT-REBOOT, or
    while a DISCOVER looks for another): the server granted it and it has not expired, so
    it gets its RELEASE before it comes off, as in BOUND."""
    h = Harness()
    lease = h.acquire()
    if flap:
        unanswered_after_a_flap(h)
    else:
        h.handle(LinkDown(h.now))
        h.link_up()
        assert h.state is State.REBOOTING
    actions = h.handle(ReleaseRequested(h.now))
    [release] = of_type(actions, Transmit)
    assert release.message.message_type is MessageType.RELEASE
    assert release.message.ciaddr == ADDRESS and release.destination == SERVER
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.RELEASED and "RELEASE sent" in event.detail


def test_the_kept_address_from_another_server_is_probed() -> None:
    """Another network with the same subnet: its server grants the address kept. With
    ARPProbe=yes it is probed first, someone there may have it (also when its ACK has no
    mask, and the address gets its class's prefix length, not the old network's)."""
    h = probed_and_bound()
    unanswered_after_a_flap(h)
    h.deliver(offer(h.last_sent().message, server_id=OTHER_SERVER))
    actions = h.deliver(ack(h.last_sent().message, server_id=OTHER_SERVER,
                            subnet_mask=None))
    assert of_type(actions, ProbeAddress) and h.state is State.PROBING


def test_a_late_answer_for_the_lease_in_use_does_not_end_a_probe() -> None:
    """A renewal's Apply still unanswered when the link flaps; another server grants the
    address, which is probed. netconf's late answer to the renewal must not bind the old
    lease and drop the one being probed (BOUND to the old server, the probe's result
    ignored)."""
    h = probed_and_bound()
    h.fire()  # T1
    assert h.state is State.RENEWING
    h.deliver(ack(h.last_sent().message))  # its Apply goes to netconf, unanswered
    h.advance(1)
    h.handle(LinkDown(h.now))
    h.advance(1)
    h.link_up()
    h.deliver(ack(h.last_sent().message, server_id=OTHER_SERVER, lease_time=7200))
    assert h.state is State.PROBING
    assert of_type(h.applied(), LeaseEvent) == []  # the renewal's answer, late
    assert h.state is State.PROBING
    [apply] = of_type(h.handle(ProbeResult(h.now, ADDRESS, False)), ApplyLease)
    assert apply.lease.server_id == OTHER_SERVER
    [event] = of_type(h.applied(), LeaseEvent)
    assert event.lease.server_id == OTHER_SERVER and event.lease.lease_time == 7200
    assert h.state is State.BOUND and h.client.lease == apply.lease


def probed_and_bound() -> Harness:
    h = Harness(ClientConfig(arp_probe=True))
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))
    h.handle(ProbeResult(h.now, ADDRESS, False))
    h.applied()
    assert h.state is State.BOUND
    return h


@pytest.mark.parametrize("conflict", [False, True])
def test_with_arp_probe_a_flap_probes_the_address_again(conflict: bool) -> None:
    """RFC 5227 2.1: probe at every link establishment (a cable plugged in again, a Wi-Fi
    association). The INIT-REBOOT ACK's address, the one in use, is probed before it is
    applied again; someone else answering takes it off, with a DECLINE."""
    h = probed_and_bound()
    lease = h.client.lease
    h.handle(LinkDown(h.now))
    h.link_up()
    actions = h.deliver(ack(h.last_sent().message))
    assert of_type(actions, ProbeAddress) and h.state is State.PROBING
    assert not of_type(actions, ApplyLease)
    actions = h.handle(ProbeResult(h.now, ADDRESS, conflict))
    if conflict:
        assert of_type(actions, RemoveLease) == [RemoveLease(lease)]  # type: ignore[arg-type]
        assert sent(actions)[0].message.message_type is MessageType.DECLINE
    else:
        assert of_type(actions, ApplyLease) and not of_type(actions, RemoveLease)
        h.applied()
        assert h.state is State.BOUND
        h.fire()  # T1: a renewal on the same attachment is not probed
        assert not of_type(h.deliver(ack(h.last_sent().message)), ProbeAddress)


def test_a_kept_lease_nobody_confirms_goes_a_minute_after_the_carrier_returns() -> None:
    """A laptop woken on a network where no DHCPv4 server answers (an IPv6-only SSID): the
    lease kept through the carrier loss, with its old address, default route and DNS,
    stayed until it ran out, hours later. Unconfirmed CONFIRM_TIME after the carrier's
    return it goes (LOST), and the DISCOVERs go on, asking for its address."""
    h = Harness()
    lease = h.acquire()
    h.handle(LinkDown(h.now))
    h.advance(10)
    h.link_up()
    up = h.now
    removed: list[RemoveLease] = []
    while not removed:
        assert h.now <= up + timing.CONFIRM_TIME
        actions = h.fire()
        removed = of_type(actions, RemoveLease)
        assert not of_type(actions, ApplyLease)
    assert removed == [RemoveLease(lease)] and h.now == up + timing.CONFIRM_TIME
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.LOST and "not confirmed within 60 s" in event.detail
    assert h.client.lease is None and h.state in (State.INIT, State.SELECTING)
    h.fire()
    assert h.last_sent().message.message_type is MessageType.DISCOVER
    assert h.last_sent().message.requested_ip == lease.address


def test_a_kept_lease_confirmed_in_time_stays_and_a_new_flap_waits_again() -> None:
    """The server answers a DISCOVER 50 s after the carrier's return (a spanning-tree wait,
    a server restarting): the lease is confirmed, nothing removed; and a carrier lost again
    before the minute is out starts the wait afresh at its return."""
    h = Harness()
    lease = h.acquire()
    h.handle(LinkDown(h.now))
    h.link_up()
    while h.state is not State.SELECTING:
        h.fire()
    h.advance(30)
    h.handle(LinkDown(h.now))
    h.advance(40)  # down past the first wait's minute: nothing goes meanwhile
    h.link_up()
    up = h.now
    actions: list[Action] = []
    while h.timer() < up + 50:
        actions += h.fire()
    h.advance(up + 50 - h.now)
    assert h.state is State.SELECTING
    h.deliver(offer(h.last_sent().message))
    applied = of_type(h.deliver(ack(h.last_sent().message)), ApplyLease)
    assert [a.lease.address for a in applied] == [lease.address]
    assert not of_type(actions, RemoveLease)
    h.applied()
    assert h.state is State.BOUND
    h.advance(timing.CONFIRM_TIME)
    assert not of_type(h.fire(), RemoveLease)


def test_a_link_flap_check_the_kernel_failed_is_not_kept() -> None:
    """The INIT-REBOOT check's ACK after a flap, failed by the kernel, drops the lease:
    the link may be another one (a NIC removed and added again), where netconf's rollback
    leaves nothing of ours. INIT asks for the address again at once."""
    h = Harness()
    lease = h.acquire()
    h.handle(LinkDown(h.now))
    h.advance(10)
    h.link_up()
    h.deliver(ack(h.last_sent().message))
    actions = h.handle(ConfigRefused(h.now, "[Errno 19] No such device", failed=True))
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.FAILED and not event.kept
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    assert h.state is State.INIT and h.client.lease is None
    h.fire()
    assert h.last_sent().message.requested_ip == ADDRESS


def test_a_remembered_lease_the_kernel_failed_is_not_kept() -> None:
    """A lease only remembered from disk was never applied in this run: nothing of it is
    on the link to keep. INIT asks for the address again."""
    h = rebooting()
    h.deliver(ack(h.last_sent().message))
    actions = h.handle(ConfigRefused(h.now, "no", failed=True))
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.FAILED and not event.kept
    assert h.state is State.INIT and h.client.lease is None
    h.fire()
    assert h.last_sent().message.requested_ip == ADDRESS


def test_link_flap_after_t1_unanswered_gets_the_lease_again_by_discover() -> None:
    """Past T1, no answer to the INIT-REBOOT: the DISCOVER's offer of the same address
    from the same server renews it in place, without taking it off the link."""
    h = Harness()
    lease = h.acquire()
    h.handle(LinkDown(h.now))
    h.now = lease.t1_at + 10
    h.link_up()
    while h.state is State.REBOOTING:
        h.fire()
    assert h.state is State.SELECTING and h.last_sent().destination is None
    h.deliver(offer(h.last_sent().message))
    actions = h.deliver(ack(h.last_sent().message))
    assert not of_type(actions, RemoveLease)
    [applied] = of_type(actions, ApplyLease)
    assert applied.lease.address == ADDRESS and applied.lease.acquired_at > lease.acquired_at
    h.applied()
    assert h.state is State.BOUND and h.timer() == applied.lease.t1_at
    assert applied.lease.expires_at > lease.expires_at


def test_lease_expires_while_link_down() -> None:
    h = Harness()
    lease = h.acquire()
    h.handle(LinkDown(h.now))
    actions = h.fire()
    assert h.now == lease.expires_at
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    assert of_type(actions, LeaseEvent)[0].kind is LeaseEventKind.LOST
    assert h.state is State.INIT
    assert h.client.get_timer() is None
    h.link_up()
    h.fire()
    assert h.state is State.SELECTING


def test_link_down_during_exchange_stops_retransmitting() -> None:
    h = Harness()
    h.link_up()
    h.fire()
    h.handle(LinkDown(h.now))
    assert h.state is State.INIT
    assert h.client.get_timer() is None
    assert h.handle(TimerExpired(h.now + 100)) == []


def test_mac_change_while_up_starts_over() -> None:
    h = Harness()
    h.acquire()
    actions = h.handle(LinkUp(h.now, OTHER_MAC))
    assert h.state is State.REBOOTING
    assert sent(actions)[0].message.chaddr == OTHER_MAC


def test_duplicate_link_up_ignored() -> None:
    h = Harness()
    h.acquire()
    assert h.link_up() == []
    assert h.state is State.BOUND


def test_reboot_ack_for_another_address_with_probe() -> None:
    h = Harness(ClientConfig(arp_probe=True), remembered=remembered())
    h.link_up()
    actions = h.deliver(ack(h.last_sent().message, yiaddr=OTHER_ADDRESS))
    assert actions[0] == ProbeAddress(OTHER_ADDRESS)
    assert h.state is State.PROBING


def test_reboot_ipv6_only_preferred() -> None:
    h = Harness(ClientConfig(ipv6_only_preferred=True),
                remembered=remembered())
    h.link_up()
    actions = h.deliver(ack(h.last_sent().message, ipv6_only_preferred=600))
    assert not of_type(actions, ApplyLease)
    assert of_type(actions, PersistLease) == [PersistLease(None)]
    assert h.state is State.INIT
    assert h.timer() - h.now == pytest.approx(600, abs=0.1)


def test_invalid_remembered_lease_is_a_usage_error() -> None:
    from leasebox.core.machine import UsageError

    lease = remembered()
    with pytest.raises(UsageError):
        Harness(remembered=replace(lease, prefixlen=0))


def test_only_requests_go_out() -> None:
    h = rebooting()
    assert all(isinstance(a, Transmit) and a.message.op is Op.BOOTREQUEST
               for a in sent(h.history))


def _verified(h: Harness, link_up: bool = True) -> list[LeaseEventKind]:
    """(LinkUp,) INIT-REBOOT's REQUEST and its ACK (probed, as a new attachment, when
    probing is on), netconf's answer: the lease events of that bind."""
    if link_up:
        h.link_up()
    h.fire()
    assert h.state is State.REBOOTING
    h.deliver(ack(h.last_sent().message))
    if h.state is State.PROBING:
        h.handle(ProbeResult(h.now, ADDRESS, False))
    actions = h.applied()
    assert h.state is State.BOUND
    return [e.kind for e in of_type(actions, LeaseEvent)]


@pytest.mark.parametrize("up_before_the_answer", [False, True])
def test_a_bind_the_link_interrupted_is_reported_when_the_lease_is_verified(
        up_before_the_answer: bool) -> None:
    """The link goes down between a first ACK and netconf's answer: the lease is on the
    interface, but no ACQUIRED was said (nor the lease file written). Verified at the next
    LinkUp, it is ACQUIRED then, not RENEWED: the hooks, the journal and the lease file
    have not seen it bound yet."""
    h = Harness(remembered=None)
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    [apply] = h.deliver(ack(h.last_sent().message))
    assert isinstance(apply, ApplyLease)
    h.advance(0.01)
    h.handle(LinkDown(h.now))
    assert h.state is State.INIT_REBOOT
    if up_before_the_answer:
        h.advance(0.01)
        h.link_up()
    h.advance(0.01)
    answered = h.applied()  # netconf put it on all the same
    assert not of_type(answered, LeaseEvent) and not of_type(answered, PersistLease)
    h.advance(2)
    assert _verified(h, link_up=not up_before_the_answer) == [LeaseEventKind.ACQUIRED]
    assert of_type(h.history, PersistLease)[-1] == PersistLease(h.client.lease)


def test_a_remembered_lease_whose_bind_the_link_interrupted_is_acquired_at_last() -> None:
    """The same at boot: the remembered lease, verified, is being applied when the link
    goes down. The lease file holds it from the boot before, but this boot's hooks have
    not seen it bound."""
    h = rebooting()
    h.deliver(ack(h.last_sent().message))
    h.handle(LinkDown(h.now))
    assert not of_type(h.applied(), LeaseEvent)
    h.advance(2)
    assert _verified(h) == [LeaseEventKind.ACQUIRED]


def test_a_verified_lease_that_was_reported_bound_is_renewed() -> None:
    """The same verification after an ordinary bind: RENEWED, as before."""
    h = Harness(remembered=None)
    h.acquire()
    h.advance(60)
    h.handle(LinkDown(h.now))
    h.advance(2)
    assert _verified(h) == [LeaseEventKind.RENEWED]


def test_a_probe_cut_short_leaves_the_lease_in_use_announced() -> None:
    """INIT-REBOOT unanswered, the lease in use kept while a DISCOVER looks: the ACK for the
    same address is probed (a new attachment), and the link goes down during the probe.
    The lease on the interface was reported bound long before: its verification is
    RENEWED, not a second ACQUIRED (the hooks would get "bound" again)."""
    h = Harness(ClientConfig(arp_probe=True), remembered=None)
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))
    h.handle(ProbeResult(h.now, ADDRESS, False))
    assert [e.kind for e in of_type(h.applied(), LeaseEvent)] == [LeaseEventKind.ACQUIRED]
    h.advance(10)
    h.handle(LinkDown(h.now))
    h.advance(1)
    h.link_up()
    h.fire()
    while h.state is State.REBOOTING:  # unanswered
        h.fire()
    assert h.state in (State.INIT, State.SELECTING) and h.client.lease is not None
    if h.state is State.INIT:
        h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))
    assert h.state is State.PROBING
    h.handle(LinkDown(h.now))
    h.advance(1)
    assert _verified(h) == [LeaseEventKind.RENEWED]
