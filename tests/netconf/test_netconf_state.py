"""The state file: round trip, and strict reading of anything it did not write."""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from leasebox.core.record import replace
from leasebox.ipc import Names
from leasebox.netconf.apply import Tracked
from leasebox.netconf.handoff import NOTHING
from leasebox.netconf.state import StateError, StateFile, from_json, to_json
from leasebox.netconf.validate import PlannedRoute

TRACKED = Tracked(
    address=IPv4Interface("192.0.2.10/24"),
    routes=[PlannedRoute(IPv4Network("203.0.113.1/32"), None, 100, 50),
            PlannedRoute(IPv4Network("0.0.0.0/0"), IPv4Address("203.0.113.1"), 100, 50)],
    mtu=1400, original_mtu=1500,
    dns=Names((IPv4Address("192.0.2.53"),), ("example.com",), (IPv4Address("192.0.2.1"),)),
    wanted=Names((IPv4Address("192.0.2.54"),), (), ()),
    dns_to="file",
)


def test_round_trip(tmp_path: Path) -> None:
    state = StateFile(str(tmp_path / "eth0"), 7)
    assert state.load() is None
    state.save(TRACKED)
    assert state.load() == TRACKED
    assert oct(os.stat(state.path).st_mode & 0o777) == "0o644"
    state.save(Tracked())
    assert not os.path.exists(state.path)
    assert from_json(to_json(7, Tracked()), 7) == Tracked()


def test_a_fifo_or_a_link_in_its_place_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """A FIFO where netconf.state belongs (the directory outlives netconf, which a
    compromised one could leave so) held the next netconf before READY=1 until systemd's
    start timeout, at every restart; a link was followed."""
    state = StateFile(str(tmp_path), 7)
    os.mkfifo(tmp_path / "netconf.state")
    with pytest.raises(StateError):
        state.load()
    (tmp_path / "netconf.state").unlink()
    (tmp_path / "other").mkdir()
    valid = StateFile(str(tmp_path / "other"), 7)
    valid.save(Tracked(address=IPv4Interface("192.0.2.10/24")))
    assert valid.load() is not None  # a state netconf would take, but not through a link
    (tmp_path / "netconf.state").symlink_to(tmp_path / "other" / "netconf.state")
    with pytest.raises(StateError):
        state.load()


def test_reads_what_the_previous_version_wrote() -> None:
    """An upgrade restarts netconf: it must still know what the old one applied."""
    old = json.loads(to_json(7, TRACKED))
    old.update(version=1, dns=[["192.0.2.53"], ["example.com"]])
    del old["wanted"]
    got = from_json(json.dumps(old), 7)
    assert got.dns == Names((IPv4Address("192.0.2.53"),), ("example.com",))
    assert got.address == TRACKED.address and got.wanted is None
    old["dns"] = None
    assert from_json(json.dumps(old), 7).dns == NOTHING


@pytest.mark.parametrize(("key", "values", "error"), [
    # how the address went on: with the kernel's prefix route (RouteTable=main) or not
    ("prefix_route", (True, False), "prefix_route"),
    # the preferred source the routes went on with (an older netconf's had none: they go
    # and come back with one at the next apply)
    ("route_source", (IPv4Address("192.0.2.10"),), "ValueError"),
])
def test_what_an_older_netconf_did_not_keep_is_unknown(key: str, values: tuple[object, ...],
                                                       error: str) -> None:
    """Each optional key round-trips; a state of an older netconf has none: not known."""
    for value in values:
        changed: dict[str, Any] = {key: value}
        assert getattr(from_json(to_json(7, replace(TRACKED, **changed)), 7), key) == value
    doc = json.loads(to_json(7, TRACKED))
    del doc[key]
    assert getattr(from_json(json.dumps(doc), 7), key) is None
    doc[key] = "yes"
    with pytest.raises(StateError, match=error):
        from_json(json.dumps(doc), 7)


def test_a_state_without_the_sink_leaves_it_unknown() -> None:
    """Written by the netconf of an earlier version 2, before dns_to."""
    doc = json.loads(to_json(7, TRACKED))
    del doc["dns_to"]
    assert from_json(json.dumps(doc), 7).dns_to == ""


def test_another_ifindex_gives_only_what_was_handed_on() -> None:
    """The link was replaced: its address, routes and MTU went with it, but leasebox-bus
    (or the file) still holds the interface's DNS and NTP, to be taken back; where it went
    is forgotten, so that the new link gets it at once (resolved held it by the old index)."""
    got = from_json(to_json(7, TRACKED), 8)
    assert got == Tracked(dns=TRACKED.dns, wanted=TRACKED.wanted, dns_to="")
    with pytest.raises(StateError, match="ifindex"):
        from_json(to_json(7, TRACKED).replace('"ifindex": 7', '"ifindex": "7"'), 7)


@pytest.mark.parametrize("change", [
    {"version": 3}, {"address": "300.0.0.1/24"}, {"address": 5}, {"routes": [["x", None, 1, 1]]},
    {"routes": [["0.0.0.0/0", None, -1, 1]]}, {"routes": [["0.0.0.0/0", None, 1]]},
    {"mtu": "1400"}, {"mtu": True}, {"dns_to": "networkd"}, {"dns_to": None},
    {"dns": [["192.0.2.1"], ["bad name"]]}, {"dns": "x"},
    {"dns": {"dns_servers": [], "domains": ["bad name"], "ntp_servers": []}},
    {"wanted": {"dns_servers": ["x"], "domains": [], "ntp_servers": []}},
    {"wanted": {"dns_servers": []}},
])
def test_strict(change: dict[str, object]) -> None:
    data = json.loads(to_json(7, TRACKED))
    data.update(change)
    with pytest.raises(StateError):
        from_json(json.dumps(data), 7)
    with pytest.raises(StateError):
        from_json("[1, 2", 7)
