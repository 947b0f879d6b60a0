"""netconf's own policy: what it will accept from the engine, read from leasebox.conf.

The engine never supplies policy; a compromised engine can only ask for values inside it.
netconf reads the [Network] settings of leasebox.conf itself (leasebox.config,
Scope.NETCONF), for each engine as they were when that engine started (startconfig.py), so
that a typo there stops the services of a starting engine with FILE:LINE rather than
silently widening or narrowing what netconf applies, and a typo saved under a running one
changes nothing.
"""

from __future__ import annotations

from ipaddress import IPv4Network

from leasebox.config import settings as s
from leasebox.config.parse import View
from leasebox.config.values import RT_TABLE_MAIN
from leasebox.core.record import record

__all__ = ["RT_TABLE_MAIN", "Policy", "policy_from_config"]


@record
class Policy:
    allowed_addresses: tuple[IPv4Network, ...] = ()  # empty: any address passing the checks
    route_metric: int = 1024
    use_dns: bool = True
    use_ntp: bool = True
    use_domains: bool = True
    use_routes: bool = True  # option 121 routes other than a default route
    use_gateway: bool = True  # the default route (option 3, or 0.0.0.0/0 in option 121)
    use_mtu: bool = True
    minimum_mtu: int = 576
    link_up: bool = True
    classless_table: int | None = RT_TABLE_MAIN  # None: ignore option 121 (as if absent)
    route_table: int = RT_TABLE_MAIN  # RouteTable=: every route of the lease


def policy_from_config(view: View) -> Policy:
    return Policy(
        allowed_addresses=view[s.ALLOWED_ADDRESSES],
        route_metric=view[s.ROUTE_METRIC],
        use_dns=view[s.USE_DNS],
        use_ntp=view[s.USE_NTP],
        use_domains=view[s.USE_DOMAINS],
        use_routes=view[s.USE_ROUTES],
        use_gateway=view[s.USE_GATEWAY],
        use_mtu=view[s.USE_MTU],
        minimum_mtu=view[s.MINIMUM_MTU],
        link_up=view[s.LINK_UP],
        classless_table=view[s.CLASSLESS_ROUTES],
        route_table=view[s.ROUTE_TABLE],
    )
