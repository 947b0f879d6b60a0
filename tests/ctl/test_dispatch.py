"""leaseboxctl dispatch: event files read as untrusted input, hooks run in name order with
their precedence, each with a time limit; a failing hook changes nothing else."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from leasebox.ctl import dispatch
from leasebox.ctl.main import build_parser

EVENT: dict[str, Any] = {
    "event": "bound", "interface": "eth0", "address": "192.0.2.57", "prefixlen": 24,
    "gateway": "192.0.2.1", "server": "192.0.2.1", "dns": ["192.0.2.53"],
    "domains": ["example.org"], "ntp": [], "mtu": None, "lease_time": 3600,
}


def test_environment_of_a_good_event() -> None:
    env = dispatch.environment(EVENT, "eth0")
    assert env["LEASEBOX_EVENT"] == "bound" and env["LEASEBOX_ADDRESS"] == "192.0.2.57"
    assert env["LEASEBOX_DNS"] == "192.0.2.53" and env["LEASEBOX_MTU"] == ""
    assert env["LEASEBOX_GATEWAY"] == "192.0.2.1" and env["LEASEBOX_LEASE_TIME"] == "3600"


@pytest.mark.parametrize(("key", "value"), [
    ("event", "rm -rf"), ("interface", "eth1"), ("address", "192.0.2.57; reboot"),
    ("prefixlen", 33), ("prefixlen", True), ("gateway", 5), ("dns", ["x"]),
    ("domains", ["a b"]), ("domains", ["$(reboot)"]), ("ntp", ["192.0.2.1"] * 33),
    ("mtu", 10), ("lease_time", -1), ("extra", 1),
])
def test_every_field_is_checked(key: str, value: Any) -> None:
    with pytest.raises(dispatch.BadEvent):
        dispatch.environment({**EVENT, key: value}, "eth0")


LATER = {"routers": ["192.0.2.1"], "routes": [["198.51.100.0/24", "192.0.2.254"]],
         "broadcast": None, "domain_name": "example.test", "search": [],
         "renewal_time": 1800, "rebinding_time": 3150}


@pytest.mark.parametrize(("key", "value"), [
    ("routers", ["x"]), ("routes", [["198.51.100.0/33", "192.0.2.254"]]),
    ("routes", [["198.51.100.1/24", "192.0.2.254"]]), ("routes", [["a", "b", "c"]]),
    ("routes", [["198.51.100.0/24", "192.0.2.254; reboot"]]), ("broadcast", 5),
    ("domain_name", "$(reboot)"), ("search", ["a b"]), ("renewal_time", -1),
    ("rebinding_time", "1"),
])
def test_the_later_fields_are_checked_too(key: str, value: Any) -> None:
    env = dispatch.environment({**EVENT, **LATER}, "eth0")
    assert env["LEASEBOX_ROUTES"] == "198.51.100.0/24,192.0.2.254"
    with pytest.raises(dispatch.BadEvent):
        dispatch.environment({**EVENT, **LATER, key: value}, "eth0")
    # all of them or none (an engine from before them): not some
    assert "LEASEBOX_ROUTERS" not in dispatch.environment(EVENT, "eth0")
    with pytest.raises(dispatch.BadEvent, match="exactly the event keys"):
        dispatch.environment({**EVENT, "routers": []}, "eth0")


@pytest.mark.parametrize(("times", "wrong"), [
    ({"acquired": 1_790_000_000}, "exactly the event keys"),  # both or neither
    ({"acquired": -1, "expires": None}, "acquired"),
    ({"acquired": "1790000000", "expires": None}, "acquired"),
    ({"acquired": 1_790_000_000, "expires": 1_789_999_999}, "expires"),  # before the start
    ({"acquired": 1_790_000_000, "expires": True}, "expires"),
    ({"acquired": 1 << 41, "expires": None}, "acquired"),
])
def test_the_lease_times_on_the_wall_clock(times: dict[str, Any], wrong: str) -> None:
    """LEASEBOX_ACQUIRED and _EXPIRES, seconds since the epoch: a hook that runs late (a
    busy dispatcher) still knows when the lease ends, as dhclient's new_expiry says."""
    env = dispatch.environment({**EVENT, **LATER, "acquired": 1_790_000_000,
                                "expires": 1_790_003_600}, "eth0")
    assert (env["LEASEBOX_ACQUIRED"], env["LEASEBOX_EXPIRES"]) == ("1790000000", "1790003600")
    infinite = dispatch.environment({**EVENT, "acquired": 1_790_000_000, "expires": None},
                                    "eth0")
    assert infinite["LEASEBOX_EXPIRES"] == ""
    assert "LEASEBOX_ACQUIRED" not in dispatch.environment(EVENT, "eth0")  # an older engine
    with pytest.raises(dispatch.BadEvent, match=wrong):
        dispatch.environment({**EVENT, **times}, "eth0")


def test_the_hostname_the_server_sent_is_checked_and_passed_on() -> None:
    """LEASEBOX_HOSTNAME: option 12, as dhclient's new_host_name (Google's hostname hook
    reads that); empty when the server sent none, or the engine is older."""
    env = dispatch.environment({**EVENT, **LATER, "hostname": "vm7.c.proj.internal"}, "eth0")
    assert env["LEASEBOX_HOSTNAME"] == "vm7.c.proj.internal"
    assert dispatch.environment(EVENT, "eth0")["LEASEBOX_HOSTNAME"] == ""
    for bad in ("$(reboot)", "a b", "", None, 5, "-x"):
        with pytest.raises(dispatch.BadEvent, match="hostname"):
            dispatch.environment({**EVENT, "hostname": bad}, "eth0")


def test_the_captive_portal_is_checked_and_passed_on() -> None:
    uri = "https://portal.example.org/?x=1"
    env = dispatch.environment({**EVENT, **LATER, "captive_portal": uri}, "eth0")
    assert env["LEASEBOX_CAPTIVE_PORTAL"] == uri
    assert dispatch.environment(EVENT, "eth0")["LEASEBOX_CAPTIVE_PORTAL"] == ""
    for bad in ("http://portal.example.org/", "https://a b", "https://x/$(reboot)", "",
                None, 5):
        with pytest.raises(dispatch.BadEvent, match="captive_portal"):
            dispatch.environment({**EVENT, "captive_portal": bad}, "eth0")


def test_only_a_changed_event_has_an_old_address() -> None:
    changed = {**EVENT, "event": "changed", "old_address": "192.0.2.9"}
    assert dispatch.environment(changed, "eth0")["LEASEBOX_OLD_ADDRESS"] == "192.0.2.9"
    assert dispatch.environment(EVENT, "eth0")["LEASEBOX_OLD_ADDRESS"] == ""
    for bad in ({**EVENT, "old_address": "192.0.2.9"},
                {**changed, "old_address": "192.0.2.9; reboot"},
                {**changed, "old_address": None}):
        with pytest.raises(dispatch.BadEvent):
            dispatch.environment(bad, "eth0")


@pytest.fixture(autouse=True)
def _trusted_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks here are the test's user's, under a /tmp anyone may write: the ownership
    check's root is the test's own uid, and its walk up ends at tmp_path."""
    monkeypatch.setattr(dispatch, "HOOK_OWNER", os.geteuid())
    monkeypatch.setattr(dispatch, "WALK_UP_TO", tmp_path)


def _hook(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_hooks_order_precedence_and_masking(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    etc, usr = tmp_path / "etc", tmp_path / "usr"
    _hook(usr, "10-a", "true")
    mine = _hook(etc, "10-a", "true")  # the administrator's replaces the vendor's
    _hook(usr, "20-b", "true")
    (etc / "30-c").symlink_to("/dev/null")  # masks the vendor's 30-c
    _hook(usr, "30-c", "true")
    (usr / "40-not-executable").write_text("#!/bin/sh\n")
    (usr / "50-a-directory").mkdir()
    assert dispatch.hooks((str(etc), str(usr))) == [mine, usr / "20-b"]
    # a forgotten chmod +x is said, at info (a directory, or a mask, is not)
    err = capsys.readouterr().err.splitlines()
    assert err == [f"<6>leaseboxctl: not running {usr / '40-not-executable'}: not executable"]


def test_dispatch_runs_each_event_once_and_survives_failures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "hook.log"
    hooks = tmp_path / "hooks"
    _hook(hooks, "10-record", f'echo "$1 $LEASEBOX_ADDRESS $LEASEBOX_DOMAINS" >> {log}')
    _hook(hooks, "20-fail", "exit 3")
    _hook(hooks, "30-slow", "sleep 5")
    monkeypatch.setattr(dispatch, "HOOK_DIRS", (str(hooks),))
    queue = tmp_path / "state" / "eth0" / "events"
    queue.mkdir(parents=True)
    (queue / "000000000001.json").write_text(json.dumps(EVENT))
    (queue / "000000000002.json").write_text("{not json")
    (queue / "000000000003.json").write_text(json.dumps({**EVENT, "event": "released"}))
    (queue / "000000000004.json").write_text("")  # not synced when the power went
    args = build_parser().parse_args(["dispatch", "eth0", "--state-dir", str(tmp_path / "state"),
                                      "--timeout", "0.5"])
    assert dispatch.run(args) == 0
    assert log.read_text().splitlines() == ["bound 192.0.2.57 example.org",
                                            "released 192.0.2.57 example.org"]
    assert os.listdir(queue) == []
    out = capsys.readouterr()
    assert "dropped event 000000000002.json: not ASCII JSON" in out.err
    assert "dropped event 000000000004.json: empty: written just before a crash" in out.err
    assert "20-fail bound 192.0.2.57: failed (3)" in out.out
    assert "30-slow bound 192.0.2.57: failed (killed after 0.5 s)" in out.out


def test_two_dispatchers_run_each_event_once_and_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path unit's dispatcher and one run by hand, at once: each read events before
    the other took them, and ran hooks twice and out of order."""
    log = tmp_path / "hook.log"
    _hook(tmp_path / "hooks", "10-record", f'sleep 0.02; echo "$LEASEBOX_ADDRESS" >> {log}')
    monkeypatch.setattr(dispatch, "HOOK_DIRS", (str(tmp_path / "hooks"),))
    queue = tmp_path / "state" / "eth0" / "events"
    queue.mkdir(parents=True)
    addresses = [f"192.0.2.{10 + i}" for i in range(12)]
    for i, address in enumerate(addresses):
        (queue / f"{i + 1:012d}.json").write_text(json.dumps({**EVENT, "address": address}))
    args = _dispatch_args(tmp_path / "state")
    runs = [threading.Thread(target=dispatch.run, args=(args,)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=30)
    assert not any(run.is_alive() for run in runs)
    assert log.read_text().split() == addresses
    assert os.listdir(queue) == []


def test_a_dispatcher_leaves_the_queue_to_one_at_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Not waited for: its hooks may have no time limit (--timeout 0), or run this very
    command; nor can the engine, which owns the directory, hold root's dispatcher up."""
    log = _recording_hook(tmp_path, monkeypatch)
    monkeypatch.setattr(dispatch, "STUCK_PAUSE", 0.2)
    queue = tmp_path / "state" / "eth0" / "events"
    queue.mkdir(parents=True)
    (queue / "000000000001.json").write_text(json.dumps(EVENT))
    held = os.open(queue, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        assert dispatch.run(_dispatch_args(tmp_path / "state")) == 0
        # a pause, not at once: the path unit would start it again and again meanwhile
        assert 0.2 <= time.monotonic() - started < 5
        assert "another dispatcher is at work on eth0's events" in capsys.readouterr().out
        assert not log.exists() and os.listdir(queue) == ["000000000001.json"]
    finally:
        os.close(held)
    assert dispatch.run(_dispatch_args(tmp_path / "state")) == 0
    assert log.read_text() == "bound\n"


def test_a_bad_interface_name_is_a_usage_error(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["dispatch", "a/b", "--state-dir", str(tmp_path)])
    assert dispatch.run(args) == 64
    assert capsys.readouterr().err.startswith("leaseboxctl: invalid interface name 'a/b'")


def _one_event_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str,
                   timeout: str) -> Any:
    """One hook (`hook`, a shell script) and one event queued for eth0: the arguments of
    `leaseboxctl dispatch --timeout TIMEOUT eth0` to run it."""
    hooks = tmp_path / "hooks"
    _hook(hooks, "10-slow", hook)
    monkeypatch.setattr(dispatch, "HOOK_DIRS", (str(hooks),))
    queue = tmp_path / "state" / "eth0" / "events"
    queue.mkdir(parents=True)
    (queue / "000000000001.json").write_text(json.dumps(EVENT))
    return build_parser().parse_args(["dispatch", "eth0", "--state-dir",
                                      str(tmp_path / "state"), "--timeout", timeout])


def test_a_timeout_of_0_is_no_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """0 is "none" to every leaseboxctl time limit; dispatch killed every hook at once."""
    log = tmp_path / "hook.log"
    args = _one_event_for(tmp_path, monkeypatch, f'sleep 0.3; echo "$1" >> {log}', "0")
    assert dispatch.run(args) == 0
    assert log.read_text() == "bound\n"
    assert "killed" not in capsys.readouterr().out


def _dispatch_args(state: Path) -> Any:
    return build_parser().parse_args(["dispatch", "eth0", "--state-dir", str(state)])


def _recording_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The only hook: it appends its event to the file returned."""
    log = tmp_path / "hook.log"
    _hook(tmp_path / "hooks", "10-record", f'echo "$1" >> {log}')
    monkeypatch.setattr(dispatch, "HOOK_DIRS", (str(tmp_path / "hooks"),))
    return log


def test_an_event_directory_that_is_a_link_is_not_followed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The engine owns its state directory; root must not read or delete the .json files
    # of wherever it points "events".
    log = _recording_hook(tmp_path, monkeypatch)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "000000000001.json").write_text(json.dumps(EVENT))
    (tmp_path / "state" / "eth0").mkdir(parents=True)
    (tmp_path / "state" / "eth0" / "events").symlink_to(elsewhere)
    assert dispatch.run(_dispatch_args(tmp_path / "state")) == 1
    assert os.listdir(elsewhere) == ["000000000001.json"]
    assert not log.exists()
    assert "(a link or a file where" in capsys.readouterr().err
    # the link itself is gone: the path unit follows it, and would start the dispatcher
    # again at once for as long as it pointed at files
    assert not os.path.lexists(tmp_path / "state" / "eth0" / "events")


def test_a_queue_refused_for_want_of_permission_is_not_called_a_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A run without root (the state directory is 0700) was told of "a link or a file
    where the engine's event directory belongs"."""
    queue = tmp_path / "events"
    queue.mkdir()

    def refused(path: str, *_args: object) -> int:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

    monkeypatch.setattr(os, "open", refused)
    with pytest.raises(PermissionError):
        dispatch._open_queue(str(queue))
    err = capsys.readouterr().err
    assert "Permission denied" in err and "link" not in err
    assert queue.is_dir()


def test_events_of_an_earlier_boot_are_skipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Events queued as the system went down (the path unit stopped: no hook ran) are the
    last boot's: at the next boot they are taken off the queue, not run with stale data.
    Events without a boot ID (an engine not given one) run."""
    log = _recording_hook(tmp_path, monkeypatch)
    this, earlier = "a" * 32, "b" * 32
    boot_file = tmp_path / "boot_id"
    boot_file.write_text("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa\n")  # as the kernel writes it
    monkeypatch.setattr(dispatch, "BOOT_ID", str(boot_file))
    queue = tmp_path / "state" / "eth0" / "events"
    queue.mkdir(parents=True)
    for n, doc in enumerate(({**EVENT, "event": "released", "boot": earlier},
                             {**EVENT, "boot": this}, EVENT,
                             {**EVENT, "event": "lost", "boot": "not a boot id"}), start=1):
        (queue / f"{n:012d}.json").write_text(json.dumps(doc))
    assert dispatch.run(_dispatch_args(tmp_path / "state")) == 0
    assert log.read_text().splitlines() == ["bound", "bound"]
    assert os.listdir(queue) == []
    captured = capsys.readouterr()
    assert "skipped event 000000000001.json: queued in an earlier boot" in captured.out
    assert "dropped event 000000000004.json: boot is not a boot ID" in captured.err


def test_what_cannot_leave_the_queue_is_not_run_again_and_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever stays on the queue starts the dispatcher again (DirectoryNotEmpty=): a
    stray directory takes another hidden name when the first is taken; an event that
    cannot be removed (a file system gone read-only) waits, unrun, and the run pauses
    before it ends, so the next comes seconds later, not milliseconds."""
    log = _recording_hook(tmp_path, monkeypatch)
    queue = tmp_path / "state" / "eth0" / "events"
    queue.mkdir(parents=True)
    (queue / ".stray-junk").mkdir()
    (queue / ".stray-junk" / "x").write_text("")
    (queue / "junk").mkdir()
    (queue / "000000000001.json").write_text(json.dumps(EVENT))
    # a later event waits behind it: hooks see the events in the queue's order
    (queue / "000000000002.json").write_text(json.dumps({**EVENT, "event": "lost"}))
    monkeypatch.setattr(dispatch, "STUCK_PAUSE", 0.3)
    real_unlink = os.unlink

    def read_only(path: Any, *, dir_fd: int | None = None) -> None:
        if path == "000000000001.json":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        real_unlink(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "unlink", read_only)
    started = time.monotonic()
    assert dispatch.run(_dispatch_args(tmp_path / "state")) == 0
    assert time.monotonic() - started >= 0.3
    assert sorted(os.listdir(queue)) == [".stray-junk", ".stray-junk.1", "000000000001.json",
                                         "000000000002.json"]
    assert not log.exists()
    err = capsys.readouterr().err
    assert "cannot remove event 000000000001.json: Read-only file system; its hooks wait" in err
    assert "next look in 0.3 s" in err
    monkeypatch.setattr(os, "unlink", real_unlink)  # writable again: run once
    assert dispatch.run(_dispatch_args(tmp_path / "state")) == 0
    assert log.read_text().splitlines() == ["bound", "lost"]
    assert sorted(os.listdir(queue)) == [".stray-junk", ".stray-junk.1"]
    assert "next look" not in capsys.readouterr().err


def test_an_event_that_is_a_link_or_not_a_file_is_dropped_not_followed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    log = _recording_hook(tmp_path, monkeypatch)
    target = tmp_path / "secret.json"
    target.write_text(json.dumps(EVENT))
    queue = tmp_path / "state" / "eth0" / "events"
    queue.mkdir(parents=True)
    (queue / "000000000001.json").symlink_to(target)
    (queue / "000000000002.json").mkdir()
    os.mkfifo(queue / "000000000003.json")  # a reader that would block is not opened so
    (queue / "000000000004.json").write_text(json.dumps(EVENT))
    fds_before = len(os.listdir("/proc/self/fd"))
    assert dispatch.run(_dispatch_args(tmp_path / "state")) == 0
    # none left open: a directory's fd leaked, and many would exhaust the root dispatcher's
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert log.read_text().splitlines() == ["bound"]  # only the regular file
    assert target.exists()  # the link went, not what it points to
    err = capsys.readouterr().err
    assert "dropped event 000000000001.json" in err
    assert "dropped event 000000000003.json: not a regular file" in err
    # a directory is hidden (left, it would start the dispatcher again and again)
    assert "removing 000000000002.json from the event queue: not an event file" in err
    assert os.listdir(queue) == [".stray-000000000002.json"]


def test_whatever_is_not_an_event_file_leaves_the_queue(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The path unit starts the dispatcher while the directory holds any name that is not
    hidden: each must go, or it would be started for ever."""
    log = _recording_hook(tmp_path, monkeypatch)
    queue = tmp_path / "state" / "eth0" / "events"
    (queue / "stray" / "deeper").mkdir(parents=True)
    (queue / "stray" / "deeper" / "x").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("kept")
    (queue / "stray" / "link").symlink_to(outside)
    (queue / "notes.txt").write_text("x")
    (queue / ".tmp-engine-writing").write_text("x")  # the engine's, being written: stays
    (queue / "000000000001.json").write_text(json.dumps(EVENT))
    assert dispatch.run(_dispatch_args(tmp_path / "state")) == 0
    assert log.read_text().splitlines() == ["bound"]
    assert sorted(os.listdir(queue)) == [".stray-stray", ".tmp-engine-writing"]
    assert (outside / "keep").read_text() == "kept"  # nothing inside is walked
    assert "removing notes.txt" in capsys.readouterr().err


def test_backup_copies_and_hooks_others_could_change_do_not_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    etc = tmp_path / "etc"
    good = _hook(etc, "10-dyndns", "true")
    for name in ("10-dyndns~", "10-dyndns.dpkg-old", "10-dyndns.dpkg-dist", "10-dyndns.bak",
                 "10-dyndns.ucf-old", "10-dyndns.rpmsave", ".10-dyndns.swp"):
        _hook(etc, name, "true")
    _hook(etc, "20-world-writable", "true").chmod(0o777)
    _hook(etc, "30-group-writable", "true").chmod(0o775)
    other = _hook(etc, "40-not-roots", "true")
    if os.geteuid() == 0:
        os.chown(other, 1000, 0)
    else:
        monkeypatch.setattr(dispatch, "HOOK_OWNER", 0)  # then every hook is someone else's
    _hook(etc, "50-setuid", "true").chmod(0o4755)
    open_dir = tmp_path / "open"
    outside = _hook(open_dir, "x", "true")
    open_dir.chmod(0o777)
    (etc / "60-link-into-a-writable-directory").symlink_to(outside)
    assert dispatch.hooks((str(etc),)) == ([good] if os.geteuid() == 0 else [])
    err = capsys.readouterr().err
    assert "<4>leaseboxctl: not running " + str(etc / "20-world-writable") in err
    assert "40-not-roots: owned by uid 1000, not root" in err or os.geteuid() != 0
    assert "50-setuid: set-user-ID or set-group-ID" in err
    assert f"60-link-into-a-writable-directory: its directory {open_dir} is writable" in err


def test_a_link_in_a_directory_others_may_write_does_not_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Whoever may write where a hook's link is may point it at any program root has (run
    as root, with the event as its argument): refused, like a file there; so is a link
    through such a directory to a safe one."""
    safe = _hook(tmp_path / "safe", "x", "true")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "10-link").symlink_to(safe)
    shared.chmod(0o777)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "20-through-shared").symlink_to(shared / "10-link")
    assert dispatch.hooks((str(shared), str(etc))) == []
    err = capsys.readouterr().err
    assert f"10-link: its directory {shared} is writable by its group or by others" in err
    assert f"20-through-shared: its directory {shared} is writable" in err
    shared.chmod(0o755)
    assert dispatch.hooks((str(shared), str(etc))) == [shared / "10-link",
                                                       etc / "20-through-shared"]


def test_an_event_taken_runs_though_the_queue_cannot_be_synced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    log = _recording_hook(tmp_path, monkeypatch)
    queue = tmp_path / "state" / "eth0" / "events"
    queue.mkdir(parents=True)
    (queue / "000000000001.json").write_text(json.dumps(EVENT))

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing)
    assert dispatch.run(_dispatch_args(tmp_path / "state")) == 0
    assert log.read_text().splitlines() == ["bound"] and os.listdir(queue) == []
    assert "cannot sync the event queue: Input/output error" in capsys.readouterr().err


def test_links_are_followed_as_the_kernel_does(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """".." after a link goes up from where the link led, not from its text: a merged-/usr
    layout's relative links are hooks like any; and a link through a directory others may
    write is refused, even where the text, collapsed, names a safe file."""
    (tmp_path / "bin").symlink_to("usr/bin")  # merged /usr
    tool = _hook(tmp_path / "usr" / "share", "tool", "true")
    (tmp_path / "usr" / "bin").mkdir()
    (tmp_path / "usr" / "bin" / "tool").symlink_to("../share/tool")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "10-tool").symlink_to(tmp_path / "bin" / "tool")
    assert dispatch.hooks((str(etc),)) == [etc / "10-tool"]
    assert dispatch._resolve(str(etc / "10-tool"))[0] == str(tool)
    # srv/sub is reached through a link; srv/bin, others may write, holds a link to a
    # safe program; the text etc/lnk/../bin/x collapses to etc/bin/x, a safe file too
    _hook(tmp_path / "srv" / "sub", "keep", "true")
    open_bin = tmp_path / "srv" / "bin"
    open_bin.mkdir()
    (open_bin / "x").symlink_to(tool)
    open_bin.chmod(0o777)
    (etc / "lnk").symlink_to(tmp_path / "srv" / "sub")
    _hook(etc / "bin", "x", "true")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "20-through").symlink_to(f"{etc}/lnk/../bin/x")
    assert dispatch.hooks((str(hooks),)) == []
    assert f"its directory {open_bin} is writable" in capsys.readouterr().err
    # a directory only passed through and left by "..": whoever may write where it is may
    # make it a link before the hook runs
    shared = tmp_path / "shared"
    (shared / "sub").mkdir(parents=True)
    shared.chmod(0o777)
    (hooks / "20-through").unlink()
    (hooks / "30-up-again").symlink_to(f"{shared}/sub/../../usr/share/tool")
    assert dispatch.hooks((str(hooks),)) == []
    assert f"its directory {shared} is writable" in capsys.readouterr().err


def test_a_hook_past_its_time_is_stopped_with_what_it_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """SIGTERM first (a hook may clean up), to its whole process group: nothing it started
    runs on beside the next hook."""
    log = tmp_path / "hook.log"
    args = _one_event_for(tmp_path, monkeypatch,
                          f"trap 'echo term >> {log}; exit 1' TERM\n"
                          f"(sleep 1; echo late >> {log}) &\n"
                          f"(trap '' TERM; sleep 1; echo deaf >> {log}) &\nsleep 30 & wait",
                          "0.3")
    started = time.monotonic()
    assert dispatch.run(args) == 0
    assert time.monotonic() - started < dispatch.KILL_GRACE
    time.sleep(1.5)
    assert log.read_text().splitlines() == ["term"]  # never "late", nor "deaf" (SIGKILL)
    assert "<4>" in capsys.readouterr().out  # a failure, at warning priority


def test_bound_hooks_run_once_the_dns_is_handed_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """netconf answers the engine, which queues "bound", before it hands the DNS on: a
    hook that resolved names at once (a dynamic DNS update) could run before the lease's
    servers were anywhere. Its hooks wait for them, as wait-online does, a while at most."""
    from leasebox.ctl import commands

    run_dir = tmp_path / "netconf"
    (run_dir / "eth0").mkdir(parents=True)
    monkeypatch.setattr(commands, "NETCONF_RUN", run_dir)
    monkeypatch.setattr(commands, "BUS_LINKS", tmp_path / "bus")
    state = run_dir / "eth0" / "netconf.state"
    names = {"dns_servers": ["192.0.2.53"], "domains": [], "ntp_servers": []}
    state.write_text(json.dumps({"dns": None, "wanted": names}))  # not handed on yet
    log = tmp_path / "hook.log"
    args = _one_event_for(tmp_path, monkeypatch, f'cat {state} >> {log}', "5")

    def handed_on() -> None:
        time.sleep(0.3)
        state.write_text(json.dumps({"dns": names, "wanted": None}))

    threading.Thread(target=handed_on).start()
    assert dispatch.run(args) == 0
    assert json.loads(log.read_text())["wanted"] is None  # the hook saw it handed on
    # one that never comes holds the hooks up DNS_WAIT at most
    state.write_text(json.dumps({"dns": None, "wanted": names}))
    monkeypatch.setattr(dispatch, "DNS_WAIT", 0.2)
    (tmp_path / "state" / "eth0" / "events" / "000000000002.json").write_text(json.dumps(EVENT))
    started = time.monotonic()
    assert dispatch.run(args) == 0
    assert 0.2 <= time.monotonic() - started < 2
    assert log.read_text().count("wanted") == 2


def test_a_hook_that_is_a_link_to_nothing_is_said(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    etc, usr = tmp_path / "etc", tmp_path / "usr"
    etc.mkdir()
    (etc / "50-vpn").symlink_to(tmp_path / "opt" / "vpn-hook")
    _hook(usr, "50-vpn", "true")  # hidden by it, as by any hook of the name
    assert dispatch.hooks((str(etc), str(usr))) == []
    assert capsys.readouterr().err == (f"<4>leaseboxctl: not running {etc / '50-vpn'}: a link "
                                       f"to {tmp_path / 'opt' / 'vpn-hook'}, which is not "
                                       "there\n")


def test_the_hooks_of_two_interfaces_run_one_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A laptop leaving the dock: eth0's "lost" and wlan0's "bound" hooks, each rewriting
    the same files or routes, ran side by side and the last to write won."""
    log = tmp_path / "hook.log"
    _hook(tmp_path / "hooks", "10-slow",
          f'echo "start $LEASEBOX_INTERFACE" >> {log}; sleep 0.3; '
          f'echo "end $LEASEBOX_INTERFACE" >> {log}')
    monkeypatch.setattr(dispatch, "HOOK_DIRS", (str(tmp_path / "hooks"),))
    state = tmp_path / "state"
    for name, event in (("eth0", "lost"), ("wlan0", "bound")):
        (state / name / "events").mkdir(parents=True)
        (state / name / "events" / "000000000001.json").write_text(
            json.dumps({**EVENT, "interface": name, "event": event}))
    runs = [threading.Thread(target=dispatch.run, args=(build_parser().parse_args(
        ["dispatch", name, "--state-dir", str(state)]),)) for name in ("eth0", "wlan0")]
    for run in runs:
        run.start()
    for run in runs:
        run.join(10)
    lines = log.read_text().splitlines()
    assert sorted(lines) == ["end eth0", "end wlan0", "start eth0", "start wlan0"]
    assert lines[0].split()[1] == lines[1].split()[1], lines  # one's end before the other


def test_a_hook_that_outlives_its_sigkill_holds_nothing_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hook stuck in the kernel (a hung NFS mount) outlives even SIGKILL: the dispatcher
    waited for it for good, and every later event of the interface, and now of the
    machine (its hooks lock), with it. Here the SIGKILL is left out to make one."""
    pids: list[int] = []

    def no_sigkill(pgid: int, sig: int) -> None:
        if sig == signal.SIGKILL:
            pids.append(pgid)
        else:
            os.killpg(pgid, sig)

    monkeypatch.setattr(dispatch, "_killpg", no_sigkill)
    monkeypatch.setattr(dispatch, "KILL_GRACE", 0.2)
    hook = _hook(tmp_path / "hooks", "10-stuck", "trap '' TERM; sleep 30")
    started = time.monotonic()
    try:
        code = dispatch._run_hook(hook, dispatch.environment(EVENT, "eth0"), 0.2)
    finally:
        for pgid in pids:
            os.killpg(pgid, signal.SIGKILL)
    assert code == "killed after 0.2 s, and still not gone 0.2 s later"
    assert time.monotonic() - started < 5


def test_the_machine_lock_is_waited_for_a_while_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A hook that waits for another interface's dispatcher (or one past no time limit)
    would hold every other event on the machine for good; and a dispatcher stopped while
    it waits (a shutdown) leaves the event queued, not taken and lost."""
    log = _recording_hook(tmp_path, monkeypatch)
    state = tmp_path / "state"
    queue = state / "eth0" / "events"
    queue.mkdir(parents=True)
    (queue / "000000000001.json").write_text(json.dumps(EVENT))
    monkeypatch.setattr(dispatch, "LOCK_WAIT", 0.3)
    monkeypatch.setattr(dispatch, "KILL_GRACE", 0.05)  # one hook: 2 x (0.1 + 2 x 0.05) s
    held = os.open(state / dispatch.MACHINE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(held, fcntl.LOCK_EX)  # another interface's hooks at work
    try:
        def stopped(state_dir: str, timeout: float) -> int | None:
            raise SystemExit(0)  # SIGTERM while it waits

        with monkeypatch.context() as m:
            m.setattr(dispatch, "_one_at_a_time", stopped)
            with pytest.raises(SystemExit):
                dispatch.run(_dispatch_args(state))
        assert os.listdir(queue) == ["000000000001.json"]  # still queued
        started = time.monotonic()
        assert dispatch.run(build_parser().parse_args(
            ["dispatch", "eth0", "--state-dir", str(state), "--timeout", "0.1"])) == 0
        assert 0.4 <= time.monotonic() - started < 3
        assert log.read_text() == "bound\n"
        assert "another interface's hooks still run after 0.4 s" in capsys.readouterr().err
    finally:
        os.close(held)
