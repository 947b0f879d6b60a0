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
import tomllib
from pathlib import Path

import pytest

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


# make install's interpreter: the services run it, and see nothing of the host but /usr
SYSTEM_PYTHON = "/usr/bin/python3"


def system_python() -> tuple[bytes, str]:
    """SYSTEM_PYTHON's .pyc magic number and cache tag; the test is skipped without it."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"no {SYSTEM_PYTHON}")
    out = subprocess.run([SYSTEM_PYTHON, "-I", "-c", "import importlib.util, sys; "
                          "print(importlib.util.MAGIC_NUMBER.hex(), sys.implementation.cache_tag)"],
                         capture_output=True, text=True, check=True).stdout.split()
    return bytes.fromhex(out[0]), out[1]


def test_make_install_byte_compiles_what_it_installs(tmp_path: Path) -> None:
    """The services cannot write /usr: without up-to-date .pyc files installed beside the
    sources, every start would compile leasebox from source (twice the imports' CPU)."""
    magic, tag = system_python()
    pylib = "/usr/lib/python3/dist-packages"
    # a strict umask and SOURCE_DATE_EPOCH, as on a hardened or reproducible build
    subprocess.run(["sh", "-c", 'umask 077 && exec make -s install "$@"', "sh",
                    f"DESTDIR={tmp_path}", f"PYTHON={SYSTEM_PYTHON}", "PREFIX=/usr",
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
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        header = pyc.read_bytes()[:16]
        assert header[:4] == magic, pyc
        flags, mtime, size = struct.unpack("<III", header[4:])
        st = source.stat()
        assert (flags, mtime, size) == (0, int(st.st_mtime) & 0xFFFFFFFF, st.st_size), source
        if magic == importlib.util.MAGIC_NUMBER:  # marshal's format is this Python's
            code = marshal.loads(pyc.read_bytes()[16:])
            # the path it has once installed, not the staging directory's
            assert code.co_filename == "/" + str(source.relative_to(tmp_path)), source


def _make_install(destdir: Path, *settings: str,
                  target: str = "install") -> subprocess.CompletedProcess[str]:
    system_python()
    return subprocess.run(["make", "-s", target, f"DESTDIR={destdir}",
                           f"PYTHON={SYSTEM_PYTHON}", *settings],
                          cwd=REPO, capture_output=True, text=True, check=False)


# what units run besides leasebox's programs: the base system's, at their Debian paths
SYSTEM_TOOLS = frozenset({"/bin/rm"})


def _programs_of(unit_text: str) -> list[str]:
    """The executable of each Exec*= line (its prefixes such as "-" or "+" dropped)."""
    found = []
    for line in unit_text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("Exec") and value.strip():
            found.append(value.split()[0].lstrip("-@:+!|"))
    return found


@pytest.mark.parametrize("prefix", ["/usr/local", "/usr/local/"])
def test_make_install_under_usr_local_names_its_own_paths(tmp_path: Path, prefix: str) -> None:
    """PREFIX=/usr/local: the units start the programs and use the root it installed, and
    the programs find leasebox there and pyroute2 where Debian puts it."""
    done = _make_install(tmp_path, f"PREFIX={prefix}")
    assert done.returncode == 0, done.stderr
    units = sorted((tmp_path / "usr/local/lib/systemd/system").iterdir())
    assert {u.name for u in units} == {p.name for p in (REPO / "units").iterdir()
                                       if p.suffix != ".catalog"}
    execs = roots = 0
    for unit in units:
        text = unit.read_text()
        assert "/usr/bin/leasebox" not in text and "/usr/lib/leasebox/root" not in text, \
            unit.name
        for program in _programs_of(text):
            if program in SYSTEM_TOOLS:  # the system's own, wherever leasebox is
                continue
            assert program.startswith("/usr/local/bin/"), (unit.name, program)
            assert os.access(tmp_path / program.lstrip("/"), os.X_OK), (unit.name, program)
            execs += 1
        for line in text.splitlines():
            if line.startswith("RootDirectory="):
                root = line.partition("=")[2]
                assert root == "/usr/local/lib/leasebox/root", unit.name
                assert (tmp_path / root.lstrip("/") / "usr").is_dir()
                roots += 1
    assert execs >= 7 and roots == 4
    script = (tmp_path / "usr/local/bin/leasebox-netconf").read_text().splitlines()
    assert [line for line in script if line.startswith("sys.path")] == [
        'sys.path.append("/usr/local/lib/python3/dist-packages")',
        'sys.path.append("/usr/lib/python3/dist-packages")']
    assert (tmp_path / "usr/local/lib/python3/dist-packages/leasebox/__init__.py").exists()


def test_make_install_under_usr_installs_the_units_as_they_are(tmp_path: Path) -> None:
    done = _make_install(tmp_path, "PREFIX=/usr")
    assert done.returncode == 0, done.stderr
    for unit in (tmp_path / "usr/lib/systemd/system").iterdir():
        assert unit.read_bytes() == (REPO / "units" / unit.name).read_bytes(), unit.name
    script = (tmp_path / "usr/bin/leasebox-io").read_text().splitlines()
    assert len(script) == 5 and script[2] == 'sys.path.append("/usr/lib/python3/dist-packages")'


@pytest.mark.parametrize("setting", [
    "PREFIX=/opt/leasebox", "PYLIBDIR=/opt/lib", "DEPLIBDIR=/opt/lib",
    "PYTHON=/opt/python/bin/python3"])
@pytest.mark.parametrize("target", ["install", "install-programs", "install-data"])
def test_make_install_refuses_what_the_services_cannot_see(tmp_path: Path, setting: str,
                                                           target: str) -> None:
    done = _make_install(tmp_path, setting, target=target)
    assert done.returncode != 0
    assert " is not below /usr, the only part of the file system the services see" in \
        done.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("setting", [
    "PREFIX=/usr/a b", "PREFIX=/usr/a&b", 'PREFIX=/usr/a"b', "PREFIX=/usr/../opt",
    "PREFIX=/usr/./local", "PREFIX=/usr//local", "BINDIR=/usr/local/bin/", "PREFIX=usr",
    "LIBDIR=", "LIBDIR=/usr/lib/../../root"])
def test_make_install_refuses_paths_it_cannot_write_as_they_are(tmp_path: Path,
                                                                setting: str) -> None:
    """They go into units, a sed expression and Python strings as they are."""
    done = _make_install(tmp_path, setting)
    assert done.returncode != 0
    assert "not a normalized absolute path of letters, digits and / . _ + -" in done.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(not Path("/usr/bin/man").exists(), reason="man-db is not installed")
@pytest.mark.parametrize("page", sorted(p.name for p in (REPO / "man").iterdir()))
def test_man_pages_format_without_a_warning(page: str, tmp_path: Path) -> None:
    """As lintian's groff-message check formats them (MANWIDTH=120, its man command), in
    the fast loop rather than only in the package build: a page edit can move a table
    across a page break, which tbl warns of."""
    for source in (REPO / "man").iterdir():  # laid out as installed: .so finds its page
        section = tmp_path / f"man{source.name.rsplit('.', 1)[1]}"
        section.mkdir(exist_ok=True)
        (section / source.name).write_bytes(source.read_bytes())
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "MANROFFSEQ": "", "MANWIDTH": "120"}
    path = tmp_path / f"man{page.rsplit('.', 1)[1]}" / page
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(path)],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
