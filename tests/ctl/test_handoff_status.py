"""leaseboxctl status: where the lease's DNS and NTP stand, read from leasebox-bus's file and
netconf's state, tolerating files it cannot read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from leasebox.ctl import commands
from leasebox.ctl.commands import format_status, handoff_status


def test_handoff_status_from_the_files(tmp_path: Path) -> None:
    bus, run = tmp_path / "links", tmp_path / "netconf"
    assert handoff_status("eth0", bus, run) == {}
    bus.mkdir()
    (bus / "eth0.json").write_text(json.dumps({
        "interface": "eth0", "ifindex": 2, "dns_servers": ["192.0.2.53"], "domains": [],
        "ntp_servers": ["192.0.2.1"], "resolved": "pending: resolve1 is not on the bus",
        "timesyncd": "applied"}))
    (run / "eth0").mkdir(parents=True)
    (run / "eth0" / "netconf.state").write_text(json.dumps({"wanted": {"dns_servers": []}}))
    got = handoff_status("eth0", bus, run)
    assert got == {"resolved": "pending: resolve1 is not on the bus", "timesyncd": "applied",
                   "ntp_servers": ["192.0.2.1"],
                   "netconf": "pending: not handed on yet (systemctl status "
                              "leasebox-netconf@eth0 says why)"}
    text = format_status({"interface": "eth0", "state": "BOUND", "status": "Bound",
                          "handoff": got}, 0.0)
    assert "     Hand-off: systemd-resolved: pending: resolve1 is not on the bus" in text
    assert "               systemd-timesyncd: applied" in text
    assert "          NTP: 192.0.2.1" in text
    (bus / "eth0.json").write_text("{not json")
    assert handoff_status("eth0", bus, run)["error"].startswith("cannot read")
    (bus / "eth0.json").write_text(json.dumps({"resolved": "bad\nline", "ntp_servers": [1]}))
    assert handoff_status("eth0", bus, run)["resolved"] == "?"


@pytest.mark.parametrize(("sink", "target", "said"), [
    ("resolved", "/run/systemd/resolve/stub-resolv.conf", None),
    ("resolved", "/usr/lib/systemd/resolv.conf", None),
    ("resolved", "stub copy", None),
    ("resolved", None, "is a file of its own, not systemd-resolved's: programs reading it "
                       "do not use these DNS servers (ln -sf ../run/systemd/"),
    ("resolved", "/run/NetworkManager/resolv.conf", "is a link to /run/NetworkManager/"),
    ("file", "/run/leasebox-dns/eth0.conf", None),
    ("file", "/run/leasebox-dns/eth1.conf", "the DNS servers are in /run/leasebox-dns/eth0"
                                            ".conf, and "),
    ("", None, None),  # an older netconf's state: not known where the DNS went
])
def test_status_says_when_resolv_conf_does_not_use_the_dns(
        tmp_path: Path, sink: str, target: str | None, said: str | None) -> None:
    """The address works and no name resolves: /etc/resolv.conf a file of its own (left by
    dhclient, or written by hand) while the DNS went to systemd-resolved, or not the link
    to the DNS file. leasebox never writes /etc/resolv.conf; status says which it is."""
    bus, run = tmp_path / "links", tmp_path / "netconf"
    (run / "eth0").mkdir(parents=True)
    (run / "eth0" / "netconf.state").write_text(json.dumps({
        "wanted": None, "dns_to": sink,
        "dns": {"dns_servers": ["192.0.2.53"], "domains": [], "ntp_servers": []}}))
    resolv = tmp_path / "resolv.conf"
    if target == "stub copy":  # systemd-resolved's stub file, copied: it uses the stub
        resolv.write_text("# a copy\nnameserver 127.0.0.53\noptions edns0 trust-ad\n")
    elif target is None:
        resolv.write_text("nameserver 198.51.100.1\n")
    else:
        resolv.symlink_to(target)
    got = handoff_status("eth0", bus, run, resolv).get("resolv_conf")
    if said is None:
        assert got is None
    else:
        assert got is not None and said in got, got
        text = format_status({"interface": "eth0", "state": "BOUND", "status": "Bound",
                              "handoff": {"resolv_conf": got}}, 0.0)
        assert f"     Hand-off: resolv.conf: {got}" in text


def test_files_a_member_of_control_group_may_not_read_are_left_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """leasebox-bus's directory is root's: a member of ControlGroup= gets the rest of the
    status, not a hand-off 'error'. A FIFO in its place is named, never waited on."""
    bus, run = tmp_path / "links", tmp_path / "netconf"
    bus.mkdir()
    (bus / "eth0.json").write_text("{}")
    real_open = os.open

    def denied(path: Any, flags: int, *args: Any) -> int:
        if str(path).endswith("eth0.json"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", denied)
    assert handoff_status("eth0", bus, run) == {}
    monkeypatch.setattr(os, "open", real_open)
    (bus / "eth0.json").unlink()
    os.mkfifo(bus / "eth0.json")
    assert "not a regular file" in handoff_status("eth0", bus, run)["error"]


def test_a_link_in_a_state_files_place_is_not_followed(tmp_path: Path) -> None:
    """netconf's and leasebox-bus's directories are those confined daemons': a link they
    put where their file belongs made root (the hooks' dispatcher, leaseboxctl) open
    whatever it pointed at (a device whose opening acts: a watchdog)."""
    bus, run = tmp_path / "links", tmp_path / "netconf"
    bus.mkdir()
    (run / "eth0").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text('{"resolved": "pending"}')
    (bus / "eth0.json").symlink_to(secret)
    (run / "eth0" / "netconf.state").symlink_to(secret)
    assert commands.read_json(bus / "eth0.json")["error"].startswith("cannot read")
    assert commands.read_json(run / "eth0" / "netconf.state")["error"].startswith(
        "cannot read")


def test_what_netconf_left_out_follows_the_lease() -> None:
    lease = {"address": "192.0.2.10", "prefixlen": 24, "server_id": "192.0.2.1",
             "obtained_ago": 10.0}
    notes = "router skipped: 198.51.100.1 is not on the link"
    text = format_status({"interface": "eth0", "state": "BOUND", "status": "Bound",
                          "lease": lease, "netconf_notes": notes}, 0.0)
    assert f"  Not applied: {notes}" in text.splitlines()
    text = format_status({"interface": "eth0", "state": "BOUND", "status": "Bound",
                          "lease": lease, "netconf_notes": None}, 0.0)
    assert "Not applied" not in text


def test_routers_show_when_they_are_more_than_the_gateway() -> None:
    def text(routers: list[str], gateway: str | None) -> str:
        lease = {"address": "192.0.2.10", "prefixlen": 24, "server_id": "192.0.2.1",
                 "obtained_ago": 10.0, "routers": routers, "gateway": gateway}
        return format_status({"interface": "eth0", "state": "BOUND", "status": "Bound",
                              "lease": lease}, 0.0)

    assert "Routers" not in text(["192.0.2.1"], "192.0.2.1")
    assert "Routers" not in text([], None)
    # the first is off the subnet: no gateway from option 3, and the routers say why
    assert "      Routers: 198.51.100.9 192.0.2.1" in text(["198.51.100.9", "192.0.2.1"],
                                                          "192.0.2.1").splitlines()
    assert "      Routers: 10.9.9.9" in text(["10.9.9.9"], None).splitlines()


def test_status_says_the_interface_does_not_exist() -> None:
    """leasebox@eht0.target: every unit active, io waiting for a link of that name, and
    leaseboxctl said "State: starting" for as long as one liked. It says what it is."""
    from leasebox.ctl.commands import no_such_interface, overview_row
    absent = {"interface": "eht0", "state": None, "status": "Waiting for io to report the link",
              "carrier": None, "io": False}
    text = format_status(absent, 0.0)
    assert "        State: no such interface" in text.splitlines()
    assert "io: waiting for an interface named eht0, which does not exist" in text
    assert overview_row("eht0", absent)["state"] == "no such interface"
    present = {**absent, "interface": "lo", "io": True}  # lo: there, and not Ethernet
    assert "        State: starting" in format_status(present, 0.0).splitlines()
    assert "io: has not reported the link (systemctl status leasebox-io@lo says why)" in \
        format_status(present, 0.0)
    assert not no_such_interface("lo") and not no_such_interface("../x")
    assert not no_such_interface(None)


def test_status_says_when_io_is_not_connected() -> None:
    base = {"interface": "eth0", "state": "BOUND", "status": "Bound", "carrier": None}
    assert "io: not connected" in format_status({**base, "io": False}, 0.0)
    assert "io:" not in format_status({**base, "io": True}, 0.0)
    assert "io:" not in format_status(base, 0.0)  # an engine from before the key
