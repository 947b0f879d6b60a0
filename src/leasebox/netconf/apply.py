"""Carrying out a Plan, remembering exactly what was changed, and undoing it.

netconf removes what it added as recorded here, never what the engine describes. Applying
the kernel's part (MTU, address, routes) is a transaction: each step that succeeds pushes
its undo, and when a later step fails the undos run in reverse, so a failed Apply leaves
the link as it was. A renewal of the same address only changes what differs (new
lifetimes, changed routes); a different address goes on before the old one goes.

DNS and NTP are handed on after the transaction and outside it: a resolver that is absent,
restarting or refusing never costs the address. What could not be handed on stays wanted,
and is tried again with a bounded backoff (`due`, `hand_off`) until it goes through.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from functools import partial
from ipaddress import IPv4Address, IPv4Interface
from typing import Protocol

from leasebox.core.log import Logger
from leasebox.core.record import field, record
from leasebox.core.values import INFINITE
from leasebox.ipc import Names
from leasebox.netconf.handoff import NOTHING
from leasebox.netconf.validate import Plan, PlannedRoute

MAX_RETRY = 60.0  # seconds between two tries of a pending DNS/NTP hand-off, at most
LIFETIME_SLACK = 5  # seconds the kernel's countdown may have run between set and read-back
KERNEL32_CAP = (2**31 - 1) // 1000  # the least a 32-bit kernel holds a finite lifetime for
# the kernel's refusal of an MTU for the link as it is now (out of its or its parent's
# range), which asking again does not change
MTU_REFUSED = frozenset({errno.EINVAL, errno.ERANGE})

log = Logger("leasebox.netconf")


class Kernel(Protocol):
    """What apply needs from rtnetlink (rtnl.Rtnl; tests may pass a fake)."""

    def link_mtu(self) -> int: ...
    def set_mtu(self, mtu: int) -> None: ...
    def set_address(
        self, iface: IPv4Interface, broadcast: IPv4Address | None, lifetime: int,
        prefix_route: bool = True, metric: int = 0,
    ) -> None: ...
    def address_lifetimes(self, iface: IPv4Interface) -> tuple[int, int] | None: ...
    def del_address(self, iface: IPv4Interface) -> bool: ...
    def add_route(self, route: PlannedRoute, source: IPv4Address | None = None) -> bool: ...
    def del_route(self, route: PlannedRoute, source: IPv4Address | None = None) -> bool: ...
    def ignore_routes_without_carrier(self) -> None: ...


class Resolver(Protocol):
    """Where DNS and NTP go (handoff.ToBus, handoff.ToFileAndBus). Raises OSError."""

    name: str  # handoff.SINKS: what Tracked.dns_to records

    def hand_off(self, new: Names, old: Names | None) -> None:
        """From `old` to `new`; old None: what the sink holds is not known (it took over
        from the other one, see Configurator), so everything goes."""


class ApplyFailed(Exception):
    """The kernel refused a step; what had been done was rolled back."""


class NotOurs(Exception):
    """The address is on the link already, put there by someone else (permanent, no
    lifetime): netconf leaves it alone, and will not take it over or later delete it."""


@record(frozen=False)
class Tracked:
    """Everything this process has changed on its link, and nothing else."""

    address: IPv4Interface | None = None
    routes: list[PlannedRoute] = field(default_factory=list)
    mtu: int | None = None  # the MTU we set, while we have one set
    original_mtu: int | None = None  # the MTU before ours, restored on remove
    dns: Names = NOTHING  # DNS and NTP as handed on
    wanted: Names | None = None  # what should be handed on instead, while it could not be
    dns_to: str = ""  # the Resolver that `dns` went to (its name); "": not known
    # whether `address` went on with the kernel's prefix route (RouteTable=main) or
    # without (noprefixroute); None: not known (a state file of an older netconf)
    prefix_route: bool | None = None
    # the preferred source address `routes` went on with (the lease's, as networkd's); None:
    # without one (an older netconf's routes)
    route_source: IPv4Address | None = None

    def copy(self) -> Tracked:
        return Tracked(self.address, list(self.routes), self.mtu, self.original_mtu, self.dns,
                       self.wanted, self.dns_to, self.prefix_route, self.route_source)

    @property
    def empty(self) -> bool:
        return (self.address is None and not self.routes and self.mtu is None
                and self.dns == NOTHING and self.wanted is None)


Undo = Callable[[], object]


class Configurator:
    def __init__(self, kernel: Kernel, resolver: Resolver, tracked: Tracked | None = None) -> None:
        self.kernel = kernel
        self.resolver = resolver
        self.tracked = tracked if tracked is not None else Tracked()
        self.error = ""  # why the wanted DNS/NTP could not be handed on, the last time
        self.mtu_left: int | None = None  # a hand-set MTU the last apply left in place
        self.mtu_refused = ""  # why the kernel refused the last apply's MTU ("": it did not)
        self.linkdown_refused = False  # the kernel refused ignore_routes_without_carrier
        self.next_try = 0.0
        self.delay = 0.0
        # A hand-off tried and failed may have been carried out all the same (leasebox-bus
        # answered too late, then acted; the file written, the bus not reached): until one
        # goes through, the next is sent whole, not as a change from what was confirmed. So
        # is one pending from an earlier netconf, which may have tried it.
        self.in_doubt = self.tracked.wanted is not None
        if not self._same_sink() and self.tracked.wanted is None:
            # systemd-resolved was installed or removed since the DNS was handed on: the
            # new sink gets it now, and the old one gives it up (handoff).
            self.tracked.wanted = self.tracked.dns

    def _same_sink(self) -> bool:
        return self.tracked.dns_to == self.resolver.name or self.tracked.dns == NOTHING

    # ---- DNS and NTP, outside the transaction ---------------------------------------------

    def want(self, names: Names, now: float) -> None:
        """Hand `names` on at the next hand_off (netconf's loop calls it as soon as the
        engine has its reply: a slow resolver must not hold up the address)."""
        self.tracked.wanted = None if (names == self.tracked.dns and self._same_sink()
                                       and not self.in_doubt) else names
        self.delay = 0.0
        self.next_try = now

    def due(self, now: float) -> float | None:
        """When the pending hand-off should be tried again (None: nothing pending)."""
        return None if self.tracked.wanted is None else self.next_try

    def hand_off(self, now: float) -> str:
        wanted = self.tracked.wanted
        if wanted is None:
            self.error = ""
            return ""
        try:
            self.resolver.hand_off(wanted, self.tracked.dns if self._same_sink()
                                   and not self.in_doubt else None)
        except OSError as exc:
            self.in_doubt = True
            self.error = str(exc) or type(exc).__name__
            self.delay = min(max(1.0, self.delay * 2), MAX_RETRY)
            self.next_try = now + self.delay
            log.warning("DNS/NTP hand-off pending, next try in %.0f s: %s", self.delay,
                        self.error)
            return f"DNS/NTP hand-off pending: {self.error}"
        if self.error:
            log.info("DNS/NTP handed on after all")
        self.tracked.dns, self.tracked.wanted, self.error, self.delay = wanted, None, "", 0.0
        self.in_doubt = False
        self.tracked.dns_to = self.resolver.name
        return ""

    def pending(self) -> str:
        if self.tracked.wanted is None:
            return ""
        return f"DNS/NTP hand-off pending ({self.error or 'not tried yet'})"

    # ---- apply ---------------------------------------------------------------------------

    def apply(self, plan: Plan, now: float = 0.0) -> None:
        """Make the link match `plan`. Raises ApplyFailed after rolling back the kernel's
        part. DNS and NTP become wanted, for hand_off."""
        try:  # a failing read is a failed apply (FAILED), not a crash of netconf
            present = self.kernel.address_lifetimes(plan.interface)
        except OSError as exc:
            raise ApplyFailed(str(exc)) from None
        if self.tracked.address != plan.interface and present == (INFINITE, INFINITE):
            raise NotOurs(f"{plan.interface} is already on the link as a permanent address "
                          "that leasebox did not add")
        if self.tracked.address not in (None, plan.interface):
            log.info("address changes from %s to %s: the new one goes on before the old one "
                     "goes", self.tracked.address, plan.interface)
        new = self.tracked.copy()
        undo: list[Undo] = []
        self.mtu_left = None
        self.mtu_refused = ""
        try:
            self._apply_mtu(plan, new, undo)
            changed = new.address not in (None, plan.interface)
            flushed = self._apply_address(plan, new, undo, present)
            self._apply_routes(plan, new, undo, changed=changed, flushed=flushed)
        except OSError as exc:
            self._roll_back(undo)
            raise ApplyFailed(_failure(exc)) from None
        self.tracked = new
        self._routes_skipped_without_carrier()
        self.want(Names(plan.dns_servers, plan.domains, plan.ntp_servers), now)

    def _routes_skipped_without_carrier(self) -> None:
        """A lease stays applied through a carrier loss (a flap costs nothing), and so did
        its routes: the kernel kept sending through the unplugged link (its default route
        first of equals, or at a lower RouteMetric=) while Wi-Fi was up, until the lease
        expired. Now the kernel skips them while the carrier is lost, as networkd's
        removal of the configuration does, and uses them again the moment it is back.
        At every apply (a setting of the link, which someone may change back); not a
        failure of the lease when refused."""
        try:
            self.kernel.ignore_routes_without_carrier()
        except OSError as exc:
            if not self.linkdown_refused:
                log.warning("cannot have the kernel skip the link's routes while it has no "
                            "carrier (%s): another link will not carry the traffic while it "
                            "is unplugged", exc)
            self.linkdown_refused = True
            return
        self.linkdown_refused = False

    def _apply_mtu(self, plan: Plan, new: Tracked, undo: list[Undo]) -> None:
        if plan.mtu is not None:
            target = plan.mtu
        elif new.original_mtu is not None:
            target = new.original_mtu  # the lease no longer sets one: put the old one back
        else:
            return
        current = self.kernel.link_mtu()
        if new.mtu is not None and current not in (new.mtu, new.original_mtu):
            # Someone else (an administrator's `ip link set mtu`) set the MTU since we did.
            # (Back at the link's own, it is taken for a reset, and set again. A new one
            # from the server goes on over theirs, and the link's own comes back at the end.)
            if plan.mtu in (None, new.mtu):  # the lease asks nothing new: theirs now
                log.info("the link's MTU is %d, set since leasebox set %d: left as it is",
                         current, new.mtu)
                self.mtu_left = current
                if plan.mtu is None:
                    new.mtu = new.original_mtu = None
                return
        if target != current:
            try:
                self.kernel.set_mtu(target)
            except OSError as exc:
                # The kernel's limits are not all in IFLA_MAX_MTU: a VLAN's or a macvlan's
                # MTU is bound by its parent's current one. The lease works without it, so
                # it costs the MTU, not the lease (which the server would grant again, with
                # the same MTU, failing again for ever). Unless it took after all (an answer
                # lost, a timeout): then it is ours as if set.
                if self._mtu_now(current) != target:
                    self.mtu_refused = (f"mtu {target} not set ({exc.strerror or exc}), "
                                        f"{current} kept")
                    return
            undo.append(lambda: self.kernel.set_mtu(current))
        if plan.mtu is not None:
            if new.original_mtu is None:
                new.original_mtu = current
            new.mtu = plan.mtu
        else:
            new.mtu = new.original_mtu = None

    def _mtu_now(self, before: int) -> int:
        """The link's MTU read again after setting it failed; `before` if that fails too:
        an MTU not known to be set costs the MTU, never the lease."""
        try:
            return self.kernel.link_mtu()
        except OSError:
            return before

    def _apply_address(self, plan: Plan, new: Tracked, undo: list[Undo],
                       held: tuple[int, int] | None) -> bool:
        """Whether the link was left without an address for a moment, and so without the
        routes through it. `held`: the address's lifetimes before. A renewal rolled back
        leaves the lease in use (the engine keeps it), and its lifetime, which the kernel
        acts on, with it; so does a first apply over an address that was there already,
        not ours (an initrd's DHCP client's, an earlier run's), which the link may need (a
        root on NFS): put back with its valid lifetime (its preferred one, broadcast and
        prefix metric are the plan's)."""
        old = new.address if new.address not in (None, plan.interface) else None
        tracked = existed = new.address == plan.interface
        if existed and new.prefix_route not in (None, plan.prefix_route):
            # RouteTable= changed with the lease kept: the kernel keeps an address's
            # noprefixroute through a replace, so the address goes and comes back. With it
            # went the kernel's routes through it; the routes below are asked for again.
            log.info("%s goes %s the kernel's prefix route (RouteTable=): re-adding it",
                     plan.interface, "with" if plan.prefix_route else "without")
            self.kernel.del_address(plan.interface)
            undo.append(partial(self.kernel.set_address, plan.interface, plan.broadcast,
                                held[0] if held is not None and held[0] > 0
                                else plan.lifetime, new.prefix_route, plan.prefix_metric))
            existed = flushed = True
        else:
            flushed = False
        self.kernel.set_address(plan.interface, plan.broadcast, plan.lifetime,
                                plan.prefix_route, plan.prefix_metric)
        if not existed and (tracked or held is None or held[0] <= 0):
            undo.append(lambda: self.kernel.del_address(plan.interface))
        elif held is not None and held[0] > 0:  # (0: the kernel is removing it anyway)
            undo.append(partial(self.kernel.set_address, plan.interface, plan.broadcast,
                                held[0], plan.prefix_route, plan.prefix_metric))
        if old is not None:
            flushed = self._drop_old_address(old, plan)
        new.address = plan.interface
        new.prefix_route = plan.prefix_route
        got = self.kernel.address_lifetimes(plan.interface)
        if not _lifetime_ok(plan.lifetime, got):
            raise OSError(errno.EPROTO, f"kernel holds {plan.interface} with lifetimes "
                          f"{got}, not {plan.lifetime}")
        if got is not None and got[0] < plan.lifetime - LIFETIME_SLACK:
            log.warning("the kernel holds %s for %d s of the lease's %d (a 32-bit kernel's "
                        "cap): the address goes then unless the lease is renewed before",
                        plan.interface, got[0], plan.lifetime)
        return flushed

    def _drop_old_address(self, old: IPv4Interface, plan: Plan) -> bool:
        """The old lease's address goes once the new one is on (a new address, or the same
        one with a new prefix): a link left without an IPv4 address loses every route
        through it, an administrator's too, and goes without an address for a moment. Not
        put back by a rollback: the lease it came with is over. True when the link was
        left without an address all the same."""
        self.kernel.del_address(old)
        self.tracked.address = None
        if self.kernel.address_lifetimes(plan.interface) is not None:
            return False
        # The new one was a secondary of the old (the same subnet), and went with it:
        # net.ipv4.conf.IFACE.promote_secondaries=0 (systemd's sysctl.d sets it to 1).
        log.info("%s went with %s (promote_secondaries=0), and the routes through the "
                 "link with them: putting them back", plan.interface, old)
        self.kernel.set_address(plan.interface, plan.broadcast, plan.lifetime,
                                plan.prefix_route, plan.prefix_metric)
        return True

    def _apply_routes(self, plan: Plan, new: Tracked, undo: list[Undo], *, changed: bool,
                      flushed: bool) -> None:
        """`changed`: the address changed, and the old one is gone; `flushed`: the link was
        left without an address for a moment, and without its routes.

        Every route goes on with the lease's address as its preferred source (RTA_PREFSRC,
        as networkd's): without one the kernel picks the first primary address on the link
        whose subnet holds the gateway, or any, which for a /32 lease's routes or on-link
        classless ones may be another address on the link (an administrator's, a VIP)."""
        source, old_source = plan.interface.ip, new.route_source
        # Stale routes go in reverse install order, so a gateway route goes before the
        # on-link route it relied on. After an address change every route of the old lease
        # goes, not put back by a rollback (the lease they came with is over, its address
        # gone): the new lease's are its own, which a rollback takes away with its address.
        # Routes of the same lease without the source (an older netconf's) go and come back.
        resourced = old_source != source and not changed
        for route in reversed(list(new.routes)):
            if route in plan.routes and not changed and not resourced:
                continue
            self.kernel.del_route(route, old_source)
            new.routes.remove(route)
            if changed:
                self.tracked.routes.remove(route)
            else:
                undo.append(partial(self.kernel.add_route, route, old_source))
        for route in plan.routes:
            if route in new.routes:
                # Asked for again, not assumed: a rollback step that failed, or someone's
                # `ip route del`, may have taken it, and a kept lease must not go without.
                if self.kernel.add_route(route, source) and not flushed:
                    log.warning("route %s had gone from the link: put back", route)
                continue
            new.routes.append(route)
            if self.kernel.add_route(route, source):
                undo.append(partial(self.kernel.del_route, route, source))
            else:  # (and a rollback leaves it as it found it)
                log.info("route %s was already in place (left by an earlier run): adopted",
                         route)
        new.routes = list(plan.routes)  # in install order, for a later removal in reverse
        new.route_source = source

    def _roll_back(self, undo: list[Undo]) -> None:
        for step in reversed(undo):
            try:
                step()
            except OSError as exc:
                log.error("rollback step failed, the link may keep part of a change: %s", exc)

    # ---- remove --------------------------------------------------------------------------

    def link_gone(self, now: float) -> None:
        """The link went (unplugged, or renamed): its address, routes and MTU went with it,
        or are no longer ours to manage; what was handed on for it (DNS, NTP) is taken
        back at the next hand_off, as networkd drops a removed link's servers."""
        t = self.tracked
        t.address, t.routes, t.mtu, t.original_mtu = None, [], None, None
        self.want(NOTHING, now)

    def remove(self, now: float = 0.0) -> None:
        """Undo everything tracked. Goes on past a failing step; raises ApplyFailed at the
        end if anything in the kernel could not be removed (it stays tracked, for a later
        retry). DNS and NTP are taken back by the next hand_off."""
        errors: list[str] = []
        t = self.tracked
        self.want(NOTHING, now)
        for route in reversed(list(t.routes)):
            try:
                self.kernel.del_route(route, t.route_source)
                t.routes.remove(route)
            except OSError as exc:
                errors.append(str(exc))
        if t.address is not None:
            try:
                self.kernel.del_address(t.address)
                t.address = None
            except OSError as exc:
                errors.append(str(exc))
        if t.mtu is not None and t.original_mtu is not None:
            try:
                # Someone else changed the MTU since: theirs now, leave it.
                if self.kernel.link_mtu() == t.mtu:
                    self.kernel.set_mtu(t.original_mtu)
                t.mtu = t.original_mtu = None
            except OSError as exc:
                if exc.errno not in MTU_REFUSED:
                    errors.append(str(exc))
                else:  # (a VLAN's parent lowered since): no retry would set it either
                    log.warning("the link's MTU %d not restored (%s): %d stays", t.original_mtu,
                                exc.strerror or exc, t.mtu)
                    t.mtu = t.original_mtu = None
        if errors:
            raise ApplyFailed("; ".join(errors))


def _failure(exc: OSError) -> str:
    """What an apply's kernel error says, with the cause when it is a missing capability
    (a container that withholds CAP_NET_ADMIN; the engine would only back off and retry)."""
    if exc.errno == errno.EPERM:
        return (f"{exc}: netconf needs CAP_NET_ADMIN, which this system does not grant it "
                "(a container must be given it, as with podman's --cap-add=NET_ADMIN)")
    return str(exc)


def _lifetime_ok(asked: int, got: tuple[int, int] | None) -> bool:
    """Whether the kernel holds the address with the lifetime asked for: within the slack of
    its countdown, or capped where a 32-bit kernel caps a finite one (LONG_MAX / HZ seconds,
    ~24.8 days at HZ=1000, ~99 at 250): refusing that applied no lease longer than the cap
    there, ever. The lease's renewal, at T1, puts it on again with its lifetime."""
    if got is None:
        return False
    valid, preferred = got
    if asked == INFINITE:
        return valid == preferred == INFINITE
    floor = min(asked, KERNEL32_CAP) - LIFETIME_SLACK
    return all(floor <= v <= asked for v in (valid, preferred))
