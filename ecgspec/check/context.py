"""What every conversion carries: its context (`Ctx`) and the failure marker (`FAIL`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from ..errors import Diagnostics


class Fail:
    """The result of a conversion that reported an error."""

    def __repr__(self) -> str:
        return "FAIL"


# Typed Any so that a conversion's result can stand where its IR value goes; test it with `is FAIL`.
FAIL: Any = Fail()


@dataclass
class Ctx:
    """What a conversion is for: names the field in messages, collects references and problems.

    Problems go to `diags`. A conversion tried quietly (a member of a union, a value reached
    through a `let`) runs on `trial()`, and its caller decides what to pass on."""

    what: str  # "setting 'speed' of paper 'x'"
    deps: set[tuple[str, str]]
    diags: Diagnostics
    via: list[str] = field(default_factory=list)  # lets followed to reach the value

    def trial(self) -> Ctx:
        """The same conversion (shared references and lets) with its own problem collector."""
        return replace(self, diags=Diagnostics())


V = TypeVar("V")


class ByIdentity(Generic[V]):
    """A map keyed by (object identity, tag). It keeps each key object alive, so that an id
    is never reused by another object while the map holds a value for it."""

    def __init__(self) -> None:
        self._items: dict[tuple[int, str], tuple[object, V]] = {}

    def get(self, obj: object, tag: str = "") -> V | None:
        item = self._items.get((id(obj), tag))
        return item[1] if item is not None else None

    def set(self, obj: object, value: V, tag: str = "") -> None:
        self._items[(id(obj), tag)] = (obj, value)
