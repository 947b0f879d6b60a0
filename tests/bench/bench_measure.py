"""The side-by-side measurements: cold start, INIT-REBOOT start, carrier up, memory,
wake-ups, RELEASE on stop. Each function returns plain data (JSON-ready); times are
milliseconds unless a name says otherwise.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Sequence
from typing import Any

from tests.bench.bench_clients import Client, Leasebox
from tests.bench.bench_lab import IFACE, NS, BenchLab, peer

ACQUIRE_TIMEOUT = 20.0  # dhcpcd's default ARP probing alone takes ~5 s
LEASEBOX_UNITS = [f"leasebox-*@{IFACE}*"]

# What the cold-start profile picks out of leasebox's journal: (event, unit part, pattern).
# systemd's ExecMainStartTimestamp: taken in PID 1 right after the fork, before the child
# sets up the unit's sandbox and execs the program
FORKED = "forked by systemd (sandbox set-up, then exec)"
EXEC = "program exec'd (systemd 256+)"  # the handoff timestamp: the sandbox is set up
ADDRESS = "address on the link (netlink)"
# The line each process logs right before its READY=1, on its own clock (systemd's
# ActiveEnterTimestamp is when PID 1 got round to the notification)
READY_LINES = {"io": "io: link reported (carrier up)",
               "engine": "engine: started, waiting for io",
               "netconf": "netconf: ready (pyroute2 loaded)"}
COLD_EVENTS: tuple[tuple[str, str, str], ...] = (
    ("io: capabilities dropped", "io", r"^capabilities dropped"),
    (READY_LINES["io"], "io", rf"^link {IFACE}: .* carrier up"),
    (READY_LINES["engine"], "engine", r"^started; waiting for io"),
    (READY_LINES["netconf"], "netconf", r"^ready on "),
    ("netconf: engine connected", "netconf", r"^engine connected"),
    ("netconf: applied #1", "netconf", r"^applied #1"),
    ("engine: Acquired", "engine", r"^Acquired "),
)
FLAP_EVENTS: tuple[tuple[str, str, str], ...] = (
    ("io: link reported (carrier up)", "io", rf"^link {IFACE}: .* carrier up"),
    ("netconf: applied (re-confirmed lease)", "netconf", r"^applied #"),
    ("engine: Renewed", "engine", r"^(Renewed|Acquired) "),
)


def summary(values: Sequence[float | None]) -> dict[str, Any]:
    """median/min/max of the values that exist; n counts them, missing the others."""
    have = [v for v in values if v is not None]
    if not have:
        return {"median": None, "min": None, "max": None, "n": 0,
                "missing": len(values)}
    return {"median": statistics.median(have), "min": min(have), "max": max(have),
            "n": len(have), "missing": len(values) - len(have)}


def ms(t: float | None, ref: float | None) -> float | None:
    return None if t is None or ref is None else (t - ref) * 1000.0


def first(wire: list[dict[str, Any]], kind: str, direction: str | None = None) -> float | None:
    for m in wire:
        if m["type"] == kind and (direction is None or m["dir"] == direction):
            return float(m["t"])
    return None


def journal_events(entries: list[dict[str, Any]],
                   events: tuple[tuple[str, str, str], ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, part, pattern in events:
        rx = re.compile(pattern)
        for e in entries:
            if f"leasebox-{part}@" in e["unit"] and rx.search(e["msg"]):
                out[name] = e["t"]
                break
    return out


# ---- one start ---------------------------------------------------------------------------


def container_cpu_ms(r: dict[str, Any], client: Client | None = None) -> float | None:
    """The CPU the container's processes used from the start command to the (last)
    address, from an `acquire` result: its root cgroup, sampled by the agent, which enters
    the container with nsenter and is not counted. None without cgroup v2, or for a
    client whose processes the agent starts itself (outside the container's cgroups)."""
    samples = r.get("cgroup_usec", {})
    start, end = samples.get("start", {}), samples.get("addressed", {})
    if "/" not in start or "/" not in end:
        return None
    if client is not None and client.start_argv()[0] != "systemctl":
        return None
    return float(end["/"] - start["/"]) / 1000.0


def start_once(lab: BenchLab, client: Client, *, cold: bool, profile: bool = False,
               timeout: float = ACQUIRE_TIMEOUT) -> dict[str, Any]:
    """Start ``client`` (stopped, address flushed; state removed if ``cold``) and time it
    to the address. Leaves it running."""
    if cold:
        client.clean()
    lab.flush()
    client.before_start()
    cursor = lab.journal_cursor() if profile else ""
    r = lab.agent("acquire", "--iface", IFACE, "--capture", IFACE, "--timeout", str(timeout),
                  "--", *client.start_argv(), timeout=timeout + 30)
    if "error" in r:
        raise RuntimeError(f"{client.key}: {r['error']}")
    t0 = r["t0"]
    wire = r["wire"]
    out: dict[str, Any] = {
        "address_ms": ms(r["addr_at"].get(IFACE), t0),
        "container_cpu_ms": container_cpu_ms(r, client),
        "address": r["address"].get(IFACE),
        "command_exit_ms": ms(r["cmd_exit"], t0),
        "rc": r["rc"],
        "first_message": wire[0]["type"] if wire and wire[0]["dir"] == "out" else None,
        "wire_ms": [(m["type"], m["dir"], ms(m["t"], t0)) for m in wire],
    }
    if r["timeout"]:
        out["error"] = f"no address within {timeout:.0f} s; stderr: {r['stderr'][-300:]}"
    if cold:
        out["first_fork_ms"] = first_fork_ms(lab, client, t0)
    if profile and isinstance(client, Leasebox):
        out["timeline_ms"] = leasebox_timeline(lab, cursor, t0, r)
        out["journal_cursor"] = cursor
        out["t0"] = t0
    return out


def first_fork_ms(lab: BenchLab, client: Client, t0: float) -> float | None:
    """When PID 1 forked the first of the client's processes, in ms from the start command:
    the part of a start that PID 1 spends alone (loading units, binding sockets, making
    cgroups) before anything of the client's runs."""
    forks = [t for unit in client.services() if (t := lab.unit_times(unit)["forked"]) > t0]
    return ms(min(forks), t0) if forks else None


def leasebox_timeline(lab: BenchLab, cursor: str, t0: float,
                      acquired: dict[str, Any]) -> dict[str, float | None]:
    """Where a cold start's time goes, in ms from `systemctl start`."""
    # the journal may lag the address by a few ms
    deadline = time.monotonic() + 3
    entries = lab.journal_after(cursor, LEASEBOX_UNITS)
    while not any(e["msg"].startswith("Acquired ") for e in entries):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
        entries = lab.journal_after(cursor, LEASEBOX_UNITS)
    line: dict[str, float | None] = {}
    for part in ("io", "engine", "netconf"):
        times = lab.unit_times(f"leasebox-{part}@{IFACE}.service")
        line[f"{part}: {FORKED}"] = ms(times["forked"] or None, t0)
        line[f"{part}: {EXEC}"] = ms(times["exec"] or None, t0)
        line[f"{part}: ready (READY=1)"] = ms(times["ready"] or None, t0)
    for name, t in journal_events(entries, COLD_EVENTS).items():
        line[name] = ms(t, t0)
    wire = acquired["wire"]
    line["wire: DISCOVER sent"] = ms(first(wire, "DISCOVER", "out"), t0)
    line["wire: OFFER received"] = ms(first(wire, "OFFER", "in"), t0)
    line["wire: REQUEST sent"] = ms(first(wire, "REQUEST", "out"), t0)
    line["wire: ACK received"] = ms(first(wire, "ACK", "in"), t0)
    line[ADDRESS] = ms(acquired["addr_at"].get(IFACE), t0)
    return line


def stop_once(lab: BenchLab, client: Client, *, release: bool = True,
              check_release: bool = False) -> bool | None:
    """Stop like a user; with ``check_release``, whether dnsmasq saw a RELEASE."""
    before = lab.dnsmasq_count("DHCPRELEASE") if check_release else 0
    client.stop(release=release)
    released = lab.wait_count("DHCPRELEASE", before, 1.5) if check_release else None
    lab.flush()
    return released


# ---- series ------------------------------------------------------------------------------


def _cpu_ms(r: dict[str, Any]) -> float:
    """The CPU time of an agent's `procs --interval` sample, in ms: exact (schedstat) where
    it has it, else in ticks."""
    if "cpu_ns_delta" in r:
        return float(r["cpu_ns_delta"] / 1e6)
    return float(r["cpu_ticks_delta"] * 1000.0 / r["ticks_per_s"])


def cold_series(lab: BenchLab, clients: Sequence[Client], reps: int) -> dict[str, Any]:
    """Every client, ``reps`` times, round-robin (so the machine's noise falls on all)."""
    runs: dict[str, list[dict[str, Any]]] = {c.key: [] for c in clients}
    released: dict[str, bool | None] = {}
    for rep in range(reps):
        for client in clients:
            lab.log(f"cold start {rep + 1}/{reps}: {client.label}")
            try:
                run = start_once(lab, client, cold=True, profile=isinstance(client, Leasebox))
            except Exception as exc:  # noqa: BLE001 (recorded, the run goes on)
                run = {"error": str(exc)[-500:], "address_ms": None}
            rel = stop_once(lab, client, check_release=rep == 0)
            if rep == 0:
                released[client.key] = rel
            runs[client.key].append(run)
    return {"runs": runs, "released_on_stop": released}


def reboot_series(lab: BenchLab, clients: Sequence[Client], reps: int) -> dict[str, Any]:
    """INIT-REBOOT: each client stops keeping its lease, and starts again."""
    keepers = [c for c in clients if c.keeps_lease]
    runs: dict[str, list[dict[str, Any]]] = {c.key: [] for c in keepers}
    for client in keepers:
        client.reboot_begin()
        lab.log(f"reboot series: first lease for {client.label}")
        start_once(lab, client, cold=True)
        stop_once(lab, client, release=False)
    try:
        for rep in range(reps):
            for client in keepers:
                lab.log(f"reboot start {rep + 1}/{reps}: {client.label}")
                try:
                    run = start_once(lab, client, cold=False)
                except Exception as exc:  # noqa: BLE001
                    run = {"error": str(exc)[-500:], "address_ms": None}
                stop_once(lab, client, release=False)
                runs[client.key].append(run)
    finally:
        for client in keepers:
            client.reboot_end()
            client.clean()
    return {"runs": runs}


def resources(lab: BenchLab, client: Client, window: float) -> dict[str, Any]:
    """With the client bound: memory 2 s after the address, wake-ups over ``window`` s."""
    time.sleep(2.0)
    r = lab.agent("procs", *client.procs_args(), "--interval", str(window),
                  timeout=window + 30)
    procs = r["procs"]
    interval = r["interval"]
    return {
        "processes": len(procs),
        "per_process": procs,
        "rss_kib": sum(p.get("rss_kb", 0) for p in procs),
        "pss_kib": sum(p.get("pss_kb", 0) for p in procs),
        "window_s": interval,
        "context_switches": r.get("ctxsw_delta"),
        "wakeups_per_min": (r["ctxsw_delta"] * 60.0 / interval) if interval else None,
        "cpu_ms_per_min": (_cpu_ms(r) * 60.0 / interval if interval else None),
        "pids_changed": r.get("pids_changed"),
    }


def flap_once(lab: BenchLab, client: Client, settle: float) -> dict[str, Any]:
    args = ["flap", "--iface", IFACE, "--peer-ns", NS, "--peer", peer(0),
            "--settle", str(settle), "--quiet", "3", "--timeout", "10"]
    unit = client.status_unit()
    if unit:
        args += ["--status-unit", unit]
    cursor = lab.journal_cursor() if isinstance(client, Leasebox) else ""
    r = lab.agent(*args, timeout=40)
    if "error" in r:
        return {"error": r["error"]}
    up = r["carrier_up"]
    wire = r["wire"]
    lost = r.get("address_lost_at")
    out: dict[str, Any] = {
        "address_kept": lost is None,
        "address_lost_ms_before_up": None if lost is None else (up - lost) * 1000.0,
        "address_ms": ms(r["address_at"], up),
        "first_message": wire[0]["type"] if wire else None,
        "request_ms": ms(first(wire, "REQUEST", "out") or first(wire, "DISCOVER", "out"), up),
        "ack_ms": ms(first(wire, "ACK", "in"), up),
        "client_saw_loss_ms": (r["client_saw_loss"] * 1000.0
                               if r.get("client_saw_loss") is not None else None),
        "wire_ms": [(m["type"], m["dir"], ms(m["t"], up)) for m in wire],
    }
    if isinstance(client, Leasebox):
        time.sleep(0.1)
        events = journal_events(lab.journal_after(cursor, LEASEBOX_UNITS), FLAP_EVENTS)
        line = {name: ms(t, up) for name, t in events.items()}
        line["wire: REQUEST sent"] = out["request_ms"]
        line["wire: ACK received"] = out["ack_ms"]
        out["timeline_ms"] = line
    return out


def running_series(lab: BenchLab, clients: Sequence[Client], reps: int, window: float,
                   settle: float) -> dict[str, Any]:
    """Per client: start (cold), resources while bound, then ``reps`` carrier flaps."""
    results: dict[str, Any] = {}
    for client in clients:
        lab.log(f"resources and carrier flaps: {client.label}")
        entry: dict[str, Any] = {}
        try:
            start_once(lab, client, cold=True)
            entry["resources"] = resources(lab, client, window)
            flaps: list[dict[str, Any]] = []
            for rep in range(reps):
                f = flap_once(lab, client, settle)
                flaps.append(f)
                # A client that ignores the carrier does the same every time: two are enough.
                if rep >= 1 and all(x.get("first_message") is None and "error" not in x
                                    for x in flaps):
                    entry["flap_note"] = (f"sent nothing within 3 s of carrier up in "
                                          f"{len(flaps)} flaps; series cut short")
                    break
                time.sleep(0.3)
            entry["flaps"] = flaps
        except Exception as exc:  # noqa: BLE001
            entry["error"] = str(exc)[-500:]
        finally:
            stop_once(lab, client)
            client.clean()
        results[client.key] = entry
    return results
