"""leaseboxctl check-config [IFACE]: the effective configuration, and where each value is from.

Reads the files the way the services do (leasebox.config.files), so what it prints is what
leasebox-engine and leasebox-netconf for IFACE would run with (without IFACE: leasebox.conf
and its drop-ins only). Text output is a `Key=value` line per setting, in the files' own
spelling, followed by `# PROCESS: SOURCE` (the process that reads it; FILE:LINE, several
for a list, or "default"); a list whose items go one to a line (SendOption=) takes a line
for each, the comment on the first. leasebox.conf has no trailing comments, so take those
off before pasting a line into a file.

The engine's check of the whole (the messages its options make must fit one frame) runs
here too, so a configuration this accepts is one the engine starts with.

Without IFACE, every interface with files of its own is checked too (its errors only).
The engine's warnings (a per-interface setting in leasebox.conf) go to stderr, and into
the output; they do not change the exit code.

Exit codes: 0 the configuration is good; 64 a bad interface name; 66 no --config-root
directory; 78 (EX_CONFIG) it is not,
with the first error (FILE:LINE: what) on stderr, as the services would log it.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Sequence
from typing import Any

from leasebox.config import files
from leasebox.config.parse import Config, ConfigError
from leasebox.config.settings import SECTIONS, SETTINGS, Setting
from leasebox.ctl.commands import terminal_safe
from leasebox.engine.config import checked_engine_config
from leasebox.runtime import ifname
from leasebox.runtime.exits import EX_CONFIG

EX_USAGE = 64
EX_NOINPUT = 66
# The engine's whole-configuration check needs a name; only the length of the messages
# counts, and a name does not change it.
ANY_INTERFACE = "eth0"
_COMMENT_COLUMN = 38  # then two spaces, also after a longer value


def _source(config: Config, setting: Setting[Any]) -> str:
    sources = config.sources(setting)
    if sources:
        return ", ".join(str(s) for s in sources)
    return "default" if setting.default_text is None else f"default ({setting.default_text})"


def _items(setting: Setting[Any], value: Any) -> Any:
    """The value as JSON: the file spelling, a list of spellings for list settings, null
    for a setting that is unset (e.g. Hostname=); not for a value whose spelling is a word
    (ClasslessRoutes=ignore)."""
    if value is None:
        return setting.show(value) or None
    if setting.accumulate:
        return [setting.show((item,)) for item in value]
    return setting.show(value)


def _assignments(setting: Setting[Any], value: Any) -> list[str]:
    """The `Key=value` lines that set `value` again. A list whose items go one to a line
    (SendOption=CODE:TYPE:VALUE, not `CODE...`) takes a line for each; the source comment
    goes on the first."""
    if setting.accumulate and value and not setting.values.endswith("..."):
        return [f"{setting.name}={setting.show((item,))}" for item in value]
    return [f"{setting.name}={setting.show(value)}"]


def format_text(config: Config, interface: str | None, others: Sequence[str] = (),
                warnings: Sequence[str] = ()) -> str:
    what = f"for {interface}" if interface else "for every interface (no IFACE given)"
    lines = [f"# Effective leasebox configuration {what}."]
    lines += [f"# Warning: {warning}" for warning in warnings]
    if others:
        lines.append(f"# Checked too, with their own files: {', '.join(others)} "
                     "(check-config IFACE shows one).")
    if config.files:
        lines.append("# Files, in the order read (later ones win):")
        lines += [f"#   {path}" for path in config.files]
    else:
        lines.append("# No configuration files: everything is at its default.")
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        for setting in SETTINGS:
            if setting.section is not section:
                continue
            comment = f"# {setting.scope}: {_source(config, setting)}"
            for n, spelled in enumerate(_assignments(setting, config[setting])):
                lines.append(f"{spelled:<{_COMMENT_COLUMN}}  {comment}" if n == 0 else spelled)
    return "\n".join(lines)


def format_json(config: Config, interface: str | None, others: Sequence[str] = (),
                warnings: Sequence[str] = ()) -> str:
    settings = [{
        "section": setting.section.value,
        "name": setting.name,
        "value": _items(setting, config[setting]),
        "scope": setting.scope.value,
        "sources": [str(s) for s in config.sources(setting)],
        "default": not config.sources(setting),
    } for setting in SETTINGS]
    body = {"interface": interface, "files": list(config.files), "settings": settings,
            "checked_interfaces": list(others), "warnings": list(warnings)}
    return json.dumps(body, indent=2)


def run(args: argparse.Namespace) -> int:
    interface = None
    if args.interface is not None:
        try:
            interface = ifname.check(args.interface)
        except ValueError as exc:
            print(f"leaseboxctl: {exc}", file=sys.stderr)
            return EX_USAGE
    if not os.path.isdir(args.config_root):  # a mistyped --config-root: not "no files"
        print(f"leaseboxctl: --config-root {args.config_root}: not a directory",
              file=sys.stderr)
        return EX_NOINPUT
    root = os.path.realpath(args.config_root)  # its paths are compared with commonpath's
    try:
        others = [] if interface else _named_interfaces(root)
        config, warnings = _checked(root, interface, others)
    except ConfigError as exc:
        print(terminal_safe(f"leaseboxctl: {exc}"), file=sys.stderr)
        return EX_CONFIG
    for warning in warnings:  # as the engine logs them; the configuration is good
        print(terminal_safe(f"leaseboxctl: warning: {warning}"), file=sys.stderr)
    if args.json:
        print(format_json(config, interface, others, warnings))  # (ASCII: names escaped)
    else:  # a file name not in UTF-8 must not make print() fail
        text = format_text(config, interface, others, warnings)
        print("\n".join(map(terminal_safe, text.split("\n"))))
    return 0


def _checked(root: str, interface: str | None,
             others: Sequence[str]) -> tuple[Config, tuple[str, ...]]:
    """Load and check the configuration of `interface`, and that of each of `others` (for
    its errors only), as their services would; and that each file and directory they look
    at is one they may. With the engine's warnings about `interface`'s. Raises
    ConfigError."""
    config = files.load(root, interface)
    cfg = checked_engine_config(config, interface or ANY_INTERFACE, os.uname().nodename)
    seen = files.looked_into(root, interface) + list(config.files)
    for name in others:
        theirs = files.load(root, name)
        checked_engine_config(theirs, name, os.uname().nodename)
        seen += files.looked_into(root, name) + list(theirs.files)
    for path in dict.fromkeys(seen):
        _seen_by_the_services(root, path)
    return config, cfg.warnings


def _seen_by_the_services(root: str, path: str) -> None:
    """Raise ConfigError for a file this reads (as root), or a directory this looks into,
    that the services cannot: they run as dynamic users, so the file must be readable by
    others, every directory on the way to it searchable, and a drop-in directory (listed)
    readable too; a umask of 027 makes them none of that. And in their minimal root only
    the configuration directories and /usr are there, so a symbolic link to anywhere else
    leads nowhere."""
    real = os.path.realpath(path)
    if real == os.devnull:
        return  # a mask
    seen = [os.path.realpath(d) for d in files.directories(root)]
    seen.append(os.path.realpath(os.path.join(root, "usr")))
    if not any(os.path.commonpath([d, real]) == d for d in seen):
        raise ConfigError(path, 0, f"leads to {real}, which the services cannot see: "
                          "their root holds only /etc/leasebox, /run/leasebox-conf and /usr")
    base = next(d for d in files.directories(root) if os.path.commonpath([d, path]) == d)
    folder = os.path.isdir(path)
    # the way as written (each directory, and a link's target with it, by os.stat), then
    # the way to where a link leads, from its configuration directory or /usr down
    steps = [base]
    for part in os.path.relpath(path if folder else os.path.dirname(path), base).split(os.sep):
        if part != os.curdir:
            steps.append(os.path.join(steps[-1], part))
    real_base = next(d for d in seen if os.path.commonpath([d, real]) == d)
    step = real if folder else os.path.dirname(real)
    while os.path.commonpath([real_base, step]) == real_base:
        steps.append(step)
        step = os.path.dirname(step)
    for step in dict.fromkeys(steps):
        listed = step.endswith(".conf.d")
        _readable_by_others(path, step, stat.S_IXOTH | (stat.S_IROTH if listed else 0),
                            "o+rx" if listed else "o+x")
    if not folder:
        _readable_by_others(path, real, stat.S_IROTH, "o+r")


def _readable_by_others(path: str, what: str, needed: int, chmod: str) -> None:
    mode = os.stat(what).st_mode
    if mode & needed != needed:
        kind = "directory" if stat.S_ISDIR(mode) else "file"
        doing = "look into it" if os.path.isdir(path) else "read it"
        raise ConfigError(path, 0, f"the services cannot {doing}: {kind} {what} has mode "
                          f"{stat.S_IMODE(mode):04o}, and they run as users of their own "
                          f"(chmod {chmod})")


def _named_interfaces(root: str) -> list[str]:
    """The interfaces with files of their own that a service could run on (a file named
    otherwise is read by none)."""
    names = []
    for name in files.interfaces_with_files(root):
        try:
            names.append(ifname.check(name))
        except ValueError:
            continue
    return names
