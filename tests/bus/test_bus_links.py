"""leasebox-bus's bookkeeping (bus.links), driven by a fake clock and fake services."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from leasebox.bus.links import MAX_RETRY, Links, ServicesLost, Target, Want
from leasebox.bus.statefile import StateDir
from leasebox.ipc import Names

A = IPv4Address


class FakeServices:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.down: set[str] = set()

    def _check(self, what: str) -> None:
        if what in self.down:
            raise OSError(f"{what} is not on the bus")

    def set_link(self, ifindex: int, servers: Sequence[IPv4Address],
                 domains: Sequence[str]) -> None:
        self._check("resolved")
        self.calls.append(("set_link", ifindex, tuple(servers), tuple(domains)))

    def revert_link(self, ifindex: int) -> None:
        self._check("resolved")
        self.calls.append(("revert_link", ifindex))

    def set_ntp(self, servers: Sequence[IPv4Address]) -> None:
        self._check("timesyncd")
        self.calls.append(("set_ntp", tuple(servers)))


@pytest.fixture
def fake() -> FakeServices:
    return FakeServices()


def test_delivers_once_and_only_changes(fake: FakeServices) -> None:
    links = Links(fake)
    links.update("eth0", Want(2, Names((A("192.0.2.53"),), ("example.com",), (A("192.0.2.1"),))))
    links.deliver(0.0)
    links.deliver(1.0)
    assert fake.calls == [("set_link", 2, (A("192.0.2.53"),), ("example.com",)),
                          ("set_ntp", (A("192.0.2.1"),))]
    assert links.target_status("eth0", Target.RESOLVED, 1.0) == "applied"
    # NTP unchanged: timesyncd is not called again; DNS changed: resolved is
    links.update("eth0", Want(2, Names((A("192.0.2.54"),), (), (A("192.0.2.1"),))))
    links.deliver(2.0)
    assert fake.calls[2:] == [("set_link", 2, (A("192.0.2.54"),), ())]


class LandsThenTimesOut(FakeServices):
    """resolved carries SetLinkDNS out, but its answer comes too late (a slow or
    restarting resolved): the bus's call fails, resolved holds the servers."""

    def set_link(self, ifindex: int, servers: Sequence[IPv4Address],
                 domains: Sequence[str]) -> None:
        super().set_link(ifindex, servers, domains)
        raise ServicesLost("D-Bus: no answer in time")


def test_dns_a_timed_out_call_may_have_set_is_reverted_when_left() -> None:
    fake = LandsThenTimesOut()
    links = Links(fake)
    links.update("eth0", Want(2, Names((A("192.0.2.53"),))))
    links.deliver(0.0)
    assert fake.calls == [("set_link", 2, (A("192.0.2.53"),), ())]
    links.update("eth0", None)  # the lease goes before a try got its answer
    links.deliver(1.0)
    assert fake.calls[-1] == ("revert_link", 2)
    assert links.owed_reverts() == {} and links.next_deadline() is None


def test_dns_resolved_refused_is_not_reverted_when_left(fake: FakeServices) -> None:
    """A refusal (resolved stopped: not on the bus) set nothing: a link left then owes no
    revert, which would keep the bus up and go to a stale ifindex later."""
    fake.down.add("resolved")
    links = Links(fake)
    links.update("eth0", Want(2, Names((A("192.0.2.53"),))))
    links.deliver(0.0)
    links.update("eth0", None)
    links.deliver(1.0)
    assert links.owed_reverts() == {} and links.next_deadline() is None
    assert fake.calls == []


def test_ntp_is_the_union_of_every_link(fake: FakeServices) -> None:
    links = Links(fake)
    links.update("eth1", Want(3, Names(ntp_servers=(A("192.0.2.2"), A("192.0.2.1")))))
    links.update("eth0", Want(2, Names(ntp_servers=(A("192.0.2.1"),))))
    links.deliver(0.0)
    assert fake.calls == [("set_ntp", (A("192.0.2.1"), A("192.0.2.2")))]
    links.update("eth1", None)
    links.deliver(1.0)
    assert fake.calls[-1] == ("set_ntp", (A("192.0.2.1"),))
    links.update("eth0", None)
    links.deliver(2.0)
    assert fake.calls[-1] == ("set_ntp", ())
    assert not links.wants and not links.pending(Target.TIMESYNCD)


def test_removal_reverts_and_a_new_ifindex_reverts_the_old(fake: FakeServices) -> None:
    links = Links(fake)
    links.update("eth0", Want(2, Names((A("192.0.2.53"),))))
    links.deliver(0.0)
    links.update("eth0", Want(5, Names((A("192.0.2.53"),))))  # the link was re-created
    links.deliver(1.0)
    links.update("eth0", Want(5, Names()))  # all empty: hold nothing
    links.deliver(2.0)
    assert fake.calls == [("set_link", 2, (A("192.0.2.53"),), ()), ("revert_link", 2),
                          ("set_link", 5, (A("192.0.2.53"),), ()), ("revert_link", 5)]
    assert "eth0" not in links.wants


def test_failures_back_off_and_a_returning_service_ends_the_wait(fake: FakeServices) -> None:
    links = Links(fake)
    fake.down.add("resolved")
    links.update("eth0", Want(2, Names((A("192.0.2.53"),), (), (A("192.0.2.1"),))))
    links.deliver(0.0)
    # timesyncd took its part; resolved's waits, and its backoff doubles up to a bound
    assert fake.calls == [("set_ntp", (A("192.0.2.1"),))]
    assert links.target_status("eth0", Target.TIMESYNCD, 0.0) == "applied"
    assert links.target_status("eth0", Target.RESOLVED, 0.0).startswith(
        "pending: resolved is not on the bus; next try in 1 s")
    now, delays = 0.0, []
    for _ in range(10):
        deadline = links.next_deadline()
        assert deadline is not None
        delays.append(deadline - now)
        now = deadline
        links.deliver(now)
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60] and MAX_RETRY == 60
    fake.down.clear()
    links.owner_changed(Target.RESOLVED, True, now + 1)
    links.deliver(now + 1)
    assert fake.calls[-1] == ("set_link", 2, (A("192.0.2.53"),), ())
    assert links.next_deadline() is None


def test_a_restarted_timesyncd_gets_the_servers_again(fake: FakeServices) -> None:
    links = Links(fake)
    links.update("eth0", Want(2, Names(ntp_servers=(A("192.0.2.1"),))))
    links.deliver(0.0)
    links.owner_changed(Target.TIMESYNCD, False, 1.0)  # it left: nothing to try yet
    links.deliver(1.0)
    assert links.next_deadline() == 2.0
    links.owner_changed(Target.TIMESYNCD, True, 1.5)
    links.deliver(1.5)
    assert fake.calls == [("set_ntp", (A("192.0.2.1"),))] * 2
    # a restarted resolved keeps what it was told: nothing is resent
    links.owner_changed(Target.RESOLVED, True, 2.0)
    links.deliver(2.0)
    assert len(fake.calls) == 2


def test_a_lost_bus_connection_gives_timesyncd_its_servers_again(fake: FakeServices) -> None:
    """While the connection was down a timesyncd restart went unseen: once reconnected (at
    the backoff), its servers go again; resolved, which keeps what it was told, is not
    called."""
    links = Links(fake)
    links.update("eth0", Want(2, Names((A("192.0.2.53"),), (), (A("192.0.2.1"),))))
    links.deliver(0.0)
    links.connection_lost(1.0, "lost the system bus: EOF")
    assert links.pending(Target.TIMESYNCD) and links.next_deadline() == 2.0
    links.deliver(2.0)
    assert fake.calls[2:] == [("set_ntp", (A("192.0.2.1"),))]
    assert not links.pending(Target.TIMESYNCD) and not links.pending(Target.RESOLVED)


def test_a_hung_resolved_costs_one_wait_a_round_and_keeps_its_backoff() -> None:
    """Each call to a hung resolved waits its time limit: the round ends at the first, not
    link after link (six links were 30 s, WatchdogSec=); and a reconnection after it does
    not start the backoff over."""
    class Hung(FakeServices):
        def set_link(self, ifindex: int, servers: Sequence[IPv4Address],
                     domains: Sequence[str]) -> None:
            self.calls.append(("set_link", ifindex))
            raise ServicesLost("D-Bus: no answer in time")

    hung = Hung()
    links = Links(hung)
    for i in range(6):
        links.update(f"eth{i}", Want(2 + i, Names((A("192.0.2.53"),))))
    links.deliver(0.0)
    assert hung.calls == [("set_link", 2)]
    assert links.resolved_todo == {f"eth{i}" for i in range(6)}
    first = links.next_deadline()
    assert first is not None
    links.owner_changed(Target.RESOLVED, True, 0.5, reconnected=True)
    assert links.next_deadline() == first  # not at once
    links.deliver(first)
    links.owner_changed(Target.RESOLVED, True, first + 0.1, reconnected=True)
    second = links.next_deadline()
    assert second is not None and second > first + 2 * 0.9  # it doubled
    links.owner_changed(Target.RESOLVED, True, first + 0.2)  # a new resolved: at once
    assert links.next_deadline() == first + 0.2


@pytest.mark.parametrize("timesyncd_back", [True, False])
def test_a_lost_connection_keeps_an_ntp_revert_owed(fake: FakeServices,
                                                    timesyncd_back: bool) -> None:
    """The link left while timesyncd was away, then the connection broke: its servers must
    still be taken back, not forgotten as 'unknown'. Unless timesyncd is not on the bus
    when the connection comes back: it holds none of leasebox's servers, and the take-back
    kept the bus from its idle exit until timesyncd came back, maybe never (masked)."""
    links = Links(fake)
    links.update("eth0", Want(2, Names(ntp_servers=(A("192.0.2.1"),))))
    links.deliver(0.0)
    fake.down.add("timesyncd")
    links.update("eth0", None)
    links.deliver(1.0)
    assert links.pending(Target.TIMESYNCD)
    links.connection_lost(1.5, "lost the system bus: EOF")
    links.owner_changed(Target.TIMESYNCD, timesyncd_back, 1.6, reconnected=True)
    if not timesyncd_back:
        assert not links.pending(Target.TIMESYNCD) and links.next_deadline() is None
        return
    assert links.pending(Target.TIMESYNCD)
    fake.down.clear()
    deadline = links.next_deadline()
    assert deadline is not None
    links.deliver(deadline)
    assert fake.calls[-1] == ("set_ntp", ())


class LateTimesyncd(FakeServices):
    """timesyncd carries each call out, but its answer comes too late while `late`."""

    late = False

    def set_ntp(self, servers: Sequence[IPv4Address]) -> None:
        super().set_ntp(servers)
        if self.late:
            raise ServicesLost("D-Bus: no answer in time")


def test_timesyncd_told_in_doubt_is_told_again_even_nothing() -> None:
    """A call to timesyncd that went unanswered may have been carried out: what it holds
    is not known, and it is told again whatever is wanted then. Before, its servers stayed
    with timesyncd when the lease went before the retry (it kept polling the old network's
    server, never falling back to Debian's pool), and a take-back unanswered kept the
    lease's servers from it when the same lease came back."""
    late = LateTimesyncd()
    links = Links(late)
    ntp = Want(2, Names(ntp_servers=(A("192.0.2.1"),)))
    late.late = True
    links.update("eth0", ntp)
    links.deliver(0.0)
    late.late = False
    links.update("eth0", None)  # released before the retry
    assert links.pending(Target.TIMESYNCD)
    links.deliver(10.0)
    assert late.calls == [("set_ntp", (A("192.0.2.1"),)), ("set_ntp", ())]
    # the reverse: delivered, its take-back unanswered, and the same lease back
    links.update("eth0", ntp)
    links.deliver(20.0)
    late.late = True
    links.update("eth0", None)
    links.deliver(21.0)
    late.late = False
    links.update("eth0", ntp)
    assert links.pending(Target.TIMESYNCD)
    links.deliver(30.0)
    assert late.calls[-1] == ("set_ntp", (A("192.0.2.1"),))
    assert not links.pending(Target.TIMESYNCD)


def test_an_unseen_timesyncd_is_told_even_nothing(fake: FakeServices) -> None:
    """A restarted leasebox-bus resumes a link with NTP (an earlier one may have handed it
    on), or the bus connection broke (a timesyncd restart went unseen): the link leaving
    before the servers go again still takes them back."""
    ntp = Want(2, Names(ntp_servers=(A("192.0.2.1"),)))
    resumed = Links(fake)
    resumed.resume("eth0", ntp)
    resumed.update("eth0", None)
    assert resumed.pending(Target.TIMESYNCD)
    resumed.deliver(0.0)
    assert fake.calls == [("set_ntp", ())]
    lost = Links(fake)
    lost.update("eth0", ntp)
    lost.deliver(1.0)
    lost.connection_lost(2.0, "lost the system bus: EOF")
    lost.update("eth0", None)
    assert lost.pending(Target.TIMESYNCD)
    lost.deliver(10.0)
    assert fake.calls[-1] == ("set_ntp", ())
    assert not lost.pending(Target.TIMESYNCD)


def test_nothing_held_means_nothing_called(fake: FakeServices) -> None:
    links = Links(fake)
    links.update("eth0", Want(2, Names()))
    links.deliver(0.0)
    assert fake.calls == [] and links.next_deadline() is None
    assert links.summary(0.0) == "links: none"


class RefusingOne(FakeServices):
    """resolved refuses one ifindex (a link it no longer knows), as org.freedesktop.resolve1
    answers NoSuchLink; every other call goes through."""

    def __init__(self, refused: int) -> None:
        super().__init__()
        self.refused = refused

    def set_link(self, ifindex: int, servers: Sequence[IPv4Address],
                 domains: Sequence[str]) -> None:
        if ifindex == self.refused:
            raise OSError(f"Link {ifindex} not known")
        super().set_link(ifindex, servers, domains)


def test_a_link_resolved_refuses_does_not_hold_up_the_others() -> None:
    fake = RefusingOne(7)
    links = Links(fake)
    links.update("eth0", Want(7, Names((A("192.0.2.53"),))))  # unplugged: an old ifindex
    links.update("wlan0", Want(3, Names((A("198.51.100.53"),))))
    links.deliver(0.0)
    assert fake.calls == [("set_link", 3, (A("198.51.100.53"),), ())]
    assert links.target_status("wlan0", Target.RESOLVED, 0.0) == "applied"
    assert links.target_status("eth0", Target.RESOLVED, 0.0) == (
        "pending: Link 7 not known; next try in 1 s")
    # wlan0's next change goes at once, not at eth0's next try, eth0 tried with it; and
    # its status is its own, not eth0's error
    links.update("wlan0", Want(3, Names((A("198.51.100.54"),))))
    assert links.target_status("wlan0", Target.RESOLVED, 0.1) == "pending"
    links.deliver(0.1)
    assert fake.calls[-1] == ("set_link", 3, (A("198.51.100.54"),), ())
    assert links.resolved_todo == {"eth0"} and links.next_deadline() == pytest.approx(2.1)
    links.deliver(2.1)
    assert links.next_deadline() == pytest.approx(6.1)
    # the link comes back under a new ifindex: delivered, and nothing is left to do
    links.update("eth0", Want(9, Names((A("192.0.2.53"),))))
    links.deliver(3.0)
    assert fake.calls[-1] == ("set_link", 9, (A("192.0.2.53"),), ())
    assert links.next_deadline() is None
    assert links.target_status("eth0", Target.RESOLVED, 3.0) == "applied"


def test_a_service_away_when_a_link_is_handed_on_says_so_at_once(
        fake: FakeServices) -> None:
    """resolved and timesyncd both away at the bus's start (a backoff begun, nothing held
    yet), then a link's DNS and NTP: both are tried at the next round, and both say why
    they wait; timesyncd's status said nothing until the end of its backoff."""
    links = Links(fake)
    fake.down.update({"resolved", "timesyncd"})
    for target in Target:
        links.owner_changed(target, False, 0.0, reconnected=True)
    links.deliver(0.5)  # nothing pending: nothing to say
    links.update("eth0", Want(2, Names((A("192.0.2.53"),), (), (A("192.0.2.123"),))))
    links.deliver(0.6)
    summary = links.summary(0.6)
    assert "systemd-resolved pending" in summary and "systemd-timesyncd pending" in summary


@pytest.mark.parametrize("order", ["new first", "together"])
def test_a_link_renamed_keeps_its_dns_under_the_new_name(fake: FakeServices,
                                                         order: str) -> None:
    """leasebox on both names of a link renamed (wan0 -> lan0, ifindex 3): netconf@wan0
    hands nothing on, netconf@lan0 the DNS. The revert for wan0 took lan0's DNS away from
    resolved, whose file still said applied."""
    links = Links(fake)
    links.update("wan0", Want(3, Names((A("192.0.2.53"),))))
    links.deliver(0.0)
    lan = Want(3, Names((A("198.51.100.53"),)))
    if order == "new first":
        links.update("lan0", lan)
        links.deliver(1.0)
        links.update("wan0", None)
    else:
        links.update("wan0", None)
        links.update("lan0", lan)
    links.deliver(2.0)
    assert ("revert_link", 3) not in fake.calls
    assert fake.calls[-1] == ("set_link", 3, (A("198.51.100.53"),), ())
    assert links.target_status("lan0", Target.RESOLVED, 2.0) == "applied"
    assert links.owed_reverts() == {}


def test_a_renamed_links_dns_refused_under_the_new_name_is_still_taken_back() -> None:
    """The revert for the old name skipped, and resolved refusing the new name's: what it
    holds from the old name is the new name's to take back, when that one is left."""
    fake = RefusingOne(3)
    links = Links(fake)
    links.resume("wan0", Want(3, Names((A("192.0.2.53"),))))  # held before (a restart)
    links.update("wan0", None)
    links.update("lan0", Want(3, Names((A("198.51.100.53"),))))
    links.deliver(0.0)
    assert fake.calls == [] and links.resolved_has["lan0"][0] == 3
    links.update("lan0", None)
    assert links.owed_reverts() == {"lan0": 3}
    links.deliver(10.0)
    assert fake.calls == [("revert_link", 3)]


def test_each_links_status_says_its_own_reason() -> None:
    """One link refused, then resolved gone: every link waits for the same reason; a link
    changed since its last try is pending, not failed for its old reason."""
    fake = RefusingOne(7)
    links = Links(fake)
    links.update("eth0", Want(7, Names((A("192.0.2.53"),))))
    links.deliver(0.0)
    assert "Link 7 not known" in links.target_status("eth0", Target.RESOLVED, 0.0)
    links.update("eth0", Want(7, Names((A("192.0.2.54"),))))
    assert links.target_status("eth0", Target.RESOLVED, 0.0) == "pending"
    links.owner_changed(Target.RESOLVED, False, 0.5)
    links.update("wlan0", Want(3, Names((A("198.51.100.53"),))))
    for name in ("eth0", "wlan0"):
        assert links.target_status(name, Target.RESOLVED, 0.5).startswith(
            "pending: systemd-resolved is not on the bus")


def test_dns_given_up_for_ntp_alone_is_reverted(fake: FakeServices) -> None:
    """UseDNS=no and UseDomains=no since the last lease, NTP still used: resolved must not
    go on with the old servers."""
    links = Links(fake)
    links.update("eth0", Want(2, Names((A("192.0.2.53"),), ("example.com",), (A("192.0.2.1"),))))
    links.deliver(0.0)
    links.update("eth0", Want(2, Names(ntp_servers=(A("192.0.2.1"),))))
    links.deliver(1.0)
    assert fake.calls[2:] == [("revert_link", 2)]
    assert links.target_status("eth0", Target.RESOLVED, 1.0) == "not used"
    assert links.target_status("eth0", Target.TIMESYNCD, 1.0) == "applied"


def test_a_held_link_from_the_state_file_is_reverted_when_left(fake: FakeServices) -> None:
    """After a restart of leasebox-bus while resolved was away, the link is left before
    anything was delivered again: resolved still holds the DNS it was told before."""
    links = Links(fake)
    fake.down.add("resolved")
    links.resume("eth0", Want(2, Names((A("192.0.2.53"),))))
    links.deliver(0.0)
    links.update("eth0", None)
    fake.down.clear()
    links.owner_changed(Target.RESOLVED, True, 0.5)
    links.deliver(0.5)
    assert fake.calls == [("revert_link", 2)]
    assert links.next_deadline() is None


def test_a_revert_owed_outlives_a_restart_of_the_bus(fake: FakeServices, tmp_path: Path) -> None:
    """A link left while resolved is away: the revert is owed. leasebox-bus restarted then
    (an upgrade's try-restart, a crash) read no file for the link and never reverted it,
    so resolved kept the old DNS until the next boot."""
    state = StateDir(str(tmp_path))
    links = Links(fake)
    links.update("eth0", Want(2, Names((A("192.0.2.53"),), ("example.com",))))
    links.deliver(0.0)
    fake.down.add("resolved")
    links.update("eth0", None)
    links.deliver(1.0)
    state.save(links, 1.0)
    assert (tmp_path / "eth0.revert").read_text() == "2\n"
    assert state.load() == ({}, [])  # no link held
    # the restarted bus
    again = Links(fake)
    owed, errors = state.load_reverts()
    assert (owed, errors) == ({"eth0": 2}, [])
    for name, ifindex in owed.items():
        again.resume_revert(name, ifindex)
    fake.down.clear()
    again.deliver(2.0)
    assert fake.calls[-1] == ("revert_link", 2)
    state.save(again, 2.0)
    assert not (tmp_path / "eth0.revert").exists()


def test_a_file_that_would_not_change_is_not_written_again(
        fake: FakeServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop saves after each turn, the watchdog's every 15 s among them: each link's
    file was written (two fsyncs) ~5,800 times a day with nothing changed."""
    from leasebox.runtime import atomicfile
    writes: list[str] = []
    real = atomicfile.write_atomic

    def counted(directory: str, name: str, data: bytes, **kw: object) -> None:
        writes.append(name)
        real(directory, name, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(atomicfile, "write_atomic", counted)
    state = StateDir(str(tmp_path))
    links = Links(fake)
    links.update("eth0", Want(2, Names((A("192.0.2.53"),), ("example.com",))))
    links.deliver(0.0)
    for now in (1.0, 16.0, 31.0):
        state.save(links, now)
    assert writes == ["eth0.json"]
    links.update("eth0", Want(2, Names((A("192.0.2.54"),), ("example.com",))))
    links.deliver(32.0)
    state.save(links, 32.0)
    assert writes == ["eth0.json"] * 2
    assert "192.0.2.54" in (tmp_path / "eth0.json").read_text()
    (tmp_path / "eth0.json").unlink()  # (only root could; a link let go writes nothing)
    links.update("eth0", None)
    links.deliver(33.0)
    state.save(links, 33.0)
    links.update("eth0", Want(2, Names((A("192.0.2.54"),), ("example.com",))))
    links.deliver(34.0)
    state.save(links, 34.0)  # held again: written again, though the same as before
    assert writes == ["eth0.json"] * 3 and (tmp_path / "eth0.json").exists()


def test_one_file_that_cannot_be_written_stops_no_other(
        fake: FakeServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full /run: the first link file that could not be written ended the whole save,
    so a left link's file stayed and its owed revert was not written; a restart then gave
    resolved the left link's DNS again."""
    from leasebox.runtime import atomicfile

    state = StateDir(str(tmp_path))
    links = Links(fake)
    for name, index in (("eth0", 2), ("eth1", 3)):
        links.update(name, Want(index, Names((A("192.0.2.53"),))))
    links.deliver(0.0)
    state.save(links, 0.0)
    fake.down.add("resolved")
    links.update("eth0", None)  # left while resolved is away: a revert owed
    links.update("eth1", Want(3, Names((A("192.0.2.54"),))))
    links.deliver(1.0)
    real = atomicfile.write_atomic

    def full(directory: str, name: str, data: bytes, mode: int = 0o644) -> None:
        if name == "eth1.json":
            raise OSError(28, "No space left on device")
        real(directory, name, data, mode=mode)

    monkeypatch.setattr(atomicfile, "write_atomic", full)
    with pytest.raises(OSError, match="No space"):
        state.save(links, 1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eth0.revert", "eth1.json"]


@pytest.mark.parametrize("content", ["", "0\n", "-3\n", "x\n", "99999999999\n"])
def test_an_owed_revert_file_that_is_not_one_is_reported(tmp_path: Path, content: str) -> None:
    (tmp_path / "eth0.revert").write_text(content)
    owed, [error] = StateDir(str(tmp_path)).load_reverts()
    assert owed == {} and error.startswith(str(tmp_path / "eth0.revert"))


def test_a_link_whose_file_cannot_be_read_is_taken_back_when_left(
        fake: FakeServices, tmp_path: Path) -> None:
    """A restarted leasebox-bus that could not read a link's file (a transient error, a
    torn file) only reported it; its next save deleted the file, and when the link was
    left nothing reverted the DNS resolved still had for it. Not reverted at once either:
    netconf may still want that DNS, and sends nothing until it changes."""
    from leasebox.bus.main import _resume
    from leasebox.core.log import Logger

    (tmp_path / "eth6.json").write_text("{")
    (tmp_path / "gone0.json").write_text("{")  # a link that is gone: nothing to take back
    state = StateDir(str(tmp_path))
    links = Links(fake)

    def ifindex(name: str) -> int:
        if name == "gone0":
            raise OSError(19, "No such device")
        return 7

    _resume(state, links, Logger("test"), ifindex)
    links.deliver(0.0)
    assert fake.calls == []  # the link's DNS stays with resolved while netconf wants it
    state.save(links, 0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eth6.json"]  # kept, as evidence
    links.update("eth6", None)  # netconf: nothing for the link any more
    links.deliver(1.0)
    assert fake.calls == [("revert_link", 7)]
    state.save(links, 1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_unreadable_link_file_handed_ntp_only_is_reverted_too(
        fake: FakeServices, tmp_path: Path) -> None:
    """Handed NTP servers and no DNS (UseDNS=no since, or DNS gone to a file), the link
    with an unreadable file kept our old DNS at resolved, and lost it for good once its
    file was rewritten clean."""
    from leasebox.bus.main import _resume
    from leasebox.core.log import Logger

    (tmp_path / "eth6.json").write_text("{")
    state = StateDir(str(tmp_path))
    links = Links(fake)
    _resume(state, links, Logger("test"), lambda name: 7)
    links.update("eth6", Want(7, Names(ntp_servers=(A("192.0.2.123"),))))
    links.deliver(0.0)
    assert ("revert_link", 7) in fake.calls


def test_a_fifo_or_a_link_in_a_files_place_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """The directory outlives leasebox-bus: a FIFO left where a link's file or an owed
    revert belongs held every later one at its start; a link there was followed."""
    import os

    os.mkfifo(tmp_path / "eth0.json")
    os.mkfifo(tmp_path / "eth0.revert")
    (tmp_path / "elsewhere").write_text("2\n")
    (tmp_path / "eth1.revert").symlink_to(tmp_path / "elsewhere")
    state = StateDir(str(tmp_path))
    wants, errors = state.load()
    assert wants == {} and len(errors) == 1 and "eth0.json" in errors[0]
    owed, errors = state.load_reverts()
    assert owed == {} and len(errors) == 2


@pytest.mark.parametrize("args", [[], ["eth0"]])
def test_a_unit_mistake_exits_78(tmp_path: Path, args: list[str]) -> None:
    """No socket handed in, or an interface name (leasebox-bus serves every link): the
    unit is wrong, and a restart would fail the same way, so 78 (EX_CONFIG) stops it
    (RestartPreventExitStatus=) rather than 1, which systemd retries to its start limit."""
    src = Path(__file__).resolve().parents[2] / "src"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "NOTIFY_"))}
    env["PYTHONPATH"] = str(src)
    proc = subprocess.run([sys.executable, "-m", "leasebox.bus.main", "--state-dir",
                           str(tmp_path / "links"), *args], env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 78, proc.stderr
    assert "Traceback" not in proc.stderr
