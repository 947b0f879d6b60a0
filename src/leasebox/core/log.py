"""The log every leasebox module writes to: a logger per module, levels, %-style messages,
journal fields. Pure but for its default: until leasebox.runtime.log.setup() says where
records go, WARNING and above go to stderr, as the standard logging's last resort does.

Why not the standard `logging`: leasebox uses a logger per module and one handler of its
own, and `logging` loads traceback, tokenize, threading, string and weakref with it: ~0.7
MiB and ~4 ms of CPU in io and in the engine at every start (Debian 12), for each of them
for good. The calls read the same (`log.info("%s", x, extra={"FIELD": ...})`,
`exc_info=True`); what logging's hierarchy, filters and handlers did is one threshold and
one sink. Libraries that use `logging` (pyroute2 in netconf) are forwarded to the same
sink by runtime.log.forward_library_logs().
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

from leasebox.core.record import record

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50  # logging's numbers


@record
class Record:
    """One line: who logged it (logger and code position), how loud, the text and fields."""

    name: str
    level: int
    message: str
    fields: Mapping[str, object]
    file: str = ""
    line: int = 0
    func: str = ""
    traceback: str = ""

    def text(self) -> str:
        """The message, and the traceback under it when there is one."""
        return f"{self.message}\n{self.traceback}" if self.traceback else self.message


def _stderr(record: Record) -> None:
    try:
        sys.stderr.write(record.text() + "\n")
    except (OSError, ValueError, AttributeError):  # no stderr (closed, or None): nowhere left
        pass


class _Config:
    __slots__ = ("level", "sink")

    def __init__(self) -> None:
        self.level = WARNING  # the threshold of every leasebox logger
        self.sink: Callable[[Record], None] = _stderr


config = _Config()


def configure(level: int, sink: Callable[[Record], None]) -> None:
    """Where every record at `level` and above goes from now on (runtime.log.setup)."""
    config.level = level
    config.sink = sink


def syslog_priority(level: int) -> int:
    """syslog's priority for a level (the levels between count as the next one): the prefix
    journald reads on a stream, as on a datagram."""
    for at_most, priority in ((DEBUG, 7), (INFO, 6), (WARNING, 4), (ERROR, 3), (CRITICAL, 2)):
        if level <= at_most:
            return priority
    return 1


def _message(msg: object, args: tuple[object, ...]) -> str:
    text = str(msg)
    if not args:
        return text
    try:
        return text % args
    except (TypeError, ValueError, KeyError) as exc:  # a bad format string loses no line
        return f"{text!r} % {args!r} (could not format: {exc})"


def _last_resort_text(msg: object, args: tuple[object, ...]) -> str:
    """The message as well as it can still be shown, when making or sending it failed."""
    try:
        return _message(msg, args)
    except Exception:  # noqa: BLE001, S110 (an argument whose str() fails: the message alone)
        pass
    try:
        return str(msg)
    except Exception:  # noqa: BLE001 (a message whose str() fails: its class)
        return f"<{type(msg).__name__} that cannot be shown>"


def _traceback() -> str:
    if sys.exc_info()[0] is None:
        return ""
    import traceback  # noqa: PLC0415 (only when an exception is logged: see the docstring)

    return traceback.format_exc().rstrip("\n")


class Logger:
    """log.debug/info/warning/error/exception(msg, *args, extra={...}, exc_info=False).

    `extra` holds journal fields (upper-case names: INTERFACE=, MESSAGE_ID=...); a logger
    made with `fields` adds its own to each of its records. A record never raises: if it
    cannot be sent, its message goes to stderr with its syslog priority.
    Unlike logging's: `exc_info` is True or False (the exception being handled), a single
    dict argument is not taken as a mapping for %(name)s, and there is no stacklevel=.
    """

    __slots__ = ("fields", "name")

    def __init__(self, name: str, fields: Mapping[str, object] | None = None) -> None:
        self.name = name
        self.fields: Mapping[str, object] = fields or {}

    def isEnabledFor(self, level: int) -> bool:
        return level >= config.level

    def log(self, level: int, msg: object, *args: object,
            extra: Mapping[str, object] | None = None, exc_info: bool = False) -> None:
        if level >= config.level:
            self._emit(level, msg, args, extra, exc_info)

    def debug(self, msg: object, *args: object, extra: Mapping[str, object] | None = None,
              exc_info: bool = False) -> None:
        if DEBUG >= config.level:
            self._emit(DEBUG, msg, args, extra, exc_info)

    def info(self, msg: object, *args: object, extra: Mapping[str, object] | None = None,
             exc_info: bool = False) -> None:
        if INFO >= config.level:
            self._emit(INFO, msg, args, extra, exc_info)

    def warning(self, msg: object, *args: object, extra: Mapping[str, object] | None = None,
                exc_info: bool = False) -> None:
        if WARNING >= config.level:
            self._emit(WARNING, msg, args, extra, exc_info)

    def error(self, msg: object, *args: object, extra: Mapping[str, object] | None = None,
              exc_info: bool = False) -> None:
        if ERROR >= config.level:
            self._emit(ERROR, msg, args, extra, exc_info)

    def exception(self, msg: object, *args: object,
                  extra: Mapping[str, object] | None = None) -> None:
        """An error with the traceback of the exception being handled."""
        if ERROR >= config.level:
            self._emit(ERROR, msg, args, extra, True)

    def critical(self, msg: object, *args: object, extra: Mapping[str, object] | None = None,
                 exc_info: bool = False) -> None:
        if CRITICAL >= config.level:
            self._emit(CRITICAL, msg, args, extra, exc_info)

    def _emit(self, level: int, msg: object, args: tuple[object, ...],
              extra: Mapping[str, object] | None, exc_info: bool) -> None:
        frame = sys._getframe(2)  # the caller of debug/info/...: as logging finds it
        try:
            fields = {**self.fields, **extra} if extra else self.fields
            record = Record(self.name, level, _message(msg, args), fields,
                            frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name,
                            _traceback() if exc_info else "")
            config.sink(record)
        except Exception:  # noqa: BLE001 (a log line never takes its process down)
            text = _last_resort_text(msg, args)
            _stderr(Record(self.name, level, f"<{syslog_priority(level)}>{text}", {}))
