"""Letting go of every capability once the packet sockets are open.

The unit hands io CAP_NET_RAW (ambient) so it can open AF_PACKET sockets; once they are
open nothing in io needs a capability, so all of them go: effective, permitted and
inheritable via capset(2), the ambient set via prctl(2), and no_new_privs so no exec can
bring any back. The bounding set is the unit's job (CapabilityBoundingSet=): changing it
needs CAP_SETPCAP, which io is never given.
"""

from __future__ import annotations

import ctypes
import os

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


# The interpreter links libc, so its symbols are already loaded: dlopen(NULL) finds them
# without ctypes.util.find_library, which would pull in subprocess (about 1.5 MiB).
_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def drop_all() -> None:
    """Drop every capability this process holds, for good. Raises OSError if any step fails."""
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()  # version 3 takes two 32-bit halves; all zero
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def read_status(path: str = "/proc/self/status") -> dict[str, int]:
    """The capability sets of this process from /proc, as integers."""
    out: dict[str, int] = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in CAP_FIELDS:
                out[key] = int(value.strip(), 16)
    return out


def held_after_drop(status: dict[str, int]) -> list[str]:
    """Which of the sets that must now be empty are not (CapBnd is the unit's business)."""
    return [key for key in ("CapEff", "CapPrm", "CapInh", "CapAmb") if status.get(key, 0)]
