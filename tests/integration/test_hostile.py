"""The hostile-input catalogue (notes/hostile-dhcp-inputs.md) end to end: a fake server
sends bursts of bad frames (hostile_cases.py) before each good reply, and leasebox must end
up with the good lease, never apply anything from the bad ones, and never crash.

What is watched while each test runs, not only at its end:
- `ip monitor` in the client namespace: every address and route ever added;
- a thread reading resolv.conf every 20 ms (written atomically, so each read is a version);
- the launcher's log (restarts, tracebacks) and the fake server's log (every REQUEST).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dhcp import DHCP
from scapy.layers.l2 import Ether

from leasebox.core.machine.lease import T1_FLOOR
from tests.integration import hostile_cases as hc
from tests.integration.fakeserver import ACK, OFFER, Ctx, FakeServer, Monitor, Script
from tests.integration.netlab import SERVER_IP, Lab, Leasebox
from tests.waiting import wait_for

GOOD_ADDRESS = "192.0.2.100"
GOOD_DNS = "192.0.2.53"
GOOD_NAMES = ("example.test", "corp.example.test")
GOOD_ROUTES = [("198.51.100.0/24", "192.0.2.254"), ("0.0.0.0/0", SERVER_IP)]


def good_script(**kw: Any) -> dict[str, Any]:
    script: dict[str, Any] = {
        "address": GOOD_ADDRESS, "dns": [GOOD_DNS], "domain": GOOD_NAMES[0],
        "search": list(GOOD_NAMES), "routers": [SERVER_IP],
        "classless_routes": [list(r) for r in GOOD_ROUTES],
    }
    script.update(kw)
    return script


# ---- watching -----------------------------------------------------------------------------


class ResolvWatch:
    """Every version of resolv.conf seen while the test runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.versions: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ResolvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                text = self.path.read_text(errors="replace")
            except OSError:
                continue
            if not self.versions or self.versions[-1] != text:
                self.versions.append(text)


RESOLV_LINE = re.compile(
    r"# Written by leasebox-netconf for veth0 from its DHCP lease\. Do not edit\."
    r"|nameserver (?P<ns>\S+)"
    r"|search (?P<search>.+)")


def resolv_problems(text: str) -> list[str]:
    out = []
    for line in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
        m = RESOLV_LINE.fullmatch(line)
        if m is None:
            out.append(f"unexpected line {line!r}")
        elif m["ns"] is not None and m["ns"] != GOOD_DNS:
            out.append(f"nameserver {m['ns']!r}")
        elif m["search"] is not None and not set(m["search"].split(" ")) <= set(GOOD_NAMES):
            out.append(f"search {m['search']!r}")
    return out


class Run:
    """Fake server, ip monitor, leasebox and a resolv.conf watch, for one test."""

    def __init__(self, lab: Lab, script: dict[str, Any], *engine_args: str,
                 netconf_args: tuple[str, ...] = (), server_seconds: float = 90.0) -> None:
        self.lab = lab
        self.server = FakeServer(lab, script, max_seconds=server_seconds).start()
        self.monitor = Monitor(lab).start()
        self.box = Leasebox(lab, *engine_args, netconf_args=netconf_args)
        self.resolv = ResolvWatch(self.box.rundir / "dns" / "veth0.conf")
        self.pids: dict[str, int] = {}

    def __enter__(self) -> Run:
        self.resolv.__enter__()
        self.box.start()
        self.pids = wait_for("three services", lambda: (lambda p: p if len(p) == 3 else None)(
            self.box.pids()), 10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.resolv.__exit__()

    def wait_acks(self, count: int, timeout: float) -> None:
        """Until the server has sent `count` ACKs and the lease is applied (netconf writes
        resolv.conf after the address)."""
        self.server.wait(r"^SEND ACK ", timeout, count=count)
        wait_for("the lease applied", lambda: (a := self.lab.address()) is not None
                 and a["local"] == GOOD_ADDRESS, 5)
        wait_for("resolv.conf", lambda: self.resolv.versions
                 and f"nameserver {GOOD_DNS}" in self.resolv.versions[-1], 5)

    def assert_no_crash(self) -> None:
        log = self.box.log()
        assert "Traceback" not in log, log[-4000:]
        assert " exited with " not in log, log[-4000:]
        assert self.box.pids() == self.pids, "a service was restarted"

    def assert_clean(self, *, final: bool = True) -> None:
        """Nothing bad was ever applied, nothing crashed, and the good lease is in place."""
        self.assert_no_crash()
        log = self.box.log()
        assert "\x1b" not in log, "an escape sequence from the network reached the log"
        assert not re.search(r"^nameserver ", log, re.M), "a newline from the network in the log"
        assert not Path(hc.PWNED_FILE).exists()

        addresses = self.monitor.addresses()
        assert set(addresses) == {f"{GOOD_ADDRESS}/24"}, (addresses, hc.explain(str(addresses)))
        bad_routes = [r for r in self.monitor.routes()
                      if hc.ATTACKER_GW in r or "/1 " in r or r.startswith("10.")
                      or hc.explain(r) or "203.0.113." in r]
        assert not bad_routes, (bad_routes, hc.explain(str(bad_routes)))
        for version in self.resolv.versions:
            problems = resolv_problems(version)
            assert not problems, (problems, version, hc.explain(version))
        requested = [line.text for line in self.server.lines(r"^RECV REQUEST ")
                     if f"requested={GOOD_ADDRESS}" not in line.text
                     and "requested=-" not in line.text]
        assert not requested, (requested, hc.explain(str(requested)))
        if final:
            # the watches saw the good lease, so their silence about bad ones means something
            assert self.resolv.versions and not resolv_problems(self.resolv.versions[-1])
            assert any(r.startswith(f"default via {SERVER_IP} ") for r in self.monitor.routes())
            addr = self.lab.address()
            assert addr is not None and addr["local"] == GOOD_ADDRESS
            default = [r for r in self.lab.routes() if r["dst"] == "default"]
            assert [r.get("gateway") for r in default] == [SERVER_IP]
            assert f"nameserver {GOOD_DNS}" in self.resolv.path.read_text()


# ---- the catalogue builds (no network) ---------------------------------------------------


@pytest.mark.parametrize("reply_type", [OFFER, ACK])
@pytest.mark.parametrize("ciaddr", ["0.0.0.0", GOOD_ADDRESS])
def test_every_case_builds_frames_that_fit(reply_type: int, ciaddr: str) -> None:
    ctx = Ctx(script=Script.from_json(good_script()), server_mac="02:00:5e:10:00:02",
              client_mac="02:00:5e:10:00:01", chaddr=bytes.fromhex("02005e100001") + bytes(10),
              xid=0x01020304, ciaddr=ciaddr, reply_type=reply_type)
    for name, build in hc.CASES.items():
        frames = build(ctx)
        assert all(14 <= len(f) <= 1514 for f in frames), name
    for name in ("forcerenew_unicast", "forcerenew_broadcast", "forcerenew_same_xid"):
        pkt = Ether(hc.CASES[name](ctx)[0])
        assert ("message-type", 9) in pkt[DHCP].options, name
    assert len(hc.REJECT) == len(hc.MARKERS) and len(set(hc.CASES)) == len(hc.CASES)
    assert hc.explain("nameserver 203.0.113.1") == [hc.REJECT[0]]


def test_the_resolv_conf_check_catches_injections() -> None:
    head = "# Written by leasebox-netconf for veth0 from its DHCP lease. Do not edit.\n"
    assert resolv_problems(head + f"nameserver {GOOD_DNS}\nsearch example.test\n") == []
    for bad in ("nameserver 203.0.113.9\n", "search evil.test\n", "search -x\n",
                "options ndots:15\n", "search example.test; reboot\n", "nameserver  \n"):
        assert resolv_problems(head + bad), bad


# ---- end to end ---------------------------------------------------------------------------


# Each is a REJECT case leasebox is known to take; each has its own test below, so that
# it does not hide the others (the first accepted reply ends an exchange).
KNOWN_TAKEN = ["wrong_source_port"]
REJECT = [c for c in hc.REJECT if c not in KNOWN_TAKEN]


def test_rejected_replies_are_ignored_while_selecting_requesting_and_renewing(lab: Lab) -> None:
    # Every REJECT case before the OFFER (with every TOLERATE case as an OFFER too), before
    # the ACK to the selecting REQUEST, and before the ACK to the first renewal (unicast).
    script = good_script(lease_time=12, t1=2, t2=10, hostile={
        "DISCOVER": [REJECT + hc.TOLERATE],
        "REQUEST": [REJECT, REJECT],
    })
    with Run(lab, script, "--min-lease-time=5") as run:
        run.wait_acks(3, 25)  # selecting, and two renewals (T1 raised to 5 s: T1_FLOOR)
        assert run.server.count(r"^RECV DISCOVER ") == 1, "a NAK with the wrong xid/chaddr?"
        assert run.server.count(r"^RECV REQUEST unicast .* state=renewing") == 2
        wait_for("Bound", lambda: run.box.status().startswith("Bound"), 5)
        run.assert_clean()


def test_reply_from_a_wrong_source_port_is_ignored(lab: Lab) -> None:
    # The catalogue: "wrong ports: frame rejected". A reply must come from port 67; this
    # one comes from 53, as an OFFER and as an ACK.
    case = "wrong_source_port"
    script = good_script(hostile={"DISCOVER": [[case]], "REQUEST": [[case]]})
    with Run(lab, script) as run:
        lab.wait_address(timeout=15)  # the good one, or the marked one when it got through
        time.sleep(0.3)
        run.assert_clean()


# One case per renewal, so each one meets a client in RENEWING that could take it; cases
# that are only about parsing ride along as the second of a pair.
APPLIED = [
    "classless_prefix_33", "classless_truncated_destination", "classless_trailing_bytes",
    "overload_nested_points_at_sname", "data_after_end", "dns_5_bytes", "router_3_bytes",
    "search_cve_2020_7461_poc", "search_pointer_loop", "search_forward_pointer",
    "search_pointer_in_last_byte", "search_expansion_past_255", "strings_shell_metacharacters",
    "strings_newlines", "strings_leading_dash", "strings_control_bytes",
    "strings_quotes_and_spaces", "split_options",
]
PARSED = [c for c in hc.TOLERATE if c not in APPLIED]


def test_broken_options_one_per_renewal(lab: Lab) -> None:
    assert set(APPLIED) <= set(hc.TOLERATE)
    bursts: list[list[str]] = [[]] + [[a] + ([PARSED[i]] if i < len(PARSED) else [])
                     for i, a in enumerate(APPLIED)] + [[]]
    script = good_script(lease_time=12, t1=1, t2=10, hostile={"REQUEST": bursts})
    # a renewal every 5 s at most, whatever T1 the server sends (lease.T1_FLOOR)
    seconds = T1_FLOOR * len(bursts) + 15
    with Run(lab, script, "--min-lease-time=5", server_seconds=seconds + 10) as run:
        run.wait_acks(len(bursts), seconds)
        time.sleep(0.3)
        assert run.server.count(r"^RECV DISCOVER ") == 1
        run.assert_clean()
        sent = run.server.count(r"^SEND HOSTILE ")
        assert sent == len(APPLIED) + min(len(APPLIED), len(PARSED))


def test_an_empty_option_121_is_dropped_and_the_router_option_used(lab: Lab) -> None:
    # RFC 3442: option 121 is at least 5 octets. An empty one is malformed and dropped
    # (wire/routes.py), so it cannot override the Router option and remove the default route.
    with Run(lab, good_script(hostile={"REQUEST": [["classless_empty"]]})) as run:
        run.wait_acks(1, 15)
        wait_for("Bound", lambda: run.box.status().startswith("Bound"), 5)
        time.sleep(0.3)
        dhcp_routes = [r for r in run.monitor.routes() if "proto dhcp" in r]
        assert any(r.startswith("default via " + SERVER_IP) for r in dhcp_routes), dhcp_routes
        assert f"nameserver {GOOD_DNS}" in run.resolv.path.read_text()
        run.assert_clean(final=False)


def test_forcerenew_is_ignored(lab: Lab) -> None:
    script = good_script(after_ack=[[0.5, ["forcerenew_unicast"]],
                                    [0.8, ["forcerenew_broadcast"]],
                                    [1.1, ["forcerenew_same_xid"]]])
    with Run(lab, script) as run:
        run.wait_acks(1, 15)
        sent = run.server.wait(r"^SEND HOSTILE forcerenew_", 5, count=3)
        time.sleep(2.5)
        after = [line.text for line in run.server.lines(r"^RECV (REQUEST|DISCOVER) ")
                 if line.time > sent[0].time]
        assert after == [], f"FORCERENEW made the client ask: {after}"
        # it did reach the engine (logged once a minute), so the silence is its decision
        assert "FORCERENEW" in run.box.log()
        assert run.box.status().startswith("Bound")
        run.assert_clean()


def test_a_flood_of_junk_does_not_stop_the_lease(lab: Lab) -> None:
    script = good_script(hostile={"DISCOVER": [["flood"]], "REQUEST": [["flood_small"]]})
    with Run(lab, script) as run:
        started = time.monotonic()
        run.wait_acks(1, 30)
        took = time.monotonic() - started
        assert run.server.count(r"^SEND HOSTILE flood frames=5000") == 1
        assert run.server.count(r"^SEND-FAILED") == 0
        assert "dropped" in run.box.log()  # the junk did reach the engine
        wait_for("Bound", lambda: run.box.status().startswith("Bound"), 5)
        run.assert_clean()
        # the OFFER follows 5,000 frames paced over ~2.5 s; a client that keeps up binds soon
        # after, one that drowns waits for a DISCOVER retransmission (4 s, 8 s, ...)
        assert took < 15, f"bound after {took:.1f} s"


# ---- TunnelVision (CVE-2024-3661): option 121 routes that beat the default route ---------

TUNNELVISION = [list(r) for r in hc.attacker_routes()] + [["0.0.0.0/0", SERVER_IP]]


def _half_routes(lab: Lab, table: str = "main") -> list[tuple[str, str | None]]:
    return [(r["dst"], r.get("gateway")) for r in lab.routes(table)
            if r["dst"] in ("0.0.0.0/1", "128.0.0.0/1")]


def test_tunnelvision_routes_are_applied_by_default(lab: Lab) -> None:
    # ClasslessRoutes=main (the default) applies the routes as given: this is the attack,
    # and the reason the policy below exists.
    with Run(lab, good_script(classless_routes=TUNNELVISION)) as run:
        run.wait_acks(1, 15)
        wait_for("the /1 routes", lambda: len(_half_routes(lab)) == 2, 5)
        assert sorted(_half_routes(lab)) == [("0.0.0.0/1", hc.ATTACKER_GW),
                                             ("128.0.0.0/1", hc.ATTACKER_GW)]
        run.assert_no_crash()


def _policy(lab: Lab, value: str) -> tuple[str, ...]:
    root = lab.tmp / "config-root"
    path = root / "etc" / "leasebox" / "leasebox.conf"
    path.parent.mkdir(parents=True)
    path.write_text(f"[Network]\nClasslessRoutes={value}\n")
    return (f"--config-root={root}",)


def test_tunnelvision_routes_are_ignored_with_classless_routes_ignore(lab: Lab) -> None:
    with Run(lab, good_script(classless_routes=TUNNELVISION),
             netconf_args=_policy(lab, "ignore")) as run:
        run.wait_acks(1, 15)
        wait_for("BOUND", lambda: run.box.status().startswith("Bound"), 5)
        time.sleep(0.3)
        assert _half_routes(lab) == []
        assert not [r for r in run.monitor.routes() if hc.ATTACKER_GW in r]
        # option 121 ignored as if absent: the default route comes from option 3
        default = [r for r in lab.routes() if r["dst"] == "default"]
        assert [r.get("gateway") for r in default] == [SERVER_IP]
        run.assert_no_crash()


def test_tunnelvision_routes_go_to_their_own_table(lab: Lab) -> None:
    with Run(lab, good_script(classless_routes=TUNNELVISION),
             netconf_args=_policy(lab, "table:100")) as run:
        run.wait_acks(1, 15)
        wait_for("the /1 routes in table 100", lambda: len(_half_routes(lab, "100")) == 2, 5)
        assert _half_routes(lab) == []
        run.assert_no_crash()
