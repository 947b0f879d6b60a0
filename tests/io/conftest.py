"""Fixtures for io's tests: a fresh namespace, a veth pair in it (see iolab.py)."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.io.iolab import IO_MAC, PEER_MAC, IoRun, Veth, ip, stop_io

_counter = itertools.count()


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"lbxio-{os.getpid()}-{next(_counter)}"
    ip("netns", "add", name)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10, check=False)


@pytest.fixture
def veth(netns: str) -> Veth:
    """io0 <-> peer0 inside a fresh namespace, both up (so both have carrier)."""
    ip("-n", netns, "link", "add", "io0", "address", IO_MAC, "type", "veth",
       "peer", "name", "peer0", "address", PEER_MAC)
    ip("-n", netns, "link", "set", "io0", "up")
    ip("-n", netns, "link", "set", "peer0", "up")
    return Veth(netns, "io0", "peer0", IO_MAC, PEER_MAC)


@pytest.fixture
def io_runs() -> Iterator[list[IoRun]]:
    """Runs of leasebox-io started by a test; each is killed (by pid) and closed after."""
    runs: list[IoRun] = []
    yield runs
    for run in runs:
        stop_io(run)
