"""The contract between leasebox's processes (see messages.py) and its transport."""

from leasebox.ipc.messages import (
    DIRECTION,
    INFINITE,
    MAX_DNS,
    MAX_DOMAINS,
    MAX_FRAME,
    MAX_ROUTERS,
    MAX_ROUTES,
    Apply,
    Frame,
    LinkState,
    Message,
    MsgType,
    Peer,
    PeerViolation,
    Probe,
    ProbeResult,
    Remove,
    Result,
    ResultStatus,
    SendBroadcast,
    SendUnicast,
    TxDone,
    decode,
    encode,
    i2s,
)

__all__ = [
    "DIRECTION", "INFINITE", "MAX_DNS", "MAX_DOMAINS", "MAX_FRAME", "MAX_ROUTERS", "MAX_ROUTES",
    "Apply", "Frame", "LinkState", "Message", "MsgType", "Peer", "PeerViolation", "Probe",
    "ProbeResult", "Remove", "Result", "ResultStatus", "SendBroadcast", "SendUnicast", "TxDone",
    "decode", "encode", "i2s",
]
