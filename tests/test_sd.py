"""leasebox.runtime.sd: READY=1 ends start-up (the garbage collector comes back on);
FDSTORE=1 replaces only what may be there."""

from __future__ import annotations

import array
import gc
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from leasebox.runtime import sd


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        yield sock


@pytest.fixture
def collector_off() -> Iterator[None]:
    """As the installed programs start (the Makefile's install-programs)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def datagrams(sock: socket.socket) -> list[bytes]:
    out: list[bytes] = []
    while True:
        try:
            data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return out
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                for fd in array.array("i", payload):
                    os.close(fd)
        out.append(data)


@pytest.mark.usefixtures("collector_off")
def test_ready_notifies_and_turns_the_collector_back_on(manager: socket.socket) -> None:
    assert sd.ready("STATUS=up") is True
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # start-up's garbage is collected, not kept
    assert datagrams(manager) == [b"READY=1\nSTATUS=up"]


@pytest.mark.usefixtures("collector_off")
def test_ready_without_a_manager_still_turns_the_collector_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd.ready() is False
    assert gc.isenabled()


def test_store_fd_replaces_what_may_be_stored(manager: socket.socket) -> None:
    r, w = os.pipe()
    try:
        assert sd.store_fd(r, "state") is True
        assert datagrams(manager) == [b"FDSTOREREMOVE=1\nFDNAME=state",
                                      b"FDSTORE=1\nFDNAME=state"]
        assert sd.store_fd(r, "state", replace=False) is True
        assert datagrams(manager) == [b"FDSTORE=1\nFDNAME=state"]
    finally:
        os.close(r)
        os.close(w)
