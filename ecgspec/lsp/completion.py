"""Completion: declaration kinds, the settings and steps of the enclosing block (read from the
IR classes' fields, as the checker reads them), units, and declared names (imported ones too)."""

from __future__ import annotations

import typing
from typing import Any, Literal

from lsprotocol import types as lsp
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ..check.schema import describe_type, field_markers, is_union, statement_fields, unwrap
from ..ir import KINDS
from ..ir.base import Unit
from ..resolve import Scope
from ..units import DIMENSIONS, UNITS
from .context import Context
from .locate import class_kinds, ref_kinds

_HEADER_FIELDS = ("name", "adapter", "version")  # filled from the declaration's head, never set in its block


def block_class(ctx: Context) -> type[BaseModel] | None:
    """The IR class whose settings and steps the cursor's block takes."""
    cls: Any = KINDS.get(ctx.kind or "")
    for head in ctx.heads:
        if cls is None:
            return None
        cls = getattr(cls, "statements", {}).get(head)
    return cls


def settable(cls: type[BaseModel]) -> dict[str, FieldInfo]:
    """The fields written `name = value` in a block of `cls` (as the checker takes them)."""
    steps = set(statement_fields(cls).values())
    open_block = getattr(cls, "open_block", None)
    return {
        f: info
        for f, info in cls.model_fields.items()
        if f not in steps and f not in _HEADER_FIELDS and f != open_block
    }


def _doc(cls: type[Any]) -> str:
    return (cls.__doc__ or "").strip()


def _item(
    label: str, kind: lsp.CompletionItemKind, detail: str | None = None, doc: str | None = None, **kw: Any
) -> lsp.CompletionItem:
    return lsp.CompletionItem(
        label=label,
        kind=kind,
        detail=detail,
        documentation=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=doc) if doc else None,
        **kw,
    )


def _setting_item(name: str, info: FieldInfo) -> lsp.CompletionItem:
    return _item(
        name,
        lsp.CompletionItemKind.Property,
        describe_type(info.annotation),
        info.description,
        insert_text=f"{name} = ",
    )


def _names(scope: Scope, kinds: set[str]) -> list[lsp.CompletionItem]:
    return [
        _item(n, lsp.CompletionItemKind.Reference, f"{k} (declared in {scope.decls[(k, n)].pos.file})")
        for (k, n) in scope.decls
        if not kinds or k in kinds
    ]


def _constants(scope: Scope) -> list[lsp.CompletionItem]:
    return [_item(n, lsp.CompletionItemKind.Constant, f"let ({let.pos.file})") for n, let in scope.lets.items()]


def _choices(tp: Any) -> list[str]:
    """The words a field's type takes as they are: its literal values, true and false."""
    out: list[str] = []
    stack = [tp]
    while stack:
        base, _ = unwrap(stack.pop())
        if typing.get_origin(base) is Literal:
            out.extend(str(a) for a in typing.get_args(base))
        elif base is bool:
            out.extend(["true", "false"])
        elif is_union(base):
            stack.extend(typing.get_args(base))
    return list(dict.fromkeys(out))


def _field_units(info: FieldInfo | None) -> list[str]:
    """The units of the field's dimension, when it has one (the canonical unit first)."""
    if info is None:
        return []
    tp, markers = field_markers(info)
    members = typing.get_args(tp) if is_union(tp) else (tp,)
    for m in [*markers, *(x for member in members for x in unwrap(member)[1])]:
        if isinstance(m, Unit):
            d = DIMENSIONS[m.dimension]
            return sorted((u for u, (dim, _) in UNITS.items() if dim == d.name), key=lambda u: u != d.canonical)
    return []


def _units(info: FieldInfo | None) -> list[lsp.CompletionItem]:
    fitting = _field_units(info)
    units = fitting or list(UNITS)
    return [
        _item(u, lsp.CompletionItemKind.Unit, DIMENSIONS[UNITS[u][0]].noun, sort_text=f"{i:03d}")
        for i, u in enumerate(units)
    ]


def _value(cls: type[BaseModel] | None, key: str | None, scope: Scope | None) -> list[lsp.CompletionItem]:
    info = cls.model_fields.get(key) if cls is not None and key else None
    if info is None:
        return []
    out = [
        _item(w, lsp.CompletionItemKind.EnumMember, describe_type(info.annotation)) for w in _choices(info.annotation)
    ]
    kinds = ref_kinds(info.annotation)
    if scope is not None:
        if kinds:
            out += _names(scope, kinds)
        out += _constants(scope)
    return out


def complete(ctx: Context, scope: Scope | None) -> list[lsp.CompletionItem]:
    """What may be written at the cursor; `scope`: the file's last check (its names, imported too)."""
    if ctx.where == "top":
        return [
            *(_item(k, lsp.CompletionItemKind.Class, "declaration", _doc(c)) for k, c in KINDS.items()),
            _item("import", lsp.CompletionItemKind.Keyword, 'import "FILE.ecg"'),
            _item("let", lsp.CompletionItemKind.Keyword, "let NAME = value"),
        ]
    if ctx.where == "header":
        kinds = {ctx.kind or ""} if ctx.key == "extends" else {"format"}
        return _names(scope, kinds) if scope is not None else []
    cls = block_class(ctx)
    if cls is None:
        return []
    steps: dict[str, Any] = getattr(cls, "statements", {})
    if ctx.where == "entry":
        return [
            *(_setting_item(n, info) for n, info in settable(cls).items()),
            *(_item(k, lsp.CompletionItemKind.Function, "step", _doc(c)) for k, c in steps.items()),
        ]
    if ctx.where == "value":
        return _value(cls, ctx.key, scope)
    step = steps.get(ctx.key or "")
    if ctx.where == "unit":
        if step is None:
            return _units(cls.model_fields.get(ctx.key or ""))
        positional = getattr(step, "positional", ())
        param = ctx.param if ctx.param in step.model_fields else (positional[0] if positional else None)
        return _units(step.model_fields.get(param) if param else None)
    if step is None:
        return []
    out = [
        _item(n, lsp.CompletionItemKind.Field, describe_type(info.annotation), info.description)
        for n, info in step.model_fields.items()
        if not (typing.get_origin(unwrap(info.annotation)[0]) is tuple and n in statement_fields(step).values())
    ]
    if scope is not None and (kinds := class_kinds(step)):
        out += _names(scope, kinds)
    return out


__all__ = ["block_class", "complete", "settable"]
