"""The engine's clock: CLOCK_BOOTTIME, which keeps counting while the system is suspended.

CLOCK_MONOTONIC stops during suspend, so a lease timed on it would still look valid after a
night in suspend. Every lease deadline in the engine is a CLOCK_BOOTTIME time (system-wide,
like CLOCK_MONOTONIC: a live-state snapshot still holds across a restart). select()'s own
timeout runs on CLOCK_MONOTONIC, though, so the loop also waits on an Alarm: a timerfd on
CLOCK_BOOTTIME that becomes readable as soon as the system resumes past the deadline.
"""

from __future__ import annotations

import ctypes
import errno
import os
import time

CLOCK_BOOTTIME = time.CLOCK_BOOTTIME
TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC


def now() -> float:
    return time.clock_gettime(CLOCK_BOOTTIME)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _Timerfd:
    """timerfd_create/timerfd_settime: os's own from Python 3.13, libc's before."""

    def __init__(self) -> None:
        self.libc = None if hasattr(os, "timerfd_create") else ctypes.CDLL(None, use_errno=True)

    def create(self) -> int:
        flags = _TFD_NONBLOCK | _TFD_CLOEXEC
        if self.libc is None:
            fd: int = os.timerfd_create(CLOCK_BOOTTIME, flags=flags)  # type: ignore[attr-defined,unused-ignore]
            return fd
        fd = self.libc.timerfd_create(CLOCK_BOOTTIME, flags)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return int(fd)

    def set_absolute(self, fd: int, deadline: float) -> None:
        if self.libc is None:
            os.timerfd_settime(fd, flags=TFD_TIMER_ABSTIME, initial=deadline)  # type: ignore[attr-defined,unused-ignore]
            return
        sec = int(deadline)
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(sec, int((deadline - sec) * 1e9)))
        if self.libc.timerfd_settime(fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))


class Alarm:
    """Readable once CLOCK_BOOTTIME reaches the deadline set last (also across a suspend)."""

    def __init__(self) -> None:
        self._tfd = _Timerfd()
        self._fd = self._tfd.create()
        self._deadline: float | None = None

    def fileno(self) -> int:
        return self._fd

    def set(self, deadline: float) -> None:
        if deadline == self._deadline:
            return
        # An it_value of zero would disarm the timer: a deadline already passed is one
        # nanosecond after boot, which fires at once.
        self._tfd.set_absolute(self._fd, max(deadline, 1e-9))
        self._deadline = deadline

    def clear(self) -> None:
        """Consume an expiry (the loop re-reads the clock itself)."""
        try:
            os.read(self._fd, 8)
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                raise
        self._deadline = None  # armed again by the next set(), even to the same deadline

    def close(self) -> None:
        os.close(self._fd)
