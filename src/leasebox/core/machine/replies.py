"""Which received messages are replies to this client's exchange, and what kind they are.

Every check here is independent of the state: that a reply belongs to the exchange in
flight (xid, chaddr, client id), has the fields every OFFER/ACK/NAK must have, and offers
a usable address. What a state accepts from which server is the handlers' business.
"""

from __future__ import annotations

from leasebox.core.machine.addresses import is_subnet_edge, prefixlen_from_mask, usable
from leasebox.core.machine.kinds import Kind
from leasebox.core.wire.types import Message, MessageType, Op

_KINDS = {MessageType.OFFER: Kind.OFFER, MessageType.ACK: Kind.ACK, MessageType.NAK: Kind.NAK}


def _foreign(message: Message, xid: int | None, mac: bytes | None,
             client_id: bytes | None) -> str:
    """Why the message is not a reply to this client's exchange, or ""."""
    if message.op is not Op.BOOTREPLY:
        return "not a BOOTREPLY"
    if xid is None:
        return "no exchange in progress"
    if message.xid != xid:
        return f"foreign xid {message.xid:#010x}"
    if mac is None or message.chaddr != mac:
        return "foreign chaddr"
    # RFC 6842: a server echoes the client identifier; a different one is someone else's.
    if client_id is not None and message.client_id is not None \
            and message.client_id != client_id:
        return "foreign client identifier"
    return ""


def screen(message: Message, xid: int | None, mac: bytes | None,
           client_id: bytes | None) -> Kind | str:
    """The reply's kind, or why it is dropped (one short phrase for the debug log)."""
    if foreign := _foreign(message, xid, mac, client_id):
        return foreign
    kind = _KINDS.get(message.message_type) if message.message_type is not None else None
    if kind is None:
        return f"unexpected message type {message.message_type}"
    if message.server_id is None:
        # RFC 2131 table 3 requires one in a NAK too, but some servers (ESP-IDF's) leave it
        # out. A NAK without one counts where any server may answer (REBOOTING, REBINDING)
        # and in RENEWING (bound.renewing_nak); not in REQUESTING, where every server heard
        # the broadcast REQUEST and the one chosen must be told from the others.
        if kind is not Kind.NAK:
            return "no server identifier"
    elif not usable(message.server_id):
        return f"unusable server identifier {message.server_id}"
    if kind is not Kind.NAK and not usable(message.yiaddr):
        return f"unusable yiaddr {message.yiaddr}"
    if kind is not Kind.NAK and message.subnet_mask is not None:
        # Caught at the OFFER already, not only at the ACK: requesting it wastes an exchange.
        prefixlen = prefixlen_from_mask(message.subnet_mask)
        if prefixlen is not None and is_subnet_edge(message.yiaddr, prefixlen):
            return f"yiaddr {message.yiaddr}/{prefixlen} is a network or broadcast address"
    return kind
