"""The vocabulary of the transition table: what happened, as one word.

Events map one-to-one to kinds, except MessageReceived, which becomes OFFER, ACK or NAK
once replies.screen has accepted it (and nothing at all when it has not).
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    LINK_UP = "link-up"
    LINK_DOWN = "link-down"
    TIMER = "timer"
    OFFER = "offer"
    ACK = "ack"
    NAK = "nak"
    APPLIED = "applied"
    REFUSED = "refused"
    PROBED = "probed"
    CONFLICT = "conflict"
    RENEW = "renew"
    RELEASE = "release"
    LEAVE = "leave"
