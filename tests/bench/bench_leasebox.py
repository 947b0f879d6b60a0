"""leasebox-only figures: junk-frame throughput, a lease under a junk flood, N interfaces
at once, and where start-up time goes (python -X importtime of each program).
"""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

from tests.bench.bench_clients import Leasebox
from tests.bench.bench_lab import IFACE, BenchLab, iface, peer
from tests.bench.bench_measure import ms, start_once, stop_once, summary

DROP_LOG_INTERVAL = 10.0  # the engine logs "dropped N frame(s): ..." at most this often
DROPPED = re.compile(r"^dropped (\d+) frame")
IO_BEHIND = re.compile(r"^engine not reading: dropped a frame(?: \((\d+) more)?")
ENGINE = f"leasebox-engine@{IFACE}.service"
IO = f"leasebox-io@{IFACE}.service"


# ---- junk throughput ---------------------------------------------------------------------


def _drop_lines(lab: BenchLab, cursor: str) -> list[tuple[float, int]]:
    out = []
    for e in lab.journal_after(cursor, [ENGINE]):
        m = DROPPED.match(e["msg"])
        if m:
            out.append((e["t"], int(m.group(1))))
    return out


def _probe(lab: BenchLab, mac: str, cursor: str, timeout: float) -> tuple[float, int]:
    """Send one junk frame and wait for the engine's next drop line: (its time, its N)."""
    deadline = time.monotonic() + timeout
    lab.flood("--dev", peer(0), "--dst-mac", mac, "--count", "1")
    while True:
        lines = _drop_lines(lab, cursor)
        if lines:
            return lines[-1]
        if time.monotonic() > deadline:
            raise RuntimeError("the engine logged no drop line for a junk frame")
        time.sleep(0.1)


def cpu_seconds(procs: list[dict[str, Any]], ticks_per_s: float) -> float:
    """The processes' CPU time: the scheduler's exact count (schedstat) where the agent
    had it, else utime + stime in ticks."""
    if all("cpu_ns" in p for p in procs):
        return float(sum(p["cpu_ns"] for p in procs) / 1e9)
    return float(sum(p.get("cpu_ticks", 0) for p in procs) / ticks_per_s)


def _cpu(lab: BenchLab, unit: str) -> float:
    procs = lab.agent("procs", "--unit", unit)
    return cpu_seconds(procs["procs"], procs["ticks_per_s"])


def junk_throughput(lab: BenchLab, reps: int, seconds: float, rate: float) -> dict[str, Any]:
    """Frames per second io forwards and the engine refuses, while bound.

    The engine counts refused frames and logs the count at most every 10 s. So: one probe
    frame (its line resets the count), the flood for ``seconds`` (< 10 s: no line falls
    inside), then, once 10 s have passed since the probe's line, one more probe: its line
    says how many frames the engine refused since, the flood and that probe."""
    lb = Leasebox(lab)
    start_once(lab, lb, cold=True)
    mac = lab.mac()
    runs = []
    try:
        cursor = lab.journal_cursor()
        t_line, _ = _probe(lab, mac, cursor, DROP_LOG_INTERVAL + 5)
        for rep in range(reps):
            lab.log(f"junk flood {rep + 1}/{reps}: {rate:.0f} frames/s offered for {seconds} s")
            cpu0 = {u: _cpu(lab, u) for u in (IO, ENGINE)}
            io_cursor = lab.journal_cursor()
            sent = lab.flood("--dev", peer(0), "--dst-mac", mac, "--kind", "junk68",
                             "--rate", str(rate), "--seconds", str(seconds),
                             timeout=seconds + 30)
            cpu1 = {u: _cpu(lab, u) for u in (IO, ENGINE)}
            wait = t_line + DROP_LOG_INTERVAL + 0.3 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            cursor = lab.journal_cursor()
            t_line, n = _probe(lab, mac, cursor, DROP_LOG_INTERVAL + 5)
            refused = n - 1
            io_behind = 0
            for e in lab.journal_after(io_cursor, [IO]):
                m = IO_BEHIND.match(e["msg"])
                if m:
                    io_behind += 1 + int(m.group(1) or 0)
            runs.append({
                "offered": sent["sent"], "seconds": sent["seconds"],
                "offered_per_s": sent["sent"] / sent["seconds"],
                "refused_by_engine": refused,
                "refused_per_s": refused / sent["seconds"],
                "io_dropped_engine_behind_logged": io_behind,
                "lost_before_engine": sent["sent"] - refused,
                "cpu_s": {"io": cpu1[IO] - cpu0[IO], "engine": cpu1[ENGINE] - cpu0[ENGINE]},
                "engine_frames_per_cpu_s": (refused / (cpu1[ENGINE] - cpu0[ENGINE])
                                            if cpu1[ENGINE] > cpu0[ENGINE] else None),
            })
        bound = lab.systemctl("show", "-p", "StatusText", "--value", ENGINE).strip()
    finally:
        stop_once(lab, lb)
        lb.clean()
    return {"runs": runs, "offered_rate": rate, "seconds": seconds,
            "refused_per_s": summary([r["refused_per_s"] for r in runs]),
            "engine_frames_per_cpu_s": summary([r["engine_frames_per_cpu_s"] for r in runs]),
            "status_after": bound}


def lease_under_flood(lab: BenchLab, reps: int, rate: float) -> dict[str, Any]:
    """A cold start of leasebox while the link carries ``rate`` junk frames per second
    (half UDP to :68 that io passes on, half that io's kernel filter drops)."""
    lb = Leasebox(lab)
    mac = lab.mac()
    runs = []
    for rep in range(reps):
        lab.log(f"cold start under a {rate:.0f} frames/s flood {rep + 1}/{reps}")
        job = lab.flood_background("--dev", peer(0), "--dst-mac", mac, "--kind", "mixed",
                                   "--rate", str(rate), "--seconds", "12")
        try:
            time.sleep(0.5)
            run = start_once(lab, lb, cold=True, timeout=10.0)
        except Exception as exc:  # noqa: BLE001
            run = {"error": str(exc)[-300:], "address_ms": None}
        finally:
            job.stop()
            stop_once(lab, lb)
        runs.append(run)
    return {"rate": rate, "runs": runs,
            "address_ms": summary([r["address_ms"] for r in runs]),
            "within_2s": all(r["address_ms"] is not None and r["address_ms"] < 2000
                             for r in runs)}


# ---- N interfaces ------------------------------------------------------------------------


NETCONF_IDLE_WAIT = 60.0  # netconf exits after 30 s without a request


KINDS = ("io", "engine", "netconf")


def _memory(lab: BenchLab, units: list[str]) -> dict[str, Any]:
    """PSS and RSS of the units' processes, and the CPU time they have used since they
    started (all of it start-up and lease, when taken right after; its kernel part, stime,
    in ticks); the same split by process (io, engine, netconf)."""
    sample = lab.agent("procs", *[a for u in units for a in ("--unit", u)], timeout=120)
    procs, hz = sample["procs"], sample["ticks_per_s"]
    by_kind = {}
    for kind in KINDS:
        mine = [p for p in procs if f"leasebox-{kind}" in p.get("cmd", "")]
        by_kind[kind] = {"processes": len(mine),
                         "pss_kib": sum(p.get("pss_kb", 0) for p in mine),
                         "cpu_s": cpu_seconds(mine, hz),
                         "sys_s": sum(p.get("sys_ticks", 0) for p in mine) / hz}
    return {"processes": len(procs), "pss_kib": sum(p.get("pss_kb", 0) for p in procs),
            "rss_kib": sum(p.get("rss_kb", 0) for p in procs),
            "cpu_s": cpu_seconds(procs, hz), "by_kind": by_kind}


def _system_cpu(lab: BenchLab) -> float:
    """CPU seconds used so far by the container's systemd (PID 1) and journald: what
    starting units and logging cost outside leasebox's own processes."""
    sample = lab.agent("procs", "--pid", "1",
                       "--match", "^/(usr/)?lib/systemd/systemd-journald$", timeout=60)
    return cpu_seconds(sample["procs"], sample["ticks_per_s"])


# The container's cgroups whose CPU time the scale series reports, by label: leasebox's
# templates (a slice each), systemd itself; "other services" is the rest of system.slice
# (journald, D-Bus, logind, resolved...), "total" the container's root cgroup.
SLICE = "system.slice/system-leasebox\\x2d{}.slice"
CGROUP_PARTS = {**{k: SLICE.format(k) for k in (*KINDS, "dispatch")}, "systemd": "init.scope"}


def cgroup_split(before: dict[str, int], after: dict[str, int],
                 n: int) -> dict[str, float] | None:
    """ms of CPU per interface between two cgroup samples, by CGROUP_PARTS, the other
    system services and in total; None without them (no cgroup v2)."""
    if "/" not in before or "/" not in after:
        return None

    def used(cg: str) -> float:
        return (after.get(cg, 0) - before.get(cg, 0)) / 1000.0 / n
    out = {label: used(cg) for label, cg in CGROUP_PARTS.items()}
    out["other services"] = used("system.slice") - sum(
        out[k] for k in (*KINDS, "dispatch"))
    out["total"] = used("/")
    return out


def _netconf_gone(lab: BenchLab, timeout: float) -> float | None:
    """Seconds until no netconf runs any more (its idle exit), or None after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        left = lab.systemctl("list-units", "--plain", "--no-legend", "--state=active",
                             "leasebox-netconf@*.service", check=False).strip()
        if not left:
            return time.monotonic() - t0
        time.sleep(1.0)
    return None


def scale(lab: BenchLab, counts: list[int]) -> list[dict[str, Any]]:
    """`systemctl start leasebox@veth0.target ... leasebox@veth{N-1}.target` in one
    command; time until every interface has its address; the memory of all 3N processes
    2 s later (the peak, netconf still running) with the CPU time they used until then,
    and the memory in steady state, once every netconf has exited idle."""
    lb = Leasebox(lab)
    results = []
    for n in counts:
        lab.log(f"scale: {n} interface(s) started together")
        lab.set_links(n)
        names = [iface(k) for k in range(n)]
        targets = [f"leasebox@{x}.target" for x in names]
        lb.clean()
        lab.flush(names)
        entry: dict[str, Any] = {"interfaces": n}
        try:
            args = [a for x in names for a in ("--iface", x)]
            system0 = _system_cpu(lab)
            r = lab.agent("acquire", *args, "--timeout", "90", "--wait-exit", "--",
                          "systemctl", "start", *targets, timeout=150)
            t0 = r["t0"]
            leased = [ms(r["addr_at"].get(x), t0) for x in names]
            entry.update({
                "all_leased_ms": None if r["timeout"] else max(v for v in leased if v),
                "leased_ms": summary(leased),
                "leased_each_ms": leased,
                "systemctl_returned_ms": ms(r["cmd_exit"], t0), "rc": r["rc"],
                "missing": [x for x in names if x not in r["addr_at"]],
                # the agent's samples: the start command, and the last address
                "cgroup_cpu_ms_per_interface": cgroup_split(
                    r["cgroup_usec"]["start"], r["cgroup_usec"].get("addressed", {}), n),
            })
            time.sleep(2.0)
            units = [f"leasebox-{p}@{x}.service" for x in names
                     for p in ("io", "engine", "netconf")]
            peak = _memory(lab, units)
            entry.update({**peak, "pss_kib_per_interface": peak["pss_kib"] / n,
                          "cpu_s_per_interface": peak["cpu_s"] / n,
                          "system_cpu_s_per_interface": (_system_cpu(lab) - system0) / n})
            idle_s = _netconf_gone(lab, NETCONF_IDLE_WAIT)
            entry["netconf_idle_after_s"] = idle_s
            if idle_s is not None:
                steady = _memory(lab, units)
                entry["steady"] = {**steady,
                                   "pss_kib_per_interface": steady["pss_kib"] / n}
        except Exception as exc:  # noqa: BLE001
            entry["error"] = str(exc)[-500:]
        finally:
            t = time.monotonic()
            lab.systemctl("stop", *targets, timeout=180, check=False)
            entry["stop_ms"] = (time.monotonic() - t) * 1000.0
            left = lab.systemctl("list-units", "--plain", "--no-legend", "--state=active",
                                 "leasebox*", check=False).split()
            if any(w.startswith("leasebox") for w in left):
                entry["left_active"] = [w for w in left if w.startswith("leasebox")][:10]
            lab.flush(names)
            lb.clean()
        results.append(entry)
    lab.set_links(1)
    return results


# ---- profile -----------------------------------------------------------------------------


def floor(lab: BenchLab, runs: int = 5) -> dict[str, Any]:
    """The cost of starting Python and importing what each program imports, alone on an
    idle machine (agent.FLOOR): the part of a cold start that no ordering can remove."""
    lab.log(f"floor: python3 start-up and each program's imports, {runs} runs")
    r = lab.agent("floor", "--runs", str(runs), timeout=60.0 + runs * 30.0)
    if "error" in r:
        return r
    return {"runs": runs, "lines": {
        label: {key: summary([x[key] for x in xs])
                for key in ("wall_ms", "cpu_ms", "anon_kib")}
        for label, xs in r["samples"].items()}}


# What a transient `systemd-run ... /usr/bin/true` cannot or need not take from a unit.
NOT_SANDBOX = ("Type", "ExecStart", "Sockets", "FileDescriptorStoreMax", "Restart",
               "RestartSec", "RestartPreventExitStatus", "WatchdogSec", "RuntimeDirectory",
               "RuntimeDirectoryMode", "RuntimeDirectoryPreserve", "StateDirectory")
# ... nor from systemd-networkd.service, measured alongside for comparison
NOT_SANDBOX_PEER = ("BusName", "ExecReload", "ImportCredential", "RestartKillSignal")
PEER_UNIT = "systemd-networkd.service"
SANDBOX_IFACE = "sbx0"  # a name no other section uses: its /run/leasebox-ipc dir is made here
RUNTIME_LINE = re.compile(r"Service runtime: ([\d.]+)(us|ms|s)\b")


def _sandbox_settings(lab: BenchLab, unit: str,
                      skip: tuple[str, ...] = NOT_SANDBOX) -> list[str]:
    """The [Service] settings of an installed unit or template that confine it (all but
    `skip`), for SANDBOX_IFACE."""
    settings, in_service = [], False
    for line in lab.systemctl("cat", unit).splitlines():
        line = line.strip()
        if line.startswith("["):
            in_service = line == "[Service]"
        elif in_service and "=" in line and not line.startswith("#") \
                and line.split("=", 1)[0].strip() not in skip:
            settings.append(line.replace("%i", SANDBOX_IFACE).replace("%I", SANDBOX_IFACE))
    return settings


# Settings whose mounts protect nothing in the units' roots: their paths are hidden
# (below /proc under ProcSubset=pid), inaccessible already (/sys) or absent (/dev/kmsg
# under PrivateDevices=), and systemd 252 parses the mount table for each one all the
# same. (ProtectKernelLogs= also filters syslog(2).) They stay in the units; the bench
# shows what they cost. (ProtectHome= acts on absent paths too, but DynamicUser= implies
# ProtectHome=read-only: the same mounts, so it cannot be left out.)
ABSENT_ONLY = ("ProtectKernelTunables", "ProtectKernelLogs")


def without_absent_only(part: str) -> str:
    """The sandbox case of ``part``'s unit without the ABSENT_ONLY settings."""
    return f"{part} without {', '.join(k + '=' for k in ABSENT_ONLY)}"


SANDBOX_SLICE = "lbxsandbox.slice"  # (no "-": that would nest it in lbx.slice)


def _slice_usec(lab: BenchLab) -> int | None:
    """CPU used so far in SANDBOX_SLICE (cgroup v2 cpu.stat; hybrid: its unified part);
    None without cgroup v2."""
    out = lab.c.run(["sh", "-c", f"cat /sys/fs/cgroup/unified/{SANDBOX_SLICE}/cpu.stat "
                     f"2>/dev/null || cat /sys/fs/cgroup/{SANDBOX_SLICE}/cpu.stat"],
                    check=False).stdout
    return next((int(line.split()[1]) for line in out.splitlines()
                 if line.startswith("usage_usec ")), None)


def sandbox(lab: BenchLab, runs: int = 5) -> dict[str, Any]:
    """systemd's set-up of each unit's confinement, alone: `systemd-run --wait` of
    /usr/bin/true under the template's [Service] settings, under none, and under
    systemd-networkd.service's (when installed: the one unit of its cold start); systemd's
    'Service runtime' (fork to exit: the set-up between fork and exec, then true), and the
    CPU the unit used (its slice's cpu.stat: the set-up runs in the unit's cgroup)."""
    lab.log(f"sandbox: each unit's confinement around /usr/bin/true, {runs} runs")
    # the sockets the units bind into their roots (files, as the socket units make them)
    ipc, run = f"/run/leasebox-ipc/{SANDBOX_IFACE}", f"/run/leasebox/{SANDBOX_IFACE}"
    lab.c.run(["mkdir", "-p", "-m", "0700", ipc, run])
    lab.c.run(["touch", f"{ipc}/engine.sock", f"{ipc}/netconf.sock", f"{run}/control.sock"])
    cases: dict[str, list[str]] = {"no settings": []} | {
        part: _sandbox_settings(lab, f"leasebox-{part}@.service") for part in KINDS}
    # the price of keeping ABSENT_ONLY, in every run (README, "The sandbox")
    for part in KINDS:
        cases[without_absent_only(part)] = [
            x for x in cases[part] if x.split("=", 1)[0].strip() not in ABSENT_ONLY]
    if lab.c.run(["systemctl", "cat", PEER_UNIT], check=False).returncode == 0:
        cases[PEER_UNIT] = _sandbox_settings(lab, PEER_UNIT, NOT_SANDBOX + NOT_SANDBOX_PEER)
    out: dict[str, Any] = {"runs": runs, "cases": {}}
    try:
        # keeps the slice (and its CPU count) between the transient units; stopped below
        lab.c.run(["systemd-run", "--unit=lbx-sandbox-holder", f"--slice={SANDBOX_SLICE}",
                   "/usr/bin/sleep", "infinity"])
        # round-robin, so that the machine's drift falls on every case alike
        samples: dict[str, list[float]] = {label: [] for label in cases}
        cpu: dict[str, list[float]] = {label: [] for label in cases}
        failed: dict[str, str] = {}
        for _ in range(runs):
            for label, settings in cases.items():
                if label in failed:
                    continue
                argv = ["systemd-run", "--wait", "--collect", f"--slice={SANDBOX_SLICE}",
                        *[a for x in settings for a in ("-p", x)], "/usr/bin/true"]
                before = _slice_usec(lab)
                r = lab.c.run(argv, check=False, timeout=60)
                after = _slice_usec(lab)
                m = RUNTIME_LINE.search(r.stdout + r.stderr)
                if r.returncode != 0 or m is None:
                    failed[label] = (r.stdout + r.stderr)[-300:]
                    continue
                if before is not None and after is not None:
                    cpu[label].append((after - before) / 1000)
                samples[label].append(
                    float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)])
        for label, settings in cases.items():
            out["cases"][label] = {"error": failed[label]} if label in failed else {
                "settings": len(settings), "ms": summary(samples[label]),
                "cpu_ms": summary(cpu[label])}
    finally:
        lab.c.run(["systemctl", "stop", SANDBOX_SLICE], check=False)  # and its holder
        lab.c.run(["rm", "-rf", ipc, run], check=False)
    return out


IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def importtime(lab: BenchLab, runs: int = 3, top: int = 12) -> dict[str, Any]:
    """``runs`` cold starts with each program run as `python3 -IS -X importtime PROGRAM ...`
    (a drop-in on each template): what each process imports and what that costs, per
    module the median over the runs (one run on this machine is too noisy to rank by)."""
    lb = Leasebox(lab)
    parts = ("io", "engine", "netconf")
    for part in parts:
        unit = f"leasebox-{part}@.service"
        cmd = lab.exec_start(unit)
        lab.dropin(unit, "bench-importtime",
                   f"[Service]\nExecStart=\nExecStart=/usr/bin/python3 -IS -X importtime {cmd}\n")
    lab.systemctl("daemon-reload")
    samples: dict[str, list[list[dict[str, Any]]]] = {p: [] for p in parts}
    addresses = []
    try:
        for n in range(runs):
            lab.log(f"cold start under python3 -X importtime {n + 1}/{runs}")
            cursor = lab.journal_cursor()
            addresses.append(start_once(lab, lb, cold=True)["address_ms"])
            time.sleep(0.5)
            units = [f"leasebox-{p}@{IFACE}.service" for p in parts]
            entries = lab.journal_after(cursor, units)
            stop_once(lab, lb)
            for part in parts:
                samples[part].append([
                    {"self_us": int(m.group(1)), "cum_us": int(m.group(2)),
                     "depth": len(m.group(3)) // 2, "module": m.group(4)}
                    for e in entries if f"leasebox-{part}@" in e["unit"]
                    if (m := IMPORT_LINE.match(e["msg"]))])
    finally:
        stop_once(lab, lb)
        lb.clean()
        for part in parts:
            lab.dropin(f"leasebox-{part}@.service", "bench-importtime", None)
        lab.systemctl("daemon-reload")
    out: dict[str, Any] = {"runs": runs, "address_ms": summary(addresses)}
    for part in parts:
        out[part] = _import_medians(samples[part], top)
    return out


def _import_medians(runs: list[list[dict[str, Any]]], top: int) -> dict[str, Any]:
    """Per module, the median self and cumulative time over the runs that imported it."""
    by_module: dict[str, list[dict[str, Any]]] = {}
    for imports in runs:
        for i in imports:
            by_module.setdefault(i["module"], []).append(i)
    merged = [{"module": name, "depth": seen[0]["depth"],
               "self_us": statistics.median(x["self_us"] for x in seen),
               "cum_us": statistics.median(x["cum_us"] for x in seen)}
              for name, seen in by_module.items()]
    totals = [sum(i["cum_us"] for i in imports if i["depth"] == 0) / 1000.0
              for imports in runs if imports]
    return {
        "modules": statistics.median([len(r) for r in runs]) if runs else 0,
        "total_ms": statistics.median(totals) if totals else None,
        "total_ms_runs": totals,
        "top": sorted((i for i in merged if i["depth"] <= 2), key=lambda i: -i["cum_us"])[:top],
        "top_self": sorted(merged, key=lambda i: -i["self_us"])[:top],
    }
