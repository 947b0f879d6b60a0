"""Who may hold the control socket, for how long, and how often renew and release may run.
Pure: time passed in; the loop (main.py) carries out the decisions.

- At most MAX_CLIENTS connections, at most PER_USER per non-root user, and root is never
  locked out: when all slots are taken, root's connection closes the longest idle one of
  another user (the leave unit's `leaseboxctl leave` must get through to remove the
  address on `systemctl stop`).
- Users the engine cannot tell apart (uid None: under PrivateUsers=yes every ControlGroup=
  member shows as the overflow uid) are not held to PER_USER, which would be one allowance
  for all of them together: one member's poller would lock every other member out. They
  share the MAX_CLIENTS slots, first come first served, and root still gets in.
- A connection that sends nothing for IDLE seconds is closed.
- renew and release run at most BURST times in any WINDOW seconds: each costs a DHCP
  exchange, an apply and a lease-file write.
"""

from __future__ import annotations

from collections import deque

from leasebox.core.generics import Generic, TypeVar
from leasebox.core.record import field, record

MAX_CLIENTS = 8
PER_USER = 2
IDLE = 10.0
BURST = 3
WINDOW = 10.0

C = TypeVar("C")


@record(frozen=False)
class _Client:
    uid: int | None
    last: float


@record(frozen=False)
class Clients(Generic[C]):
    clients: dict[C, _Client] = field(default_factory=dict)

    def admit(self, conn: C, uid: int | None, now: float) -> tuple[bool, C | None, str]:
        """(admitted, connection to close to make room, reason if refused). `uid` None: a
        user not told apart from others (see the module's docstring)."""
        if uid not in (0, None) and sum(c.uid == uid for c in self.clients.values()) >= PER_USER:
            return False, None, f"too many connections from uid {uid}"
        evict = None
        if len(self.clients) >= MAX_CLIENTS:
            if uid != 0:
                return False, None, "too many clients"
            others = [(c.last, k) for k, c in self.clients.items() if c.uid != 0]
            if not others:
                return False, None, "too many clients"
            evict = min(others, key=lambda item: item[0])[1]
            del self.clients[evict]
        self.clients[conn] = _Client(uid, now)
        return True, evict, ""

    def seen(self, conn: C, now: float) -> None:
        client = self.clients.get(conn)
        if client is not None:
            client.last = now

    def drop(self, conn: C) -> None:
        self.clients.pop(conn, None)

    def idle(self, now: float, busy: set[C] | None = None) -> list[C]:
        """Connections silent for IDLE seconds (not those awaiting an answer); forgotten."""
        out = [k for k, c in self.clients.items()
               if now - c.last >= IDLE and k not in (busy or set())]
        for k in out:
            del self.clients[k]
        return out

    def next_deadline(self) -> float | None:
        return min((c.last + IDLE for c in self.clients.values()), default=None)


@record(frozen=False)
class Rate:
    """At most BURST events in any WINDOW seconds."""

    times: deque[float] = field(default_factory=deque)

    def allow(self, now: float) -> float:
        """0 when allowed now (and counted); else the seconds until it would be."""
        while self.times and now - self.times[0] >= WINDOW:
            self.times.popleft()
        if len(self.times) >= BURST:
            return self.times[0] + WINDOW - now
        self.times.append(now)
        return 0.0
