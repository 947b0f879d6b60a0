"""Domain names that may be handed on: one rule, shared by every process that does.

A search domain ends up in files (resolv.conf) and in other daemons (systemd-resolved), so
it must have hostname syntax (RFC 1123 labels) and nothing more. netconf checks what the
engine sends with it, and leasebox-bus checks what netconf sends with it again.
"""

from __future__ import annotations

import re

MAX_NAME = 253
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


class BadDomain(ValueError):
    pass


def check_domain(name: str) -> str:
    """`name` itself if it is a hostname-syntax name; raises BadDomain."""
    if not 1 <= len(name) <= MAX_NAME:
        raise BadDomain(f"domain name of length {len(name)}")
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise BadDomain(f"domain {name!r} is not a valid name")
    return name
