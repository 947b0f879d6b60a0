"""Lease timers against the fake server (tests/integration/fakeserver.py), which, unlike
dnsmasq, will hand out leases shorter than two minutes, T1/T2 that break the rules, and go
silent after a given number of answers.

Times are compared on CLOCK_MONOTONIC: the fake server stamps its log lines with it, and
every network namespace shares it.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import pytest

from tests.integration.fakeserver import FakeServer, Monitor
from tests.integration.netlab import PYTHON, REPO, SERVER_IP, Lab, Leasebox, sh
from tests.waiting import wait_for

GOOD_ADDRESS = "192.0.2.100"
GOOD_DNS = "192.0.2.53"
INFINITE = 0xFFFFFFFF


def resolv_conf(box: Leasebox) -> str:
    path = box.rundir / "dns" / "veth0.conf"
    return path.read_text() if path.exists() else ""


def base_script(**kw: Any) -> dict[str, Any]:
    script: dict[str, Any] = {"address": GOOD_ADDRESS, "dns": [GOOD_DNS],
                              "domain": "example.test", "routers": [SERVER_IP]}
    script.update(kw)
    return script


# ---- the fake server on its own, with a scapy client ---------------------------------------


PROBE = r"""
import json, socket, sys, time
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
MAC = "02:00:5e:10:00:01"
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(("veth0", 0x0800))
s.settimeout(0.2)
def send(opts, xid, ciaddr="0.0.0.0", dst="255.255.255.255", dst_mac="ff:ff:ff:ff:ff:ff"):
    p = (Ether(src=MAC, dst=dst_mac) / IP(src=ciaddr, dst=dst) / UDP(sport=68, dport=67)
         / BOOTP(op=1, xid=xid, ciaddr=ciaddr, chaddr=bytes.fromhex("02005e100001"))
         / DHCP(options=opts + ["end"]))
    s.send(bytes(p))
def collect(seconds):
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, addr = s.recvfrom(4096)
        except TimeoutError:
            continue
        if addr[2] == 4:
            continue
        p = Ether(data)
        if p.haslayer(UDP) and p[UDP].dport == 68 and p.haslayer(BOOTP):
            opts = p[DHCP].options if p.haslayer(DHCP) else []
            t = [o[1] for o in opts if o[0] == "message-type"]
            out.append({"type": t[0] if t else None, "xid": p[BOOTP].xid, "dst": p[IP].dst,
                        "mac": p.dst, "yiaddr": p[BOOTP].yiaddr})
    return out
res = {}
send([("message-type", "discover")], 1)
res["discover"] = collect(1.0)
send([("message-type", "request"), ("requested_addr", "192.0.2.100"),
      ("server_id", "192.0.2.1")], 1)
res["request"] = collect(1.0)
send([("message-type", "request")], 2, ciaddr="192.0.2.100", dst="192.0.2.1",
     dst_mac=sys.argv[1])
res["renew"] = collect(1.0)
send([("message-type", "request")], 3, ciaddr="192.0.2.100")
res["silent"] = collect(1.0)
send([("message-type", "release"), ("server_id", "192.0.2.1")], 4, ciaddr="192.0.2.100",
     dst="192.0.2.1", dst_mac=sys.argv[1])
print(json.dumps(res))
"""


def test_fake_server_alone_with_a_scapy_client(lab: Lab) -> None:
    """The server itself: replies, addressing, hostile bursts, going silent, its log."""
    server = FakeServer(lab, base_script(
        answer_first=3, hostile={"DISCOVER": [["wrong_xid", "option_past_end"]]})).start()
    server_mac = lab.ipj(lab.server, "link", "show", "dev", "veth1")[0]["address"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = lab.ip(lab.client, "link", "show")  # the namespace exists
    assert "veth0" in out
    res = json.loads(sh(["ip", "netns", "exec", lab.client, PYTHON, "-c", PROBE, server_mac],
                        env=env, timeout=30).stdout)
    offers = [m for m in res["discover"] if m["xid"] == 1]
    assert [m["type"] for m in offers] == [2, 2]  # option_past_end (right xid), then good
    assert len(res["discover"]) == 3  # plus wrong_xid
    assert offers[-1]["dst"] == "255.255.255.255" and offers[-1]["mac"] == "ff:ff:ff:ff:ff:ff"
    assert [m["type"] for m in res["request"]] == [5]
    assert res["request"][0]["yiaddr"] == GOOD_ADDRESS
    assert [(m["type"], m["dst"], m["mac"]) for m in res["renew"]] == [
        (5, GOOD_ADDRESS, "02:00:5e:10:00:01")]
    assert res["silent"] == []  # answer_first=3
    server.wait("RECV RELEASE unicast 192.0.2.100->192.0.2.1", 5)
    assert server.count(r"^RECV REQUEST unicast .* state=renewing") == 1
    assert server.count(r"^RECV REQUEST broadcast .* state=rebinding") == 1
    assert server.count(r"^RECV REQUEST broadcast .* state=selecting") == 1
    assert server.count(r"^SEND HOSTILE wrong_xid frames=1") == 1
    assert server.count(r"^SILENT REQUEST") == 1
    server.stop()
    assert server.log().rstrip().endswith("EXIT signal")


def test_fake_server_stops_by_itself(lab: Lab) -> None:
    server = FakeServer(lab, base_script(), max_seconds=1.0).start()
    assert server.proc is not None and server.proc.wait(10) == 0
    assert "EXIT max-seconds reached" in server.log()


# ---- timers ---------------------------------------------------------------------------------

SELECTING = r"^RECV REQUEST broadcast .* state=selecting"
RENEWING = r"^RECV REQUEST unicast .* state=renewing"
REBINDING = r"^RECV REQUEST broadcast .* state=rebinding"
DISCOVERING = r"^RECV DISCOVER "
ANY_REQUEST = r"^RECV REQUEST "


def dhcp_routes(lab: Lab) -> list[dict[str, Any]]:
    return [r for r in lab.routes() if r.get("protocol") == "dhcp"]


def bind(lab: Lab, script: dict[str, Any], *engine_args: str
         ) -> tuple[FakeServer, Leasebox, Monitor, float]:
    """Fake server, ip monitor, leasebox; returns when bound, with the time the server saw
    the REQUEST that got the lease (where the client counts its lease from, give or take
    the veth's microseconds)."""
    server = FakeServer(lab, script).start()
    monitor = Monitor(lab).start()
    box = Leasebox(lab, *engine_args).start()
    addr = lab.wait_address(timeout=20)
    assert addr["local"] == GOOD_ADDRESS
    acquired = server.lines(SELECTING)[-1].time
    return server, box, monitor, acquired


def no_crash(box: Leasebox) -> None:
    log = box.log()
    assert "Traceback" not in log, log[-3000:]
    assert " exited with " not in log, log[-3000:]


def test_expiry_removes_everything_when_the_server_never_returns(lab: Lab) -> None:
    # answer the first DISCOVER and REQUEST, then nothing
    server, box, _, acquired = bind(lab, base_script(lease_time=12, t1=4, t2=8, answer_first=2),
                                    "--min-lease-time=5")
    wait_for("resolv.conf", lambda: GOOD_DNS in resolv_conf(box), 5)
    assert [r["gateway"] for r in dhcp_routes(lab) if r["dst"] == "default"] == [SERVER_IP]
    assert lab.address() is not None and lab.address()["valid_life_time"] <= 12  # type: ignore[index]

    renew = server.wait(RENEWING, 8)[0].time - acquired
    assert 3.5 <= renew <= 5.5, f"RENEWING at {renew:.2f} s, T1 is 4 s"
    rebind = server.wait(REBINDING, 8)[0].time - acquired
    assert 7.5 <= rebind <= 9.5, f"REBINDING at {rebind:.2f} s, T2 is 8 s"
    assert server.count(RENEWING) == 1  # retransmission is not due before T2 (>= 60 s)

    lab.wait_no_address(timeout=8)
    gone = time.monotonic() - acquired
    assert 11.0 <= gone <= 13.5, f"address removed at {gone:.2f} s, the lease is 12 s"
    wait_for("the DHCP routes to go", lambda: not dhcp_routes(lab), 3)
    wait_for("resolv.conf to go", lambda: not (box.rundir / "dns" / "veth0.conf").exists(), 3)
    # and it starts over
    again = server.wait(DISCOVERING, 8, count=2)[1].time - acquired
    assert again >= 11.0
    assert server.count(REBINDING) == 1
    assert lab.address() is None
    no_crash(box)


@pytest.mark.parametrize("lease_time", [0, 2])
def test_a_tiny_lease_is_raised_to_the_minimum(lab: Lab, lease_time: int) -> None:
    # --min-lease-time=10: the lease counts as 10 s, so T1 = 5 s, and the address is not
    # dropped after 0 or 2 s
    server, box, monitor, acquired = bind(lab, base_script(lease_time=lease_time),
                                          "--min-lease-time=10")
    addr = lab.address()
    assert addr is not None and addr["valid_life_time"] > 2
    renew = server.wait(RENEWING, 10)[0].time - acquired
    assert 4.5 <= renew <= 6.5, f"first renewal at {renew:.2f} s; T1 of a 10 s lease is 5 s"
    assert server.count(ANY_REQUEST) == 2  # the first exchange and this renewal, no storm
    wait_for("the renewal's ACK", lambda: server.count(r"^SEND ACK") == 2, 3)
    time.sleep(0.3)
    assert monitor.deleted_addresses() == [], "the address flapped"
    assert lab.address() is not None
    assert server.count(DISCOVERING) == 1
    no_crash(box)


def test_an_infinite_lease_is_forever(lab: Lab) -> None:
    server, box, _, _ = bind(lab, base_script(lease_time=INFINITE))
    addr = lab.address()
    assert addr is not None
    assert addr["valid_life_time"] == INFINITE and addr["preferred_life_time"] == INFINITE
    time.sleep(3)
    assert server.count(ANY_REQUEST) == 1
    assert server.count(DISCOVERING) == 1
    no_crash(box)


@pytest.mark.parametrize(("t1", "t2"), [(9, 3), (8, 8), (4, 12)],
                         ids=["T1>T2", "T1=T2", "T2=lease"])
def test_broken_t1_t2_still_renew_then_rebind_before_expiry(lab: Lab, t1: int, t2: int) -> None:
    # The server answers only the first exchange. Whatever the clamp, a sane client renews
    # (unicast) first, rebinds (broadcast) later, and both before the lease runs out.
    server, box, _, acquired = bind(lab, base_script(lease_time=12, t1=t1, t2=t2,
                                                     answer_first=2), "--min-lease-time=5")
    first = server.wait(r"^RECV REQUEST ", 13, count=2)[1]
    assert re.search(RENEWING, first.text), f"after binding it sent: {first.text}"
    renew = first.time - acquired
    assert 3.5 <= renew <= 7.5, f"RENEWING at {renew:.2f} s of a 12 s lease"
    rebind = server.wait(REBINDING, 10)[0].time - acquired
    assert renew < rebind < 11.9, f"REBINDING at {rebind:.2f} s of a 12 s lease"
    lab.wait_no_address(timeout=6)
    gone = time.monotonic() - acquired
    assert 11.0 <= gone <= 13.5, f"address removed at {gone:.2f} s, the lease is 12 s"
    no_crash(box)


def test_a_second_server_on_the_link_is_reported(lab: Lab) -> None:
    """Security hardening ("also"): dnsmasq and a second server both answer; the engine
    names them in one journal event (its own MESSAGE_ID) and in its status."""
    from tests.integration.netlab import Dnsmasq

    Dnsmasq(lab).start()
    rogue = FakeServer(lab, base_script(server_id="192.0.2.99", address="192.0.2.160"),
                       name="rogue").start()
    box = Leasebox(lab).start()
    box.wait_bound()
    wait_for("the rogue's OFFER", lambda: rogue.count("SEND OFFER") >= 1, 10)
    wait_for("the event", lambda: "more than one DHCP server answers on veth0" in box.log(), 10)
    assert "192.0.2.99" in box.log() and SERVER_IP in box.log()
    rogue.stop()
    box.stop()
