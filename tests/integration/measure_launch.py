"""Measure leasebox under leasebox-launch against dnsmasq in the two-namespace lab.

    .venv/bin/python -m tests.integration.measure_launch [-n 10]

For each run: time from launching the three processes to the address on veth0, split into
start-up (launch -> first DISCOVER at dnsmasq), the DHCP exchange (DISCOVER -> ACK at
dnsmasq) and applying (ACK -> address seen on the link); then RSS and PSS of each process
when bound (from /proc/PID/smaps_rollup). A measurement, not a test: prints medians.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from tests.integration.netlab import Dnsmasq, Lab, Leasebox
from tests.waiting import wait_for

_DNSMASQ_TIME = re.compile(r"^\w+ +\d+ (\d+):(\d+):(\d+) ")


def smaps(pid: int) -> tuple[int, int]:
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def one_run(tmp: Path) -> dict[str, float]:
    tmp.mkdir(parents=True)
    lab = Lab(tmp)
    try:
        dns = Dnsmasq(lab).start()
        box = Leasebox(lab)
        t0 = time.monotonic()
        box.start()
        lab.wait_address(timeout=15)
        t_addr = time.monotonic()
        box.wait_bound()
        time.sleep(2.0)
        mem = {name: smaps(pid) for name, pid in box.pids().items()}
        discovers = dns.count("DHCPDISCOVER")
        return {
            "total_ms": (t_addr - t0) * 1000,
            "discovers": discovers,
            **{f"{name}_rss_kib": rss for name, (rss, _) in mem.items()},
            **{f"{name}_pss_kib": pss for name, (_, pss) in mem.items()},
        }
    finally:
        lab.close()


def split_run(tmp: Path) -> dict[str, float]:
    """Where the time goes, from tcpdump's timestamps on the server side of the veth."""
    tmp.mkdir(parents=True)
    lab = Lab(tmp)
    try:
        Dnsmasq(lab).start()
        cap = lab.spawn(lab.server, ["tcpdump", "-i", "veth1", "-n", "-l", "-tt",
                                     "udp port 67 or udp port 68"], tmp / "tcpdump.log")
        wait_for("tcpdump", lambda: (tmp / "tcpdump.log").exists()
                 and "listening" in (tmp / "tcpdump.log").read_text(), 5)
        box = Leasebox(lab)
        t0 = time.time()
        box.start()
        lab.wait_address(timeout=15)
        t_addr = time.time()
        time.sleep(0.3)
        lab.stop(cap)
        stamps: list[tuple[float, str]] = []
        for line in (tmp / "tcpdump.log").read_text().splitlines():
            m = re.match(r"^(\d+\.\d+) IP (\S+) > (\S+):", line)
            if m:
                stamps.append((float(m.group(1)), f"{m.group(2)}>{m.group(3)}"))
        client = [t for t, what in stamps if what.endswith(".67")]
        server = [t for t, what in stamps if what.endswith(".68")]
        return {
            "startup_ms": (client[0] - t0) * 1000,  # launch -> DISCOVER on the wire
            "exchange_ms": (server[-1] - client[0]) * 1000,  # DISCOVER -> ACK
            "apply_ms": (t_addr - server[-1]) * 1000,  # ACK -> address visible
            "total_ms": (t_addr - t0) * 1000,
        }
    finally:
        lab.close()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=10)
    args = p.parse_args()
    runs: list[dict[str, float]] = []
    splits: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="lbx-measure-") as d:
        for i in range(args.n):
            runs.append(one_run(Path(d) / f"run{i}"))
            splits.append(split_run(Path(d) / f"split{i}"))
    print(f"runs: {args.n}")
    for key in sorted(runs[0]):
        values = [r[key] for r in runs]
        print(f"{key:24s} median {statistics.median(values):9.1f}  min {min(values):9.1f}"
              f"  max {max(values):9.1f}")
    for key in ("startup_ms", "exchange_ms", "apply_ms", "total_ms"):
        values = [s[key] for s in splits]
        print(f"split {key:18s} median {statistics.median(values):9.1f}  min "
              f"{min(values):9.1f}  max {max(values):9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
