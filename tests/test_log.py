"""runtime.log: library noise stays out of the journal whatever the library does to its
own logger's level; records reach journald in its native protocol."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from leasebox.runtime.log import JournalHandler, quiet_libraries


def _record(name: str, level: int) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "text", None, None)


def test_pyroute2_below_error_is_dropped_and_ours_kept() -> None:
    assert not quiet_libraries(_record("pyroute2.netlink.rtnl.tcmsg.common", logging.WARNING))
    assert not quiet_libraries(_record("pyroute2", logging.INFO))
    assert quiet_libraries(_record("pyroute2.iproute", logging.ERROR))
    assert quiet_libraries(_record("leasebox.netconf", logging.DEBUG))
    assert quiet_libraries(_record("leasebox.engine", logging.WARNING))


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
def journal(tmp_path: Path) -> Iterator[tuple[socket.socket, logging.Logger, JournalHandler]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "socket"))
    sock.settimeout(5)
    handler = JournalHandler("leasebox-test", str(tmp_path / "socket"))
    logger = logging.getLogger("leasebox.test-journal")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield sock, logger, handler
    finally:
        logger.removeHandler(handler)
        handler.close()
        sock.close()


def test_a_record_is_one_entry_with_its_fields(
        journal: tuple[socket.socket, logging.Logger, JournalHandler]) -> None:
    sock, logger, _ = journal
    logger.warning("lease %s\nsecond line", "192.0.2.5",
                   extra={"INTERFACE": "eth0", "MESSAGE_ID": "ab" * 16, "_TRUSTED": "x",
                          "lower": "y", "LEASE_MTU": 1500})
    fields = _parse_entry(sock.recv(65536))
    assert fields["MESSAGE"] == b"lease 192.0.2.5\nsecond line"
    assert (fields["PRIORITY"], fields["SYSLOG_IDENTIFIER"]) == (b"4", b"leasebox-test")
    assert (fields["INTERFACE"], fields["MESSAGE_ID"], fields["LEASE_MTU"]) == (
        b"eth0", b"ab" * 16, b"1500")
    assert fields["CODE_FUNC"] == b"test_a_record_is_one_entry_with_its_fields"
    assert fields["LOGGER"] == b"leasebox.test-journal"
    # journald would drop these; they are not sent at all
    assert not {"_TRUSTED", "lower", "msg", "args"} & set(fields)


@pytest.mark.parametrize(("level", "priority"), [
    (logging.DEBUG, b"7"), (logging.INFO, b"6"), (logging.WARNING, b"4"), (logging.ERROR, b"3"),
    (logging.CRITICAL, b"2"), (logging.INFO + 1, b"4")])
def test_priorities(journal: tuple[socket.socket, logging.Logger, JournalHandler],
                    level: int, priority: bytes) -> None:
    sock, logger, _ = journal
    logger.log(level, "x")
    assert _parse_entry(sock.recv(65536))["PRIORITY"] == priority


def test_an_entry_too_large_for_a_datagram_goes_in_a_sealed_memfd(
        journal: tuple[socket.socket, logging.Logger, JournalHandler]) -> None:
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
    handler = JournalHandler("leasebox-test", str(tmp_path / "absent"))
    try:
        handler.handle(_record("leasebox.x", logging.ERROR))
    finally:
        handler.close()
    assert capsys.readouterr().err == "<3>text\n"
