"""The real services read their configuration before anything else, and a bad one is
exit 78 with FILE:LINE. netconf takes its policy from the files, never from the engine."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

import pytest

from leasebox.config.parse import parse
from leasebox.config.settings import Scope
from leasebox.netconf.policy import Policy, policy_from_config
from tests.config.confroot import ETC, RUN, run_module

SERVICES = ["leasebox.engine.main", "leasebox.netconf.main"]


@pytest.mark.parametrize("module", SERVICES)
@pytest.mark.parametrize("case", [
    ("leasebox.conf", "[Network]\nRouteMetric=10\nUseGatway=no\n", 3, "unknown key UseGatway="),
    ("leasebox.conf.d/50-x.conf", "[DHCP]\n", 1, "unknown section [DHCP]"),
    ("interfaces/veth0.conf", "[DHCPv4]\nMinimumLeaseTime=soon\n", 2, "MinimumLeaseTime="),
    ("interfaces/veth0.conf", "[Network]\nClasslessRoutes=table:255\n", 2, "reserved"),
])
def test_bad_config_exits_78_before_sockets(tmp_path: Path, module: str,
                                            case: tuple[str, str, int, str]) -> None:
    relpath, text, line, what = case
    path = tmp_path / RUN / relpath
    path.parent.mkdir(parents=True)
    path.write_text(text)
    # no LISTEN_FDS: were the sockets looked at first, this would fail differently
    proc = run_module(module, "veth0", f"--config-root={tmp_path}")
    assert proc.returncode == 78, proc.stderr
    assert f"{path}:{line}: " in proc.stderr and what in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "socket" not in proc.stderr


@pytest.mark.parametrize("module", SERVICES)
def test_good_config_goes_on_to_the_sockets(tmp_path: Path, module: str) -> None:
    conf = tmp_path / ETC / "leasebox.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[Network]\nRouteMetric=10\n[DHCPv4]\nRapidCommit=yes\n")
    proc = run_module(module, "veth0", f"--config-root={tmp_path}")
    assert proc.returncode != 0  # no sockets were passed in
    assert "socket" in proc.stderr and str(conf) not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_engine_command_line_value_is_checked_too(tmp_path: Path) -> None:
    proc = run_module("leasebox.engine.main", "veth0", f"--config-root={tmp_path}",
                      "--min-lease-time=soon")
    assert proc.returncode == 78
    assert "command line: --min-lease-time: not a time span" in proc.stderr


def test_netconf_policy_from_config() -> None:
    assert policy_from_config(parse([]).view(Scope.NETCONF)) == Policy()
    config = parse([("t", """[Network]
AllowedAddresses=192.0.2.0/24 10.0.0.0/8
AllowedAddresses=198.51.100.7/32
RouteMetric=50
UseDNS=no
UseDomains=false
UseRoutes=0
UseGateway=off
UseMTU=yes
ClasslessRoutes=table:100
KeepConfiguration=yes
[DHCPv4]
Hostname=not-for-netconf
""")])
    assert policy_from_config(config.view(Scope.NETCONF)) == Policy(
        allowed_addresses=(IPv4Network("192.0.2.0/24"), IPv4Network("10.0.0.0/8"),
                           IPv4Network("198.51.100.7/32")),
        route_metric=50, use_dns=False, use_domains=False, use_routes=False,
        use_gateway=False, use_mtu=True, classless_table=100,
    )


def test_policy_defaults_match_the_table() -> None:
    assert policy_from_config(parse([]).view(Scope.NETCONF)) == Policy()
    assert (Policy().route_metric, Policy().classless_table) == (1024, 254)


def test_the_engine_warns_of_an_identity_every_interface_shares(tmp_path: Path) -> None:
    """RequestAddress= (or IAID= with a DUID=) in leasebox.conf: every interface has the
    same; the engine starts all the same, and says so."""
    conf = tmp_path / ETC / "leasebox.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[DHCPv4]\nRequestAddress=192.0.2.7\n")
    proc = run_module("leasebox.engine.main", "veth0", f"--config-root={tmp_path}")
    (warning, sockets) = proc.stderr.strip().splitlines()
    assert "socket" in sockets  # on to the sockets, which were not passed in
    assert f"{conf}:2: RequestAddress= is set for every interface" in warning
