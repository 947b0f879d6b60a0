"""Helpers for io's tests: network namespaces, veth pairs, running code inside them.

Every namespace is named lbxio-<pid>-<n>, so parallel runs and other engineers' tests never
meet; the finalizer deletes it (which deletes its veths too). Nothing here touches any
network but the namespaces it made.
"""

from __future__ import annotations

import ctypes
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from leasebox import ipc
from leasebox.ipc import channel

CLONE_NEWNET = 0x40000000
IO_MAC = "02:00:00:00:10:01"
PEER_MAC = "02:00:00:00:10:02"
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
T = TypeVar("T")

MAC = bytes.fromhex(IO_MAC.replace(":", ""))


def bootrequest(mac: bytes = MAC, size: int = 300) -> bytearray:
    p = bytearray(size)
    p[0:4] = b"\x01\x01\x06\x00"  # BOOTREQUEST, Ethernet, hlen 6, hops 0
    p[4:8] = b"\x12\x34\x56\x78"  # xid
    p[28:34] = mac
    p[236:240] = b"\x63\x82\x53\x63"
    p[240:243] = b"\x35\x01\x01"  # DHCPDISCOVER; io does not look at options
    if size > 243:
        p[243] = 0xFF
    return p


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=10)


def in_netns(name: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a thread that has joined namespace `name`. Sockets it creates belong to
    that namespace for good, and can then be used from any thread."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 (re-raised in the calling thread)
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=10)
    if errors:
        raise errors[0]
    assert result, "in_netns: the thread did not finish"
    return result[0]


@dataclass(frozen=True)
class Veth:
    netns: str
    io: str  # the interface io serves
    peer: str  # the other end: what the "network" sends from and sniffs on
    io_mac: str
    peer_mac: str


# ---- a real leasebox-io, with the test as its engine and service manager ------------------

SPAWN = str(Path(__file__).with_name("spawn_io.py"))


@dataclass
class IoRun:
    proc: subprocess.Popen[bytes]
    engine: socket.socket  # the test's end: the test plays the engine
    notify: socket.socket  # the test's NOTIFY_SOCKET: it plays the service manager
    log_path: Path
    notes: queue.Queue[tuple[list[str], list[int]]] = field(default_factory=queue.Queue)
    frames: list[bytes] = field(default_factory=list)  # received, not yet taken: next_frame

    def __post_init__(self) -> None:
        # Read NOTIFY_SOCKET all the time, as a service manager does: a datagram socket
        # nobody reads fills up, and then io's next sd_notify blocks.
        threading.Thread(target=self._read_notify, daemon=True).start()

    def _read_notify(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.notify, 4096, 8)
            except OSError:  # closed by stop_io
                return
            if not data and not fds:
                return
            self.notes.put((data.decode().split("\n"), fds))

    def recv(self, timeout: float = 5.0) -> ipc.Message | None:
        self.engine.settimeout(timeout)
        return channel.recv(self.engine, ipc.Peer.IO, ipc.Peer.ENGINE)

    def recv_until(self, want: Callable[[ipc.Message], bool], timeout: float = 5.0
                   ) -> ipc.Message:
        """The first message `want` accepts; others (frames, link states) are skipped."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.recv(left)
            assert msg is not None, "io closed the engine socket"
            if want(msg):
                return msg
        raise AssertionError("no such message from io in time")

    def next_frame(self, timeout: float = 5.0) -> bytes:
        """The next frame io passed on, in order, from however many FRAMES messages it
        sent them in (other messages are skipped). TimeoutError if none comes in time."""
        if not self.frames:
            msg = self.recv_until(lambda m: isinstance(m, ipc.Frames), timeout)
            assert isinstance(msg, ipc.Frames)
            self.frames.extend(msg.frames)
        return self.frames.pop(0)

    def send(self, msg: ipc.Message) -> None:
        channel.send(self.engine, msg)

    def notifications(self, until: str, timeout: float = 5.0) -> tuple[list[str], dict[str, int]]:
        """sd_notify lines, and fds by FDNAME, up to the datagram holding `until`."""
        lines: list[str] = []
        fds: dict[str, int] = {}
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                text, got = self.notes.get(timeout=left)
            except queue.Empty:
                break
            lines += text
            name = next((t.split("=", 1)[1] for t in text if t.startswith("FDNAME=")), "")
            for fd in got:
                fds[name] = fd
            if until in text:
                return lines, fds
        raise AssertionError(f"no {until} from io; got {lines}")

    def wait(self, timeout: float = 5.0) -> int:
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text()


def start_io(v: Veth, tmp: Path, fds: dict[str, int] | None = None,
             io_args: tuple[str, ...] = ("--debug",), env: dict[str, str] | None = None,
             sndbuf: int | None = None, *, wrapper: tuple[str, ...] = ()) -> IoRun:
    """io on `v`, the test playing its engine (and its service manager); `sndbuf`: io's
    end's SO_SNDBUF (else net.core.wmem_default's); `wrapper`: a command io runs under
    (setpriv, to take a capability away)."""
    test_end, io_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if sndbuf is not None:
        io_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = tmp / "notify"
    notify.bind(str(notify_path))
    named = {"engine": io_end.fileno(), **(fds or {})}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NOTIFY_SOCKET": str(notify_path),
           **(env or {})}
    log_path = tmp / "io.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", v.netns, *wrapper, sys.executable, SPAWN, v.io,
             *(f"{n}={fd}" for n, fd in named.items()), "--", *io_args],
            pass_fds=list(named.values()), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env=env,
        )
    io_end.close()
    return IoRun(proc, test_end, notify, log_path)


def stop_io(run: IoRun) -> None:
    if run.proc.poll() is None:
        run.proc.kill()  # by its own pid: the process this test started
        run.proc.wait(timeout=5)
    run.engine.close()
    run.notify.shutdown(socket.SHUT_RDWR)  # wakes the reader thread
    run.notify.close()


ETH_P_ALL = 3


def peer_socket(v: Veth) -> socket.socket:
    """A packet socket on the peer end: sends frames into io's link and sees io's frames."""
    sock = in_netns(v.netns, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                                   socket.htons(ETH_P_ALL)))
    sock.bind((v.peer, ETH_P_ALL))
    return sock


def sniff(sock: socket.socket, want: Callable[[bytes], bool], timeout: float = 3.0) -> bytes:
    """The first frame arriving on `sock` (not sent from it) that `want` accepts."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            frame, addr = sock.recvfrom(65536)
        except TimeoutError:
            break
        if addr[2] != 4 and want(frame):  # 4: PACKET_OUTGOING
            return frame
    raise AssertionError("no such frame within the timeout")
