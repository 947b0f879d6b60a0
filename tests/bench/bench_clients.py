"""The DHCP clients under test, each started and stopped the way its users do it.

Every client works on veth0 only. `start_argv()` is the command the agent times; `stop()`
is how a user ends it; `clean()` removes what it remembers, for a cold DISCOVER; the
reboot series stops with `stop(release=False)` and starts again with the state kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

from tests.bench.bench_lab import IFACE, BenchLab

UDHCPC_SCRIPT = "/usr/local/lib/leasebox-bench/udhcpc.script"

# busybox udhcpc only obtains a lease: the script it runs applies it. Ours does what
# Debian's udhcpc package's default script does for IPv4, with `ip`.
UDHCPC_SCRIPT_TEXT = """#!/bin/sh
# udhcpc hook for the benchmark: apply the lease with ip(8). udhcpc passes the event in $1
# and the lease in the environment ($interface, $ip, $mask as a prefix length, $router,
# $lease).
set -u
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ;;
bound|renew)
    ip -4 addr replace "$ip/${mask:-24}" dev "$interface" valid_lft "${lease:-forever}" \\
        preferred_lft "${lease:-forever}"
    if [ -n "${router:-}" ]; then
        for r in $router; do
            ip -4 route replace default via "$r" dev "$interface" proto dhcp
            break
        done
    fi
    ;;
leasefail|nak)
    ;;
esac
exit 0
"""


@dataclass
class Client:
    key: str
    label: str
    package: str  # the Debian package its version is read from
    started: str  # how it is started, for the report
    stopped: str
    keeps_lease: bool
    lab: BenchLab
    notes: list[str] = field(default_factory=list)

    def configure(self) -> None:
        """Once per run, before anything is measured."""

    def before_start(self) -> None:
        """Right before a start (outside the timed window)."""

    def start_argv(self) -> list[str]:
        raise NotImplementedError

    def stop(self, release: bool = True) -> None:
        raise NotImplementedError

    def clean(self) -> None:
        """Remove the remembered lease and other state, for a cold DISCOVER."""

    def procs_args(self) -> list[str]:
        """How the agent finds this client's processes (--unit U ... / --match RE)."""
        raise NotImplementedError

    def status_unit(self) -> str | None:
        """A unit whose STATUS= says "No carrier" once the client saw the carrier go."""
        return None

    def services(self) -> tuple[str, ...]:
        """The service units whose processes PID 1 forks for a start (none: the bench
        starts the client itself)."""
        return ()

    def reboot_begin(self) -> None:
        """Before the INIT-REBOOT series: make a stop keep the lease."""

    def reboot_end(self) -> None:
        pass


class Leasebox(Client):
    TARGET = f"leasebox@{IFACE}.target"
    SERVICES = tuple(f"leasebox-{p}@{IFACE}.service" for p in ("io", "engine", "netconf"))

    def __init__(self, lab: BenchLab) -> None:
        super().__init__(
            "leasebox", "leasebox", "leasebox",
            f"systemctl start {self.TARGET}",
            f"systemctl stop {self.TARGET} (leaves the link: RELEASE, as shipped)",
            True, lab)

    def configure(self) -> None:
        # systemd's own default start timeout; the test tree lowers it to 20 s, which 64
        # interfaces starting at once on 2 cores could hit.
        for unit in ("leasebox-io@.service", "leasebox-engine@.service",
                     "leasebox-netconf@.service"):
            self.lab.dropin(unit, "bench-timeout", "[Service]\nTimeoutStartSec=90s\n")
        self.lab.systemctl("daemon-reload")

    def start_argv(self) -> list[str]:
        return ["systemctl", "start", self.TARGET]

    def stop(self, release: bool = True) -> None:
        self.lab.systemctl("stop", self.TARGET)

    def clean(self) -> None:
        self.lab.sh("rm -f /var/lib/private/leasebox/*/lease /var/lib/leasebox/*/lease")

    def procs_args(self) -> list[str]:
        return [a for s in self.SERVICES for a in ("--unit", s)]

    def status_unit(self) -> str | None:
        return f"leasebox-engine@{IFACE}.service"

    def services(self) -> tuple[str, ...]:
        return self.SERVICES

    NO_RELEASE = f"/run/leasebox-conf/interfaces/{IFACE}.conf.d/50-bench-no-release.conf"

    def reboot_begin(self) -> None:
        # Stopping the target leaves the link and, as shipped (SendRelease=yes), releases
        # the lease and forgets it. With SendRelease=no the lease file stays for the next
        # start's INIT-REBOOT: set the way leasebox.conf(5) says, as runtime configuration.
        self.lab.c.write_file(self.NO_RELEASE, "[DHCPv4]\nSendRelease=no\n")
        self.notes.append(f"reboot series: SendRelease=no in {self.NO_RELEASE}; "
                          f"systemctl stop {self.TARGET} then removes the address and keeps "
                          "the lease file (/var/lib/leasebox/veth0/lease)")

    def reboot_end(self) -> None:
        self.lab.c.run(["rm", "-f", self.NO_RELEASE])


class Networkd(Client):
    NETWORK = "/run/systemd/network/50-bench-veth0.network"

    def __init__(self, lab: BenchLab) -> None:
        super().__init__(
            "networkd", "systemd-networkd", "systemd",
            "systemctl start systemd-networkd.service, with a .network file "
            "([Match] Name=veth0, [Network] DHCP=ipv4) in /run/systemd/network",
            "systemctl stop systemd-networkd.service systemd-networkd.socket",
            False, lab)
        self.notes.append("no INIT-REBOOT series: networkd 252 keeps its DHCPv4 lease in "
                          "/run/systemd/netif/leases only while it runs (deleted on stop)")
        self.notes.append("the socket is stopped too: a link or address change would "
                          "otherwise activate networkd behind the other clients' backs")

    def configure(self) -> None:
        self.lab.c.write_file(self.NETWORK, "[Match]\nName=veth0\n\n[Network]\nDHCP=ipv4\n")

    def start_argv(self) -> list[str]:
        return ["systemctl", "start", "systemd-networkd.service"]

    def stop(self, release: bool = True) -> None:
        self.lab.systemctl("stop", "systemd-networkd.service", "systemd-networkd.socket")

    def clean(self) -> None:
        self.lab.sh("rm -f /run/systemd/netif/leases/*")

    def procs_args(self) -> list[str]:
        return ["--unit", "systemd-networkd.service"]

    def services(self) -> tuple[str, ...]:
        return ("systemd-networkd.service",)


class Dhcpcd(Client):
    """Debian's dhcpcd.service (enabled by the package), all interfaces, privilege-separated."""

    DROPIN_UNIT = "dhcpcd.service"
    current_fast: ClassVar[bool | None] = None  # the variant the unit is set up for

    def __init__(self, lab: BenchLab, fast: bool) -> None:
        flags = " --noarp --nodelay" if fast else ""
        super().__init__(
            "dhcpcd-fast" if fast else "dhcpcd",
            f"dhcpcd{flags}", "dhcpcd-base",
            "systemctl start dhcpcd.service (Debian's unit: dhcpcd -q -b"
            + (", drop-in adding --noarp --nodelay)" if fast else ")"),
            "systemctl stop dhcpcd.service (ExecStop=dhcpcd -x)",
            True, lab)
        self.fast = fast
        if not fast:
            self.notes.append("/etc/dhcpcd.conf gets 'nodev': without udev (none in a "
                              "container) dhcpcd waits forever for interfaces to be "
                              "initialised; Debian's per-interface dhcpcd@.service is "
                              "BindsTo= a udev device unit, so it cannot start here at all")

    def configure(self) -> None:
        if not self.fast:
            self.lab.sh("grep -qx nodev /etc/dhcpcd.conf || echo nodev >> /etc/dhcpcd.conf")

    def before_start(self) -> None:
        if Dhcpcd.current_fast is self.fast:
            return
        text = None
        if self.fast:
            text = ("[Service]\nExecStart=\nExecStart=/usr/sbin/dhcpcd -q -b --noarp "
                    "--nodelay\n")
        self.lab.dropin(self.DROPIN_UNIT, "bench-fast", text)
        self.lab.systemctl("daemon-reload")
        Dhcpcd.current_fast = self.fast

    def start_argv(self) -> list[str]:
        return ["systemctl", "start", "dhcpcd.service"]

    def stop(self, release: bool = True) -> None:
        self.lab.systemctl("stop", "dhcpcd.service")

    def clean(self) -> None:
        self.lab.sh("rm -f /var/lib/dhcpcd/*.lease /var/lib/dhcpcd/*.lease6")

    def procs_args(self) -> list[str]:
        return ["--unit", "dhcpcd.service"]

    def services(self) -> tuple[str, ...]:
        return ("dhcpcd.service",)


class Dhclient(Client):
    LEASES = "/var/lib/dhcp/dhclient.leases"

    def __init__(self, lab: BenchLab) -> None:
        super().__init__(
            "dhclient", "dhclient (ISC)", "isc-dhcp-client",
            "dhclient veth0 (Debian ships no unit; ifupdown runs it the same way)",
            "dhclient -r veth0 (as ifdown does: RELEASE); -x for the reboot series",
            True, lab)

    def start_argv(self) -> list[str]:
        return ["dhclient", IFACE]

    def stop(self, release: bool = True) -> None:
        self.lab.c.run(["dhclient", "-r" if release else "-x", IFACE], timeout=30)
        self._reap()

    def _reap(self) -> None:
        # dhclient -r/-x end the daemon through its pid file; make sure, by PID
        deadline = time.monotonic() + 5
        while pids := self._pids():
            if time.monotonic() > deadline:
                self.lab.kill_pids(pids, "KILL")
                break
            time.sleep(0.05)

    def _pids(self) -> list[int]:
        found = self.lab.agent("procs", *self.procs_args())
        return [p["pid"] for p in found["procs"]]

    def clean(self) -> None:
        self.lab.c.run(["rm", "-f", self.LEASES])

    def procs_args(self) -> list[str]:
        return ["--match", rf"^dhclient {IFACE}$"]


class Udhcpc(Client):
    def __init__(self, lab: BenchLab) -> None:
        super().__init__(
            "udhcpc", "busybox udhcpc", "busybox",
            f"busybox udhcpc -i veth0 -s {UDHCPC_SCRIPT} (a script applying the lease "
            "with ip)",
            "kill -TERM (udhcpc's documented stop; RELEASE only with -R)",
            False, lab)
        self.notes.append("no INIT-REBOOT series: udhcpc keeps no lease file")

    def configure(self) -> None:
        self.lab.c.write_file(UDHCPC_SCRIPT, UDHCPC_SCRIPT_TEXT, mode=0o755)

    def start_argv(self) -> list[str]:
        return ["busybox", "udhcpc", "-i", IFACE, "-s", UDHCPC_SCRIPT]

    def stop(self, release: bool = True) -> None:
        # by PID (the ones the agent finds by their exact command line), never by name
        deadline = time.monotonic() + 5
        sig = "TERM"
        while pids := [p["pid"] for p in self.lab.agent("procs", *self.procs_args())["procs"]]:
            if time.monotonic() > deadline + 5:
                raise RuntimeError(f"udhcpc {pids} survived SIGKILL")
            if time.monotonic() > deadline:
                sig = "KILL"
            self.lab.kill_pids(pids, sig)
            time.sleep(0.1)

    def procs_args(self) -> list[str]:
        return ["--match", rf"^busybox udhcpc -i {IFACE} "]


def all_clients(lab: BenchLab) -> list[Client]:
    return [Leasebox(lab), Networkd(lab), Dhcpcd(lab, fast=False), Dhcpcd(lab, fast=True),
            Dhclient(lab), Udhcpc(lab)]
