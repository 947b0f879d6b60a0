"""What the engine tells the journal: lease events with MESSAGE_IDs, the STATUS= line.

The MESSAGE_IDs are stable: the journald catalog (units/leasebox.catalog) explains each, and
`journalctl MESSAGE_ID=...` finds every event of one kind.
"""

from __future__ import annotations

from leasebox.core import events
from leasebox.core.machine.types import Lease, LeaseEventKind, State
from leasebox.core.values import INFINITE, router_on_link

MESSAGE_IDS: dict[LeaseEventKind, str] = {
    kind: events.LEASE_EVENT_IDS[kind.value] for kind in LeaseEventKind}
CAPTIVE_PORTAL_MESSAGE_ID = events.CAPTIVE_PORTAL_ID

_VERB = {
    LeaseEventKind.ACQUIRED: "Acquired",
    LeaseEventKind.RENEWED: "Renewed",
    LeaseEventKind.REBOUND: "Rebound",
    LeaseEventKind.LOST: "Lost",
    LeaseEventKind.DECLINED: "Declined",
    LeaseEventKind.RELEASED: "Released",
    LeaseEventKind.LEFT: "Left",
    LeaseEventKind.REFUSED: "Refused by policy:",
    LeaseEventKind.FAILED: "Could not apply",
}

# logged as warnings: a lease lost, or one the engine could not use
WARNED = frozenset({LeaseEventKind.LOST, LeaseEventKind.DECLINED, LeaseEventKind.REFUSED,
                    LeaseEventKind.FAILED})


def gateway(lease: Lease) -> str | None:
    if lease.classless_routes:
        for route in lease.classless_routes:
            if route.destination.prefixlen == 0:
                return str(route.gateway)
        return None
    router = router_on_link(lease.routers, lease.address, lease.prefixlen)
    return None if router is None else str(router)


def describe(lease: Lease) -> str:
    text = f"{lease.address}/{lease.prefixlen}"
    gw = gateway(lease)
    return f"{text} via {gw}" if gw else text


def duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"  # counts_seconds knows this form
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days"


def event_text(kind: LeaseEventKind, lease: Lease, detail: str, kept: bool = False) -> str:
    """The journal line of a lease event; `kept`: a FAILED renewal whose lease stays."""
    verb = "Could not apply the renewal of" if kept else _VERB[kind]
    text = f"{verb} {describe(lease)} from {lease.server_id}"
    if kind in (LeaseEventKind.ACQUIRED, LeaseEventKind.RENEWED, LeaseEventKind.REBOUND):
        text += (", infinite lease" if lease.lease_time == INFINITE
                 else f", lease {duration(lease.lease_time)}")
    return f"{text} ({detail})" if detail else text


def _keeping(text: str, lease: Lease | None) -> str:
    return text if lease is None else f"{text}; keeping {describe(lease)} until it expires"


def _no_carrier(lease: Lease | None, applied: bool) -> str:
    if lease is None:
        return "No carrier"
    if applied:
        return f"No carrier; keeping {describe(lease)} until it expires"
    return f"No carrier; {describe(lease)} remembered, to confirm"


def counts_seconds(line: str) -> bool:
    """Whether a status line ends in a countdown in seconds ("..., renews in 59 s")."""
    words = line.rsplit(" ", 2)
    return len(words) == 3 and words[2] == "s" and words[1].isdigit()


def status_line(state: State | None, lease: Lease | None, carrier: bool, now: float,
                applied: bool, discovers: tuple[int, float] | None = None) -> str:
    """The one line `systemctl status` shows, e.g. 'Bound 192.0.2.57/24 via 192.0.2.1,
    renews in 27 min'; `applied`: the lease is configured on the link, not only
    remembered from disk; `discovers`: in SELECTING, how many DISCOVERs went since when."""
    if state is None:
        return "Waiting for io to report the link"
    if not carrier and state is not State.STOPPED:
        return _no_carrier(lease, applied)
    infinite = lease is not None and lease.lease_time == INFINITE
    match state:
        case State.BOUND if lease is not None:
            tail = "infinite lease" if infinite else f"renews in {duration(lease.t1_at - now)}"
            return f"Bound {describe(lease)}, {tail}"
        case State.RENEWING if lease is not None:
            return (f"Renewing {describe(lease)} from {lease.server_id}, "
                    f"rebinds in {duration(lease.t2_at - now)}")
        case State.REBINDING if lease is not None:
            return f"Rebinding {describe(lease)}, expires in {duration(lease.expires_at - now)}"
        # a lease held in these is one still applied, kept until another replaces it
        case State.INIT | State.SELECTING:
            looking = "Looking for a DHCP server"
            if discovers is not None and discovers[0] >= 2:  # how long it has been asking
                # (as of the last DISCOVER, when STATUS= is sent: not a countdown)
                looking += f" ({discovers[0]} DISCOVERs in {duration(now - discovers[1])})"
            return _keeping(looking, lease)
        case State.REQUESTING:
            return _keeping("Requesting an address", lease)
        case State.PROBING:
            return "Checking the offered address for conflicts"
        case State.INIT_REBOOT | State.REBOOTING:
            return "Confirming the remembered lease"
        case State.STOPPED:
            return "Stopped"
    return str(state)
