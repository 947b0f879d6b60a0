"""leaseboxctl wait-online: wait until leasebox has configured the network.

The ExecStart= of leasebox-wait-online@IFACE.service (for IFACE, enabled with its target)
and of leasebox-wait-online.service (every interface, or --any), which order themselves
before network-online.target: units that need the network at boot start once every
interface named, else every one leasebox runs on (or, with --any, one of them), holds a
lease that netconf applied, all at once (each asked again every round), or after the
timeout, with a journal line naming what was not ready. A user the engines refuse is told
so at once (exit 77): waiting would not change it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from leasebox.ctl.commands import (
    EX_NOPERM,
    TIMEOUT,
    CtlError,
    chosen_interfaces,
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


def _state(rundir: Path, name: str, deadline: float | None) -> str:
    # A hung engine holds the wait up to the overall deadline, not 10 s an interface.
    timeout = TIMEOUT if deadline is None else \
        min(TIMEOUT, max(deadline - time.monotonic(), MIN_ASK))
    try:
        return str(request(rundir, name, control.Command.STATUS, timeout).get("state")
                   or "starting")  # as leaseboxctl's list says it
    except CtlError as exc:
        if exc.code == EX_NOPERM:  # it will not change while this waits: said at once
            raise
        return why(exc)


def run(args: argparse.Namespace) -> int:
    rundir = Path(args.runtime_dir)
    names = chosen_interfaces(args)
    if isinstance(names, int):
        return names
    if not names:
        print("leaseboxctl: leasebox runs on no interface: nothing to wait for",
              file=sys.stderr)
        return 0
    started = time.monotonic()
    deadline = started + args.timeout if args.timeout > 0 else None
    while True:
        # every interface asked again each round: online is all of them configured at
        # once, not each at some time (one may have lost its lease since)
        try:
            states = {name: _state(rundir, name, deadline) for name in names}
        except CtlError as exc:
            print(terminal_safe(f"leaseboxctl: {exc}"), file=sys.stderr)
            return exc.code
        ready = [n for n in names if states[n] in CONFIGURED]
        online = bool(ready and args.any) or len(ready) == len(names)
        timed_out = not online and deadline is not None and time.monotonic() >= deadline
        if args.json and (online or timed_out):
            print(json.dumps({"online": online, "seconds": time.monotonic() - started,
                              "states": states}, indent=2, sort_keys=True))
        if online:
            if not args.quiet and not args.json:
                print(terminal_safe(f"leaseboxctl: online after "
                                    f"{time.monotonic() - started:.1f} s: {', '.join(ready)}"))
            return 0
        if timed_out:
            waiting = ", ".join(f"{n} ({states[n]})" for n in names if n not in ready)
            print(terminal_safe(f"leaseboxctl: timed out after {args.timeout:g} s waiting "
                                f"for {'any of ' if args.any else ''}{waiting}"),
                  file=sys.stderr)
            return EX_TIMEOUT
        time.sleep(POLL)
