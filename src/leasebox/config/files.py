"""Which configuration files there are, in which order, and reading them.

Three directories, highest precedence first (all relative to a root, `/` in production and
a temporary directory in tests):

    /etc/leasebox/            the administrator's
    /run/leasebox-conf/       runtime configuration (generated, or set for this boot)
    /usr/lib/leasebox/conf/   the vendor's (packages)

Not /run/leasebox/conf: /run/leasebox/IFACE holds each interface's control socket, and
"conf" is a valid interface name. In those directories, read in this order (later wins):

    leasebox.conf                          the first found, by precedence
    leasebox.conf.d/*.conf                 from all three, sorted by file name
    interfaces/IFACE.conf                  the first found, by precedence
    interfaces/IFACE.conf.d/*.conf         from all three, sorted by file name

A drop-in in a higher directory masks one of the same name in a lower directory; an empty
file, or a symlink to /dev/null, masks without setting anything. Per-interface files live
in interfaces/ so that an interface named "leasebox" cannot collide with leasebox.conf.

The services read this at start-up from inside their sandbox, where the units bind
/etc/leasebox and /run/leasebox-conf read-only (/usr comes with /usr).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from stat import S_ISCHR, S_ISDIR, S_ISREG

# paths are str, not pathlib's: the engine reads these and loads no pathlib (~0.3 MiB)
from leasebox.config.parse import Config, ConfigError, Override, parse

CONFIG_DIRS = ("etc/leasebox", "run/leasebox-conf", "usr/lib/leasebox/conf")
MAIN = "leasebox.conf"
INTERFACES = "interfaces"
DROPIN_SUFFIX = ".conf"
MAX_FILE = 1 << 20  # a configuration file is small; anything this big is a mistake


def _status(path: str, *, base: str, follow: bool = False) -> os.stat_result | None:
    """The file's status, None when there is no such file. One the service may not look at
    is an error, not a missing file: its settings would silently not apply. So is a
    symbolic link on the way from `base` (the configuration directory) that leads nowhere:
    in the services' minimal root, one pointing outside the directories bound into it."""
    try:
        return os.stat(path) if follow else os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        raise ConfigError(path, 0, f"cannot read: {exc.strerror or exc}") from None
    parts = os.path.relpath(path, base).split(os.sep)
    for depth in range(1, len(parts) + (1 if follow else 0)):
        step = os.path.join(base, *parts[:depth])
        if os.path.islink(step) and not os.path.exists(step):
            raise ConfigError(step, 0, f"a symbolic link to {os.readlink(step)!r}, which "
                              "is not there (or not visible to this service)")
    return None


def directories(root: str) -> list[str]:
    return [os.path.join(root, d) for d in CONFIG_DIRS]


def _names(interface: str | None) -> list[str]:
    """The files looked for, relative to a configuration directory; each NAME with its
    drop-in directory NAME.d/."""
    return [MAIN] + ([f"{INTERFACES}/{interface}.conf"] if interface else [])


def _entries(folder: str, base: str) -> list[str]:
    """The names in `folder` (a directory under the configuration directory `base`, after
    links); none when it is not there or not a directory."""
    found = _status(folder, base=base, follow=True)
    if found is None or not S_ISDIR(found.st_mode):
        return []
    try:
        return os.listdir(folder)
    except OSError as exc:
        raise ConfigError(folder, 0, f"cannot list: {exc.strerror or exc}") from None


def config_paths(root: str, interface: str | None) -> list[str]:
    """The files to read, in the order to apply them (lowest precedence first)."""
    dirs = directories(root)
    out: list[str] = []
    for name in _names(interface):
        main = next((f"{d}/{name}" for d in dirs
                     if _status(f"{d}/{name}", base=d) is not None), None)
        if main is not None:
            out.append(main)
        dropins: dict[str, str] = {}
        for d in reversed(dirs):  # lowest first, so that a higher directory's file replaces
            folder = f"{d}/{name}.d"
            for entry in _entries(folder, d):
                if entry.endswith(DROPIN_SUFFIX) and not entry.startswith("."):
                    dropins[entry] = f"{folder}/{entry}"
        out += [dropins[n] for n in sorted(dropins)]
    return out


def looked_into(root: str, interface: str | None) -> list[str]:
    """The directories that the services of `interface` look into, besides those of the
    files they read, and that are there (as directories, after links): each configuration
    directory and its interfaces/, searched for files, and the drop-in directories, listed.
    With None, those of any interface: every service runs for one, and so searches
    interfaces/. For `leaseboxctl check-config`, which checks that the services may. Raises
    ConfigError as config_paths() would for one (a link on the way that leads nowhere)."""
    dirs = directories(root)
    where = [(d, d) for d in dirs] + [(f"{d}/{INTERFACES}", d) for d in dirs]
    for name in _names(interface):
        where += [(f"{d}/{name}.d", d) for d in reversed(dirs)]
    out = []
    for path, base in where:
        found = _status(path, base=base, follow=True)
        if found is not None and S_ISDIR(found.st_mode):
            out.append(path)
    return out


def interfaces_with_files(root: str) -> list[str]:
    """The interfaces that have files of their own (interfaces/NAME.conf or NAME.conf.d/),
    in any of the directories, sorted: what `leaseboxctl check-config` checks besides
    leasebox.conf when given no interface. Raises ConfigError for an interfaces/ it cannot
    list: the files it would have found would go unchecked."""
    names: set[str] = set()
    for d in directories(root):
        for entry in _entries(f"{d}/{INTERFACES}", d):
            for suffix in (DROPIN_SUFFIX + ".d", DROPIN_SUFFIX):
                if entry.endswith(suffix) and len(entry) > len(suffix):
                    names.add(entry[:-len(suffix)])
                    break
    return sorted(names)


_DEV_NULL = os.makedev(1, 3)  # a drop-in linked to /dev/null masks one of the same name


def read_text(path: str) -> str:
    """The file's text. Opened without blocking and checked before it is read: a FIFO
    dropped into a configuration directory must not hang every service at its start."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if S_ISCHR(st.st_mode) and st.st_rdev == _DEV_NULL:
                return ""
            if not S_ISREG(st.st_mode):
                raise ConfigError(path, 0, "not a regular file")
            data = b""
            while len(data) <= MAX_FILE and (chunk := os.read(fd, MAX_FILE + 1 - len(data))):
                data += chunk
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(path, 0, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE:
        raise ConfigError(path, 0, f"larger than {MAX_FILE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise ConfigError(path, line, f"not UTF-8 text: {exc.reason} at octet {column} of "
                          "the line") from None
    # a byte order mark, which some editors write: systemd skips one too
    return text.removeprefix("\ufeff")


def read(root: str, interface: str | None) -> list[tuple[str, str]]:
    """The configuration files of `interface` (None: leasebox.conf and its drop-ins only)
    as (path, text), in the order to apply them. Raises ConfigError."""
    return [(path, read_text(path)) for path in config_paths(root, interface)]


def load(root: str, interface: str | None,
         overrides: Sequence[Override] = ()) -> Config:
    """Read and parse the configuration of `interface`. Raises ConfigError."""
    return parse(read(root, interface), overrides)
