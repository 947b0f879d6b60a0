"""Hypothesis profiles for the whole suite (see tests/profiles.py); the `logs` fixture."""

from collections.abc import Iterator

import pytest
from hypothesis import settings

from leasebox.core import log as core_log
from tests.profiles import PROFILE, examples

settings.register_profile("quick", max_examples=examples(100))
settings.register_profile("default", max_examples=100)
settings.register_profile("long", max_examples=examples(100))
settings.load_profile(PROFILE)


# Every test carries the marker of its layer (README, "Tests"), so a layer is selected by
# marker: `pytest -m codec`, or `make check`'s "not root and not integration and not system".
LAYERS = {"wire": "codec", "machine": "machine", "ipc": "contract", "config": "config",
          "ctl": "ctl", "bus": "bus", "io": "process", "netconf": "process",
          "engine": "process", "integration": "integration", "system": "system",
          "fuzz": "fuzz"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.nodeid.split("/")
        layer = LAYERS.get(parts[1]) if len(parts) > 2 and parts[0] == "tests" else None
        item.add_marker(getattr(pytest.mark, layer or "unit"))


class Logs:
    """What leasebox logged during a test, at every level (leasebox.core.log's records)."""

    def __init__(self) -> None:
        self.records: list[core_log.Record] = []

    def __call__(self, record: core_log.Record) -> None:
        self.records.append(record)

    def at_least(self, level: int, name: str = "") -> list[core_log.Record]:
        """The records at `level` and above, of loggers `name` or under it."""
        return [r for r in self.records if r.level >= level
                and (not name or r.name == name or r.name.startswith(name + "."))]

    @property
    def text(self) -> str:
        return "\n".join(r.text() for r in self.records)


@pytest.fixture
def logs() -> Iterator[Logs]:
    """leasebox's log captured instead of sent (pytest's caplog sees the standard logging,
    which leasebox does not use)."""
    saved = (core_log.config.level, core_log.config.sink)
    capture = Logs()
    core_log.configure(core_log.DEBUG, capture)
    try:
        yield capture
    finally:
        core_log.configure(*saved)
