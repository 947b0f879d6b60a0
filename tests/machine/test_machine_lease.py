"""lease_from_ack: what makes an ACK a usable lease, and the T1/T2/lease clamps."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from leasebox.core.machine import LeaseError, lease_from_ack
from leasebox.core.machine.lease import classful_prefixlen, lease_times
from leasebox.core.record import replace
from leasebox.core.values import Route
from leasebox.core.wire.types import Message, MessageType, Op
from tests.machine.machine_helpers import ADDRESS, MAC, MASK, SERVER

ACK = Message(op=Op.BOOTREPLY, xid=1, chaddr=MAC, message_type=MessageType.ACK,
              yiaddr=ADDRESS, server_id=SERVER, lease_time=3600, subnet_mask=MASK,
              routers=(SERVER,), dns_servers=(SERVER,), domain_name="example.org",
              classless_routes=(Route(IPv4Network("0.0.0.0/0"), SERVER),), mtu=1400)


def test_typical_ack() -> None:
    lease = lease_from_ack(ACK, 500.0, 60)
    assert (lease.address, lease.prefixlen, lease.server_id) == (ADDRESS, 24, SERVER)
    assert (lease.lease_time, lease.renewal_time, lease.rebinding_time) == (3600, 1800, 3150)
    assert (lease.t1_at, lease.t2_at, lease.expires_at) == (2300, 3650, 4100)
    assert lease.routers == (SERVER,) and lease.domain_name == "example.org"
    assert lease.mtu == 1400 and lease.ack is ACK


@pytest.mark.parametrize(("lease", "t1", "t2", "expected"), [
    (3600, 1000, 2000, (3600, 1000, 2000)),  # the server's, when 0 < T1 < T2 < lease
    (3600, 2000, 2000, (3600, 1800, 3150)),  # T1 >= T2
    (3600, 3000, 1000, (3600, 1800, 3150)),
    (3600, 1000, 3600, (3600, 1800, 3150)),  # T2 >= lease
    (3600, 0, 1000, (3600, 1800, 3150)),  # T1 = 0
    (3600, 10, 20, (3600, 10, 20)),  # short, but the server's to choose (labs, tests)
    # ... down to T1_FLOOR: a T1 of 1 s renewed every second (an apply and a hook event
    # each), a lease time of 0 or 1 s already could not
    (3600, 1, 2, (3600, 5, 3150)),
    (3600, 1, 60, (3600, 5, 60)),
    (10, 1, 2, (60, 5, 8)),
    (3600, None, None, (3600, 1800, 3150)),
    (3600, 600, None, (3600, 600, 3150)),  # a missing one takes its default
    (3600, None, 3000, (3600, 1800, 3000)),
    (3600, 3500, None, (3600, 1800, 3150)),  # ... and the pair must still make sense
    # raised to min_lease_time, the expiry only: T1 and T2 stay within the server's lease
    (0, None, None, (60, 5, 8)),  # (the floor's)
    (30, 10, 20, (60, 10, 20)),
    (30, None, None, (60, 15, 26)),
    (30, 20, 40, (60, 15, 26)),  # T2 past the server's lease
    (59, None, None, (60, 29, 51)),
    (60, 20, 40, (60, 20, 40)),
    (0xFFFFFFFF, 100, 200, (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)),  # infinite
    (0xFFFFFFFE, None, None, (0xFFFFFFFE, 0x7FFFFFFF, 0xFFFFFFFE * 7 // 8)),
])
def test_lease_times(lease: int, t1: int | None, t2: int | None,
                     expected: tuple[int, int, int]) -> None:
    assert lease_times(lease, t1, t2, 60) == expected
    got = lease_from_ack(replace(ACK, lease_time=lease, renewal_time=t1, rebinding_time=t2),
                         0.0, 60)
    assert (got.lease_time, got.renewal_time, got.rebinding_time) == expected


def test_min_lease_time_has_a_floor() -> None:
    assert lease_times(1, None, None, 0) == (10, 5, 8)
    assert lease_times(1, None, None, -5) == (10, 5, 8)
    assert lease_times(1, 1, 2, 0) == (10, 5, 8)  # the server's were for the shorter lease


def test_a_raised_lease_is_renewed_within_the_servers() -> None:
    """T1 and T2 came from the raised lease: a 600 s lease under MinimumLeaseTime=1h was
    first renewed after 30 minutes, 20 minutes after the server could have given the
    address to another host."""
    assert lease_times(600, None, None, 3600) == (3600, 300, 525)
    assert lease_times(20, None, None, 60) == (60, 10, 17)


@pytest.mark.parametrize(("address", "prefixlen"), [
    ("10.1.2.3", 8), ("127.0.0.1", 8), ("172.16.5.4", 16), ("191.255.1.1", 16),
    ("192.168.1.50", 24), ("223.1.1.1", 24), ("224.0.0.1", None), ("240.0.0.1", None),
])
def test_classful_prefixlen(address: str, prefixlen: int | None) -> None:
    assert classful_prefixlen(IPv4Address(address)) == prefixlen


def test_an_ack_without_a_mask_gets_its_class_s_and_keeps_it_for_the_file() -> None:
    lease = lease_from_ack(replace(ACK, subnet_mask=None, yiaddr=IPv4Address("172.16.5.4")),
                           0.0, 60)
    assert lease.prefixlen == 16 and lease.ack is not None
    assert lease.ack.subnet_mask == IPv4Address("255.255.0.0")
    # one sent, but malformed (dropped by the codec), is not guessed over
    with pytest.raises(LeaseError, match="malformed subnet mask"):
        lease_from_ack(replace(ACK, subnet_mask=None, dropped=(1,)), 0.0, 60)


@pytest.mark.parametrize(("change", "reason"), [
    ({"message_type": MessageType.OFFER}, "not a DHCPACK"),
    ({"op": Op.BOOTREQUEST}, "not a DHCPACK"),
    ({"yiaddr": IPv4Address("0.0.0.0")}, "unusable address"),
    ({"yiaddr": IPv4Address("0.1.2.3")}, "unusable address"),
    ({"yiaddr": IPv4Address("127.0.0.2")}, "unusable address"),
    ({"yiaddr": IPv4Address("239.1.1.1")}, "unusable address"),
    ({"yiaddr": IPv4Address("250.1.1.1")}, "unusable address"),
    ({"yiaddr": IPv4Address("255.255.255.255")}, "unusable address"),
    ({"yiaddr": IPv4Address("192.0.2.0")}, "network or broadcast"),
    ({"yiaddr": IPv4Address("192.0.2.255")}, "network or broadcast"),
    ({"server_id": None}, "no server identifier"),
    ({"server_id": IPv4Address("255.255.255.255")}, "unusable server"),
    ({"lease_time": None}, "no lease time"),
    ({"subnet_mask": IPv4Address("0.0.0.0")}, "invalid subnet mask"),
    ({"subnet_mask": IPv4Address("255.0.255.0")}, "invalid subnet mask"),
    ({"subnet_mask": IPv4Address("0.255.255.255")}, "invalid subnet mask"),
])
def test_unusable_acks(change: dict[str, object], reason: str) -> None:
    with pytest.raises(LeaseError, match=reason) as info:
        lease_from_ack(replace(ACK, **change), 0.0, 60)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)  # the lease file loader catches ValueError


def test_non_finite_acquisition_time() -> None:
    with pytest.raises(LeaseError):
        lease_from_ack(ACK, float("nan"), 60)


@pytest.mark.parametrize(("mask", "prefixlen", "address"), [
    ("255.255.255.255", 32, "192.0.2.0"),  # /32 and /31 have no network/broadcast address
    ("255.255.255.254", 31, "192.0.2.1"),
    ("255.255.255.252", 30, "192.0.2.1"),
    ("128.0.0.0", 1, "10.0.0.1"),
])
def test_prefix_lengths(mask: str, prefixlen: int, address: str) -> None:
    lease = lease_from_ack(replace(ACK, subnet_mask=IPv4Address(mask),
                                   yiaddr=IPv4Address(address)), 0.0, 60)
    assert lease.prefixlen == prefixlen


def test_bogus_servers_and_mtu_dropped() -> None:
    lease = lease_from_ack(replace(ACK, routers=(IPv4Address("0.0.0.0"), SERVER),
                                   dns_servers=(IPv4Address("127.0.0.1"),),
                                   ntp_servers=(IPv4Address("224.0.0.1"), SERVER), mtu=20),
                           0.0, 60)
    assert lease.routers == (SERVER,) and lease.dns_servers == () and lease.ntp_servers == (
        SERVER,)
    assert lease.mtu is None


def test_lists_are_bounded_where_the_lease_is_built() -> None:
    """Security hardening, item 4: the lease carries no more than the contract can."""
    from leasebox.core.values import MAX_DNS, MAX_DOMAINS, MAX_ROUTERS, MAX_ROUTES
    from tests.machine.machine_helpers import ack as make_ack
    from tests.wire.builders import discover

    request = discover(1, bytes.fromhex("020000000001"))
    many = tuple(IPv4Address(f"192.0.2.{i}") for i in range(2, 40))
    big = make_ack(request, routers=many, dns_servers=many,
                   domain_search=tuple(f"d{i}.example" for i in range(30)),
                   domain_name="corp.example")
    lease = lease_from_ack(big, 0.0, 60)
    assert len(lease.routers) == MAX_ROUTERS and len(lease.dns_servers) == MAX_DNS
    assert len(lease.domain_search) + 1 == MAX_DOMAINS
    routes = tuple(Route(IPv4Network(f"10.{i // 256}.{i % 256}.0/24"), IPv4Address("192.0.2.1"))
                   for i in range(MAX_ROUTES + 6))
    with pytest.raises(LeaseError, match=f"{MAX_ROUTES + 6} classless static routes"):
        lease_from_ack(make_ack(request, classless_routes=routes), 0.0, 60)
    assert lease_from_ack(make_ack(request, classless_routes=routes[:MAX_ROUTES]), 0.0, 60)


def test_several_names_in_option_15_are_the_domain_and_the_search_list() -> None:
    """AWS's DHCP option sets send "ec2.internal corp.example": the first is the domain,
    the others search domains, unless option 119 gives the search list."""
    from tests.machine.machine_helpers import ack as make_ack
    from tests.wire.builders import discover

    request = discover(1, bytes.fromhex("020000000001"))
    lease = lease_from_ack(make_ack(request, domain_name="ec2.internal corp.example"),
                           0.0, 60)
    assert (lease.domain_name, lease.domain_search) == ("ec2.internal", ("corp.example",))
    lease = lease_from_ack(make_ack(request, domain_name="ec2.internal corp.example",
                                    domain_search=("search.example",)), 0.0, 60)
    assert (lease.domain_name, lease.domain_search) == ("ec2.internal", ("search.example",))
