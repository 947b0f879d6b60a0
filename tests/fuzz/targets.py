"""The fuzz targets: one function per parser of untrusted input, each asserting the parser's
contract on any bytes. `scripts/fuzz` runs them under atheris (coverage-guided); the
committed corpora under corpus/TARGET/ are replayed by test_fuzz_corpus.py in `make test`.

A target returns normally when the parser kept its contract: it raised its one error type,
or returned a valid value (which, where there is an encoder, encodes back to the same
value or bytes). Anything else escapes as an exception or an AssertionError: a finding.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

from leasebox import ipc
from leasebox.bus import statefile
from leasebox.config.parse import ConfigError, parse
from leasebox.core import record, wire
from leasebox.core.machine import Client, SnapshotError
from leasebox.core.machine.types import ClientConfig
from leasebox.ctl import dispatch as hooks
from leasebox.engine import leasefile
from leasebox.engine.dispatch import prescreen
from leasebox.io import arp
from leasebox.io.dispatch import io_dispatch_engine
from leasebox.ipc import control
from leasebox.netconf import state as netconf_states
from leasebox.netconf.policy import Policy
from leasebox.netconf.validate import LinkLimits, Refused, make_plan
from leasebox.runtime import rtnetlink as link

MAC = bytes.fromhex("02005e100001")
ADDRESS = IPv4Address("192.0.2.10")
NOW_WALL = 1_780_000_000.0
NOW_MONO = 5000.0


def _message(data: bytes) -> wire.Message | None:
    """The codec: a Message or DecodeError; a Message encodes and decodes back to itself
    (minus the options it dropped as malformed)."""
    try:
        msg = wire.decode(data)
    except wire.DecodeError:
        return None
    assert wire.decode(wire.encode(msg)) == record.replace(msg, dropped=(), drop_reasons=())
    return msg


def wire_message(data: bytes) -> None:
    _message(data)


def _sealed(frame: bytes) -> bytes:
    """`frame` with a correct IPv4 header checksum and no UDP checksum (0: none, which
    IPv4 allows), so that mutations get past the checksums into what follows them."""
    if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
        return frame
    out = bytearray(frame)
    ihl = (out[14] & 0x0F) * 4
    if ihl < 20 or len(out) < 14 + ihl + 8:
        return frame
    out[24:26] = b"\0\0"
    total = sum(int.from_bytes(out[i:i + 2], "big") for i in range(14, 14 + ihl, 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    out[24:26] = (~total & 0xFFFF).to_bytes(2, "big")
    out[14 + ihl + 6:14 + ihl + 8] = b"\0\0"
    return bytes(out)


def wire_frame(data: bytes) -> None:
    """io hands the engine whole Ethernet frames: the pre-screen must judge any bytes, and
    the frame decoder accept or refuse them with DecodeError only. The first byte says
    whether the rest is taken as it is or sealed (checksums made right) first."""
    if not data:
        return
    data = _sealed(data[1:]) if data[0] & 1 else data[1:]
    verdict = prescreen(data, MAC, int.from_bytes(data[:4].ljust(4, b"\0"), "big") or None)
    assert verdict is None or isinstance(verdict, str)
    try:
        frame, msg = wire.decode_frame_message(data)
    except wire.DecodeError:
        return
    assert wire.decode(frame.payload) == msg


def lease_file(data: bytes) -> None:
    try:
        lease = leasefile.parse(data, now_mono=NOW_MONO, now_wall=NOW_WALL, min_lease_time=60)
    except leasefile.LeaseFileError:
        return
    if isinstance(lease, leasefile.Expired):
        lease = lease.lease
    assert lease is None or lease.ack is not None


def snapshot(data: bytes) -> None:
    """The engine's live state (FDSTORE memfd): SnapshotError or a client that snapshots to
    data that restores to the same snapshot."""
    config = ClientConfig()
    try:
        client = Client.restore(config, random.Random(0), data)
    except SnapshotError:
        return
    again = client.snapshot()
    assert Client.restore(config, random.Random(0), again).snapshot() == again


# Each receiver's peers; the first byte of an input picks one.
_E, _I, _N, _B = ipc.Peer.ENGINE, ipc.Peer.IO, ipc.Peer.NETCONF, ipc.Peer.BUS
IPC_ROUTES: dict[str, list[tuple[ipc.Peer, ipc.Peer]]] = {
    "ipc_io": [(_E, _I)],
    "ipc_engine": [(_I, _E), (_N, _E)],
    "ipc_netconf": [(_E, _N), (_B, _N)],
    "ipc_bus": [(_N, _B)],
}


def _ipc(data: bytes, routes: list[tuple[ipc.Peer, ipc.Peer]]) -> ipc.Message | None:
    """One receiver: the first byte picks which of its peers sent the rest. A decoded
    message encodes to exactly the bytes it came from."""
    if not data:
        return None
    sender, receiver = routes[data[0] % len(routes)]
    body = data[1:]
    try:
        msg = ipc.decode(body, sender, receiver)
    except ipc.PeerViolation:
        return None
    assert ipc.encode(msg) == body
    return msg


def ipc_io(data: bytes) -> None:
    msg = _ipc(data, IPC_ROUTES["ipc_io"])
    if msg is None:
        return
    try:
        io_dispatch_engine(msg, MAC)
    except ipc.PeerViolation:
        pass


def ipc_engine(data: bytes) -> None:
    _ipc(data, IPC_ROUTES["ipc_engine"])


def ipc_netconf(data: bytes) -> None:
    """What netconf receives, and then its validation of an APPLY against a policy."""
    msg = _ipc(data, IPC_ROUTES["ipc_netconf"])
    if not isinstance(msg, ipc.Apply):
        return
    policies = (Policy(), Policy(allowed_addresses=(IPv4Network("192.0.2.0/24"),)),
                Policy(use_routes=False, use_mtu=False, use_gateway=False))
    for policy in policies:
        try:
            plan = make_plan(msg, policy, LinkLimits(9000, ipv6=data[0] & 2 == 2))
        except Refused as exc:
            assert str(exc)
            continue
        assert plan.interface.ip == msg.address


def ipc_bus(data: bytes) -> None:
    _ipc(data, IPC_ROUTES["ipc_bus"])


def control_request(data: bytes) -> None:
    try:
        req = control.decode_request(data)
    except control.ControlError:
        return
    assert control.decode_request(control.encode_request(req)) == req


def control_reply(data: bytes) -> None:
    try:
        reply = control.decode_reply(data)
    except control.ControlError:
        return
    assert isinstance(reply, dict)


def configuration(data: bytes) -> None:
    """leasebox.conf: files are read as UTF-8 (config.files.read_text refuses the rest)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    try:
        config = parse([("fuzz.conf", text)])
    except ConfigError as exc:
        assert str(exc)
        return
    assert config.files == ("fuzz.conf",)


def hook_event(data: bytes) -> None:
    """The event file leaseboxctl dispatch reads back (ctl.dispatch: ASCII JSON, then
    checked field by field)."""
    try:
        env = hooks.environment(hooks.decode_event(data), "eth0")
    except hooks.BadEvent:
        return
    assert all(k.startswith("LEASEBOX_") and "\n" not in v for k, v in env.items())


def bus_state(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    try:
        name, want = statefile.from_doc(text)
    except statefile.StateError:
        return
    assert name and want.ifindex > 0


def netconf_state(data: bytes) -> None:
    """What netconf left in /run about what it applied, read back at its next start; a
    state read encodes to a document that reads back the same."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return
    try:
        tracked = netconf_states.from_json(text, 2)
    except netconf_states.StateError:
        return
    assert netconf_states.from_json(netconf_states.to_json(2, tracked), 2) == tracked


def rtnetlink(data: bytes) -> None:
    try:
        events = list(link.parse(data))
    except link.LinkParseError:
        return
    assert len(events) <= 256  # at most one event per netlink message, 256 messages


def arp_frame(data: bytes) -> None:
    assert arp.is_conflict(data, MAC, ADDRESS) in (True, False)
    assert arp.claims(data, MAC, ADDRESS) in (True, False)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "wire_message": wire_message,
    "wire_frame": wire_frame,
    "lease_file": lease_file,
    "snapshot": snapshot,
    "ipc_io": ipc_io,
    "ipc_engine": ipc_engine,
    "ipc_netconf": ipc_netconf,
    "ipc_bus": ipc_bus,
    "control_request": control_request,
    "control_reply": control_reply,
    "configuration": configuration,
    "hook_event": hook_event,
    "bus_state": bus_state,
    "netconf_state": netconf_state,
    "rtnetlink": rtnetlink,
    "arp_frame": arp_frame,
}
