"""scripts/soak: many renewals in one run against ISC Kea with short leases (issue 14,
item 3). Not part of `make test`.

    scripts/soak [--renewals N] [--python PATH] [--record]

leasebox runs under Debian's /usr/bin/python3 by default, with Debian's pyroute2 and
systemd-python, as the package does; --python .venv/bin/python runs it with PyPI's.

leasebox runs under tests/launch.py in the integration lab (two namespaces, a veth pair);
Kea grants 10 s leases with T1 1 s and T2 5 s (10 s is the shortest lease leasebox takes
as it is), so the client renews about once a second. Every few seconds the anonymous RSS
and the open fds of io, the engine and netconf are sampled, and the address is checked to be the
one first leased. At the end: renewals seen by Kea, leases lost, process restarts, log
lines per renewal, and RSS/fds after warm-up against the end, per process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.integration.netlab import Lab, Leasebox
from tests.integration.servers import Kea

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "tests" / "RESULTS.md"
LIFETIME, T1, T2 = 10, 1, 5
SAMPLE_EVERY = 5.0
WARM_UP = 50  # renewals before the first sample counted as the baseline
BEGIN, END = "<!-- soak-begin -->", "<!-- soak-end -->"


def _rss_kib(pid: int) -> int:
    """Anonymous RSS: what the process allocated. File-backed pages (code and libraries
    paged in as new paths run) are left out; they are not a leak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sample(pids: dict[str, int]) -> dict[str, tuple[int, int]]:
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = (_rss_kib(pid), _fds(pid))
        except FileNotFoundError:
            out[name] = (0, 0)  # gone: counted as a restart below
    return out


def _pyroute2_version(python: str) -> str:
    out = subprocess.run([python, "-c", "import importlib.metadata as m; "
                          "print(m.version('pyroute2'))"], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() or "unknown"


def soak(renewals: int, tmp: Path, python: str) -> dict[str, Any]:
    lab = Lab(tmp)
    try:
        kea = Kea(lab, lifetime=LIFETIME, t1=T1, t2=T2).start()
        box = Leasebox(lab, "--min-lease-time", str(LIFETIME), python=python).start()
        address = lab.wait_address()["local"]
        box.wait_bound()
        pids = box.pids()
        started = time.monotonic()
        deadline = started + renewals * T1 * 3 + 120
        baseline: dict[str, tuple[int, int]] | None = None
        halfway: dict[str, tuple[int, int]] | None = None
        peak: dict[str, int] = {}
        moved = 0
        done = 0
        while done < renewals and time.monotonic() < deadline:
            time.sleep(SAMPLE_EVERY)
            done = kea.count("DHCPACK") - 1
            now = sample(pids)
            for name, (rss, _) in now.items():
                peak[name] = max(peak.get(name, 0), rss)
            if baseline is None and done >= WARM_UP:
                baseline = now
            if halfway is None and done >= (WARM_UP + renewals) // 2:
                halfway = now
            here = lab.address()
            if here is None or here["local"] != address:
                moved += 1
            print(f"soak: {done} renewals, {time.monotonic() - started:.0f} s, "
                  + ", ".join(f"{n} {r // 1024} MiB/{f} fds" for n, (r, f) in now.items()),
                  flush=True)
        end = sample(pids)
        log = box.log()
        elapsed = time.monotonic() - started
        box.stop()
    finally:
        lab.close()
    starts = sum(1 for line in log.splitlines() if line.startswith("leasebox-launch: started"))
    return {
        "python": python,
        "pyroute2": _pyroute2_version(python),
        "asked": renewals,
        "renewals": done,
        "seconds": round(elapsed),
        "address_changes_or_losses": moved,
        "lost": log.count("Lost "),
        "process_restarts": starts - 3,
        "log_lines_per_renewal": round(len(log.splitlines()) / max(done, 1), 1),
        "warnings": sum(1 for line in log.splitlines()
                        if "warning" in line.lower() or "error" in line.lower()),
        "per_process": {
            name: {"rss_kib_after_warm_up": (baseline or end)[name][0],
                   "rss_kib_halfway": (halfway or end)[name][0],
                   "rss_kib_at_end": end[name][0], "rss_kib_peak": peak.get(name, 0),
                   "fds_after_warm_up": (baseline or end)[name][1], "fds_at_end": end[name][1]}
            for name in end
        },
    }


def record(summary: dict[str, Any]) -> None:
    rows = ["| process | anonymous RSS after warm-up | halfway | at end | growth, first half "
            "| growth, second half | peak | fds after warm-up | fds at end |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, p in summary["per_process"].items():
        first = p["rss_kib_halfway"] - p["rss_kib_after_warm_up"]
        second = p["rss_kib_at_end"] - p["rss_kib_halfway"]
        rows.append(f"| {name} | {p['rss_kib_after_warm_up']} KiB | {p['rss_kib_halfway']} KiB"
                    f" | {p['rss_kib_at_end']} KiB | {first:+d} KiB | {second:+d} KiB | "
                    f"{p['rss_kib_peak']} KiB | {p['fds_after_warm_up']} | "
                    f"{p['fds_at_end']} |")
    text = "\n".join([
        f"{time.strftime('%Y-%m-%d')}: `scripts/soak --renewals {summary['asked']} "
        f"--record` against ISC Kea (leases of {LIFETIME} s, T1 {T1} s, T2 {T2} s), "
        f"leasebox under {summary['python']} with pyroute2 {summary['pyroute2']}.",
        "",
        f"- renewals ACKed by Kea: {summary['renewals']} in {summary['seconds']} s",
        f"- leases lost: {summary['lost']}; samples where the address was not the first "
        f"one: {summary['address_changes_or_losses']}; process restarts: "
        f"{summary['process_restarts']}",
        f"- log lines per renewal: {summary['log_lines_per_renewal']} (all three processes "
        f"and the launcher); lines with a warning or error: {summary['warnings']}",
        "",
        *rows,
    ])
    old = RESULTS.read_text()
    head, rest = old.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    RESULTS.write_text(head + BEGIN + "\n" + text + "\n" + END + tail)


def main() -> int:
    p = argparse.ArgumentParser(prog="scripts/soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--renewals", type=int, default=1000)
    p.add_argument("--python", default="/usr/bin/python3",
                   help="the interpreter leasebox runs under (default: Debian's)")
    p.add_argument("--record", action="store_true", help=f"write the figures to {RESULTS}")
    args = p.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the lab's finally stops Kea, leasebox and the netns
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="leasebox-soak-") as tmp:
        summary = soak(args.renewals, Path(tmp), args.python)
    print(json.dumps(summary, indent=1))
    if args.record:
        record(summary)
    ok = (summary["renewals"] >= args.renewals and summary["lost"] == 0
          and summary["address_changes_or_losses"] == 0 and summary["process_restarts"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
