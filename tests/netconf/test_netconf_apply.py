"""Transactions against a fake kernel: renewal diffs, rollback, exact removal, MTU restore."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest
from tests.conftest import Logs

from leasebox.core.log import WARNING
from leasebox.ipc import INFINITE, Names
from leasebox.netconf.apply import ApplyFailed, Configurator, NotOurs, Tracked
from leasebox.netconf.handoff import NOTHING
from leasebox.netconf.state import from_json, to_json
from leasebox.netconf.validate import Plan, PlannedRoute

A = IPv4Address
N = IPv4Network
GW = PlannedRoute(N("0.0.0.0/0"), A("192.0.2.1"), 254, 1024)
GW2 = PlannedRoute(N("0.0.0.0/0"), A("192.0.2.2"), 254, 1024)
NET = PlannedRoute(N("198.51.100.0/24"), A("192.0.2.1"), 254, 1024)
HOST = PlannedRoute(N("203.0.113.1/32"), None, 254, 1024)


class FakeKernel:
    def __init__(self) -> None:
        self.mtu = 1500
        self.addresses: dict[IPv4Interface, int] = {}
        # every route on the link, once for each way it is there (NLM_F_APPEND: with
        # another preferred source it is another route); `sourced` those with one
        self.routes: list[PlannedRoute] = []
        self.sourced: list[tuple[PlannedRoute, IPv4Address]] = []
        self.fail_on: str | None = None
        self.lifetime_bug = False
        self.lifetime_cap: int | None = None  # a 32-bit kernel's LONG_MAX / HZ
        self.promote_secondaries = True
        # the kernel's rules about addresses and routes: a link left without an IPv4 address
        # loses every route through it, and a gateway must be on one of its subnets
        self.kernel_rules = False
        self.linkdown_ignored = False
        self.log: list[str] = []

    def _maybe_fail(self, what: str) -> None:
        self.log.append(what)
        if self.fail_on and what.startswith(self.fail_on):
            raise OSError(errno.EINVAL, f"{what}: EINVAL")

    def link_mtu(self) -> int:
        return self.mtu

    def ignore_routes_without_carrier(self) -> None:
        self._maybe_fail("linkdown")
        self.linkdown_ignored = True

    def set_mtu(self, mtu: int) -> None:
        self._maybe_fail(f"mtu {mtu}")
        self.mtu = mtu

    def set_address(self, iface: IPv4Interface, broadcast: IPv4Address | None,
                    lifetime: int, prefix_route: bool = True, metric: int = 0) -> None:
        self._maybe_fail(f"addr {iface}")
        if self.lifetime_bug:
            lifetime = 0xFFFFFFFF
        elif self.lifetime_cap is not None and lifetime != 0xFFFFFFFF:
            lifetime = min(lifetime, self.lifetime_cap)
        self.addresses[iface] = lifetime

    def address_lifetimes(self, iface: IPv4Interface) -> tuple[int, int] | None:
        self._maybe_fail(f"lifetimes {iface}")
        got = self.addresses.get(iface)
        return None if got is None else (got, got)

    def del_address(self, iface: IPv4Interface) -> bool:
        self._maybe_fail(f"deladdr {iface}")
        if iface not in self.addresses:
            return False
        primary = next(a for a in self.addresses if a.network == iface.network)
        if primary == iface and not self.promote_secondaries:  # the kernel's: they go too
            for other in [a for a in self.addresses if a.network == iface.network]:
                del self.addresses[other]
        self.addresses.pop(iface, None)
        if self.kernel_rules and not self.addresses:  # (these routes are all the link's)
            self.routes.clear()
        if self.kernel_rules:  # the routes with it as their source go with it
            for route, source in self._sourced():
                if source == iface.ip:
                    self._drop(route, source)
        return True

    def _sourced(self) -> list[tuple[PlannedRoute, IPv4Address]]:
        """`sourced`, less what a test took out of `routes` by hand."""
        self.sourced = [(r, src) for i, (r, src) in enumerate(self.sourced)
                        if [x for x, _ in self.sourced[:i + 1]].count(r) <= self.routes.count(r)]
        return list(self.sourced)

    def _drop(self, route: PlannedRoute, source: IPv4Address | None) -> None:
        self.routes.remove(route)
        if source is not None:
            self.sourced.remove((route, source))

    def add_route(self, route: PlannedRoute, source: IPv4Address | None = None) -> bool:
        self._maybe_fail(f"route {route.destination} {route.gateway}")
        with_source = [src for r, src in self._sourced() if r == route]
        if source in with_source or (source is None and
                                     self.routes.count(route) > len(with_source)):
            return False
        if self.kernel_rules and route.gateway is not None and not any(
                route.gateway in a.network for a in self.addresses):  # the kernel's
            raise OSError(errno.ENETUNREACH, "Network is unreachable")
        if self.kernel_rules and source is not None and not any(
                source == a.ip for a in self.addresses):  # a preferred source not local
            raise OSError(errno.EINVAL, "Invalid prefsrc")
        self.routes.append(route)
        if source is not None:
            self.sourced.append((route, source))
        return True

    def del_route(self, route: PlannedRoute, source: IPv4Address | None = None) -> bool:
        self._maybe_fail(f"delroute {route.destination} {route.gateway}")
        with_source = [src for r, src in self._sourced() if r == route]
        if source is not None:
            if source not in with_source:
                return False
            self._drop(route, source)
        elif self.routes.count(route) > len(with_source):  # one without a source
            self.routes.remove(route)
        elif with_source:  # the kernel takes the first with any source
            self._drop(route, with_source[0])
        else:
            return False
        return True


class FakeResolver:
    def __init__(self, name: str = "resolved") -> None:
        self.name = name
        self.content: tuple[tuple[IPv4Address, ...], tuple[str, ...]] | None = None
        self.fail = False
        self.calls = 0
        self.olds: list[Names | None] = []

    def hand_off(self, new: Names, old: Names | None) -> None:
        self.calls += 1
        self.olds.append(old)
        if self.fail:
            raise OSError(errno.ENOSPC, "no space")
        self.content = new.dns if new != NOTHING else None


def make_plan(address: str = "192.0.2.10/24", routes: tuple[PlannedRoute, ...] = (GW,),
              mtu: int | None = None, lifetime: int = 600,
              dns: tuple[str, ...] = ("192.0.2.53",)) -> Plan:
    iface = IPv4Interface(address)
    return Plan(iface, iface.network.broadcast_address, lifetime, routes, mtu,
                tuple(A(d) for d in dns), ("example.com",) if dns else ())


@pytest.fixture
def setup() -> tuple[FakeKernel, FakeResolver, Configurator]:
    kernel, resolver = FakeKernel(), FakeResolver()
    return kernel, resolver, Configurator(kernel, resolver)


def test_apply_then_remove_restores_everything(setup: tuple[FakeKernel, FakeResolver,
                                                            Configurator]) -> None:
    kernel, resolver, conf = setup
    kernel.routes.append(PlannedRoute(N("10.0.0.0/8"), A("192.0.2.9"), 254, 5))  # not ours
    conf.apply(make_plan(routes=(HOST, NET, GW), mtu=1400))
    assert kernel.mtu == 1400
    assert kernel.addresses == {IPv4Interface("192.0.2.10/24"): 600}
    assert kernel.routes[1:] == [HOST, NET, GW]
    assert resolver.content is None  # handed on after the engine has its reply ...
    assert conf.hand_off(0.0) == "" and resolver.content is not None  # ... by the loop
    conf.remove()
    conf.hand_off(0.0)
    assert kernel.mtu == 1500
    assert kernel.addresses == {}
    assert kernel.routes == [PlannedRoute(N("10.0.0.0/8"), A("192.0.2.9"), 254, 5)]
    assert resolver.content is None
    assert conf.tracked.empty
    # routes went in reverse order of installation
    assert [e for e in kernel.log if e.startswith("delroute")] == [
        "delroute 0.0.0.0/0 192.0.2.1", "delroute 198.51.100.0/24 192.0.2.1",
        "delroute 203.0.113.1/32 None"]


def test_the_links_routes_are_skipped_while_it_has_no_carrier(
        setup: tuple[FakeKernel, FakeResolver, Configurator], logs: Logs) -> None:
    """The lease is kept through a carrier loss, and its routes were used all the while: a
    laptop undocked sent everything to the unplugged port. The kernel is asked to skip them
    (the netns test shows the effect); a kernel that refuses costs the lease nothing, and
    is said once."""
    kernel, _resolver, conf = setup
    conf.apply(make_plan())
    assert kernel.linkdown_ignored
    refusing = FakeKernel()
    refusing.fail_on = "linkdown"
    conf = Configurator(refusing, FakeResolver())
    conf.apply(make_plan())
    conf.apply(make_plan(lifetime=300))
    assert refusing.addresses == {IPv4Interface("192.0.2.10/24"): 300}
    assert len([r for r in logs.at_least(WARNING) if "no carrier" in r.text()]) == 1


def test_a_refusal_for_want_of_cap_net_admin_says_so() -> None:
    """In a container that withholds CAP_NET_ADMIN every apply failed with "Operation not
    permitted", and the engine backed off and tried again for ever: the cause is named."""
    class Unprivileged(FakeKernel):
        def set_address(self, iface: IPv4Interface, broadcast: IPv4Address | None,
                        lifetime: int, prefix_route: bool = True, metric: int = 0) -> None:
            raise OSError(errno.EPERM, "set address: EPERM")

    with pytest.raises(ApplyFailed, match="netconf needs CAP_NET_ADMIN"):
        Configurator(Unprivileged(), FakeResolver()).apply(make_plan())


def test_renewal_changes_only_what_differs(setup: tuple[FakeKernel, FakeResolver,
                                                        Configurator]) -> None:
    kernel, _resolver, conf = setup
    conf.apply(make_plan(routes=(NET, GW), mtu=1400))
    kernel.log.clear()
    conf.apply(make_plan(routes=(GW2,), lifetime=300))
    assert kernel.addresses == {IPv4Interface("192.0.2.10/24"): 300}
    assert kernel.routes == [GW2]
    assert kernel.mtu == 1500  # the renewal has no MTU: the original is back
    assert "deladdr 192.0.2.10/24" not in kernel.log
    assert conf.tracked.mtu is None and conf.tracked.original_mtu is None


@pytest.mark.parametrize("promote", [True, False])
@pytest.mark.parametrize("address", ["192.0.2.20/24", "192.0.2.10/23", "198.51.100.7/24"])
def test_a_new_address_goes_on_before_the_old_one_goes(
        setup: tuple[FakeKernel, FakeResolver, Configurator], address: str,
        promote: bool, logs: Logs) -> None:
    """Never without an address (the kernel flushes every route through a link left without
    one, an administrator's too): a new address, or the same one with a new prefix, goes on
    first. A secondary that went with the old primary (promote_secondaries=0) comes back."""
    kernel, _resolver, conf = setup
    kernel.promote_secondaries, kernel.kernel_rules = promote, True
    conf.apply(make_plan(mtu=1400))
    kernel.log.clear()
    gateway = GW if A("192.0.2.1") in IPv4Interface(address).network else \
        PlannedRoute(N("0.0.0.0/0"), A("198.51.100.1"), 254, 1024)
    conf.apply(make_plan(address=address, mtu=1400, routes=(gateway,)))
    assert kernel.log.index(f"addr {address}") < kernel.log.index("deladdr 192.0.2.10/24")
    assert list(kernel.addresses) == [IPv4Interface(address)]
    assert kernel.routes == [gateway] and conf.tracked.address == IPv4Interface(address)
    # where the kernel took the new address with the old, and the routes, it says so once
    flushed = not promote and IPv4Interface(address).network == N("192.0.2.0/24")
    assert ("promote_secondaries=0" in logs.text) == flushed
    assert not logs.at_least(WARNING)
    conf.remove()
    assert kernel.mtu == 1500 and not kernel.addresses and not kernel.routes


@pytest.mark.parametrize("fail_on", ["deladdr 192.0.2.10", "route 198.51.100.0/24"])
def test_a_failed_address_change_leaves_what_it_says(
        setup: tuple[FakeKernel, FakeResolver, Configurator], fail_on: str) -> None:
    """The new address is rolled back; the old one is still there and tracked if it could
    not be removed, and neither on the link nor tracked once it was, nor the old lease's
    routes (not put back without their address)."""
    kernel, _resolver, conf = setup
    kernel.kernel_rules = True
    conf.apply(make_plan(routes=(GW, HOST)))
    kernel.fail_on = fail_on
    with pytest.raises(ApplyFailed, match="EINVAL"):  # (GW in both leases)
        conf.apply(make_plan(address="192.0.2.20/24", routes=(GW, NET, GW2)))
    kept = [IPv4Interface("192.0.2.10/24")] if fail_on.startswith("deladdr") else []
    assert list(kernel.addresses) == kept
    assert conf.tracked.address == (kept[0] if kept else None)
    assert conf.tracked.routes == kernel.routes  # what it says is what is there
    kernel.fail_on = None
    conf.remove()
    assert not kernel.addresses and not kernel.routes and conf.tracked.empty


@pytest.mark.parametrize("fail_on", ["addr", "route 0.0.0.0/0", "route 198.51"])
def test_failure_rolls_back_a_fresh_apply(setup: tuple[FakeKernel, FakeResolver, Configurator],
                                          fail_on: str) -> None:
    kernel, resolver, conf = setup
    kernel.fail_on = fail_on
    with pytest.raises(ApplyFailed, match="EINVAL"):
        conf.apply(make_plan(routes=(HOST, NET, GW), mtu=1400))
    assert kernel.mtu == 1500 and not kernel.addresses and not kernel.routes
    assert resolver.content is None
    assert conf.tracked.empty


def test_dns_failure_keeps_the_address_and_retries(setup: tuple[FakeKernel, FakeResolver,
                                                                 Configurator]) -> None:
    kernel, resolver, conf = setup
    resolver.fail = True
    conf.apply(make_plan(mtu=1400), now=100.0)
    assert kernel.mtu == 1400 and kernel.addresses and kernel.routes == [GW]
    assert conf.due(100.0) == 100.0
    assert "no space" in conf.hand_off(100.0)
    assert conf.pending() == "DNS/NTP hand-off pending ([Errno 28] no space)"
    retries = []
    now = 100.0
    for _ in range(8):
        due = conf.due(now)
        assert due is not None
        retries.append(due - now)
        now = due
        conf.hand_off(now)
    assert retries == [1, 2, 4, 8, 16, 32, 60, 60]
    resolver.fail = False
    assert conf.hand_off(conf.due(now) or now) == ""
    assert resolver.content == ((A("192.0.2.53"),), ("example.com",))
    assert conf.due(now) is None and conf.pending() == "" and conf.tracked.wanted is None
    assert kernel.addresses  # never touched by any of it


def test_a_hand_off_that_failed_is_undone_even_back_to_what_was_confirmed(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    """The first lease's hand-off times out at netconf (leasebox-bus answered late) but
    leasebox-bus carries it out; the lease then goes before a retry. Wanted is nothing
    again, as confirmed, yet it must go: the bus holds the lease's DNS and NTP."""
    _kernel, resolver, conf = setup
    resolver.fail = True
    conf.apply(make_plan(), now=100.0)
    conf.hand_off(100.0)
    assert conf.tracked.dns == NOTHING and conf.tracked.wanted is not None
    conf.want(NOTHING, 101.0)  # the Remove
    assert conf.due(101.0) == 101.0
    resolver.fail = False
    assert conf.hand_off(101.0) == ""
    assert resolver.content is None and resolver.calls == 2
    assert resolver.olds[-1] is None  # whole, not as no change from the confirmed nothing
    assert conf.due(102.0) is None
    # once one went through, changes are changes again
    conf.want(NOTHING, 103.0)
    assert conf.due(103.0) is None


def test_failed_renewal_restores_previous_routes(setup: tuple[FakeKernel, FakeResolver,
                                                              Configurator]) -> None:
    kernel, _resolver, conf = setup
    conf.apply(make_plan(routes=(GW,)))
    kernel.fail_on = "route 198.51"
    with pytest.raises(ApplyFailed):
        conf.apply(make_plan(routes=(GW2, NET)))
    assert kernel.routes == [GW]
    assert list(kernel.addresses) == [IPv4Interface("192.0.2.10/24")]
    assert conf.tracked.routes == [GW]


def test_a_renewal_puts_back_a_route_a_failed_rollback_lost(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    """A renewal to another router fails, and so does the rollback's re-adding of the old
    default route: the engine keeps the lease in use, and its next renewal must give the
    link its route back rather than trust netconf's record of it."""
    kernel, _resolver, conf = setup
    conf.apply(make_plan(routes=(GW,)))
    kernel.fail_on = "route 0.0.0.0/0"
    with pytest.raises(ApplyFailed):
        conf.apply(make_plan(routes=(GW2,)))
    assert kernel.routes == [] and conf.tracked.routes == [GW]
    kernel.fail_on = None
    conf.apply(make_plan(routes=(GW,)))
    assert kernel.routes == [GW]


def test_a_failing_read_of_the_link_is_a_failed_apply(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    """The first thing an apply does is read the address (is it someone's permanent
    one?): the kernel's error there is a failed apply, as any later one is."""
    kernel, _resolver, conf = setup
    kernel.fail_on = "lifetimes"
    with pytest.raises(ApplyFailed, match="EINVAL"):
        conf.apply(make_plan())
    assert not kernel.addresses and conf.tracked.empty


def test_failed_renewal_restores_the_lifetime_the_kernel_held(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    """The engine keeps the lease in use when its renewal fails; the kernel must not
    expire the address at the renewal's (here shorter) lifetime instead."""
    kernel, _resolver, conf = setup
    conf.apply(make_plan(lifetime=3000))
    kernel.fail_on = "route 198.51"
    with pytest.raises(ApplyFailed):
        conf.apply(make_plan(routes=(GW, NET), lifetime=600))
    assert kernel.addresses == {IPv4Interface("192.0.2.10/24"): 3000}


def test_lifetimes_that_do_not_land_are_a_failure(setup: tuple[FakeKernel, FakeResolver,
                                                               Configurator]) -> None:
    kernel, _resolver, conf = setup
    kernel.lifetime_bug = True
    with pytest.raises(ApplyFailed, match="lifetimes"):
        conf.apply(make_plan())
    assert not kernel.addresses and conf.tracked.empty


@pytest.mark.parametrize("hz", [1000, 250])
def test_a_lease_past_a_32_bit_kernels_cap_is_applied(
        setup: tuple[FakeKernel, FakeResolver, Configurator], logs: Logs, hz: int) -> None:
    """On i386 or armhf the kernel holds a finite lifetime for LONG_MAX / HZ seconds at
    most (~24.8 days at HZ=1000, ~99 at 250): read back as wrong, a 120-day lease was
    rolled back, and the engine got it again, and again: never an address. It is taken,
    and the journal says when the address would go without a renewal."""
    kernel, _resolver, conf = setup
    kernel.lifetime_cap = (2**31 - 1) // hz
    conf.apply(make_plan(lifetime=120 * 86400))
    assert kernel.addresses == {IPv4Interface("192.0.2.10/24"): (2**31 - 1) // hz}
    assert any("32-bit kernel's cap" in r.message for r in logs.at_least(WARNING))
    conf.apply(make_plan(lifetime=INFINITE))  # forever is forever there too
    assert kernel.addresses == {IPv4Interface("192.0.2.10/24"): INFINITE}


def test_remove_leaves_an_mtu_someone_else_changed(setup: tuple[FakeKernel, FakeResolver,
                                                                Configurator]) -> None:
    kernel, _resolver, conf = setup
    conf.apply(make_plan(mtu=1400))
    kernel.mtu = 9000
    conf.remove()
    assert kernel.mtu == 9000


def test_a_link_mtu_the_kernel_refuses_back_does_not_fail_every_removal(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    """A VLAN's parent lowered since the lease's MTU was set: the link's own MTU is refused
    (ERANGE), for good. The removal failed, and so did every one after it, with the MTU
    tracked for ever; now that costs the MTU, as at apply, and the rest is removed."""
    kernel, _resolver, conf = setup
    conf.apply(make_plan(mtu=1400))
    kernel.fail_on = "mtu 1500"
    conf.remove()
    assert conf.tracked.empty and kernel.mtu == 1400 and not kernel.addresses
    # a failure asking again may cure still fails the removal, and stays tracked
    kernel.fail_on = None
    conf.apply(make_plan(mtu=1400))

    def busy(mtu: int) -> None:
        raise OSError(errno.EBUSY, "busy")

    kernel.set_mtu = busy  # type: ignore[method-assign]
    with pytest.raises(ApplyFailed, match="busy"):
        conf.remove()
    assert conf.tracked.mtu == 1400


class FailOnceKernel(FakeKernel):
    """fail_on fails the first step it names, then no more."""

    def _maybe_fail(self, what: str) -> None:
        try:
            super()._maybe_fail(what)
        except OSError:
            self.fail_on = None
            raise


def test_routes_go_on_with_the_lease_address_as_their_source() -> None:
    """RTA_PREFSRC, as networkd's: without it the kernel picks the first primary address on
    the link whose subnet holds the gateway, or any, which for a /32 lease's routes (or
    on-link classless ones) may be another address on the link, an administrator's or a
    VIP, and connections leave from it. An older netconf's routes, without a source, go
    and come back at the next apply (a rollback puts them back as they were); an address
    change takes the old lease's off by their source."""
    kernel = FailOnceKernel()
    conf = Configurator(kernel, FakeResolver())
    kernel.kernel_rules = True
    kernel.addresses[IPv4Interface("192.0.2.99/24")] = 0xFFFFFFFF  # the administrator's
    conf.apply(make_plan(routes=(NET, GW)))
    ours = A("192.0.2.10")
    assert kernel.sourced == [(NET, ours), (GW, ours)] and kernel.routes == [NET, GW]
    assert conf.tracked.route_source == ours
    conf.remove()
    assert kernel.routes == [] and kernel.sourced == []
    # an older netconf's, from its state file
    conf.apply(make_plan(routes=(NET, GW)))
    kernel.sourced.clear()
    conf.tracked.route_source = None
    kernel.fail_on = f"route {GW.destination}"  # a renewal fails: its rollback puts back
    with pytest.raises(ApplyFailed):
        conf.apply(make_plan(routes=(NET, GW)))
    assert kernel.routes == [NET, GW] and kernel.sourced == []
    conf.apply(make_plan(routes=(NET, GW)))
    assert kernel.sourced == [(NET, ours), (GW, ours)] and kernel.routes == [NET, GW]
    # a new address: the old lease's routes go (the kernel took them with the address)
    conf.apply(make_plan("192.0.2.20/24", routes=(NET, GW)))
    assert kernel.sourced == [(NET, A("192.0.2.20")), (GW, A("192.0.2.20"))]
    assert kernel.routes == [NET, GW]


def test_a_failed_first_apply_leaves_what_was_there_before(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    """The address and a route were on the link already (an initrd's DHCP client's, with
    a lifetime; a root on NFS needs them): a first apply that failed half-way deleted both
    in its rollback, as if it had added them."""
    kernel, _resolver, conf = setup
    kernel.addresses[IPv4Interface("192.0.2.10/24")] = 500
    kernel.routes.append(GW)
    kernel.fail_on = f"route {NET.destination}"
    with pytest.raises(ApplyFailed):
        conf.apply(make_plan(routes=(GW, NET)))
    assert kernel.addresses == {IPv4Interface("192.0.2.10/24"): 500}
    assert kernel.routes == [GW]
    assert conf.tracked.empty
    # what it added itself still goes
    kernel.addresses.clear()
    kernel.routes.clear()
    with pytest.raises(ApplyFailed):
        conf.apply(make_plan(routes=(GW, NET)))
    assert not kernel.addresses and not kernel.routes


def test_a_renewal_leaves_an_mtu_someone_else_changed(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    """The same lease MTU at a renewal does not undo an administrator's `ip link set mtu`,
    but the link's own MTU again (a reset) gets the lease's back; a new one from the server
    is set, and at the end the link's own comes back; a lease without one leaves theirs."""
    kernel, _resolver, conf = setup
    conf.apply(make_plan(mtu=1400))
    kernel.mtu = 9000
    conf.apply(make_plan(mtu=1400))
    assert kernel.mtu == 9000 and conf.tracked.mtu == 1400 and conf.mtu_left == 9000
    conf.remove()
    assert kernel.mtu == 9000
    conf.apply(make_plan(mtu=1400))  # over 9000, now the link's own
    kernel.mtu = 9000  # a driver's reset, say
    conf.apply(make_plan(mtu=1400))
    assert kernel.mtu == 1400
    kernel.mtu = 1450
    conf.apply(make_plan(mtu=1300))
    assert kernel.mtu == 1300 and conf.tracked.original_mtu == 9000
    kernel.mtu = 9000  # reset: still told from an administrator's
    conf.apply(make_plan(mtu=1300))
    assert kernel.mtu == 1300
    conf.remove()
    assert kernel.mtu == 9000
    conf.apply(make_plan(mtu=1400))
    kernel.mtu = 1450
    conf.apply(make_plan(mtu=None))
    assert kernel.mtu == 1450 and conf.tracked.mtu is None is conf.tracked.original_mtu
    conf.remove()
    assert kernel.mtu == 1450


def test_remove_tolerates_what_the_kernel_already_dropped(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    kernel, _resolver, conf = setup
    conf.apply(make_plan(routes=(NET, GW)))
    kernel.addresses.clear()  # the lifetime ran out
    kernel.routes.clear()
    conf.remove()
    assert conf.tracked.empty


def test_remove_keeps_what_it_could_not_remove(setup: tuple[FakeKernel, FakeResolver,
                                                            Configurator]) -> None:
    kernel, _resolver, conf = setup
    conf.apply(make_plan(routes=(NET, GW)))
    kernel.fail_on = "delroute 198.51"
    with pytest.raises(ApplyFailed):
        conf.remove()
    assert conf.tracked.routes == [NET]
    assert conf.tracked.address is None
    kernel.fail_on = None
    conf.remove()
    assert conf.tracked.empty and not kernel.routes


def test_dns_rewritten_only_on_change_and_removed_when_empty(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    _kernel, resolver, conf = setup
    conf.apply(make_plan())
    conf.hand_off(0.0)
    assert resolver.content == ((A("192.0.2.53"),), ("example.com",))
    conf.apply(make_plan())  # a renewal with the same values: nothing to hand on
    assert conf.due(1.0) is None
    conf.hand_off(1.0)
    assert resolver.calls == 1
    conf.apply(make_plan(dns=()))
    conf.hand_off(2.0)
    assert resolver.content is None and conf.tracked.dns == NOTHING


def test_a_permanent_address_is_not_taken_over(setup: tuple[FakeKernel, FakeResolver,
                                                           Configurator]) -> None:
    kernel, _resolver, conf = setup
    theirs = IPv4Interface("192.0.2.10/24")
    kernel.addresses[theirs] = 0xFFFFFFFF  # an administrator's: no lifetime
    with pytest.raises(NotOurs, match="permanent address"):
        conf.apply(make_plan())
    assert kernel.addresses == {theirs: 0xFFFFFFFF} and not kernel.routes
    conf.remove()
    assert kernel.addresses == {theirs: 0xFFFFFFFF}


def test_a_new_sink_takes_the_dns_over_at_start() -> None:
    """systemd-resolved was installed (or removed) since an earlier netconf handed the DNS
    to the other sink: the new netconf hands it on at once, telling the sink that what it
    holds is not known, even when the engine's next lease brings the same names."""
    names = Names((A("192.0.2.53"),), ("example.com",), (A("192.0.2.1"),))
    tracked = Tracked(address=IPv4Interface("192.0.2.10/24"), dns=names, dns_to="file")
    resolver = FakeResolver("resolved")
    conf = Configurator(FakeKernel(), resolver, tracked)
    assert conf.due(5.0) is not None
    assert conf.hand_off(5.0) == ""
    assert resolver.olds == [None] and resolver.content == names.dns
    assert conf.tracked.dns_to == "resolved" and conf.due(6.0) is None
    conf.want(names, 7.0)  # the same lease again: nothing more to hand on
    assert conf.due(7.0) is None


def test_the_same_sink_or_nothing_handed_on_is_no_takeover() -> None:
    names = Names((A("192.0.2.53"),))
    for tracked in (Tracked(dns=names, dns_to="resolved"), Tracked(dns_to="file")):
        conf = Configurator(FakeKernel(), FakeResolver("resolved"), tracked)
        assert conf.due(0.0) is None


def test_a_replaced_link_gets_its_dns_again_at_once() -> None:
    """A NIC unplugged and plugged back (a new ifindex) with the same lease: the names go
    to the sink again, which finds the new link by name; the same lease after that hands
    nothing more on."""
    names = Names((A("192.0.2.53"),), ("example.com",), (A("192.0.2.1"),))
    before = Tracked(address=IPv4Interface("192.0.2.10/24"), dns=names, dns_to="resolved")
    tracked = from_json(to_json(7, before), 8)
    resolver = FakeResolver("resolved")
    conf = Configurator(FakeKernel(), resolver, tracked)
    assert conf.due(0.0) is not None
    assert conf.hand_off(0.0) == ""
    assert resolver.olds == [None] and resolver.content == names.dns
    conf.want(names, 1.0)
    assert conf.due(1.0) is None


def test_what_a_replaced_link_handed_on_is_taken_back() -> None:
    """netconf.state of the link before it was replaced gives only the names handed on
    (state.from_json): a remove takes them back, with nothing else left to undo."""
    kernel, resolver = FakeKernel(), FakeResolver("resolved")
    resolver.content = (A("192.0.2.53"),), ()
    conf = Configurator(kernel, resolver, Tracked(dns=Names((A("192.0.2.53"),)),
                                                  dns_to="resolved"))
    assert not conf.tracked.empty and conf.due(0.0) is None
    conf.remove(0.0)
    assert conf.hand_off(0.0) == "" and resolver.content is None
    assert conf.tracked.empty


def test_an_address_change_changes_the_mtu_once_at_most(
        setup: tuple[FakeKernel, FakeResolver, Configurator]) -> None:
    """A new address with the same MTU: the MTU is not put back and set again (two changes,
    and many drivers reset the link for each); a new MTU is one change; a lease without
    one puts the original back, once."""
    kernel, _resolver, conf = setup
    conf.apply(make_plan(mtu=1400))
    assert kernel.mtu == 1400
    kernel.log.clear()
    conf.apply(make_plan(address="192.0.2.11/24", mtu=1400))
    assert not [e for e in kernel.log if e.startswith("mtu")]
    conf.apply(make_plan(address="192.0.2.12/24", mtu=1300))
    assert [e for e in kernel.log if e.startswith("mtu")] == ["mtu 1300"]
    kernel.log.clear()
    conf.apply(make_plan(address="192.0.2.13/24"))
    assert [e for e in kernel.log if e.startswith("mtu")] == ["mtu 1500"] and kernel.mtu == 1500
    conf.remove()
    assert kernel.mtu == 1500 and conf.tracked.empty
