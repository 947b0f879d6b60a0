"""The engine's exceptions, one per kind of caller mistake or bad input.

Network input never raises: a reply that does not fit is dropped and logged. What raises is
the adapter misusing the engine (UsageError), a lease that cannot be used (LeaseError, from
lease_from_ack) and a live-state snapshot that does not parse (SnapshotError).
"""

from __future__ import annotations


class UsageError(Exception):
    """The adapter broke the engine's contract: an object that is not an event, a `now` that
    is not finite or goes backwards, a MAC address that is not 6 octets, a remembered lease
    that is not valid. It is a bug in the caller, so it is not to be caught and carried on."""


class LeaseError(ValueError):
    """An ACK (or a stored lease) that cannot be used as a lease. `reason` is one short line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SnapshotError(Exception):
    """A live-state snapshot that is not one this version can resume from, for any reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
