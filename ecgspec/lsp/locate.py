"""The syntax node under the cursor, and the declarations a name there may mean.

Positions here are the compiler's: 1-based lines and columns counted in characters.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from .. import syntax as s
from ..check.schema import unwrap
from ..errors import Pos
from ..ir import KINDS
from ..ir.base import RefTo
from ..resolve import Scope

What = Literal["import", "decl", "header", "ref", "setting", "step"]


@dataclass(frozen=True)
class Found:
    """What the cursor is on: `name` as written at `pos`, in declaration `decl`.

    `kinds`: the declaration kinds a `decl`, `header` or `ref` may name (empty: any kind).
    `owner`: the IR class whose setting or step it is (for `setting` and `step`)."""

    what: What
    name: str
    pos: Pos
    decl: s.Decl | None = None
    kinds: tuple[str, ...] = ()
    owner: type[BaseModel] | None = None


def _inside(pos: Pos, line: int, col: int) -> bool:
    # The end counts too: a cursor just after a name (where typing left it) is on that name.
    return (pos.line, pos.col) <= (line, col) <= (pos.end_line, pos.end_col)


def ref_kinds(tp: Any) -> set[str]:
    """Every declaration kind a field's type may name (its RefTo markers, at any depth)."""
    out: set[str] = set()
    stack = [tp]
    while stack:
        base, markers = unwrap(stack.pop())
        out.update(k for m in markers if isinstance(m, RefTo) for k in m.kinds)
        stack.extend(a for a in typing.get_args(base) if not isinstance(a, (str, int, float, bool)))
    return out


def class_kinds(cls: type[BaseModel]) -> set[str]:
    return {k for info in cls.model_fields.values() for k in ref_kinds(info.annotation)}


def _in_value(v: s.Value | s.KwArg, line: int, col: int) -> s.Ref | None:
    """The single-part name (a declaration or constant, not `record.rhythm`) under the cursor."""
    if not _inside(v.pos, line, col):
        return None
    match v:
        case s.Ref():
            return v if len(v.parts) == 1 else None
        case s.KwArg():
            return _in_value(v.value, line, col)
        case s.ListValue():
            for item in v.items:
                for part in (item.value, item.weight):
                    if part is not None and (found := _in_value(part, line, col)) is not None:
                        return found
        case s.Choice():
            return _in_value(v.items, line, col)
        case s.Call():
            for a in v.args:
                if (found := _in_value(a, line, col)) is not None:
                    return found
    return None


def _in_block(block: s.Block, cls: type[BaseModel] | None, decl: s.Decl, line: int, col: int) -> Found | None:
    for entry in block.entries:
        if not _inside(entry.pos, line, col):
            continue
        if isinstance(entry, s.Setting):
            info = cls.model_fields.get(entry.key.text) if cls is not None else None
            if _inside(entry.key.pos, line, col):
                return Found("setting", entry.key.text, entry.key.pos, decl, owner=cls)
            ref = _in_value(entry.value, line, col)
            if ref is not None:
                kinds = tuple(sorted(ref_kinds(info.annotation))) if info is not None else ()
                return Found("ref", ref.parts[0], ref.pos, decl, kinds)
            continue
        registry: dict[str, Any] = getattr(cls, "statements", {}) if cls is not None else {}
        st_cls = registry.get(entry.head.text)
        if _inside(entry.head.pos, line, col):
            return Found("step", entry.head.text, entry.head.pos, decl, owner=st_cls)
        for term in entry.terms:
            ref = _in_value(term, line, col)
            if ref is not None:
                kinds = tuple(sorted(class_kinds(st_cls))) if st_cls is not None else ()
                return Found("ref", ref.parts[0], ref.pos, decl, kinds)
        if entry.block is not None:
            return _in_block(entry.block, st_cls, decl, line, col)
    return None


def find_at(module: s.Module, line: int, col: int) -> Found | None:
    """The name, import path, setting or step under (line, col), if any."""
    for item in module.items:
        if not _inside(item.pos, line, col):
            continue
        if isinstance(item, s.Import):
            if _inside(item.path.pos, line, col):
                return Found("import", item.path.value, item.path.pos)
        elif isinstance(item, s.Let):
            if _inside(item.name.pos, line, col):
                return Found("ref", item.name.text, item.name.pos)
            ref = _in_value(item.value, line, col)
            if ref is not None:
                return Found("ref", ref.parts[0], ref.pos)
        else:
            kind = item.kind.text
            if _inside(item.name.pos, line, col) or _inside(item.kind.pos, line, col):
                return Found("decl", item.name.text, item.name.pos, item, (kind,))
            for h in item.headers:
                if isinstance(h.value, s.Word) and _inside(h.value.pos, line, col):
                    # `extends BASE` names a declaration of the same kind; `from FORMAT` a format.
                    kinds = (kind,) if h.word.text == "extends" else ("format",)
                    return Found("header", h.value.text, h.value.pos, item, kinds)
            return _in_block(item.body, KINDS.get(kind), item, line, col)
    return None


def candidates(scope: Scope, found: Found) -> list[tuple[str, str]]:
    """The declarations (kind, name) a found name means: of the kinds its place takes, else of any."""
    named = [k for k in scope.decls if k[1] == found.name]
    fitting = [k for k in named if k[0] in found.kinds]
    return fitting or ([] if found.what == "decl" else named)


def names_a_constant(scope: Scope, found: Found) -> bool:
    """A name read as a value is the constant of that name when there is one (constants shadow
    declarations wherever a name is read)."""
    return found.what == "ref" and found.name in scope.lets


__all__ = ["Found", "candidates", "class_kinds", "find_at", "names_a_constant", "ref_kinds"]
