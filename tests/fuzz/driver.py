"""scripts/fuzz: run the fuzz targets under atheris, merge what they find into the committed
corpora, and report (or --record) executions, coverage and findings per target."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.corpora import read_corpus, write_corpus
from tests.fuzz.seeds import REGRESSIONS, SEEDS
from tests.fuzz.targets import TARGETS

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".fuzz"
RESULTS = REPO / "tests" / "RESULTS.md"
MAX_LEN = 4096
BEGIN, END = "<!-- fuzz-table-begin -->", "<!-- fuzz-table-end -->"


@dataclass
class Outcome:
    target: str
    executions: int = 0
    seconds: float = 0.0
    coverage: int = 0
    features: int = 0
    corpus: int = 0
    crash: str = ""  # the input that broke the contract, kept under .fuzz/

    def row(self) -> str:
        rate = self.executions / self.seconds if self.seconds else 0.0
        found = f"crash: `{self.crash}`" if self.crash else "none"
        return (f"| {self.target} | {self.executions:,} | {self.seconds:.0f} | {rate:,.0f} | "
                f"{self.coverage} | {self.features} | {self.corpus} | {found} |")


def _wrapper(target: str) -> Path:
    return WORK / f"run-{target}"


def write_wrappers(targets: list[str]) -> None:
    """libFuzzer's -merge runs argv[0] again in a subprocess: an executable per target.
    All are written before any target runs: with --jobs, a fork for one target while
    another's wrapper was open for writing made that one's exec fail (ETXTBSY)."""
    WORK.mkdir(parents=True, exist_ok=True)
    for target in targets:
        wrapper = _wrapper(target)
        wrapper.write_text(f"#!/bin/sh\ncd {shlex.quote(str(REPO))} && exec "
                           f"{shlex.quote(sys.executable)} -m tests.fuzz.run {target} \"$@\"\n")
        wrapper.chmod(0o755)


def _libfuzzer(target: str, args: list[str], log: Path) -> subprocess.CompletedProcess[str]:
    wrapper = _wrapper(target)
    env = {**os.environ, "LEASEBOX_FUZZ_ARGV0": str(wrapper)}
    with log.open("w") as out:
        return subprocess.run([str(wrapper), *args], cwd=REPO, stdout=out, env=env,
                              stderr=subprocess.STDOUT, text=True, check=False)


def _stat(text: str, name: str) -> int:
    found = re.search(rf"stat::{name}:\s+(\d+)", text)
    return int(found.group(1)) if found else 0


def fuzz(target: str, budget: list[str]) -> Outcome:
    work = WORK / target
    shutil.rmtree(work, ignore_errors=True)
    new, seeds, merged = work / "new", work / "seeds", work / "merged"
    for d in (new, seeds, merged):
        d.mkdir(parents=True)
    for i, data in enumerate([*SEEDS[target](), *REGRESSIONS.get(target, []),
                              *read_corpus(target)]):
        (seeds / f"{i:05d}").write_bytes(data)
    started = time.monotonic()
    run = _libfuzzer(target, [*budget, f"-max_len={MAX_LEN}", "-print_final_stats=1",
                              "-timeout=10", "-rss_limit_mb=2048",
                              f"-artifact_prefix={work}/", str(new), str(seeds)],
                     work / "fuzz.log")
    out = Outcome(target, seconds=time.monotonic() - started)
    text = (work / "fuzz.log").read_text(errors="replace")
    out.executions = _stat(text, "number_of_executed_units")
    done = re.findall(r"cov: (\d+) ft: (\d+)", text)
    if done:
        out.coverage, out.features = map(int, done[-1])
    crashes = sorted(work.glob("crash-*")) + sorted(work.glob("timeout-*"))
    if run.returncode != 0 or crashes:
        out.crash = str(crashes[0].relative_to(REPO)) if crashes else f"exit {run.returncode}"
        return out
    _libfuzzer(target, ["-merge=1", f"-max_len={MAX_LEN}", str(merged), str(seeds), str(new)],
               work / "merge.log")
    kept = sorted(p.read_bytes() for p in merged.iterdir())
    write_corpus(target, kept)
    out.corpus = len(kept)
    return out


def record(outcomes: list[Outcome]) -> None:
    text = RESULTS.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    rows = {o.target: o.row() for o in outcomes}
    old = [line for line in rest.split(END, 1)[0].splitlines() if line.startswith("| ")
           and not line.startswith("| target") and not line.startswith("|---")]
    for line in old:
        name = line.split("|")[1].strip()
        rows.setdefault(name, line)
    table = ["| target | executions | seconds | exec/s | coverage (edges) | features | "
             "corpus | contract broken |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    table += [rows[name] for name in TARGETS if name in rows]
    RESULTS.write_text(head + BEGIN + "\n" + "\n".join(table) + "\n" + END + tail)


def main() -> int:
    p = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__)
    p.add_argument("targets", nargs="*", metavar="TARGET", help=f"of: {' '.join(TARGETS)}")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--runs", type=int, help="executions per target (default 1,000,000)")
    g.add_argument("--seconds", type=int, help="time per target")
    p.add_argument("--jobs", type=int, default=1, help="targets run at once")
    p.add_argument("--record", action="store_true", help=f"write the figures to {RESULTS}")
    args = p.parse_args()
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        p.error(f"unknown target {' '.join(unknown)}; targets: {' '.join(TARGETS)}")
    budget = ([f"-max_total_time={args.seconds}"] if args.seconds
              else [f"-runs={args.runs or 1_000_000}"])
    targets = args.targets or list(TARGETS)
    write_wrappers(targets)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda t: fuzz(t, budget), targets))
    for o in outcomes:
        print(o.row(), flush=True)
    if args.record:
        record(outcomes)
    return 1 if any(o.crash for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
