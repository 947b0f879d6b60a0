"""leasebox-io: the one process that touches the wire for one interface.

Start-up, in the order that keeps privilege shortest: wait for the interface if it does not
exist yet (hotplug: READY=1 at once, "waiting for IFACE" in STATUS=, and nothing read but the
kernel's link events); take the handed-in sockets; open (or take back from the FDSTORE) the
two packet sockets, the only thing CAP_NET_RAW is for; hand
them to the service manager; drop every capability and check that they are gone; then read
the link facts, tell the engine, report ready and run the loop without any privilege.
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import socket
import sys
from types import FrameType

from leasebox.core.log import Logger
from leasebox.core.record import record
from leasebox.io import bpf, caps
from leasebox.io.loop import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_OSERR,
    NETLINK_BUFFER,
    IoLoop,
    Sockets,
    Stop,
    report,
)
from leasebox.io.sockets import (
    SocketError,
    bind_to_device,
    check_kind,
    listen,
    open_packet,
    open_rtnl,
    stored_fault,
)
from leasebox.runtime import cmdline, sandbox, sd
from leasebox.runtime import ifname as ifnames
from leasebox.runtime import log as logsetup

DEFAULT_ENGINE_SOCKET = "/run/leasebox-ipc/{ifname}/engine.sock"
SYNTAX = cmdline.Syntax(
    "leasebox-io", "the one process that touches the wire for one interface.",
    "IFACE", "the interface", (
        cmdline.Option("--engine-socket", "PATH", "connect here when no 'engine' fd is passed "
                       f"(default {DEFAULT_ENGINE_SOCKET.format(ifname='IFACE')})"),
        cmdline.Option("--debug", None, "log at debug level"),
    ))


@record
class Args:
    interface: str
    engine_socket: str | None = None
    debug: bool = False


def parse_args(argv: list[str]) -> Args | None:
    """io's arguments; None for --help. Raises cmdline.UsageError."""
    command = SYNTAX.parse(argv)
    if command is None:
        return None
    return Args(cmdline.interface(command.positional), command.values.get("--engine-socket"),
                "--debug" in command.flags)


@record
class _Link:
    name: str
    index: int


CAP_NET_RAW = 13  # linux/capability.h
ARP_RCVBUF = 64 * 1024  # the kernel doubles it; ~100 ARP frames' worth, all drainable


def _packet_socket(fds: dict[str, list[int]], name: str, link: _Link, *, program: bytes,
                   protocol: int, log: Logger) -> tuple[socket.socket, bool]:
    """Reuse the FDSTORE socket `name` if it is sound, else open a new one. True if new."""
    ifname, ifindex = link.name, link.index
    stored = sd.take_socket(fds, name)
    if stored is not None:
        fault = stored_fault(stored, ifindex, program)
        if fault is None:
            listen(stored, ifname, protocol)
            log.info("reusing the stored %s socket", name)
            return stored, False
        why, earlier_link = fault
        if earlier_link:  # (at each replug of a USB NIC: no warning for that)
            log.info("the stored %s socket is of an earlier %s: opening a new one (%s)",
                     name, ifname, why)
        else:
            log.warning("not reusing the stored %s socket: %s", name, why)
        stored.close()
    return open_packet(ifname, program, protocol), True


def _engine_socket(fds: dict[str, list[int]], path: str) -> socket.socket:
    sock = sd.take_socket(fds, "engine")
    if sock is None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
    check_kind(sock, socket.AF_UNIX, socket.SOCK_SEQPACKET, "engine")
    return sock


def _drop_capabilities(log: Logger) -> None:
    try:
        caps.drop_all()
    except OSError as exc:
        raise Stop(EXIT_OSERR, f"cannot drop capabilities: {exc.strerror}") from None
    try:
        status = caps.read_sets()
    except OSError as exc:
        log.warning("capabilities dropped; cannot check them: %s", exc.strerror)
        return
    held = caps.held_after_drop(status)
    if held:
        raise Stop(EXIT_OSERR, f"capabilities still held after dropping: {', '.join(held)}")
    log.info("capabilities dropped: CapEff=%x CapPrm=%x CapAmb=%x", status.get("CapEff", 0),
             status.get("CapPrm", 0), status.get("CapAmb", 0))


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise Stop(EXIT_OK, "SIGTERM")


def _rtnl(fds: dict[str, list[int]]) -> socket.socket:
    """The rtnetlink socket, subscribed to link events (socket activation, or our own)."""
    try:
        rtnl = sd.take_socket(fds, "rtnl") or open_rtnl()
        check_kind(rtnl, socket.AF_NETLINK, socket.SOCK_RAW, "rtnl")
    except SocketError as exc:
        raise Stop(EXIT_CONFIG, str(exc)) from None
    except OSError as exc:
        raise Stop(EXIT_OSERR, f"cannot open rtnetlink: {exc}") from None
    return rtnl


def _ifindex(ifname: str) -> int | None:
    try:
        return ifnames.index_of(ifname)
    except ifnames.AlternativeName as exc:  # the unit's mistake: a restart would not help
        raise Stop(EXIT_CONFIG, str(exc)) from None


def wait_for_interface(ifname: str, rtnl: socket.socket, log: Logger) -> int:
    """The ifindex of `ifname`, waiting for it to appear (or be renamed to `ifname`) if
    it does not exist. The rtnetlink socket is subscribed before the first look, so an
    interface that appears in between is still seen. Only messages from the kernel
    (port 0) are read; systemd's watchdog is kept fed while waiting."""
    ifindex = _ifindex(ifname)
    if ifindex is not None:
        return ifindex
    log.info("waiting for %s to appear", ifname)
    sd.notify("READY=1", f"STATUS=waiting for {ifname}")
    watchdog = sd.watchdog_interval()
    buf = bytearray(NETLINK_BUFFER)
    with selectors.DefaultSelector() as sel:
        sel.register(rtnl, selectors.EVENT_READ)
        while True:
            if sel.select(watchdog):
                _read_link_events(rtnl, buf)  # only to empty the queue: names are checked
            if watchdog is not None:
                sd.notify("WATCHDOG=1")
            ifindex = _ifindex(ifname)  # by name, which also covers lost events (ENOBUFS)
            if ifindex is not None:
                log.info("%s appeared (ifindex %d)", ifname, ifindex)
                return ifindex


def _read_link_events(rtnl: socket.socket, buf: bytearray) -> None:
    for _ in range(64):
        try:
            rtnl.recv_into(buf, len(buf), socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                continue
            raise Stop(EXIT_OSERR, f"rtnetlink: {exc.strerror}") from None


def _sockets(fds: dict[str, list[int]], link: _Link, rtnl: socket.socket, engine_path: str,
             log: Logger) -> tuple[Sockets, dict[str, bool]]:
    """Every socket io works with, inherited (socket activation, FDSTORE) or opened; and
    which packet sockets are new (to be stored)."""
    ifname = link.name
    try:
        udp = sd.take_socket(fds, "udp")
        if udp is None:
            raise Stop(EXIT_CONFIG, "no 'udp' socket was passed in (UDP :68 on the device)")
        check_kind(udp, socket.AF_INET, socket.SOCK_DGRAM, "udp")
        if bind_to_device(udp, ifname):
            log.debug("bound the udp :68 socket to %s", ifname)
        engine = _engine_socket(fds, engine_path)
        packet, new_packet = _packet_socket(fds, "packet", link, program=bpf.DHCP_PROGRAM,
                                            protocol=bpf.ETH_P_IP, log=log)
        # Bound to ARP once, for good: after lock_down io can bind nothing any more. Between
        # probes nobody reads it; what queues there is drained when a probe starts.
        arp, new_arp = _packet_socket(fds, "arp", link, program=bpf.ARP_PROGRAM,
                                      protocol=bpf.ETH_P_ARP, log=log)
        # Small, so that the drain empties it whatever net.core.rmem_default says: a full
        # queue keeps its oldest frames (new ones are dropped), and an hours-old ARP of the
        # address's last holder must not pass for a conflict at the next probe.
        arp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ARP_RCVBUF)
    except SocketError as exc:
        raise Stop(EXIT_CONFIG, str(exc)) from None
    except PermissionError as exc:
        # (a container that withholds CAP_NET_RAW: systemd drops the ambient capability
        # without a word, and io restarted ~50 times on "Operation not permitted")
        raise Stop(EXIT_CONFIG, f"cannot open a packet socket ({exc.strerror}): io needs "
                   f"CAP_NET_RAW, and has none to use here ({_no_net_raw()}); a container "
                   "must be given it, as with podman's --cap-add=NET_RAW") from None
    except OSError as exc:
        raise Stop(EXIT_OSERR, f"cannot set up sockets: {exc}") from None
    return Sockets(engine, packet, arp, udp, rtnl), {"packet": new_packet, "arp": new_arp}


def _no_net_raw() -> str:
    """Why CAP_NET_RAW did not open the socket, as far as io can tell (the error above)."""
    try:
        bounding = caps.read_sets()["CapBnd"]
    except OSError:
        return "its capability sets cannot be read"
    if not bounding & 1 << CAP_NET_RAW:
        return "the container or the service manager withholds it"
    return "the network namespace belongs to a user namespace io's is not in"


def lock_down(socks: Sockets, log: Logger) -> None:
    """Start-up is over: no capability, no exec, and the packet sockets send only on the
    interface they are bound to (no bind or connect any more: sandbox.lock_sends)."""
    _drop_capabilities(log)
    sandbox.no_more_exec(log)
    try:
        locked = sandbox.lock_sends((socks.packet.fileno(), socks.arp.fileno()))
    except OSError as exc:
        raise Stop(EXIT_OSERR, f"cannot lock the send path: {exc.strerror or exc}") from None
    if not locked:
        log.warning("cannot lock the send path: no seccomp numbers for %s", os.uname().machine)


def run(ifname: str, engine_path: str, log: Logger) -> int:
    try:
        fds = sd.listen_fds()
    except sd.ActivationError as exc:
        raise Stop(EXIT_CONFIG, str(exc)) from None
    rtnl = _rtnl(fds)
    ifindex = wait_for_interface(ifname, rtnl, log)
    handed_in = {name for name in ("packet", "arp") if fds.get(name)}
    socks, new = _sockets(fds, _Link(ifname, ifindex), rtnl, engine_path, log)
    for name, fds_left in fds.items():
        for fd in fds_left:
            log.warning("closing unexpected inherited fd %d named %s", fd, name)
            os.close(fd)
    for sock, name in ((socks.packet, "packet"), (socks.arp, "arp")):
        try:
            if new[name] and sd.store_fd(sock.fileno(), name, replace=name in handed_in):
                log.debug("stored the %s socket in the FDSTORE", name)
        except OSError as exc:  # io works without it; only a restart will cost more
            log.warning("cannot store the %s socket: %s", name, exc.strerror)
    lock_down(socks, log)
    loop = IoLoop(ifname, ifindex, socks, log)
    try:
        loop.initial_link()
    except Stop as stop:
        return loop.stop(stop)
    sd.notify("READY=1")
    return loop.run()


def main(argv: list[str] | None = None) -> int:
    # a unit mistake (a name refused, io- or nc-): restarting would not help (78 stops it)
    args = cmdline.command(SYNTAX, parse_args, argv, usage_code=EXIT_CONFIG)
    if isinstance(args, int):
        return args
    log = logsetup.setup("io", args.interface, debug=args.debug)
    signal.signal(signal.SIGTERM, _on_sigterm)
    engine_path = args.engine_socket or DEFAULT_ENGINE_SOCKET.format(ifname=args.interface)
    try:
        return run(args.interface, engine_path, log)
    except Stop as stop:
        return report(stop, log)
    except Exception as exc:  # one line, not a traceback; systemd restarts
        log.error("unexpected error: %r", exc)
        log.debug("traceback", exc_info=True)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
