"""The engine's contract with its adapter: configuration, events in, actions out, the lease.

aioquic's shape: the adapter feeds events that carry `now` (monotonic seconds), asks
`Client.get_timer()` for the next deadline, and carries out the actions it gets back. The
engine never reads a clock, never draws randomness of its own and never touches I/O.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address

from leasebox.core.generics import Protocol
from leasebox.core.record import record
from leasebox.core.values import REQUEST_OPTIONS, ProbeTiming, Route
from leasebox.core.wire.types import Message


class Random(Protocol):
    """What the engine needs from a random source (random.Random fits; tests seed one)."""

    def random(self) -> float: ...

    def getrandbits(self, k: int, /) -> int: ...


class State(StrEnum):
    INIT = "INIT"
    SELECTING = "SELECTING"
    REQUESTING = "REQUESTING"
    PROBING = "PROBING"  # RFC 5227 conflict check of an ACKed address, when configured
    BOUND = "BOUND"
    RENEWING = "RENEWING"
    REBINDING = "REBINDING"
    INIT_REBOOT = "INIT-REBOOT"
    REBOOTING = "REBOOTING"
    STOPPED = "STOPPED"



@record
class ClientConfig:
    client_id: bytes | None = None  # option 61 as sent (type byte first); None: send none
    hostname: str | None = None  # option 12 sent in DISCOVER/REQUEST
    vendor_class_id: bytes | None = None
    request_options: tuple[int, ...] = REQUEST_OPTIONS
    rapid_commit: bool = False
    ipv6_only_preferred: bool = False
    arp_probe: bool = False  # RFC 5227: probe before use, announce, defend while bound
    arp_probe_timing: ProbeTiming = ProbeTiming.FAST
    send_release: bool = True
    min_lease_time: int = 60  # shorter leases are clamped up to this (and said so)
    offer_window: float = 0.0  # seconds to keep collecting offers after the first one
    max_message_size: int = 1500
    request_broadcast: bool = False  # the BROADCAST flag before there is an address
    request_address: IPv4Address | None = None  # option 50 in a DISCOVER with no other
    client_fqdn: bytes | None = None  # option 81 as sent (wire.client_fqdn); then no 12
    send_options: tuple[tuple[int, bytes], ...] = ()  # sent as they are, sorted by code


# ---- events: what the adapter tells the engine ---------------------------------------------


@record
class LinkUp:
    now: float
    mac: bytes


@record
class LinkDown:
    now: float
    # The link itself went (removed, or another of its name came): what was applied on it
    # went with it, and the hooks must hear "bound" again once the lease is verified.
    gone: bool = False


@record
class MessageReceived:
    """A decoded BOOTREPLY that arrived on the link (the adapter decodes the frame)."""

    now: float
    message: Message


@record
class TimerExpired:
    now: float


@record
class ConfigApplied:
    now: float


@record
class ConfigRefused:
    """netconf did not apply the lease: out of its policy, or (`failed`) the kernel said no
    and netconf rolled back what it had added (the link went away under it, say).
    `in_use`: not an answer to an ApplyLease, but to the lease in use, which the adapter
    sent netconf again (an engine restarted after an edit of netconf's policy), refused."""

    now: float
    reason: str
    failed: bool = False
    in_use: bool = False


@record
class ProbeResult:
    now: float
    address: IPv4Address
    conflict: bool


@record
class AddressConflict:
    """Someone else uses our bound address (ARP seen after binding)."""

    now: float
    address: IPv4Address


@record
class RenewRequested:
    now: float


@record
class ReleaseRequested:
    now: float


@record
class LeaveRequested:
    now: float
    release: bool  # send RELEASE if bound (and config.send_release)
    keep_configuration: bool = False
    shutdown: bool = False  # the system goes down: no LEFT event (no hook could run it)
    mac_changed: bool = False  # the link's MAC changed: the lease goes with the old one


Event = (
    LinkUp | LinkDown | MessageReceived | TimerExpired | ConfigApplied | ConfigRefused
    | ProbeResult | AddressConflict | RenewRequested | ReleaseRequested | LeaveRequested
)


# ---- the lease ------------------------------------------------------------------------------


@record
class Lease:
    """What an ACK granted, with times on the adapter's monotonic clock."""

    address: IPv4Address
    prefixlen: int
    server_id: IPv4Address
    lease_time: int  # seconds, after clamping
    renewal_time: int  # T1, seconds from acquired_at
    rebinding_time: int  # T2, seconds from acquired_at
    acquired_at: float  # `now` when the REQUEST that got this ACK was sent
    routers: tuple[IPv4Address, ...] = ()
    dns_servers: tuple[IPv4Address, ...] = ()
    domain_name: str | None = None
    domain_search: tuple[str, ...] = ()
    classless_routes: tuple[Route, ...] | None = None
    mtu: int | None = None
    ntp_servers: tuple[IPv4Address, ...] = ()
    broadcast_address: IPv4Address | None = None
    captive_portal: str | None = None
    hostname: str | None = None  # option 12: the name the server knows this host by
    ack: Message | None = None  # the ACK itself, for the lease file

    @property
    def expires_at(self) -> float:
        return self.acquired_at + self.lease_time

    @property
    def t1_at(self) -> float:
        return self.acquired_at + self.renewal_time

    @property
    def t2_at(self) -> float:
        return self.acquired_at + self.rebinding_time


# ---- actions: what the engine asks the adapter to do ------------------------------------------


@record
class Transmit:
    """Send this BOOTREQUEST. destination None: raw broadcast from 0.0.0.0 (or ciaddr)
    to 255.255.255.255; an address: UDP unicast to that server from the bound address."""

    message: Message
    destination: IPv4Address | None = None


@record
class ProbeAddress:
    """Check with ARP (RFC 5227) that nobody uses `address`; answer with ProbeResult."""

    address: IPv4Address
    timing: ProbeTiming = ProbeTiming.FAST


@record
class GuardAddress:
    """Watch ARP for another host using `address` (RFC 5227 2.4) and report each one with
    AddressConflict; first send `announce` ARP announcements (2.3), ANNOUNCE_INTERVAL
    apart. None: watch nothing any more. Sent only when what is watched changes, and to
    defend (the same address, one announcement)."""

    address: IPv4Address | None
    announce: int = 0


@record
class ApplyLease:
    lease: Lease


@record
class RemoveLease:
    lease: Lease


@record
class PersistLease:
    lease: Lease | None  # None: forget the stored lease


class LeaseEventKind(StrEnum):
    ACQUIRED = "acquired"
    RENEWED = "renewed"
    REBOUND = "rebound"
    LOST = "lost"  # expired, NAKed while bound, or IPv6-only preferred (RFC 8925)
    DECLINED = "declined"
    RELEASED = "released"
    LEFT = "left"  # the configuration removed at a stop, no RELEASE: the lease is kept
    REFUSED = "refused"  # netconf refused it by policy
    FAILED = "failed"  # netconf could not apply it: the kernel said no


@record
class LeaseEvent:
    """Something an operator wants in the journal, with a MESSAGE_ID of its own."""

    kind: LeaseEventKind
    lease: Lease
    detail: str = ""
    kept: bool = False  # FAILED only: the lease in use stays (see reports._renewal_kept)


@record
class StateChanged:
    old: State
    new: State
    timeout: float | None  # seconds until the next timer, for the transition log line


Action = (
    Transmit | ProbeAddress | GuardAddress | ApplyLease | RemoveLease | PersistLease | LeaseEvent
    | StateChanged
)
