"""Questions the handlers ask of an event or of the context."""

from __future__ import annotations

from leasebox.core.machine.context import Context
from leasebox.core.machine.lease import is_infinite
from leasebox.core.machine.types import Event, MessageReceived
from leasebox.core.wire.types import Message


def expect_message(event: Event) -> Message:
    """The message of a MessageReceived (the table routes only those to message handlers)."""
    if not isinstance(event, MessageReceived):
        raise TypeError(f"bug: {type(event).__name__} routed to a message handler")
    return event.message


def expired(ctx: Context) -> bool:
    lease = ctx.lease
    return lease is not None and not is_infinite(lease) and ctx.now >= lease.expires_at
