"""The container harness itself: a real systemd boots, and the pieces leasebox's system tests
need work inside it (netns + veth, dnsmasq serving DHCP, DynamicUser units, bind mounts),
and nothing is left behind on the host afterwards."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .harness import (
    CGROUP_ROOT,
    Container,
    HarnessError,
    cgroup_pids,
    host_leftovers,
    host_mirror,
    package_list,
    reap_stale,
    tree_key,
)

pytestmark = pytest.mark.system

# A DHCPDISCOVER sent from veth0 (port 68, broadcast flag set) until an OFFER with our xid
# comes back; prints the offered address. Runs with the container's python3.
DISCOVER = r"""
import random, socket, struct, sys
ifname = sys.argv[1]
mac = bytes.fromhex(open(f"/sys/class/net/{ifname}/address").read().strip().replace(":", ""))
xid = random.getrandbits(32)
bootp = struct.pack("!BBBBIHH16s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                    bytes(16), mac.ljust(16, b"\0"), bytes(64), bytes(128))
packet = bootp + bytes([99, 130, 83, 99, 53, 1, 1, 255])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(("0.0.0.0", 68))
s.settimeout(0.5)
for _ in range(20):
    s.sendto(packet, ("255.255.255.255", 67))
    try:
        while True:
            data = s.recv(2048)
            if len(data) > 240 and data[0] == 2 and struct.unpack("!I", data[4:8])[0] == xid:
                print(socket.inet_ntoa(data[16:20]))
                sys.exit(0)
    except TimeoutError:
        pass
sys.exit("no OFFER")
"""


def _alive(pid: int) -> bool:
    """Running (a zombie is not: orphans here wait a while for the host's PID 1 to reap them)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# -- pure helpers (no container) --------------------------------------------------------------


def test_mirror_from_deb822_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEASEBOX_TEST_MIRROR", raising=False)
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\n# comment\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb-src deb\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    (d / "other.list.disabled").write_text("deb http://wrong.example/ bookworm main\n")
    assert host_mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/ bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://first.example/debian bookworm main\n"
    )
    assert host_mirror("bookworm", tmp_path) == "http://first.example/debian"
    # no trixie source on a bookworm host: the archive serving bookworm serves trixie too
    assert host_mirror("trixie", tmp_path) == "http://first.example/debian"
    with pytest.raises(HarnessError):
        host_mirror("sid", tmp_path / "sources.list.d")
    monkeypatch.setenv("LEASEBOX_TEST_MIRROR", "http://override.example/debian/")
    assert host_mirror("trixie", tmp_path) == "http://override.example/debian"


def test_cache_key_follows_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEASEBOX_TEST_EXTRA_PACKAGES", raising=False)
    base = package_list()
    assert "systemd" in base and "systemd-resolved" in base and "systemd-timesyncd" in base
    assert tree_key(base) == tree_key(tuple(reversed(base)))
    assert tree_key(package_list(["tcpdump"])) != tree_key(base)
    assert tree_key(base, "trixie") != tree_key(base)
    monkeypatch.setenv("LEASEBOX_TEST_EXTRA_PACKAGES", "tcpdump, ")
    assert package_list() == package_list(["tcpdump"])
    with pytest.raises(HarnessError):
        package_list(["x; rm -rf /"])


# -- one container for the module --------------------------------------------------------------


def test_boots_to_running_with_systemd_as_pid1(container: Container) -> None:
    state = container.systemctl("is-system-running", check=False).strip()
    assert state in ("running", "degraded"), container.systemctl("--failed", check=False)
    assert container.read_file("/proc/1/comm").strip() == "systemd"
    assert Path(f"/proc/{container.pid1}/comm").read_text().strip() == "systemd"
    assert re.fullmatch(r"[0-9a-f]{32}\n", container.read_file("/etc/machine-id"))
    assert container.boot_seconds < 10


# A UDP datagram to the loopback, which nothing but a cgroup BPF program can refuse.
SEND_UDP = ("import socket; "
            "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))")


def test_cgroup_v2_alone_so_systemd_enforces_ip_address_deny(container: Container) -> None:
    """The container runs the unified hierarchy, as Debian 12 and 13 boot; under this host's
    v1 hybrid systemd would not install the BPF programs of IPAddressDeny= (nor its device
    policy's), and the units' settings would go untested."""
    assert container.run(["stat", "-fc", "%T", "/sys/fs/cgroup"]).stdout.strip() == "cgroup2fs"
    run = ["systemd-run", "--wait", "--pipe", "--quiet"]
    open_ = container.run([*run, "python3", "-c", SEND_UDP], check=False)
    assert open_.returncode == 0, open_.stderr
    denied = container.run([*run, "-p", "IPAddressDeny=any", "python3", "-c", SEND_UDP],
                           check=False)
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr, denied


def test_run_returns_output_and_status(container: Container) -> None:
    r = container.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    with pytest.raises(HarnessError, match="status 3"):
        container.run(["sh", "-c", "exit 3"])
    assert container.run(["cat"], input="via stdin\n").stdout == "via stdin\n"
    assert container.run(["printenv", "FOO"], env={"FOO": "bar"}).stdout == "bar\n"
    with pytest.raises(subprocess.TimeoutExpired):
        container.run(["sleep", "5"], timeout=0.3)
    # Killed and reaped at once: not orphaned to the host's (lazy) PID 1 as a zombie.
    assert "sleep" not in container.run(["ps", "-e", "-o", "comm="]).stdout
    assert "Active: active" in container.systemctl("status", "systemd-journald.service")
    assert container.journalctl("-b", "-o", "cat", "-n", "5").strip()


def test_write_file_and_copy_in(container: Container, tmp_path: Path) -> None:
    awkward = "quotes ' \" $HOME `id` \\ \n\tand no final newline"
    container.write_file("/etc/leasebox test/a file", awkward, mode=0o600)
    assert container.read_file("/etc/leasebox test/a file") == awkward
    assert container.run(["stat", "-c", "%a", "/etc/leasebox test/a file"]).stdout == "600\n"
    src = tmp_path / "payload"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("copied\n")
    (src / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (src / "run.sh").chmod(0o755)
    container.copy_in(src, "/opt/payload")
    assert container.read_file("/opt/payload/sub/f.txt") == "copied\n"
    assert container.run(["/opt/payload/run.sh"]).stdout == "ran\n"
    container.copy_in(src / "sub" / "f.txt", "/opt/single.txt")
    assert container.read_file("/opt/single.txt") == "copied\n"


def test_private_network_has_only_lo(container: Container) -> None:
    links = container.run(["ip", "-o", "link", "show"]).stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]


def test_veth_to_a_netns_inside_pings(container: Container) -> None:
    steps = [
        ["ip", "netns", "add", "srv"],
        ["ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", "srv"],
        ["ip", "addr", "add", "10.77.0.1/24", "dev", "veth0"],
        ["ip", "link", "set", "veth0", "up"],
        ["ip", "-n", "srv", "addr", "add", "10.77.0.2/24", "dev", "veth1"],
        ["ip", "-n", "srv", "link", "set", "veth1", "up"],
        ["ip", "-n", "srv", "link", "set", "lo", "up"],
    ]
    for step in steps:
        container.run(step)
    container.run(["ping", "-c1", "-W1", "10.77.0.2"])
    container.run(["ip", "netns", "exec", "srv", "ping", "-c1", "-W1", "10.77.0.1"])


def test_dnsmasq_serves_dhcp_in_the_netns(container: Container) -> None:
    if "srv" not in container.run(["ip", "netns", "list"]).stdout:
        test_veth_to_a_netns_inside_pings(container)
    dnsmasq = container.spawn([
        "ip", "netns", "exec", "srv",
        "dnsmasq", "--no-daemon", "--no-ping", "--port=0", "--no-resolv", "--log-dhcp",
        "--interface=veth1", "--bind-interfaces", "--dhcp-leasefile=/run/harness-test.leases",
        "--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,2m",
    ])  # fmt: skip
    try:
        r = container.run(["python3", "-c", DISCOVER, "veth0"], check=False, timeout=20)
        assert r.returncode == 0, f"{r.stderr}\ndnsmasq said:\n{dnsmasq.output()}"
        offered = r.stdout.strip()
        assert offered.startswith("10.77.0.") and 100 <= int(offered.split(".")[3]) <= 150
        assert dnsmasq.running()
        pids = dnsmasq.pids()
        assert len(pids) >= 2  # nsenter and dnsmasq
    finally:
        dnsmasq.stop()
    assert not any(_alive(p) for p in pids)
    assert "DHCPOFFER(veth1)" in dnsmasq.output()
    assert "dnsmasq" not in container.run(["ps", "-e", "-o", "comm="]).stdout


def test_runtime_unit_with_dynamic_user(container: Container) -> None:
    container.write_file(
        "/run/systemd/system/x.service",
        "[Service]\nDynamicUser=yes\nExecStart=/bin/sleep 60\n",
    )
    container.systemctl("daemon-reload")
    container.systemctl("start", "x.service")
    try:
        assert container.systemctl("is-active", "x.service").strip() == "active"
        pid = container.systemctl("show", "-P", "MainPID", "x.service").strip()
        status = container.read_file(f"/proc/{pid}/status")
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE).group(1))  # type: ignore[union-attr]
        assert 61184 <= uid <= 65519
        assert container.run(["getent", "passwd", str(uid)]).stdout.startswith("x:")
    finally:
        container.systemctl("stop", "x.service")


# -- a container of its own: binds, and a clean teardown --------------------------------------


def test_bind_ro_and_teardown_leaves_nothing(
    container_tree: Path, container: Container, tmp_path: Path
) -> None:
    (tmp_path / "hello").write_text("from the host\n")
    c = Container(container_tree, binds_ro={str(tmp_path): "/mnt/host"})
    with c:
        # Runs next to the module's container: each has its own cgroups and machine id.
        assert container.pid1 and container.pid1 != c.pid1
        assert c.read_file("/etc/machine-id") != container.read_file("/etc/machine-id")
        assert c.read_file("/mnt/host/hello") == "from the host\n"
        r = c.run(["touch", "/mnt/host/new"], check=False)
        assert r.returncode != 0 and "Read-only file system" in r.stderr
        c.write_file("/etc/written-in-container", "overlay\n")
        # Leave things running three ways: a unit, a spawned job, a detached shell child.
        c.run(["systemd-run", "--unit=lingering", "/bin/sleep", "300"])
        job = c.spawn(["sleep", "300"])
        c.run(["sh", "-c", "sleep 300 </dev/null >/dev/null 2>&1 &"])
        time.sleep(0.1)
        nspawn_pid, pid1, workdir = c.proc.pid if c.proc else 0, c.pid1, c.workdir
        cgroup = CGROUP_ROOT / "unified" / c.name
        inside = cgroup_pids(cgroup)
        assert {nspawn_pid, pid1} <= inside and job.pids() <= inside
        assert len(inside) >= 8  # nspawn, systemd, journald, dbus, logind, sleeps, nsenter...
    assert c.stop_seconds < 5
    assert not _alive(nspawn_pid) and not _alive(pid1)
    assert not any(_alive(p) for p in inside)
    assert host_leftovers(c.name) == []
    assert workdir is not None and not workdir.exists()
    assert not (tmp_path / "new").exists()
    assert not (container_tree / "etc" / "written-in-container").exists()
    c.stop()  # idempotent


def test_containers_of_a_killed_owner_are_reaped(container_tree: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(Path(__file__).parent), str(container_tree)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert owner.stdout is not None
        name, nspawn_pid = owner.stdout.readline().split()  # bounded by the boot timeout
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=5)
        assert _alive(int(nspawn_pid)) and host_leftovers(name)  # orphaned, still running
        assert reap_stale(log=lambda _: None) == [name]
        assert not _alive(int(nspawn_pid))
        assert host_leftovers(name) == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=5)


# Boots a container, reports it, and waits to be killed without stopping it.
OWNER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import harness
c = harness.Container(harness.Path(sys.argv[2]), log=lambda _: None)
c.start()
print(c.name, c.proc.pid, flush=True)
time.sleep(60)
"""
