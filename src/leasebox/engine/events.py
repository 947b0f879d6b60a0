"""Lease events for the dispatcher (leasebox-dispatch@IFACE.service), as files.

The engine never runs anything (its seccomp filter forbids exec): for each lease event it
writes one small JSON file into STATE_DIR/events/, and leasebox-dispatch@IFACE.path starts
the dispatcher when that directory is not empty. The dispatcher (leaseboxctl dispatch, root)
reads each file back as untrusted input, runs the administrator's hooks, and deletes it.
Bounded: at most MAX_PENDING files wait; past that, events are dropped (and said so).
"""

from __future__ import annotations

import json
import os

from leasebox.core.log import Logger
from leasebox.core.machine.types import Lease, LeaseEventKind
from leasebox.engine import journal
from leasebox.runtime import atomicfile

log = Logger("leasebox.engine")

DIRECTORY = "events"
MAX_PENDING = 64
# what each lease event is called for the hooks
HOOK_EVENTS = {
    LeaseEventKind.ACQUIRED: "bound",
    LeaseEventKind.RENEWED: "renewed",
    LeaseEventKind.REBOUND: "renewed",
    LeaseEventKind.RELEASED: "released",
    LeaseEventKind.LOST: "lost",
    LeaseEventKind.DECLINED: "declined",
    LeaseEventKind.REFUSED: "refused",
}


def document(event: str, interface: str, lease: Lease) -> dict[str, object]:
    return {
        "event": event,
        "interface": interface,
        "address": str(lease.address),
        "prefixlen": lease.prefixlen,
        "gateway": journal.gateway(lease),
        "server": str(lease.server_id),
        "dns": [str(d) for d in lease.dns_servers],
        "domains": list(dict.fromkeys(([lease.domain_name] if lease.domain_name else [])
                                      + list(lease.domain_search))),
        "ntp": [str(n) for n in lease.ntp_servers],
        "mtu": lease.mtu,
        "lease_time": lease.lease_time,
    }


class EventQueue:
    def __init__(self, state_dir: str, interface: str) -> None:
        self.directory = f"{state_dir}/{DIRECTORY}"
        self.interface = interface
        self.seq = 0
        self.last_address: str | None = None  # of the last lease bound: "changed" or not
        self.full_logged = False

    def add(self, kind: LeaseEventKind, lease: Lease) -> None:
        event = HOOK_EVENTS[kind]
        if event == "bound":
            if self.last_address is not None and self.last_address != str(lease.address):
                event = "changed"
            self.last_address = str(lease.address)
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            pending = os.listdir(self.directory)
            if len(pending) >= MAX_PENDING:
                if not self.full_logged:
                    log.warning("%d lease events wait for the dispatcher: dropping %s",
                                len(pending), event)
                    self.full_logged = True
                return
            self.full_logged = False
            self.seq = max([self.seq, *(_number(name) for name in pending)]) + 1
            data = json.dumps(document(event, self.interface, lease), sort_keys=True)
            atomicfile.write_atomic(self.directory, f"{self.seq:012d}.json",
                                    data.encode("ascii"), mode=0o600)
        except OSError as exc:
            log.error("cannot queue the %s event for the dispatcher: %s", event, exc)


def _number(name: str) -> int:
    stem = name.removesuffix(".json")
    return int(stem) if stem.isdigit() and len(stem) == 12 else 0
