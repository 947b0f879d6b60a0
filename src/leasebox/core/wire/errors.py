"""The codec's internal error for one bad option value.

Option parsers raise BadOption and know nothing of policy; the message decoder decides
whether the option is dropped or the whole message rejected (see options.py).
"""

from __future__ import annotations


class BadOption(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
