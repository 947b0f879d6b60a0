"""Stand-ins for systemd-resolved's and systemd-timesyncd's Manager methods, for
leasebox-bus's D-Bus tests on a private bus.

Run with Debian's /usr/bin/python3 (python3-dbus, python3-gi): an independent D-Bus
implementation decodes what leasebox-bus marshals through jeepney. Each call is appended to
a JSON-lines file. SetLinkDNS with 192.0.2.66 in it answers AccessDenied, as resolved does
for a caller it does not authorize; with 192.0.2.77 (or RevertLink of ifindex 77), LinkBusy,
as resolved does for a link that systemd-networkd manages.

    fake_services.py BUS_ADDRESS RECORD_FILE resolved|timesyncd[:NTP=,SERVERS]...
"""

import json
import socket
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

RESOLVED = "org.freedesktop.resolve1"
TIMESYNCD = "org.freedesktop.timesync1"


class Denied(dbus.exceptions.DBusException):
    _dbus_error_name = "org.freedesktop.DBus.Error.AccessDenied"


class Busy(dbus.exceptions.DBusException):
    _dbus_error_name = "org.freedesktop.resolve1.LinkBusy"


class NoReply(dbus.exceptions.DBusException):
    _dbus_error_name = "org.freedesktop.DBus.Error.NoReply"


class Recorder(dbus.service.Object):
    def __init__(self, bus, path, record):
        super().__init__(bus, path)
        self.record = record

    def _log(self, entry):
        with open(self.record, "a") as out:
            out.write(json.dumps(entry) + "\n")


class Resolved(Recorder):
    @dbus.service.method(RESOLVED + ".Manager", in_signature="ia(iay)")
    def SetLinkDNS(self, ifindex, addresses):
        servers = [[int(family), socket.inet_ntoa(bytes(int(b) for b in raw))]
                   for family, raw in addresses]
        if any(s[1] == "192.0.2.66" for s in servers):
            raise Denied("Access denied")
        if any(s[1] == "192.0.2.77" for s in servers):
            raise Busy(f"Link {int(ifindex)} is managed.")
        if any(s[1] == "192.0.2.88" for s in servers):  # as the bus says for a callee gone
            self._log({"call": "SetLinkDNS", "ifindex": int(ifindex), "servers": servers})
            raise NoReply("Message recipient disconnected from message bus without replying")
        self._log({"call": "SetLinkDNS", "ifindex": int(ifindex), "servers": servers})

    @dbus.service.method(RESOLVED + ".Manager", in_signature="ia(sb)")
    def SetLinkDomains(self, ifindex, domains):
        self._log({"call": "SetLinkDomains", "ifindex": int(ifindex),
                   "domains": [[str(d), bool(r)] for d, r in domains]})

    @dbus.service.method(RESOLVED + ".Manager", in_signature="i")
    def RevertLink(self, ifindex):
        if int(ifindex) == 77:
            raise Busy("Link 77 is managed.")
        self._log({"call": "RevertLink", "ifindex": int(ifindex)})


class Timesyncd(Recorder):
    def __init__(self, bus, path, record, system):
        super().__init__(bus, path, record)
        self.system = system

    @dbus.service.method("org.freedesktop.DBus.Properties", in_signature="ss",
                         out_signature="v")
    def Get(self, interface, name):
        if (interface, name) != (TIMESYNCD + ".Manager", "SystemNTPServers"):
            raise dbus.exceptions.DBusException(f"no property {name}")
        return dbus.Array(self.system, signature="s")

    @dbus.service.method(TIMESYNCD + ".Manager", in_signature="as")
    def SetRuntimeNTPServers(self, servers):
        self._log({"call": "SetRuntimeNTPServers", "servers": [str(s) for s in servers]})


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(sys.argv[1])
    keep = []
    for which in sys.argv[3:]:
        if which == "resolved":
            keep += [dbus.service.BusName(RESOLVED, bus),
                     Resolved(bus, "/org/freedesktop/resolve1", sys.argv[2])]
        elif which.partition(":")[0] == "timesyncd":  # timesyncd:SYSTEM,SERVERS (NTP=)
            system = [n for n in which.partition(":")[2].split(",") if n]
            keep += [dbus.service.BusName(TIMESYNCD, bus),
                     Timesyncd(bus, "/org/freedesktop/timesync1", sys.argv[2], system)]
    print("ready", flush=True)
    GLib.MainLoop().run()
    del keep


if __name__ == "__main__":
    main()
