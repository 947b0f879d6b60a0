"""Hostile DHCP replies for the fake server, one named builder per class of bad input.

Each builder takes the Ctx of the request being answered and returns whole Ethernet frames,
which the fake server sends before its good reply. The classes follow
notes/hostile-dhcp-inputs.md. Three groups, by what a correct client must do:

REJECT   the whole frame or message must be ignored. Each carries values no good reply has,
         numbered with its case's marker m: yiaddr 192.0.2.(150+m), DNS 203.0.113.m,
         router 192.0.2.66, domain poison<m>.invalid. Finding one of them on the client
         (address, route, resolv.conf, or in a REQUEST the server receives) names the case
         that got through: see explain().
TOLERATE an option is broken (or odd but legal): the client may drop that option and use the
         rest, which are the good values; nothing from the broken option may be used, so
         the broken parts point at 192.0.2.66 or carry strings that must never reach a file.
SPECIAL  FORCERENEW and floods, used by their own tests.

The builders are deterministic (the flood uses a seeded Random), so a failure can be rerun.
"""

from __future__ import annotations

import random
import re
import struct
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from scapy.layers.inet import IP, fragment
from scapy.layers.l2 import Ether

from tests.integration.fakeserver import (
    ACK,
    FORCERENEW,
    NAK,
    OPT_CAPTIVE,
    OPT_CLASSLESS,
    OPT_DNS,
    OPT_DOMAIN,
    OPT_END,
    OPT_HOSTNAME,
    OPT_LEASE,
    OPT_MTU,
    OPT_OVERLOAD,
    OPT_PAD,
    OPT_ROUTER,
    OPT_SEARCH,
    OPT_SERVER_ID,
    OPT_SUBNET_MASK,
    OPT_T1,
    OPT_TYPE,
    Ctx,
    encode_domain,
    ip4,
    opt,
    options_bytes,
)

CaseFn = Callable[[Ctx], list[bytes]]
Options = list[tuple[int, bytes]]

ATTACKER_GW = "192.0.2.66"
OTHER_MAC = "02:00:5e:10:00:99"
OTHER_CHADDR = bytes.fromhex("02005e100099") + bytes(10)
PWNED_FILE = "/tmp/leasebox-pwned"  # the string cases try to create it

CASES: dict[str, CaseFn] = {}
REJECT: list[str] = []
TOLERATE: list[str] = []
MARKERS: dict[int, str] = {}

# Text that must never be found in resolv.conf, the routes or the address list.
BAD_TEXT = ("203.0.113.", ATTACKER_GW, "poison", "evil", "pwned", "reboot", "ProxyCommand",
            "$(", "`", ";", "|", "&", "\x1b", "rm -rf")


def reject(fn: Callable[[Ctx, int], list[bytes]]) -> Callable[[Ctx, int], list[bytes]]:
    marker = len(REJECT) + 1
    REJECT.append(fn.__name__)
    MARKERS[marker] = fn.__name__

    def build(ctx: Ctx) -> list[bytes]:
        return fn(ctx, marker)
    CASES[fn.__name__] = build
    return fn


def tolerate(fn: CaseFn) -> CaseFn:
    TOLERATE.append(fn.__name__)
    CASES[fn.__name__] = fn
    return fn


def special(fn: CaseFn) -> CaseFn:
    CASES[fn.__name__] = fn
    return fn


def explain(text: str) -> list[str]:
    """The REJECT cases whose markers appear in `text`."""
    found: set[int] = set()
    found.update(int(m) for m in re.findall(r"203\.0\.113\.(\d+)", text))
    found.update(int(m) for m in re.findall(r"poison(\d+)\.invalid", text))
    for last in re.findall(r"192\.0\.2\.(\d+)", text):
        if int(last) - 150 in MARKERS:
            found.add(int(last) - 150)
    return sorted(MARKERS.get(m, f"marker {m}") for m in found)


# ---- helpers --------------------------------------------------------------------------------


def poison_address(marker: int) -> str:
    return f"192.0.2.{150 + marker}"


def poison_options(ctx: Ctx, marker: int, msg_type: int | None = None) -> Options:
    """The good options with every value a client would apply replaced by a marked one."""
    out: Options = []
    for code, value in ctx.good_options(msg_type):
        if code in (OPT_DNS, OPT_ROUTER, OPT_DOMAIN):
            continue
        out.append((code, value))
    out += [(OPT_DNS, ip4(f"203.0.113.{marker}")), (OPT_ROUTER, ip4(ATTACKER_GW)),
            (OPT_DOMAIN, f"poison{marker}.invalid".encode())]
    return out


def replace(options: Options, code: int, value: bytes | None) -> Options:
    """`options` with option `code` set to `value` (appended if absent; removed if None)."""
    out = [(c, v) for c, v in options if c != code]
    if value is not None:
        out.append((code, value))
    return out


def poisoned(ctx: Ctx, marker: int, **kw: Any) -> bytes:
    """A marked reply frame: the right type for the request, but every value marked."""
    kw.setdefault("yiaddr", poison_address(marker))
    return ctx.reply(poison_options(ctx, marker), **kw)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def patch(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value):]


def fix_ip_checksum(frame: bytes) -> bytes:
    ihl = (frame[14] & 0x0F) * 4
    header = patch(frame[14:14 + ihl], 10, b"\0\0")
    return patch(frame, 24, struct.pack("!H", checksum(header)))


def raw_udp_frame(src_mac: bytes, dst_mac: bytes, src_ip: bytes, dst_ip: bytes, *,
                  payload: bytes, sport: int = 67, dport: int = 68, ident: int = 0) -> bytes:
    """Ether/IPv4/UDP without scapy (the flood builds thousands); UDP checksum 0 (none)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, 0, 64, 17, 0,
                         src_ip, dst_ip)
    header = patch(header, 10, struct.pack("!H", checksum(header)))
    return dst_mac + src_mac + b"\x08\x00" + header + udp


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


# ---- REJECT: the codec must refuse the message --------------------------------------------


@reject
def option_past_end(ctx: Ctx, marker: int) -> list[bytes]:
    # the last option claims 200 octets; 8 are there, then the packet ends
    body = options_bytes(poison_options(ctx, marker)) + bytes([OPT_DNS, 200]) + ip4("1.2.3.4") * 2
    return [ctx.reply(body, end=False, pad=False, yiaddr=poison_address(marker))]


@reject
def option_255_at_end(ctx: Ctx, marker: int) -> list[bytes]:
    body = options_bytes(poison_options(ctx, marker)) + bytes([OPT_ROUTER, 255]) + ip4(ATTACKER_GW)
    return [ctx.reply(body, end=False, pad=False, yiaddr=poison_address(marker))]


@reject
def option_code_is_last_byte(ctx: Ctx, marker: int) -> list[bytes]:
    body = options_bytes(poison_options(ctx, marker)) + bytes([OPT_DNS])
    return [ctx.reply(body, end=False, pad=False, yiaddr=poison_address(marker))]


@reject
def overload_is_last_byte(ctx: Ctx, marker: int) -> list[bytes]:
    body = options_bytes(poison_options(ctx, marker)) + bytes([OPT_OVERLOAD])
    return [ctx.reply(body, end=False, pad=False, yiaddr=poison_address(marker))]


def _needed_in_ack(ctx: Ctx, marker: int, code: int, value: bytes) -> list[bytes]:
    # An ACK without a usable lease time or mask must be refused. An OFFER may be taken with
    # the option dropped (the ACK decides), so as an OFFER it offers the good address.
    opts = replace(poison_options(ctx, marker), code, value)
    good = ctx.reply_type != ACK
    return [ctx.reply(opts, yiaddr=ctx.script.address if good else poison_address(marker))]


@reject
def lease_time_2_bytes(ctx: Ctx, marker: int) -> list[bytes]:
    return _needed_in_ack(ctx, marker, OPT_LEASE, b"\x0e\x10")


@reject
def subnet_mask_3_bytes(ctx: Ctx, marker: int) -> list[bytes]:
    return _needed_in_ack(ctx, marker, OPT_SUBNET_MASK, b"\xff\xff\xff")


@reject
def subnet_mask_5_bytes(ctx: Ctx, marker: int) -> list[bytes]:
    return _needed_in_ack(ctx, marker, OPT_SUBNET_MASK, b"\xff\xff\xff\x00\x00")


@reject
def server_id_3_bytes(ctx: Ctx, marker: int) -> list[bytes]:
    opts = replace(poison_options(ctx, marker), OPT_SERVER_ID, ip4(ctx.script.server_id)[:3])
    return [ctx.reply(opts, yiaddr=poison_address(marker))]


@reject
def message_type_2_bytes(ctx: Ctx, marker: int) -> list[bytes]:
    opts = replace(poison_options(ctx, marker), OPT_TYPE, bytes([ctx.reply_type, 0]))
    return [ctx.reply(opts, yiaddr=poison_address(marker))]


@reject
def reply_with_op_bootrequest(ctx: Ctx, marker: int) -> list[bytes]:
    return [poisoned(ctx, marker, op=1)]


@reject
def no_magic_cookie(ctx: Ctx, marker: int) -> list[bytes]:
    frame = poisoned(ctx, marker)
    return [patch(frame, 42 + 236, b"\x63\x82\x53\x64")]  # UDP payload starts at 42


@reject
def hlen_17(ctx: Ctx, marker: int) -> list[bytes]:
    return [patch(poisoned(ctx, marker), 42 + 2, b"\x11")]


# ---- REJECT: a good message, but not for this client or not usable --------------------------


@reject
def wrong_xid(ctx: Ctx, marker: int) -> list[bytes]:
    return [poisoned(ctx, marker, xid=ctx.xid ^ 0x5A5A5A5A)]


@reject
def wrong_chaddr(ctx: Ctx, marker: int) -> list[bytes]:
    return [poisoned(ctx, marker, chaddr=OTHER_CHADDR)]


@reject
def offer_to_someone_else(ctx: Ctx, marker: int) -> list[bytes]:
    payload = ctx.bootp(poison_options(ctx, marker), xid=0x0BADF00D, chaddr=OTHER_CHADDR,
                        yiaddr=poison_address(marker))
    return [bytes(ctx.frame(payload, dst_mac=OTHER_MAC)),
            bytes(ctx.frame(payload, dst_mac="ff:ff:ff:ff:ff:ff", dst_ip="255.255.255.255"))]


@reject
def no_server_id(ctx: Ctx, marker: int) -> list[bytes]:
    opts = replace(poison_options(ctx, marker), OPT_SERVER_ID, None)
    return [ctx.reply(opts, yiaddr=poison_address(marker))]


@reject
def server_id_loopback(ctx: Ctx, marker: int) -> list[bytes]:
    opts = replace(poison_options(ctx, marker), OPT_SERVER_ID, ip4("127.0.0.1"))
    return [ctx.reply(opts, yiaddr=poison_address(marker))]


@reject
def no_lease_time(ctx: Ctx, marker: int) -> list[bytes]:
    if ctx.reply_type != ACK:  # an OFFER may leave it out; only an ACK must have it
        return []
    return [ctx.reply(replace(poison_options(ctx, marker), OPT_LEASE, None),
                      yiaddr=poison_address(marker))]


def _yiaddr_case(address: str, *, ack_only: bool) -> Callable[[Ctx, int], list[bytes]]:
    def build(ctx: Ctx, marker: int) -> list[bytes]:
        if ack_only and ctx.reply_type != ACK:
            return []
        return [poisoned(ctx, marker, yiaddr=address)]
    return build


FORBIDDEN_ADDRESSES = ("127.0.0.1", "224.0.0.1", "255.255.255.255", "0.0.0.0", "240.0.0.1")
# Unusable only given the mask: an OFFER of one may be taken (the ACK is checked with its
# mask), so these go only in ACKs.
SUBNET_EDGES = ("192.0.2.255", "192.0.2.0")
for _addr in FORBIDDEN_ADDRESSES + SUBNET_EDGES:
    _fn = _yiaddr_case(_addr, ack_only=_addr in SUBNET_EDGES)
    _fn.__name__ = "yiaddr_" + _addr.replace(".", "_")
    reject(_fn)


@reject
def nak_wrong_xid(ctx: Ctx, marker: int) -> list[bytes]:
    # accepted, it would send the client back to INIT: a second DISCOVER at the server
    opts = [(OPT_TYPE, bytes([NAK])), (OPT_SERVER_ID, ip4(ctx.script.server_id))]
    return [ctx.reply(opts, xid=ctx.xid ^ 0x00FF00FF, yiaddr="0.0.0.0")]


@reject
def nak_wrong_chaddr(ctx: Ctx, marker: int) -> list[bytes]:
    opts = [(OPT_TYPE, bytes([NAK])), (OPT_SERVER_ID, ip4(ctx.script.server_id))]
    return [ctx.reply(opts, chaddr=OTHER_CHADDR, yiaddr="0.0.0.0")]


# ---- REJECT: the frame around the message is broken ---------------------------------------


@reject
def ip_bad_checksum(ctx: Ctx, marker: int) -> list[bytes]:
    frame = poisoned(ctx, marker)
    good = struct.unpack_from("!H", frame, 24)[0]
    return [patch(frame, 24, struct.pack("!H", good ^ 0x0101))]


@reject
def udp_bad_checksum(ctx: Ctx, marker: int) -> list[bytes]:
    frame = poisoned(ctx, marker)
    good = struct.unpack_from("!H", frame, 40)[0]
    return [patch(frame, 40, struct.pack("!H", (good ^ 0x0101) or 1))]


@reject
def ihl_4(ctx: Ctx, marker: int) -> list[bytes]:
    return [fix_ip_checksum(patch(poisoned(ctx, marker), 14, b"\x44"))]


@reject
def ihl_15(ctx: Ctx, marker: int) -> list[bytes]:
    return [fix_ip_checksum(patch(poisoned(ctx, marker), 14, b"\x4f"))]


@reject
def ip_version_6(ctx: Ctx, marker: int) -> list[bytes]:
    return [fix_ip_checksum(patch(poisoned(ctx, marker), 14, b"\x65"))]


@reject
def ip_total_length_short(ctx: Ctx, marker: int) -> list[bytes]:
    return [fix_ip_checksum(patch(poisoned(ctx, marker), 16, struct.pack("!H", 120)))]


@reject
def ip_total_length_long(ctx: Ctx, marker: int) -> list[bytes]:
    frame = poisoned(ctx, marker)
    return [fix_ip_checksum(patch(frame, 16, struct.pack("!H", len(frame) - 14 + 200)))]


@reject
def udp_length_long(ctx: Ctx, marker: int) -> list[bytes]:
    frame = poisoned(ctx, marker)
    frame = patch(frame, 38, struct.pack("!H", len(frame) - 34 + 100))
    return [patch(frame, 40, b"\0\0")]


@reject
def udp_length_short(ctx: Ctx, marker: int) -> list[bytes]:
    # the UDP length covers 100 octets of the message, less than a BOOTP header
    frame = patch(poisoned(ctx, marker), 38, struct.pack("!H", 8 + 100))
    return [patch(frame, 40, b"\0\0")]


@reject
def udp_length_below_header(ctx: Ctx, marker: int) -> list[bytes]:
    frame = patch(poisoned(ctx, marker), 38, struct.pack("!H", 4))
    return [patch(frame, 40, b"\0\0")]


@reject
def ip_header_truncated(ctx: Ctx, marker: int) -> list[bytes]:
    return [poisoned(ctx, marker)[:14 + 12]]


@reject
def udp_header_truncated(ctx: Ctx, marker: int) -> list[bytes]:
    frame = poisoned(ctx, marker)[:14 + 20 + 4]
    return [fix_ip_checksum(patch(frame, 16, struct.pack("!H", 24)))]


@reject
def bootp_truncated(ctx: Ctx, marker: int) -> list[bytes]:
    # IP and UDP lengths agree with the frame; the message is 200 octets
    frame = poisoned(ctx, marker)[:42 + 200]
    frame = patch(frame, 16, struct.pack("!H", 20 + 8 + 200))
    frame = patch(frame, 38, struct.pack("!H", 8 + 200))
    return [patch(fix_ip_checksum(frame), 40, b"\0\0")]


@reject
def ip_first_fragment_whole_message(ctx: Ctx, marker: int) -> list[bytes]:
    # More Fragments set: the message looks complete, but the datagram is not
    return [fix_ip_checksum(patch(poisoned(ctx, marker), 20, b"\x20\x00"))]


@reject
def ip_fragments(ctx: Ctx, marker: int) -> list[bytes]:
    pkt = Ether(poisoned(ctx, marker))
    pieces = fragment(pkt[IP], fragsize=128)  # type: ignore[no-untyped-call]
    return [bytes(Ether(src=pkt.src, dst=pkt.dst) / piece) for piece in pieces]


@reject
def ip_later_fragment_looking_like_udp(ctx: Ctx, marker: int) -> list[bytes]:
    # offset 8 (64 octets) with a UDP header to port 68 in front of a whole message
    return [fix_ip_checksum(patch(poisoned(ctx, marker), 20, b"\x00\x08"))]


@reject
def wrong_destination_port(ctx: Ctx, marker: int) -> list[bytes]:
    return [bytes(ctx.frame(ctx.bootp(poison_options(ctx, marker),
                                      yiaddr=poison_address(marker)), dport=6768))]


@reject
def wrong_source_port(ctx: Ctx, marker: int) -> list[bytes]:
    return [bytes(ctx.frame(ctx.bootp(poison_options(ctx, marker),
                                      yiaddr=poison_address(marker)), sport=53))]


@reject
def not_udp(ctx: Ctx, marker: int) -> list[bytes]:
    return [fix_ip_checksum(patch(poisoned(ctx, marker), 23, b"\x06"))]  # protocol TCP


# ---- TOLERATE: option-level trouble; the other options are the good ones ------------------


def _with(ctx: Ctx, code: int, value: bytes | None) -> list[bytes]:
    return [ctx.reply(replace(ctx.good_options(), code, value))]


@tolerate
def overload_loop(ctx: Ctx) -> list[bytes]:
    # 52=3 in options, and again in file and in sname: a follower loops forever
    nested = opt(OPT_OVERLOAD, b"\x03") + bytes([OPT_END])
    opts = ctx.good_options() + [(OPT_OVERLOAD, b"\x03")]
    return [ctx.reply(opts, sname=nested, file=nested)]


@tolerate
def overload_repeated(ctx: Ctx) -> list[bytes]:
    opts = ctx.good_options() + [(OPT_OVERLOAD, b"\x01"), (OPT_OVERLOAD, b"\x01")]
    return [ctx.reply(opts, file=opt(OPT_OVERLOAD, b"\x01") + bytes([OPT_END]))]


@tolerate
def overload_nested_points_at_sname(ctx: Ctx) -> list[bytes]:
    # file says "sname too"; sname holds a route through the attacker
    file = opt(OPT_OVERLOAD, b"\x02") + bytes([OPT_END])
    sname = opt(OPT_CLASSLESS, bytes([8, 10]) + ip4(ATTACKER_GW)) + bytes([OPT_END])
    opts = ctx.good_options() + [(OPT_OVERLOAD, b"\x01")]
    return [ctx.reply(opts, sname=sname, file=file)]


@tolerate
def overload_bad_value(ctx: Ctx) -> list[bytes]:
    return [ctx.reply(ctx.good_options() + [(OPT_OVERLOAD, b"\x09")])]


@tolerate
def overload_file_without_end(ctx: Ctx) -> list[bytes]:
    # the file field is all option 0x2b headers with lengths running past its end
    return [ctx.reply(ctx.good_options() + [(OPT_OVERLOAD, b"\x01")], file=b"\x2b\x7f" * 64)]


@tolerate
def search_pointer_loop(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_SEARCH, b"\xc0\x00")


@tolerate
def search_cve_2020_7461_poc(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_SEARCH, bytes.fromhex("02c0010001" "41c001"))


@tolerate
def search_forward_pointer(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_SEARCH, b"\x01a\xc0\x05\x00\x01b\x00")


@tolerate
def search_pointer_in_last_byte(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_SEARCH, b"\x04evil\x00\x01a\xc0")


@tolerate
def search_expansion_past_255(ctx: Ctx) -> list[bytes]:
    # four 63-octet labels, each name pointing at the one before: the last expands to
    # 4 * 64 + 1 = 257 octets. Split over two options (RFC 3396), as it is over 255.
    data = b"\x3f" + b"a" * 63 + b"\x00"
    for i, letter in enumerate(b"bcd"):
        prev = 0 if i == 0 else 65 + (i - 1) * 66
        data += b"\x3f" + bytes([letter]) * 63 + struct.pack("!H", 0xC000 | prev)
    opts = replace(ctx.good_options(), OPT_SEARCH, None)
    return [ctx.reply(opts + [(OPT_SEARCH, data[:200]), (OPT_SEARCH, data[200:])])]


@tolerate
def classless_prefix_33(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_CLASSLESS, bytes([8, 10]) + ip4(ATTACKER_GW)
                 + bytes([33, 10, 0, 0, 0, 0]) + ip4(ATTACKER_GW))


@tolerate
def classless_truncated_destination(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_CLASSLESS, bytes([8, 10]) + ip4(ATTACKER_GW) + bytes([24, 198, 51]))


@tolerate
def classless_trailing_bytes(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_CLASSLESS, bytes([8, 10]) + ip4(ATTACKER_GW) + b"\x08\x0b")


@tolerate
def zero_length_options(ctx: Ctx) -> list[bytes]:
    zero = [(code, b"") for code in (OPT_HOSTNAME, OPT_CAPTIVE, OPT_MTU, OPT_T1, 28, 42, 119)]
    return [ctx.reply(zero + ctx.good_options())]


@tolerate
def pad_runs(ctx: Ctx) -> list[bytes]:
    pads = bytes([OPT_PAD]) * 16
    return [ctx.reply(pads.join(options_bytes([o]) for o in ctx.good_options()) + pads)]


@tolerate
def missing_end(ctx: Ctx) -> list[bytes]:
    return [ctx.reply(end=False, pad=False)]


@tolerate
def missing_end_padded(ctx: Ctx) -> list[bytes]:
    return [ctx.reply(end=False)]


@tolerate
def data_after_end(ctx: Ctx) -> list[bytes]:
    after = options_bytes([(OPT_DNS, ip4("203.0.113.250")), (OPT_ROUTER, ip4(ATTACKER_GW))])
    return [ctx.reply(options_bytes(ctx.good_options()) + bytes([OPT_END]) + after, end=False)]


@tolerate
def split_options(ctx: Ctx) -> list[bytes]:
    # RFC 3396: one value in two options, to be concatenated before decoding
    out: Options = []
    for code, value in ctx.good_options():
        if code in (OPT_DNS, OPT_ROUTER) and len(value) >= 4:
            out += [(code, value[:2]), (code, value[2:])]
        else:
            out.append((code, value))
    return [ctx.reply(out)]


@tolerate
def dns_5_bytes(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_DNS, ip4("203.0.113.251") + b"\x01")


@tolerate
def router_3_bytes(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_ROUTER, ip4(ATTACKER_GW)[:3])


@tolerate
def t1_2_bytes(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_T1, b"\x00\x01")


@tolerate
def mtu_1_byte(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_MTU, b"\x05")


@tolerate
def mtu_below_minimum(ctx: Ctx) -> list[bytes]:
    return _with(ctx, OPT_MTU, struct.pack("!H", 20))


def _strings(ctx: Ctx, hostname: bytes, domain: bytes, search: list[bytes],
             portal: bytes) -> list[bytes]:
    opts = replace(ctx.good_options(), OPT_DOMAIN, domain)
    opts = replace(opts, OPT_SEARCH, b"".join(encode_domain(n) for n in search))
    return [ctx.reply(opts + [(OPT_HOSTNAME, hostname), (OPT_CAPTIVE, portal)])]


@tolerate
def strings_shell_metacharacters(ctx: Ctx) -> list[bytes]:
    return _strings(ctx, b"box;reboot", b"example.test;touch " + PWNED_FILE.encode(),
                    [b"evil$(touch " + PWNED_FILE.encode().replace(b"/", b"_") + b")", b"test"],
                    b"http://portal.test/`touch " + PWNED_FILE.encode() + b"`|reboot&")


@tolerate
def strings_newlines(ctx: Ctx) -> list[bytes]:
    return _strings(ctx, b"box\nnameserver 203.0.113.252",
                    b"example.test\nnameserver 203.0.113.253",
                    [b"corp\nnameserver 203", b"test"],
                    b"http://portal.test/\r\nnameserver 203.0.113.254")


@tolerate
def strings_leading_dash(ctx: Ctx) -> list[bytes]:
    return _strings(ctx, b"-oProxyCommand=reboot", b"-evil.example.test",
                    [b"-evil", b"test"], b"-http://portal.test/")


@tolerate
def strings_control_bytes(ctx: Ctx) -> list[bytes]:
    return _strings(ctx, b"\x1b[31mevil\x1b[0m", b"evil\x00.example.test",
                    [b"ev\x7fil", b"te\xffst"], b"http://portal.test/\x1b]0;evil\x07")


@tolerate
def strings_quotes_and_spaces(ctx: Ctx) -> list[bytes]:
    # (names apart by spaces are several in option 15, as AWS sends: a quote among them
    # drops the option)
    return _strings(ctx, b"box 'evil' \"x\"", b"example.test 'evil'",
                    [b"evil space", b"test"], b"http://portal.test/ evil 'x'")


# ---- SPECIAL -------------------------------------------------------------------------------


@special
def classless_empty(ctx: Ctx) -> list[bytes]:
    # RFC 3442 gives option 121 a minimum length of 5: leasebox drops an empty one, so the
    # reply keeps its Router option (the default route) instead of an empty route table.
    return _with(ctx, OPT_CLASSLESS, b"")


def _forcerenew(ctx: Ctx, *, broadcast: bool, xid: int) -> bytes:
    opts = [(OPT_TYPE, bytes([FORCERENEW])), (OPT_SERVER_ID, ip4(ctx.script.server_id))]
    payload = ctx.bootp(opts, xid=xid, yiaddr="0.0.0.0", ciaddr=ctx.script.address)
    if broadcast:
        return bytes(ctx.frame(payload, dst_mac="ff:ff:ff:ff:ff:ff", dst_ip="255.255.255.255"))
    return bytes(ctx.frame(payload, dst_mac=ctx.client_mac, dst_ip=ctx.script.address))


@special
def forcerenew_unicast(ctx: Ctx) -> list[bytes]:
    return [_forcerenew(ctx, broadcast=False, xid=0x12345678)]


@special
def forcerenew_broadcast(ctx: Ctx) -> list[bytes]:
    return [_forcerenew(ctx, broadcast=True, xid=0x12345679)]


@special
def forcerenew_same_xid(ctx: Ctx) -> list[bytes]:
    return [_forcerenew(ctx, broadcast=False, xid=ctx.xid)]


def flood_frames(ctx: Ctx, count: int, seed: int) -> list[bytes]:
    """`count` junk frames, reproducible from `seed`: random bytes, random UDP payloads to
    port 68, and mutated replies (never with the client's xid and chaddr, so that no mutation
    can turn into a reply the client should take)."""
    rng = random.Random(seed)
    src, dst = mac_bytes(ctx.server_mac), b"\xff" * 6
    sip, dip = ip4(ctx.script.server_id), ip4("255.255.255.255")
    template = bytearray(ctx.bootp(xid=ctx.xid ^ 0xA5A5A5A5, chaddr=OTHER_CHADDR))
    protected = set(range(4, 8)) | set(range(28, 44))  # xid, chaddr
    frames = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.3:
            ethertype = b"\x08\x00" if rng.random() < 0.5 else rng.randbytes(2)
            frames.append(dst + src + ethertype + rng.randbytes(rng.randrange(0, 600)))
        elif kind < 0.6:
            payload = rng.randbytes(rng.randrange(0, 600))
            frames.append(raw_udp_frame(src, dst, sip, dip, payload=payload, ident=i & 0xFFFF))
        else:
            body = bytearray(template)
            for _ in range(rng.randrange(1, 12)):
                pos = rng.randrange(len(body))
                if pos not in protected:
                    body[pos] = rng.randrange(256)
            if rng.random() < 0.2:
                del body[rng.randrange(len(body)):]
            frames.append(raw_udp_frame(src, dst, sip, dip, payload=bytes(body),
                                        ident=i & 0xFFFF))
    return frames


@special
def flood(ctx: Ctx) -> list[bytes]:
    return flood_frames(ctx, 5000, seed=20240611)


@special
def flood_small(ctx: Ctx) -> list[bytes]:
    return flood_frames(ctx, 500, seed=7)


def attacker_routes() -> list[tuple[str, str]]:
    """TunnelVision (CVE-2024-3661): two /1 routes beat any default route."""
    return [("0.0.0.0/1", ATTACKER_GW), ("128.0.0.0/1", ATTACKER_GW)]


assert all(IPv4Address(poison_address(m)) for m in MARKERS)
assert max(MARKERS) < 100, "markers must stay inside 203.0.113.0/24 and 192.0.2.151-254"
