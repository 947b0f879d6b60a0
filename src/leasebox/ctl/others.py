"""Other programs that manage the interface, for `leaseboxctl status`: systemd-networkd (a
.network file that matches it) and DHCP clients left running (dhclient, dhcpcd, udhcpc).

Only one client may manage an interface (README, "Coexistence"): two fight over its
address and routes, and systemd-resolved refuses leasebox's DNS for a link networkd
manages. leasebox itself notices another client only when a server answers it (a reply
to a transaction id it never sent); this looks before, from the outside, as root sees
the machine: /proc, and networkctl when networkd runs. Nothing here starts anything:
networkctl is asked only while a networkd process runs (on Debian 12 it asks networkd
over D-Bus, which would start an enabled networkd that is not running).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

PROC = Path("/proc")
NETWORKCTL = "networkctl"
NETWORKD_COMM = "systemd-network"  # its /proc/PID/comm (15 characters)
# the comm of a process whose command line is worth reading: a DHCP client's (a title set
# by dhcpcd keeps its comm; busybox's applets have theirs when run by their symlink)
CANDIDATES = frozenset({"dhclient", "dhcpcd", "udhcpc", "busybox", NETWORKD_COMM})
# networkd's AdministrativeState= for a link it configures (or tried to): not "unmanaged"
# (no .network file matched, or [Link] Unmanaged=yes), nor "pending"/"initialized" (not
# looked at yet), nor "linger" (gone)
MANAGED = frozenset({"configuring", "configured", "failed"})
MAX_PROCESSES = 100_000  # /proc entries looked at, at most
MAX_CMDLINE = 4096
TIMEOUT = 5.0
# udhcpc's options that take a value (in a cluster of short options, what follows is it)
UDHCPC_VALUED = frozenset("ispcVHhFrOxTtA")


def _read(path: Path, size: int) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:  # gone meanwhile, or not ours to read
        return None


def _netns(proc: Path, pid: str) -> str | None:
    try:
        return os.readlink(proc / pid / "ns" / "net")
    except OSError:  # gone, or another user's (only root may look)
        return None


def processes(proc: Path = PROC) -> list[tuple[int, list[str], str]]:
    """(pid, argv, comm) of the processes in this network namespace (where the interface
    is: a container's own eth0 is another) that may be a DHCP client or networkd, this
    one left out. Only their command lines are read: reading one waits for the process's
    memory lock, which a process stuck in a page fault (a hung NFS mount) holds."""
    out: list[tuple[int, list[str], str]] = []
    here = _netns(proc, "self")
    try:
        entries = os.scandir(proc)
    except OSError:
        return out
    with entries:
        for n, entry in enumerate(entries):
            if n >= MAX_PROCESSES:
                break
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            comm = (_read(proc / entry.name / "comm", 64) or b"").decode("utf-8", "replace")
            if comm.strip() not in CANDIDATES:
                continue
            if here is not None and _netns(proc, entry.name) != here:
                continue  # another namespace's, or not known to be this one's
            raw = _read(proc / entry.name / "cmdline", MAX_CMDLINE)
            if not raw:  # a kernel thread, or gone
                continue
            argv = raw.decode("utf-8", "replace").rstrip("\0").split("\0")
            out.append((int(entry.name), argv, comm.strip()))
    return out


def _udhcpc_interface(args: list[str]) -> str:
    """The interface udhcpc runs on: -i IFACE, -iIFACE, -fi IFACE, --interface[=]IFACE;
    else eth0, its default."""
    for i, arg in enumerate(args):
        if arg.startswith("--interface="):
            return arg.split("=", 1)[1]
        if arg == "--interface" and i + 1 < len(args):
            return args[i + 1]
        if not arg.startswith("-") or arg.startswith("--"):
            continue
        for j, flag in enumerate(arg[1:], start=2):  # a cluster of short options
            if flag in UDHCPC_VALUED:
                value = arg[j:] or (args[i + 1] if i + 1 < len(args) else "")
                if flag == "i":
                    return value
                break
    return "eth0"


def dhcp_client(iface: str, argv: list[str]) -> str | None:
    """The DHCPv4 client `argv` is, when it runs on `iface`: dhclient and dhcpcd name their
    interfaces among their arguments (dhcpcd's per-interface process in its title,
    "dhcpcd: eth0 [ip4]"; its privilege-separation helpers' titles start with "[" and are
    not counted), udhcpc after -i. None for anything else, and for DHCPv6 alone."""
    first = argv[0].split() if argv else []
    if not first:  # (an empty or blank argv[0]: anyone may exec a copy of dhclient so)
        return None
    name = os.path.basename(first[0])
    args = first[1:] + argv[1:]
    if name == "dhcpcd:":  # a title: "dhcpcd: eth0 [ip4] [ip6]"
        v4 = "[ip4]" in args or "[ip6]" not in args
        return "dhcpcd" if args[:1] == [iface] and v4 else None
    if name in ("dhclient", "dhcpcd"):
        return name if iface in args and "-6" not in args else None
    if name == "udhcpc" or (name == "busybox" and args[:1] == ["udhcpc"]):
        return "udhcpc" if _udhcpc_interface(args[1:] if name == "busybox" else args) \
            == iface else None
    return None


def networkd_link(iface: str) -> dict[str, Any] | None:
    """networkd's view of `iface` (networkctl's JSON), or None when it cannot tell."""
    try:
        out = subprocess.run([NETWORKCTL, "--json=short", "--no-pager", "list", "--", iface],
                             capture_output=True, text=True, timeout=TIMEOUT,
                             stdin=subprocess.DEVNULL, check=False)
        doc = json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, RecursionError):
        return None
    # one link's description, or a list of them (as without a pattern)
    links = doc.get("Interfaces", [doc]) if isinstance(doc, dict) else None
    if not isinstance(links, list):
        return None
    return next((link for link in links if isinstance(link, dict)
                 and link.get("Name") == iface), None)


def managers(iface: str, procs: list[tuple[int, list[str], str]] | None = None,
             ) -> list[dict[str, Any]]:
    """What else manages `iface`: [{"program", "pid", "detail"}], none when nothing does;
    `procs`: processes(), when the caller looks at several interfaces."""
    found: list[dict[str, Any]] = []
    networkd = None
    for pid, argv, comm in processes() if procs is None else procs:
        # (not systemd-networkd-wait-online, whose comm is the same)
        if comm == NETWORKD_COMM and os.path.basename(argv[0]) == "systemd-networkd":
            networkd = pid
        client = dhcp_client(iface, argv)
        if client is not None:
            found.append({"program": client, "pid": pid,
                          "detail": " ".join(argv)[:200]})
    if networkd is not None:
        link = networkd_link(iface)
        state = link.get("AdministrativeState") if link else None
        if link is not None and state in MANAGED:
            network = link.get("NetworkFile")
            found.insert(0, {"program": "systemd-networkd", "pid": networkd,
                             "detail": f"{state}, by {network}" if isinstance(network, str)
                             else str(state)})
    return found
