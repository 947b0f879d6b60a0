"""netconf's kept configuration (startconfig.py): written by netconf, read back strictly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from leasebox.netconf import startconfig
from leasebox.netconf.startconfig import Snapshot, SnapshotError


def test_round_trip(tmp_path: Path) -> None:
    kept = Snapshot(4242, (("/etc/leasebox/leasebox.conf", "[Network]\nRouteMetric=5\n"),
                           ("/run/x.conf", "# caf\u00e9\n")))
    startconfig.save(str(tmp_path), kept)
    assert startconfig.load(str(tmp_path)) == kept
    assert (tmp_path / startconfig.FILENAME).stat().st_mode & 0o777 == 0o600
    assert startconfig.load(str(tmp_path / "none")) is None


@pytest.mark.parametrize("doc", [
    b"", b"\xff", b"[]", b"{}", b"[" * 100_000,
    json.dumps({"version": 2, "engine_pid": 1, "files": []}).encode(),
    json.dumps({"version": 1, "engine_pid": 0, "files": []}).encode(),
    json.dumps({"version": 1, "engine_pid": True, "files": []}).encode(),
    json.dumps({"version": 1, "engine_pid": 1 << 31, "files": []}).encode(),
    json.dumps({"version": 1, "engine_pid": 1, "files": [["a"]]}).encode(),
    json.dumps({"version": 1, "engine_pid": 1, "files": [["a", 1]]}).encode(),
    json.dumps({"version": 1, "engine_pid": 1, "files": {}}).encode(),
    json.dumps({"version": 1, "engine_pid": 1, "files": [], "more": 1}).encode(),
])
def test_anything_else_is_refused(tmp_path: Path, doc: bytes) -> None:
    (tmp_path / startconfig.FILENAME).write_bytes(doc)
    with pytest.raises(SnapshotError):
        startconfig.load(str(tmp_path))


def test_not_a_file_or_too_large_is_refused_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / startconfig.FILENAME
    os.mkfifo(path)
    with pytest.raises(SnapshotError, match="not a regular file"):
        startconfig.load(str(tmp_path))
    path.unlink()
    path.write_bytes(b" " * (startconfig.MAX_SIZE + 1))
    with pytest.raises(SnapshotError, match="larger than"):
        startconfig.load(str(tmp_path))
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SnapshotError, match="cannot read"):
        startconfig.load(str(tmp_path))
