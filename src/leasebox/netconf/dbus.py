"""Just enough of the D-Bus wire protocol to call systemd-resolved's Link methods.

No new dependency and no subprocess (busctl): one AF_UNIX connection per call, SASL
EXTERNAL authentication (the kernel vouches for our uid), Hello, one method call, its
reply. Marshalling covers only the types those calls use (y b i u s o g, arrays, structs,
variants in the header). Replies are read with every length bounded, and only the fields
needed are decoded: the reply serial, the error name, and an error's message.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
CALL_TIMEOUT = 5.0  # netconf waits for this while an engine waits for netconf
MAX_HEADER = 1 << 16
MAX_BODY = 1 << 20
MAX_AUTH_LINE = 512

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
F_PATH, F_INTERFACE, F_MEMBER, F_ERROR_NAME, F_REPLY_SERIAL, F_DESTINATION = 1, 2, 3, 4, 5, 6
F_SENDER, F_SIGNATURE = 7, 8


class DBusError(OSError):
    """The bus or the callee said no, or spoke something we do not accept."""


# ---- marshalling (little-endian) -----------------------------------------------------------


class Writer:
    def __init__(self) -> None:
        self.buf = bytearray()

    def align(self, n: int) -> None:
        self.buf += b"\0" * (-len(self.buf) % n)

    def byte(self, value: int) -> None:
        self.buf.append(value)

    def u32(self, value: int) -> None:
        self.align(4)
        self.buf += struct.pack("<I", value)

    def i32(self, value: int) -> None:
        self.align(4)
        self.buf += struct.pack("<i", value)

    def boolean(self, value: bool) -> None:
        self.u32(1 if value else 0)

    def string(self, value: str) -> None:
        data = value.encode("utf-8")
        if b"\0" in data:
            raise ValueError("NUL in a D-Bus string")
        self.u32(len(data))
        self.buf += data + b"\0"

    def signature(self, value: str) -> None:
        data = value.encode("ascii")
        self.buf.append(len(data))
        self.buf += data + b"\0"

    def array(self, element_alignment: int, write_elements: Callable[[], None]) -> None:
        self.u32(0)
        at = len(self.buf) - 4
        self.align(element_alignment)  # padding before the first element is not counted
        start = len(self.buf)
        write_elements()
        self.buf[at:at + 4] = struct.pack("<I", len(self.buf) - start)

    def byte_array(self, data: bytes) -> None:
        """An `ay`: bytes need no alignment, so the length is just len(data)."""
        self.u32(len(data))
        self.buf += data

    def struct_start(self) -> None:
        self.align(8)


@dataclass(frozen=True, slots=True)
class Call:
    destination: str
    path: str
    interface: str
    member: str
    signature: str = ""
    body: bytes = b""


def encode_call(call: Call, serial: int) -> bytes:
    fields: list[tuple[int, str, str]] = [
        (F_PATH, "o", call.path), (F_INTERFACE, "s", call.interface),
        (F_MEMBER, "s", call.member), (F_DESTINATION, "s", call.destination),
    ]
    if call.signature:
        fields.append((F_SIGNATURE, "g", call.signature))
    w = Writer()
    w.buf += struct.pack("<cBBBII", b"l", METHOD_CALL, 0, 1, len(call.body), serial)

    def write_fields() -> None:
        for code, sig, value in fields:
            w.struct_start()
            w.byte(code)
            w.signature(sig)
            if sig == "g":
                w.signature(value)
            else:
                w.string(value)

    w.array(8, write_fields)
    w.align(8)
    return bytes(w.buf) + call.body


# ---- unmarshalling (either byte order, header fields only) ---------------------------------


class Reader:
    def __init__(self, data: bytes, order: str) -> None:
        self.data, self.pos, self.order = data, 0, order

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DBusError("D-Bus message truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def align(self, n: int) -> None:
        self.take(-self.pos % n)

    def u32(self) -> int:
        self.align(4)
        value: int = struct.unpack(self.order + "I", self.take(4))[0]
        return value

    def string(self) -> str:
        n = self.u32()
        data = self.take(n + 1)
        return data[:-1].decode("utf-8", "replace")

    def signature(self) -> str:
        n = self.take(1)[0]
        return self.take(n + 1)[:-1].decode("ascii", "replace")


@dataclass(frozen=True, slots=True)
class Reply:
    kind: int
    reply_serial: int | None
    error_name: str | None
    error_message: str


def decode_reply(header: bytes, fields: bytes, body: bytes) -> Reply:
    order = "<" if header[0:1] == b"l" else ">"
    kind = header[1]
    r = Reader(fields, order)
    got: dict[int, Any] = {}
    while r.pos < len(fields):
        r.align(8)
        code = r.take(1)[0]
        sig = r.signature()
        if sig in ("s", "o"):
            got[code] = r.string()
        elif sig == "g":
            got[code] = r.signature()
        elif sig == "u":
            got[code] = r.u32()
        else:
            raise DBusError(f"unexpected D-Bus header field type {sig!r}")
    message = ""
    if kind == ERROR and str(got.get(F_SIGNATURE, "")).startswith("s"):
        message = Reader(body, order).string()
    serial = got.get(F_REPLY_SERIAL)
    return Reply(kind, serial if isinstance(serial, int) else None,
                 str(got[F_ERROR_NAME]) if F_ERROR_NAME in got else None, message)


# ---- the connection ------------------------------------------------------------------------


def _socket_path(address: str) -> str:
    # Only the one transport the system bus uses; anything else is a configuration error.
    for part in address.split(";"):
        kind, _, params = part.partition(":")
        if kind == "unix":
            for param in params.split(","):
                key, _, value = param.partition("=")
                if key == "path":
                    return value
                if key == "abstract":
                    return "\0" + value
    raise DBusError(f"unsupported D-Bus address {address!r}")


class Connection:
    def __init__(self, address: str, timeout: float = CALL_TIMEOUT) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        self.serial = 0
        try:
            self.sock.connect(_socket_path(address))
            self._authenticate()
            self.call(Call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "Hello"))
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _read_exact(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = self.sock.recv(n - len(chunks))
            if not chunk:
                raise DBusError("D-Bus connection closed")
            chunks += chunk
        return bytes(chunks)

    def _authenticate(self) -> None:
        uid = str(os.geteuid()).encode().hex()
        self.sock.sendall(b"\0AUTH EXTERNAL " + uid.encode() + b"\r\n")
        line = bytearray()
        while not line.endswith(b"\r\n"):
            if len(line) > MAX_AUTH_LINE:
                raise DBusError("D-Bus authentication reply too long")
            line += self._read_exact(1)
        if not line.startswith(b"OK "):
            raise DBusError(f"D-Bus authentication refused: {bytes(line).strip()!r}")
        self.sock.sendall(b"BEGIN\r\n")

    def _read_message(self) -> Reply:
        header = self._read_exact(16)
        if header[0:1] not in (b"l", b"B") or header[3] != 1:
            raise DBusError("not a D-Bus message")
        order = "<" if header[0:1] == b"l" else ">"
        body_len, _serial, fields_len = struct.unpack(order + "III", header[4:16])
        if fields_len > MAX_HEADER or body_len > MAX_BODY:
            raise DBusError("D-Bus message too large")
        fields = self._read_exact(fields_len)
        self._read_exact(-(16 + fields_len) % 8)
        body = self._read_exact(body_len)
        return decode_reply(header, fields, body)

    def call(self, call: Call) -> None:
        """Call and wait for its reply; signals and other traffic are skipped."""
        self.serial += 1
        serial = self.serial
        self.sock.sendall(encode_call(call, serial))
        for _ in range(64):  # bounded: the bus may interleave a few signals (NameAcquired)
            reply = self._read_message()
            if reply.reply_serial != serial or reply.kind not in (METHOD_RETURN, ERROR):
                continue
            if reply.kind == ERROR:
                raise DBusError(f"{call.member}: {reply.error_name}: {reply.error_message}")
            return
        raise DBusError(f"{call.member}: no reply among 64 messages")
