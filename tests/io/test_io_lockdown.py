"""Security hardening, item 1: after io's start-up its packet sockets send only on the
interface they are bound to, and nothing can be re-bound or connected. The probe runs io's
real start-up (leasebox.io.main) in a namespace with a second interface to aim at."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from leasebox.io.main import ARP_RCVBUF
from tests.io.iolab import Veth, ip, needs_root

PROBE = str(Path(__file__).with_name("lockdown_probe.py"))
pytestmark = [pytest.mark.root, needs_root]


def test_a_compromised_io_cannot_reach_another_interface(veth: Veth) -> None:
    ip("-n", veth.netns, "link", "add", "other0", "type", "veth", "peer", "name", "other1")
    ip("-n", veth.netns, "link", "set", "other0", "up")
    ip("-n", veth.netns, "link", "set", "other1", "up")
    ip("-n", veth.netns, "addr", "add", "192.0.2.10/24", "dev", veth.io)
    out = subprocess.run(["ip", "netns", "exec", veth.netns, sys.executable, PROBE, veth.io,
                          "other0"], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {
        "send_own_interface": "ok",  # io's job, unchanged
        "sendto_other_interface": "EPERM",
        "sendto_own_interface_address": "EPERM",  # no address at all on a packet socket
        "sendmsg_other_interface": "EPERM",
        "bind_other_interface": "EPERM",
        "bind_arp_other_interface": "EPERM",
        "bind_unix": "EPERM",
        "connect_unix": "EPERM",
        "dup": "EPERM",
        "dup2": "EPERM",
        "fcntl_dupfd": "EPERM",
        "fcntl_dupfd_cloexec": "EPERM",
        "fcntl_getfl": "ok",  # fcntl's other commands stay
        "socketpair": "EPERM",
        "passcred": "EPERM",
        "other_setsockopt": "ok",
        "packet_origdev": "EPERM",
        "packet_fanout": "EPERM",
        "packet_rx_ring": "EPERM",
        "packet_auxdata": "ok",
        "udp_sendto": "ok",  # unicast to the server goes through the UDP socket
        "engine_send": "ok",
        "arp_rcvbuf": str(2 * ARP_RCVBUF),  # the kernel doubles what it is asked for
    }
