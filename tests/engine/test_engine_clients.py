"""The control socket's slots and rate limits (engine.clients), with a fake clock: security
hardening item 6 (idle connections locked root out; renew ran 300 times in 0.3 s)."""

from __future__ import annotations

from leasebox.engine.clients import BURST, IDLE, MAX_CLIENTS, PER_USER, WINDOW, Clients, Rate


def test_per_user_slots_and_root_always_gets_in() -> None:
    c: Clients[str] = Clients()
    for i in range(PER_USER):
        assert c.admit(f"u{i}", 1000, now=float(i)) == (True, None, "")
    assert c.admit("u-extra", 1000, now=5.0) == (False, None, "too many connections from uid 1000")
    uid = 2000
    while len(c.clients) < MAX_CLIENTS:
        c.admit(f"x{len(c.clients)}", uid, now=10.0)
        uid += 1
    assert c.admit("late", 9999, now=11.0) == (False, None, "too many clients")
    # root: the longest idle connection of another user makes room
    assert c.admit("root", 0, now=12.0) == (True, "u0", "")
    assert "u0" not in c.clients and "root" in c.clients


def test_users_not_told_apart_are_not_one_user() -> None:
    """Under PrivateUsers=yes every ControlGroup= member is uid 65534 to the engine: one
    allowance of PER_USER for them all, and one member's poller locked every other out
    with "too many connections from uid 65534". They share the whole socket now."""
    c: Clients[str] = Clients()
    for i in range(MAX_CLIENTS):
        assert c.admit(f"m{i}", None, now=float(i)) == (True, None, ""), i
    assert c.admit("late", None, now=20.0) == (False, None, "too many clients")
    assert c.admit("root", 0, now=21.0) == (True, "m0", "")  # root still gets in
    assert c.admit("other", 1000, now=22.0) == (False, None, "too many clients")
    c.drop("m1")
    assert c.admit("again", None, now=23.0) == (True, None, "")


def test_idle_connections_are_closed_unless_awaiting_an_answer() -> None:
    c: Clients[str] = Clients()
    c.admit("a", 1000, now=0.0)
    c.admit("b", 1001, now=0.0)
    c.admit("c", 1002, now=0.0)
    c.seen("b", now=5.0)
    assert c.next_deadline() == IDLE
    assert c.idle(now=IDLE, busy={"c"}) == ["a"]
    assert sorted(c.clients) == ["b", "c"]
    assert c.idle(now=5.0 + IDLE) == ["b", "c"]


def test_rate_allows_a_burst_then_says_when() -> None:
    r = Rate()
    assert [r.allow(100.0 + i * 0.1) for i in range(BURST)] == [0.0] * BURST
    wait = r.allow(100.5)
    assert 0 < wait <= WINDOW
    assert r.allow(100.0 + WINDOW) == 0.0  # the first one has left the window
