"""The programs are listed twice: pyproject.toml's [project.scripts] (the wheel, pip) and
the Makefile's PROGRAMS, whose few-line scripts `make install` and the Debian package
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
    subprocess.run(["make", "-s", "-C", str(REPO), "install-programs", f"DESTDIR={tmp_path}",
                    "PREFIX=/usr", "PYTHON=/usr/bin/python3"],
                   check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                   env={"PATH": "/usr/bin:/bin"})
    for name, module in makefile_programs().items():
        lines = (tmp_path / "usr" / "bin" / name).read_text().splitlines()
        assert lines[0] == "#!/usr/bin/python3 -IS", name
        assert lines.index("gc.disable()") < lines.index(f"from {module} import main"), name


def test_every_program_turns_the_collector_back_on() -> None:
    """Each daemon sends READY=1 only through sd.ready, which turns the collector on;
    leaseboxctl turns it on first thing in main. A program without either would run with
    the collector off for good."""
    src = REPO / "src" / "leasebox"
    direct = [str(p.relative_to(src)) for p in src.rglob("*.py")
              if '"READY=1"' in p.read_text() and p != src / "runtime" / "sd.py"]
    assert direct == []
    for module in makefile_programs().values():
        package = src.joinpath(*module.split(".")[1:-1])
        text = "".join(p.read_text() for p in package.rglob("*.py"))
        if module == "leasebox.ctl.main":
            assert "    gc.enable()" in (package / "main.py").read_text()
        else:
            assert "sd.ready(" in text, module
