"""The calls to systemd-resolved and systemd-timesyncd (links.Services), over one bus
connection that is opened when needed and dropped after any error, so the next attempt
starts clean.

Both services authorize these calls only for root (or through polkit, which a minimal
Debian does not have): that is why leasebox-bus exists and runs as uid 0, with no
capabilities. Values were validated by netconf and by the ipc decoder; the domain names are
checked once more here, by the same validator.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address

from jeepney import DBusAddress

from leasebox.bus.dbus import SYSTEM_BUS, Connection, DBusError
from leasebox.bus.links import PartlySet, ServicesLost
from leasebox.core.names import check_domain

RESOLVED = DBusAddress("/org/freedesktop/resolve1", "org.freedesktop.resolve1",
                       "org.freedesktop.resolve1.Manager")
TIMESYNCD = DBusAddress("/org/freedesktop/timesync1", "org.freedesktop.timesync1",
                        "org.freedesktop.timesync1.Manager")
PROPERTIES_OF_TIMESYNCD = DBusAddress(TIMESYNCD.object_path, TIMESYNCD.bus_name,
                                      "org.freedesktop.DBus.Properties")
WATCHED = (RESOLVED.bus_name, TIMESYNCD.bus_name)
# resolved's answer to a change of a link that systemd-networkd manages (resolved then
# takes the link's DNS from networkd's state only), in both 252 and 257
LINK_BUSY = "org.freedesktop.resolve1.LinkBusy"
# the bus daemon's answer for a callee that exited or hung before answering
NO_REPLY = "org.freedesktop.DBus.Error.NoReply"


class BusServices:
    def __init__(self, address: str = SYSTEM_BUS) -> None:
        self.address = address
        self.conn: Connection | None = None
        # the event loop watches the connection for signals while it is open
        self.on_connect: Callable[[Connection], None] | None = None
        self.on_close: Callable[[Connection], None] | None = None
        # before each step that may wait on the bus (CALL_TIMEOUT each): one turn of the
        # loop can chain many (a connection and its watches, a call per link), more than
        # the watchdog's interval all told; the loop pings it here
        self.before_wait: Callable[[], None] = lambda: None

    def connection(self) -> Connection:
        if self.conn is None:
            self.before_wait()
            conn = Connection(self.address)
            try:
                for name in WATCHED:
                    self.before_wait()
                    conn.watch_owner(name)
            except BaseException:
                conn.close()
                raise
            self.conn = conn
            if self.on_connect is not None:
                self.on_connect(conn)
        return self.conn

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            if self.on_close is not None:
                self.on_close(conn)
            conn.close()

    def _call(self, address: DBusAddress, member: str, signature: str,
              body: tuple[object, ...]) -> tuple[object, ...]:
        try:
            conn = self.connection()
            self.before_wait()
            return conn.call(address, member, signature, body)
        except DBusError as exc:
            if not exc.name:  # the connection itself is in doubt: start over next time
                self.close()
                raise ServicesLost(str(exc)) from None
            if exc.name == NO_REPLY:  # the callee died or hung mid-call: it may have acted
                raise ServicesLost(str(exc)) from None
            raise
        except OSError as exc:
            self.close()
            raise ServicesLost(str(exc) or type(exc).__name__) from None

    def set_link(self, ifindex: int, servers: Sequence[IPv4Address],
                 domains: Sequence[str]) -> None:
        dns = [(socket.AF_INET, s.packed) for s in servers if isinstance(s, IPv4Address)]
        if len(dns) != len(servers):
            raise TypeError("DNS servers must be IPv4 addresses")
        try:
            self._call(RESOLVED, "SetLinkDNS", "ia(iay)", (ifindex, dns))
        except DBusError as exc:
            if exc.name != LINK_BUSY:
                raise
            raise DBusError(f"systemd-networkd manages the link, and resolved takes its DNS "
                            f"from networkd alone: set Unmanaged=yes in the [Link] section of "
                            f"the link's .network file ({exc})", exc.name) from None
        # False: a search domain, not only a routing domain
        try:
            self._call(RESOLVED, "SetLinkDomains", "ia(sb)",
                       (ifindex, [(check_domain(d), False) for d in domains]))
        except ServicesLost:
            raise
        except (DBusError, ValueError) as exc:  # the servers are set, the domains are not
            raise PartlySet(f"the DNS servers are set, not the domains: {exc}") from None

    def revert_link(self, ifindex: int) -> None:
        try:
            self._call(RESOLVED, "RevertLink", "i", (ifindex,))
        except DBusError as exc:
            # The link is gone (resolved forgot it with it), or systemd-networkd manages it
            # now (resolved replaced what we set with networkd's): nothing left to revert.
            if exc.name not in ("org.freedesktop.resolve1.NoSuchLink", LINK_BUSY):
                raise

    def set_ntp(self, servers: Sequence[IPv4Address]) -> None:
        """The leases' servers, after the administrator's (NTP= in timesyncd.conf): timesyncd
        tries its runtime servers instead of its system ones, not before them, so the lease's
        alone would put the DHCP server's choice of time source above the administrator's.
        networkd's link servers come after the system ones; so do these."""
        names = [str(s) for s in servers]
        if names:
            system = self._system_ntp()
            names = system + [name for name in names if name not in system]
        self._call(TIMESYNCD, "SetRuntimeNTPServers", "as", (names,))

    def _system_ntp(self) -> list[str]:
        """timesyncd's SystemNTPServers (NTP= of its configuration), as it reads them."""
        (value,) = self._call(PROPERTIES_OF_TIMESYNCD, "Get", "ss",
                              (TIMESYNCD.interface, "SystemNTPServers"))
        signature, names = value if isinstance(value, tuple) and len(value) == 2 else (None, None)
        if signature != "as" or not isinstance(names, list) \
                or not all(isinstance(n, str) for n in names):
            raise DBusError(f"timesyncd's SystemNTPServers is not a list of names: {value!r}",
                            "org.freedesktop.DBus.Error.InvalidSignature")
        return names
