"""The engine's queue of lease events for the hooks: one file per event, bounded."""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from leasebox.core.log import WARNING
from leasebox.core.machine.types import LeaseEventKind
from leasebox.core.record import replace
from leasebox.core.values import MAX_DNS, MAX_DOMAINS, MAX_NTP, MAX_ROUTES, Route
from leasebox.ctl.dispatch import decode_event, environment
from leasebox.engine import events, leasefile
from leasebox.runtime import atomicfile
from tests.conftest import Logs
from tests.machine.machine_helpers import Harness


def test_events_are_queued_in_order_and_read_back_by_the_dispatcher(tmp_path: Path) -> None:
    lease = Harness().acquire(dns_servers=(IPv4Address("192.0.2.53"),))
    queue = events.EventQueue(str(tmp_path), "eth0")
    queue.add(LeaseEventKind.ACQUIRED, lease)
    queue.add(LeaseEventKind.RENEWED, lease)
    queue.add(LeaseEventKind.ACQUIRED, replace(lease, address=IPv4Address("192.0.2.99")))
    queue.add(LeaseEventKind.FAILED, lease, kept=True)
    queue.add(LeaseEventKind.FAILED, lease)
    queue.add(LeaseEventKind.RELEASED, lease)
    files = sorted((tmp_path / "events").iterdir())
    docs = [json.loads(p.read_text()) for p in files]
    assert [d["event"] for d in docs] == ["bound", "renewed", "changed", "renew-failed",
                                          "failed", "released"]
    assert [p.name for p in files] == [f"{n:012d}.json" for n in range(1, 7)]
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in files)
    # what the engine writes, the dispatcher accepts
    envs = [environment(doc, "eth0") for doc in docs]
    assert envs[0]["LEASEBOX_DNS"] == "192.0.2.53"
    assert envs[3]["LEASEBOX_EVENT"] == "renew-failed"
    # "changed" says what went: hooks that set something up for it take it down
    assert [e["LEASEBOX_OLD_ADDRESS"] for e in envs[:3]] == ["", "", str(lease.address)]


def test_events_are_not_synced_to_disk(tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Each event cost two fsyncs (file and directory), at every renewal of a short lease,
    for a file that is stale after a reboot anyway. The lease file keeps its own."""
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    lease = Harness().acquire()
    events.EventQueue(str(tmp_path), "eth0").add(LeaseEventKind.ACQUIRED, lease)
    assert len(os.listdir(tmp_path / "events")) == 1 and synced == []
    leasefile.store(str(tmp_path), lease, acquired_wall=1e9)
    assert len(synced) == 2


def test_events_carry_the_boot_id_the_engine_was_given(tmp_path: Path) -> None:
    lease = Harness().acquire()
    events.EventQueue(str(tmp_path / "a"), "eth0", boot="0" * 32).add(
        LeaseEventKind.ACQUIRED, lease)
    events.EventQueue(str(tmp_path / "b"), "eth0").add(LeaseEventKind.ACQUIRED, lease)
    [with_boot] = [json.loads(p.read_text()) for p in (tmp_path / "a" / "events").iterdir()]
    [without] = [json.loads(p.read_text()) for p in (tmp_path / "b" / "events").iterdir()]
    assert with_boot["boot"] == "0" * 32 and "boot" not in without
    assert environment(with_boot, "eth0", "0" * 32)["LEASEBOX_EVENT"] == "bound"


def test_the_engine_takes_a_boot_id_as_systemd_gives_it() -> None:
    from leasebox.core.events import boot_id
    from leasebox.engine.main import parse_args
    from leasebox.runtime.cmdline import UsageError

    assert boot_id("3F2504E0-4F89-11D3-9A0C-0305E82C3301\n") == "3f2504e04f8911d39a0c0305e82c3301"
    for bad in ("", "3f2504e0", "x" * 32, "3f2504e04f8911d39a0c0305e82c3301aa"):
        assert boot_id(bad) is None
    args = parse_args(["eth0", "--boot-id", "3f2504e04f8911d39a0c0305e82c3301"])
    assert args is not None and args.boot_id == "3f2504e04f8911d39a0c0305e82c3301"
    with pytest.raises(UsageError, match="--boot-id"):
        parse_args(["eth0", "--boot-id", "%b"])


def test_the_hooks_get_routers_routes_and_times(tmp_path: Path) -> None:
    """What dhclient's and dhcpcd's hooks get too: a policy-routing hook needs the
    routers and option 121's routes, not only the default gateway. As many routes as a
    lease may hold (MAX_ROUTES) pass the dispatcher, with the longest addresses."""
    routes = tuple(Route(IPv4Network(f"100.{n}.{n}.128/25"), IPv4Address("198.151.200.254"))
                   for n in range(MAX_ROUTES - 1)) + (Route(IPv4Network("0.0.0.0/0"),
                                                            IPv4Address("192.0.2.1")),)
    lease = replace(Harness().acquire(), classless_routes=routes,
                    routers=(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")),
                    broadcast_address=IPv4Address("192.0.2.255"), domain_name="example.test",
                    domain_search=("corp.example.test",), hostname="vm7.example.test")
    # and every other list at its bound, with the longest names: the file stays readable
    longest = tuple(f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{n:02d}{'d' * 59}"
                    for n in range(MAX_DOMAINS - 1))
    widest = replace(lease, domain_name=longest[0], domain_search=longest[1:],
                     hostname=longest[0], captive_portal="https://" + "p" * 247,
                     dns_servers=(IPv4Address("198.151.200.254"),) * MAX_DNS,
                     ntp_servers=(IPv4Address("198.151.200.254"),) * MAX_NTP)
    decode_event(json.dumps(events.document("bound", "eth0", widest, acquired=1.0)).encode())
    queue = events.EventQueue(str(tmp_path), "eth0")
    queue.add(LeaseEventKind.ACQUIRED, lease, acquired=1_790_000_000.7)
    [path] = (tmp_path / "events").iterdir()
    doc = decode_event(path.read_bytes())  # within the dispatcher's bound
    env = environment(doc, "eth0")
    assert env["LEASEBOX_ACQUIRED"] == "1790000000"
    assert env["LEASEBOX_EXPIRES"] == str(1_790_000_000 + lease.lease_time)
    assert env["LEASEBOX_ROUTERS"] == "192.0.2.1 192.0.2.2"
    assert env["LEASEBOX_ROUTES"].split()[0] == "100.0.0.128/25,198.151.200.254"
    assert env["LEASEBOX_ROUTES"].split()[-1] == "0.0.0.0/0,192.0.2.1"
    assert len(env["LEASEBOX_ROUTES"].split()) == MAX_ROUTES
    assert env["LEASEBOX_BROADCAST"] == "192.0.2.255"
    assert (env["LEASEBOX_DOMAIN_NAME"], env["LEASEBOX_SEARCH"]) == ("example.test",
                                                                     "corp.example.test")
    assert env["LEASEBOX_DOMAINS"] == "example.test corp.example.test"
    assert env["LEASEBOX_HOSTNAME"] == "vm7.example.test"
    assert (env["LEASEBOX_RENEWAL_TIME"], env["LEASEBOX_REBINDING_TIME"]) == (
        str(lease.renewal_time), str(lease.rebinding_time))
    # no option 121: no routes (the routers are used), unlike an empty list
    plain = replace(lease, classless_routes=None, broadcast_address=None, domain_name=None,
                    hostname=None)
    plain_env = environment(events.document("bound", "eth0", plain), "eth0")
    assert plain_env["LEASEBOX_ROUTES"] == "" and plain_env["LEASEBOX_HOSTNAME"] == ""


@pytest.mark.parametrize("use", [True, False])
def test_the_hooks_get_the_captive_portal_unless_it_is_not_used(tmp_path: Path,
                                                                use: bool) -> None:
    """LEASEBOX_CAPTIVE_PORTAL: option 114 (RFC 8910), for a hook that tells the user
    (leasebox never opens it); empty with UseCaptivePortal=no, as everywhere else."""
    uri = "https://portal.example.test/login?site=7"
    lease = replace(Harness().acquire(), captive_portal=uri)
    queue = events.EventQueue(str(tmp_path), "eth0", captive_portal=use)
    queue.add(LeaseEventKind.ACQUIRED, lease)
    [path] = (tmp_path / "events").iterdir()
    env = environment(decode_event(path.read_bytes()), "eth0")
    assert env["LEASEBOX_CAPTIVE_PORTAL"] == (uri if use else "")


def test_the_queue_is_bounded(tmp_path: Path) -> None:
    lease = Harness().acquire()
    queue = events.EventQueue(str(tmp_path), "eth0")
    for _ in range(events.MAX_PENDING + 5):
        queue.add(LeaseEventKind.RENEWED, lease)
    queue.add(LeaseEventKind.LOST, lease)
    names = sorted(p.name for p in (tmp_path / "events").iterdir())
    assert len(names) == events.MAX_PENDING
    # the oldest made way: the newest, the one that says how things stand, is there
    assert names[0] == f"{7:012d}.json" and names[-1] == f"{events.MAX_PENDING + 6:012d}.json"
    assert json.loads((tmp_path / "events" / names[-1]).read_text())["event"] == "lost"


def _hook_dirs(tmp_path: Path, mounted: bool = True) -> tuple[dict[str, str], str]:
    """Three hook directories under tmp_path, each in its own "bind", and a mountinfo that
    lists those binds (or not)."""
    hook_mounts = {str(tmp_path / name / "dispatch.d"): str(tmp_path / name)
                   for name in ("etc", "run", "usr")}
    tmp_path.mkdir(parents=True, exist_ok=True)
    mountinfo = tmp_path / "mountinfo"
    _write_mountinfo(mountinfo, list(hook_mounts.values()) if mounted else [])
    return hook_mounts, str(mountinfo)


def _write_mountinfo(path: Path, mounts: list[str], root: str = "/x") -> None:
    lines = [f"{20 + n} 1 0:{n} {root}{n} {mount} ro,nosuid - ext4 /dev/x ro"
             for n, mount in enumerate(mounts)]
    path.write_text("\n".join(["1 0 0:1 / / rw - tmpfs tmpfs rw", *lines]) + "\n")


def _queued(state: Path) -> list[str]:
    events_dir = state / "events"
    return sorted(os.listdir(events_dir)) if events_dir.exists() else []


def test_nothing_is_queued_while_no_hook_is_installed(tmp_path: Path) -> None:
    lease = Harness().acquire()
    hook_mounts, mountinfo = _hook_dirs(tmp_path)
    state = tmp_path / "state"
    queue = events.EventQueue(str(state), "eth0", hook_mounts, mountinfo)
    first, second, _ = hook_mounts
    Path(first).mkdir(parents=True)
    (Path(first) / ".hidden").write_text("")  # the dispatcher skips dot names too
    (Path(first) / "10-hook~").write_text("")  # and backup copies
    queue.add(LeaseEventKind.ACQUIRED, lease)
    queue.add(LeaseEventKind.RENEWED, lease)
    assert _queued(state) == []
    # a hook installed while the engine runs: the next event is queued, and it knows the
    # address it had bound without one
    Path(second).mkdir(parents=True)
    (Path(second) / "10-hook").write_text("#!/bin/sh\n")
    queue.add(LeaseEventKind.ACQUIRED, replace(lease, address=IPv4Address("192.0.2.99")))
    docs = [json.loads((state / "events" / name).read_text()) for name in _queued(state)]
    assert [d["event"] for d in docs] == ["changed"]


def test_masks_alone_are_no_hooks(tmp_path: Path) -> None:
    """Every hook masked (a link to /dev/null, as leasebox(8) says to turn one off): each
    lease event was still queued and a root dispatcher started, to run nothing."""
    lease = Harness().acquire()
    hook_mounts, mountinfo = _hook_dirs(tmp_path)
    state = tmp_path / "state"
    queue = events.EventQueue(str(state), "eth0", hook_mounts, mountinfo)
    etc, _, usr = (Path(d) for d in hook_mounts)
    for folder in (etc, usr):
        folder.mkdir(parents=True)
    (usr / "50-vendor").write_text("#!/bin/sh\n")
    (etc / "50-vendor").symlink_to(os.devnull)  # masks the vendor's
    (etc / "60-own").symlink_to(os.devnull)
    queue.add(LeaseEventKind.ACQUIRED, lease)
    assert _queued(state) == []
    (usr / "70-vendor").write_text("#!/bin/sh\n")  # not masked: it runs
    queue.add(LeaseEventKind.RENEWED, lease)
    assert len(_queued(state)) == 1


def test_events_are_queued_unless_every_hook_directory_is_in_sight(tmp_path: Path) -> None:
    lease = Harness().acquire()

    def queued_with(case: str, hook_mounts: dict[str, str], mountinfo: str,
                    then: str | None = None) -> int:
        queue = events.EventQueue(str(tmp_path / case), "eth0", hook_mounts, mountinfo)
        if then is not None:  # the binds after the start
            Path(mountinfo).write_text(then)
        queue.add(LeaseEventKind.ACQUIRED, lease)
        return len(_queued(tmp_path / case))

    # every directory absent and every bind in place: nothing to run
    hook_mounts, mountinfo = _hook_dirs(tmp_path / "a")
    assert queued_with("a", hook_mounts, mountinfo) == 0
    # binds skipped at the start (absent then), or no sandbox at all
    hook_mounts, mountinfo = _hook_dirs(tmp_path / "b", mounted=False)
    assert queued_with("b", hook_mounts, mountinfo) == 1
    # no mountinfo: it cannot tell
    hook_mounts, _ = _hook_dirs(tmp_path / "c")
    assert queued_with("c", hook_mounts, str(tmp_path / "none")) == 1
    # a directory replaced on the host after the start: removed, or another renamed in
    hook_mounts, mountinfo = _hook_dirs(tmp_path / "d")
    text = Path(mountinfo).read_text()
    assert queued_with("d", hook_mounts, mountinfo,
                       text.replace("/x1 ", "/x1//deleted ")) == 1
    hook_mounts, mountinfo = _hook_dirs(tmp_path / "e")
    assert queued_with("e", hook_mounts, mountinfo, text.replace("/x1 ", "/y1 ")) == 1
    # in sight, but one cannot be read (a file where the directory belongs)
    hook_mounts, mountinfo = _hook_dirs(tmp_path / "f")
    Path(list(hook_mounts)[2]).parent.mkdir(parents=True)
    Path(list(hook_mounts)[2]).write_text("")
    assert queued_with("f", hook_mounts, mountinfo) == 1
    # a link to a directory this root does not hold, where the dispatcher finds hooks
    hook_mounts, mountinfo = _hook_dirs(tmp_path / "g")
    etc = Path(next(iter(hook_mounts)))
    etc.parent.mkdir(parents=True)
    etc.symlink_to(tmp_path / "g" / "not-in-this-root")
    assert queued_with("g", hook_mounts, mountinfo) == 1


def test_a_temporary_file_left_by_a_killed_engine_goes_at_the_start(tmp_path: Path) -> None:
    queue_dir = tmp_path / "events"
    queue_dir.mkdir()
    (queue_dir / ".000000000003.json.a1b2c3d4e5f6").write_text("{")
    (queue_dir / "000000000002.json").write_text("{}")  # a queued event stays
    events.EventQueue(str(tmp_path), "eth0")
    assert os.listdir(queue_dir) == ["000000000002.json"]


def test_mount_roots_of_a_mountinfo(tmp_path: Path) -> None:
    path = tmp_path / "mountinfo"
    path.write_text("29 1 253:1 /usr /usr ro,relatime shared:1 - ext4 /dev/vda1 rw\n"
                    "30 29 0:5 /leasebox-conf//deleted /run/leasebox-conf ro - tmpfs tmpfs rw"
                    "\n\nshort line\n")
    assert events.mount_roots(str(path)) == {"/usr": "/usr",
                                             "/run/leasebox-conf": "/leasebox-conf//deleted"}
    assert events.mount_roots(str(tmp_path / "missing")) == {}


def test_a_start_removes_what_an_earlier_engine_left_hidden(tmp_path: Path,
                                                             logs: Logs) -> None:
    """A temporary file of a write cut short, and a directory the dispatcher hid as
    .stray-NAME (only a misbehaving engine makes one): unlink() failed on the directory,
    and every start said so again."""
    queue = tmp_path / "events"
    (queue / ".stray-junk" / "deeper").mkdir(parents=True)
    (queue / ".stray-junk" / "deeper" / "f").write_text("x")
    (queue / ".000000000001.json.tmp").write_text("{")
    (queue / "000000000002.json").write_text("{}")  # an event not yet dispatched: kept
    events.EventQueue(str(tmp_path), "eth0")
    assert sorted(p.name for p in queue.iterdir()) == ["000000000002.json"]
    assert not [r for r in logs.at_least(WARNING, "leasebox.engine")]


def test_an_event_that_cannot_be_queued_is_said_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: Logs) -> None:
    """A read-only /var: each event is tried (it may come back), said once, not at every
    renewal; and said when events are queued again."""
    lease = Harness().acquire()
    queue = events.EventQueue(str(tmp_path), "eth0")
    tries = iter(range(100))
    real_write = atomicfile.write_atomic

    def read_only(directory: str, name: str, data: bytes, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system", f"{directory}/.{name}.{next(tries)}")
    monkeypatch.setattr(atomicfile, "write_atomic", read_only)
    for kind in (LeaseEventKind.ACQUIRED, LeaseEventKind.RENEWED, LeaseEventKind.RENEWED):
        queue.add(kind, lease)
    errors = [r.text() for r in logs.at_least(WARNING, "leasebox.engine")]
    assert len(errors) == 1 and errors[0].startswith(
        "cannot queue the bound event for the dispatcher: [Errno 30] Read-only file system")
    monkeypatch.setattr(atomicfile, "write_atomic", real_write)
    queue.add(LeaseEventKind.RENEWED, lease)
    assert "lease events reach the dispatcher again (the renewed event)" in logs.text
    assert len(os.listdir(tmp_path / "events")) == 1
