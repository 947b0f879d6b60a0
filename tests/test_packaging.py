"""The programs are listed twice: pyproject.toml's [project.scripts] (the wheel, pip) and
the Makefile's PROGRAMS, whose four-line scripts `make install` and the Debian package
install in their place. The two lists must agree, or a program added to one would ship the
wheel's script, or none. And `make install` byte-compiles what it installs."""

from __future__ import annotations

import importlib.util
import marshal
import os
import re
import struct
import subprocess
import sys
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


def test_make_install_byte_compiles_what_it_installs(tmp_path: Path) -> None:
    """The services cannot write /usr: without up-to-date .pyc files installed beside the
    sources, every start would compile leasebox from source (twice the imports' CPU)."""
    pylib = "/usr/lib/python3/dist-packages"
    # a strict umask and SOURCE_DATE_EPOCH, as on a hardened or reproducible build
    subprocess.run(["sh", "-c", 'umask 077 && exec make -s install "$@"', "sh",
                    f"DESTDIR={tmp_path}", f"PYTHON={sys.executable}", "PREFIX=/usr",
                    f"PYLIBDIR={pylib}"],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    # the services' users read all of it, whatever the umask: not only its owner, root
    for path in tmp_path.rglob("*"):
        if not path.is_symlink():
            want = 0o005 if path.is_dir() else 0o004
            assert path.stat().st_mode & want == want, path
    sources = sorted((tmp_path / pylib.lstrip("/") / "leasebox").rglob("*.py"))
    assert len(sources) == len(list((REPO / "src" / "leasebox").rglob("*.py")))
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        header = pyc.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, pyc
        flags, mtime, size = struct.unpack("<III", header[4:])
        st = source.stat()
        assert (flags, mtime, size) == (0, int(st.st_mtime) & 0xFFFFFFFF, st.st_size), source
        code = marshal.loads(pyc.read_bytes()[16:])
        # the path it has once installed, not the staging directory's
        assert code.co_filename == "/" + str(source.relative_to(tmp_path)), source
