"""leasebox.wire: the strict, pure DHCPv4 codec.

Decoding is total (a Message or DecodeError, nothing else), bounded by the input length,
and never recurses on input; encoding refuses anything decoding would not give back.
"""

from leasebox.wire.client import (
    decline,
    discover,
    inform,
    release,
    request_init_reboot,
    request_rebinding,
    request_renewing,
    request_selecting,
)
from leasebox.wire.frame import Frame, decode_frame, decode_frame_message, encode_frame
from leasebox.wire.message import check, decode, encode
from leasebox.wire.types import (
    BROADCAST,
    CLIENT_PORT,
    MAGIC_COOKIE,
    SERVER_PORT,
    ZERO,
    DecodeError,
    EncodeError,
    Message,
    MessageType,
    Op,
    OptionCode,
    Route,
)

__all__ = [
    "BROADCAST",
    "CLIENT_PORT",
    "MAGIC_COOKIE",
    "SERVER_PORT",
    "ZERO",
    "DecodeError",
    "EncodeError",
    "Frame",
    "Message",
    "MessageType",
    "Op",
    "OptionCode",
    "Route",
    "check",
    "decline",
    "decode",
    "decode_frame",
    "decode_frame_message",
    "discover",
    "encode",
    "encode_frame",
    "inform",
    "release",
    "request_init_reboot",
    "request_rebinding",
    "request_renewing",
    "request_selecting",
]
