"""AllowServers=/DenyServers= and the rogue-server event (security hardening, "also")."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from leasebox import ipc
from leasebox.config.values import servers, show_servers
from leasebox.core import wire
from leasebox.core.log import WARNING
from leasebox.core.machine.types import State
from leasebox.engine import dispatch
from leasebox.engine.servers import MAX_SEEN, MESSAGE_ID, ServerWatch
from tests.conftest import Logs
from tests.engine.test_engine_service import Rig, make_rig
from tests.machine.machine_helpers import OTHER_SERVER, SERVER, offer

MAC_A, MAC_B = bytes.fromhex("0200000000aa"), bytes.fromhex("0200000000bb")


def test_setting_values() -> None:
    parsed = servers("192.0.2.1 02:00:00:00:00:AA")
    assert parsed == (IPv4Address("192.0.2.1"), MAC_A)
    assert show_servers(parsed) == "192.0.2.1 02:00:00:00:00:aa"
    with pytest.raises(ValueError, match="not an IPv4 address or a MAC"):
        servers("rogue")


def test_watch_admits_denies_and_notices_a_second_server() -> None:
    w = ServerWatch(allow=(SERVER, MAC_B), deny=(MAC_A,))
    assert w.admits(SERVER, MAC_B) is None
    assert w.admits(OTHER_SERVER, MAC_B) is None  # the MAC is allowed
    assert w.admits(SERVER, MAC_A) == "denied by DenyServers="  # deny wins
    assert w.admits(OTHER_SERVER, bytes(6)) == "not in AllowServers="
    assert w.answered(SERVER, MAC_B) is False
    assert w.answered(SERVER, MAC_B) is False  # the same one again
    assert w.answered(OTHER_SERVER, MAC_A) is True
    assert w.describe() == [f"{SERVER} (02:00:00:00:00:bb)", f"{OTHER_SERVER} (02:00:00:00:00:aa)"]


def test_a_full_list_makes_way_so_a_new_server_is_still_heard() -> None:
    """The list kept the first 8 servers for ever: a server answering from ever new MACs
    filled it, and the rogue server that came next went unreported. The one heard from
    least lately now makes way. A server's identifier from another MAC is another server
    (an impostor copies it)."""
    w = ServerWatch()
    assert w.answered(SERVER, MAC_A) is False
    for n in range(20):
        assert w.answered(SERVER, bytes((2, 0, 0, 0, 1, n))) is True
    assert len(w.describe()) == MAX_SEEN
    assert w.answered(OTHER_SERVER, MAC_B) is True
    assert w.describe()[-1] == f"{OTHER_SERVER} (02:00:00:00:00:bb)"
    assert w.answered(SERVER, bytes((2, 0, 0, 0, 1, 19))) is False  # heard again
    assert w.describe()[-1] == f"{SERVER} (02:00:00:00:01:13)"
    assert w.answered(SERVER, MAC_B) is True  # OTHER_SERVER's MAC with SERVER's id


def reply_from(rig: Rig, message: wire.Message, mac: bytes) -> None:
    frame = wire.encode_frame(wire.encode(message), src_mac=mac, src_ip=message.server_id
                              or SERVER, src_port=wire.SERVER_PORT, dst_port=wire.CLIENT_PORT)
    dispatch.engine_dispatch_io(rig.svc, ipc.Frames((frame,)))


def test_two_servers_are_named_in_the_journal_and_status(
        tmp_path: Path, logs: Logs) -> None:
    rig = make_rig(tmp_path)
    discover = rig.sent()
    reply_from(rig, offer(discover), MAC_A)
    reply_from(rig, offer(discover, server_id=OTHER_SERVER), MAC_B)
    [record] = [r for r in logs.at_least(WARNING) if r.fields.get("MESSAGE_ID") == MESSAGE_ID]
    assert str(OTHER_SERVER) in record.message and str(SERVER) in record.message
    status = dispatch.status(rig.svc, rig.clock.now)
    assert len(status["servers"]) == 2
    # a third within the minute: listed, but no second line (a host answering as ever
    # new servers must not flood the journal); after it, one naming them all
    reply_from(rig, offer(discover, server_id=IPv4Address("192.0.2.3")), MAC_A)
    assert len([r for r in logs.at_least(WARNING)
                if r.fields.get("MESSAGE_ID") == MESSAGE_ID]) == 1
    assert len(dispatch.status(rig.svc, rig.clock.now)["servers"]) == 3
    rig.clock.now += 61
    reply_from(rig, offer(discover, server_id=IPv4Address("192.0.2.4")), MAC_A)
    records = [r for r in logs.at_least(WARNING) if r.fields.get("MESSAGE_ID") == MESSAGE_ID]
    assert len(records) == 2 and "192.0.2.3" in records[-1].message


def test_a_denied_server_is_never_heard(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.svc.servers.deny = (MAC_A,)
    discover = rig.sent()
    reply_from(rig, offer(discover), MAC_A)
    assert rig.svc.state is State.SELECTING  # the offer never reached the machine
    reply_from(rig, offer(discover), MAC_B)
    assert rig.svc.state is State.REQUESTING


def test_another_network_after_a_carrier_loss_is_no_second_server(
        tmp_path: Path, logs: Logs) -> None:
    """A laptop that sleeps at home and wakes at the office: the office's server is the
    only one on its link, not a rogue beside home's. The servers heard are forgotten with
    the carrier (the allow and deny lists stay)."""
    rig = make_rig(tmp_path)
    rig.svc.servers.deny = (MAC_B,)
    discover = rig.sent()
    reply_from(rig, offer(discover), MAC_A)
    assert rig.svc.link is not None
    mac = rig.svc.link.mac
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, mac, 1500, False))
    assert dispatch.status(rig.svc, rig.clock.now)["servers"] == []
    rig.clock.now += 8 * 3600
    dispatch.engine_dispatch_io(rig.svc, ipc.LinkState(2, mac, 1500, True))
    discover = rig.sent()
    reply_from(rig, offer(discover, server_id=OTHER_SERVER), MAC_A)
    assert not [r for r in logs.at_least(WARNING) if r.fields.get("MESSAGE_ID") == MESSAGE_ID]
    assert dispatch.status(rig.svc, rig.clock.now)["servers"] == [
        f"{OTHER_SERVER} (02:00:00:00:00:aa)"]
    assert rig.svc.servers.deny == (MAC_B,)
