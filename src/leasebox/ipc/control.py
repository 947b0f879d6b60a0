"""The control protocol between leaseboxctl and the engine (its control socket).

Unlike the peers, a control client is untrusted but not fatal: a malformed request gets an
error reply and the engine goes on. One request and one reply per SOCK_SEQPACKET datagram,
each a small JSON object with a fixed set of keys. Pure: no sockets here.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum

from leasebox.core.generics import TYPE_CHECKING
from leasebox.core.record import record

if TYPE_CHECKING:
    from typing import Any

MAX_REQUEST = 512
# The largest lease the engine keeps (every list at its bound, 4 KiB of options asked for
# with RequestOptions= shown as hex) makes a status of ~25 KiB: tests/engine's
# test_the_largest_lease_a_server_can_give_still_has_a_status. One seqpacket message.
MAX_REPLY = 65536


class Command(StrEnum):
    STATUS = "status"
    RENEW = "renew"
    RELEASE = "release"
    LEAVE = "leave"  # leave the link: release if configured, remove configuration, then idle
    SHUTDOWN = "shutdown"  # leave as the system shuts down: release only if SendRelease=always


class ControlError(Exception):
    """A request (or reply) that does not follow the protocol."""


@record
class Request:
    command: Command


def encode_request(req: Request) -> bytes:
    return json.dumps({"command": req.command.value}).encode()


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # "last one wins" is how two readers disagree
        raise ValueError("duplicate key")
    return obj


def decode_request(data: bytes) -> Request:
    if not 0 < len(data) <= MAX_REQUEST:
        raise ControlError(f"request of {len(data)} bytes")
    try:
        obj = json.loads(data.decode("ascii"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ControlError("request is not ASCII JSON with unique keys") from None
    if not isinstance(obj, dict) or set(obj) != {"command"}:
        raise ControlError("request must be an object with exactly the key 'command'")
    try:
        return Request(Command(obj["command"]))
    except (ValueError, TypeError):
        raise ControlError(f"unknown command {str(obj['command'])[:32]!r}") from None


def encode_reply(ok: bool, body: dict[str, Any] | None = None, error: str = "") -> bytes:
    out: dict[str, Any] = {"ok": ok}
    if body is not None:
        out["result"] = body
    if error:
        out["error"] = error
    data = json.dumps(out, sort_keys=True).encode()
    if len(data) > MAX_REPLY:
        raise ControlError("reply too large")
    return data


def decode_reply(data: bytes) -> dict[str, Any]:
    if not 0 < len(data) <= MAX_REPLY:
        raise ControlError(f"reply of {len(data)} bytes")
    try:  # (NaN and Infinity are no JSON, though Python's parser takes them, and 1e400
        # is no number a reply means: Python's parser makes it infinity)
        obj = json.loads(data.decode("utf-8"), parse_constant=_no_constant,
                         parse_float=_finite)
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested past the stack
        raise ControlError("reply is not JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
        raise ControlError("reply has no 'ok'")
    if not isinstance(obj.get("result", {}), dict):
        raise ControlError("reply's 'result' is not an object")
    return obj


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of a float's range")
    return value
