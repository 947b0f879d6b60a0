"""Random event sequences, with random valid and invalid replies, against invariants.

The harness plays the adapter and a netconf that applies or refuses each ApplyLease
(deciding when the action comes out, answering later, in order) and tracks which address
is on the interface. After every event it checks:

- handle() raises nothing, and the state is a State;
- addresses: an ApplyLease never puts a second address on the interface (netconf holds
  nothing or the same address: an update after renew/rebind/reboot); a RemoveLease never
  removes an address other than the one there; and once netconf has answered everything,
  an address on the interface is the lease the client holds (nothing leaks);
- in BOUND, RENEWING and REBINDING the client holds a lease;
- only BOOTREQUESTs go out, with our current MAC, only while the link is up, and unicast
  only to the server of the lease held;
- a StateChanged is the last action, once per event, and tells the real transition; an
  ACQUIRED/RENEWED/REBOUND event comes only with BOUND;
- the timer never spins: a due timer delivered at one instant moves the deadline past that
  instant within a few TimerExpired;
- every snapshot restores, and restoring it gives back the same snapshot.
"""

from __future__ import annotations

import math
import random
from collections import deque
from ipaddress import IPv4Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leasebox.core.machine import Client
from leasebox.core.machine.types import (
    Action,
    AddressConflict,
    ApplyLease,
    ClientConfig,
    ConfigApplied,
    ConfigRefused,
    Event,
    LeaseEvent,
    LeaseEventKind,
    LeaveRequested,
    LinkDown,
    LinkUp,
    MessageReceived,
    PersistLease,
    ProbeAddress,
    ProbeResult,
    ReleaseRequested,
    RemoveLease,
    RenewRequested,
    State,
    StateChanged,
    TimerExpired,
    Transmit,
)
from leasebox.core.wire.types import Message, MessageType, Op
from tests.machine.machine_helpers import (
    ADDRESS,
    MAC,
    MASK,
    OTHER_ADDRESS,
    OTHER_MAC,
    OTHER_SERVER,
    SERVER,
    T0,
    remembered,
)
from tests.profiles import examples

YIADDRS = [ADDRESS, ADDRESS, OTHER_ADDRESS, IPv4Address("0.0.0.0"),
           IPv4Address("255.255.255.255"), IPv4Address("192.0.2.0"), IPv4Address("127.0.0.1"),
           IPv4Address("224.0.0.5")]
SERVERS = [SERVER, SERVER, OTHER_SERVER, None, IPv4Address("0.0.0.0")]
LEASE_TIMES = [3600, 3600, 120, None, 0, 1, 30, 60, 0xFFFFFFFF, 0xFFFFFFFE, 86400 * 365]
T_TIMES = [None, None, 0, 1, 30, 1800, 3150, 3600, 5000, 0xFFFFFFFF]
MASKS = [MASK, MASK, None, IPv4Address("255.0.255.0"), IPv4Address("255.255.255.255"),
         IPv4Address("0.0.0.0")]
ADVANCES = st.one_of(st.floats(0, 2), st.floats(0, 100), st.floats(0, 5000),
                     st.sampled_from([0.0, 1e-9, 1800.0, 3150.0, 3600.0, 86400.0]))

CONFIGS = st.builds(
    ClientConfig,
    client_id=st.sampled_from([None, b"\x01" + MAC]),
    rapid_commit=st.booleans(),
    ipv6_only_preferred=st.booleans(),
    arp_probe=st.booleans(),
    send_release=st.booleans(),
    min_lease_time=st.sampled_from([0, 60, 600]),
    offer_window=st.sampled_from([0.0, 0.0, 0.5, 3.0]),
)


class World:
    """The adapter and netconf around one Client, checking invariants as it goes."""

    def __init__(self, config: ClientConfig, seed: int, with_lease: bool) -> None:
        self.config = config
        self.client = Client(config, random.Random(seed),
                             remembered() if with_lease else None)
        self.now = T0
        self.link = False
        self.mac = MAC
        self.on_interface: IPv4Address | None = None
        self.answers: deque[bool] = deque()  # netconf's answers, in order: True = applied
        self.last_sent: Message | None = None
        self.probed: IPv4Address | None = None

    # ---- driving ---------------------------------------------------------------------

    def handle(self, event: Event, refuse: list[bool]) -> list[Action]:
        before = self.client.state
        actions = self.client.handle(event)
        self.check(before, actions, refuse)
        return actions

    def check(self, before: State, actions: list[Action], refuse: list[bool]) -> None:
        client = self.client
        state = client.state
        assert isinstance(state, State)
        changes = [a for a in actions if isinstance(a, StateChanged)]
        if state is before:
            assert not changes
        else:
            assert changes == [actions[-1]]
            assert (changes[0].old, changes[0].new) == (before, state)
            timeout = changes[0].timeout
            assert timeout is None or timeout >= 0
        for action in actions:
            if isinstance(action, ApplyLease):
                assert self.on_interface in (None, action.lease.address), "second address"
                ok = not (refuse and refuse.pop())
                self.answers.append(ok)
                if ok:
                    self.on_interface = action.lease.address
            elif isinstance(action, RemoveLease):
                assert self.on_interface in (None, action.lease.address), "removed another"
                self.on_interface = None
            elif isinstance(action, Transmit):
                assert self.link, "sent with the link down"
                msg = action.message
                assert msg.op is Op.BOOTREQUEST and msg.chaddr == self.mac
                if action.destination is not None:
                    held = client.lease
                    assert msg.message_type in (MessageType.REQUEST, MessageType.RELEASE)
                    assert msg.server_id == action.destination or (
                        held is not None and action.destination == held.server_id)
                self.last_sent = msg
            elif isinstance(action, ProbeAddress):
                self.probed = action.address
            elif isinstance(action, LeaseEvent) and action.kind in (
                    LeaseEventKind.ACQUIRED, LeaseEventKind.RENEWED, LeaseEventKind.REBOUND):
                assert state is State.BOUND
        if any(isinstance(a, LeaseEvent) and a.kept for a in actions):
            # a failed renewal kept: nothing of the lease in use goes, nor its file
            [kept] = [a for a in actions if isinstance(a, LeaseEvent)]
            assert kept.kind is LeaseEventKind.FAILED and client.lease is not None
            assert not [a for a in actions if isinstance(a, RemoveLease)
                        or (isinstance(a, PersistLease) and a.lease is None)]
        if state in (State.BOUND, State.RENEWING, State.REBINDING):
            assert client.lease is not None
        if not self.answers and self.on_interface is not None:
            held = client.lease
            assert held is not None and held.address == self.on_interface, "leaked address"
        deadline = client.get_timer()
        assert deadline is None or math.isfinite(deadline)
        data = client.snapshot()
        assert Client.restore(self.config, random.Random(0), data).snapshot() == data


def reply_to(request: Message, data: st.DataObject) -> Message:
    """Mostly the reply a server would send; sometimes anything at all."""
    if data.draw(st.integers(0, 3)):
        return plausible_reply(request, data)
    mtype = data.draw(st.sampled_from([MessageType.OFFER, MessageType.ACK, MessageType.NAK,
                                       MessageType.ACK, MessageType.FORCERENEW]))
    xid = request.xid if data.draw(st.integers(0, 9)) else request.xid ^ 1
    chaddr = request.chaddr if data.draw(st.integers(0, 9)) else OTHER_MAC
    return Message(
        op=Op.BOOTREPLY if data.draw(st.integers(0, 19)) else Op.BOOTREQUEST,
        xid=xid, chaddr=chaddr, message_type=mtype,
        yiaddr=data.draw(st.sampled_from(YIADDRS)),
        server_id=data.draw(st.sampled_from(SERVERS)),
        lease_time=data.draw(st.sampled_from(LEASE_TIMES)),
        renewal_time=data.draw(st.sampled_from(T_TIMES)),
        rebinding_time=data.draw(st.sampled_from(T_TIMES)),
        subnet_mask=data.draw(st.sampled_from(MASKS)),
        routers=(SERVER,),
        rapid_commit=data.draw(st.booleans()),
        ipv6_only_preferred=data.draw(st.sampled_from([None, None, None, 0, 600])),
        client_id=data.draw(st.sampled_from([None, None, b"\x01" + MAC, b"\x01other"])),
    )


def plausible_reply(request: Message, data: st.DataObject) -> Message:
    if request.message_type is MessageType.DISCOVER:
        mtype = MessageType.ACK if request.rapid_commit and data.draw(st.booleans()) \
            else MessageType.OFFER
    else:
        mtype = MessageType.NAK if data.draw(st.integers(0, 7)) == 0 else MessageType.ACK
    address = request.requested_ip or (request.ciaddr if int(request.ciaddr) else None)
    return Message(
        op=Op.BOOTREPLY, xid=request.xid, chaddr=request.chaddr, message_type=mtype,
        yiaddr=data.draw(st.sampled_from([address or ADDRESS, ADDRESS, OTHER_ADDRESS])),
        server_id=request.server_id or data.draw(st.sampled_from([SERVER, OTHER_SERVER])),
        lease_time=data.draw(st.sampled_from([3600, 120, 0, 0xFFFFFFFF, 86400])),
        renewal_time=data.draw(st.sampled_from(T_TIMES)),
        rebinding_time=data.draw(st.sampled_from(T_TIMES)),
        subnet_mask=MASK, routers=(SERVER,), rapid_commit=request.rapid_commit,
        ipv6_only_preferred=data.draw(st.sampled_from([None] * 7 + [600])),
    )


# How often each step is taken, out of the list's length.
STEPS = (["advance"] * 3 + ["fire"] * 4 + ["reply"] * 6 + ["answer"] * 3
         + ["link_up", "link_down", "probe", "conflict", "renew", "restore"]
         + ["release", "stop"])


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=CONFIGS, seed=st.integers(0, 2**32), with_lease=st.booleans(), data=st.data())
def test_random_event_sequences(config: ClientConfig, seed: int, with_lease: bool,
                                data: st.DataObject) -> None:
    world = World(config, seed, with_lease)
    world.link = True
    world.handle(LinkUp(world.now, world.mac), [])
    refuse: list[bool] = []  # netconf's verdict for the next ApplyLease, drawn up front
    for _ in range(data.draw(st.integers(1, 80))):
        refuse[:] = [data.draw(st.integers(0, 7)) == 0]
        step = data.draw(st.sampled_from(STEPS))
        if step in ("release", "stop") and data.draw(st.integers(0, 3)):
            step = "fire"  # rarer than the rest: they end the run until a renew
        if step == "advance":
            world.now += data.draw(ADVANCES)
        elif step == "fire":
            fire(world, refuse)
        elif step == "reply" and world.last_sent is not None:
            world.handle(MessageReceived(world.now, reply_to(world.last_sent, data)), refuse)
        elif step == "answer":
            if world.answers:
                ok = world.answers.popleft()
                event: Event = ConfigApplied(world.now) if ok else ConfigRefused(
                    world.now, "no", failed=data.draw(st.booleans()))
            else:
                event = ConfigApplied(world.now)  # a stray answer
            world.handle(event, refuse)
        elif step == "link_up":
            world.mac = OTHER_MAC if data.draw(st.integers(0, 9)) == 0 else world.mac
            world.link = True
            world.handle(LinkUp(world.now, world.mac), refuse)
        elif step == "link_down":
            world.link = False
            world.handle(LinkDown(world.now), refuse)
        elif step == "probe":
            address = world.probed or ADDRESS
            world.handle(ProbeResult(world.now, address, data.draw(st.booleans())), refuse)
        elif step == "conflict":
            address = data.draw(st.sampled_from([ADDRESS, OTHER_ADDRESS]))
            world.handle(AddressConflict(world.now, address), refuse)
        elif step == "renew":
            world.handle(RenewRequested(world.now), refuse)
        elif step == "release":
            world.handle(ReleaseRequested(world.now), refuse)
        elif step == "stop":
            world.handle(LeaveRequested(world.now, release=data.draw(st.booleans()),
                                       keep_configuration=data.draw(st.booleans())), refuse)
        elif step == "restore":
            # The engine restarts: answers to applies in flight went to the old process.
            world.client = Client.restore(config, random.Random(seed + 1),
                                          world.client.snapshot())
            world.answers.clear()


def fire(world: World, refuse: list[bool]) -> None:
    """Deliver the due timer, like the adapter: repeatedly, while it is due."""
    deadline = world.client.get_timer()
    if deadline is None:
        return
    world.now = max(world.now, deadline)
    for _ in range(6):
        world.handle(TimerExpired(world.now), refuse)
        deadline = world.client.get_timer()
        if deadline is None or deadline > world.now:
            return
    raise AssertionError(f"timer spins in {world.client.state} at {world.now}")
