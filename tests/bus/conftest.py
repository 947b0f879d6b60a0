"""The private bus every leasebox-bus test talks to (see test_bus_dbus.PrivateBus)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.test_bus_dbus import PrivateBus


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateBus]:
    b = PrivateBus(tmp_path)
    try:
        yield b
    finally:
        b.close()
