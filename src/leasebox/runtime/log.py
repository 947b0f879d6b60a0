"""Where every leasebox process's log goes: journald with structured fields, or stderr.

Under systemd each record goes to journald natively, so fields such as INTERFACE=,
DHCP_STATE=, LEASE_ADDRESS= and MESSAGE_ID= are searchable. Without a journal (tests,
leasebox-launch) the same records go to stderr as plain lines; the fields are dropped.
The native protocol is written here (systemd.io/JOURNAL_NATIVE_PROTOCOL): systemd-python's
JournalHandler costs each process ~4 ms and ~0.7 MiB to import (uuid, datetime, the journal
reader) and sends every attribute of a record, most of which journald drops as invalid
field names. A traceback is in MESSAGE, under the message. The loggers are
leasebox.core.log's (why not the standard logging: see there).
No colours and no timestamps in the text: journald has them (and each entry carries
SOURCE_MONOTONIC_USEC=, see JournalSink). --debug turns on leasebox's own debug
lines only; of libraries that log (through the standard logging), pyroute2's errors and
other libraries' warnings and errors are kept.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import socket
import struct
import sys
import time
from collections.abc import Callable

from leasebox.core.log import (
    DEBUG,
    ERROR,
    INFO,
    WARNING,
    Logger,
    Record,
    configure,
    syslog_priority,
)

JOURNAL_SOCKET = "/run/systemd/journal/socket"
STALL_WAIT = 1.0  # longest one line waits for room in journald's queue (then: dropped)
STALL_RETRY = 0.01


def library_threshold(name: str) -> int:
    """The least level a library's record (standard logging) needs to be kept: pyroute2's
    errors only. Its tc module warns about tc, which netconf does not use, at every start
    where /proc/net/psched is missing; other libraries keep their warnings."""
    return ERROR if name == "pyroute2" or name.startswith("pyroute2.") else WARNING


def _field_name(name: str) -> bool:
    """journald's rule for a field a client may set: A-Z, 0-9 and _, not starting with _ or
    a digit, at most 64 characters. Others it drops (and the record's lowercase ones)."""
    return (0 < len(name) <= 64 and name[0] not in "_0123456789"
            and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_" for c in name))


def journal_entry(fields: dict[str, str]) -> bytes:
    """The native protocol's datagram: NAME=value lines, or, for a value with a newline,
    the name, a newline, its length as 64-bit little-endian, the value and a newline."""
    out = []
    for name, text in fields.items():
        value = text.encode("utf-8", "replace")
        if b"\n" in value:
            out.append(name.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n")
        else:
            out.append(name.encode() + b"=" + value + b"\n")
    return b"".join(out)


class JournalSink:
    """Each record as one journal entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, LOGGER,
    CODE_FILE/LINE/FUNC, SOURCE_MONOTONIC_USEC (see below), the process's own fields
    (INTERFACE=, the engine's DHCP_STATE=...) and the record's upper-case fields
    (MESSAGE_ID=...), which win over the process's.
    An entry too large for a datagram goes in a sealed memfd, as sd_journal_send() does.
    If journald cannot take it, the line goes to stderr (the journal's stream) instead.

    SOURCE_MONOTONIC_USEC= is CLOCK_MONOTONIC when the line was logged, in µs, the clock of
    journald's own __MONOTONIC_TIMESTAMP=, which is when journald received it: on busy
    cores that comes milliseconds later, and the three processes' lines can arrive out of
    the order they were logged in (`journalctl -o json` shows both).

    A journald that stops reading (stalled on its storage, or starved of CPU) must not stop
    the process: a line waits at most STALL_WAIT for room in its socket's queue, and after
    such a wait the lines are dropped, one try each, until journald takes one again; then
    an entry says how many were lost. (Blocking, the engine would renew nothing and its
    watchdog would kill it, again and again while the stall lasts; stderr is no way out,
    as it is a stream to the same journald.)"""

    def __init__(self, identifier: str, path: str = JOURNAL_SOCKET,
                 fields: Callable[[], dict[str, str]] = dict) -> None:
        self.identifier = identifier
        self.path = path
        self.process_fields = fields
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dropped = 0  # lines lost since journald last took one (0: not stalled)

    def __call__(self, record: Record) -> None:
        try:
            fields = {"MESSAGE": record.text(), "PRIORITY": str(syslog_priority(record.level)),
                      "SYSLOG_IDENTIFIER": self.identifier, "LOGGER": record.name,
                      "CODE_FILE": record.file, "CODE_LINE": str(record.line),
                      "SOURCE_MONOTONIC_USEC": str(time.monotonic_ns() // 1000)}
            if record.func:
                fields["CODE_FUNC"] = record.func
            for name, value in (*self.process_fields().items(), *record.fields.items()):
                if _field_name(name):
                    fields[name] = value if isinstance(value, str) else str(value)
            self._send(journal_entry(fields))
        except Exception:  # noqa: BLE001 (a log line never takes its process down)
            try:
                sys.stderr.write(f"<{syslog_priority(record.level)}>{record.text()}\n")
            except Exception:  # noqa: BLE001, S110 (no stderr either: nowhere left to say it)
                pass

    def _send(self, entry: bytes) -> None:
        if self.dropped:  # stalled: no wait, until journald takes a line again
            if not self._offer(journal_entry({
                    "MESSAGE": f"journald did not read for a while: {self.dropped} log "
                               "line(s) lost", "PRIORITY": str(syslog_priority(WARNING)),
                    "SYSLOG_IDENTIFIER": self.identifier, "LOGGER": "leasebox.log"})):
                self.dropped += 1
                return
            self.dropped = 0
        deadline = time.monotonic() + STALL_WAIT
        while not self._offer(entry):
            if time.monotonic() >= deadline:
                self.dropped = 1
                return
            time.sleep(STALL_RETRY)

    def _offer(self, entry: bytes) -> bool:
        """Send `entry` without waiting: False if journald's queue is full."""
        try:
            self.sock.sendto(entry, socket.MSG_DONTWAIT, self.path)
            return True
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
        fd = os.memfd_create("leasebox-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(entry)
            while view:
                view = view[os.write(fd, view):]
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
                        | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
            self.sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    array.array("i", [fd]))], socket.MSG_DONTWAIT, self.path)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sock.close()


class StderrSink:
    """Plain lines on stderr: the message (and traceback), after `prefix`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, record: Record) -> None:
        try:
            sys.stderr.write(f"{self.prefix}{record.text()}\n")
        except Exception:  # noqa: BLE001, S110 (no stderr: nowhere left to say it)
            pass


class _ProcessFields:
    """INTERFACE= and the dynamic fields (the engine's DHCP_STATE=...) of every record."""

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self.dynamic: Callable[[], dict[str, str]] = dict

    def __call__(self) -> dict[str, str]:
        return {"INTERFACE": self.interface, **self.dynamic()}


_fields: _ProcessFields | None = None
_sink: Callable[[Record], None] | None = None


def setup(process: str, interface: str, debug: bool = False) -> Logger:
    """Send this process's records to journald (under systemd) or stderr; the logger of
    the process's own lines."""
    global _fields, _sink  # noqa: PLW0603 (one log per process, like logging's own state)
    _fields = _ProcessFields(interface)
    sink: Callable[[Record], None]
    if os.environ.get("JOURNAL_STREAM") and os.path.exists(JOURNAL_SOCKET):
        sink = JournalSink(f"leasebox-{process}", fields=_fields)
    else:
        # under systemd stderr is the journal, which names the unit already
        sink = StderrSink("" if os.environ.get("JOURNAL_STREAM")
                          else f"leasebox-{process}[{interface}]: ")
    _sink = sink
    configure(DEBUG if debug else INFO, sink)
    return Logger(f"leasebox.{process}")


def set_dynamic_fields(provider: Callable[[], dict[str, str]]) -> None:
    """Fields computed at each record (the engine's current state and lease)."""
    if _fields is not None:
        _fields.dynamic = provider


def forward_library_logs() -> None:
    """Records of libraries that use the standard logging (pyroute2) into this process's
    log, from library_threshold() up, with their tracebacks. Called by the process that
    loads such a library, before it does, so that what it logs while it loads is kept;
    a process whose libraries do not log never loads `logging`."""
    import logging  # noqa: PLC0415 (see the docstring)

    sink = _sink

    class _Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if sink is None or record.levelno < library_threshold(record.name):
                return
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 (the library's bad format string)
                message = str(record.msg)
            trace = ""
            if record.exc_info:
                trace = logging.Formatter().formatException(record.exc_info)
            sink(Record(record.name, record.levelno, message, {}, record.pathname,
                        record.lineno, record.funcName or "", trace))

    root = logging.getLogger()
    root.handlers[:] = [_Forward()]
    root.setLevel(WARNING)
