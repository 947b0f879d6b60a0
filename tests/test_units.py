"""The unit files, checked offline: `systemd-analyze verify` finds nothing, and each
service's exposure (`systemd-analyze security --offline=yes`) stays within its target.

The running units are checked under a real systemd in tests/system/; this catches a typo or
a loosened setting before that, in a second.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from leasebox.runtime import ifname

REPO = Path(__file__).resolve().parent.parent
UNITS = REPO / "units"
TARGETS = {"leasebox-engine@.service": 1.0, "leasebox-io@.service": 2.0,
           "leasebox-netconf@.service": 2.0, "leasebox-leave@.service": 2.0,
           "leasebox-bus.service": 1.5}

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="needs systemd-analyze")


def _exposure(unit: Path) -> float:
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                         capture_output=True, text=True, timeout=30, check=True,
                         stdin=subprocess.DEVNULL).stdout
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert m, out[-500:]
    return float(m.group(1))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_exposure_within_target(name: str) -> None:
    assert _exposure(UNITS / name) <= TARGETS[name]


def test_verify_instances_clean(tmp_path: Path) -> None:
    # Verify instances, as systemd loads them (a template file alone is an "i" instance),
    # with the man pages the package installs made findable for the Documentation= check.
    mandir = tmp_path / "man"
    for page in (REPO / "man").glob("*.[1-8]"):
        section = mandir / f"man{page.suffix[1:]}"
        section.mkdir(parents=True, exist_ok=True)
        (section / page.name).symlink_to(page)
    units = tmp_path / "units"
    units.mkdir()
    names = []
    for template in UNITS.glob("*@.*"):
        instance = template.name.replace("@.", "@veth0.")
        (units / template.name).symlink_to(template)
        names.append(str(units / instance))
        (units / instance).symlink_to(template)
    for unit in [*UNITS.glob("*.service"), *UNITS.glob("*.socket")]:
        if "@" not in unit.name:  # the one per machine: leasebox-bus
            (units / unit.name).symlink_to(unit)
            names.append(str(units / unit.name))
    result = subprocess.run(["systemd-analyze", "verify", *sorted(names)], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL,
                            env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                                 "MANPATH": str(mandir), "SYSTEMD_LOG_LEVEL": "notice"})
    assert any(n.endswith("leasebox-bus.service") for n in names)
    # The programs are not installed on the build host; everything else must be clean.
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "is not executable" not in line
                and "No such file or directory" not in line]
    assert problems == []


def test_dynamic_identities_fit_systemds_rules() -> None:
    """systemd makes a dynamic user or group only under its strict rules for names: a
    letter or '_', then letters, digits, '_' and '-', 31 characters at most. Every User=
    and Group= of the templates must pass them for each interface name leasebox accepts,
    the longest (15: Debian's enx<MAC> for a USB NIC) included."""
    strict = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,30}", re.ASCII)
    names = ("enx0200000000aa", "eth0", "wl_p1-2")
    seen = 0
    for template in UNITS.glob("*@.service"):
        for m in re.finditer(r"^(?:User|Group)=(\S+)$", template.read_text(), re.MULTILINE):
            seen += "%i" in m.group(1)
            for name in names:
                value = m.group(1).replace("%i", ifname.check(name))
                assert strict.fullmatch(value), (template.name, value)
    assert seen == 6  # io's, the engine's and netconf's users and groups
