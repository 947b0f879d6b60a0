"""netconf's own checks of an Apply: every refusal class, and the plans it makes."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from leasebox.core import record
from leasebox.core.values import MAX_ROUTES, Route
from leasebox.ipc import INFINITE, Apply
from leasebox.netconf.dispatch import MAX_REASON, notes_text
from leasebox.netconf.policy import Policy
from leasebox.netconf.validate import Plan, PlannedRoute, Refused, make_plan

A = IPv4Address
N = IPv4Network


def apply_msg(**kw: object) -> Apply:
    base = Apply(
        request_id=1, address=A("192.0.2.10"), prefixlen=24, lifetime=3600, mtu=None,
        routers=(A("192.0.2.1"),), classless_routes=None, dns_servers=(A("192.0.2.53"),),
        domains=("example.com",),
    )
    return record.replace(base, **kw)  # type: ignore[arg-type]


def plan(msg: Apply, policy: Policy | None = None, max_mtu: int = 9000) -> Plan:
    return make_plan(msg, policy or Policy(), max_mtu)


def refused(msg: Apply, match: str, policy: Policy | None = None) -> None:
    with pytest.raises(Refused, match=match):
        plan(msg, policy)


def test_plain_lease() -> None:
    p = plan(apply_msg())
    assert p.interface == IPv4Interface("192.0.2.10/24")
    assert p.broadcast == A("192.0.2.255")
    assert p.lifetime == 3600
    assert p.routes == (PlannedRoute(N("0.0.0.0/0"), A("192.0.2.1"), 254, 1024),)
    assert p.dns_servers == (A("192.0.2.53"),)
    assert p.domains == ("example.com",)
    assert p.mtu is None


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.5", "loopback"),
    ("224.0.0.9", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "limited broadcast"),
    ("0.1.2.3", r"0\.0\.0\.0/8"),
    ("0.0.0.0", r"0\.0\.0\.0/8"),
    ("240.0.0.1", "class E"),
    ("250.1.2.3", "class E"),
])
def test_forbidden_address_classes(address: str, why: str) -> None:
    refused(apply_msg(address=A(address), routers=()), why)


@pytest.mark.parametrize("prefixlen", [0, 1, 7])
def test_prefix_too_short(prefixlen: int) -> None:
    refused(apply_msg(address=A("10.0.0.10"), prefixlen=prefixlen, routers=()), "prefix length")


@pytest.mark.parametrize("prefixlen", [8, 16, 30, 31, 32])
def test_prefix_bounds_accepted(prefixlen: int) -> None:
    p = plan(apply_msg(address=A("10.0.0.10"), prefixlen=prefixlen, routers=()))
    assert p.interface.network.prefixlen == prefixlen
    assert (p.broadcast is None) == (prefixlen >= 31)


@pytest.mark.parametrize(("address", "prefixlen"), [
    ("192.0.2.0", 24), ("192.0.2.255", 24), ("10.0.0.0", 8), ("192.0.2.8", 30),
    ("192.0.2.11", 30),
])
def test_network_and_broadcast_address_refused(address: str, prefixlen: int) -> None:
    refused(apply_msg(address=A(address), prefixlen=prefixlen, routers=()),
            "network or broadcast")


@pytest.mark.parametrize(("address", "prefixlen"), [("192.0.2.10", 31), ("192.0.2.11", 31),
                                                    ("192.0.2.10", 32)])
def test_31_and_32_have_no_network_or_broadcast_address(address: str, prefixlen: int) -> None:
    plan(apply_msg(address=A(address), prefixlen=prefixlen, routers=()))


def test_zero_lifetime_refused() -> None:
    refused(apply_msg(lifetime=0), "lifetime")


def test_infinite_lifetime() -> None:
    assert plan(apply_msg(lifetime=INFINITE)).lifetime == INFINITE


@pytest.mark.parametrize(("router", "why"), [
    ("198.51.100.1", "not on the link"),  # outside a /24: only a /32's router may be
    ("192.0.2.10", "our own address"),
    ("192.0.2.0", "network or broadcast"),
    ("192.0.2.255", "network or broadcast"),
    ("127.0.0.1", "loopback"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", r"0\.0\.0\.0/8"),
    ("255.255.255.255", "limited broadcast"),
])
def test_a_bad_router_is_skipped_with_a_note(router: str, why: str) -> None:
    """A router the client cannot use is no reason to refuse the address (a server's
    mistake would leave the link with nothing): skipped, said in the reply and the log;
    the next one on the link is used (RFC 2132: in order of preference), and with none
    the lease goes on without a default route."""
    alone = plan(apply_msg(routers=(A(router),)))
    assert not [r for r in alone.routes if r.destination.prefixlen == 0]
    assert re.search(why, alone.notes[0]) and alone.notes[0].startswith("router skipped: ")
    assert alone.notes[-1] == "no default route: no router of the lease is usable"
    second = plan(apply_msg(routers=(A(router), A("192.0.2.1"))))
    assert [r.gateway for r in second.routes if r.destination.prefixlen == 0] == [
        A("192.0.2.1")]
    assert len(second.notes) == 1


def test_a_router_outside_the_subnet_is_reached_through_a_host_route() -> None:
    """A /32 lease with only option 3 (some clouds, some ISPs): a host route to its router
    first, then the default route, in the lease's table. (A router outside a wider subnet
    is skipped: test_a_bad_router_is_skipped_with_a_note.)"""
    msg = apply_msg(address=A("203.0.113.7"), prefixlen=32, routers=(A("203.0.113.1"),))
    for policy, table in ((Policy(), 254), (Policy(route_table=100), 100)):
        routes = [r for r in plan(msg, policy).routes if r.destination != N("203.0.113.7/32")]
        assert routes == [PlannedRoute(N("203.0.113.1/32"), None, table, 1024),
                          PlannedRoute(N("0.0.0.0/0"), A("203.0.113.1"), table, 1024)]
    # the same with ClasslessRoutes=ignore and a server that sends option 121 too
    msg = apply_msg(address=A("10.128.0.5"), prefixlen=32, routers=(A("10.128.0.1"),),
                    classless_routes=(Route(N("0.0.0.0/0"), A("10.128.0.1")),))
    assert plan(msg, Policy(classless_table=None)).routes == (
        PlannedRoute(N("10.128.0.1/32"), None, 254, 1024),
        PlannedRoute(N("0.0.0.0/0"), A("10.128.0.1"), 254, 1024))


def test_only_the_first_router_is_used() -> None:
    p = plan(apply_msg(routers=(A("192.0.2.1"), A("192.0.2.2"))))
    assert [r.gateway for r in p.routes] == [A("192.0.2.1")]


def test_classless_routes_take_precedence_over_routers() -> None:
    msg = apply_msg(classless_routes=(
        Route(N("0.0.0.0/0"), A("192.0.2.254")),
        Route(N("198.51.100.0/24"), A("192.0.2.2")),
    ))
    p = plan(msg)
    assert [(str(r.destination), str(r.gateway)) for r in p.routes] == [
        ("0.0.0.0/0", "192.0.2.254"), ("198.51.100.0/24", "192.0.2.2")]


def test_empty_classless_list_still_suppresses_routers() -> None:
    assert plan(apply_msg(classless_routes=())).routes == ()


def test_classless_ignore_policy_falls_back_to_routers() -> None:
    msg = apply_msg(classless_routes=(Route(N("198.51.100.0/24"), A("192.0.2.2")),))
    p = plan(msg, Policy(classless_table=None))
    assert p.routes == (PlannedRoute(N("0.0.0.0/0"), A("192.0.2.1"), 254, 1024),)


def test_classless_table_and_metric_from_policy() -> None:
    msg = apply_msg(classless_routes=(Route(N("198.51.100.0/24"), A("192.0.2.2")),))
    p = plan(msg, Policy(classless_table=100, route_metric=50))
    assert p.routes == (  # with the route to the gateway in that table too
        PlannedRoute(N("192.0.2.0/24"), None, 100, 50),
        PlannedRoute(N("198.51.100.0/24"), A("192.0.2.2"), 100, 50),
    )
    p = plan(msg, Policy(classless_table=None, route_metric=50))  # option 3 in main
    assert p.routes == (PlannedRoute(N("0.0.0.0/0"), A("192.0.2.1"), 254, 50),)


@pytest.mark.parametrize(("address", "prefixlen", "gateway"), [
    ("10.128.0.5", 32, "10.128.0.1"),
    ("192.0.2.10", 24, "198.51.100.1"),  # outside a /24: RFC 3442's own way still works
])
def test_classless_onlink_route_is_link_scope_and_comes_first(address: str, prefixlen: int,
                                                              gateway: str) -> None:
    msg = apply_msg(address=A(address), prefixlen=prefixlen, routers=(), classless_routes=(
        Route(N("0.0.0.0/0"), A(gateway)),
        Route(N((gateway, 32)), A("0.0.0.0")),
        Route(N("203.0.113.0/24"), A(gateway)),
    ))
    p = plan(msg)
    assert p.routes == (
        PlannedRoute(N((gateway, 32)), None, 254, 1024),
        PlannedRoute(N("0.0.0.0/0"), A(gateway), 254, 1024),
        PlannedRoute(N("203.0.113.0/24"), A(gateway), 254, 1024),
    )
    assert p.notes == ()


def test_gateway_onlink_via_wider_classless_route_gets_host_route_first() -> None:
    msg = apply_msg(routers=(), classless_routes=(
        Route(N("203.0.113.0/24"), A("198.51.100.1")),
        Route(N("198.51.100.0/24"), A("0.0.0.0")),
    ))
    p = plan(msg)
    assert p.routes == (
        PlannedRoute(N("198.51.100.0/24"), None, 254, 1024),
        PlannedRoute(N("198.51.100.1/32"), None, 254, 1024),
        PlannedRoute(N("203.0.113.0/24"), A("198.51.100.1"), 254, 1024),
    )
    assert p.notes == ()


def test_classless_gateway_off_link_is_skipped_with_a_note() -> None:
    """A /24 lease with one option-121 route through a gateway outside the subnet and no
    on-link route to it: that route is skipped, said in the reply and the log, and the rest
    of the lease is applied (refusing it lost the address, again at every offer)."""
    msg = apply_msg(classless_routes=(
        Route(N("0.0.0.0/0"), A("192.0.2.1")),
        Route(N("203.0.113.0/24"), A("198.51.100.1")),
        Route(N("198.51.100.0/24"), A("192.0.2.2")),
    ))
    for policy, table in ((Policy(), 254), (Policy(classless_table=100), 100)):
        p = plan(msg, policy)
        assert p.interface == IPv4Interface("192.0.2.10/24")
        assert [(r.destination, r.gateway) for r in p.routes] == [
            *([(N("192.0.2.0/24"), None)] if table != 254 else []),
            (N("0.0.0.0/0"), A("192.0.2.1")), (N("198.51.100.0/24"), A("192.0.2.2"))]
        assert {r.table for r in p.routes} == {table}
        assert p.notes == ("classless route 203.0.113.0/24 skipped: gateway 198.51.100.1 is"
                           " not on the link (outside 192.0.2.0/24, no on-link route)",)
    # the default route itself: the lease goes on without one
    p = plan(apply_msg(classless_routes=(Route(N("0.0.0.0/0"), A("198.51.100.1")),)))
    assert p.routes == () and p.notes[0].startswith("classless route 0.0.0.0/0 skipped: ")


def test_a_slash_32_lease_reaches_a_classless_gateway_through_a_host_route() -> None:
    """A routed /32 lease whose option 121 has the default route via a gateway outside it
    and no on-link route to that gateway: a host route to it first (once, however many
    routes go through it), as for option 3's router and as networkd does."""
    msg = apply_msg(address=A("203.0.113.7"), prefixlen=32, routers=(), classless_routes=(
        Route(N("0.0.0.0/0"), A("203.0.113.1")),
        Route(N("198.51.100.0/24"), A("203.0.113.1")),
    ))
    for policy, table in ((Policy(), 254), (Policy(route_table=100), 100),
                          (Policy(classless_table=200), 200)):
        p = plan(msg, policy)
        routes = [r for r in p.routes if r.destination != N("203.0.113.7/32")]
        assert routes == [PlannedRoute(N("203.0.113.1/32"), None, table, 1024),
                          PlannedRoute(N("0.0.0.0/0"), A("203.0.113.1"), table, 1024),
                          PlannedRoute(N("198.51.100.0/24"), A("203.0.113.1"), table, 1024)]
        assert p.notes == ()


@pytest.mark.parametrize("prefixlen", [24, 32])
@pytest.mark.parametrize(("gateway", "why"), [
    ("192.0.2.10", "our own address"),
    ("127.0.0.1", "loopback"),
    ("224.0.0.1", "multicast"),
    ("0.1.2.3", r"0\.0\.0\.0/8"),
    ("255.255.255.255", "limited broadcast"),
    ("240.0.0.1", "class E"),
])
def test_a_classless_gateway_never_acceptable_is_skipped_not_the_lease(
        prefixlen: int, gateway: str, why: str) -> None:
    """A gateway no lease may have costs its route, not the lease: on a /24 as on a /32
    (where no host route makes it acceptable), as option 3's router is skipped. A refusal
    would leave the link with no address, the server's offers avoided again and again."""
    p = plan(apply_msg(prefixlen=prefixlen, routers=(), classless_routes=(
        Route(N("198.51.100.0/24"), A(gateway)),
        Route(N("203.0.113.0/24"), A("192.0.2.1")),
        Route(N("0.0.0.0/0"), A("192.0.2.1")))))
    assert p.interface == IPv4Interface(f"192.0.2.10/{prefixlen}")
    assert [(str(r.destination), str(r.gateway)) for r in p.routes if r.gateway] == [
        ("203.0.113.0/24", "192.0.2.1"), ("0.0.0.0/0", "192.0.2.1")]
    [note] = p.notes
    assert note.startswith(f"classless route 198.51.100.0/24 skipped: gateway {gateway} ")
    assert re.search(why, note)


@pytest.mark.parametrize("gateway", ["192.0.2.0", "192.0.2.255"])
def test_a_classless_gateway_at_the_subnets_edge_is_skipped(gateway: str) -> None:
    p = plan(apply_msg(routers=(), classless_routes=(Route(N("198.51.100.0/24"), A(gateway)),)))
    assert p.routes == () and p.interface == IPv4Interface("192.0.2.10/24")
    [note] = p.notes
    assert "network or broadcast" in note and note.startswith("classless route 198.51")


def test_a_host_route_comes_only_with_an_installed_route_through_it() -> None:
    """A /32 lease: the host route to a gateway comes with the route through it, and only
    when that route is installed. With UseRoutes=no the server's on-link routes are not
    installed; the default route (UseGateway=) still gets its host route, as option 3's
    router does, but a skipped route gets none (the bypass of security hardening item 5)."""
    msg = apply_msg(address=A("10.128.0.5"), prefixlen=32, routers=(), classless_routes=(
        Route(N("10.128.0.1/32"), A("0.0.0.0")),
        Route(N("0.0.0.0/0"), A("10.128.0.1")),
        Route(N("198.51.100.0/24"), A("10.128.0.9")),
        Route(N("172.16.0.0/24"), A("0.0.0.0")),
    ))
    default = (PlannedRoute(N("10.128.0.1/32"), None, 254, 1024),
               PlannedRoute(N("0.0.0.0/0"), A("10.128.0.1"), 254, 1024))
    assert plan(msg, Policy(use_routes=False)).routes == default
    assert plan(msg, Policy(use_routes=False, use_gateway=False)).routes == ()
    assert plan(msg).routes == (
        PlannedRoute(N("10.128.0.1/32"), None, 254, 1024),
        PlannedRoute(N("172.16.0.0/24"), None, 254, 1024),
        PlannedRoute(N("10.128.0.9/32"), None, 254, 1024),
        PlannedRoute(N("0.0.0.0/0"), A("10.128.0.1"), 254, 1024),
        PlannedRoute(N("198.51.100.0/24"), A("10.128.0.9"), 254, 1024),
    )


@pytest.mark.parametrize(("dest", "why"), [
    ("127.0.0.0/8", "loopback"), ("127.1.0.0/16", "loopback"), ("224.0.0.0/4", "multicast"),
    ("239.1.0.0/16", "multicast"), ("240.0.0.0/8", "class E"), ("0.0.0.0/8", r"0\.0\.0\.0/8"),
])
@pytest.mark.parametrize("gateway", ["192.0.2.1", "0.0.0.0"])
def test_a_classless_destination_no_link_may_route_is_skipped(dest: str, why: str,
                                                              gateway: str) -> None:
    """Through a gateway or on the link alike; the rest of the lease goes on."""
    p = plan(apply_msg(classless_routes=(
        Route(N(dest), A(gateway)),
        Route(N("0.0.0.0/0"), A("192.0.2.1")),
    )))
    assert [(str(r.destination), str(r.gateway)) for r in p.routes] == [
        ("0.0.0.0/0", "192.0.2.1")]
    [note] = p.notes
    assert note.startswith(f"classless route {dest} skipped: destination is ")
    assert re.search(why, note)


def test_a_classless_destination_given_twice_is_skipped_not_the_lease() -> None:
    """The kernel would refuse the second route (EEXIST): the first is kept, the second
    noted, as a route through a gateway off the link is; a refusal would cost the link its
    address (and with UseRoutes=no the route is not even added)."""
    msg = apply_msg(classless_routes=(
        Route(N("0.0.0.0/0"), A("192.0.2.1")),
        Route(N("198.51.100.0/24"), A("192.0.2.1")),
        Route(N("198.51.100.0/24"), A("192.0.2.2")),
    ))
    p = plan(msg)
    assert [(str(r.destination), str(r.gateway)) for r in p.routes] == [
        ("0.0.0.0/0", "192.0.2.1"), ("198.51.100.0/24", "192.0.2.1")]
    assert p.notes == ("classless route 198.51.100.0/24 skipped: given twice, the first "
                       "kept",)
    p = plan(msg, Policy(use_routes=False))
    assert [str(r.destination) for r in p.routes] == ["0.0.0.0/0"] and p.notes == ()


def test_an_on_link_route_given_second_makes_no_gateway_reachable() -> None:
    """Only the first of a destination given twice is installed: an on-link route that
    comes second is not, and a gateway inside it is off the link, as one inside an on-link
    route skipped for UseRoutes=no (security hardening item 5)."""
    p = plan(apply_msg(routers=(), classless_routes=(
        Route(N("198.51.100.0/24"), A("192.0.2.1")),
        Route(N("198.51.100.0/24"), A("0.0.0.0")),
        Route(N("203.0.113.0/24"), A("198.51.100.7")),
    )))
    assert [(str(r.destination), str(r.gateway)) for r in p.routes] == [
        ("198.51.100.0/24", "192.0.2.1")]
    assert p.notes == (
        "classless route 198.51.100.0/24 skipped: given twice, the first kept",
        "classless route 203.0.113.0/24 skipped: gateway 198.51.100.7 is not on the link "
        "(outside 192.0.2.0/24, no on-link route)")
    # a first one skipped (off the link) keeps nothing: the second is the one used
    p = plan(apply_msg(classless_routes=(Route(N("0.0.0.0/0"), A("203.0.113.9")),
                                         Route(N("0.0.0.0/0"), A("192.0.2.1")))))
    assert [str(r.gateway) for r in p.routes] == ["192.0.2.1"] and len(p.notes) == 1


def test_why_there_is_no_default_route_is_said() -> None:
    """RFC 3442: with option 121, option 3 is not used; a server that sends both without
    a default route in 121 gets none, and the status says why. ClasslessRoutes=ignore is
    the administrator's choice, not a note at every renewal."""
    msg = apply_msg(classless_routes=(Route(N("198.51.100.0/24"), A("192.0.2.2")),))
    for policy in (Policy(), Policy(use_routes=False), Policy(classless_table=100)):
        assert not [r for r in plan(msg, policy).routes if r.destination.prefixlen == 0]
        assert plan(msg, policy).notes == ("no default route: option 121 has none, and "
                                           "option 3's routers are not used with it (RFC "
                                           "3442)",)
    assert plan(msg, Policy(use_gateway=False)).notes == ()
    ignored = plan(msg, Policy(classless_table=None))
    assert ignored.notes == () and ignored.routes[-1].gateway == A("192.0.2.1")


def test_use_gateway_and_use_routes() -> None:
    msg = apply_msg(classless_routes=(
        Route(N("0.0.0.0/0"), A("192.0.2.1")),
        Route(N("198.51.100.0/24"), A("192.0.2.2")),
    ))
    assert [str(r.destination) for r in plan(msg, Policy(use_gateway=False)).routes] == [
        "198.51.100.0/24"]
    assert [str(r.destination) for r in plan(msg, Policy(use_routes=False)).routes] == [
        "0.0.0.0/0"]
    assert plan(apply_msg(), Policy(use_gateway=False)).routes == ()


def test_route_bound() -> None:
    routes = tuple(Route(N(f"10.{i // 256}.{i % 256}.0/24"), A("192.0.2.1"))
                   for i in range(MAX_ROUTES + 1))
    refused(apply_msg(classless_routes=routes), f"at most {MAX_ROUTES}")
    assert len(plan(apply_msg(classless_routes=routes[:MAX_ROUTES])).routes) == MAX_ROUTES


def test_server_bound_and_classes() -> None:
    servers = tuple(A(f"192.0.2.{i}") for i in range(100, 109))
    refused(apply_msg(dns_servers=servers), "at most 8")
    assert len(plan(apply_msg(dns_servers=servers[:8])).dns_servers) == 8
    refused(apply_msg(dns_servers=(A("127.0.0.53"),)), "loopback")
    refused(apply_msg(dns_servers=(A("224.0.0.251"),)), "multicast")
    assert plan(apply_msg(dns_servers=(A("127.0.0.53"),)), Policy(use_dns=False)).dns_servers == ()


def test_domain_bound_and_syntax() -> None:
    names = tuple(f"d{i}.example" for i in range(17))
    refused(apply_msg(domains=names), "at most 16")
    assert len(plan(apply_msg(domains=names[:16])).domains) == 16
    for bad in ("-lead.example", "trail-.example", "a..b", "sp ace.example", "x" * 64 + ".e",
                "semi;colon", "new\nline", "", ("a." * 127) + "ab"):
        refused(apply_msg(domains=(bad,)), "domain")
    assert plan(apply_msg(domains=("Example.COM", "example.com", "x.example."))).domains == (
        "Example.COM", "x.example.")
    assert plan(apply_msg(domains=("bad..name",)), Policy(use_domains=False)).domains == ()


def test_allowlist() -> None:
    policy = Policy(allowed_addresses=(N("192.0.2.0/24"), N("10.0.0.0/16")))
    plan(apply_msg(), policy)
    plan(apply_msg(address=A("10.0.3.4"), prefixlen=24, routers=()), policy)
    refused(apply_msg(address=A("198.51.100.10")), "AllowedAddresses", policy)
    # the whole subnet must be inside a range: a /8 would route more than was allowed
    refused(apply_msg(address=A("10.0.3.4"), prefixlen=8, routers=()), "AllowedAddresses",
            policy)


def test_mtu_within_bounds_or_ignored_with_a_note() -> None:
    assert plan(apply_msg(mtu=1400), max_mtu=1500).mtu == 1400
    assert plan(apply_msg(mtu=576), max_mtu=1500).mtu == 576
    for bad in (575, 68, 1501):
        p = plan(apply_msg(mtu=bad), max_mtu=1500)
        assert p.mtu is None
        assert "ignored" in p.notes[0]
    assert plan(apply_msg(mtu=1400), Policy(use_mtu=False)).mtu is None


def test_use_routes_no_cannot_be_bypassed_with_an_onlink_host_route() -> None:
    """Security hardening, item 5: a skipped on-link route must not admit a gateway."""
    routes = (Route(N("0.0.0.0/0"), A("10.8.0.53")), Route(N("10.8.0.53/32"), A("0.0.0.0")))
    msg = apply_msg(classless_routes=routes)
    p = plan(msg, Policy(use_routes=False))  # the default route is skipped, not the lease
    assert p.routes == ()
    assert p.notes == ("classless route 0.0.0.0/0 skipped: gateway 10.8.0.53 is not on the"
                       " link (outside 192.0.2.0/24, no on-link route)",)
    # with the on-link route installed, the gateway behind it is fine (RFC 3442)
    p = plan(msg)
    assert PlannedRoute(N("10.8.0.53/32"), None, 254, 1024) in p.routes
    assert PlannedRoute(N("0.0.0.0/0"), A("10.8.0.53"), 254, 1024) in p.routes


def test_notes_go_to_the_engine_whole_or_not_at_all() -> None:
    """The OK's reason holds at most the contract's 200 characters: the notes that fit go
    whole, and the rest are counted, with where netconf logged them all."""
    skipped = "router skipped: gateway 10.9.9.9 is not on the link (outside 192.0.2.0/24)"
    no_route = "no default route: no router of the lease is usable"
    mtu = "mtu 500 ignored (outside 1280..65535 (the link has IPv6))"
    assert notes_text((), "eth0") == ""
    assert notes_text((skipped, no_route), "eth0") == f"{skipped}; {no_route}"
    many = notes_text((skipped, skipped, no_route, mtu), "eth0")
    assert many == f"{skipped}; {skipped}; 2 more: journalctl -u leasebox-netconf@eth0"
    assert len(many) <= MAX_REASON
    long = "x" * 201
    assert notes_text((long,), "eth0") == \
        "1 note, too long for here: journalctl -u leasebox-netconf@eth0"
    for k in range(1, 12):  # whatever the count and the interface's name, within bounds
        text = notes_text((mtu,) * k, "e" * 15)
        assert len(text) <= MAX_REASON and not text.endswith("...")
        assert text == "; ".join((mtu,) * k) or text.endswith("@" + "e" * 15)
