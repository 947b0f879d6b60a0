"""Every setting of leasebox.conf, in one table.

The table is the single source: the parser (parse.py) knows a key only if it is here, the
engines and netconf take their values through it, and `scripts/gen-config-docs` writes the
man page leasebox.conf(5) and the commented-out default file from it. To add a setting:
add one `Setting` here, use it where its `scope` says, and regenerate the docs.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network

from leasebox.config import values as v
from leasebox.core import values
from leasebox.core.generics import TYPE_CHECKING, Generic, TypeVar
from leasebox.core.record import record

if TYPE_CHECKING:
    from typing import Any

T = TypeVar("T")


class Section(StrEnum):
    DHCPV4 = "DHCPv4"
    NETWORK = "Network"
    CONTROL = "Control"


class Scope(StrEnum):
    """The process that reads a setting. leaseboxctl check-config shows them all."""

    ENGINE = "engine"
    NETCONF = "netconf"


@record
class Setting(Generic[T]):
    section: Section
    name: str  # the INI key, without '='
    parse: Callable[[str], T]
    default: T
    help: str  # plain text, one paragraph; the man page and check-config use it
    scope: Scope
    values: str  # how the value is spelled, for the docs: "BOOL", "main|ignore|table:N"
    accumulate: bool = False  # a list: repeated assignments add up, an empty one resets
    # a list of (CODE, value): a later item with the same CODE replaces the earlier, in its
    # place, so that the list is what is sent (check-config shows it so)
    keyed: bool = False
    show: Callable[[T], str] = v.show  # the value as it is spelled in a file
    default_text: str | None = None  # for the docs, when show(default) says too little

    @property
    def key(self) -> tuple[str, str]:
        return (self.section.value, self.name)

    def __str__(self) -> str:
        return f"[{self.section}] {self.name}="


_D, _N, _C = Section.DHCPV4, Section.NETWORK, Section.CONTROL
_E, _NC = Scope.ENGINE, Scope.NETCONF
BOOL = "BOOL"

# RFC 7844 3.6: with Anonymize=yes, ask for a short, common list and nothing that singles
# the host out: mask, router, DNS, domain name, MTU, search list, classless routes.
ANONYMIZE_REQUEST_OPTIONS: tuple[int, ...] = (1, 3, 6, 15, 26, 119, 121)
_BASE_REQUEST = " ".join(str(c) for c in values.REQUEST_OPTIONS)

# ---- [DHCPv4]: what the engine sends and accepts -----------------------------------------------

CLIENT_IDENTIFIER = Setting(
    _D, "ClientIdentifier", v.client_identifier, v.ClientIdentifier.MAC,
    "What option 61 carries. mac: type 1 and the interface's MAC address, the way most "
    "clients do it. duid: RFC 4361, type 255, an IAID and a DUID (see DUID= and IAID=), "
    "which survives a change of network card if DUID= is set. none: no client identifier; "
    "the server then knows the client by its MAC address (chaddr) alone.",
    _E, "mac|duid|none")
DUID: Setting[bytes | None] = Setting(
    _D, "DUID", v.duid, None,
    "The DUID for ClientIdentifier=duid, as hex octets, type first: for example "
    "00:04 followed by 16 octets for a DUID-UUID. The engine cannot read /etc/machine-id "
    "(its root holds only /usr), so by default it uses a DUID-LL made from the interface's "
    "own MAC address (00:03:00:01 and the MAC). To keep one identity across interfaces and "
    "network cards, set a DUID once in leasebox.conf, for example a DUID-UUID made with "
    "`echo 00:04:$(systemd-id128 new | sed 's/../&:/g; s/:$//')`.",
    _E, "HEX", default_text="DUID-LL from the interface's MAC address")
IAID: Setting[int | None] = Setting(
    _D, "IAID", v.iaid, None,
    "The IAID for ClientIdentifier=duid, a 32-bit number (decimal or 0x...). By default it "
    "is derived from the interface name, so it stays the same across reboots and differs "
    "between interfaces. With DUID= set (one DUID for the host), set it in each "
    "interface's own file: in leasebox.conf it gives every interface the same client "
    "identifier, and the engine and check-config warn.",
    _E, "NUMBER", default_text="derived from the interface name")
SEND_HOSTNAME = Setting(
    _D, "SendHostname", v.boolean, True,
    "Send a host name (option 12) in DISCOVER and REQUEST, so that the server can register "
    "it in DNS. The name is Hostname= if set, else the system's host name when that is a "
    "valid DNS name other than localhost. No sends no name at all: neither this nor "
    "FQDN= (option 81), as in systemd-networkd.",
    _E, BOOL)
FQDN: Setting[str | None] = Setting(
    _D, "FQDN", v.fqdn, None,
    "Send this fully qualified name in the Client FQDN option (81, RFC 4702) instead of a "
    "host name (option 12: the RFC says not both), so that the server can register it in "
    "DNS; FQDNUpdate= says which records the server is asked to update. At most 250 "
    "characters, what one option carries. Empty (the default): no option 81; nor with "
    "SendHostname=no.",
    _E, "NAME", default_text="none")
FQDN_UPDATE = Setting(
    _D, "FQDNUpdate", v.fqdn_update, v.FQDNUpdate.BOTH,
    "With FQDN=: both (the server updates the A and the PTR record: flag S), ptr (the "
    "server only the PTR record; the A record is the host's business) or none (the server "
    "updates nothing: flag N).",
    _E, "both|ptr|none")
HOSTNAME: Setting[str | None] = Setting(
    _D, "Hostname", v.hostname, None,
    "The host name to send instead of the system's. Letters, digits, inner hyphens and "
    "dots (RFC 1123).",
    _E, "NAME", default_text="the system's host name")
VENDOR_CLASS_IDENTIFIER: Setting[str | None] = Setting(
    _D, "VendorClassIdentifier", v.printable, None,
    "Option 60, sent in DISCOVER and REQUEST: printable ASCII, at most 255 characters. "
    "Not sent by default.",
    _E, "STRING", default_text="none")
REQUEST_OPTIONS: Setting[tuple[int, ...]] = Setting(
    _D, "RequestOptions", v.option_codes, (),
    "Option codes (1..254, space-separated) to ask for in addition to the built-in "
    f"parameter request list ({_BASE_REQUEST}); -CODE takes one out of it (not 1, 51 or "
    "54), until a later CODE puts it back. leasebox applies none of the options it does "
    "not know: their values, as received, show in leaseboxctl status.",
    _E, "[-]CODE...", accumulate=True)
SEND_OPTION: Setting[tuple[tuple[int, bytes], ...]] = Setting(
    _D, "SendOption", v.send_option, (),
    "An option to send in DISCOVER and REQUEST, as CODE:TYPE:VALUE (as networkd's): TYPE "
    "uint8, uint16, uint32, ipv4address (comma-separated), string (printable ASCII) or "
    "hex (octets). One per assignment, and a later one with the same CODE replaces the "
    "earlier (a drop-in may change one); not the options leasebox sets from its own "
    "settings (12, 43, 50, 53-55, 57, 60, 61, 77, 80, 81, 108) nor those it reads from "
    "the server (1, 3, 6, 15, 26, 28, 42, 51, 52, 56, 58, 59, 114, 119, 121). At most "
    "32 options in all with SendVendorOption= and UserClass=, and a message of at most "
    "1472 octets with the rest (what a 1500-octet MTU carries; about 1100 octets of these "
    "options). Anonymize=yes sends none.",
    _E, "CODE:TYPE:VALUE", accumulate=True, keyed=True, show=v.show_options,
    default_text="none")
SEND_VENDOR_OPTION: Setting[tuple[tuple[int, bytes], ...]] = Setting(
    _D, "SendVendorOption", v.vendor_option, (),
    "A sub-option of the vendor-specific option (43), as CODE:TYPE:VALUE like SendOption=; "
    "one per assignment, a later one with the same CODE replacing the earlier. "
    "Anonymize=yes sends none.",
    _E, "CODE:TYPE:VALUE", accumulate=True, keyed=True, show=v.show_options,
    default_text="none")
USER_CLASS: Setting[tuple[bytes, ...]] = Setting(
    _D, "UserClass", v.user_class, (),
    "User classes to send in option 77 (RFC 3004), whitespace-separated. Anonymize=yes "
    "sends none.",
    _E, "CLASS...", accumulate=True, show=v.show_user_class, default_text="none")
REQUEST_ADDRESS: Setting[IPv4Address | None] = Setting(
    _D, "RequestAddress", v.host_address, None,
    "Ask for this address in the DISCOVER (option 50), as networkd's RequestAddress= and "
    "dhcpcd -r do: a server that can give it offers it. After a lease, the last address "
    "is asked for instead; neither for 5 minutes after it was declined (someone else "
    "holds it) or refused. Empty (the default): none. Set it in the interface's own file: "
    "in leasebox.conf it gives every interface the same one, and the engine and "
    "check-config warn.",
    _E, "ADDRESS", default_text="none")
REQUEST_BROADCAST = Setting(
    _D, "RequestBroadcast", v.boolean, False,
    "Set the BROADCAST flag in DISCOVER and in the REQUESTs sent before there is an "
    "address, so that the server broadcasts its reply to the whole link. Off, the server "
    "sends it to the client's MAC address, which leasebox receives before it has an "
    "address (as systemd-networkd, dhclient and dhcpcd by default). Yes: for a server or "
    "relay that cannot answer otherwise.",
    _E, BOOL)
USE_CAPTIVE_PORTAL = Setting(
    _D, "UseCaptivePortal", v.boolean, True,
    "Ask for the captive portal's URI (RFC 8910, option 114) and show it: leaseboxctl status "
    "and its --json, a journal line of its own (MESSAGE_ID "
    "0f5e15b99eed4656a4a549e952983476, field CAPTIVE_PORTAL=) when a lease brings one or "
    "it changes, and the hooks' LEASEBOX_CAPTIVE_PORTAL. leasebox never opens it. "
    "Anonymize=yes leaves it out.",
    _E, BOOL)
SEND_RELEASE = Setting(
    _D, "SendRelease", v.send_release, v.SendRelease.YES,
    "When leasebox leaves the link, give the lease back with DHCPRELEASE. Yes: when "
    "leasebox@IFACE.target is stopped (or leaseboxctl leave), but not when the system shuts "
    "down or reboots, which keeps the lease for the next boot to confirm (INIT-REBOOT). "
    "Always: at shutdown and reboot too (leasebox-netconf@IFACE then stays running, not "
    "exiting idle, to take the address off as the system goes down). No: never. A RELEASE "
    "always removes the configuration, whatever KeepConfiguration= says.",
    _E, "yes|no|always")
RAPID_COMMIT = Setting(
    _D, "RapidCommit", v.boolean, False,
    "Ask for a two-message exchange (RFC 4039, option 80): a server that agrees answers "
    "the DISCOVER with an ACK.",
    _E, BOOL)
IPV6_ONLY_PREFERRED = Setting(
    _D, "IPv6OnlyPreferred", v.boolean, False,
    "Say that this host can do without IPv4 (RFC 8925, option 108). A server that agrees "
    "gives no address, and leasebox waits the time the server asks for before trying "
    "again.",
    _E, BOOL)
ANONYMIZE = Setting(
    _D, "Anonymize", v.boolean, False,
    "Follow the anonymity profile of RFC 7844: send no host name and no vendor class, ask "
    "only for options " + " ".join(map(str, ANONYMIZE_REQUEST_OPTIONS)) + " (RequestOptions= "
    "is ignored), and use the MAC address as client identifier (ClientIdentifier=, DUID= "
    "and IAID= are ignored), so that a MAC address randomized per network also gives a "
    "client identifier per network. leasebox does not randomize the MAC address itself; "
    "that is the job of whatever brings the link up. The lease file's address is not "
    "asked for again once the MAC address has changed.",
    _E, BOOL)
ARP_PROBE = Setting(
    _D, "ARPProbe", v.boolean, False,
    "Address conflict detection (RFC 5227). Before using a new address, and the address in "
    "use again after the link comes back, check with ARP "
    "probes that nobody else has it, and decline it (DHCPDECLINE) if someone does; once it "
    "is in use, announce it twice, 2 s apart, and keep watching ARP for another host "
    "claiming it. The first such claim is defended with one announcement; a second within "
    "10 s gives the address up: DHCPDECLINE, and a new lease is sought. Probing costs "
    "about 0.7 s per new lease, or 4-7 s with ARPProbeTiming=rfc5227.",
    _E, BOOL)
ARP_PROBE_TIMING = Setting(
    _D, "ARPProbeTiming", v.probe_timing, values.ProbeTiming.FAST,
    "How ARPProbe= paces its probes. fast: three probes 0.2 s apart and 0.3 s more to "
    "listen, with no random wait: about 0.7 s, ample on a LAN, where a host that has the "
    "address answers within milliseconds. rfc5227: RFC 5227 as written: a random wait of "
    "up to 1 s, three probes 1-2 s apart (random), and 2 s more: 4-7 s.",
    _E, "fast|rfc5227")
ALLOW_SERVERS: Setting[tuple[v.ServerSpec, ...]] = Setting(
    _D, "AllowServers", v.servers, (),
    "Take offers and answers only from these DHCP servers: server identifiers (option 54) "
    "and source MAC addresses, space-separated; a reply matching either is taken. Empty "
    "(the default): any server not denied. Another server's replies are dropped, and the "
    "journal says so. A NAK without a server identifier (ESP-IDF's) counts as coming from "
    "the server last heard from its source MAC.",
    _E, "ADDRESS|MAC...", accumulate=True, default_text="any server",
    show=v.show_servers)
DENY_SERVERS: Setting[tuple[v.ServerSpec, ...]] = Setting(
    _D, "DenyServers", v.servers, (),
    "Never take offers or answers from these DHCP servers (server identifiers or source MAC "
    "addresses, space-separated), for example a rogue server the journal named. Applied "
    "before AllowServers=. A NAK without a server identifier (taken in INIT-REBOOT, "
    "RENEWING and REBINDING) is matched by its source MAC, and by the identifier of the "
    "server last heard from that MAC. A lease in use when the engine restarts goes at once "
    "if its server identifier is denied now, or left out of an AllowServers= that names "
    "no MAC address (the lease keeps no MAC of its server: by MAC, the server's next reply "
    "decides).",
    _E, "ADDRESS|MAC...", accumulate=True, default_text="none", show=v.show_servers)
MINIMUM_LEASE_TIME = Setting(
    _D, "MinimumLeaseTime", v.min_lease_time, 60,
    "The address of a shorter lease is kept this long (and the journal says so), so that "
    "a broken or hostile server's short leases do not take it away while the server is "
    "unreachable. Renewals still follow the server's lease (its T1 and T2, or half and "
    "seven eighths of it), so that they come while the server still holds the address; "
    "a lease under 10 s is renewed as one of 10 s, and a T1 under 5 s is taken as 5 s, so "
    "that a lease time or T1 of 0 or 1 s does not make the client renew in a tight loop. "
    "A time span of at most a day: "
    "seconds, or with a unit as systemd.time(7) spells it, case included (s, min, h, d, "
    "or sec, minutes, hours, days...): 90s, 5min, 2h, 1d, 1h 30min. Below 10 s it has no "
    "effect: no lease is ever taken as shorter than that.",
    _E, "SECONDS")

# ---- [Network]: what netconf accepts and applies -------------------------------------------------

USE_DNS = Setting(
    _N, "UseDNS", v.boolean, True,
    "Hand the DNS servers of the lease to systemd-resolved (through leasebox-bus), or, when "
    "resolved is not installed, write them to the resolv.conf-format file "
    "/run/leasebox-dns/IFACE.conf. A failed hand-off never costs the address: it "
    "is retried, and leaseboxctl status shows it as pending.",
    _NC, BOOL)
USE_NTP = Setting(
    _N, "UseNTP", v.boolean, True,
    "Hand the NTP servers of the lease (option 42) to systemd-timesyncd, as its runtime "
    "servers, while the lease lasts, after those of NTP= in timesyncd.conf.",
    _NC, BOOL)
USE_DOMAINS = Setting(
    _N, "UseDomains", v.boolean, True,
    "Use the domain name (option 15) and the search list (option 119) of the lease as "
    "search domains (an option 15 of several names, as AWS sends, gives the search list "
    "when option 119 is absent). systemd-resolved also routes queries for names under a "
    "link's search domains to that link's DNS servers, so a rogue DHCP server on the link "
    "can attract queries for those names; yes is what NetworkManager, dhclient and dhcpcd "
    "do, no is systemd-networkd's default. Set no where the link is not trusted.",
    _NC, BOOL)
USE_ROUTES = Setting(
    _N, "UseRoutes", v.boolean, True,
    "Add the classless static routes (option 121) of the lease, other than a default "
    "route. A route the client cannot use is left out (said in leaseboxctl status), not "
    "the lease: its gateway not on the link, loopback, multicast, reserved, the lease's "
    "own address or its subnet's edges, or its destination in 0/8, 127/8, 224/4 or "
    "240/4; a /32 lease reaches its gateways through a host route, as "
    "systemd-networkd does. With UseRoutes=no every gateway must lie in the leased subnet: "
    "an on-link route that is not installed cannot make a gateway outside it reachable.",
    _NC, BOOL)
USE_GATEWAY = Setting(
    _N, "UseGateway", v.boolean, True,
    "Add a default route: from option 121 when the lease has that option (RFC 3442: its "
    "routers, option 3, are then not used, and with no default route in option 121 there "
    "is none, which leaseboxctl status says), else via the first "
    "router of option 3 that is on the link (a /32 lease's router, outside it, gets a host "
    "route to it first); one it cannot use (outside the lease's subnet, the address itself, "
    "the subnet's network or broadcast address) is skipped, and the log says so, as it "
    "does when none is usable and the lease goes on without a default route.",
    _NC, BOOL)
USE_MTU = Setting(
    _N, "UseMTU", v.boolean, True,
    "Set the interface MTU from option 26 (never above what the device supports; one the "
    "kernel refuses, as a VLAN's above its parent's, is left out, and said). An MTU "
    "set by hand since (ip link set IFACE mtu N) is left as it is, at renewals and when "
    "the lease ends, until the server sends another; the interface's MTU from before the "
    "lease counts as a reset, and gets the lease's again.",
    _NC, BOOL)
LINK_UP = Setting(
    _N, "LinkUp", v.boolean, True,
    "Bring the interface up (administratively, like `ip link set IFACE up`) when leasebox "
    "first serves it in a boot and finds it down (at boot, or plugged in), as every DHCP "
    "client does, and again when leasebox restarts; taken down by hand in between, it "
    "stays down. leasebox never takes an interface down. No: leave the link as the "
    "administrator set it.",
    _NC, BOOL)
MINIMUM_MTU = Setting(
    _N, "MinimumMTU", v.mtu, v.MTU_FLOOR,
    "The smallest MTU option 26 may set; a smaller one is ignored (and the reply and the "
    "journal say so). Whatever this says, while the interface has an IPv6 address the floor "
    "is 1280: below it the kernel removes IPv6 from the device, static addresses included.",
    _NC, "BYTES")
ROUTE_METRIC = Setting(
    _N, "RouteMetric", v.uint32, 1024,
    "The metric (priority) of every route leasebox adds, the kernel's route to the leased "
    "subnet included. Lower wins.",
    _NC, "NUMBER")
CLASSLESS_ROUTES: Setting[int | None] = Setting(
    _N, "ClasslessRoutes", v.classless_table, v.RT_TABLE_MAIN,
    "Where the routes of option 121 go. main: with the lease's other routes, in the table "
    "RouteTable= names (the main table unless it names another), as RFC 3442 says; "
    "table:254 is the same. ignore: treat option 121 as absent (the default route then "
    "comes from option 3). table:N: routing table N, where they cannot take traffic from "
    "the main table unless a routing rule sends it there; table N also gets the route to "
    "their gateways (the leased subnet, or a host route), and their default route, if "
    "any: option 3 is not used with option 121 (RFC 3442), so the main table gets none. A "
    "server (or anyone who can "
    "answer DHCP on the link) can use option 121 to pull traffic away from a VPN "
    "(TunnelVision, CVE-2024-3661); on hosts "
    "that use a VPN, choose ignore or table:N.",
    _NC, "main|ignore|table:N", show=v.show_classless_table)
ROUTE_TABLE = Setting(
    _N, "RouteTable", v.route_table, v.RT_TABLE_MAIN,
    "The routing table for every route of the lease: the prefix route of the address "
    "(then added by netconf rather than the kernel), the default route of option 3, and "
    "the routes of option 121 unless ClasslessRoutes=table:N sends those elsewhere. main, "
    "or a table number for policy routing (with an ip rule of the administrator's).",
    _NC, "main|N", show=v.show_route_table)
ALLOWED_ADDRESSES: Setting[tuple[IPv4Network, ...]] = Setting(
    _N, "AllowedAddresses", v.networks, (),
    "IPv4 ranges (CIDR, space-separated, each with its prefix length) the leased address "
    "and its subnet must lie in. "
    "netconf refuses a lease outside them; the engine logs the refusal, does not ask for "
    "that address again for a while, and starts over. Empty (the default) accepts any "
    "address that passes the other checks.",
    _NC, "CIDR...", accumulate=True, default_text="any address")
KEEP_CONFIGURATION = Setting(
    _N, "KeepConfiguration", v.boolean, False,
    "When leasebox leaves the link without a RELEASE (SendRelease=no), leave the address, "
    "routes and DNS in place; the address still expires with its lease lifetime in the "
    "kernel, whose clock stops while the machine is suspended (a laptop that sleeps "
    "through the lease's end keeps the address after waking, for the rest of it or until "
    "leasebox next starts on the interface, which takes off a lease that ran out), but the "
    "DNS and NTP servers handed on (to systemd-resolved and -timesyncd, or "
    "to the resolv.conf file) have no lifetime: they stay until leasebox runs on that "
    "interface again. A RELEASE always removes them.",
    _E, BOOL)

# ---- [Control]: who may use leaseboxctl ---------------------------------------------------------

CONTROL_GROUP: Setting[int | None] = Setting(
    _C, "ControlGroup", v.gid, None,
    "A numeric group id whose members may use leaseboxctl (status, renew, release, leave); "
    "root always may. A number, because the engine runs without a user database; `getent "
    "group NAME` gives it. The control socket is root's (mode 0600) as shipped, so the "
    "group must also be given access to the socket file, with the drop-in shown under "
    "CONTROL GROUP below.",
    _E, "GID", default_text="root only")

SETTINGS: tuple[Setting[Any], ...] = (
    CLIENT_IDENTIFIER, DUID, IAID, SEND_HOSTNAME, HOSTNAME, FQDN, FQDN_UPDATE,
    VENDOR_CLASS_IDENTIFIER,
    REQUEST_OPTIONS, SEND_OPTION, SEND_VENDOR_OPTION, USER_CLASS, REQUEST_ADDRESS,
    REQUEST_BROADCAST, USE_CAPTIVE_PORTAL, SEND_RELEASE,
    RAPID_COMMIT, IPV6_ONLY_PREFERRED, ANONYMIZE, ARP_PROBE, ARP_PROBE_TIMING,
    MINIMUM_LEASE_TIME, ALLOW_SERVERS, DENY_SERVERS,
    USE_DNS, USE_NTP, USE_DOMAINS, USE_ROUTES, USE_GATEWAY, USE_MTU, LINK_UP, MINIMUM_MTU,
    ROUTE_METRIC, ROUTE_TABLE, CLASSLESS_ROUTES,
    ALLOWED_ADDRESSES, KEEP_CONFIGURATION,
    CONTROL_GROUP,
)
BY_KEY: dict[tuple[str, str], Setting[Any]] = {s.key: s for s in SETTINGS}
SECTIONS: tuple[Section, ...] = tuple(Section)
