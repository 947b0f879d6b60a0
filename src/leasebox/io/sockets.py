"""Opening, checking and reusing io's sockets.

Packet sockets are opened with protocol 0, which receives nothing, so no frame can queue on
them before the filter is in place; the filter is attached and locked; anything queued
anyway is drained; only then is the socket bound to the interface and its protocol. A socket
that comes back from the service manager's FDSTORE is reused only if it is the same kind of
socket, on the same interface, with our program locked on it.
"""

from __future__ import annotations

import errno
import socket
import struct

from leasebox.io import bpf
from leasebox.runtime.rtnetlink import RTMGRP_LINK

PACKET_HOST, PACKET_BROADCAST = 0, 1  # sll_pkttype values of frames io takes
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_CSUMNOTREADY = 0x08  # the transport checksum was never computed (offload)
AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata: status, len, snaplen, mac,
# net, vlan_tci, vlan_tpid
_DRAIN_LIMIT = 1024


class SocketError(Exception):
    """An inherited or stored socket is not what io expects."""


def drain(sock: socket.socket) -> None:
    for _ in range(_DRAIN_LIMIT):
        try:
            sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_TRUNC)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno in (errno.ENETDOWN, errno.ENXIO):
                continue  # a pending link error, not a frame
            raise


def open_packet(ifname: str, program: bytes, protocol: int) -> socket.socket:
    """An AF_PACKET SOCK_RAW socket on `ifname` with `program` attached and locked.

    With `protocol` 0 the socket is bound to the interface but receives nothing until
    `listen(sock, ifname, protocol)` is called.
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    try:
        bpf.attach_locked(sock, program)
        drain(sock)
        sock.bind((ifname, protocol))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def enable_auxdata(sock: socket.socket) -> None:
    """Ask for struct tpacket_auxdata with every frame (checksum state, VLAN tag). Needs no
    capability, so it is set on stored sockets as well."""
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)


def listen(sock: socket.socket, ifname: str, protocol: int) -> None:
    """Start receiving `protocol` on a packet socket. Needs no capability: only creating a
    packet socket does."""
    sock.bind((ifname, protocol))


def stored_fault(sock: socket.socket, ifindex: int,
                 program: bytes) -> tuple[str, bool] | None:
    """Why a packet socket from the FDSTORE cannot be reused, and whether only because it
    is of an earlier link (a NIC unplugged and plugged in again, a link made anew: what
    the FDSTORE is expected to hold then); None if it can be."""
    if sock.family != socket.AF_PACKET or sock.type != socket.SOCK_RAW:
        return f"not an AF_PACKET SOCK_RAW socket ({sock.family!r}, {sock.type!r})", False
    try:
        name = sock.getsockname()
        current = socket.if_nametoindex(name[0]) if name[0] else 0
    except OSError as exc:
        return f"its interface is gone ({exc.strerror})", True
    if current != ifindex:
        return f"bound to interface {name[0] or '(gone)'}, not ifindex {ifindex}", True
    if not bpf.is_locked(sock) or bpf.attached_program(sock) != program:
        return "filter missing, different or not locked", False
    return None


def check_kind(sock: socket.socket, family: int, kind: int, what: str) -> None:
    """Refuse an inherited fd that is not the kind of socket its name says."""
    if sock.family != family or sock.type != kind:
        raise SocketError(f"fd named {what} is {sock.family!r}/{sock.type!r}")


def open_rtnl() -> socket.socket:
    """A route netlink socket subscribed to link events, as ListenNetlink=route 1 gives."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                         socket.NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK))
    return sock


SO_BINDTODEVICE = 25


def bind_to_device(sock: socket.socket, ifname: str) -> bool:
    """Bind the inherited UDP :68 socket to our interface, unless it already is.

    systemd 252 does not expand %i in a socket unit's BindToDevice=, so the port-68 socket
    of each interface arrives unbound (systemd always sets SO_REUSEADDR, so the sockets of
    several interfaces coexist). Bound here, while io still holds CAP_NET_RAW, the kernel
    delivers each interface's unicast replies to that interface's socket. The binding is
    by ifindex: after the interface was removed (or renamed) and one of our name came
    (back), the socket is bound again, to the link that now has the name. True if it bound.
    """
    try:
        current = sock.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, 16).rstrip(b"\0")
    except OSError as exc:
        if exc.errno not in (errno.ENXIO, errno.ENODEV):
            raise
        current = b""  # bound to a link that no longer exists
    if current == ifname.encode():
        return False
    sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
    return True
