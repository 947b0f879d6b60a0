"""Letting go of every capability once the packet sockets are open.

The unit hands io CAP_NET_RAW (ambient) so it can open AF_PACKET sockets; once they are
open nothing in io needs a capability, so all of them go: effective, permitted and
inheritable via capset(2), the ambient set via prctl(2), and no_new_privs so no exec can
bring any back. The bounding set is the unit's job (CapabilityBoundingSet=): changing it
needs CAP_SETPCAP, which io is never given.

What is left is then asked of the kernel, not read from /proc/self/status: io's unit
mounts no /proc. capget(2) gives the effective, permitted and inheritable sets, prctl(2)
the ambient and bounding sets one capability at a time, up to the first the kernel does
not know (EINVAL).
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_CAPBSET_READ = 23


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


# The interpreter links libc, so its symbols are already loaded: dlopen(NULL) finds them
# without ctypes.util.find_library, which would pull in subprocess (about 1.5 MiB).
_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.prctl.restype = ctypes.c_int
_libc.capget.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
_libc.capget.restype = ctypes.c_int
_libc.capset.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
_libc.capset.restype = ctypes.c_int


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


def _per_capability(ask: Callable[[int], int]) -> int:
    """The set that ask(cap), a prctl(2) answering 1 or 0, tells of: one bit a capability."""
    held = 0
    for cap in range(64):
        rc = ask(cap)
        if rc < 0:
            if ctypes.get_errno() == errno.EINVAL:  # past the last capability
                return held
            _check(rc, "prctl")
        held |= (rc == 1) << cap
    return held


def read_sets() -> dict[str, int]:
    """The capability sets of this process, from the kernel, named as in /proc's status."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    return {
        "CapInh": data[0].inheritable | data[1].inheritable << 32,
        "CapPrm": data[0].permitted | data[1].permitted << 32,
        "CapEff": data[0].effective | data[1].effective << 32,
        "CapBnd": _per_capability(lambda cap: _libc.prctl(PR_CAPBSET_READ, cap, 0, 0, 0)),
        "CapAmb": _per_capability(
            lambda cap: _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0)),
    }


def held_after_drop(status: dict[str, int]) -> list[str]:
    """Which of the sets that must now be empty are not (CapBnd is the unit's business)."""
    return [key for key in ("CapEff", "CapPrm", "CapInh", "CapAmb") if status.get(key, 0)]
