"""leaseboxctl wait-online: wait until leasebox has configured the network.

The ExecStart= of leasebox-wait-online@IFACE.service (for IFACE, enabled with its target)
and of leasebox-wait-online.service (every interface, or --any), which order themselves
before network-online.target: units that need the network at boot start once every
interface named, else every one leasebox runs on (or, with --any, one of them), holds a
lease that netconf applied, all at once (each asked again every round), or after the
timeout, with a journal line naming what was not ready. A user the engines refuse is told
so at once (exit 77): waiting would not change it.

A configured interface is ready once its lease's DNS has reached systemd-resolved too (or
netconf's resolv.conf), so that a unit after network-online.target resolves names from
its first lookup: netconf answers the engine before it hands DNS on, and leasebox-bus
(started on demand, at boot) delivers it after that. The files netconf and leasebox-bus
keep say where the hand-off stands; a hand-off that failed (resolved not answering, say)
or still pending after DNS_GRACE holds nothing up: it is said, and the wait goes on
without it. Files this user cannot read count as delivered.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import time
from pathlib import Path

from leasebox.ctl import commands
from leasebox.ctl.commands import (
    EX_NOPERM,
    TIMEOUT,
    CtlError,
    chosen_interfaces,
    no_such_interface,
    request,
    terminal_safe,
    why,
)
from leasebox.ipc import control

POLL = 0.1  # seconds between two looks at each interface not yet configured
EX_TIMEOUT = 1
MIN_ASK = 0.05  # seconds an engine gets to answer once the deadline has passed
# the address is applied in each of these (BOUND only once netconf confirmed it)
CONFIGURED = frozenset({"BOUND", "RENEWING", "REBINDING"})
# seconds a configured interface waits for its DNS hand-off at most (it is in flight: a
# failed one waits not at all)
DNS_GRACE = 5.0


def _dns_of(names: object) -> tuple[object, object] | None:
    """The DNS part of netconf.state's "dns" or "wanted" (None: absent)."""
    if not isinstance(names, dict):
        return None
    return names.get("dns_servers"), names.get("domains")


def dns_pending(name: str) -> str:
    """Why the DNS of `name`'s lease is not with its resolver yet; "" when it is, when
    its hand-off failed (an error in leasebox-bus's file), or when this cannot tell."""
    state = commands.read_json(commands.NETCONF_RUN / name / "netconf.state")
    if isinstance(state, dict) and state.get("wanted") is not None:
        # the same names again (a new sink, a link plugged in again) are on their way too;
        # only a change of the NTP servers alone is not waited for
        same_dns = _dns_of(state["wanted"]) == _dns_of(state.get("dns"))
        if not same_dns or state["wanted"] == state.get("dns"):
            return "netconf has not handed its DNS on yet"
    doc = commands.read_json(commands.BUS_LINKS / f"{name}.json")
    if isinstance(doc, dict) and doc.get("resolved") == "pending":  # in flight, no error
        return "systemd-resolved does not have its DNS yet"
    return ""


def _sees_links() -> bool:
    """Whether this process sees the machine's links: the wait-online units run it with
    PrivateNetwork=yes, where there is only lo, and every interface would look absent."""
    try:
        return any(name != "lo" for _, name in socket.if_nameindex())
    except OSError:
        return False


def _state(rundir: Path, name: str, deadline: float | None) -> str:
    # A hung engine holds the wait up to the overall deadline, not 10 s an interface.
    timeout = TIMEOUT if deadline is None else \
        min(TIMEOUT, max(deadline - time.monotonic(), MIN_ASK))
    try:
        return str(request(rundir, name, control.Command.STATUS, timeout).get("state")
                   or ("no such interface" if _sees_links() and no_such_interface(name)
                       else "starting"))  # as leaseboxctl's list says it
    except CtlError as exc:
        if exc.code == EX_NOPERM:  # it will not change while this waits: said at once
            raise
        return why(exc)


def _unmasked(names: list[str], states: dict[str, str], asked: set[str]) -> list[str]:
    """`names` but those whose target is masked, asked of systemd once for each interface
    leasebox does not run on: `systemctl mask leasebox@IFACE.target` turns leasebox off
    there and leaves the enabled leasebox-wait-online@IFACE.service, whose wait, at every
    boot, nothing would end."""
    kept = []
    for name in names:
        if states.get(name) == "not running" and name not in asked:
            asked.add(name)
            if commands.target_masked(name):
                print(terminal_safe(f"leaseboxctl: {name}: leasebox@{name}.target is "
                                    f"masked: not waiting for it"), file=sys.stderr)
                continue
        kept.append(name)
    return kept


def run(args: argparse.Namespace) -> int:
    rundir = Path(args.runtime_dir)
    names = chosen_interfaces(args)
    if isinstance(names, int):
        if args.json:  # still the object a reader (jq .online) reads
            _report(False, 0.0, {}, {})
        return names
    started = time.monotonic()
    last: dict[str, dict[str, str]] = {"states": {}, "dns": {}}  # as the last round saw
    try:
        return _wait(args, rundir, names, last)
    except KeyboardInterrupt:  # (Ctrl-C): still the object a reader (jq .online) reads
        if args.json and "reported" not in last:
            with contextlib.suppress(OSError):  # (a reader gone: the SIGINT still ends it)
                _report(False, time.monotonic() - started, last["states"], last["dns"])
        raise


def _report(online: bool, seconds: float, states: dict[str, str], dns: dict[str, str]) -> None:
    """--json's object, printed at the end: online, timed out or interrupted."""
    print(json.dumps({"online": online, "seconds": seconds, "states": states,
                      "dns_pending": {n: why for n, why in dns.items() if why}},
                     indent=2, sort_keys=True))


def _nothing_to_wait_for(args: argparse.Namespace, masked: bool) -> int:
    """`masked`: there were interfaces to wait for, their targets all masked."""
    if not args.quiet:
        why = ("every interface asked for has its target masked" if masked
               else "leasebox runs on no interface")
        print(f"leaseboxctl: {why}: nothing to wait for", file=sys.stderr)
    if args.json:  # still the object a reader (jq .online) reads: online, as the exit says
        _report(True, 0.0, {}, {})
    return 0


def _wait(args: argparse.Namespace, rundir: Path, names: list[str],
          last: dict[str, dict[str, str]]) -> int:
    if not names:
        return _nothing_to_wait_for(args, masked=False)
    started = time.monotonic()
    deadline = started + args.timeout if args.timeout > 0 else None
    configured_since: dict[str, float] = {}
    asked: set[str] = set()
    while True:
        # every interface asked again each round: online is all of them configured at
        # once, not each at some time (one may have lost its lease since)
        try:
            states = {name: _state(rundir, name, deadline) for name in names}
        except CtlError as exc:
            print(terminal_safe(f"leaseboxctl: {exc}"), file=sys.stderr)
            if args.json:  # still the object a reader (jq .online) reads
                _report(False, time.monotonic() - started, last["states"], last["dns"])
            return exc.code
        # (one not running may have been masked since it was last asked about)
        if any(n not in asked for n in names) and not (
                names := _unmasked(names, states, asked)):
            return _nothing_to_wait_for(args, masked=True)
        now = time.monotonic()
        configured_since = {n: configured_since.get(n, now) for n in names
                            if states[n] in CONFIGURED}
        dns = {n: dns_pending(n) for n in configured_since}
        last.update(states=states, dns=dns)
        ready = [n for n in configured_since
                 if not dns[n] or now - configured_since[n] >= DNS_GRACE]
        online = bool(ready and args.any) or len(ready) == len(names)
        timed_out = not online and deadline is not None and now >= deadline
        if args.json and (online or timed_out):
            last["reported"] = {}
            _report(online, now - started, states, dns)
        if online:
            for name in ready:
                if dns[name] and not args.json:
                    print(terminal_safe(f"leaseboxctl: {name}: going on without waiting for "
                                        f"its DNS any longer: {dns[name]}"), file=sys.stderr)
            if not args.quiet and not args.json:
                print(terminal_safe(f"leaseboxctl: online after {now - started:.1f} s: "
                                    f"{', '.join(ready)}"))
            return 0
        if timed_out:
            waiting = ", ".join(f"{n} ({dns.get(n) or states[n]})" for n in names
                                if n not in ready)
            print(terminal_safe(f"leaseboxctl: timed out after {args.timeout:g} s waiting "
                                f"for {'any of ' if args.any else ''}{waiting}"),
                  file=sys.stderr)
            return EX_TIMEOUT
        time.sleep(POLL)
