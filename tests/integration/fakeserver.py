"""A scripted DHCP server for the integration lab, built on scapy and a packet socket.

dnsmasq is the real server the other integration tests use; this one exists for what dnsmasq
will not do: leases shorter than 120 s, T1/T2 that break the rules, going silent after a
number of answers, and sending hostile frames (see hostile_cases.py) before each good reply.

    python -m tests.integration.fakeserver --iface veth1 --script SCRIPT.json --log FILE

It receives on an AF_PACKET socket with a BPF filter for IPv4/UDP to port 67 (first
fragments and unfragmented packets only), ignores its own outgoing frames, and sends whole
Ethernet frames on a second packet socket. A UDP socket on port 67 is held open and drained
so that the server namespace's kernel does not answer unicast requests with ICMP errors.

Every received message and every reply is one line of the log, prefixed with the
CLOCK_MONOTONIC time (shared by all network namespaces, so tests can compare it with their
own time.monotonic()):

    12.345 RECV REQUEST unicast 192.0.2.100->192.0.2.1 xid=0x1a2b3c4d ciaddr=192.0.2.100 ...
    12.346 SEND HOSTILE wrong_xid frames=1
    12.346 SEND ACK unicast 192.0.2.1->192.0.2.100 yiaddr=192.0.2.100 xid=0x1a2b3c4d

The script is a JSON object; every key is optional (see Script for the defaults):

    address, server_id, subnet_mask, lease_time, t1, t2     dotted quads / seconds;
                                                             null leaves the option out
    routers, dns, search: [str]; domain: str; mtu: int
    classless_routes: [["198.51.100.0/24", "192.0.2.254"], ...]   (option 121)
    options: [[code, "hex value"], ...]                      extra raw options, in order
    answer_first: N      answer N DISCOVER/REQUEST messages, then go silent ...
    then_ignore: M       ... for M messages, then answer again (null: silent for good)
    nak_other: bool      NAK a REQUEST for an address that is not ours (default true)
    hostile: {"DISCOVER": [burst, ...], "REQUEST": [burst, ...]}
                         the n-th message of that type is preceded by the n-th burst;
                         a burst is a list of case names from hostile_cases.CASES or
                         {"hex": "<whole Ethernet frame>"}
    after_ack: [[delay, burst], ...]   bursts sent `delay` s after the first ACK

Replies go as Ethernet broadcast to 255.255.255.255:68, except when the request carries a
ciaddr (a bound client renewing or rebinding): then unicast to ciaddr and the client's MAC,
as RFC 2131 4.1 says.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from tests.integration.netlab import PYTHON, REPO, Daemon, Lab
from tests.waiting import wait_for

ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
SO_ATTACH_FILTER = 26
SO_BINDTODEVICE = 25
PACKET_OUTGOING = 4

MAGIC = b"\x63\x82\x53\x63"
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
BROADCAST_IP = "255.255.255.255"
BOOTP_MIN = 300
# Bursts longer than this are paced, so that a flood reaches the client over seconds
# instead of overflowing every queue on the way in the first millisecond.
PACE_CHUNK = 100
PACE_GAP = 0.05

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM, FORCERENEW = range(1, 10)
TYPE_NAMES = {DISCOVER: "DISCOVER", OFFER: "OFFER", REQUEST: "REQUEST", DECLINE: "DECLINE",
              ACK: "ACK", NAK: "NAK", RELEASE: "RELEASE", INFORM: "INFORM",
              FORCERENEW: "FORCERENEW"}

# Option codes this server writes.
OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN, OPT_MTU = 1, 3, 6, 12, 15, 26
OPT_REQUESTED, OPT_LEASE, OPT_OVERLOAD, OPT_TYPE, OPT_SERVER_ID = 50, 51, 52, 53, 54
OPT_MESSAGE, OPT_T1, OPT_T2, OPT_CAPTIVE, OPT_SEARCH, OPT_CLASSLESS = 56, 58, 59, 114, 119, 121
OPT_PAD, OPT_END = 0, 255

# Classic BPF, offsets from the Ethernet header: IPv4, UDP, not a later fragment, dport 67.
# Each "else drop" jumps to the last instruction.
_BPF = [
    (0x28, 0, 0, 12),          # 0  ldh [12]            ethertype
    (0x15, 0, 8, ETH_P_IP),    # 1  jeq #0x800          else drop
    (0x30, 0, 0, 23),          # 2  ldb [23]            IP protocol
    (0x15, 0, 6, 17),          # 3  jeq #17 (UDP)       else drop
    (0x28, 0, 0, 20),          # 4  ldh [20]            flags + fragment offset
    (0x45, 4, 0, 0x1FFF),      # 5  jset #0x1fff        a later fragment: drop
    (0xB1, 0, 0, 14),          # 6  ldxb 4*([14]&0xf)   IP header length
    (0x48, 0, 0, 16),          # 7  ldh [x+16]          UDP destination port
    (0x15, 0, 1, 67),          # 8  jeq #67             else drop
    (0x06, 0, 0, 0x40000),     # 9  ret #262144         accept
    (0x06, 0, 0, 0),           # 10 ret #0              drop
]


# ---- the script ---------------------------------------------------------------------------

Burst = tuple[Any, ...]  # case names (str) or {"hex": "..."} objects


@dataclass(frozen=True)
class Script:
    address: str = "192.0.2.100"
    server_id: str = "192.0.2.1"
    subnet_mask: str | None = "255.255.255.0"
    lease_time: int | None = 3600
    t1: int | None = None
    t2: int | None = None
    routers: tuple[str, ...] = ("192.0.2.1",)
    dns: tuple[str, ...] = ()
    domain: str | None = None
    search: tuple[str, ...] = ()
    mtu: int | None = None
    classless_routes: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[int, str], ...] = ()
    answer_first: int | None = None
    then_ignore: int | None = None
    nak_other: bool = True
    hostile: dict[str, tuple[Burst, ...]] = field(default_factory=dict)
    after_ack: tuple[tuple[float, Burst], ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Script:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown script keys: {sorted(unknown)}")
        kw: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("routers", "dns", "search"):
                value = tuple(value)
            elif key == "classless_routes":
                value = tuple((str(d), str(g)) for d, g in value)
            elif key == "options":
                value = tuple((int(c), str(h)) for c, h in value)
            elif key == "hostile":
                bad = set(value) - {"DISCOVER", "REQUEST"}
                if bad:
                    raise ValueError(f"hostile bursts only for DISCOVER/REQUEST, not {bad}")
                value = {k: tuple(tuple(b) for b in v) for k, v in value.items()}
            elif key == "after_ack":
                value = tuple((float(d), tuple(b)) for d, b in value)
            kw[key] = value
        return cls(**kw)


# ---- building replies -----------------------------------------------------------------------


def opt(code: int, value: bytes) -> bytes:
    """One option, TLV. Lengths over 255 are the caller's business (hostile cases)."""
    return bytes([code, len(value) & 0xFF]) + value


def options_bytes(pairs: Iterable[tuple[int, bytes]]) -> bytes:
    return b"".join(opt(c, v) for c, v in pairs)


def ip4(addr: str) -> bytes:
    return IPv4Address(addr).packed


def u32(value: int) -> bytes:
    return struct.pack("!I", value)


def encode_domain(name: str | bytes) -> bytes:
    """RFC 1035 wire form without compression; labels are taken as given (no checks)."""
    raw = name.encode() if isinstance(name, str) else name
    out = b""
    for label in raw.rstrip(b".").split(b"."):
        out += bytes([len(label)]) + label
    return out + b"\0"


def encode_classless(routes: Sequence[tuple[str, str]]) -> bytes:
    out = b""
    for dest, gateway in routes:
        net = IPv4Network(dest)
        width = (net.prefixlen + 7) // 8
        out += bytes([net.prefixlen]) + net.network_address.packed[:width] + ip4(gateway)
    return out


@dataclass(frozen=True)
class Ctx:
    """What a reply to one request needs: the request's identity and the script."""

    script: Script
    server_mac: str
    client_mac: str
    chaddr: bytes  # 16 octets, as in the request
    xid: int
    ciaddr: str
    reply_type: int  # OFFER for a DISCOVER, ACK for a REQUEST

    @property
    def unicast(self) -> bool:
        return self.ciaddr != "0.0.0.0"

    def good_options(self, msg_type: int | None = None) -> list[tuple[int, bytes]]:
        """The options of the good reply, in order, without END."""
        s = self.script
        out = [(OPT_TYPE, bytes([msg_type or self.reply_type])), (OPT_SERVER_ID, ip4(s.server_id))]
        if s.lease_time is not None:
            out.append((OPT_LEASE, u32(s.lease_time)))
        if s.t1 is not None:
            out.append((OPT_T1, u32(s.t1)))
        if s.t2 is not None:
            out.append((OPT_T2, u32(s.t2)))
        if s.subnet_mask is not None:
            out.append((OPT_SUBNET_MASK, ip4(s.subnet_mask)))
        if s.routers:
            out.append((OPT_ROUTER, b"".join(ip4(a) for a in s.routers)))
        if s.dns:
            out.append((OPT_DNS, b"".join(ip4(a) for a in s.dns)))
        if s.domain is not None:
            out.append((OPT_DOMAIN, s.domain.encode()))
        if s.search:
            out.append((OPT_SEARCH, b"".join(encode_domain(n) for n in s.search)))
        if s.mtu is not None:
            out.append((OPT_MTU, struct.pack("!H", s.mtu)))
        if s.classless_routes:
            out.append((OPT_CLASSLESS, encode_classless(s.classless_routes)))
        out += [(code, bytes.fromhex(value)) for code, value in s.options]
        return out

    def bootp(self, options: Sequence[tuple[int, bytes]] | bytes | None = None, *,
              end: bool = True, pad: bool = True, op: int = 2, xid: int | None = None,
              chaddr: bytes | None = None, yiaddr: str | None = None, ciaddr: str = "0.0.0.0",
              siaddr: str = "0.0.0.0", sname: bytes = b"", file: bytes = b"",
              flags: int = 0) -> bytes:
        """The BOOTP/DHCP payload: header, cookie, options (pairs, or raw bytes taken as
        they are), END unless end=False, zero padding to 300 octets unless pad=False."""
        if options is None:
            options = self.good_options()
        body = options if isinstance(options, bytes) else options_bytes(options)
        if end:
            body += bytes([OPT_END])
        head = BOOTP(op=op, xid=self.xid if xid is None else xid,
                     chaddr=self.chaddr if chaddr is None else chaddr,
                     yiaddr=self.script.address if yiaddr is None else yiaddr,
                     ciaddr=ciaddr, siaddr=siaddr, flags=flags,
                     sname=sname.ljust(64, b"\0")[:64], file=file.ljust(128, b"\0")[:128],
                     options=MAGIC)
        payload = bytes(head) + body
        if pad and len(payload) < BOOTP_MIN:
            payload += bytes(BOOTP_MIN - len(payload))
        return payload

    def frame(self, payload: bytes, *, dst_mac: str | None = None, dst_ip: str | None = None,
              src_ip: str | None = None, sport: int = 67, dport: int = 68) -> Packet:
        """Ether/IP/UDP around `payload`, addressed as this request's reply would be."""
        if dst_mac is None:
            dst_mac = self.client_mac if self.unicast else BROADCAST_MAC
        if dst_ip is None:
            dst_ip = self.ciaddr if self.unicast else BROADCAST_IP
        return (Ether(src=self.server_mac, dst=dst_mac, type=ETH_P_IP)
                / IP(src=src_ip or self.script.server_id, dst=dst_ip, ttl=64)
                / UDP(sport=sport, dport=dport) / Raw(payload))

    def reply(self, options: Sequence[tuple[int, bytes]] | bytes | None = None,
              **kw: Any) -> bytes:
        """A whole reply frame; keyword arguments go to bootp()."""
        return bytes(self.frame(self.bootp(options, **kw)))


# ---- the server -----------------------------------------------------------------------------

CaseFn = Callable[[Ctx], list[bytes]]


@dataclass
class Received:
    msg_type: int
    src_mac: str
    src_ip: str
    dst_ip: str
    xid: int
    ciaddr: str
    chaddr: bytes
    requested: str | None
    server_id: str | None

    @property
    def unicast(self) -> bool:
        return self.dst_ip != BROADCAST_IP

    def request_state(self) -> str:
        if self.server_id is not None and self.ciaddr == "0.0.0.0":
            return "selecting"
        if self.ciaddr == "0.0.0.0":
            return "init-reboot"
        return "renewing" if self.unicast else "rebinding"


def parse(frame: bytes) -> Received | None:
    """The DHCP message in a frame to port 67, or None when it is not one."""
    pkt = Ether(frame)
    if not (pkt.haslayer(IP) and pkt.haslayer(UDP) and pkt.haslayer(BOOTP)):
        return None
    if pkt[UDP].dport != 67 or pkt[BOOTP].op != 1:
        return None
    opts: dict[str, Any] = {}
    if pkt.haslayer(DHCP):
        for item in pkt[DHCP].options:
            if isinstance(item, tuple) and len(item) >= 2:
                opts.setdefault(item[0], item[1])
    msg_type = opts.get("message-type")
    bootp = pkt[BOOTP]
    return Received(
        msg_type=msg_type if isinstance(msg_type, int) else 0,
        src_mac=pkt[Ether].src, src_ip=pkt[IP].src, dst_ip=pkt[IP].dst, xid=bootp.xid,
        ciaddr=bootp.ciaddr, chaddr=bytes(bootp.chaddr).ljust(16, b"\0")[:16],
        requested=_str_or_none(opts.get("requested_addr")),
        server_id=_str_or_none(opts.get("server_id")),
    )


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


class Server:
    def __init__(self, iface: str, script: Script, log: TextIO,
                 cases: dict[str, CaseFn]) -> None:
        self.iface = iface
        self.script = script
        self.logfile = log
        self.cases = cases
        self.recv_sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.recv_sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self._attach_filter(self.recv_sock)
        self.recv_sock.bind((iface, ETH_P_IP))
        self.send_sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.send_sock.bind((iface, 0))
        self.server_mac = ":".join(f"{b:02x}" for b in self.recv_sock.getsockname()[4][:6])
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sink.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
        self.sink.bind(("0.0.0.0", 67))
        self.sink.setblocking(False)
        self.answerable = 0  # DISCOVER/REQUEST messages seen, answered or not
        self.seen: dict[int, int] = {}
        self.timers: list[tuple[float, Burst, Ctx]] = []
        self.acked = False
        self.stopping = False

    @staticmethod
    def _attach_filter(sock: socket.socket) -> None:
        prog = b"".join(struct.pack("=HBBI", *insn) for insn in _BPF)
        buf = ctypes.create_string_buffer(prog)
        fprog = struct.pack("HL", len(_BPF), ctypes.addressof(buf))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)

    def log(self, text: str) -> None:
        self.logfile.write(f"{time.monotonic():.3f} {text}\n")
        self.logfile.flush()

    # -- sending --

    def send(self, frame: bytes) -> None:
        self.send_sock.send(frame)

    def send_burst(self, burst: Burst, ctx: Ctx, label: str) -> None:
        for entry in burst:
            if isinstance(entry, dict):
                frames = [bytes.fromhex(str(entry["hex"]))]
                name = "hex"
            else:
                name = str(entry)
                frames = self.cases[name](ctx)
            self.log(f"SEND HOSTILE {name} frames={len(frames)} ({label})")
            for i, frame in enumerate(frames):
                if i and i % PACE_CHUNK == 0 and len(frames) > 2 * PACE_CHUNK:
                    time.sleep(PACE_GAP)
                try:
                    self.send(frame)
                except OSError as exc:  # e.g. a frame longer than the MTU
                    self.log(f"SEND-FAILED {name} frame {i}: {exc}")

    def send_reply(self, ctx: Ctx, msg_type: int) -> None:
        if msg_type == NAK:
            yiaddr = "0.0.0.0"
            payload = ctx.bootp([(OPT_TYPE, bytes([NAK])),
                                 (OPT_SERVER_ID, ip4(self.script.server_id))], yiaddr=yiaddr)
            # A NAK is broadcast whatever the request (RFC 2131 4.3.2).
            pkt = ctx.frame(payload, dst_mac=BROADCAST_MAC, dst_ip=BROADCAST_IP)
        else:
            yiaddr = self.script.address
            pkt = ctx.frame(ctx.bootp(ctx.good_options(msg_type)))
        self.send(bytes(pkt))
        how = "broadcast" if pkt[IP].dst == BROADCAST_IP else "unicast"
        self.log(f"SEND {TYPE_NAMES[msg_type]} {how} {pkt[IP].src}->{pkt[IP].dst} "
                 f"yiaddr={yiaddr} xid={ctx.xid:#010x}")

    # -- receiving --

    def silent(self) -> bool:
        """Count one answerable message; True when the script says not to answer it."""
        self.answerable += 1
        first, ignore = self.script.answer_first, self.script.then_ignore
        if first is None or self.answerable <= first:
            return False
        return ignore is None or self.answerable <= first + ignore

    def handle(self, msg: Received) -> None:
        name = TYPE_NAMES.get(msg.msg_type, f"type={msg.msg_type}")
        how = "unicast" if msg.unicast else "broadcast"
        extra = f" state={msg.request_state()}" if msg.msg_type == REQUEST else ""
        self.log(f"RECV {name} {how} {msg.src_ip}->{msg.dst_ip} xid={msg.xid:#010x} "
                 f"ciaddr={msg.ciaddr} requested={msg.requested or '-'} "
                 f"server_id={msg.server_id or '-'} mac={msg.src_mac}{extra}")
        if msg.msg_type not in (DISCOVER, REQUEST):
            return
        if msg.msg_type == REQUEST and msg.server_id not in (None, self.script.server_id):
            self.log("IGNORE REQUEST for another server")
            return
        if self.silent():
            self.log(f"SILENT {name}")
            return
        index = self.seen.get(msg.msg_type, 0)
        self.seen[msg.msg_type] = index + 1
        reply_type = OFFER if msg.msg_type == DISCOVER else ACK
        ctx = Ctx(script=self.script, server_mac=self.server_mac, client_mac=msg.src_mac,
                  chaddr=msg.chaddr, xid=msg.xid, ciaddr=msg.ciaddr, reply_type=reply_type)
        bursts = self.script.hostile.get(name, ())
        if index < len(bursts) and bursts[index]:
            self.send_burst(bursts[index], ctx, f"{name} #{index + 1}")
        if msg.msg_type == REQUEST:
            wanted = msg.requested or msg.ciaddr
            if wanted != self.script.address:
                if self.script.nak_other:
                    self.send_reply(ctx, NAK)
                return
        self.send_reply(ctx, reply_type)
        if reply_type == ACK and not self.acked:
            self.acked = True
            now = time.monotonic()
            self.timers = sorted(self.timers + [(now + d, b, ctx) for d, b in
                                                self.script.after_ack], key=lambda t: t[0])

    def run(self, max_seconds: float) -> int:
        deadline = time.monotonic() + max_seconds
        self.log(f"READY iface={self.iface} mac={self.server_mac}")
        while not self.stopping:
            now = time.monotonic()
            if now >= deadline:
                self.log("EXIT max-seconds reached")
                return 0
            while self.timers and self.timers[0][0] <= now:
                _, burst, ctx = self.timers.pop(0)
                self.send_burst(burst, ctx, "after ACK")
            wait = min(0.2, deadline - now)
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - now))
            ready, _, _ = select.select([self.recv_sock, self.sink], [], [], wait)
            if self.sink in ready:
                with contextlib.suppress(OSError):
                    while True:
                        self.sink.recv(4096)
            if self.recv_sock in ready:
                frame, addr = self.recv_sock.recvfrom(65535)
                if addr[2] == PACKET_OUTGOING:
                    continue
                try:
                    msg = parse(frame)
                except Exception as exc:  # noqa: BLE001 (scapy raises anything on junk)
                    self.log(f"RECV unparsable ({type(exc).__name__})")
                    continue
                if msg is not None:
                    self.handle(msg)
        self.log("EXIT signal")
        return 0


# ---- driving it from a test (lab side) ------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    time: float  # CLOCK_MONOTONIC
    text: str


class FakeServer(Daemon):
    """This server in the lab's server namespace, started and stopped by PID."""

    def __init__(self, lab: Lab, script: dict[str, Any], max_seconds: float = 90.0,
                 name: str = "fakeserver") -> None:
        self.lab = lab
        self.script_path = lab.tmp / f"{name}.json"
        self.logfile = lab.tmp / f"{name}.log"
        self.outfile = lab.tmp / f"{name}.out"
        Script.from_json(script)  # fail here, not in the other namespace
        self.script_path.write_text(json.dumps(script, indent=1))
        self.max_seconds = max_seconds
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FakeServer:
        argv = [PYTHON, "-m", "tests.integration.fakeserver", "--iface", "veth1",
                "--script", str(self.script_path), "--log", str(self.logfile),
                "--max-seconds", str(self.max_seconds)]
        env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'src'}")
        self.proc = self.lab.spawn(self.lab.server, argv, self.outfile, env=env, cwd=str(REPO))
        wait_for("the fake server", lambda: " READY " in self.log() or self.exited(), 15)
        if self.exited():
            raise RuntimeError(f"fake server exited:\n{self.outfile.read_text(errors='replace')}")
        return self

    def lines(self, pattern: str = "") -> list[LogLine]:
        """Log lines whose text (after the time stamp) matches the regex `pattern`."""
        out = []
        for raw in self.log().splitlines():
            stamp, _, text = raw.partition(" ")
            if re.search(pattern, text):
                out.append(LogLine(float(stamp), text))
        return out

    def count(self, pattern: str) -> int:
        return len(self.lines(pattern))

    def wait(self, pattern: str, timeout: float, count: int = 1) -> list[LogLine]:
        def enough() -> list[LogLine] | None:
            found = self.lines(pattern)
            return found if len(found) >= count else None
        result: list[LogLine] = wait_for(f"{count} x {pattern!r} in the fake server's log",
                                         enough, timeout)
        return result


class Monitor:
    """Every IPv4 address and route change in the client namespace, as `ip monitor` sees
    them: nothing that was there for a moment can be missed, as it could by polling."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.logfile = lab.tmp / "ipmonitor.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Monitor:
        self.proc = self.lab.spawn(self.lab.client, ["ip", "-4", "-o", "monitor", "address",
                                                     "route"], self.logfile)
        # ready once it reports a change we make
        probe = "127.0.0.77/8"

        def seen() -> bool:
            self.lab.ip(self.lab.client, "addr", "replace", probe, "dev", "lo")
            return "127.0.0.77" in self.log()
        wait_for("ip monitor", seen, 10, interval=0.1)
        self.lab.ip(self.lab.client, "addr", "del", probe, "dev", "lo")
        return self

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def added(self) -> list[str]:
        return [line for line in self.log().splitlines()
                if line and not line.startswith("Deleted") and "127.0.0.77" not in line]

    def addresses(self) -> list[str]:
        """Every address added to veth0, as ADDRESS/PREFIX, in order."""
        return [m.group(1) for line in self.added() if (m := re.search(
            r"^\d+: veth0\s+inet (\S+)", line))]

    def routes(self) -> list[str]:
        """Every route added, any table, as `ip` prints it."""
        return [line.strip() for line in self.added() if not re.match(r"^\d+: ", line)]

    def deleted_addresses(self) -> list[str]:
        return [m.group(1) for line in self.log().splitlines() if (m := re.search(
            r"^Deleted \d+: veth0\s+inet (\S+)", line))]


def load_cases() -> dict[str, CaseFn]:
    # Imported here: hostile_cases builds on the helpers above.
    from tests.integration import hostile_cases

    return dict(hostile_cases.CASES)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fakeserver", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iface", required=True)
    p.add_argument("--script", type=Path, required=True)
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--max-seconds", type=float, default=120.0)
    args = p.parse_args(argv)
    script = Script.from_json(json.loads(args.script.read_text()))
    cases = load_cases()
    for kind, bursts in script.hostile.items():
        for burst in bursts:
            for entry in burst:
                if isinstance(entry, str) and entry not in cases:
                    p.error(f"unknown hostile case {entry!r} for {kind}")
    with args.log.open("a") as log:
        server = Server(args.iface, script, log, cases)

        def stop(signum: int, frame: FrameType | None) -> None:
            server.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        return server.run(args.max_seconds)


if __name__ == "__main__":
    sys.exit(main())
