"""Records: the classes that hold messages, events, actions, configuration and state. Pure.

`@record` reads like `@dataclass(frozen=True, slots=True)` and behaves like it: the fields are
the annotations, in order, with their defaults; an __init__ taking them by position or name;
__repr__, __eq__, __hash__ (frozen records), __match_args__, __slots__; assignment refused;
copy and pickle work.
`@record(frozen=False)` is the mutable kind (no __hash__, like a dataclass with eq=True).

Why not dataclasses: a dataclass writes the source of six methods for each class and compiles
it at import, about 0.6 ms a class on Python 3.11, and `dataclasses` loads inspect, ast and dis.
That was 45 % of io's, the engine's and netconf's own import time (89 classes) and 1 MiB of
each process. Here one set of methods serves every record; the checks are the same.
"""

from __future__ import annotations

from collections.abc import Callable

# typing's own flag, without importing typing (and re with it): ~0.8 MiB and ~5 ms of each
# io start, where nothing else loads them. Type checkers take any TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform, overload

    _T = TypeVar("_T")
else:  # at run time these decorators only mark a function for type checkers
    def overload(func: object) -> object:
        return func

    def dataclass_transform(**_marks: object) -> object:
        return overload
_MISSING = object()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], _T]) -> _T:
    """A default made afresh for each instance (a list, a dict, a set)."""
    return _Factory(default_factory)  # type: ignore[return-value]  # a marker, as dataclasses


def _init(self: Any, *args: object, **kwargs: object) -> None:
    cls = self.__class__
    names: tuple[str, ...] = cls.__record_fields__
    if len(args) > len(names):
        raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments "
                        f"but {len(args)} were given")
    put = object.__setattr__
    for name, value in zip(names, args, strict=False):  # the rest come by name
        put(self, name, value)
    if len(args) == len(names) and not kwargs:
        return
    defaults: dict[str, object] = cls.__record_defaults__
    for name in names[len(args):]:
        value = kwargs.pop(name, _MISSING)
        if value is _MISSING:
            value = defaults.get(name, _MISSING)
            if value is _MISSING:
                raise TypeError(f"{cls.__name__}() missing argument {name!r}")
            if value.__class__ is _Factory:
                value = value.make()
        put(self, name, value)
    for name in kwargs:
        what = "got multiple values for" if name in names else "got an unexpected keyword"
        raise TypeError(f"{cls.__name__}() {what} argument {name!r}")


def _values(self: Any) -> tuple[object, ...]:
    return tuple([getattr(self, name) for name in self.__record_fields__])


def _repr(self: Any) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
    return f"{self.__class__.__qualname__}({inner})"


def _eq(self: Any, other: object) -> Any:  # bool, or NotImplemented for another class
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _getstate(self: Any) -> tuple[object, ...]:
    return _values(self)


def _setstate(self: Any, state: tuple[object, ...]) -> None:  # copy and pickle; frozen or not
    for name, value in zip(self.__record_fields__, state, strict=True):
        object.__setattr__(self, name, value)


def _refuse_set(self: Any, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delete(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _make(cls: type[_T], frozen: bool) -> type[_T]:
    body = dict(cls.__dict__)
    if any(hasattr(base, "__record_fields__") for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__name__}: a record does not extend another record")
    annotations = {name: str(kind) for name, kind in body.get("__annotations__", {}).items()}
    if "__post_init__" in body or any(kind.startswith(("InitVar", "KW_ONLY", "dataclasses."))
                                      for kind in annotations.values()):
        raise TypeError(f"{cls.__name__}: __post_init__, InitVar and KW_ONLY are dataclass "
                        "features a record does not have")
    names = tuple(name for name, kind in annotations.items() if "ClassVar" not in kind)
    defaults: dict[str, object] = {}
    for name in names:
        if name in body:
            defaults[name] = body.pop(name)
            if isinstance(defaults[name], list | dict | set):  # shared by every instance
                raise TypeError(f"{cls.__name__}: mutable default for {name!r}: use field("
                                "default_factory=...)")
        elif defaults:
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with")
    if "__eq__" in body and body.get("__hash__", _MISSING) is None:
        del body["__hash__"]  # Python's implicit None for a class with __eq__: hash as below
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body["__slots__"] = names
    body["__record_fields__"] = names
    body["__record_defaults__"] = defaults
    body["__match_args__"] = names
    methods: dict[str, object] = {"__init__": _init, "__repr__": _repr, "__eq__": _eq,
                                  "__getstate__": _getstate, "__setstate__": _setstate,
                                  "__replace__": _replace}  # copy.replace() (3.13)
    if frozen:
        methods.update(__hash__=_hash, __setattr__=_refuse_set, __delattr__=_refuse_delete)
    else:
        methods["__hash__"] = None
    for name, method in methods.items():
        body.setdefault(name, method)
    # __slots__ only take effect when a class is made, so the record is made again
    metaclass: Any = type(cls)
    made: type[_T] = metaclass(cls.__name__, cls.__bases__, body)
    made.__qualname__ = cls.__qualname__
    return made


@overload
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, frozen: bool = True) -> Callable[[type[_T]], type[_T]]: ...  # noqa: F811


# F811: ruff takes these overloads for redefinitions when `overload` is not typing's
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[_T] | None = None, /, *,  # noqa: F811
           frozen: bool = True) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """Make a record of a class (see the module's docstring)."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)


def _replace(obj: _T, /, **changes: object) -> _T:
    """A copy of the record `obj` with some fields changed, checked as its __init__ checks."""
    fields: tuple[str, ...] = obj.__class__.__record_fields__  # type: ignore[attr-defined]
    for name in fields:
        if name not in changes:
            changes[name] = getattr(obj, name)
    return obj.__class__(**changes)


if TYPE_CHECKING:  # mypy checks the names and types of the changes for dataclasses' replace
    from dataclasses import replace as replace  # noqa: PLC0414 (re-exported)
else:
    replace = _replace


def fields(obj: object) -> tuple[str, ...]:
    """The field names of a record or of its class, in order."""
    names: tuple[str, ...] = obj.__record_fields__  # type: ignore[attr-defined]
    return names
