"""leasebox.core.record: what `@dataclass(frozen=True, slots=True)` did, checked against it."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Generic, TypeVar

import pytest

from leasebox.core.record import FrozenInstanceError, field, fields, record, replace

T = TypeVar("T")


@record
class Point:
    x: int
    y: int = 0
    label: str = "p"

    @property
    def total(self) -> int:
        return self.x + self.y


@dataclasses.dataclass(frozen=True, slots=True)
class DataPoint:
    x: int
    y: int = 0
    label: str = "p"


@record
class Other:
    x: int
    y: int = 0
    label: str = "p"


@record(frozen=False)
class Bag:
    name: str
    items: list[int] = field(default_factory=list)


@record
class Box(Generic[T]):
    value: T


def test_fields_defaults_and_init_by_position_or_name() -> None:
    assert fields(Point) == ("x", "y", "label") == fields(Point(1))
    assert Point.__match_args__ == ("x", "y", "label")
    p = Point(1, label="q")
    assert (p.x, p.y, p.label, p.total) == (1, 0, "q", 1)
    assert Point(y=2, x=1) == Point(1, 2) == Point(1, 2, "p")


@pytest.mark.parametrize(("args", "kwargs", "says"), [
    ((), {}, "missing argument 'x'"),
    ((1, 2, "a", 4), {}, "takes 3 positional arguments but 4 were given"),
    ((1,), {"z": 3}, "unexpected keyword argument 'z'"),
    ((1,), {"x": 3}, "multiple values for argument 'x'"),
])
def test_wrong_arguments_are_refused_as_a_dataclass_refuses_them(
        args: tuple[object, ...], kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(TypeError, match=says):
        Point(*args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DataPoint(*args, **kwargs)  # type: ignore[arg-type]


def test_same_repr_equality_and_hash_as_the_dataclass() -> None:
    for args in [(1,), (1, 2), (3, 4, "x")]:
        r, d = Point(*args), DataPoint(*args)  # type: ignore[arg-type]
        assert repr(r).replace("Point", "DataPoint", 1) == repr(d)
        assert hash(r) == hash(Point(*args)) and hash(d) == hash(DataPoint(*args))  # type: ignore[arg-type]
    assert Point(1) != Point(2)
    assert Point(1) != Other(1)  # the same values in another record are another thing
    assert Point(1) != (1, 0, "p")
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_frozen_slotted_and_matched_by_position() -> None:
    p = Point(1, 2)
    with pytest.raises(FrozenInstanceError):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.x
    with pytest.raises(AttributeError):
        p.z = 1  # type: ignore[attr-defined]
    assert not hasattr(p, "__dict__")
    match p:
        case Point(x, y):
            assert (x, y) == (1, 2)
        case _:
            pytest.fail("no match")


def test_mutable_records_take_assignment_and_fresh_defaults() -> None:
    a, b = Bag("a"), Bag("b")
    a.items.append(1)
    a.name = "c"
    assert (a, b) == (Bag("c", [1]), Bag("b", []))
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(AttributeError):
        a.other = 1  # type: ignore[attr-defined]


def test_replace_copies_with_changes_and_checks_them() -> None:
    p = Point(1, 2, "a")
    assert replace(p, y=5) == Point(1, 5, "a")
    assert p == Point(1, 2, "a")
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        replace(p, z=1)  # type: ignore[call-arg]  # mypy sees it too


def test_copy_and_pickle() -> None:
    for value in (Point(1, 2, "a"), Bag("b", [1])):
        assert copy.copy(value) == value == pickle.loads(pickle.dumps(value))
        assert copy.deepcopy(value) == value


def test_generic_records() -> None:
    assert Box[int](3).value == 3
    assert Box("x") == Box("x")


def test_declarations_a_record_cannot_have() -> None:
    with pytest.raises(TypeError, match="without a default follows one with"):
        @record
        class Bad:
            a: int = 0
            b: int  # type: ignore[misc]  # mypy sees it too
    with pytest.raises(TypeError, match="does not extend another record"):
        @record
        class Sub(Point):
            z: int = 0
    with pytest.raises(TypeError, match="mutable default for 'items'"):
        @record(frozen=False)
        class Shared:
            items: list[int] = []
    with pytest.raises(TypeError, match="dataclass features"):
        @record
        class Later:
            x: int

            def __post_init__(self) -> None: ...


def test_an_own_eq_keeps_the_hash_of_a_frozen_record() -> None:
    @record
    class Name:
        text: str

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Name) and self.text.lower() == other.text.lower()

    assert Name("A") == Name("a") and hash(Name("A")) == hash(Name("A"))


def test_copy_replace() -> None:
    """copy.replace() (Python 3.13) calls __replace__, which mypy assumes a record has."""
    replaced = Point.__replace__(Point(1), y=3)  # type: ignore[attr-defined,unused-ignore]
    assert replaced == Point(1, 3)

