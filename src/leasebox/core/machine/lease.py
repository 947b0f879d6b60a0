"""From an ACK to a Lease: what makes a lease usable, and its T1/T2/expiry.

Rules, written down once:
- The ACK must offer a usable address (not 0/8, loopback, multicast, class E, broadcast,
  nor the network or broadcast address of its own subnet) and name a usable server.
- Lease time (option 51) is required. The subnet mask (option 1) must be contiguous and
  /1 to /32. An ACK that renews the address in use without one keeps that lease's prefix
  length (`held_prefixlen`): some routers send the mask in the first ACK only. Any other
  ACK without one (absent, not malformed: a mask the server sent broken is no lease) gets
  the address's classful mask (/8, /16 or /24), as networkd and dhcpcd give it: busybox
  udhcpd sends only the options its configuration names, and a configuration without
  `opt subnet` is common enough that refusing the lease left a network where every
  other client works without an address (the caller warns).
- 0xffffffff is an infinite lease: no renewal, no rebinding, no expiry.
- A finite lease shorter than `min_lease_time` (and never shorter than LEASE_TIME_FLOOR,
  whatever the configuration says) expires that late; the caller reports that
  (clamp_note). Its T1 and T2 stay those of the server's lease, raised to
  LEASE_TIME_FLOOR only: a renewal that came after the server's lease had run out (T1 at
  30 s of a 20 s lease) would ask for an address the server may have given another host.
- T1/T2 from the server are used when 0 < T1 < T2 < lease (a short T1 is the server's to
  choose, as for every client: test labs use one), T1 raised to T1_FLOOR (a T1 of 1 s
  renewed every second, each renewal an apply and a hook event); a missing one takes its
  default first; anything else, and any lease raised to the floor (the server's T1/T2 were meant
  for the shorter lease), gets 1/2 and 7/8 of the lease, the rule OpenBSD's dhcpleased
  uses. The client then makes each a little earlier at random (steps.usable_lease,
  timing.fuzzed_times).
- All times count from `acquired_at`, when the REQUEST that got the ACK was first sent
  (RFC 2131 4.4.1), so the client never believes in a lease longer than the server's.
"""

from __future__ import annotations

import math
from ipaddress import IPv4Address

from leasebox.core.machine.addresses import (
    is_subnet_edge,
    mask_from_prefixlen,
    prefixlen_from_mask,
    usable,
)
from leasebox.core.machine.errors import LeaseError
from leasebox.core.machine.types import Lease
from leasebox.core.record import replace
from leasebox.core.values import (
    INFINITE,
    MAX_DNS,
    MAX_DOMAINS,
    MAX_NTP,
    MAX_ROUTERS,
    MAX_ROUTES,
)
from leasebox.core.wire.types import Message, MessageType, Op

# Below this a lease cannot be renewed before it runs out (the first retransmission alone
# waits 4 s), so even a configuration asking for less gets this.
LEASE_TIME_FLOOR = 10
OPTION_SUBNET_MASK = 1
T1_FLOOR = LEASE_TIME_FLOOR // 2  # renewals at most this often, whatever T1 the server sends
MIN_MTU = 68
MAX_MTU = 65535


def lease_times(lease_time: int, renewal: int | None, rebinding: int | None,
                min_lease_time: int) -> tuple[int, int, int]:
    """(lease, T1, T2) in seconds after the clamps described in the module docstring."""
    if lease_time >= INFINITE:
        return INFINITE, INFINITE, INFINITE
    # T1/T2 follow the server's lease (its own T1/T2 when they fit it), raised to the
    # floor only; the expiry alone is raised to min_lease_time: renewals come while the
    # server still holds the address for us, and a server away keeps it longer
    granted = max(lease_time, LEASE_TIME_FLOOR)
    lease = max(granted, min_lease_time)
    t1 = granted // 2 if renewal is None else renewal
    t2 = granted * 7 // 8 if rebinding is None else rebinding
    if granted != lease_time or not 0 < t1 < t2 < granted:
        t1, t2 = granted // 2, granted * 7 // 8
    if t1 < T1_FLOOR:  # (granted // 2 never is: the floor's half)
        t1 = T1_FLOOR
        if t2 <= t1:
            t2 = granted * 7 // 8
    return lease, t1, t2


def lease_from_ack(ack: Message, acquired_at: float, min_lease_time: int,
                   held_prefixlen: int | None = None) -> Lease:
    """The Lease an ACK grants, with times counted from `acquired_at` (the adapter's
    monotonic clock). Raises LeaseError, a ValueError, when the ACK is not a usable lease.
    `held_prefixlen`: the prefix length of the lease in use, when the ACK is for its
    address (a renewal), taken if the ACK has no subnet mask."""
    if ack.op is not Op.BOOTREPLY or ack.message_type is not MessageType.ACK:
        raise LeaseError("not a DHCPACK")
    if not usable(ack.yiaddr):
        raise LeaseError(f"unusable address {ack.yiaddr}")
    if ack.server_id is None:
        raise LeaseError("no server identifier")
    if not usable(ack.server_id):
        raise LeaseError(f"unusable server identifier {ack.server_id}")
    if ack.lease_time is None:
        raise LeaseError("no lease time")
    kept, prefixlen = _with_mask(ack, held_prefixlen)  # kept: for the lease file
    if is_subnet_edge(ack.yiaddr, prefixlen):
        raise LeaseError(f"{ack.yiaddr}/{prefixlen} is a network or broadcast address")
    if not math.isfinite(acquired_at):
        raise LeaseError("acquisition time is not finite")
    lease_time, t1, t2 = lease_times(ack.lease_time, ack.renewal_time, ack.rebinding_time,
                                     min_lease_time)
    mtu = ack.mtu if ack.mtu is not None and MIN_MTU <= ack.mtu <= MAX_MTU else None
    # Every list is cut here to what the rest of leasebox carries. Routes are not: a route
    # table cut short could lose the very route (the default, say) that comes last.
    routes = ack.classless_routes
    if routes is not None and len(routes) > MAX_ROUTES:
        raise LeaseError(f"{len(routes)} classless static routes, more than {MAX_ROUTES}")
    # Option 15 may name several domains (core.wire.strings.decode_domain_names): the first
    # is the domain, the others the search list unless option 119 gives one.
    names = ack.domain_name.split(" ") if ack.domain_name else []
    domain_name = names[0] if names else None
    domain_search = ack.domain_search or tuple(names[1:])
    domain_search = domain_search[:MAX_DOMAINS - (1 if domain_name else 0)]
    return Lease(
        address=ack.yiaddr,
        prefixlen=prefixlen,
        server_id=ack.server_id,
        lease_time=lease_time,
        renewal_time=t1,
        rebinding_time=t2,
        acquired_at=acquired_at,
        # Servers do send 0.0.0.0 or 127.0.0.1 here; such entries are dropped, not obeyed.
        routers=tuple(a for a in ack.routers if usable(a))[:MAX_ROUTERS],
        dns_servers=tuple(a for a in ack.dns_servers if usable(a))[:MAX_DNS],
        domain_name=domain_name,
        domain_search=domain_search,
        classless_routes=routes,
        mtu=mtu,
        ntp_servers=tuple(a for a in ack.ntp_servers if usable(a))[:MAX_NTP],
        broadcast_address=ack.broadcast_address,
        captive_portal=ack.captive_portal,
        hostname=ack.hostname,
        ack=kept,
    )


def _with_mask(ack: Message, held_prefixlen: int | None) -> tuple[Message, int]:
    """The ACK as the lease file keeps it (with the mask in use, so that it reads back as
    this lease) and the prefix length (the module docstring's rules)."""
    if ack.subnet_mask is not None:
        prefixlen = prefixlen_from_mask(ack.subnet_mask)
        if prefixlen is None:
            raise LeaseError(f"invalid subnet mask {ack.subnet_mask}")
        return ack, prefixlen
    if OPTION_SUBNET_MASK in ack.dropped:  # sent, but malformed: no guess over it
        raise LeaseError("malformed subnet mask")
    guess = held_prefixlen if held_prefixlen is not None else classful_prefixlen(ack.yiaddr)
    if guess is None:
        raise LeaseError("no subnet mask")
    return replace(ack, subnet_mask=mask_from_prefixlen(guess)), guess


def classful_prefixlen(address: IPv4Address) -> int | None:
    """The prefix length of the address's class (A /8, B /16, C /24); None for D and E."""
    first = address.packed[0]
    return 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else None


def clamp_note(ack: Message, lease: Lease) -> str:
    """What the clamps changed, for the lease event and the log; "" when nothing."""
    if ack.lease_time is not None and ack.lease_time != lease.lease_time:
        return f"lease time {ack.lease_time} s raised to {lease.lease_time} s"
    return ""


def is_infinite(lease: Lease) -> bool:
    return lease.lease_time >= INFINITE


def check_lease(lease: Lease) -> None:
    """Raise LeaseError unless `lease` is one lease_from_ack could have made (used for a
    remembered lease handed to the Client and for one read back from a snapshot)."""
    if not usable(lease.address):
        raise LeaseError(f"unusable address {lease.address}")
    if not usable(lease.server_id):
        raise LeaseError(f"unusable server identifier {lease.server_id}")
    if not 1 <= lease.prefixlen <= 32 or is_subnet_edge(lease.address, lease.prefixlen):
        raise LeaseError(f"invalid prefix {lease.address}/{lease.prefixlen}")
    if not math.isfinite(lease.acquired_at):
        raise LeaseError("acquisition time is not finite")
    if lease.lease_time == INFINITE:
        if lease.renewal_time != INFINITE or lease.rebinding_time != INFINITE:
            raise LeaseError("an infinite lease has no T1/T2")
    elif not 0 < lease.renewal_time < lease.rebinding_time < lease.lease_time < INFINITE:
        raise LeaseError("lease times are not 0 < T1 < T2 < lease")
    if lease.mtu is not None and not MIN_MTU <= lease.mtu <= MAX_MTU:
        raise LeaseError(f"MTU {lease.mtu} out of range")
    domains = len(lease.domain_search) + (1 if lease.domain_name else 0)
    routes = lease.classless_routes or ()
    for what, count, bound in (("routers", len(lease.routers), MAX_ROUTERS),
                               ("classless routes", len(routes), MAX_ROUTES),
                               ("DNS servers", len(lease.dns_servers), MAX_DNS),
                               ("NTP servers", len(lease.ntp_servers), MAX_NTP),
                               ("domains", domains, MAX_DOMAINS)):
        if count > bound:
            raise LeaseError(f"{count} {what}, more than {bound}")
