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
from leasebox.engine.servers import (
    MAX_SEEN,
    MESSAGE_ID,
    NEW_MAC,
    NEW_SERVER,
    NOTHING_NEW,
    ServerWatch,
)
from leasebox.ipc import control
from tests.conftest import Logs
from tests.engine.test_engine_service import SERVER_MAC, Rig, bind, make_rig
from tests.machine.machine_helpers import OTHER_SERVER, SERVER, nak, offer

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
    assert w.answered(SERVER, MAC_B) == NOTHING_NEW
    assert w.answered(SERVER, MAC_B) == NOTHING_NEW  # the same one again
    assert w.answered(OTHER_SERVER, MAC_A) == NEW_SERVER
    assert w.describe() == [f"{SERVER} (02:00:00:00:00:bb)", f"{OTHER_SERVER} (02:00:00:00:00:aa)"]


def test_a_nak_without_an_identifier_is_its_senders_server() -> None:
    """ESP-IDF's server NAKs without option 54: from the MAC of a server heard before, it
    is that server's, allowed as it is (AllowServers= by identifier) and no second server;
    from an unknown MAC, it has no identifier to be allowed by."""
    watch = ServerWatch(allow=servers(str(SERVER)))
    assert watch.admits(SERVER, MAC_A) is None
    assert watch.answered(SERVER, MAC_A) == NOTHING_NEW
    assert watch.admits(None, MAC_A) is None
    assert watch.answered(None, MAC_A) == NOTHING_NEW
    assert watch.describe() == [f"{SERVER} (02:00:00:00:00:aa)"]
    assert watch.admits(None, MAC_B) == "not in AllowServers="
    open_watch = ServerWatch()
    open_watch.answered(SERVER, MAC_A)
    assert open_watch.answered(None, MAC_B) == NEW_SERVER  # whose, nothing tells


def test_a_soft_aps_nak_of_a_renewal_ends_the_lease(tmp_path: Path, logs: Logs) -> None:
    """An ESP32 soft AP restarted and NAKs the renewal without option 54: the lease goes,
    with AllowServers= naming the AP by its identifier, and no second server is warned of."""
    rig = make_rig(tmp_path)
    rig.svc.servers = ServerWatch(allow=servers(str(SERVER)))
    bind(rig)
    assert rig.control(control.Command.RENEW)["ok"] is True
    request = rig.sent()
    assert rig.svc.state is State.RENEWING
    reply_from(rig, nak(request, server_id=None), SERVER_MAC)
    assert rig.svc.state in (State.INIT, State.SELECTING)
    assert not [r for r in logs.at_least(WARNING) if r.fields.get("MESSAGE_ID") == MESSAGE_ID]
    assert not [r for r in logs.at_least(WARNING) if "AllowServers=" in r.message]


def test_a_full_list_makes_way_so_a_new_server_is_still_heard() -> None:
    """The list kept the first 8 servers for ever: a host answering as ever new servers
    filled it, and the rogue server that came next went unreported. The one heard from
    least lately now makes way."""
    w = ServerWatch()
    assert w.answered(SERVER, MAC_A) == NOTHING_NEW
    for n in range(20):
        assert w.answered(IPv4Address(f"198.51.100.{n + 1}"), MAC_A) == NEW_SERVER
    assert len(w.describe()) == MAX_SEEN
    assert w.answered(OTHER_SERVER, MAC_B) == NEW_SERVER
    assert w.describe()[-1] == f"{OTHER_SERVER} (02:00:00:00:00:bb)"
    assert w.answered(IPv4Address("198.51.100.20"), MAC_A) == NOTHING_NEW  # heard again
    assert w.describe()[-1] == "198.51.100.20 (02:00:00:00:00:aa)"


def test_one_server_from_several_macs_is_one_server() -> None:
    """Two routers relaying to one server (an HSRP or VRRP pair), or the relay of the
    first exchange and the gateway of a renewal: one identifier from two MACs. Counted as
    two servers, every client of such a network warned of a rogue server at every boot."""
    w = ServerWatch()
    assert w.answered(SERVER, MAC_A) == NOTHING_NEW
    assert w.answered(SERVER, MAC_B) == NEW_MAC
    assert w.answered(SERVER, MAC_A) == NOTHING_NEW
    assert w.describe() == [f"{SERVER} (02:00:00:00:00:bb, 02:00:00:00:00:aa)"]
    for n in range(10):  # a server's MACs are bounded, the latest kept
        w.answered(SERVER, bytes((2, 0, 0, 0, 1, n)))
    assert w.describe() == [f"{SERVER} ({', '.join(f'02:00:00:00:01:0{n}' for n in range(6, 10))})"]


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


def test_a_server_relayed_by_a_vrrp_pair_is_not_a_rogue_one(
        tmp_path: Path, logs: Logs) -> None:
    """Both routers of the pair relay the DISCOVER, and the server answers each: two
    OFFERs with its identifier from two MACs. It was "more than one DHCP server answers"
    at every boot; it is one server, said at info."""
    rig = make_rig(tmp_path)
    discover = rig.sent()
    reply_from(rig, offer(discover), MAC_A)
    reply_from(rig, offer(discover), MAC_B)
    assert not logs.at_least(WARNING)
    assert any("from more than one MAC address" in r.message for r in logs.records)
    assert dispatch.status(rig.svc, rig.clock.now)["servers"] == [
        f"{SERVER} (02:00:00:00:00:aa, 02:00:00:00:00:bb)"]


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
