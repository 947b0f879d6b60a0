"""Decode rate of leasebox.core.wire on one core: `python tests/bench_decode.py [seconds]`.

Not a test (pytest does not collect it). Measures a typical ACK (router, DNS, domain,
search list, classless routes...), the same ACK inside an Ethernet frame, and a small
OFFER, and prints messages per second for each.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leasebox.core.wire import (
    Message,
    MessageType,
    Op,
    decode,
    decode_frame_message,
    encode,
    encode_frame,
)
from tests.wire.wire_samples import MAC, SERVER, typical_ack


def rate(name: str, work: Callable[[], object], seconds: float) -> float:
    for _ in range(200):  # warm-up
        work()
    count, batch = 0, 1000
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            work()
        count += batch
    per_second = count / elapsed
    print(f"{name:<34} {per_second:>10,.0f} msg/s  {1e6 / per_second:6.1f} us/msg")
    return per_second


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    ack = encode(typical_ack())
    frame = encode_frame(ack, src_mac=MAC, src_ip=SERVER, dst_ip=IPv4Address("192.0.2.10"),
                         src_port=67, dst_port=68)
    offer = encode(Message(op=Op.BOOTREPLY, xid=1, chaddr=MAC, yiaddr=IPv4Address("192.0.2.10"),
                           message_type=MessageType.OFFER, server_id=SERVER, lease_time=3600))
    print(f"Python {sys.version.split()[0]}; typical ACK is {len(ack)} octets, "
          f"{len(frame)} as a frame")
    rate("decode(typical ACK)", lambda: decode(ack), seconds)
    rate("decode_frame_message(typical ACK)", lambda: decode_frame_message(frame), seconds)
    rate("decode(minimal OFFER)", lambda: decode(offer), seconds)
    rate("encode(typical ACK)", lambda: encode(typical_ack()), seconds)


if __name__ == "__main__":
    main()
