"""Carrying out a Plan, remembering exactly what was changed, and undoing it.

netconf removes what it added as recorded here, never what the engine describes. Applying
is a transaction: each step that succeeds pushes its undo, and when a later step fails the
undos run in reverse, so a failed Apply leaves the link as it was. A renewal of the same
address only changes what differs (new lifetimes, changed routes); a different address
removes the old configuration first.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv4Address, IPv4Interface
from typing import Protocol

from leasebox.netconf.validate import Plan, PlannedRoute

INFINITE = 0xFFFFFFFF
LIFETIME_SLACK = 5  # seconds the kernel's countdown may have run between set and read-back

log = logging.getLogger("leasebox.netconf")


class Kernel(Protocol):
    """What apply needs from rtnetlink (rtnl.Rtnl; tests may pass a fake)."""

    def link_mtu(self) -> int: ...
    def set_mtu(self, mtu: int) -> None: ...
    def set_address(
        self, iface: IPv4Interface, broadcast: IPv4Address | None, lifetime: int
    ) -> None: ...
    def address_lifetimes(self, iface: IPv4Interface) -> tuple[int, int] | None: ...
    def del_address(self, iface: IPv4Interface) -> bool: ...
    def add_route(self, route: PlannedRoute) -> bool: ...
    def del_route(self, route: PlannedRoute) -> bool: ...


class Resolver(Protocol):
    """Where DNS settings go (dns.ResolvConfFile, or resolved)."""

    def write(self, servers: Sequence[IPv4Address], domains: Sequence[str]) -> None: ...
    def remove(self) -> bool: ...


class ApplyFailed(Exception):
    """The kernel refused a step; what had been done was rolled back."""


@dataclass(slots=True)
class Tracked:
    """Everything this process has changed on its link, and nothing else."""

    address: IPv4Interface | None = None
    routes: list[PlannedRoute] = field(default_factory=list)
    mtu: int | None = None  # the MTU we set, while we have one set
    original_mtu: int | None = None  # the MTU before ours, restored on remove
    dns: tuple[tuple[IPv4Address, ...], tuple[str, ...]] | None = None

    def copy(self) -> Tracked:
        return Tracked(self.address, list(self.routes), self.mtu, self.original_mtu, self.dns)

    @property
    def empty(self) -> bool:
        return (self.address is None and not self.routes and self.mtu is None
                and self.dns is None)


Undo = Callable[[], object]


class Configurator:
    def __init__(self, kernel: Kernel, resolver: Resolver, tracked: Tracked | None = None) -> None:
        self.kernel = kernel
        self.resolver = resolver
        self.tracked = tracked if tracked is not None else Tracked()

    # ---- apply ---------------------------------------------------------------------------

    def apply(self, plan: Plan) -> None:
        """Make the link match `plan`. Raises ApplyFailed after rolling back."""
        if self.tracked.address is not None and self.tracked.address != plan.interface:
            log.info("address changes from %s to %s: removing the old one first",
                     self.tracked.address, plan.interface)
            self.remove()
        new = self.tracked.copy()
        undo: list[Undo] = []
        try:
            self._apply_mtu(plan, new, undo)
            self._apply_address(plan, new, undo)
            self._apply_routes(plan, new, undo)
            self._apply_dns(plan, new, undo)
        except OSError as exc:
            self._roll_back(undo)
            raise ApplyFailed(str(exc)) from None
        self.tracked = new

    def _apply_mtu(self, plan: Plan, new: Tracked, undo: list[Undo]) -> None:
        current = self.kernel.link_mtu()
        if plan.mtu is not None:
            target = plan.mtu
        elif new.original_mtu is not None:
            target = new.original_mtu  # the lease no longer sets one: put the old one back
        else:
            return
        if target != current:
            self.kernel.set_mtu(target)
            undo.append(lambda: self.kernel.set_mtu(current))
        if plan.mtu is not None:
            if new.original_mtu is None:
                new.original_mtu = current
            new.mtu = plan.mtu
        else:
            new.mtu = new.original_mtu = None

    def _apply_address(self, plan: Plan, new: Tracked, undo: list[Undo]) -> None:
        existed = new.address is not None
        self.kernel.set_address(plan.interface, plan.broadcast, plan.lifetime)
        if not existed:
            undo.append(lambda: self.kernel.del_address(plan.interface))
        new.address = plan.interface
        got = self.kernel.address_lifetimes(plan.interface)
        if not _lifetime_ok(plan.lifetime, got):
            raise OSError(errno.EPROTO, f"kernel holds {plan.interface} with lifetimes "
                          f"{got}, not {plan.lifetime}")

    def _apply_routes(self, plan: Plan, new: Tracked, undo: list[Undo]) -> None:
        # Stale routes go in reverse install order, so a gateway route goes before the
        # on-link route it relied on.
        for route in reversed(list(new.routes)):
            if route in plan.routes:
                continue
            self.kernel.del_route(route)
            new.routes.remove(route)
            undo.append(partial(self.kernel.add_route, route))
        for route in plan.routes:
            if route in new.routes:
                continue
            if not self.kernel.add_route(route):
                log.info("route %s was already in place (left by an earlier run): adopted",
                         route)
            new.routes.append(route)
            undo.append(partial(self.kernel.del_route, route))
        new.routes = list(plan.routes)  # in install order, for a later removal in reverse

    def _apply_dns(self, plan: Plan, new: Tracked, undo: list[Undo]) -> None:
        wanted = (plan.dns_servers, plan.domains) if plan.dns_servers or plan.domains else None
        if wanted == new.dns:
            return
        old = new.dns
        # The undo goes first: a write may fail half-way (resolved takes servers and
        # domains in two calls), and then the old settings must be put back too.
        if old is not None:
            undo.append(lambda: self.resolver.write(*old))
        else:
            undo.append(self.resolver.remove)
        if wanted is not None:
            self.resolver.write(*wanted)
        else:
            self.resolver.remove()
        new.dns = wanted

    def _roll_back(self, undo: list[Undo]) -> None:
        for step in reversed(undo):
            try:
                step()
            except OSError as exc:
                log.error("rollback step failed, the link may keep part of a change: %s", exc)

    # ---- remove --------------------------------------------------------------------------

    def remove(self) -> None:
        """Undo everything tracked. Goes on past a failing step; raises ApplyFailed at the
        end if anything could not be removed (it stays tracked, for a later retry)."""
        errors: list[str] = []
        t = self.tracked
        if t.dns is not None:
            try:
                self.resolver.remove()
                t.dns = None
            except OSError as exc:
                errors.append(f"dns: {exc}")
        for route in reversed(list(t.routes)):
            try:
                self.kernel.del_route(route)
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
                errors.append(str(exc))
        if errors:
            raise ApplyFailed("; ".join(errors))


def _lifetime_ok(asked: int, got: tuple[int, int] | None) -> bool:
    if got is None:
        return False
    valid, preferred = got
    if asked == INFINITE:
        return valid == preferred == INFINITE
    return all(asked - LIFETIME_SLACK <= v <= asked for v in (valid, preferred))
