"""The programs are listed twice: pyproject.toml's [project.scripts] (the wheel, pip) and
the Makefile's PROGRAMS, whose four-line scripts `make install` and the Debian package
install in their place. The two lists must agree, or a program added to one would ship the
wheel's script, or none."""

from __future__ import annotations

import re
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
