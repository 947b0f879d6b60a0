"""Replacing files atomically, and removing what a write cut short left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leasebox.runtime import atomicfile


def test_a_write_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    atomicfile.write_atomic(str(tmp_path), "lease", b"one", mode=0o600)
    atomicfile.write_atomic(str(tmp_path), "lease", b"two", mode=0o600)
    assert os.listdir(tmp_path) == ["lease"] and (tmp_path / "lease").read_bytes() == b"two"
    assert (tmp_path / "lease").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("filename", ["lease", None])
def test_leftovers_of_writes_cut_short_are_removed(tmp_path: Path, filename: str | None) -> None:
    """A power loss between the temporary file's creation and its rename leaves it for
    good (/var/lib): the one writer removes such files at its start, and nothing else."""
    fd, cut_short = atomicfile._create_temporary(str(tmp_path), "lease")  # as a write makes it
    os.close(fd)
    other = tmp_path / ".eth0.json.0123456789ab"  # another file's: only with None
    kept = ["lease", ".lease.0123456789abc", ".lease.0123456789AB", ".leasex0123456789ab",
            ".lease.", ".0123456789ab", "lease.0123456789ab", "..0123456789ab"]
    for name in kept + [other.name]:
        (tmp_path / name).write_text("x")
    assert atomicfile.remove_leftovers(str(tmp_path), filename) == (2 if filename is None
                                                                    else 1)
    assert not os.path.exists(cut_short)
    assert other.exists() == (filename is not None)
    assert sorted(kept) == sorted(set(os.listdir(tmp_path)) - {other.name})
    assert atomicfile.remove_leftovers(str(tmp_path / "absent"), filename) == 0
