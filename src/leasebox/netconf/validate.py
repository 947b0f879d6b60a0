"""Turn an engine's Apply into a Plan of exact kernel changes, or refuse it.

Pure: no I/O, so every rule is unit-tested on values alone. The engine is treated as
possibly compromised: the ipc decoder already bounded the message's shape, and this module
checks what its values mean against netconf's own policy. Everything is checked before
anything is applied; a refusal names the first value that broke a rule.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from leasebox.core import names as domains
from leasebox.core.record import record
from leasebox.core.values import MAX_DNS, MAX_DOMAINS, MAX_NTP, MAX_ROUTERS, MAX_ROUTES, Route
from leasebox.ipc import Apply
from leasebox.netconf.policy import RT_TABLE_MAIN, Policy

MIN_PREFIXLEN = 8
MIN_MTU = 576  # RFC 2132 option 26's floor; anything smaller is a broken server
ANY = IPv4Address(0)

# Classes no lease may put on a link, as address, gateway or server.
FORBIDDEN: tuple[tuple[IPv4Network, str], ...] = (
    (IPv4Network("0.0.0.0/8"), "in 0.0.0.0/8 (this network)"),
    (IPv4Network("127.0.0.0/8"), "loopback"),
    (IPv4Network("224.0.0.0/4"), "multicast"),
    (IPv4Network("255.255.255.255/32"), "the limited broadcast address"),
    (IPv4Network("240.0.0.0/4"), "class E (reserved)"),
)


class Refused(Exception):
    """The request breaks policy. str() is the reason sent back to the engine and logged."""


@record
class PlannedRoute:
    destination: IPv4Network
    gateway: IPv4Address | None  # None: a link-scope (on-link) route
    table: int
    metric: int

    def __str__(self) -> str:
        via = f"via {self.gateway}" if self.gateway is not None else "scope link"
        return f"{self.destination} {via} table {self.table} metric {self.metric}"


@record
class Plan:
    interface: IPv4Interface
    broadcast: IPv4Address | None  # None for /31 and /32, which have none
    lifetime: int  # seconds; 0xFFFFFFFF (ipc.INFINITE) = forever
    routes: tuple[PlannedRoute, ...]  # install order: link-scope routes before gateways
    mtu: int | None  # None: leave the device's MTU as it was before us
    dns_servers: tuple[IPv4Address, ...]
    domains: tuple[str, ...]
    notes: tuple[str, ...] = ()  # values deliberately left out, for the log and the reply
    ntp_servers: tuple[IPv4Address, ...] = ()
    prefix_route: bool = True  # the kernel's prefix route in main (RouteTable=main)
    prefix_metric: int = 0  # its metric: RouteMetric=, as every route of the lease


def forbidden_class(addr: IPv4Address) -> str | None:
    for network, name in FORBIDDEN:
        if addr in network:
            return name
    return None


def _check_host(addr: IPv4Address, what: str) -> None:
    why = forbidden_class(addr)
    if why is not None:
        raise Refused(f"{what} {addr} is {why}")


def check_domain(name: str) -> str:
    """A hostname-syntax name (leasebox.core.names: the rule leasebox-bus applies too)."""
    try:
        return domains.check_domain(name)
    except domains.BadDomain as exc:
        raise Refused(str(exc)) from None


def _check_address(msg: Apply, policy: Policy) -> IPv4Interface:
    _check_host(msg.address, "address")
    if not MIN_PREFIXLEN <= msg.prefixlen <= 32:
        raise Refused(f"prefix length /{msg.prefixlen} outside /{MIN_PREFIXLEN}../32")
    iface = IPv4Interface((msg.address, msg.prefixlen))
    net = iface.network
    if net.prefixlen <= 30 and msg.address in (net.network_address, net.broadcast_address):
        raise Refused(f"address {iface} is the network or broadcast address of its prefix")
    if policy.allowed_addresses and not any(
        net.subnet_of(allowed) for allowed in policy.allowed_addresses
    ):
        raise Refused(f"address {iface} is outside AllowedAddresses=")
    return iface


def _check_gateway(gw: IPv4Address, iface: IPv4Interface, onlink: list[IPv4Network]) -> None:
    """Raises Refused for a gateway the client cannot or must not use; the callers skip
    the route through it, never the lease.
    A /32 lease (some clouds and ISPs) has every gateway outside: it is reached through a
    host route, which _routes adds, as networkd, dhcpcd and dhclient-script do. Only there:
    a host route beats every more general one (a VPN's), so elsewhere a gateway outside
    the subnet needs an installed on-link route of the lease (RFC 3442)."""
    _check_host(gw, "gateway")
    net = iface.network
    if gw == iface.ip:
        raise Refused(f"gateway {gw} is our own address")
    if gw in net:
        if net.prefixlen <= 30 and gw in (net.network_address, net.broadcast_address):
            raise Refused(f"gateway {gw} is the network or broadcast address of {net}")
        return
    if net.prefixlen != 32 and not any(gw in link for link in onlink):
        raise Refused(f"gateway {gw} is not on the link (outside {net}, no on-link route)")


def _forbidden_destination(dest: IPv4Network) -> str | None:
    for network, name in FORBIDDEN:
        if dest.prefixlen and dest.subnet_of(network):  # (0.0.0.0/0 is the default route)
            return name
    return None


def _first_usable_router(routers: tuple[IPv4Address, ...], iface: IPv4Interface,
                         notes: list[str]) -> IPv4Address | None:
    """The default route's gateway: the first router of option 3 that is on the link, in
    the server's order of preference (RFC 2132 3.5). The others are alternatives a client
    may skip, and a router a client cannot use is no reason to refuse the address: one
    is skipped with a note; with none usable the lease goes on without a default route, as
    dhclient-script leaves it. A /32 lease's router is reached through a host route
    (_check_gateway)."""
    for router in routers:
        try:
            _check_gateway(router, iface, [])
        except Refused as exc:
            notes.append(f"router skipped: {exc}")
            continue
        return router
    notes.append("no default route: no router of the lease is usable")
    return None


def _classless_routes(msg: Apply, policy: Policy, iface: IPv4Interface,
                      notes: list[str]) -> list[tuple[IPv4Network, IPv4Address | None]]:
    """Option 121's routes to install, in its order, gateway None for on-link ones. A route
    the client cannot or must not use is skipped with a note, never the lease, as option
    3's routers are (and as networkd does): a gateway off the link, loopback, multicast,
    reserved, the lease's own address or its subnet's edges; a destination in a class no
    link may route; a destination given twice (the kernel would refuse it: EEXIST). A
    refusal would cost the link its address, avoided for 5 minutes at a time, over what a
    server could as well have left out."""
    # The server's on-link routes make gateways inside them reachable, but only the
    # on-link routes that will be installed: with UseRoutes=no a skipped 10.8.0.53/32
    # must not let a default route via 10.8.0.53 through (every gateway then has to be
    # inside our own subnet, or be a /32 lease's, reached by a host route added only
    # for a route through it that is installed).
    def installed(route: Route) -> bool:
        return policy.use_gateway if route.destination.prefixlen == 0 else policy.use_routes

    assert msg.classless_routes is not None
    usable: list[Route] = []
    for route in msg.classless_routes:
        if not installed(route):  # (a route not added has nothing to check)
            continue
        why = _forbidden_destination(route.destination)
        if why is not None:
            notes.append(f"classless route {route.destination} skipped: destination is {why}")
            continue
        usable.append(route)
    first: dict[IPv4Network, Route] = {}
    for route in usable:
        first.setdefault(route.destination, route)
    onlink = [dest for dest, route in first.items() if route.gateway == ANY]
    kept: list[tuple[IPv4Network, IPv4Address | None]] = []
    seen: set[IPv4Network] = set()
    for route in usable:
        if route.destination in seen:
            notes.append(f"classless route {route.destination} skipped: given twice, "
                         "the first kept")
            continue
        if route.gateway != ANY:
            try:
                _check_gateway(route.gateway, iface, onlink)
            except Refused as exc:
                notes.append(f"classless route {route.destination} skipped: {exc}")
                continue
        kept.append((route.destination, None if route.gateway == ANY else route.gateway))
        seen.add(route.destination)
    return kept


def _routes(msg: Apply, policy: Policy, iface: IPv4Interface,
            notes: list[str]) -> list[PlannedRoute]:
    """RFC 3442: when option 121 is present (and not ignored) option 3 is not used."""
    metric = policy.route_metric
    wanted: list[tuple[IPv4Network, IPv4Address | None, int]] = []
    if msg.classless_routes is not None and policy.classless_table is not None:
        if len(msg.classless_routes) > MAX_ROUTES:
            raise Refused(f"{len(msg.classless_routes)} classless routes, at most {MAX_ROUTES}")
        # ClasslessRoutes=main: with the lease's other routes (RouteTable=)
        table = (policy.route_table if policy.classless_table == RT_TABLE_MAIN
                 else policy.classless_table)
        wanted = [(dest, gw, table)
                  for dest, gw in _classless_routes(msg, policy, iface, notes)]
        if policy.use_gateway and msg.routers and not any(
                r.destination.prefixlen == 0 for r in msg.classless_routes):
            # a common server set-up, and not an error: said, as status shows no gateway
            notes.append("no default route: option 121 has none, and option 3's routers "
                         "are not used with it (RFC 3442)")
    elif policy.use_gateway and msg.routers:
        if len(msg.routers) > MAX_ROUTERS:
            raise Refused(f"{len(msg.routers)} routers, at most {MAX_ROUTERS}")
        gateway = _first_usable_router(msg.routers, iface, notes)
        if gateway is not None:
            wanted.append((IPv4Network("0.0.0.0/0"), gateway, policy.route_table))

    # A gateway outside our subnet needs a host route to it first, or the kernel refuses
    # the route through it (networkd does the same).
    link_routes = [PlannedRoute(dest, None, table, metric) for dest, gw, table in wanted
                   if gw is None]
    if policy.route_table != RT_TABLE_MAIN:
        # The kernel adds the prefix route to main; with RouteTable=N the address goes on
        # with noprefixroute (Plan.prefix_route) and netconf adds this one instead.
        prefix = PlannedRoute(iface.network, None, policy.route_table, metric)
        if prefix not in link_routes:
            link_routes.insert(0, prefix)
    gateway_routes: list[PlannedRoute] = []
    for dest, gw, table in wanted:
        if gw is None:
            continue
        # The kernel looks a gateway up in the route's own table (then by the rules), so
        # that table gets the route to it: a host route outside our subnet, else the
        # subnet's (main has the kernel's, a RouteTable=N ours; ClasslessRoutes=table:M
        # none, and with RouteTable=N the rules' lookup finds none in main either).
        to_gw = iface.network if gw in iface.network else IPv4Network((gw, 32))
        if not (to_gw == iface.network and table == RT_TABLE_MAIN):
            link = PlannedRoute(to_gw, None, table, metric)
            if link not in link_routes:
                link_routes.append(link)
        gateway_routes.append(PlannedRoute(dest, gw, table, metric))
    return link_routes + gateway_routes


IPV6_MIN_MTU = 1280  # RFC 8200 5; below it Linux removes IPv6 from the device


def _mtu(msg: Apply, policy: Policy, link: LinkLimits, notes: list[str]) -> int | None:
    if msg.mtu is None or not policy.use_mtu:
        return None
    floor = max(MIN_MTU, policy.minimum_mtu, IPV6_MIN_MTU if link.ipv6 else 0)
    if not floor <= msg.mtu <= link.max_mtu:
        # A bad MTU is common from real servers and harmless to skip: not worth refusing
        # the lease over, but said in the reply and the log.
        why = " (the link has IPv6)" if link.ipv6 and floor == IPV6_MIN_MTU else ""
        notes.append(f"mtu {msg.mtu} ignored (outside {floor}..{link.max_mtu}{why})")
        return None
    return msg.mtu


@record
class LinkLimits:
    """What the device allows: its largest MTU, and whether it has IPv6 (a floor of 1280)."""

    max_mtu: int
    ipv6: bool = False


def _dns(msg: Apply, policy: Policy) -> tuple[tuple[IPv4Address, ...], tuple[str, ...]]:
    servers: tuple[IPv4Address, ...] = ()
    domains: tuple[str, ...] = ()
    if policy.use_dns:
        if len(msg.dns_servers) > MAX_DNS:
            raise Refused(f"{len(msg.dns_servers)} DNS servers, at most {MAX_DNS}")
        for server in msg.dns_servers:
            _check_host(server, "DNS server")
        servers = tuple(dict.fromkeys(msg.dns_servers))
    if policy.use_domains:
        if len(msg.domains) > MAX_DOMAINS:
            raise Refused(f"{len(msg.domains)} search domains, at most {MAX_DOMAINS}")
        unique: dict[str, str] = {}
        for name in msg.domains:
            unique.setdefault(check_domain(name).lower(), name)
        domains = tuple(unique.values())
    return servers, domains


def _ntp(msg: Apply, policy: Policy) -> tuple[IPv4Address, ...]:
    if not policy.use_ntp:
        return ()
    if len(msg.ntp_servers) > MAX_NTP:
        raise Refused(f"{len(msg.ntp_servers)} NTP servers, at most {MAX_NTP}")
    for server in msg.ntp_servers:
        _check_host(server, "NTP server")
    return tuple(dict.fromkeys(msg.ntp_servers))


def make_plan(msg: Apply, policy: Policy, link: LinkLimits | int) -> Plan:
    """Check `msg` against `policy` and the device (LinkLimits, or just its largest MTU);
    raises Refused."""
    limits = link if isinstance(link, LinkLimits) else LinkLimits(link)
    iface = _check_address(msg, policy)
    if msg.lifetime == 0:
        raise Refused("lease lifetime is 0")
    notes: list[str] = []
    routes = _routes(msg, policy, iface, notes)
    mtu = _mtu(msg, policy, limits, notes)
    servers, domains = _dns(msg, policy)
    net = iface.network
    return Plan(
        interface=iface,
        broadcast=net.broadcast_address if net.prefixlen <= 30 else None,
        lifetime=msg.lifetime,
        routes=tuple(routes),
        mtu=mtu,
        dns_servers=servers,
        domains=domains,
        notes=tuple(notes),
        ntp_servers=_ntp(msg, policy),
        prefix_route=policy.route_table == RT_TABLE_MAIN,
        prefix_metric=policy.route_metric,
    )

