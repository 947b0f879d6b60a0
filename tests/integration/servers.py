"""Other real DHCP servers for the integration lab, beside netlab.Dnsmasq: ISC Kea
(kea-dhcp4) and ISC dhcpd, each started in a namespace of the lab with a configuration
written for the test, and each able to say how many messages of a type it received or sent
(`count`, as Dnsmasq.count).

Kea keeps its PID and lock files where KEA_PIDFILE_DIR and KEA_LOCKFILE_DIR say, so that
two of them (failover) and the host's own never meet.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.netlab import SERVER_IP, Daemon, Lab
from tests.waiting import wait_for

SUBNET = "192.0.2.0/24"
DNS = "192.0.2.53"


class Kea(Daemon):
    """kea-dhcp4 on `interface` of namespace `ns` (default: the lab's server side)."""

    def __init__(self, lab: Lab, *, name: str = "kea", ns: str | None = None,
                 interface: str = "veth1", pool: str = "192.0.2.100 - 192.0.2.150",
                 lifetime: int = 120, t1: int = 4, t2: int = 7, relayed: bool = False,
                 routers: str = SERVER_IP, min_lifetime: int | None = None) -> None:
        self.lab, self.name = lab, name
        self.ns = ns or lab.server
        self.dir = lab.tmp / name
        self.dir.mkdir(exist_ok=True)
        self.logfile = self.dir / "kea.log"
        self.leasefile = self.dir / "leases4.csv"
        self.interface, self.pool = interface, pool
        self.lifetime, self.t1, self.t2 = lifetime, t1, t2
        self.min_lifetime = min_lifetime
        self.relayed, self.routers = relayed, routers
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self) -> dict[str, Any]:
        subnet: dict[str, Any] = {
            "id": 1, "subnet": SUBNET, "pools": [{"pool": self.pool}],
            "option-data": [{"name": "routers", "data": self.routers},
                            {"name": "domain-name-servers", "data": DNS},
                            {"name": "domain-name", "data": "kea.example"}],
        }
        if self.relayed:
            subnet["relay"] = {"ip-addresses": [self.routers]}
        times: dict[str, int] = {"valid-lifetime": self.lifetime,
                                 "renew-timer": self.t1, "rebind-timer": self.t2}
        if self.min_lifetime is not None:
            times["min-valid-lifetime"] = self.min_lifetime
        return {"Dhcp4": {
            "interfaces-config": {"interfaces": [self.interface],
                                  "dhcp-socket-type": "udp" if self.relayed else "raw"},
            "lease-database": {"type": "memfile", "persist": True,
                               "name": str(self.leasefile), "lfc-interval": 0},
            "authoritative": True,
            **times,
            "subnet4": [subnet],
            "loggers": [{"name": "kea-dhcp4", "severity": "DEBUG", "debuglevel": 50,
                         "output_options": [{"output": str(self.logfile)}]}],
        }}

    def start(self) -> Kea:
        conf = self.dir / "kea-dhcp4.conf"
        conf.write_text(json.dumps(self.config(), indent=1))
        env = {"KEA_PIDFILE_DIR": str(self.dir), "KEA_LOCKFILE_DIR": str(self.dir),
               "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        self.proc = self.lab.spawn(self.ns, ["kea-dhcp4", "-c", str(conf)],
                                   self.dir / "kea.out", env=env)
        started = self.log().count("DHCP4_STARTED")  # the log goes on across restarts
        wait_for(f"{self.name} to serve", lambda: self.log().count("DHCP4_STARTED") > started
                 or self.exited(), 15)
        if self.exited():
            raise RuntimeError(f"kea-dhcp4 exited: {self.log()[-2000:]}"
                               f"{(self.dir / 'kea.out').read_text()[-2000:]}")
        return self

    def count(self, what: str) -> int:
        """Messages of type `what` (DHCPDISCOVER, DHCPACK...) Kea received or sent."""
        return sum(1 for line in self.log().splitlines()
                   if f"{what} (type" in line and ("DHCP4_PACKET_RECEIVED" in line
                                                  or "DHCP4_PACKET_SEND " in line))

    def received_from(self, what: str) -> list[str]:
        """The source address of each `what` Kea received ("... received from A to B")."""
        out = []
        for line in self.log().splitlines():
            if "DHCP4_PACKET_RECEIVED" in line and f"{what} (type" in line:
                out.append(line.split(" received from ", 1)[1].split()[0])
        return out


class Dhcpd(Daemon):
    """ISC dhcpd (isc-dhcp-server) on veth1 of the lab's server namespace, in the
    foreground, logging to its output."""

    def __init__(self, lab: Lab, *, range_: str = "192.0.2.160 192.0.2.199",
                 lifetime: int = 120, t1: int = 4, t2: int = 7) -> None:
        self.lab = lab
        self.dir = lab.tmp / "dhcpd"
        self.dir.mkdir(exist_ok=True)
        self.logfile = self.dir / "dhcpd.out"
        self.leasefile = self.dir / "dhcpd.leases"
        self.range, self.lifetime, self.t1, self.t2 = range_, lifetime, t1, t2
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Dhcpd:
        conf = self.dir / "dhcpd.conf"
        conf.write_text(
            f"default-lease-time {self.lifetime};\nmax-lease-time {self.lifetime};\n"
            "authoritative;\n"
            f"option dhcp-renewal-time {self.t1};\noption dhcp-rebinding-time {self.t2};\n"
            f"subnet 192.0.2.0 netmask 255.255.255.0 {{\n  range {self.range};\n"
            f"  option routers {SERVER_IP};\n  option domain-name-servers {DNS};\n"
            '  option domain-name "dhcpd.example";\n}\n')
        self.leasefile.touch()
        self.proc = self.lab.spawn(self.lab.server, [
            "dhcpd", "-4", "-f", "-d", "-cf", str(conf), "-lf", str(self.leasefile),
            "-pf", str(self.dir / "dhcpd.pid"), "veth1"], self.logfile)
        started = self.log().count("Server starting service.")
        wait_for("dhcpd to serve", lambda: self.log().count("Server starting service.") > started
                 or self.exited(), 15)
        if self.exited():
            raise RuntimeError(f"dhcpd exited: {self.log()[-2000:]}")
        return self

    def count(self, what: str) -> int:
        return sum(1 for line in self.log().splitlines() if line.startswith(f"{what} "))


def forget(server: Kea | Dhcpd) -> None:
    """Lose every lease, as a server whose database was wiped."""
    path: Path = server.leasefile
    path.unlink(missing_ok=True)
    for old in path.parent.glob(path.name + ".*"):
        old.unlink()
    if isinstance(server, Dhcpd):
        path.touch()


def give_to_another(server: Dhcpd, address: str) -> None:
    """dhcpd's database says `address` belongs to another client: a REQUEST for it is
    NAKed (of an address it merely has no record of, dhcpd says nothing)."""
    forget(server)
    server.leasefile.write_text(
        f"lease {address} {{\n  starts 4 2026/01/01 00:00:00;\n"
        "  ends 2 2036/01/01 00:00:00;\n  binding state active;\n"
        "  next binding state free;\n  hardware ethernet 02:00:5e:10:00:99;\n}\n")
