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
    ("/sbin/dhclient -6 -pf /run/dhclient6.eth0.pid eth0", None),  # DHCPv6 alone
    ("dhcpcd: eth0 [ip4]", "dhcpcd"),  # dhcpcd 9/10's per-interface process, its title
    ("dhcpcd: eth0 [ip4] [ip6]", "dhcpcd"),
    ("dhcpcd: eth0 [ip6]", None),
    ("dhcpcd: [manager] [ip4] [ip6]", None),  # its manager: whichever it runs
    ("dhcpcd: [privileged proxy] eth0 [ip4]", None),  # privilege separation's helpers
    ("dhcpcd: [network proxy] eth0 [ip4]", None),
    ("dhcpcd: [BPF ARP] eth0 192.0.2.57", None),
    ("dhcpcd -b eth0", "dhcpcd"),
    ("/sbin/dhcpcd -q -w eth1", None),
    ("dhcpcd -6 eth0", None),
    ("udhcpc -i eth0 -f", "udhcpc"),
    ("udhcpc -ieth0", "udhcpc"),
    ("udhcpc -fi eth0", "udhcpc"),
    ("udhcpc -fi wlan0", None),
    ("udhcpc -s /bin/true -i wlan0", None),
    ("udhcpc -s/etc/udhcpc/default.script -i eth0", "udhcpc"),
    ("udhcpc --interface=eth0", "udhcpc"),
    ("udhcpc --interface eth0", "udhcpc"),
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


@pytest.mark.parametrize("argv", [[], [""], [" "], [" \t", "eth0"], ["\n", "-i", "eth0"]])
def test_a_blank_command_line_is_no_client(argv: list[str]) -> None:
    """Anyone may exec a copy of dhclient with a blank argv[0] (`exec -a " "`): it is
    no client, and no traceback in root's `leaseboxctl status`."""
    assert others.dhcp_client("eth0", argv) is None


def _proc(root: Path, pid: int | str, cmdline: bytes, comm: str = "x",
          netns: str = "net:[4026531840]") -> None:
    (root / str(pid) / "ns").mkdir(parents=True)
    (root / str(pid) / "cmdline").write_bytes(cmdline)
    (root / str(pid) / "comm").write_text(comm + "\n")
    (root / str(pid) / "ns" / "net").symlink_to(netns)


def test_only_candidates_in_this_network_namespace_are_read(tmp_path: Path) -> None:
    """Command lines are read only for a DHCP client's or networkd's comm (reading one
    waits on the process's memory lock), and only in this network namespace: a
    container's udhcpc runs on the container's eth0."""
    _proc(tmp_path, "self", b"leaseboxctl\0status\0", "leaseboxctl")
    _proc(tmp_path, 1, b"/sbin/init\0splash\0", "systemd")
    _proc(tmp_path, 2, b"", "dhclient")  # a kernel thread: no command line
    _proc(tmp_path, os.getpid(), b"dhclient\0eth0\0", "dhclient")  # this one
    _proc(tmp_path, 77, b"dhcpcd: eth0 [ip4]\0\0\0\0", "dhcpcd")
    _proc(tmp_path, 78, b"\xff\xfeudhcpc\0-i\0eth0\0", "udhcpc")  # not UTF-8: read
    _proc(tmp_path, 79, b"udhcpc\0-i\0eth0\0", "udhcpc", netns="net:[4026532000]")
    _proc(tmp_path, 80, b"/lib/systemd/systemd-networkd\0", "systemd-network")
    os.unlink(tmp_path / "1" / "cmdline")
    os.mkfifo(tmp_path / "1" / "cmdline")  # would block if read
    assert sorted(others.processes(tmp_path)) == [
        (77, ["dhcpcd: eth0 [ip4]"], "dhcpcd"),
        (78, ["\ufffd\ufffdudhcpc", "-i", "eth0"], "udhcpc"),
        (80, ["/lib/systemd/systemd-networkd"], "systemd-network"),
    ]


def test_managers_names_the_clients_and_asks_no_networkd_that_does_not_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """networkctl is not run without a networkd process: on Debian 12 it asks networkd
    over D-Bus, which would start an enabled networkd that was stopped. Its wait-online
    has the same comm."""
    monkeypatch.setattr(others, "networkd_link", lambda iface: pytest.fail("asked"))
    procs = [(300, ["udhcpc", "-i", "eth0"], "udhcpc"), (301, ["dhclient", "eth1"], "dhclient"),
             (302, ["/lib/systemd/systemd-networkd-wait-online"], "systemd-network")]
    assert others.managers("eth0", procs) == [
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


@pytest.mark.parametrize(("out", "found"), [
    ('{"Index": 2, "Name": "eth0", "AdministrativeState": "configured"}', True),
    ('{"Interfaces": [{"Name": "lo"}, {"Name": "eth0", "AdministrativeState": "x"}]}', True),
    ('{"Interfaces": 5}', False), ('[1, 2]', False), ("not json", False),
    ('{"Name": "eth1"}', False)])
def test_networkctls_answer_is_read_whatever_its_shape(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, found: bool) -> None:
    """One link's object (a pattern given, systemd 252 and 257), a list of them, or
    anything else: nothing raised."""
    program = tmp_path / "networkctl"
    program.write_text(f"#!/bin/sh\ncat <<'END'\n{out}\nEND\n")
    program.chmod(0o755)
    monkeypatch.setattr(others, "NETWORKCTL", str(program))
    link = others.networkd_link("eth0")
    assert (link is not None and link["Name"] == "eth0") is found
