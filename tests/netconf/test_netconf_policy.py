"""netconf's policy comes from leasebox.conf, read by netconf itself (tests/config has the
parser's own tests): what each [Network] setting becomes, and exit 78 on a bad file."""

from __future__ import annotations

import os
import subprocess
import sys
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from leasebox.config.parse import parse
from leasebox.config.settings import Scope
from leasebox.netconf.policy import Policy, policy_from_config

SRC = Path(__file__).resolve().parents[2] / "src"


def policy(text: str) -> Policy:
    return policy_from_config(parse([("test.conf", text)]).view(Scope.NETCONF))


def test_defaults() -> None:
    assert policy("") == Policy()
    p = Policy()
    assert (p.route_metric, p.classless_table, p.allowed_addresses) == (1024, 254, ())
    assert p.use_dns and p.use_domains and p.use_routes and p.use_gateway and p.use_mtu


def test_every_key() -> None:
    p = policy("""
# comment
; another
[Network]
AllowedAddresses=192.0.2.0/24 10.0.0.0/8
AllowedAddresses=198.51.100.7/32
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


def test_engine_settings_do_not_change_the_policy() -> None:
    assert policy("[DHCPv4]\nRapidCommit=yes\nHostname=x\n[Network]\nKeepConfiguration=yes\n"
                  "[Control]\nControlGroup=1001\n") == Policy()


@pytest.mark.parametrize(("value", "table"), [("main", 254), ("ignore", None), ("table:7", 7),
                                              ("table:4294967295", 4294967295)])
def test_classless_values(value: str, table: int | None) -> None:
    assert policy(f"[Network]\nClasslessRoutes={value}\n").classless_table == table


def test_bad_config_exits_78_with_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "leasebox" / "leasebox.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[Network]\nRouteMetric=10\nUseGatway=no\n")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM"):
        env.pop(key, None)
    proc = subprocess.run(
        [sys.executable, "-m", "leasebox.netconf.main", "eth0", "--config-root", str(tmp_path)],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
    )
    assert proc.returncode == 78
    assert f"{conf}:3: unknown key UseGatway=" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
