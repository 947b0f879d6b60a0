"""What io does with each message from the engine: check it, then say what to put out.

This is the only way data from the engine reaches the wire. Each case checks the message
completely; anything that fails is a PeerViolation (the engine is broken or compromised,
io logs one line and exits). The result is a plain action, so the checks are testable
without sockets; the loop performs it.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from leasebox import ipc
from leasebox.core.record import record
from leasebox.io.packet import (
    bootrequest_fault,
    broadcast_frame,
    destination_fault,
    source_fault,
)


@record
class Transmit:
    """Put this Ethernet frame on the packet socket."""

    frame: bytes


@record
class TransmitUnicast:
    """Send this BOOTREQUEST over the UDP :68 socket to destination:67."""

    destination: IPv4Address
    payload: bytes


@record
class StartProbe:
    address: IPv4Address
    rfc5227: bool


@record
class StartGuard:
    """Announce and watch `address` (None: stop), once the loop has seen it on the link."""

    address: IPv4Address | None
    announce: int


@record
class Drop:
    """Send nothing (and tell the engine so): a request the engine made for one of the link's
    earlier MAC addresses, which crossed the link's change on its way."""

    why: str


IoAction = Transmit | TransmitUnicast | StartProbe | StartGuard | Drop


def _fatal(kind: ipc.MsgType, why: str) -> ipc.PeerViolation:
    return ipc.PeerViolation(f"io_dispatch_engine: invalid {kind.name}: {why}")


def _stale(payload: bytes, previous_macs: tuple[bytes, ...]) -> Drop | None:
    """A request that is sound for one of the link's earlier MACs: the engine had not yet
    heard of the change (a bond's failover, a bridge taking a new port's address; two in a
    row as ports are added one after the other) when it made it. Sending it would be wrong,
    and it is no violation either."""
    if any(bootrequest_fault(payload, old) is None for old in previous_macs):
        return Drop("a request for an earlier MAC address")
    return None


def io_dispatch_engine(msg: ipc.Message, mac: bytes,
                       previous_macs: tuple[bytes, ...] = ()) -> IoAction:
    """Check one decoded message from the engine against this interface's MAC (or, for a
    request made before the engine heard of a change, one of its earlier ones: dropped)."""
    match msg:
        case ipc.SendBroadcast(source, payload):
            fault = bootrequest_fault(payload, mac) or source_fault(source)
            if fault:
                if (stale := _stale(payload, previous_macs)) and not source_fault(source):
                    return stale
                raise _fatal(ipc.MsgType.SEND_BROADCAST, fault)
            return Transmit(broadcast_frame(mac, source, payload))
        case ipc.SendUnicast(destination, payload):
            fault = bootrequest_fault(payload, mac) or destination_fault(destination)
            if fault:
                if (stale := _stale(payload, previous_macs)) and not destination_fault(
                        destination):
                    return stale
                raise _fatal(ipc.MsgType.SEND_UNICAST, fault)
            return TransmitUnicast(destination, payload)
        case ipc.Probe(address, rfc5227):
            # The same rule as a unicast destination: only a host address can be leased.
            fault = destination_fault(address)
            if fault:
                raise _fatal(ipc.MsgType.PROBE, fault)
            return StartProbe(address, rfc5227)
        case ipc.Guard(address, announce):
            fault = None if address is None else destination_fault(address)
            if fault:
                raise _fatal(ipc.MsgType.GUARD, fault)
            return StartGuard(address, announce)
    # decode() already refuses types the engine may not send to io; this is the backstop.
    raise ipc.PeerViolation(f"io_dispatch_engine: unexpected {type(msg).__name__}")

