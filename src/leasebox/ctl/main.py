"""leaseboxctl entry point: argparse with one subcommand per module.

Only argparse and sys are imported here; each subcommand's module is imported when it is
chosen, so `leaseboxctl decode` never loads socket code and a later `status` never loads
the codec it does not need. To add a subcommand: a module with `run(args) -> int`, an
`_add_<name>` function that declares its arguments and sets `handler` to a function that
imports that module, and an entry in _SUBCOMMANDS.

Exit codes follow sysexits.h: 0 ok, 64 usage, 65 bad input data, 66 input not readable,
78 a bad configuration (check-config).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from leasebox import __version__

EX_OK = 0
EX_USAGE = 64
EX_SIGPIPE = 128 + 13  # as the shell shows a program SIGPIPE killed
PROG = "leaseboxctl"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits with EX_USAGE and one line, not 2 and the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EX_USAGE, f"{self.prog}: {message}\n")


# argparse exports no public name for the type add_subparsers() returns.
Subparsers = argparse._SubParsersAction


def _run_decode(args: argparse.Namespace) -> int:
    from leasebox.ctl import decode  # noqa: PLC0415 - imported only when chosen

    return decode.run(args)


def _add_decode(sub: Subparsers[_Parser]) -> None:
    p = sub.add_parser(
        "decode",
        help="decode one DHCP message (or Ethernet frame) and print it as JSON",
        description="Decode one DHCP message with leasebox's strict codec and print it as "
        "JSON. Malformed input exits 65 with one line on stderr. Needs no privileges.",
    )
    p.add_argument("file", nargs="?", default="-", metavar="FILE|-",
                   help="input file, or - for stdin (the default)")
    p.add_argument("--hex", action="store_true",
                   help="input is hex text (whitespace anywhere is ignored)")
    p.add_argument("--frame", action="store_true",
                   help="input is a whole Ethernet II frame (IPv4/UDP to port 68)")
    p.add_argument("--no-checksum", action="store_true",
                   help="with --frame: do not check the UDP checksum (a capture on the "
                   "host that sent the frame, with checksum offload, has none filled in)")
    p.set_defaults(handler=_run_decode)


def _run_status(args: argparse.Namespace) -> int:
    from leasebox.ctl import commands  # noqa: PLC0415 - imported only when chosen

    return commands.run_status(args)


def _run_list(args: argparse.Namespace) -> int:
    from leasebox.ctl import commands  # noqa: PLC0415 - imported only when chosen

    return commands.run_list(args)


def _add_list(sub: Subparsers[_Parser]) -> None:
    p = sub.add_parser("list", help="one line per interface: state, address, expiry (the "
                       "default without arguments)",
                       description="One line per interface leasebox runs on (or per "
                       "interface named): its state, address and when the lease expires.")
    p.add_argument("interfaces", nargs="*", metavar="IFACE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_run_list)


def _count(text: str) -> int:
    """A number of events: 0 or more (journalctl takes -n -1 for none; here it is a typo)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _run_monitor(args: argparse.Namespace) -> int:
    from leasebox.ctl import monitor  # noqa: PLC0415 - imported only when chosen

    return monitor.run(args)


def _add_monitor(sub: Subparsers[_Parser]) -> None:
    p = sub.add_parser("monitor", help="follow lease events as they happen (from the journal)",
                       description="Print each lease event (acquired, renewed, rebound, lost, "
                       "declined, released, left, refused, failed, renew-failed; a captive "
                       "portal; more than one server; another DHCP client on the link's MAC "
                       "address) as the engine logs it, until interrupted. Reads the journal: "
                       "root or the groups systemd-journal, adm or wheel.")
    p.add_argument("interfaces", nargs="*", metavar="IFACE")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("-n", "--lines", type=_count, default=0, metavar="N",
                   help="first show the last N events of this boot (default 0)")
    p.set_defaults(handler=_run_monitor)


def _run_dispatch(args: argparse.Namespace) -> int:
    from leasebox.ctl import dispatch  # noqa: PLC0415 - imported only when chosen

    return dispatch.run(args)


MAX_SECONDS = 2**31 - 1  # some 68 years; a 32-bit time_t takes no more


def _seconds(text: str) -> float:
    """A time limit: 0 or more seconds (0 means none, where a command says so)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= MAX_SECONDS:  # (a timer of the kernel's takes no more)
        raise argparse.ArgumentTypeError(f"seconds must be 0 to {MAX_SECONDS} (0: where a "
                                         f"command says so, none): {text!r}")
    return value


def _add_dispatch(sub: Subparsers[_Parser]) -> None:
    p = sub.add_parser("dispatch", help="run the lease hooks for IFACE's queued events",
                       description="Run the executables in /etc/leasebox/dispatch.d (and "
                       "/run/leasebox-conf/dispatch.d, /usr/lib/leasebox/dispatch.d) for each "
                       "lease event the engine queued, with the event in LEASEBOX_* "
                       "variables. The ExecStart= of leasebox-dispatch@IFACE.service.")
    p.add_argument("interface", metavar="IFACE")
    p.add_argument("--state-dir", default="/var/lib/private/leasebox", metavar="DIR",
                   help="where the engine's state directories are")
    p.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="time limit of each hook (default 30; 0: none)")
    p.set_defaults(handler=_run_dispatch)


def _run_command(args: argparse.Namespace) -> int:
    from leasebox.ctl import commands  # noqa: PLC0415 - imported only when chosen

    return commands.leave_if_running(args)


def _add_status(sub: Subparsers[_Parser]) -> None:
    p = sub.add_parser("status", help="show the lease of each interface (the default)",
                       description="Show state, address, gateway, DNS, server and lease "
                       "times of each interface leasebox runs on (or of those named).")
    p.add_argument("interfaces", nargs="*", metavar="IFACE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_run_status)


def _run_check_config(args: argparse.Namespace) -> int:
    from leasebox.ctl import checkconfig  # noqa: PLC0415 - imported only when chosen

    return checkconfig.run(args)


def _add_check_config(sub: Subparsers[_Parser]) -> None:
    p = sub.add_parser(
        "check-config", help="show the effective configuration and where each value is from",
        description="Read leasebox.conf, its drop-ins and (for IFACE) the interface's own "
        "files the way the services do, and print every setting with the file and line it "
        "comes from, or 'default'. A bad configuration exits 78 with the first error.")
    p.add_argument("interface", nargs="?", metavar="IFACE",
                   help="include interfaces/IFACE.conf and its drop-ins")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--config-root", default="/", metavar="DIR",
                   help="read the files under DIR instead of / (default /)")
    p.set_defaults(handler=_run_check_config)


def _add_commands(sub: Subparsers[_Parser]) -> None:
    for name, text in (
        ("renew", "renew the lease now (RENEWING, unicast to the server)"),
        ("release", "give the lease back (DHCPRELEASE) and remove the configuration"),
        ("leave", "leave the link: release if SendRelease=yes (the default) or always, "
                  "and remove the configuration, which KeepConfiguration=yes keeps only "
                  "without a RELEASE (what stopping leasebox@IFACE.target does); while the "
                  "system shuts down, keep the lease unless SendRelease=always"),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("interface", metavar="IFACE")
        p.add_argument("--json", action="store_true",
                       help="print the interface's status afterwards, as JSON")
        if name == "leave":
            p.add_argument("--shutdown", choices=("auto", "yes", "no"), default="auto",
                           help="whether this is the system's shutdown or reboot; auto "
                           "(the default) asks the service manager (systemctl "
                           "is-system-running says 'stopping')")
        p.set_defaults(handler=_run_command, command=name)


def _run_wait_online(args: argparse.Namespace) -> int:
    from leasebox.ctl import waitonline  # noqa: PLC0415 - imported only when chosen

    return waitonline.run(args)


def _add_wait_online(sub: Subparsers[_Parser]) -> None:
    p = sub.add_parser(
        "wait-online", help="wait until every interface (or --any) holds an applied lease",
        description="Wait until leasebox has applied a lease on every interface it runs on "
        "(or on those named; or, with --any, on one of them). Exits 0 then, 1 after the "
        "timeout with a line naming the interfaces not configured. The ExecStart= of "
        "leasebox-wait-online.service, which network-online.target waits for.")
    p.add_argument("interfaces", nargs="*", metavar="IFACE")
    p.add_argument("--any", action="store_true",
                   help="one configured interface is enough")
    p.add_argument("--timeout", type=_seconds, default=120.0, metavar="SECONDS",
                   help="give up after SECONDS (default 120; 0: never)")
    p.add_argument("--json", action="store_true",
                   help="at the end, print whether online, after how long, and each state")
    p.set_defaults(handler=_run_wait_online)


_SUBCOMMANDS: tuple[Callable[[Subparsers[_Parser]], None], ...] = (
    _add_list,
    _add_status,
    _add_monitor,
    _add_commands,
    _add_wait_online,
    _add_dispatch,
    _add_check_config,
    _add_decode,
)


def build_parser() -> _Parser:
    # no abbreviations: `--vers` would go to the default command and be refused there
    parser = _Parser(prog=PROG, description="Inspect and control leasebox, the DHCPv4 client.",
                     allow_abbrev=False)
    parser.add_argument("--runtime-dir", default="/run/leasebox", metavar="DIR",
                        help="where the control sockets are (default /run/leasebox)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    for add in _SUBCOMMANDS:
        add(sub)
    for command in sub.choices.values():
        # after the command too, as systemctl takes its options (`renew -q eth0`);
        # SUPPRESS: when not given there, the value before the command stands
        command.add_argument("--runtime-dir", default=argparse.SUPPRESS, metavar="DIR",
                             help="as before the command")
        command.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                             help="as before the command")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = argv[:argv.index("--")] if "--" in argv else argv
    if "--version" in options:  # anywhere among the options, as a GNU program takes it
        print(f"{PROG} (leasebox) {__version__}")
        return 0
    if not any(a in _COMMANDS for a in argv) and not {"-h", "--help"} & set(argv):
        argv = _insert_default(argv)  # `leaseboxctl` means list, `leaseboxctl IFACE...` status
        mistyped = _mistyped_command(argv)
        if mistyped:
            print(f"{PROG}: {mistyped}", file=sys.stderr)
            return EX_USAGE
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    if sys.stdout is not None:  # a status's "●" and a server's names in a Latin-1 locale
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        code = handler(args)
        if sys.stdout is not None:  # (None: started with its stdout closed)
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went (`leaseboxctl --json | missing-command`): end as a program killed
        # by SIGPIPE would, without Python's traceback, or its complaint at exit when it
        # flushes stdout again.
        import os  # noqa: PLC0415

        if sys.stdout is not None:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EX_SIGPIPE
    except KeyboardInterrupt:
        return _interrupted()
    return code


def _interrupted() -> NoReturn:
    """Ctrl-C (SIGINT): end as a program killed by it would, so that a shell's loop or
    script stops too, with what was printed and without Python's traceback."""
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415

    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    os._exit(128 + signal.SIGINT)  # (SIGINT blocked: not reached otherwise)


_COMMANDS = frozenset({"list", "status", "monitor", "renew", "release", "leave",
                       "wait-online", "dispatch", "check-config", "decode"})
_GLOBAL_FLAGS = frozenset({"-q", "--quiet"})


def _mistyped_command(argv: list[str]) -> str:
    """Why the first name after `status` (as _insert_default put it there) is taken for a
    mistyped command rather than an interface: it is close to a command's name and no
    interface has it (`leaseboxctl renwe eth0`); "" if it is not."""
    if "status" not in argv or "--" in argv:  # `list`, or `--`: names, whatever they are
        return ""
    names = [a for a in argv[argv.index("status") + 1:] if not a.startswith("-")]
    if not names or "/" in names[0]:
        return ""
    import difflib  # noqa: PLC0415 - only for a name that is no command
    import os  # noqa: PLC0415

    rundir = next((a.split("=", 1)[1] for a in argv if a.startswith("--runtime-dir=")),
                  argv[argv.index("--runtime-dir") + 1] if "--runtime-dir" in argv[:-1]
                  else "/run/leasebox")
    # an interface there, or one leasebox runs on (and waits for), is asked for
    if os.path.lexists(f"/sys/class/net/{names[0]}") or \
            os.path.lexists(f"{rundir}/{names[0]}/control.sock"):
        return ""

    close = difflib.get_close_matches(names[0], sorted(_COMMANDS), n=1, cutoff=0.75)
    if not close:
        return ""
    return (f"unknown command {names[0]!r} (did you mean {close[0]!r}?), and no interface "
            "has that name")


def _insert_default(argv: list[str]) -> list[str]:
    """The global options, then `list` (no interface named) or `status`, then the rest."""
    head: list[str] = []
    rest = list(argv)
    while rest and (rest[0] in _GLOBAL_FLAGS or rest[0].startswith("--runtime-dir")):
        head.append(rest.pop(0))
        if head[-1] == "--runtime-dir" and rest:
            head.append(rest.pop(0))
    # (not the value of a --runtime-dir after another option: `--json --runtime-dir DIR`)
    values = {i + 1 for i, a in enumerate(rest) if a == "--runtime-dir"}
    named = any(not a.startswith("-") for i, a in enumerate(rest) if i not in values)
    return head + ["status" if named else "list"] + rest


if __name__ == "__main__":
    sys.exit(main())
