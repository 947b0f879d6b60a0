"""Moving ipc messages over AF_UNIX SOCK_SEQPACKET sockets.

One message per datagram. The receiving side refuses what the contract does not allow at
the socket level too: a datagram longer than any message (MSG_TRUNC), or file descriptors
the type does not expect (no message type carries any; a peer that sends one is broken,
and the descriptors are closed at once so they cannot leak).
"""

from __future__ import annotations

import array
import os
import socket

from leasebox.ipc.messages import MAX_DATAGRAM, Message, Peer, PeerViolation, decode, encode

_FD_SPACE = socket.CMSG_SPACE(16 * array.array("i").itemsize)


def send(sock: socket.socket, msg: Message) -> None:
    data = encode(msg)
    sent = sock.send(data)
    if sent != len(data):  # seqpacket sends whole datagrams; this is a kernel oddity guard
        raise OSError(f"short send: {sent} of {len(data)} bytes")


def recv(sock: socket.socket, sender: Peer, receiver: Peer,
         nonblocking: bool = False) -> Message | None:
    """Receive and check one message; None when the peer closed the connection.
    `nonblocking`: BlockingIOError when none is waiting."""
    data, ancdata, flags, _ = sock.recvmsg(MAX_DATAGRAM + 1, _FD_SPACE,
                                           socket.MSG_DONTWAIT if nonblocking else 0)
    fds = _collect_fds(ancdata)
    if fds:
        for fd in fds:
            os.close(fd)
        raise PeerViolation(f"{sender} sent {len(fds)} file descriptor(s) with a message")
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        raise PeerViolation(f"{sender} sent an oversized datagram")
    if not data:
        return None
    return decode(data, sender, receiver)


def _collect_fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(payload[: len(payload) - len(payload) % arr.itemsize])
            fds.extend(arr)
    return fds
