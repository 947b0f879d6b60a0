"""leasebox against the DHCP clients users pick instead, side by side in one run.

    scripts/bench [--quick] [--out DIR] [--clients leasebox,networkd,...] [--skip SECTION,...]
    (= .venv/bin/python -m tests.bench.run ...; needs root)

Boots one real-systemd container (systemd-nspawn, a cached Debian 12 tree with the peers
installed: systemd-networkd, dhcpcd, isc-dhcp-client, busybox), installs leasebox the way
the package does, puts dnsmasq (--no-ping) in a server namespace behind a bridge and
measures, for every client on the same veth pair: cold start, INIT-REBOOT start, carrier
up, memory, wake-ups, RELEASE on stop. Then leasebox alone: junk-frame throughput, a lease
under a junk flood, N interfaces at once, and where its start-up time goes.

Writes results/bench-<timestamp>/results.json (every sample) and results.md (the tables).
Not a test: pytest does not collect tests/bench (no test_ files; conftest.py says so too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.bench import bench_leasebox, bench_measure, bench_report
from tests.bench.bench_clients import Client, all_clients
from tests.bench.bench_lab import BenchLab
from tests.system.harness import (
    REGISTRY,
    SUITE,
    SUITES,
    Container,
    HarnessError,
    ensure_tree,
    host_leftovers,
)
from tests.system.leasebox_lab import install

REPO = Path(__file__).resolve().parents[2]
PEER_PACKAGES = ("dhcpcd", "isc-dhcp-client", "busybox")  # systemd-networkd is in systemd
SECTIONS = ("cold", "running", "reboot", "junk", "flood", "scale", "importtime", "floor",
            "sandbox")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="3 repetitions, 5 s wake-up window, up to 8 interfaces (development)")
    p.add_argument("--reps", type=int, help="runs per client and series (default 10; quick 3)")
    p.add_argument("--window", type=float, help="wake-up window in s (default 20; quick 5)")
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds the carrier stays down in a flap (default 1)")
    p.add_argument("--scale", help="interface counts (default 1,8,32,64; quick 1,8)")
    p.add_argument("--junk-rate", type=float, default=60000.0,
                   help="junk frames/s offered (default 60000)")
    p.add_argument("--junk-seconds", type=float, help="flood length, < 10 s (default 8; quick 4)")
    p.add_argument("--junk-reps", type=int, help="default 3; quick 1")
    p.add_argument("--flood-rate", type=float, default=5000.0)
    p.add_argument("--flood-reps", type=int, help="default 3; quick 1")
    p.add_argument("--clients", help="comma-separated subset: leasebox,networkd,dhcpcd,"
                   "dhcpcd-fast,dhclient,udhcpc")
    p.add_argument("--skip", default="", help=f"comma-separated sections: {','.join(SECTIONS)}")
    p.add_argument("--suite", choices=SUITES, default=SUITE,
                   help=f"the container's Debian release (default {SUITE})")
    p.add_argument("--out", type=Path, help="output directory (default results/bench-TIME)")
    args = p.parse_args(argv)
    q = args.quick
    args.reps = args.reps or (3 if q else 10)
    args.window = args.window or (5.0 if q else 20.0)
    args.scale = [int(x) for x in (args.scale or ("1,8" if q else "1,8,32,64")).split(",")]
    args.junk_seconds = args.junk_seconds or (4.0 if q else 8.0)
    if not 0 < args.junk_seconds < bench_leasebox.DROP_LOG_INTERVAL - 1:
        p.error("--junk-seconds must be below 9 (the engine's drop-count interval is 10 s)")
    args.junk_reps = args.junk_reps or (1 if q else 3)
    args.flood_reps = args.flood_reps or (1 if q else 3)
    args.skip = {s for s in args.skip.split(",") if s}
    if args.skip - set(SECTIONS):
        p.error(f"unknown sections: {sorted(args.skip - set(SECTIONS))}")
    return args


def host_facts() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "mem_mib": mem}


def leasebox_version() -> str:
    found = re.search(r'^__version__ = "([^"]+)"', (REPO / "src/leasebox/__init__.py")
                      .read_text(), re.MULTILINE)
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src",
                            "units", "Makefile"], capture_output=True, text=True,
                           check=False).stdout.strip()
    return f"{found.group(1) if found else '?'} (git {rev or '?'}{', modified' if dirty else ''})"


def container_facts(c: Container) -> dict[str, Any]:
    pkgs = ("systemd", "dhcpcd-base", "dhcpcd", "isc-dhcp-client", "busybox", "dnsmasq-base",
            "python3", "python3-pyroute2", "python3-systemd")
    out = c.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *pkgs],
                check=False).stdout
    versions = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {
        "python": c.run(["python3", "--version"]).stdout.strip(),
        "systemd": c.run(["systemctl", "--version"]).stdout.splitlines()[0],
        "packages": versions,
    }


class NotifyDrain:
    """Read what systemd-nspawn forwards to the harness's NOTIFY_SOCKET after boot.

    systemd, as the container's PID 1, sends STATUS= for every job that runs longer than
    about 2 s ("User job ... running (2s / 1min 30s)"), and READY=1 again when they are
    done; nspawn forwards each to its NOTIFY_SOCKET, which the harness reads only until the
    container has booted. Once net.unix.max_dgram_qlen (10 here) datagrams wait there,
    nspawn blocks in sendmsg() for good, never handles the SIGTERM that should power the
    container off, and is killed a minute later. The bench has such jobs (64 interfaces
    starting at once; a leave unit waiting for its RELEASE). The harness now drains the
    socket itself after boot; this reader also keeps the messages for the report."""

    def __init__(self, c: Container) -> None:
        self.sock = getattr(c, "_notify", None)
        self.messages: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        assert self.sock is not None
        while not self.done.is_set():
            try:
                self.sock.settimeout(0.5)
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(data.decode(errors="replace")[:200])

    def __enter__(self) -> NotifyDrain:
        if self.sock is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)


def run(args: argparse.Namespace, results: dict[str, Any]) -> None:
    tree = ensure_tree(extra_packages=PEER_PACKAGES, suite=args.suite, log=log)
    c = Container(tree, log=log, stop_timeout=60.0)
    c.start()
    try:
        with NotifyDrain(c) as drain:
            log("installing leasebox into the container")
            install(c)
            results["meta"].update(container_facts(c))
            results["meta"]["server"] = ("ip netns exec srv "
                                         + " ".join(BenchLab.DNSMASQ_ARGV))
            lab = BenchLab(c, log)
            lab.setup()
            try:
                measure(args, lab, results)
            finally:
                lab.close()
                results["meta"]["nspawn_notifications"] = len(drain.messages)
    finally:
        stop_container(c, results)


def stop_container(c: Container, results: dict[str, Any]) -> None:
    """Stop the container. Should nspawn still outlive the harness's minute (see
    NotifyDrain), the harness kills it by PID and, when nothing is left running, keeps only
    its bookkeeping (registry entry, work directory) for `scripts/container reap`. The
    figures are all in by then: note it, remove that bookkeeping of our own container."""
    try:
        c.stop()
    except HarnessError as exc:
        left = host_leftovers(c.name)
        if left != [f"file {REGISTRY / c.name}"]:
            raise
        log(f"warning: {exc}; nothing was left running, removing its registry entry")
        results["teardown_warning"] = str(exc)
        if c.workdir is not None:
            shutil.rmtree(c.workdir, ignore_errors=True)
        (REGISTRY / c.name).unlink(missing_ok=True)


def measure(args: argparse.Namespace, lab: BenchLab, results: dict[str, Any]) -> None:
    clients = all_clients(lab)
    if args.clients:
        wanted = args.clients.split(",")
        clients = [cl for cl in clients if cl.key in wanted]
    for cl in clients:
        cl.configure()
    results["clients"] = {cl.key: describe(cl, results["meta"]) for cl in clients}
    skip = args.skip
    if "cold" not in skip:
        results["cold"] = bench_measure.cold_series(lab, clients, args.reps)
        runs = results["cold"]["runs"].get("leasebox", [])
        last = next((r for r in reversed(runs) if "journal_cursor" in r), None)
        if last:  # the last cold start of leasebox, as journalctl shows it
            results["cold_journal"] = (
                f"# systemctl start leasebox@veth0.target at [{last['t0']:.6f}]\n"
                + lab.journal_text(last["journal_cursor"], "leasebox", last["t0"] - 0.001))
    if "running" not in skip:
        results["running"] = bench_measure.running_series(lab, clients, args.reps,
                                                          args.window, args.settle)
    if "reboot" not in skip:
        results["reboot"] = bench_measure.reboot_series(lab, clients, args.reps)
    # the notes some clients added on the way (how the reboot series stopped them)
    results["clients"] = {cl.key: describe(cl, results["meta"]) for cl in clients}
    lb: dict[str, Any] = {}
    results["leasebox"] = lb
    if not any(cl.key == "leasebox" for cl in clients):
        return
    if "junk" not in skip:
        lb["junk"] = bench_leasebox.junk_throughput(lab, args.junk_reps, args.junk_seconds,
                                                    args.junk_rate)
    if "flood" not in skip:
        lb["flood_lease"] = bench_leasebox.lease_under_flood(lab, args.flood_reps,
                                                             args.flood_rate)
    if "scale" not in skip:
        lb["scale"] = bench_leasebox.scale(lab, args.scale)
    if "importtime" not in skip:
        lb["importtime"] = bench_leasebox.importtime(lab, runs=1 if args.quick else 3)
    if "floor" not in skip:
        lb["floor"] = bench_leasebox.floor(lab, runs=3 if args.quick else 10)
    if "sandbox" not in skip:
        lb["sandbox"] = bench_leasebox.sandbox(lab, runs=3 if args.quick else 10)


def describe(cl: Client, meta: dict[str, Any]) -> dict[str, Any]:
    # leasebox's version is read once, at the start: others may commit during the run
    version = meta["leasebox"] if cl.key == "leasebox" else meta["packages"].get(cl.package, "")
    return {"label": cl.label, "package": cl.package, "version": version,
            "started": cl.started, "stopped": cl.stopped, "notes": list(cl.notes)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("scripts/bench needs root (containers, network namespaces)", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or REPO / "results" / f"bench-{stamp}"
    started = time.monotonic()
    results: dict[str, Any] = {
        "meta": {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": host_facts(),
                 "leasebox": leasebox_version()},
        "config": {"command": " ".join(["scripts/bench", *(sys.argv[1:] if argv is None
                                                           else argv)]),
                   "quick": args.quick, "reps": args.reps, "window": args.window,
                   "settle": args.settle, "scale": args.scale, "junk_rate": args.junk_rate,
                   "junk_seconds": args.junk_seconds, "junk_reps": args.junk_reps,
                   "flood_rate": args.flood_rate, "flood_reps": args.flood_reps,
                   "skip": sorted(args.skip)},
        "clients": {},
    }
    failed: BaseException | None = None
    try:
        run(args, results)
    except BaseException as exc:  # noqa: BLE001 (write what was measured, then re-raise)
        failed = exc
        results["error"] = repr(exc)
    results["runtime_s"] = time.monotonic() - started
    results["meta"].setdefault("packages", {})
    results["meta"].setdefault("python", "?")
    results["meta"].setdefault("systemd", "?")
    results["figures"] = bench_report.figures(results)
    results["ratios"] = bench_report.ratios(results["figures"])
    results["targets"] = bench_report.targets(results, results["figures"])
    results["profile"] = bench_report.profile(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / "results.md").write_text(bench_report.markdown(results))
    if results.get("cold_journal"):
        (out / "leasebox-cold-start.journal").write_text(results["cold_journal"])
    log(f"results in {out} ({results['runtime_s']:.0f} s)")
    if failed is not None:
        raise failed
    return 0


if __name__ == "__main__":
    sys.exit(main())
