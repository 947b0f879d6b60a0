"""A machine's life under real boots and real shutdowns of the container (issue: boot
ordering, wait-online, reboot keeps the lease).

One writable tree per suite (an overlay on the cached one) is booted three times:
0. leasebox is installed from its package and enabled with the one command a user runs,
   `systemctl enable leasebox@veth0.target`, next to three lab units: veth0 created early
   in boot (before network-pre.target, down, as a NIC appears), dnsmasq behind it, and a
   probe ordered after network-online.target that records the address it finds.
1. Boot: the probe sees the address (network-online.target waited for the lease). netconf
   exits idle (after 1 s here), then power off: no RELEASE, the lease file stays
   (SendRelease=yes keeps a lease across reboot), and leaving does not wait for a netconf
   that systemd would not start while the system shuts down.
2. Boot: dnsmasq sees a REQUEST and no DISCOVER, the same address. With SendRelease=always
   written and netconf running, power off: now the shutdown sends the RELEASE (so dnsmasq
   was there to see one after boot 1 too), also after a service that stops slowly.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_for

from .harness import Container, overlay_tree
from .leasebox_lab import IFACE, install

pytestmark = pytest.mark.system

MAC = "02:00:00:00:0b:01"
NETCONF = f"leasebox-netconf@{IFACE}.service"
LAB = "/var/lib/lab"
UNIT_STOPPING = "de5b426a63be47a7b6ac3eaac82e2f6f"  # systemd's catalog: a unit's stop begins
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"  # and is over
NET_SCRIPT = f"""#!/bin/sh
set -e
ip netns add srv
ip link add {IFACE} address {MAC} type veth peer name veth1 netns srv
ip -n srv addr add 192.0.2.1/24 dev veth1
ip -n srv link set veth1 up
ip -n srv link set lo up
"""
UNITS = {
    # A NIC is there before the network is configured: before network-pre.target, which
    # leasebox-io@.service is ordered after.
    "lab-net.service": """[Unit]
DefaultDependencies=no
After=local-fs.target
Before=network-pre.target
Wants=network-pre.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-net
[Install]
WantedBy=sysinit.target
""",
    # Started early and so stopped late: still serving when leasebox leaves at shutdown.
    "lab-dnsmasq.service": f"""[Unit]
DefaultDependencies=no
Requires=lab-net.service
After=lab-net.service
Before=network-pre.target
[Service]
ExecStart=/usr/bin/ip netns exec srv /usr/sbin/dnsmasq --keep-in-foreground --no-ping \
--port=0 --conf-file=/dev/null --interface=veth1 --bind-interfaces --dhcp-authoritative \
--dhcp-range=192.0.2.50,192.0.2.150,255.255.255.0,1h --dhcp-leasefile={LAB}/dnsmasq.leases \
--log-dhcp --log-facility={LAB}/dnsmasq.log
[Install]
WantedBy=sysinit.target
""",
    "lab-online-probe.service": f"""[Unit]
Wants=network-online.target
After=network-online.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo "boot $(cat /proc/sys/kernel/random/boot_id): \
$(ip -4 -o addr show dev {IFACE} scope global)" >> {LAB}/online.log'
[Install]
WantedBy=multi-user.target
""",
}

# Ordered after network.target, so stopped before it at shutdown, and slowly: 5 s, more
# than a stopping netconf serves its engine (netconf.main.STOP_DRAIN).
SLOW_STOP = """[Unit]
After=network.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/sleep 5
"""


@pytest.fixture(scope="module")
def tree(container_tree: Path) -> Iterator[Path]:
    with overlay_tree(container_tree) as merged:
        yield merged


MACHINE_ID = uuid.uuid4().hex  # one machine, booted three times


def _boot(tree: Path) -> Container:
    c = Container(tree, volatile=False, machine_id=MACHINE_ID, boot_timeout=60.0)
    c.start()
    return c


def _poweroff(c: Container) -> None:
    c.stop()  # SIGTERM to nspawn: systemd powers the container off
    assert c.exit_code == 0, f"nspawn exited {c.exit_code}"


def _count(log: str, what: str) -> int:
    return sum(1 for line in log.splitlines() if f" {what}(" in line)


def _online(tree: Path) -> list[str]:
    """The address the probe saw after network-online.target, one per boot."""
    lines = (tree / LAB.lstrip("/") / "online.log").read_text().splitlines()
    found = []
    for line in lines:
        m = re.search(r"inet (192\.0\.2\.\d+)/24", line)
        found.append(m.group(1) if m else f"none: {line}")
    return found


def test_boot_waits_for_the_lease_and_reboot_keeps_it(tree: Path) -> None:
    dnsmasq_log = tree / LAB.lstrip("/") / "dnsmasq.log"
    c = _boot(tree)
    try:
        install(c)
        c.write_file("/usr/local/sbin/lab-net", NET_SCRIPT, mode=0o755)
        for name, text in UNITS.items():
            c.write_file(f"/etc/systemd/system/{name}", text)
        c.run(["mkdir", "-p", LAB, "/var/log/journal"])
        # a persistent journal, read from the host (the lab's trees keep it in memory)
        c.write_file("/etc/systemd/journald.conf.d/zz-boot-test.conf",
                     "[Journal]\nStorage=persistent\n")
        c.write_file(f"/etc/systemd/system/{NETCONF}.d/idle.conf", (
            "[Service]\nExecStart=\nExecStart=/usr/bin/leasebox-netconf %i --runtime-dir "
            "/run/leasebox-netconf --exit-idle-time 1\n"))
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "enable", f"leasebox@{IFACE}.target", *UNITS])
        # each target's Also=: disabling another interface leaves this one's wait in place
        c.run(["systemctl", "enable", "leasebox@veth9.target"])
        c.run(["systemctl", "disable", "leasebox@veth9.target"])
        wants = c.run(["ls", "/etc/systemd/system/network-online.target.wants"]).stdout
        assert wants.split() == [f"leasebox-wait-online@{IFACE}.service"], wants
    finally:
        _poweroff(c)

    # boot 1
    c = _boot(tree)
    try:
        assert _online(tree) == [_online(tree)[0]] and _online(tree)[0].startswith("192.0.2.")
        address = _online(tree)[0]
        wait_online = c.run(["systemctl", "show", "-p", "Result,ActiveState", "--value",
                             f"leasebox-wait-online@{IFACE}.service"]).stdout.split()
        assert wait_online == ["success", "active"]
        log = c.run(["journalctl", "-b", "-o", "cat", "-u", f"leasebox-wait-online@{IFACE}.service"]
                    ).stdout
        assert "online after" in log
        assert c.run(["systemctl", "is-active", f"leasebox@{IFACE}.target"]).stdout.strip() \
            == "active"
        assert (_count(dnsmasq_log.read_text(), "DHCPDISCOVER"),
                _count(dnsmasq_log.read_text(), "DHCPREQUEST")) == (1, 1)
        wait_for("netconf to exit when idle", lambda: c.run(
            ["systemctl", "is-active", NETCONF], check=False).stdout.strip() == "inactive", 10)
    finally:
        _poweroff(c)
    text = dnsmasq_log.read_text()
    assert _count(text, "DHCPRELEASE") == 0, "a reboot must keep the lease"
    # systemd refuses a socket's connections once the socket is to stop, as at shutdown:
    # waiting for netconf there would only hold the shutdown up (engine.main.STOP_GRACE)
    assert _stop_seconds(tree, f"leasebox-leave@{IFACE}.service") < 1.5, \
        _shutdown_journal(tree)
    assert "the configuration stays" in _shutdown_journal(tree)
    assert list((tree / "var/lib/private/leasebox" / IFACE).iterdir()), "lease file kept"

    # boot 2: INIT-REBOOT from the kept lease
    c = _boot(tree)
    try:
        assert _online(tree) == [address, address]
        text = dnsmasq_log.read_text()
        assert (_count(text, "DHCPDISCOVER"), _count(text, "DHCPREQUEST")) == (1, 2)
        c.write_file("/etc/leasebox/leasebox.conf", "[DHCPv4]\nSendRelease=always\n")
        # read at start-up; a restart keeps the lease (the live state is in the FDSTORE)
        c.run(["systemctl", "restart", f"leasebox-engine@{IFACE}.service"])
        # io follows the engine (it exits when the engine's end closes and is restarted):
        # the RELEASE needs it back
        wait_for("io back with the link", lambda: '"carrier": true' in c.run(
            ["leaseboxctl", "status", "--json", IFACE], check=False).stdout, 10)
        assert _count(dnsmasq_log.read_text(), "DHCPREQUEST") == 2
        # A release takes the address away, which only a running netconf can do at
        # shutdown (with netconf idle the lease would be kept): netconf as shipped, running
        c.run(["rm", f"/etc/systemd/system/{NETCONF}.d/idle.conf"])
        # and a service that uses the network and takes longer to stop than netconf's
        # drain (a database, docker, an NFS mount): leasebox leaves the link after it
        c.write_file("/etc/systemd/system/lab-slow-stop.service", SLOW_STOP)
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "start", NETCONF, "lab-slow-stop.service"])
    finally:
        _poweroff(c)
    assert _count(dnsmasq_log.read_text(), "DHCPRELEASE") == 1, _shutdown_journal(tree)


def _stop_seconds(tree: Path, unit: str) -> float:
    """How long the unit's last stop job took (in the tree's last boot): from systemd's
    "Stopping" to its "Stopped" (their catalog message ids)."""
    out = subprocess.run(["journalctl", "-D", str(tree / "var/log/journal"), "-o", "json",
                          "--no-pager", f"UNIT={unit}", "_PID=1"],
                         capture_output=True, text=True, timeout=30, check=True)
    stamps = {}
    for line in out.stdout.splitlines():  # oldest first: the last boot's stop stays
        entry = json.loads(line)
        stamps[entry.get("MESSAGE_ID")] = int(entry["__MONOTONIC_TIMESTAMP"]) / 1e6
    return stamps[UNIT_STOPPED] - stamps[UNIT_STOPPING]


def _shutdown_journal(tree: Path) -> str:
    """What leasebox logged in the tree's last boot (read from the host)."""
    out = subprocess.run(["journalctl", "-D", str(tree / "var/log/journal"), "-o",
                          "short-monotonic", "--no-pager", "-n", "400"],
                         capture_output=True, text=True, timeout=30, check=False)
    return "\n".join(line for line in out.stdout.splitlines()
                     if "leasebox" in line or "Stopp" in line or "dnsmasq" in line)
