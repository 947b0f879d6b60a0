"""Who may connect to whom: the credential check behind the socket files' directories.

The socket files are in directories only root may enter (/run/leasebox-ipc, units/*.socket),
which keeps every other local user out; each is bound into the root of the one unit that
connects to it. Within leasebox, the units give each process of interface X a
dynamic identity (DynamicUser=) chosen so that the kernel's SO_PEERCRED answer tells the
peers apart without any name lookup (the services have no NSS in their minimal root):

    io@X       User=leasebox-io-X   Group=leasebox-X
    engine@X   User=leasebox-X      Group=leasebox-X
    netconf@X  User=leasebox-X      Group=leasebox-nc-X

- engine@X admits a data connection only from the process that shares its group but not
  its user: io@X. (io@Y has another group; netconf@X has another group.)
- netconf@X admits only the process that shares its user but not its group: engine@X.
- root is admitted everywhere (the development launcher runs everything as root, and root
  could open these sockets anyway).
"""

from __future__ import annotations

import errno
import socket
import struct

from leasebox.core.record import record

_UCRED = struct.Struct("iII")  # pid, uid, gid


@record
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


# ---- the control socket (leaseboxctl) ---------------------------------------------------------

SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux 4.13; not named by Python 3.11
OVERFLOW_ID = 65534  # how an id outside our user namespace shows (kernel overflowuid/gid)
_GID = struct.Struct("I")


def peer_groups(sock: socket.socket) -> tuple[int, ...]:
    """The peer's supplementary groups (SO_PEERGROUPS), as seen in our user namespace."""
    size = 64 * _GID.size
    while True:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, size)
        except OSError as exc:
            if exc.errno == errno.ERANGE and size < 65536 * _GID.size:
                size *= 16
                continue
            return ()
        return tuple(g for (g,) in _GID.iter_unpack(raw[: len(raw) - len(raw) % _GID.size]))


def map_id(id_map: str, outer: int) -> int | None:
    """`outer` (an id of the parent namespace, e.g. a host gid) as this user namespace sees
    it, from the text of /proc/self/gid_map; None if it is not mapped here."""
    for line in id_map.splitlines():
        fields = line.split()
        if len(fields) != 3 or not all(f.isdigit() for f in fields):
            continue
        inside, start, count = (int(f) for f in fields)
        if start <= outer < start + count:
            return inside + (outer - start)
    return None


@record
class ControlAccess:
    """Who besides root (and the engine's own user) may use the control socket.

    gid: ControlGroup= as this process sees it, or None. With PrivateUsers=yes the group is
    not mapped into the engine's user namespace and its members show up as OVERFLOW_ID;
    then `unmapped` says to admit those, which the engine sets only when the socket file
    gives no access to others, so that the file's group decides who they can be.
    """

    gid: int | None = None
    unmapped: bool = False


def engine_admits_control(peer: Credentials, groups: tuple[int, ...], uid: int,
                          access: ControlAccess) -> bool:
    if peer.uid in (0, uid):
        return True
    ids = (peer.gid, *groups)
    if access.gid is not None and access.gid in ids:
        return True
    return access.unmapped and OVERFLOW_ID in ids


def control_user(peer: Credentials, access: ControlAccess) -> int | None:
    """Whose connection this is, for the control socket's per-user limit: the peer's uid,
    or None for a ControlGroup= member admitted as unmapped, whose uid (OVERFLOW_ID) is
    every member's and no one's."""
    return None if access.unmapped and peer.uid == OVERFLOW_ID else peer.uid
