"""leasebox.conf under a real systemd: the confined services read /etc/leasebox and
/run/leasebox-conf (bound into their minimal root by the units), and a bad file stops them
with exit status 78 and FILE:LINE in the journal."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.waiting import wait_for

from .harness import Container
from .leasebox_lab import IFACE, SERVER_IP, LeaseLab

pytestmark = pytest.mark.system

TARGET = f"leasebox@{IFACE}.target"
ENGINE = f"leasebox-engine@{IFACE}.service"
NETCONF = f"leasebox-netconf@{IFACE}.service"
IFACE_CONF = f"/etc/leasebox/interfaces/{IFACE}.conf"
RUN_DROPIN = "/run/leasebox-conf/leasebox.conf.d/50-test.conf"
BAD_DROPIN = "/etc/leasebox/leasebox.conf.d/99-bad.conf"
MASKED = "40-masked.conf"
MASKED_DROPIN = f"/run/leasebox-conf/leasebox.conf.d/{MASKED}"


@pytest.fixture
def lab(lab: LeaseLab, installed: Container) -> Iterator[LeaseLab]:
    """conftest's lab, and afterwards no configuration left for the next test."""
    try:
        yield lab
    finally:
        # /run/leasebox-conf itself stays, as its tmpfiles.d entry makes it at boot
        installed.run(["rm", "-rf", "/etc/leasebox/interfaces", "/etc/leasebox/leasebox.conf.d"])
        installed.run(["find", "/run/leasebox-conf", "-mindepth", "1", "-delete"], check=False)
        installed.run(["systemctl", "reset-failed"], check=False)


def test_confined_services_read_etc_and_run(lab: LeaseLab) -> None:
    c = lab.c
    c.write_file(IFACE_CONF, "[Network]\nRouteMetric=2048\n[DHCPv4]\nHostname=from-etc\n")
    c.write_file(RUN_DROPIN, "[Network]\nUseDomains=no\n[DHCPv4]\nRequestOptions=100\n")
    # a bad file, masked from /etc by a link to /dev/null (leasebox.conf(5)), under the
    # services' own /dev
    c.write_file(MASKED_DROPIN, "[Network]\nNoSuchKey=1\n")
    c.run(["mkdir", "-p", "/etc/leasebox/leasebox.conf.d"])
    c.run(["ln", "-s", "/dev/null", f"/etc/leasebox/leasebox.conf.d/{MASKED}"])
    c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()
    default = json.loads(c.run(["ip", "-4", "-j", "route", "show", "default"]).stdout)
    assert [(r.get("gateway"), r.get("metric")) for r in default] == [(SERVER_IP, 2048)]
    leases = c.run(["cat", "/tmp/dnsmasq.leases"]).stdout
    assert any(addr["local"] in line and " from-etc " in line for line in leases.splitlines())
    assert 100 in lab.requested_options()  # asked for option 100 (RequestOptions=100)
    read = (f"/etc/leasebox/leasebox.conf, /etc/leasebox/leasebox.conf.d/{MASKED}, "
            f"{RUN_DROPIN}, {IFACE_CONF}")
    for unit in (ENGINE, NETCONF):
        assert f"configuration: {read}" in lab.journal("-u", unit, "-o", "cat"), unit
    shown = c.run(["leaseboxctl", "check-config", IFACE]).stdout
    assert any(line.startswith("RouteMetric=2048 ") and f"{IFACE_CONF}:2" in line
               for line in shown.splitlines())


def test_bad_configuration_stops_the_service_with_78(lab: LeaseLab) -> None:
    c = lab.c
    c.write_file(BAD_DROPIN, "[Network]\nUseGatway=no\n")
    c.run(["systemctl", "start", TARGET], check=False)
    wait_for("the engine to exit 78", lambda: c.run(
        ["systemctl", "show", "-p", "ExecMainStatus", "--value", ENGINE]).stdout.strip() == "78",
        15)
    assert f"{BAD_DROPIN}:2: unknown key UseGatway= in [Network]" in lab.journal(
        "-u", ENGINE, "-o", "cat")
    assert lab.address() is None
    check = c.run(["leaseboxctl", "check-config"], check=False)
    assert check.returncode == 78 and f"{BAD_DROPIN}:2:" in check.stderr
    # io's queued connection starts the engine until systemd's start limit fails it; the
    # target stays active, so leaseboxctl names the failed unit, whose status says why
    wait_for("the engine to fail", lambda: c.run(
        ["systemctl", "show", "-p", "ActiveState", "--value", ENGINE]).stdout.strip()
        == "failed", 15)
    status = c.run(["leaseboxctl", "status", IFACE], check=False)
    assert status.returncode == 69, status
    assert f"failed: {ENGINE}" in status.stderr
    assert f"systemctl status {ENGINE} says why" in status.stderr
    assert f"systemctl reset-failed 'leasebox*@{IFACE}.*'" in status.stderr
    # fixed, then restarted as leasebox(8) says: leave@'s stop no longer asks the failed
    # engine (whose socket would start it, and that start wait for the stop job, 5 s), and
    # the new engine takes a lease rather than a queued "leave". reset-failed: io's queued
    # connection started the engine again until systemd's start limit, which a restart
    # within 10 s would hit (silently: the target is reached all the same).
    c.run(["rm", BAD_DROPIN])
    c.run(["systemctl", "reset-failed", f"leasebox*@{IFACE}.*"])  # as leasebox(8) says
    started = time.monotonic()
    c.run(["systemctl", "restart", TARGET])
    took = time.monotonic() - started
    lab.wait_bound()
    assert took < 3.0, f"systemctl restart took {took:.1f} s"
    assert "Stopping timed out" not in lab.journal("-u", f"leasebox-leave@{IFACE}.service")


def test_a_changed_configuration_applies_when_the_engine_restarts(lab: LeaseLab) -> None:
    """leasebox.conf(5): netconf, started again between (as after its idle exit), keeps what
    it read for the running engine, a mistake saved since included; the engine's restart
    keeps the lease and sends it to netconf again, which applies its new settings with no
    exchange with the server."""
    c = lab.c

    def metric() -> int | None:
        default = json.loads(c.run(["ip", "-4", "-j", "route", "show", "default"]).stdout)
        return default[0].get("metric") if len(default) == 1 else None

    c.write_file(IFACE_CONF, "[Network]\nRouteMetric=50\n")
    c.run(["systemctl", "start", TARGET])
    lab.wait_bound()
    assert metric() == 50
    c.write_file(IFACE_CONF, "[Network]\nRouteMetrik=60\n")
    c.run(["systemctl", "restart", NETCONF])
    c.run(["leaseboxctl", "renew", IFACE])
    wait_for("netconf to say the files changed", lambda: "have changed, with an error" in
             lab.journal("-u", NETCONF, "-o", "cat"), 15)
    assert metric() == 50 and lab.status_line().startswith("Bound ")
    c.write_file(IFACE_CONF, "[Network]\nRouteMetric=60\n")
    asked = [lab.count(kind) for kind in ("DHCPDISCOVER", "DHCPREQUEST")]
    c.run(["systemctl", "restart", ENGINE])
    wait_for("the new metric", lambda: metric() == 60, 15)
    lab.wait_bound()
    # the lease was kept throughout, and the new metric needed no exchange
    assert [lab.count(kind) for kind in ("DHCPDISCOVER", "DHCPREQUEST")] == asked
    kept = f"/run/leasebox-netconf/{IFACE}/config.json"
    assert c.run(["test", "-f", kept], check=False).returncode == 0
    c.run(["systemctl", "stop", TARGET])
    # kept for no engine once the target is gone: a later one could have the same PID
    wait_for("netconf's kept configuration gone", lambda: c.run(
        ["test", "-e", kept], check=False).returncode != 0, 15)


CONTROL_DROPIN = "/etc/systemd/system/leasebox-control@.socket.d/group.conf"


def test_control_group_under_private_users(lab: LeaseLab) -> None:
    """The engine runs with PrivateUsers=yes, where ControlGroup= cannot be seen: members
    are admitted on the strength of the socket file's group (leasebox.conf(5))."""
    c = lab.c
    c.run(["groupadd", "-g", "4242", "lbxctl"])
    c.run(["useradd", "-u", "54321", "-G", "lbxctl", "-M", "member"])
    c.run(["useradd", "-u", "54322", "-M", "stranger"])
    try:
        c.run(["systemctl", "start", TARGET])
        lab.wait_bound()
        requests = lab.count("DHCPREQUEST")
        # as leasebox.conf(5) says: set, reload, restart the control socket (the engine
        # restarts with it, BindsTo=, and reads the configuration again, keeping the lease)
        c.write_file("/etc/leasebox/leasebox.conf.d/50-control.conf",
                     "[Control]\nControlGroup=4242\n")
        c.write_file(CONTROL_DROPIN, "[Socket]\nSocketGroup=lbxctl\nSocketMode=0660\n")
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "restart", f"leasebox-control@{IFACE}.socket"])
        lab.wait_bound()
        assert lab.count("DHCPREQUEST") == requests  # no exchange: the lease was kept
        member = c.run(["runuser", "-u", "member", "--", "leaseboxctl", "status", IFACE],
                       check=False)
        assert member.returncode == 0, member.stderr
        assert "State: BOUND" in member.stdout
        stranger = c.run(["runuser", "-u", "stranger", "--", "leaseboxctl", "status", IFACE],
                         check=False)
        assert stranger.returncode == 77 and "permission denied" in stranger.stderr
        assert "ControlGroup=4242 is not visible in this sandbox" in lab.journal(
            "-u", ENGINE, "-o", "cat")
    finally:
        c.run(["systemctl", "stop", TARGET], check=False)
        c.run(["rm", "-rf", "/etc/systemd/system/leasebox-control@.socket.d"])
        c.run(["systemctl", "daemon-reload"])
        c.run(["userdel", "member"], check=False)
        c.run(["userdel", "stranger"], check=False)
        c.run(["groupdel", "lbxctl"], check=False)


PORTAL = "https://portal.example/login"
PORTAL_ID = "0f5e15b99eed4656a4a549e952983476"
PORTAL_HOOK = "/run/leasebox-conf/dispatch.d/10-portal"


def _portal_lab(installed: Container) -> LeaseLab:
    lab = LeaseLab(installed, f"--dhcp-option=114,{PORTAL}")
    lab.start_dnsmasq()
    return lab


@pytest.mark.parametrize("use", [True, False])
def test_captive_portal_is_asked_for_shown_and_logged(installed: Container, use: bool) -> None:
    """Issue 15, item 5: option 114 (RFC 8910) is in the request list by default; the
    server's URI shows in status, --json, a journal line of its own and the hooks'
    LEASEBOX_CAPTIVE_PORTAL; UseCaptivePortal=no neither asks for it nor shows it."""
    c = installed
    if not use:
        # before veth0 exists: whatever starts the engine then reads this
        c.write_file(IFACE_CONF, "[DHCPv4]\nUseCaptivePortal=no\n")
    c.write_file(PORTAL_HOOK, '#!/bin/sh\necho "$1 portal=$LEASEBOX_CAPTIVE_PORTAL" '
                 '>> /run/portal.log\n', mode=0o755)
    try:
        lab = _portal_lab(installed)
    except BaseException:
        c.run(["rm", "-rf", "/etc/leasebox/interfaces"])  # the container serves other tests
        raise
    try:
        since = c.run(["date", "+%s.%N"]).stdout.strip()
        c.run(["systemctl", "start", TARGET])
        lab.wait_address()
        lab.wait_bound()
        asked = lab.requested_options()
        assert 1 in asked and (114 in asked) is use, asked
        # RequestBroadcast=no, the default: with the flag, dnsmasq logs that it broadcast
        assert "broadcast response" not in lab.dnsmasq_log()
        status = json.loads(c.run(["leaseboxctl", "status", "--json", IFACE]).stdout)[0]
        assert status["lease"]["captive_portal"] == (PORTAL if use else None)
        text = c.run(["leaseboxctl", "status", IFACE]).stdout
        assert (f"Captive Portal: {PORTAL}" in text) is use
        events = lab.journal(f"MESSAGE_ID={PORTAL_ID}", f"--since=@{since}", "-o", "verbose")
        assert (f"CAPTIVE_PORTAL={PORTAL}" in events) is use
        if use:
            assert f"INTERFACE={IFACE}" in events
            assert "Captive portal on" in lab.journal(f"MESSAGE_ID={PORTAL_ID}", "-x",
                                                      f"--since=@{since}")
        wait_for("the bound hook", lambda: "bound" in c.run(
            ["cat", "/run/portal.log"], check=False).stdout, 10)
        hooked = c.run(["cat", "/run/portal.log"]).stdout.split()
        assert hooked == ["bound", f"portal={PORTAL if use else ''}"], hooked
    finally:
        lab.close()
        c.run(["rm", "-rf", "/etc/leasebox/interfaces", PORTAL_HOOK, "/run/portal.log"])


def test_request_address_and_request_broadcast_yes(lab: LeaseLab) -> None:
    """Issue 15, item 4: RequestAddress= goes in the DISCOVER and the server gives it;
    RequestBroadcast=yes sets the BROADCAST flag, so dnsmasq broadcasts its answers (the
    default, no, has them sent to the MAC address: test_captive_portal_...), and the lease
    still works."""
    c = lab.c
    c.write_file(IFACE_CONF, "[DHCPv4]\nRequestAddress=192.0.2.123\nRequestBroadcast=yes\n")
    c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()
    assert addr["local"] == "192.0.2.123"
    log = lab.dnsmasq_log()
    assert any("DHCPDISCOVER(veth1) 192.0.2.123 " in line for line in log.splitlines()), log
    assert "broadcast response" in log


# A second host on the segment (netns srv) says, in an ARP request, that it has ADDRESS.
_CLAIM = """
import socket, sys
mac = bytes.fromhex("02005e100099")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("veth1", 0))
s.send(b"\\xff" * 6 + mac + b"\\x08\\x06" + bytes([0, 1, 8, 0, 6, 4, 0, 1]) + mac
       + socket.inet_aton(sys.argv[1]) + bytes(6) + socket.inet_aton("192.0.2.1"))
"""


def test_arp_conflict_while_bound_is_defended_then_declined(lab: LeaseLab) -> None:
    """Issue 15, item 1 under the real units: ARPProbe=yes probes, announces and watches
    the leased address; another host claiming it is defended against once, and a second
    claim within 10 s gives the address up (DECLINE at dnsmasq) for a new one."""
    c = lab.c
    c.write_file(IFACE_CONF, "[DHCPv4]\nARPProbe=yes\n")
    c.run(["systemctl", "start", TARGET])
    ours = lab.wait_address()["local"]
    lab.wait_bound()

    def io_log() -> str:
        return lab.journal("-u", f"leasebox-io@{IFACE}.service", "-o", "cat")

    def engine_log() -> str:
        return lab.journal("-u", ENGINE, "-o", "cat")

    wait_for("io watching ARP", lambda: f"watching ARP for {ours}" in io_log(), 5)
    c.run(["ip", "netns", "exec", "srv", "python3", "-c", _CLAIM, ours])
    wait_for("the defence", lambda: f"another host uses {ours}: defending it" in engine_log(),
             5)
    assert "02:00:5e:10:00:99 claims" in io_log()
    assert lab.address() is not None and lab.address()["local"] == ours  # type: ignore[index]
    assert lab.count("DHCPDECLINE") == 0
    c.run(["ip", "netns", "exec", "srv", "python3", "-c", _CLAIM, ours])
    wait_for("DHCPDECLINE at dnsmasq", lambda: lab.count("DHCPDECLINE") == 1, 5)
    new = wait_for("another address", lambda: (a := lab.address()) and a["local"] != ours
                   and a, 30)
    assert new["local"] != ours
    lab.wait_bound()


def test_route_table_takes_every_route(lab: LeaseLab) -> None:
    """Issue 15, item 4: RouteTable=100 puts the prefix route, the default route (option 3
    from dnsmasq) into table 100, and nothing of the lease into main."""
    c = lab.c
    c.write_file(IFACE_CONF, "[Network]\nRouteTable=100\n")
    c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()
    assert addr.get("noprefixroute") is True
    table = json.loads(c.run(["ip", "-4", "-j", "route", "show", "table", "100"]).stdout)
    assert {(r["dst"], r.get("gateway")) for r in table} == {
        ("192.0.2.0/24", None), ("default", SERVER_IP)}
    main = json.loads(c.run(["ip", "-4", "-j", "route", "show", "table", "main"]).stdout)
    assert [r for r in main if r.get("dev") == IFACE] == []


def test_fqdn_goes_in_option_81(installed: Container) -> None:
    """Issue 15, item 2: FQDN= sends option 81 (flags S and E, the name in wire format)
    instead of option 12; dnsmasq takes the name for the lease; status shows it."""
    lab = LeaseLab(installed, "--domain=example.org")
    lab.start_dnsmasq()
    c = lab.c
    try:
        c.write_file(IFACE_CONF, "[DHCPv4]\nFQDN=box.example.org\n")
        c.run(["systemctl", "start", TARGET])
        addr = lab.wait_address()
        lab.wait_bound()
        leases = c.run(["cat", "/tmp/dnsmasq.leases"]).stdout
        assert any(addr["local"] in line and " box " in line for line in leases.splitlines()), \
            leases
        log = lab.dnsmasq_log()
        assert "option: 81" in log, log  # dnsmasq answers the FQDN option with its own
        # one name, and it is the FQDN: no option 12 beside option 81
        provided = [line.split("client provides name: ")[1] for line in log.splitlines()
                    if "client provides name: " in line]
        assert provided and set(provided) == {"box.example.org"}, provided
        status = json.loads(c.run(["leaseboxctl", "status", "--json", IFACE]).stdout)[0]
        assert status["fqdn"] == "box.example.org"
        assert "FQDN: box.example.org" in c.run(["leaseboxctl", "status", IFACE]).stdout
    finally:
        lab.close()
        c.run(["rm", "-rf", "/etc/leasebox/interfaces"])


def test_custom_options_reach_the_server_and_answers_are_shown(installed: Container) -> None:
    """Issue 15, item 3: SendOption=, SendVendorOption= (43) and UserClass= (77) reach
    dnsmasq (which tags the client by them); RequestOptions= takes 42 out and asks for 225,
    whose value shows in the status, never applied."""
    lab = LeaseLab(installed, "--dhcp-match=set:custom,224", "--dhcp-match=set:vendor,43",
                   "--dhcp-userclass=set:gold,gold", "--dhcp-option=225,01:02:03")
    lab.start_dnsmasq()
    c = lab.c
    try:
        c.write_file(IFACE_CONF, "[DHCPv4]\nSendOption=224:string:hello\n"
                     "SendVendorOption=1:string:ab\nUserClass=gold\nRequestOptions=-42 225\n")
        c.run(["systemctl", "start", TARGET])
        lab.wait_address()
        lab.wait_bound()
        log = lab.dnsmasq_log()
        tags = [line for line in log.splitlines() if " tags: " in line]
        assert tags and all(t in tags[-1] for t in ("custom", "vendor", "gold")), tags
        asked = lab.requested_options()
        assert 225 in asked and 42 not in asked, asked
        status = json.loads(c.run(["leaseboxctl", "status", "--json", IFACE]).stdout)[0]
        assert status["lease"]["received_options"] == {"225": "01:02:03"}
        assert "Options: 225=01:02:03" in c.run(["leaseboxctl", "status", IFACE]).stdout
    finally:
        lab.close()
        c.run(["rm", "-rf", "/etc/leasebox/interfaces"])
