"""Shared fixtures for the engine tests: a fake clock, a seeded RNG, scripted servers.

A Harness owns a Client and the time; tests move the time with `advance` or `fire` (jump to
the client's deadline and deliver TimerExpired) and answer its messages with replies built
by `offer`, `ack` and `nak`, which copy xid and chaddr from the request they answer.
"""

from __future__ import annotations

import itertools
import random
from ipaddress import IPv4Address
from typing import TypeVar

from leasebox.core.machine import Client, lease_from_ack
from leasebox.core.machine.types import (
    Action,
    ClientConfig,
    ConfigApplied,
    Event,
    Lease,
    LinkUp,
    MessageReceived,
    State,
    TimerExpired,
    Transmit,
)
from leasebox.core.record import replace
from leasebox.core.wire.types import Message, MessageType, Op

A = TypeVar("A")

MAC = bytes.fromhex("020000000001")
OTHER_MAC = bytes.fromhex("020000000002")
SERVER = IPv4Address("192.0.2.1")
OTHER_SERVER = IPv4Address("192.0.2.2")
ADDRESS = IPv4Address("192.0.2.50")
OTHER_ADDRESS = IPv4Address("192.0.2.51")
MASK = IPv4Address("255.255.255.0")
T0 = 1000.0


def reply(request: Message, message_type: MessageType, **fields: object) -> Message:
    """A BOOTREPLY to `request`, with a typical server's options unless overridden."""
    base: dict[str, object] = {
        "op": Op.BOOTREPLY, "xid": request.xid, "chaddr": request.chaddr,
        "message_type": message_type, "server_id": SERVER,
    }
    if message_type is not MessageType.NAK:
        base.update(yiaddr=ADDRESS, lease_time=3600, subnet_mask=MASK, routers=(SERVER,),
                    dns_servers=(SERVER,))
    base.update(fields)
    return Message(**base)  # type: ignore[arg-type]


def offer(request: Message, **fields: object) -> Message:
    return reply(request, MessageType.OFFER, **fields)


def ack(request: Message, **fields: object) -> Message:
    return reply(request, MessageType.ACK, **fields)


def nak(request: Message, **fields: object) -> Message:
    return reply(request, MessageType.NAK, **fields)


def sent(actions: list[Action]) -> list[Transmit]:
    return [a for a in actions if isinstance(a, Transmit)]


def of_type(actions: list[Action], cls: type[A]) -> list[A]:
    return [a for a in actions if isinstance(a, cls)]


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


class Harness:
    def __init__(self, config: ClientConfig | None = None, *, seed: int = 1,
                 remembered: Lease | None = None, now: float = T0) -> None:
        self.config = config or ClientConfig()
        self.rng = random.Random(seed)
        self.client = Client(self.config, self.rng, remembered)
        self.now = now
        self.history: list[Action] = []

    @property
    def state(self) -> State:
        return self.client.state

    def handle(self, event: Event) -> list[Action]:
        actions = self.client.handle(event)
        self.history.extend(actions)
        return actions

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def timer(self) -> float:
        deadline = self.client.get_timer()
        assert deadline is not None, f"no timer in {self.state}"
        return deadline

    def fire(self) -> list[Action]:
        """Jump to the client's deadline and deliver TimerExpired."""
        self.now = max(self.now, self.timer())
        return self.handle(TimerExpired(self.now))

    def link_up(self, mac: bytes = MAC) -> list[Action]:
        return self.handle(LinkUp(self.now, mac))

    def deliver(self, message: Message) -> list[Action]:
        return self.handle(MessageReceived(self.now, message))

    def applied(self) -> list[Action]:
        return self.handle(ConfigApplied(self.now))

    def last_sent(self) -> Transmit:
        for action in reversed(self.history):
            if isinstance(action, Transmit):
                return action
        raise AssertionError("nothing sent yet")

    def acquire(self, **ack_fields: object) -> Lease:
        """LinkUp, DISCOVER, OFFER, REQUEST, ACK, ConfigApplied: BOUND."""
        self.link_up()
        self.fire()
        assert self.state is State.SELECTING
        self.advance(0.2)
        self.deliver(offer(self.last_sent().message))
        assert self.state is State.REQUESTING
        request_sent = self.now
        self.advance(0.1)
        self.deliver(ack(self.last_sent().message, **ack_fields))
        self.advance(0.05)
        self.applied()
        assert self.state is State.BOUND, self.state
        lease = self.client.lease
        assert lease is not None
        assert lease.acquired_at == request_sent
        return lease


def remembered(acquired_at: float = T0 - 600, lease_time: int = 3600) -> Lease:
    """A lease as the adapter would load it from its lease file."""
    stored = Message(op=Op.BOOTREPLY, xid=7, chaddr=MAC, message_type=MessageType.ACK,
                     yiaddr=ADDRESS, server_id=SERVER, lease_time=lease_time,
                     subnet_mask=MASK, routers=(SERVER,))
    return lease_from_ack(stored, acquired_at, 60)


def without_ack(lease: Lease | None) -> Lease | None:
    return None if lease is None else replace(lease, ack=None)
