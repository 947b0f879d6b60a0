"""Logging for every leasebox process: journald with structured fields, or plain stderr.

Under systemd each record goes to journald natively, so fields such as INTERFACE=,
DHCP_STATE=, LEASE_ADDRESS= and MESSAGE_ID= are searchable. Without a journal (tests,
leasebox-launch) the same records go to stderr as plain lines; the fields are dropped.
The native protocol is written here (systemd.io/JOURNAL_NATIVE_PROTOCOL): systemd-python's
JournalHandler costs each process ~4 ms and ~0.7 MiB to import (uuid, datetime, the journal
reader) and sends every attribute of a record, most of which journald drops as invalid
field names. A traceback is in MESSAGE, as the formatter puts it there.
No colours and no timestamps: journald has them. --debug turns on leasebox's own debug
lines only; libraries (pyroute2) stay at warnings.
"""

from __future__ import annotations

import array
import errno
import fcntl
import logging
import os
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

JOURNAL_SOCKET = "/run/systemd/journal/socket"

Logger = logging.LoggerAdapter[logging.Logger]


class _Adapter(logging.LoggerAdapter[logging.Logger]):
    """Merge per-call `extra` fields with the adapter's own instead of replacing them."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


class FieldFilter(logging.Filter):
    """Attach INTERFACE= and any dynamic fields (e.g. the engine's DHCP_STATE=) to every
    record, whichever module logged it, unless the record carries its own value."""

    def __init__(self, interface: str) -> None:
        super().__init__()
        self.interface = interface
        self.dynamic: Callable[[], dict[str, str]] = dict

    def filter(self, record: logging.LogRecord) -> bool:
        fields = {"INTERFACE": self.interface, **self.dynamic()}
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def quiet_libraries(record: logging.LogRecord) -> bool:
    """Only errors from pyroute2. Its package __init__ (which netconf no longer runs:
    netconf.rtnl.import_iproute) reset its logger's level, so a level set beforehand did
    not hold; and its tc module warns about tc, which netconf does not use, at every start
    where /proc/net/psched is missing."""
    return record.levelno >= logging.ERROR or not record.name.startswith("pyroute2")


def _priority(levelno: int) -> int:
    """syslog's priority for a logging level (the levels between count as the next one)."""
    for level, priority in ((logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4),
                            (logging.ERROR, 3), (logging.CRITICAL, 2)):
        if levelno <= level:
            return priority
    return 1


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


class JournalHandler(logging.Handler):
    """Each record as one journal entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, LOGGER,
    CODE_FILE/LINE/FUNC and the record's upper-case fields (INTERFACE=, MESSAGE_ID=...).
    An entry too large for a datagram goes in a sealed memfd, as sd_journal_send() does.
    If journald cannot take it, the line goes to stderr (the journal's stream) instead."""

    def __init__(self, identifier: str, path: str = JOURNAL_SOCKET) -> None:
        super().__init__()
        self.identifier = identifier
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            fields = {"MESSAGE": message, "PRIORITY": str(_priority(record.levelno)),
                      "SYSLOG_IDENTIFIER": self.identifier, "LOGGER": record.name,
                      "CODE_FILE": record.pathname, "CODE_LINE": str(record.lineno)}
            if record.funcName:
                fields["CODE_FUNC"] = record.funcName
            for name, value in record.__dict__.items():
                if name[:1].isupper() and _field_name(name):
                    fields[name] = value if isinstance(value, str) else str(value)
            self._send(journal_entry(fields))
        except Exception:  # noqa: BLE001 (logging's contract: a handler never raises)
            try:
                sys.stderr.write(f"<{_priority(record.levelno)}>{self.format(record)}\n")
            except Exception:  # noqa: BLE001 (no stderr either: logging's own last resort)
                self.handleError(record)

    def _send(self, entry: bytes) -> None:
        try:
            self.sock.sendto(entry, self.path)
            return
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
                                    array.array("i", [fd]))], 0, self.path)
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sock.close()
        super().close()


_filter: FieldFilter | None = None


def setup(process: str, interface: str, debug: bool = False) -> Logger:
    global _filter  # noqa: PLW0603 (one logging setup per process, like logging's own state)
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.INFO)
    logging.getLogger("leasebox").setLevel(logging.DEBUG if debug else logging.INFO)
    # --debug is for leasebox's decisions, not library internals (see quiet_libraries)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    handler: logging.Handler
    if os.environ.get("JOURNAL_STREAM") and os.path.exists(JOURNAL_SOCKET):
        handler = JournalHandler(f"leasebox-{process}")
    else:
        handler = logging.StreamHandler(sys.stderr)
        # under systemd stderr is the journal, which names the unit already
        prefix = "" if os.environ.get("JOURNAL_STREAM") else f"leasebox-{process}[{interface}]: "
        handler.setFormatter(logging.Formatter(prefix + "%(message)s"))
    _filter = FieldFilter(interface)
    handler.addFilter(_filter)
    handler.addFilter(quiet_libraries)
    root.addHandler(handler)
    return _Adapter(logging.getLogger(f"leasebox.{process}"), {})


def set_dynamic_fields(provider: Callable[[], dict[str, str]]) -> None:
    """Fields computed at each record (the engine's current state and lease)."""
    if _filter is not None:
        _filter.dynamic = provider
