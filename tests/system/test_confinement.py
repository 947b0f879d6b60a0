"""The confinement, proven in practice: from inside each unit, and against the running daemons.

One container for the module, and one pass through it (the `seen` fixture) that gathers
everything; the tests then each assert one thing about what was seen:

1. Before leasebox runs: an impostor in the `leasebox` group, given the way to
   netconf.sock that only root has (a bind in a mount namespace of its own), connects,
   which socket-activates netconf; netconf must refuse it (SO_PEERCRED) and log so.
2. leasebox@veth0.target gets a lease from dnsmasq. Then, against the running daemons:
   their identities, capabilities and seccomp filter counts from /proc/PID/status (read
   from outside), `systemd-analyze security` of each running instance, a local user
   (nobody, no groups) and the group impostor connecting to every socket, and the group
   impostor, given the way in, on engine.sock.
3. The target is stopped and each service is started once more with only ExecStart=
   replaced by probe.py (a drop-in): the probe runs as the unit and reports what it can do.
4. The drop-ins go, and the target gets a lease again: nothing is left changed.

All of it with /usr read-only (bound over itself once the package is in), as on a machine
whose /usr is mounted so: systemd must find every mount point a unit needs in the minimal
root, or make it in a tmpfs of the unit's own.

Set LEASEBOX_CONFINEMENT_REPORT=PATH to keep everything seen as JSON.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import wait_for

from .harness import Container
from .leasebox_lab import (
    IFACE,
    MINIMAL_ROOT,
    LeaseLab,
    install,
    make_usr_read_only,
    usr_writable,
)

pytestmark = pytest.mark.system

ROLES = ("io", "engine", "netconf")
PROBE_SRC = Path(__file__).with_name("probe.py")
PROBE_DST = "/usr/lib/leasebox-test/probe.py"
RUN_DIR = f"/run/leasebox/{IFACE}"  # control.sock
IPC_DIR = f"/run/leasebox-ipc/{IFACE}"  # engine.sock and netconf.sock: root's alone
SOCKETS = (f"{IPC_DIR}/engine.sock", f"{IPC_DIR}/netconf.sock", f"{RUN_DIR}/control.sock")
ROOT = MINIMAL_ROOT
DYNAMIC_UIDS = range(61184, 65519 + 1)
NOBODY = 65534
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13
MAX_SCORE = {"engine": 1.0, "io": 2.0, "netconf": 2.0}

# Run as another user inside the container: connect to each socket given, then wait for
# the first message or the end of the stream. Reports who it ran as.
CONNECT = """
import errno, json, os, socket, sys
out = {}
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(15)  # a socket-activated netconf imports pyroute2 first: slow under load
    try:
        s.connect(path)
    except OSError as exc:
        out[path] = "connect " + errno.errorcode.get(exc.errno, str(exc))
        continue
    try:
        out[path] = "EOF" if not s.recv(4096) else "data"
    except TimeoutError:
        out[path] = "timeout"
    except OSError as exc:
        out[path] = "recv " + errno.errorcode.get(exc.errno, str(exc))
    finally:
        s.close()
caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff:")]
print(json.dumps({"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(),
                  "groups": os.getgroups(), "CapEff": caps[0], "result": out}))
"""
NOBODY_ARGV = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
IMPOSTOR_ARGV = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--groups=leasebox"]


def unit(role: str) -> str:
    return f"leasebox-{role}@{IFACE}.service"


@dataclass
class Seen:
    leasebox_gid: int = 0
    netconf_impostor: dict[str, Any] = field(default_factory=dict)
    netconf_refusal: str = ""
    bound: str = ""
    daemons: dict[str, dict[str, str]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    forbid_warnings: str = ""
    nobody: dict[str, Any] = field(default_factory=dict)
    group_member: dict[str, Any] = field(default_factory=dict)
    ipc_dirs: list[str] = field(default_factory=list)
    engine_impostor: dict[str, Any] = field(default_factory=dict)
    engine_refusal: str = ""
    bound_after_impostor: str = ""
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    rebound: str = ""
    usr_mount: str = ""
    private_tmp: dict[str, list[str]] = field(default_factory=dict)
    host_tmp: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def proc_status(c: Container, pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in c.read_file(f"/proc/{pid}/status").splitlines():
        key, _, value = line.partition(":")
        out[key] = " ".join(value.split())
    return out


def as_user(c: Container, argv: list[str], *paths: str) -> dict[str, Any]:
    r = c.run([*argv, "python3", "-I", "-c", CONNECT, *paths], timeout=60)
    result: dict[str, Any] = json.loads(r.stdout)
    return result


# Root bind-mounts the socket file onto a tmpfs of a private mount namespace, then becomes
# the user given: past the directories that keep every user but root out, as far as the
# unit that connects gets (its root holds that one file), for the daemon's own check.
PAST_THE_DIRECTORIES = ('mount -t tmpfs -o mode=0755 none /mnt && touch /mnt/peer.sock'
                        ' && mount --bind "$0" /mnt/peer.sock && exec "$@"')


def as_user_past_the_directories(c: Container, argv: list[str], path: str) -> dict[str, Any]:
    result = as_user(c, ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                         PAST_THE_DIRECTORIES, path, *argv], "/mnt/peer.sock")
    result["result"] = {path: result["result"]["/mnt/peer.sock"]}
    return result


def journal_line(c: Container, u: str, needle: str, timeout: float = 20.0) -> str:
    def find() -> str:
        text = c.journalctl("-u", u, "-o", "cat", check=False)
        return next((line for line in text.splitlines() if needle in line), "")
    try:
        found: str = wait_for(f"{needle!r} in the journal of {u}", find, timeout,
                              interval=0.05)
    except TimeoutError as exc:
        state = c.systemctl("status", "--lines=0", u, check=False)
        tail = c.journalctl("-n", "30", "-o", "short-monotonic", check=False)
        raise TimeoutError(f"{exc}\n{state}\n--- journal ---\n{tail}") from None
    return found


def security_score(c: Container, u: str) -> float:
    r = c.run(["systemd-analyze", "security", "--no-pager", u], check=False, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m, f"no score for {u}: {r.stdout[-500:]} {r.stderr[-500:]}"
    return float(m.group(1))


def ended(c: Container, u: str) -> bool:
    state = c.systemctl("show", "-p", "ActiveState", "--value", u).strip()
    return state in ("inactive", "failed")


def drop_in(role: str) -> str:
    return f"/run/systemd/system/{unit(role)}.d/zz-probe.conf"


def run_probes(c: Container) -> dict[str, dict[str, Any]]:
    """Start every service once with probe.py as its ExecStart=; collect the reports."""
    nonce = secrets.token_hex(4)
    for role in ROLES:
        c.write_file(drop_in(role), "\n".join([
            "[Service]",
            "Type=exec",
            "Restart=no",
            "WatchdogSec=0",
            "ExecStart=",
            f"ExecStart=/usr/bin/python3 -I {PROBE_DST} {role} {IFACE} {nonce}",
            "",
        ]))
    try:
        c.systemctl("daemon-reload")
        c.systemctl("start", *(unit(role) for role in ROLES))
        reports: dict[str, dict[str, Any]] = {}
        for role in ROLES:
            line = journal_line(c, unit(role), f'"nonce": "{nonce}"', timeout=20)
            report = reports[role] = json.loads(line.split(" ", 1)[1])
            # what /proc shows of the probe, read from outside while it waits (io and
            # netconf have no /proc of their own)
            pid = report["pid"]
            report["status"] = proc_status(c, pid)
            report["filters_before"] = int(report["status"]["Seccomp_filters"])
            # the mount points the unit sees (field 5 of mountinfo, relative to its root)
            mountinfo = c.read_file(f"/proc/{pid}/mountinfo").splitlines()
            report["mounts"] = [line.split()[4] for line in mountinfo]
            report["procfs_mounts"] = [line.split()[4] for line in mountinfo
                                       if line.split(" - ", 1)[1].split()[0] == "proc"]
            # the network namespace itself, whatever /sys shows
            report["proc_net_dev"] = sorted(
                line.split(":")[0].strip()
                for line in c.read_file(f"/proc/{pid}/net/dev").splitlines()[2:])
            c.run(["kill", "-USR1", str(pid)])
            line = journal_line(c, unit(role), f"LEASEBOX-PROBE-EXEC {nonce} ", timeout=20)
            report.update(json.loads(line.split(" ", 2)[2]))
            report["filters_after"] = int(proc_status(c, pid)["Seccomp_filters"])
            c.run(["kill", "-USR1", str(pid)])
        for role in ROLES:  # Type=exec, Restart=no: inactive once the probe has exited
            wait_for(f"{unit(role)} to end", functools.partial(ended, c, unit(role)), 20)
        return reports
    finally:
        c.run(["rm", "-rf", *(os.path.dirname(drop_in(role)) for role in ROLES)])
        c.systemctl("daemon-reload")
        # the probes pulled in their sockets; stop them so the target starts from scratch
        c.systemctl("stop", *(unit(role) for role in ROLES), *(
            f"leasebox-{s}@{IFACE}.socket" for s in ("io", "io-link", "engine", "control",
                                                     "netconf")), check=False)
        c.systemctl("reset-failed", check=False)


@pytest.fixture(scope="module")
def seen(container: Container) -> Iterator[Seen]:
    c = container
    s = Seen()
    t0 = time.monotonic()
    install(c)
    c.copy_in(PROBE_SRC, PROBE_DST)
    make_usr_read_only(c)
    lab = LeaseLab(c)
    try:
        lab.start_dnsmasq()
        s.leasebox_gid = int(c.run(["getent", "group", "leasebox"]).stdout.split(":")[2])
        s.seconds["setup"] = time.monotonic() - t0

        # 1. netconf, socket-activated by an impostor before anything else talks to it
        t = time.monotonic()
        # (StopWhenUnneeded=: the socket stays while a unit wants it, here a placeholder)
        netconf_socket = f"leasebox-netconf@{IFACE}.socket"
        c.run(["systemd-run", "--unit", "lbx-wants-netconf-socket", "-p",
               f"Wants={netconf_socket}", "-p", f"After={netconf_socket}",
               "sleep", "300"])
        s.netconf_impostor = as_user_past_the_directories(c, IMPOSTOR_ARGV,
                                                          f"{IPC_DIR}/netconf.sock")
        s.netconf_refusal = journal_line(c, unit("netconf"), "refused a connection")
        c.run(["systemctl", "stop", "lbx-wants-netconf-socket"])
        s.seconds["netconf impostor"] = time.monotonic() - t

        # 2. the running daemons, after a lease
        t = time.monotonic()
        c.systemctl("start", f"leasebox@{IFACE}.target")
        s.bound = lab.wait_bound(timeout=30)
        for role in ROLES:
            s.daemons[role] = proc_status(c, lab.main_pid(unit(role)))
        s.forbid_warnings = "\n".join(
            line for role in ROLES
            for line in c.journalctl("-u", unit(role), "-o", "cat", check=False).splitlines()
            if "cannot forbid exec" in line or "cannot refuse exec" in line)
        # (systemd 257 says "disconnected" only as PrivateTmpEx=; PrivateTmp= is a boolean)
        s.private_tmp = {role: c.run(["systemctl", "show", "-p", "PrivateTmp", "-p",
                                      "PrivateTmpEx", unit(role)]).stdout.split()
                         for role in ROLES}
        s.host_tmp = [name for name in c.run(["ls", "-a", "/tmp", "/var/tmp"]).stdout.split()
                      if name.startswith("systemd-private-") and "leasebox-" in name]
        s.seconds["lease + daemons"] = time.monotonic() - t
        t = time.monotonic()
        s.scores = {role: security_score(c, unit(role)) for role in ROLES}
        s.seconds["scores"] = time.monotonic() - t
        t = time.monotonic()
        s.ipc_dirs = c.run(["stat", "-c", "%a %U %G %n", "/run/leasebox-ipc",
                            IPC_DIR]).stdout.splitlines()
        s.nobody = as_user(c, NOBODY_ARGV, *SOCKETS)
        s.group_member = as_user(c, IMPOSTOR_ARGV, *SOCKETS)
        s.engine_impostor = as_user_past_the_directories(c, IMPOSTOR_ARGV,
                                                         f"{IPC_DIR}/engine.sock")
        s.engine_refusal = journal_line(c, unit("engine"), "refused a data connection")
        s.bound_after_impostor = lab.status_line()
        s.seconds["socket access"] = time.monotonic() - t

        # 3. the probes, as the units
        t = time.monotonic()
        c.systemctl("stop", f"leasebox@{IFACE}.target")
        s.probes = run_probes(c)
        s.seconds["probes"] = time.monotonic() - t

        # 4. restored: a lease again with the real daemons
        t = time.monotonic()
        c.systemctl("start", f"leasebox@{IFACE}.target")
        s.rebound = lab.wait_bound(timeout=30)
        s.seconds["rebound"] = time.monotonic() - t
        s.usr_mount = c.run(["findmnt", "-n", "-o", "OPTIONS", "/usr"]).stdout.strip()
        s.seconds["total"] = time.monotonic() - t0
        yield s
    finally:
        c.run(["systemctl", "stop", "lbx-wants-netconf-socket"], check=False)
        report = os.environ.get("LEASEBOX_CONFINEMENT_REPORT")
        if report:
            Path(report).write_text(json.dumps(asdict(s), indent=2, sort_keys=True) + "\n")
        lab.close()
        usr_writable(c)


def caps(status: dict[str, str], name: str) -> int:
    return int(status[name], 16)


def ids(status: dict[str, str], name: str) -> set[int]:
    return {int(v) for v in status[name].split()}


# ---- identity --------------------------------------------------------------------------------

def test_each_daemon_runs_as_a_dynamic_user_netconf_alone_in_the_leasebox_group(
        seen: Seen) -> None:
    for role in ROLES:
        st = seen.daemons[role]
        uids, gids = ids(st, "Uid"), ids(st, "Gid")
        assert len(uids) == 1 and uids <= set(DYNAMIC_UIDS), (role, st["Uid"])
        assert len(gids) == 1 and gids <= set(DYNAMIC_UIDS), (role, st["Gid"])
        # the group opens leasebox-bus's socket, which only netconf talks to
        groups = ids(st, "Groups") if st["Groups"] else set()
        if role == "netconf":
            assert seen.leasebox_gid in groups and groups <= gids | {seen.leasebox_gid}, st
        else:
            assert groups <= gids, (role, st["Groups"])


def test_the_peercred_scheme_holds_between_the_running_daemons(seen: Seen) -> None:
    io, engine, netconf = (seen.daemons[r] for r in ROLES)
    assert ids(engine, "Uid") == ids(netconf, "Uid")
    assert ids(engine, "Gid") != ids(netconf, "Gid")
    assert ids(io, "Gid") == ids(engine, "Gid")
    assert ids(io, "Uid") != ids(engine, "Uid")


def test_each_probe_ran_as_its_unit(seen: Seen) -> None:
    for role in ROLES:
        p = seen.probes[role]
        assert "error" not in p, p
        assert p["uid"] == p["euid"] and p["gid"] == p["egid"]
        assert p["uid"] != 0 and p["uid"] in DYNAMIC_UIDS
        # same name, same dynamic uid: the probe is the daemon's identity
        assert {p["uid"]} == ids(seen.daemons[role], "Uid"), role
        assert {p["gid"]} == ids(seen.daemons[role], "Gid"), role
        assert p["closed_fds"] >= 1, "the unit's sockets were passed in and closed"
        # what was read at /proc/PID was read while it waited, not after its wait ran out
        assert p["signalled"] is True, role
    io, engine, netconf = (seen.probes[r] for r in ROLES)
    assert seen.leasebox_gid in netconf["groups"] and seen.leasebox_gid not in io["groups"]
    # no supplementary group but its own (the engine has PrivateUsers=yes: any other would
    # show as the overflow gid)
    assert set(engine["groups"]) <= {engine["gid"]} and set(io["groups"]) <= {io["gid"]}
    assert engine["uid"] == netconf["uid"] and engine["gid"] != netconf["gid"]
    assert io["gid"] == engine["gid"] and io["uid"] != engine["uid"]


# ---- capabilities --------------------------------------------------------------------------

def test_capabilities_at_start(seen: Seen) -> None:
    expected = {"engine": 0, "io": 1 << CAP_NET_RAW, "netconf": 1 << CAP_NET_ADMIN}
    for role, want in expected.items():
        st = seen.probes[role]["status"]
        got = {name: caps(st, name) for name in ("CapBnd", "CapPrm", "CapEff", "CapAmb")}
        assert got == dict.fromkeys(got, want), (role, got)
        assert caps(st, "CapInh") in (0, want), role
        assert st["NoNewPrivs"] == "1", role


def test_io_holds_no_capability_once_running(seen: Seen) -> None:
    st = seen.daemons["io"]
    assert [caps(st, n) for n in ("CapPrm", "CapEff", "CapInh", "CapAmb")] == [0, 0, 0, 0]
    assert caps(st, "CapBnd") == 1 << CAP_NET_RAW  # the unit's bound; io cannot lower it
    assert caps(seen.daemons["engine"], "CapBnd") == 0
    assert caps(seen.daemons["netconf"], "CapEff") == 1 << CAP_NET_ADMIN


# ---- engine ----------------------------------------------------------------------------------

def test_engine_has_no_network(seen: Seen) -> None:
    p = seen.probes["engine"]
    assert p["sockets"] == {"AF_INET": "EAFNOSUPPORT", "AF_INET6": "EAFNOSUPPORT",
                            "AF_PACKET": "EAFNOSUPPORT", "AF_NETLINK": "EAFNOSUPPORT",
                            "AF_UNIX": "ok"}
    assert p["proc_net_dev"] == ["lo"]  # its own network namespace
    # and /sys, which would show the system's interfaces, is not there for it at all
    assert p["sys_class_net"] == "EACCES"
    assert seen.probes["io"]["proc_net_dev"] == ["lo", IFACE]  # what it would have seen
    assert p["rtm_newaddr"] == "socket: EAFNOSUPPORT"


def test_no_per_interface_unit_sees_sysfs(seen: Seen) -> None:
    # io and netconf read their link over rtnetlink; /sys would list every interface
    for role in ("io", "netconf"):
        assert seen.probes[role]["sys_class_net"] == "EACCES", role


def test_no_unit_can_read_the_host_secrets(seen: Seen) -> None:
    for role in ROLES:
        reads = seen.probes[role]["reads"]
        # the minimal root's /etc holds only etc/leasebox; PID 1's root is hidden by
        # ProtectProc=invisible (PID 1 belongs to root) in the engine, and io and netconf
        # have no /proc at all
        hidden = "ENOENT" if role == "engine" else "EACCES"
        assert reads["/etc/shadow"] == "ENOENT", role
        assert reads["/proc/1/root/etc/shadow"] == hidden, role
        assert reads["/proc/1/environ"] == hidden, role


def test_io_and_netconf_have_no_proc(seen: Seen) -> None:
    # the engine keeps it: systemd writes its user namespace's maps there (PrivateUsers=)
    assert seen.probes["engine"]["proc_self"] == "ok"
    assert seen.probes["io"]["proc_self"] == "EACCES"
    assert seen.probes["netconf"]["proc_self"] == "EACCES"
    assert seen.probes["engine"]["procfs_mounts"] == ["/proc"]
    assert seen.probes["io"]["procfs_mounts"] == seen.probes["netconf"]["procfs_mounts"] == []


# PrivateIPC=yes gives each unit a fresh mqueue instance of its own IPC namespace, and
# mq_open(2) (in @system-service) reaches it without the path: nothing to gain by hiding it.
PRIVATE_ANYWAY = {"/dev/mqueue"}


def writable(seen: Seen, role: str) -> set[str]:
    return {d for d, result in seen.probes[role]["writes"].items()
            if result == "ok" and d not in PRIVATE_ANYWAY}


def test_engine_writes_only_its_state_directory(seen: Seen) -> None:
    assert writable(seen, "engine") == {f"/var/lib/leasebox/{IFACE}"}
    writes = seen.probes["engine"]["writes"]
    for d in ("/", "/usr", "/var/lib", "/run", IPC_DIR, "/tmp", "/var/tmp"):
        assert writes[d] == "EROFS", (d, writes[d])
    for role in ROLES:  # the system's /dev/shm, which every local user can write
        assert seen.probes[role]["writes"]["/dev/shm"] == "EACCES", role


def test_io_writes_nowhere_and_netconf_only_its_runtime_directory(seen: Seen) -> None:
    assert writable(seen, "io") == set()
    assert writable(seen, "netconf") == {f"/run/leasebox-netconf/{IFACE}"}


# ---- io and netconf --------------------------------------------------------------------------

def test_io_cannot_configure_the_link_nor_use_ip_sockets(seen: Seen) -> None:
    p = seen.probes["io"]
    # no netlink socket of its own at all (link events come on the socket unit's)
    assert p["rtm_newaddr"] == "socket: EAFNOSUPPORT"
    assert p["sockets"]["AF_INET"] == "EAFNOSUPPORT"
    assert p["sockets"]["AF_INET6"] == "EAFNOSUPPORT"
    assert p["sockets"]["AF_PACKET"] == "ok"  # what CAP_NET_RAW is for
    assert p["sockets"]["AF_NETLINK"] == "EAFNOSUPPORT"


def test_netconf_configures_but_has_no_packet_sockets(seen: Seen) -> None:
    p = seen.probes["netconf"]
    assert p["sockets"]["AF_PACKET"] == "EAFNOSUPPORT"
    assert p["sockets"]["AF_INET"] == "EAFNOSUPPORT"
    assert p["sockets"]["AF_NETLINK"] == "ok"
    assert (p["rtm_newaddr"], p["rtm_deladdr"]) == ("ok", "ok")


# ---- exec ------------------------------------------------------------------------------------

def test_forbid_exec_kills_a_forked_child_in_every_unit(seen: Seen) -> None:
    for role in ROLES:
        p = seen.probes[role]
        assert p["exec_before"] == "exit 3", role  # exec itself works in the unit ...
        assert p["other_threads"] is False, role  # in io and netconf, unshare(2) told
        assert p["forbid_exec"] is True, role
        assert p["filters_after"] == p["filters_before"] + 1, role
        assert p["exec_after"] == "SIGSYS", role  # ... until the filter is in


def test_engine_and_netconf_cannot_signal(seen: Seen) -> None:
    """They share a uid, and kill permission goes by uid: the units deny sending signals."""
    assert seen.probes["engine"]["kill"] == "EPERM"
    assert seen.probes["netconf"]["kill"] == "EPERM"
    assert seen.probes["io"]["kill"] == "ok"  # the same probe where the filter allows it


def test_the_running_daemons_carry_their_own_exec_filter(seen: Seen) -> None:
    assert seen.forbid_warnings == ""
    for role in ROLES:
        st = seen.daemons[role]
        systemd_filters = seen.probes[role]["filters_before"]
        assert systemd_filters > 0, role
        # the exec ban; io also locks its send path, netconf refuses exec while it loads
        # pyroute2 (whose import would run `uname` and `file`) before the ban
        own = 2 if role in ("io", "netconf") else 1
        assert int(st["Seccomp_filters"]) == systemd_filters + own, (role, st)
        assert st["Seccomp"] == "2" and st["Threads"] == "1", (role, st)


# ---- who may connect -------------------------------------------------------------------------

def test_a_local_user_cannot_reach_any_socket(seen: Seen) -> None:
    who = seen.nobody
    assert (who["uid"], who["gid"], who["groups"], who["CapEff"]) == \
        (NOBODY, NOBODY, [], "0000000000000000")
    assert who["result"] == {path: "connect EACCES" for path in SOCKETS}


def test_each_unit_sees_only_the_socket_it_connects_to(seen: Seen) -> None:
    sees = {role: (seen.probes[role]["ipc_dir"], seen.probes[role]["run_dir"]) for role in ROLES}
    assert sees == {"io": (["engine.sock"], "ENOENT"),
                    "engine": (["netconf.sock"], ["control.sock"]),  # its own, for its mode
                    "netconf": ("ENOENT", "ENOENT")}
    # each bound as that one file, not as the host's directory
    assert seen.probes["io"]["ipc_dir_file_bound"] == {"engine.sock": True}
    assert seen.probes["engine"]["ipc_dir_file_bound"] == {"netconf.sock": True}
    assert seen.probes["engine"]["run_dir_file_bound"] == {"control.sock": True}


def test_only_root_may_enter_the_directories_of_the_sockets(seen: Seen) -> None:
    assert seen.ipc_dirs == [f"700 root root {d}" for d in ("/run/leasebox-ipc", IPC_DIR)]


def test_the_leasebox_group_opens_no_socket_either(seen: Seen) -> None:
    # the group is for leasebox-bus's socket: the per-interface ones are root's to reach
    who = seen.group_member
    assert who["groups"] == [seen.leasebox_gid] and who["CapEff"] == "0000000000000000"
    assert who["result"] == {path: "connect EACCES" for path in SOCKETS}


def test_engine_refuses_a_leasebox_group_member_that_is_not_io(seen: Seen) -> None:
    who = seen.engine_impostor
    assert who["groups"] == [seen.leasebox_gid] and who["CapEff"] == "0000000000000000"
    assert who["result"] == {f"{IPC_DIR}/engine.sock": "EOF"}  # accepted, then closed
    assert f"refused a data connection from pid {who['pid']} uid {NOBODY} gid {NOBODY}" \
        in seen.engine_refusal
    assert seen.bound_after_impostor.startswith("Bound ")  # io's connection untouched


def test_netconf_refuses_a_leasebox_group_member_that_is_not_the_engine(seen: Seen) -> None:
    who = seen.netconf_impostor
    assert who["groups"] == [seen.leasebox_gid]
    assert who["result"] == {f"{IPC_DIR}/netconf.sock": "EOF"}
    assert f"refused a connection from pid {who['pid']} uid {NOBODY} gid {NOBODY}" \
        in seen.netconf_refusal


# ---- scores and restoration ------------------------------------------------------------------

def test_exposure_scores_of_the_running_instances(seen: Seen) -> None:
    for role, limit in MAX_SCORE.items():
        assert seen.scores[role] <= limit, (role, seen.scores)


def test_private_tmp_is_what_dynamic_user_implies(seen: Seen, suite: str) -> None:
    """DynamicUser= implies PrivateTmp=: yes on systemd 252, and on 257 "disconnected", a
    tmpfs of the unit's own with no directory in the host's /tmp or /var/tmp (which an
    explicit PrivateTmp=yes would ask for again, and a full /tmp would fail the start)."""
    for role, shown in seen.private_tmp.items():
        if suite == "bookworm":
            assert shown == ["PrivateTmp=yes"], role
        else:
            assert sorted(shown) == ["PrivateTmp=yes", "PrivateTmpEx=disconnected"], role
    if suite != "bookworm":
        assert seen.host_tmp == []


def test_no_unit_sees_its_root_again_under_usr(seen: Seen) -> None:
    # The root is below /usr, bound into it without its submounts (norbind): a recursive
    # bind would repeat each of the unit's mounts below /usr/lib/leasebox/root
    for role in ROLES:
        mounts = seen.probes[role]["mounts"]
        assert isinstance(mounts, list) and "/usr" in mounts, (role, mounts)
        again = [m for m in mounts if m == ROOT or m.startswith(ROOT + "/")]
        assert again == [], (role, again)


def test_a_lease_before_and_after_the_probes(seen: Seen) -> None:
    assert seen.bound.startswith("Bound ")
    assert seen.rebound.startswith("Bound ")


def test_every_unit_ran_on_a_read_only_usr(seen: Seen) -> None:
    # The package ships the fixed mount points (/var/tmp, /etc/leasebox...); the bind
    # mounts below /run (journal socket, the sockets between the processes) and the
    # engine's state directory below /var have theirs in a tmpfs of the unit's own
    # (TemporaryFileSystem=/run:ro /var:ro). With /usr read-only all along, a unit that
    # needed one more in the root could not have started: the leases above say they all
    # did (test_lifecycle checks, with /usr writable, that systemd made nothing there).
    assert seen.usr_mount.split(",")[0] == "ro", seen.usr_mount
    assert seen.bound.startswith("Bound ") and seen.rebound.startswith("Bound ")
