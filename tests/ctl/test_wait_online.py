"""leaseboxctl wait-online against fake engines' control sockets, and how `leave` tells a
system shutdown from a stop (a fake systemctl stands in for the service manager)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.config.confroot import SRC

from leasebox.ctl import commands, waitonline
from leasebox.ctl.main import build_parser
from leasebox.ipc import control


class FakeEngine:
    """A control socket answering STATUS with `states` in turn (the last one repeats), and
    recording every other command."""

    def __init__(self, rundir: Path, name: str, states: list[str],
                 extra: dict[str, object] | None = None) -> None:
        (rundir / name).mkdir(parents=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(str(rundir / name / "control.sock"))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.states = list(states)
        self.extra = dict(extra or {})
        self.commands: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                request = control.decode_request(conn.recv(control.MAX_REQUEST))
                self.commands.append(request.command.value)
                state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
                conn.send(control.encode_reply(True, {"state": state, "status": state,
                                                      **self.extra}))

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)
        self.sock.close()


@contextlib.contextmanager
def refusing_engine(rundir: Path, name: str) -> Iterator[None]:
    """A control socket whose engine refuses the one connection it takes, as the real one
    refuses a user: the reason, then the request read (closing with it unread would reset
    the connection, and the client would lose the reason)."""
    (rundir / name).mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.bind(str(rundir / name / "control.sock"))
        sock.listen(8)

        def refuse() -> None:
            conn, _ = sock.accept()
            with conn:
                conn.send(control.encode_reply(False, error="permission denied"))
                conn.settimeout(5)
                conn.recv(control.MAX_REQUEST)

        thread = threading.Thread(target=refuse, daemon=True)
        thread.start()
        yield
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def handoff_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """netconf's and leasebox-bus's files, in the test's directory, not this host's."""
    netconf, bus = tmp_path / "netconf-run", tmp_path / "bus-links"
    netconf.mkdir()
    bus.mkdir()
    monkeypatch.setattr(commands, "NETCONF_RUN", netconf)
    monkeypatch.setattr(commands, "BUS_LINKS", bus)
    return netconf, bus


def netconf_wants(files: tuple[Path, Path], name: str, pending: bool,
                  ntp_only: bool = False, again: bool = False) -> None:
    """netconf.state as netconf writes it: `pending`, new names not yet handed on (only
    a new NTP server, with `ntp_only`; the same names again, to a new sink, with `again`)."""
    (files[0] / name).mkdir(exist_ok=True)
    handed = {"dns_servers": ["192.0.2.9"], "domains": [], "ntp_servers": []}
    wanted = {"dns_servers": ["192.0.2.53"], "domains": [], "ntp_servers": []}
    if ntp_only:
        wanted = {**handed, "ntp_servers": ["192.0.2.123"]}
    if again:
        wanted = dict(handed)
    (files[0] / name / "netconf.state").write_text(json.dumps(
        {"address": "192.0.2.10/24", "dns": handed, "wanted": wanted if pending else None}))


def bus_says(files: tuple[Path, Path], name: str, resolved: str) -> None:
    (files[1] / f"{name}.json").write_text(json.dumps(
        {"interface": name, "dns_servers": ["192.0.2.53"], "resolved": resolved}))


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[list[FakeEngine]]:
    started: list[FakeEngine] = []
    yield started
    for engine in started:
        engine.close()


def wait_online(rundir: Path, *argv: str) -> int:
    args = build_parser().parse_args(["--runtime-dir", str(rundir), "wait-online", *argv])
    return waitonline.run(args)


def test_waits_for_every_interface(tmp_path: Path, engines: list[FakeEngine],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    engines.append(FakeEngine(tmp_path, "eth0", ["SELECTING", "REQUESTING", "BOUND"]))
    engines.append(FakeEngine(tmp_path, "eth1", ["INIT-REBOOT", "RENEWING"]))
    assert wait_online(tmp_path, "--timeout", "10") == 0
    assert "online after" in capsys.readouterr().out
    assert engines[0].commands == ["status"] * 3  # a round each, until both are configured


def test_times_out_naming_what_is_not_configured(tmp_path: Path, engines: list[FakeEngine],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"]))
    engines.append(FakeEngine(tmp_path, "eth1", ["SELECTING"]))
    assert wait_online(tmp_path, "--timeout", "0.5") == waitonline.EX_TIMEOUT
    err = capsys.readouterr().err
    assert err == "leaseboxctl: timed out after 0.5 s waiting for eth1 (SELECTING)\n"


@pytest.mark.parametrize("only_lo", [False, True])
def test_an_engine_without_a_state_is_starting_in_a_private_network(
        tmp_path: Path, engines: list[FakeEngine], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, only_lo: bool) -> None:
    """An engine whose io has not reported the link has no state. The wait-online units
    run with PrivateNetwork=yes, where only lo is: the interface is not "no such
    interface" there (which sent an operator looking for a missing NIC), but starting."""
    engines.append(FakeEngine(tmp_path, "nosuch0", [""]))
    # (whatever the host running the test has)
    links = [(1, "lo")] if only_lo else [(1, "lo"), (2, "eth9")]
    monkeypatch.setattr(socket, "if_nameindex", lambda: links)
    assert wait_online(tmp_path, "--timeout", "0.3") == waitonline.EX_TIMEOUT
    said = "starting" if only_lo else "no such interface"
    assert capsys.readouterr().err == (
        f"leaseboxctl: timed out after 0.3 s waiting for nosuch0 ({said})\n")


def test_hung_engines_hold_the_wait_up_to_its_timeout_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hung = []
    for name in ("eth0", "eth1"):  # they accept (the backlog) and never answer
        (tmp_path / name).mkdir()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.bind(str(tmp_path / name / "control.sock"))
        sock.listen(8)
        hung.append(sock)
    try:
        started = time.monotonic()
        assert wait_online(tmp_path, "--timeout", "0.5") == waitonline.EX_TIMEOUT
        assert time.monotonic() - started < 2  # not 10 s an interface
    finally:
        for sock in hung:
            sock.close()
    assert capsys.readouterr().err == ("leaseboxctl: timed out after 0.5 s waiting for "
                                       "eth0 (no answer), eth1 (no answer)\n")


def test_online_is_every_interface_configured_at_once(
        tmp_path: Path, engines: list[FakeEngine], capsys: pytest.CaptureFixture[str]) -> None:
    """eth0 was bound, then lost its lease while eth1 was still looking: not online."""
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND", "INIT"]))
    engines.append(FakeEngine(tmp_path, "eth1", ["SELECTING", "SELECTING", "BOUND"]))
    assert wait_online(tmp_path, "--timeout", "0.5") == waitonline.EX_TIMEOUT
    assert capsys.readouterr().err == ("leaseboxctl: timed out after 0.5 s waiting for "
                                       "eth0 (INIT)\n")


def test_a_user_the_engine_refuses_is_told_at_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not 120 s of polling for an answer that cannot change."""
    with refusing_engine(tmp_path, "eth0"):
        started = time.monotonic()
        assert wait_online(tmp_path, "--timeout", "30") == commands.EX_NOPERM
        assert time.monotonic() - started < 5
    assert capsys.readouterr().err == "leaseboxctl: eth0: permission denied\n"


def test_json_prints_its_object_on_an_error_too(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The man page's "at the end, an object": a reader (jq .online) read nothing when
    the engine refused the user (77) or a name was bad (64)."""
    with refusing_engine(tmp_path, "eth0"):
        assert wait_online(tmp_path, "--json", "--timeout", "30") == commands.EX_NOPERM
    assert json.loads(capsys.readouterr().out)["online"] is False
    assert wait_online(tmp_path, "--json", "bad/name") == 64
    assert json.loads(capsys.readouterr().out)["online"] is False


def test_json_says_what_it_saw(tmp_path: Path, engines: list[FakeEngine],
                               capsys: pytest.CaptureFixture[str]) -> None:
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"]))
    engines.append(FakeEngine(tmp_path, "eth1", ["SELECTING"]))
    assert wait_online(tmp_path, "--json", "--timeout", "0.3") == waitonline.EX_TIMEOUT
    out = json.loads(capsys.readouterr().out)
    assert out["online"] is False and out["states"] == {"eth0": "BOUND", "eth1": "SELECTING"}
    assert wait_online(tmp_path, "--json", "--any") == 0
    assert json.loads(capsys.readouterr().out)["online"] is True


def test_any_is_enough_with_one(tmp_path: Path, engines: list[FakeEngine]) -> None:
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"]))
    engines.append(FakeEngine(tmp_path, "eth1", ["SELECTING"]))
    assert wait_online(tmp_path, "--any", "--timeout", "5") == 0
    # named interfaces: only those count; one not running is waited for like any other
    assert wait_online(tmp_path, "eth0", "--timeout", "5") == 0
    assert wait_online(tmp_path, "eth0", "eth9", "--timeout", "0.3") == waitonline.EX_TIMEOUT


def test_an_interface_named_twice_counts_once(tmp_path: Path,
                                              engines: list[FakeEngine]) -> None:
    """A drop-in that lists an interface twice waited its whole timeout, then said it
    timed out waiting for nothing."""
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"]))
    assert wait_online(tmp_path, "eth0", "eth0", "--timeout", "5") == 0


def test_nothing_to_wait_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert wait_online(tmp_path) == 0
    assert "nothing to wait for" in capsys.readouterr().err
    # with --json, still the object the man page promises (`| jq .online` read nothing)
    assert wait_online(tmp_path, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"online": True, "seconds": 0.0,
                                                   "states": {}, "dns_pending": {}}
    # -q: "print nothing on success"
    args = build_parser().parse_args(["--runtime-dir", str(tmp_path), "-q", "wait-online"])
    assert waitonline.run(args) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(("manager_says", "option", "sent"), [
    ("running", "auto", "leave"),
    ("degraded", "auto", "leave"),
    ("stopping", "auto", "shutdown"),
    ("stopping", "no", "leave"),
    ("running", "yes", "shutdown"),
    (None, "auto", "leave"),  # no service manager to ask: an ordinary stop
])
def test_leave_at_shutdown_keeps_the_lease(tmp_path: Path, engines: list[FakeEngine],
                                           monkeypatch: pytest.MonkeyPatch,
                                           manager_says: str | None, option: str,
                                           sent: str) -> None:
    fake = tmp_path / "systemctl"
    if manager_says is not None:
        fake.write_text(f"#!/bin/sh\n[ \"$1\" = is-system-running ] && echo {manager_says}\n"
                        "exit 1\n")
        fake.chmod(0o755)
    monkeypatch.setattr(commands, "SYSTEMCTL", str(fake))
    rundir = tmp_path / "run"
    engines.append(FakeEngine(rundir, "eth0", ["STOPPED"]))
    args = build_parser().parse_args(["--runtime-dir", str(rundir), "--quiet", "leave",
                                      "--shutdown", option, "eth0"])
    assert isinstance(args, argparse.Namespace)
    assert commands.leave_if_running(args) == 0
    assert engines[0].commands == [sent]


@pytest.mark.parametrize(("engine_says", "asked"), [
    ("active/running", True), ("activating/start", True), ("reloading/reload", True),
    ("refreshing/refresh", True),  # systemd 257's
    ("failed/failed", False), ("inactive/dead", False), ("deactivating/stop-sigterm", False),
    ("activating/auto-restart", False),  # Restart= waits; the restart job would wait on us
    ("activating/auto-restart-queued", False),  # since systemd 254: the job queued
    (None, True),  # no service manager to ask: the socket decides
])
def test_leave_asks_no_engine_that_is_not_running(
        tmp_path: Path, engines: list[FakeEngine], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], engine_says: str | None, asked: bool) -> None:
    """A target restarted after its engine failed (a configuration error, fixed since):
    leave@'s ExecStop= asked the failed engine, whose socket started it, but that start
    waited for the stop job, which waited 5 s for the reply; the new engine then obeyed
    the queued request and stayed STOPPED, with no lease."""
    fake = tmp_path / "systemctl"
    if engine_says is not None:
        active, sub = engine_says.split("/")
        fake.write_text("#!/bin/sh\n"
                        '[ "$*" = "show --property=ActiveState --property=SubState -- '
                        'leasebox-engine@eth0.service" ] && '
                        f"printf 'ActiveState={active}\\nSubState={sub}\\n' && exit 0\n"
                        "exit 1\n")
        fake.chmod(0o755)
    monkeypatch.setattr(commands, "SYSTEMCTL", str(fake))
    rundir = tmp_path / "run"
    engines.append(FakeEngine(rundir, "eth0", ["BOUND"]))
    args = build_parser().parse_args(["--runtime-dir", str(rundir), "leave", "eth0"])
    assert isinstance(args, argparse.Namespace)
    assert commands.leave_if_running(args) == 0
    assert engines[0].commands == (["leave"] if asked else [])
    if not asked and engine_says in ("inactive/dead", "deactivating/stop-sigterm"):
        assert capsys.readouterr().err == (f"leaseboxctl: eth0: the engine is not running "
                                           f"({engine_says}): nothing to leave\n")
    elif not asked:
        # a failed engine left nothing: said even with --quiet, as from ExecStop=
        quiet = build_parser().parse_args(["--runtime-dir", str(rundir), "--quiet", "leave",
                                           "eth0"])
        assert isinstance(quiet, argparse.Namespace)
        capsys.readouterr()
        assert commands.leave_if_running(quiet) == 0
        assert capsys.readouterr().err == (
            f"leaseboxctl: eth0: the engine is not running ({engine_says}): whatever it had "
            "applied on eth0 (address, routes, DNS, NTP) stays until its lifetime ends; see "
            "journalctl -u leasebox-engine@eth0, then start and stop leasebox@eth0.target "
            "to remove it\n")
        assert engines[0].commands == []
    if not asked:
        # a name no interface has is said so, not taken for an engine not running
        bad = build_parser().parse_args(["--runtime-dir", str(rundir), "leave", "eth*"])
        assert isinstance(bad, argparse.Namespace)
        assert commands.leave_if_running(bad) != 0
        assert "invalid interface name" in capsys.readouterr().err


def test_leave_from_execstop_is_fine_only_when_no_engine_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """ExecStop='s leave: no engine is success (nothing to leave); an engine that does not
    answer is a failure, since the address may still be configured."""
    monkeypatch.setattr(commands, "SYSTEMCTL", str(tmp_path / "no-systemctl"))
    monkeypatch.setattr(commands, "TIMEOUT", 0.3)
    rundir = tmp_path / "run"

    def leave() -> int:
        args = build_parser().parse_args(["--runtime-dir", str(rundir), "--quiet", "leave",
                                          "eth0"])
        assert isinstance(args, argparse.Namespace)
        return commands.leave_if_running(args)

    assert leave() == 0  # no socket
    (rundir / "eth0").mkdir(parents=True)
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        hung.bind(str(rundir / "eth0" / "control.sock"))
        hung.listen(1)  # connects, never answers
        assert leave() == commands.EX_UNAVAILABLE
    finally:
        hung.close()
    assert leave() == 0  # the socket file is left, but nobody listens: refused
    capsys.readouterr()
    args = build_parser().parse_args(["--runtime-dir", str(rundir), "leave", "eth9"])
    assert isinstance(args, argparse.Namespace)
    assert commands.leave_if_running(args) == 0  # by hand, without --quiet: said
    assert capsys.readouterr().err == ("leaseboxctl: eth9: leasebox is not running for this "
                                       f"interface (no {rundir}/eth9/control.sock; "
                                       "systemctl status leasebox@eth9.target says why): "
                                       "nothing to leave\n")


def test_an_absent_engine_asks_systemd_only_when_the_error_is_shown(tmp_path: Path) -> None:
    """wait-online looks at every interface ten times a second at boot: an engine not yet
    there costs it a failed connect, not a systemctl run; the hint is made when shown."""
    with pytest.raises(commands.CtlError) as caught:
        commands.request(tmp_path, "eth9", control.Command.STATUS)
    assert caught.value.ask_systemd == "eth9" and commands.why(caught.value) == "not running"
    assert "{hint}" in caught.value.args[0]
    shown = str(caught.value)  # here systemd is asked (no systemd: the target's status)
    assert "{hint}" not in shown and "says why" in shown and caught.value.ask_systemd is None


def test_leave_from_an_engine_that_closes_without_an_answer_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that takes the request and closes without an answer (it crashed, or exited
    78) may or may not have left the link: that is a failure for leave@'s ExecStop, not
    "not running, nothing to leave"."""
    monkeypatch.setattr(commands, "SYSTEMCTL", str(tmp_path / "no-systemctl"))
    rundir = tmp_path / "run"
    (rundir / "eth0").mkdir(parents=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(str(rundir / "eth0" / "control.sock"))
    server.listen(1)
    server.settimeout(5)

    def closes_at_once() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            conn.recv(4096)
            conn.close()

    taker = threading.Thread(target=closes_at_once)
    taker.start()
    try:
        args = build_parser().parse_args(["--runtime-dir", str(rundir), "--quiet", "leave",
                                          "eth0"])
        assert isinstance(args, argparse.Namespace)
        assert commands.leave_if_running(args) == commands.EX_UNAVAILABLE
    finally:
        taker.join(10)
        server.close()
    with pytest.raises(commands.CtlError) as caught:
        commands.request(rundir, "eth0", control.Command.STATUS, timeout=0.3)
    assert commands.why(caught.value) == "not running"  # the socket is gone: refused


def test_online_waits_for_the_dns_on_its_way_to_resolved(
        tmp_path: Path, engines: list[FakeEngine], handoff_files: tuple[Path, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    """BOUND comes before netconf hands the DNS on, and leasebox-bus delivers it after
    that: a unit after network-online.target must find it in resolved."""
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"]))
    netconf_wants(handoff_files, "eth0", pending=True)
    bus_says(handoff_files, "eth0", "applied")  # the last lease's

    def hand_on() -> None:
        time.sleep(0.4)
        bus_says(handoff_files, "eth0", "pending")
        netconf_wants(handoff_files, "eth0", pending=False)
        time.sleep(0.4)
        bus_says(handoff_files, "eth0", "applied")

    worker = threading.Thread(target=hand_on)
    started = time.monotonic()
    worker.start()
    try:
        assert wait_online(tmp_path, "--timeout", "10") == 0
        assert time.monotonic() - started >= 0.8
    finally:
        worker.join()
    captured = capsys.readouterr()
    assert "online after" in captured.out and captured.err == ""


def test_a_failed_dns_hand_off_holds_nothing_up(
        tmp_path: Path, engines: list[FakeEngine], handoff_files: tuple[Path, Path],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """resolved not answering is leasebox-bus's error, retried there: no wait. One that
    stays on its way (netconf cannot reach leasebox-bus) is waited for DNS_GRACE, and
    said; the timeout names it."""
    engines.append(FakeEngine(tmp_path, "eth0", ["BOUND"]))
    bus_says(handoff_files, "eth0",
             "pending: org.freedesktop.resolve1 is not on the bus; next try in 4 s")
    started = time.monotonic()
    assert wait_online(tmp_path, "--timeout", "10") == 0
    assert time.monotonic() - started < 1
    netconf_wants(handoff_files, "eth0", pending=True, ntp_only=True)  # not waited for
    assert wait_online(tmp_path, "--timeout", "10") == 0
    assert time.monotonic() - started < 1
    netconf_wants(handoff_files, "eth0", pending=True, again=True)  # waited for
    assert wait_online(tmp_path, "--timeout", "0.3") == waitonline.EX_TIMEOUT
    capsys.readouterr()
    netconf_wants(handoff_files, "eth0", pending=True)
    assert wait_online(tmp_path, "--timeout", "0.3") == waitonline.EX_TIMEOUT
    assert capsys.readouterr().err == ("leaseboxctl: timed out after 0.3 s waiting for eth0 "
                                       "(netconf has not handed its DNS on yet)\n")
    monkeypatch.setattr(waitonline, "DNS_GRACE", 0.3)
    assert wait_online(tmp_path, "--json", "--timeout", "10") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["online"] is True
    assert out["dns_pending"] == {"eth0": "netconf has not handed its DNS on yet"}
    assert wait_online(tmp_path, "--timeout", "10") == 0
    assert capsys.readouterr().err == ("leaseboxctl: eth0: going on without waiting for its "
                                       "DNS any longer: netconf has not handed its DNS on yet\n")


@pytest.mark.parametrize("load_state", ["masked", "loaded"])
def test_an_interface_whose_target_is_masked_is_not_waited_for(
        tmp_path: Path, engines: list[FakeEngine], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], load_state: str) -> None:
    """`systemctl mask leasebox@eth1.target` leaves the enabled wait unit of eth1: it held
    every boot up for its whole timeout. systemd is asked once, only about an interface
    leasebox does not run on."""
    fake, calls = tmp_path / "systemctl", tmp_path / "calls"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n'
                    '[ "$*" = "show --property=LoadState --value leasebox@eth1.target" ] && '
                    f"echo {load_state} && exit 0\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(commands, "SYSTEMCTL", str(fake))
    engines.append(FakeEngine(tmp_path, "eth0", ["SELECTING", "BOUND"]))
    if load_state == "masked":
        assert wait_online(tmp_path, "--timeout", "10", "eth0", "eth1") == 0
        assert "eth1: leasebox@eth1.target is masked: not waiting for it" in \
            capsys.readouterr().err
        assert wait_online(tmp_path, "--timeout", "10", "eth1") == 0  # nothing left
    else:
        assert wait_online(tmp_path, "--timeout", "0.5", "eth0", "eth1") == \
            waitonline.EX_TIMEOUT
        assert "waiting for eth1 (not running)" in capsys.readouterr().err
    assert calls.read_text().splitlines()[0] == \
        "show --property=LoadState --value leasebox@eth1.target"
    assert len(calls.read_text().splitlines()) == (2 if load_state == "masked" else 1)


def test_an_interface_masked_during_the_wait_is_not_waited_for(
        tmp_path: Path, engines: list[FakeEngine], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """eth0's target masked from the start, eth1's stopped and masked during the wait:
    eth1 was never asked about again (the count of those asked matched the count left),
    and the wait ran to its timeout."""
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\necho masked\n")
    fake.chmod(0o755)
    monkeypatch.setattr(commands, "SYSTEMCTL", str(fake))
    engines.append(FakeEngine(tmp_path, "eth1", ["SELECTING"]))
    threading.Timer(0.5, engines[0].close).start()
    started = time.monotonic()
    assert wait_online(tmp_path, "--timeout", "20", "eth0", "eth1") == 0
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "eth1: leasebox@eth1.target is masked" in err
    assert "every interface asked for has its target masked" in err


def test_a_leave_netconf_has_not_confirmed_is_said_even_when_quiet(
        tmp_path: Path, engines: list[FakeEngine], capsys: pytest.CaptureFixture[str]) -> None:
    engines.append(FakeEngine(tmp_path, "eth0", ["STOPPED"], extra={
        "warning": "netconf has not confirmed the removal of the configuration yet"}))
    args = build_parser().parse_args(["--runtime-dir", str(tmp_path), "--quiet", "leave",
                                      "eth0"])
    assert isinstance(args, argparse.Namespace)
    assert commands.run_command(args, absent_ok=True) == 0
    assert capsys.readouterr().err == ("leaseboxctl: eth0: netconf has not confirmed the "
                                       "removal of the configuration yet\n")


def test_leave_json_prints_an_object_when_there_is_nothing_to_leave(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["--runtime-dir", str(tmp_path), "--quiet", "leave",
                                      "--json", "eth0"])
    assert isinstance(args, argparse.Namespace)
    assert commands.run_command(args, absent_ok=True) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["interface"], doc["state"], doc["status"]) == ("eth0", None, "not running")


def test_ctrl_c_ends_the_wait_as_sigint_does_with_the_json_object(
        tmp_path: Path, engines: list[FakeEngine]) -> None:
    """Ctrl-C printed Python's traceback, and --json nothing: a script reading .online
    got no object. Now the object (online false, the states last seen) and a death by
    SIGINT, as a program without Python's handler would end (a shell's loop stops)."""
    engines.append(FakeEngine(tmp_path, "eth0", ["SELECTING"]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "NOTIFY_"))}
    env["PYTHONPATH"] = str(SRC)
    with subprocess.Popen([sys.executable, "-m", "leasebox.ctl.main", "--runtime-dir",
                           str(tmp_path), "wait-online", "--json", "eth0"], env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        deadline = time.monotonic() + 20
        while engines[0].commands.count("status") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert engines[0].commands.count("status") >= 2, "the wait never asked twice"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGINT, err
    assert "Traceback" not in err
    body = json.loads(out)
    assert body["online"] is False and body["states"] == {"eth0": "SELECTING"}
