"""Junk frames for the benchmark, sent from the server side of a veth pair (stdlib only).

    flood.py --dev p0 --dst-mac MAC --kind junk68|mixed --rate FPS --seconds S
    flood.py --dev p0 --dst-mac MAC --kind junk68 --count N

Runs in the server's network namespace and writes whole Ethernet frames to a packet socket
on the veth peer of the client's interface, so every frame reaches that interface and no
other. Two kinds of load:

* junk68: IPv4/UDP to port 68 (so io's filter passes it and io hands it to the engine)
  whose content the engine's codec must refuse: DHCP payloads that are too short, have
  no magic cookie, a bad op, an option running past the end; bad IP and UDP checksums.
* mixed: half of the above, half frames io's kernel filter drops before io sees them
  (ARP, UDP to ports 53 and 67, TCP to port 68, a later IP fragment, IPv6).

--rate 0 sends as fast as one core can. Prints one JSON object: frames sent (by kind),
seconds, send errors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import struct
import sys
import time

SRC_MAC = bytes.fromhex("02005e10beef")
SRC_IP = socket.inet_aton("192.0.2.1")
DST_IP = socket.inet_aton("255.255.255.255")
MAGIC = b"\x63\x82\x53\x63"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(payload: bytes, proto: int, *, frag: int = 0, bad_sum: bool = False,
         ident: int = 1) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto,
                         0, SRC_IP, DST_IP)
    csum = checksum(header) ^ (0x5A5A if bad_sum else 0)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


def udp(sport: int, dport: int, payload: bytes, *, csum: int = 0) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), csum) + payload


def ether(dst: bytes, ethertype: int, payload: bytes) -> bytes:
    return dst + SRC_MAC + struct.pack("!H", ethertype) + payload


def bootp(op: int = 2, cookie: bytes = MAGIC, options: bytes = b"\x35\x01\x02\xff") -> bytes:
    body = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, 1, 6, 0, 0x12345678, 0, 0,
                       b"\0" * 4, b"\0" * 4, SRC_IP, b"\0" * 4, b"\0" * 16, b"", b"")
    return (body + cookie + options).ljust(300, b"\0")


def junk68(dst: bytes, rng: random.Random) -> list[bytes]:
    """Frames io passes to the engine and the engine's codec refuses, each a different way."""
    frames = []
    for n in range(8):  # too short for a DHCP message, random content
        payload = rng.randbytes(rng.randrange(1, 236))
        frames.append(ether(dst, 0x0800, ipv4(udp(67, 68, payload), 17, ident=n)))
    for n in range(8):  # a whole message whose options go wrong only at the end
        tlvs = b"\x35\x01\x05"
        for _ in range(rng.randrange(3, 12)):
            value = rng.randbytes(rng.randrange(1, 12))
            tlvs += bytes([rng.randrange(224, 254), len(value)]) + value
        tlvs += b"\xfc\xff" + b"z" * 8  # the last option claims 255 octets
        frames.append(ether(dst, 0x0800, ipv4(udp(67, 68, bootp(options=tlvs)), 17, ident=n)))
    frames.append(ether(dst, 0x0800, ipv4(udp(67, 68, bootp(cookie=b"\0\0\0\0")), 17)))
    frames.append(ether(dst, 0x0800, ipv4(udp(67, 68, bootp(op=7)), 17)))
    overrun = b"\x35\x01\x02\x0c\xf0" + b"x" * 20  # hostname option claims 240 octets
    frames.append(ether(dst, 0x0800, ipv4(udp(67, 68, bootp(options=overrun)[:270]), 17)))
    frames.append(ether(dst, 0x0800, ipv4(udp(67, 68, bootp()), 17, bad_sum=True)))
    frames.append(ether(dst, 0x0800, ipv4(udp(67, 68, bootp(), csum=0x1234), 17)))
    return frames


def filtered(dst: bytes, rng: random.Random) -> list[bytes]:
    """Frames that never reach io: its locked kernel filter takes only IPv4/UDP to :68."""
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, SRC_MAC, SRC_IP, b"\0" * 6,
                      socket.inet_aton("192.0.2.77"))
    tcp = struct.pack("!HHIIBBHHH", 4321, 68, 1, 0, 0x50, 0x02, 1024, 0, 0)
    ipv6 = struct.pack("!IHBB16s16s", 0x60000000, 8, 17, 64, b"\xfe\x80" + b"\0" * 13 + b"\1",
                       b"\xff\x02" + b"\0" * 13 + b"\1") + udp(547, 546, b"")
    frames = [
        ether(b"\xff" * 6, 0x0806, arp),
        ether(dst, 0x0800, ipv4(udp(5353, 53, rng.randbytes(40)), 17)),
        ether(dst, 0x0800, ipv4(udp(68, 67, bootp(op=1)), 17)),
        ether(dst, 0x0800, ipv4(tcp, 6)),
        ether(dst, 0x0800, ipv4(rng.randbytes(64), 17, frag=0x0010)),  # offset 128: later fragment
        ether(dst, 0x86DD, ipv6),
    ]
    return frames


def main() -> int:
    p = argparse.ArgumentParser(prog="flood.py")
    p.add_argument("--dev", required=True)
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--kind", choices=("junk68", "mixed"), default="junk68")
    p.add_argument("--rate", type=float, default=0.0, help="frames per second; 0: flat out")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--count", type=int, default=0, help="send this many frames and stop")
    args = p.parse_args()
    dst = bytes.fromhex(args.dst_mac.replace(":", ""))
    rng = random.Random(68)
    junk = junk68(dst, rng)
    plan: list[tuple[str, bytes]] = [("junk68", f) for f in junk]
    if args.kind == "mixed":
        other = filtered(dst, rng)
        plan = [item for pair in zip(plan, [("filtered", other[i % len(other)])
                                            for i in range(len(plan))], strict=True)
                for item in pair]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((args.dev, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    frames = [f for _, f in plan]
    kinds = [k for k, _ in plan]
    sent = dict.fromkeys(("junk68", "filtered"), 0)
    errors = 0
    n = len(frames)
    i = 0
    send = sock.send
    start = time.monotonic()
    end = start + (args.seconds if not args.count else 3600.0)
    limit = args.count or (1 << 62)
    rate = args.rate
    while i < limit:
        now = time.monotonic()
        if now >= end:
            break
        # the batch due by now (at most 64 at a time, so the end time is kept)
        due = min(limit, int((now - start) * rate) + 1 if rate else i + 64)
        if due <= i:
            time.sleep(min(0.0005, end - now))
            continue
        for _ in range(min(64, due - i)):
            try:
                send(frames[i % n])
            except OSError:
                errors += 1
            i += 1
    elapsed = time.monotonic() - start
    for j in range(min(i, n)):
        sent[kinds[j]] += (i - j + n - 1) // n
    json.dump({"sent": i, "by_kind": sent, "seconds": elapsed, "errors": errors,
               "pid": os.getpid()}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
