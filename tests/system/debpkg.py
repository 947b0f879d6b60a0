"""The leasebox Debian package the system tests install, built once per source tree.

:func:`package` runs ``scripts/build-deb`` (the documented build command, lintian included)
and caches what it produced in ``<cache>/deb-<source hash>`` (the cache is the harness's,
``/var/cache/leasebox-test`` by default), so test runs over an unchanged tree reuse the
package. The hash is ``scripts/build-deb --source-hash``: the working tree's package inputs,
committed or not. As with the container tree, the build goes to a temporary directory renamed
into place only when complete, under an ``flock``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .harness import HarnessError, Log, _flock, cache_root, log_stderr

REPO = Path(__file__).resolve().parents[2]
BUILD_DEB = REPO / "scripts" / "build-deb"
# The first build on a fresh machine installs debhelper, dh-python and lintian (~1 min);
# afterwards a build takes about 10 s.
BUILD_TIMEOUT = 900.0
KEEP = 8  # packages of earlier source trees kept in the cache
TMP_PREFIX = ".deb-tmp-"


@dataclass(frozen=True, slots=True)
class Package:
    directory: Path

    @property
    def deb(self) -> Path:
        debs = sorted(self.directory.glob("leasebox_*_all.deb"))
        if len(debs) != 1:
            raise HarnessError(f"expected one leasebox .deb in {self.directory}, found {debs}")
        return debs[0]

    @property
    def lintian(self) -> str:
        """lintian's output at build time (--pedantic --display-info; overrides applied)."""
        return (self.directory / "lintian.txt").read_text()


def source_hash() -> str:
    out = subprocess.run([str(BUILD_DEB), "--source-hash"], capture_output=True, text=True,
                         check=True, timeout=60, stdin=subprocess.DEVNULL).stdout.strip()
    if not out.isalnum():
        raise HarnessError(f"scripts/build-deb --source-hash printed {out!r}")
    return out


def _complete(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("leasebox_*_all.deb")) and (
        directory / "lintian.txt").is_file()


def _prune(root: Path, keep: Path) -> None:
    """Remove leftovers of interrupted builds and all but the newest KEEP packages of
    working trees (the packages of commits, deb-rev-*, stay: upgrade tests need them)."""
    for stale in root.glob(f"{TMP_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    builds = sorted((d for d in root.glob("deb-*")
                     if d.is_dir() and d != keep and not d.name.startswith("deb-rev-")),
                    key=lambda d: d.stat().st_mtime, reverse=True)
    for old in builds[KEEP - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def _build_cached(built: Path, what: str, build: Callable[[Path], None], log: Log) -> Package:
    """The package in `built`, made by `build(tmp)` into a temporary directory renamed into
    place when complete, under the cache's lock, if the cache does not have it yet."""
    if os.geteuid() != 0:
        raise HarnessError("building the package needs root (it may install build tools)")
    if _complete(built):
        os.utime(built)  # in use: the newest, for _prune
        return Package(built)
    built.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    with _flock(built.parent / ".deb-lock", BUILD_TIMEOUT + 60.0, log):
        if _complete(built):  # another run built it while we waited
            return Package(built)
        _prune(built.parent, built)
        tmp = built.parent / f"{TMP_PREFIX}{built.name}-{os.getpid()}"
        log(f"building the package of {what} into {built}")
        started = time.monotonic()
        try:
            tmp.mkdir()
            build(tmp)
            shutil.rmtree(built, ignore_errors=True)  # a directory without a .deb is no build
            os.rename(tmp / "out", built)
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(tmp)
        log(f"package built in {time.monotonic() - started:.1f}s")
    return Package(built)


def _build_deb(script: Path, out: Path, what: str) -> None:
    result = subprocess.run([str(script), str(out)], capture_output=True, text=True,
                            timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL, cwd=script.parents[1])
    if result.returncode != 0:
        raise HarnessError(f"build-deb of {what} failed ({result.returncode}):\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def package(log: Log = log_stderr) -> Package:
    """The package for the current source tree, built if the cache does not have it."""
    return _build_cached(cache_root() / f"deb-{source_hash()}", "the working tree",
                         lambda tmp: _build_deb(BUILD_DEB, tmp / "out", "the working tree"), log)


def has_revision(rev: str) -> bool:
    """Whether this checkout's history has `rev` (a shallow clone may not)."""
    return subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{rev}^{{commit}}"],
                          capture_output=True, timeout=30, stdin=subprocess.DEVNULL
                          ).returncode == 0


def package_at(rev: str, log: Log = log_stderr) -> Package:
    """The package of an earlier commit, for upgrade tests: built by that commit's own
    scripts/build-deb in a clone of this repository (sharing its objects), cached as
    ``deb-rev-<rev>``."""
    def build(tmp: Path) -> None:
        src = tmp / "src"
        for argv in (["git", "clone", "-q", "--shared", "--no-checkout", str(REPO), str(src)],
                     ["git", "-C", str(src), "checkout", "-q", "--detach", rev]):
            subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        _build_deb(src / "scripts" / "build-deb", tmp / "out", rev)

    return _build_cached(cache_root() / f"deb-rev-{rev}", rev, build, log)
