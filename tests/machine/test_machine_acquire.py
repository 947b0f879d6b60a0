"""Getting a lease: INIT -> SELECTING -> REQUESTING (-> PROBING) -> BOUND."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from leasebox.core.log import WARNING
from leasebox.core.machine import timing
from leasebox.core.machine.types import (
    ApplyLease,
    ClientConfig,
    ConfigApplied,
    ConfigRefused,
    GuardAddress,
    LeaseEvent,
    LeaseEventKind,
    LinkDown,
    LinkUp,
    MessageReceived,
    PersistLease,
    ProbeAddress,
    ProbeResult,
    RemoveLease,
    RenewRequested,
    State,
    StateChanged,
    TimerExpired,
)
from leasebox.core.record import replace
from leasebox.core.values import ProbeTiming
from leasebox.core.wire.types import Message, MessageType, Op
from tests.conftest import Logs
from tests.machine.machine_helpers import (
    ADDRESS,
    MAC,
    OTHER_ADDRESS,
    OTHER_MAC,
    OTHER_SERVER,
    SERVER,
    T0,
    Harness,
    ack,
    gaps,
    nak,
    of_type,
    offer,
    sent,
)


def test_nothing_happens_before_link_up() -> None:
    h = Harness()
    assert h.state is State.INIT
    assert h.client.get_timer() is None
    assert h.handle(TimerExpired(T0 + 100)) == []
    assert h.client.lease is None


def test_lease_obtained() -> None:
    h = Harness()
    assert h.link_up() == []  # only the initial delay starts
    delay = h.timer() - h.now
    assert 0 <= delay < 0.1
    actions = h.fire()
    [discover] = sent(actions)
    assert discover.destination is None
    assert discover.message.message_type is MessageType.DISCOVER
    timeout = pytest.approx(h.timer() - h.now)
    assert actions[-1] == StateChanged(State.INIT, State.SELECTING, timeout)  # type: ignore[arg-type]
    h.advance(0.5)
    actions = h.deliver(offer(discover.message))
    [request] = sent(actions)
    assert request.message.message_type is MessageType.REQUEST
    assert request.message.xid == discover.message.xid  # RFC 2131 4.4.1
    assert request.message.requested_ip == ADDRESS
    assert request.message.server_id == SERVER
    assert h.state is State.REQUESTING
    requested_at = h.now
    h.advance(0.3)
    actions = h.deliver(ack(request.message))
    [apply] = actions
    assert isinstance(apply, ApplyLease)
    assert apply.lease.address == ADDRESS and apply.lease.prefixlen == 24
    assert apply.lease.acquired_at == requested_at  # counted from the REQUEST
    assert h.state is State.REQUESTING  # not BOUND until netconf says it is applied
    h.advance(0.01)
    actions = h.applied()
    assert [type(a) for a in actions] == [PersistLease, LeaseEvent, StateChanged]
    assert actions[0] == PersistLease(apply.lease)
    assert actions[1] == LeaseEvent(LeaseEventKind.ACQUIRED, apply.lease, "")
    assert h.state is State.BOUND
    assert h.client.lease == apply.lease
    # T1 is the server's 1800 s, up to 1/16 of it earlier (timing.fuzzed_times)
    assert 1800 - 1800 / 16 <= apply.lease.renewal_time <= 1800
    assert h.timer() == pytest.approx(requested_at + apply.lease.renewal_time)


def test_retransmission_schedule_within_jitter() -> None:
    """RFC 2131 4.1: 4, 8, 16... seconds, each randomized by -1..+1 s, so that clients
    started together (a power cut) do not retransmit in step."""
    firsts = []
    for seed in range(20):
        h = Harness(seed=seed)
        h.link_up()
        h.fire()
        times = [h.now]
        while h.state is State.SELECTING:
            actions = h.fire()
            if sent(actions):
                times.append(h.now)
        assert len(times) == 6  # DISCOVER_ATTEMPTS
        for gap, base in zip(gaps(times), (4, 8, 16, 32, 64), strict=True):
            assert base - 1 <= gap <= base + 1
        firsts.append(gaps(times)[0])
        assert h.state is State.INIT  # gave up: start again with a new xid
        h.fire()
        assert h.state is State.SELECTING
        assert h.last_sent().message.xid != sent(h.history)[0].message.xid
    # randomized: the seeds' first gaps differ, and spread over most of the 2 s
    assert len({round(g, 3) for g in firsts}) > 10 and max(firsts) - min(firsts) > 1.0


def test_a_renew_while_discovers_go_unanswered_sends_one_now() -> None:
    """`leaseboxctl renew` after a server outage: the next DISCOVER goes at once, not at the
    next retransmission (up to 64 s away), and the schedule goes on from there."""
    h = Harness(seed=3)
    h.link_up()
    h.fire()
    h.fire()
    h.fire()  # two retransmissions: the next is ~16 s away
    before = len(sent(h.history))
    h.advance(2.0)
    asked = h.now
    h.handle(RenewRequested(h.now))
    [again] = sent(h.fire())
    assert h.now == asked and again.message.message_type is MessageType.DISCOVER
    assert len(sent(h.history)) == before + 1 and h.state is State.SELECTING
    # with an offer window open (an offer in hand), a renew changes nothing
    h = Harness(replace(h.config, offer_window=1.0), seed=3)
    h.link_up()
    [discover] = sent(h.fire())
    h.deliver(offer(discover.message))
    window = h.timer()
    assert sent(h.handle(RenewRequested(h.now))) == []
    assert h.timer() == window and h.state is State.SELECTING


def test_request_retransmitted_then_back_to_init() -> None:
    h = Harness()
    request = requesting(h)
    times = [h.now]
    while h.state is State.REQUESTING:
        if sent(h.fire()):
            times.append(h.now)
    assert len(times) == 4
    for gap, base in zip(gaps(times), (4, 8, 16), strict=True):
        assert base - 1 <= gap <= base + 1
    assert all(t.message.xid == request.xid for t in sent(h.history)[1:])
    assert h.state is State.INIT


@pytest.mark.parametrize("change", [
    {"xid": 12345},
    {"chaddr": OTHER_MAC},
    {"op": Op.BOOTREQUEST},
    {"server_id": None},
    {"yiaddr": IPv4Address("0.0.0.0")},
    {"yiaddr": IPv4Address("255.255.255.255")},
    {"yiaddr": IPv4Address("224.0.0.1")},
    {"yiaddr": IPv4Address("127.0.0.1")},
    {"yiaddr": IPv4Address("240.0.0.1")},
    {"server_id": IPv4Address("0.0.0.0")},
    {"client_id": b"\x01someoneelse"},
    {"message_type": None},
    {"message_type": MessageType.INFORM},
])
def test_foreign_or_broken_offers_ignored(change: dict[str, object]) -> None:
    h = Harness(ClientConfig(client_id=b"\x01" + MAC))
    h.link_up()
    h.fire()
    bad = replace(offer(h.last_sent().message), **change)  # type: ignore[arg-type]
    assert h.deliver(bad) == []
    assert h.state is State.SELECTING


def test_reply_with_our_client_id_accepted() -> None:
    h = Harness(ClientConfig(client_id=b"\x01" + MAC))
    h.link_up()
    h.fire()
    assert h.last_sent().message.client_id == b"\x01" + MAC
    h.deliver(offer(h.last_sent().message, client_id=b"\x01" + MAC))
    assert h.state is State.REQUESTING


def test_forcerenew_ignored(logs: Logs) -> None:
    h = Harness()
    h.acquire()
    request = h.last_sent().message
    force = Message(op=Op.BOOTREPLY, xid=request.xid, chaddr=MAC,
                    message_type=MessageType.FORCERENEW, server_id=SERVER)
    assert h.deliver(force) == []
    assert h.deliver(force) == []  # logged once a minute, not once a packet
    assert h.state is State.BOUND
    assert len([r for r in logs.at_least(WARNING, "leasebox.core.machine")
                if "FORCERENEW" in r.message]) == 1


def requesting(h: Harness) -> Message:
    """LinkUp, DISCOVER, OFFER: the REQUEST that follows."""
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    return h.last_sent().message


def test_ack_in_requesting_from_another_server_ignored() -> None:
    h = Harness()
    request = requesting(h)
    assert h.deliver(ack(request, server_id=OTHER_SERVER)) == []
    assert h.deliver(nak(request, server_id=OTHER_SERVER)) == []
    assert h.state is State.REQUESTING


def test_an_ack_without_a_mask_gets_its_class_s(logs: Logs) -> None:
    """busybox udhcpd sends only the options its configuration names: without `opt
    subnet`, no option 1. The ACK was refused, the offer avoided, and the link never got
    an address, where networkd and dhcpcd take the classful mask. So does leasebox now,
    with a warning naming the server."""
    h = Harness()
    request = requesting(h)
    [apply] = of_type(h.deliver(ack(request, subnet_mask=None, yiaddr=IPv4Address("10.1.2.3"))),
                      ApplyLease)
    assert apply.lease.prefixlen == 8
    assert any("without a subnet mask: 10.1.2.3 taken as /8" in r.message
               for r in logs.at_least(WARNING))


def test_ack_without_lease_time_or_with_a_bad_mask_ignored() -> None:
    h = Harness()
    request = requesting(h)
    assert h.deliver(ack(request, lease_time=None)) == []
    assert h.deliver(ack(request, subnet_mask=IPv4Address("255.0.255.0"))) == []
    assert h.state is State.REQUESTING
    assert of_type(h.deliver(ack(request)), ApplyLease)


def test_an_offer_answered_only_by_an_unusable_ack_fails(logs: Logs) -> None:
    """A server whose ACKs lack the lease time answers every REQUEST so. Once two have
    been answered so the offer has failed: INIT backs off as after a NAK, and that
    server's offer of that address is passed over for AVOID_TIME, another server's taken.
    It used to be REQUESTed four times (a minute), said to be "no answer", and taken
    again. The warning of the unusable ACK comes once, however many arrive."""
    h = Harness()
    request = requesting(h)
    for _ in range(50):
        assert h.deliver(ack(request, lease_time=None)) == []
    assert h.state is State.REQUESTING  # a usable ACK may still come
    again = [t.message for t in sent(h.fire())]  # one may be anyone's: REQUEST again
    assert [m.message_type for m in again] == [MessageType.REQUEST]
    assert h.deliver(ack(again[0], lease_time=None)) == []
    assert not sent(h.fire())
    assert h.state is State.INIT
    assert len([r for r in logs.at_least(WARNING) if r.message.startswith("ACK from")]) == 1
    assert any("its ACK was not usable (no lease time" in r.message
               for r in logs.at_least(WARNING, "leasebox.core.machine"))
    assert not any("no answer" in r.message for r in logs.records)
    h.fire()
    discover = h.last_sent().message
    assert discover.message_type is MessageType.DISCOVER
    assert h.deliver(offer(discover)) == []  # passed over
    h.deliver(offer(discover, server_id=OTHER_SERVER, yiaddr=OTHER_ADDRESS))
    assert h.state is State.REQUESTING and h.last_sent().message.server_id == OTHER_SERVER
    # a second failure in a row backs off
    for _ in range(2):
        assert h.deliver(ack(h.last_sent().message, server_id=OTHER_SERVER,
                             yiaddr=OTHER_ADDRESS, lease_time=None)) == []
        h.fire()
    assert h.state is State.INIT and h.timer() - h.now == 2
    # with only those offers on the link, the warning of the 5th DISCOVER says so
    h.fire()
    for _ in range(timing.DISCOVERS_WARNED - 1):
        h.deliver(offer(h.last_sent().message))  # passed over
        h.deliver(offer(h.last_sent().message, server_id=OTHER_SERVER, yiaddr=OTHER_ADDRESS))
        h.fire()
    warned = [r.message for r in logs.at_least(WARNING, "leasebox.core.machine")]
    assert warned[-1].startswith("no usable offer after 4 DISCOVERs in "), warned
    assert "the offers are of addresses refused or declined lately" in warned[-1]


def test_one_forged_unusable_ack_and_a_lost_good_one_cost_a_retransmission() -> None:
    """A forged unusable ACK (the broadcast REQUEST's xid and option 54 are all it needs)
    and the server's good ACK lost: the offer was given up and the only server on the link
    avoided for 5 minutes. Now the REQUEST goes again, and the good ACK binds."""
    h = Harness()
    request = requesting(h)
    h.deliver(ack(request, lease_time=None))
    again = [t.message for t in sent(h.fire())]
    assert [m.message_type for m in again] == [MessageType.REQUEST]
    h.deliver(ack(again[0]))
    h.applied()
    assert h.state is State.BOUND


def test_an_unusable_ack_then_a_usable_one_is_a_lease() -> None:
    """An unusable ACK may be a forgery or a second, broken server's: a good ACK that
    follows before the next retransmission is taken."""
    h = Harness()
    request = requesting(h)
    h.deliver(ack(request, lease_time=None))
    assert of_type(h.deliver(ack(request)), ApplyLease)


def test_duplicate_ack_after_apply_ignored() -> None:
    h = Harness()
    request = requesting(h)
    h.deliver(ack(request))
    assert h.deliver(ack(request)) == []  # the exchange is over
    assert h.deliver(nak(request)) == []


def test_naks_in_a_row_are_warned_of(logs: Logs) -> None:
    """One NAK is ordinary (an address from another network); the same server NAKing every
    REQUEST offers what it then refuses: at info only, and with the status "Looking for a
    DHCP server", nothing said the server answers. Warned at the 2nd, 4th, 8th... in a row."""
    h = Harness()
    h.link_up()
    for _ in range(8):
        h.fire()
        h.deliver(offer(h.last_sent().message))
        h.deliver(nak(h.last_sent().message, error_message="address not available"))
    warned = [r.message for r in logs.at_least(WARNING, "leasebox.core.machine")]
    assert [w.split("(")[-1] for w in warned] == [
        f"{n} failures in a row: its pool or reservations, or another server authoritative "
        "for this subnet?)" for n in (2, 4, 8)]
    assert warned[0].startswith(f"server {SERVER} NAKed {ADDRESS}: address not available (")
    said = [r.message for r in logs.records if "NAKed" in r.message]
    assert len(said) == 8 and said[0] == f"server {SERVER} NAKed {ADDRESS}: address not available"


def test_nak_in_requesting_restarts_with_backoff() -> None:
    h = Harness()
    h.link_up()
    waits: list[float] = []
    for _ in range(8):
        h.fire()
        assert h.state is State.SELECTING
        h.deliver(offer(h.last_sent().message))
        h.deliver(nak(h.last_sent().message, error_message="wrong network"))
        assert h.state is State.INIT
        waits.append(h.timer() - h.now)
    bases = [0, 2, 4, 8, 16, 32, 60, 60]
    for wait, base in zip(waits, bases, strict=True):
        assert base <= wait < base + 0.1
    # A lease resets the count once it has survived its first renewal, not before (a
    # server that ACKs and then NAKs every renewal must meet the backoff).
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))
    h.applied()
    assert h.state is State.BOUND
    assert h.client._ctx.failures == 8
    h.fire()  # T1
    h.deliver(ack(h.last_sent().message))
    h.applied()
    assert h.state is State.BOUND
    assert h.client._ctx.failures == 0


def test_a_new_attachment_starts_the_failures_over() -> None:
    """A laptop moving between two networks, staying less than T1 at each: every arrival
    gets a NAK for the other network's address (INIT-REBOOT), then a good lease. The
    carrier coming back is a new attachment, so the DISCOVER goes at once every time, not
    after a backoff grown by the NAKs of earlier moves."""
    h = Harness()
    h.acquire()
    for _ in range(8):
        h.advance(60)
        h.handle(LinkDown(h.now))
        h.advance(5)
        h.link_up()
        h.fire()
        assert h.state is State.REBOOTING
        h.deliver(nak(h.last_sent().message, error_message="wrong network"))
        assert h.state is State.INIT
        assert h.timer() - h.now < 0.1
        h.fire()
        h.deliver(offer(h.last_sent().message))
        h.deliver(ack(h.last_sent().message))
        h.applied()
        assert h.state is State.BOUND
    assert h.client._ctx.failures == 1  # the last NAK's, until the next move


def test_offer_window_prefers_previous_address() -> None:
    h = Harness(ClientConfig(offer_window=1.0), remembered=None)
    h.client._ctx.previous_address = OTHER_ADDRESS
    h.link_up()
    h.fire()
    discover = h.last_sent().message
    assert discover.requested_ip == OTHER_ADDRESS
    h.advance(0.1)
    assert h.deliver(offer(discover)) == []
    h.advance(0.2)
    assert h.deliver(offer(discover, yiaddr=OTHER_ADDRESS, server_id=OTHER_SERVER)) == []
    assert h.state is State.SELECTING
    assert h.timer() == pytest.approx(T0 + h.client._ctx.started_at - T0 + 0.1 + 1.0)
    h.fire()
    request = h.last_sent().message
    assert h.state is State.REQUESTING
    assert request.requested_ip == OTHER_ADDRESS and request.server_id == OTHER_SERVER


def test_offer_window_takes_first_without_preference() -> None:
    h = Harness(ClientConfig(offer_window=2.0))
    h.link_up()
    h.fire()
    discover = h.last_sent().message
    h.deliver(offer(discover, server_id=OTHER_SERVER, yiaddr=OTHER_ADDRESS))
    h.deliver(offer(discover))
    h.fire()
    assert h.last_sent().message.server_id == OTHER_SERVER


def test_rapid_commit() -> None:
    h = Harness(ClientConfig(rapid_commit=True))
    h.link_up()
    h.fire()
    discover = h.last_sent().message
    assert discover.rapid_commit
    discovered_at = h.now
    h.advance(0.5)
    [apply] = h.deliver(ack(discover, rapid_commit=True))
    assert isinstance(apply, ApplyLease)
    assert apply.lease.acquired_at == discovered_at
    assert h.state is State.SELECTING
    h.applied()
    assert h.state is State.BOUND
    assert len(sent(h.history)) == 1  # no REQUEST at all


def test_a_rapid_commit_ack_to_a_later_discover_runs_from_it() -> None:
    h = Harness(ClientConfig(rapid_commit=True))
    h.link_up()
    h.fire()
    first_at = h.now
    h.fire()  # no answer: the DISCOVER again, ~4 s later
    discover = h.last_sent().message
    resent_at = h.now
    assert resent_at > first_at + 3
    h.advance(0.5)
    [apply] = h.deliver(ack(discover, rapid_commit=True))
    assert isinstance(apply, ApplyLease)
    assert apply.lease.acquired_at == resent_at


def test_rapid_commit_ack_needs_option_and_config() -> None:
    h = Harness(ClientConfig(rapid_commit=True))
    h.link_up()
    h.fire()
    assert h.deliver(ack(h.last_sent().message)) == []  # no option 80 in the ACK
    h2 = Harness()
    h2.link_up()
    h2.fire()
    assert not h2.last_sent().message.rapid_commit
    assert h2.deliver(ack(h2.last_sent().message, rapid_commit=True)) == []


def test_ipv6_only_preferred() -> None:
    h = Harness(ClientConfig(ipv6_only_preferred=True))
    h.link_up()
    h.fire()
    discover = h.last_sent().message
    assert 108 in discover.parameter_request_list
    h.deliver(offer(discover, ipv6_only_preferred=30))  # below the minimum: 300 s
    assert h.state is State.INIT
    assert 300 <= h.timer() - h.now < 300.1
    h.deliver(offer(discover))  # late offers are no longer wanted
    assert h.state is State.INIT
    h.fire()
    assert h.state is State.SELECTING
    discover = h.last_sent().message
    h.deliver(offer(discover, ipv6_only_preferred=1800))
    assert 1800 <= h.timer() - h.now < 1800.1


def test_ipv6_only_option_ignored_unless_configured() -> None:
    h = Harness()
    h.link_up()
    h.fire()
    assert 108 not in h.last_sent().message.parameter_request_list
    h.deliver(offer(h.last_sent().message, ipv6_only_preferred=600))
    assert h.state is State.REQUESTING


def test_ipv6_only_wait_ends_at_link_change() -> None:
    h = Harness(ClientConfig(ipv6_only_preferred=True))
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message, ipv6_only_preferred=3600))
    h.handle(LinkDown(h.now))
    h.advance(5)
    h.link_up()
    assert h.timer() - h.now < 0.1


def test_ipv6_only_loses_a_lease_still_applied() -> None:
    """After a link flap the INIT-REBOOT's ACK says IPv6-only: the address goes, and the
    journal and the hooks hear "lost" (it went without a word before)."""
    h = Harness(ClientConfig(ipv6_only_preferred=True))
    lease = h.acquire()
    h.advance(100)
    h.handle(LinkDown(h.now))
    h.advance(1)
    h.link_up()
    assert h.state is State.REBOOTING
    actions = h.deliver(ack(h.last_sent().message, ipv6_only_preferred=600))
    assert of_type(actions, RemoveLease) == [RemoveLease(lease)]
    [event] = of_type(actions, LeaseEvent)
    assert event.kind is LeaseEventKind.LOST and event.lease == lease
    assert "IPv6-only" in event.detail
    assert h.state is State.INIT and h.client.lease is None
    assert h.timer() - h.now == 600


def test_arp_probe_clear() -> None:
    h = Harness(ClientConfig(arp_probe=True))
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    actions = h.deliver(ack(h.last_sent().message))
    assert actions[0] == ProbeAddress(ADDRESS)
    assert h.state is State.PROBING
    assert h.client.lease is None
    h.advance(3)
    assert h.handle(ProbeResult(h.now, OTHER_ADDRESS, False)) == []  # not our probe
    [apply] = h.handle(ProbeResult(h.now, ADDRESS, False))
    assert isinstance(apply, ApplyLease)
    actions = h.applied()
    assert h.state is State.BOUND
    assert of_type(actions, LeaseEvent)[0].kind is LeaseEventKind.ACQUIRED
    # In use: io announces it and watches ARP for it from now on (RFC 5227 2.3-2.4).
    assert of_type(actions, GuardAddress) == [GuardAddress(ADDRESS, 2)]


def test_arp_probe_timing_is_passed_on() -> None:
    h = Harness(ClientConfig(arp_probe=True, arp_probe_timing=ProbeTiming.RFC5227))
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    actions = h.deliver(ack(h.last_sent().message))
    assert actions[0] == ProbeAddress(ADDRESS, ProbeTiming.RFC5227)
    h.advance(7.5)  # the slowest RFC 5227 probe still ends before the client's own timeout
    assert h.handle(TimerExpired(h.now)) == []
    assert h.state is State.PROBING


def test_arp_probe_conflict_declines_and_waits() -> None:
    h = Harness(ClientConfig(arp_probe=True))
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))
    h.advance(2)
    actions = h.handle(ProbeResult(h.now, ADDRESS, True))
    [decline] = sent(actions)
    assert decline.destination is None
    msg = decline.message
    assert msg.message_type is MessageType.DECLINE
    assert msg.requested_ip == ADDRESS and msg.server_id == SERVER
    assert not of_type(actions, RemoveLease)  # it was never applied
    assert of_type(actions, LeaseEvent)[0].kind is LeaseEventKind.DECLINED
    assert h.state is State.INIT
    assert 10 <= h.timer() - h.now < 10.1
    # The same address from the same server is not taken again right away.
    h.fire()
    h.deliver(offer(h.last_sent().message))
    assert h.state is State.SELECTING
    h.deliver(offer(h.last_sent().message, yiaddr=OTHER_ADDRESS))
    assert h.state is State.REQUESTING


@pytest.mark.parametrize("rapid_commit", [False, True])
def test_a_declined_address_is_not_asked_for_or_taken_again(rapid_commit: bool) -> None:
    """RequestAddress= an address someone else turns out to hold: after the DECLINE the
    DISCOVER asks for no address (a server that honours option 50 would offer it again),
    and a rapid-commit ACK of it is ignored as its OFFER would be, for the avoid time, so
    that another server's address gets its turn."""
    h = Harness(ClientConfig(arp_probe=True, request_address=ADDRESS,
                             rapid_commit=rapid_commit))
    h.link_up()
    h.fire()
    assert h.last_sent().message.requested_ip == ADDRESS
    if rapid_commit:
        h.deliver(ack(h.last_sent().message, rapid_commit=True))
    else:
        h.deliver(offer(h.last_sent().message))
        h.deliver(ack(h.last_sent().message))
    h.handle(ProbeResult(h.now, ADDRESS, True))
    assert h.state is State.INIT
    h.fire()
    discover = h.last_sent().message
    assert discover.message_type is MessageType.DISCOVER and discover.requested_ip is None
    if rapid_commit:
        assert h.deliver(ack(discover, rapid_commit=True)) == []
        assert h.state is State.SELECTING
        h.deliver(ack(discover, rapid_commit=True, yiaddr=OTHER_ADDRESS,
                      server_id=OTHER_SERVER))
        assert h.state is State.PROBING
    h.advance(timing.AVOID_TIME)
    h.handle(LinkDown(h.now))
    h.link_up()
    h.fire()
    assert h.last_sent().message.requested_ip in (ADDRESS, OTHER_ADDRESS)


def test_a_link_flap_after_a_decline_keeps_the_ten_seconds() -> None:
    """RFC 2131 3.1.5: at least 10 s after a DECLINE before starting again; a carrier that
    flaps (a new attachment resets the backoff) does not bring the DISCOVER sooner."""
    h = Harness(ClientConfig(arp_probe=True))
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))
    h.handle(ProbeResult(h.now, ADDRESS, True))
    declined = h.now
    h.advance(1)
    h.handle(LinkDown(h.now))
    h.advance(0.5)
    h.link_up()
    assert h.state is State.INIT and h.timer() >= declined + 10
    h.fire()
    assert h.last_sent().message.message_type is MessageType.DISCOVER


def test_arp_probe_without_answer_proceeds() -> None:
    h = Harness(ClientConfig(arp_probe=True))
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))
    assert h.timer() - h.now == pytest.approx(timing.PROBE_TIMEOUT)
    actions = h.fire()
    assert of_type(actions, ApplyLease)


@pytest.mark.parametrize("answer", ["timer", "probe result"])
def test_a_lease_that_ran_out_during_its_probe_is_not_applied(answer: str) -> None:
    """The machine slept while the address was probed (the engine's clock counts the
    sleep, io's probe did not): the timer, or io's late answer, applied a lease that had
    run out meanwhile, with addresses, routes and DNS perhaps of another network."""
    h = Harness(ClientConfig(arp_probe=True))
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message, lease_time=3600))
    assert h.state is State.PROBING
    h.advance(3601)  # a suspend
    actions = h.fire() if answer == "timer" else h.handle(ProbeResult(h.now, ADDRESS, False))
    assert not of_type(actions, ApplyLease) and not of_type(actions, LeaseEvent)
    assert h.state is State.INIT and h.client.lease is None
    h.fire()
    assert h.last_sent().message.message_type is MessageType.DISCOVER


def not_applied(h: Harness, answer: ConfigRefused) -> LeaseEvent:
    """A first lease, which netconf does not apply: its one lease event; back in INIT."""
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))
    actions = h.handle(answer)
    assert not of_type(actions, RemoveLease)  # nothing of it was applied
    [event] = of_type(actions, LeaseEvent)
    assert event.detail == answer.reason and not event.kept
    assert h.state is State.INIT
    assert h.client.lease is None
    return event


def test_config_refused_goes_back_to_init() -> None:
    h = Harness()
    event = not_applied(h, ConfigRefused(h.now, "address outside the allowed ranges"))
    assert event.kind is LeaseEventKind.REFUSED
    h.fire()
    discover = h.last_sent().message
    assert discover.requested_ip is None  # not asking for the refused address again
    h.deliver(offer(discover))
    assert h.state is State.SELECTING  # same address, same server: skipped for a while
    h.deliver(offer(discover, server_id=OTHER_SERVER))
    assert h.state is State.REQUESTING


def test_a_lease_the_kernel_failed_is_not_avoided() -> None:
    """netconf answered FAILED (the kernel said no; it rolled back): the failure says
    nothing of the address, which is asked for again, and taken when the server offers it,
    not skipped for AVOID_TIME (which left the link without an address for 5 minutes when
    it went away while netconf applied the lease)."""
    h = Harness()
    assert not_applied(h, ConfigRefused(h.now, "interface gone", failed=True)).kind is \
        LeaseEventKind.FAILED
    h.fire()
    discover = h.last_sent().message
    assert discover.requested_ip == ADDRESS
    h.deliver(offer(discover))
    assert h.state is State.REQUESTING
    h.deliver(ack(h.last_sent().message))
    assert of_type(h.handle(ConfigApplied(h.now)), LeaseEvent)[0].kind is \
        LeaseEventKind.ACQUIRED
    assert h.state is State.BOUND


def test_failures_to_apply_back_off_like_refusals() -> None:
    """A kernel that keeps failing the lease is not asked again at once, forever: each
    failure in a row waits as long as a refusal would (timing.failure_backoff)."""
    h = Harness()
    h.link_up()
    for failures in range(1, 6):
        h.fire()
        h.deliver(offer(h.last_sent().message))
        assert h.state is State.REQUESTING  # offered again, and taken each time
        h.deliver(ack(h.last_sent().message))
        [event] = of_type(h.handle(ConfigRefused(h.now, "no", failed=True)), LeaseEvent)
        assert event.kind is LeaseEventKind.FAILED
        assert h.state is State.INIT
        assert h.timer() - h.now == timing.failure_backoff(failures)
    assert timing.failure_backoff(5) == 16


def test_refused_address_offered_again_after_avoid_time() -> None:
    h = Harness()
    h.link_up()
    h.fire()
    h.deliver(offer(h.last_sent().message))
    h.deliver(ack(h.last_sent().message))
    h.handle(ConfigRefused(h.now, "policy"))
    h.advance(301)
    h.fire()
    h.deliver(offer(h.last_sent().message))
    assert h.state is State.REQUESTING


def test_lease_event_reports_clamped_lease_time(logs: Logs) -> None:
    h = Harness(ClientConfig(min_lease_time=120))
    lease = h.acquire(lease_time=30)
    assert lease.lease_time == 120
    [event] = of_type(h.history, LeaseEvent)
    assert event.detail == "lease time 30 s raised to 120 s"
    assert any("raised to 120" in r.message
               for r in logs.at_least(WARNING, "leasebox.core.machine"))


def test_options_the_codec_dropped_are_said_once_a_run(logs: Logs) -> None:
    """A lease without the search domain the server sent (malformed): a warning says
    which and why, once; the same at every renewal only at debug; other drops again."""
    h = Harness()
    why = ("option 15 (domain name): not an RFC 1123 name",)
    h.acquire(drop_reasons=why, dropped=(15,))

    def said() -> list[str]:
        return [r.message for r in logs.at_least(WARNING, "leasebox.core.machine")
                if "left out of the lease" in r.message]

    assert said() == ["server 192.0.2.1: left out of the lease: " + why[0]]
    for _ in range(2):
        h.fire()  # T1
        h.deliver(ack(h.last_sent().message, drop_reasons=why, dropped=(15,)))
        h.applied()
        assert h.state is State.BOUND
    assert len(said()) == 1
    h.fire()
    other = ("option 26 (mtu): length 1, must be 2",)
    h.deliver(ack(h.last_sent().message, drop_reasons=other, dropped=(26,)))
    assert len(said()) == 2 and said()[1].endswith(other[0])


def test_stale_config_applied_ignored() -> None:
    h = Harness()
    h.link_up()
    assert h.applied() == []
    h.acquire()
    assert h.applied() == []
    assert h.state is State.BOUND


def test_replies_before_link_up_ignored() -> None:
    h = Harness()
    stray = Message(op=Op.BOOTREPLY, xid=1, chaddr=MAC, message_type=MessageType.OFFER,
                    server_id=SERVER, yiaddr=ADDRESS)
    assert h.handle(MessageReceived(h.now, stray)) == []
    assert h.handle(LinkUp(h.now, MAC)) == []



def test_the_request_repeats_the_secs_of_the_discover() -> None:
    """RFC 2131 4.4.1: the REQUEST after an OFFER uses the same `secs` as the DISCOVER,
    however long the offer took; its own retransmissions too."""
    h = Harness()
    h.link_up()
    h.fire()
    h.fire()  # the DISCOVER again, a few seconds on
    discover = h.last_sent().message
    assert discover.message_type is MessageType.DISCOVER and discover.secs >= 2
    h.advance(1.7)
    h.deliver(offer(discover))
    assert h.last_sent().message.secs == discover.secs
    h.fire()  # no ACK: the REQUEST again
    request = h.last_sent().message
    assert request.message_type is MessageType.REQUEST and request.secs == discover.secs
