"""ARP probe frames, conflict detection and the probe's timing, without sockets."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.l2 import ARP, Ether

from leasebox.io import arp

MAC = bytes.fromhex("020000001001")
OTHER = "02:00:00:00:10:99"
ADDR = IPv4Address("192.0.2.10")


def test_probe_frame_is_an_rfc5227_probe() -> None:
    pkt = Ether(arp.probe_frame(MAC, ADDR))
    assert pkt.dst == "ff:ff:ff:ff:ff:ff"
    assert pkt.src == "02:00:00:00:10:01"
    a = pkt[ARP]
    assert (a.hwtype, a.ptype, a.hwlen, a.plen, a.op) == (1, 0x0800, 6, 4, 1)
    assert (a.hwsrc, a.psrc, a.hwdst, a.pdst) == (
        "02:00:00:00:10:01", "0.0.0.0", "00:00:00:00:00:00", str(ADDR))
    assert len(arp.probe_frame(MAC, ADDR)) == arp.ARP_FRAME


def _frame(op: int, hwsrc: str, psrc: str, pdst: str) -> bytes:
    return bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=hwsrc) /
                 ARP(op=op, hwsrc=hwsrc, psrc=psrc, pdst=pdst))


@pytest.mark.parametrize(("frame", "conflict"), [
    (_frame(2, OTHER, str(ADDR), "192.0.2.1"), True),  # a reply from the owner
    (_frame(1, OTHER, str(ADDR), "192.0.2.1"), True),  # a request from the owner
    (_frame(1, OTHER, "0.0.0.0", str(ADDR)), True),  # another host probing for it
    (_frame(1, OTHER, "192.0.2.11", str(ADDR)), False),  # someone asking who has it
    (_frame(2, "02:00:00:00:10:01", str(ADDR), "192.0.2.1"), False),  # ourselves
    (_frame(1, "02:00:00:00:10:01", "0.0.0.0", str(ADDR)), False),  # our own probe
    (_frame(3, OTHER, str(ADDR), "192.0.2.1"), False),  # RARP
    (_frame(2, OTHER, str(ADDR), "192.0.2.1")[:41], False),  # truncated
    # a reply to our probe comes unicast, and counts
    (bytes(Ether(dst="02:00:00:00:10:01", src=OTHER) /
           ARP(op=2, hwsrc=OTHER, psrc=str(ADDR), pdst="0.0.0.0")), True),
    # a switch's unicast liveness probe for the address (Cisco IP device tracking)
    (bytes(Ether(dst="02:00:00:00:10:01", src=OTHER) /
           ARP(op=1, hwsrc=OTHER, psrc="0.0.0.0", pdst=str(ADDR))), False),
    # a probe whose Ethernet source is not its sender (a device's forwarding bug)
    (bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:10:98") /
           ARP(op=1, hwsrc=OTHER, psrc="0.0.0.0", pdst=str(ADDR))), False),
])
def test_conflicts(frame: bytes, conflict: bool) -> None:
    assert arp.is_conflict(frame, MAC, ADDR) == conflict


@given(st.binary(max_size=80))
def test_any_bytes_are_judged_without_error(data: bytes) -> None:
    assert arp.is_conflict(data, MAC, ADDR) in (True, False)


def _schedule(run: arp.ProbeRun, start: float) -> tuple[list[float], float]:
    """Drive `run` as the loop does: the probe times, and when it finished."""
    sent: list[float] = []
    now = start
    while not run.finished(now):
        assert now < start + 10, "the probe never finishes"
        if run.due(now):
            sent.append(now)
            run.sent(now, True)
        now = max(now, run.next_deadline())
    return sent, now


def test_a_loop_held_up_still_spaces_the_probes() -> None:
    """io held up past every probe's time (a busy engine, a paused VM): the probes went
    out in three turns of the loop at once and the address was free with no time for an
    answer. Each wait counts from the probe before."""
    run = arp.ProbeRun.fast(ADDR, 100.0)
    now = 105.0
    assert run.due(now)
    run.sent(now, True)
    assert not run.due(now) and not run.finished(now)
    sent, end = _schedule(run, now)
    assert sent == pytest.approx([105.0 + i * arp.PROBE_INTERVAL
                                  for i in range(1, arp.PROBE_COUNT)])
    assert end == pytest.approx(sent[-1] + arp.LISTEN_WINDOW)


def test_a_probe_not_sent_is_not_counted_and_tried_again() -> None:
    run = arp.ProbeRun.fast(ADDR, 100.0)
    for n in range(arp.MAX_SEND_FAILURES):
        assert run.due(100.0 + n * arp.SEND_RETRY) and not run.given_up
        run.sent(100.0 + n * arp.SEND_RETRY, False)
        assert run.count == 0 and not run.finished(1000.0)
    assert run.given_up and not run.due(1000.0)
    # one failure, then the sends work: three probes all the same
    run = arp.ProbeRun.fast(ADDR, 100.0)
    run.sent(100.0, False)
    assert run.next_deadline() == pytest.approx(100.0 + arp.SEND_RETRY)
    sent, _ = _schedule(run, 100.0)
    assert len(sent) == arp.PROBE_COUNT and run.count == arp.PROBE_COUNT


def test_fast_probe_timing() -> None:
    sent, end = _schedule(arp.ProbeRun.fast(ADDR, 100.0), 100.0)
    assert sent == pytest.approx([100.0 + i * arp.PROBE_INTERVAL
                                  for i in range(arp.PROBE_COUNT)])
    assert end == pytest.approx(100.0 + (arp.PROBE_COUNT - 1) * arp.PROBE_INTERVAL
                                + arp.LISTEN_WINDOW)


def test_fast_probe_is_short_but_real() -> None:
    total = (arp.PROBE_COUNT - 1) * arp.PROBE_INTERVAL + arp.LISTEN_WINDOW
    assert arp.PROBE_COUNT >= 2
    assert 0.3 <= total <= 2.0


@pytest.mark.parametrize(("draw", "spacing", "end"), [
    (0.0, [0.0, 1.0, 2.0], 4.0),  # every random draw at its low end: 4 s in all
    (1.0, [1.0, 3.0, 5.0], 7.0),  # at its high end: 7 s
])
def test_rfc5227_probe_timing(draw: float, spacing: list[float], end: float) -> None:
    # RFC 5227 2.1.1: PROBE_WAIT, then PROBE_NUM probes PROBE_MIN..PROBE_MAX apart, then
    # ANNOUNCE_WAIT. `draw` places every random number at one end of its range.
    def uniform(low: float, high: float) -> float:
        return low + (high - low) * draw

    sent, finished = _schedule(arp.ProbeRun.rfc5227(ADDR, 100.0, uniform), 100.0)
    assert sent == pytest.approx([100.0 + t for t in spacing])
    assert finished == pytest.approx(100.0 + end)


def test_announcement_is_an_rfc5227_announcement() -> None:
    pkt = Ether(arp.announce_frame(MAC, ADDR))
    assert pkt.dst == "ff:ff:ff:ff:ff:ff"
    a = pkt[ARP]
    assert (a.hwtype, a.ptype, a.hwlen, a.plen, a.op) == (1, 0x0800, 6, 4, 1)
    assert (a.hwsrc, a.psrc, a.hwdst, a.pdst) == (
        "02:00:00:00:10:01", str(ADDR), "00:00:00:00:00:00", str(ADDR))
    # our own announcement is neither a conflict nor a claim
    assert not arp.claims(arp.announce_frame(MAC, ADDR), MAC, ADDR)
    assert arp.claims(arp.announce_frame(bytes.fromhex("020000001099"), ADDR), MAC, ADDR)


@pytest.mark.parametrize(("frame", "claim"), [
    (_frame(2, OTHER, str(ADDR), "192.0.2.1"), True),  # a reply from another owner
    (_frame(1, OTHER, str(ADDR), "192.0.2.1"), True),  # a request from another owner
    (_frame(1, OTHER, str(ADDR), str(ADDR)), True),  # another host announcing it
    (_frame(1, OTHER, "0.0.0.0", str(ADDR)), False),  # a probe: the kernel answers it
    (_frame(1, OTHER, "192.0.2.11", str(ADDR)), False),  # someone asking for us
    (_frame(2, "02:00:00:00:10:01", str(ADDR), "192.0.2.1"), False),  # ourselves
    (_frame(3, OTHER, str(ADDR), "192.0.2.1"), False),  # RARP
    (_frame(2, OTHER, str(ADDR), "192.0.2.1")[:41], False),  # truncated
])
def test_claims_while_bound(frame: bytes, claim: bool) -> None:
    assert arp.claims(frame, MAC, ADDR) == claim


@given(st.binary(max_size=80))
def test_any_bytes_are_judged_as_claims_without_error(data: bytes) -> None:
    assert arp.claims(data, MAC, ADDR) in (True, False)


def test_guard_announces_at_the_rfc_interval() -> None:
    guard = arp.GuardRun(ADDR, left=2, next_at=10.0)
    assert not guard.due(9.9)
    assert guard.due(10.0)
    assert guard.next_deadline() == pytest.approx(10.0 + arp.ANNOUNCE_INTERVAL)
    assert not guard.due(11.0)
    assert guard.due(12.0)
    assert guard.next_deadline() is None
    assert not guard.due(100.0)
