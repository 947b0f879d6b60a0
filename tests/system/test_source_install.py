"""leasebox installed from its source tree with `make install PREFIX=/usr/local`, as a user
without the Debian package installs it (README, "Packaging"), into a real-systemd container
that has Debian's python3-pyroute2, -systemd and -jeepney but not the leasebox package: the
units start the programs of /usr/local in the root of /usr/local, the programs find
leasebox there and its dependencies where Debian puts them, and an interface is leased and
left as with the package.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_for

from .harness import Container
from .leasebox_lab import IFACE, LeaseLab

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
SOURCE = "/src/leasebox"
TARGET = f"leasebox@{IFACE}.target"
ACQUIRED = "55ef93db5b18443b94509ad61d61b8dc"


@pytest.fixture(scope="module")
def container_options() -> dict[str, object]:
    return {"binds_ro": {str(REPO): SOURCE}}


@pytest.fixture(scope="module")
def from_source(container: Container) -> Container:
    """`make install`, then what the README says to run after it (what the package's
    scripts and triggers do)."""
    c = container
    assert c.run(["dpkg-query", "-W", "leasebox"], check=False).returncode != 0
    # the source is read-only here: make install writes only below DESTDIR and PREFIX
    c.run(["make", "-C", SOURCE, "-s", "install", "PREFIX=/usr/local"], timeout=300)
    c.run(["systemd-sysusers", "leasebox.conf"])
    c.run(["systemd-tmpfiles", "--create", "leasebox.conf"])
    c.run(["journalctl", "--update-catalog"])
    c.run(["systemctl", "daemon-reload"])
    return c


@pytest.fixture
def lab(from_source: Container) -> Iterator[LeaseLab]:
    lab = LeaseLab(from_source)
    lab.start_dnsmasq()
    try:
        yield lab
    finally:
        lab.close()


def test_the_units_run_the_programs_of_usr_local(from_source: Container) -> None:
    c = from_source
    for name in ("io", "engine", "netconf"):
        unit = f"leasebox-{name}@{IFACE}.service"
        shown = c.run(["systemctl", "show", "-p", "ExecStart,RootDirectory", unit]).stdout
        assert f"path=/usr/local/bin/leasebox-{name} " in shown, shown
        assert "RootDirectory=/usr/local/lib/leasebox/root" in shown, shown
    assert c.run(["test", "-e", "/usr/bin/leasebox-io"], check=False).returncode != 0
    assert "DHCP lease acquired on" in c.run(["journalctl", "--list-catalog",
                                              ACQUIRED]).stdout


def test_a_source_install_leases_and_leaves(lab: LeaseLab) -> None:
    c = lab.c
    c.run(["systemctl", "start", TARGET])
    addr = lab.wait_address()
    assert addr["local"].startswith("192.0.2.") and addr["prefixlen"] == 24
    assert lab.wait_bound().startswith(f"Bound {addr['local']}/24")
    # leaseboxctl of /usr/local reaches the engine through its control socket
    status = c.run(["/usr/local/bin/leaseboxctl", "status", IFACE]).stdout
    assert addr["local"] in status
    story = lab.journal("-u", f"leasebox-*@{IFACE}*", "-o", "cat")
    assert "Acquired" in story and "capabilities dropped" in story
    c.run(["systemctl", "stop", TARGET])
    wait_for("the address removed", lambda: lab.address() is None, 10)
