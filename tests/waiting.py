"""Bounded waiting for the integration and system tests: every wait has a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(what: str, predicate: Callable[[], Any], timeout: float,
             interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns something true, which is returned; TimeoutError
    naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
