"""core.generics: plain stand-ins at run time, typing's own for mypy. Each line marked
"mypy sees it" is wrong on purpose: mypy --strict (warn_unused_ignores) fails if it stops
saying so, that is, if the generics stop being checked."""

from __future__ import annotations

import subprocess
import sys

from leasebox.config import settings as s
from leasebox.core.machine.types import Random
from leasebox.engine.clients import Clients
from tests.test_imports import SRC


class _Words:
    def random(self) -> str:
        return "no"

    def getrandbits(self, k: int, /) -> int:
        return 0


def test_the_type_parameters_are_still_checked() -> None:
    metric: str = s.ROUTE_METRIC.default  # type: ignore[assignment]  # mypy sees it
    assert metric == 1024  # (isinstance() would make mypy skip the rest as unreachable)
    clients: Clients[int] = Clients()
    admitted, _, _ = clients.admit("conn", 0, 0.0)  # type: ignore[arg-type]  # mypy sees it
    assert admitted
    rng: Random = _Words()  # type: ignore[assignment]  # mypy sees it
    assert rng.random() == "no"


def test_at_run_time_they_are_plain_classes_and_typing_stays_out() -> None:
    assert s.Setting[int] is s.Setting and Clients[str] is Clients
    assert not hasattr(Clients(), "__dict__")  # the stand-in base keeps the record's slots
    code = ("import sys; import leasebox.core.generics, leasebox.config.settings, "
            "leasebox.engine.clients, leasebox.core.machine.types; print('typing' in sys.modules)")
    argv = [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(SRC)!r}); {code}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.strip() == "False", out.stderr
