"""Test helper: builders for every message a DHCP client sends, after RFC 2131 table 5.

The client leasebox runs builds its messages in leasebox.core.machine.requests (tested
against table 5 in tests/machine/test_machine_requests.py); these build the same kinds of
message for the codec's own tests, independently of the state machine.

Each builder fills exactly the fields and options table 5 allows for its message (and, for
REQUEST, for the state it is sent from), takes the client's optional options as keyword
arguments, and checks the result with the encoder before returning it: a Message that
comes out of here always encodes, so a bad value (say, a hostname taken from a server) is
caught where it is put in, not when the packet is about to go out.

Table 5 in short (MUST / MAY / MUST NOT; "common" = client id, vendor class, hostname,
parameter request list, max message size):

    message             ciaddr   broadcast flag  requested ip  server id  lease  common
    DISCOVER            0        as needed       MAY           no         MAY    yes
    REQUEST selecting   0        as needed       MUST          MUST       MAY    yes
    REQUEST init-reboot 0        as needed       MUST          no         MAY    yes
    REQUEST renewing    ours     0 (unicast)     no            no         MAY    yes
    REQUEST rebinding   ours     0               no            no         MAY    yes
    DECLINE             0        0               MUST          MUST       no     client id
    RELEASE             ours     0               no            MUST       no     client id
    INFORM              ours     as needed       no            no         no     yes

Rapid commit (RFC 4039) goes only in DISCOVER. The IPv6-only preferred request (RFC 8925)
is option 108 in the parameter request list of DISCOVER, REQUEST and INFORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from leasebox.core.wire.message import check
from leasebox.core.wire.types import ZERO, EncodeError, Message, MessageType, Op, OptionCode

BROADCAST_FLAG = 0x8000


@dataclass(frozen=True, slots=True)
class _Common:
    client_id: bytes | None
    hostname: str | None
    vendor_class_id: bytes | None
    parameter_request_list: tuple[int, ...]
    max_message_size: int | None
    ipv6_only_preferred: bool

    def prl(self) -> tuple[int, ...]:
        codes = tuple(self.parameter_request_list)
        if self.ipv6_only_preferred and OptionCode.IPV6_ONLY_PREFERRED not in codes:
            codes += (int(OptionCode.IPV6_ONLY_PREFERRED),)
        return codes


def _nonzero(name: str, address: IPv4Address) -> IPv4Address:
    if not isinstance(address, IPv4Address) or address == ZERO:
        raise EncodeError(f"{name}: must be a non-zero IPv4Address")
    return address


def _build(
    message_type: MessageType,
    xid: int,
    chaddr: bytes,
    htype: int,
    common: _Common | None,
    *,
    secs: int = 0,
    broadcast: bool = False,
    ciaddr: IPv4Address = ZERO,
    requested_ip: IPv4Address | None = None,
    server_id: IPv4Address | None = None,
    lease_time: int | None = None,
    rapid_commit: bool = False,
    client_id: bytes | None = None,
    error_message: str | None = None,
) -> Message:
    msg = Message(
        op=Op.BOOTREQUEST, xid=xid, chaddr=chaddr, htype=htype, secs=secs,
        flags=BROADCAST_FLAG if broadcast else 0, ciaddr=ciaddr,
        message_type=message_type, requested_ip=requested_ip, server_id=server_id,
        lease_time=lease_time, rapid_commit=rapid_commit,
        client_id=common.client_id if common else client_id,
        hostname=common.hostname if common else None,
        vendor_class_id=common.vendor_class_id if common else None,
        parameter_request_list=common.prl() if common else (),
        max_message_size=common.max_message_size if common else None,
        error_message=error_message,
    )
    check(msg)
    return msg


def discover(
    xid: int,
    chaddr: bytes,
    *,
    secs: int = 0,
    broadcast: bool = False,
    requested_ip: IPv4Address | None = None,
    lease_time: int | None = None,
    rapid_commit: bool = False,
    client_id: bytes | None = None,
    hostname: str | None = None,
    vendor_class_id: bytes | None = None,
    parameter_request_list: tuple[int, ...] = (),
    max_message_size: int | None = None,
    ipv6_only_preferred: bool = False,
    htype: int = 1,
) -> Message:
    common = _Common(client_id, hostname, vendor_class_id, parameter_request_list,
                     max_message_size, ipv6_only_preferred)
    return _build(MessageType.DISCOVER, xid, chaddr, htype, common, secs=secs,
                  broadcast=broadcast, requested_ip=requested_ip, lease_time=lease_time,
                  rapid_commit=rapid_commit)


def request_selecting(
    xid: int,
    chaddr: bytes,
    *,
    server_id: IPv4Address,
    requested_ip: IPv4Address,
    secs: int = 0,
    broadcast: bool = False,
    lease_time: int | None = None,
    client_id: bytes | None = None,
    hostname: str | None = None,
    vendor_class_id: bytes | None = None,
    parameter_request_list: tuple[int, ...] = (),
    max_message_size: int | None = None,
    ipv6_only_preferred: bool = False,
    htype: int = 1,
) -> Message:
    """REQUEST answering an OFFER: names the chosen server and the offered address."""
    common = _Common(client_id, hostname, vendor_class_id, parameter_request_list,
                     max_message_size, ipv6_only_preferred)
    return _build(MessageType.REQUEST, xid, chaddr, htype, common, secs=secs,
                  broadcast=broadcast, requested_ip=_nonzero("requested_ip", requested_ip),
                  server_id=_nonzero("server_id", server_id), lease_time=lease_time)


def request_init_reboot(
    xid: int,
    chaddr: bytes,
    *,
    requested_ip: IPv4Address,
    secs: int = 0,
    broadcast: bool = False,
    lease_time: int | None = None,
    client_id: bytes | None = None,
    hostname: str | None = None,
    vendor_class_id: bytes | None = None,
    parameter_request_list: tuple[int, ...] = (),
    max_message_size: int | None = None,
    ipv6_only_preferred: bool = False,
    htype: int = 1,
) -> Message:
    """REQUEST confirming a remembered address after a reboot or link change: no server id."""
    common = _Common(client_id, hostname, vendor_class_id, parameter_request_list,
                     max_message_size, ipv6_only_preferred)
    return _build(MessageType.REQUEST, xid, chaddr, htype, common, secs=secs,
                  broadcast=broadcast, requested_ip=_nonzero("requested_ip", requested_ip),
                  lease_time=lease_time)


def request_renewing(
    xid: int,
    chaddr: bytes,
    *,
    ciaddr: IPv4Address,
    secs: int = 0,
    lease_time: int | None = None,
    client_id: bytes | None = None,
    hostname: str | None = None,
    vendor_class_id: bytes | None = None,
    parameter_request_list: tuple[int, ...] = (),
    max_message_size: int | None = None,
    ipv6_only_preferred: bool = False,
    htype: int = 1,
) -> Message:
    """REQUEST unicast to the leasing server at T1: ciaddr set, no requested ip/server id."""
    common = _Common(client_id, hostname, vendor_class_id, parameter_request_list,
                     max_message_size, ipv6_only_preferred)
    return _build(MessageType.REQUEST, xid, chaddr, htype, common, secs=secs,
                  ciaddr=_nonzero("ciaddr", ciaddr), lease_time=lease_time)


def request_rebinding(
    xid: int,
    chaddr: bytes,
    *,
    ciaddr: IPv4Address,
    secs: int = 0,
    lease_time: int | None = None,
    client_id: bytes | None = None,
    hostname: str | None = None,
    vendor_class_id: bytes | None = None,
    parameter_request_list: tuple[int, ...] = (),
    max_message_size: int | None = None,
    ipv6_only_preferred: bool = False,
    htype: int = 1,
) -> Message:
    """REQUEST broadcast to any server at T2. On the wire it is the same as renewing; only
    the destination differs, which is the sender's business."""
    common = _Common(client_id, hostname, vendor_class_id, parameter_request_list,
                     max_message_size, ipv6_only_preferred)
    return _build(MessageType.REQUEST, xid, chaddr, htype, common, secs=secs,
                  ciaddr=_nonzero("ciaddr", ciaddr), lease_time=lease_time)


def decline(
    xid: int,
    chaddr: bytes,
    *,
    requested_ip: IPv4Address,
    server_id: IPv4Address,
    client_id: bytes | None = None,
    message: str | None = None,
    htype: int = 1,
) -> Message:
    """DECLINE an ACKed address found in use. Table 5 allows nothing else (the message
    option SHOULD say why)."""
    return _build(MessageType.DECLINE, xid, chaddr, htype, None,
                  requested_ip=_nonzero("requested_ip", requested_ip),
                  server_id=_nonzero("server_id", server_id), client_id=client_id,
                  error_message=message)


def release(
    xid: int,
    chaddr: bytes,
    *,
    ciaddr: IPv4Address,
    server_id: IPv4Address,
    client_id: bytes | None = None,
    message: str | None = None,
    htype: int = 1,
) -> Message:
    """RELEASE the lease on `ciaddr`, unicast to the server that granted it."""
    return _build(MessageType.RELEASE, xid, chaddr, htype, None,
                  ciaddr=_nonzero("ciaddr", ciaddr), server_id=_nonzero("server_id", server_id),
                  client_id=client_id, error_message=message)


def inform(
    xid: int,
    chaddr: bytes,
    *,
    ciaddr: IPv4Address,
    secs: int = 0,
    broadcast: bool = False,
    client_id: bytes | None = None,
    hostname: str | None = None,
    vendor_class_id: bytes | None = None,
    parameter_request_list: tuple[int, ...] = (),
    max_message_size: int | None = None,
    ipv6_only_preferred: bool = False,
    htype: int = 1,
) -> Message:
    """INFORM: ask for configuration only, for an address configured by other means."""
    common = _Common(client_id, hostname, vendor_class_id, parameter_request_list,
                     max_message_size, ipv6_only_preferred)
    return _build(MessageType.INFORM, xid, chaddr, htype, common, secs=secs,
                  broadcast=broadcast, ciaddr=_nonzero("ciaddr", ciaddr))
