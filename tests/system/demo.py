"""The leasebox demo: a real systemd, a real DHCP server, leasebox as a user runs it.

    scripts/demo [--suite bookworm|trixie]   (as root on Debian 12; installs what it needs)

Boots a Debian 12 (default) or 13 container with systemd as PID 1, systemd-resolved and
systemd-timesyncd (built once and cached), creates a veth
pair with dnsmasq on the far side, installs leasebox as the package does, starts
leasebox@veth0.target, and shows what an operator sees: `leaseboxctl status`, the journal
story of the lease, and each service's confinement. Then it stops everything and cleans up.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from tests.waiting import wait_for

from .harness import SUITE, SUITES, Container, ensure_tree
from .leasebox_lab import IFACE, LeaseLab, install

UNITS = [f"leasebox-{name}@{IFACE}.service" for name in ("io", "engine", "netconf")] + [
    "leasebox-bus.service"]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n")[0])
    parser.add_argument("--suite", choices=SUITES, default=SUITE,
                        help=f"the Debian release in the container (default {SUITE})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    say(f"preparing the Debian {args.suite} container tree (built once, then cached)")
    tree = ensure_tree(suite=args.suite, log=lambda m: print(f"    {m}", flush=True))
    say("booting it with systemd-nspawn: systemd runs as PID 1")
    with Container(tree) as c:
        print(f"    booted in {c.boot_seconds:.2f} s", flush=True)
        say("installing leasebox the way the package does")
        install(c)
        say("creating veth0 <-> veth1 with dnsmasq serving 192.0.2.0/24 behind veth1")
        lab = LeaseLab(c, "--dhcp-option=option:dns-server,192.0.2.53",
                       "--dhcp-option=option:domain-search,example.test",
                       "--dhcp-option=option:ntp-server,192.0.2.1")
        lab.start_dnsmasq()
        say(f"systemctl start leasebox@{IFACE}.target")
        t0 = time.monotonic()
        c.run(["systemctl", "start", f"leasebox@{IFACE}.target"])
        addr = lab.wait_address()
        print(f"    {addr['local']}/{addr['prefixlen']} on {IFACE} after "
              f"{(time.monotonic() - t0) * 1000:.0f} ms", flush=True)
        lab.wait_bound()
        wait_for("DNS at systemd-resolved", lambda: "192.0.2.53" in c.run(
            ["resolvectl", "dns", IFACE], check=False).stdout, 10)
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
        say(f"resolvectl dns {IFACE}; resolvectl domain {IFACE}  (systemd-resolved has them)")
        for what in ("dns", "domain"):
            print("    " + c.run(["resolvectl", what, IFACE], check=False).stdout.strip())
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
