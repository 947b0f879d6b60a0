"""leasebox where the server is not simply at the other end of the cable (issue 14, items 4
and 5): behind a relay on a router (ISC dhcrelay, Kea beyond it), and a second server
taking over at T2 when the first dies (Kea and Kea). The NAK-at-renewal case of item 4 is
test_dnsmasq.test_nak_on_renewal_after_the_server_forgets and, with Kea and dhcpd,
test_servers.test_nak_then_a_new_lease."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.netlab import SERVER_IP, Lab, Leasebox, sh
from tests.integration.servers import Kea
from tests.waiting import wait_for

FAR_IP, ROUTER_FAR_IP = "198.51.100.2", "198.51.100.1"
SECOND_IP = "192.0.2.2"


@pytest.fixture
def extra_ns(lab: Lab) -> Iterator[str]:
    """A third namespace, deleted after the test (the lab deletes its own two)."""
    name = f"{lab.server}-x"
    sh(["ip", "netns", "add", name])
    lab.ip(name, "link", "set", "lo", "up")
    try:
        yield name
    finally:
        for proc in reversed(lab.procs):  # what runs in it goes first
            if proc.poll() is None:
                lab.stop(proc, timeout=10)
        sh(["ip", "netns", "del", name], check=False)


def _veth(lab: Lab, ns_a: str, dev_a: str, ns_b: str, dev_b: str) -> None:
    sh(["ip", "link", "add", dev_a, "netns", ns_a, "type", "veth", "peer", "name", dev_b,
        "netns", ns_b])
    lab.ip(ns_a, "link", "set", dev_a, "up")
    lab.ip(ns_b, "link", "set", dev_b, "up")


def _monitor(lab: Lab) -> tuple[subprocess.Popen[bytes], Path]:
    """`ip monitor address` on the client, from now on."""
    log = lab.tmp / "monitor.log"
    proc = lab.spawn(lab.client, ["ip", "-o", "monitor", "address", "dev", "veth0"], log)
    return proc, log


def test_lease_and_unicast_renewal_through_a_relay(lab: Lab, extra_ns: str) -> None:
    # client veth0 -- veth1 [router: 192.0.2.1, dhcrelay, forwarding] veth2 -- veth3 [Kea]
    router, far = lab.server, extra_ns
    _veth(lab, router, "veth2", far, "veth3")
    lab.ip(router, "addr", "add", f"{ROUTER_FAR_IP}/24", "dev", "veth2")
    lab.ip(far, "addr", "add", f"{FAR_IP}/24", "dev", "veth3")
    lab.ip(far, "route", "add", "192.0.2.0/24", "via", ROUTER_FAR_IP)
    sh(["ip", "netns", "exec", router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    kea = Kea(lab, ns=far, interface="veth3", relayed=True).start()
    relay = lab.spawn(router, ["dhcrelay", "-4", "-d", "-pf", str(lab.tmp / "dhcrelay.pid"),
                               "-id", "veth1", "-iu", "veth2", FAR_IP], lab.tmp / "dhcrelay.log")
    wait_for("dhcrelay", lambda: "Sending on" in (lab.tmp / "dhcrelay.log").read_text()
             or relay.poll() is not None, 10)
    assert relay.poll() is None, (lab.tmp / "dhcrelay.log").read_text()
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    assert addr["local"].startswith("192.0.2.1")  # Kea's pool, 192.0.2.100-150
    default = [r for r in lab.routes() if r["dst"] == "default"]
    assert [r["gateway"] for r in default] == [SERVER_IP]
    box.wait_bound()
    assert kea.received_from("DHCPREQUEST") == [ROUTER_FAR_IP]  # relayed
    # At T1 the client renews by unicast to the server identifier, across the router.
    wait_for("a renewal at Kea", lambda: kea.count("DHCPACK") >= 2, 10)
    assert kea.received_from("DHCPREQUEST")[1] == addr["local"]
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]
    assert f"from {FAR_IP}" in box.log()  # the server identifier beyond the router


def test_second_server_takes_over_at_t2(lab: Lab, extra_ns: str) -> None:
    # One link, two servers: A (192.0.2.1) in the lab's server namespace and B (192.0.2.2)
    # in another, joined by a bridge; the same pool, different server identifiers.
    other = extra_ns
    lab.ip(lab.server, "addr", "del", f"{SERVER_IP}/24", "dev", "veth1")
    lab.ip(lab.server, "link", "add", "br0", "type", "bridge")
    lab.ip(lab.server, "link", "set", "veth1", "master", "br0")
    lab.ip(lab.server, "addr", "add", f"{SERVER_IP}/24", "dev", "br0")
    lab.ip(lab.server, "link", "set", "br0", "up")
    _veth(lab, lab.server, "vethb", other, "veth9")
    lab.ip(lab.server, "link", "set", "vethb", "master", "br0")
    lab.ip(other, "addr", "add", f"{SECOND_IP}/24", "dev", "veth9")
    monitor, monitor_log = _monitor(lab)
    first = Kea(lab, name="kea-a", interface="br0").start()
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    box.wait_bound()
    first.stop()  # the server dies with the lease granted
    second = Kea(lab, name="kea-b", ns=other, interface="veth9").start()
    # T1 (4 s): renewals to A go unanswered; T2 (7 s): REBINDING, broadcast, and B ACKs.
    wait_for("B's ACK to the rebinding client", lambda: second.count("DHCPACK") >= 1, 12)
    assert second.count("DHCPDISCOVER") == 0  # rebinding, not a new lease
    wait_for("the rebound lease", lambda: "Rebound" in box.log(), 5)
    box.wait_bound()
    assert f"from {SECOND_IP}" in box.log()
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]
    lab.stop(monitor)
    log = monitor_log.read_text()
    assert addr["local"] in log and "Deleted" not in log, log
