"""The real netconf process against a veth link in a fresh network namespace.

Checked from outside with `ip -j`: address with kernel lifetimes and broadcast, proto dhcp
routes with the policy's metric, classless precedence, on-link gateways, MTU set and
restored, resolv.conf written and removed; refusals and broken peers change nothing.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from tests.netconf.conftest import connected_by_another_process
from tests.netconf.nclab import IFACE, INTERPRETERS, PEER, REPLY_TIMEOUT, ip, ip_json, snapshot
from tests.waiting import wait_for

from leasebox import ipc
from leasebox.core.values import Route
from leasebox.ipc import channel

A = IPv4Address
N = IPv4Network
OK, REFUSED, FAILED = ipc.ResultStatus.OK, ipc.ResultStatus.REFUSED, ipc.ResultStatus.FAILED
pytestmark = pytest.mark.root


def lease(request_id: int, **kw: Any) -> ipc.Apply:
    fields: dict[str, Any] = dict(
        request_id=request_id, address=A("192.0.2.10"), prefixlen=24, lifetime=600, mtu=1400,
        routers=(A("192.0.2.1"),), classless_routes=None,
        dns_servers=(A("192.0.2.53"), A("192.0.2.54")), domains=("example.com", "corp.example"),
    )
    fields.update(kw)
    return ipc.Apply(**fields)


def addresses(ns: str) -> list[dict[str, Any]]:
    return [info for link in ip_json(ns, "-4", "addr", "show", "dev", IFACE)
            for info in link.get("addr_info", [])]


def routes(ns: str) -> list[dict[str, Any]]:
    """Our routes (proto dhcp), in all tables."""
    return [r for r in ip_json(ns, "-4", "route", "show", "table", "all")
            if r.get("protocol") == "dhcp"]


def mtu(ns: str) -> int:
    return int(ip_json(ns, "link", "show", "dev", IFACE)[0]["mtu"])


def route_set(ns: str) -> set[tuple[str, str | None, int | None, str | None, str | None]]:
    return {(r["dst"], r.get("gateway"), r.get("metric"), r.get("table"), r.get("scope"))
            for r in routes(ns)}


@pytest.mark.parametrize("python", INTERPRETERS)
def test_apply_renew_remove(netns: str, start_netconf: Any, tmp_path: Path, python: str) -> None:
    # where an older netconf wrote the file, which only root could read: replaced
    old = tmp_path / "run" / IFACE / "resolv.conf"
    old.parent.mkdir(parents=True)
    old.write_text("nameserver 192.0.2.99\n")
    # what writes cut short left (a netconf killed while writing): removed at the start,
    # and another interface's left alone
    (tmp_path / "run" / "dns").mkdir()
    cut_short = [tmp_path / "run" / IFACE / f".{name}.0123456789ab"
                 for name in ("netconf.state", "config.json")]
    cut_short.append(tmp_path / "run" / "dns" / f".{IFACE}.conf.0123456789ab")
    others = tmp_path / "run" / "dns" / ".other0.conf.0123456789ab"
    for path in [*cut_short, others]:
        path.write_text("{")
    nc = start_netconf(netns, python)
    reply = nc.request(lease(1))
    assert not old.exists()
    assert not any(path.exists() for path in cut_short) and others.exists()
    assert (reply.request_id, reply.status) == (1, OK), reply.reason

    [addr] = addresses(netns)
    assert (addr["local"], addr["prefixlen"], addr["broadcast"]) == ("192.0.2.10", 24,
                                                                     "192.0.2.255")
    assert 590 <= addr["valid_life_time"] <= 600
    assert 590 <= addr["preferred_life_time"] <= 600
    assert route_set(netns) == {("default", "192.0.2.1", 1024, None, None)}
    assert mtu(netns) == 1400
    resolv = tmp_path / "run" / "dns" / f"{IFACE}.conf"
    assert resolv.read_text().splitlines()[1:] == [
        "nameserver 192.0.2.53", "nameserver 192.0.2.54", "search example.com corp.example"]

    # renewal: new lifetime, another router, no MTU option any more
    reply = nc.request(lease(2, lifetime=1200, routers=(A("192.0.2.2"),), mtu=None))
    assert reply.status == OK, reply.reason
    [addr] = addresses(netns)
    assert 1190 <= addr["valid_life_time"] <= 1200
    assert route_set(netns) == {("default", "192.0.2.2", 1024, None, None)}
    assert mtu(netns) == 1500

    # an infinite lease is a permanent address
    assert nc.request(lease(3, lifetime=ipc.INFINITE, mtu=9000)).status == OK
    [addr] = addresses(netns)
    assert addr["valid_life_time"] == addr["preferred_life_time"] == 0xFFFFFFFF
    assert mtu(netns) == 9000

    reply = nc.request(ipc.Remove(4))
    assert (reply.request_id, reply.status) == (4, OK), reply.reason
    assert addresses(netns) == []
    assert routes(netns) == []
    assert mtu(netns) == 1500
    assert not resolv.exists()

    nc.close_engine()  # connected mode: the engine went away, so does netconf
    assert nc.wait() == 0


@pytest.mark.parametrize("python", INTERPRETERS)
def test_classless_routes_onlink_gateway_and_policy(netns: str, start_netconf: Any,
                                                    python: str) -> None:
    nc = start_netconf(netns, python, policy="[Network]\nRouteMetric=50\n"
                       "ClasslessRoutes=table:100\nUseDNS=no\n")
    # A cloud-style /32 lease: the gateway is only on the link because option 121 says so.
    msg = lease(1, address=A("10.128.0.5"), prefixlen=32, routers=(A("192.0.2.1"),),
                classless_routes=(Route(N("0.0.0.0/0"), A("10.128.0.1")),
                                  Route(N("10.128.0.1/32"), A("0.0.0.0")),
                                  Route(N("198.51.100.0/24"), A("172.16.0.1")),
                                  Route(N("172.16.0.0/24"), A("0.0.0.0"))))
    # an administrator's address, first on the link: without a preferred source on each
    # route the kernel would send from it through every route but the gateway's subnet's
    ip("-n", netns, "addr", "add", "192.168.50.2/24", "dev", IFACE)
    reply = nc.request(msg)
    assert reply.status == OK, reply.reason
    admin, addr = addresses(netns)
    assert (addr["local"], addr["prefixlen"]) == ("10.128.0.5", 32)
    assert "broadcast" not in addr
    assert {r.get("prefsrc") for r in routes(netns)} == {"10.128.0.5"}
    assert route_set(netns) == {
        ("default", "10.128.0.1", 50, "100", None),  # option 3's router was not used
        ("10.128.0.1", None, 50, "100", "link"),
        ("172.16.0.0/24", None, 50, "100", "link"),
        ("172.16.0.1", None, 50, "100", "link"),  # host route to an off-subnet gateway
        ("198.51.100.0/24", "172.16.0.1", 50, "100", None),
    }
    assert nc.request(ipc.Remove(2)).status == OK
    assert routes(netns) == [] and addresses(netns) == [admin]


@pytest.mark.parametrize("python", INTERPRETERS[:1])
def test_refused_apply_changes_nothing(netns: str, start_netconf: Any, tmp_path: Path,
                                       python: str) -> None:
    nc = start_netconf(netns, python, policy="[Network]\nAllowedAddresses=192.0.2.0/24\n")
    before = snapshot(netns)
    for i, bad in enumerate([
        lease(1, address=A("127.0.0.5"), prefixlen=8, routers=()),
        lease(2, address=A("198.51.100.10")),  # outside AllowedAddresses=
        lease(3, address=A("192.0.2.0")),  # the network address
        lease(4, prefixlen=25, address=A("192.0.2.127")),  # the broadcast address
        lease(5, dns_servers=(A("224.0.0.251"),)),
    ], start=1):
        reply = nc.request(bad)
        assert (reply.request_id, reply.status) == (i, REFUSED), reply.reason
        assert snapshot(netns) == before
    assert not (tmp_path / "run" / "dns" / f"{IFACE}.conf").exists()
    reply = nc.request(ipc.Remove(6))  # still serving
    assert reply.status == OK and reply.reason == "nothing was applied"


V = bytes([ipc.messages.VERSION])


@pytest.mark.parametrize("raw", [
    V + b"\x20\x00\x03abc",  # an APPLY far too short
    V + b"\x30\x00\x05\x00\x00\x00\x01\x00",  # a RESULT, which only netconf may send
    bytes([ipc.messages.VERSION - 1]) + b"\x21\x00\x04\x00\x00\x00\x01",  # wrong version
    V + b"\x21\x00\x05\x00\x00\x00\x01\x00",  # REMOVE with a trailing byte
    V + b"\x40\x00\x00",  # a HANDOFF, which only netconf sends (to leasebox-bus)
    b"\x01",
])
def test_schema_violation_exits_without_change(netns: str, start_netconf: Any,
                                               raw: bytes) -> None:
    nc = start_netconf(netns, INTERPRETERS[0].values[0])
    assert nc.request(lease(1)).status == OK
    before = snapshot(netns)
    nc.send_raw(raw)
    assert nc.wait() == 1
    assert snapshot(netns) == before
    assert "engine broke the contract" in nc.output()


def test_listening_mode_sigterm_keeps_configuration(netns: str, start_netconf: Any) -> None:
    nc = start_netconf(netns, INTERPRETERS[0].values[0], listening=True)
    nc.connect()
    assert nc.request(lease(1)).status == OK
    nc.close_engine()
    # back to accept(): a new engine connection is served, with the state kept
    nc.connect()
    assert nc.request(lease(2, lifetime=900)).status == OK
    assert [a["local"] for a in addresses(netns)] == ["192.0.2.10"]
    before = snapshot(netns)
    nc.proc.send_signal(signal.SIGTERM)
    assert nc.wait() == 0
    assert snapshot(netns) == before  # the address stays, with its kernel lifetime
    assert 0 < addresses(netns)[0]["valid_life_time"] <= 900


def test_sigterm_serves_the_connected_engine_until_it_closes(netns: str,
                                                             start_netconf: Any) -> None:
    """The target's stop sends netconf SIGTERM while its engine leaves the link: the
    engine's removal is still served, and netconf exits once the engine closes; an engine
    that stays connected keeps it no longer than STOP_DRAIN (3.5 s)."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0], listening=True)
    nc.connect()
    assert nc.request(lease(1)).status == OK
    nc.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert nc.request(ipc.Remove(2)).status == OK  # after the signal
    assert addresses(netns) == []
    started = time.monotonic()
    nc.close_engine()
    assert nc.wait() == 0
    assert time.monotonic() - started < 1.0
    assert "stopping on signal 15; nothing applied" in nc.output()
    # the engine stays: netconf leaves after the drain all the same
    nc = start_netconf(netns, INTERPRETERS[0].values[0], listening=True)
    nc.connect()
    assert nc.request(lease(3)).status == OK
    started = time.monotonic()
    nc.proc.send_signal(signal.SIGTERM)
    assert nc.wait() == 0
    assert 3.0 < time.monotonic() - started < 5.0
    assert [a["local"] for a in addresses(netns)] == ["192.0.2.10"]  # left in place
    assert "stopping on signal 15; configuration left in place" in nc.output()


def test_link_replaced_leaves_the_request_for_the_engine(netns: str,
                                                         start_netconf: Any) -> None:
    # Connected (not socket-activated): netconf ends, the request unanswered; the engine
    # sends it again on its next connection, to a netconf on the link that has the name.
    nc = start_netconf(netns, INTERPRETERS[0].values[0])
    assert nc.request(lease(1)).status == OK
    ip("-n", netns, "link", "del", IFACE)
    ip("-n", netns, "link", "add", IFACE, "type", "veth", "peer", "name", "nc2")
    assert nc.sock is not None
    try:
        channel.send(nc.sock, lease(2))
    except BrokenPipeError:
        pass  # its link-event socket told it first: gone already, which is the same
    assert _closed_unanswered(nc)
    assert nc.wait() == 0
    assert f"interface {IFACE} (ifindex" in nc.output() and "is gone or was" in nc.output()
    nc2 = start_netconf(netns, INTERPRETERS[0].values[0])
    assert nc2.request(lease(2)).status == OK
    assert [a["local"] for a in addresses(netns)] == ["192.0.2.10"]


def _closed_unanswered(nc: Any) -> bool:
    """netconf closed our connection without a reply (a reset counts: the engine treats
    one like a close)."""
    assert nc.sock is not None
    nc.sock.settimeout(REPLY_TIMEOUT)
    try:
        return channel.recv(nc.sock, ipc.Peer.NETCONF, ipc.Peer.ENGINE) is None
    except ConnectionResetError:
        return True


def _link_up(ns: str) -> bool:
    return "UP" in ip_json(ns, "link", "show", "dev", IFACE)[0]["flags"]


@pytest.mark.parametrize("release", ["yes", "always"])
def test_send_release_always_keeps_netconf_up_for_the_shutdown(
        netns: str, start_netconf: Any, release: str) -> None:
    """netconf exits idle, and systemd starts none once the system shuts down: with
    SendRelease=always it stays, so the engine can release at shutdown and take the
    address off (without it the engine keeps both, having no netconf to ask)."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0], listening=True,
                       policy=f"[DHCPv4]\nSendRelease={release}\n",
                       extra_args=["--exit-idle-time", "0.5"])
    nc.connect()
    assert nc.request(lease(1)).status == OK
    if release == "yes":
        wait_for("the idle exit", lambda: nc.proc.poll() is not None, 10)
        assert "no request for 0.5 s" in nc.output()
    else:
        time.sleep(1.5)
        assert nc.proc.poll() is None, nc.output()
        assert "SendRelease=always: no idle exit" in nc.output()


def test_a_short_lease_keeps_netconf_between_its_renewals(netns: str,
                                                          start_netconf: Any) -> None:
    """A lease shorter than 20 idle times (10 minutes at the default 30 s) renews so often
    that starting netconf again for each renewal costs more than keeping it: no idle exit
    while one is applied. A longer lease, or none, and netconf exits idle as ever."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0], listening=True,
                       extra_args=["--exit-idle-time", "0.5"])
    nc.connect()
    assert nc.request(lease(1, lifetime=9)).status == OK  # under 20 x 0.5 s
    time.sleep(1.5)
    assert nc.proc.poll() is None, nc.output()
    assert nc.request(lease(2, lifetime=10)).status == OK  # a renewal, a longer lease
    wait_for("the idle exit", lambda: nc.proc.poll() is not None, 10)
    assert "no request for 0.5 s" in nc.output()


def test_hotplug_waits_for_the_link_and_follows_it(netns: str, start_netconf: Any,
                                                   tmp_path: Path) -> None:
    # Socket-activated: started before the interface exists, netconf waits for it and
    # brings it up when it appears (a new link is down); removed, it waits again.
    ip("-n", netns, "link", "del", IFACE)
    nc = start_netconf(netns, INTERPRETERS[0].values[0], listening=True,
                       extra_args=["--exit-idle-time", "0.5"])
    wait_for("waiting for the link", lambda: f"waiting for {IFACE} to appear" in nc.output(),
             10)
    time.sleep(1.0)
    assert nc.proc.poll() is None, nc.output()  # no idle exit while waiting for the link
    nc.connect()  # queued until the link is there
    ip("-n", netns, "link", "add", IFACE, "type", "veth", "peer", "name", "nc2")
    ip("-n", netns, "link", "set", "nc2", "up")
    assert nc.request(lease(1)).status == OK
    assert _link_up(netns)
    assert [a["local"] for a in addresses(netns)] == ["192.0.2.10"]
    resolv = tmp_path / "run" / "dns" / f"{IFACE}.conf"
    wait_for("the DNS handed on", resolv.exists, 10)
    # gone while netconf waits for a request: the link-event socket wakes it, and the
    # link's DNS is taken back (its address and routes went with it)
    ip("-n", netns, "link", "del", IFACE)
    wait_for("gone", lambda: "is gone or was renamed" in nc.output(), 10)
    assert _closed_unanswered(nc)
    assert nc.proc.poll() is None
    wait_for("the DNS taken back", lambda: not resolv.exists(), 10)
    nc.connect()
    ip("-n", netns, "link", "add", IFACE, "type", "veth", "peer", "name", "nc2")
    ip("-n", netns, "link", "set", "nc2", "up")
    assert nc.request(lease(2)).status == OK
    assert _link_up(netns)
    assert nc.output().count("brought it up") == 2


def test_a_renamed_link_has_the_lease_taken_off(netns: str, start_netconf: Any) -> None:
    """A rename removes nothing: netconf forgot what it had applied, which stayed on the
    renamed link; when the name came back, an infinite lease's address, permanent there,
    was refused as not netconf's own, and the lease's MTU was taken for the link's and
    "restored" at the removal. What it applied is taken off the renamed link first."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0], listening=True)
    nc.connect()
    assert nc.request(lease(1, lifetime=ipc.INFINITE, mtu=1400)).status == OK
    assert mtu(netns) == 1400 and addresses(netns) and routes(netns)
    ip("-n", netns, "link", "set", IFACE, "down")
    ip("-n", netns, "link", "set", IFACE, "name", "renamed0")
    wait_for("renamed", lambda: "is gone or was renamed" in nc.output(), 10)
    assert _closed_unanswered(nc)
    moved = ip_json(netns, "link", "show", "dev", "renamed0")[0]
    assert moved["mtu"] == 1500, nc.output()
    assert not [a for link in ip_json(netns, "-4", "addr", "show", "dev", "renamed0")
                for a in link.get("addr_info", [])], nc.output()
    assert not routes(netns)
    nc.connect()
    ip("-n", netns, "link", "set", "renamed0", "name", IFACE)
    ip("-n", netns, "link", "set", IFACE, "up")
    reply = nc.request(lease(2, lifetime=ipc.INFINITE, mtu=1400))
    assert reply.status == OK, reply.reason
    assert nc.request(ipc.Remove(3)).status == OK
    assert mtu(netns) == 1500 and not addresses(netns)


def test_kernel_refusal_is_rolled_back(netns: str, start_netconf: Any) -> None:
    # With the link down the kernel takes the MTU and the address but refuses a route
    # through it (ENETUNREACH): what was already done must be undone. LinkUp=no, or
    # netconf would bring the link up at start, racing the test's `link set down`.
    nc = start_netconf(netns, INTERPRETERS[0].values[0], policy="[Network]\nLinkUp=no\n")
    ip("-n", netns, "link", "set", IFACE, "down")
    before = snapshot(netns)
    reply = nc.request(lease(1, mtu=1400))
    assert reply.status == FAILED, reply.reason
    assert "add route" in reply.reason
    assert snapshot(netns) == before
    assert mtu(netns) == 1500
    assert "rolled back" in nc.output()


def test_startup_errors(netns: str, start_netconf: Any) -> None:
    nc = start_netconf(netns, INTERPRETERS[0].values[0], iface="nosuch0")
    assert nc.wait() == 1
    assert "does not exist" in nc.output()
    nc = start_netconf(netns, INTERPRETERS[0].values[0], iface="lo")
    assert nc.wait() == 78  # a unit's mistake: not restarted (RestartPreventExitStatus=)
    assert "loopback" in nc.output()
    started = time.monotonic()
    nc = start_netconf(netns, INTERPRETERS[0].values[0], iface="bad/name")
    assert nc.wait() == 78
    assert time.monotonic() - started < 10
    # another interface's alternative name (udev gives many): found by the kernel, then
    # taken for a renamed link, at once and for ever (a busy loop); refused now
    ip("-n", netns, "link", "property", "add", "dev", IFACE, "altname", "enxlbx0")
    for listening in (False, True):
        nc = start_netconf(netns, INTERPRETERS[0].values[0], iface="enxlbx0",
                           listening=listening)
        assert nc.wait() == 78
        assert f"enxlbx0 is an alternative name of {IFACE}" in nc.output()


@pytest.mark.parametrize("python", INTERPRETERS)
def test_restarted_netconf_removes_what_its_predecessor_added(
        netns: str, start_netconf: Any, tmp_path: Path, python: str) -> None:
    pristine = snapshot(netns)
    nc = start_netconf(netns, python)
    assert nc.request(lease(1, mtu=1400)).status == OK
    nc.send_raw(b"\x01")  # a broken peer: netconf exits, systemd would restart it
    assert nc.wait() == 1
    assert mtu(netns) == 1400 and routes(netns)

    again = start_netconf(netns, python)
    reply = again.request(ipc.Remove(2))
    assert reply.status == OK, reply.reason
    assert snapshot(netns) == pristine  # MTU 1500 again, no address, no routes
    assert not (tmp_path / "run" / "dns" / f"{IFACE}.conf").exists()
    assert not (tmp_path / "run" / IFACE / "netconf.state").exists()
    assert "resuming what an earlier netconf applied" in again.output()


@pytest.mark.parametrize("python", INTERPRETERS)
def test_mtu_never_takes_ipv6_off_the_link(netns: str, start_netconf: Any, python: str) -> None:
    """Security hardening, item 3: below 1280 the kernel removes IPv6 from the device."""
    ip("-n", netns, "-6", "addr", "add", "2001:db8::5/64", "dev", IFACE, "nodad")
    nc = start_netconf(netns, python)
    reply = nc.request(lease(1, mtu=576))
    assert reply.status == OK and "mtu 576 ignored (outside 1280.." in reply.reason
    assert mtu(netns) >= 1280
    six = [a["local"] for link in ip_json(netns, "-6", "addr", "show", "dev", IFACE)
           for a in link.get("addr_info", [])]
    assert "2001:db8::5" in six
    assert nc.request(lease(2, mtu=1400)).status == OK and mtu(netns) == 1400


@pytest.mark.parametrize("python", INTERPRETERS[:1])
def test_an_mtu_set_by_hand_outlives_renewals(netns: str, start_netconf: Any,
                                               python: str) -> None:
    """An administrator's `ip link set mtu` after the lease's stays through renewals, in a
    netconf restarted from its state file too, and through the remove."""
    nc = start_netconf(netns, python)
    assert nc.request(lease(1, mtu=1400)).status == OK and mtu(netns) == 1400
    ip("-n", netns, "link", "set", IFACE, "mtu", "1450")
    assert nc.request(lease(2, mtu=1400)).status == OK
    assert mtu(netns) == 1450
    assert "the link's MTU is 1450, set since leasebox set 1400" in nc.output()
    assert "mtu 1450 as set by hand (the lease's 1400 not set)" in nc.output()
    nc.stop()
    again = start_netconf(netns, python, new_engine=True)
    assert again.request(lease(3, mtu=1400)).status == OK and mtu(netns) == 1450
    assert again.request(ipc.Remove(4)).status == OK
    assert mtu(netns) == 1450 and not addresses(netns)


@pytest.mark.parametrize("python", INTERPRETERS[:1])
def test_an_mtu_above_a_macvlans_parent_is_left_out(netns: str, start_netconf: Any,
                                                    python: str) -> None:
    """A macvlan reports its parent's maximum MTU, and the kernel bounds it by the parent's
    current one: the lease's 9000 is refused. The lease is applied without it, said in the
    reply; it failed before, again and again."""
    ip("-n", netns, "link", "del", IFACE)  # the veth pair goes; IFACE comes back a macvlan
    ip("-n", netns, "link", "add", "lower0", "type", "veth", "peer", "name", "lower1")
    ip("-n", netns, "link", "set", "lower0", "up")
    ip("-n", netns, "link", "add", IFACE, "link", "lower0", "type", "macvlan", "mode", "bridge")
    ip("-n", netns, "link", "set", IFACE, "up")
    nc = start_netconf(netns, python)
    reply = nc.request(lease(1, mtu=9000))
    assert reply.status == OK and reply.reason.startswith("mtu 9000 not set ("), reply.reason
    assert mtu(netns) == 1500 and [a["local"] for a in addresses(netns)] == ["192.0.2.10"]
    assert nc.request(ipc.Remove(2)).status == OK
    assert mtu(netns) == 1500 and not addresses(netns)


@pytest.mark.parametrize("python", INTERPRETERS[:1])
def test_a_permanent_address_is_never_taken_over(netns: str, start_netconf: Any,
                                                 python: str) -> None:
    """Security hardening, item 7: an administrator's address is left alone."""
    ip("-n", netns, "addr", "add", "192.0.2.10/24", "dev", IFACE)
    nc = start_netconf(netns, python)
    reply = nc.request(lease(1))
    assert reply.status == REFUSED and "permanent address" in reply.reason
    assert nc.request(ipc.Remove(2)).status == OK
    [kept] = addresses(netns)
    assert kept["local"] == "192.0.2.10" and kept["valid_life_time"] == 0xFFFFFFFF
    assert routes(netns) == []


@pytest.mark.parametrize("promote", ["0", "1"])
def test_an_address_change_keeps_the_routes_through_the_link(netns: str, start_netconf: Any,
                                                             promote: str) -> None:
    """A new prefix for the same address, then a new address in the same subnet: the new
    one goes on before the old one goes, so the link never loses every IPv4 address and
    with them the routes through it, here an administrator's. With promote_secondaries=0
    (systemd's sysctl.d sets 1) the new address, a secondary of the old, goes with it and
    is put back."""
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-qw",
                    f"net.ipv4.conf.{IFACE}.promote_secondaries={promote}"],
                   check=True, timeout=10)
    ip("-n", netns, "route", "add", "203.0.113.0/24", "dev", IFACE)
    nc = start_netconf(netns, INTERPRETERS[0].values[0])
    assert nc.request(lease(1)).status == OK
    for request_id, address, prefixlen in ((2, "192.0.2.10", 23), (3, "192.0.2.20", 23)):
        reply = nc.request(lease(request_id, address=A(address), prefixlen=prefixlen))
        assert reply.status == OK, reply.reason
        assert [(a["local"], a["prefixlen"]) for a in addresses(netns)] == [(address, 23)]
        assert route_set(netns) == {("default", "192.0.2.1", 1024, None, None)}
        admin = ip_json(netns, "-4", "route", "show", "203.0.113.0/24")
        # (with promote_secondaries=0 the kernel takes the new address, a secondary, with
        # the old one: the link is left without one for a moment, which flushes its routes)
        assert admin or (promote, request_id) == ("0", 3)
    assert nc.request(ipc.Remove(4)).status == OK
    assert addresses(netns) == [] and routes(netns) == []


def link_flags(ns: str) -> list[str]:
    flags: list[str] = ip_json(ns, "link", "show", "dev", IFACE)[0]["flags"]
    return flags


@pytest.mark.parametrize("python", INTERPRETERS)
def test_a_link_that_is_down_is_brought_up(netns: str, start_netconf: Any, python: str) -> None:
    """A machine's life, item 3: netconf (CAP_NET_ADMIN) brings its link up at start;
    LinkUp=no leaves it down. Nothing ever takes a link down."""
    from tests.waiting import wait_for

    ip("-n", netns, "link", "set", IFACE, "down")
    nc = start_netconf(netns, python, policy="[Network]\nLinkUp=no\n")
    assert nc.request(ipc.Remove(1)).status == OK  # it is up and serving ...
    assert "UP" not in link_flags(netns)  # ... and left the link down
    nc.stop()
    start_netconf(netns, python, new_engine=True)  # with the files' default, LinkUp=yes
    wait_for("the link up", lambda: "UP" in link_flags(netns), 15)


def test_a_link_taken_down_by_hand_stays_down_for_the_same_engine(netns: str,
                                                                   start_netconf: Any) -> None:
    """LinkUp=yes brings a link up when it is served first, and for a new engine (leasebox
    restarted): a netconf started again for the same engine (its request at a lease's end,
    after an io restart) leaves an administrator's `ip link set down` alone. A new link
    under the name (plugged in again) is brought up again."""
    python = INTERPRETERS[0].values[0]
    ip("-n", netns, "link", "set", IFACE, "down")
    first = start_netconf(netns, python)
    assert first.request(ipc.Remove(1)).status == OK
    assert "UP" in link_flags(netns) and "brought it up" in first.output()
    first.stop()
    ip("-n", netns, "link", "set", IFACE, "down")  # the administrator's
    again = start_netconf(netns, python)  # the same engine (this process)
    assert again.request(ipc.Remove(2)).status == OK
    assert "UP" not in link_flags(netns)
    assert f"{IFACE} is down, set so since leasebox found or brought it up" in again.output()
    again.stop()
    restarted = start_netconf(netns, python, new_engine=True)
    assert restarted.request(ipc.Remove(3)).status == OK
    assert "UP" in link_flags(netns)
    restarted.stop()
    ip("-n", netns, "link", "del", IFACE)
    ip("-n", netns, "link", "add", IFACE, "type", "veth", "peer", "name", "nc2")
    new = start_netconf(netns, python)
    assert new.request(ipc.Remove(4)).status == OK
    assert "UP" in link_flags(netns)


def test_a_lease_kept_past_its_end_goes_when_netconf_starts(netns: str, start_netconf: Any,
                                                             tmp_path: Path) -> None:
    """KeepConfiguration=yes kept the lease on the link, and the machine slept through its
    end, which the kernel's lifetime did not count: the next netconf takes it off, by
    CLOCK_BOOTTIME."""
    python = INTERPRETERS[0].values[0]
    first = start_netconf(netns, python)
    assert first.request(lease(1)).status == OK
    first.stop()  # the configuration stays
    end = tmp_path / "run" / IFACE / "lease-end"
    address, when = end.read_text().split()
    assert address == "192.0.2.10/24"
    assert float(when) > time.clock_gettime(time.CLOCK_BOOTTIME)
    end.write_text(f"{address} {time.clock_gettime(time.CLOCK_BOOTTIME) - 3600:.3f}\n")
    again = start_netconf(netns, python)
    wait_for("the kept lease taken off", lambda: "the lease of 192.0.2.10/24 ran out 3600 s "
             "ago" in again.output(), 10)
    assert addresses(netns) == [] and routes(netns) == []
    reply = again.request(ipc.Remove(2))
    assert reply.status == OK and reply.reason == "nothing was applied"


def test_route_table_takes_every_route_of_the_lease(netns: str, start_netconf: Any) -> None:
    """RouteTable=100: the prefix route (the address goes on with noprefixroute), the
    option-3 default route and option-121 routes all go to table 100; main gets none."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0], policy="[Network]\nRouteTable=100\n")
    assert nc.request(lease(1)).status == OK
    (addr,) = addresses(netns)
    assert addr["local"] == "192.0.2.10" and addr.get("noprefixroute") is True
    assert route_set(netns) == {
        ("192.0.2.0/24", None, 1024, "100", "link"),
        ("default", "192.0.2.1", 1024, "100", None),
    }
    main = ip_json(netns, "-4", "route", "show", "table", "main")
    assert [r for r in main if "192.0.2" in r.get("dst", "") or r.get("dst") == "default"] == []
    # option 121 follows RouteTable= too (ClasslessRoutes=main, the default)
    assert nc.request(lease(2, classless_routes=(
        Route(N("198.51.100.0/24"), A("192.0.2.7")), Route(N("0.0.0.0/0"), A("192.0.2.1")),
    ))).status == OK
    assert {(r[0], r[3]) for r in route_set(netns)} == {
        ("192.0.2.0/24", "100"), ("198.51.100.0/24", "100"), ("default", "100")}
    assert nc.request(ipc.Remove(3)).status == OK
    assert addresses(netns) == [] and route_set(netns) == set()


def test_classless_table_gets_the_route_to_its_gateways(netns: str, start_netconf: Any
                                                        ) -> None:
    """RouteTable=100 and ClasslessRoutes=table:200: the kernel looks an option-121
    gateway up in table 200, where the subnet's route must be too (main has none)."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0],
                       policy="[Network]\nRouteTable=100\nClasslessRoutes=table:200\n")
    reply = nc.request(lease(1, classless_routes=(
        Route(N("198.51.100.0/24"), A("192.0.2.7")), Route(N("0.0.0.0/0"), A("192.0.2.1")))))
    assert reply.status == OK, reply.reason
    assert {(r[0], r[1], r[3]) for r in route_set(netns)} == {
        ("192.0.2.0/24", None, "100"), ("192.0.2.0/24", None, "200"),
        ("198.51.100.0/24", "192.0.2.7", "200"), ("default", "192.0.2.1", "200")}
    assert nc.request(ipc.Remove(2)).status == OK
    assert addresses(netns) == [] and route_set(netns) == set()


@pytest.mark.parametrize("python", INTERPRETERS)
def test_netconf_runs_no_program(netns: str, start_netconf: Any, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, python: str) -> None:
    """pyroute2 0.7's import runs `uname -p` and `file -b` (platform's probes); netconf,
    which holds CAP_NET_ADMIN, refuses exec before it loads pyroute2, so neither runs.
    (0.9 runs neither anyway: the Debian parameter is the one that fails without it.)"""
    fake = tmp_path / "bin"
    fake.mkdir()
    ran = tmp_path / "ran"
    for name in ("uname", "file"):
        (fake / name).write_text(f"#!/bin/sh\necho {name} >> {ran}\n")
        (fake / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:/usr/sbin:/usr/bin:/sbin:/bin")
    nc = start_netconf(netns, python)
    reply = nc.request(lease(1))
    assert reply.status == OK, reply.reason
    assert [a["local"] for a in addresses(netns)] == ["192.0.2.10"]
    assert not ran.exists(), f"netconf ran {ran.read_text().split()}"
    assert "cannot refuse exec" not in nc.output()


def test_a_slash_32_lease_with_only_a_router_gets_its_default_route(
        netns: str, start_netconf: Any) -> None:
    """A /32 lease and option 3 alone (some clouds and ISPs): the kernel takes a host route
    to the router, then the default route through it; a remove takes both back."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0])
    reply = nc.request(lease(1, address=A("203.0.113.7"), prefixlen=32,
                             routers=(A("203.0.113.1"),)))
    assert reply.status == OK, reply.reason
    assert [(a["local"], a["prefixlen"]) for a in addresses(netns)] == [("203.0.113.7", 32)]
    assert {(r[0], r[1], r[4]) for r in route_set(netns)} == {
        ("203.0.113.1", None, "link"), ("default", "203.0.113.1", None)}
    assert nc.request(ipc.Remove(2)).status == OK
    assert addresses(netns) == [] and route_set(netns) == set()


def test_the_kernels_prefix_route_takes_route_metric(netns: str, start_netconf: Any) -> None:
    """Two links on one LAN (Ethernet at RouteMetric=100, Wi-Fi at 600): the subnet's route
    takes the metric too, or LAN traffic leaves by whichever link came up first."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0], policy="[Network]\nRouteMetric=600\n")
    assert nc.request(lease(1)).status == OK
    prefix = [r for r in ip_json(netns, "-4", "route", "show", "dev", IFACE)
              if r.get("protocol") == "kernel"]
    assert [(r["dst"], r.get("metric")) for r in prefix] == [("192.0.2.0/24", 600)]
    assert nc.request(ipc.Remove(2)).status == OK


def test_another_links_route_carries_the_traffic_while_ours_has_no_carrier(
        netns: str, start_netconf: Any) -> None:
    """A docked laptop, Ethernet and Wi-Fi leased at equal metrics, Ethernet's default route
    first. Undocked, the lease stays (a flap costs nothing) and so did the kernel's use of
    its routes: everything went to the unplugged port until the lease expired. The kernel
    skips them now while the carrier is lost, and uses them again the moment it is back."""
    ip("-n", netns, "link", "add", "lbw0", "type", "veth", "peer", "name", "lbw1")
    for dev in ("lbw0", "lbw1"):
        ip("-n", netns, "link", "set", dev, "up")
    ip("-n", netns, "addr", "add", "198.51.100.10/24", "dev", "lbw0")
    nc = start_netconf(netns, INTERPRETERS[0].values[0])
    assert nc.request(lease(1)).status == OK
    [metric] = [r[2] for r in route_set(netns) if r[0] == "default"]
    ip("-n", netns, "route", "append", "default", "via", "198.51.100.1", "dev", "lbw0",
       "metric", str(metric or 0))

    def out() -> str:
        return str(ip_json(netns, "route", "get", "203.0.113.1")[0]["dev"])

    assert out() == IFACE
    ip("-n", netns, "link", "set", PEER, "down")  # our link's carrier is lost
    wait_for("the other link's route", lambda: out() == "lbw0", 3)
    assert route_set(netns)  # kept, for the carrier's return
    ip("-n", netns, "link", "set", PEER, "up")
    wait_for("our route again", lambda: out() == IFACE, 3)
    assert nc.request(ipc.Remove(2)).status == OK


def test_a_lease_is_not_applied_on_a_bridge_port(netns: str, start_netconf: Any) -> None:
    """The link made a bridge's port while leased: the lease sent again is refused, and
    the address and routes on the port are taken off (a port keeps its carrier, so the
    kernel kept using its routes while the bridge took every reply)."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0])
    assert nc.request(lease(1)).status == OK
    ip("-n", netns, "link", "add", "lbbr9", "type", "bridge")
    ip("-n", netns, "link", "set", IFACE, "master", "lbbr9")
    reply = nc.request(lease(2))
    assert reply.status == REFUSED and "port of a bridge interface" in reply.reason
    assert addresses(netns) == [] and route_set(netns) == set()


def test_a_netconf_started_without_its_link_takes_back_its_dns(
        netns: str, start_netconf: Any, tmp_path: Path) -> None:
    """The link went while no netconf ran (idle exit), and the engine's Remove at the
    target's stop starts one: what the earlier one handed on for the link is taken back,
    not held for ever."""
    nc = start_netconf(netns, INTERPRETERS[0].values[0])
    assert nc.request(lease(1)).status == OK
    resolv = tmp_path / "run" / "dns" / f"{IFACE}.conf"
    wait_for("the DNS handed on", resolv.exists, 10)
    nc.stop()
    ip("-n", netns, "link", "del", IFACE)
    assert resolv.exists()  # nobody took it back yet
    nc2 = start_netconf(netns, INTERPRETERS[0].values[0], listening=True)
    wait_for("the DNS taken back", lambda: not resolv.exists(), 10)
    wait_for("waiting for the link", lambda: f"waiting for {IFACE}" in nc2.output(), 10)
    # the DNS went to a file, the NTP to leasebox-bus, which is not there yet: that part
    # stays to do, in the state file, and is tried again while netconf waits
    assert "cannot take back its DNS/NTP yet" in nc2.output()
    assert (tmp_path / "run" / IFACE / "netconf.state").exists()
    # the engine's Remove (the target's stop) is answered meanwhile, saying what is left
    nc2.connect()
    reply = nc2.request(ipc.Remove(7))
    assert (reply.status, reply.request_id) == (FAILED, 7)
    assert "not taken back yet" in reply.reason
    handed: list[ipc.Handoff] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as bus:
        bus.bind(str(tmp_path / "no-bus.sock"))  # where the fixture points netconf
        bus.listen(4)
        bus.settimeout(10)
        conn, _ = bus.accept()  # within the backoff's first steps
        with conn:
            msg = channel.recv(conn, ipc.Peer.NETCONF, ipc.Peer.BUS)
            assert isinstance(msg, ipc.Handoff)
            handed.append(msg)
            channel.send(conn, ipc.HandoffResult(msg.request_id, ipc.ResultStatus.OK, ""))
    assert handed[0].names == ipc.Names()  # nothing left for the link
    wait_for("the NTP taken back", lambda: "its DNS/NTP taken back" in nc2.output(), 10)
    assert nc2.request(ipc.Remove(8)).status == OK


def test_the_engine_is_answered_while_the_link_is_gone_and_its_end_ends_netconf(
        netns: str, start_netconf: Any) -> None:
    """The target stopped after its NIC was pulled. netconf, started to take the link's
    DNS back, waits for the link and left the engine's Remove unanswered: the stop waited
    3 s for it and warned that the address might still be on the link; and it waited on
    after the engine had gone, to bring the NIC up when plugged in again with leasebox
    stopped. The Remove is answered now, and the engine's end ends netconf."""
    ip("-n", netns, "link", "del", IFACE)
    nc = start_netconf(netns, INTERPRETERS[0].values[0], listening=True, queued=True)
    wait_for("waiting for the link", lambda: f"waiting for {IFACE}" in nc.output(), 10)
    started = time.monotonic()
    reply = nc.request(ipc.Remove(1))
    assert time.monotonic() - started < 1.0
    assert reply.status == OK and f"{IFACE} is gone" in reply.reason
    nc.close_engine()
    assert nc.wait() == 0
    assert "the engine closed its connection" in nc.output()


def test_an_apply_while_the_link_is_gone_waits_for_it_unless_a_removal_comes(
        netns: str, start_netconf: Any) -> None:
    """The engine sends the lease in use again on each connection: read while the link is
    gone, it waits for the link, and is applied once it is back; a removal after it is
    answered, the Apply first (superseded: nothing applied)."""
    ip("-n", netns, "link", "del", IFACE)
    nc = start_netconf(netns, INTERPRETERS[0].values[0], listening=True, queued=True)
    wait_for("waiting for the link", lambda: f"waiting for {IFACE}" in nc.output(), 10)
    assert nc.sock is not None
    channel.send(nc.sock, lease(1))
    reply = nc.request(ipc.Remove(2))
    assert (reply.request_id, reply.status) == (1, OK) and "nothing applied" in reply.reason
    later = channel.recv(nc.sock, ipc.Peer.NETCONF, ipc.Peer.ENGINE)
    assert isinstance(later, ipc.Result) and (later.request_id, later.status) == (2, OK)
    channel.send(nc.sock, lease(3))
    time.sleep(0.3)  # read, and left to wait
    ip("-n", netns, "link", "add", IFACE, "type", "veth", "peer", "name", "nc2")
    ip("-n", netns, "link", "set", "nc2", "up")
    nc.sock.settimeout(REPLY_TIMEOUT)
    applied = channel.recv(nc.sock, ipc.Peer.NETCONF, ipc.Peer.ENGINE)
    assert isinstance(applied, ipc.Result) and (applied.request_id, applied.status) == (3, OK)
    assert [a["local"] for a in addresses(netns)] == ["192.0.2.10"]
    assert nc.request(ipc.Remove(4)).status == OK


def test_netconf_serves_an_engine_by_the_files_as_they_were_when_it_started(
        netns: str, start_netconf: Any, tmp_path: Path) -> None:
    """netconf exits idle, and the engine's next request (a renewal) starts it again: a
    file saved in between, even with a mistake, is not applied mid-lease (nor does it stop
    netconf with 78 and leave the renewal unapplied). An engine started since gets what
    the files say now."""
    python = INTERPRETERS[0].values[0]
    root = tmp_path / "conf"
    conf = root / "etc" / "leasebox" / "leasebox.conf"

    def metrics() -> set[int | None]:
        return {r[2] for r in route_set(netns)}

    first = start_netconf(netns, python, config_root=root, policy="[Network]\nRouteMetric=100\n")
    assert first.request(lease(1)).status == OK
    assert metrics() == {100}
    first.stop()  # as at an idle exit
    conf.write_text("[Network]\nRouteMetrik=200\n")
    renewal = start_netconf(netns, python, config_root=root)
    assert renewal.request(lease(2)).status == OK  # the same engine: what it started with
    assert metrics() == {100}
    assert ("have changed, with an error (" f"{conf}:2: unknown key RouteMetrik=") in \
        renewal.output()
    renewal.stop()
    restarted = start_netconf(netns, python, config_root=root, new_engine=True)
    assert restarted.wait() == 78  # an engine started since reads the same mistake
    assert f"{conf}:2: unknown key RouteMetrik=" in restarted.output()
    conf.write_text("[Network]\nRouteMetric=200\n")
    same = start_netconf(netns, python, config_root=root)
    assert same.request(lease(3)).status == OK
    assert metrics() == {100}
    same.stop()
    fixed = start_netconf(netns, python, config_root=root, new_engine=True)
    assert fixed.request(lease(4)).status == OK
    assert metrics() == {200}
    assert "configuration: " in fixed.output()


def test_netconf_started_by_its_engine_brings_the_link_up_by_that_engines_files(
        netns: str, start_netconf: Any, tmp_path: Path) -> None:
    """Started again by its engine's request (the connection waits), netconf decides on
    bringing the link up by what it kept for that engine, not by a file saved since."""
    python = INTERPRETERS[0].values[0]
    root = tmp_path / "conf"
    conf = root / "etc" / "leasebox" / "leasebox.conf"
    ip("-n", netns, "link", "set", IFACE, "down")
    first = start_netconf(netns, python, listening=True, queued=True, config_root=root,
                          policy="[Network]\nLinkUp=no\n")
    assert first.request(ipc.Remove(1)).status == OK
    first.stop()
    conf.write_text("[Network]\nLinkUp=yes\n")
    again = start_netconf(netns, python, listening=True, queued=True, config_root=root)
    assert again.request(ipc.Remove(2)).status == OK
    assert "UP" not in link_flags(netns)
    assert "the configuration files have changed since engine pid" in again.output()
    again.stop()
    again.stop()
    # restarted alone (by hand, or after a crash), with no request waiting: still by what
    # was kept for the engine of this target, which most likely runs on
    alone = start_netconf(netns, python, listening=True, config_root=root)
    wait_for("netconf ready", lambda: "listening for the engine" in alone.output(), 10)
    assert "UP" not in link_flags(netns)
    # an engine started since (another PID) comes with LinkUp=yes: the link goes up then
    assert alone.listen_path is not None
    alone.sock = connected_by_another_process(alone.listen_path)
    assert alone.request(ipc.Remove(3)).status == OK
    assert "UP" in link_flags(netns)


def test_the_first_engine_is_served_by_the_files_as_at_netconfs_start(
        netns: str, start_netconf: Any, tmp_path: Path) -> None:
    """netconf and the engine start together (the target); netconf waits for the link
    with the engine's connection queued: a file saved meanwhile is not what it serves
    that engine by. A later engine gets the files as they are then."""
    python = INTERPRETERS[0].values[0]
    root = tmp_path / "conf"
    conf = root / "etc" / "leasebox" / "leasebox.conf"
    ip("-n", netns, "link", "del", IFACE)
    nc = start_netconf(netns, python, listening=True, config_root=root,
                       policy="[Network]\nRouteMetric=100\n")
    wait_for("netconf waiting", lambda: "waiting for" in nc.output(), 10)
    nc.connect()
    conf.write_text("[Network]\nRouteMetric=200\n")
    ip("-n", netns, "link", "add", IFACE, "type", "veth", "peer", "name", "nc2")
    ip("-n", netns, "link", "set", "nc2", "up")
    assert nc.request(lease(1)).status == OK
    assert {r[2] for r in route_set(netns)} == {100}
    nc.close_engine()
    assert nc.listen_path is not None
    nc.sock = connected_by_another_process(nc.listen_path)
    assert nc.request(lease(2)).status == OK
    assert {r[2] for r in route_set(netns)} == {200}



def test_an_engine_that_connects_to_a_ready_netconf_gets_the_files_as_they_are(
        netns: str, start_netconf: Any, tmp_path: Path) -> None:
    """The files as at netconf's start are for an engine whose connection waited for it:
    one that comes to a netconf already serving started later, and read them later."""
    python = INTERPRETERS[0].values[0]
    root = tmp_path / "conf"
    conf = root / "etc" / "leasebox" / "leasebox.conf"
    nc = start_netconf(netns, python, listening=True, config_root=root,
                       policy="[Network]\nRouteMetric=100\n")
    wait_for("netconf ready", lambda: "listening for the engine" in nc.output(), 10)
    conf.write_text("[Network]\nRouteMetric=200\n")
    nc.connect()
    assert nc.request(lease(1)).status == OK
    assert {r[2] for r in route_set(netns)} == {200}


def test_route_table_changed_with_the_lease_kept(netns: str, start_netconf: Any) -> None:
    """RouteTable= changed and the target restarted with the lease kept: the kernel keeps an
    address's noprefixroute through a replace, so netconf re-adds it; main then has the
    subnet and the default route again, table 100 nothing (and the other way round)."""
    def main_routes() -> set[tuple[str, str | None]]:
        return {(r.get("dst", ""), r.get("gateway"))
                for r in ip_json(netns, "-4", "route", "show", "table", "main")}

    first = start_netconf(netns, INTERPRETERS[0].values[0], policy="[Network]\nRouteTable=100\n")
    assert first.request(lease(1)).status == OK
    first.stop()  # the configuration stays, in netconf.state
    # the target's restart restarts the engine too: netconf reads its files again
    second = start_netconf(netns, INTERPRETERS[0].values[0], new_engine=True)
    reply = second.request(lease(2))
    assert reply.status == OK, reply.reason
    (addr,) = addresses(netns)
    assert addr.get("noprefixroute") is None
    assert {("192.0.2.0/24", None), ("default", "192.0.2.1")} <= main_routes()
    assert {r[3] for r in route_set(netns)} == {None}  # main: no "table" in ip -j
    second.stop()
    third = start_netconf(netns, INTERPRETERS[0].values[0], policy="[Network]\nRouteTable=100\n",
                          new_engine=True)
    assert third.request(lease(3)).status == OK
    (addr,) = addresses(netns)
    assert addr.get("noprefixroute") is True
    assert not {r for r in main_routes() if "192.0.2" in r[0] or r[0] == "default"}
    assert route_set(netns) == {("192.0.2.0/24", None, 1024, "100", "link"),
                                ("default", "192.0.2.1", 1024, "100", None)}


def test_a_dns_file_gone_is_written_again_at_the_next_start(
        netns: str, start_netconf: Any, tmp_path: Path) -> None:
    """An upgrade moved the file (DNS_DIR) and removed the old one: the netconf that
    resumed the state (the DNS handed on, to the file) wrote nothing until the DNS next
    changed, and /etc/resolv.conf pointed at no file."""
    import threading

    bus_path = tmp_path / "bus.sock"
    bus = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    bus.bind(str(bus_path))
    bus.listen(4)
    bus.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:  # leasebox-bus, taking whatever it is handed
        while not done.is_set():
            try:
                conn, _ = bus.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                msg = channel.recv(conn, ipc.Peer.NETCONF, ipc.Peer.BUS)
                assert isinstance(msg, ipc.Handoff)
                channel.send(conn, ipc.HandoffResult(msg.request_id, ipc.ResultStatus.OK, ""))

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        python = INTERPRETERS[0].values[0]
        extra = ["--bus-socket", str(bus_path)]
        nc = start_netconf(netns, python, extra_args=extra)
        assert nc.request(lease(1)).status == OK
        resolv = tmp_path / "run" / "dns" / f"{IFACE}.conf"
        state = tmp_path / "run" / IFACE / "netconf.state"
        wait_for("the DNS handed on", lambda: resolv.exists()
                 and '"wanted": null' in state.read_text(), 10)
        nc.stop()  # the configuration stays
        resolv.unlink()
        again = start_netconf(netns, python, listening=True, extra_args=extra)
        wait_for("the DNS file written again", resolv.exists, 10)
        assert "nameserver 192.0.2.53" in resolv.read_text()
        assert "the DNS file is gone: writing it again" in again.output()
    finally:
        done.set()
        server.join(5)
        bus.close()
