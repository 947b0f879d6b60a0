"""`leaseboxctl` alone lists one line per interface; `monitor` turns journal entries into
events; `--json` for each."""

from __future__ import annotations

import grp
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.config.confroot import run_module
from tests.ctl.test_wait_online import (  # noqa: F401 - engines: the fixture
    FakeEngine,
    engines,
    refusing_engine,
)

from leasebox.core import events
from leasebox.ctl import commands, monitor
from leasebox.ctl import main as ctl_main
from leasebox.ctl.commands import EX_UNAVAILABLE
from leasebox.ipc import control

LEASE = {"address": "192.0.2.57", "prefixlen": 24, "expires_in": 3000.0,
         "captive_portal": None}


@pytest.mark.parametrize(("argv", "expanded"), [
    ([], ["list"]),
    (["--json"], ["list", "--json"]),
    (["eth0"], ["status", "eth0"]),
    (["--json", "eth0"], ["status", "--json", "eth0"]),
    (["-q", "--runtime-dir", "/x", "eth0"], ["-q", "--runtime-dir", "/x", "status", "eth0"]),
    (["--runtime-dir=/x"], ["--runtime-dir=/x", "list"]),
    # options before the command or after it: the directory is no interface either way
    (["--json", "--runtime-dir", "/x"], ["list", "--json", "--runtime-dir", "/x"]),
    (["--json", "--runtime-dir", "/x", "eth0"], ["status", "--json", "--runtime-dir", "/x",
                                                 "eth0"]),
])
def test_the_default_command(argv: list[str], expanded: list[str]) -> None:
    assert ctl_main._insert_default(argv) == expanded


def test_list_one_line_per_interface(tmp_path: Path, engines: list[FakeEngine],  # noqa: F811
                                     capsys: pytest.CaptureFixture[str]) -> None:
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"], {"lease": LEASE,
                                                            "carrier": True}))
    engines.append(FakeEngine(tmp_path, "eth1", ["SELECTING"], {"lease": None,
                                                                "carrier": False}))
    assert ctl_main.main(["--runtime-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["IFACE", "STATE", "ADDRESS", "EXPIRES"]
    assert out[1].split()[:3] == ["eth0", "BOUND", "192.0.2.57/24"]
    assert out[1].endswith("in 50 min 0 s")
    assert out[2].split() == ["eth1", "SELECTING", "(no", "carrier)", "-", "-"]
    assert out[-1] == "2 interface(s) listed."
    # an interface named that does not run is an error, as with status
    assert ctl_main.main(["--runtime-dir", str(tmp_path), "list", "--json", "eth0",
                          "eth9"]) == EX_UNAVAILABLE
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["address"] == "192.0.2.57/24" and rows[0]["state"] == "BOUND"
    assert rows[1]["interface"] == "eth9" and rows[1]["state"] == "not running"
    assert "not running" in rows[1]["error"]


@pytest.mark.parametrize("command", ["list", "status"])
def test_json_with_no_engine_is_an_empty_array(tmp_path: Path, command: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`leaseboxctl --json | jq` got no input at all when leasebox ran on no interface."""
    assert ctl_main.main(["--runtime-dir", str(tmp_path), command, "--json"]) == EX_UNAVAILABLE
    out = capsys.readouterr()
    assert json.loads(out.out) == [] and "not running on any interface" in out.err
    assert ctl_main.main(["--runtime-dir", str(tmp_path), command]) == EX_UNAVAILABLE
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("command", ["renew", "release", "leave"])
def test_a_commands_json_is_the_status_as_status_prints_it(
        tmp_path: Path, engines: list[FakeEngine], command: str,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """The man page: "the interface's status afterwards, as status --json prints one";
    the hand-off of its DNS and NTP was missing."""
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"], {"lease": LEASE}))
    assert ctl_main.main(["--runtime-dir", str(tmp_path), "status", "--json", "eth0"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert ctl_main.main(["--runtime-dir", str(tmp_path), command, "--json", "eth0"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert sorted(after) == sorted(status) and "handoff" in after


def test_the_table_asks_systemd_nothing_for_an_engine_not_running(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The table shows only why(): no systemctl run for each interface without an engine;
    --json's error text names the failed units, and asks systemd once an interface."""
    calls = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(commands, "SYSTEMCTL", str(fake))
    for name in ("eth1", "eth2"):
        (tmp_path / name).mkdir()
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as gone:
            gone.bind(str(tmp_path / name / "control.sock"))  # left behind: refused
    assert ctl_main.main(["--runtime-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in out[1:3]] == [["eth1", "not", "running"],
                                                      ["eth2", "not", "running"]]
    assert not calls.exists()
    assert ctl_main.main(["--runtime-dir", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all("says why" in row["error"] for row in rows)
    assert len(calls.read_text().splitlines()) == 2


def test_list_says_why_an_engine_that_runs_did_not_answer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung engine is not 'not running': its line says it did not answer."""
    monkeypatch.setattr(commands, "TIMEOUT", 0.3)
    (tmp_path / "eth0").mkdir()
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        hung.bind(str(tmp_path / "eth0" / "control.sock"))
        hung.listen(1)
        assert ctl_main.main(["--runtime-dir", str(tmp_path), "list", "--json"]) == 0
        [row] = json.loads(capsys.readouterr().out)
        assert row["state"] == "no answer" and "did not answer" in row["error"]
    finally:
        hung.close()


def test_list_that_could_ask_no_engine_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No engine answered and one refused the user (another is not running): the rows
    say so, and the exit status too (77), so a script does not take an empty answer for
    a listing."""
    (tmp_path / "eth1").mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as gone:
        gone.bind(str(tmp_path / "eth1" / "control.sock"))  # left behind: refused
    with refusing_engine(tmp_path, "eth0"):
        assert ctl_main.main(["--runtime-dir", str(tmp_path), "list", "--json"]) \
            == commands.EX_NOPERM
    rows = json.loads(capsys.readouterr().out)
    assert [row["state"] for row in rows] == ["permission denied", "not running"]


def test_monitor_events_from_journal_entries() -> None:
    entry = {"MESSAGE_ID": events.LEASE_EVENT_IDS["acquired"], "INTERFACE": "eth0",
             "LEASE_EVENT": "acquired", "LEASE_ADDRESS": "192.0.2.57/24",
             "SERVER_ID": "192.0.2.1", "MESSAGE": "Acquired 192.0.2.57/24 via 192.0.2.1",
             "__REALTIME_TIMESTAMP": datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
             "_PID": 42}
    ev = monitor.event(entry)
    assert ev == {"time": 1796385600.0, "event": "acquired", "interface": "eth0",
                  "lease_event": "acquired", "lease_address": "192.0.2.57/24",
                  "server_id": "192.0.2.1",
                  "message": "Acquired 192.0.2.57/24 via 192.0.2.1"}
    assert monitor.line(ev).endswith("eth0 acquired: Acquired 192.0.2.57/24 via 192.0.2.1")
    kept = {"MESSAGE_ID": events.LEASE_EVENT_IDS["failed"], "LEASE_EVENT": "failed"}
    assert monitor.event(kept)["event"] == "failed"
    assert monitor.event({**kept, "LEASE_KEPT": "1"})["event"] == "renew-failed"
    portal = monitor.event({"MESSAGE_ID": events.CAPTIVE_PORTAL_ID,
                            "MESSAGE": "captive portal on eth0: https://p.example/\x1b[2J"})
    assert portal["event"] == "captive-portal" and portal["time"] is None
    other = {"MESSAGE_ID": events.OTHER_CLIENT_ID, "INTERFACE": "eth0",
             "_SYSTEMD_UNIT": "leasebox-engine@eth0.service"}
    assert monitor.is_lease_event(other, {"eth0"})  # the coexistence warning is followed too
    assert monitor.event(other)["event"] == "other-client"
    assert "\x1b" not in monitor.line(portal)  # journal text never drives the terminal


def test_monitor_takes_only_what_the_interfaces_engine_logged() -> None:
    """MESSAGE_ID and INTERFACE are fields any local user can log; the unit is journald's."""
    ident = events.LEASE_EVENT_IDS["acquired"]
    entry = {"MESSAGE_ID": ident, "INTERFACE": "eth0",
             "_SYSTEMD_UNIT": "leasebox-engine@eth0.service"}
    assert monitor.is_lease_event(entry, set())
    assert monitor.is_lease_event(entry, {"eth0"})
    assert not monitor.is_lease_event(entry, {"eth1"})
    assert not monitor.is_lease_event({**entry, "_SYSTEMD_UNIT": "user@1000.service"}, set())
    assert not monitor.is_lease_event({k: v for k, v in entry.items()
                                       if k != "_SYSTEMD_UNIT"}, set())
    # another interface's engine cannot speak for eth0
    assert not monitor.is_lease_event({**entry, "_SYSTEMD_UNIT":
                                       "leasebox-engine@eth1.service"}, {"eth0"})
    assert not monitor.is_lease_event({**entry, "MESSAGE_ID": "0" * 32}, set())



def test_monitor_tells_a_user_who_cannot_read_the_journal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal reader skips files it may not open without a word: journalctl's hint,
    unless root or in a group journald's files grant reading."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    unknown = 2**31 - 7  # no group has it
    monkeypatch.setattr(os, "getgroups", lambda: [unknown])
    hint = monitor.journal_hint()
    assert hint is not None and "systemd-journal" in hint
    reader = grp.getgrnam("systemd-journal").gr_gid
    monkeypatch.setattr(os, "getgroups", lambda: [unknown, reader])
    assert monitor.journal_hint() is None
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(os, "getgroups", lambda: [])
    assert monitor.journal_hint() is None


def test_monitor_refuses_a_name_no_interface_can_have() -> None:
    """`monitor bad/name` followed the journal for ever, printing nothing."""
    proc = run_module("leasebox.ctl.main", "monitor", "bad/name", timeout=10)
    assert proc.returncode == 64 and proc.stdout == ""
    assert proc.stderr.startswith("leaseboxctl: ") and "bad/name" in proc.stderr


def test_monitor_ctrl_c_ends_the_walk_back_through_the_boot() -> None:
    """`monitor -n 10` with fewer events in the boot reads the whole boot back; Ctrl-C
    (the handler's flag) did not end that walk, only the following after it."""

    class Stop:
        requested = False

    stop = Stop()

    class Boot:  # a long boot's entries, none of them a lease event
        read = 0

        def seek_tail(self) -> None:
            pass

        def get_previous(self) -> dict[str, str]:
            self.read += 1
            stop.requested |= self.read == 100  # Ctrl-C, at the 100th entry
            return {"MESSAGE": "x"} if self.read < 100_000 else {}

    boot = Boot()
    assert monitor._last(boot, lambda _entry: False, 10, stop) == []  # type: ignore[arg-type]
    assert boot.read == 100


def test_status_prints_in_a_locale_without_its_characters(
        tmp_path: Path, engines: list[FakeEngine]) -> None:  # noqa: F811
    """A terminal in a Latin-1 locale could not show status's "●": UnicodeEncodeError,
    a traceback and no status."""
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"], extra={"interface": "eth0"}))
    proc = run_module("leasebox.ctl.main", "--runtime-dir", str(tmp_path), "status", "eth0",
                      env={"PYTHONIOENCODING": "latin-1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("\\u25cf eth0") and "BOUND" in proc.stdout


@pytest.mark.parametrize("extra", [
    {"lease": {**LEASE, "expires_in": float("nan")}},  # NaN: no JSON, though Python's
    {"lease": [1], "carrier": True},  # a lease that is no object
    {"lease": {**LEASE, "server_id": "192.0.2.1", "obtained_ago": 10.0, "dns_servers": [1]},
     "carrier": True},  # a server that is no text
    {"lease": LEASE, "carrier": "yes"},
    # a time past what the C library's localtime takes (OSError, not OverflowError)
    {"lease": {**LEASE, "server_id": "192.0.2.1", "obtained_ago": 10.0, "expires_in": 1e18},
     "carrier": True},
])
def test_a_broken_engines_reply_is_said_not_a_traceback(
        tmp_path: Path, engines: list[FakeEngine], extra: dict[str, object],  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """leaseboxctl runs as root and reads what the engine answers, which parses network
    data: a reply of the wrong shape is a bad reply (69) for that interface, never a
    traceback that loses every other interface's output."""
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"], extra))
    whole = {**LEASE, "server_id": "192.0.2.1", "obtained_ago": 10.0}
    engines.append(FakeEngine(tmp_path, "eth1", ["BOUND"], {"lease": whole,
                                                            "carrier": True}))
    code = ctl_main.main(["--runtime-dir", str(tmp_path), "status", "eth0", "eth1"])
    out, err = capsys.readouterr()
    assert code == EX_UNAVAILABLE and "eth0: bad reply from the engine" in err, (out, err)
    assert "192.0.2.57/24" in out  # eth1's all the same
    for command in (["list"], ["list", "--json"]):  # what it shows of eth0, or why not
        code = ctl_main.main(["--runtime-dir", str(tmp_path), *command, "eth0", "eth1"])
        out, err = capsys.readouterr()
        assert code in (0, EX_UNAVAILABLE) and "192.0.2.57/24" in out, (command, out, err)


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"NaN", b"Infinity"])
def test_a_reply_with_a_number_out_of_range_is_no_reply(number: bytes) -> None:
    """1e400 is valid JSON that Python's parser makes infinity: an engine (broken, or taken
    over through what it parses) that sent it as expires_in made `leaseboxctl list`
    end in an OverflowError traceback, every other interface's row lost with it."""
    raw = b'{"ok": true, "result": {"state": "BOUND", "lease": {"address": "192.0.2.57", ' \
          b'"prefixlen": 24, "expires_in": ' + number + b'}}}'
    with pytest.raises(control.ControlError, match="reply is not JSON"):
        control.decode_reply(raw)
    assert control.decode_reply(raw.replace(number, b"1e300"))["ok"] is True
