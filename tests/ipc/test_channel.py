"""leasebox.ipc.channel over a real seqpacket socketpair."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from leasebox import ipc
from leasebox.ipc import channel


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    yield a, b
    a.close()
    b.close()


def test_send_recv(pair: tuple[socket.socket, socket.socket]) -> None:
    io_end, engine_end = pair
    msg = ipc.Frames((b"\x01" * 1514, b"\x02" * 60))
    channel.send(io_end, msg)
    assert channel.recv(engine_end, ipc.Peer.IO, ipc.Peer.ENGINE) == msg


def test_eof_is_none(pair: tuple[socket.socket, socket.socket]) -> None:
    io_end, engine_end = pair
    io_end.shutdown(socket.SHUT_WR)
    assert channel.recv(engine_end, ipc.Peer.IO, ipc.Peer.ENGINE) is None


def test_fds_are_a_violation_and_get_closed(pair: tuple[socket.socket, socket.socket]) -> None:
    io_end, engine_end = pair
    r, w = os.pipe()
    try:
        socket.send_fds(io_end, [ipc.encode(ipc.Frames((b"x",)))], [r])
        before = set(os.listdir("/proc/self/fd"))
        with pytest.raises(ipc.PeerViolation, match="file descriptor"):
            channel.recv(engine_end, ipc.Peer.IO, ipc.Peer.ENGINE)
        assert set(os.listdir("/proc/self/fd")) <= before  # the received copy was closed
    finally:
        os.close(r)
        os.close(w)


def test_oversized_datagram_is_a_violation(pair: tuple[socket.socket, socket.socket]) -> None:
    io_end, engine_end = pair
    io_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    io_end.send(b"\x01\x02" + bytes(70000))
    with pytest.raises(ipc.PeerViolation, match="oversized"):
        channel.recv(engine_end, ipc.Peer.IO, ipc.Peer.ENGINE)


def test_garbage_is_a_violation(pair: tuple[socket.socket, socket.socket]) -> None:
    io_end, engine_end = pair
    io_end.send(b"\x01\x30\x00\x00")  # RESULT type from io: wrong direction
    with pytest.raises(ipc.PeerViolation):
        channel.recv(engine_end, ipc.Peer.IO, ipc.Peer.ENGINE)


def test_interface_names_that_would_share_identities_are_refused() -> None:
    from leasebox.runtime import ifname

    assert ifname.check("eth0") == "eth0" and ifname.check("ionet0") == "ionet0"
    for name in ("io-eth0", "nc-eth0"):
        with pytest.raises(ValueError, match="share its identities"):
            ifname.check(name)
    # the longest names fit in systemd's dynamic user names (31 characters at most)
    longest = "enx0200000000aa"  # a USB NIC as Debian's udev names it
    assert ifname.check(longest) == longest
    assert max(len(f"{prefix}{longest}") for prefix in
               ("leasebox-io-", "leasebox-", "leasebox-nc-")) <= 31
    for name in ("eth0.10", "a@b"):
        with pytest.raises(ValueError, match="dynamic users"):
            ifname.check(name)
