"""The benchmark's measuring hand inside the container (stdlib only; the container's python3).

Runs in the container's namespaces, so it sees the client's interfaces directly: addresses
and carrier through an rtnetlink subscription (what `ip monitor address link` shows, event
by event, no polling), DHCP messages on the client's link through a packet socket. Every
time is CLOCK_MONOTONIC in seconds, the clock journald's __MONOTONIC_TIMESTAMP and systemd's
*TimestampMonotonic use too (no time namespace here), so the harness can line them up.

    agent.py acquire --iface veth0 [--iface ...] [--capture veth0] --timeout 20 -- CMD...
        Start CMD and time it until every interface has a global IPv4 address.
    agent.py flap --iface veth0 --peer-ns srv --peer p0 [--settle 1] [--status-unit U]
        Take the veth peer down, wait until the carrier is gone (and the client noticed),
        bring it up and time what the client does: first DHCP message, ACK, address.
    agent.py procs [--unit U ...] [--match REGEX] [--interval S]
        PIDs of a client, their RSS/PSS (smaps_rollup) and context switches/CPU over S s.

Each prints one JSON object on stdout. Every wait is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if.h>
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTMGRP_LINK, RTMGRP_IPV4_IFADDR = 0x1, 0x10
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFF_LOWER_UP = 0x10000
RT_SCOPE_UNIVERSE = 0
NLMSGHDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
RTATTR = struct.Struct("=HH")

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
DHCP_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK",
              7: "RELEASE", 8: "INFORM"}


def now() -> float:
    return time.monotonic()


# ---- rtnetlink ---------------------------------------------------------------------------


def _attrs(data: bytes, offset: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size:
            break
        out[kind] = data[offset + RTATTR.size:offset + length]
        offset += (length + 3) & ~3
    return out


class Rtnl:
    """Current global IPv4 addresses and carrier per ifindex, kept up to date by events."""

    def __init__(self) -> None:
        self.events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                    socket.NETLINK_ROUTE)
        self.events.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.events.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR))
        self.addrs: dict[int, set[str]] = {}
        self.carrier: dict[int, bool] = {}
        # subscribed first, then dumped: no change falls between the two
        self._dump(RTM_GETLINK, IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
        self._dump(RTM_GETADDR, IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0))

    def fileno(self) -> int:
        return self.events.fileno()

    def _dump(self, kind: int, body: bytes) -> None:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                           socket.NETLINK_ROUTE) as s:
            s.settimeout(5)
            s.send(NLMSGHDR.pack(NLMSGHDR.size + len(body), kind,
                                 NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body)
            while True:
                if not self._parse(s.recv(1 << 16)):
                    return

    def pump(self) -> list[tuple[str, int]]:
        """Read what is queued; return the changes as (what, ifindex)."""
        changes: list[tuple[str, int]] = []
        while True:
            try:
                data = self.events.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return changes
            self._parse(data, changes)

    def _parse(self, data: bytes, changes: list[tuple[str, int]] | None = None) -> bool:
        """Apply every message in ``data``; False once the dump is done."""
        offset = 0
        while offset + NLMSGHDR.size <= len(data):
            length, kind, _flags, _seq, _pid = NLMSGHDR.unpack_from(data, offset)
            if length < NLMSGHDR.size:
                break
            body = offset + NLMSGHDR.size
            if kind in (NLMSG_DONE, NLMSG_ERROR):
                return False
            if kind in (RTM_NEWLINK, RTM_DELLINK):
                _fam, _type, index, flags, _change = IFINFOMSG.unpack_from(data, body)
                up = kind == RTM_NEWLINK and bool(flags & IFF_LOWER_UP)
                if self.carrier.get(index) != up:
                    self.carrier[index] = up
                    if changes is not None:
                        changes.append(("carrier-up" if up else "carrier-down", index))
            elif kind in (RTM_NEWADDR, RTM_DELADDR):
                family, plen, _fl, scope, index = IFADDRMSG.unpack_from(data, body)
                attrs = _attrs(data[:offset + length], body + IFADDRMSG.size)
                raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
                if family == socket.AF_INET and scope == RT_SCOPE_UNIVERSE and raw:
                    addr = f"{socket.inet_ntoa(raw)}/{plen}"
                    have = self.addrs.setdefault(index, set())
                    if kind == RTM_NEWADDR and addr not in have:
                        have.add(addr)
                        if changes is not None:
                            changes.append(("addr-add", index))
                    elif kind == RTM_DELADDR and addr in have:
                        have.discard(addr)
                        if changes is not None:
                            changes.append(("addr-del", index))
            offset += (length + 3) & ~3
        return True


# ---- DHCP on the wire --------------------------------------------------------------------


class Capture:
    """DHCP messages in and out of one interface, stamped with the kernel's receive time
    (SO_TIMESTAMPNS, CLOCK_REALTIME, turned into CLOCK_MONOTONIC): the order against the
    netlink events does not depend on when this process got to read them."""

    def __init__(self, ifname: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((ifname, ETH_P_ALL))
        self.sock.setblocking(False)
        self.offset = realtime_offset()
        self.seen: list[dict[str, Any]] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def pump(self) -> list[dict[str, Any]]:
        new: list[dict[str, Any]] = []
        while True:
            try:
                frame, anc, _flags, addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(16))
            except BlockingIOError:
                break
            except OSError:
                continue  # ENETDOWN, reported once when the link goes down
            msg = dhcp_message(frame)
            if msg is None:
                continue
            msg["t"] = now()
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack_from("=qq", data)
                    msg["t"] = sec + nsec / 1e9 - self.offset
            msg["dir"] = "out" if addr[2] == PACKET_OUTGOING else "in"
            new.append(msg)
        self.seen += new
        return new


def realtime_offset() -> float:
    """CLOCK_REALTIME - CLOCK_MONOTONIC, from the tightest of a few paired readings."""
    best = (1.0, 0.0)
    for _ in range(5):
        a = time.monotonic()
        r = time.clock_gettime(time.CLOCK_REALTIME)
        b = time.monotonic()
        best = min(best, (b - a, r - (a + b) / 2))
    return best[1]


def realtime_priority() -> None:
    """Wake up first when an event comes: the times taken here stay close to the kernel's."""
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))


def dhcp_message(frame: bytes) -> dict[str, Any] | None:
    if len(frame) < 14 + 20 + 8 + 240 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ihl = (frame[14] & 0x0F) * 4
    udp = 14 + ihl
    sport, dport = struct.unpack_from("!HH", frame, udp)
    if {sport, dport} != {67, 68}:
        return None
    bootp = udp + 8
    if frame[bootp + 236:bootp + 240] != b"\x63\x82\x53\x63":
        return None
    xid = struct.unpack_from("!I", frame, bootp + 4)[0]
    i = bootp + 240
    while i + 1 < len(frame) and frame[i] != 255:
        if frame[i] == 0:
            i += 1
            continue
        code, length = frame[i], frame[i + 1]
        if code == 53 and length == 1 and i + 2 < len(frame):
            return {"type": DHCP_TYPES.get(frame[i + 2], str(frame[i + 2])),
                    "xid": f"{xid:08x}",
                    "yiaddr": socket.inet_ntoa(frame[bootp + 16:bootp + 20])}
        i += 2 + length
    return None


# ---- commands ----------------------------------------------------------------------------


def cmd_acquire(args: argparse.Namespace) -> dict[str, Any]:
    realtime_priority()
    names: list[str] = args.iface
    index = {socket.if_nametoindex(n): n for n in names}
    rtnl = Rtnl()
    already = [index[i] for i in index if rtnl.addrs.get(i)]
    if already and not args.allow_present:
        return {"error": f"address already present on {already}"}
    cap = Capture(args.capture) if args.capture else None
    got: dict[str, float] = {}
    addresses: dict[str, str] = {}
    # not a pipe: a client that daemonizes may keep its stderr open for good
    errfile = tempfile.TemporaryFile()
    cgroups: dict[str, Any] = {"start": cgroup_usage()}
    t0 = now()
    proc = subprocess.Popen(args.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=errfile)
    pidfd = os.pidfd_open(proc.pid)
    cmd_exit: float | None = None
    deadline = t0 + args.timeout
    watch: list[Any] = [rtnl, pidfd] + ([cap] if cap else [])
    while len(got) < len(index) or (cmd_exit is None and now() < deadline):
        left = deadline - now()
        if left <= 0:
            break
        ready, _, _ = select.select(watch, [], [], left)
        if pidfd in ready:
            cmd_exit = now()
            proc.wait()
            watch.remove(pidfd)
        if cap is not None and cap in ready:
            cap.pump()
        if rtnl in ready:
            for what, i in rtnl.pump():
                if what == "addr-add" and i in index and index[i] not in got:
                    got[index[i]] = now()
                    addresses[index[i]] = sorted(rtnl.addrs[i])[0]
                    if len(got) == len(index):  # the container's CPU up to the last address
                        cgroups["addressed"] = cgroup_usage()
        if len(got) == len(index) and cmd_exit is None and not args.wait_exit:
            break
        if cmd_exit is not None and proc.returncode != 0:
            break  # the start command failed: nothing is coming
    if cap is not None:
        end = now() + args.linger
        while now() < end:
            select.select([cap], [], [], max(0.0, end - now()))
            cap.pump()
    os.close(pidfd)
    errfile.seek(0)
    stderr = errfile.read()[-2000:].decode(errors="replace")
    errfile.close()
    return {
        "t0": t0, "cmd_exit": cmd_exit, "rc": proc.returncode, "stderr": stderr,
        "addr_at": got, "address": addresses, "timeout": len(got) < len(index),
        "wire": cap.seen if cap else [],
        "cgroup_usec": cgroups,
    }


def _status(unit: str) -> str:
    r = subprocess.run(["systemctl", "show", "-p", "StatusText", "--value", unit],
                       capture_output=True, text=True, timeout=10)
    return r.stdout.strip()


def cmd_flap(args: argparse.Namespace) -> dict[str, Any]:
    realtime_priority()
    ifindex = socket.if_nametoindex(args.iface)
    rtnl = Rtnl()
    cap = Capture(args.iface)
    if not rtnl.addrs.get(ifindex):
        return {"error": f"no address on {args.iface} before the flap"}
    if not rtnl.carrier.get(ifindex):
        return {"error": f"no carrier on {args.iface} before the flap"}
    result: dict[str, Any] = {"address_before": sorted(rtnl.addrs[ifindex])}
    ip = ["ip", "-n", args.peer_ns, "link", "set", args.peer]

    def wait(cond: Any, timeout: float) -> float | None:
        end = now() + timeout
        while True:
            if cond():
                return now()
            left = end - now()
            if left <= 0:
                return None
            watched: list[Any] = [rtnl, cap]
            ready, _, _ = select.select(watched, [], [], min(left, 0.02))
            if cap in ready:
                cap.pump()
            if rtnl in ready:
                for what, i in rtnl.pump():
                    if i == ifindex and what == "addr-del" and not rtnl.addrs.get(i):
                        result.setdefault("address_lost_at", now())

    # Not subprocess.run: the carrier event must be read the moment it comes, not when
    # `ip` has exited (this process runs at real-time priority while it waits).
    downer = subprocess.Popen([*ip, "down"], stdin=subprocess.DEVNULL)
    t_down = wait(lambda: not rtnl.carrier.get(ifindex), 5)
    if t_down is None:
        return {"error": "carrier did not go down"}
    result["carrier_down"] = t_down
    if args.status_unit:
        seen = wait(lambda: _status(args.status_unit).startswith(args.status_prefix), 5)
        result["client_saw_loss"] = None if seen is None else seen - t_down
    wait(lambda: False, args.settle)
    result["address_during_down"] = sorted(rtnl.addrs.get(ifindex, ()))
    mark = len(cap.seen)
    downer.wait(5)
    result["up_command"] = now()
    upper = subprocess.Popen([*ip, "up"], stdin=subprocess.DEVNULL)
    t_up = wait(lambda: rtnl.carrier.get(ifindex), 5)
    upper.wait(5)
    if t_up is None:
        return {"error": "carrier did not come back"}
    result["carrier_up"] = t_up

    def after_up() -> list[dict[str, Any]]:
        return cap.seen[mark:]

    # Clients that do not watch the carrier send nothing: give up on them after --quiet.
    first = wait(lambda: after_up(), args.quiet)
    acked = None
    if first is not None:
        acked = wait(lambda: any(m["type"] in ("ACK", "NAK") for m in after_up()),
                     args.timeout)
    addressed = wait(lambda: bool(rtnl.addrs.get(ifindex)), args.timeout if acked else 0.0)
    if addressed is not None and "address_lost_at" not in result:
        addressed = t_up  # never left: usable the moment the carrier is back
    wait(lambda: False, args.linger)
    result.update({
        "address_at": addressed, "address_after": sorted(rtnl.addrs.get(ifindex, ())),
        "wire": after_up(),
    })
    return result


def _unit_pids(unit: str) -> set[int]:
    r = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", unit],
                       capture_output=True, text=True, timeout=10)
    cg = r.stdout.strip()
    pids: set[int] = set()
    if not cg:
        return pids
    for dirpath, _dirs, _files in os.walk(_cgroup2_root() / cg.lstrip("/")):
        with contextlib.suppress(OSError):
            pids.update(map(int, Path(dirpath, "cgroup.procs").read_text().split()))
    return pids


def _match_pids(pattern: str) -> set[int]:
    rx = re.compile(pattern)
    me = os.getpid()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            if argv != [b""] and rx.search(" ".join(a.decode(errors="replace") for a in argv)):
                found.add(int(entry.name))
    return found


def _proc_sample(pid: int) -> dict[str, Any] | None:
    base = Path(f"/proc/{pid}")
    try:
        argv = (base / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        sample: dict[str, Any] = {"pid": pid, "comm": (base / "comm").read_text().strip(),
                                  "cmd": " ".join(a.decode(errors="replace")
                                                  for a in argv)[:200]}
        for line in (base / "smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Rss", "Pss"):
                sample[key.lower() + "_kb"] = int(value.split()[0])
        ctx = cpu_ns = 0
        for task in (base / "task").iterdir():
            with contextlib.suppress(OSError):
                for line in (task / "status").read_text().splitlines():
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt")):
                        ctx += int(line.split()[1])
                # the scheduler's own count of the thread's time on a CPU, in ns: exact,
                # where utime and stime are 10 ms ticks
                cpu_ns += int((task / "schedstat").read_text().split()[0])
        sample["ctxsw"] = ctx
        stat = (base / "stat").read_text().rsplit(")", 1)[1].split()
        sample["cpu_ticks"] = int(stat[11]) + int(stat[12])  # utime + stime
        sample["sys_ticks"] = int(stat[12])
        if cpu_ns or not sample["cpu_ticks"]:  # a kernel without sched_info shows 0 there
            sample["cpu_ns"] = cpu_ns
        return sample
    except (OSError, ValueError, IndexError):
        return None


def _cgroup2_root() -> Path:
    """The container's cgroup v2 hierarchy: /sys/fs/cgroup, or its unified part (hybrid)."""
    top = Path("/sys/fs/cgroup")
    return top if (top / "cgroup.controllers").exists() else top / "unified"


def cgroup_usage() -> dict[str, int]:
    """CPU time used so far (cpu.stat usage_usec, exact: not ticks) by the container's
    cgroups: its root ("/"), each cgroup under it and each under system.slice; empty
    without cgroup v2. A slice's figure includes every unit that ran in it and has gone (a
    template's instances, their helpers, systemd's set-up between fork and exec). This
    agent, entered with nsenter, is in none of them."""
    root = _cgroup2_root()
    usec: dict[str, int] = {}
    for cg in [root, *root.glob("*/"), *root.glob("system.slice/*/")]:
        with contextlib.suppress(OSError, ValueError):
            for line in (cg / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    usec[str(cg.relative_to(root)) if cg != root else "/"] = int(line.split()[1])
    return usec


def cmd_procs(args: argparse.Namespace) -> dict[str, Any]:
    def pids() -> set[int]:
        found: set[int] = set()
        for unit in args.unit:
            found |= _unit_pids(unit)
        if args.match:
            found |= _match_pids(args.match)
        found |= set(args.pid)
        return found

    first = {p: s for p in sorted(pids()) if (s := _proc_sample(p)) is not None}
    t_first = now()
    result: dict[str, Any] = {"procs": list(first.values()), "interval": args.interval,
                              "ticks_per_s": os.sysconf("SC_CLK_TCK")}
    if args.interval > 0:
        time.sleep(args.interval)
        second = {p: s for p in sorted(pids()) if (s := _proc_sample(p)) is not None}
        result["interval"] = now() - t_first
        result["ctxsw_delta"] = sum(second[p]["ctxsw"] - first[p]["ctxsw"]
                                    for p in second if p in first)
        result["cpu_ticks_delta"] = sum(second[p]["cpu_ticks"] - first[p]["cpu_ticks"]
                                        for p in second if p in first)
        if all("cpu_ns" in s for s in (*first.values(), *second.values())):
            result["cpu_ns_delta"] = sum(second[p]["cpu_ns"] - first[p]["cpu_ns"]
                                         for p in second if p in first)
        result["pids_changed"] = sorted(set(first) ^ set(second))
    return result


# What a start costs before leasebox does anything: each line a fresh `python3 -IS -c`,
# with dist-packages on sys.path, as the installed programs run (see the Makefile).
# netconf keeps readline out before pyroute2 (see netconf/rtnl.py); so does the floor.
NO_READLINE = "import sys; sys.modules.setdefault('readline', None); "
PYLIB = "import sys; sys.path.append('/usr/lib/python3/dist-packages'); "
FLOOR = {
    "python3 -IS, nothing imported": "pass",
    "pyroute2 whole (from pyroute2 import IPRoute)": NO_READLINE + "from pyroute2 import IPRoute",
    "pyroute2 as netconf loads it (its message classes only)":
        "from leasebox.netconf.rtnl import import_messages; import_messages()",
    "io: its program's imports": "import leasebox.io.main",
    "engine: its program's imports": "import leasebox.engine.main",
    "netconf: its program's imports and pyroute2":
        "import leasebox.netconf.main; from leasebox.netconf.rtnl import import_messages; "
        "import_messages()",
}
# _exit: a daemon does not exit in its cold start, so neither does the floor (the
# interpreter's clean-up of what was imported costs another 4-6 ms of CPU). posix, not os:
# python3 -IS has loaded posix but not os, whose import would count ~1 ms to a bare line.
ANON = ("; print([int(x.split()[1]) for x in open('/proc/self/status') "
        "if x.startswith('RssAnon')][0], flush=True); import posix; posix._exit(0)")


def cmd_floor(args: argparse.Namespace) -> dict[str, Any]:
    """Wall time, CPU time and anonymous RSS of each FLOOR line, `runs` times in turn."""
    samples: dict[str, list[dict[str, float]]] = {k: [] for k in FLOOR}
    for _ in range(args.runs):
        for label, stmt in FLOOR.items():
            # getrusage, not os.times(): the children's CPU to the microsecond (the kernel
            # scales the tick-sampled user/system split to the exact run time), where
            # times(2) counts 10 ms ticks
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            r = subprocess.run(["python3", "-IS", "-c", PYLIB + stmt + ANON], capture_output=True,
                               text=True, timeout=60, check=False)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r.returncode != 0:
                return {"error": f"{label}: {r.stderr[-500:]}"}
            cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            samples[label].append({"wall_ms": wall * 1000.0, "cpu_ms": cpu * 1000.0,
                                   "anon_kib": float(r.stdout.split()[-1])})
    return {"runs": args.runs, "samples": samples}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd: list[str] = []
    if "--" in argv:
        cmd = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser(prog="agent.py")
    sub = p.add_subparsers(dest="action", required=True)
    a = sub.add_parser("acquire")
    a.add_argument("--iface", action="append", required=True)
    a.add_argument("--capture")
    a.add_argument("--timeout", type=float, default=20.0)
    a.add_argument("--linger", type=float, default=0.0)
    a.add_argument("--wait-exit", action="store_true", help="also wait for CMD to exit")
    a.add_argument("--allow-present", action="store_true")
    f = sub.add_parser("flap")
    f.add_argument("--iface", required=True)
    f.add_argument("--peer-ns", required=True)
    f.add_argument("--peer", required=True)
    f.add_argument("--settle", type=float, default=1.0)
    f.add_argument("--status-unit")
    f.add_argument("--status-prefix", default="No carrier")
    f.add_argument("--quiet", type=float, default=3.0)
    f.add_argument("--timeout", type=float, default=10.0)
    f.add_argument("--linger", type=float, default=0.0)
    fl = sub.add_parser("floor")
    fl.add_argument("--runs", type=int, default=5)
    r = sub.add_parser("procs")
    r.add_argument("--unit", action="append", default=[])
    r.add_argument("--match")
    r.add_argument("--pid", type=int, action="append", default=[])
    r.add_argument("--interval", type=float, default=0.0)
    args = p.parse_args(argv)
    if args.action == "acquire":
        if not cmd:
            p.error("acquire needs a command after --")
        args.cmd = cmd
        out = cmd_acquire(args)
    elif args.action == "flap":
        out = cmd_flap(args)
    elif args.action == "floor":
        out = cmd_floor(args)
    else:
        out = cmd_procs(args)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
