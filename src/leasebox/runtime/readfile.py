"""Reading back a small file of leasebox's own as untrusted input: without blocking (a
FIFO put in its place must not hang a start), a link in its place not followed, anything
but a regular file refused, and no more than a bound read."""

from __future__ import annotations

import errno
import os
from stat import S_ISREG


class NotRegularFile(OSError):
    """A FIFO, a directory, a device... where a file was expected."""


def read_regular(path: str, limit: int) -> bytes:
    """Up to `limit` + 1 bytes of the file (one more than allowed tells a file too long).
    Raises FileNotFoundError when there is none, NotRegularFile, or OSError (ELOOP: a
    link in its place)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file")
        data = b""
        while len(data) <= limit and (chunk := os.read(fd, limit + 1 - len(data))):
            data += chunk
        return data
    finally:
        os.close(fd)
