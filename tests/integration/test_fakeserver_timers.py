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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.netlab import PYTHON, REPO, SERVER_IP, Lab, Leasebox, wait_for

GOOD_ADDRESS = "192.0.2.100"
GOOD_DNS = "192.0.2.53"
INFINITE = 0xFFFFFFFF


# ---- the fake server in the lab (used by test_hostile.py too) ------------------------------


@dataclass(frozen=True)
class LogLine:
    time: float
    text: str


class FakeServer:
    def __init__(self, lab: Lab, script: dict[str, Any], max_seconds: float = 90.0,
                 name: str = "fakeserver") -> None:
        self.lab = lab
        self.script_path = lab.tmp / f"{name}.json"
        self.logfile = lab.tmp / f"{name}.log"
        self.script_path.write_text(json.dumps(script, indent=1))
        self.max_seconds = max_seconds
        self.proc: Any = None

    def start(self) -> FakeServer:
        argv = [PYTHON, "-m", "tests.integration.fakeserver", "--iface", "veth1",
                "--script", str(self.script_path), "--log", str(self.logfile),
                "--max-seconds", str(self.max_seconds)]
        env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'src'}")
        self.proc = self.lab.spawn(self.lab.server, argv, self.lab.tmp / "fakeserver.out",
                                   env=env, cwd=str(REPO))
        wait_for("the fake server", lambda: " READY " in self.log() or self._died(), 15)
        if self._died():
            out = (self.lab.tmp / "fakeserver.out").read_text(errors="replace")
            raise RuntimeError(f"fake server exited:\n{out}")
        return self

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self) -> None:
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def lines(self, pattern: str = "") -> list[LogLine]:
        out = []
        for raw in self.log().splitlines():
            stamp, _, text = raw.partition(" ")
            if re.search(pattern, text):
                out.append(LogLine(float(stamp), text))
        return out

    def count(self, pattern: str) -> int:
        return len(self.lines(pattern))

    def wait(self, pattern: str, timeout: float, count: int = 1) -> list[LogLine]:
        found: list[LogLine] = wait_for(f"{count} x {pattern!r} in the fake server's log",
                                        lambda: (lambda ls: ls if len(ls) >= count else None)(
                                            self.lines(pattern)), timeout)
        return found


def resolv_conf(box: Leasebox) -> str:
    path = box.rundir / "veth0" / "resolv.conf"
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
            t = [o[1] for o in p[DHCP].options if o[0] == "message-type"] if p.haslayer(DHCP) else []
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
    from tests.integration.netlab import sh

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
    assert server.proc.wait(10) == 0
    assert "EXIT max-seconds reached" in server.log()
