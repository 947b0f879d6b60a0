"""Logging for every leasebox process: journald with structured fields, or plain stderr.

Under systemd each record goes to journald natively, so fields such as INTERFACE=,
DHCP_STATE=, LEASE_ADDRESS= and MESSAGE_ID= are searchable. Without a journal (tests,
leasebox-launch) the same records go to stderr as plain lines; the fields are dropped.
No colours and no timestamps: journald has them.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

JOURNAL_SOCKET = "/run/systemd/journal/socket"


class _Fields(logging.LoggerAdapter[logging.Logger]):
    """Attach INTERFACE= (and the process name) to every record of one process."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


Logger = logging.LoggerAdapter[logging.Logger]


def setup(process: str, interface: str, debug: bool = False) -> Logger:
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    handler: logging.Handler | None = None
    if os.environ.get("JOURNAL_STREAM") and os.path.exists(JOURNAL_SOCKET):
        try:
            from systemd.journal import JournalHandler  # noqa: PLC0415 (only under systemd)

            handler = JournalHandler(SYSLOG_IDENTIFIER=f"leasebox-{process}")
        except ImportError:
            handler = None
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"leasebox-{process}[{interface}]: %(message)s"))
    root.addHandler(handler)
    return _Fields(logging.getLogger(f"leasebox.{process}"), {"INTERFACE": interface})
