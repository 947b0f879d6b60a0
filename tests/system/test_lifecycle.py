"""leasebox under a real systemd (PID 1 in an nspawn container), installed as the package
installs it: start, STATUS, journal, restarts while bound, stop (kill -9 in every state:
test_faults.py).

The claims checked here are the design's: socket activation hands the sockets, the
FDSTORE keeps io's packet sockets and the engine's live state across restarts (so a
restart costs no DHCP exchange), and stopping leasebox@IFACE.target leaves the link.
"""

from __future__ import annotations

import functools
import json
import os
import time

import pytest

from tests.waiting import wait_for

from .harness import Container
from .leasebox_lab import IFACE, SERVER_IP, LeaseLab, root_not_shipped

pytestmark = pytest.mark.system

ACQUIRED = "55ef93db5b18443b94509ad61d61b8dc"
RELEASED = "084a4a2ba8f54de49275fc45b17f08c1"
TARGET = f"leasebox@{IFACE}.target"
SERVICES = [f"leasebox-{name}@{IFACE}.service" for name in ("io", "engine", "netconf")]


def exchanges(lab: LeaseLab) -> tuple[int, int]:
    return lab.count("DHCPDISCOVER"), lab.count("DHCPREQUEST")


def test_start_gets_a_lease_with_status_and_journal(lab: LeaseLab) -> None:
    lab.c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    assert addr["local"].startswith("192.0.2.") and addr["prefixlen"] == 24
    status = lab.wait_bound()
    assert status.startswith(f"Bound {addr['local']}/24 via {SERVER_IP}, renews in ")
    shown = lab.c.run(["systemctl", "status", "--no-pager", SERVICES[1]], check=False).stdout
    assert f'Status: "{status[:20]}' in shown
    # structured journal: the event by MESSAGE_ID, with its fields
    events = wait_for("the acquired event in the journal", lambda: (lambda text: text if
                      "LEASE_ADDRESS" in text else "")(
        lab.journal(f"MESSAGE_ID={ACQUIRED}", "-o", "verbose")), 5)
    assert f"LEASE_ADDRESS={addr['local']}/24" in events
    assert f"INTERFACE={IFACE}" in events and "DHCP_STATE=" in events
    assert f"SERVER_ID={SERVER_IP}" in events
    # the catalog explains it (journalctl -x)
    assert "DHCP lease acquired on" in lab.journal(f"MESSAGE_ID={ACQUIRED}", "-x")
    # the story reads per interface
    story = lab.journal("-u", f"leasebox-*@{IFACE}*", "-o", "cat")
    assert "Acquired" in story and "capabilities dropped" in story
    # and without library noise (pyroute2's tc warnings at import)
    assert "tc subsystem" not in story and "psched" not in story


@pytest.mark.parametrize("name", ["io", "engine", "netconf"])
def test_restart_while_bound_keeps_the_lease_without_an_exchange(lab: LeaseLab,
                                                                 name: str) -> None:
    lab.c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()
    before = exchanges(lab)
    unit = f"leasebox-{name}@{IFACE}.service"
    old = lab.main_pid(unit)
    lab.c.run(["systemctl", "restart", unit])
    wait_for(f"{unit} running again", lambda: lab.main_pid(unit) not in (0, old), 10)
    lab.wait_bound()
    time.sleep(0.5)  # room for an exchange that must not happen
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]
    assert exchanges(lab) == before, "a restart must not cost a DHCP exchange"
    if name == "engine":
        assert "resumed in BOUND" in lab.journal("-u", unit, "-o", "cat")
        # The leave unit's stop leaves the link, so only the target's stop may stop it: a
        # restart of every unit of the interface by a glob had released the lease and left
        # the engine idle behind an active target.
        leave = f"leasebox-leave@{IFACE}.service"
        refused = lab.c.run(["systemctl", "restart", leave], check=False)
        assert refused.returncode != 0 and "refused" in refused.stderr, refused
        assert lab.c.run(["systemctl", "is-active", leave]).stdout.strip() == "active"
        lab.wait_bound()
        assert exchanges(lab) == before


@pytest.mark.parametrize("command", ["renew", "release"])
def test_a_request_right_after_the_engines_restart_waits_for_io(lab: LeaseLab,
                                                                command: str) -> None:
    """The new engine is ready before io is back from the restart that the engine's own
    brings (~0.3 s), and knows its lease only once io has reported the link: a renew in
    that window was refused ("io is not running"), and a release ("no lease to
    release")."""
    lab.c.run(["systemctl", "start", TARGET])
    lab.wait_address()
    lab.wait_bound()
    what = "DHCPREQUEST" if command == "renew" else "DHCPRELEASE"
    before = lab.count(what)
    unit = f"leasebox-engine@{IFACE}.service"
    done = lab.c.run(["sh", "-c", f"systemctl restart {unit} && leaseboxctl {command} {IFACE}"],
                     check=False)
    assert done.returncode == 0, done
    if command == "renew":
        assert f"{IFACE}: Renewing" in done.stdout, done
    wait_for(f"the {what}", lambda: lab.count(what) > before, 10)
    if command == "renew":
        lab.wait_bound()
    else:
        wait_for("the address removed", lambda: lab.address() is None, 10)


def test_stop_releases_and_removes(lab: LeaseLab) -> None:
    lab.c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()
    lab.c.run(["systemctl", "stop", TARGET])
    # `systemctl stop` returns once the link has been left (the leave unit's ExecStop=)
    assert lab.address() is None
    wait_for("DHCPRELEASE at dnsmasq", lambda: lab.count("DHCPRELEASE") == 1, 5)
    wait_for("the released event in the journal", lambda: addr["local"] in lab.journal(
        f"MESSAGE_ID={RELEASED}", "-o", "cat"), 5)
    routes = lab.c.run(["ip", "-4", "route", "show", "dev", IFACE, "proto", "dhcp"]).stdout
    assert routes.strip() == ""
    for unit in SERVICES:
        wait_for(f"{unit} stopped", lambda u=unit: lab.c.run(  # type: ignore[misc]
            ["systemctl", "is-active", u], check=False).stdout.strip() != "active", 10)


def test_stop_removes_the_address_while_netconf_is_idle(lab: LeaseLab) -> None:
    """netconf has exited idle: the engine's request to remove must still start it."""
    unit = f"leasebox-netconf@{IFACE}.service"
    dropin = f"/run/systemd/system/{unit}.d/idle.conf"
    lab.c.write_file(dropin, (
        "[Service]\nExecStart=\nExecStart=/usr/bin/leasebox-netconf %i --runtime-dir "
        "/run/leasebox-netconf --exit-idle-time 1\n"))
    lab.c.run(["systemctl", "daemon-reload"])
    try:
        lab.c.run(["systemctl", "start", TARGET])
        lab.wait_address()
        lab.wait_bound()
        wait_for("netconf to exit when idle", lambda: lab.c.run(
            ["systemctl", "is-active", unit], check=False).stdout.strip() == "inactive", 10)
        started = time.monotonic()
        lab.c.run(["systemctl", "stop", TARGET])
        took = time.monotonic() - started
        # the engine's request starts netconf through its socket, and `systemctl stop`
        # returns once the link has been left, as with a running netconf: with the leave
        # unit ordered after netconf's service, systemd held that start until the stop
        # was done, and the stop took the engine's 3 s grace with the address still on
        assert lab.address() is None
        assert took < 2.5, f"systemctl stop took {took:.1f} s"
        wait_for("DHCPRELEASE at dnsmasq", lambda: lab.count("DHCPRELEASE") == 1, 5)
        # the netconf it started goes idle again, and then its socket goes too
        for u in (unit, f"leasebox-netconf@{IFACE}.socket"):
            wait_for(f"{u} to stop", lambda u=u: lab.c.run(  # type: ignore[misc]
                ["systemctl", "is-active", u], check=False).stdout.strip() == "inactive", 10)
    finally:
        lab.c.run(["systemctl", "stop", TARGET], check=False)
        lab.c.run(["rm", "-rf", os.path.dirname(dropin)])
        lab.c.run(["systemctl", "daemon-reload"])


def _restarted(lab: LeaseLab, unit: str, old_pid: int) -> bool:
    return lab.main_pid(unit) not in (0, old_pid)


def _n_restarts(lab: LeaseLab, unit: str) -> int:
    """How often systemd restarted the unit by its Restart= setting."""
    return int(lab.c.run(["systemctl", "show", "-p", "NRestarts", "--value", unit]).stdout)


@pytest.mark.parametrize(("socket", "binders"), [("engine", ("io",)),
                                                 ("netconf", ("engine",)),
                                                 ("control", ("engine",))])
def test_a_restarted_socket_restarts_the_units_that_bind_its_file(
        lab: LeaseLab, socket: str, binders: tuple[str, ...]) -> None:
    """io's root holds engine.sock, the engine's netconf.sock and control.sock, each bound
    as a file: a restarted socket unit makes a new file, which only a new sandbox sees."""
    lab.c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    lab.wait_bound()
    units = [f"leasebox-{name}@{IFACE}.service" for name in binders]
    old = {u: lab.main_pid(u) for u in units}
    restarts = {u: _n_restarts(lab, u) for u in units}
    lab.c.run(["systemctl", "restart", f"leasebox-{socket}@{IFACE}.socket"])
    for u in units:
        wait_for(f"{u} running again", functools.partial(_restarted, lab, u, old[u]), 10)
    # restarted with the socket (BindsTo=), not after exiting on its own (Restart=): io
    # would exit at the engine's EOF and be restarted by its Restart=always anyway
    assert {u: _n_restarts(lab, u) for u in units} == restarts
    lab.wait_bound()
    requests = lab.count("DHCPREQUEST")
    renewed = lab.journal("-u", SERVICES[1], "-o", "cat").count("Renewed")
    # through every socket again: leaseboxctl to the engine, the engine to io and the
    # server, the new lifetime to netconf
    lab.c.run(["leaseboxctl", "renew", IFACE])
    wait_for("the renewal at dnsmasq", lambda: lab.count("DHCPREQUEST") > requests, 10)
    wait_for("Renewed in the journal", lambda: lab.journal(
        "-u", SERVICES[1], "-o", "cat").count("Renewed") > renewed, 10)
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]


def test_idle_netconf_exits_and_is_started_again_by_its_socket(lab: LeaseLab) -> None:
    unit = f"leasebox-netconf@{IFACE}.service"
    lab.c.write_file(f"/run/systemd/system/{unit}.d/idle.conf", (
        "[Service]\nExecStart=\nExecStart=/usr/bin/leasebox-netconf %i --runtime-dir "
        "/run/leasebox-netconf --exit-idle-time 1\n"))
    lab.c.run(["systemctl", "daemon-reload"])
    try:
        lab.c.run(["systemctl", "start", TARGET])
        addr = lab.wait_address()
        lab.wait_bound()
        wait_for("netconf to exit when idle", lambda: lab.c.run(
            ["systemctl", "is-active", unit], check=False).stdout.strip() == "inactive", 10)
        assert lab.c.run(["systemctl", "is-active", f"leasebox-netconf@{IFACE}.socket"]
                         ).stdout.strip() == "active"
        requests = lab.count("DHCPREQUEST")
        lab.c.run(["leaseboxctl", "renew", IFACE])
        # the renewal's new lifetime needs netconf: the engine connects, systemd starts it
        wait_for("the renewal at dnsmasq", lambda: lab.count("DHCPREQUEST") > requests, 10)
        wait_for("Renewed in the journal", lambda: "Renewed" in lab.journal(
            "-u", f"leasebox-engine@{IFACE}.service", "-o", "cat"), 10)
        lab.wait_bound()
        again = lab.address()
        assert again is not None and again["local"] == addr["local"]
        log = lab.journal("-u", unit, "-o", "cat")
        assert "no request for 1 s" in log and log.count("ready on") >= 2
    finally:
        lab.c.run(["rm", "-rf", f"/run/systemd/system/{unit}.d"])
        lab.c.run(["systemctl", "daemon-reload"])


def test_a_link_that_is_down_at_start_is_brought_up_and_leased(lab: LeaseLab) -> None:
    """A machine's life, item 3: every DHCP client brings its interface up; so does
    leasebox (netconf, which holds CAP_NET_ADMIN)."""
    lab.c.run(["ip", "link", "set", IFACE, "down"])
    lab.c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    assert addr["local"].startswith("192.0.2.")
    lab.wait_bound()
    assert "brought it up" in lab.journal("-u", f"leasebox-netconf@{IFACE}.service", "-o",
                                          "cat")


def test_the_longest_interface_name_is_leased(lab: LeaseLab) -> None:
    """Debian's udev names a USB NIC enx<MAC>: 15 characters, the kernel's most. Each
    process's dynamic user and group has the name in it, and systemd makes them only up
    to 31 characters: netconf's group, leasebox-netconf-<name> (32), failed with
    217/GROUP, so no address was ever applied on such a NIC."""
    name = "enx0200000000aa"
    c = lab.c
    lab.bridge_server()
    c.run(["ip", "link", "add", name, "type", "veth", "peer", "name", "veth2", "netns", "srv"])
    c.run(["ip", "-n", "srv", "link", "set", "veth2", "master", "br0", "up"])
    c.run(["ip", "link", "set", name, "up"])
    try:
        c.run(["systemctl", "start", f"leasebox@{name}.target"])

        def address() -> bool:
            out = json.loads(c.run(["ip", "-j", "-4", "addr", "show", "dev", name]).stdout)
            return any(a.get("family") == "inet" for i in out for a in i["addr_info"])

        wait_for(f"an address on {name}", address, 15)
        pid = c.run(["systemctl", "show", "-p", "MainPID", "--value",
                     f"leasebox-netconf@{name}.service"]).stdout.strip()
        assert c.run(["ps", "-o", "group=", "-p", pid]).stdout.strip() == f"leasebox-nc-{name}"
        c.run(["systemctl", "stop", f"leasebox@{name}.target"])
        assert not address()
    finally:
        c.run(["systemctl", "stop", f"leasebox@{name}.target"], check=False)
        c.run(["ip", "link", "del", name], check=False)


def _unit_status(lab: LeaseLab, unit: str) -> str:
    return lab.c.run(["systemctl", "show", "-p", "StatusText", "--value", unit]).stdout.strip()


def _active(lab: LeaseLab, unit: str) -> str:
    return lab.c.run(["systemctl", "is-active", unit], check=False).stdout.strip()


def test_hotplug_an_interface_that_comes_and_goes(lab: LeaseLab) -> None:
    """A machine's life, item 4: the target is started before veth0 exists; the services
    wait for it and lease within a second of `ip link add`; deleted, the lease is kept
    and the services wait; added again, INIT-REBOOT gets the same address."""
    mac = "02:00:00:00:0a:01"
    lab.bridge_server()
    lab.c.run(["ip", "link", "del", IFACE])
    lab.c.run(["systemctl", "start", TARGET])
    io_unit = f"leasebox-io@{IFACE}.service"
    netconf_unit = f"leasebox-netconf@{IFACE}.service"
    wait_for("io waiting for veth0",
             lambda: _unit_status(lab, io_unit) == f"waiting for {IFACE}", 10)
    wait_for("netconf waiting for veth0",
             lambda: _unit_status(lab, netconf_unit) == f"waiting for {IFACE}", 10)
    time.sleep(1.0)
    for unit in SERVICES:
        assert _active(lab, unit) == "active", unit  # waiting, not failed or restarting

    started = time.monotonic()
    lab.plug_veth0(mac)
    addr = lab.wait_address(timeout=10)
    first = time.monotonic() - started
    assert first < 1.0, f"leased {first:.2f} s after ip link add"
    lab.wait_bound()
    assert exchanges(lab) == (1, 1)

    # removed: the address went with the link; the lease stays in the lease file
    lab.c.run(["ip", "link", "del", IFACE])
    wait_for("io waiting again",
             lambda: _unit_status(lab, io_unit) == f"waiting for {IFACE}", 10)
    assert lab.status_line().startswith("No carrier; keeping")
    for unit in SERVICES:
        assert _active(lab, unit) == "active", unit

    started = time.monotonic()
    lab.plug_veth0(mac)
    again = lab.wait_address(timeout=10)
    second = time.monotonic() - started
    assert again["local"] == addr["local"]
    lab.wait_bound()
    discovers, requests = exchanges(lab)
    # INIT-REBOOT: REQUEST, no DISCOVER (a REQUEST may go twice on a loaded machine: the
    # first can leave before the new veth1 forwards)
    assert discovers == 1 and requests >= 2
    print(f"hotplug: leased {first * 1000:.0f} ms after the first ip link add, "
          f"{second * 1000:.0f} ms after the second")


def test_an_interface_that_keeps_coming_and_going(lab: LeaseLab) -> None:
    """A NIC whose driver resets in a loop: veth0 deleted and created again 8 times in a
    few seconds. io exits when its link goes (its packet sockets are bound to it) and is
    started again each time; systemd's default start limit (5 in 10 s) must not leave it
    failed, so once the link settles the lease is back."""
    lab.bridge_server()
    mac = lab.c.run(["cat", f"/sys/class/net/{IFACE}/address"]).stdout.strip()
    lab.c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address(timeout=15)
    lab.wait_bound()
    io_unit = f"leasebox-io@{IFACE}.service"
    restarts = int(lab.c.run(["systemctl", "show", "-p", "NRestarts", "--value",
                              io_unit]).stdout)
    for _ in range(8):
        lab.c.run(["ip", "link", "del", IFACE])
        wait_for("io waiting for veth0",
                 lambda: _unit_status(lab, io_unit) == f"waiting for {IFACE}", 10)
        lab.plug_veth0(mac)
    try:
        again = lab.wait_address(timeout=15)
    except TimeoutError:
        units = lab.c.run(["systemctl", "list-units", "--all", "--no-pager", "leasebox*"],
                          check=False).stdout
        raise AssertionError(f"no address after the flaps; units:\n{units}\njournal:\n"
                             + lab.journal("-o", "short-monotonic", "-n", "80")) from None
    assert again["local"] == addr["local"]
    lab.wait_bound()
    assert _active(lab, io_unit) == "active"
    restarted = int(lab.c.run(["systemctl", "show", "-p", "NRestarts", "--value",
                               io_unit]).stdout) - restarts
    assert restarted == 8


def test_overview_and_monitor(lab: LeaseLab) -> None:
    """Issue 15, item 7: `leaseboxctl` alone is one line per interface; `leaseboxctl
    monitor` follows lease events from the journal as they happen (--json: one object a
    line)."""
    monitor = lab.c.spawn(["leaseboxctl", "monitor", "--json", IFACE])
    try:
        wait_for("the monitor following", lambda: "following lease events" in
                 monitor.output(), 15)
        lab.c.run(["systemctl", "start", TARGET])
        addr = lab.wait_address()
        lab.wait_bound()
        rows = lab.c.run(["leaseboxctl"]).stdout.splitlines()
        assert rows[0].split() == ["IFACE", "STATE", "ADDRESS", "EXPIRES"]
        assert rows[1].split()[:3] == [IFACE, "BOUND", f"{addr['local']}/24"]
        listed = json.loads(lab.c.run(["leaseboxctl", "list", "--json"]).stdout)
        assert listed[0]["interface"] == IFACE and listed[0]["state"] == "BOUND"
        renewed = json.loads(lab.c.run(["leaseboxctl", "renew", "--json", IFACE]).stdout)
        assert renewed["interface"] == IFACE
        lab.c.run(["systemctl", "stop", TARGET])

        def seen() -> list[dict[str, object]]:
            found = [json.loads(line) for line in monitor.output().splitlines()
                     if line.startswith("{")]
            kinds = [e["event"] for e in found]
            return found if "acquired" in kinds and "released" in kinds else []

        try:
            found = wait_for("acquired and released from the monitor", seen, 10)
        except TimeoutError:
            raise AssertionError(f"monitor ({monitor.running()}) said: {monitor.output()!r}; "
                                 f"journal: {lab.journal('-o', 'cat', '-n', '30')}") from None
        acquired = next(e for e in found if e["event"] == "acquired")
        assert acquired["interface"] == IFACE
        assert acquired["lease_address"] == f"{addr['local']}/24"
    finally:
        assert monitor.stop() is not None


NO_RELEASE = "/run/leasebox-conf/leasebox.conf.d/50-no-release.conf"


@pytest.mark.parametrize("hook_dir", ["/etc/leasebox/dispatch.d",
                                      "/run/leasebox-conf/dispatch.d"])
def test_hooks_run_for_bound_renewed_and_released(lab: LeaseLab, hook_dir: str) -> None:
    """Issue 15, item 6: the daemons never exec; the engine queues each lease event, the
    path unit starts leasebox-dispatch@veth0.service, which runs the hooks with the event
    in LEASEBOX_* variables, the released one after the target stopped. With no hook
    installed nothing is queued and no dispatcher starts; a hook installed while the
    engine runs gets the next event (its directory is bound into the engine's root:
    /run/leasebox-conf exists from boot, made by leasebox's tmpfiles.d entry)."""
    c = lab.c
    hook = f"{hook_dir}/10-record"
    dispatcher = f"leasebox-dispatch@{IFACE}.service"
    assert c.run(["test", "-d", "/run/leasebox-conf"], check=False).returncode == 0
    c.run(["rm", "-f", "/run/hook.log"])
    since = c.run(["date", "+%s.%N"]).stdout.strip()
    try:
        c.run(["systemctl", "start", TARGET])
        addr = lab.wait_address()
        lab.wait_bound()
        time.sleep(1.0)  # the path unit would have started it by now
        assert lab.journal("-u", dispatcher, f"--since=@{since}", "-o", "cat").strip() == ""
        c.write_file(hook, '#!/bin/sh\necho "$1 $LEASEBOX_INTERFACE $LEASEBOX_ADDRESS '
                     '$LEASEBOX_GATEWAY $LEASEBOX_LEASE_TIME $LEASEBOX_ROUTERS '
                     '$LEASEBOX_ACQUIRED $LEASEBOX_EXPIRES $(date +%s)" '
                     '>> /run/hook.log\n', mode=0o755)

        def recorded(event: str, address: str = addr["local"]) -> str:
            text = c.run(["cat", "/run/hook.log"], check=False).stdout
            return text if f"{event} {IFACE} {address}" in text else ""

        c.run(["leaseboxctl", "renew", IFACE])
        wait_for("the renewed hook", lambda: recorded("renewed"), 10)
        c.run(["systemctl", "stop", TARGET])
        wait_for("the released hook", lambda: recorded("released"), 10)
        runs = lab.journal("-u", dispatcher, "-o", "cat")
        assert f"{hook} renewed {addr['local']}: ok" in runs
        lines = c.run(["cat", "/run/hook.log"]).stdout.splitlines()
        assert [line.split()[0] for line in lines] == ["renewed", "released"]
        assert all(line.split()[3] == SERVER_IP for line in lines)  # LEASEBOX_GATEWAY
        assert all(line.split()[5] == SERVER_IP for line in lines)  # LEASEBOX_ROUTERS
        for line in lines:  # the lease's start and end on the wall clock, around the run
            lease_time, acquired, expires, now = (int(x) for x in line.split()[4:5] +
                                                  line.split()[6:9])
            assert acquired <= now < expires == acquired + lease_time
        # the next start binds it again: bound
        c.run(["rm", "-f", "/run/hook.log"])
        c.run(["systemctl", "start", TARGET])
        wait_for("the bound hook", lambda: recorded("bound", ""), 10)
        c.run(["systemctl", "stop", TARGET])
        # its released hook is done before the hook goes, and cannot write the log later
        wait_for("the released hook again",
                 lambda: c.run(["cat", "/run/hook.log"], check=False).stdout.count("released"),
                 10)
        # SendRelease=no: the configuration still goes at the stop, and the hooks hear it
        c.write_file(NO_RELEASE, "[DHCPv4]\nSendRelease=no\n")
        c.run(["systemctl", "start", TARGET])
        wait_for("the bound hook once more", lambda: c.run(
            ["cat", "/run/hook.log"], check=False).stdout.count("bound") == 2, 10)
        c.run(["systemctl", "stop", TARGET])
        wait_for("the left hook", lambda: recorded("left", ""), 10)
    finally:
        c.run(["rm", "-rf", hook_dir, "/run/hook.log", NO_RELEASE])


def test_the_minimal_root_holds_only_what_the_package_shipped(installed: Container) -> None:
    # after the tests above, which ran every per-interface unit and the dispatcher with
    # /usr writable: systemd made no mount point of its own in the root (with /usr
    # read-only, test_confinement and test_services, it could make none)
    assert root_not_shipped(installed) == []
