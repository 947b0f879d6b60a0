"""The BPF programs, run by the kernel on a veth pair in a fresh namespace."""

from __future__ import annotations

import errno
import select
import socket
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from leasebox.io import bpf
from leasebox.io.sockets import drain, listen, open_packet
from tests.io.iolab import Veth, in_netns, needs_root

pytestmark = [needs_root, pytest.mark.root]


def _sender(v: Veth) -> socket.socket:
    sock = in_netns(v.netns, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    sock.bind((v.peer, 0))
    return sock


def _collect(sock: socket.socket, until: bytes, settle: float = 0.2) -> list[bytes]:
    """Frames received until one containing `until` has arrived, plus `settle` seconds."""
    frames: list[bytes] = []
    deadline = time.monotonic() + 3
    seen_at: float | None = None
    while time.monotonic() < deadline and (seen_at is None or time.monotonic() < seen_at + settle):
        ready, _, _ = select.select([sock], [], [], 0.05)
        if ready:
            frame = sock.recv(65536)
            frames.append(frame)
            if until in frame and seen_at is None:
                seen_at = time.monotonic()
    return frames


def _udp(v: Veth, dport: int, marker: bytes, ihl_options: bool = False) -> bytes:
    ip = IP(src="192.0.2.1", dst="255.255.255.255", options=b"\x01\x01\x01\x00"
            if ihl_options else [])
    return bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=v.peer_mac) / ip /
                 UDP(sport=67, dport=dport) / Raw(marker + b"\0" * 300))


def test_dhcp_filter_passes_only_udp_to_port_68(veth: Veth) -> None:
    recv = in_netns(veth.netns, lambda: open_packet(veth.io, bpf.DHCP_PROGRAM, bpf.ETH_P_IP))
    send = _sender(veth)
    eth = Ether(dst="ff:ff:ff:ff:ff:ff", src=veth.peer_mac)
    big = IP(src="192.0.2.1", dst="255.255.255.255") / UDP(sport=67, dport=68) / Raw(
        b"FRAGMENTED" + b"\0" * 2000)
    fragments = fragment(big, fragsize=1000)  # type: ignore[no-untyped-call]
    assert len(fragments) == 3
    bad = [
        _udp(veth, 67, b"TO-PORT-67"),
        bytes(eth / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=67, dport=68) /
              Raw(b"TCP")),
        *(bytes(eth / frag) for frag in fragments),
        bytes(eth / ARP(op=1, hwsrc=veth.peer_mac, psrc="192.0.2.1", pdst="192.0.2.2")),
    ]
    good = [_udp(veth, 68, b"GOOD-ONE"), _udp(veth, 68, b"GOOD-OPTS", ihl_options=True)]
    for frame in [*bad, *good]:
        send.send(frame)
    got = _collect(recv, b"GOOD-OPTS")
    assert sorted(got) == sorted(good)
    recv.close()
    send.close()


def test_dhcp_filter_is_locked(veth: Veth) -> None:
    sock = in_netns(veth.netns, lambda: open_packet(veth.io, bpf.DHCP_PROGRAM, bpf.ETH_P_IP))
    assert bpf.is_locked(sock)
    assert bpf.attached_program(sock) == bpf.DHCP_PROGRAM
    fprog, buf = bpf._fprog(bpf.ARP_PROGRAM)
    with pytest.raises(PermissionError):
        sock.setsockopt(socket.SOL_SOCKET, bpf.SO_ATTACH_FILTER, fprog)
    with pytest.raises(OSError) as exc:
        sock.setsockopt(socket.SOL_SOCKET, bpf.SO_DETACH_FILTER, 0)
    assert exc.value.errno == errno.EPERM
    with pytest.raises(PermissionError):
        sock.setsockopt(socket.SOL_SOCKET, bpf.SO_LOCK_FILTER, 0)
    assert bpf.attached_program(sock) == bpf.DHCP_PROGRAM
    del buf
    sock.close()


def test_arp_socket_receives_once_listening_and_drains(veth: Veth) -> None:
    """io binds its ARP socket to ARP at start, for good (after lock_down it can bind
    nothing); what queues while no probe or guard reads it is drained when one starts."""
    recv = in_netns(veth.netns, lambda: open_packet(veth.io, bpf.ARP_PROGRAM, 0))
    send = _sender(veth)
    eth = Ether(dst="ff:ff:ff:ff:ff:ff", src=veth.peer_mac)

    def arp(op: int, psrc: str, ptype: int = 0x0800) -> bytes:
        return bytes(eth / ARP(op=op, ptype=ptype, hwsrc=veth.peer_mac, psrc=psrc,
                               pdst="192.0.2.9"))

    send.send(arp(1, "192.0.2.50"))  # sent before the socket listens: must never show up
    listen(recv, veth.io, bpf.ETH_P_ARP)
    request, reply = arp(1, "192.0.2.51"), arp(2, "192.0.2.52")
    bad = [arp(3, "192.0.2.53"),  # RARP request
           arp(1, "192.0.2.54", ptype=0x86DD),  # not IPv4
           _udp(veth, 68, b"NOT-ARP")]
    for frame in [*bad, request, reply]:
        send.send(frame)
    got = _collect(recv, bytes.fromhex("c0000234"))  # 192.0.2.52: the reply
    assert [f[:42] for f in got] == [request[:42], reply[:42]]
    for i in range(20):  # nobody reads: they queue...
        send.send(arp(2, f"192.0.2.{60 + i}"))
    assert select.select([recv], [], [], 2.0)[0]
    drain(recv)  # ...and a probe's start drains them
    assert not select.select([recv], [], [], 0.2)[0]
    recv.close()
    send.close()
