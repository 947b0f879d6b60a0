"""The core scenarios against other real servers than dnsmasq (issue 14, item 5): ISC Kea
and ISC dhcpd, each across the lab's veth pair: a lease with its options applied, renewal
at T1 unicast, RELEASE, INIT-REBOOT from the lease file, and a NAK followed by a new DISCOVER."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.netlab import SERVER_IP, Lab, Leasebox
from tests.integration.servers import DNS, Dhcpd, Kea, forget, give_to_another
from tests.waiting import wait_for

Server = Kea | Dhcpd
SERVERS: dict[str, Callable[..., Server]] = {"kea": Kea, "dhcpd": Dhcpd}
POOLS = {"kea": ("192.0.2.100 - 192.0.2.150", "192.0.2.200 - 192.0.2.220"),
         "dhcpd": ("192.0.2.160 192.0.2.199", "192.0.2.200 192.0.2.220")}


def _server(lab: Lab, kind: str, second_pool: bool = False) -> Server:
    pool = POOLS[kind][1 if second_pool else 0]
    if kind == "kea":
        return Kea(lab, pool=pool)
    return Dhcpd(lab, range_=pool)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_lease_options_renewal_and_release(lab: Lab, kind: str) -> None:
    server = _server(lab, kind).start()
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    low, high = (int(a.rsplit(".", 1)[1]) for a in POOLS[kind][0].replace(" - ", " ").split())
    assert low <= int(addr["local"].rsplit(".", 1)[1]) <= high and addr["prefixlen"] == 24
    default = [r for r in lab.routes() if r["dst"] == "default"]
    assert [r["gateway"] for r in default] == [SERVER_IP]
    resolv = wait_for("resolv.conf", lambda: _read(box.rundir / "dns" / "veth0.conf"), 5)
    assert f"nameserver {DNS}" in resolv and f"{kind}.example" in resolv
    box.wait_bound()
    assert server.count("DHCPDISCOVER") == 1
    wait_for("a renewal at T1", lambda: server.count("DHCPACK") >= 2, 10)
    assert server.count("DHCPDISCOVER") == 1
    if isinstance(server, Kea):  # unicast from the leased address (RFC 2131 4.4.5)
        assert server.received_from("DHCPREQUEST")[-1] == addr["local"]
    assert "RENEWING" in box.log()
    again = lab.address()
    assert again is not None and again["local"] == addr["local"]
    assert box.stop() == 0
    assert lab.address() is None
    wait_for(f"DHCPRELEASE at {kind}", lambda: server.count("DHCPRELEASE") == 1, 5)


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_init_reboot_from_the_lease_file(lab: Lab, kind: str) -> None:
    server = _server(lab, kind).start()
    box = Leasebox(lab, "--no-release").start()
    addr = lab.wait_address()
    box.wait_bound()
    assert box.stop() == 0
    lab.ip(lab.client, "addr", "flush", "dev", "veth0")  # as after a reboot
    discovers, requests = server.count("DHCPDISCOVER"), server.count("DHCPREQUEST")
    Leasebox(lab).start()
    again = lab.wait_address()
    assert again["local"] == addr["local"]
    assert server.count("DHCPDISCOVER") == discovers  # INIT-REBOOT: a REQUEST only
    assert server.count("DHCPREQUEST") > requests


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_nak_then_a_new_lease(lab: Lab, kind: str) -> None:
    server = _server(lab, kind).start()
    box = Leasebox(lab).start()
    addr = lab.wait_address()
    server.stop()
    # Back without the lease. A server that merely has no record of an address stays
    # silent at renewal (RFC 2131 4.3.2), and both do: dhcpd is made to believe the
    # address is another client's, so it NAKs the renewal; Kea serves another pool, and
    # NAKs the INIT-REBOOT that a carrier flap starts (the address is out of its pools).
    if isinstance(server, Dhcpd):
        give_to_another(server, addr["local"])
        server = Dhcpd(lab, range_=POOLS[kind][0]).start()
    else:
        forget(server)
        server = _server(lab, kind, second_pool=True).start()
        lab.ip(lab.server, "link", "set", "veth1", "down")
        # the kernel folds a flap shorter than its link-watch delay (up to 1 s) into one
        # event, which then says nothing changed: wait until the client has seen it
        wait_for("no carrier", lambda: "carrier" in box.status().lower(), 5)
        lab.ip(lab.server, "link", "set", "veth1", "up")
    wait_for(f"a DHCPNAK from {kind}", lambda: server.count("DHCPNAK") >= 1, 12)
    new = lab.wait_address(timeout=15, not_=addr["local"])
    if isinstance(server, Kea):
        assert new["local"].startswith("192.0.2.2")  # from the second pool
    assert server.count("DHCPDISCOVER") >= 1
    assert len(lab.addresses()) == 1
