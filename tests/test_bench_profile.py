"""The bench report's reading of cold-start timelines (tests/bench/bench_report.py): which
process was ready last, the phases, and each client's start split at PID 1's first fork.
Pure: made-up timelines, no container."""

from __future__ import annotations

from typing import Any

from tests.bench.bench_measure import ADDRESS, EXEC, FORKED, READY_LINES
from tests.bench.bench_report import figures, last_ready, pid1_then_client, profile


def _start(io: float, engine: float, netconf: float, address: float | None
           ) -> dict[str, float | None]:
    return {READY_LINES["io"]: io, READY_LINES["engine"]: engine,
            READY_LINES["netconf"]: netconf, ADDRESS: address}


def test_the_last_ready_process_and_its_distance_to_the_address() -> None:
    got = last_ready([_start(90.0, 100.0, 95.0, 104.5),   # engine last: 4.5 ms
                      _start(90.0, 95.0, 108.0, 110.0),   # netconf last: 2 ms
                      _start(80.0, 96.0, 104.0, 107.0)])  # netconf last: 3 ms
    assert got["count"] == {"engine": 1, "netconf": 2}
    assert got["starts"] == 3
    tails = got["tail_ms"]
    assert tails["engine"]["median"] == 4.5 and tails["engine"]["n"] == 1
    assert tails["netconf"]["median"] == 2.5 and tails["netconf"]["n"] == 2
    assert tails["any"]["median"] == 3.0 and tails["any"]["n"] == 3
    assert "io" not in tails


def test_a_start_without_every_line_is_counted_not_used() -> None:
    incomplete = _start(90.0, 95.0, 100.0, 103.0)
    incomplete[READY_LINES["engine"]] = None
    got = last_ready([incomplete, _start(90.0, 95.0, 100.0, None),
                      _start(90.0, 95.0, 100.0, 102.0)])
    assert got["starts"] == 3
    assert got["count"] == {"(not every line, or no address)": 2, "netconf": 1}
    assert got["tail_ms"]["any"]["n"] == 1


def _results(timelines: list[dict[str, float | None]]) -> dict[str, Any]:
    return {"cold": {"runs": {"leasebox": [{"timeline_ms": t} for t in timelines]}}}


def test_the_sandbox_set_up_phase_only_where_systemd_gives_the_exec_time() -> None:
    base = {**_start(90.0, 100.0, 95.0, 104.0), **{f"{p}: {FORKED}": 20.0 for p in READY_LINES}}
    without = profile(_results([base]))["phases"]
    assert not any("fork → exec" in name for name in without)
    with_exec = profile(_results([{**base, **{f"{p}: {EXEC}": 50.0 for p in READY_LINES}}]))
    assert with_exec["phases"]["engine: fork → exec (the sandbox set-up)"] == 30.0
    assert with_exec["phases"]["systemctl start → first process forked (PID 1: units, "
                               "sockets, cgroup)"] == 20.0


def test_a_cold_start_split_at_pid1s_first_fork_of_the_client() -> None:
    clients = {"leasebox": {"label": "leasebox"}, "networkd": {"label": "systemd-networkd"},
               "dhclient": {"label": "ISC dhclient"}}
    runs = {"leasebox": [{"address_ms": 110.0, "first_fork_ms": 26.0},
                         {"address_ms": 100.0, "first_fork_ms": 24.0},
                         {"address_ms": 120.0, "first_fork_ms": None}],
            "networkd": [{"address_ms": 72.0, "first_fork_ms": 21.0},
                         {"error": "no address", "address_ms": None}],
            "dhclient": [{"address_ms": 30.0}]}  # started by the bench: no unit
    results: dict[str, Any] = {"clients": clients, "cold": {"runs": runs}}
    figs = figures(results)
    assert figs["leasebox"]["cold_pid1"]["median"] == 25.0
    assert figs["leasebox"]["cold_after_fork"]["median"] == 80.0  # (84 + 76) / 2
    assert figs["networkd"]["cold_after_fork"]["n"] == 1
    assert figs["dhclient"]["cold_pid1"]["n"] == 0
    table = "\n".join(pid1_then_client(figs, clients))
    assert "| leasebox | **25** (24-26, n=2) | 1.00 | **80** (76-84, n=2) | 1.00 |" in table
    assert "| systemd-networkd | **21** (21-21, n=1) | 0.84 | **51** (51-51, n=1) | 0.64 |" in table
    assert "dhclient" not in table
