"""Fixtures for netconf's namespace tests (helpers in nclab.py)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import activation
from tests.netconf.nclab import IFACE, PEER, SRC, Netconf, ip

_counter = itertools.count()


def _need_root() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for network namespaces")


@pytest.fixture
def netns() -> Iterator[str]:
    _need_root()
    name = f"lbx-nc-{os.getpid()}-{next(_counter)}"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "add", IFACE, "type", "veth", "peer", "name", PEER)
        ip("-n", name, "link", "set", PEER, "up")
        ip("-n", name, "link", "set", IFACE, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10,
                       check=False)


@pytest.fixture
def start_netconf(tmp_path: Path) -> Iterator[Any]:
    started: list[Netconf] = []

    def start(ns: str, python: str, *, listening: bool = False, policy: str | None = None,
              iface: str = IFACE, extra_args: list[str] | None = None) -> Netconf:
        extra: list[str] = list(extra_args or [])
        if "--dns-to" not in extra:  # not whatever this host has installed
            extra += ["--dns-to", "file"]
        if "--bus-socket" not in extra:
            extra += ["--bus-socket", str(tmp_path / "no-bus.sock")]
        # its own configuration root, so that the host's /etc/leasebox never leaks in
        root = tmp_path / f"root-{len(started)}"
        conf = root / "etc" / "leasebox" / "leasebox.conf"
        conf.parent.mkdir(parents=True)
        if policy is not None:
            conf.write_text(policy)
        extra += ["--config-root", str(root)]
        listen_path: Path | None = None
        ours: socket.socket | None = None
        if listening:
            listen_path = tmp_path / f"netconf-{len(started)}.sock"
            theirs = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            theirs.bind(str(listen_path))
            theirs.listen(4)
            name = "netconf"
        else:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            name = "engine"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("LISTEN_", "NOTIFY_", "WATCHDOG_", "JOURNAL_"))}
        env.update(PYTHONPATH=f"{SRC}{os.pathsep}{SRC.parent}")
        fd = theirs.fileno()
        # `ip netns exec` execs in turn, so LISTEN_PID still names netconf's python
        argv = activation.argv([(name, fd)], [
            "ip", "netns", "exec", ns, python, "-m", "leasebox.netconf.main", iface,
            "--runtime-dir", str(tmp_path / "run"), "--debug", *extra])
        log_path = tmp_path / f"netconf-{len(started)}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(argv, env=env, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, text=True)
        theirs.close()
        nc = Netconf(proc, ours, listen_path, log_path)
        started.append(nc)
        return nc

    yield start
    for nc in started:
        nc.stop()
