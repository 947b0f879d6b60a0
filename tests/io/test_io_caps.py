"""Dropping capabilities, in a child process (the drop is for good)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from leasebox.io import caps

# Set up what the unit gives io (CAP_NET_RAW, ambient too), drop, and report.
CHILD = """
import ctypes, json, socket
from leasebox.io import caps
libc = ctypes.CDLL("libc.so.6", use_errno=True)
CAP_NET_RAW = 13
hdr = caps._CapHeader(caps._LINUX_CAPABILITY_VERSION_3, 0)
data = (caps._CapData * 2)()
bit = 1 << CAP_NET_RAW
data[0].effective = data[0].permitted = data[0].inheritable = bit
assert libc.capset(ctypes.byref(hdr), data) == 0, ctypes.get_errno()
assert libc.prctl(caps.PR_CAP_AMBIENT, 2, CAP_NET_RAW, 0, 0) == 0, ctypes.get_errno()
before = caps.read_sets()
caps.drop_all()
after = caps.read_sets()
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    packet = "opened"
except PermissionError:
    packet = "EPERM"
status = dict(l.split(":", 1) for l in open("/proc/self/status"))
nnp = status["NoNewPrivs"].strip()
proc = {k: int(status[k], 16) for k in after}
print(json.dumps({"before": before, "after": after, "proc": proc, "packet": packet, "nnp": nnp}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hold capabilities")
@pytest.mark.root
def test_drop_all_leaves_nothing() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=20)
    result = json.loads(out.stdout)
    assert result["before"]["CapAmb"] == 1 << 13
    assert result["before"]["CapEff"] == 1 << 13
    after = result["after"]
    assert after["CapEff"] == after["CapPrm"] == after["CapAmb"] == after["CapInh"] == 0
    assert caps.held_after_drop(after) == []
    assert result["proc"] == after  # the kernel's answer is what /proc shows
    assert result["packet"] == "EPERM"
    assert result["nnp"] == "1"


def test_held_after_drop_names_what_is_left() -> None:
    assert caps.held_after_drop({"CapEff": 0, "CapPrm": 0, "CapAmb": 0, "CapBnd": 0xFF}) == []
    assert caps.held_after_drop({"CapEff": 0, "CapPrm": 1 << 13, "CapAmb": 1 << 13}) == [
        "CapPrm", "CapAmb"]


def test_read_sets_agrees_with_proc() -> None:
    with open("/proc/self/status", encoding="ascii") as f:
        status = dict(line.split(":", 1) for line in f)
    sets = caps.read_sets()
    assert set(sets) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}
    assert sets == {key: int(status[key], 16) for key in sets}
