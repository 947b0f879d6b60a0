"""leasebox-engine IFACE: start-up, self-checks and the event loop.

Sockets come from the service manager (LISTEN_FDS): "engine" is the listening seqpacket
socket io connects to, "control" the control socket, and "state" (when present) the memfd
with the live state a previous instance left in the FDSTORE. The engine opens no network
socket; it connects to netconf's AF_UNIX socket by path.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
from collections.abc import Callable

from leasebox import ipc
from leasebox.config import files
from leasebox.config import settings as s
from leasebox.config.parse import ConfigError, Override
from leasebox.config.settings import Setting
from leasebox.core import events as core_events
from leasebox.core.generics import TYPE_CHECKING
from leasebox.core.log import Logger
from leasebox.core.record import record
from leasebox.engine import boottime, dispatch, leasefile
from leasebox.engine.clients import Clients
from leasebox.engine.config import EngineConfig, checked_engine_config
from leasebox.engine.livestate import FDNAME as STATE_FDNAME
from leasebox.engine.livestate import LiveState
from leasebox.engine.service import EngineService, Settings
from leasebox.ipc import channel, control, peers
from leasebox.runtime import atomicfile, cmdline, ifname, sandbox, sd
from leasebox.runtime import log as logsetup
from leasebox.runtime.exits import EX_CONFIG

if TYPE_CHECKING:
    from typing import Any

log = Logger("leasebox.engine")

RUNTIME_DIR = "/run/leasebox-ipc"  # the sockets between leasebox's processes
CONFIG_ROOT = "/"
STOP_GRACE = 3.0
# A renew or release that comes while io is not connected, or has not reported the link
# yet, waits this long for it, then is refused: io comes back ~0.3 s after each of its
# restarts, and after the engine's own (`systemctl restart leasebox-engine@IFACE &&
# leaseboxctl renew IFACE` found none yet).
IO_WAIT = 5.0
# accept() failed for want of descriptors or memory (EMFILE, ENFILE, ENOMEM): the
# connection waits in the listener's backlog, which polls readable all along; the loop
# leaves that listener alone this long rather than spin on it
ACCEPT_PAUSE = 1.0
# io's messages handled a wake-up: until this many frames (io reads as many in one; a
# FRAMES message holds up to ipc.MAX_FRAMES, so a wake-up handles fewer than twice this)
IO_BURST = 64


# The development launcher's options. Each sets one setting of leasebox.conf and, when
# given, wins over the files; the units pass none of them (leasebox.conf(5), COMMAND LINE).
_CLI_SETTINGS: tuple[tuple[str, Setting[Any], str | None], ...] = (
    ("--client-id", s.CLIENT_IDENTIFIER, None),
    ("--hostname", s.HOSTNAME, None),
    ("--rapid-commit", s.RAPID_COMMIT, "yes"),
    ("--ipv6-only-preferred", s.IPV6_ONLY_PREFERRED, "yes"),
    ("--arp-probe", s.ARP_PROBE, "yes"),
    ("--arp-probe-timing", s.ARP_PROBE_TIMING, None),
    ("--request-broadcast", s.REQUEST_BROADCAST, "yes"),
    ("--no-release", s.SEND_RELEASE, "no"),
    ("--keep-configuration", s.KEEP_CONFIGURATION, "yes"),
    ("--min-lease-time", s.MINIMUM_LEASE_TIME, None),
)


def _option(option: str, setting: Setting[Any], const: str | None) -> cmdline.Option:
    if const is None:  # empty: the setting's default, over the files (as in a file)
        return cmdline.Option(option, setting.values.upper(),
                              f"{setting.name}=, over the configuration files", empty=True)
    return cmdline.Option(option, None, f"{setting.name}={const}, over the configuration files")


SYNTAX = cmdline.Syntax(
    "leasebox-engine", "the DHCPv4 state machine of one interface.", "IFACE",
    "the interface", (
        cmdline.Option("--state-dir", "DIR", "default /var/lib/leasebox/IFACE"),
        cmdline.Option("--runtime-dir", "DIR", f"default {RUNTIME_DIR}"),
        cmdline.Option("--netconf-socket", "PATH", "default RUNTIME_DIR/IFACE/netconf.sock"),
        cmdline.Option("--config-root", "DIR",
                       f"read leasebox.conf under DIR instead of {CONFIG_ROOT} (for tests)"),
        cmdline.Option("--boot-id", "ID", "this boot's ID (the unit's %b), written into the "
                       "lease events, so that the hooks skip those of an earlier boot"),
        *(_option(*row) for row in _CLI_SETTINGS),
        cmdline.Option("--debug", None, "log at debug level"),
    ))


@record
class Args:
    interface: str  # as given: main() checks it
    state_dir: str | None = None
    runtime_dir: str = RUNTIME_DIR
    netconf_socket: str | None = None
    config_root: str = CONFIG_ROOT
    overrides: tuple[Override, ...] = ()
    debug: bool = False
    boot_id: str | None = None


def parse_args(argv: list[str]) -> Args | None:
    """The engine's arguments; None for --help. Raises cmdline.UsageError."""
    command = SYNTAX.parse(argv)
    if command is None:
        return None
    given = command.values
    overrides = []
    for option, setting, const in _CLI_SETTINGS:
        text = const if option in command.flags else given.get(option)
        if text is not None:
            overrides.append(Override(setting, text, option))
    boot_id = given.get("--boot-id")
    if boot_id is not None:
        boot_id = core_events.boot_id(boot_id)
        if boot_id is None:
            raise cmdline.UsageError("--boot-id: 32 hexadecimal digits (a boot ID)")
    return Args(command.positional, given.get("--state-dir"),
                given.get("--runtime-dir", RUNTIME_DIR), given.get("--netconf-socket"),
                given.get("--config-root", CONFIG_ROOT), tuple(overrides),
                "--debug" in command.flags, boot_id)


def read_config(args: Args, iface: str) -> EngineConfig:
    """The engine's settings: files, then the command line. Raises ConfigError."""
    config = files.load(args.config_root, iface, args.overrides)
    return checked_engine_config(config, iface, os.uname().nodename)


def main(argv: list[str] | None = None) -> int:
    # a unit mistake (a name refused): restarting would not help (78 stops it)
    args = cmdline.command(SYNTAX, parse_args, argv, usage_code=EX_CONFIG)
    if isinstance(args, int):
        return args
    try:
        iface = ifname.check(args.interface)
    except ValueError as exc:
        print(f"leasebox-engine: {exc}", file=sys.stderr)
        return EX_CONFIG
    logsetup.setup("engine", iface, args.debug)
    # before the sockets: a bad configuration is reported as such, wherever it runs
    try:
        cfg = read_config(args, iface)
    except ConfigError as exc:
        log.error("%s", exc)
        return EX_CONFIG
    for warning in cfg.warnings:
        log.warning("%s", warning)
    try:
        return run(args, iface, cfg)
    except ipc.PeerViolation as exc:
        log.critical("peer violated the protocol, exiting: %s", exc)
        return 1


def _remove_leftovers(state_dir: str) -> None:
    """The lease file's temporary files that a write cut short left (a power loss): one
    engine at a time writes it. (The event queue removes its own: EventQueue.)"""
    try:
        if atomicfile.remove_leftovers(state_dir, leasefile.FILENAME):
            log.info("removed the temporary files of the lease file an interrupted write "
                     "left")
    except OSError as exc:
        log.warning("cannot remove the lease file's temporary files: %s", exc.strerror or exc)


def run(args: Args, iface: str, cfg: EngineConfig) -> int:
    fds = sd.listen_fds()
    io_listener = sd.take_socket(fds, "engine")
    control_listener = sd.take_socket(fds, "control")
    state_fds = fds.pop(STATE_FDNAME, [])
    for extra in state_fds[1:]:
        os.close(extra)
    if io_listener is None:
        log.error("no 'engine' socket was passed in (LISTEN_FDNAMES); nothing to listen on")
        return EX_CONFIG
    for name, rest in fds.items():
        log.warning("ignoring %d unexpected inherited fd(s) named %r", len(rest), name)
        for fd in rest:
            os.close(fd)

    log.info("configuration: %s", ", ".join(cfg.files) or "no files, all defaults")
    state_dir = args.state_dir or f"/var/lib/leasebox/{iface}"
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    _remove_leftovers(state_dir)
    settings = Settings(
        interface=iface,
        client=cfg.client,
        state_dir=state_dir,
        netconf_path=args.netconf_socket or f"{args.runtime_dir}/{iface}/netconf.sock",
        keep_configuration=cfg.keep_configuration,
        release_at_shutdown=cfg.release_at_shutdown,
        use_captive_portal=cfg.use_captive_portal,
        fqdn=cfg.fqdn,
        client_id=cfg.client_id,
        duid=cfg.duid,
        iaid=cfg.iaid,
        allow_servers=cfg.allow_servers,
        deny_servers=cfg.deny_servers,
        boot_id=args.boot_id,
    )
    access = control_access(cfg.control_gid, control_listener)
    live = LiveState(state_fds[0] if state_fds else None)
    svc = EngineService(settings, live)
    logsetup.set_dynamic_fields(svc.fields)
    sandbox.no_more_exec(log)
    return Loop(svc, io_listener, control_listener, access).run()


def _gid_map() -> str:
    try:
        with open("/proc/self/gid_map", encoding="ascii") as gid_map:
            return gid_map.read()
    except OSError:
        return f"0 0 {2**32 - 1}"  # no /proc to say otherwise: no user namespace


def control_access(gid: int | None, listener: socket.socket | None,
                   id_map: str | None = None) -> peers.ControlAccess:
    """How ControlGroup= can be checked from inside this process's user namespace
    (`id_map`: its /proc/self/gid_map, read when not given)."""
    if gid is None:
        return peers.ControlAccess()
    if id_map is None:
        id_map = _gid_map()
    inner = peers.map_id(id_map, gid)
    if inner is not None:
        return peers.ControlAccess(gid=inner)
    # PrivateUsers=yes: the group's members look like anyone unknown. Only the socket
    # file's permissions can tell them apart, and only if they shut everyone else out.
    mode = None
    try:
        path = listener.getsockname() if listener is not None else None
        if isinstance(path, str) and path.startswith("/"):
            mode = os.stat(path).st_mode
    except OSError:
        pass
    if mode is None or mode & 0o007:
        log.warning("ControlGroup=%d is not visible in this sandbox (PrivateUsers=) and the "
                    "control socket file %s: only root may use leaseboxctl", gid,
                    "cannot be checked" if mode is None else "is open to others")
        return peers.ControlAccess()
    log.info("ControlGroup=%d is not visible in this sandbox (PrivateUsers=); its members "
             "are admitted by the control socket file's group", gid)
    return peers.ControlAccess(unmapped=True)


class Loop:
    def __init__(self, svc: EngineService, io_listener: socket.socket,
                 control_listener: socket.socket | None,
                 access: peers.ControlAccess | None = None) -> None:
        self.svc = svc
        self.access = access or peers.ControlAccess()
        self.sel = selectors.DefaultSelector()
        self.io_listener = io_listener
        self.control_listener = control_listener
        self.control_clients: Clients[socket.socket] = Clients()
        # leaves waiting for their removals: (connection, deadline, the removals' ids)
        self.stop_waiters: list[tuple[socket.socket, float, frozenset[int]]] = []
        # renews and releases waiting for io (IO_WAIT): (connection, deadline, request)
        self.io_waiters: list[tuple[socket.socket, float, bytes]] = []
        self.watchdog = sd.watchdog_interval()
        self.watchdog_at = 0.0
        self.terminate = False
        self.wake_r, self.wake_w = socket.socketpair()
        self.registered: dict[socket.socket, Callable[[], None]] = {}
        self.accept_paused: dict[socket.socket, float] = {}  # listener -> until (ACCEPT_PAUSE)
        self.accept_failed: dict[socket.socket, str] = {}  # listener -> the error said
        self.alarm = boottime.Alarm()  # wakes the loop when a deadline passed in suspend

    def run(self) -> int:
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.io_listener.setblocking(False)
        if self.control_listener is not None:
            self.control_listener.setblocking(False)
        self.svc.connect_netconf()  # early: socket activation warms netconf up before the ACK
        log.info("started; waiting for io")  # before READY=1, as io's and netconf's lines
        sd.notify("READY=1", self.svc.status_field(self.svc.clock()))
        self.sel.register(self.alarm, selectors.EVENT_READ)
        try:
            self._loop()
        finally:  # a stop, or a bad peer's violation: the next start may need the file
            self.svc.store_renewal()
            for sock, _, _ in self.io_waiters:
                self._reply(sock, control.encode_reply(False, error="the engine stopped "
                                                       "before io connected"))
        held = self.svc.client is not None and self.svc.client.lease is not None
        log.info("stopping; %s and live state kept for the next start",
                 "lease" if held else "no lease held (released or never bound),")
        return 0

    def _loop(self) -> None:
        while not self.terminate:
            self._sync_registrations()
            timeout = self._timeout()
            self.alarm.set(self.svc.clock() + timeout)
            events = self.sel.select(timeout)
            for key, _ in events:
                if key.fileobj is self.alarm:
                    self.alarm.clear()
                    continue
                handler = self.registered.get(key.fileobj)  # type: ignore[call-overload]
                if handler is not None:
                    handler()
            self._housekeeping()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.terminate = True

    def _sync_registrations(self) -> None:
        now = self.svc.clock()
        self.accept_paused = {ls: t for ls, t in self.accept_paused.items() if t > now}
        want: dict[socket.socket, Callable[[], None]] = {self.wake_r: self._drain_wakeup}
        if self.io_listener not in self.accept_paused:
            want[self.io_listener] = self._accept_io
        if self.svc.io is not None:
            want[self.svc.io] = self._recv_io
        if self.svc.netconf is not None:
            want[self.svc.netconf] = self._recv_netconf
        if self.control_listener is not None and self.control_listener not in self.accept_paused:
            want[self.control_listener] = self._accept_control
        held = self._held()
        for client in self.control_clients.clients:
            if client not in held:  # one request at a time: the next after this one's reply
                want[client] = self._make_control_reader(client)
        for sock in list(self.registered):
            if sock not in want or sock.fileno() < 0:
                try:
                    self.sel.unregister(sock)
                except (KeyError, ValueError):
                    pass
                del self.registered[sock]
        for sock, handler in want.items():
            if sock not in self.registered:
                self.sel.register(sock, selectors.EVENT_READ)
            self.registered[sock] = handler

    def _timeout(self) -> float:
        now = self.svc.clock()
        deadlines = [now + 60.0, self.svc.status_due()]
        for d in (self.svc.timer(), self.svc.netconf_retry_at, self.svc.ledger.held_deadline()):
            if d is not None:
                deadlines.append(d)
        if self.watchdog is not None:
            deadlines.append(self.watchdog_at)
        deadlines += [d for _, d, _ in self.stop_waiters]
        deadlines += [d for _, d, _ in self.io_waiters]
        deadlines += self.accept_paused.values()
        idle = self.control_clients.next_deadline()
        if idle is not None:
            deadlines.append(idle)
        return max(0.0, min(deadlines) - now)

    def _housekeeping(self) -> None:
        now = self.svc.clock()
        self.svc.on_timer(now)
        self.svc.release_held(now)
        if self.svc.netconf is None and self.svc.netconf_retry_at is not None \
                and now >= self.svc.netconf_retry_at:
            self.svc.connect_netconf()
        if self.watchdog is not None and now >= self.watchdog_at:
            sd.notify("WATCHDOG=1")
            self.watchdog_at = now + self.watchdog
        self.svc.update_status()
        waiting = []
        for sock, deadline, removals in self.stop_waiters:
            if not self.svc.ledger.pending or now >= deadline:
                self._reply(sock, dispatch.leave_reply(self.svc, removals))
            else:
                waiting.append((sock, deadline, removals))
        self.stop_waiters = waiting
        self._answer_io_waiters(now)
        for sock in self.control_clients.idle(now, self._held()):
            log.debug("closing an idle control connection")
            sock.close()

    def _drain_wakeup(self) -> None:
        try:
            while self.wake_r.recv(64):
                pass
        except BlockingIOError:
            pass

    # ---- io --------------------------------------------------------------------------------

    def _accept(self, listener: socket.socket, what: str) -> socket.socket | None:
        """A new connection, or None: none waiting, or none to be had for a while (a full
        descriptor table, the process's or the system's: said, not fatal)."""
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return None
        except OSError as exc:
            error = exc.strerror or str(exc)
            if self.accept_failed.get(listener) != error:  # said once, not every second
                log.warning("cannot accept a %s connection: %s; trying again every %g s",
                            what, error, ACCEPT_PAUSE)
            self.accept_failed[listener] = error
            self.accept_paused[listener] = self.svc.clock() + ACCEPT_PAUSE
            return None
        if self.accept_failed.pop(listener, None) is not None:
            log.info("%s connections are accepted again", what)
        return conn

    def _accept_io(self) -> None:
        conn = self._accept(self.io_listener, "data")
        if conn is None:
            return
        peer = peers.peer_credentials(conn)
        if not peers.engine_admits_io(peer, os.geteuid(), os.getegid()):
            log.warning("refused a data connection from pid %d uid %d gid %d: not io",
                        peer.pid, peer.uid, peer.gid)
            conn.close()
            return
        if self.svc.io is not None:
            log.info("io reconnected; dropping the old connection")
            self.svc.drop_io()
        conn.setblocking(True)
        self.svc.io_connected(conn)
        log.debug("io connected")

    def _recv_io(self) -> None:
        """Messages until IO_BURST frames a wake-up: under a flood of frames the loop's own
        work (timers, registrations, the watchdog) is paid once per burst, not per frame."""
        frames = 0
        while frames < IO_BURST:
            io = self.svc.io
            if io is None:
                return
            try:
                msg = channel.recv(io, ipc.Peer.IO, ipc.Peer.ENGINE, nonblocking=True)
            except BlockingIOError:
                return
            except ConnectionResetError:  # io exited with what we sent it unread
                msg = None
            if msg is None:
                log.info("io disconnected")
                self.svc.drop_io()
                return
            frames += len(msg.frames) if isinstance(msg, ipc.Frames) else 1
            dispatch.engine_dispatch_io(self.svc, msg)

    # ---- netconf ---------------------------------------------------------------------------

    def _recv_netconf(self) -> None:
        # An earlier handler of the same wake-up may have dropped the connection this
        # event was for (a failed send), or made a new one that has nothing yet.
        netconf = self.svc.netconf
        if netconf is None:
            return
        try:
            msg = channel.recv(netconf, ipc.Peer.NETCONF, ipc.Peer.ENGINE, nonblocking=True)
        except BlockingIOError:
            return
        except ConnectionResetError:
            msg = None
        if msg is None:
            log.info("netconf closed the connection (as it does when idle: the next request "
                     "starts it again)")
            self.svc.drop_netconf()
            return
        dispatch.engine_dispatch_netconf(self.svc, msg)

    # ---- control ---------------------------------------------------------------------------

    def _accept_control(self) -> None:
        assert self.control_listener is not None
        conn = self._accept(self.control_listener, "control")
        if conn is None:
            return
        peer = peers.peer_credentials(conn)
        admitted = peers.engine_admits_control(peer, peers.peer_groups(conn), os.geteuid(),
                                               self.access)
        why = "permission denied"
        if admitted:
            user = peers.control_user(peer, self.access)
            admitted, evict, why = self.control_clients.admit(conn, user, self.svc.clock())
            if evict is not None:
                log.info("control socket full: closing the longest idle connection for root")
                evict.close()
        if not admitted:
            self._reply(conn, control.encode_reply(False, error=why))
            # Closing with the client's request unread would reset the connection, and the
            # client would lose the reason just sent; take what has arrived first.
            conn.setblocking(False)
            for _ in range(4):
                try:
                    if not conn.recv(control.MAX_REQUEST + 1):
                        break
                except OSError:
                    break
            conn.close()
            return
        conn.setblocking(False)

    def _make_control_reader(self, conn: socket.socket) -> Callable[[], None]:
        return lambda: self._recv_control(conn)

    def _recv_control(self, conn: socket.socket) -> None:
        try:
            data, _, flags, _ = conn.recvmsg(control.MAX_REQUEST + 1)
        except BlockingIOError:
            return
        except OSError:
            data, flags = b"", 0
        if not data:
            self.control_clients.drop(conn)
            conn.close()
            return
        self.control_clients.seen(conn, self.svc.clock())
        if flags & socket.MSG_TRUNC:
            self._reply(conn, control.encode_reply(False, error="request too large"))
            return
        netconf_idle = self.svc.netconf is None
        try:
            command: control.Command | None = control.decode_request(data).command
        except control.ControlError:
            command = None
        if dispatch.waits_for_io(self.svc, command) or (self.io_waiters and command in (
                control.Command.RENEW, control.Command.RELEASE)):
            # (behind those held before: io's link report may have come in this wake-up)
            self.io_waiters.append((conn, self.svc.clock() + IO_WAIT, data))
            return
        reply = dispatch.engine_dispatch_control(self.svc, data)
        if command in (control.Command.LEAVE, control.Command.SHUTDOWN):
            # a renew held for io would start the engine again once io is back
            for sock, _, _ in self.io_waiters:
                self._reply(sock, control.encode_reply(
                    False, error="not done: the engine left the link meanwhile"))
            self.io_waiters = []
        waits = command is control.Command.LEAVE or (
            command is control.Command.SHUTDOWN and not netconf_idle)  # see dispatch
        if waits and self.svc.ledger.pending:
            # Answer once netconf has confirmed the removal, so that the caller (the
            # launcher, or the target's stop job) knows the link is clean when it returns.
            self.stop_waiters.append((conn, self.svc.clock() + STOP_GRACE,
                                      self.svc.ledger.pending_removals()))
            return
        self._reply(conn, reply)

    def _answer_io_waiters(self, now: float) -> None:
        """The renews and releases held for io: done once it is connected and has reported
        the link, or refused after IO_WAIT (io waits for the interface to appear, or for
        its start limit)."""
        waiting = []
        for sock, deadline, data in self.io_waiters:
            if sock.fileno() < 0:  # (closed: the engine stopping)
                continue
            if dispatch.io_ready(self.svc) or now >= deadline:
                self._reply(sock, dispatch.engine_dispatch_control(self.svc, data))
            else:
                waiting.append((sock, deadline, data))
        self.io_waiters = waiting

    def _held(self) -> set[socket.socket]:
        """The control connections whose request waits (for its removals, or for io): not
        read meanwhile, nor closed as idle."""
        return {sock for sock, _, _ in self.stop_waiters} | {s for s, _, _ in self.io_waiters}

    def _reply(self, conn: socket.socket, data: bytes) -> None:
        try:
            conn.send(data)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
