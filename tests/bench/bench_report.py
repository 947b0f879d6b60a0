"""Turn the raw results into figures, ratios within the run, and a Markdown report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from tests.bench.bench_leasebox import ABSENT_ONLY, KINDS, PEER_UNIT, without_absent_only
from tests.bench.bench_measure import ADDRESS, EXEC, FORKED, READY_LINES, summary

MIB = 1024.0


def fmt(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def span(s: dict[str, Any], digits: int = 0) -> str:
    """'median (min-max, n)' of a summary."""
    if not s or s.get("median") is None:
        return "—"
    text = f"**{fmt(s['median'], digits)}** ({fmt(s['min'], digits)}-{fmt(s['max'], digits)}"
    text += f", n={s['n']}"
    if s.get("missing"):
        text += f", {s['missing']} failed"
    return text + ")"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def figures(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per client: the summaries the tables show."""
    out: dict[str, dict[str, Any]] = {}
    cold = results.get("cold", {})
    reboot = results.get("reboot", {}).get("runs", {})
    running = results.get("running", {})
    for key in results["clients"]:
        f: dict[str, Any] = {}
        runs = cold.get("runs", {}).get(key, [])
        f["cold"] = summary([r.get("address_ms") for r in runs])
        f["cold_first"] = dict(Counter(r.get("first_message") for r in runs if "error" not in r))
        f["cold_cpu"] = summary([r.get("container_cpu_ms") for r in runs if "error" not in r])
        ok = [r for r in runs if "error" not in r and r.get("first_fork_ms") is not None
              and r.get("address_ms") is not None]
        f["cold_pid1"] = summary([r["first_fork_ms"] for r in ok])
        f["cold_after_fork"] = summary([r["address_ms"] - r["first_fork_ms"] for r in ok])
        f["released"] = cold.get("released_on_stop", {}).get(key)
        if key in reboot:
            rr = reboot[key]
            f["reboot"] = summary([r.get("address_ms") for r in rr])
            f["reboot_first"] = dict(Counter(r.get("first_message") for r in rr
                                             if "error" not in r))
        entry = running.get(key, {})
        flaps = [x for x in entry.get("flaps", []) if "error" not in x]
        if flaps:
            f["flap_address"] = summary([x["address_ms"] for x in flaps])
            f["flap_ack"] = summary([x["ack_ms"] for x in flaps])
            f["flap_request"] = summary([x["request_ms"] for x in flaps])
            f["flap_kept"] = sum(1 for x in flaps if x["address_kept"])
            f["flap_n"] = len(flaps)
            f["flap_silent"] = sum(1 for x in flaps if x["first_message"] is None)
        f["flap_note"] = entry.get("flap_note")
        res = entry.get("resources")
        if res:
            f["rss_mib"] = res["rss_kib"] / MIB
            f["pss_mib"] = res["pss_kib"] / MIB
            f["processes"] = res["processes"]
            f["wakeups_per_min"] = res["wakeups_per_min"]
            f["cpu_ms_per_min"] = res["cpu_ms_per_min"]
        if entry.get("error"):
            f["error"] = entry["error"]
        out[key] = f
    return out


def ratios(figs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """leasebox / peer, from medians of this run."""
    lb = figs.get("leasebox", {})
    out: dict[str, dict[str, float | None]] = {}

    def med(f: dict[str, Any], k: str) -> float | None:
        v = f.get(k)
        return v.get("median") if isinstance(v, dict) else v

    for key, f in figs.items():
        if key == "leasebox":
            continue
        out[key] = {
            "cold": ratio(med(lb, "cold"), med(f, "cold")),
            "reboot": ratio(med(lb, "reboot"), med(f, "reboot")),
            "carrier_up_to_address": ratio(med(lb, "flap_address"), med(f, "flap_address")),
            "carrier_up_to_ack": ratio(med(lb, "flap_ack"), med(f, "flap_ack")),
            "pss": ratio(lb.get("pss_mib"), f.get("pss_mib")),
            "rss": ratio(lb.get("rss_mib"), f.get("rss_mib")),
            "wakeups": ratio(lb.get("wakeups_per_min"), f.get("wakeups_per_min")),
        }
    return out


def targets(results: dict[str, Any], figs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    lb = figs.get("leasebox", {})
    nd = figs.get("networkd", {})
    rows: list[dict[str, Any]] = []

    def row(name: str, measured: str, met: bool | None) -> None:
        rows.append({"target": name, "measured": measured, "met": met})

    a, b = lb.get("cold", {}).get("median"), nd.get("cold", {}).get("median")
    row("cold start no slower than systemd-networkd",
        f"{fmt(a)} ms vs {fmt(b)} ms (x{fmt(ratio(a, b), 2)})",
        None if a is None or b is None else a <= b)
    row("cold start ≤ 1.5 x systemd-networkd's (issue 13's bound; the line above is the aim)",
        "—" if a is None or b is None else
        f"{fmt(a, 1)} ms vs 1.5 x {fmt(b, 1)} = {fmt(1.5 * b, 1)} ms",
        None if a is None or b is None else a <= 1.5 * b)
    addr = lb.get("flap_address", {}).get("median")
    ack = lb.get("flap_ack", {}).get("median")
    kept = f"address kept in {lb.get('flap_kept', 0)}/{lb.get('flap_n', 0)} flaps"
    row("carrier up → address < 10 ms (address present)",
        f"{fmt(addr, 1)} ms ({kept})", None if addr is None else addr < 10)
    row("carrier up → address < 10 ms (usable = lease re-confirmed, ACK)",
        f"{fmt(ack, 1)} ms", None if ack is None else ack < 10)
    single = lb.get("pss_mib")
    row("steady PSS per interface < 12 MiB (1 interface, 3 processes)",
        f"{fmt(single, 1)} MiB", None if single is None else single < 12)
    scale = results.get("leasebox", {}).get("scale") or []
    biggest = max((s for s in scale if s.get("steady")),
                  key=lambda s: s["interfaces"], default=None)
    if biggest:
        per = biggest["steady"]["pss_kib_per_interface"] / MIB
        row(f"steady PSS per interface ≤ 12 MiB ({biggest['interfaces']} interfaces, "
            "netconf exited idle)", f"{fmt(per, 1)} MiB", per <= 12)
    junk = results.get("leasebox", {}).get("junk", {})
    jr = junk.get("refused_per_s", {}).get("median")
    row("junk throughput ≥ 50,000 frames/s",
        f"{fmt(jr)} frames/s refused ({fmt(junk.get('offered_rate'))} offered)",
        None if jr is None else jr >= 50000)
    flood = results.get("leasebox", {}).get("flood_lease", {})
    if flood:
        fm = flood.get("address_ms", {}).get("max")
        row(f"fresh lease within 2 s under {fmt(flood.get('rate'))} junk frames/s",
            f"{fmt(fm)} ms (worst of {flood.get('address_ms', {}).get('n', 0)})",
            flood.get("within_2s"))
    s64 = next((s for s in scale if s["interfaces"] == 64), None)
    if s64:
        t = s64.get("all_leased_ms")
        row("64 interfaces leased within 10 s", f"{fmt(t)} ms",
            None if t is None else t < 10000)
    return rows


def _yes(v: bool | None) -> str:
    return "—" if v is None else ("yes" if v else "no")


def _firsts(c: dict[str, int] | None) -> str:
    if not c:
        return "—"
    return ", ".join(f"{k or 'nothing'}x{n}" for k, n in sorted(c.items(), key=str))


def _timeline_table(title: str, timeline: dict[str, dict[str, Any]], ref: str) -> list[str]:
    rows = sorted(((k, v) for k, v in timeline.items() if v.get("median") is not None),
                  key=lambda kv: kv[1]["median"])
    lines = [f"#### {title}", "", f"| event | ms after {ref}: median (min-max) |", "|---|---|"]
    lines += [f"| {k} | {span(v, 1)} |" for k, v in rows]
    return lines + [""]


BARE_PYTHON = "python3 -IS, nothing imported"  # agent.FLOOR's line for the interpreter alone


def _cpu_budget(figs: dict[str, dict[str, Any]], lb: dict[str, Any]) -> list[str]:
    """leasebox's cold start CPU against networkd's, in the parts this run measured on
    their own (the sandbox and floor sections): what the difference is made of."""
    def med(s: dict[str, Any] | None) -> float | None:
        return (s or {}).get("median")

    cases = (lb.get("sandbox") or {}).get("cases", {})
    lines = (lb.get("floor") or {}).get("lines", {})
    sandbox = {k: med(v.get("cpu_ms")) for k, v in cases.items() if "error" not in v}
    floor = {p: med(v.get("cpu_ms")) for k, v in lines.items() for p in KINDS
             if k.startswith(f"{p}:")}
    total = med(figs.get("leasebox", {}).get("cold_cpu"))
    base, bare = sandbox.get("no settings"), med(lines.get(BARE_PYTHON, {}).get("cpu_ms"))
    units = [x for p in KINDS if (x := sandbox.get(p)) is not None]
    programs = [x for p in KINDS if (x := floor.get(p)) is not None]
    if total is None or base is None or bare is None or len(units) < len(KINDS) \
            or len(programs) < len(KINDS):
        return []
    n = len(KINDS)
    ours = {"sandbox": sum(units) - n * base, "python": n * bare,
            "imports": sum(programs) - n * bare}
    ours["rest"] = total - sum(ours.values())
    ours["total"] = total
    peer_total, peer_unit = med(figs.get("networkd", {}).get("cold_cpu")), sandbox.get(PEER_UNIT)
    peer: dict[str, float] = {}
    if peer_total is not None and peer_unit is not None:
        peer = {"sandbox": peer_unit - base, "rest": peer_total - (peer_unit - base),
                "total": peer_total}  # no interpreter, nothing imported: "—"
    rows = (("sandbox", "systemd's set-up of the sandboxes, between fork and exec: the units' "
             "(sandbox table) less a unit without settings"),
            ("python", "Python interpreters started, nothing imported (floor)"),
            ("imports", "the programs' imports (floor, less the bare interpreter)"),
            ("rest", "the rest, approximate (the cold start's CPU less the above): PID 1 "
             "loading the units and binding the sockets; each unit's fork, exec and cgroup "
             "(the 'no settings' line) and the set-up the sandbox runs leave out (sockets, "
             "state and runtime directories); journald and D-Bus; the programs' own work "
             "up to the address; and the three running side by side"))
    L = ["", "### What the cold start's CPU is made of", "",
         "Medians of this run, in ms of CPU. The parts are measured on their own, on the idle "
         "container (sections below); the cold start runs them side by side on 2 cores, so "
         "the rest is approximate. leasebox starts three units and three interpreters, "
         "networkd one unit and no interpreter.", "",
         "| part | leasebox | systemd-networkd | difference |" if peer else "| part | leasebox |",
         "|---|---|---|---|" if peer else "|---|---|"]
    for key, label in (*rows, ("total", "**cold start CPU** (the table above)")):
        L.append(f"| {label} | {fmt(ours[key], 1)} | {fmt(peer.get(key), 1)} | "
                 f"{fmt(ours[key] - peer.get(key, 0.0), 1)} |" if peer else
                 f"| {label} | {fmt(ours[key], 1)} |")
    return L


def _absent_only_price(cases: dict[str, Any]) -> list[str]:
    """What the three units' set-up would save without the ABSENT_ONLY settings."""
    def cpu(label: str) -> float | None:
        return ((cases.get(label) or {}).get("cpu_ms") or {}).get("median")

    saved = [(part, a - b) for part in KINDS
             if (a := cpu(part)) is not None and (b := cpu(without_absent_only(part))) is not None]
    if len(saved) < len(KINDS):
        return []
    names = ", ".join(k + "=" for k in ABSENT_ONLY)
    each = ", ".join(f"{part} {fmt(d, 1)}" for part, d in saved)
    return [f"{names} protect nothing in the units' roots (their paths are hidden, "
            "inaccessible or absent there) and stay: they would protect where the sandbox "
            "differs (a kernel without procfs's subset=pid, where systemd drops ProcSubset= "
            "without a word; a drop-in that resets InaccessiblePaths=). What they cost, in "
            f"ms of set-up CPU: {each}; "
            f"{fmt(sum(d for _, d in saved), 1)} a cold start.", ""]


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    clients = results["clients"]
    figs = results["figures"]
    rat = results["ratios"]
    cfg = results["config"]
    L: list[str] = []
    L += [f"# leasebox benchmark — {meta['started']}", ""]
    L += [f"Command: `{cfg['command']}`  ", f"Runtime: {fmt(results.get('runtime_s'))} s"
          + (" (quick mode)" if cfg["quick"] else ""), ""]
    if results.get("teardown_warning"):
        L += [f"Note: {results['teardown_warning']} (after every figure was in; nothing was "
              "left running)", ""]
    if results.get("error"):
        L += [f"**The run stopped early: {results['error']}**", ""]
    m = meta["machine"]
    L += ["## Machine and versions", "",
          f"- machine: {m['nproc']} CPUs ({m['cpu']}), {fmt(m['mem_mib'])} MiB, kernel "
          f"{m['kernel']}; shared and noisy: compare ratios within this run",
          f"- leasebox {meta['leasebox']}, container {meta['python']}, {meta['systemd']}",
          f"- server: dnsmasq {meta['packages'].get('dnsmasq-base', '?')} on a bridge in its "
          "own network namespace (plus an always-up port, so the bridge never loses its "
          "carrier), one veth pair per client interface: "
          f"`{meta.get('server', '?')}`", ""]
    L += ["| client | package version | started with | stopped with |", "|---|---|---|---|"]
    for c in clients.values():
        L.append(f"| {c['label']} | {c['package']} {c['version']} | {c['started']} | "
                 f"{c['stopped']} |")
    notes = [f"- {c['label']}: {n}" for c in clients.values() for n in c["notes"]]
    if notes:
        L += ["", "Notes:", *notes]
    L += [""]
    L += ["## Side by side", "",
          f"Times in ms, **median** (min-max, n). Cold start: state removed, address flushed, "
          f"start command → global IPv4 address on veth0 (rtnetlink event), "
          f"{cfg['reps']} runs round-robin. Reboot: the same with the remembered lease kept "
          f"(INIT-REBOOT). Carrier up: client bound, veth peer down {cfg['settle']} s, up; "
          "'address' = address present again (0 if it never left), 'ACK' = lease "
          "re-confirmed (ACK seen on veth0); a client that sent nothing within 3 s of carrier "
          "up in its first two flaps is not flapped again. Memory 2 s after bound, summed over the "
          f"client's processes (smaps_rollup). Wake-ups: voluntary + involuntary context "
          f"switches of all its threads over {fmt(cfg['window'])} s while bound, scaled to a "
          "minute.", ""]
    L += ["| client | cold start | first msg | reboot start | first msg | carrier up → "
          "address | carrier up → ACK | RSS MiB | PSS MiB | procs | wake-ups/min | "
          "RELEASE on stop |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, f in figs.items():
        flap_a = span(f.get("flap_address", {}), 1)
        flap_k = span(f.get("flap_ack", {}), 1)
        if f.get("flap_n"):
            flap_a += f" kept {f['flap_kept']}/{f['flap_n']}"
            if f.get("flap_silent"):
                flap_k = f"none: sent nothing in {f['flap_silent']}/{f['flap_n']} flaps"
        L.append(
            f"| {clients[key]['label']} | {span(f['cold'])} | {_firsts(f.get('cold_first'))} "
            f"| {span(f.get('reboot', {})) if 'reboot' in f else 'n/a'} | "
            f"{_firsts(f.get('reboot_first'))} | {flap_a} | {flap_k} | "
            f"{fmt(f.get('rss_mib'), 1)} | {fmt(f.get('pss_mib'), 1)} | "
            f"{fmt(f.get('processes'))} | {fmt(f.get('wakeups_per_min'), 1)} | "
            f"{_yes(f.get('released'))} |")
    L += ["", "### leasebox / peer (ratios of medians, this run)", "",
          "| peer | cold | reboot | carrier up → address | carrier up → ACK | PSS | RSS | "
          "wake-ups |", "|---|---|---|---|---|---|---|---|"]
    for key, r in rat.items():
        L.append(f"| {clients[key]['label']} | " + " | ".join(
            fmt(r[k], 2) for k in ("cold", "reboot", "carrier_up_to_address",
                                   "carrier_up_to_ack", "pss", "rss", "wakeups")) + " |")
    if any(f.get("cold_cpu", {}).get("median") is not None for f in figs.values()):
        L += ["", "### CPU of a cold start", "",
              "The container's processes (systemd, journald, D-Bus, the client's own), from "
              "the start command until the address is on (the container's root cgroup, "
              "sampled by the agent), in ms: what a cold start costs on any machine, where "
              "the time above is also how that CPU fits on this one's 2 cores. n/a: a "
              "client the bench starts itself, outside the container's cgroups.", "",
              "| client | CPU ms | / leasebox |", "|---|---|---|"]
        lb_cpu = figs.get("leasebox", {}).get("cold_cpu", {}).get("median")
        for key, f in figs.items():
            med = f.get("cold_cpu", {}).get("median")
            cpu_text = span(f["cold_cpu"]) if med is not None else "n/a"
            L.append(f"| {clients[key]['label']} | {cpu_text} | "
                     f"{fmt(med / lb_cpu, 2) if med and lb_cpu else '—'} |")
    L += pid1_then_client(figs, clients)
    L += _cpu_budget(figs, results.get("leasebox", {}))
    L += ["", "## Targets (shown, not asserted)", "", "| target | measured | met |",
          "|---|---|---|"]
    for t in results["targets"]:
        L.append(f"| {t['target']} | {t['measured']} | {_yes(t['met'])} |")
    L += [""]
    lb = results.get("leasebox", {})
    junk = lb.get("junk")
    per = results.get("running", {}).get("leasebox", {}).get("resources", {})
    if junk or lb.get("flood_lease") or lb.get("scale") or per.get("per_process"):
        L += ["## leasebox only", ""]
    if junk:
        L += ["### Junk frames while bound", "",
              f"Flood of UDP-to-68 frames the codec refuses (short messages, no magic "
              f"cookie, bad op, options running past the end, bad IP/UDP checksums), "
              f"{fmt(junk['offered_rate'])} frames/s offered for {junk['seconds']} s from "
              "the server side of veth0, by one Python process on the same 2 cores. "
              "'refused' is counted by the engine (its rate-limited 'dropped N malformed "
              "frame(s)' line); the rest was dropped by io when the engine's socket was "
              "full, or by the kernel when io's was.", "",
              "| run | offered/s | refused by engine/s | lost before the engine | io CPU s | "
              "engine CPU s | engine frames per CPU-second |", "|---|---|---|---|---|---|---|"]
        for i, r in enumerate(junk["runs"], 1):
            L.append(f"| {i} | {fmt(r['offered_per_s'])} | {fmt(r['refused_per_s'])} | "
                     f"{fmt(r['lost_before_engine'])} | {fmt(r['cpu_s']['io'], 2)} | "
                     f"{fmt(r['cpu_s']['engine'], 2)} | {fmt(r['engine_frames_per_cpu_s'])} |")
        L += ["", f"Median refused/s: {span(junk['refused_per_s'])}; still "
              f"`{junk.get('status_after', '')}` afterwards.", ""]
    flood = lb.get("flood_lease")
    if flood:
        L += [f"### Fresh lease under {fmt(flood['rate'])} junk frames/s", "",
              "Half UDP-to-68 junk io passes to the engine, half frames io's kernel filter "
              "drops (ARP, UDP to 53/67, TCP, later fragments, IPv6). Cold start → address: "
              f"{span(flood['address_ms'])} ms; all within 2 s: {_yes(flood['within_2s'])}.",
              ""]
    if per.get("per_process"):
        L += ["### Memory per process (1 interface, 2 s after bound)", "",
              "| process | RSS MiB | PSS MiB |", "|---|---|---|"]
        for proc in per["per_process"]:
            name = next((w.rsplit("/", 1)[-1] for w in proc.get("cmd", "").split()
                         if "leasebox-" in w), proc["comm"])
            L.append(f"| {name} | {fmt(proc.get('rss_kb', 0) / MIB, 1)} | "
                     f"{fmt(proc.get('pss_kb', 0) / MIB, 1)} |")
        L += [""]
    scale = lb.get("scale")
    if scale:
        L += ["### N interfaces started together", "",
              "`systemctl start leasebox@veth0.target … leasebox@vethN-1.target` (one "
              "command), cold; one dnsmasq behind a bridge.", "",
              "Peak: 2 s after the last address, netconf still running; CPU: the 3N "
              "processes' CPU time until then (the scheduler's, schedstat); steady: once "
              "every netconf has exited idle (30 s without a request).", "",
              "| N | all leased, ms | median interface, ms | systemctl returned, ms | "
              "CPU s per interface | peak: processes | peak PSS per interface MiB | "
              "steady: processes | steady PSS MiB | steady PSS per interface MiB |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for s in scale:
            if "error" in s:
                L.append(f"| {s['interfaces']} | failed: {s['error'][:120]} |||||||||")
                continue
            steady = s.get("steady") or {}
            L.append(f"| {s['interfaces']} | {fmt(s.get('all_leased_ms'))} | "
                     f"{fmt(s['leased_ms'].get('median'))} | "
                     f"{fmt(s.get('systemctl_returned_ms'))} | "
                     f"{fmt(s.get('cpu_s_per_interface'), 3)} | {fmt(s.get('processes'))} | "
                     f"{fmt(s.get('pss_kib_per_interface', 0) / MIB, 1)} | "
                     f"{fmt(steady.get('processes'))} | "
                     f"{fmt(steady.get('pss_kib', 0) / MIB, 1)} | "
                     f"{fmt(steady.get('pss_kib_per_interface', 0) / MIB, 1)} |")
        L += ["", "Per interface, by process: CPU seconds until the peak sample, in "
              "parentheses the part spent in the kernel (stime, counted in 10 ms ticks; "
              "the kernel's share of "
              "systemd's set-up of the unit's sandbox between fork and exec is in it); "
              "systemd and journald: the container's PID 1 and journald over the same "
              "time; PSS in steady state.", "",
              "| N | CPU s: io | engine | netconf | systemd + journald | "
              "steady PSS MiB: io | engine |", "|---|---|---|---|---|---|---|"]
        for s in scale:
            kinds, steady_kinds = s.get("by_kind"), (s.get("steady") or {}).get("by_kind")
            if not kinds:
                continue
            n = s["interfaces"]
            cpu = [fmt(kinds[k]["cpu_s"] / n, 3)
                   + (f" ({fmt(kinds[k]['sys_s'] / n, 3)})" if "sys_s" in kinds[k] else "")
                   for k in ("io", "engine", "netconf")]
            pss = [fmt(steady_kinds[k]["pss_kib"] / n / MIB, 1) if steady_kinds else "—"
                   for k in ("io", "engine")]
            L.append(f"| {n} | {' | '.join(cpu)} | "
                     f"{fmt(s.get('system_cpu_s_per_interface'), 3)} | {' | '.join(pss)} |")
        L += [""]
        cg_rows = [s for s in scale if s.get("cgroup_cpu_ms_per_interface")]
        if cg_rows:
            parts = list(cg_rows[0]["cgroup_cpu_ms_per_interface"])
            L += ["Per interface, by cgroup: ms of CPU from `systemctl start` until the "
                  "last address is on, from each cgroup's cpu.stat (a template's slice "
                  "holds all its instances and what has exited, with systemd's set-up of "
                  "each between fork and exec; "
                  "systemd: PID 1; dispatch: the lease hooks' dispatcher, which starts only "
                  "with hooks installed; other services: the rest of system.slice, journald "
                  "and D-Bus among them; total: the whole container). With 2 cores, "
                  "N x total / 2 is the least time N interfaces can take.", "",
                  "| N | " + " | ".join(parts) + " |", "|---" * (len(parts) + 1) + "|"]
            for s in cg_rows:
                cg = s["cgroup_cpu_ms_per_interface"]
                L.append(f"| {s['interfaces']} | "
                         + " | ".join(fmt(cg.get(k), 1) for k in parts) + " |")
            L += [""]
    prof = results.get("profile", {})
    if prof:
        L += ["## Profile: where leasebox's time goes", ""]
        if prof.get("phases"):
            L += ["### Cold start, by phase (medians)", "", "| phase | ms |", "|---|---|"]
            L += [f"| {k} | {fmt(v, 1)} |" for k, v in prof["phases"].items()]
            L += [""]
        lr = prof.get("last_ready") or {}
        if lr.get("count"):
            n = lr.get("starts", sum(lr["count"].values()))
            L += ["### The last process ready, in each cold start", "",
                  "The three processes start together and share the two cores; the address "
                  "waits for the last of them to be ready (the line each logs right before "
                  "READY=1), "
                  "so the medians of the timeline below mix starts in which different "
                  "processes came last. Here each start is taken on its own.", "",
                  "| last ready | cold starts | from its READY=1 to the address, ms |",
                  "|---|---|---|"]
            for part in (*READY_LINES, "any"):
                tail = lr.get("tail_ms", {}).get(part)
                if tail and tail.get("n"):
                    L.append(f"| {part} | {tail['n']} of {n} | {span(tail, 1)} |")
            for part, count in lr["count"].items():
                if part not in READY_LINES:
                    L.append(f"| {part} | {count} of {n} | — |")
            L += [""]
        if prof.get("cold"):
            L += ["The engine logs no line per DHCP message at its default level: DISCOVER, "
                  "OFFER, REQUEST and ACK are the kernel's timestamps of the frames on veth0 "
                  "(a packet socket in the container); 'forked' and READY=1 are systemd's "
                  "ExecMainStartTimestampMonotonic (taken in PID 1 at the fork, before the "
                  "child sets up the sandbox and execs) and ActiveEnterTimestampMonotonic "
                  "(when PID 1 handled READY=1); the rest are journal lines, timed by the "
                  "process that logged them (SOURCE_MONOTONIC_USEC=, not journald's later "
                  "receive time). The raw journal of the last cold start is in "
                  "leasebox-cold-start.journal (journalctl -o short-monotonic: journald's "
                  "receive times).", ""]
            L += _timeline_table("Cold start timeline (journal, unit timestamps, wire)",
                                 prof["cold"], "`systemctl start`")
        if prof.get("flap"):
            L += _timeline_table("Carrier up timeline", prof["flap"], "carrier up")
        fl = lb.get("floor")
        if fl and "lines" in fl:
            L += [f"### The floor: Python's start and each program's imports, alone on the "
                  f"idle container (median of {fl['runs']})", "",
                  "Each line is a fresh `python3 -IS -c` that imports what the program "
                  "imports at start-up and leaves with _exit(2) (a cold start has no "
                  "interpreter clean-up either): what a cold start costs before leasebox "
                  "does anything, and what each process carries for good. CPU: the "
                  "child's, from getrusage.", "",
                  "| what | wall ms | CPU ms | anonymous RSS MiB |", "|---|---|---|---|"]
            for label, v in fl["lines"].items():
                L.append(f"| {label} | {fmt(v['wall_ms'].get('median'), 1)} | "
                         f"{fmt(v['cpu_ms'].get('median'), 1)} | "
                         f"{fmt((v['anon_kib'].get('median') or 0) / 1024, 1)} |")
            L += [""]
        elif fl:
            L += [f"### The floor: failed: {fl.get('error', '?')[:300]}", ""]
        sb = lb.get("sandbox")
        if sb:
            L += [f"### systemd's set-up of each unit's sandbox (median of {sb['runs']})", "",
                  "`systemd-run --wait` of /usr/bin/true with the template's [Service] "
                  "settings (all but the start-up and restart ones): systemd's 'Service "
                  "runtime', fork to exit, most of it the confinement set up between fork "
                  "and exec; and the CPU of it, from the unit's cgroup (the set-up runs in "
                  "it). Each interface starts three such units: their CPU is part of the "
                  "cold start's, in the per-cgroup table above. systemd-networkd.service's "
                  "settings, the same way, for comparison: its cold start has one such "
                  "unit.", "",
                  "| unit settings | settings | ms | CPU ms |", "|---|---|---|---|"]
            for label, v in sb["cases"].items():
                if "error" in v:
                    L.append(f"| {label} | — | failed: {v['error'][:120]} | — |")
                else:
                    L.append(f"| {label} | {v['settings']} | {span(v['ms'], 1)} | "
                             f"{span(v.get('cpu_ms') or {}, 1)} |")
            L += [""] + _absent_only_price(sb["cases"])
        it = lb.get("importtime")
        if it:
            L += [f"### python3 -X importtime, per program (median of {it.get('runs', 1)} cold "
                  "starts under it; the three start together on 2 cores, so these are "
                  "inflated: rank by them, do not add them up)", ""]
            for part in ("io", "engine", "netconf"):
                p = it.get(part)
                if not p:
                    continue
                L += [f"**{part}**: {p['modules']} modules, {fmt(p['total_ms'], 1)} ms of "
                      "imports in total", "",
                      "| largest imports (depth <= 2), cumulative ms | largest self times, ms |",
                      "|---|---|"]
                for a, b in zip(p["top"][:8], p["top_self"][:8], strict=False):
                    L.append(f"| {'. ' * a['depth']}{a['module']} {fmt(a['cum_us'] / 1000, 1)} "
                             f"| {b['module']} {fmt(b['self_us'] / 1000, 1)} |")
                L += [""]
    return "\n".join(L) + "\n"


def pid1_then_client(figs: dict[str, dict[str, Any]],
                      clients: dict[str, dict[str, Any]]) -> list[str]:
    """A cold start in two parts: PID 1 alone until its first fork, then the client's
    processes (with PID 1's later forks) until the address."""
    rows = [(key, f) for key, f in figs.items() if f.get("cold_pid1", {}).get("median")]
    if not rows:
        return []
    lb_pid1 = figs.get("leasebox", {}).get("cold_pid1", {}).get("median")
    lb_after = figs.get("leasebox", {}).get("cold_after_fork", {}).get("median")
    L = ["", "### PID 1 alone, then the client", "",
         "Each cold start split at the first fork of one of the client's services "
         "(ExecMainStartTimestamp): before it PID 1 works alone (loading the units, binding "
         "the sockets, making the cgroups, the kernel's wait at the first write to a new "
         "cgroup); after it the client's processes run, with PID 1's later forks. Medians "
         "of the starts that have both (ms); a client the bench starts itself has no row.",
         "", "| client | start → first fork | / leasebox | first fork → address | / leasebox |",
         "|---|---|---|---|---|"]
    for key, f in rows:
        pid1, after = f["cold_pid1"]["median"], f["cold_after_fork"].get("median")
        L.append(f"| {clients[key]['label']} | {span(f['cold_pid1'])} | "
                 f"{fmt(pid1 / lb_pid1, 2) if lb_pid1 else '—'} | {span(f['cold_after_fork'])} | "
                 f"{fmt(after / lb_after, 2) if after and lb_after else '—'} |")
    return L


def profile(results: dict[str, Any]) -> dict[str, Any]:
    """Medians of leasebox's cold-start and carrier-up timelines, and the phases."""
    out: dict[str, Any] = {}
    cold_runs = results.get("cold", {}).get("runs", {}).get("leasebox", [])
    out["cold"] = _merge([r.get("timeline_ms") for r in cold_runs])
    flaps = results.get("running", {}).get("leasebox", {}).get("flaps", [])
    out["flap"] = _merge([f.get("timeline_ms") for f in flaps])
    c = {k: v.get("median") for k, v in out["cold"].items()}

    def d(a: str, b: str) -> float | None:
        x, y = c.get(a), c.get(b)
        return None if x is None or y is None else y - x

    out["phases"] = {
        "systemctl start → first process forked (PID 1: units, sockets, cgroup)":
            min((v for k, v in c.items() if k.endswith(FORKED) and v), default=None),
        # only where systemd tells when the program was exec'd (256 and later)
        **{f"{part}: fork → exec (the sandbox set-up)": x for part in READY_LINES
           if (x := d(f"{part}: {FORKED}", f"{part}: {EXEC}")) is not None},
        "io: fork → READY=1 (sandbox set-up, interpreter, imports, sockets)":
            d(f"io: {FORKED}", "io: ready (READY=1)"),
        "engine: fork → READY=1 (sandbox set-up, interpreter, imports)":
            d(f"engine: {FORKED}", "engine: ready (READY=1)"),
        "engine READY=1 → DISCOVER sent (io connected, link reported; no initial delay)":
            d("engine: ready (READY=1)", "wire: DISCOVER sent"),
        "DISCOVER sent → ACK received (the exchange, dnsmasq included)":
            d("wire: DISCOVER sent", "wire: ACK received"),
        "netconf: fork → ready (sandbox set-up, interpreter, imports, pyroute2)":
            d(f"netconf: {FORKED}", "netconf: ready (pyroute2 loaded)"),
        "ACK received → address on the link (waiting for netconf, then netlink)":
            d("wire: ACK received", ADDRESS),
        "total: systemctl start → address": c.get(ADDRESS),
    }
    out["last_ready"] = last_ready([r.get("timeline_ms") or {} for r in cold_runs])
    return out


def last_ready(runs: Sequence[dict[str, float | None]]) -> dict[str, Any]:
    """Which process was the last to be ready in each cold start, and how long from there
    to the address: the three start together on two cores, and the last one sets the time
    (a median timeline mixes starts where the engine was last with ones where netconf was)."""
    last: Counter[str] = Counter()
    tails: dict[str, list[float]] = {}
    for run in runs:
        ready = {p: t for p, key in READY_LINES.items() if (t := run.get(key)) is not None}
        address = run.get(ADDRESS)
        if len(ready) < len(READY_LINES) or address is None:
            last["(not every line, or no address)"] += 1
            continue
        part = max(ready, key=lambda p: ready[p])
        last[part] += 1
        tails.setdefault(part, []).append(address - ready[part])
        tails.setdefault("any", []).append(address - ready[part])
    return {"count": dict(last), "starts": len(runs),
            "tail_ms": {k: summary(v) for k, v in tails.items()}}


def _merge(lines: Sequence[dict[str, float | None] | None]) -> dict[str, dict[str, Any]]:
    keys: list[str] = []
    for line in lines:
        for k in line or {}:
            if k not in keys:
                keys.append(k)
    return {k: summary([(line or {}).get(k) for line in lines if line]) for k in keys}
