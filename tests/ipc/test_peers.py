"""The SO_PEERCRED pairing of the per-interface dynamic identities (leasebox.ipc.peers)."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from leasebox.ipc import peers

# uid/gid of interface X's processes as the units assign them, and of interface Y's
IO_X = peers.Credentials(pid=10, uid=61001, gid=62001)  # leasebox-io-X / leasebox-X
ENGINE_X = (61002, 62001)  # leasebox-X / leasebox-X
NETCONF_X = (61002, 62002)  # leasebox-X / leasebox-nc-X
IO_Y = peers.Credentials(pid=11, uid=61003, gid=62003)
ENGINE_Y_CRED = peers.Credentials(pid=12, uid=61004, gid=62003)
OTHER_USER = peers.Credentials(pid=13, uid=1000, gid=1000)
ROOT = peers.Credentials(pid=1, uid=0, gid=0)


def cred(pair: tuple[int, int], pid: int = 20) -> peers.Credentials:
    return peers.Credentials(pid, *pair)


@pytest.mark.parametrize(("peer", "admitted"), [
    (IO_X, True), (ROOT, True),
    (cred(NETCONF_X), False),  # same user as the engine, other group
    (cred(ENGINE_X), False),  # itself
    (IO_Y, False), (ENGINE_Y_CRED, False), (OTHER_USER, False),
])
def test_engine_admits_only_its_io(peer: peers.Credentials, admitted: bool) -> None:
    assert peers.engine_admits_io(peer, *ENGINE_X) is admitted


@pytest.mark.parametrize(("peer", "admitted"), [
    (cred(ENGINE_X), True), (ROOT, True),
    (IO_X, False),  # same group as the engine, but not the engine's user
    (cred(NETCONF_X), False),
    (IO_Y, False), (ENGINE_Y_CRED, False), (OTHER_USER, False),
])
def test_netconf_admits_only_its_engine(peer: peers.Credentials, admitted: bool) -> None:
    assert peers.netconf_admits_engine(peer, *NETCONF_X) is admitted


@pytest.mark.root
def test_peer_credentials_of_a_real_other_user(tmp_path: object) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    path = f"/tmp/lbx-peers-{os.getpid()}.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as server:
        server.bind(path)
        os.chmod(path, 0o666)
        server.listen(1)
        code = (f"import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); "
                f"s.connect({path!r}); s.recv(1)")
        child = subprocess.Popen(["/usr/bin/python3", "-c", code], user=65534, group=65534,
                                 extra_groups=[], stdin=subprocess.DEVNULL)
        try:
            server.settimeout(10)
            conn, _ = server.accept()
            got = peers.peer_credentials(conn)
            assert (got.pid, got.uid, got.gid) == (child.pid, 65534, 65534)
            assert not peers.engine_admits_io(got, 61002, 62001)
            assert not peers.netconf_admits_engine(got, 61002, 62002)
            conn.close()
        finally:
            child.wait(10)
            os.unlink(path)
