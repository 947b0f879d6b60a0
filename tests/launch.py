"""leasebox-launch IFACE: run the three processes for one interface the way systemd would.

For development and the integration tests, where there is no systemd. Like the units:
- the sockets that socket units would open are opened here and handed down with
  LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID: UDP 0.0.0.0:68 bound to the device, the rtnetlink
  link-events socket, and the listening seqpacket sockets of engine, netconf and control;
- each process gets its own NOTIFY_SOCKET; READY=1 and STATUS= are read from it, and fds
  sent with FDSTORE=1 are kept and handed back when that process is started again;
- a process that exits while the launcher is not stopping is restarted (Restart=always),
  at most RESTART_BURST times in RESTART_INTERVAL seconds;
- on SIGTERM/SIGINT the engine is asked to leave the link (control STOP: RELEASE when
  configured, configuration removed), then every process gets SIGTERM.
Privileged sockets (io's AF_PACKET) are opened by the process itself, as under systemd.
"""

from __future__ import annotations

import argparse
import array
import ctypes
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from leasebox.ipc import control
from leasebox.runtime import ifname
from tests.activation import io_sockets, place_fds

PR_SET_PDEATHSIG = 1
RESTART_BURST = 5
RESTART_INTERVAL = 10.0
STOP_TIMEOUT = 5.0


@dataclass
class Service:
    name: str
    argv: list[str]
    sockets: list[tuple[str, socket.socket]]
    notify: socket.socket
    notify_path: str
    pid: int | None = None
    pidfd: int | None = None
    stored: dict[str, int] = field(default_factory=dict)
    status: str = ""
    ready: bool = False
    starts: list[float] = field(default_factory=list)


def _log(text: str) -> None:
    print(f"leasebox-launch: {text}", file=sys.stderr, flush=True)


def open_sockets(iface: str, rundir: Path) -> dict[str, socket.socket]:
    """The sockets the .socket units open (PID 1's job under systemd)."""
    rundir.mkdir(mode=0o755, parents=True, exist_ok=True)
    out = io_sockets(iface)
    for name, mode in (("engine", 0o600), ("netconf", 0o600), ("control", 0o600)):
        path = rundir / f"{name}.sock"
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.bind(str(path))
        os.chmod(path, mode)
        sock.listen(8)
        out[name] = sock
    return out


class Launcher:
    def __init__(self, iface: str, rundir: Path, services: list[Service]) -> None:
        self.iface = iface
        self.rundir = rundir
        self.services = services
        self.sel = selectors.DefaultSelector()
        self.stopping = False

    def spawn(self, svc: Service) -> None:
        now = time.monotonic()
        svc.starts = [t for t in svc.starts if now - t < RESTART_INTERVAL] + [now]
        names = [n for n, _ in svc.sockets] + list(svc.stored)
        fds = [s.fileno() for _, s in svc.sockets] + list(svc.stored.values())
        env = dict(os.environ)
        env.update(NOTIFY_SOCKET=svc.notify_path, LISTEN_FDS=str(len(fds)),
                   LISTEN_FDNAMES=":".join(names))
        env.pop("LISTEN_PID", None)
        self_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # child: fds to 3.., LISTEN_PID = our own pid, exec
            try:
                # killed with the launcher, whatever ends it (a test's SIGKILL after its
                # grace): never left running in a namespace the test then deletes
                ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() != self_pid:  # the launcher went before the prctl
                    os._exit(127)
                place_fds(fds)
                os.closerange(3 + len(fds), 4096)
                env["LISTEN_PID"] = str(os.getpid())
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                os.execve(svc.argv[0], svc.argv, env)
            finally:
                os._exit(127)
        svc.pid = pid
        svc.pidfd = os.pidfd_open(pid)
        svc.ready = False
        self.sel.register(svc.pidfd, selectors.EVENT_READ, ("exit", svc))
        _log(f"started {svc.name} (pid {pid}) with {', '.join(names) or 'no fds'}")

    def reap(self, svc: Service) -> None:
        assert svc.pid is not None and svc.pidfd is not None
        _, status = os.waitpid(svc.pid, 0)
        self.sel.unregister(svc.pidfd)
        os.close(svc.pidfd)
        code = os.waitstatus_to_exitcode(status)
        _log(f"{svc.name} (pid {svc.pid}) exited with {code}")
        svc.pid = svc.pidfd = None
        if self.stopping:
            return
        if len(svc.starts) >= RESTART_BURST:
            _log(f"{svc.name} restarted too often; giving up")
            self.stopping = True
            return
        self.spawn(svc)

    def read_notify(self, svc: Service) -> None:
        while True:
            try:
                data, anc, _, _ = svc.notify.recvmsg(4096, socket.CMSG_SPACE(64 * 4))
            except BlockingIOError:
                return
            fds: list[int] = []
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    arr = array.array("i")
                    arr.frombytes(payload[: len(payload) - len(payload) % 4])
                    fds.extend(arr)
            fields = dict(line.split("=", 1) for line in data.decode(errors="replace").split("\n")
                          if "=" in line)
            if fields.get("READY") == "1":
                svc.ready = True
            if "STATUS" in fields and fields["STATUS"] != svc.status:
                svc.status = fields["STATUS"]
                _log(f"{svc.name} status: {svc.status}")
                (self.rundir / f"{svc.name}.status").write_text(svc.status + "\n")
            name = fields.get("FDNAME", "stored")
            if fields.get("FDSTOREREMOVE") == "1" and name in svc.stored:
                os.close(svc.stored.pop(name))
            if fields.get("FDSTORE") == "1" and fds:
                # systemd would keep both: a store_fd that should have replaced one is a
                # bug the tests must see
                if name in svc.stored:
                    raise SystemExit(f"leasebox-launch: {svc.name} stored a second fd "
                                     f"named {name!r} without FDSTOREREMOVE=1")
                svc.stored[name] = fds.pop(0)
                _log(f"{svc.name} stored fd {name!r}")
            for fd in fds:
                os.close(fd)

    def run(self) -> int:
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        self.sel.register(wake_r, selectors.EVENT_READ, ("signal", None))
        for svc in self.services:
            svc.notify.setblocking(False)
            self.sel.register(svc.notify, selectors.EVENT_READ, ("notify", svc))
        try:
            for svc in self.services:
                self.spawn(svc)
            while not self.stopping:
                for key, _ in self.sel.select(1.0):
                    kind, svc = key.data
                    if kind == "signal":
                        try:
                            wake_r.recv(64)
                        except BlockingIOError:
                            pass
                        self.stopping = True
                    elif kind == "notify":
                        self.read_notify(svc)
                    elif kind == "exit":
                        self.reap(svc)
        finally:  # a SystemExit from read_notify too: the services stop with us
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        self.stopping = True
        engine = next((s for s in self.services if s.name == "engine"), None)
        if engine is not None and engine.pid is not None:
            _log("asking the engine to leave the link")
            reply = send_control(self.rundir / "control.sock", control.Command.LEAVE)
            _log(f"engine: {reply}")
        for svc in reversed(self.services):  # io first, netconf last
            if svc.pid is not None:
                os.kill(svc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for svc in self.services:
            while svc.pid is not None and time.monotonic() < deadline:
                for key, _ in self.sel.select(0.1):
                    kind, s = key.data
                    if kind == "exit":
                        self.reap(s)
            if svc.pid is not None:
                _log(f"{svc.name} did not stop; killing it")
                os.kill(svc.pid, signal.SIGKILL)
                self.reap(svc)


def send_control(path: Path, command: control.Command, timeout: float = 5.0) -> str:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.send(control.encode_request(control.Request(command)))
            reply = control.decode_reply(sock.recv(control.MAX_REPLY + 1))
    except (OSError, control.ControlError) as exc:
        return f"no answer ({exc})"
    if not reply["ok"]:
        return f"error: {reply.get('error')}"
    return str(reply.get("result", {}).get("status", "ok"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="leasebox-launch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("interface")
    p.add_argument("--runtime-dir", type=Path, default=Path("/run/leasebox"))
    p.add_argument("--state-dir", type=Path, help="default /var/lib/leasebox/IFACE")
    p.add_argument("--python", default=sys.executable, help="interpreter for the services")
    p.add_argument("--engine-arg", action="append", default=[], metavar="ARG")
    p.add_argument("--netconf-arg", action="append", default=[], metavar="ARG")
    p.add_argument("--io-arg", action="append", default=[], metavar="ARG")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    iface = ifname.check(args.interface)
    rundir = args.runtime_dir / iface
    socks = open_sockets(iface, rundir)
    state_dir = args.state_dir or Path("/var/lib/leasebox") / iface
    debug = ["--debug"] if args.debug else []

    def module(name: str) -> list[str]:
        return [args.python, "-m", f"leasebox.{name}.main", iface]

    def notify_socket(name: str) -> tuple[socket.socket, str]:
        path = rundir / f"notify-{name}"
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        return sock, str(path)

    services = []
    for name, argv_, sockets in (
        ("netconf", module("netconf") + ["--runtime-dir", str(args.runtime_dir),
                                            "--dns-dir", str(args.runtime_dir / "dns")]
         + debug + args.netconf_arg, [("netconf", socks["netconf"])]),
        ("engine", module("engine") + ["--runtime-dir", str(args.runtime_dir),
                                          "--state-dir", str(state_dir)]
         + debug + args.engine_arg,
         [("engine", socks["engine"]), ("control", socks["control"])]),
        ("io", module("io") + ["--engine-socket", str(rundir / "engine.sock")]
         + debug + args.io_arg, [("udp", socks["udp"]), ("rtnl", socks["rtnl"])]),
    ):
        nsock, npath = notify_socket(name)
        services.append(Service(name, argv_, sockets, nsock, npath))
    return Launcher(iface, rundir, services).run()


if __name__ == "__main__":
    sys.exit(main())
