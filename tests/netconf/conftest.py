"""Fixtures for netconf's namespace tests (helpers in nclab.py)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
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


def _made_by_another_process(make: Callable[[], list[socket.socket]]) -> list[socket.socket]:
    """Sockets made (connected) by a child process, which hands them over and exits:
    SO_PEERCRED names the process that connected, so to netconf this is an engine of
    another PID."""
    here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    pid = os.fork()
    if pid == 0:  # the child: make them, send them, leave without any clean-up
        try:
            made = make()
            socket.send_fds(there, [b"made"], [s.fileno() for s in made])
        finally:
            os._exit(0)
    there.close()
    try:
        here.settimeout(10)
        _, fds, _, _ = socket.recv_fds(here, 16, 2)
    finally:
        here.close()
        os.waitpid(pid, 0)
    return [socket.socket(fileno=fd) for fd in fds]


def _pair_of_another_process() -> tuple[socket.socket, socket.socket]:
    ours, theirs = _made_by_another_process(
        lambda: list(socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)))
    return ours, theirs


def connected_by_another_process(path: Path) -> socket.socket:
    """A connection to `path` made by another process (see _made_by_another_process)."""
    def connect() -> list[socket.socket]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.connect(str(path))
        return [sock]
    (sock,) = _made_by_another_process(connect)
    return sock


@pytest.fixture
def start_netconf(tmp_path: Path) -> Iterator[Any]:
    started: list[Netconf] = []

    def start(ns: str, python: str, *, listening: bool = False, policy: str | None = None,
              iface: str = IFACE, extra_args: list[str] | None = None,
              config_root: Path | None = None, new_engine: bool = False,
              queued: bool = False) -> Netconf:
        """`config_root`: read the files there (else a root of its own, with `policy`);
        `new_engine`: the engine's end is another process's (an engine started since:
        netconf reads the files again rather than keep what it read for this one);
        `queued` (listening): the engine's connection waits before netconf starts, as
        when its request starts netconf."""
        extra: list[str] = list(extra_args or [])
        if "--dns-to" not in extra:  # not whatever this host has installed
            extra += ["--dns-to", "file"]
        if "--bus-socket" not in extra:
            extra += ["--bus-socket", str(tmp_path / "no-bus.sock")]
        # its own configuration root, so that the host's /etc/leasebox never leaks in
        root = config_root or tmp_path / f"root-{len(started)}"
        conf = root / "etc" / "leasebox" / "leasebox.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
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
            if queued:
                ours = connected_by_another_process(listen_path) if new_engine else \
                    socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                if not new_engine:
                    ours.connect(str(listen_path))
        else:
            ours, theirs = _pair_of_another_process() if new_engine else socket.socketpair(
                socket.AF_UNIX, socket.SOCK_SEQPACKET)
            name = "engine"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("LISTEN_", "NOTIFY_", "WATCHDOG_", "JOURNAL_"))}
        env.update(PYTHONPATH=f"{SRC}{os.pathsep}{SRC.parent}")
        fd = theirs.fileno()
        # `ip netns exec` execs in turn, so LISTEN_PID still names netconf's python
        argv = activation.argv([(name, fd)], [
            "ip", "netns", "exec", ns, python, "-m", "leasebox.netconf.main", iface,
            "--runtime-dir", str(tmp_path / "run"), "--dns-dir", str(tmp_path / "run" / "dns"),
            "--debug", *extra])
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
