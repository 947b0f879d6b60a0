"""core.log and runtime.log: leasebox's own loggers (no standard logging in io or the engine),
library noise kept out of the journal, records in journald's native protocol."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leasebox.core import log as core_log
from leasebox.core.log import CRITICAL, DEBUG, ERROR, INFO, WARNING, Logger, Record
from leasebox.runtime import log as runtime_log
from leasebox.runtime.log import JournalSink, library_threshold
from tests.conftest import Logs


def _record(name: str, level: int) -> Record:
    return Record(name, level, "text", {}, __file__, 1)


def test_pyroute2_below_error_is_dropped_and_others_keep_warnings() -> None:
    assert library_threshold("pyroute2.netlink.rtnl.tcmsg.common") == ERROR
    assert library_threshold("pyroute2") == ERROR
    assert library_threshold("pyroute2x") == WARNING
    assert library_threshold("asyncio") == WARNING


def test_a_logger_formats_fields_and_position_and_never_raises(logs: Logs) -> None:
    log = Logger("leasebox.test", {"INTERFACE": "eth0"})
    log.info("lease %s for %d s", "192.0.2.5", 60, extra={"MESSAGE_ID": "ab"})
    log.debug("%d", "not a number")  # a bad format string loses no line
    log.warning("100%")  # no arguments: no formatting, as logging
    [first, bad, plain] = logs.records
    assert (first.name, first.level, first.message) == ("leasebox.test", INFO,
                                                         "lease 192.0.2.5 for 60 s")
    assert first.fields == {"INTERFACE": "eth0", "MESSAGE_ID": "ab"}
    assert first.func == "test_a_logger_formats_fields_and_position_and_never_raises"
    assert first.file == __file__ and first.line > 0
    assert bad.level == DEBUG and "'%d'" in bad.message and "not a number" in bad.message
    assert plain.message == "100%"


def test_the_threshold_and_a_traceback(logs: Logs) -> None:
    log = Logger("leasebox.test")
    core_log.configure(WARNING, logs)
    log.info("dropped")
    assert not log.isEnabledFor(INFO) and log.isEnabledFor(ERROR)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    [record] = logs.records
    assert record.level == ERROR and record.text().startswith("failed\nTraceback")
    assert record.text().endswith("ValueError: boom")


def test_io_and_the_engine_need_no_standard_logging_but_libraries_reach_the_log(
        logs: Logs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_log, "_sink", logs)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        runtime_log.forward_library_logs()
        logging.getLogger("pyroute2.netlink.rtnl.tcmsg").warning("tc noise")
        logging.getLogger("pyroute2.iproute").error("real %s", "trouble")
        logging.getLogger("asyncio").warning("loop")
        logging.getLogger("asyncio").info("chatter")
        try:
            raise OSError(5, "EIO")
        except OSError:
            logging.getLogger("pyroute2.netlink").exception("with its traceback")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert [(r.name, r.level, r.message) for r in logs.records] == [
        ("pyroute2.iproute", ERROR, "real trouble"), ("asyncio", WARNING, "loop"),
        ("pyroute2.netlink", ERROR, "with its traceback")]
    assert logs.records[-1].traceback.startswith("Traceback")
    assert logs.records[-1].traceback.endswith("OSError: [Errno 5] EIO")


def test_a_sink_that_fails_loses_no_line(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(record: Record) -> None:
        raise RuntimeError("journal gone")

    class Unprintable:
        def __str__(self) -> str:
            raise ValueError("no")

    saved = (core_log.config.level, core_log.config.sink)
    core_log.configure(DEBUG, broken)
    try:
        Logger("leasebox.test").error("lease %s", "lost", extra={"X": 1})
        Logger("leasebox.test").warning(Unprintable())
    finally:
        core_log.configure(*saved)
    assert capsys.readouterr().err == ("<3>lease lost\n"
                                       "<4><Unprintable that cannot be shown>\n")


# ---- the journal's native protocol, received on a real datagram socket ---------------------


def _parse_entry(data: bytes) -> dict[str, bytes]:
    """journald's reading of the native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL)."""
    fields: dict[str, bytes] = {}
    while data:
        line, sep, rest = data.partition(b"\n")
        assert sep, "an entry ends with a newline"
        if b"=" in line:
            name, _, value = line.partition(b"=")
            data = rest
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            value, name, data = rest[8:8 + size], line, rest[8 + size:]
            assert data[:1] == b"\n"
            data = data[1:]
        fields[name.decode()] = value
    return fields


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[tuple[socket.socket, Logger, JournalSink]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "socket"))
    sock.settimeout(5)
    sink = JournalSink("leasebox-test", str(tmp_path / "socket"),
                       fields=lambda: {"INTERFACE": "eth9", "DHCP_STATE": "BOUND"})
    saved = (core_log.config.level, core_log.config.sink)
    core_log.configure(DEBUG, sink)
    try:
        yield sock, Logger("leasebox.test-journal"), sink
    finally:
        core_log.configure(*saved)
        sink.close()
        sock.close()


def test_a_record_is_one_entry_with_its_fields(
        journal: tuple[socket.socket, Logger, JournalSink]) -> None:
    sock, logger, _ = journal
    before = time.monotonic_ns() // 1000
    logger.warning("lease %s\nsecond line", "192.0.2.5",
                   extra={"INTERFACE": "eth0", "MESSAGE_ID": "ab" * 16, "_TRUSTED": "x",
                          "lower": "y", "LEASE_MTU": 1500})
    fields = _parse_entry(sock.recv(65536))
    assert fields["MESSAGE"] == b"lease 192.0.2.5\nsecond line"
    assert (fields["PRIORITY"], fields["SYSLOG_IDENTIFIER"]) == (b"4", b"leasebox-test")
    assert (fields["INTERFACE"], fields["MESSAGE_ID"], fields["LEASE_MTU"]) == (
        b"eth0", b"ab" * 16, b"1500")  # the record's own INTERFACE= wins over the process's
    assert fields["DHCP_STATE"] == b"BOUND"
    assert fields["CODE_FUNC"] == b"test_a_record_is_one_entry_with_its_fields"
    assert fields["LOGGER"] == b"leasebox.test-journal"
    # when it was logged, on the clock of journald's __MONOTONIC_TIMESTAMP=
    assert before <= int(fields["SOURCE_MONOTONIC_USEC"]) <= time.monotonic_ns() // 1000
    # journald would drop these; they are not sent at all
    assert not {"_TRUSTED", "lower", "msg", "args"} & set(fields)


@pytest.mark.parametrize(("level", "priority"), [
    (DEBUG, b"7"), (INFO, b"6"), (WARNING, b"4"), (ERROR, b"3"), (CRITICAL, b"2"),
    (INFO + 1, b"4")])
def test_priorities(journal: tuple[socket.socket, Logger, JournalSink],
                    level: int, priority: bytes) -> None:
    sock, logger, _ = journal
    logger.log(level, "x")
    assert _parse_entry(sock.recv(65536))["PRIORITY"] == priority


def test_an_entry_too_large_for_a_datagram_goes_in_a_sealed_memfd(
        journal: tuple[socket.socket, Logger, JournalSink]) -> None:
    sock, logger, _ = journal
    big = "x" * (4 << 20)  # above any unix datagram limit
    logger.error("%s", big, extra={"INTERFACE": "eth1"})
    data, fds, _, _ = socket.recv_fds(sock, 65536, 1)
    assert data == b"" and len(fds) == 1
    try:
        seals = fcntl.fcntl(fds[0], fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_SEAL
        size = os.fstat(fds[0]).st_size
        fields = _parse_entry(os.pread(fds[0], size, 0))  # journald maps it; the offset is ours
    finally:
        os.close(fds[0])
    assert fields["MESSAGE"] == big.encode() and fields["INTERFACE"] == b"eth1"


def test_without_journald_the_line_goes_to_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sink = JournalSink("leasebox-test", str(tmp_path / "absent"))
    try:
        sink(_record("leasebox.x", ERROR))
    finally:
        sink.close()
    assert capsys.readouterr().err == "<3>text\n"


def _fill(path: str) -> int:
    """Queue datagrams at `path` until its queue is full, as a journald that stopped
    reading leaves it; how many."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as filler:
        for n in range(100_000):
            try:
                filler.sendto(b"MESSAGE=filler\n", socket.MSG_DONTWAIT, path)
            except BlockingIOError:
                return n
    raise AssertionError("the queue never filled")


def test_a_stalled_journald_costs_one_wait_then_lines_are_lost_and_counted(
        journal: tuple[socket.socket, Logger, JournalSink],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    sock, logger, sink = journal
    monkeypatch.setattr(runtime_log, "STALL_WAIT", 0.3)
    queued = _fill(sink.path)
    t0 = time.monotonic()
    first = threading.Thread(target=logger.info, args=("first",), daemon=True)
    first.start()  # waits for room, then gives up (a thread: blocked, it would hang the test)
    first.join(5)
    assert not first.is_alive()
    waited = time.monotonic() - t0
    assert 0.3 <= waited < 3.0
    t0 = time.monotonic()
    logger.info("second")
    logger.info("third")
    assert time.monotonic() - t0 < 0.2  # no second wait while journald does not read
    assert capsys.readouterr().err == ""  # stderr is a stream to the same journald
    for _ in range(queued):  # journald reads again
        assert _parse_entry(sock.recv(65536))["MESSAGE"] == b"filler"
    logger.warning("fourth")
    note, line = _parse_entry(sock.recv(65536)), _parse_entry(sock.recv(65536))
    assert note["MESSAGE"] == b"journald did not read for a while: 3 log line(s) lost"
    assert (note["PRIORITY"], note["SYSLOG_IDENTIFIER"]) == (b"4", b"leasebox-test")
    assert line["MESSAGE"] == b"fourth"
    logger.info("fifth")  # and no note any more
    assert _parse_entry(sock.recv(65536))["MESSAGE"] == b"fifth"


def test_a_journald_that_catches_up_in_time_loses_nothing(
        journal: tuple[socket.socket, Logger, JournalSink]) -> None:
    sock, logger, sink = journal
    queued = _fill(sink.path)
    drained: list[bytes] = []

    def read_soon() -> None:
        time.sleep(0.2)
        drained.extend(sock.recv(65536) for _ in range(queued))

    reader = threading.Thread(target=read_soon)
    reader.start()
    logger.info("waited for")  # within STALL_WAIT: sent once there is room
    reader.join(5)
    assert len(drained) == queued and sink.dropped == 0
    assert _parse_entry(sock.recv(65536))["MESSAGE"] == b"waited for"


def test_ios_sigterm_during_a_stalled_log_line_still_stops_io(
        journal: tuple[socket.socket, Logger, JournalSink]) -> None:
    """io's SIGTERM handler raises Stop wherever io is; a log line waiting for journald
    (up to STALL_WAIT) is where it lands when journald stalls, and the sinks' handlers
    for Exception must not swallow it."""
    from leasebox.io.loop import Stop
    from leasebox.io.main import _on_sigterm
    _, logger, sink = journal
    _fill(sink.path)
    saved = signal.signal(signal.SIGTERM, _on_sigterm)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        timer.start()
        with pytest.raises(Stop):
            logger.info("waiting for journald")
    finally:
        timer.cancel()
        signal.signal(signal.SIGTERM, saved)
