"""The policy file: systemd-style INI semantics, and errors with file:line and exit 78."""

from __future__ import annotations

import os
import subprocess
import sys
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from leasebox.netconf.policy import Policy, PolicyError, load_policy, parse_policy

SRC = Path(__file__).resolve().parents[2] / "src"


def parse(text: str) -> Policy:
    return parse_policy(text.splitlines(), "test.policy")


def test_defaults() -> None:
    assert parse("") == Policy()
    assert load_policy(None) == Policy()
    p = Policy()
    assert (p.route_metric, p.classless_table, p.allowed_addresses) == (1024, 254, ())
    assert p.use_dns and p.use_domains and p.use_routes and p.use_gateway and p.use_mtu


def test_every_key() -> None:
    p = parse("""
# comment
; another
[Network]
AllowedAddresses=192.0.2.0/24 10.0.0.0/8
AllowedAddresses=198.51.100.7
RouteMetric=50
UseDNS=no
UseDomains=false
UseRoutes=0
UseGateway=off
UseMTU=yes
ClasslessRoutes=table:100
""")
    assert p == Policy(
        allowed_addresses=(IPv4Network("192.0.2.0/24"), IPv4Network("10.0.0.0/8"),
                           IPv4Network("198.51.100.7/32")),
        route_metric=50, use_dns=False, use_domains=False, use_routes=False,
        use_gateway=False, use_mtu=True, classless_table=100,
    )


def test_empty_assignment_resets_and_last_scalar_wins() -> None:
    p = parse("[Network]\nAllowedAddresses=192.0.2.0/24\nAllowedAddresses=\n"
              "AllowedAddresses=10.0.0.0/8\nRouteMetric=5\nRouteMetric=\nUseDNS=no\nUseDNS=yes\n")
    assert p.allowed_addresses == (IPv4Network("10.0.0.0/8"),)
    assert p.route_metric == 1024
    assert p.use_dns


@pytest.mark.parametrize(("value", "table"), [("main", 254), ("ignore", None), ("table:7", 7),
                                              ("table:4294967295", 4294967295)])
def test_classless_values(value: str, table: int | None) -> None:
    assert parse(f"[Network]\nClasslessRoutes={value}\n").classless_table == table


@pytest.mark.parametrize(("text", "line", "what"), [
    ("[Network]\nUseDSN=yes\n", 2, "unknown key UseDSN="),
    ("[Network]\n\n\nRouteMetric=-1\n", 4, "RouteMetric="),
    ("[Network]\nRouteMetric=4294967296\n", 2, "out of range"),
    ("[Network]\nUseDNS=maybe\n", 2, "not a boolean"),
    ("[Network]\nAllowedAddresses=192.0.2.1/24\n", 2, "host bits"),
    ("[Network]\nAllowedAddresses=2001:db8::/32\n", 2, "not an IPv4 range"),
    ("[Network]\nClasslessRoutes=table:255\n", 2, "reserved"),
    ("[Network]\nClasslessRoutes=table:0\n", 2, "reserved"),
    ("[Network]\nClasslessRoutes=table:x\n", 2, "unsigned"),
    ("[Network]\nClasslessRoutes=other\n", 2, "main, ignore or table:N"),
    ("[DHCPv4]\nUseDNS=yes\n", 1, "unknown section"),
    ("UseDNS=yes\n", 1, "outside a [Network] section"),
    ("[Network]\njust words\n", 2, "expected Key=value"),
    ("[Network\n", 1, "bad section header"),
])
def test_errors_name_file_and_line(text: str, line: int, what: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text)
    assert info.value.line == line
    assert str(info.value).startswith(f"test.policy:{line}: ")
    assert what in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(str(tmp_path / "missing.policy"))
    bad = tmp_path / "latin1.policy"
    bad.write_bytes(b"[Network]\n# \xe9\n")
    with pytest.raises(PolicyError, match="UTF-8"):
        load_policy(str(bad))


def test_bad_policy_file_exits_78_with_file_and_line(tmp_path: Path) -> None:
    policy = tmp_path / "netconf.policy"
    policy.write_text("[Network]\nRouteMetric=10\nUseGatway=no\n")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM"):
        env.pop(key, None)
    proc = subprocess.run(
        [sys.executable, "-m", "leasebox.netconf.main", "eth0", "--policy-file", str(policy)],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
    )
    assert proc.returncode == 78
    assert f"{policy}:3: unknown key UseGatway=" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
