"""The services a user's machine runs beside leasebox, for real: systemd-resolved takes the
lease's DNS servers and search domains per link, systemd-timesyncd its NTP servers, both
through leasebox-bus; and neither being absent ever costs the address.

Runs on every supported suite (see conftest.py), with resolved and timesyncd started by the
container's systemd as on a default Debian install, and /usr read-only (as
test_confinement: leasebox-bus binds files of /etc, whose mount points must not be made
below /usr).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from tests.waiting import wait_for

from .harness import Container
from .leasebox_lab import IFACE, LeaseLab, make_usr_read_only, usr_writable

pytestmark = pytest.mark.system

TARGET = f"leasebox@{IFACE}.target"
DNS = ("192.0.2.53", "192.0.2.54")
DOMAINS = ("lab.example", "corp.example")
NTP = "192.0.2.1"
OPTIONS = (f"--dhcp-option=option:dns-server,{','.join(DNS)}",
           f"--dhcp-option=option:domain-search,{','.join(DOMAINS)}",
           f"--dhcp-option=option:ntp-server,{NTP}")
OTHER = "vx0"  # a second link whose DNS leasebox must never touch
OTHER_DNS = "198.51.100.9"


@pytest.fixture(scope="module")
def installed(installed: Container) -> Iterator[Container]:
    """The package installed, then /usr read-only for the module."""
    make_usr_read_only(installed)
    try:
        yield installed
    finally:
        usr_writable(installed)


@pytest.fixture
def lab(installed: Container) -> Iterator[LeaseLab]:
    """Like the shared lab, with DNS, search domains and NTP in the lease."""
    lab = LeaseLab(installed, *OPTIONS)
    lab.start_dnsmasq()
    try:
        yield lab
    finally:
        lab.close()
        installed.run(["ip", "link", "del", OTHER], check=False)
        installed.run(["systemctl", "start", "systemd-resolved", "systemd-timesyncd"],
                      check=False)


def resolvectl(c: Container, what: str, link: str = IFACE) -> list[str]:
    """resolvectl dns|domain LINK, as a list ("Link 2 (veth0): a b" -> [a, b])."""
    out = c.run(["resolvectl", what, link], check=False).stdout
    return out.split(":", 1)[1].split() if ":" in out else []


def runtime_ntp(c: Container) -> list[str]:
    out = c.run(["busctl", "get-property", "org.freedesktop.timesync1",
                 "/org/freedesktop/timesync1", "org.freedesktop.timesync1.Manager",
                 "RuntimeNTPServers"], check=False).stdout
    return re.findall(r'"([^"]*)"', out)


def status_json(c: Container) -> dict[str, object]:
    docs = json.loads(c.run(["leaseboxctl", "status", "--json", IFACE]).stdout)
    assert isinstance(docs, list) and len(docs) == 1
    doc: dict[str, object] = docs[0]
    return doc


def second_link(c: Container) -> None:
    c.run(["ip", "link", "add", OTHER, "type", "veth", "peer", "name", "vx1"])
    c.run(["ip", "link", "set", OTHER, "up"])
    c.run(["resolvectl", "dns", OTHER, OTHER_DNS])


def test_dns_and_ntp_reach_resolved_and_timesyncd(lab: LeaseLab) -> None:
    c = lab.c
    for unit in ("systemd-resolved", "systemd-timesyncd", "dbus"):
        assert c.run(["systemctl", "is-active", unit], check=False).stdout.strip() == "active"
    second_link(c)
    c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()
    # netconf, confined as shipped, had the kernel skip the link's routes while it has no
    # carrier (another link's carry the traffic; tests/netconf shows the effect)
    assert c.run(["cat", f"/proc/sys/net/ipv4/conf/{IFACE}/ignore_routes_with_linkdown"]
                 ).stdout.strip() == "1"
    wait_for("the lease's DNS servers at resolved",
             lambda: resolvectl(c, "dns") == list(DNS), 10)
    assert resolvectl(c, "domain") == list(DOMAINS)
    wait_for("the lease's NTP server at timesyncd", lambda: runtime_ntp(c) == [NTP], 10)
    handoff = status_json(c)["handoff"]
    assert handoff == {"resolved": "applied", "timesyncd": "applied", "ntp_servers": [NTP]}
    text = c.run(["leaseboxctl", "status", IFACE]).stdout
    assert "systemd-resolved: applied" in text and f"NTP: {NTP}" in text

    # timesyncd forgets its runtime servers when it restarts: leasebox-bus gives them again
    c.run(["systemctl", "restart", "systemd-timesyncd"])
    wait_for("NTP again after timesyncd's restart", lambda: runtime_ntp(c) == [NTP], 10)
    # resolved keeps what it was told across its own restart
    c.run(["systemctl", "restart", "systemd-resolved"])
    wait_for("resolved back", lambda: resolvectl(c, "dns") == list(DNS), 10)

    # a new lease with other values replaces them
    assert lab.dnsmasq is not None
    lab.dnsmasq.stop()
    lab.options = ["--dhcp-option=option:dns-server,192.0.2.99",
                   "--dhcp-option=option:domain-search,new.example",
                   "--dhcp-option=option:ntp-server,192.0.2.123"]
    lab.start_dnsmasq()
    c.run(["leaseboxctl", "renew", IFACE])
    wait_for("the renewed lease's DNS at resolved",
             lambda: resolvectl(c, "dns") == ["192.0.2.99"], 15)
    assert resolvectl(c, "domain") == ["new.example"]
    wait_for("the renewed lease's NTP", lambda: runtime_ntp(c) == ["192.0.2.123"], 10)
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]

    # stopping leaves the link: DNS, domains and NTP reverted; the other link untouched
    c.run(["systemctl", "stop", TARGET])
    assert lab.address() is None
    wait_for("DNS reverted", lambda: resolvectl(c, "dns") == [] and
             resolvectl(c, "domain") == [], 10)
    wait_for("NTP reverted", lambda: runtime_ntp(c) == [], 10)
    assert resolvectl(c, "dns", OTHER) == [OTHER_DNS]


def test_the_administrators_ntp_servers_stay_first(lab: LeaseLab) -> None:
    """timesyncd tries its runtime servers instead of NTP= of timesyncd.conf: leasebox-bus
    puts the administrator's first, so a DHCP server does not choose the machine's time
    source over them (networkd's link servers come after them too)."""
    c = lab.c
    conf = "/etc/systemd/timesyncd.conf.d/lab.conf"
    c.write_file(conf, "[Time]\nNTP=192.0.2.2\n")
    c.run(["systemctl", "restart", "systemd-timesyncd"])
    try:
        c.run(["systemctl", "start", TARGET])
        lab.wait_bound()
        wait_for("the lease's NTP server after the administrator's",
                 lambda: runtime_ntp(c) == ["192.0.2.2", NTP], 10)
        assert status_json(c)["handoff"] == {"resolved": "applied", "timesyncd": "applied",
                                             "ntp_servers": [NTP]}
        c.run(["systemctl", "stop", TARGET])
        wait_for("NTP reverted", lambda: runtime_ntp(c) == [], 10)
    finally:
        c.run(["rm", "-f", conf])
        c.run(["systemctl", "restart", "systemd-timesyncd"])


def test_a_nic_unplugged_while_netconf_is_idle_leaves_timesyncd(lab: LeaseLab) -> None:
    """netconf has exited idle (as it does 30 s after a lease) when the NIC is unplugged:
    its NTP server leaves timesyncd then, not when the lease runs out. (resolved drops a
    removed link's DNS itself.) The lease is kept for when the NIC comes back."""
    c = lab.c
    unit = f"leasebox-netconf@{IFACE}.service"
    dropin = f"/run/systemd/system/{unit}.d/idle.conf"
    c.write_file(dropin, (
        "[Service]\nExecStart=\nExecStart=/usr/bin/leasebox-netconf %i --runtime-dir "
        "/run/leasebox-netconf --exit-idle-time 1\n"))
    c.run(["systemctl", "daemon-reload"])
    try:
        c.run(["systemctl", "start", TARGET])
        lab.wait_address()
        lab.wait_bound()
        wait_for("the lease's NTP server at timesyncd", lambda: runtime_ntp(c) == [NTP], 10)
        wait_for("netconf to exit when idle", lambda: c.run(
            ["systemctl", "is-active", unit], check=False).stdout.strip() == "inactive", 10)
        c.run(["ip", "link", "del", IFACE])
        wait_for("the NTP server taken back", lambda: runtime_ntp(c) == [], 10)
        assert "is gone: its DNS/NTP taken back" in lab.journal("-u", unit)
        assert lab.status_line().startswith("No carrier; keeping")
        # The stop: netconf, waiting for the link, answers the engine's Remove (it used
        # to take 3 s more, with a warning that the address might still be on the link)
        # and ends with the engine, not waiting on to bring the NIC up when plugged again.
        started = time.monotonic()
        c.run(["systemctl", "stop", TARGET])
        took = time.monotonic() - started
        assert "has not confirmed" not in lab.journal("-u", f"leasebox-leave@{IFACE}.service")
        assert took < 2.5, took
        wait_for("netconf ended with the engine", lambda: c.run(
            ["systemctl", "is-active", unit], check=False).stdout.strip() == "inactive", 5)
    finally:
        c.run(["systemctl", "stop", TARGET], check=False)
        c.run(["rm", "-rf", dropin.rpartition("/")[0]])
        c.run(["systemctl", "daemon-reload"])


def test_wait_online_returns_with_the_dns_at_resolved(lab: LeaseLab) -> None:
    """What a unit after network-online.target meets: wait-online returns once resolved
    has the lease's DNS, not only the address, though leasebox-bus is started on demand
    (as at boot) and delivers after netconf has answered the engine."""
    c = lab.c
    wait = f"leasebox-wait-online@{IFACE}.service"
    for run in range(4):
        c.run(["systemctl", "stop", TARGET, wait, "leasebox-bus.service"])
        wait_for("DNS reverted", lambda: resolvectl(c, "dns") == [], 10)
        c.run(["systemctl", "start", TARGET])
        if run % 2:  # as a user would, root with every capability
            done = c.run(["leaseboxctl", "wait-online", "--json", "--timeout", "30", IFACE])
            assert json.loads(done.stdout)["dns_pending"] == {}
        else:  # as network-online.target runs it: root without capabilities
            c.run(["systemctl", "start", wait])
        assert resolvectl(c, "dns") == list(DNS)  # at once: no wait_for
        assert resolvectl(c, "domain") == list(DOMAINS)
    # what it reads, it can read in its unit: root without CAP_DAC_OVERRIDE
    for path in (f"/run/leasebox-netconf/{IFACE}/netconf.state",
                 f"/run/leasebox-bus/links/{IFACE}.json"):
        seen = c.run(["systemd-run", "--wait", "--pipe", "--quiet", "-p", "CapabilityBoundingSet=",
                      "/usr/bin/head", "-c", "1", path], check=False)
        assert (seen.returncode, seen.stdout) == (0, "{"), (path, seen.stderr)
    c.run(["systemctl", "stop", TARGET, wait])


def test_wait_online_in_its_unit_waits_for_an_engine_io_has_not_reported_to(
        lab: LeaseLab) -> None:
    """An engine io has not reported the link to has no state; wait-online's units run
    with PrivateNetwork=yes, where the interface is not to be seen, and said at the
    timeout that they waited for "veth0 (no such interface)", sending an operator looking
    for a missing NIC where io was the matter."""
    c = lab.c
    wait = f"leasebox-wait-online@{IFACE}.service"
    io = f"leasebox-io@{IFACE}.service"
    dropin = f"/run/systemd/system/{wait}.d/zz-test.conf"
    c.write_file(dropin, "[Service]\nExecStart=\n"
                 "ExecStart=/usr/bin/leaseboxctl wait-online --timeout 1 %i\n")
    c.run(["systemctl", "mask", "--runtime", io])
    try:
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "start", TARGET])
        assert c.run(["systemctl", "start", wait], check=False).returncode != 0
        log = lab.journal("-u", wait, "-o", "cat")
        assert f"timed out after 1 s waiting for {IFACE} (starting)" in log, log
    finally:
        c.run(["systemctl", "stop", TARGET, wait], check=False)
        c.run(["systemctl", "unmask", "--runtime", io], check=False)
        c.run(["rm", "-rf", dropin.rpartition("/")[0]])
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "reset-failed", wait], check=False)


def test_resolved_down_costs_nothing_and_dns_arrives_when_it_is_back(lab: LeaseLab) -> None:
    c = lab.c
    c.run(["systemctl", "stop", "systemd-resolved", "systemd-timesyncd"])
    c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()  # the address is applied and the lease kept, DNS or not
    bus = "leasebox-bus.service"
    wait_for("pending shown by leaseboxctl", lambda: str(
        status_json(c)["handoff"].get("resolved", "")).startswith(  # type: ignore[attr-defined]
        "pending: org.freedesktop.resolve1 is not on the bus"), 10)
    shown = c.run(["systemctl", "show", "-p", "StatusText", "--value", bus]).stdout
    assert "systemd-resolved pending" in shown and "systemd-timesyncd pending" in shown
    log = lab.journal("-u", bus, "-o", "cat")
    assert "systemd-resolved: org.freedesktop.resolve1 is not on the bus; will try again" in log
    requests = lab.count("DHCPREQUEST")

    c.run(["systemctl", "start", "systemd-resolved"])
    wait_for("DNS at resolved once it is back", lambda: resolvectl(c, "dns") == list(DNS), 10)
    assert resolvectl(c, "domain") == list(DOMAINS)
    c.run(["systemctl", "start", "systemd-timesyncd"])
    wait_for("NTP at timesyncd once it is back", lambda: runtime_ntp(c) == [NTP], 10)
    wait_for("nothing pending", lambda: status_json(c)["handoff"] == {
        "resolved": "applied", "timesyncd": "applied", "ntp_servers": [NTP]}, 10)
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]
    assert lab.count("DHCPREQUEST") == requests  # none of it cost a DHCP exchange


NETCONF_DROPIN = f"/run/systemd/system/leasebox-netconf@{IFACE}.service.d/dns-to-file.conf"
RESOLV_CONF = f"/run/leasebox-dns/{IFACE}.conf"


def test_dns_moves_to_resolved_when_it_comes_under_a_running_lease(lab: LeaseLab) -> None:
    """netconf decides where DNS goes at each start. First it writes the file, as where
    systemd-resolved is not installed (`--dns-to file`, in a drop-in); started again
    without the drop-in, as after `apt install systemd-resolved`, it hands the same
    lease's DNS to resolved at once and removes the file: no DHCP exchange, no change in
    the lease to set it off. Then back, as after resolved is removed."""
    c = lab.c
    start = f"/usr/bin/leasebox-netconf {IFACE} --runtime-dir /run/leasebox-netconf"
    c.write_file(NETCONF_DROPIN, f"[Service]\nExecStart=\nExecStart={start} --dns-to file\n")
    netconf = f"leasebox-netconf@{IFACE}.service"
    try:
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "start", TARGET])
        addr = lab.wait_address()
        lab.wait_bound()
        wait_for("DNS in the file", lambda: "nameserver 192.0.2.53" in c.run(
            ["cat", RESOLV_CONF], check=False).stdout, 10)
        # as every resolver reads it: as any user, through a symbolic link
        c.run(["ln", "-sf", RESOLV_CONF, "/run/resolv-test.conf"])
        read = c.run(["runuser", "-u", "nobody", "--", "cat", "/run/resolv-test.conf"],
                     check=False)
        assert "nameserver 192.0.2.53" in read.stdout, read.stderr
        assert resolvectl(c, "dns") == [] and resolvectl(c, "domain") == []
        requests = lab.count("DHCPREQUEST")

        c.run(["rm", NETCONF_DROPIN])
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "restart", netconf])
        wait_for("DNS taken over by resolved",
                 lambda: resolvectl(c, "dns") == list(DNS), 10)
        assert resolvectl(c, "domain") == list(DOMAINS)
        wait_for("the file gone", lambda: c.run(["test", "-e", RESOLV_CONF],
                                                 check=False).returncode == 1, 10)
        wait_for("nothing pending", lambda: status_json(c)["handoff"] == {
            "resolved": "applied", "timesyncd": "applied", "ntp_servers": [NTP]}, 10)

        c.write_file(NETCONF_DROPIN,
                     f"[Service]\nExecStart=\nExecStart={start} --dns-to file\n")
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "restart", netconf])
        wait_for("DNS back in the file", lambda: "nameserver 192.0.2.53" in c.run(
            ["cat", RESOLV_CONF], check=False).stdout, 10)
        wait_for("resolved's copy reverted",
                 lambda: resolvectl(c, "dns") == [] and resolvectl(c, "domain") == [], 10)
        assert runtime_ntp(c) == [NTP]
        assert lab.count("DHCPREQUEST") == requests
        again = lab.address()
        assert again is not None and again["local"] == addr["local"]
    finally:
        c.run(["rm", "-f", NETCONF_DROPIN])
        c.run(["systemctl", "daemon-reload"])


IMPOSTOR = """
import socket, sys
from ipaddress import IPv4Address
from leasebox import ipc
from leasebox.ipc import channel
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
try:
    s.connect("/run/leasebox-bus/bus.sock")
except OSError as exc:
    print("connect:", exc.strerror)
    sys.exit(0)
channel.send(s, ipc.Handoff(1, "veth0", ipc.Names((IPv4Address("192.0.2.66"),), (), ())))
reply = channel.recv(s, ipc.Peer.BUS, ipc.Peer.NETCONF)
print(reply.status.name, reply.reason)
"""


def test_bus_is_root_without_capabilities_and_hears_only_netconf(lab: LeaseLab) -> None:
    c = lab.c
    c.run(["systemctl", "start", TARGET])
    lab.wait_bound()
    wait_for("DNS at resolved", lambda: resolvectl(c, "dns") == list(DNS), 10)
    pid = lab.main_pid("leasebox-bus.service")
    status = dict(line.split(":", 1) for line in c.read_file(f"/proc/{pid}/status").splitlines())
    assert status["Uid"].split() == ["0"] * 4
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap], 16) == 0, cap
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
    # not /tmp: DynamicUser= gets its own; not /usr, read-only here
    script = "/var/lib/leasebox-test-impostor.py"
    c.write_file(script, IMPOSTOR)

    def attempt(*props: str) -> str:
        argv = ["systemd-run", "--wait", "--pipe", "-q", *props, "/usr/bin/python3", script]
        r = c.run(argv, check=False)
        return r.stdout.strip() or r.stderr.strip()

    # another local user: the socket file keeps it out
    assert attempt("-p", "DynamicUser=yes") == "connect: Permission denied"
    # a leasebox process that is not netconf@veth0: heard, refused
    assert attempt("-p", "DynamicUser=yes", "-p", "SupplementaryGroups=leasebox") \
        == "REFUSED not netconf@veth0"
    # engine@veth0's user and group (leasebox-veth0), with the bus's group: refused too
    assert attempt("-p", "DynamicUser=yes", "-p", "User=leasebox-veth0", "-p",
                   "Group=leasebox-veth0", "-p", "SupplementaryGroups=leasebox") \
        == "REFUSED not netconf@veth0"
    assert resolvectl(c, "dns") == list(DNS)  # none of it reached resolved
    assert "refused a hand-off for veth0" in lab.journal("-u", "leasebox-bus.service",
                                                         "-o", "cat")


SECOND = "veth2"  # a second NIC leasebox runs on, beside veth0 (its peer veth3 in srv)


def test_two_interfaces_share_the_bus_and_each_leaves_only_its_own(lab: LeaseLab) -> None:
    """Wired and wireless, say: two targets at once, one leasebox-bus holding both links'
    DNS at resolved (and the NTP server once at timesyncd), wait-online for both; stopping
    one takes back its address and its link's DNS only, the NTP server staying while the
    other link still has it."""
    c = lab.c
    lab.bridge_server()  # dnsmasq on br0 in srv, which serves both veths
    second = f"leasebox@{SECOND}.target"
    c.run(["ip", "link", "add", SECOND, "type", "veth", "peer", "name", "veth3", "netns", "srv"])
    try:
        c.run(["ip", "-n", "srv", "link", "set", "veth3", "master", "br0", "up"])
        c.run(["ip", "link", "set", SECOND, "up"])
        c.run(["systemctl", "start", TARGET, second])

        def address(link: str) -> str | None:
            out = json.loads(c.run(["ip", "-4", "-j", "addr", "show", "dev", link]).stdout)
            found = [a["local"] for entry in out for a in entry.get("addr_info", [])
                     if a.get("scope") == "global"]
            return found[0] if found else None

        first = wait_for("an address on veth0", lambda: address(IFACE), 15)
        other = wait_for(f"an address on {SECOND}", lambda: address(SECOND), 15)
        assert first != other
        done = c.run(["leaseboxctl", "wait-online", "--json", "--timeout", "30", IFACE, SECOND])
        online = json.loads(done.stdout)
        assert online["online"] is True and online["dns_pending"] == {}, online
        for link in (IFACE, SECOND):
            assert resolvectl(c, "dns", link) == list(DNS), link
            assert resolvectl(c, "domain", link) == list(DOMAINS), link
        wait_for("the NTP server at timesyncd, once", lambda: runtime_ntp(c) == [NTP], 10)
        assert c.run(["systemctl", "is-active", "leasebox-bus.service"]).stdout.strip() \
            == "active"

        c.run(["systemctl", "stop", second])
        assert address(SECOND) is None
        wait_for(f"{SECOND}'s DNS taken back", lambda: resolvectl(c, "dns", SECOND) == [], 10)
        assert resolvectl(c, "domain", SECOND) == []
        # the other link keeps all of it: its address, its DNS, the shared NTP server
        assert address(IFACE) == first
        assert resolvectl(c, "dns", IFACE) == list(DNS)
        assert runtime_ntp(c) == [NTP]
        assert lab.status_line().startswith("Bound ")
        c.run(["systemctl", "stop", TARGET])
        wait_for("NTP reverted with the last link", lambda: runtime_ntp(c) == [], 10)
    finally:
        c.run(["systemctl", "stop", second], check=False)
        c.run(["ip", "link", "del", SECOND], check=False)


def test_status_warns_of_a_networkd_that_manages_the_link(lab: LeaseLab) -> None:
    """Only one client may manage an interface (README, "Coexistence"): `leaseboxctl
    status` names a running networkd whose .network file matches the link, and stops once
    the file says Unmanaged=yes."""
    network = f"/run/systemd/network/50-test-{IFACE}.network"

    def others() -> list[dict[str, object]]:
        out = lab.c.run(["leaseboxctl", "status", "--json", IFACE]).stdout
        found: list[dict[str, object]] = json.loads(out)[0]["other_managers"]
        return found

    lab.c.run(["systemctl", "start", TARGET])
    lab.wait_bound()
    assert others() == []
    try:
        # (no DHCP, and what leasebox applied kept: the warning is the point, not the fight)
        lab.c.write_file(network, f"[Match]\nName={IFACE}\n[Network]\nDHCP=no\n"
                         "LinkLocalAddressing=no\nKeepConfiguration=yes\n")
        lab.c.run(["systemctl", "start", "systemd-networkd.service"])
        wait_for("networkd managing the link", lambda: bool(others()), 10)
        (found,) = others()
        assert found["program"] == "systemd-networkd" and network in str(found["detail"])
        text = lab.c.run(["leaseboxctl", "status", IFACE]).stdout
        assert f"Warning: systemd-networkd (pid {found['pid']}) also manages {IFACE}" in text
        lab.c.write_file(network, f"[Match]\nName={IFACE}\n[Link]\nUnmanaged=yes\n")
        lab.c.run(["networkctl", "reload"])
        wait_for("networkd leaving the link", lambda: others() == [], 10)
    finally:
        lab.c.run(["systemctl", "stop", "systemd-networkd.service",
                   "systemd-networkd.socket"], check=False)
        lab.c.run(["rm", "-f", network], check=False)
