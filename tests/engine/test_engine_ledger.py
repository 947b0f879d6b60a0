"""The engine's bookkeeping (engine.ledger), driven by a fake clock: pending requests,
Removes held for io's confirmations, re-apply after a netconf restart, Lease -> Apply."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from leasebox import ipc
from leasebox.core.machine.errors import LeaseError
from leasebox.core.machine.lease import check_lease
from leasebox.core.record import replace
from leasebox.core.values import INFINITE, MAX_DNS, Route
from leasebox.engine.ledger import TX_WAIT, Ledger, lease_to_apply
from tests.machine.machine_helpers import remembered

A = IPv4Address


def test_apply_is_pending_until_its_result_and_then_applied() -> None:
    ledger, lease = Ledger(), remembered()
    msg = ledger.apply(lease, now=1000.0)
    assert msg is not None and msg.request_id == 1 and list(ledger.pending) == [1]
    assert ledger.on_connect(1000.0) == [msg]  # a new connection carries it again
    pending = ledger.result(1, ok=True)
    assert pending is not None and pending.kind == "apply"
    assert ledger.applied == lease and ledger.pending == {}
    assert ledger.result(1, ok=True) is None  # answered twice: not ours any more


def test_a_lease_that_ran_out_is_not_sent_to_a_new_netconf() -> None:
    ledger, lease = Ledger(), remembered()
    ledger.applied = lease
    assert ledger.on_connect(lease.expires_at - 1) != []
    ledger.pending.clear()
    assert ledger.on_connect(lease.expires_at) == []
    ledger.applied = replace(lease, lease_time=INFINITE)
    assert ledger.on_connect(lease.expires_at + 86400) != []


def test_refused_apply_is_not_applied() -> None:
    ledger = Ledger()
    ledger.apply(remembered(), now=1000.0)
    assert ledger.result(1, ok=False) is not None and ledger.applied is None


def test_an_apply_confirmed_after_a_later_remove_is_not_applied() -> None:
    """A release while netconf applies: the Remove follows the Apply, and the Apply's
    confirmation must not make the released lease the one a new netconf gets again."""
    ledger, lease = Ledger(), remembered()
    ledger.apply(lease, now=1000.0)
    ledger.remove(lease, now=1000.1)
    assert ledger.result(1, ok=True) is not None and ledger.applied is None
    assert ledger.result(2, ok=True) is not None
    assert ledger.applied is None and ledger.on_connect(1001.0) == []


def test_remove_waits_for_io_to_confirm_the_release_at_most_tx_wait() -> None:
    ledger, lease = Ledger(), remembered()
    ledger.result(1, ok=ledger.apply(lease, 1000.0) is not None)
    ledger.transmitted()  # the RELEASE, handed to io
    assert ledger.remove(lease, now=1000.0) is None  # held
    assert ledger.applied is None and ledger.held_deadline() == 1000.0 + TX_WAIT
    assert ledger.on_connect(1000.1) == []  # a held Remove does not go on a new connection
    assert ledger.due(1000.5) == []
    [remove] = ledger.due(1000.0 + TX_WAIT)  # io never confirmed: it goes anyway
    assert isinstance(remove, ipc.Remove) and ledger.held == {}


def test_tx_done_releases_what_was_held() -> None:
    ledger = Ledger()
    ledger.transmitted()
    ledger.transmitted()
    assert ledger.remove(None, now=5.0) is None
    assert ledger.tx_done() == []  # one of two confirmed
    [remove] = ledger.tx_done()
    assert remove == ipc.Remove(1)
    assert ledger.tx_done() == [] and ledger.tx_outstanding == 0  # never negative


def test_losing_io_releases_everything_held() -> None:
    ledger = Ledger()
    ledger.transmitted()
    ledger.remove(None, now=5.0)
    assert ledger.io_lost() == [ipc.Remove(1)] and ledger.tx_outstanding == 0
    assert ledger.remove(None, now=6.0) == ipc.Remove(2)  # nothing outstanding: at once


def test_a_new_connection_with_nothing_pending_reapplies_the_lease() -> None:
    ledger, lease = Ledger(), remembered()
    ledger.result(1, ok=ledger.apply(lease, 1000.0) is not None)
    [again] = ledger.on_connect(1100.0)
    assert isinstance(again, ipc.Apply) and ledger.pending[again.request_id].kind == "reapply"
    assert again.lifetime == lease_to_apply(lease, 0, 1100.0).lifetime  # current, not stale
    ledger.result(again.request_id, ok=True)
    assert ledger.applied == lease


def test_request_ids_wrap_and_never_are_zero() -> None:
    ledger = Ledger(next_request=0xFFFFFFFF)
    assert ledger.remove(None, 0.0) == ipc.Remove(0xFFFFFFFF)
    assert ledger.remove(None, 0.0) == ipc.Remove(1)


def test_lease_to_apply() -> None:
    lease = replace(remembered(acquired_at=1000.0, lease_time=3600), domain_name="corp.example.",
                    domain_search=("corp.example", "b.example.", ""), mtu=1400,
                    dns_servers=tuple(A(f"192.0.2.{i}") for i in range(MAX_DNS)),
                    ntp_servers=(A("192.0.2.123"),),
                    classless_routes=(Route(IPv4Network("198.51.100.0/24"), A("192.0.2.1")),))
    msg = lease_to_apply(lease, 7, now=1100.0)
    assert msg.request_id == 7 and msg.address == lease.address
    assert msg.lifetime == 3500 and msg.mtu == 1400
    assert msg.domains == ("corp.example", "b.example")  # trailing dots off, no repeats
    assert len(msg.dns_servers) == MAX_DNS and msg.ntp_servers == (A("192.0.2.123"),)
    # more than the contract carries is refused where a lease is built or restored
    with pytest.raises(LeaseError, match="DNS servers"):
        check_lease(replace(lease, dns_servers=tuple(A(f"198.51.100.{i}") for i in range(9))))
    assert msg.classless_routes == lease.classless_routes
    assert lease_to_apply(lease, 8, now=lease.expires_at + 10).lifetime == 1  # never 0
    forever = replace(lease, lease_time=INFINITE)
    assert lease_to_apply(forever, 9, now=10**9).lifetime == INFINITE
    ipc.encode(msg)  # within the contract


def test_what_comes_after_a_held_message_waits_with_it() -> None:
    """netconf gets the messages in order: an Apply after a Remove held for io's TxDone
    would otherwise go first, and the Remove then take the new address away."""
    ledger, lease = Ledger(), remembered()
    ledger.transmitted()  # a RELEASE, or a REQUEST, that io has not confirmed
    assert ledger.remove(lease, now=1000.0) is None
    assert ledger.apply(replace(lease, address=A("192.0.2.51")), now=1000.0) is None
    assert ledger.on_connect(1000.1) == []  # a new connection: nothing past the first held
    remove, apply = ledger.tx_done()
    assert isinstance(remove, ipc.Remove) and isinstance(apply, ipc.Apply)
    assert remove.request_id < apply.request_id and not ledger.held
    # the deadline: all of them, in order, once the first is due
    ledger.transmitted()
    assert ledger.remove(lease, now=2000.0) is None
    assert ledger.apply(lease, now=2000.5) is None
    assert ledger.due(2000.5) == []
    assert [type(m) for m in ledger.due(2000.0 + TX_WAIT)] == [ipc.Remove, ipc.Apply]


def test_an_apply_sent_again_carries_the_lifetime_left() -> None:
    """netconf unreachable for ten minutes (it could not start): the Apply a new
    connection carries asks for the lifetime left then, not the one left when it was
    first asked for, which the kernel would keep past the lease's end."""
    ledger, lease = Ledger(), remembered()
    first = ledger.apply(lease, now=lease.acquired_at)
    assert first is not None
    (again,) = ledger.on_connect(lease.acquired_at + 600)
    assert isinstance(again, ipc.Apply) and again.request_id == first.request_id
    assert again.lifetime == first.lifetime - 600
