"""The resolv.conf-format file: content, re-checked values, atomic replace, removal."""

from __future__ import annotations

import os
import stat
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from leasebox.netconf.dns import ResolvConfFile, render
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
    target = ResolvConfFile(str(tmp_path / "eth0"), "eth0")
    target.write([A("192.0.2.53")], ["example.com"])
    path = tmp_path / "eth0" / "resolv.conf"
    assert "nameserver 192.0.2.53" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    inode = path.stat().st_ino
    target.write([A("192.0.2.54")], [])
    assert "192.0.2.54" in path.read_text() and "search" not in path.read_text()
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert os.listdir(tmp_path / "eth0") == ["resolv.conf"]  # no temp file left behind
    assert target.remove()
    assert not path.exists()
    assert not target.remove()


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = ResolvConfFile(str(tmp_path), "eth0")
    target.write([A("192.0.2.53")], [])
    with pytest.raises(Refused):
        target.write([A("192.0.2.54")], ["bad name"])
    assert "192.0.2.53" in (tmp_path / "resolv.conf").read_text()
    assert os.listdir(tmp_path) == ["resolv.conf"]
