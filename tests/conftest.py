"""Hypothesis profiles for the whole suite (see tests/profiles.py)."""

import pytest
from hypothesis import settings

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
