"""The BOOTREQUESTs the engine sends, built field by field after RFC 2131 table 5.

    message             ciaddr  flags      requested ip  server id  client's own options
    DISCOVER            0       0 (*)      previous one  -          all (+ rapid commit)
                                           (or RequestAddress=)
    REQUEST selecting   0       0 (*)      offered       offerer's  all
    REQUEST init-reboot 0       0 (*)      remembered    -          all
    REQUEST renewing    ours    0          -             -          all
    REQUEST rebinding   ours    0          -             -          all
    DECLINE             0       0          declined      leaser's   client id only
    RELEASE             ours    0          -             leaser's   client id only

"All" is client id (61), hostname (12) or client FQDN (81, never both), vendor class (60),
the parameter request list (55, with 108 added when IPv6-only is preferred) and max message
size (57).

(*) BROADCAST with RequestBroadcast=yes (config.request_broadcast), for a server or relay
that cannot answer a client without an address otherwise. Off by default, as RFC 2131 4.1
allows a client that receives unicasts before it has an address (io's packet socket sees
the reply sent to our MAC address): a broadcast reply goes to every host on the link, and
wakes every DHCP client there.

This is the one implementation of table 5. Values are checked where the configuration is
read, so the engine never raises on its own output in the middle of an exchange.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from leasebox.core.machine.types import ClientConfig
from leasebox.core.wire.types import ZERO, Message, MessageType, Op, OptionCode

BROADCAST_FLAG = 0x8000
MIN_MAX_MESSAGE_SIZE = 576  # RFC 2132 9.10
MAX_SECS = 0xFFFF


def _parameter_request_list(config: ClientConfig) -> tuple[int, ...]:
    # As configured: the default list has 121 before 3 (RFC 3442), RequestOptions= adds
    # after it, and Anonymize='s is in ascending order (RFC 7844 3.6).
    codes = tuple(config.request_options)
    if config.ipv6_only_preferred and OptionCode.IPV6_ONLY_PREFERRED not in codes:
        codes += (int(OptionCode.IPV6_ONLY_PREFERRED),)
    return codes


def _solicit(config: ClientConfig, message_type: MessageType, xid: int, mac: bytes,
             secs: float, *, flags: int = 0, ciaddr: IPv4Address = ZERO,
             requested_ip: IPv4Address | None = None, server_id: IPv4Address | None = None,
             rapid_commit: bool = False) -> Message:
    """A DISCOVER or REQUEST: these carry all of the client's own options."""
    return Message(
        op=Op.BOOTREQUEST,
        xid=xid,
        chaddr=mac,
        secs=min(max(int(secs), 0), MAX_SECS),
        flags=flags,
        ciaddr=ciaddr,
        message_type=message_type,
        requested_ip=requested_ip,
        server_id=server_id,
        rapid_commit=rapid_commit,
        client_id=config.client_id,
        hostname=None if config.client_fqdn else config.hostname,
        client_fqdn=config.client_fqdn,
        unknown=config.send_options,
        vendor_class_id=config.vendor_class_id,
        parameter_request_list=_parameter_request_list(config),
        max_message_size=max(config.max_message_size, MIN_MAX_MESSAGE_SIZE),
    )


def _broadcast(config: ClientConfig) -> int:
    return BROADCAST_FLAG if config.request_broadcast else 0


def discover(config: ClientConfig, xid: int, mac: bytes, secs: float,
             wanted: IPv4Address | None) -> Message:
    """`wanted`: the address asked for (option 50), the last one held or RequestAddress=."""
    return _solicit(config, MessageType.DISCOVER, xid, mac, secs, flags=_broadcast(config),
                    requested_ip=wanted, rapid_commit=config.rapid_commit)


def request_selecting(config: ClientConfig, xid: int, mac: bytes, secs: float, *,
                      offered: IPv4Address, server_id: IPv4Address) -> Message:
    return _solicit(config, MessageType.REQUEST, xid, mac, secs, flags=_broadcast(config),
                    requested_ip=offered, server_id=server_id)


def request_init_reboot(config: ClientConfig, xid: int, mac: bytes, secs: float,
                        address: IPv4Address) -> Message:
    return _solicit(config, MessageType.REQUEST, xid, mac, secs, flags=_broadcast(config),
                    requested_ip=address)


def request_renewing(config: ClientConfig, xid: int, mac: bytes, secs: float,
                     address: IPv4Address) -> Message:
    """Also the rebinding REQUEST: the two differ only in where they are sent."""
    return _solicit(config, MessageType.REQUEST, xid, mac, secs, ciaddr=address)


def decline(config: ClientConfig, xid: int, mac: bytes, address: IPv4Address,
            server_id: IPv4Address) -> Message:
    return Message(op=Op.BOOTREQUEST, xid=xid, chaddr=mac, ciaddr=ZERO,
                   message_type=MessageType.DECLINE, requested_ip=address,
                   server_id=server_id, client_id=config.client_id)


def release(config: ClientConfig, xid: int, mac: bytes, address: IPv4Address,
            server_id: IPv4Address) -> Message:
    return Message(op=Op.BOOTREQUEST, xid=xid, chaddr=mac, ciaddr=address,
                   message_type=MessageType.RELEASE, server_id=server_id,
                   client_id=config.client_id)
