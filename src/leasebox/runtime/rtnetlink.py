"""rtnetlink, read by hand: a link's facts (ifindex, name, MAC, flags, MTU, largest MTU,
carrier, the bridge or bond it is a port of) and the addresses on a link (with prefix
length and kernel lifetimes).

io reads its link events and the addresses it may announce with it (see io.loop); netconf
reads its one link and its addresses with it (netconf.rtnl), because pyroute2's decoder
keeps a little memory on every read (tests/RESULTS.md, the soak), while pyroute2 stays
netconf's writer.

Only the fixed netlink header, the ifinfomsg and eight attributes, two nested (the
ifaddrmsg and three) are read. The data comes from the kernel, not the network, but every
length is still checked against what is left of the buffer: a parser that trusts lengths
is one bug away from an endless loop.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from leasebox.core.record import record

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE = 24, 25  # netconf's requests (netconf.rtnl), not read here
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x01, 0x04, 0x300
NLM_F_REPLACE, NLM_F_CREATE, NLM_F_APPEND = 0x100, 0x400, 0x800  # of a new object
AF_INET, AF_INET6 = 2, 10
IFA_ADDRESS, IFA_LOCAL, IFA_CACHEINFO = 1, 2, 6
RTMGRP_LINK = 0x01
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_OPERSTATE, IFLA_MAX_MTU = 1, 3, 4, 16, 51
IFLA_MASTER, IFLA_LINKINFO = 10, 18
IFLA_INFO_KIND, IFLA_INFO_SLAVE_KIND = 1, 4  # nested in IFLA_LINKINFO
IFF_UP, IFF_LOOPBACK, IFF_LOWER_UP = 0x1, 0x8, 0x10000
IF_OPER_UNKNOWN, IF_OPER_UP = 0, 6
ARPHRD_ETHER = 1
_NLA_TYPE_MASK = 0x3FFF  # strip NLA_F_NESTED and NLA_F_NET_BYTEORDER

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_AF_BRIDGE = bytes((7,))  # socket.AF_BRIDGE, as an ifinfomsg's first octet
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
_RTATTR = struct.Struct("=HH")  # length, type
_U32 = struct.Struct("=I")
_CACHEINFO = struct.Struct("=IIII")  # preferred, valid, created, updated


class LinkParseError(Exception):
    """The kernel sent something io cannot read (it should never happen)."""


@record
class LinkFacts:
    ifindex: int
    arphrd: int
    mac: bytes | None
    mtu: int | None
    carrier: bool
    name: str | None = None  # None when absent; "" when not a name leasebox takes
    flags: int = 0  # IFF_*
    max_mtu: int | None = None  # IFLA_MAX_MTU: absent before Linux 4.10; 0 from some drivers
    master: int = 0  # IFLA_MASTER: the bridge, bond or VRF the link is a port of; 0: none
    master_kind: str = ""  # its kind ("bridge", "bond", "vrf"...), when the kernel says it
    kind: str = ""  # the link's own ("veth", "macvtap"...); "" for a NIC's, which has none


@record
class LinkGone:
    ifindex: int


@record
class AddressFact:
    """An address on interface `ifindex`, in answer to request `seq`: IFA_LOCAL (4 bytes)
    for IPv4, IFA_ADDRESS (16 bytes) for IPv6."""

    seq: int
    ifindex: int
    address: bytes
    family: int = AF_INET
    prefixlen: int = 0
    lifetimes: tuple[int, int] | None = None  # (valid, preferred) s; None: no IFA_CACHEINFO


@record
class DumpDone:
    seq: int


@record
class NetlinkError:
    seq: int
    errno: int  # positive; 0 is an acknowledgement


@record
class Overrun:
    """The kernel dropped events: whatever io knows about the link may be stale."""


LinkEvent = LinkFacts | LinkGone | AddressFact | DumpDone | NetlinkError | Overrun


def getlink_request(ifindex: int, seq: int) -> bytes:
    """RTM_GETLINK for one interface: the kernel answers with one RTM_NEWLINK."""
    body = _IFINFOMSG.pack(0, 0, ifindex, 0, 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, seq, 0) + body


def getlink_dump_request(seq: int) -> bytes:
    """RTM_GETLINK dump: one RTM_NEWLINK for each interface, ended by NLMSG_DONE."""
    body = _IFINFOMSG.pack(0, 0, 0, 0, 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP,
                          seq, 0) + body


def getaddr_request(ifindex: int, seq: int, family: int = AF_INET) -> bytes:
    """RTM_GETADDR dump of one family's addresses (the kernel may include other
    interfaces': the caller filters by ifindex), ended by NLMSG_DONE."""
    body = _IFADDRMSG.pack(family, 0, 0, 0, ifindex)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP,
                          seq, 0) + body


def _align(n: int) -> int:
    return (n + 3) & ~3


def parse(data: bytes) -> Iterator[LinkEvent]:
    """The link events in one netlink datagram; other message types are skipped."""
    pos = 0
    # Each message is at least a header long and moves pos past it, so this many turns
    # read the whole datagram (an address dump of a busy host holds hundreds of messages).
    for _ in range(len(data) // _NLMSGHDR.size + 1):
        if len(data) - pos < _NLMSGHDR.size:
            return
        length, mtype, _flags, seq, _port = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or length > len(data) - pos:
            raise LinkParseError(f"netlink message length {length} at {pos} of {len(data)}")
        body = data[pos + _NLMSGHDR.size:pos + length]
        pos += _align(length)
        if mtype in (RTM_NEWLINK, RTM_DELLINK):
            if body[:1] == _AF_BRIDGE:
                # a bridge's news of a port (its RTM_DELLINK: the port left the bridge, the
                # link is still there); the link's own come as AF_UNSPEC
                continue
            yield _parse_link(mtype, body)
        elif mtype == RTM_NEWADDR:
            fact = _parse_addr(seq, body)
            if fact is not None:
                yield fact
        elif mtype == NLMSG_DONE:
            yield DumpDone(seq)
        elif mtype == NLMSG_ERROR:
            if len(body) < 4:
                raise LinkParseError("short NLMSG_ERROR")
            (err,) = struct.unpack_from("=i", body)
            yield NetlinkError(seq, -err)
        elif mtype == NLMSG_OVERRUN:
            yield Overrun()
    raise LinkParseError("too many netlink messages in one datagram")


def _attrs(body: bytes, pos: int) -> Iterator[tuple[int, bytes]]:
    """The (type, value) attributes of `body` from `pos`, each length checked."""
    while len(body) - pos >= _RTATTR.size:
        alen, atype = _RTATTR.unpack_from(body, pos)
        if alen < _RTATTR.size or alen > len(body) - pos:
            raise LinkParseError(f"attribute length {alen} at {pos} of {len(body)}")
        yield atype & _NLA_TYPE_MASK, body[pos + _RTATTR.size:pos + alen]
        pos += _align(alen)  # always advances by at least 4: the loop ends


_ADDRESS_OF = {AF_INET: (IFA_LOCAL, 4), AF_INET6: (IFA_ADDRESS, 16)}  # attribute, size


def _parse_addr(seq: int, body: bytes) -> AddressFact | None:
    if len(body) < _IFADDRMSG.size:
        raise LinkParseError(f"ifaddrmsg of {len(body)} bytes")
    family, prefixlen, _flags, _scope, ifindex = _IFADDRMSG.unpack_from(body)
    if family not in _ADDRESS_OF:
        return None
    wanted, size = _ADDRESS_OF[family]
    address: bytes | None = None
    lifetimes: tuple[int, int] | None = None
    for atype, value in _attrs(body, _IFADDRMSG.size):
        if atype == wanted and len(value) == size:
            address = value
        elif atype == IFA_CACHEINFO and len(value) == _CACHEINFO.size:
            preferred, valid, _created, _updated = _CACHEINFO.unpack(value)
            lifetimes = (valid, preferred)
    if address is None:
        return None
    return AddressFact(seq, ifindex, address, family, prefixlen, lifetimes)


def _parse_link(mtype: int, body: bytes) -> LinkEvent:
    if len(body) < _IFINFOMSG.size:
        raise LinkParseError(f"ifinfomsg of {len(body)} bytes")
    _family, arphrd, ifindex, flags, _change = _IFINFOMSG.unpack_from(body)
    if mtype == RTM_DELLINK:
        return LinkGone(ifindex)
    mac: bytes | None = None
    mtu: int | None = None
    max_mtu: int | None = None
    name: str | None = None
    operstate = IF_OPER_UNKNOWN
    master, kind, master_kind = 0, "", ""
    for atype, value in _attrs(body, _IFINFOMSG.size):
        if atype == IFLA_ADDRESS:
            mac = value
        elif atype == IFLA_IFNAME:
            name = _ifname(value)
        elif atype == IFLA_MTU and len(value) == _U32.size:
            (mtu,) = _U32.unpack(value)
        elif atype == IFLA_MAX_MTU and len(value) == _U32.size:
            (max_mtu,) = _U32.unpack(value)
        elif atype == IFLA_OPERSTATE and len(value) == 1:
            operstate = value[0]
        elif atype == IFLA_MASTER and len(value) == _U32.size:
            (master,) = _U32.unpack(value)
        elif atype == IFLA_LINKINFO:
            kind, master_kind = _kinds(value)
    # Carrier as networkd sees it: administratively up, lower layer up, and not dormant or
    # otherwise held back (UNKNOWN is what drivers without operstate support report).
    carrier = (flags & IFF_UP != 0 and flags & IFF_LOWER_UP != 0
               and operstate in (IF_OPER_UP, IF_OPER_UNKNOWN))
    return LinkFacts(ifindex, arphrd, mac, mtu, carrier, name, flags, max_mtu, master,
                     master_kind, kind)


def _kinds(linkinfo: bytes) -> tuple[str, str]:
    """IFLA_INFO_KIND and IFLA_INFO_SLAVE_KIND in IFLA_LINKINFO: the link's own kind and its
    master's, each a short lower-case word; "" when absent or not such a word."""
    kinds = {IFLA_INFO_KIND: "", IFLA_INFO_SLAVE_KIND: ""}
    for atype, value in _attrs(linkinfo, 0):
        if atype in kinds:
            word = value.split(b"\0", 1)[0]
            if 0 < len(word) < 16 and all(0x61 <= b <= 0x7A or 0x30 <= b <= 0x39 or b == 0x5F
                                         for b in word):
                kinds[atype] = word.decode("ascii")
    return kinds[IFLA_INFO_KIND], kinds[IFLA_INFO_SLAVE_KIND]


def _ifname(value: bytes) -> str:
    """IFLA_IFNAME: NUL-terminated, at most IFNAMSIZ - 1 printable ASCII characters; ""
    for any other name (the kernel also takes UTF-8 ones), which is none of ours."""
    raw = value.split(b"\0", 1)[0]
    if not 0 < len(raw) < 16 or not all(0x21 <= b <= 0x7E and b != 0x2F for b in raw):
        return ""
    return raw.decode("ascii")
