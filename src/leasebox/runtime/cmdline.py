"""A daemon's command line, parsed by hand: one positional argument and long options, each
a flag or taking one value (`--name VALUE` or `--name=VALUE`); `--` ends the options;
`-h`/`--help` before it asks for the help, whatever else is there. The last of a repeated
option wins; options are not abbreviated.

Not argparse: with the modules it loads (gettext, re) it is ~0.6 MiB and ~3 ms of each
start of io, the engine and netconf, which take a handful of options from their units and
the development launcher. The services exit 78 on a usage error (`usage_code`): a mistake
in a unit, which a restart would make again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from leasebox.core.generics import TypeVar
from leasebox.core.record import field, record
from leasebox.runtime import ifname

T = TypeVar("T")

EXIT_USAGE = 2
HELP_WIDTH = 88


class UsageError(Exception):
    """A command line the program cannot run with."""


def _options_part(argv: Sequence[str]) -> Sequence[str]:
    return argv[:argv.index("--")] if "--" in argv else argv


def _wrap(text: str, width: int) -> list[str]:
    """Words in lines of at most `width` (a longer word has a line of its own)."""
    lines = [""]
    for word in text.split():
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return lines


@record
class Option:
    name: str  # "--state-dir"
    metavar: str | None  # what the value is, "DIR"; None: a flag, which takes none
    help: str
    empty: bool = False  # an empty value is a value (one that resets a setting)


@record
class Command:
    positional: str
    values: dict[str, str] = field(default_factory=dict)  # option name: its value
    flags: frozenset[str] = frozenset()  # the flags given


@record
class Syntax:
    prog: str  # "leasebox-io"
    summary: str  # one line for --help
    positional: str  # "IFACE"
    positional_help: str
    options: tuple[Option, ...]

    def usage(self) -> str:
        shown = " ".join(f"[{o.name}]" if o.metavar is None else f"[{o.name} {o.metavar}]"
                         for o in self.options)
        if len(shown) > HELP_WIDTH // 2:  # the help lists them
            shown = "[OPTION]..."
        return f"usage: {self.prog} {shown} {self.positional}".replace("  ", " ")

    def help(self) -> str:
        rows = [(self.positional, self.positional_help)]
        rows += [(o.name if o.metavar is None else f"{o.name} {o.metavar}", o.help)
                 for o in self.options]
        width = max(len(left) for left, _ in rows) + 2
        lines = []
        for left, text in rows:
            wrapped = _wrap(text, HELP_WIDTH - 2 - width)
            lines.append(f"  {left:<{width}}{wrapped[0]}".rstrip())
            lines += [" " * (2 + width) + more for more in wrapped[1:]]
        return "\n".join([self.usage(), "", f"{self.prog}: {self.summary}", "", *lines, ""])

    def refuse(self, error: UsageError, code: int = EXIT_USAGE) -> int:
        """Say what is wrong, as argparse did, and give the exit code back."""
        print(f"{self.usage()}\n{self.prog}: error: {error}", file=sys.stderr)
        return code

    def parse(self, argv: Sequence[str]) -> Command | None:
        """The command line as given; None when the help is asked for. Raises UsageError."""
        if any(arg in ("-h", "--help") for arg in _options_part(argv)):
            return None
        by_name = {o.name: o for o in self.options}
        positional: str | None = None
        values: dict[str, str] = {}
        flags: set[str] = set()
        rest = iter(argv)
        options = True
        for arg in rest:
            if not options or arg == "-" or not arg.startswith("-"):
                if positional is not None:
                    raise UsageError(f"one {self.positional} only, not {positional} and {arg}")
                positional = arg
                continue
            if arg == "--":
                options = False
                continue
            name, eq, value = arg.partition("=")
            option = by_name.get(name)
            if option is None:
                raise UsageError(f"unknown option {name}")
            if option.metavar is None:
                if eq:
                    raise UsageError(f"{name} takes no value")
                flags.add(name)
                continue
            given = value if eq else next(rest, None)
            if given is None or (not given and not option.empty) \
                    or (not eq and given.startswith("-")):  # "--a=-1" is a value
                raise UsageError(f"{name} needs a value ({option.metavar})")
            values[name] = given
        if positional is None:
            raise UsageError(f"the {self.positional} is missing")
        return Command(positional, values, frozenset(flags))


def command(syntax: Syntax, parse: Callable[[list[str]], T | None], argv: list[str] | None,
            *, usage_code: int = EXIT_USAGE) -> T | int:
    """What `parse` makes of the command line (sys.argv's when `argv` is None), or the exit
    code when there is nothing to run: 0 once the help is printed, `usage_code` once a
    usage error is said."""
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        return syntax.refuse(exc, usage_code)
    if args is None:
        print(syntax.help(), end="")
        return 0
    return args


def interface(text: str) -> str:
    """An interface name given on the command line: runtime.ifname's rule, a UsageError
    when it breaks it."""
    try:
        return ifname.check(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
