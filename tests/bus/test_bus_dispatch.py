"""leasebox-bus's handler: who may speak for a link, what it accepts, and its files."""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from leasebox import ipc
from leasebox.bus.dispatch import admits, bus_dispatch_netconf
from leasebox.bus.links import Links, Target, Want
from leasebox.bus.statefile import StateDir, StateError, from_doc
from leasebox.ipc import Names
from leasebox.ipc.peers import Credentials
from tests.bus.test_bus_links import FakeServices

A = IPv4Address
ROOT = Credentials(pid=1, uid=0, gid=0)
NOBODY = Credentials(pid=2, uid=65534, gid=65534)


def _index(name: str) -> int:
    if name == "eth0":
        return 2
    raise OSError(f"no such device {name}")


def test_only_netconf_of_that_link_or_root_is_admitted() -> None:
    assert admits(ROOT, "eth0")
    assert not admits(NOBODY, "eth0")
    assert not admits(Credentials(3, 4242424, 4242424), "eth0")  # no such user at all


def test_handoff_is_held_refused_or_forgotten() -> None:
    links = Links(FakeServices())
    ok = ipc.Handoff(1, "eth0", ipc.Names((A("192.0.2.53"),), ("example.com",), (A("192.0.2.1"),)))
    reply = bus_dispatch_netconf(links, ROOT, ok, _index)
    assert reply == ipc.HandoffResult(1, ipc.ResultStatus.OK, "")
    assert links.wants["eth0"] == Want(2, Names((A("192.0.2.53"),), ("example.com",),
                                                (A("192.0.2.1"),)))
    # the ipc decoder lets hostname characters through; the label rules are checked here
    bad = ipc.Handoff(2, "eth0", ipc.Names((), ("a..b",), ()))
    assert bus_dispatch_netconf(links, ROOT, bad, _index).status is ipc.ResultStatus.REFUSED
    gone = ipc.Handoff(3, "eth9", ipc.Names((A("192.0.2.53"),), (), ()))
    reply = bus_dispatch_netconf(links, ROOT, gone, _index)
    assert reply.status is ipc.ResultStatus.REFUSED and "no interface eth9" in reply.reason
    impostor = bus_dispatch_netconf(links, NOBODY, ok, _index)
    assert impostor.status is ipc.ResultStatus.REFUSED and "not netconf@eth0" in impostor.reason
    nothing = ipc.Handoff(4, "eth0", ipc.Names())
    assert bus_dispatch_netconf(links, ROOT, nothing, _index).status is ipc.ResultStatus.OK
    assert links.wants == {}
    with pytest.raises(ipc.PeerViolation):
        bus_dispatch_netconf(links, ROOT, ipc.Remove(5), _index)


def test_state_files_round_trip_and_follow_the_links(tmp_path: Path) -> None:
    fake = FakeServices()
    fake.down.add("resolved")
    links = Links(fake)
    links.update("eth0", Want(2, Names((A("192.0.2.53"),), ("example.com",), (A("192.0.2.1"),))))
    links.update("eth1", Want(3, Names(ntp_servers=(A("192.0.2.2"),))))
    links.deliver(0.0)
    state = StateDir(str(tmp_path))
    state.save(links, 0.0)
    doc = json.loads((tmp_path / "eth0.json").read_text())
    assert doc["timesyncd"] == "applied" and doc["resolved"].startswith("pending: resolved")
    assert json.loads((tmp_path / "eth1.json").read_text())["resolved"] == "not used"
    wants, errors = state.load()
    assert wants == links.wants and errors == []
    links.update("eth1", None)
    state.save(links, 1.0)
    assert sorted(os.listdir(tmp_path)) == ["eth0.json"]
    (tmp_path / "eth5.json").write_text((tmp_path / "eth0.json").read_text())
    (tmp_path / "eth6.json").write_text("{")
    wants, errors = state.load()
    assert list(wants) == ["eth0"] and len(errors) == 2
    assert links.target_status("eth0", Target.RESOLVED, 0.5).endswith("next try in 0 s")


@pytest.mark.parametrize("doc", [
    {}, [], {"interface": "eth0", "ifindex": 0, "dns_servers": [], "domains": [],
             "ntp_servers": []},
    {"interface": "eth0", "ifindex": 2, "dns_servers": ["x"], "domains": [], "ntp_servers": []},
    {"interface": "eth0", "ifindex": 2, "dns_servers": [], "domains": ["a b"],
     "ntp_servers": []},
    {"interface": "../x", "ifindex": 2, "dns_servers": [], "domains": [], "ntp_servers": []},
    {"interface": "eth0", "ifindex": 2, "dns_servers": ["1.1.1.1"] * 33, "domains": [],
     "ntp_servers": []},
])
def test_state_file_parser_is_strict(doc: object) -> None:
    with pytest.raises(StateError):
        from_doc(json.dumps(doc))
