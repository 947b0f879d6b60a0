"""A few valid inputs per fuzz target, built with the code's own encoders: the fuzzer starts
from inside each format instead of having to discover its magic and structure."""

from __future__ import annotations

import json
import struct
import tempfile
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from leasebox import ipc
from leasebox.core import wire
from leasebox.core.machine import lease_from_ack
from leasebox.engine import leasefile
from leasebox.io import arp
from leasebox.ipc import control
from leasebox.ipc.messages import Names
from leasebox.netconf.apply import Tracked
from leasebox.netconf.state import to_json
from leasebox.netconf.validate import PlannedRoute
from tests.fuzz.targets import ADDRESS, IPC_ROUTES, MAC, NOW_MONO, NOW_WALL, TARGETS
from tests.ipc.test_messages import SAMPLES
from tests.machine.machine_helpers import Harness
from tests.wire.wire_samples import typical_ack

SERVER_MAC = bytes.fromhex("02005e100002")


def _acks() -> list[wire.Message]:
    return [typical_ack(), typical_ack(captive_portal="https://portal.example/",
                                       classless_routes=None, lease_time=0xFFFFFFFF)]


def _wire_message() -> list[bytes]:
    return [wire.encode(m) for m in _acks()]


def _wire_frame() -> list[bytes]:
    frames = [wire.encode_frame(wire.encode(m), src_mac=SERVER_MAC,
                                src_ip=IPv4Address("192.0.2.1"), src_port=wire.SERVER_PORT,
                                dst_port=wire.CLIENT_PORT) for m in _acks()]
    return [bytes([mode]) + f for f in frames for mode in (0, 1)]


def _lease_file() -> list[bytes]:
    out = []
    for ack in _acks():
        lease = lease_from_ack(ack, acquired_at=NOW_MONO - 100, min_lease_time=60)
        with tempfile.TemporaryDirectory() as tmp:
            leasefile.store(tmp, lease, NOW_WALL - 100)
            out.append((Path(tmp) / leasefile.FILENAME).read_bytes())
    return out


def _snapshot() -> list[bytes]:
    h = Harness()
    h.acquire()
    bound = h.client.snapshot()
    h.fire()  # RENEWING: every field in use
    return [bound, h.client.snapshot()]


def _ipc(target: str) -> Callable[[], list[bytes]]:
    routes = IPC_ROUTES[target]

    def seeds() -> list[bytes]:
        return [bytes([routes.index(_route(msg))]) + ipc.encode(msg)
                for msg in SAMPLES if _route(msg) in routes]
    return seeds


def _route(msg: ipc.Message) -> tuple[ipc.Peer, ipc.Peer]:
    return ipc.DIRECTION[ipc.messages.TYPE_OF[type(msg)]]


def _control_request() -> list[bytes]:
    return [control.encode_request(control.Request(c)) for c in control.Command]


def _control_reply() -> list[bytes]:
    return [control.encode_reply(True, {"state": "BOUND", "lease": {"address": "192.0.2.10"}}),
            control.encode_reply(False, error="no such interface")]


def _configuration() -> list[bytes]:
    return [b"[Network]\nRouteMetric=2048\nAllowedAddresses=192.0.2.0/24\n"
            b"[DHCPv4]\nHostname=host\nRequestOptions=100 -42\nSendOption=200:string:x\n"
            b"ARPProbe=yes\nARPProbeTiming=rfc5227\n[Control]\nControlGroup=100\n"]


def _hook_event() -> list[bytes]:
    doc = {"event": "bound", "interface": "eth0", "address": "192.0.2.10", "prefixlen": 24,
           "gateway": "192.0.2.1", "server": "192.0.2.1", "dns": ["192.0.2.53"],
           "domains": ["example.org"], "ntp": [], "mtu": 1500, "lease_time": 3600}
    return [json.dumps(doc).encode()]


def _bus_state() -> list[bytes]:
    doc = {"interface": "eth0", "ifindex": 2, "dns_servers": ["192.0.2.53"],
           "domains": ["example.org"], "ntp_servers": ["192.0.2.123"],
           "resolved": "done", "timesyncd": "pending"}
    return [json.dumps(doc).encode()]


def _netconf_state() -> list[bytes]:
    tracked = Tracked(address=IPv4Interface("192.0.2.10/24"),
                      routes=[PlannedRoute(IPv4Network("0.0.0.0/0"), IPv4Address("192.0.2.1"),
                                           254, 1024)],
                      mtu=1400, original_mtu=1500,
                      dns=Names((IPv4Address("192.0.2.53"),), ("example.org",), ()),
                      wanted=None)
    return [to_json(2, tracked).encode()]


def _rtnetlink() -> list[bytes]:
    attr = struct.pack("=HH", 10, 1) + MAC + b"\0\0"
    body = struct.pack("=BxHiII", 0, 1, 2, 0x10043, 0) + attr
    newlink = struct.pack("=IHHII", 16 + len(body), 16, 0, 0, 0) + body
    addr = struct.pack("=BBBBI", 2, 24, 0, 0, 2) + struct.pack("=HH", 8, 2) + ADDRESS.packed
    newaddr = struct.pack("=IHHII", 16 + len(addr), 20, 2, 7, 0) + addr
    done = struct.pack("=IHHIIi", 20, 3, 2, 7, 0, 0)
    return [newlink, newaddr + done]


def _arp_frame() -> list[bytes]:
    other = bytes.fromhex("02005e100099")
    return [arp.probe_frame(other, ADDRESS), arp.announce_frame(other, ADDRESS)]


SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "wire_message": _wire_message,
    "wire_frame": _wire_frame,
    "lease_file": _lease_file,
    "snapshot": _snapshot,
    "ipc_io": _ipc("ipc_io"),
    "ipc_engine": _ipc("ipc_engine"),
    "ipc_netconf": _ipc("ipc_netconf"),
    "ipc_bus": _ipc("ipc_bus"),
    "control_request": _control_request,
    "control_reply": _control_reply,
    "configuration": _configuration,
    "hook_event": _hook_event,
    "bus_state": _bus_state,
    "netconf_state": _netconf_state,
    "rtnetlink": _rtnetlink,
    "arp_frame": _arp_frame,
}
assert set(SEEDS) == set(TARGETS)

# Inputs that once broke a contract, kept whatever a corpus merge decides (tests/RESULTS.md,
# Findings). JSON nested deeper than Python's parser stack raised RecursionError, which no
# reader caught; the fuzzer did not reach that depth, review did.
_DEEP = b"[" * 5000 + b"]" * 5000
REGRESSIONS: dict[str, list[bytes]] = {
    "hook_event": [b'{"event":{"l":20}, "interface": "eth0", "address": "192.0.2.10", '
                   b'"prefixlen": 24, "gateway": null, "server": "192.0.2.1", "dns": [], '
                   b'"domains": [], "ntp": [], "mtu": null, "lease_time": 3600}',
                   _DEEP],
    "bus_state": [_DEEP],
    "control_reply": [_DEEP],
    "netconf_state": [_DEEP],
    "snapshot": [_DEEP[:4000]],
}
