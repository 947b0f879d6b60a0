"""Who may connect to whom: the credential check behind the socket files' permissions.

The socket files are open to the static group `leasebox` only (units/*.socket), which keeps
every other local user out. Within leasebox, the units give each process of interface X a
dynamic identity (DynamicUser=) chosen so that the kernel's SO_PEERCRED answer tells the
peers apart without any name lookup (the services have no NSS in their minimal root):

    io@X       User=leasebox-io-X   Group=leasebox-X
    engine@X   User=leasebox-X      Group=leasebox-X
    netconf@X  User=leasebox-X      Group=leasebox-netconf-X

- engine@X admits a data connection only from the process that shares its group but not
  its user: io@X. (io@Y has another group; netconf@X has another group.)
- netconf@X admits only the process that shares its user but not its group: engine@X.
- root is admitted everywhere (the development launcher runs everything as root, and root
  could open these sockets anyway).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

_UCRED = struct.Struct("iII")  # pid, uid, gid


@dataclass(frozen=True, slots=True)
class Credentials:
    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> Credentials:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return Credentials(*_UCRED.unpack(raw))


def engine_admits_io(peer: Credentials, uid: int, gid: int) -> bool:
    return peer.uid == 0 or (peer.gid == gid and peer.uid != uid)


def netconf_admits_engine(peer: Credentials, uid: int, gid: int) -> bool:
    return peer.uid == 0 or (peer.uid == uid and peer.gid != gid)
