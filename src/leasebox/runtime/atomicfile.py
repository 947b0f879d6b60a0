"""Replacing a file so that readers see the old content or the new, never a mix.

Used by the engine (the lease file) and netconf (its state file, resolv.conf).

Temp file in the same directory, fsync, rename over the target, fsync the directory: after
a crash at any point the target is whole (old or new) and no half-written file is in place.
"""

from __future__ import annotations

import os

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW


_RANDOM = 6  # octets of a temporary file's name, in hex


def _create_temporary(directory: str, filename: str) -> tuple[int, str]:
    """A new file beside the target, private until renamed (what tempfile.mkstemp does;
    tempfile itself would bring shutil, bz2, lzma and random into every service)."""
    for _ in range(16):
        path = os.path.join(directory, f".{filename}.{os.urandom(_RANDOM).hex()}")
        try:
            return os.open(path, _CREATE, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {filename} in {directory}")


def write_atomic(directory: str, filename: str, data: bytes, mode: int = 0o644,
                 durable: bool = True) -> None:
    """`durable=False`: no fsync, for a file of no use after a crash or power loss (which
    may leave it empty, though never half-written by another content)."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = _create_temporary(directory, filename)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, os.path.join(directory, filename))
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        sync_directory(directory)


def _temporary_of(name: str, filename: str | None) -> bool:
    head, dot, tail = name.rpartition(".")
    return (name.startswith(".") and bool(dot) and len(head) > 1
            and head[1:] == (filename or head[1:]) and len(tail) == 2 * _RANDOM
            and all(c in "0123456789abcdef" for c in tail))


def remove_leftovers(directory: str, filename: str | None) -> int:
    """Remove the temporary files of `filename` (None: of any file) that writes cut short
    (a crash, a power loss) left in `directory`; how many. Only for the one writer of
    those files, before its first write: a temporary file of a write in progress would go
    from under it. Raises OSError (but for a directory not there)."""
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        if _temporary_of(name, filename):
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                continue
            removed += 1
    return removed


def remove(directory: str, filename: str) -> bool:
    """False when there was no file."""
    try:
        os.unlink(os.path.join(directory, filename))
    except FileNotFoundError:
        return False
    sync_directory(directory)
    return True


def sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
