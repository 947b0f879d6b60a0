"""Live-state snapshots: round trips in every state, and hostile snapshots."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leasebox.core.machine import Client, SnapshotError
from leasebox.core.machine.types import (
    ApplyLease,
    ClientConfig,
    ConfigApplied,
    GuardAddress,
    LeaseEvent,
    LeaseEventKind,
    LeaveRequested,
    LinkDown,
    LinkUp,
    MessageReceived,
    ProbeResult,
    RenewRequested,
    State,
    TimerExpired,
    Transmit,
)
from leasebox.core.record import replace
from leasebox.core.wire.types import MessageType
from tests.machine.machine_helpers import (
    ADDRESS,
    MAC,
    SERVER,
    Harness,
    ack,
    offer,
    remembered,
    without_ack,
)
from tests.profiles import examples

CONFIG = ClientConfig()


def restore(data: bytes, config: ClientConfig = CONFIG) -> Client:
    return Client.restore(config, random.Random(99), data)


# ---- round trips ---------------------------------------------------------------------------


def at_init_no_link(h: Harness) -> None:
    pass


def at_init(h: Harness) -> None:
    h.link_up()


def at_selecting(h: Harness) -> None:
    h.link_up()
    h.fire()


def at_requesting(h: Harness) -> None:
    at_selecting(h)
    h.deliver(offer(h.last_sent().message))


def at_requesting_applying(h: Harness) -> None:
    at_requesting(h)
    h.deliver(ack(h.last_sent().message))


def at_probing(h: Harness) -> None:
    at_requesting(h)
    h.deliver(ack(h.last_sent().message))


def at_bound(h: Harness) -> None:
    h.acquire()


def at_renewing(h: Harness) -> None:
    h.acquire()
    h.fire()
    h.advance(5)


def at_renewing_applying(h: Harness) -> None:
    at_renewing(h)
    h.deliver(ack(h.last_sent().message))


def at_rebinding(h: Harness) -> None:
    h.acquire()
    while h.state is not State.REBINDING:
        h.fire()


def at_init_reboot_link_down(h: Harness) -> None:
    h.acquire()
    h.handle(LinkDown(h.now))


def at_rebooting(h: Harness) -> None:
    at_init_reboot_link_down(h)
    h.advance(3)
    h.link_up()


def at_stopped_kept(h: Harness) -> None:
    h.acquire()
    h.handle(LeaveRequested(h.now, release=False, keep_configuration=True))


def at_backoff(h: Harness) -> None:
    at_probing(h)
    h.handle(ProbeResult(h.now, ADDRESS, True))  # declined: INIT, waiting 10 s


# setup, config, the state it resumes in, whether it resumes exactly (same timer)
CASES: dict[str, tuple[Callable[[Harness], None], ClientConfig, State, bool]] = {
    "init-no-link": (at_init_no_link, CONFIG, State.INIT, True),
    "init": (at_init, CONFIG, State.INIT, True),
    "init-backoff": (at_backoff, ClientConfig(arp_probe=True), State.INIT, True),
    "selecting": (at_selecting, CONFIG, State.INIT, False),
    "requesting": (at_requesting, CONFIG, State.INIT, False),
    "requesting-applying": (at_requesting_applying, CONFIG, State.INIT_REBOOT, False),
    "probing": (at_probing, ClientConfig(arp_probe=True), State.INIT, False),
    "bound": (at_bound, CONFIG, State.BOUND, True),
    "renewing": (at_renewing, CONFIG, State.RENEWING, True),
    "renewing-applying": (at_renewing_applying, CONFIG, State.INIT_REBOOT, False),
    "rebinding": (at_rebinding, CONFIG, State.REBINDING, True),
    "init-reboot": (at_init_reboot_link_down, CONFIG, State.INIT_REBOOT, True),
    "rebooting": (at_rebooting, CONFIG, State.INIT_REBOOT, False),
    "stopped": (at_stopped_kept, CONFIG, State.STOPPED, True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip(name: str) -> None:
    setup, config, resumes_as, exact = CASES[name]
    h = Harness(config)
    setup(h)
    data = h.client.snapshot()
    assert len(data) < 4096
    back = restore(data, config)
    assert back.state is resumes_as
    assert back.snapshot() == data  # a resume point is a fixed point
    assert without_ack(back.lease) == without_ack(h.client.lease) or back.lease is None
    if exact:
        assert back.get_timer() == h.client.get_timer()
    elif back.get_timer() is not None:
        assert back.get_timer() == h.now  # resumes at once


@pytest.mark.parametrize("name", ["bound", "renewing", "rebinding"])
def test_restore_continues_like_the_original(name: str) -> None:
    setup, config, _, _ = CASES[name]
    h = Harness(config)
    setup(h)
    back = restore(h.client.snapshot(), config)
    h.advance(0.5)
    if name == "bound":
        now = h.timer()
        left, right = h.client.handle(TimerExpired(now)), back.handle(TimerExpired(now))
        assert [type(a) for a in left] == [type(a) for a in right]
        assert isinstance(right[0], Transmit) and right[0].destination == SERVER
        return
    # The reply to the REQUEST in flight before the restart is still accepted.
    reply = ack(h.last_sent().message)
    [one] = h.client.handle(MessageReceived(h.now, reply))
    [other] = back.handle(MessageReceived(h.now, reply))
    assert isinstance(one, ApplyLease) and isinstance(other, ApplyLease)
    # the same lease, but for T1 and T2, which each client fuzzes with its own draws
    assert (replace(one.lease, renewal_time=0, rebinding_time=0)
            == replace(other.lease, renewal_time=0, rebinding_time=0))


def test_a_renewal_retried_for_an_hour_by_an_operator_still_restores() -> None:
    """`leaseboxctl renew` in a loop while the server is away (3 a 10 s, for an hour and
    more) must not count an exchange's tries out of what a saved state may hold: the
    engine restarted after it would refuse its live state and forget the lease in use."""
    h = Harness()
    h.acquire(lease_time=7 * 86400)
    h.fire()
    for _ in range(1200):
        h.advance(3.4)
        h.handle(RenewRequested(h.now))
    assert h.state is State.RENEWING
    back = restore(h.client.snapshot())
    assert back.state is State.RENEWING
    assert without_ack(back.lease) == without_ack(h.client.lease)


def test_restored_init_reboot_verifies_at_once() -> None:
    h = Harness()
    at_rebooting(h)
    back = restore(h.client.snapshot())
    due = back.get_timer()
    assert due == h.now
    [request, _] = back.handle(TimerExpired(h.now))
    assert isinstance(request, Transmit)
    assert request.message.message_type is MessageType.REQUEST
    assert request.message.requested_ip == ADDRESS
    assert back.state is State.REBOOTING


def test_restored_remembered_lease_before_link_up() -> None:
    h = Harness(remembered=remembered())
    back = restore(h.client.snapshot())
    assert back.state is State.INIT_REBOOT
    assert without_ack(back.lease) == without_ack(h.client.lease)


def test_restore_emits_nothing_and_a_duplicate_link_up_is_ignored() -> None:
    h = Harness()
    h.acquire()
    back = restore(h.client.snapshot())
    assert back.handle(LinkUp(h.now, MAC)) == []
    assert back.state is State.BOUND


def test_restored_engine_guards_the_address_again() -> None:
    # What io watched is not in the snapshot: a new engine tells io again, announced.
    h = Harness()
    h.acquire()
    back = restore(h.client.snapshot(), ClientConfig(arp_probe=True))
    assert back.handle(LinkUp(h.now, MAC)) == [GuardAddress(ADDRESS, 2)]
    assert back.handle(LinkUp(h.now, MAC)) == []


# ---- hostile snapshots ---------------------------------------------------------------------


def bound_doc() -> dict[str, Any]:
    h = Harness()
    h.acquire(domain_name="example.org", domain_search=("a.example", "b.example"),
              captive_portal="https://portal.example/x?y=1")
    h.fire()  # RENEWING: every field in use
    return json.loads(h.client.snapshot())  # type: ignore[no-any-return]


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_valid_doc_restores() -> None:
    assert restore(encode(bound_doc())).state is State.RENEWING


def test_a_long_captive_portal_uri_survives_a_restart() -> None:
    """The codec takes a portal URI up to 4 KiB (RFC 3396 joins repeated options): the
    snapshot, bound by the same rule, does not throw the state away for one of 300."""
    h = Harness()
    portal = "https://portal.example/" + "p" * 300
    h.acquire(captive_portal=portal)
    back = restore(h.client.snapshot())
    assert back.lease is not None and back.lease.captive_portal == portal


def test_every_truncation_rejected() -> None:
    data = encode(bound_doc())
    for end in range(len(data)):
        with pytest.raises(SnapshotError):
            restore(data[:end])


WRONG_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 2**64, 1e300, -1e300, "", "x" * 300,
                           [], {}, [1], {"a": 1}, "1.2.3.4", "INIT"]


# Of WRONG_VALUES, those a bound snapshot may hold (the rest must be refused): each is a
# value of the key's own type and range. Times are CLOCK_BOOTTIME seconds, any float.
FITTING: dict[str, list[Any]] = {
    "applied": [True],  # (a BOUND client's lease was applied)
    "failures": [0],
    "link_up": [True],  # (BOUND with the link down is not a state the client keeps)
    "persisted": [True, False],
    "previous": [None, "1.2.3.4"],
    "started_at": [0, -1, 1.5],
    "wake_at": [0, -1, 1.5],
    "xid": [0],
    "lease.acquired_at": [0, -1, 1.5],
    "lease.address": ["1.2.3.4"],
    "lease.broadcast_address": [None, "1.2.3.4"],
    "lease.captive_portal": [None],
    "lease.classless_routes": [None, []],
    "lease.dns_servers": [[]],
    "lease.domain_name": [None, "1.2.3.4", "INIT"],  # (valid domain names)
    "lease.domain_search": [[]],
    "lease.mtu": [None],
    "lease.ntp_servers": [[]],
    "lease.routers": [[]],
    "lease.server_id": ["1.2.3.4"],
}


def _judged(key: str, set_value: Any) -> None:
    """Every wrong value refused with SnapshotError, and nothing else raised; a fitting one
    restores to a client whose own snapshot restores the same."""
    for value in WRONG_VALUES:
        doc = bound_doc()
        set_value(doc, value)
        fits = any(type(value) is type(v) and value == v for v in FITTING.get(key, []))
        if not fits:
            with pytest.raises(SnapshotError):
                restore(encode(doc))
            continue
        client = restore(encode(doc))
        assert restore(client.snapshot()).snapshot() == client.snapshot(), (key, value)


@pytest.mark.parametrize("key", sorted(bound_doc()))
def test_wrong_values_for_each_top_level_key(key: str) -> None:
    _judged(key, lambda doc, value: doc.__setitem__(key, value))


@pytest.mark.parametrize("key", sorted(bound_doc()["lease"]))
def test_wrong_values_for_each_lease_key(key: str) -> None:
    _judged(f"lease.{key}", lambda doc, value: doc["lease"].__setitem__(key, value))


@pytest.mark.parametrize(("path", "value"), [
    (("v",), 1),  # version 1 held CLOCK_MONOTONIC times
    (("v",), 3),
    (("v",), 0),
    (("v",), "2"),
    (("v",), True),
    (("state",), "SELECTING"),
    (("state",), "bound"),
    (("now",), 1e300),
    (("now",), "1000"),
    (("xid",), 2**32),
    (("xid",), -1),
    (("xid",), None),
    (("tries",), 0),
    (("tries",), 10**6),
    (("failures",), 10**9),
    (("mac",), "02000000000"),
    (("mac",), "0200000000zz"),
    (("mac",), "020000000001ff"),
    (("mac",), None),
    (("link_up",), 1),
    (("applied",), False),
    (("lease",), None),
    (("wake_at",), None),
    (("sent_at",), 1e12),
    (("lease", "address"), "192.0.2.0"),
    (("lease", "address"), "192.0.2.050"),
    (("lease", "address"), "::1"),
    (("lease", "prefixlen"), 0),
    (("lease", "prefixlen"), 33),
    (("lease", "lease_time"), 2**32),
    (("lease", "lease_time"), 0),
    (("lease", "renewal_time"), 5000),
    (("lease", "rebinding_time"), 1),
    (("lease", "acquired_at"), 1e15),
    (("lease", "mtu"), 10),
    (("lease", "routers"), ["1.2.3.4"] * 300),
    (("lease", "routers"), "1.2.3.4"),
    (("lease", "domain_name"), "evil;rm -rf /"),
    (("lease", "domain_name"), "new\nline"),
    (("lease", "domain_name"), ""),
    (("lease", "domain_search"), ["ok", 5]),
    (("lease", "captive_portal"), "é"),
    (("lease", "classless_routes"), [["10.0.0.1/8", "192.0.2.1"]]),
    (("lease", "classless_routes"), [["10.0.0.0/8"]]),
    (("lease", "classless_routes"), [["10.0.0.0/33", "192.0.2.1"]]),
])
def test_specific_bad_values_rejected(path: tuple[str, ...], value: Any) -> None:
    doc = bound_doc()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SnapshotError):
        restore(encode(doc))


@pytest.mark.parametrize("data", [
    b"",
    b"null",
    b"[]",
    b"{}",
    b"\xff\xfe",
    "{\"v\": 1, \"é\": 1}".encode(),
    b"[" * 100000,
    b"[" * 5000 + b"]" * 5000,
    b"{\"v\": NaN}",
    b"{\"v\": Infinity}",
    b"{\"v\": 1" + b"0" * 5000 + b"}",
    b" " * 70000,
])
def test_garbage_rejected(data: bytes) -> None:
    with pytest.raises(SnapshotError):
        restore(data)


def test_extra_missing_and_duplicate_keys_rejected() -> None:
    doc = bound_doc()
    with pytest.raises(SnapshotError):
        restore(encode({**doc, "extra": 1}))
    del doc["failures"]
    with pytest.raises(SnapshotError):
        restore(encode(doc))
    data = encode(bound_doc())
    with pytest.raises(SnapshotError):
        restore(data[:-1] + b',"v":1}')
    lease_extra = bound_doc()
    lease_extra["lease"]["ack"] = None
    with pytest.raises(SnapshotError):
        restore(encode(lease_extra))


@pytest.mark.parametrize("change", [
    {"state": "BOUND", "xid": None, "started_at": None, "sent_at": None, "tries": 0,
     "wake_at": None, "link_up": False},  # BOUND with the link down
    {"state": "BOUND", "xid": None, "started_at": None, "sent_at": None, "tries": 0},
    {"state": "INIT", "xid": None, "started_at": None, "sent_at": None, "tries": 0},
    {"state": "INIT-REBOOT", "xid": None, "started_at": None, "sent_at": None, "tries": 0,
     "lease": None, "applied": False},
    {"state": "STOPPED", "xid": None, "started_at": None, "sent_at": None, "tries": 0},
    {"link_up": True, "mac": None},
    {"applied": True, "lease": None},
    {"applied": False, "unannounced": True},
    {"started_at": 2e9},
])
def test_inconsistent_snapshots_rejected(change: dict[str, Any]) -> None:
    doc = bound_doc()
    doc.update(change)
    with pytest.raises(SnapshotError):
        restore(encode(doc))


def test_a_hostname_is_not_written_and_read_when_there() -> None:
    """Option 12 (2026-12-07) is not in the snapshot, so that an engine of before reads this
    one's after a downgrade (most leases on dnsmasq networks have a name: it sends back the
    client's own) and restarts without an exchange; the name comes back with the next ACK.
    A snapshot with one (a later engine's) is read, and a bad one refused."""
    h = Harness()
    h.acquire(hostname="host7.example")
    doc = json.loads(h.client.snapshot())
    assert "hostname" not in doc["lease"]
    back = restore(h.client.snapshot())
    assert back.lease is not None and back.lease.hostname is None
    doc["lease"]["hostname"] = "host7.example"
    back = restore(json.dumps(doc).encode())
    assert back.lease is not None and back.lease.hostname == "host7.example"
    for bad in (None, "", "-bad", "a b", "x" * 300, 7):
        doc["lease"]["hostname"] = bad
        with pytest.raises(SnapshotError):
            restore(json.dumps(doc).encode())


def test_unannounced_is_written_only_when_it_holds() -> None:
    """An engine restarted into this code at an upgrade reads what the old one wrote, which
    is what this one writes with nothing unannounced: a downgrade's restart reads it too."""
    doc = bound_doc()
    assert "unannounced" not in doc
    back = restore(encode(doc))
    assert back.state is State.RENEWING and not back._ctx.unannounced


def test_a_first_bind_cut_short_by_a_restart_is_reported_acquired() -> None:
    """The engine restarts while netconf applies a first lease: the new engine verifies
    it, and reports it ACQUIRED, which the old one never did."""
    h = Harness()
    at_requesting_applying(h)
    data = h.client.snapshot()
    assert json.loads(data)["unannounced"] is True
    back = restore(data)
    assert back.state is State.INIT_REBOOT and back._ctx.unannounced
    assert back.snapshot() == data
    [request, _] = back.handle(TimerExpired(h.now))
    assert isinstance(request, Transmit)
    actions = back.handle(MessageReceived(h.now, ack(request.message)))
    if back.state is State.PROBING:
        actions = back.handle(ProbeResult(h.now, ADDRESS, False))
    assert any(isinstance(a, ApplyLease) for a in actions)
    events = [a for a in back.handle(ConfigApplied(h.now)) if isinstance(a, LeaseEvent)]
    assert [e.kind for e in events] == [LeaseEventKind.ACQUIRED]
    assert not back._ctx.unannounced


def test_non_bytes_rejected() -> None:
    with pytest.raises(SnapshotError):
        restore("{}")  # type: ignore[arg-type]


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_only_snapshot_error(data: bytes) -> None:
    try:
        restore(data)
    except SnapshotError:
        pass


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)


@settings(max_examples=examples(300), deadline=None)
@given(st.data())
def test_random_substitutions_only_snapshot_error(data: st.DataObject) -> None:
    doc = bound_doc()
    for _ in range(data.draw(st.integers(1, 3))):
        lease = doc["lease"]
        nested = isinstance(lease, dict) and lease and data.draw(st.booleans())
        target = lease if nested else doc
        key = data.draw(st.sampled_from(sorted(target)))
        target[key] = data.draw(JSON)
    try:
        client = restore(encode(doc))
    except SnapshotError:
        return
    assert isinstance(client.state, State)
    restore(client.snapshot())  # whatever restores, snapshots back restorably
