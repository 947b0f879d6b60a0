"""ControlGroup=: who the engine admits to its control socket, in and out of PrivateUsers=."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from leasebox.engine.main import control_access
from leasebox.ipc import peers

ENGINE_UID = 61002
ROOT = peers.Credentials(1, 0, 0)
MEMBER_PRIMARY = peers.Credentials(2, 1000, 1001)  # ControlGroup=1001 as primary group
MEMBER_SUPPLEMENTARY = peers.Credentials(3, 1000, 1000)
STRANGER = peers.Credentials(4, 1002, 1002)
UNMAPPED = peers.Credentials(5, peers.OVERFLOW_ID, peers.OVERFLOW_ID)
ACCESS = peers.ControlAccess(gid=1001)


@pytest.mark.parametrize(("peer", "groups", "access", "admitted"), [
    (ROOT, (), peers.ControlAccess(), True),
    (peers.Credentials(6, ENGINE_UID, 5), (), peers.ControlAccess(), True),
    (MEMBER_PRIMARY, (), peers.ControlAccess(), False),  # no ControlGroup=: root only
    (MEMBER_PRIMARY, (), ACCESS, True),
    (MEMBER_SUPPLEMENTARY, (27, 1001), ACCESS, True),
    (STRANGER, (27,), ACCESS, False),
    (UNMAPPED, (peers.OVERFLOW_ID,), ACCESS, False),  # can see the group: nobody is nobody
    (UNMAPPED, (peers.OVERFLOW_ID,), peers.ControlAccess(unmapped=True), True),
    (STRANGER, (27,), peers.ControlAccess(unmapped=True), False),
])
def test_engine_admits_control(peer: peers.Credentials, groups: tuple[int, ...],
                               access: peers.ControlAccess, admitted: bool) -> None:
    assert peers.engine_admits_control(peer, groups, ENGINE_UID, access) is admitted


@pytest.mark.parametrize(("peer", "access", "user"), [
    (UNMAPPED, peers.ControlAccess(unmapped=True), None),  # every member, and no one
    (UNMAPPED, ACCESS, peers.OVERFLOW_ID),  # the group is seen: this is the user nobody
    (MEMBER_PRIMARY, peers.ControlAccess(unmapped=True), 1000),
    (ROOT, peers.ControlAccess(unmapped=True), 0),
])
def test_control_user_counts_unmapped_members_as_no_one_in_particular(
        peer: peers.Credentials, access: peers.ControlAccess, user: int | None) -> None:
    assert peers.control_user(peer, access) == user


IDENTITY = "         0          0 4294967295\n"
PRIVATE_USERS = "         0          0          1\n     61002      61002          1\n"


@pytest.mark.parametrize(("id_map", "outer", "inner"), [
    (IDENTITY, 1001, 1001), (PRIVATE_USERS, 0, 0), (PRIVATE_USERS, 61002, 61002),
    (PRIVATE_USERS, 1001, None), ("0 100000 65536\n", 101001, 1001),
    ("0 100000 65536\n", 1001, None), ("", 1001, None), ("junk\n1 2\n", 1001, None),
])
def test_map_id(id_map: str, outer: int, inner: int | None) -> None:
    assert peers.map_id(id_map, outer) == inner


def test_peer_groups_reads_the_peers_supplementary_groups() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        assert set(peers.peer_groups(a)) == set(os.getgroups())


def test_control_access_outside_a_user_namespace(tmp_path: Path) -> None:
    assert control_access(None, None) == peers.ControlAccess()
    # the test runs without PrivateUsers=: every gid maps to itself
    if peers.map_id(Path("/proc/self/gid_map").read_text(), 1001) == 1001:
        assert control_access(1001, None) == peers.ControlAccess(gid=1001)


def test_unmapped_group_relies_on_a_closed_socket_file(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        listener.bind(str(path))
        os.chmod(path, 0o660)
        assert control_access(1001, listener, PRIVATE_USERS) == \
            peers.ControlAccess(unmapped=True)
        os.chmod(path, 0o666)  # open to others: the file's group proves nothing
        assert control_access(1001, listener, PRIVATE_USERS) == peers.ControlAccess()
    assert control_access(1001, None, PRIVATE_USERS) == peers.ControlAccess()
