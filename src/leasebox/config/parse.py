"""leasebox.conf text to settings: pure, a function of (file name, text) pairs.

systemd's semantics: `[Section]` headers, `Key=value` lines, `#` or `;` starting a comment
line, no line continuations. Files are applied in the order given (files.py decides it):
a later assignment replaces an earlier one; an empty assignment resets the setting to its
default (for a list, to the empty list); repeated assignments of a list setting add up.
Anything unknown, and any value its parser refuses, is a ConfigError naming file and line,
so that a typo can neither silently widen nor narrow what leasebox does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from leasebox.config.settings import BY_KEY, SECTIONS, SETTINGS, Scope, Setting
from leasebox.config.values import WHITESPACE
from leasebox.core.generics import TYPE_CHECKING
from leasebox.core.record import record

if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

_SECTION_NAMES = frozenset(s.value for s in SECTIONS)


class ConfigError(Exception):
    """The configuration is wrong. str() is `FILE:LINE: what` (or `FILE: what` when the
    whole file is at fault), for the log, leaseboxctl and exit status 78."""

    def __init__(self, path: str, line: int, what: str) -> None:
        super().__init__(f"{path}:{line}: {what}" if line else f"{path}: {what}")
        self.path, self.line, self.what = path, line, what


@record
class Source:
    """Where a value was assigned: a file and line, or a command-line option (line 0)."""

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@record
class Assignment:
    value: Any
    sources: tuple[Source, ...]  # () for the default; a list gathers one per assignment


@record
class Override:
    """A value from the command line, applied after every file (the CLI wins)."""

    setting: Setting[Any]
    text: str
    origin: str  # the option, e.g. "--hostname"


@record
class Config:
    files: tuple[str, ...]  # in the order they were applied
    assigned: Mapping[tuple[str, str], Assignment]  # only settings some file assigned

    def __getitem__(self, setting: Setting[T]) -> T:
        found = self.assigned.get(setting.key)
        value: T = setting.default if found is None else found.value
        return value

    def sources(self, setting: Setting[Any]) -> tuple[Source, ...]:
        found = self.assigned.get(setting.key)
        return () if found is None else found.sources

    def view(self, scope: Scope) -> View:
        return View(self, scope)


@record
class View:
    """The part of a Config one process reads. Asking for another process's setting is a
    bug (say, the engine reading netconf's policy), and raises KeyError."""

    config: Config
    scope: Scope

    def __getitem__(self, setting: Setting[T]) -> T:
        if setting.scope is not self.scope:
            raise KeyError(f"{setting} is read by {setting.scope}, not by {self.scope}")
        return self.config[setting]


def parse(files: Iterable[tuple[str, str]], overrides: Sequence[Override] = ()) -> Config:
    """Apply each (name, text) in order, then the overrides. Raises ConfigError."""
    assigned: dict[tuple[str, str], Assignment] = {}
    names = []
    for path, text in files:
        names.append(path)
        _parse_file(path, text, assigned)
    for override in overrides:
        source = Source(f"command line ({override.origin})")
        try:
            _assign(override.setting, override.text, source, assigned)
        except ValueError as exc:
            raise ConfigError("command line", 0, f"{override.origin}: {exc}") from None
    return Config(tuple(names), assigned)


def defaults() -> Config:
    return Config((), {})


# sections and keys by this prefix are for other tools and notes (systemd.syntax(7)),
# ignored here as systemd ignores them
EXTENSION = "X-"


def _parse_file(path: str, text: str, assigned: dict[tuple[str, str], Assignment]) -> None:
    section: str | None = None
    # Lines end at LF, CR LF or CR only: str.splitlines() would also end them at form
    # feeds and Unicode separators, in comments too, and count the lines wrong from there.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip(WHITESPACE)
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ConfigError(path, lineno, f"bad section header {line!r}")
            section = line[1:-1]
            if section not in _SECTION_NAMES and not section.startswith(EXTENSION):
                known = ", ".join(f"[{s}]" for s in SECTIONS)
                raise ConfigError(path, lineno, f"unknown section [{_shown(section)}] "
                                  f"(known: {known})")
            continue
        if section is not None and section.startswith(EXTENSION):
            continue  # every line of another tool's section, as systemd skips them
        key, sep, value = line.partition("=")
        key, value = key.strip(WHITESPACE), value.strip(WHITESPACE)
        if not sep or not key:
            raise ConfigError(path, lineno, f"expected Key=value, not {line!r}")
        if section is None:
            raise ConfigError(path, lineno, f"{_shown(key)}= outside a section")
        if key.startswith(EXTENSION):
            continue  # an administrator's own, as systemd keeps them: not leasebox's
        setting = BY_KEY.get((section, key))
        if setting is None:
            raise ConfigError(path, lineno, f"unknown key {_shown(key)}= in [{section}]"
                              f"{_hint(key)}")
        try:
            _assign(setting, value, Source(path, lineno), assigned)
        except ValueError as exc:
            raise ConfigError(path, lineno, f"{key}=: {exc}") from None


def _assign(setting: Setting[Any], text: str, source: Source,
            assigned: dict[tuple[str, str], Assignment]) -> None:
    """Raises ValueError from the setting's parser."""
    if not text:
        assigned[setting.key] = Assignment(setting.default, (source,))
        return
    parsed = setting.parse(text)
    earlier = assigned.get(setting.key)
    if setting.keyed and earlier is not None:
        merged = dict(earlier.value)
        merged.update(parsed)
        assigned[setting.key] = Assignment(tuple(merged.items()), (*earlier.sources, source))
    elif setting.accumulate and earlier is not None:
        assigned[setting.key] = Assignment(earlier.value + parsed, (*earlier.sources, source))
    else:
        assigned[setting.key] = Assignment(parsed, (source,))


def _shown(name: str) -> str:
    """A key or section name as a message shows it. Every name leasebox knows is printable
    ASCII, so any other character is the mistake, and shows as an escape: a zero-width space
    pasted from a web page as \\u200b, a Cyrillic a as \\u0430, not as itself, which would
    hide it (a backslash doubles, so that no name looks like another)."""
    return name.encode("unicode_escape").decode("ascii")


def _hint(key: str) -> str:
    """Point at the right section when the key exists elsewhere, or at the key meant when
    it differs in case or by characters that do not show: common slips."""
    for setting in SETTINGS:
        if setting.name == key:
            return f" (it belongs in [{setting.section}])"
    bare = "".join(c for c in key if c.isprintable()).lower()
    for setting in SETTINGS:
        if setting.name.lower() == bare:
            return f" (did you mean {setting.name}=?)"
    return ""
