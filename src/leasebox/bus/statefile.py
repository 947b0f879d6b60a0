"""leasebox-bus's per-link files: what it holds and how delivery stands.

One JSON file per link in the runtime directory, written atomically after every change:
a restarted leasebox-bus reads them back (strictly; a file it cannot read is reported and
ignored) and delivers again, and `leaseboxctl status` shows them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import partial
from ipaddress import IPv4Address
from typing import Any

from leasebox.bus.links import Links, Target, Want
from leasebox.core.names import BadDomain, check_domain
from leasebox.ipc import Names
from leasebox.runtime import atomicfile as atomic
from leasebox.runtime import ifname as ifnames
from leasebox.runtime import readfile

SUFFIX = ".json"
REVERT = ".revert"  # a link left whose DNS resolved still has: its ifindex, as text
MAX_FILE = 1 << 16
MAX_ITEMS = 32


class StateError(ValueError):
    pass


def to_doc(links: Links, ifname: str, now: float) -> dict[str, Any]:
    want = links.wants[ifname]
    return {
        "interface": ifname,
        "ifindex": want.ifindex,
        "dns_servers": [str(a) for a in want.names.dns_servers],
        "domains": list(want.names.domains),
        "ntp_servers": [str(a) for a in want.names.ntp_servers],
        "resolved": links.target_status(ifname, Target.RESOLVED, now),
        "timesyncd": links.target_status(ifname, Target.TIMESYNCD, now),
    }


def _addresses(value: Any) -> tuple[IPv4Address, ...]:
    if type(value) is not list or len(value) > MAX_ITEMS:
        raise StateError("not a short list")
    return tuple(IPv4Address(str(v)) for v in value)


def from_doc(text: str) -> tuple[str, Want]:
    try:
        doc = json.loads(text)
        if type(doc) is not dict:
            raise StateError("not an object")
        ifindex = doc["ifindex"]
        if type(ifindex) is not int or not 0 < ifindex <= 0x7FFFFFFF:
            raise StateError(f"ifindex {ifindex!r}")
        domains = doc["domains"]
        if type(domains) is not list or len(domains) > MAX_ITEMS:
            raise StateError("domains")
        want = Want(ifindex, Names(_addresses(doc["dns_servers"]),
                                   tuple(check_domain(str(d)) for d in domains),
                                   _addresses(doc["ntp_servers"])))
        return ifnames.check(str(doc["interface"])), want
    except StateError:
        raise
    except (KeyError, TypeError, ValueError, RecursionError, BadDomain) as exc:
        raise StateError(f"{type(exc).__name__}: {exc}") from None


class StateDir:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.unread: list[str] = []  # the links whose files load() could not read
        # what this process last wrote to each file: the loop saves after every turn (the
        # watchdog's every 15 s), and a file that would not change is not written again
        self.written: dict[str, bytes] = {}

    def _write(self, filename: str, data: bytes) -> None:
        if self.written.get(filename) == data:
            return
        self.written.pop(filename, None)  # (not known, should the write fail)
        atomic.write_atomic(self.directory, filename, data, mode=0o644)
        self.written[filename] = data

    def _remove(self, filename: str) -> None:
        self.written.pop(filename, None)
        atomic.remove(self.directory, filename)

    def save(self, links: Links, now: float) -> None:
        """Bring the directory in line with `links`: one file per link held, no others.
        Each file on its own: one that cannot be written (a full /run) stops no other, and
        a link's file goes only once the revert owed for it is written, so a restart after
        a failure still knows what to take back. Raises the first OSError at the end."""
        errors: list[OSError] = []

        def attempt(step: Callable[[], object]) -> bool:
            try:
                step()
            except OSError as exc:
                errors.append(exc)
                return False
            return True

        owed = links.owed_reverts()
        # a file no longer wanted is forgotten, written or not: if the link comes back, its
        # file is written again (even with the same content, even if it is already there)
        keep = {name + SUFFIX for name in links.wants} | {name + REVERT for name in owed}
        self.written = {f: data for f, data in self.written.items() if f in keep}
        unwritten = {name for name, ifindex in owed.items() if not attempt(partial(
            self._write, name + REVERT, b"%d\n" % ifindex))}
        for name in links.wants:
            data = json.dumps(to_doc(links, name, now), sort_keys=True).encode()
            attempt(partial(self._write, name + SUFFIX, data))
        for name in self.names():
            # a file that could not be read stays while resolved may hold what it said
            if name not in links.wants and name not in unwritten and not (
                    name in self.unread and name in links.resolved_has):
                attempt(partial(self._remove, name + SUFFIX))
        self.unread = [n for n in self.unread if n in links.resolved_has
                       and n not in links.wants]
        for name in self.names(REVERT):
            if name not in owed:
                attempt(partial(self._remove, name + REVERT))
        if errors:
            raise errors[0]

    def names(self, suffix: str = SUFFIX) -> list[str]:
        try:
            entries = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(e[: -len(suffix)] for e in entries if e.endswith(suffix))

    def load_reverts(self) -> tuple[dict[str, int], list[str]]:
        """(the reverts an earlier leasebox-bus owed, what could not be read)."""
        owed: dict[str, int] = {}
        errors: list[str] = []
        for name in self.names(REVERT):
            path = os.path.join(self.directory, name + REVERT)
            try:  # (not blocking on a FIFO, nor following a link, in its place)
                text = readfile.read_regular(path, 32).decode("ascii")
                ifindex = int(text) if text.strip().isdigit() else 0
                if not 0 < ifindex <= 0x7FFFFFFF:
                    raise StateError(f"ifindex {text.strip()!r}")
                owed[ifnames.check(name)] = ifindex
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                errors.append(f"{path}: {exc}")
        return owed, errors

    def load(self) -> tuple[dict[str, Want], list[str]]:
        """(the links held before a restart, what could not be read)."""
        wants: dict[str, Want] = {}
        errors: list[str] = []
        self.unread = []
        for name in self.names():
            path = os.path.join(self.directory, name + SUFFIX)
            try:
                data = readfile.read_regular(path, MAX_FILE)
                if len(data) > MAX_FILE:
                    raise StateError(f"longer than {MAX_FILE} bytes")
                ifname, want = from_doc(data.decode("utf-8"))
                if ifname != name:
                    raise StateError(f"file is for {ifname}")
                wants[ifname] = want
            except (OSError, UnicodeDecodeError, StateError) as exc:
                errors.append(f"{path}: {exc}")
                self.unread.append(name)
        return wants, errors
