"""SIGTERM and SIGINT for an event loop: they only record themselves and wake the loop
(signal.set_wakeup_fd), so they never interrupt a request half-way."""

from __future__ import annotations

import signal
import socket
from types import FrameType


class StopSignals:
    def __init__(self) -> None:
        self.received: int | None = None
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def drain(self) -> None:
        """Empty the wake-up socket (the loop saw it readable)."""
        while True:
            try:
                if not self.reader.recv(64):
                    return
            except BlockingIOError:
                return
