"""`leaseboxctl decode`: one DHCP message (or Ethernet frame) in, JSON out.

The input is hostile by assumption (a capture from an unknown network). It goes through
the same strict codec as the engine; whatever the codec returns is already within the
safe character sets, and json.dumps(ensure_ascii=True) escapes anything else, so nothing
printed here can steer a terminal. Raw byte fields (chaddr, client id, sname...) are shown
as hex or with non-printable bytes escaped.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from typing import Any, BinaryIO

from leasebox.core.wire import DecodeError, Frame, Message, decode, decode_frame_message
from leasebox.core.wire.limits import MAX_MESSAGE_SIZE

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
PROG = "leaseboxctl"
# A frame adds Ethernet, IPv4 with options, UDP; hex text is two digits per octet plus
# whitespace. Reading more than this cannot be one message, so stop there.
_MAX_FRAME = 14 + 60 + 8 + MAX_MESSAGE_SIZE
_MAX_INPUT = 4 * _MAX_FRAME
_HEXDIGITS = frozenset(string.hexdigits)


class InputError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _fail(message: str, status: int) -> int:
    # One line, whatever the reason text contains.
    print(f"{PROG}: {' '.join(message.split())}", file=sys.stderr)
    return status


def _read(path: str) -> bytes:
    try:
        if path == "-":
            return _read_bounded(sys.stdin.buffer)
        with open(path, "rb") as f:
            return _read_bounded(f)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}", EX_NOINPUT) from None


def _read_bounded(f: BinaryIO) -> bytes:
    data = f.read(_MAX_INPUT + 1)
    if len(data) > _MAX_INPUT:
        raise InputError(f"input longer than {_MAX_INPUT} octets", EX_DATAERR)
    return data


def _from_hex(data: bytes) -> bytes:
    text = "".join(data.decode("ascii", errors="replace").split())
    if text.startswith(("0x", "0X")):
        text = text[2:]
    bad = next((c for c in text if c not in _HEXDIGITS), None)
    if bad is not None:
        raise InputError(f"invalid hex input: unexpected character {bad!a}", EX_DATAERR)
    if len(text) % 2:
        raise InputError("invalid hex input: odd number of hex digits", EX_DATAERR)
    return bytes.fromhex(text)


def _escaped(raw: bytes) -> str:
    """Printable ASCII as is, everything else (and the backslash) as \\xNN."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in raw)


def _hex(raw: bytes | None) -> str | None:
    return None if raw is None else raw.hex()


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _addr(value: object) -> str | None:
    return None if value is None else str(value)


def message_to_json(msg: Message) -> dict[str, Any]:
    routes = msg.classless_routes
    return {
        "op": msg.op.name,
        "htype": msg.htype,
        "hops": msg.hops,
        "xid": msg.xid,
        "secs": msg.secs,
        "flags": msg.flags,
        "broadcast_flag": msg.broadcast_flag,
        "ciaddr": str(msg.ciaddr),
        "yiaddr": str(msg.yiaddr),
        "siaddr": str(msg.siaddr),
        "giaddr": str(msg.giaddr),
        "chaddr": _mac(msg.chaddr),
        "sname": _escaped(msg.sname),
        "file": _escaped(msg.file),
        "message_type": msg.message_type.name if msg.message_type is not None else None,
        "server_id": _addr(msg.server_id),
        "lease_time": msg.lease_time,
        "renewal_time": msg.renewal_time,
        "rebinding_time": msg.rebinding_time,
        "subnet_mask": _addr(msg.subnet_mask),
        "broadcast_address": _addr(msg.broadcast_address),
        "routers": [str(a) for a in msg.routers],
        "dns_servers": [str(a) for a in msg.dns_servers],
        "domain_name": msg.domain_name,
        "domain_search": list(msg.domain_search),
        "classless_static_routes": None if routes is None else [str(r) for r in routes],
        "mtu": msg.mtu,
        "ntp_servers": [str(a) for a in msg.ntp_servers],
        "hostname": msg.hostname,
        "ipv6_only_preferred": msg.ipv6_only_preferred,
        "captive_portal": msg.captive_portal,
        "requested_ip": _addr(msg.requested_ip),
        "parameter_request_list": list(msg.parameter_request_list),
        "error_message": msg.error_message,
        "max_message_size": msg.max_message_size,
        "vendor_class_id": _hex(msg.vendor_class_id),
        "client_id": _hex(msg.client_id),
        "client_fqdn": _hex(msg.client_fqdn),
        "rapid_commit": msg.rapid_commit,
        "unknown": [{"code": code, "hex": value.hex()} for code, value in msg.unknown],
        "dropped": list(msg.dropped),
        "drop_reasons": list(msg.drop_reasons),
    }


def frame_to_json(frame: Frame) -> dict[str, Any]:
    return {
        "src_mac": _mac(frame.src_mac),
        "dst_mac": _mac(frame.dst_mac),
        "src_ip": str(frame.src_ip),
        "dst_ip": str(frame.dst_ip),
        "src_port": frame.src_port,
        "dst_port": frame.dst_port,
    }


def _unchecked(frame: bytes) -> bytes:
    """The frame with its UDP checksum set to 0, "not computed" (RFC 768), as io does for
    a frame whose checksum the kernel says is not filled in yet (offload). Left as it is
    when it is too short to have one: the decoder says why."""
    if len(frame) < 15:
        return frame
    at = 14 + (frame[14] & 0x0F) * 4 + 6  # Ethernet, IPv4 with options, UDP's 7th octet
    return frame[:at] + b"\0\0" + frame[at + 2:] if len(frame) >= at + 2 else frame


def run(args: argparse.Namespace) -> int:
    if args.no_checksum and not args.frame:
        return _fail("--no-checksum needs --frame (a DHCP message alone has no checksum)",
                     EX_USAGE)
    try:
        data = _read(args.file)
        if args.hex:
            data = _from_hex(data)
    except InputError as e:
        return _fail(str(e), e.status)
    try:
        if args.frame:
            frame, msg = decode_frame_message(_unchecked(data) if args.no_checksum else data)
            out = message_to_json(msg)
            out["frame"] = frame_to_json(frame)
        else:
            out = message_to_json(decode(data))
    except DecodeError as e:
        return _fail(f"malformed DHCP message: {e.reason}", EX_DATAERR)
    try:
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=True) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (| head): not an error worth a traceback. What stdout still
        # buffers goes nowhere, or the flush at exit fails again and says 141.
        import os  # noqa: PLC0415 - only when the reader went

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
