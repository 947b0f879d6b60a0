"""A real systemd as PID 1, under systemd-nspawn, for leasebox's system tests.

Two halves:

* :func:`ensure_tree` builds (once) a Debian bookworm tree with ``debootstrap --variant=minbase``
  and caches it outside the checkout, in ``/var/cache/leasebox-test/tree-<key>``. The key
  hashes the suite, the package list and :data:`HARNESS_VERSION`, so changing any of them
  builds a new tree. The build goes to a temporary directory that is renamed into place only
  when complete, under an ``flock``: an interrupted build never leaves a broken cache and two
  concurrent runs never both build.
* :class:`Container` boots that tree with ``systemd-nspawn --boot --volatile=overlay
  --private-network`` (the cached tree is never written), waits until ``systemctl
  is-system-running`` says ``running`` or ``degraded``, runs commands inside with ``nsenter``
  and tears everything down again: every process by PID, its cgroups, its temporary files.

Facts and traps this relies on are in /work/shared/notes/systemd-in-nspawn.md. Stdlib only;
needs root. Environment knobs: ``LEASEBOX_TEST_CACHE`` (cache directory),
``LEASEBOX_TEST_MIRROR`` (Debian mirror; default: the one apt uses on this host),
``LEASEBOX_TEST_EXTRA_PACKAGES`` (comma-separated packages added to the tree, e.g. ``tcpdump``).

Run ``python tests/system/harness.py`` to build the tree ahead of time.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, AnyStr

# Bump when the way the tree is built or pre-configured changes: it is part of the cache key.
HARNESS_VERSION = "5"
# The supported Debian releases: Debian 12 (systemd 252, Python 3.11) and 13 (systemd 257,
# Python 3.13). The first is the default for tools that boot one container.
SUITES: tuple[str, ...] = ("bookworm", "trixie")
SUITE = SUITES[0]

# What a tree holds besides minbase: what a user's Debian machine runs besides leasebox.
# systemd-resolved (its own package in both suites; it makes /etc/resolv.conf its stub) and
# systemd-timesyncd run in every container, as they do on a default Debian install.
DEFAULT_PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "systemd-resolved",
    "systemd-timesyncd",
    "dbus",
    "libnss-systemd",
    "python3",
    "python3-systemd",
    "python3-pyroute2",
    "python3-jeepney",
    "dnsmasq-base",
    "iproute2",
    "iptables",  # test_faults holds exchanges open by dropping the client's messages
    "iputils-ping",
    "make",  # test_source_install runs `make install` as a user without the package does
    "procps",
    "util-linux",
)

# Units that cost boot time, wait for things a test container never has, or would start
# work in the middle of a test. Masking a unit the tree does not have is harmless.
MASKED_UNITS: tuple[str, ...] = (
    "getty.target",
    "console-getty.service",
    "container-getty@.service",
    "getty@.service",
    "systemd-firstboot.service",
    "systemd-networkd-wait-online.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "logrotate.timer",
    "man-db.timer",
)

CACHE_ROOT_DEFAULT = Path("/var/cache/leasebox-test")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_HIERARCHIES = ("systemd", "unified")  # the name=systemd v1 hierarchy and cgroup2
NSPAWN_RUN_DIR = Path("/run/systemd/nspawn")
REGISTRY = Path("/run/leasebox-test/containers")  # one file per running container: its owner
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NSPAWN = "/usr/bin/systemd-nspawn"
NSENTER = "/usr/bin/nsenter"

BUILD_TIMEOUT = 900.0  # debootstrap from a nearby mirror takes ~55 s
LOCK_TIMEOUT = BUILD_TIMEOUT + 60.0
STAMP = ".leasebox-tree"

Log = Callable[[str], None]


class HarnessError(RuntimeError):
    """The harness could not build, boot, drive or stop a container."""


def log_stderr(msg: str) -> None:
    print(f"[leasebox-test] {msg}", file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        data = path.read_bytes()[-64 * 1024 :]
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    text = data.decode("utf-8", "replace").replace("\r", "")
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


# --------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------


def cache_root() -> Path:
    return Path(os.environ.get("LEASEBOX_TEST_CACHE", str(CACHE_ROOT_DEFAULT)))


def package_list(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """DEFAULT_PACKAGES + ``extra`` + LEASEBOX_TEST_EXTRA_PACKAGES, sorted, without repeats."""
    env_extra = [p.strip() for p in os.environ.get("LEASEBOX_TEST_EXTRA_PACKAGES", "").split(",")]
    names = {*DEFAULT_PACKAGES, *extra, *(p for p in env_extra if p)}
    for name in names:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name):
            raise HarnessError(f"not a Debian package name: {name!r}")
    return tuple(sorted(names))


def tree_key(packages: Sequence[str], suite: str = SUITE) -> str:
    text = "\n".join([f"harness={HARNESS_VERSION}", f"suite={suite}", *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for raw in [*text.splitlines(), ""]:
        line = raw.rstrip()
        if line.startswith("#"):
            continue
        if not line:
            if stanza:
                yield stanza
            stanza, key = {}, ""
        elif line[0].isspace() and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()


def host_mirror(suite: str = SUITE, etc_apt: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt uses on this host for ``suite`` (not its -security/-updates).

    LEASEBOX_TEST_MIRROR overrides. Reads sources.list, sources.list.d/*.list and
    sources.list.d/*.sources (deb822); files with other suffixes are ignored, as apt does.
    """
    override = os.environ.get("LEASEBOX_TEST_MIRROR")
    if override:
        return override.rstrip("/")
    candidates: list[tuple[str, list[str]]] = []  # (uri, suites)
    list_files = [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*.list"))]
    for path in list_files:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    candidates.append((words[1], [words[2]]))
    for path in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        with contextlib.suppress(OSError):
            for st in _deb822_stanzas(path.read_text()):
                if "deb" not in st.get("types", "").split() or st.get("enabled") == "no":
                    continue
                suites = st.get("suites", "").split()
                candidates += [(uri, suites) for uri in st.get("uris", "").split()]
    for uri, suites in candidates:
        if suite in suites:
            return uri.rstrip("/")
    # A Debian 12 host lists no trixie source: the archive that serves its own release
    # serves the other supported one too.
    for uri, suites in candidates:
        if any(s in SUITES for s in suites):
            return uri.rstrip("/")
    raise HarnessError(f"no apt source for suite {suite!r} in {etc_apt}; set LEASEBOX_TEST_MIRROR")


def _tree_complete(tree: Path, key: str) -> bool:
    try:
        return (tree / STAMP).read_text().splitlines()[0] == f"key={key}"
    except (OSError, IndexError):
        return False


@contextlib.contextmanager
def _flock(path: Path, timeout: float, log: Log) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    log(f"waiting for another build holding {path}")
                    told = True
                if time.monotonic() > deadline:
                    raise HarnessError(f"waited {timeout:.0f}s for the lock {path}") from None
                time.sleep(0.5)
        yield fd
    finally:
        os.close(fd)


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or not path.exists():
        return
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        raise HarnessError(f"could not remove {path}")


def _last_info_line(path: Path) -> str:
    for line in reversed(_tail(path, 50).splitlines()):
        if line.startswith("I: "):
            return line
    return ""


def _debootstrap(
    target: Path, *, packages: Sequence[str], suite: str, mirror: str, lock_fd: int, log: Log
) -> None:
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(packages)}",
        suite,
        str(target),
        mirror,
    ]
    log_path = target.parent / f"{target.name}.log"
    log(f"building the {suite} tree with debootstrap from {mirror} (about a minute)")
    log(f"  debootstrap log: {log_path}")
    started = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}
    with log_path.open("wb") as out:
        # debootstrap inherits the lock: if this process is killed outright, the orphaned
        # build keeps the lock until it ends, so the next run cannot delete the directory
        # under its feet.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            pass_fds=(lock_fd,),
        )
        try:
            last = ""
            while True:
                try:
                    rc = proc.wait(timeout=5)
                    break
                except subprocess.TimeoutExpired:
                    pass
                elapsed = time.monotonic() - started
                if elapsed > BUILD_TIMEOUT:
                    raise HarnessError(f"debootstrap ran over {BUILD_TIMEOUT:.0f}s; see {log_path}")
                line = _last_info_line(log_path)
                if line and line != last:
                    log(f"  {elapsed:5.1f}s {line}")
                    last = line
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    if rc != 0:
        raise HarnessError(f"debootstrap failed ({rc}); end of {log_path}:\n{_tail(log_path, 20)}")
    log(f"debootstrap done in {time.monotonic() - started:.1f}s")


def _replace_with_symlink(link: Path, target: str) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def _configure_tree(root: Path, *, key: str, packages: Sequence[str], suite: str) -> None:
    """Pre-configure a fresh tree for quick, quiet, distinguishable container boots."""
    etc = root / "etc"
    (etc / "hostname").write_text("leasebox-test\n")
    unit_dir = etc / "systemd" / "system"
    for unit in MASKED_UNITS:
        _replace_with_symlink(unit_dir / unit, "/dev/null")
    _replace_with_symlink(unit_dir / "default.target", "/lib/systemd/system/multi-user.target")
    # A hung unit must not hold up the end of a test for 90 s.
    (etc / "systemd" / "system.conf.d").mkdir(parents=True, exist_ok=True)
    (etc / "systemd" / "system.conf.d" / "leasebox-test.conf").write_text(
        "[Manager]\nDefaultTimeoutStartSec=20s\nDefaultTimeoutStopSec=5s\n"
    )
    # timesyncd skips containers and machines without CAP_SYS_TIME (ConditionVirtualization=,
    # ConditionCapability=). Here it runs as on a user's machine, minus the capability: it
    # never sets the clock (the host's), and it needs it for nothing leasebox tests.
    dropin = unit_dir / "systemd-timesyncd.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "in-container.conf").write_text(
        "[Unit]\n# empty: resets every condition\nConditionVirtualization=\n"
        "[Service]\nCapabilityBoundingSet=\nAmbientCapabilities=\n"
    )
    (etc / "systemd" / "journald.conf.d").mkdir(parents=True, exist_ok=True)
    (etc / "systemd" / "journald.conf.d" / "leasebox-test.conf").write_text(
        "[Journal]\nStorage=volatile\n"
    )
    # Empty (not "uninitialized"): not a first boot, and systemd takes the machine id nspawn
    # passes in (--uuid). dbus's postinst wrote its own random id to /var/lib/dbus/machine-id,
    # which systemd would prefer, so every container would share it: point it at /etc.
    (etc / "machine-id").write_text("")
    _replace_with_symlink(root / "var" / "lib" / "dbus" / "machine-id", "/etc/machine-id")
    # Downloaded packages and apt lists are not needed at run time.
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (root / sub).glob("*"):
            if entry.is_file() and entry.name != "lock":
                entry.unlink()
    (root / STAMP).write_text(
        f"key={key}\nharness={HARNESS_VERSION}\nsuite={suite}\npackages={','.join(packages)}\n"
        f"built={time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
    )


def ensure_tree(
    extra_packages: Sequence[str] = (),
    suite: str = SUITE,
    log: Log = log_stderr,
) -> Path:
    """Return the cached tree for DEFAULT_PACKAGES + extra_packages, building it if needed."""
    if os.geteuid() != 0:
        raise HarnessError("building the container tree needs root")
    packages = package_list(extra_packages)
    key = tree_key(packages, suite)
    root = cache_root()
    tree = root / f"tree-{key}"
    if _tree_complete(tree, key):
        return tree
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    with _flock(root / ".lock", LOCK_TIMEOUT, log) as lock_fd:
        if _tree_complete(tree, key):  # another run built it while we waited
            return tree
        # We hold the lock, so anything called .building-* is from an interrupted build.
        for stale in root.glob(".building-*"):
            log(f"removing leftover {stale}")
            if stale.is_dir() and not stale.is_symlink():
                _remove_tree(stale)
            else:
                stale.unlink()
        _remove_tree(tree)  # a directory without a valid stamp is not a tree
        tmp = root / f".building-{key}-{os.getpid()}"
        tmp.mkdir(mode=0o755)
        try:
            mirror = host_mirror(suite)
            _debootstrap(
                tmp, packages=packages, suite=suite, mirror=mirror, lock_fd=lock_fd, log=log
            )
            _configure_tree(tmp, key=key, packages=packages, suite=suite)
            os.rename(tmp, tree)
        except BaseException:
            _remove_tree(tmp)
            raise
        with contextlib.suppress(OSError):
            os.replace(root / f"{tmp.name}.log", root / f"tree-{key}.build.log")
        log(f"tree ready: {tree}")
    return tree


# --------------------------------------------------------------------------------------------
# Processes and cgroups on the host
# --------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                kids += map(int, Path(f"/proc/{pid}/task/{task}/children").read_text().split())
    return kids


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cgroup_pids(top: Path) -> set[int]:
    """Every PID in the cgroup ``top`` and below."""
    pids: set[int] = set()
    for dirpath, _dirs, _files in os.walk(top):
        with contextlib.suppress(OSError):
            pids.update(map(int, Path(dirpath, "cgroup.procs").read_text().split()))
    return pids


def _pids_in(tops: Sequence[Path]) -> set[int]:
    pids: set[int] = set()
    for top in tops:
        pids |= cgroup_pids(top)
    return pids


def _pid_ns(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        for kid in _children(todo.pop()):
            if kid not in found:
                found.add(kid)
                todo.append(kid)
    return found


def _kill_cgroups(tops: Sequence[Path], timeout: float) -> set[int]:
    """SIGKILL every process in ``tops`` (by PID) until they are empty; return survivors."""
    deadline = time.monotonic() + timeout
    while True:
        pids = _pids_in(tops)
        if not pids or time.monotonic() > deadline:
            return pids
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _signal_inside_first(
    get_pids: Callable[[], set[int]], pid_ns: str, sig: signal.Signals, wait: float
) -> None:
    """Signal the container-side half of nsenter'd commands and let nsenter go by itself.

    ``nsenter --all`` forks: the host-side nsenter waits for its child in the container's
    PID namespace and exits with its status. If nsenter dies first, the child is orphaned
    to the reaper of *nsenter's* PID namespace, the host's PID 1, which on these machines
    reaps lazily (seconds): the zombie lingers in the container and systemd-shutdown waits
    for it. So: signal only the processes in the container's PID namespace, then wait up to
    ``wait`` seconds for the nsenter processes to reap them and exit.
    """
    deadline = time.monotonic() + wait
    signalled: set[int] = set()
    while True:
        pids = get_pids()
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids - signalled:
            if pid_ns and _pid_ns(pid) == pid_ns:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                signalled.add(pid)
        time.sleep(0.01)


def _rmdir_depth_first(top: Path, timeout: float = 2.0) -> list[str]:
    """Remove a cgroup directory tree: rmdir only (cgroupfs control files go with their dir).
    EBUSY (a process still leaving) is retried until ``timeout``."""
    problems: list[str] = []
    if not top.is_dir():
        return problems
    deadline = time.monotonic() + timeout
    for dirpath, _dirs, _files in os.walk(top, topdown=False):
        while True:
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass
            except OSError as e:
                if e.errno == errno.EBUSY and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                problems.append(f"rmdir {dirpath}: {e.strerror}")
            break
    return problems


def _join_cgroups(dirs: Sequence[Path]) -> Callable[[], None]:
    """A preexec_fn that moves the forked child into ``dirs`` (one per hierarchy)."""
    paths = [str(d / "cgroup.procs") for d in dirs]

    def join() -> None:  # runs between fork and exec: raw syscalls only
        for p in paths:
            fd = os.open(p, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    return join


# --------------------------------------------------------------------------------------------
# The container
# --------------------------------------------------------------------------------------------


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot: with the PID, names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def reap_stale(log: Log = log_stderr) -> list[str]:
    """Stop containers whose owning process died without stopping them (e.g. a pytest
    killed with SIGKILL: nspawn runs in its own session and would go on forever). Kills
    their processes by PID through their cgroups, removes the cgroups and work directories.
    Returns the names reaped."""
    reaped: list[str] = []
    if not REGISTRY.is_dir():
        return reaped
    for entry in sorted(REGISTRY.iterdir()):
        try:
            owner, started, workdir = entry.read_text().split("\n")[:3]
        except (OSError, ValueError):
            continue
        if owner.isdigit() and _start_time(int(owner)) == started:
            continue  # its owner is alive: not ours to touch
        name = entry.name
        cgroups = [CGROUP_ROOT / h / name for h in CGROUP_HIERARCHIES]
        survivors = _kill_cgroups([cg for cg in cgroups if cg.is_dir()], timeout=5)
        problems = [p for cg in cgroups for p in _rmdir_depth_first(cg)]
        if survivors or problems:
            log(f"could not reap stale container {name}: {sorted(survivors)} {problems}")
            continue
        with contextlib.suppress(OSError):
            (NSPAWN_RUN_DIR / "propagate" / name).rmdir()
        if workdir.startswith(f"/tmp/{name}-"):
            shutil.rmtree(workdir, ignore_errors=True)
        entry.unlink()
        log(f"reaped stale container {name} (owner {owner} is gone)")
        reaped.append(name)
    return reaped


class Background:
    """A command started with :meth:`Container.spawn`, in a cgroup of its own on the host.

    ``stop()`` kills everything the command started (by PID, found through its cgroups).
    Output goes to ``log_path``.
    """

    def __init__(
        self, proc: subprocess.Popen[bytes], cgroups: list[Path], log_path: Path, pid_ns: str
    ) -> None:
        self.proc = proc
        self.cgroups = cgroups
        self.log_path = log_path
        self._pid_ns = pid_ns

    def pids(self) -> set[int]:
        """Host PIDs of the processes the command is made of (nsenter and what it started)."""
        return _pids_in(self.cgroups)

    def running(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; return nsenter's exit status (which
        is the command's, or -signal)."""
        _signal_inside_first(self.pids, self._pid_ns, signal.SIGTERM, timeout)
        _signal_inside_first(self.pids, self._pid_ns, signal.SIGKILL, 1.0)
        survivors = _kill_cgroups(self.cgroups, timeout)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        problems = [p for cg in self.cgroups for p in _rmdir_depth_first(cg)]
        if survivors or problems:
            raise HarnessError(f"background job left {sorted(survivors)} {problems}")
        return self.proc.returncode


@contextlib.contextmanager
def overlay_tree(base: Path, log: Log = log_stderr) -> Iterator[Path]:
    """A writable copy of ``base`` for containers that must keep what they change across
    a poweroff and the next boot: an overlayfs whose upper layer lives as long as the
    context. Unmounted and removed after, by its own path."""
    top = Path(tempfile.mkdtemp(prefix="lbx-tree-", dir="/var/tmp"))
    merged, upper, work = top / "merged", top / "upper", top / "work"
    for d in (merged, upper, work):
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={base},upperdir={upper},workdir={work}", str(merged)],
                   check=True, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    try:
        yield merged
    finally:
        done = subprocess.run(["umount", str(merged)], capture_output=True, timeout=30,
                              stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            log(f"cannot unmount {merged}: {done.stderr.decode(errors='replace').strip()}")
        else:
            shutil.rmtree(top, ignore_errors=True)


class Container:
    """One booted systemd container. Use as a context manager::

        with Container(binds_ro={"/work/main": "/src"}) as c:
            c.systemctl("start", "foo.service")
            print(c.run(["ip", "-br", "link"]).stdout)

    Each container gets its own parent cgroup in the ``name=systemd`` and unified hierarchies
    (nspawn started from a shared cgroup collides on ``payload/``). Commands run with
    :meth:`run` and :meth:`spawn` join a sibling cgroup, ``host-exec``, so anything they leave
    running is found and killed by :meth:`stop`.

    Note that these commands run with the host root's full capabilities and no seccomp
    filter, in the container's namespaces: to test confinement, go through units
    (``systemctl start``, ``systemd-run``), whose processes are the container's own.
    """

    def __init__(
        self,
        tree: Path | None = None,
        *,
        name: str | None = None,
        binds_ro: Mapping[str, str] | None = None,
        binds: Mapping[str, str] | None = None,
        extra_nspawn_args: Sequence[str] = (),
        volatile: bool = True,
        machine_id: str | None = None,
        boot_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        log: Log = log_stderr,
    ) -> None:
        """``binds_ro``/``binds`` map host paths to paths in the container (read-only/rw).
        ``volatile=False`` boots ``tree`` itself, writable: what the container changes
        stays for its next boot (give it a copy, e.g. :func:`overlay_tree`), and
        ``machine_id`` (32 hex digits; default: a new one) keeps its identity too."""
        self.tree = tree
        self.name = name or f"lbx-{secrets.token_hex(4)}"
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9-]{0,62}", self.name):
            raise HarnessError(f"bad machine name {self.name!r}")
        self.binds_ro = dict(binds_ro or {})
        self.binds = dict(binds or {})
        self.extra_nspawn_args = list(extra_nspawn_args)
        self.volatile = volatile
        self.machine_id = machine_id or uuid.uuid4().hex
        if not re.fullmatch(r"[0-9a-f]{32}", self.machine_id):
            raise HarnessError(f"bad machine id {self.machine_id!r}")
        self.exit_code: int | None = None  # nspawn's, once stopped: 0 after a clean poweroff
        self.boot_timeout = boot_timeout
        self.stop_timeout = stop_timeout
        self.log = log
        self.workdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid1 = 0
        self.boot_seconds = 0.0
        self.stop_seconds = 0.0
        self.cgroups = [CGROUP_ROOT / h / self.name for h in CGROUP_HIERARCHIES]
        self._exec_cgroups = [cg / "host-exec" for cg in self.cgroups]
        self._notify: socket.socket | None = None
        self._background: list[Background] = []
        self._pid_ns = ""  # the container's PID namespace, as readlink /proc/PID/ns/pid
        self._started = 0.0
        self._registered = False  # True once we own the registry entry and cgroup names

    @property
    def console_log(self) -> Path:
        if self.workdir is None:
            raise HarnessError("container was never started")
        return self.workdir / "console.log"

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Container:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if os.geteuid() != 0:
            raise HarnessError("systemd-nspawn containers need root")
        if self.proc is not None:
            raise HarnessError("container already started")
        if self.tree is None:
            self.tree = ensure_tree(log=self.log)
        try:
            self._spawn(self.tree)
            self._wait_booted()
        except BaseException:
            self.stop()
            raise

    def _nspawn_argv(self, tree: Path) -> list[str]:
        argv = [
            NSPAWN,
            "--quiet",
            "--boot",
            "--register=no",
            "--keep-unit",
            *(["--volatile=overlay"] if self.volatile else []),
            "--private-network",
            "--link-journal=no",
            "--console=read-only",
            "--notify-ready=yes",
            # systemd's BPF programs (IPAddressDeny=, DevicePolicy=), as on a host:
            # nspawn's own filter leaves bpf() out otherwise
            "--system-call-filter=bpf",
            f"--directory={tree}",
            f"--machine={self.name}",
            f"--uuid={uuid.UUID(self.machine_id)}",  # becomes the container's machine id
        ]
        for opt, binds in (("--bind-ro", self.binds_ro), ("--bind", self.binds)):
            for host, inside in binds.items():
                if ":" in host or ":" in inside or not inside.startswith("/"):
                    raise HarnessError(f"bind paths must be absolute, without ':': {host}:{inside}")
                if not Path(host).exists():
                    raise HarnessError(f"bind source does not exist: {host}")
                argv.append(f"{opt}={host}:{inside}")
        return argv + self.extra_nspawn_args

    def _spawn(self, tree: Path) -> None:
        for cg in self.cgroups:
            if cg.exists():
                raise HarnessError(f"cgroup {cg} already exists: machine name in use?")
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir="/tmp"))
        REGISTRY.mkdir(parents=True, exist_ok=True)
        (REGISTRY / self.name).write_text(
            f"{os.getpid()}\n{_start_time(os.getpid())}\n{self.workdir}\n"
        )
        self._registered = True
        for cg in [*self.cgroups, *self._exec_cgroups]:
            cg.mkdir()
        argv = self._nspawn_argv(tree)
        notify_path = self.workdir / "notify"
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._notify.bind(str(notify_path))
        env = {"PATH": CONTAINER_PATH, "LANG": "C.UTF-8", "NOTIFY_SOCKET": str(notify_path),
               # cgroup v2 only, as Debian 12 and 13 boot by default; left to itself
               # nspawn copies this host's v1 hybrid, which users do not run.
               "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1",
               # No seccomp filter of this host's nspawn (systemd 252) below the
               # container's: filters stack, and 252's answers ENOSYS for every system
               # call it does not know, so a Debian 13 container ran its units under 252's
               # table, not 257's, as no Debian 13 host does. The services' own filters,
               # which the container's systemd installs, are what the tests are about.
               "SYSTEMD_SECCOMP": "0"}
        self._started = time.monotonic()
        with self.console_log.open("wb") as console:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_join_cgroups(self.cgroups),
                start_new_session=True,
            )

    def _boot_failure(self, why: str) -> HarnessError:
        return HarnessError(
            f"container {self.name} did not boot: {why}\n"
            f"--- end of {self.console_log} ---\n{_tail(self.console_log)}"
        )

    def _find_pid1(self) -> int:
        assert self.proc is not None
        for kid in _children(self.proc.pid):
            if _comm(kid) == "systemd":
                self._pid_ns = _pid_ns(kid)
                return kid
        return 0

    def _wait_booted(self) -> None:
        assert self.proc is not None and self._notify is not None
        deadline = self._started + self.boot_timeout
        # 1. nspawn passes on READY=1 when the container's systemd has finished booting.
        ready = False
        while not (ready and self.pid1):
            if self.proc.poll() is not None:
                raise self._boot_failure(f"systemd-nspawn exited ({self.proc.returncode})")
            if not self.pid1:
                self.pid1 = self._find_pid1()
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._boot_failure(
                    f"no {'PID 1' if not self.pid1 else 'READY=1'} within {self.boot_timeout:.0f}s"
                )
            if ready:
                time.sleep(0.01)
                continue
            self._notify.settimeout(min(left, 0.5 if self.pid1 else 0.02))
            try:
                ready = b"READY=1" in self._notify.recv(4096).split(b"\n")
            except TimeoutError:
                pass
        # 2. Confirm from inside: running, or degraded (some unit failed).
        state = ""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._boot_failure(f"state {state!r} after {self.boot_timeout:.0f}s")
            argv = ["systemctl", "is-system-running", "--wait"]
            try:
                state = self.run(argv, check=False, timeout=left).stdout.strip()
            except subprocess.TimeoutExpired:
                continue
            if state in ("running", "degraded"):
                break
            if state in ("maintenance", "stopping", "offline"):
                raise self._boot_failure(f"state {state!r}")
            time.sleep(0.05)
        self.boot_seconds = time.monotonic() - self._started
        self.log(f"container {self.name} {state} in {self.boot_seconds:.2f}s (PID 1: {self.pid1})")
        # Keep reading nspawn's notifications after boot: the container's systemd reports
        # every job running longer than ~2 s, nspawn forwards each, and once
        # net.unix.max_dgram_qlen of them wait unread nspawn blocks in sendmsg() for good
        # and can no longer power the container off.
        threading.Thread(target=self._drain_notify, args=(self._notify,), daemon=True,
                         name=f"{self.name}-notify").start()

    @staticmethod
    def _drain_notify(sock: socket.socket) -> None:
        # A timeout, not a blocking recv: close() from stop() does not wake a blocked recv,
        # but the next round sees the socket closed (fileno -1, or EBADF) and ends.
        sock.settimeout(0.2)
        while sock.fileno() != -1:
            try:
                sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return

    def stop(self) -> None:
        """Power off (SIGTERM to nspawn = SIGRTMIN+3 to systemd), wait with a bound, kill what
        is left by PID, remove the cgroups and temporary files. Idempotent."""
        if not self._registered:  # never got as far as creating anything
            return
        started = time.monotonic()
        problems: list[str] = []
        proc, self.proc = self.proc, None
        # First what run()/spawn() started. They must go before the container shuts down:
        # systemd-shutdown freezes every process in its PID namespace with SIGSTOP, nsenter
        # (waiting outside that namespace with WUNTRACED) then stops itself too, nobody ever
        # sends it SIGCONT, its killed child stays an unreaped zombie, and shutdown waits on
        # that zombie until nspawn is killed. And they go inside first (see
        # _signal_inside_first) so that no zombie is left for the host's PID 1 to reap.
        exec_cgroups = [cg for cg in self._exec_cgroups if cg.is_dir()]
        _signal_inside_first(lambda: _pids_in(exec_cgroups), self._pid_ns, signal.SIGKILL, 1.0)
        survivors = _kill_cgroups(exec_cgroups, timeout=5)
        if survivors:
            problems.append(f"host-exec processes survived SIGKILL: {sorted(survivors)}")
        for job in self._background:
            with contextlib.suppress(subprocess.TimeoutExpired):
                job.proc.wait(timeout=5)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"nspawn did not exit {self.stop_timeout:.0f}s after SIGTERM")
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        if proc is not None and proc.returncode is None:
            problems.append(f"nspawn (pid {proc.pid}) survived SIGKILL")
        if proc is not None:
            self.exit_code = proc.returncode
        if self.pid1:
            # Only if nspawn was SIGKILLed could it still be there; killing a PID namespace's
            # init kills the whole namespace.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid1, signal.SIGKILL)
            self.pid1 = 0
        survivors = _kill_cgroups([cg for cg in self.cgroups if cg.is_dir()], timeout=5)
        if survivors:
            problems.append(f"processes left in the {self.name} cgroups: {sorted(survivors)}")
        for cg in self.cgroups:
            problems += _rmdir_depth_first(cg)
        # nspawn leaves an empty directory per machine name here (the overlay, its tmpfs and
        # the bind mounts live in nspawn's own mount namespace and went with it).
        with contextlib.suppress(OSError):
            (NSPAWN_RUN_DIR / "propagate" / self.name).rmdir()
        if self._notify is not None:
            self._notify.close()
            self._notify = None
        if proc is not None:
            self.stop_seconds = time.monotonic() - started
        if problems:
            raise HarnessError(
                f"container {self.name} teardown: {'; '.join(problems)} (kept {self.workdir})"
            )
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        (REGISTRY / self.name).unlink(missing_ok=True)
        self._registered = False

    # -- driving it --------------------------------------------------------------------------

    def nsenter_argv(self, cmd: Sequence[str]) -> list[str]:
        """The host command line that runs ``cmd`` inside the container."""
        if not self.pid1:
            raise HarnessError("container is not running")
        return [NSENTER, f"--target={self.pid1}", "--all", "--", *cmd]

    @staticmethod
    def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
        return {
            "PATH": CONTAINER_PATH,
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "SYSTEMD_PAGER": "",
            "SYSTEMD_COLORS": "0",
            **(extra or {}),
        }

    def run(
        self,
        cmd: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 30.0,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` inside the container (all its namespaces and its root; a clean
        environment plus ``env``) and wait for it. Do not leave background processes
        holding its stdout/stderr: :meth:`run` waits for them to close; use :meth:`spawn`."""
        proc = subprocess.Popen(
            self.nsenter_argv(cmd),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env(env),
            preexec_fn=_join_cgroups(self._exec_cgroups),
        )
        out, err = self._communicate(proc, input, timeout)
        r = subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)
        if check and r.returncode != 0:
            raise HarnessError(
                f"{list(cmd)} failed with status {r.returncode} in {self.name}\n"
                f"stdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-2000:]}"
            )
        return r

    def _communicate(
        self, proc: subprocess.Popen[AnyStr], input: AnyStr | None, timeout: float
    ) -> tuple[AnyStr, AnyStr]:
        try:
            return proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            # Kill the command, not nsenter (see _signal_inside_first); nsenter follows.
            def left() -> set[int]:
                return _descendants(proc.pid) | ({proc.pid} if proc.poll() is None else set())

            _signal_inside_first(left, self._pid_ns, signal.SIGKILL, 1.0)
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)  # a detached grandchild may still hold the pipes
            raise

    def spawn(self, cmd: Sequence[str], *, env: Mapping[str, str] | None = None) -> Background:
        """Start ``cmd`` inside the container without waiting for it; output to a file."""
        if self.workdir is None:
            raise HarnessError("container is not running")
        n = len(self._background) + 1
        cgroups = [cg / f"job-{n}" for cg in self._exec_cgroups]
        for cg in cgroups:
            cg.mkdir()
        log_path = self.workdir / f"job-{n}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                self.nsenter_argv(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env(env),
                preexec_fn=_join_cgroups(cgroups),
            )
        job = Background(proc, cgroups, log_path, self._pid_ns)
        self._background.append(job)
        return job

    def systemctl(self, *args: str, check: bool = True, timeout: float = 30.0) -> str:
        return self.run(["systemctl", "--no-pager", *args], check=check, timeout=timeout).stdout

    def journalctl(self, *args: str, check: bool = True, timeout: float = 30.0) -> str:
        return self.run(["journalctl", "--no-pager", *args], check=check, timeout=timeout).stdout

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write ``text`` to ``path`` in the container, creating parent directories. The
        content goes over stdin and the path as an argument: nothing is quoted into a shell."""
        if not path.startswith("/"):
            raise HarnessError(f"container path must be absolute: {path!r}")
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod -- "$2" "$1"'
        self.run(["sh", "-c", script, "sh", path, f"{mode:o}"], input=text)

    def read_file(self, path: str) -> str:
        return self.run(["cat", "--", path]).stdout

    def copy_in(self, host_path: str | Path, container_path: str, timeout: float = 120.0) -> None:
        """Copy a host file or directory tree to ``container_path`` (replacing it), via tar."""
        src = Path(host_path)
        if not src.exists():
            raise HarnessError(f"no such host path: {src}")
        if not container_path.startswith("/"):
            raise HarnessError(f"container path must be absolute: {container_path!r}")
        script = (
            'set -e; d=$(mktemp -d); tar -C "$d" -xf -; mkdir -p -- "$(dirname -- "$2")"; '
            'rm -rf -- "$2"; mv -- "$d/$1" "$2"; rmdir -- "$d"'
        )
        with tempfile.TemporaryFile() as tar:
            subprocess.run(
                ["tar", "-C", str(src.parent), "-cf", "-", "--", src.name],
                stdin=subprocess.DEVNULL,
                stdout=tar,
                check=True,
                timeout=timeout,
            )
            tar.seek(0)
            self._run_with_stdin(["sh", "-c", script, "sh", src.name, container_path], tar, timeout)

    def _run_with_stdin(self, cmd: Sequence[str], stdin: IO[bytes], timeout: float) -> None:
        proc = subprocess.Popen(
            self.nsenter_argv(cmd),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env(None),
            preexec_fn=_join_cgroups(self._exec_cgroups),
        )
        _out, err = self._communicate(proc, None, timeout)
        if proc.returncode != 0:
            raise HarnessError(f"{list(cmd)} failed ({proc.returncode}): {err.decode()[-2000:]}")


def host_leftovers(name: str) -> list[str]:
    """What a stopped container called ``name`` still has on the host (empty when clean):
    live processes whose cgroup mentions it, cgroup directories, mounts, run files."""
    found: list[str] = []
    for h in CGROUP_HIERARCHIES:
        if (CGROUP_ROOT / h / name).exists():
            found.append(f"cgroup {CGROUP_ROOT / h / name}")
    in_cgroup = re.compile(rf":/{re.escape(name)}(/|$)", re.MULTILINE)
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            if not in_cgroup.search((pid_dir / "cgroup").read_text()):
                continue
            # A zombie is dead; it is only waiting to be reaped by its parent, which for an
            # orphan is the host's PID 1 (lazy here), and still names its removed cgroup.
            if (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(f"process {pid_dir.name} ({_comm(int(pid_dir.name))})")
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            if name in line:
                found.append(f"mount {line}")
    for path in (NSPAWN_RUN_DIR / "propagate" / name, REGISTRY / name):
        if path.exists():
            found.append(f"file {path}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """build: the tree; reap: stale containers; shell, or run [options] -- CMD...: in a
    throwaway container, e.g. shell --bind-ro /work/main:/src."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(prog="scripts/container", description=main.__doc__)
    parser.add_argument("action", choices=["build", "reap", "shell", "run"])
    parser.add_argument("--bind-ro", action="append", default=[], metavar="HOST:CONTAINER")
    parser.add_argument("--bind", action="append", default=[], metavar="HOST:CONTAINER")
    parser.add_argument("--suite", choices=SUITES, default=SUITE,
                        help=f"the Debian release of the tree (default {SUITE})")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if args.action == "build":
        t0 = time.monotonic()
        print(f"{ensure_tree(suite=args.suite)} ({time.monotonic() - t0:.1f}s)")
        return 0
    if args.action == "reap":
        reap_stale()
        return 0
    binds_ro = dict(b.split(":", 1) for b in args.bind_ro)
    binds = dict(b.split(":", 1) for b in args.bind)
    cmd = cmd or (["bash", "-l"] if args.action == "shell" else [])
    if not cmd:
        parser.error("run needs a command after --")
    with Container(ensure_tree(suite=args.suite), binds_ro=binds_ro, binds=binds) as c:
        # Interactive: inherits the terminal, so no timeout; the container goes when it ends.
        return subprocess.call(
            c.nsenter_argv(cmd),
            env=c._env({"TERM": os.environ.get("TERM", "dumb")}),
            preexec_fn=_join_cgroups(c._exec_cgroups),
        )


if __name__ == "__main__":
    sys.exit(main())
