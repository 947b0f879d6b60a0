"""The live-state snapshot: what a restarted engine needs to carry on without a DHCP
exchange, as compact versioned JSON that is parsed as hostile input.

The snapshot crosses a process boundary (a memfd in the service manager's FDSTORE), so
decode trusts nothing: the size is bounded before parsing, the JSON must have exactly the
schema below (no missing, extra or duplicate keys, no NaN, every number in range, every
string in a safe alphabet), the lease is re-validated as a lease, and the fields must agree
with each other and with the state. Any problem is a SnapshotError, nothing else.

What is kept is a resume point, not every detail:
- BOUND, RENEWING, REBINDING resume as they were: same lease, same xid, same deadlines (the
  engine's clock, CLOCK_BOOTTIME, is system-wide, so absolute deadlines survive the
  restart; version 1 held CLOCK_MONOTONIC times and is refused, falling back to the lease
  file and an INIT-REBOOT). Restoring
  emits nothing: no ApplyLease, no Transmit.
- INIT and INIT-REBOOT resume as they were (an INIT wait after a NAK or an IPv6-only
  preference keeps its deadline); INIT with a lease held (kept while the client looks for
  another after an unanswered INIT-REBOOT) resumes as INIT-REBOOT, as an exchange does.
- STOPPED stays STOPPED, with whatever lease it kept.
- Any exchange in flight (SELECTING, REQUESTING, PROBING, REBOOTING, or an ACK waiting for
  netconf's answer) cannot be resumed, since replies and netconf's answer went to the old
  process: it resumes as INIT-REBOOT with the lease held (verified at once when the link
  is up), or as INIT without one. A lease whose apply was in flight counts as applied, so
  that it is removed if it turns out to be unusable: removing is harmless, leaking is not.
  A first bind cut short so is "unannounced": its verification reports it ACQUIRED.
- Not kept: offers, addresses avoided after a decline or refusal, the ACK inside the
  lease (Lease.ack is None after restore; the lease file keeps it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

from leasebox.core.generics import TYPE_CHECKING
from leasebox.core.machine import steps, timing
from leasebox.core.machine.context import Context
from leasebox.core.machine.errors import LeaseError, SnapshotError
from leasebox.core.machine.lease import check_lease
from leasebox.core.machine.types import ClientConfig, Lease, Random, State
from leasebox.core.values import Route
from leasebox.core.wire.limits import MAX_OPTION_DATA
from leasebox.core.wire.strings import hostname_problem, portal_problem

if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

VERSION = 2  # 2: CLOCK_BOOTTIME times (1: CLOCK_MONOTONIC)
MAX_SIZE = 65536  # the adapter's memfd holds no more
MAX_TIME = 2.0**40  # clock seconds; a lease remembered from disk may predate boot (< 0)
MAX_ITEMS = 256  # addresses, routes or names in one lease field
MAX_TEXT = 255
MAX_TRIES = timing.MAX_TRIES

_TOP_KEYS = frozenset({
    "v", "state", "now", "mac", "link_up", "lease", "applied", "persisted", "xid",
    "started_at", "sent_at", "tries", "wake_at", "failures", "previous", "unannounced",
})
# with nothing unannounced, as most snapshots are: what an engine of before 2026-12-06
# wrote too, and reads (an upgrade's restart into this code, and a downgrade's back)
_TOP_KEYS_BEFORE = _TOP_KEYS - {"unannounced"}
_LEASE_KEYS = frozenset({
    "address", "prefixlen", "server_id", "lease_time", "renewal_time", "rebinding_time",
    "acquired_at", "routers", "dns_servers", "domain_name", "domain_search",
    "classless_routes", "mtu", "ntp_servers", "broadcast_address", "captive_portal",
    "hostname",
})
# without a hostname (option 12): what this engine writes, as engines of before 2026-12-07
# did, whose restart after a downgrade must find its live state (a lease on a dnsmasq
# network mostly has one: dnsmasq sends back the client's own name); a restored lease has
# none until its next ACK. Read with one too, as a later engine may write it.
_LEASE_KEYS_BEFORE = _LEASE_KEYS - {"hostname"}
_EXCHANGE_STATES = (State.RENEWING, State.REBINDING)
_RESUMABLE = frozenset({State.INIT, State.INIT_REBOOT, State.BOUND, State.RENEWING,
                        State.REBINDING, State.STOPPED})


# ---- encoding -----------------------------------------------------------------------------


def encode(ctx: Context) -> bytes:
    state, lease = ctx.state, ctx.lease
    applied = ctx.applied is not None and lease is not None
    xid: int | None = None
    started = sent = None
    tries = 0
    wake: float | None = None
    if state in steps.BOUND_STATES and ctx.bind_kind is None:
        if state in _EXCHANGE_STATES:
            xid, started, sent, tries, wake = (ctx.xid, ctx.started_at, ctx.sent_at,
                                               ctx.tries, ctx.wake_at)
    elif state is State.INIT_REBOOT or (state is State.INIT and lease is None):
        wake = ctx.wake_at
    elif state is not State.STOPPED:
        state = State.INIT_REBOOT if lease is not None else State.INIT
        wake = ctx.now if ctx.link_up else None
    doc = {
        "v": VERSION,
        "state": state.value,
        "now": ctx.now,
        "mac": ctx.mac.hex() if ctx.mac is not None else None,
        "link_up": ctx.link_up,
        "lease": _lease_doc(lease) if lease is not None else None,
        "applied": applied,
        "persisted": ctx.persisted,
        "xid": xid,
        "started_at": started,
        "sent_at": sent,
        "tries": tries,
        "wake_at": wake,
        "failures": ctx.failures,
        "previous": _str(ctx.previous_address),
    }
    if applied and ctx.unannounced:  # only then: an older engine reads the rest (downgrade)
        doc["unannounced"] = True
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _str(address: IPv4Address | None) -> str | None:
    return None if address is None else str(address)


def _lease_doc(lease: Lease) -> dict[str, Any]:
    return {
        "address": str(lease.address),
        "prefixlen": lease.prefixlen,
        "server_id": str(lease.server_id),
        "lease_time": lease.lease_time,
        "renewal_time": lease.renewal_time,
        "rebinding_time": lease.rebinding_time,
        "acquired_at": lease.acquired_at,
        "routers": [str(a) for a in lease.routers],
        "dns_servers": [str(a) for a in lease.dns_servers],
        "domain_name": lease.domain_name,
        "domain_search": list(lease.domain_search),
        "classless_routes": (None if lease.classless_routes is None else
                             [[str(r.destination), str(r.gateway)]
                              for r in lease.classless_routes]),
        "mtu": lease.mtu,
        "ntp_servers": [str(a) for a in lease.ntp_servers],
        "broadcast_address": _str(lease.broadcast_address),
        "captive_portal": lease.captive_portal,
    }


# ---- decoding -----------------------------------------------------------------------------


def decode(config: ClientConfig, rng: Random, data: bytes) -> Context:
    if not isinstance(data, bytes | bytearray) or not 0 < len(data) <= MAX_SIZE:
        raise SnapshotError("size out of range")
    try:
        doc = json.loads(bytes(data).decode("ascii"), object_pairs_hook=_no_duplicates,
                         parse_constant=_no_constant)
        return _context(config, rng, doc)
    except SnapshotError:
        raise
    except LeaseError as exc:
        raise SnapshotError(f"lease: {exc.reason}") from None
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        # ValueError covers bad UTF-8/ASCII, bad JSON and bad addresses; RecursionError,
        # nesting deeper than the parser's stack.
        raise SnapshotError(f"malformed: {type(exc).__name__}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise SnapshotError("duplicate key")
    return out


def _no_constant(name: str) -> Any:
    raise SnapshotError(f"{name} is not a number")


def _context(config: ClientConfig, rng: Random, doc: Any) -> Context:
    _top_keys(doc)
    if _int(doc["v"], 0, 2**31) != VERSION:
        raise SnapshotError(f"unsupported version {doc['v']}")
    try:
        state = State(_choice(doc["state"]))
    except ValueError:
        raise SnapshotError("unknown state") from None
    if state not in _RESUMABLE:
        raise SnapshotError(f"{state} is not a state a snapshot resumes in")
    ctx = Context(config, rng, state=state)
    ctx.now = _time(doc["now"])
    ctx.mac = _opt(doc["mac"], _mac)
    ctx.link_up = _bool(doc["link_up"])
    ctx.lease = _opt(doc["lease"], _lease)
    applied = _bool(doc["applied"])
    ctx.persisted = _bool(doc["persisted"])
    ctx.xid = _opt(doc["xid"], lambda v: _int(v, 0, 0xFFFFFFFF))
    started = _opt(doc["started_at"], _time)
    sent = _opt(doc["sent_at"], _time)
    ctx.tries = _int(doc["tries"], 0, MAX_TRIES)
    ctx.wake_at = _opt(doc["wake_at"], _time)
    ctx.failures = _int(doc["failures"], 0, timing.MAX_FAILURES)
    ctx.previous_address = _opt(doc["previous"], _address)
    unannounced = _bool(doc.get("unannounced", False))

    _agree(ctx.link_up and ctx.mac is None, "link up without a MAC address")
    _agree(applied and ctx.lease is None, "applied without a lease")
    _agree(unannounced and not applied, "unannounced without an applied lease")
    if applied:
        ctx.applied = ctx.confirmed = ctx.lease
        ctx.unannounced = unannounced
    if state in _EXCHANGE_STATES:
        if ctx.xid is None or started is None or sent is None or ctx.wake_at is None \
                or ctx.tries < 1:
            raise SnapshotError(f"{state} without its xid, times or tries")
        _agree(not started <= sent <= ctx.now, "exchange times out of order")
        ctx.started_at, ctx.sent_at = started, sent
    else:
        exchange = ctx.xid is not None or started is not None or sent is not None
        _agree(exchange or ctx.tries != 0, f"exchange fields in {state}")
    if state in steps.BOUND_STATES:
        _agree(ctx.lease is None or not applied or not ctx.link_up,
               f"{state} without an applied lease and a link")
    elif state is State.INIT:
        _agree(ctx.lease is not None, "INIT with a lease")
    elif state is State.INIT_REBOOT:
        _agree(ctx.lease is None, "INIT-REBOOT without a lease")
    if state in (State.INIT, State.INIT_REBOOT):
        # Up: it must be waiting for its start; down: only LinkUp starts it.
        _agree(ctx.link_up != (ctx.wake_at is not None), f"{state} timer and link disagree")
    elif state in (State.BOUND, State.STOPPED):
        _agree(ctx.wake_at is not None, f"a timer in {state}")
    return ctx


def _agree(bad: bool, what: str) -> None:
    if bad:
        raise SnapshotError(what)


def _top_keys(doc: Any) -> None:
    if not isinstance(doc, dict) or doc.keys() != _TOP_KEYS_BEFORE:
        _keys(doc, _TOP_KEYS, "snapshot")


def _keys(doc: Any, keys: frozenset[str], what: str) -> None:
    if not isinstance(doc, dict) or doc.keys() != keys:
        raise SnapshotError(f"{what}: not an object with the expected keys")


def _opt(value: Any, parse: Callable[[Any], T]) -> T | None:
    return None if value is None else parse(value)


def _int(value: Any, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise SnapshotError("integer missing or out of range")
    return value


def _time(value: Any) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) \
            or not -MAX_TIME <= value <= MAX_TIME:
        raise SnapshotError("time missing or out of range")
    return float(value)


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise SnapshotError("boolean expected")
    return bool(value)


def _choice(value: Any) -> str:
    if type(value) is not str or len(value) > 32:
        raise SnapshotError("name expected")
    return value


def _text(value: Any) -> str:
    """Printable ASCII without spaces, as the codec lets through for names and URIs."""
    if type(value) is not str or not 0 < len(value) <= MAX_TEXT \
            or not all("!" <= c <= "~" for c in value):
        raise SnapshotError("text missing, too long or with unsafe characters")
    return value


def _portal(value: Any) -> str:
    """A captive portal URI, by the codec's own rule and bound (RFC 3396 lets one be longer
    than an option's 255 octets)."""
    if type(value) is not str or len(value) > MAX_OPTION_DATA or portal_problem(value):
        raise SnapshotError("captive portal: not an https URI of safe characters")
    return value


def _hostname(value: Any) -> str:
    """Option 12's name, by the codec's own rule."""
    if type(value) is not str or len(value) > MAX_TEXT or hostname_problem(value):
        raise SnapshotError("hostname: not a host name")
    return value


def _address(value: Any) -> IPv4Address:
    if type(value) is not str or len(value) > 15:
        raise SnapshotError("address expected")
    return IPv4Address(value)  # ValueError -> SnapshotError in decode


def _mac(value: Any) -> bytes:
    if type(value) is not str or len(value) != 12 or value != value.lower():
        raise SnapshotError("MAC address expected")
    return bytes.fromhex(value)


def _items(value: Any, parse: Callable[[Any], T]) -> tuple[T, ...]:
    if type(value) is not list or len(value) > MAX_ITEMS:
        raise SnapshotError("list missing or too long")
    return tuple(parse(item) for item in value)


def _route(value: Any) -> Route:
    if type(value) is not list or len(value) != 2 or type(value[0]) is not str \
            or len(value[0]) > 18:
        raise SnapshotError("route expected")
    return Route(IPv4Network(value[0]), _address(value[1]))


def _lease(doc: Any) -> Lease:
    if not isinstance(doc, dict) or doc.keys() != _LEASE_KEYS_BEFORE:
        _keys(doc, _LEASE_KEYS, "lease")
    lease = Lease(
        address=_address(doc["address"]),
        prefixlen=_int(doc["prefixlen"], 1, 32),
        server_id=_address(doc["server_id"]),
        lease_time=_int(doc["lease_time"], 1, 0xFFFFFFFF),
        renewal_time=_int(doc["renewal_time"], 1, 0xFFFFFFFF),
        rebinding_time=_int(doc["rebinding_time"], 1, 0xFFFFFFFF),
        acquired_at=_time(doc["acquired_at"]),
        routers=_items(doc["routers"], _address),
        dns_servers=_items(doc["dns_servers"], _address),
        domain_name=_opt(doc["domain_name"], _text),
        domain_search=_items(doc["domain_search"], _text),
        classless_routes=_opt(doc["classless_routes"], lambda v: _items(v, _route)),
        mtu=_opt(doc["mtu"], lambda v: _int(v, 0, 0xFFFF)),
        ntp_servers=_items(doc["ntp_servers"], _address),
        broadcast_address=_opt(doc["broadcast_address"], _address),
        captive_portal=_opt(doc["captive_portal"], _portal),
        hostname=_hostname(doc["hostname"]) if "hostname" in doc else None,  # (never null)
    )
    check_lease(lease)
    return lease
