"""The resolv.conf-format file: content, re-checked values, atomic replace, removal; and
the two sinks taking the DNS over from each other."""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from leasebox.ipc import Names
from leasebox.netconf.dns import ResolvConfFile, render
from leasebox.netconf.handoff import BusClient, ToBus, ToFileAndBus
from leasebox.netconf.validate import Refused

A = IPv4Address


def test_render() -> None:
    text = render("eth0", [A("192.0.2.53"), A("198.51.100.53")], ["example.com", "corp.example"])
    assert text.splitlines()[1:] == [
        "nameserver 192.0.2.53", "nameserver 198.51.100.53", "search example.com corp.example"]
    assert text.startswith("# ") and text.endswith("\n")
    assert render("eth0", [], []).count("\n") == 1


@pytest.mark.parametrize("name", ["evil.example\nnameserver 6.6.6.6", "a b", "x;y", ""])
def test_render_rechecks_names(name: str) -> None:
    with pytest.raises(Refused):
        render("eth0", [], [name])


def test_render_rechecks_servers() -> None:
    with pytest.raises(TypeError):
        render("eth0", ["192.0.2.1\nsearch evil"], [])  # type: ignore[list-item]


def test_write_replace_remove(tmp_path: Path) -> None:
    target = ResolvConfFile(str(tmp_path / "dns"), "eth0")
    target.write([A("192.0.2.53")], ["example.com"])
    path = tmp_path / "dns" / "eth0.conf"
    assert "nameserver 192.0.2.53" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    inode = path.stat().st_ino
    target.write([A("192.0.2.54")], [])
    assert "192.0.2.54" in path.read_text() and "search" not in path.read_text()
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert os.listdir(tmp_path / "dns") == ["eth0.conf"]  # no temp file left behind
    assert target.remove()
    assert not path.exists()
    assert not target.remove()


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = ResolvConfFile(str(tmp_path), "eth0")
    target.write([A("192.0.2.53")], [])
    with pytest.raises(Refused):
        target.write([A("192.0.2.54")], ["bad name"])
    assert "192.0.2.53" in (tmp_path / "eth0.conf").read_text()
    assert os.listdir(tmp_path) == ["eth0.conf"]


class RecordingBus:
    def __init__(self) -> None:
        self.sent: list[Names] = []

    def send(self, names: Names) -> None:
        self.sent.append(names)


NAMES = Names((IPv4Address("192.0.2.53"),), ("example.com",), (IPv4Address("192.0.2.1"),))


def test_resolved_taking_over_removes_the_old_file(tmp_path: Path) -> None:
    stale = ResolvConfFile(str(tmp_path), "eth0")
    stale.write(NAMES.dns_servers, NAMES.domains)
    bus = RecordingBus()
    ToBus(bus, stale=stale).hand_off(NAMES, None)  # type: ignore[arg-type]  # a fake
    assert bus.sent == [NAMES] and not os.path.exists(stale.path)
    ToBus(bus, stale=stale).hand_off(NAMES, NAMES)  # type: ignore[arg-type]
    assert bus.sent == [NAMES]


def test_the_file_taking_over_tells_the_bus_to_keep_ntp_alone(tmp_path: Path) -> None:
    """After systemd-resolved is removed, leasebox-bus must give up the link's DNS (resolved
    would get it back from the bus at its next start), even when NTP has not changed."""
    file = ResolvConfFile(str(tmp_path), "eth0")
    bus = RecordingBus()
    sink = ToFileAndBus(file, bus)  # type: ignore[arg-type]  # a fake
    sink.hand_off(NAMES, None)
    assert bus.sent == [Names(ntp_servers=NAMES.ntp_servers)]
    assert "nameserver 192.0.2.53" in Path(file.path).read_text()
    sink.hand_off(NAMES, NAMES)
    assert len(bus.sent) == 1


def test_a_bus_that_closes_unanswered_is_tried_again_later(tmp_path: Path) -> None:
    """leasebox-bus stopping (an upgrade's restart, the shutdown) or over its connection
    limit closes a connection it read without answering: an OSError, which netconf tries
    again later, not a broken contract that makes netconf exit."""
    path = str(tmp_path / "bus.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as server:
        server.bind(path)
        server.listen(1)

        def read_and_close() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)

        thread = threading.Thread(target=read_and_close)
        thread.start()
        with pytest.raises(OSError) as raised:
            BusClient("eth0", path).send(Names(dns_servers=(IPv4Address("192.0.2.53"),)))
        thread.join(5)
    assert raised.value.errno == errno.ECONNRESET
