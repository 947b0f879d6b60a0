"""scripts/fuzz's worker: one target under atheris (libFuzzer), in a process of its own
because libFuzzer exits the process when it is done.

    python -m tests.fuzz.run TARGET [libFuzzer arguments] [corpus directories]

Only leasebox's own modules are instrumented for coverage: they are what is measured.
"""

from __future__ import annotations

import os
import sys

import atheris


def main() -> None:
    name = sys.argv[1]
    with atheris.instrument_imports(include=["leasebox"]):
        from tests.fuzz.targets import TARGETS
    # libFuzzer runs argv[0] again for -merge: the driver's wrapper, which names the target
    argv0 = os.environ.get("LEASEBOX_FUZZ_ARGV0", sys.argv[0])
    atheris.Setup([argv0, *sys.argv[2:]], TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
