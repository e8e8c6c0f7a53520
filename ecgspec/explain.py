"""`ecgspec explain`: a declaration as the compiler understood it, and where each value came from."""

from __future__ import annotations

import json
import typing
from typing import Any, Literal

from pydantic import BaseModel

from .check.schema import field_markers, is_union, marker, statement_fields, unwrap
from .ir import Decl
from .ir.base import (
    DISTRIBUTIONS,
    Choice,
    Colour,
    Expr,
    Ident,
    Lead,
    LogNormal,
    Normal,
    Probability,
    RefTo,
    Span,
    Uniform,
    Unit,
)
from .program import Key, Program
from .units import DIMENSIONS

# Values of these kinds are names, written without quotes.
_BARE = (RefTo, Lead, Ident, Colour, Expr)


def _num(x: float, unit: str | None) -> str:
    text = f"{x:g}"
    if unit is None:
        return text
    if unit == "%":
        return f"{x * 100:g}%"
    return f"{text} {unit}"


def show(value: Any, tp: Any, markers: list[Any]) -> str:
    """An IR value written back in the language, in canonical units."""
    tp, inner = unwrap(tp)
    markers = [*markers, *inner]
    if is_union(tp) and isinstance(value, (Uniform, Normal, LogNormal, Span, Choice)):
        # The unit of a distribution is the unit of the plain member it varies.
        plain = next(
            (m for m in typing.get_args(tp) if unwrap(m)[0] not in DISTRIBUTIONS and unwrap(m)[0] is not type(None)),
            None,
        )
        if plain is not None:
            base, base_markers = unwrap(plain)
            markers = [*markers, *base_markers]
            if isinstance(value, Choice):  # a choice among the elements of a list setting shows the elements
                return show(value, typing.get_args(base)[0] if typing.get_origin(base) is tuple else base, markers)
    unit_m = marker(markers, Unit)
    if unit_m is None and marker(markers, Probability) is not None:
        unit_m = Unit("fraction")
    unit = DIMENSIONS[unit_m.dimension].canonical if unit_m else None
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Uniform):
        return f"uniform({_num(value.lo, unit)}, {_num(value.hi, unit)})"
    if isinstance(value, Normal):
        extra = "".join(f", {k} = {_num(v, unit)}" for k, v in (("lo", value.lo), ("hi", value.hi)) if v is not None)
        return f"normal({_num(value.mu, unit)}, {_num(value.sigma, unit)}{extra})"
    if isinstance(value, LogNormal):
        return f"lognormal({value.mu:g}, {value.sigma:g})"
    if isinstance(value, Span):
        return (
            f"{value.lo:g}..{_num(value.hi, unit)}"
            if unit != "%"
            else f"{_num(value.lo, unit)}..{_num(value.hi, unit)}"
        )
    if isinstance(value, Choice):
        elem = _choice_elem(tp)
        return (
            "choice["
            + ", ".join(f"{show(o, elem, markers)}: {w:.4g}" for o, w in zip(value.options, value.weights, strict=True))
            + "]"
        )
    if is_union(tp):
        for member in typing.get_args(tp):
            m, _ = unwrap(member)
            if m in DISTRIBUTIONS or m is type(None):
                continue
            return show(value, member, markers)
    if isinstance(value, (int, float)):
        return _num(float(value), unit) if unit else f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        bare = typing.get_origin(tp) is Literal or any(isinstance(m, _BARE) for m in markers)
        if bare and (
            value.isidentifier()
            or value.startswith("#")
            or "." in value
            and all(p.isidentifier() for p in value.split("."))
        ):
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        args = typing.get_args(tp)
        elem = args[0] if args else Any
        if value and isinstance(value[0], tuple):
            row_tp = typing.get_args(unwrap(elem)[0])
            cell = row_tp[0] if row_tp else Any
            return "[" + " | ".join(", ".join(show(x, cell, []) for x in row) for row in value) + "]"
        return "[" + ", ".join(show(x, elem, []) for x in value) + "]"
    if isinstance(value, dict):
        vt = typing.get_args(tp)[1] if typing.get_args(tp) else Any
        return "[" + ", ".join(f"{json.dumps(k)}: {show(v, vt, [])}" for k, v in value.items()) + "]"
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return repr(value)


def _choice_elem(tp: Any) -> Any:
    for member in typing.get_args(tp) if is_union(tp) else (tp,):
        m, _ = unwrap(member)
        if m in DISTRIBUTIONS or m is type(None):
            continue
        if typing.get_origin(m) is tuple:
            return typing.get_args(m)[0]
        return member
    return Any


def _statement_lines(obj: BaseModel, indent: str) -> list[str]:
    """A step as it would be written: positional values, then `name value`, then `p = …`."""
    cls = type(obj)
    parts = [getattr(cls, "keyword", cls.__name__)]
    named: list[str] = []
    block: list[str] = []
    for fname, info in cls.model_fields.items():
        v = getattr(obj, fname)
        tp, markers = field_markers(info)
        if isinstance(v, tuple) and v and isinstance(v[0], BaseModel):
            for sub in v:
                block.extend(_statement_lines(sub, indent + "    "))
            continue
        if isinstance(v, dict) and getattr(cls, "open_block", None) == fname:
            block.extend(f"{indent}    {k} = {_folds(x)}" for k, x in v.items())
            continue
        if fname == "p" or (v == info.default and fname not in getattr(cls, "positional", ())):
            continue
        text = show(v, tp, markers)
        if fname in getattr(cls, "positional", ()) and not named:
            parts.append(text)
        else:
            named.append(f"{fname} {text}")
    p = getattr(obj, "p", 1.0)
    tail = [f"p = {p * 100:g}%"] if "p" in cls.model_fields and p != 1.0 else []
    line = indent + " ".join([*parts, *named])
    if block:
        return [line + " {", *block, indent + "}" + "".join(" " + t for t in tail)]
    return [line + "".join(" " + t for t in tail)]


def _folds(v: Any) -> str:
    if isinstance(v, tuple):
        if len(v) > 2 and list(v) == list(range(v[0], v[0] + len(v))):
            return f"{v[0]}..{v[-1]}"
        return str(v[0]) if len(v) == 1 else "[" + ", ".join(map(str, v)) + "]"
    if isinstance(v, float):
        return f"{v * 100:g}%"
    return str(v)


def explain_text(program: Program, key: Key) -> str:
    decl: Decl = program.decls[key]
    kind, name = key
    origins = program.origins.get(key, {})
    pos = program.position(key)
    shown = name if name.isidentifier() else json.dumps(name)
    lines = [f"{kind} {shown}    # {pos}", f"# hash {program.hash_of(kind, name)}"]
    rows: list[tuple[str, str, str]] = []
    for fname, info in type(decl).model_fields.items():
        if fname == "name":
            continue
        v = getattr(decl, fname)
        if isinstance(v, tuple) and v and isinstance(v[0], BaseModel):
            for sub in v:
                for ln in _statement_lines(sub, "    "):
                    rows.append((ln, "", ""))
            continue
        if isinstance(v, tuple) and not v and fname in statement_fields(type(decl)).values():
            continue
        tp, markers = field_markers(info)
        origin = origins.get(fname)
        rows.append((fname, show(v, tp, markers), origin.describe() if origin else "default"))
    width = max((len(r[0]) for r in rows if r[1] or r[2]), default=0)
    vwidth = min(max((len(r[1]) for r in rows if r[1] or r[2]), default=0), 48)
    for key_, val, org in rows:
        if not val and not org:
            lines.append(key_)
        else:
            lines.append(f"    {key_.ljust(width)} = {val.ljust(vwidth)}  # {org}")
    deps = sorted(program.deps.get(key, ()))
    if deps:
        lines.append("# uses " + ", ".join(f"{k} {n}" for k, n in deps))
    return "\n".join(lines)


def explain_json(program: Program, key: Key) -> dict[str, Any]:
    decl = program.decls[key]
    pos = program.position(key)
    return {
        "kind": key[0],
        "name": key[1],
        "file": pos.file,
        "line": pos.line,
        "hash": program.hash_of(*key),
        "value": decl.model_dump(mode="json"),
        "origins": {f: o.describe() for f, o in program.origins.get(key, {}).items()},
        "uses": [f"{k}:{n}" for k, n in sorted(program.deps.get(key, ()))],
    }


def find(program: Program, name: str) -> tuple[list[Key], list[str]]:
    """Declarations matching `name` or `kind:name`; and all names, for suggestions."""
    kind, _, bare = name.rpartition(":")
    matches = [k for k in program.decls if k[1] == bare and (not kind or k[0] == kind)]
    return matches, sorted({n for _, n in program.decls})
