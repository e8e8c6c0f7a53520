"""Reading the IR classes' field declarations: types, markers and their names in words.

The checker converts by these declarations, `explain` writes values back by them and
`docgen` documents them, so all three read a field the same way through this module.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal, TypeVar, Union

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ..ir.base import Colour, Lead, Probability, RefTo, Template, TemplateFile, Unit
from ..units import DIMENSIONS

M = TypeVar("M")


def unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Annotated[T, m1, m2] → (T, [m1, m2]); nested Annotated are flattened."""
    markers: list[Any] = []
    while typing.get_origin(tp) is Annotated:
        markers.extend(tp.__metadata__)
        tp = tp.__origin__
    return tp, markers


def is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def marker(markers: list[Any], kind: type[M]) -> M | None:
    """The first marker of a kind, or None."""
    return next((m for m in markers if isinstance(m, kind)), None)


def bounds(markers: list[Any]) -> list[Any]:
    return [m for m in markers if isinstance(m, (at.Ge, at.Gt, at.Le, at.Lt))]


def field_markers(info: FieldInfo) -> tuple[Any, list[Any]]:
    """A pydantic FieldInfo → (annotation, markers incl. constraints)."""
    tp, inner = unwrap(info.annotation)
    return tp, [*info.metadata, *inner]


def describe_type(tp: Any) -> str:
    """A type in words, for messages."""
    tp, markers = unwrap(tp)
    if (u := marker(markers, Unit)) is not None:
        d = DIMENSIONS[u.dimension]
        return f"{d.noun} ({d.canonical})"
    if marker(markers, Probability):
        return "a probability"
    if marker(markers, Template):
        return "a Jinja template string"
    if marker(markers, TemplateFile):
        return "a template file name"
    if (r := marker(markers, RefTo)) is not None:
        return " or ".join(f"a {k} name" for k in r.kinds)
    if marker(markers, Lead):
        return "a lead name"
    if marker(markers, Colour):
        return "a colour"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if args and args[-1] is not Ellipsis:
            kinds = {describe_type(a) for a in args}
            if len(kinds) == 1:  # "a length (mm)" → "[…, …] of 2 lengths (mm)"
                word, _, rest = kinds.pop().partition(" ")[2].partition(" ")
                return f"a list of {len(args)} {word}s {rest}".rstrip()
            return f"a list of {len(args)} values"
        return "a list"
    if typing.get_origin(tp) is dict:
        return "a list of `key: value` pairs"
    return getattr(tp, "__name__", str(tp))


def statement_fields(cls: type[BaseModel]) -> dict[str, str]:
    """Statement keyword → the tuple field of `cls` that collects those statements."""
    heads: dict[str, str] = {}
    for kw, st_cls in getattr(cls, "statements", {}).items():
        for fname, info in cls.model_fields.items():
            tp, _ = unwrap(info.annotation)
            if typing.get_origin(tp) is tuple:
                args = typing.get_args(tp)
                elem, _ = unwrap(args[0]) if args else (None, [])
                if isinstance(elem, type) and issubclass(st_cls, elem):
                    heads[kw] = fname
                    break
    return heads


def example(info: FieldInfo) -> str:
    """A value to show in a hint for a field: its declared example, or one of its unit."""
    if info.examples:
        return str(info.examples[0])
    tp, markers = field_markers(info)
    members = typing.get_args(tp) if is_union(tp) else (tp,)
    for m in [*markers, *(x for member in members for x in unwrap(member)[1])]:
        if isinstance(m, Unit):
            return DIMENSIONS[m.dimension].example
    return "…"
