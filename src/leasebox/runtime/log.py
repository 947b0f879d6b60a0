"""Logging for every leasebox process: journald with structured fields, or plain stderr.

Under systemd each record goes to journald natively, so fields such as INTERFACE=,
DHCP_STATE=, LEASE_ADDRESS= and MESSAGE_ID= are searchable. Without a journal (tests,
leasebox-launch) the same records go to stderr as plain lines; the fields are dropped.
No colours and no timestamps: journald has them. --debug turns on leasebox's own debug
lines only; libraries (pyroute2) stay at warnings.
"""

from __future__ import annotations

import logging
import os
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


_filter: FieldFilter | None = None


def setup(process: str, interface: str, debug: bool = False) -> Logger:
    global _filter  # noqa: PLW0603 (one logging setup per process, like logging's own state)
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.INFO)
    logging.getLogger("leasebox").setLevel(logging.DEBUG if debug else logging.INFO)
    # --debug is for leasebox's decisions, not library internals (see quiet_libraries)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    handler: logging.Handler | None = None
    if os.environ.get("JOURNAL_STREAM") and os.path.exists(JOURNAL_SOCKET):
        try:
            from systemd.journal import JournalHandler  # noqa: PLC0415 (only under systemd)

            handler = JournalHandler(SYSLOG_IDENTIFIER=f"leasebox-{process}")
        except ImportError:
            handler = None
    if handler is None:
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
