"""io's real start-up, then what a compromised io would try (run by test_io_lockdown.py).

    ip netns exec NS python lockdown_probe.py IFACE OTHER-IFACE

Builds the sockets the way systemd and io's run() do (leasebox.io.main._sockets, then
lock_down: capabilities dropped, exec forbidden, send path locked), then attempts each call
and prints one JSON object: call -> "ok" or the errno name.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from leasebox.core.log import Logger
from leasebox.io import main as io_main
from leasebox.io.packet import broadcast_frame

ETH_P_FORGED = 0x88B5  # IEEE local experimental ethertype
SOL_PACKET = 263


def attempt(fn: Callable[[], object]) -> str:
    try:
        fn()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "ok"


def main() -> None:
    ifname, other = sys.argv[1:3]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind(("0.0.0.0", 68))
    rtnl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    rtnl.bind((0, 1))
    engine, _theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fds = {"udp": [udp.detach()], "rtnl": [rtnl.detach()], "engine": [engine.detach()]}
    log = Logger("probe")
    link = io_main._Link(ifname, socket.if_nametoindex(ifname))
    socks, _new = io_main._sockets(fds, link, io_main._rtnl(fds), "", log)
    io_main.lock_down(socks, log)
    mac = bytes.fromhex("020000000010")
    frame = broadcast_frame(mac, IPv4Address(0), bytes(300))
    forged = bytes(6 * [0xFF]) + bytes.fromhex("02deadbeef01") + ETH_P_FORGED.to_bytes(2, "big")
    forged += bytes(60)
    p = socks.packet
    result = {
        "send_own_interface": attempt(lambda: p.send(frame)),
        "sendto_other_interface": attempt(lambda: p.sendto(forged, (other, ETH_P_FORGED))),
        "sendto_own_interface_address": attempt(lambda: p.sendto(frame, (ifname, 0x0800))),
        "sendmsg_other_interface": attempt(lambda: p.sendmsg([forged], [], 0,
                                                             (other, ETH_P_FORGED))),
        "bind_other_interface": attempt(lambda: p.bind((other, 0))),
        "bind_arp_other_interface": attempt(lambda: socks.arp.bind((other, 0x0806))),
        "bind_unix": attempt(lambda: socket.socket(socket.AF_UNIX).bind("\0lbx-probe")),
        "connect_unix": attempt(lambda: socket.socket(socket.AF_UNIX).connect("/nonexistent")),
        # the lock goes by fd number: nothing may give a packet socket another one
        "dup": attempt(lambda: os.dup(p.fileno())),
        "dup2": attempt(lambda: os.dup2(p.fileno(), 200)),
        "fcntl_dupfd": attempt(lambda: fcntl.fcntl(p.fileno(), fcntl.F_DUPFD, 0)),
        "fcntl_dupfd_cloexec": attempt(lambda: fcntl.fcntl(p.fileno(), 1030, 0)),
        "fcntl_getfl": attempt(lambda: fcntl.fcntl(p.fileno(), fcntl.F_GETFL)),
        "socketpair": attempt(socket.socketpair),
        # with SO_PASSCRED an unbound AF_UNIX socket binds itself at its first send, and
        # could then receive a packet socket from itself (SCM_RIGHTS) under a new number
        "passcred": attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                            .setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)),
        "other_setsockopt": attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                                    .setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)),
        # a packet socket's options would go with it into the FDSTORE, to the next io:
        # PACKET_ORIGDEV (9), PACKET_FANOUT (18), PACKET_RX_RING (5, here with no ring)
        "packet_origdev": attempt(lambda: p.setsockopt(SOL_PACKET, 9, 1)),
        "packet_fanout": attempt(lambda: p.setsockopt(SOL_PACKET, 18, 1)),
        "packet_rx_ring": attempt(lambda: p.setsockopt(SOL_PACKET, 5, bytes(16))),
        "packet_auxdata": attempt(lambda: p.setsockopt(SOL_PACKET, 8, 1)),  # io's own
        "udp_sendto": attempt(lambda: socks.udp.sendto(b"x", ("192.0.2.1", 67))),
        "engine_send": attempt(lambda: socks.engine.send(b"\x00")),
    }
    # not a call: the ARP socket's queue, small enough for a drain to empty (see _sockets)
    result["arp_rcvbuf"] = str(socks.arp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    print(json.dumps(result, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
