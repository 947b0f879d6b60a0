"""io's command line, parsed without argparse: what the unit passes, and clear refusals."""

from __future__ import annotations

import pytest

from leasebox.io import main as io_main
from leasebox.runtime import cmdline


def test_what_the_unit_passes_and_the_spellings_argparse_took() -> None:
    assert io_main.parse_args(["eth0", "--engine-socket", "/run/x.sock"]) == io_main.Args(
        "eth0", "/run/x.sock", False)
    assert io_main.parse_args(["--debug", "--engine-socket=/run/y.sock", "eth1"]) == \
        io_main.Args("eth1", "/run/y.sock", True)
    assert io_main.parse_args(["eth0"]) == io_main.Args("eth0")
    assert io_main.parse_args(["eth0", "--help"]) is None
    assert io_main.parse_args(["--debug", "--", "eth0"]) == io_main.Args("eth0", None, True)


@pytest.mark.parametrize(("argv", "error"), [
    ([], "the IFACE is missing"),
    (["eth0", "eth1"], "one IFACE only"),
    (["eth0", "--engine-socket"], r"--engine-socket needs a value \(PATH\)"),
    (["eth0", "--engine-socket="], r"--engine-socket needs a value \(PATH\)"),
    (["--engine-socket", "--debug", "eth0"], r"--engine-socket needs a value \(PATH\)"),
    (["--", "eth0", "--debug"], "one IFACE only"),
    (["eth0", "--bogus"], "unknown option --bogus"),
    (["bad/name"], "invalid interface name"),
    (["io-eth0"], "would share its identities"),
])
def test_refusals(argv: list[str], error: str) -> None:
    with pytest.raises(cmdline.UsageError, match=error):
        io_main.parse_args(argv)


def test_main_exits_78_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """The unit's mistake (leasebox@nc-uplink.target: a name refused): 78 stops the
    restarts (RestartPreventExitStatus=), where 2 had io restarted 50 times a minute."""
    assert io_main.main(["nc-uplink"]) == 78
    capsys.readouterr()
    assert io_main.main(["--bogus"]) == 78
    err = capsys.readouterr().err
    assert err.startswith("usage: leasebox-io") and "error: unknown option --bogus" in err
    assert io_main.main(["--help"]) == 0
    assert "--engine-socket PATH" in capsys.readouterr().out
