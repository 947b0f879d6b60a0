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
# networkd's AdministrativeState= for a link it configures (or tried to): not "unmanaged"
# (no .network file matched, or [Link] Unmanaged=yes), nor "pending"/"initialized" (not
# looked at yet), nor "linger" (gone)
MANAGED = frozenset({"configuring", "configured", "failed"})
MAX_PROCESSES = 100_000  # /proc entries looked at, at most
MAX_CMDLINE = 4096
TIMEOUT = 5.0


def _read(path: Path, size: int) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:  # gone meanwhile, or not ours to read
        return None


def processes(proc: Path = PROC) -> list[tuple[int, list[str], str]]:
    """(pid, argv, comm) of every process but kernel threads (no command line) and this."""
    out: list[tuple[int, list[str], str]] = []
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
            raw = _read(proc / entry.name / "cmdline", MAX_CMDLINE)
            if not raw:
                continue
            argv = raw.decode("utf-8", "replace").rstrip("\0").split("\0")
            comm = (_read(proc / entry.name / "comm", 64) or b"").decode("utf-8", "replace")
            out.append((int(entry.name), argv, comm.strip()))
    return out


def _udhcpc_interface(args: list[str]) -> str:
    """The interface udhcpc runs on: -i IFACE, -iIFACE, --interface[=]IFACE; else eth0,
    its default."""
    for i, arg in enumerate(args):
        if arg in ("-i", "--interface") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--interface="):
            return arg.split("=", 1)[1]
        if arg.startswith("-i") and not arg.startswith("--"):
            return arg[2:]
    return "eth0"


def dhcp_client(iface: str, argv: list[str]) -> str | None:
    """The DHCP client `argv` is, when it runs on `iface`: dhclient and dhcpcd name their
    interfaces among their arguments (dhcpcd's per-interface processes in their title,
    "dhcpcd: eth0 [ip4]"), udhcpc after -i. None for anything else."""
    if not argv or not argv[0]:
        return None
    first = argv[0].split()
    name = os.path.basename(first[0]).rstrip(":")
    args = first[1:] + argv[1:]
    if name in ("dhclient", "dhcpcd"):
        return name if iface in args else None
    if name == "udhcpc" or (name == "busybox" and args[:1] == ["udhcpc"]):
        return "udhcpc" if _udhcpc_interface(args) == iface else None
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
    links = doc.get("Interfaces", [doc]) if isinstance(doc, dict) else []
    return next((link for link in links if isinstance(link, dict)
                 and link.get("Name") == iface), None)


def managers(iface: str, proc: Path = PROC) -> list[dict[str, Any]]:
    """What else manages `iface`: [{"program", "pid", "detail"}], none when nothing does."""
    found: list[dict[str, Any]] = []
    networkd = None
    for pid, argv, comm in processes(proc):
        if comm == NETWORKD_COMM:
            networkd = pid
        client = dhcp_client(iface, argv)
        if client is not None:
            found.append({"program": client, "pid": pid,
                          "detail": " ".join(argv)[:200]})
    if networkd is not None:
        link = networkd_link(iface)
        state = link.get("AdministrativeState") if link else None
        if state in MANAGED:
            assert link is not None
            network = link.get("NetworkFile")
            found.insert(0, {"program": "systemd-networkd", "pid": networkd,
                             "detail": f"{state}, by {network}" if isinstance(network, str)
                             else str(state)})
    return found
