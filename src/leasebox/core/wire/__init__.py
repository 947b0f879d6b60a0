"""leasebox.core.wire: the strict, pure DHCPv4 codec.

Decoding is total (a Message or DecodeError, nothing else), bounded by the input length,
and never recurses on input; encoding refuses anything decoding would not give back.
"""

from leasebox.core.values import Route
from leasebox.core.wire.frame import Frame, decode_frame, decode_frame_message, encode_frame
from leasebox.core.wire.message import check, decode, encode
from leasebox.core.wire.types import (
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
    "decode",
    "decode_frame",
    "decode_frame_message",
    "encode",
    "encode_frame",
]
