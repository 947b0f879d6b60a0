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
])
def test_conflicts(frame: bytes, conflict: bool) -> None:
    assert arp.is_conflict(frame, MAC, ADDR) == conflict


@given(st.binary(max_size=80))
def test_any_bytes_are_judged_without_error(data: bytes) -> None:
    assert arp.is_conflict(data, MAC, ADDR) in (True, False)


def test_probe_timing() -> None:
    run = arp.ProbeRun(ADDR, started=100.0)
    sent: list[float] = []
    now = 100.0
    while not run.finished(now):
        assert now < 102, "the probe never finishes"
        if run.due(now):
            sent.append(now)
        now = max(now, run.next_deadline())
    assert sent == pytest.approx([100.0 + i * arp.PROBE_INTERVAL
                                  for i in range(arp.PROBE_COUNT)])
    assert now == pytest.approx(100.0 + (arp.PROBE_COUNT - 1) * arp.PROBE_INTERVAL
                                + arp.LISTEN_WINDOW)


def test_probe_is_short_but_real() -> None:
    total = (arp.PROBE_COUNT - 1) * arp.PROBE_INTERVAL + arp.LISTEN_WINDOW
    assert arp.PROBE_COUNT >= 2
    assert 0.3 <= total <= 2.0
