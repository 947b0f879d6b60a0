"""The configuration netconf serves an engine with: the files as they were when that engine
started, not as they are now.

netconf exits when idle, and the engine's next request (a renewal, hours later) starts it
again. Reading the files anew at each start would apply a file saved since, half-edited,
mid-lease, where leasebox.conf(5) promises changes at a restart; and a mistake in it would
stop netconf with exit 78, leaving the renewal unapplied and the address to expire with
its old kernel lifetime while the engine believes it BOUND.

So netconf keeps the text of the files it read for an engine, and that engine's process
ID, in its runtime directory (/run/leasebox-netconf/IFACE: the engine cannot reach it, and
it goes at reboot). The PID comes from the kernel (SO_PEERCRED), not from the engine: an
engine with another PID has started since, and read the files itself, so netconf reads
them again too. The snapshot is read back as netconf's own file, strictly: anything
unexpected and it is ignored, the files read instead.
"""

from __future__ import annotations

import json
import os

from leasebox.config import files
from leasebox.config.parse import Config, ConfigError
from leasebox.config.parse import parse as parse_config
from leasebox.core.log import Logger
from leasebox.core.record import record
from leasebox.runtime import atomicfile, readfile

FILENAME = "config.json"
VERSION = 1
MAX_FILES = 512
MAX_SIZE = 8 << 20  # the files it holds are at most 1 MiB each, and few


class SnapshotError(ValueError):
    pass


@record
class Snapshot:
    engine_pid: int
    files: tuple[tuple[str, str], ...]  # (path, text), in the order applied


def save(directory: str, snapshot: Snapshot) -> None:
    """Atomically, owner only. Raises OSError."""
    data = json.dumps({"version": VERSION, "engine_pid": snapshot.engine_pid,
                       "files": [list(pair) for pair in snapshot.files]})
    atomicfile.write_atomic(directory, FILENAME, data.encode("utf-8"), mode=0o600)


def load(directory: str) -> Snapshot | None:
    """The snapshot, None if there is none. Raises SnapshotError (OSError included)."""
    try:
        data = readfile.read_regular(os.path.join(directory, FILENAME), MAX_SIZE)
    except FileNotFoundError:
        return None
    except OSError as exc:  # NotRegularFile among them
        raise SnapshotError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_SIZE:
        raise SnapshotError(f"larger than {MAX_SIZE} bytes")
    return parse(data)


def parse(data: bytes) -> Snapshot:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SnapshotError(f"not JSON: {exc}") from None
    if type(doc) is not dict or doc.get("version") != VERSION or set(doc) != {
            "version", "engine_pid", "files"}:
        raise SnapshotError("not a snapshot of this version")
    pid, files = doc["engine_pid"], doc["files"]
    if type(pid) is not int or not 0 < pid < 1 << 31:
        raise SnapshotError(f"engine_pid: {pid!r}")
    if type(files) is not list or len(files) > MAX_FILES or not all(
            type(pair) is list and len(pair) == 2 and all(type(x) is str for x in pair)
            for pair in files):
        raise SnapshotError("files: not a list of [path, text]")
    return Snapshot(pid, tuple((path, text) for path, text in files))


class Configs:
    """Which configuration netconf serves with: see the module's doc. Made at netconf's
    start, which reads the files and what was kept."""

    def __init__(self, root: str, interface: str, directory: str, log: Logger) -> None:
        self.root, self.interface, self.directory, self.log = root, interface, directory, log
        self.kept: Snapshot | None = None
        self.kept_config: Config | None = None
        try:
            self.kept = load(directory)
        except SnapshotError as exc:
            log.warning("ignoring %s/%s: %s", directory, FILENAME, exc)
        if self.kept is not None:
            try:
                self.kept_config = parse_config(self.kept.files)
            except ConfigError as exc:  # written by another version, say
                log.warning("ignoring the configuration kept for engine pid %d: %s",
                            self.kept.engine_pid, exc)
                self.kept = None
        # the files as at netconf's start: at a start of the target, as the engine's own
        # start read them, however long the first connection then waits (for the link)
        self.start: tuple[tuple[tuple[str, str], ...], Config] | None = None
        self.start_error: ConfigError | None = None
        self.decided: int | None = None  # the engine this netconf serves now, by PID
        try:
            self.start = self._read()
        except ConfigError as exc:
            self.start_error = exc

    def _read(self) -> tuple[tuple[tuple[str, str], ...], Config]:
        pairs = tuple(files.read(self.root, self.interface))
        return pairs, parse_config(pairs)

    def provisional(self) -> Config:
        """What to go by before an engine has connected (bringing the link up, the idle
        exit): what was kept for the engine of this target, which most likely still runs
        (netconf's socket removes it when the target has gone), else the files. Raises
        ConfigError when there is neither."""
        if self.kept is not None and self.kept_config is not None:
            if self.start_error is not None:
                self.log.warning("%s (netconf goes by the configuration read for engine pid "
                                 "%d)", self.start_error, self.kept.engine_pid)
            return self.kept_config
        if self.start is None:
            assert self.start_error is not None
            raise self.start_error
        return self.start[1]

    def _files(self, waited: bool) -> tuple[tuple[tuple[str, str], ...], Config]:
        """The files as at netconf's start for an engine whose connection waited for it
        (it started with netconf, or before), as they are now for any other. Raises
        ConfigError."""
        start, error = self.start, self.start_error
        self.start = self.start_error = None  # for one engine
        if not waited or (start is None and error is None):
            return self._read()
        if start is None:
            assert error is not None
            raise error
        return start

    def for_engine(self, pid: int, waited: bool = False) -> Config:
        """The configuration to serve engine `pid` with: the one kept for it, or, for an
        engine started since, the files (see _files), kept for it in turn. `waited`: its
        connection waited while netconf started (or waited for the link). Raises
        ConfigError."""
        if pid == self.decided and self.kept_config is not None:
            return self.kept_config  # said already
        if self.kept is not None and self.kept_config is not None \
                and self.kept.engine_pid == pid:
            self.decided = pid
            try:
                changed, why = self._files(waited)[0] != self.kept.files, "changed"
            except ConfigError as exc:
                changed, why = True, f"changed, with an error ({exc})"
            if changed:
                self.log.warning("the configuration files have %s since engine pid %d "
                                 "started: netconf keeps what it read for it until the "
                                 "engine restarts (leasebox.conf(5))", why, pid)
            return self.kept_config
        pairs, config = self._files(waited)
        self.kept, self.kept_config, self.decided = Snapshot(pid, pairs), config, pid
        try:
            save(self.directory, self.kept)
        except OSError as exc:  # netconf still serves; a later start reads the files again
            self.log.warning("cannot keep the configuration in %s: %s", self.directory,
                             exc.strerror or exc)
        return config
