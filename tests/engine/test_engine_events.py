"""The engine's queue of lease events for the hooks: one file per event, bounded."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path

from leasebox.core.machine.types import LeaseEventKind
from leasebox.core.record import replace
from leasebox.ctl.dispatch import environment
from leasebox.engine import events
from tests.machine.machine_helpers import Harness


def test_events_are_queued_in_order_and_read_back_by_the_dispatcher(tmp_path: Path) -> None:
    lease = Harness().acquire(dns_servers=(IPv4Address("192.0.2.53"),))
    queue = events.EventQueue(str(tmp_path), "eth0")
    queue.add(LeaseEventKind.ACQUIRED, lease)
    queue.add(LeaseEventKind.RENEWED, lease)
    queue.add(LeaseEventKind.ACQUIRED, replace(lease, address=IPv4Address("192.0.2.99")))
    queue.add(LeaseEventKind.RELEASED, lease)
    files = sorted((tmp_path / "events").iterdir())
    docs = [json.loads(p.read_text()) for p in files]
    assert [d["event"] for d in docs] == ["bound", "renewed", "changed", "released"]
    assert [p.name for p in files] == [f"{n:012d}.json" for n in (1, 2, 3, 4)]
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in files)
    env = environment(docs[0], "eth0")  # what the engine writes, the dispatcher accepts
    assert env["LEASEBOX_DNS"] == "192.0.2.53"


def test_the_queue_is_bounded(tmp_path: Path) -> None:
    lease = Harness().acquire()
    queue = events.EventQueue(str(tmp_path), "eth0")
    for _ in range(events.MAX_PENDING + 5):
        queue.add(LeaseEventKind.RENEWED, lease)
    assert len(list((tmp_path / "events").iterdir())) == events.MAX_PENDING
