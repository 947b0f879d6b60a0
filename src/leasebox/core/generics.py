"""typing's Generic, TypeVar and Protocol: the real ones for type checkers, plain stand-ins
at run time. Pure.

The engine's generic classes (a setting's value type, the control-client registry) and its
random-source protocol are checked by mypy and mean nothing at run time: no code asks an
instance for its type parameters or checks a protocol with isinstance(). Importing typing
for them cost the engine ~0.5 MiB and ~3 ms at every start (typing loads contextlib and
more with it), so at run time `Generic[T]` is a plain base, `TypeVar` names a parameter
and `Protocol` is a plain base, all with empty __slots__ so that records keep theirs.
"""

from __future__ import annotations

__all__ = ["TYPE_CHECKING", "Generic", "Protocol", "TypeVar"]

TYPE_CHECKING = False  # typing's own flag without importing typing
if TYPE_CHECKING:
    from typing import Generic, Protocol, TypeVar
else:
    class Generic:
        __slots__ = ()

        def __class_getitem__(cls, _parameters):
            return cls

    class Protocol:
        __slots__ = ()

    def TypeVar(name, *_constraints, **_options):  # typing's spelling
        return name
