"""Host and domain names that leasebox accepts from anyone: one rule, used everywhere.

A name from a DHCP server ends up in files (resolv.conf), in other daemons (systemd-resolved)
and in log lines, so it must have RFC 1123 host name syntax and nothing more: letters,
digits and inner hyphens in dot-separated labels of 1 to 63 characters, at most 253 in all.
The codec applies it to options 12, 15 and 119, the configuration to Hostname=, the ipc
contract to every name between processes, netconf and leasebox-bus to what they hand on.
Pure: no imports. Not a regular expression: `re` would be ~0.3 MiB of io, which loads
nothing else that needs it.
"""

from __future__ import annotations

MAX_NAME = 253
MAX_LABEL = 63
# ASCII only, spelled out, so that no Unicode letter or digit can ever slip through
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
SAFE_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")


class BadDomain(ValueError):
    pass


def hostname_problem(name: str) -> str | None:
    """Why `name` is not a safe RFC 1123 host or domain name (no trailing dot), or None."""
    if not name:
        return "empty name"
    if len(name) > MAX_NAME:
        return f"name longer than {MAX_NAME} characters"
    if not all(_label(label) for label in name.split(".")):
        return "not an RFC 1123 name (letters, digits, inner hyphens, dot-separated labels)"
    return None


def _label(label: str) -> bool:
    """1 to 63 letters, digits and hyphens, neither first nor last a hyphen."""
    return (0 < len(label) <= MAX_LABEL and label[0] != "-" and label[-1] != "-"
            and _LABEL_CHARS.issuperset(label))


def domain_problem(name: str) -> str | None:
    """As hostname_problem, with one trailing dot (a fully qualified spelling) allowed."""
    return hostname_problem(name[:-1] if name.endswith(".") else name)


def check_domain(name: str) -> str:
    """`name` itself if domain_problem finds nothing; raises BadDomain."""
    problem = domain_problem(name)
    if problem:
        raise BadDomain(f"domain {name[:64]!r}: {problem}")
    return name
