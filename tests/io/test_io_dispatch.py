"""io_dispatch_engine: what io puts out for each engine message, and what it refuses."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from leasebox import ipc
from leasebox.io.dispatch import (
    Drop,
    StartGuard,
    StartProbe,
    Transmit,
    TransmitUnicast,
    io_dispatch_engine,
)
from leasebox.io.packet import broadcast_frame
from tests.io.iolab import MAC, bootrequest

GOOD = bytes(bootrequest())


def test_broadcast_is_framed() -> None:
    action = io_dispatch_engine(ipc.SendBroadcast(IPv4Address(0), GOOD), MAC)
    assert action == Transmit(broadcast_frame(MAC, IPv4Address(0), GOOD))


def test_unicast_goes_to_the_udp_socket() -> None:
    msg = ipc.SendUnicast(IPv4Address("192.0.2.1"), GOOD)
    assert io_dispatch_engine(msg, MAC) == TransmitUnicast(IPv4Address("192.0.2.1"), GOOD)


def test_probe_starts_a_probe() -> None:
    msg = ipc.Probe(IPv4Address("192.0.2.10"))
    assert io_dispatch_engine(msg, MAC) == StartProbe(IPv4Address("192.0.2.10"), False)
    msg = ipc.Probe(IPv4Address("192.0.2.10"), rfc5227=True)
    assert io_dispatch_engine(msg, MAC) == StartProbe(IPv4Address("192.0.2.10"), True)


def test_guard_starts_and_stops_a_guard() -> None:
    msg = ipc.Guard(IPv4Address("192.0.2.10"), 2)
    assert io_dispatch_engine(msg, MAC) == StartGuard(IPv4Address("192.0.2.10"), 2)
    assert io_dispatch_engine(ipc.Guard(None), MAC) == StartGuard(None, 0)


BAD_PAYLOAD = bytearray(GOOD)
BAD_PAYLOAD[0] = 2


@pytest.mark.parametrize("msg", [
    ipc.SendBroadcast(IPv4Address(0), bytes(BAD_PAYLOAD)),
    ipc.SendBroadcast(IPv4Address(0), bytes(bootrequest(mac=bytes(6)))),
    ipc.SendBroadcast(IPv4Address("224.0.0.1"), GOOD),
    ipc.SendUnicast(IPv4Address("192.0.2.1"), bytes(BAD_PAYLOAD)),
    ipc.SendUnicast(IPv4Address("255.255.255.255"), GOOD),
    ipc.SendUnicast(IPv4Address("127.0.0.1"), GOOD),
    ipc.Probe(IPv4Address("0.0.0.0")),
    ipc.Probe(IPv4Address("224.0.0.251")),
    ipc.Guard(IPv4Address("255.255.255.255"), 2),
    ipc.Guard(IPv4Address("127.0.0.1")),
    ipc.Conflict(IPv4Address("192.0.2.10"), MAC),  # io -> engine only
    ipc.LinkState(1, MAC, 1500, True),  # io -> engine only
    ipc.Frames((b"x",)),
], ids=lambda m: type(m).__name__)
def test_violations_are_fatal(msg: ipc.Message) -> None:
    with pytest.raises(ipc.PeerViolation, match="io_dispatch_engine"):
        io_dispatch_engine(msg, MAC)


def test_a_request_for_the_previous_mac_is_dropped_not_fatal() -> None:
    """The link's MAC changed while the engine's request was on its way: io sends nothing
    and says so; the request must be sound otherwise, and no other MAC passes."""
    new_mac = bytes.fromhex("020000001003")
    for msg in (ipc.SendBroadcast(IPv4Address(0), GOOD),
                ipc.SendUnicast(IPv4Address("192.0.2.1"), GOOD)):
        assert isinstance(io_dispatch_engine(msg, new_mac, (MAC,)), Drop)
        with pytest.raises(ipc.PeerViolation):
            io_dispatch_engine(msg, new_mac)  # no change known: a violation
    for msg in (ipc.SendBroadcast(IPv4Address("224.0.0.1"), GOOD),  # bad otherwise
                ipc.SendUnicast(IPv4Address("127.0.0.1"), GOOD),
                ipc.SendBroadcast(IPv4Address(0), bytes(bootrequest(mac=bytes(6))))):
        with pytest.raises(ipc.PeerViolation):
            io_dispatch_engine(msg, new_mac, (MAC,))


def test_a_request_for_any_recent_mac_is_dropped() -> None:
    """Two changes before the engine heard of the first (a bridge without a fixed MAC as
    two ports are added, a bond's failover and back): a request for the MAC before last is
    no violation either. io used to remember one MAC, and exited as if the engine had been
    compromised."""
    macs = tuple(bytes.fromhex(f"0200000010{n:02x}") for n in range(3))
    msg = ipc.SendBroadcast(IPv4Address(0), bytes(bootrequest(mac=macs[0])))
    assert isinstance(io_dispatch_engine(msg, MAC, macs), Drop)
    assert isinstance(io_dispatch_engine(msg, MAC, macs[::-1]), Drop)
    with pytest.raises(ipc.PeerViolation):
        io_dispatch_engine(msg, MAC, macs[1:])


def test_engine_messages_round_trip_through_the_contract() -> None:
    # What the engine sends decodes on io's side into what the dispatcher expects.
    for msg in (ipc.SendBroadcast(IPv4Address(0), GOOD),
                ipc.SendUnicast(IPv4Address("192.0.2.1"), GOOD),
                ipc.Probe(IPv4Address("192.0.2.10")),
                ipc.Guard(IPv4Address("192.0.2.10"), 2)):
        decoded = ipc.decode(ipc.encode(msg), ipc.Peer.ENGINE, ipc.Peer.IO)
        assert decoded == msg
        io_dispatch_engine(decoded, MAC)
