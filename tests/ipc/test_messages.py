"""leasebox.ipc: every type round-trips; every way a peer can break the contract is caught."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.profiles import examples

from leasebox import ipc
from leasebox.core import values
from leasebox.core.values import Route
from leasebox.ipc import messages as m

A = IPv4Address
BOOTREQ = bytes([1, 1, 6, 0]) + bytes(232) + b"\x63\x82\x53\x63" + b"\x35\x01\x01\xff"

SAMPLES: list[ipc.Message] = [
    ipc.LinkState(ifindex=3, mac=b"\x02\x00\x00\x00\x00\x01", mtu=1500, carrier=True),
    ipc.LinkState(ifindex=0x7FFFFFFF, mac=bytes(6), mtu=65536, carrier=False),
    ipc.Frames((b"\x00" * 342,)),
    ipc.Frames((b"x", b"\x00" * 342, b"z" * 9)),
    ipc.Frames((b"y" * ipc.MAX_FRAME,) * 7),  # the most jumbo frames one message holds
    ipc.Frames((b"w" * 1000,) * ipc.MAX_FRAMES),
    ipc.ProbeResult(A("192.0.2.10"), conflict=True),
    ipc.Conflict(A("192.0.2.10"), b"\x02\x00\x00\x00\x10\x02"),
    ipc.TxDone(sent=True),
    ipc.TxDone(sent=False),
    ipc.SendBroadcast(A("0.0.0.0"), BOOTREQ),
    ipc.SendUnicast(A("192.0.2.1"), BOOTREQ + bytes(1472 - len(BOOTREQ))),
    ipc.Probe(A("192.0.2.10")),
    ipc.Probe(A("192.0.2.10"), rfc5227=True),
    ipc.Guard(A("192.0.2.10"), announce=2),
    ipc.Guard(A("192.0.2.10")),
    ipc.Guard(None),
    ipc.Apply(request_id=7, address=A("192.0.2.57"), prefixlen=24, lifetime=3600, mtu=1400,
              routers=(A("192.0.2.1"),), classless_routes=None, dns_servers=(A("192.0.2.53"),),
              domains=("example.org", "corp.example.org")),
    ipc.Apply(request_id=0xFFFFFFFF, address=A("10.0.0.2"), prefixlen=32, lifetime=ipc.INFINITE,
              mtu=None, routers=(), classless_routes=(), dns_servers=(), domains=()),
    ipc.Apply(request_id=1, address=A("10.0.0.2"), prefixlen=8, lifetime=0, mtu=68,
              routers=tuple(A(f"10.0.0.{i}") for i in range(1, 9)),
              classless_routes=tuple(Route(IPv4Network(f"198.51.{i}.0/24"), A("10.0.0.1"))
                                     for i in range(64)),
              dns_servers=tuple(A(f"10.0.1.{i}") for i in range(8)),
              domains=tuple(f"d{i}.example" for i in range(16)),
              ntp_servers=tuple(A(f"10.0.2.{i}") for i in range(8))),
    ipc.Remove(request_id=9),
    ipc.Result(9, ipc.ResultStatus.OK, ""),
    ipc.Result(10, ipc.ResultStatus.REFUSED, "address 127.0.0.1 is loopback"),
    ipc.Handoff(3, "eth0", ipc.Names((A("192.0.2.53"),), ("example.org",), (A("192.0.2.123"),))),
    ipc.Handoff(0xFFFFFFFF, "a" * 15, ipc.Names((), (), ())),
    ipc.Handoff(1, "veth0", ipc.Names(tuple(A(f"10.0.1.{i}") for i in range(8)),
                                      tuple(f"d{i}.example" for i in range(16)),
                                      tuple(A(f"10.0.2.{i}") for i in range(8)))),
    ipc.HandoffResult(3, ipc.ResultStatus.OK, ""),
    ipc.HandoffResult(4, ipc.ResultStatus.REFUSED, "not netconf@eth0"),
]


def _route(msg: ipc.Message) -> tuple[ipc.Peer, ipc.Peer]:
    return ipc.DIRECTION[m.TYPE_OF[type(msg)]]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda s: type(s).__name__)
def test_round_trip(msg: ipc.Message) -> None:
    sender, receiver = _route(msg)
    assert ipc.decode(ipc.encode(msg), sender, receiver) == msg


def test_every_type_has_a_sample_and_a_direction() -> None:
    assert {m.TYPE_OF[type(s)] for s in SAMPLES} == set(ipc.MsgType) == set(ipc.DIRECTION)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda s: type(s).__name__)
def test_wrong_direction_rejected(msg: ipc.Message) -> None:
    data = ipc.encode(msg)
    right = _route(msg)
    for sender in ipc.Peer:
        for receiver in ipc.Peer:
            if (sender, receiver) != right:
                with pytest.raises(ipc.PeerViolation):
                    ipc.decode(data, sender, receiver)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda s: type(s).__name__)
def test_every_truncation_and_extension_rejected(msg: ipc.Message) -> None:
    sender, receiver = _route(msg)
    data = ipc.encode(msg)
    for cut in range(len(data)):
        with pytest.raises(ipc.PeerViolation):
            ipc.decode(data[:cut], sender, receiver)
    with pytest.raises(ipc.PeerViolation):
        ipc.decode(data + b"\x00", sender, receiver)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda s: type(s).__name__)
def test_length_field_must_match(msg: ipc.Message) -> None:
    sender, receiver = _route(msg)
    data = bytearray(ipc.encode(msg))
    for delta in (-1, 1):
        bad = bytearray(data)
        struct.pack_into("!H", bad, 2, (len(data) - 4 + delta) & 0xFFFF)
        with pytest.raises(ipc.PeerViolation):
            ipc.decode(bytes(bad), sender, receiver)


# One message of each type as it goes on the wire: header (version, type, length) and body.
# A layout never changes once released (see ipc.messages.VERSION): the old and the new
# package's programs meet in every upgrade. If one of these fails, do not update it: give
# the new layout a new type.
LAYOUTS: list[tuple[ipc.Message, str, str]] = [
    (ipc.LinkState(ifindex=3, mac=b"\x02\x00\x00\x00\x00\x01", mtu=1500, carrier=True),
     "0401000f", "00000003020000000001000005dc01"),
    (ipc.Frames((b"x", b"yz")), "04020007", "0001780002797a"),
    (ipc.ProbeResult(A("192.0.2.10"), conflict=True), "04030005", "c000020a01"),
    (ipc.TxDone(sent=True), "04040001", "01"),
    (ipc.Conflict(A("192.0.2.10"), b"\x02\x00\x00\x00\x10\x02"), "0405000a",
     "c000020a020000001002"),
    (ipc.SendBroadcast(A("0.0.0.0"), BOOTREQ), "041000f8", "00000000" + BOOTREQ.hex()),
    (ipc.SendUnicast(A("192.0.2.1"), BOOTREQ), "041100f8", "c0000201" + BOOTREQ.hex()),
    (ipc.Probe(A("192.0.2.10"), rfc5227=True), "04120005", "c000020a01"),
    (ipc.Guard(A("192.0.2.10"), announce=2), "04130005", "c000020a02"),
    (ipc.Apply(request_id=7, address=A("192.0.2.57"), prefixlen=24, lifetime=3600, mtu=1400,
               routers=(A("192.0.2.1"),),
               classless_routes=(Route(IPv4Network("198.51.100.0/24"), A("192.0.2.1")),),
               dns_servers=(A("192.0.2.53"),), domains=("example.org",),
               ntp_servers=(A("192.0.2.123"),)),
     "04200036", "00000007c00002391800000e100578010101010101c000020118c6336400c0000201"
                 "c0000235c000027b0b6578616d706c652e6f7267"),
    (ipc.Remove(request_id=9), "04210004", "00000009"),
    (ipc.Result(10, ipc.ResultStatus.REFUSED, "out of policy"), "04300012",
     "0000000a016f7574206f6620706f6c696379"),
    (ipc.Handoff(3, "eth0", ipc.Names((A("192.0.2.53"),), ("example.org",),
                                      (A("192.0.2.123"),))),
     "04400020", "000000030401010165746830c0000235c000027b0b6578616d706c652e6f7267"),
    (ipc.HandoffResult(3, ipc.ResultStatus.OK, ""), "04500005", "0000000300"),
]


def test_every_layout_is_as_released() -> None:
    assert [m.TYPE_OF[type(msg)] for msg, _, _ in LAYOUTS] == list(ipc.MsgType)
    for msg, header, body in LAYOUTS:
        wire = bytes.fromhex(header + body)
        assert ipc.encode(msg) == wire, type(msg).__name__
        assert ipc.decode(wire, *_route(msg)) == msg
    # the bounds a receiver checks are part of the layouts: a raise is a new type too
    assert (m.MAX_FRAME, m.MAX_FRAMES, m.MIN_BOOTP, m.MAX_BOOTP, m.MAX_REASON,
            m.MAX_ANNOUNCE) == (9216, 64, 240, 1472, 200, 2)
    assert (values.MAX_DNS, values.MAX_DOMAINS, values.MAX_NTP, values.MAX_ROUTERS,
            values.MAX_ROUTES) == (8, 16, 8, 8, 255)
    assert [int(s) for s in ipc.ResultStatus] == [0, 1, 2]


def test_unknown_type_and_version_rejected() -> None:
    for t in (0, 6, 15, 20, 31, 34, 47, 49, 63, 65, 79, 81, 255):
        with pytest.raises(ipc.PeerViolation, match="unknown"):
            ipc.decode(bytes([ipc.messages.VERSION, t, 0, 0]), ipc.Peer.IO, ipc.Peer.ENGINE)
    data = bytearray(ipc.encode(ipc.Remove(1)))
    data[0] = ipc.messages.VERSION - 1
    with pytest.raises(ipc.PeerViolation, match="header version 3, not 4"):
        ipc.decode(bytes(data), ipc.Peer.ENGINE, ipc.Peer.NETCONF)


def _raw(t: ipc.MsgType, body: bytes) -> bytes:
    return struct.pack("!BBH", m.VERSION, t, len(body)) + body


@pytest.mark.parametrize(
    ("mtype", "body"),
    [
        (ipc.MsgType.LINK_STATE, struct.pack("!I6sIB", 0, bytes(6), 1500, 1)),  # ifindex 0
        (ipc.MsgType.LINK_STATE, struct.pack("!I6sIB", 2**31, bytes(6), 1500, 1)),  # ifindex < 0
        (ipc.MsgType.LINK_STATE, struct.pack("!I6sIB", 1, bytes(6), 0, 1)),  # mtu 0
        (ipc.MsgType.LINK_STATE, struct.pack("!I6sIB", 1, bytes(6), 1500, 2)),  # bool 2
        (ipc.MsgType.PROBE_RESULT, bytes(4) + b"\x07"),
        (ipc.MsgType.TX_DONE, b"\x02"),  # not a bool
        (ipc.MsgType.PROBE, bytes([192, 0, 2, 10, 2])),  # timing not a bool
        (ipc.MsgType.GUARD, bytes([192, 0, 2, 10, 3])),  # more than ANNOUNCE_NUM
        (ipc.MsgType.GUARD, bytes([0, 0, 0, 0, 1])),  # announcing no address
        (ipc.MsgType.TX_DONE, b""),
        (ipc.MsgType.SEND_BROADCAST, bytes(4) + bytes(239)),  # payload below BOOTP size
        (ipc.MsgType.SEND_UNICAST, bytes(4) + bytes(1473)),  # above 1472
        (ipc.MsgType.RESULT, struct.pack("!IB", 1, 3)),  # unknown status
        (ipc.MsgType.RESULT, struct.pack("!IB", 1, 0) + b"bad\nline"),  # control byte
        (ipc.MsgType.RESULT, struct.pack("!IB", 1, 0) + b"x" * 201),  # reason too long
        (ipc.MsgType.FRAMES, b""),  # no frame
        (ipc.MsgType.FRAMES, b"\x00"),  # half a length
        (ipc.MsgType.FRAMES, b"\x00\x01x\x00"),  # a frame, then half a length
        (ipc.MsgType.FRAMES, b"\x00\x00"),  # an empty frame
        (ipc.MsgType.FRAMES, b"\x00\x01x\x00\x00"),  # a frame, then an empty one
        (ipc.MsgType.FRAMES, b"\x00\x03xy"),  # a frame longer than what is left
        (ipc.MsgType.FRAMES, struct.pack("!H", ipc.MAX_FRAME + 1) + bytes(ipc.MAX_FRAME + 1)),
        (ipc.MsgType.FRAMES, b"\x00\x01x" * (ipc.MAX_FRAMES + 1)),  # too many frames
    ],
)
def test_out_of_range_values_rejected(mtype: ipc.MsgType, body: bytes) -> None:
    sender, receiver = ipc.DIRECTION[mtype]
    with pytest.raises(ipc.PeerViolation):
        ipc.decode(_raw(mtype, body), sender, receiver)


@pytest.mark.parametrize("msg", [
    ipc.Guard(A("0.0.0.0")), ipc.Guard(None, 1), ipc.Guard(A("192.0.2.1"), 3),
    ipc.Guard(A("192.0.2.1"), -1), ipc.Conflict(A("192.0.2.1"), bytes(5)),
], ids=str)
def test_unsendable_values_refused(msg: ipc.Message) -> None:
    with pytest.raises(ipc.PeerViolation):
        ipc.encode(msg)


def _apply(**over: object) -> bytes:
    fields: dict[str, object] = dict(
        req=1, addr=A("192.0.2.5").packed, plen=24, life=60, mtu=0, flags=0,
        n_routers=0, n_routes=0, n_dns=0, n_ntp=0, n_domains=0, tail=b"",
    )
    fields.update(over)
    body = struct.pack("!I4sBIHBBBBBB", *(fields[k] for k in (
        "req", "addr", "plen", "life", "mtu", "flags", "n_routers", "n_routes", "n_dns",
        "n_ntp", "n_domains"))) + fields["tail"]  # type: ignore[operator]
    return _raw(ipc.MsgType.APPLY, body)


@pytest.mark.parametrize(
    "over",
    [
        {"plen": 33},
        {"mtu": 67},
        {"flags": 2},
        {"n_routers": 9, "tail": bytes(36)},
        # (routes: MAX_ROUTES is the count's octet, 255: no count is too many)
        {"n_dns": 9, "tail": bytes(36)},
        {"n_ntp": 9, "tail": bytes(36)},
        {"n_ntp": 1, "tail": bytes(3)},
        {"n_domains": 17, "tail": b"\x01a" * 17},
        {"n_routes": 1, "tail": bytes([24]) + bytes(8)},  # routes without the flag
        {"n_routes": 1, "flags": 1, "tail": bytes([33]) + bytes(8)},  # prefix > 32
        {"n_routes": 1, "flags": 1, "tail": bytes([8, 10, 0, 0, 1]) + bytes(4)},  # host bits
        {"n_domains": 1, "tail": b"\x05a;b c"},  # unsafe name
        {"n_domains": 1, "tail": b"\x04-bad"},  # leading hyphen
        {"n_domains": 1, "tail": b"\x00"},  # empty name
        {"n_domains": 1, "tail": b"\x0atoo.short"},  # length past the end
        {"n_dns": 1, "tail": bytes(3)},  # truncated list
    ],
)
def test_apply_bounds(over: dict[str, object]) -> None:
    with pytest.raises(ipc.PeerViolation):
        ipc.decode(_apply(**over), ipc.Peer.ENGINE, ipc.Peer.NETCONF)


def _handoff(name: bytes = b"eth0", n_dns: int = 0, n_ntp: int = 0, n_domains: int = 0,
             tail: bytes = b"") -> bytes:
    body = struct.pack("!IBBBB", 1, len(name), n_dns, n_ntp, n_domains) + name + tail
    return _raw(ipc.MsgType.HANDOFF, body)


@pytest.mark.parametrize(
    "data",
    [
        _handoff(b""),  # no interface name
        _handoff(b"a/b"),  # not an interface name
        _handoff(b"a" * 16),  # too long for one
        _handoff(b"..",),
        _handoff(n_dns=9, tail=bytes(36)),
        _handoff(n_ntp=9, tail=bytes(36)),
        _handoff(n_domains=17, tail=b"\x01a" * 17),
        _handoff(n_domains=1, tail=b"\x05a;b c"),
        _handoff(n_ntp=1, tail=bytes(3)),
        _handoff(tail=b"\x00"),  # trailing byte
    ],
)
def test_handoff_bounds(data: bytes) -> None:
    with pytest.raises(ipc.PeerViolation):
        ipc.decode(data, ipc.Peer.NETCONF, ipc.Peer.BUS)


def test_encoder_refuses_what_decoder_would_reject() -> None:
    bad: list[ipc.Message] = [
        ipc.LinkState(1, b"\x00" * 5, 1500, True),
        ipc.Frames(()),
        ipc.Frames((b"x", b"")),
        ipc.Frames((b"x" * (ipc.MAX_FRAME + 1),)),
        ipc.Frames((b"x",) * (ipc.MAX_FRAMES + 1)),
        ipc.Frames((b"y" * ipc.MAX_FRAME,) * 8),  # over the 16-bit length
        ipc.SendBroadcast(A("0.0.0.0"), b"short"),
        ipc.Apply(1, A("192.0.2.1"), 24, 60, None, (), None, (), ("bad name;",)),
        ipc.Apply(1, A("192.0.2.1"), 24, 60, None, tuple([A("1.1.1.1")] * 9), None, (), ()),
        ipc.Result(1, ipc.ResultStatus.OK, "x\n"),
        ipc.Handoff(1, "bad/name", ipc.Names((), (), ())),
        ipc.Handoff(1, "eth0", ipc.Names((), (), tuple([A("1.1.1.1")] * 9))),
        ipc.HandoffResult(1, ipc.ResultStatus.OK, "x" * 201),
    ]
    for msg in bad:
        with pytest.raises(ipc.PeerViolation):
            ipc.encode(msg)


@settings(max_examples=examples(3000), deadline=None)
@given(st.binary(max_size=600), st.sampled_from(list(ipc.Peer)), st.sampled_from(list(ipc.Peer)))
def test_decode_raises_only_peer_violation(data: bytes, sender: ipc.Peer,
                                           receiver: ipc.Peer) -> None:
    try:
        ipc.decode(data, sender, receiver)
    except ipc.PeerViolation:
        pass


@settings(max_examples=examples(2000), deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_mutations_raise_only_peer_violation(msg: ipc.Message, data: st.DataObject) -> None:
    sender, receiver = _route(msg)
    raw = bytearray(ipc.encode(msg))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    try:
        out = ipc.decode(bytes(raw), sender, receiver)
    except ipc.PeerViolation:
        return
    # whatever decodes must re-encode to exactly the same bytes: no silent normalisation
    assert ipc.encode(out) == bytes(raw)


def test_frames_go_in_as_few_messages_as_fit_in_order() -> None:
    small = [bytes([k]) * 300 for k in range(ipc.MAX_FRAMES + 5)]
    assert [len(b.frames) for b in ipc.batches(small)] == [ipc.MAX_FRAMES, 5]
    jumbo = [bytes([k]) * ipc.MAX_FRAME for k in range(15)]
    assert [len(b.frames) for b in ipc.batches(jumbo)] == [7, 7, 1]  # 16 bits of length
    for frames in (small, jumbo, [b"x"]):
        out = ipc.batches(frames)
        assert [f for b in out for f in b.frames] == frames
        for batch in out:  # each one a message the engine takes
            assert ipc.decode(ipc.encode(batch), ipc.Peer.IO, ipc.Peer.ENGINE) == batch
    assert ipc.batches([]) == []
    # within io's limit (half its socket's send buffer), but a frame alone goes as it is
    assert [len(b.frames) for b in ipc.batches(small[:7], 1000)] == [3, 3, 1]
    assert [len(b.frames) for b in ipc.batches(jumbo[:2], 1000)] == [1, 1]
