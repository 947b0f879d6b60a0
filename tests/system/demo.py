"""The leasebox demo: a real systemd, a real DHCP server, leasebox as a user runs it.

    scripts/demo        (as root on Debian 12; installs what it needs)

Boots a Debian 12 container with systemd as PID 1 (built once and cached), creates a veth
pair with dnsmasq on the far side, installs leasebox as the package does, starts
leasebox@veth0.target, and shows what an operator sees: `leaseboxctl status`, the journal
story of the lease, and each service's confinement. Then it stops everything and cleans up.
"""

from __future__ import annotations

import re
import sys
import time

from .harness import Container, ensure_tree
from .leasebox_lab import IFACE, LeaseLab, install, wait_for

UNITS = [f"leasebox-{name}@{IFACE}.service" for name in ("io", "engine", "netconf")]
CAP_NAMES = {12: "CAP_NET_ADMIN", 13: "CAP_NET_RAW"}


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def caps(mask: int) -> str:
    names = [CAP_NAMES.get(bit, f"cap{bit}") for bit in range(64) if mask >> bit & 1]
    return ",".join(names) or "none"


def confinement_table(c: Container) -> str:
    rows = [("unit", "user (uid)", "caps now", "bounding set", "address families",
             "network", "exposure")]
    for unit in UNITS:
        show = dict(line.split("=", 1) for line in c.run(
            ["systemctl", "show", unit, "-p", "MainPID", "-p", "RestrictAddressFamilies",
             "-p", "PrivateNetwork", "-p", "CapabilityBoundingSet"]).stdout.splitlines()
            if "=" in line)
        pid = show.get("MainPID", "0")
        status = c.run(["cat", f"/proc/{pid}/status"], check=False).stdout
        eff = re.search(r"^CapEff:\s+([0-9a-f]+)", status, re.M)
        uid = re.search(r"^Uid:\s+(\d+)", status, re.M)
        user = c.run(["ps", "-o", "user=", "-p", pid], check=False).stdout.strip()
        score = c.run(["systemd-analyze", "security", unit], check=False).stdout.strip()
        last = score.splitlines()[-1] if score else ""
        m = re.search(r"(\d+\.\d+)", last)
        rows.append((
            unit.removesuffix(".service"),
            f"{user} ({uid.group(1) if uid else '?'})",
            caps(int(eff.group(1), 16)) if eff else "?",
            show.get("CapabilityBoundingSet", "").replace("cap_", "CAP_").upper() or "none",
            show.get("RestrictAddressFamilies", "") or "any",
            "private (lo only)" if show.get("PrivateNetwork") == "yes" else "host",
            m.group(1) if m else "?",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    say("preparing the Debian 12 container tree (built once, then cached)")
    tree = ensure_tree(log=lambda m: print(f"    {m}", flush=True))
    say("booting it with systemd-nspawn: systemd runs as PID 1")
    with Container(tree) as c:
        print(f"    booted in {c.boot_seconds:.2f} s", flush=True)
        say("installing leasebox the way the package does")
        install(c)
        say("creating veth0 <-> veth1 with dnsmasq serving 192.0.2.0/24 behind veth1")
        lab = LeaseLab(c, "--dhcp-option=option:dns-server,192.0.2.53",
                       "--dhcp-option=option:domain-search,example.test")
        lab.start_dnsmasq()
        say(f"systemctl start leasebox@{IFACE}.target")
        t0 = time.monotonic()
        c.run(["systemctl", "start", f"leasebox@{IFACE}.target"])
        addr = lab.wait_address()
        print(f"    {addr['local']}/{addr['prefixlen']} on {IFACE} after "
              f"{(time.monotonic() - t0) * 1000:.0f} ms", flush=True)
        lab.wait_bound()
        say("leaseboxctl status")
        print(c.run(["leaseboxctl", "status"]).stdout.rstrip())
        say(f"systemctl status leasebox-engine@{IFACE}  (the STATUS= line)")
        status = c.run(["systemctl", "status", "--no-pager", "-n", "0", UNITS[1]],
                       check=False).stdout
        print("\n".join(line for line in status.splitlines() if "Status:" in line
                        or "Active:" in line or "●" in line))
        say(f"journalctl -u 'leasebox-*@{IFACE}*'  (the story of the lease)")
        print(c.run(["journalctl", "--no-pager", "-o", "short", "-u",
                     f"leasebox-*@{IFACE}*"]).stdout.rstrip())
        say("confinement of each service, as systemd runs it")
        print(confinement_table(c))
        say(f"systemctl stop leasebox@{IFACE}.target  (releases the lease, removes the address)")
        c.run(["systemctl", "stop", f"leasebox@{IFACE}.target"])
        wait_for("dnsmasq to log the release", lambda: lab.count("DHCPRELEASE"), 5)
        print(f"    address on {IFACE}: {lab.address() or 'none'}; DHCPRELEASE seen by "
              f"dnsmasq: {lab.count('DHCPRELEASE')}")
        lab.close()
        say("stopping the container")
    print(f"\ndone in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
