"""leaseboxctl dispatch: event files read as untrusted input, hooks run in name order with
their precedence, each with a time limit; a failing hook changes nothing else."""

from __future__ import annotations

import json
import os
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


def _hook(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_hooks_order_precedence_and_masking(tmp_path: Path) -> None:
    etc, usr = tmp_path / "etc", tmp_path / "usr"
    _hook(usr, "10-a", "true")
    mine = _hook(etc, "10-a", "true")  # the administrator's replaces the vendor's
    _hook(usr, "20-b", "true")
    (etc / "30-c").symlink_to("/dev/null")  # masks the vendor's 30-c
    _hook(usr, "30-c", "true")
    (usr / "40-not-executable").write_text("#!/bin/sh\n")
    assert dispatch.hooks((str(etc), str(usr))) == [mine, usr / "20-b"]


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
    args = build_parser().parse_args(["dispatch", "eth0", "--state-dir", str(tmp_path / "state"),
                                      "--timeout", "0.5"])
    assert dispatch.run(args) == 0
    assert log.read_text().splitlines() == ["bound 192.0.2.57 example.org",
                                            "released 192.0.2.57 example.org"]
    assert os.listdir(queue) == []
    out = capsys.readouterr()
    assert "dropped event 000000000002.json: not ASCII JSON" in out.err
    assert "20-fail bound 192.0.2.57: failed (3)" in out.out
    assert "30-slow bound 192.0.2.57: failed (killed after 0.5 s)" in out.out


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
    assert "not reading" in capsys.readouterr().err


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
    assert dispatch.run(_dispatch_args(tmp_path / "state")) == 0
    assert log.read_text().splitlines() == ["bound"]  # only the regular file
    assert target.exists()  # the link went, not what it points to
    err = capsys.readouterr().err
    assert "dropped event 000000000001.json" in err
    assert "dropped event 000000000003.json: not a regular file" in err
    assert "cannot remove event 000000000002.json" in err
    assert sorted(os.listdir(queue)) == ["000000000002.json"]  # a directory is not unlinked
