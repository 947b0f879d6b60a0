"""A two-host lab for integration tests: a client and a server network namespace joined
by a veth pair, dnsmasq (or a fake server) on the server side, leasebox on the client side.

Everything started here is tracked by PID and stopped in `close()`; the namespaces are
named after this process and a counter, and deleted at the end. Every wait is bounded.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SERVER_IP = "192.0.2.1"
SUBNET = "192.0.2.0/24"
CLIENT_MAC = "02:00:5e:10:00:01"
_counter = itertools.count()


def sh(argv: list[str], check: bool = True, timeout: float = 20.0,
       **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, timeout=timeout, text=True,
                          stdin=subprocess.DEVNULL, capture_output=True, **kw)


class Lab:
    def __init__(self, tmp: Path) -> None:
        n = next(_counter)
        self.tmp = tmp
        self.client = f"lbxc-{os.getpid()}-{n}"
        self.server = f"lbxs-{os.getpid()}-{n}"
        self.procs: list[subprocess.Popen[bytes]] = []
        try:  # undone if a step fails: the fixture's close() never runs then
            sh(["ip", "netns", "add", self.client])
            sh(["ip", "netns", "add", self.server])
            sh(["ip", "link", "add", "veth0", "netns", self.client, "address", CLIENT_MAC,
                "type", "veth", "peer", "name", "veth1", "netns", self.server])
            self.ip(self.server, "addr", "add", f"{SERVER_IP}/24", "dev", "veth1")
            for ns, dev in ((self.server, "veth1"), (self.client, "veth0")):
                self.ip(ns, "link", "set", "lo", "up")
                self.ip(ns, "link", "set", dev, "up")
        except BaseException:
            self.close()
            raise

    # ---- plumbing -------------------------------------------------------------------------

    def ip(self, ns: str, *args: str, check: bool = True) -> str:
        return sh(["ip", "-n", ns, *args], check=check).stdout

    def ipj(self, ns: str, *args: str) -> Any:
        return json.loads(self.ip(ns, "-j", *args) or "[]")

    def spawn(self, ns: str, argv: list[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
        out = log.open("ab")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, **kw)
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
             timeout: float = 15.0) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                # above the launcher's own worst case (5 s for the engine's leave, 5 s for
                # the services to stop), so that it kills what does not stop itself
                self.stop(proc, timeout=20)
        for ns in (self.client, self.server):
            sh(["ip", "netns", "del", ns], check=False)

    # ---- client-side views ------------------------------------------------------------------

    def addresses(self) -> list[dict[str, Any]]:
        info = self.ipj(self.client, "-4", "addr", "show", "dev", "veth0")
        return info[0]["addr_info"] if info else []

    def address(self) -> dict[str, Any] | None:
        found = [a for a in self.addresses() if a.get("scope") == "global"]
        return found[0] if found else None

    def wait_address(self, timeout: float = 15.0, not_: str | None = None) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            a = self.address()
            return a if a and a["local"] != not_ else None
        result: dict[str, Any] = wait_for("an address on veth0", ready, timeout)
        return result

    def wait_no_address(self, timeout: float = 15.0) -> None:
        wait_for("veth0 to lose its address", lambda: self.address() is None, timeout)

    def routes(self, table: str = "main") -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.ipj(self.client, "-4", "route", "show", "table",
                                                table)
        return result

    def mtu(self) -> int:
        return int(self.ipj(self.client, "link", "show", "dev", "veth0")[0]["mtu"])


class Daemon:
    """A server the lab started in one of its namespaces: `proc`, stopped by PID, and the
    log it writes to `logfile`."""

    lab: Lab
    logfile: Path
    proc: subprocess.Popen[bytes] | None = None

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self) -> None:
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Dnsmasq(Daemon):
    def __init__(self, lab: Lab, *options: str, lease_time: str = "2m",
                 range_: str = "192.0.2.50,192.0.2.150", authoritative: bool = True) -> None:
        self.lab = lab
        self.authoritative = authoritative
        self.leasefile = lab.tmp / "dnsmasq.leases"
        self.logfile = lab.tmp / "dnsmasq.log"
        self.options = list(options)
        self.lease_time = lease_time
        self.range = range_
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Dnsmasq:
        argv = [
            "dnsmasq", "--keep-in-foreground", "--no-ping", "--port=0", "--conf-file=/dev/null",
            "--interface=veth1", "--bind-interfaces",
            *(["--dhcp-authoritative"] if self.authoritative else []),
            f"--dhcp-range={self.range},255.255.255.0,{self.lease_time}",
            f"--dhcp-leasefile={self.leasefile}", "--log-dhcp",
            f"--log-facility={self.logfile}", "--pid-file=",
            f"--dhcp-option=option:router,{SERVER_IP}",
            *self.options,
        ]
        self.proc = self.lab.spawn(self.lab.server, argv, self.lab.tmp / "dnsmasq.out")
        wait_for("dnsmasq to start", lambda: "DHCP, IP range" in self.log(), 10)
        return self

    def count(self, what: str) -> int:
        """Occurrences of a DHCP event in the log, e.g. 'DHCPDISCOVER', 'DHCPRELEASE'."""
        return sum(1 for line in self.log().splitlines() if f" {what}(" in line)

    def leases(self) -> str:
        try:
            return self.leasefile.read_text()
        except FileNotFoundError:
            return ""


class Leasebox:
    """leasebox-launch for veth0 in the client namespace."""

    def __init__(self, lab: Lab, *engine_args: str, netconf_args: tuple[str, ...] = (),
                 python: str = PYTHON) -> None:
        self.lab = lab
        self.rundir = lab.tmp / "run"
        self.statedir = lab.tmp / "state"
        self.logfile = lab.tmp / "leasebox.log"
        self.engine_args = list(engine_args)
        self.netconf_args = list(netconf_args)
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Leasebox:
        argv = [self.python, "-m", "tests.launch", "veth0", "--debug",
                "--runtime-dir", str(self.rundir), "--state-dir", str(self.statedir),
                "--python", self.python]
        argv += [f"--engine-arg={a}" for a in self.engine_args]
        argv += [f"--netconf-arg={a}" for a in self.netconf_args]
        # the programs from src/, the launcher (a development tool) from tests/
        env = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
        self.proc = self.lab.spawn(self.lab.client, argv, self.logfile, env=env)
        return self

    def stop(self) -> int:
        assert self.proc is not None
        code = self.lab.stop(self.proc)
        self.proc = None
        return code

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def status(self) -> str:
        path = self.rundir / "veth0" / "engine.status"
        return path.read_text().strip() if path.exists() else ""

    def wait_bound(self, timeout: float = 15.0) -> str:
        """Wait until the engine says Bound (its STATUS= line), which is after netconf
        confirmed the configuration and the lease file was written."""
        result: str = wait_for("the engine to report Bound",
                               lambda: self.status() if self.status().startswith("Bound ")
                               else "", timeout)
        return result

    def pids(self) -> dict[str, int]:
        """Pids of the three services, from the launcher's log (the latest start of each)."""
        out: dict[str, int] = {}
        for line in self.log().splitlines():
            if line.startswith("leasebox-launch: started "):
                parts = line.split()
                out[parts[2]] = int(parts[4].rstrip(")"))
        return out
