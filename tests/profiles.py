"""How hard the property tests try: LEASEBOX_HYPOTHESIS=quick|default|long.

quick is `make check`'s (a tenth of the examples, for a loop under a minute), default is
`make test`'s (the counts written in the tests), long is for hunting (twenty times more).
Each test states its count for the default; `examples()` scales it. The hypothesis profile
of the same name (tests/conftest.py) sets what the tests do not state.
"""

from __future__ import annotations

import os

SCALE = {"quick": 0.1, "default": 1.0, "long": 20.0}
PROFILE = os.environ.get("LEASEBOX_HYPOTHESIS", "default")
if PROFILE not in SCALE:
    raise RuntimeError(f"LEASEBOX_HYPOTHESIS={PROFILE!r}: one of {', '.join(SCALE)}")


def examples(default: int) -> int:
    return max(20, int(default * SCALE[PROFILE]))
