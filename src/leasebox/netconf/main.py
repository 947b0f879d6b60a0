"""leasebox-netconf IFACE: the only process that changes the network configuration.

    leasebox-netconf IFACE [--config-root ROOT] [--runtime-dir DIR] [--debug]

It reads its policy ([Network] in leasebox.conf, see leasebox.config.files) itself, from
under ROOT (default /), and serves each engine by the files as they were when that engine
started, across its own idle exits (startconfig.py).

DNS goes to systemd-resolved when it is installed (--dns-to=auto), else to
DNSDIR/IFACE.conf (--dns-dir, default /run/leasebox-dns); NTP goes to systemd-timesyncd.
Both through leasebox-bus (--bus-socket), because only root may tell those services
anything. A hand-off that fails never costs the address: it is retried with a bounded
backoff, and netconf does not exit idle while one is pending. What netconf changed is
kept in DIR/IFACE/netconf.state, so a restarted netconf can still remove it.

Its engine socket comes from the service manager (LISTEN_FDS/LISTEN_FDNAMES), one of:
  netconf  a listening AF_UNIX SOCK_SEQPACKET socket (ListenSequentialPacket=, Accept=no):
           engines are served one connection at a time; after one closes, the next.
  engine   an already-connected SOCK_SEQPACKET socket: when it closes, netconf exits.
It opens its own rtnetlink socket (pyroute2, loaded only here, at start-up).

The interface may not exist (hotplug): with a listening socket netconf then waits for it
(READY=1, "waiting for IFACE"; no idle exit, since it is netconf that brings a new link
up), with the engine's connection queued. A link removed or renamed while netconf runs is
seen on an rtnetlink link-event socket (or by the check before each change): the request
in hand is left unanswered, the connection closed (the engine sends it again), and netconf
waits for a link of the name again. With a connected socket it exits instead.

Exit status: 0 on SIGTERM/SIGINT (configuration left in place: the address carries kernel
lifetimes and the engine decides on removal; the engine connected then is served until it
closes, STOP_DRAIN seconds at most, for the removal of a target's stop), when a connected
engine closes or its link
went away; 1 when the engine broke the ipc contract (systemd restarts us); 78
(EX_CONFIG) for a bad configuration file (logged as FILE:LINE: what), command line,
inherited sockets or interface (loopback): a unit's mistake, not restarted.
"""

from __future__ import annotations

import errno
import os
import select
import selectors
import socket
import sys
import time
from collections.abc import Callable, Sequence

from leasebox import ipc
from leasebox.config import settings as s
from leasebox.config.parse import Config, ConfigError
from leasebox.config.settings import Scope
from leasebox.config.values import SendRelease
from leasebox.core.log import Logger
from leasebox.core.record import record
from leasebox.ipc import channel, peers
from leasebox.netconf.apply import MAX_RETRY, Configurator, Tracked
from leasebox.netconf.dispatch import (
    LEASE_END_FILENAME,
    LinkGone,
    LinkUnreadable,
    Netconf,
    expire_kept,
    netconf_dispatch_engine,
)
from leasebox.netconf.dns import OLD_FILENAME, ResolvConfFile
from leasebox.netconf.handoff import (
    BUS_SOCKET,
    NOTHING,
    BusClient,
    BusViolation,
    ToBus,
    ToFileAndBus,
)
from leasebox.netconf.policy import Policy, policy_from_config
from leasebox.netconf.rtnl import LinkInfo, Rtnl
from leasebox.netconf.startconfig import FILENAME as CONFIG_FILENAME
from leasebox.netconf.startconfig import Configs
from leasebox.netconf.state import FILENAME as STATE_FILENAME
from leasebox.netconf.state import StateError, StateFile
from leasebox.runtime import atomicfile as atomic
from leasebox.runtime import cmdline, readfile, sandbox, sd
from leasebox.runtime import ifname as ifnames
from leasebox.runtime import log as logsetup
from leasebox.runtime.exits import EX_CONFIG, EX_FATAL, EX_OK
from leasebox.runtime.signals import StopSignals

RTMGRP_LINK = 1
MAX_QUEUED = 8  # connections looked at for the engine at the start
SEND_TIMEOUT = 5.0  # an engine that does not take its reply is broken; drop it
# After SIGTERM, the connected engine is still served this long, or until it closes: the
# target's stop sends netconf its SIGTERM as the engine leaves the link (leasebox-leave@),
# and the engine waits up to 3 s (its STOP_GRACE) for the removal it asks for then.
STOP_DRAIN = 3.5
# no idle exit while the lease applied is shorter than this many idle times (_idle)
SHORT_LEASE = 20
# Installed, resolved takes DNS (running or not: while it is stopped, the hand-off waits).
RESOLVED_BINARY = "/usr/lib/systemd/systemd-resolved"
RUNTIME_DIR = "/run/leasebox"  # netconf.state goes to RUNTIME_DIR/IFACE/
# The resolv.conf-format files, DNS_DIR/IFACE.conf: not in the runtime directory, which
# systemd keeps below /run/private (mode 0700) for a dynamic user that preserves it, where
# no resolver but root's could read them (README, "DNS without systemd-resolved").
DNS_DIR = "/run/leasebox-dns"
CONFIG_ROOT = "/"
# the ifindex of the link a netconf of this boot served with LinkUp=yes, and the engine's
# PID (_link_up)
SERVED_FILENAME = "link-up"


class _Stop(Exception):
    pass


SYNTAX = cmdline.Syntax(
    "leasebox-netconf", "the only process that changes the network configuration.",
    "IFACE", "the interface", (
        cmdline.Option("--config-root", "DIR",
                       f"read leasebox.conf under DIR instead of {CONFIG_ROOT} (for tests)"),
        cmdline.Option("--runtime-dir", "DIR",
                       f"netconf.state goes to DIR/IFACE/ (default {RUNTIME_DIR})"),
        cmdline.Option("--dns-dir", "DIR",
                       f"the resolv.conf-format file is DIR/IFACE.conf (default {DNS_DIR})"),
        cmdline.Option("--dns-to", "auto|file|resolved",
                       "auto (default): systemd-resolved when it is installed, else the "
                       "resolv.conf file"),
        cmdline.Option("--bus-socket", "PATH", f"leasebox-bus's socket (default {BUS_SOCKET})"),
        cmdline.Option("--exit-idle-time", "SECONDS",
                       "with a listening socket: exit after SECONDS without a request "
                       "(socket activation starts netconf again); 0 (default) or "
                       "infinity: never"),
        cmdline.Option("--debug", None, "log at debug level"),
    ))


@record
class _Args:
    interface: str
    config_root: str = CONFIG_ROOT
    runtime_dir: str = RUNTIME_DIR
    dns_to: str = "auto"
    dns_dir: str = DNS_DIR
    bus_socket: str = BUS_SOCKET
    exit_idle_time: float = 0.0  # never
    debug: bool = False


def _parse_args(argv: list[str]) -> _Args | None:
    """netconf's arguments; None for --help. Raises cmdline.UsageError."""
    command = SYNTAX.parse(argv)
    if command is None:
        return None
    given = command.values
    dns_to = given.get("--dns-to", "auto")
    if dns_to not in ("auto", "file", "resolved"):
        raise cmdline.UsageError(f"--dns-to: auto, file or resolved, not {dns_to!r}")
    return _Args(cmdline.interface(command.positional), given.get("--config-root", CONFIG_ROOT),
                 given.get("--runtime-dir", RUNTIME_DIR), dns_to,
                 given.get("--dns-dir", DNS_DIR), given.get("--bus-socket", BUS_SOCKET),
                 _idle_time(given.get("--exit-idle-time", "0")), "--debug" in command.flags)


def _idle_time(text: str) -> float:
    """Seconds, finite and >= 0; 0 and systemd's "infinity" mean never."""
    if text == "infinity":
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise cmdline.UsageError(f"--exit-idle-time: seconds or infinity, not {text!r}")
    return seconds


def _is_seqpacket(sock: socket.socket) -> bool:
    return sock.family == socket.AF_UNIX and sock.type == socket.SOCK_SEQPACKET


def _take_engine_socket(log: Logger) -> tuple[socket.socket, bool] | None:
    """(socket, listening) from the inherited fds, or None (logged) if they are unusable."""
    try:
        taken = sd.take_sockets(["netconf", "engine"], log.warning)
    except sd.ActivationError as exc:
        log.error("%s", exc)
        return None
    listener, engine = taken.get("netconf"), taken.get("engine")
    if (listener is None) == (engine is None):
        log.error("need exactly one inherited socket named 'netconf' (listening) or "
                  "'engine' (connected) in LISTEN_FDNAMES")
        return None
    sock = listener if listener is not None else engine
    assert sock is not None
    listening = listener is not None
    if not _is_seqpacket(sock) or bool(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    ) != listening:
        log.error("inherited socket is not a %s AF_UNIX SOCK_SEQPACKET socket",
                  "listening" if listening else "connected")
        return None
    return sock, listening


class _LinkWatch:
    """An rtnetlink socket subscribed to link events (RTMGRP_LINK). Only a wake-up: what
    happened is read back by name or index, so nothing in the messages is parsed."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  socket.NETLINK_ROUTE)
        self.sock.bind((0, RTMGRP_LINK))
        self.sock.setblocking(False)

    def drain(self) -> None:
        for _ in range(256):
            try:
                self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:  # events lost: the names are read anyway
                    raise

    def close(self) -> None:
        self.sock.close()


def _index(ifname: str) -> int | None:
    try:
        return ifnames.index_of(ifname)
    except ifnames.AlternativeName as exc:  # the unit's mistake: a restart would not help
        raise _Fatal(EX_CONFIG, str(exc)) from None


class _Loop:
    """Waits on one socket and the signal wake-up fd, pinging the watchdog in between; with
    `watch` set, link events also wake it, and `link_check` may raise LinkGone.

    Signals only wake the loop (set_wakeup_fd); they never interrupt an apply half-way.
    """

    def __init__(self) -> None:
        self.signals = StopSignals()
        self.watchdog = sd.watchdog_interval()
        self.watch: _LinkWatch | None = None
        self.link_check: Callable[[], None] = lambda: None
        self.stopped_at: float | None = None  # when a stop signal was first seen

    @property
    def stop_signal(self) -> int | None:
        return self.signals.received

    def wait(self, sock: socket.socket, idle: float = 0.0,
             tick: Callable[[float], float | None] = lambda now: None,
             drain: bool = False) -> bool:
        """True when `sock` is readable; False after `idle` seconds (if non-zero) without;
        raise _Stop on SIGTERM/SIGINT (with `drain`, STOP_DRAIN seconds after it). `tick(now)`
        does what is due and returns when it next needs to run (None: nothing pending);
        while something is, no idle exit."""
        deadline = time.monotonic() + idle if idle > 0 else None
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            sel.register(self.signals.reader, selectors.EVENT_READ)
            watch = self.watch if self.watch is not None and self.watch.sock is not sock \
                else None
            if watch is not None:
                sel.register(watch.sock, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                stop_at = self._stop_at(now)
                if stop_at is not None and (not drain or now >= stop_at):
                    raise _Stop
                due = tick(now)
                timeout = self.watchdog
                if stop_at is not None:
                    timeout = stop_at - now if timeout is None else min(timeout, stop_at - now)
                if due is not None:
                    left = max(0.0, due - now)
                    timeout = left if timeout is None else min(timeout, left)
                    if deadline is not None:
                        deadline = max(deadline, now + idle)
                if deadline is not None:
                    left = deadline - now
                    if left <= 0:
                        return False
                    timeout = left if timeout is None else min(timeout, left)
                ready = [key.fileobj for key, _ in sel.select(timeout)]
                if self.watchdog is not None:
                    sd.notify("WATCHDOG=1")
                if self._woken(ready, watch, drain):
                    return True

    def _stop_at(self, now: float) -> float | None:
        """When a stop signal received makes netconf stop serving; None: none came."""
        if self.stop_signal is None:
            return None
        if self.stopped_at is None:
            self.stopped_at = now
        return self.stopped_at + STOP_DRAIN

    def _woken(self, ready: Sequence[object], watch: _LinkWatch | None,
               drain: bool = False) -> bool:
        """Handle the signal and link-event wake-ups; True if the waited-for socket is
        readable (and no stop signal came, or `drain`)."""
        readable = False
        for fileobj in ready:
            if fileobj is self.signals.reader:
                self.signals.drain()
            elif watch is not None and fileobj is watch.sock:
                watch.drain()
                self.link_check()
            else:
                readable = True
        return readable and (drain or self.stop_signal is None)


def _serve(nc: Netconf, conn: socket.socket, loop: _Loop, log: Logger,
           idle: Callable[[], float] = lambda: 0.0) -> bool:
    """Answer one engine until it closes (False) or, with `idle()` non-zero, until it has
    asked nothing for that long (True). PeerViolation and LinkGone propagate. A stop signal
    ends it only STOP_DRAIN seconds later (_Stop), for the engine leaving the link."""
    conn.settimeout(SEND_TIMEOUT)
    while True:
        if not loop.wait(conn, idle(), nc.retry, drain=True):
            return True
        try:
            msg = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF)
        except (ConnectionResetError, TimeoutError):
            msg = None
        if msg is None:
            log.info("engine closed the connection")
            return False
        reply = netconf_dispatch_engine(nc, msg)
        if not _send(conn, reply, log):
            return False
        sd.notify(f"STATUS={nc.status()}")


def _send(conn: socket.socket, reply: ipc.Result, log: Logger) -> bool:
    try:
        channel.send(conn, reply)
    except OSError as exc:
        log.warning("cannot reply to the engine (%s): dropping the connection", exc)
        return False
    return True




class _Fatal(Exception):
    """Start-up cannot go on; the message is logged and netconf exits with `code`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Unreadable(Exception):
    """The link is there but could not be read (EIO, ENOBUFS...): in listening mode, waited
    out (it passes, or the link goes), not an exit that counts towards the start limit."""


class _Missing(Exception):
    """The interface does not exist (yet)."""


def _open_link(ifname: str) -> tuple[Rtnl, LinkInfo]:
    rtnl = Rtnl()
    # pyroute2 is loaded here, before the first request (see rtnl.py), and before the link
    # is looked up: a hotplugged link must not wait for the import to be brought up.
    # pyroute2 logs with the standard logging: its errors join netconf's log from its import on
    logsetup.forward_library_logs()
    rtnl.open()
    index = _index(ifname)
    if index is None:
        rtnl.close()
        raise _Missing
    try:
        link = rtnl.link(index)
    except OSError as exc:
        rtnl.close()
        if exc.errno == errno.ENODEV:
            raise _Missing from None  # gone again since the name was looked up
        raise _Unreadable(f"cannot read interface {ifname}: {exc}") from None
    if link.name != ifname:
        rtnl.close()
        raise _Missing  # the index now names another link: look the name up again
    if link.loopback:
        rtnl.close()
        # as io's: a unit's mistake, which restarting would not mend (78 stops it)
        raise _Fatal(EX_CONFIG, f"interface {ifname} is loopback")
    return rtnl, link


def _load_state(state: StateFile, log: Logger) -> Tracked | None:
    try:
        tracked = state.load()
    except StateError as exc:
        log.warning("ignoring %s: %s", state.path, exc)
        return None
    if tracked is not None and not tracked.empty:
        log.info("resuming what an earlier netconf applied: %s, %d route(s)%s",
                 tracked.address, len(tracked.routes),
                 "" if tracked.dns == NOTHING else ", DNS/NTP handed on")
    return tracked


def _resolver(args: _Args, ifname: str, runtime_dir: str
              ) -> ToBus | ToFileAndBus:
    bus = BusClient(ifname, args.bus_socket)
    file = ResolvConfFile(args.dns_dir, ifname)
    try:  # an older netconf's file, which only root could read: the new one replaces it
        atomic.remove(runtime_dir, OLD_FILENAME)
    except OSError:
        pass
    if args.dns_to == "resolved" or (args.dns_to == "auto" and os.path.exists(RESOLVED_BINARY)):
        return ToBus(bus, stale=file)
    return ToFileAndBus(file, bus)


def _accept_engine(sock: socket.socket, log: Logger) -> tuple[socket.socket, int] | None:
    """The engine's connection and its PID; None if there was none, or it was refused."""
    try:
        conn, _ = sock.accept()
    except (BlockingIOError, InterruptedError):
        return None
    # Only root reaches the socket file, and only the engine has it bound; this keeps out
    # every process but engine@IFACE (see leasebox.ipc.peers).
    peer = peers.peer_credentials(conn)
    if not peers.netconf_admits_engine(peer, os.geteuid(), os.getegid()):
        log.warning("refused a connection from pid %d uid %d gid %d: not the engine",
                    peer.pid, peer.uid, peer.gid)
        conn.close()
        return None
    log.info("engine connected (pid %d, uid %d, gid %d)", peer.pid, peer.uid, peer.gid)
    return conn, peer.pid


def _serve_engine(nc: Netconf, svc: _Service, conn: socket.socket, pid: int,
                  waited: bool) -> int | None:
    """Serve engine `pid` by its configuration until it closes (None), or until idle or
    when that configuration does not parse (the exit status). `waited`: see
    Configs.for_engine."""
    try:
        changed = _configure(svc, nc, svc.configs.for_engine(pid, waited))
    except ConfigError as exc:
        svc.log.error("%s", exc)
        return EX_CONFIG
    if svc.policy.link_up:  # a new engine's, or LinkUp= of the engine's own files
        _link_up(svc, nc.rtnl, nc.ifindex, pid, asked=changed)
    held, svc.held = svc.held, ()
    for msg in held:  # read while the link was gone (_engine_without_link), in order
        if not _send(conn, netconf_dispatch_engine(nc, msg), svc.log):
            return None
    if _serve(nc, conn, svc.loop, svc.log, lambda: _idle(svc, nc)):
        return _idle_exit(svc.idle, svc.log)
    return None


def _idle(svc: _Service, nc: Netconf) -> float:
    """How long netconf waits for a request before it exits (0: for ever). Not at all while
    the lease applied lasts less than SHORT_LEASE idle times, so that its renewals (at half
    its lifetime) come within ten: starting netconf again for each (its sandbox, interpreter
    and pyroute2, ~140 ms of CPU, and a dozen journal lines) would cost more than its
    memory does in the meantime. At the default 30 s: leases under 10 minutes."""
    lifetime = nc.lifetime
    if lifetime is not None and lifetime != ipc.INFINITE and lifetime < SHORT_LEASE * svc.idle:
        return 0.0
    return svc.idle


def _engine_at_start(sock: socket.socket, listening: bool,
                     log: Logger) -> tuple[socket.socket, int] | None:
    """The engine whose request started netconf (socket activation: its connection waits),
    or the connected one, with its PID; None if none is known yet. Served first, and known
    before the link is: bringing it up (LinkUp=) and the idle exit go by its configuration,
    not by files saved since it started."""
    if not listening:
        return sock, peers.peer_credentials(sock).pid
    for _ in range(MAX_QUEUED):  # past whatever was refused
        if not select.select([sock], [], [], 0)[0]:
            return None
        accepted = _accept_engine(sock, log)
        if accepted is not None:
            return accepted
    return None


def _next_engine(nc: Netconf, svc: _Service) -> tuple[socket.socket, int] | int | None:
    """The next engine to serve and its PID: the one known at the start, a new connection
    (None: none was taken), the connected engine; an int: idle, the exit status."""
    if svc.first is not None:
        first, svc.first = svc.first, None
        svc.waited = True
        return first
    if not svc.listening:
        return svc.sock, peers.peer_credentials(svc.sock).pid
    if not svc.loop.wait(svc.sock, _idle(svc, nc), nc.retry):
        return _idle_exit(svc.idle, svc.log)
    return _accept_engine(svc.sock, svc.log)


def _run(nc: Netconf, svc: _Service) -> int | None:
    """Serve engines until idle, stopped, or (connected socket) the engine closes; None
    when the link went away (see main). Idle exit only where something starts netconf
    again: a listening socket from socket activation. Each request is answered before the
    next wait, so an idle netconf has nothing half-done; what it applied is in its state
    file for the next start."""
    listening, loop, log = svc.listening, svc.loop, svc.log
    if svc.first is None and not svc.served_once:  # a connection that waited for us
        svc.waited = listening and bool(select.select([svc.sock], [], [], 0)[0])
    svc.served_once = True
    try:
        while True:
            engine = _next_engine(nc, svc)
            if isinstance(engine, int):
                return engine
            if engine is None:
                continue
            conn, pid = engine
            waited, svc.waited = svc.waited, False
            with conn:
                code = _serve_engine(nc, svc, conn, pid, waited)
                if code is not None:
                    return code
            if not listening:
                return EX_OK
    except _Stop:
        kept = "nothing applied" if nc.configurator.tracked.empty else \
            "configuration left in place"
        log.info("stopping on signal %d; %s", loop.stop_signal or 0, kept)
        return EX_OK
    except ipc.PeerViolation as exc:  # BusViolation is one too
        log.critical("%s broke the contract, exiting: %s",
                     "leasebox-bus" if isinstance(exc, BusViolation) else "engine", exc)
        return EX_FATAL
    except LinkUnreadable as exc:
        # The engine's connection closes with the request unanswered, and nothing is
        # forgotten: the link is looked up again and served from the state file, as after
        # a link gone and back (main), with no exit that would count towards the unit's
        # start limit; the engine sends the request again.
        log.error("%s%s", exc, ": looking the link up again" if listening else ": exiting")
        return None if listening else EX_FATAL
    except LinkGone as exc:
        log.warning("%s%s", exc, "" if listening else ": exiting")
        try:
            nc.link_gone()
        except BusViolation as violation:
            log.critical("leasebox-bus broke the contract, exiting: %s", violation)
            return EX_FATAL
        return None if listening else EX_OK


def _remove_leftovers(args: _Args, log: Logger) -> None:
    """The temporary files of netconf's own files that a write cut short left (netconf
    killed while writing): one netconf at a time writes them."""
    runtime_dir = os.path.join(args.runtime_dir, args.interface)
    dns = ResolvConfFile(args.dns_dir, args.interface)
    for directory, filename in ((runtime_dir, STATE_FILENAME), (runtime_dir, CONFIG_FILENAME),
                                (runtime_dir, SERVED_FILENAME), (runtime_dir, LEASE_END_FILENAME),
                                (dns.directory, dns.filename)):
        try:
            if atomic.remove_leftovers(directory, filename):
                log.info("removed the temporary files of %s an interrupted write left in %s",
                         filename, directory)
        except OSError as exc:
            log.warning("cannot remove the temporary files of %s in %s: %s", filename,
                        directory, exc.strerror or exc)


def _start(args: _Args, log: Logger) -> _Service | int:
    """The configuration, the engine socket and, if one waits, the engine; or the exit
    status."""
    ifname = args.interface
    _remove_leftovers(args, log)
    configs = Configs(args.config_root, ifname, os.path.join(args.runtime_dir, ifname), log)
    try:  # before the sockets: a bad configuration is reported as such, wherever it runs
        config = configs.provisional()
    except ConfigError as exc:
        log.error("%s", exc)
        return EX_CONFIG
    taken = _take_engine_socket(log)
    if taken is None:  # the unit's sockets are wrong: restarting would not mend them
        return EX_CONFIG
    sock, listening = taken
    first = _engine_at_start(sock, listening, log)
    if first is not None:
        try:
            config = configs.for_engine(first[1], waited=True)
        except ConfigError as exc:
            log.error("%s", exc)
            first[0].close()
            return EX_CONFIG
    svc = _Service(args, ifname, Policy(), sock, listening, 0.0, _Loop(), _LinkWatch(), log,
                   configs, first)
    _configure(svc, None, config)
    return svc


def main(argv: list[str] | None = None) -> int:
    args = cmdline.command(SYNTAX, _parse_args, argv, usage_code=EX_CONFIG)  # a unit mistake
    if isinstance(args, int):
        return args
    ifname = args.interface
    log = logsetup.setup("netconf", ifname, debug=args.debug)
    # netconf holds CAP_NET_ADMIN and runs nothing: exec fails with EPERM from here on, and
    # kills once pyroute2 is loaded. EPERM first because pyroute2 0.7's pyroute2.config
    # probes the platform by running `uname -p` and `file -b` (and copes with a refusal);
    # netconf no longer loads that module (rtnl.import_messages), but another version's
    # message modules might.
    sandbox.no_more_exec(log, refuse=True)
    svc = _start(args, log)
    if isinstance(svc, int):
        return svc
    try:
        while True:
            found = _next_link(svc)
            if isinstance(found, int):
                return found
            rtnl, link = found
            try:
                code = _serve_link(svc, rtnl, link)
            finally:
                rtnl.close()
            if code is not None:
                return code
            # the link went; the engine sends what was unanswered again, on the next one
    finally:
        svc.watch.close()


def _next_link(svc: _Service) -> tuple[Rtnl, LinkInfo] | int:
    """The link of the name, opened; waited for in listening mode (absent, or not readable
    for a while); or the exit status. (The link-event socket is open before the first
    look: a link appearing in between is seen.)"""
    log, pause = svc.log, 1.0  # after a link that could not be read: 1 s doubling
    while True:
        try:
            try:
                rtnl, link = _open_link(svc.ifname)
            except _Missing:
                if not svc.listening:
                    log.error("interface %s does not exist", svc.ifname)
                    return EX_FATAL
                if not _wait_for_link(svc, _take_back(svc)):
                    return EX_OK
                continue
            except _Unreadable as exc:
                if not svc.listening:
                    raise _Fatal(EX_FATAL, str(exc)) from None
                log.warning("%s: trying again in %g s", exc, pause)
                if not _pause(svc, pause):
                    return EX_OK
                pause = min(pause * 2, MAX_RETRY)
                continue
        except _Fatal as exc:  # (an altname may come while it waits)
            log.error("%s", exc)
            return exc.code
        except ipc.PeerViolation as exc:  # a take-back's answer, or the engine's meanwhile
            log.critical("%s broke the contract, exiting: %s",
                         "leasebox-bus" if isinstance(exc, BusViolation) else "engine", exc)
            return EX_FATAL
        if not svc.exec_forbidden:  # once pyroute2 is loaded; one filter for good
            sandbox.no_more_exec(log)
            svc.exec_forbidden = True
        return rtnl, link


@record(frozen=False)
class _Service:
    """What serving the engine needs, whichever link has the name."""

    args: _Args
    ifname: str
    policy: Policy
    sock: socket.socket
    listening: bool
    idle: float
    loop: _Loop
    watch: _LinkWatch
    log: Logger
    configs: Configs
    first: tuple[socket.socket, int] | None = None  # the engine known at the start, and PID
    exec_forbidden: bool = False  # exec kills (sandbox.no_more_exec), pyroute2 loaded
    waited: bool = False  # the next engine's connection waited while netconf started
    served_once: bool = False  # _run has run: later connections come to a ready netconf
    held: tuple[ipc.Apply, ...] = ()  # first's requests read while the link was gone
    config: Config | None = None  # what policy and idle come from


def _configure(svc: _Service, nc: Netconf | None, config: Config) -> bool:
    """Serve by `config` from now on (at the start, then for each engine); whether that
    changed anything."""
    if config == svc.config:
        return False
    svc.config = config
    svc.log.info("configuration: %s", ", ".join(config.files) or "no files, all defaults")
    svc.policy = policy_from_config(config.view(Scope.NETCONF))
    if nc is not None:
        nc.policy = svc.policy
    svc.idle = svc.args.exit_idle_time if svc.listening else 0.0
    # The engine's setting, read here for one thing: a release at shutdown takes the
    # address off, and systemd starts no netconf once the system shuts down.
    if svc.idle and config[s.SEND_RELEASE] is SendRelease.ALWAYS:
        svc.log.info("SendRelease=always: no idle exit, to take the address off at shutdown")
        svc.idle = 0.0
    return True


def _bring_up(rtnl: Rtnl, index: int, ifname: str, log: Logger) -> bool:
    """Bring the link up if it is down (see _link_up); False if that failed."""
    try:
        if rtnl.link(index).up:
            return True
        rtnl.bind(index).set_up()
        log.info("%s was down: brought it up (LinkUp=no leaves it)", ifname)
    except OSError as exc:
        log.error("cannot bring %s up: %s", ifname, exc)
        return False
    return True


def _link_up(svc: _Service, rtnl: Rtnl, index: int, engine: int | None, *,
             up: bool | None = None, asked: bool = False) -> bool:
    """LinkUp=yes: bring the link `index` up (`up`: whether it is, if known) when it is
    served first in this boot (at boot, or plugged in: a new link is down), for a new
    engine (leasebox restarted; PID `engine`, None while not known), or when the engine's
    configuration has just asked for it (`asked`). A netconf started again for the same
    engine (at a lease's end, after an io restart) leaves an administrator's `ip link set
    down` as it is. The link and the engine last acted for are noted in the runtime
    directory (0: the engine to come); not when bringing it up failed, so that the next
    netconf tries again. Whether it was acted on."""
    ifname, log = svc.ifname, svc.log
    runtime_dir = os.path.join(svc.args.runtime_dir, ifname)
    path = os.path.join(runtime_dir, SERVED_FILENAME)
    try:
        noted = [int(n) for n in readfile.read_regular(path, 32).split()]
    except (OSError, ValueError):  # none yet, or not one of ours: served first now
        noted = []
    if len(noted) != 2 or noted[0] != index:
        due, note = True, (index, engine or 0)
    elif engine is None or engine == noted[1]:
        due, note = False, None
    else:
        due, note = noted[1] != 0, (index, engine)  # a new engine, or the one expected
    if (due or asked) and up is not True and not _bring_up(rtnl, index, ifname, log):
        return True
    if note is not None:
        try:
            atomic.write_atomic(runtime_dir, SERVED_FILENAME, b"%d %d\n" % note)
        except OSError as exc:
            log.warning("cannot note that %s is served (%s): a later netconf brings it up "
                        "again if it is down then", ifname, exc.strerror or exc)
    return due or asked


def _take_back(svc: _Service, quiet: bool = False) -> bool:
    """Started while the link is gone (it went while no netconf ran): what an earlier
    netconf handed on for it (DNS, NTP) is taken back, as when it goes under a running
    one (Netconf.link_gone). The address, routes and MTU went with the link. False when
    some is left to take back (leasebox-bus could not be reached): tried again."""
    state = StateFile(os.path.join(svc.args.runtime_dir, svc.ifname), 0)  # no link: no index
    tracked = _load_state(state, svc.log)
    if tracked is None or (tracked.dns == NOTHING and tracked.wanted is None):
        return True
    resolver = _resolver(svc.args, svc.ifname, state.directory)
    # (a hand-off still pending may have been carried out: then all is taken back, whole)
    same = tracked.dns_to == resolver.name and tracked.wanted is None
    try:
        resolver.hand_off(NOTHING, tracked.dns if same else None)
    except OSError as exc:  # tried again while waiting, and by the next netconf on this name
        (svc.log.debug if quiet else svc.log.warning)(
            "%s is gone; cannot take back its DNS/NTP yet: %s", svc.ifname, exc)
        if tracked.wanted != NOTHING:  # it may have been carried out: the next one is whole
            tracked.wanted = NOTHING
            try:
                state.save(tracked)
            except OSError as err:
                svc.log.error("cannot save state to %s: %s", state.path, err)
        return False
    svc.log.info("%s is gone: its DNS/NTP taken back", svc.ifname)
    try:
        state.save(Tracked())
    except OSError as exc:
        svc.log.error("cannot save state to %s: %s", state.path, exc)
    return True


class _TakeBackAgain:
    """_take_back tried again while the link is awaited, 1 s doubling to MAX_RETRY apart."""

    def __init__(self, svc: _Service, at: float | None) -> None:
        self.svc, self.at, self.delay = svc, at, 1.0

    def tick(self, now: float) -> float | None:
        if self.at is not None and now >= self.at:
            if _take_back(self.svc, quiet=True):
                self.at = None
            else:  # from the try's end: a bus that hangs takes its 5 s timeout each time
                self.delay = min(self.delay * 2, MAX_RETRY)
                self.at = time.monotonic() + self.delay
        return self.at


def _pause(svc: _Service, seconds: float) -> bool:
    """`seconds` (link events read meanwhile, and passed over); False if stopped by a
    signal meanwhile. The engine's connection waits in the backlog. Ready all the same
    (Type=notify: a start that never is would time out, fail and restart)."""
    sd.notify("READY=1", f"STATUS=cannot read {svc.ifname}: trying again in {seconds:g} s")
    svc.loop.watch = None
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            svc.loop.wait(svc.watch.sock, idle=left)
            svc.watch.drain()
    except _Stop:
        svc.log.info("stopping on signal %d", svc.loop.stop_signal or 0)
        return False
    return True


MAX_HELD = 16  # requests an engine may leave waiting for the link (it sends one or two)


class _Appeared(Exception):
    """The interface awaited has appeared (_wait_for_link)."""


def _wait_for_link(svc: _Service, taken_back: bool = True) -> bool:
    """Wait (no idle exit: netconf brings the link up) until an interface has the name;
    False if stopped by a signal meanwhile, or when the engine left. What could not be
    taken back yet is tried again meanwhile, with the hand-off's backoff (the link may
    never come back: a NIC unplugged for good).

    The engine is heard meanwhile (_engine_without_link): a removal is answered at once,
    and netconf exits when the engine closes. A stop of the target whose NIC was pulled
    waited 3 s for a removal left unanswered, warned that the address might still be on
    the link, and left this netconf waiting, to bring the NIC up when plugged in again
    with leasebox stopped. Anything else the engine asks waits for the link."""
    svc.log.info("waiting for %s to appear", svc.ifname)
    sd.notify("READY=1", f"STATUS=waiting for {svc.ifname}")
    retry = _TakeBackAgain(svc, None if taken_back else time.monotonic() + 1.0)

    def appeared() -> None:
        if _index(svc.ifname) is not None:
            raise _Appeared

    svc.loop.link_check = appeared
    try:
        while _index(svc.ifname) is None:
            engine = svc.first[0] if svc.first is not None else \
                svc.sock if svc.listening else None
            svc.loop.watch = None if engine is None else svc.watch
            if not svc.loop.wait(engine or svc.watch.sock, tick=retry.tick):
                continue
            if engine is None:
                svc.watch.drain()
                continue
            if not _engine_without_link(svc, retry):
                return False
    except _Appeared:
        pass
    except _Stop:
        svc.log.info("stopping on signal %d", svc.loop.stop_signal or 0)
        return False
    finally:
        svc.loop.watch, svc.loop.link_check = None, lambda: None
    svc.log.info("%s appeared", svc.ifname)
    return True


def _engine_without_link(svc: _Service, retry: _TakeBackAgain) -> bool:
    """The engine's connection (or a new one) is readable while the link is gone: False
    when the engine closed, else True (accepted; a request read). A removal is answered
    (what came before it too: superseded); an Apply waits for the link (svc.held).
    PeerViolation propagates."""
    if svc.first is None:
        svc.first = _accept_engine(svc.sock, svc.log)
        return True
    if _index(svc.ifname) is not None:
        raise _Appeared  # (a request after the link came back: served there)
    conn = svc.first[0]
    try:
        msg = channel.recv(conn, ipc.Peer.ENGINE, ipc.Peer.NETCONF, nonblocking=True)
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        msg = None
    if msg is None:
        svc.log.info("the engine closed its connection while %s is gone: exiting",
                     svc.ifname)
        return False
    if isinstance(msg, ipc.Apply):
        if len(svc.held) >= MAX_HELD:
            raise ipc.PeerViolation(f"more than {MAX_HELD} requests while the link is gone")
        svc.held = (*svc.held, msg)
        return True
    if not isinstance(msg, ipc.Remove):  # (decode checked the direction: unreachable)
        raise ipc.PeerViolation(f"engine: unexpected {type(msg).__name__}")
    # The address, routes and MTU went with the link; what was handed on for it is taken
    # back, or not yet (leasebox-bus not reached: tried again meanwhile). An Apply before
    # the removal (the lease in use, sent again on connecting) is superseded by it: OK,
    # nothing applied, as the engine's ledger expects of an Apply answered after a Remove.
    for held in svc.held:
        _send(conn, ipc.Result(held.request_id, ipc.ResultStatus.OK,
                               f"{svc.ifname} is gone: nothing applied"), svc.log)
    svc.held = ()
    reply = ipc.Result(msg.request_id, ipc.ResultStatus.OK,
                       f"{svc.ifname} is gone, and its configuration with it")
    if retry.at is not None:
        reply = ipc.Result(msg.request_id, ipc.ResultStatus.FAILED,
                           f"{svc.ifname} is gone, but its DNS/NTP is not taken back yet "
                           "(leasebox-bus not reached)")
    _send(conn, reply, svc.log)
    return True


def _serve_link(svc: _Service, rtnl: Rtnl, link: LinkInfo) -> int | None:
    """Bring the link up if asked, and serve it (see _run) until it goes."""
    ifname, log = svc.ifname, svc.log
    runtime_dir = os.path.join(svc.args.runtime_dir, ifname)
    engine = svc.first[1] if svc.first is not None else None
    # (with no engine known yet, the one that connects decides: _serve_engine)
    if svc.policy.link_up and not _link_up(svc, rtnl, link.index, engine,
                                           up=link.up) and not link.up and engine is not None:
        log.info("%s is down, set so since leasebox found or brought it up: left down "
                 "(`ip link set %s up`, or restarting leasebox, brings it back)",
                 ifname, ifname)
    state = StateFile(runtime_dir, link.index)
    resolver = _resolver(svc.args, ifname, runtime_dir)
    log.info("%s", resolver.describe())
    tracked = _load_state(state, log)
    if tracked is not None and tracked.dns_to == resolver.name and resolver.lost(tracked.dns):
        # written once, gone since: an upgrade moved the file (DNS_DIR), or someone removed
        # it; handed on whole again now, as to a new sink, not when the DNS next changes
        log.info("the DNS file is gone: writing it again")
        tracked.dns_to = ""
    nc = Netconf(ifname, link.index, svc.policy, rtnl,
                 Configurator(rtnl.bind(link.index), resolver, tracked),
                 state, on_change=lambda text: sd.notify(f"STATUS={text}"))
    expire_kept(nc)
    log.info("ready on %s (ifindex %d), %s", ifname, link.index,
             "listening for the engine" if svc.listening else "connected to the engine")
    sd.notify("READY=1", f"STATUS={nc.status()}")

    def still_ours() -> None:
        try:
            name = socket.if_indextoname(link.index)
        except OSError:
            name = None
        if name != ifname:
            raise LinkGone(f"interface {ifname} (ifindex {link.index}) is gone or was "
                           f"renamed")

    svc.loop.watch, svc.loop.link_check = svc.watch, still_ours
    return _run(nc, svc)


def _idle_exit(idle: float, log: Logger) -> int:
    log.info("no request for %g s: exiting until the engine needs netconf again", idle)
    sd.notify("STOPPING=1", "STATUS=idle; started again on demand")
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
