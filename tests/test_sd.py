"""leasebox.runtime.sd: FDSTORE=1 replaces only what may be there."""

from __future__ import annotations

import array
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


def test_store_fd_replaces_what_may_be_stored(manager: socket.socket) -> None:
    r, w = os.pipe()
    try:
        assert sd.store_fd(r, "state") is True
        assert datagrams(manager) == [b"FDSTOREREMOVE=1\nFDNAME=state",
                                      b"FDSTORE=1\nFDNAME=state\nFDPOLL=0"]
        assert sd.store_fd(r, "state", replace=False) is True
        assert datagrams(manager) == [b"FDSTORE=1\nFDNAME=state\nFDPOLL=0"]
    finally:
        os.close(r)
        os.close(w)
