"""The programs are listed twice: pyproject.toml's [project.scripts] (the wheel, pip) and
the Makefile's PROGRAMS, whose three-line scripts `make install` and the Debian package
install in their place. The two lists must agree, or a program added to one would ship the
wheel's script, or none."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def makefile_programs() -> dict[str, str]:
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    m = re.search(r"^PROGRAMS\s*:=(.*)$", text, re.MULTILINE)
    assert m, "no PROGRAMS := in the Makefile"
    return dict(item.split(":", 1) for item in m.group(1).split())


def test_the_makefile_installs_every_program_of_pyproject() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    expected = {name: target.removesuffix(":main") for name, target in scripts.items()}
    assert all(target.endswith(":main") for target in scripts.values())
    assert makefile_programs() == expected


def test_the_programs_collect_no_garbage_until_they_have_imported(tmp_path: Path) -> None:
    """The launchers turn the collector off before the program's imports (a daemon turns it
    on again with sd.ready, leaseboxctl in its main)."""
    subprocess.run(["make", "-s", "-C", str(REPO), "install-programs", f"DESTDIR={tmp_path}"],
                   check=True, capture_output=True)
    for name, module in makefile_programs().items():
        lines = (tmp_path / "usr" / "bin" / name).read_text().splitlines()
        assert lines[0] == "#!/usr/bin/python3 -IS", name
        assert lines.index("gc.disable()") < lines.index(f"from {module} import main"), name
