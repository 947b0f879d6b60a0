"""runtime.cmdline: the daemons' hand-written command-line parser, and the engine's and
netconf's use of it (io's is in tests/io/test_io_args.py)."""

from __future__ import annotations

import pytest

from leasebox.config import settings as s
from leasebox.config.parse import Override
from leasebox.engine import main as engine_main
from leasebox.netconf import main as netconf_main
from leasebox.runtime import cmdline

SYNTAX = cmdline.Syntax("prog", "does things.", "IFACE", "the interface", (
    cmdline.Option("--path", "PATH", "where"),
    cmdline.Option("--number", "N", "how many"),
    cmdline.Option("--flag", None, "on"),
))


def test_spellings() -> None:
    assert SYNTAX.parse(["eth0"]) == cmdline.Command("eth0")
    got = SYNTAX.parse(["--path", "/a", "eth0", "--number=-3", "--flag", "--path=/b"])
    assert got == cmdline.Command("eth0", {"--path": "/b", "--number": "-3"},
                                  frozenset({"--flag"}))
    assert SYNTAX.parse(["--", "-eth"]) == cmdline.Command("-eth")
    assert SYNTAX.parse(["-"]) == cmdline.Command("-")
    assert SYNTAX.parse(["eth0", "-h"]) is None
    assert SYNTAX.parse(["--help", "--bogus"]) is None  # as argparse: the help wins
    assert SYNTAX.parse(["--bogus", "--path", "-h"]) is None
    assert SYNTAX.parse(["--", "--help"]) == cmdline.Command("--help")


@pytest.mark.parametrize(("argv", "error"), [
    ([], "the IFACE is missing"),
    (["a", "b"], "one IFACE only, not a and b"),
    (["a", "--path"], r"--path needs a value \(PATH\)"),
    (["a", "--path="], r"--path needs a value \(PATH\)"),
    (["a", "--path", "--flag"], r"--path needs a value \(PATH\)"),
    (["a", "--flag=yes"], "--flag takes no value"),
    (["a", "--pat=x"], "unknown option --pat"),  # no abbreviations
    (["a", "-x"], "unknown option -x"),
])
def test_refusals(argv: list[str], error: str) -> None:
    with pytest.raises(cmdline.UsageError, match=error):
        SYNTAX.parse(argv)


def test_usage_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert SYNTAX.usage() == "usage: prog [--path PATH] [--number N] [--flag] IFACE"
    text = SYNTAX.help()
    assert text.startswith(SYNTAX.usage() + "\n\nprog: does things.\n")
    assert "\n  --path PATH  where\n" in text and "\n  --flag       on\n" in text
    assert SYNTAX.refuse(cmdline.UsageError("no")) == cmdline.EXIT_USAGE == 2
    assert capsys.readouterr().err == f"{SYNTAX.usage()}\nprog: error: no\n"


def test_engine_arguments() -> None:
    args = engine_main.parse_args(["eth0", "--state-dir", "/s", "--min-lease-time=5",
                                   "--no-release", "--hostname", "box", "--debug"])
    assert args is not None
    assert (args.interface, args.state_dir, args.runtime_dir, args.config_root) == \
        ("eth0", "/s", "/run/leasebox-ipc", "/")
    assert args.debug and args.netconf_socket is None
    assert [(o.setting, o.text, o.origin) for o in args.overrides] == [
        (s.HOSTNAME, "box", "--hostname"), (s.SEND_RELEASE, "no", "--no-release"),
        (s.MINIMUM_LEASE_TIME, "5", "--min-lease-time")]
    assert engine_main.parse_args(["--help"]) is None
    # an empty value sets the default over the files, as `Hostname=` in a file would
    for argv in (["eth0", "--hostname="], ["eth0", "--hostname", ""]):
        reset = engine_main.parse_args(argv)
        assert reset is not None and reset.overrides == (Override(s.HOSTNAME, "", "--hostname"),)


def test_engine_exits_78_on_a_usage_error_and_a_bad_name(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The unit's mistake, which a restart would make again: 78 (RestartPreventExitStatus=)
    ends the restarts, as for netconf."""
    assert engine_main.main(["eth0", "--rapid-commit=no"]) == 78
    assert "error: --rapid-commit takes no value" in capsys.readouterr().err
    assert engine_main.main(["bad/name"]) == 78
    assert engine_main.main(["io-eth0"]) == 78
    assert engine_main.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--min-lease-time" in out and "--keep-configuration" in out


def test_netconf_arguments_and_its_exit_78(capsys: pytest.CaptureFixture[str]) -> None:
    args = netconf_main._parse_args(["eth0", "--dns-to=file", "--exit-idle-time", "30"])
    assert args == netconf_main._Args("eth0", dns_to="file", exit_idle_time=30.0)
    never = netconf_main._parse_args(["eth0", "--exit-idle-time=infinity"])
    assert never is not None and never.exit_idle_time == 0.0
    for bad, error in ((["eth0", "--dns-to=dbus"], "--dns-to: auto, file or resolved"),
                       (["eth0", "--exit-idle-time=-1"], "--exit-idle-time: seconds"),
                       (["eth0", "--exit-idle-time=inf"], "--exit-idle-time: seconds"),
                       (["bad/name"], "invalid interface name")):
        with pytest.raises(cmdline.UsageError, match=error):
            netconf_main._parse_args(bad)
    assert netconf_main.main(["eth0", "--dns-to=dbus"]) == 78  # a unit-file mistake
    assert "leasebox-netconf: error: --dns-to" in capsys.readouterr().err
