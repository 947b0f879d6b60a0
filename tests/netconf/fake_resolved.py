"""A stand-in for systemd-resolved's Manager Link methods, for netconf's D-Bus tests.

Run with Debian's /usr/bin/python3 (python3-dbus, python3-gi): an independent D-Bus
implementation decodes what netconf's own minimal client marshals. Each call is appended
to a JSON-lines file. SetLinkDNS with 192.0.2.66 in it answers AccessDenied, as resolved
does for a caller it does not authorize.

    fake_resolved.py BUS_ADDRESS RECORD_FILE
"""

import json
import socket
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

IFACE = "org.freedesktop.resolve1.Manager"


class Denied(dbus.exceptions.DBusException):
    _dbus_error_name = "org.freedesktop.DBus.Error.AccessDenied"


class Manager(dbus.service.Object):
    def __init__(self, bus, record):
        super().__init__(bus, "/org/freedesktop/resolve1")
        self.record = record

    def _log(self, entry):
        with open(self.record, "a") as out:
            out.write(json.dumps(entry) + "\n")

    @dbus.service.method(IFACE, in_signature="ia(iay)")
    def SetLinkDNS(self, ifindex, addresses):
        servers = [[int(family), socket.inet_ntoa(bytes(int(b) for b in raw))]
                   for family, raw in addresses]
        if any(s[1] == "192.0.2.66" for s in servers):
            raise Denied("Access denied")
        self._log({"call": "SetLinkDNS", "ifindex": int(ifindex), "servers": servers})

    @dbus.service.method(IFACE, in_signature="ia(sb)")
    def SetLinkDomains(self, ifindex, domains):
        self._log({"call": "SetLinkDomains", "ifindex": int(ifindex),
                   "domains": [[str(d), bool(r)] for d, r in domains]})

    @dbus.service.method(IFACE, in_signature="i")
    def RevertLink(self, ifindex):
        self._log({"call": "RevertLink", "ifindex": int(ifindex)})


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(sys.argv[1])
    name = dbus.service.BusName("org.freedesktop.resolve1", bus)
    manager = Manager(bus, sys.argv[2])
    print("ready", flush=True)
    GLib.MainLoop().run()
    del name, manager


if __name__ == "__main__":
    main()
