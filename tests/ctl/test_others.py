"""leaseboxctl status's look for other programs that manage the interface (ctl.others): the
command lines of the DHCP clients a user may have left running, as /proc shows them. The
networkd part runs against a real networkd in tests/system/test_services.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leasebox.ctl import others
from leasebox.ctl.commands import format_status

# each as /proc/PID/cmdline has it (NUL-separated; a process title is one string)
CLIENTS = [
    # ifupdown's dhclient on Debian
    ("/sbin/dhclient -4 -v -i -pf /run/dhclient.eth0.pid -lf /var/lib/dhcp/dhclient.eth0"
     ".leases -I -df /var/lib/dhcp/dhclient6.eth0.leases eth0", "dhclient"),
    ("dhclient eth1", None),
    ("dhcpcd: eth0 [ip4]", "dhcpcd"),  # dhcpcd 9/10's per-interface process, its title
    ("dhcpcd: [manager] [ip4] [ip6]", None),  # its manager: whichever it runs
    ("dhcpcd -b eth0", "dhcpcd"),
    ("/sbin/dhcpcd -q -w eth1", None),
    ("udhcpc -i eth0 -f", "udhcpc"),
    ("udhcpc -ieth0", "udhcpc"),
    ("udhcpc --interface=eth0", "udhcpc"),
    ("udhcpc -f", "udhcpc"),  # eth0, its default
    ("busybox udhcpc -i eth0", "udhcpc"),
    ("busybox udhcpc -i eth1", None),
    ("/usr/sbin/dnsmasq --interface=eth0", None),
    ("vi /etc/dhclient.conf eth0", None),
]


@pytest.mark.parametrize(("cmdline", "client"), CLIENTS)
def test_a_dhcp_client_is_known_by_its_command_line(cmdline: str, client: str | None) -> None:
    argv = [cmdline] if cmdline.startswith("dhcpcd:") else cmdline.split()
    assert others.dhcp_client("eth0", argv) == client


def _proc(root: Path, pid: int, cmdline: bytes, comm: str = "x") -> None:
    (root / str(pid)).mkdir()
    (root / str(pid) / "cmdline").write_bytes(cmdline)
    (root / str(pid) / "comm").write_text(comm + "\n")


def test_processes_are_read_from_proc_kernel_threads_and_this_one_left_out(
        tmp_path: Path) -> None:
    _proc(tmp_path, 1, b"/sbin/init\0splash\0", "systemd")
    _proc(tmp_path, 2, b"", "kthreadd")  # a kernel thread: no command line
    _proc(tmp_path, os.getpid(), b"leaseboxctl\0status\0")
    _proc(tmp_path, 77, b"dhcpcd: eth0 [ip4]\0\0\0\0", "dhcpcd")
    _proc(tmp_path, 78, b"\xff\xfebad\0eth0\0", "odd")  # not UTF-8: read all the same
    (tmp_path / "self").mkdir()
    assert sorted(others.processes(tmp_path)) == [
        (1, ["/sbin/init", "splash"], "systemd"),
        (77, ["dhcpcd: eth0 [ip4]"], "dhcpcd"),
        (78, ["\ufffd\ufffdbad", "eth0"], "odd"),
    ]


def test_managers_names_the_clients_and_asks_no_networkd_that_does_not_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """networkctl is not run without a networkd process: on Debian 12 it asks networkd
    over D-Bus, which would start an enabled networkd that was stopped."""
    monkeypatch.setattr(others, "NETWORKCTL", str(tmp_path / "absent"))  # not asked
    monkeypatch.setattr(others, "networkd_link", lambda iface: pytest.fail("asked"))
    _proc(tmp_path, 300, b"udhcpc\0-i\0eth0\0", "udhcpc")
    _proc(tmp_path, 301, b"dhclient\0eth1\0", "dhclient")
    assert others.managers("eth0", tmp_path) == [
        {"program": "udhcpc", "pid": 300, "detail": "udhcpc -i eth0"}]


def test_status_warns_of_each_other_manager() -> None:
    text = format_status({
        "interface": "eth0", "state": "BOUND", "status": "Bound",
        "other_managers": [
            {"program": "systemd-networkd", "pid": 41,
             "detail": "configured, by /run/systemd/network/10-netplan-eth0.network"},
            {"program": "dhclient", "pid": 900, "detail": "dhclient -4 eth0\x1b[2J"}]}, 0.0)
    assert text.splitlines()[-3:] == [
        "      Warning: systemd-networkd (pid 41) also manages eth0: configured, by "
        "/run/systemd/network/10-netplan-eth0.network",
        "               dhclient (pid 900) also runs on eth0: dhclient -4 eth0\\x1b[2J",
        "               only one client may manage an interface (leasebox(8), COEXISTENCE, "
        "says how to hand it over)"]
