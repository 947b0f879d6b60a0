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


def _hook_dirs(tmp_path: Path, mounted: bool = True) -> tuple[dict[str, str], str]:
    """Three hook directories under tmp_path, each in its own "bind", and a mountinfo that
    lists those binds (or not)."""
    hook_mounts = {str(tmp_path / name / "dispatch.d"): str(tmp_path / name)
                   for name in ("etc", "run", "usr")}
    mountinfo = tmp_path / "mountinfo"
    lines = [f"{20 + n} 1 0:{n} / {mount} ro,nosuid - ext4 /dev/x ro"
             for n, mount in enumerate(hook_mounts.values())] if mounted else []
    mountinfo.write_text("\n".join(["1 0 0:1 / / rw - tmpfs tmpfs rw", *lines]) + "\n")
    return hook_mounts, str(mountinfo)


def test_nothing_is_queued_while_no_hook_is_installed(tmp_path: Path) -> None:
    lease = Harness().acquire()
    hook_mounts, mountinfo = _hook_dirs(tmp_path)
    state = tmp_path / "state"
    queue = events.EventQueue(str(state), "eth0", hook_mounts, mountinfo)
    first = next(iter(hook_mounts))
    Path(first).mkdir(parents=True)
    (Path(first) / ".hidden").write_text("")  # the dispatcher skips dot names too
    queue.add(LeaseEventKind.ACQUIRED, lease)
    queue.add(LeaseEventKind.RENEWED, lease)
    assert not (state / "events").exists()
    # a hook installed while the engine runs: the next event is queued, and it knows the
    # address it had bound without one
    (Path(list(hook_mounts)[1])).mkdir(parents=True)
    (Path(list(hook_mounts)[1]) / "10-hook").write_text("#!/bin/sh\n")
    queue.add(LeaseEventKind.ACQUIRED, replace(lease, address=IPv4Address("192.0.2.99")))
    docs = [json.loads(p.read_text()) for p in sorted((state / "events").iterdir())]
    assert [d["event"] for d in docs] == ["changed"]


def test_events_are_queued_unless_every_hook_directory_is_in_sight(tmp_path: Path) -> None:
    lease = Harness().acquire()
    hook_mounts, mountinfo = _hook_dirs(tmp_path, mounted=False)  # binds skipped or no sandbox
    queue = events.EventQueue(str(tmp_path / "a"), "eth0", hook_mounts, mountinfo)
    queue.add(LeaseEventKind.ACQUIRED, lease)
    assert len(list((tmp_path / "a" / "events").iterdir())) == 1
    # in sight, but one cannot be read (a file where the directory belongs, say)
    hook_mounts, mountinfo = _hook_dirs(tmp_path)
    Path(list(hook_mounts)[2]).parent.mkdir(parents=True)
    Path(list(hook_mounts)[2]).write_text("")
    queue = events.EventQueue(str(tmp_path / "b"), "eth0", hook_mounts, mountinfo)
    queue.add(LeaseEventKind.ACQUIRED, lease)
    assert len(list((tmp_path / "b" / "events").iterdir())) == 1
    # no mountinfo at all: it cannot tell
    queue = events.EventQueue(str(tmp_path / "c"), "eth0", hook_mounts, str(tmp_path / "no"))
    queue.add(LeaseEventKind.ACQUIRED, lease)
    assert len(list((tmp_path / "c" / "events").iterdir())) == 1


def test_mount_points_of_a_mountinfo(tmp_path: Path) -> None:
    path = tmp_path / "mountinfo"
    path.write_text("29 1 253:1 /usr /usr ro,relatime shared:1 - ext4 /dev/vda1 rw\n"
                    "30 29 0:5 / /run/leasebox-conf ro - tmpfs tmpfs rw\n\nshort line\n")
    assert events.mount_points(str(path)) == {"/usr", "/run/leasebox-conf"}
    assert events.mount_points(str(tmp_path / "missing")) == frozenset()
