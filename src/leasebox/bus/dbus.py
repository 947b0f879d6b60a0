"""One blocking connection to the D-Bus system bus, with deadlines: jeepney underneath.

jeepney (python3-jeepney in Debian 12 and 13) does the authentication and the marshalling
in both directions; this module owns the socket, so that every call has one overall
deadline (jeepney's own connection says Hello without one), a reply is taken only when it
answers our serial *and* comes from the unique name that owns the callee, and messages that
are neither (signals, stray replies) are set aside without counting against any limit: a
local user who sends us signals can slow a call down to its deadline, never make it fail
sooner.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from jeepney import DBusAddress, HeaderFields, Message, MessageType, new_method_call
from jeepney.auth import BEGIN, AuthenticationError, Authenticator
from jeepney.bus_messages import MatchRule, message_bus

SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
CALL_TIMEOUT = 5.0
MAX_MESSAGE = 1 << 20  # what we take from the bus in one message; our replies are tiny
MAX_QUEUED = 256  # signals kept for the caller between two polls; older ones are dropped
BUS_NAME = "org.freedesktop.DBus"  # the bus itself: no client can send with this name


_FIXED_HEADER = 16  # endianness, type, flags, version, body length, serial, fields length


def _message_size(fixed: bytes) -> int:
    """The whole size of the message these 16 bytes begin: the fixed header, the header
    fields (padded to 8) and the body (the D-Bus specification, "Message Format")."""
    order = {ord("l"): "<", ord("B"): ">"}.get(fixed[0])
    if order is None or fixed[3] != 1:
        raise DBusError("D-Bus: not a message of protocol version 1")
    body, _serial, fields = struct.unpack_from(f"{order}III", fixed, 4)
    return int(_FIXED_HEADER + fields + (-(_FIXED_HEADER + fields) % 8) + body)


def _owner_change(msg: Message) -> bool:
    """The bus's NameOwnerChanged, the one signal kept: any client may send us signals of
    its own, and a flood of them must not push a real owner change out of the queue."""
    fields = msg.header.fields
    return (msg.header.message_type is MessageType.signal
            and fields.get(HeaderFields.sender) == BUS_NAME
            and fields.get(HeaderFields.member) == "NameOwnerChanged"
            and fields.get(HeaderFields.signature) == "sss")


class DBusError(OSError):
    """The bus or the callee said no, did not answer in time, or spoke nonsense."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name  # the D-Bus error name, when the callee answered with an error


def socket_path(address: str) -> str:
    """The path of a unix: bus address: the one transport the system bus uses."""
    for part in address.split(";"):
        kind, _, params = part.partition(":")
        if kind != "unix":
            continue
        for param in params.split(","):
            key, _, value = param.partition("=")
            if key == "path" and value:
                return value
            if key == "abstract" and value:
                return "\0" + value
    raise DBusError(f"unsupported D-Bus address {address!r}")


class Connection:
    def __init__(self, address: str = SYSTEM_BUS, timeout: float = CALL_TIMEOUT) -> None:
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._parsed: deque[Message] = deque()  # whole messages, in order, not yet taken
        self._pending = bytearray()  # bytes of the next message, not yet whole
        self._skip = 0  # bytes of an oversized message still to drop
        self.unparsed = 0  # messages dropped as jeepney could not parse them
        self.serial = 0
        self.signals: deque[Message] = deque(maxlen=MAX_QUEUED)
        self.unique_name = ""
        deadline = time.monotonic() + timeout
        try:
            self._settimeout(deadline)
            self.sock.connect(socket_path(address))
            self._authenticate(deadline)
            reply = self._call(message_bus.Hello(), BUS_NAME, deadline)
            self.unique_name = str(reply.body[0])
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    # ---- I/O -------------------------------------------------------------------------------

    def _settimeout(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DBusError("D-Bus: no answer in time")
        self.sock.settimeout(left)

    def _recv(self, deadline: float) -> bytes:
        self._settimeout(deadline)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise DBusError("D-Bus: no answer in time") from None
        if not data:
            raise DBusError("D-Bus: the bus closed the connection")
        return data

    def _authenticate(self, deadline: float) -> None:
        auth = Authenticator()
        try:
            for line in auth:
                if line:
                    self._settimeout(deadline)
                    self.sock.sendall(line)
                if not auth.authenticated and auth.error is None:
                    auth.feed(self._recv(deadline))
        except AuthenticationError as exc:
            raise DBusError(f"D-Bus authentication refused: {exc}") from None
        if not auth.authenticated:
            raise DBusError("D-Bus authentication did not complete")
        self._settimeout(deadline)
        self.sock.sendall(BEGIN)  # the Authenticator leaves the last line to its caller

    def _feed(self, data: bytes) -> None:
        """Parse whole messages only, and none larger than MAX_MESSAGE: a larger one is
        dropped as it streams by, never buffered. Any client may send us signals as large
        as the bus allows (32 MiB on the system bus); failing on one would let a local user
        cut every call short, again and again. Our own replies are tiny: one that large
        would be no answer, and the call ends at its deadline. A message jeepney cannot
        parse is dropped too: the bus passes on a signal whose body names a file descriptor
        it does not carry (signature "h"), and jeepney's stream parser, failing on it,
        ended leasebox-bus with a traceback, and lost its place in the stream besides."""
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._pending += data
        while len(self._pending) >= _FIXED_HEADER:
            size = _message_size(bytes(self._pending[:_FIXED_HEADER]))
            if size > MAX_MESSAGE:
                dropped = min(size, len(self._pending))
                self._skip = size - dropped
                del self._pending[:dropped]
                continue
            if len(self._pending) < size:
                break
            raw = bytes(self._pending[:size])
            del self._pending[:size]
            try:
                msg = Message.from_buffer(raw)
            # (whatever its parsing code raises on data it does not expect: IndexError for
            # a descriptor index, ValueError, KeyError, struct.error...; the message is
            # whole, so the stream stays in step)
            except Exception:  # noqa: BLE001
                self.unparsed += 1  # counted, not logged: anyone may send them by the
                # thousand, and none is ours (the bus and our callees send what parses)
            else:
                self._parsed.append(msg)

    def _next_message(self, deadline: float | None) -> Message | None:
        """The next message; None when `deadline` is None and none is complete yet."""
        while True:
            if self._parsed:
                return self._parsed.popleft()
            if deadline is None:
                return None
            self._feed(self._recv(deadline))

    def send(self, msg: Message, deadline: float) -> int:
        self.serial += 1
        data = msg.serialise(serial=self.serial)
        self._settimeout(deadline)
        self.sock.sendall(data)
        return self.serial

    def _call(self, msg: Message, owner: str, deadline: float) -> Message:
        serial = self.send(msg, deadline)
        while True:
            reply = self._next_message(deadline)
            assert reply is not None
            fields = reply.header.fields
            kind = reply.header.message_type
            sender = fields.get(HeaderFields.sender)
            # The callee's answer; or the bus's own error for the call (the callee left or
            # never answered: ServiceUnknown, NoReply), which only the bus can send.
            if (kind in (MessageType.method_return, MessageType.error)
                    and fields.get(HeaderFields.reply_serial) == serial
                    and (sender == owner or (kind is MessageType.error
                                             and sender == BUS_NAME))):
                if kind is MessageType.error:
                    name = str(fields.get(HeaderFields.error_name, ""))
                    text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
                    raise DBusError(f"{name}: {text}".rstrip(": "), name)
                return reply
            if _owner_change(reply):
                self.signals.append(reply)

    # ---- calls -----------------------------------------------------------------------------

    def owner(self, name: str, deadline: float | None = None) -> str | None:
        """The unique name that owns `name` now, or None."""
        try:
            reply = self._call(message_bus.GetNameOwner(name), BUS_NAME,
                               deadline or time.monotonic() + self.timeout)
        except DBusError as exc:
            if exc.name == "org.freedesktop.DBus.Error.NameHasNoOwner":
                return None
            raise
        return str(reply.body[0])

    def call(self, address: DBusAddress, member: str, signature: str | None = None,
             body: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        """Call `member` on the current owner of the address's bus name, within one deadline
        for the whole exchange. Raises DBusError (the callee's error name in .name)."""
        deadline = time.monotonic() + self.timeout
        owner = self.owner(address.bus_name, deadline)
        if owner is None:
            raise DBusError(f"{address.bus_name} is not on the bus",
                            "org.freedesktop.DBus.Error.ServiceUnknown")
        msg = new_method_call(DBusAddress(address.object_path, owner, address.interface),
                              member, signature, body)
        return tuple(self._call(msg, owner, deadline).body)

    def watch_owner(self, name: str) -> None:
        """Receive NameOwnerChanged for `name` (see owner_changes)."""
        rule = MatchRule(type="signal", sender="org.freedesktop.DBus",
                         interface="org.freedesktop.DBus", member="NameOwnerChanged",
                         path="/org/freedesktop/DBus")
        rule.add_arg_condition(0, name)
        self._call(message_bus.AddMatch(rule), BUS_NAME,
                   time.monotonic() + self.timeout)

    def queued(self) -> bool:
        """Signals read with a call's reply (or complete in the buffer): the socket will not
        wake a selector for them again, so the caller looks here after its calls."""
        while (msg := self._next_message(None)) is not None:
            if _owner_change(msg):
                self.signals.append(msg)
        return bool(self.signals)

    def owner_changes(self) -> Iterator[tuple[str, str]]:
        """(name, new owner) for each NameOwnerChanged received so far, reading what the
        socket has without waiting. The sender is checked: only the bus itself says this."""
        self.sock.setblocking(False)
        try:
            with suppress(BlockingIOError):
                while True:
                    data = self.sock.recv(65536)
                    if not data:
                        raise DBusError("D-Bus: the bus closed the connection")
                    self._feed(data)
        finally:
            self.sock.setblocking(True)
        while (msg := self._next_message(None)) is not None:
            if _owner_change(msg):
                self.signals.append(msg)
        while self.signals:
            name, _old, new = self.signals.popleft().body
            yield str(name), str(new)
