"""Each program's entry point, imported in a fresh interpreter, loads only its own room.

Static contracts (import-linter, pyproject.toml) see import statements; this sees what is
actually in sys.modules after `import leasebox.X.main`: package __init__ re-exports, imports
inside functions that run at import time, anything a library drags in. io never loads the
codec or the state machine (it never parses DHCP), nor does netconf (the privileged writer);
the engine never loads pyroute2; none of the daemons loads scapy or another daemon.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
CODEC, MACHINE = "leasebox.core.wire", "leasebox.core.machine"
SHARED = ("leasebox", "leasebox.ipc", "leasebox.runtime", "leasebox.core",
          "leasebox.core.values", "leasebox.core.names", "leasebox.core.events",
          "leasebox.core.record", "leasebox.core.log", "leasebox.core.generics")
# program: (leasebox modules it may load besides SHARED, modules it must not load)
ROOMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # io, the smallest and longest-lived: not typing, re or argparse either (~1 MiB, ~8 ms)
    "leasebox.io.main": (("leasebox.io",),
                         (CODEC, MACHINE, "leasebox.config", "pyroute2", "jeepney",
                          "typing", "re", "argparse")),
    # the engine: not typing, argparse or pathlib (~1.3 MiB, ~7 ms); re comes with json
    "leasebox.engine.main": (("leasebox.engine", "leasebox.config", CODEC, MACHINE),
                             ("pyroute2", "jeepney", "typing", "argparse", "pathlib")),
    "leasebox.netconf.main": (("leasebox.netconf", "leasebox.config"),
                              (CODEC, MACHINE, "jeepney", "argparse", "pathlib")),
    "leasebox.bus.main": (("leasebox.bus",),
                          (CODEC, MACHINE, "leasebox.config", "pyroute2")),
    "leasebox.ctl.main": (("leasebox.ctl",), (CODEC, MACHINE, "pyroute2", "jeepney")),
}
# dataclasses: records are leasebox.core.record, which compiles nothing at import (see there);
# logging: the loggers are leasebox.core.log's (netconf loads logging later, with pyroute2)
EVERYONE_FORBIDDEN = ("scapy", "hypothesis", "tests", "dataclasses", "logging")


def loaded(module: str) -> list[str]:
    code = f"import sys; import {module}; print(chr(10).join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                          f"{str(SRC)!r}); {code}"], capture_output=True, text=True,
                         check=True, timeout=60, stdin=subprocess.DEVNULL).stdout
    return out.split()


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("program", sorted(ROOMS))
def test_entry_point_loads_only_its_room(program: str) -> None:
    allowed, forbidden = ROOMS[program]
    names = loaded(program)
    bad = [n for n in names if _under(n, forbidden + EVERYONE_FORBIDDEN)]
    assert bad == [], f"{program} loads {bad}"
    strays = [n for n in names if n.startswith("leasebox") and n not in SHARED
              and not _under(n, allowed + ("leasebox.ipc", "leasebox.runtime"))]
    assert strays == [], f"{program} loads modules of another room: {strays}"

