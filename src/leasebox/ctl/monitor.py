"""leaseboxctl monitor: follow lease events as they happen, from the journal.

The engine logs every lease event with a MESSAGE_ID of its own (leasebox.core.events) and
fields INTERFACE=, LEASE_EVENT=, LEASE_ADDRESS=, SERVER_ID= (and CAPTIVE_PORTAL=, and
LEASE_KEPT=1 on a failed renewal whose lease stays, shown as renew-failed); this
follows those entries with systemd's journal reader, so it needs no daemon of its own and
sees what `journalctl` sees (root, or the systemd-journal group). Ends on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any

from leasebox.core import events
from leasebox.ctl.commands import EX_UNAVAILABLE, EX_USAGE, terminal_safe
from leasebox.runtime import ifname

JOURNAL_READERS = ("systemd-journal", "adm", "wheel")  # journald's files grant them read
WAIT = 0.5  # seconds per wait for new entries (the stop flag is looked at in between)
FIELDS = ("INTERFACE", "LEASE_EVENT", "LEASE_ADDRESS", "SERVER_ID", "CAPTIVE_PORTAL",
          "DHCP_STATE", "MESSAGE")
_KIND = {ident: kind for kind, ident in events.LEASE_EVENT_IDS.items()}
_KIND[events.CAPTIVE_PORTAL_ID] = "captive-portal"
_KIND[events.SERVERS_ID] = "servers"
_KIND[events.OTHER_CLIENT_ID] = "other-client"  # another DHCP client uses the link's MAC


class _Stop:
    def __init__(self) -> None:
        self.requested = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True


def event(entry: dict[str, Any]) -> dict[str, Any]:
    """One journal entry as the event leaseboxctl prints (--json: this object)."""
    stamp = entry.get("__REALTIME_TIMESTAMP")  # a datetime, from systemd's reader
    out: dict[str, Any] = {
        "time": stamp.timestamp() if isinstance(stamp, datetime) else None,
        "event": _KIND.get(str(entry.get("MESSAGE_ID", "")).replace("-", ""), "unknown"),
    }
    if out["event"] == "failed" and str(entry.get("LEASE_KEPT", "")) == "1":
        out["event"] = "renew-failed"  # the lease in use stays, as the hooks hear it
    for name in FIELDS:
        if name in entry:
            out[name.lower()] = str(entry[name])
    return out


def is_lease_event(entry: dict[str, Any], wanted: set[str]) -> bool:
    """An engine's lease event, for one of the `wanted` interfaces (all when empty).

    MESSAGE_ID and INTERFACE are the sender's own fields: any local user can log an entry
    with them. _SYSTEMD_UNIT is journald's, from the sender's cgroup, so only what the
    interface's engine logged is taken as its event."""
    ident = str(entry.get("MESSAGE_ID", "")).replace("-", "")
    interface = str(entry.get("INTERFACE", ""))
    return (ident in _KIND and (not wanted or interface in wanted)
            and str(entry.get("_SYSTEMD_UNIT", "")) == f"leasebox-engine@{interface}.service")


def line(ev: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ev["time"])) if ev["time"] \
        else "-"
    return terminal_safe(f"{when} {ev.get('interface', '-')} {ev['event']}: "
                         f"{ev.get('message', '')}")


def journal_hint() -> str | None:
    """What journalctl says to a user who cannot read the system journal: the reader
    skips files it may not open without a word, and monitor would wait for ever, silent."""
    if os.geteuid() == 0:
        return None
    for gid in os.getgroups():
        try:
            if grp.getgrgid(gid).gr_name in JOURNAL_READERS:
                return None
        except KeyError:
            continue
    return ("leaseboxctl: you are not in the groups that may read the system journal "
            f"({', '.join(JOURNAL_READERS)}), where the engines log: run as root, or be "
            "added to systemd-journal")


def _last(reader: Any, chosen: Callable[[dict[str, Any]], bool],
          lines: int, stop: _Stop) -> list[dict[str, Any]]:
    """The last `lines` chosen entries, oldest first, as journalctl -n shows them; the
    walk goes back through the whole boot when it has fewer, and Ctrl-C ends it."""
    reader.seek_tail()
    earlier: list[dict[str, Any]] = []
    while len(earlier) < lines and not stop.requested:
        entry = reader.get_previous()
        if not entry:
            break
        if chosen(entry):
            earlier.append(entry)
    return earlier[::-1]


def run(args: argparse.Namespace) -> int:
    try:  # checked as every command checks them: a name no interface can have waits for ever
        wanted = {ifname.check(name) for name in args.interfaces}
    except ValueError as exc:
        print(terminal_safe(f"leaseboxctl: {exc}"), file=sys.stderr)
        return EX_USAGE
    hint = journal_hint()
    if hint:
        print(hint, file=sys.stderr, flush=True)
    try:
        from systemd import journal  # noqa: PLC0415 - only this command reads the journal
    except ImportError:
        print("leaseboxctl: monitor needs python3-systemd", file=sys.stderr)
        return EX_UNAVAILABLE
    stop = _Stop()
    reader = journal.Reader()
    # Watch the journal directories from now on (inotify), before the first look: a file
    # created in between, such as the first one of a service's dynamic user, is not missed.
    reader.fileno()
    # Only the boot is matched in the journal; the events are picked out here. With matches
    # that nothing has met yet, systemd 252's reader, positioned at the tail, misses the
    # entries appended later (seen as a flaky test); this boot always has entries.
    reader.this_boot()

    def chosen(entry: dict[str, Any]) -> bool:
        return is_lease_event(entry, wanted)

    def emit(entry: dict[str, Any]) -> None:
        ev = event(entry)
        print(json.dumps(ev, sort_keys=True) if args.json else line(ev), flush=True)

    for entry in _last(reader, chosen, args.lines, stop):
        emit(entry)
    reader.seek_tail()
    reader.get_previous()  # positioned after the last entry: only new ones from here
    print("leaseboxctl: following lease events; Ctrl-C ends", file=sys.stderr, flush=True)
    while not stop.requested:
        if reader.wait(WAIT) == journal.NOP:
            continue
        for entry in reader:
            if chosen(entry):
                emit(entry)
    return 0
