"""leasebox installed into a real-systemd container, with dnsmasq across a veth pair.

`install(container)` installs leasebox the way a user does: the Debian package, built by
scripts/build-deb (cached per source tree, see debpkg.py), with `dpkg -i` in the container;
its maintainer scripts create the leasebox group and reload systemd, and systemd's dpkg
trigger rebuilds the journal catalog.
`LeaseLab` creates, inside the container, a network namespace `srv` with dnsmasq
(--no-ping) on veth1 (192.0.2.1/24), joined to veth0 in the container's own namespace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.waiting import wait_for

from . import debpkg
from .debpkg import Package
from .harness import Background, Container

REPO = Path(__file__).resolve().parents[2]
SERVER_IP = "192.0.2.1"
IFACE = "veth0"


def install(container: Container) -> Package:
    pkg = debpkg.package()
    inside = f"/tmp/{pkg.deb.name}"
    container.copy_in(pkg.deb, inside)
    container.run(["dpkg", "-i", inside], timeout=120,
                  env={"DEBIAN_FRONTEND": "noninteractive"})
    container.run(["rm", "-f", inside])
    return pkg


MINIMAL_ROOT = "/usr/lib/leasebox/root"  # RootDirectory= of every service


def root_not_shipped(container: Container) -> list[str]:
    """What the services' minimal root holds that the package did not put there: mount
    points systemd made. It must make none: on a read-only /usr it could not."""
    shipped = set(container.run(["dpkg-query", "-L", "leasebox"]).stdout.splitlines())
    found = container.run(["find", MINIMAL_ROOT, "-mindepth", "1"]).stdout.splitlines()
    return sorted(set(found) - shipped)


def make_usr_read_only(container: Container) -> None:
    """Bind /usr over itself read-only, as on a machine whose /usr is mounted so; undone
    by usr_writable."""
    container.run(["mount", "--bind", "/usr", "/usr"])
    container.run(["mount", "-o", "remount,bind,ro", "/usr"])


def usr_writable(container: Container) -> None:
    """Take the read-only bind away: lazily, as processes started meanwhile in mount
    namespaces of their own (dnsmasq through `ip netns exec`, say) hold copies of it."""
    container.run(["umount", "--lazy", "/usr"])


class LeaseLab:
    def __init__(self, container: Container, *dnsmasq_options: str) -> None:
        self.c = container
        self.dnsmasq: Background | None = None
        self.options = list(dnsmasq_options)
        self.server_interface = "veth1"  # in netns srv; see bridge_server()
        c = container
        # a fresh server for each lab: an earlier test's client (another random MAC) may
        # still hold the address this one asks for in dnsmasq's lease file
        c.run(["rm", "-f", "/tmp/dnsmasq.leases"])
        # Undone if any step fails (as start_dnsmasq()), whoever made the lab: the next
        # test's lab in the shared container would find srv and veth0 there, and fail too.
        try:
            c.run(["ip", "netns", "add", "srv"])
            c.run(["ip", "link", "add", IFACE, "type", "veth", "peer", "name", "veth1",
                   "netns", "srv"])
            c.run(["ip", "-n", "srv", "addr", "add", f"{SERVER_IP}/24", "dev", "veth1"])
            c.run(["ip", "-n", "srv", "link", "set", "veth1", "up"])
            c.run(["ip", "-n", "srv", "link", "set", "lo", "up"])
            c.run(["ip", "link", "set", IFACE, "up"])
        except BaseException:
            self.close()
            raise

    def start_dnsmasq(self) -> None:
        try:
            self._start_dnsmasq()
        except BaseException:
            self.close()
            raise

    def _start_dnsmasq(self) -> None:
        self.c.run(["rm", "-f", "/tmp/dnsmasq.log"])
        self.dnsmasq = self.c.spawn([
            "ip", "netns", "exec", "srv", "dnsmasq", "--keep-in-foreground", "--no-ping",
            "--port=0", "--conf-file=/dev/null", f"--interface={self.server_interface}",
            "--bind-interfaces",
            "--dhcp-authoritative", "--dhcp-range=192.0.2.50,192.0.2.150,255.255.255.0,2m",
            "--dhcp-leasefile=/tmp/dnsmasq.leases", "--log-dhcp",
            "--log-facility=/tmp/dnsmasq.log", f"--dhcp-option=option:router,{SERVER_IP}",
            *self.options,
        ])
        wait_for("dnsmasq", lambda: "DHCP, IP range" in self.dnsmasq_log(), 10)

    def bridge_server(self) -> None:
        """Serve from a bridge br0 in netns srv with veth1 as its port, so that veth0 can be
        deleted and created again (taking veth1 with it) while dnsmasq keeps running:
        plug_veth0() puts the new veth1 on the bridge."""
        if self.dnsmasq is not None:
            self.dnsmasq.stop()
        c = self.c
        c.run(["ip", "-n", "srv", "addr", "del", f"{SERVER_IP}/24", "dev", "veth1"])
        c.run(["ip", "-n", "srv", "link", "add", "br0", "type", "bridge"])
        c.run(["ip", "-n", "srv", "link", "set", "veth1", "master", "br0"])
        # A second port that is always up, as a switch has other hosts on it: a bridge whose
        # only port went (veth0 deleted) loses its carrier, and when the port comes back its
        # transmit path waits for the kernel's link watcher (up to a second), dropping the
        # first reply; the first lease then waits for a retransmission (see bench_lab).
        c.run(["ip", "-n", "srv", "link", "add", "keep0", "type", "veth", "peer", "name",
               "keep1"])
        c.run(["ip", "-n", "srv", "link", "set", "keep0", "master", "br0", "up"])
        c.run(["ip", "-n", "srv", "link", "set", "keep1", "up"])
        c.run(["ip", "-n", "srv", "addr", "add", f"{SERVER_IP}/24", "dev", "br0"])
        c.run(["ip", "-n", "srv", "link", "set", "br0", "up"])
        self.server_interface = "br0"
        self.start_dnsmasq()

    def plug_veth0(self, mac: str) -> None:
        """Create veth0 (down, as a new NIC appears) with `mac`; its peer joins br0."""
        c = self.c
        c.run(["ip", "link", "add", IFACE, "address", mac, "type", "veth", "peer", "name",
               "veth1", "netns", "srv"])
        c.run(["ip", "-n", "srv", "link", "set", "veth1", "master", "br0", "up"])

    def close(self) -> None:
        """Everything the lab made, whatever is there of it; again is harmless."""
        if self.dnsmasq is not None:
            self.dnsmasq.stop()
            self.dnsmasq = None
        self.c.run(["systemctl", "stop", f"leasebox@{IFACE}.target"], check=False)
        self.c.run(["ip", "link", "del", IFACE], check=False)
        self.c.run(["ip", "netns", "del", "srv"], check=False)

    def dnsmasq_log(self) -> str:
        return self.c.run(["cat", "/tmp/dnsmasq.log"], check=False).stdout

    def requested_options(self) -> set[int]:
        """The option codes dnsmasq logged as asked for (parameter request lists), read
        after its "requested options:" marker: the xid in front can hold any digits."""
        codes: set[int] = set()
        for line in self.dnsmasq_log().splitlines():
            _, marker, listed = line.partition("requested options:")
            if marker:
                codes.update(int(item.split(":")[0]) for item in listed.split(",")
                             if item.split(":")[0].strip().isdigit())
        return codes

    def count(self, what: str) -> int:
        return sum(1 for line in self.dnsmasq_log().splitlines() if f" {what}(" in line)

    def address(self) -> dict[str, Any] | None:
        out = self.c.run(["ip", "-4", "-j", "addr", "show", "dev", IFACE]).stdout
        info = json.loads(out or "[]")
        found = [a for a in (info[0]["addr_info"] if info else [])
                 if a.get("scope") == "global"]
        return found[0] if found else None

    def wait_address(self, timeout: float = 15.0) -> dict[str, Any]:
        result: dict[str, Any] = wait_for("an address on veth0", self.address, timeout,
                                          interval=0.01)
        return result

    def status_line(self, unit: str = f"leasebox-engine@{IFACE}.service") -> str:
        return self.c.run(["systemctl", "show", "-p", "StatusText", "--value", unit]).stdout.strip()

    def wait_bound(self, timeout: float = 15.0) -> str:
        result: str = wait_for("Bound in the STATUS line",
                               lambda: self.status_line() if self.status_line().startswith(
                                   "Bound ") else "", timeout)
        return result

    def main_pid(self, unit: str) -> int:
        return int(self.c.run(["systemctl", "show", "-p", "MainPID", "--value", unit]).stdout)

    def journal(self, *args: str) -> str:
        return self.c.run(["journalctl", "--no-pager", *args], check=False).stdout
