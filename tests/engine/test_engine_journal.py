"""The status line `systemctl status` and `leaseboxctl status` show (engine.journal)."""

from __future__ import annotations

from ipaddress import IPv4Address

from leasebox.core.log import WARNING
from leasebox.core.machine.types import LeaseEventKind, LinkDown, State
from leasebox.core.record import replace
from leasebox.core.values import INFINITE
from leasebox.engine.journal import counts_seconds, describe, event_text, gateway, status_line
from tests.conftest import Logs
from tests.machine.machine_helpers import Harness, offer


def test_a_kept_lease_shows_while_the_client_looks_for_another() -> None:
    """After a flap whose INIT-REBOOT went unanswered the address stays in use while a
    DISCOVER looks for a server: the status says so, not only that it is looking."""
    h = Harness()
    h.acquire()
    line = status_line(h.state, h.client.lease, True, h.now, h.client.applied)
    assert line.startswith("Bound 192.0.2.")
    h.handle(LinkDown(h.now))
    h.advance(10)
    h.link_up()
    while h.state is State.REBOOTING:
        h.fire()
    assert h.state is State.SELECTING
    line = status_line(h.state, h.client.lease, True, h.now, h.client.applied)
    assert line.startswith("Looking for a DHCP server; keeping 192.0.2.")
    assert line.endswith(" until it expires")


def test_no_lease_no_keeping() -> None:
    h = Harness()
    h.link_up()
    h.fire()
    line = status_line(h.state, h.client.lease, True, h.now, h.client.applied)
    assert line == "Looking for a DHCP server"


def test_a_link_without_a_server_says_how_long_it_has_been_asking(logs: Logs) -> None:
    """No server on the link (a wrong VLAN): "Looking for a DHCP server" alone read the
    same after a second as after ten minutes, and the first journal line came at info
    after ~3 minutes. The status counts the DISCOVERs; the 5th (~60 s) brings a warning,
    once since the last lease or link-up, not every 3 minutes."""
    h = Harness()
    h.link_up()
    h.fire()

    def line() -> str:
        return status_line(h.state, h.client.lease, True, h.now, h.client.applied,
                           h.client.discovers)

    assert line() == "Looking for a DHCP server"
    h.fire()
    assert line() == "Looking for a DHCP server (2 DISCOVERs in 4 s)"
    assert not counts_seconds(line())  # as of the last DISCOVER: sent with it, not each second
    for _ in range(3):
        h.fire()
    assert line().startswith("Looking for a DHCP server (5 DISCOVERs in ")
    [warned] = [r.message for r in logs.at_least(WARNING, "leasebox.core.machine")]
    assert warned.startswith("no usable offer after 4 DISCOVERs in ")
    assert 56 <= int(warned.split(" in ")[1].split(" s:")[0]) <= 64  # 4+8+16+32, +-1 each
    assert "no DHCP server answers on this link" in warned
    for _ in range(7):  # the 6th, the give-up, then the next exchange's 5th: at info
        h.fire()
    assert len(logs.at_least(WARNING, "leasebox.core.machine")) == 1
    # counted since the link came up, not from each round's new exchange
    assert line().startswith("Looking for a DHCP server (11 DISCOVERs in 4 min"), line()
    assert sum("no usable offer after 4 DISCOVERs" in r.message for r in logs.records) == 2
    h.deliver(offer(h.last_sent().message))
    assert line().startswith("Requesting")


def test_an_infinite_lease_is_said_so_not_in_days() -> None:
    """0xffffffff is an infinite lease (RFC 2131 3.3), not "49710 days"."""
    lease = replace(Harness().acquire(), lease_time=INFINITE)
    assert event_text(LeaseEventKind.ACQUIRED, lease, "").endswith(", infinite lease")
    finite = Harness().acquire()
    assert event_text(LeaseEventKind.ACQUIRED, finite, "").endswith(", lease 60 min")


def test_the_gateway_reported_is_the_router_netconf_uses() -> None:
    """A first router off the link is skipped by netconf: the journal, the status and the
    hooks name the one it uses, not the one skipped."""
    lease = Harness().acquire()
    off_first = replace(lease, routers=(IPv4Address("198.51.100.9"), IPv4Address("192.0.2.1")))
    assert gateway(off_first) == "192.0.2.1"
    assert describe(off_first).endswith(" via 192.0.2.1")
    assert gateway(replace(lease, routers=(IPv4Address("198.51.100.9"),))) is None
    assert gateway(replace(lease, routers=(lease.address, IPv4Address("192.0.2.0"),
                                           IPv4Address("192.0.2.254")))) == "192.0.2.254"
    slash32 = replace(lease, prefixlen=32, routers=(IPv4Address("198.51.100.9"),))
    assert gateway(slash32) == "198.51.100.9"  # reached through a host route
    # a /32 lease's own address first: netconf skips it, and so does the report
    own_first = replace(slash32, routers=(lease.address, IPv4Address("198.51.100.9")))
    assert gateway(own_first) == "198.51.100.9"


def test_renewing_says_which_server_is_asked_as_the_journal_does() -> None:
    """'via' is the gateway; the server asked follows 'from', as in 'Acquired ... from'."""
    h = Harness()
    lease = h.acquire()
    while h.state is not State.RENEWING:
        h.fire()
    line = status_line(h.state, h.client.lease, True, h.now, h.client.applied)
    assert line.startswith(f"Renewing {describe(lease)} from {lease.server_id}, rebinds in ")


def test_a_countdown_in_seconds_is_told_from_other_lines() -> None:
    assert counts_seconds("Bound 192.0.2.10/24 via 192.0.2.1, renews in 59 s")
    assert not counts_seconds("Bound 192.0.2.10/24 via 192.0.2.1, renews in 29 min")
    assert not counts_seconds("Bound 192.0.2.10/24, infinite lease")
    assert not counts_seconds("No carrier; keeping 192.0.2.10/24 until it expires")
    assert not counts_seconds("s")
