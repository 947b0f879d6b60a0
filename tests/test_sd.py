"""leasebox.runtime.sd: READY=1 ends start-up: the garbage collector comes back on, past
what start-up made."""

from __future__ import annotations

import gc
import socket
from pathlib import Path

import pytest

from leasebox.runtime import sd


def test_ready_notifies_and_turns_the_collector_back_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        gc.disable()  # as the installed programs start (Makefile, install-programs)
        try:
            assert sd.ready("STATUS=up") is True
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0  # start-up's objects: no collection scans them
        finally:
            gc.unfreeze()
            gc.enable()
        assert manager.recv(4096) == b"READY=1\nSTATUS=up"


def test_ready_without_a_manager_still_turns_the_collector_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    gc.disable()
    try:
        assert sd.ready() is False
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
