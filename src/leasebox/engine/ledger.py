"""The engine's bookkeeping of what it asked netconf and io: pure, time passed in.

- Every Apply and Remove stays *pending* until netconf's Result for it, and is sent again
  on every new connection (netconf handles both idempotently).
- A Remove is *held* while io has transmissions it has not confirmed (TxDone), at most
  TX_WAIT: a RELEASE is sent from the leased address, so netconf must not take the
  address away before io has handed the RELEASE to the kernel. Whatever is asked for
  after a held message is held with it: netconf gets them in order (an Apply that went
  before an earlier Remove would be removed by it).
- Each pending message belongs to the client that asked for it (`client`, counted up
  when a new MAC address makes a new one): netconf's answer to an earlier client's Apply
  is not the new one's.
- What netconf confirmed last is *applied*: a netconf that restarted (and may have
  forgotten it) gets it again on the next connection when nothing else is pending.

The adapter (service.EngineService) sends what these methods return; nothing here touches
a socket or reads a clock.
"""

from __future__ import annotations

from leasebox import ipc
from leasebox.core.machine.types import Lease
from leasebox.core.record import field, record
from leasebox.core.values import INFINITE

TX_WAIT = 1.0  # longest a Remove waits for io to confirm the transmissions before it
NetconfMessage = ipc.Apply | ipc.Remove


@record(frozen=False)
class Pending:
    kind: str  # "apply", "reapply" or "remove"
    lease: Lease | None
    msg: NetconfMessage
    client: int = 0  # the client that asked (Ledger.client then)


def lease_to_apply(lease: Lease, request_id: int, now: float) -> ipc.Apply:
    """The Apply that asks netconf for `lease`, with the lifetime left at `now` and every
    list cut to what the contract carries."""
    lifetime = INFINITE if lease.lease_time == INFINITE else max(1, int(lease.expires_at - now))
    domains: list[str] = []
    for raw in ((lease.domain_name,) if lease.domain_name else ()) + lease.domain_search:
        name = raw.rstrip(".")
        if name and name not in domains:
            domains.append(name)
    return ipc.Apply(
        request_id=request_id, address=lease.address, prefixlen=lease.prefixlen,
        # bounded where the lease was built (core.machine.lease); a lease restored from a
        # snapshot passed the same check (check_lease)
        lifetime=lifetime, mtu=lease.mtu, routers=lease.routers,
        classless_routes=lease.classless_routes, dns_servers=lease.dns_servers,
        domains=tuple(domains), ntp_servers=lease.ntp_servers,
    )


@record(frozen=False)
class Ledger:
    pending: dict[int, Pending] = field(default_factory=dict)
    held: dict[int, float] = field(default_factory=dict)  # request id -> send by then anyway
    tx_outstanding: int = 0
    applied: Lease | None = None
    next_request: int = 1
    client: int = 0  # the client asking now (new_client)

    def _request_id(self) -> int:
        rid = self.next_request
        self.next_request = rid % 0xFFFFFFFF + 1
        return rid

    # ---- what the state machine asks for --------------------------------------------------

    def new_client(self) -> None:
        """A new client (a new MAC address) asks from now on."""
        self.client += 1

    def apply(self, lease: Lease, now: float, kind: str = "apply") -> ipc.Apply | None:
        """The Apply to send now, or None while it is held behind an earlier message."""
        msg = lease_to_apply(lease, self._request_id(), now)
        self.pending[msg.request_id] = Pending(kind, lease, msg, self.client)
        if self.held:
            self.held[msg.request_id] = max(self.held.values())
            return None
        return msg

    def remove(self, lease: Lease | None, now: float) -> ipc.Remove | None:
        """The Remove to send now, or None while it is held for io's confirmations (or
        behind an earlier message)."""
        self.applied = None
        msg = ipc.Remove(self._request_id())
        self.pending[msg.request_id] = Pending("remove", lease, msg, self.client)
        if self.tx_outstanding or self.held:
            self.held[msg.request_id] = max([now + TX_WAIT, *self.held.values()])
            return None
        return msg

    def pending_removals(self) -> frozenset[int]:
        """The request ids of the removals netconf has not answered yet."""
        return frozenset(rid for rid, p in self.pending.items() if p.kind == "remove")

    # ---- what io says ----------------------------------------------------------------------

    def transmitted(self) -> None:
        """io took one more transmission; its TxDone is due."""
        self.tx_outstanding += 1

    def tx_done(self) -> list[NetconfMessage]:
        """io confirmed one transmission; what was held for all of them goes now."""
        self.tx_outstanding = max(0, self.tx_outstanding - 1)
        return self._release(None) if self.tx_outstanding == 0 else []

    def io_lost(self) -> list[NetconfMessage]:
        """No confirmation will come from a closed connection: release everything held."""
        self.tx_outstanding = 0
        return self._release(None)

    def due(self, now: float) -> list[NetconfMessage]:
        """Held messages whose wait is over."""
        return self._release(now)

    def held_deadline(self) -> float | None:
        return min(self.held.values(), default=None)

    def _release(self, now: float | None) -> list[NetconfMessage]:
        """In order, up to the first still held (the deadlines only grow along it)."""
        out = []
        for rid, deadline in sorted(self.held.items()):
            if now is not None and now < deadline:
                break
            del self.held[rid]
            pending = self.pending.get(rid)
            if pending is not None:
                out.append(pending.msg)
        return out

    # ---- what netconf says -----------------------------------------------------------------

    def result(self, request_id: int, ok: bool) -> Pending | None:
        """Netconf answered `request_id`; the pending entry, or None if it was not ours."""
        pending = self.pending.pop(request_id, None)
        self.held.pop(request_id, None)
        # an Apply confirmed after a later Remove was asked for (a release during the
        # apply) is not what stays applied
        if pending is not None and ok and pending.kind in ("apply", "reapply") and not any(
                later.kind == "remove" for rid, later in self.pending.items()
                if rid > request_id):
            self.applied = pending.lease
        return pending

    def on_connect(self, now: float) -> list[NetconfMessage]:
        """What a new connection to netconf must carry: every pending message up to the
        first held, in order; with nothing pending, the applied lease again (a restarted netconf may
        have forgotten it, and then could not remove it, nor keep its lifetimes current)."""
        if self.pending:
            out = []
            for rid in sorted(self.pending):
                if rid in self.held:  # it, and what came after it, wait
                    break
                pending = self.pending[rid]
                if isinstance(pending.msg, ipc.Apply) and pending.lease is not None:
                    # the lifetime left now, not when it was first asked for: after a long
                    # wait for netconf the kernel would keep the address past the lease
                    pending.msg = lease_to_apply(pending.lease, rid, now)
                out.append(pending.msg)
            return out
        lease = self.applied
        if lease is not None and (lease.lease_time == INFINITE or now < lease.expires_at):
            again = self.apply(lease, now, "reapply")  # (nothing is held)
            return [again] if again is not None else []
        return []  # (an expired one: its removal is the state machine's to ask for)
