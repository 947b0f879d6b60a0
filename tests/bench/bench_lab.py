"""The benchmark's lab: one real-systemd container holding leasebox and its peers, and a
server namespace with one dnsmasq behind a bridge.

    container (systemd as PID 1)                 netns srv
    veth0 ───────────────────────────────────── p0 ─┐
    veth1 ───────────────────────────────────── p1 ─┤ br0 192.0.2.1/24, dnsmasq --no-ping
    ...                                             │
    vethN-1 ─────────────────────────────────── pN-1┤
                                          keep0 ────┘ (keeps br0's carrier up; see below)

Why the keeper port: a bridge whose only port goes down loses its carrier, and when the
port comes back the bridge's transmit path is parked until the kernel's link watcher gets
round to it (for a bridge that is not urgent: up to a second). A client quick enough to
send its REQUEST in that window gets an ACK that dnsmasq "sent" and the bridge dropped,
and the measurement becomes one of the client's retransmission timer. With a second,
always-up port the bridge never loses its carrier, like a switch with other hosts on it.

The in-container halves (agent.py, flood.py) are copied to AGENT_DIR and driven with
Container.run; each call prints one JSON object.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.system.harness import Background, Container, HarnessError

HERE = Path(__file__).resolve().parent
AGENT_DIR = "/usr/local/lib/leasebox-bench"
AGENT = f"{AGENT_DIR}/agent.py"
FLOOD = f"{AGENT_DIR}/flood.py"
NS = "srv"
BRIDGE = "br0"
SERVER_IP = "192.0.2.1"
DHCP_RANGE = "192.0.2.10,192.0.2.250,255.255.255.0,1h"  # 241 addresses: 64 interfaces and
# the leases the peers keep without releasing; an hour, so no renewal falls into a figure
DNSMASQ_LOG = "/tmp/dnsmasq.log"
IFACE = "veth0"

Log = Callable[[str], None]


def iface(k: int) -> str:
    return f"veth{k}"


def peer(k: int) -> str:
    return f"p{k}"


class BenchLab:
    def __init__(self, container: Container, log: Log) -> None:
        self.c = container
        self.log = log
        self.links = 0
        self.dnsmasq: Background | None = None

    # ---- set-up -------------------------------------------------------------------------

    def setup(self) -> None:
        c = self.c
        for name in ("agent.py", "flood.py"):
            c.write_file(f"{AGENT_DIR}/{name}", (HERE / name).read_text(), mode=0o755)
        # Debian enables dhcpcd.service when the package is installed: it must not take the
        # links of the other clients. networkd is off by default; make sure of it.
        c.run(["systemctl", "disable", "--now", "dhcpcd.service"], check=False)
        c.run(["systemctl", "stop", "systemd-networkd.service", "systemd-networkd.socket"],
              check=False)
        script = "\n".join([
            f"link add {BRIDGE} type bridge stp_state 0 forward_delay 0",
            "link add keep0 type veth peer name keep1",
            f"link set keep0 master {BRIDGE}",
            f"addr add {SERVER_IP}/24 dev {BRIDGE}",
            "link set lo up", "link set keep0 up", "link set keep1 up", f"link set {BRIDGE} up",
        ])
        c.run(["ip", "netns", "add", NS])
        c.run(["ip", "-n", NS, "-batch", "-"], input=script + "\n")
        self.set_links(1)
        self.start_dnsmasq()

    def set_links(self, n: int) -> None:
        """Make veth0..veth{n-1} exist (each joined to p{k} on the bridge), and no more."""
        if n > self.links:
            here = "\n".join(f"link add {iface(k)} type veth peer name {peer(k)} netns {NS}"
                             for k in range(self.links, n))
            there = "\n".join(f"link set {peer(k)} master {BRIDGE}\nlink set {peer(k)} up"
                              for k in range(self.links, n))
            up = "\n".join(f"link set {iface(k)} up" for k in range(self.links, n))
            self.c.run(["ip", "-batch", "-"], input=here + "\n")
            self.c.run(["ip", "-n", NS, "-batch", "-"], input=there + "\n")
            self.c.run(["ip", "-batch", "-"], input=up + "\n")
        elif n < self.links:
            gone = "\n".join(f"link del {iface(k)}" for k in range(n, self.links))
            self.c.run(["ip", "-batch", "-"], input=gone + "\n", check=False)
        self.links = n

    DNSMASQ_ARGV = (
        "dnsmasq", "--keep-in-foreground", "--no-ping", "--port=0", "--conf-file=/dev/null",
        f"--interface={BRIDGE}", "--bind-interfaces", "--dhcp-authoritative",
        f"--dhcp-range={DHCP_RANGE}", "--dhcp-lease-max=1000",
        "--dhcp-leasefile=/tmp/dnsmasq.leases", f"--log-facility={DNSMASQ_LOG}",
        f"--dhcp-option=option:router,{SERVER_IP}",
    )

    def start_dnsmasq(self) -> None:
        self.c.run(["rm", "-f", DNSMASQ_LOG, "/tmp/dnsmasq.leases"])
        self.dnsmasq = self.c.spawn(["ip", "netns", "exec", NS, *self.DNSMASQ_ARGV])
        deadline = time.monotonic() + 10
        while "DHCP, IP range" not in self.c.run(["cat", DNSMASQ_LOG], check=False).stdout:
            if time.monotonic() > deadline:
                raise HarnessError(f"dnsmasq did not start: {self.dnsmasq.output()[-500:]}")
            time.sleep(0.05)

    def close(self) -> None:
        if self.dnsmasq is not None:
            self.dnsmasq.stop()
            self.dnsmasq = None

    # ---- driving the agent --------------------------------------------------------------

    def agent(self, *args: str, timeout: float = 60.0) -> dict[str, Any]:
        r = self.c.run(["python3", AGENT, *args], timeout=timeout, check=False)
        lines = r.stdout.strip().splitlines()
        if r.returncode != 0 or not lines:
            raise HarnessError(f"agent {args[0]} failed ({r.returncode}): {r.stderr[-1500:]}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def flood(self, *args: str, timeout: float = 60.0) -> dict[str, Any]:
        r = self.c.run(["ip", "netns", "exec", NS, "python3", FLOOD, *args], timeout=timeout)
        result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
        return result

    def flood_background(self, *args: str) -> Background:
        return self.c.spawn(["ip", "netns", "exec", NS, "python3", FLOOD, *args])

    # ---- small views and actions --------------------------------------------------------

    def sh(self, script: str, timeout: float = 30.0, check: bool = True) -> str:
        return self.c.run(["sh", "-c", script], timeout=timeout, check=check).stdout

    def systemctl(self, *args: str, timeout: float = 60.0, check: bool = True) -> str:
        return self.c.run(["systemctl", *args], timeout=timeout, check=check).stdout

    def flush(self, names: Sequence[str] = (IFACE,)) -> None:
        script = "\n".join(f"addr flush dev {n}" for n in names)
        self.c.run(["ip", "-4", "-batch", "-"], input=script + "\n", check=False)

    def mac(self, name: str = IFACE) -> str:
        return self.c.read_file(f"/sys/class/net/{name}/address").strip()

    def dnsmasq_count(self, what: str) -> int:
        r = self.c.run(["grep", "-c", f" {what}(", DNSMASQ_LOG], check=False)
        return int(r.stdout.strip() or 0)

    def wait_count(self, what: str, above: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.dnsmasq_count(what) > above:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def journal_cursor(self) -> str:
        out = self.c.run(["journalctl", "-q", "-n", "0", "--show-cursor"], check=False).stdout
        for line in out.splitlines():
            if line.startswith("-- cursor: "):
                return line[len("-- cursor: "):]
        return ""

    def journal_text(self, cursor: str, contains: str, since: float = 0.0) -> str:
        """`journalctl -o short-monotonic` after ``cursor``: the lines containing a word,
        stamped ``since`` (monotonic s) or later (journald may write late lines of what
        happened before the cursor was taken)."""
        out = self.c.run(["journalctl", "--no-pager", "-o", "short-monotonic",
                          f"--after-cursor={cursor}"], check=False, timeout=60).stdout
        keep = []
        for ln in out.splitlines():
            stamp = ln[1:ln.find("]")] if ln.startswith("[") else ""
            try:
                if contains in ln and float(stamp) >= since:
                    keep.append(ln + "\n")
            except ValueError:
                continue
        return "".join(keep)

    def journal_after(self, cursor: str, units: Sequence[str]) -> list[dict[str, Any]]:
        """Messages logged after ``cursor`` by the processes of ``units`` (glob patterns
        on _SYSTEMD_UNIT): {t: monotonic seconds, unit, msg}. t is when the process logged
        the line (leasebox's SOURCE_MONOTONIC_USEC=); journald's __MONOTONIC_TIMESTAMP=, when it
        received it, lags by milliseconds while the cores are busy and is used only for
        lines without it.

        The units are matched here, not with `journalctl -u`: systemd 252's journalctl,
        given --after-cursor and a match, skips the first matching entry whenever the
        cursor's own entry does not match."""
        argv = ["journalctl", "--no-pager", "-o", "json", "--output-fields",
                "MESSAGE,_SYSTEMD_UNIT,__MONOTONIC_TIMESTAMP,SOURCE_MONOTONIC_USEC"]
        if cursor:
            argv.append(f"--after-cursor={cursor}")
        out = self.c.run(argv, check=False, timeout=60).stdout
        entries = []
        for line in out.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            unit = e.get("_SYSTEMD_UNIT", "")
            if not any(fnmatch.fnmatchcase(unit, u) for u in units):
                continue
            msg = e.get("MESSAGE")
            if isinstance(msg, list):  # journald gives non-UTF-8 messages as byte arrays
                msg = bytes(msg).decode(errors="replace")
            logged = e.get("SOURCE_MONOTONIC_USEC")
            usec = int(logged) if isinstance(logged, str) and logged.isdecimal() else int(
                e["__MONOTONIC_TIMESTAMP"])
            entries.append({"t": usec / 1e6, "unit": unit, "msg": msg or ""})
        return entries

    def unit_times(self, unit: str) -> dict[str, float]:
        """When systemd forked the unit's main process (before its sandbox set-up), when
        that process exec'd the program (systemd 256 and later: the handoff timestamp)
        and when the unit became active (READY=1 for Type=notify), CLOCK_MONOTONIC
        seconds; 0 when it never happened or systemd does not tell."""
        out = self.systemctl("show", "-p", "ExecMainStartTimestampMonotonic",
                             "-p", "ExecMainHandoffTimestampMonotonic",
                             "-p", "ActiveEnterTimestampMonotonic", unit, check=False)
        times: dict[str, float] = {}
        for line in out.splitlines():
            key, _, value = line.partition("=")
            if value.isdigit():
                times[key] = int(value) / 1e6
        return {"forked": times.get("ExecMainStartTimestampMonotonic", 0.0),
                "exec": times.get("ExecMainHandoffTimestampMonotonic", 0.0),
                "ready": times.get("ActiveEnterTimestampMonotonic", 0.0)}

    def dropin(self, unit: str, name: str, text: str | None) -> None:
        """Put (text) or take away (None) a drop-in under /run/systemd/system; no reload."""
        path = f"/run/systemd/system/{unit}.d/{name}.conf"
        if text is None:
            self.c.run(["rm", "-f", path])
        else:
            self.c.write_file(path, text)

    def exec_start(self, unit: str) -> str:
        """The ExecStart= command line of an installed unit (the last one in its file)."""
        text = self.systemctl("cat", unit)
        lines = [ln[len("ExecStart="):] for ln in text.splitlines()
                 if ln.startswith("ExecStart=") and ln.strip() != "ExecStart="]
        if not lines:
            raise HarnessError(f"no ExecStart= in {unit}")
        return lines[-1]

    def kill_pids(self, pids: Sequence[int], sig: str = "TERM") -> None:
        if pids:
            self.c.run(["kill", f"-{sig}", *map(str, pids)], check=False)
