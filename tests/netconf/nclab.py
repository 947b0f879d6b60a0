"""Helpers for netconf's namespace tests: real netconf processes in throw-away namespaces.

Each test gets its own namespace (named with our pid) holding a veth pair, and runs the
real `python -m leasebox.netconf.main` inside it with `ip netns exec`, its engine socket
handed over as systemd would (fd 3, LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID). The same tests
run under the venv's interpreter (pyroute2 0.9.x from PyPI) and Debian's /usr/bin/python3
(python3-pyroute2 0.7.2). Every wait is bounded; namespaces and processes are removed in
finalizers.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from leasebox import ipc
from leasebox.ipc import channel

SRC = Path(__file__).resolve().parents[2] / "src"
DEBIAN_PYTHON = "/usr/bin/python3"
IFACE = "nc0"
PEER = "nc1"
REPLY_TIMEOUT = 20.0


def _debian_python_usable() -> bool:
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        return False
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import pyroute2"], capture_output=True,
                           timeout=30, check=False)
    return probe.returncode == 0


INTERPRETERS = [
    pytest.param(sys.executable, id="pyroute2-pypi"),
    pytest.param(DEBIAN_PYTHON, id="pyroute2-debian", marks=pytest.mark.skipif(
        not _debian_python_usable(), reason="Debian's python3-pyroute2 is not installed")),
]


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True,
                          timeout=10).stdout


def ip_json(ns: str, *args: str) -> Any:
    return json.loads(ip("-n", ns, "-j", *args) or "[]")


def snapshot(ns: str) -> tuple[Any, Any, Any]:
    """What netconf may change, minus the counters that move on their own."""
    addrs = ip_json(ns, "-4", "addr", "show", "dev", IFACE)
    for link in addrs:
        for info in link.get("addr_info", []):
            info.pop("valid_life_time", None)
            info.pop("preferred_life_time", None)
    routes = ip_json(ns, "-4", "route", "show", "table", "all")
    links = [{k: v for k, v in link.items() if k in ("ifname", "mtu", "flags")}
             for link in ip_json(ns, "link", "show", "dev", IFACE)]
    return addrs, routes, links


class Netconf:
    """One running leasebox-netconf and our engine-side end of its socket."""

    def __init__(self, proc: subprocess.Popen[str], sock: socket.socket | None,
                 listen_path: Path | None, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.sock = sock
        self.listen_path = listen_path
        self._ids = itertools.count(1)

    def connect(self) -> None:
        assert self.listen_path is not None
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(str(self.listen_path))

    def next_id(self) -> int:
        return next(self._ids)

    def request(self, msg: ipc.Message) -> ipc.Result:
        assert self.sock is not None
        channel.send(self.sock, msg)
        self.sock.settimeout(REPLY_TIMEOUT)
        reply = channel.recv(self.sock, ipc.Peer.NETCONF, ipc.Peer.ENGINE)
        assert isinstance(reply, ipc.Result), f"no reply; netconf said: {self.output()}"
        return reply

    def send_raw(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.send(data)

    def close_engine(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def wait(self, timeout: float = REPLY_TIMEOUT) -> int:
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        """What netconf logged (stderr goes to a file: a full pipe would block it)."""
        return self.log_path.read_text()

    def stop(self) -> None:
        self.close_engine()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


