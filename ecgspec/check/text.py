"""Conversion of string-typed values: declaration names, leads, colours, identifiers, templates."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateSyntaxError

from .. import syntax as s
from ..colours import NAMED, normalise_hex
from ..errors import Pos, did_you_mean
from ..ir.base import Colour, DataPath, Expr, Ident, Lead, RefTo, Template
from ..leads import canonical_lead, known_leads
from ..resolve import Scope
from .context import FAIL, Ctx
from .schema import marker

if TYPE_CHECKING:
    from .convert import Converter


def not_found_hint(scope: Scope, name: str, kinds: str) -> str | None:
    """Why a name may be missing: it is another kind, or an import that failed declares it."""
    other = [k for (k, n) in scope.decls if n == name]
    if other:
        return f"'{name}' is a {other[0]}, not a {kinds}"
    if scope.failed_imports:
        return f"the import at {scope.failed_imports[0]} failed; it may declare '{name}'"
    return None


def string(conv: Converter, value: s.Value, markers: list[Any], ctx: Ctx) -> Any:
    ref_m = marker(markers, RefTo)
    if ref_m is not None:
        return reference(conv, value, ref_m, ctx)
    if marker(markers, Lead):
        return lead(conv, value, ctx)
    if marker(markers, Colour):
        return colour(conv, value, ctx)
    if marker(markers, Ident):
        if isinstance(value, s.Ref) and len(value.parts) == 1:
            return value.parts[0]
        if isinstance(value, s.String) and value.value:
            return value.value
        if isinstance(value, s.Number) and value.unit is None:
            return value.text
        return conv.type_error(value, "a name", ctx)
    if marker(markers, Expr):
        if isinstance(value, s.Ref):
            return value.dotted
        return conv.type_error(value, "a field such as `record.rhythm`", ctx)
    if not isinstance(value, s.String):
        hint = f'write it in quotes: "{value.dotted}"' if isinstance(value, s.Ref) else None
        return conv.type_error(value, "a string", ctx, hint)
    if marker(markers, Template) and not check_template(conv, value, ctx):
        return FAIL
    if marker(markers, DataPath) and "\x00" in value.value:
        return conv.type_error(value, "a path", ctx)
    return value.value


def reference(conv: Converter, value: s.Value, ref: RefTo, ctx: Ctx) -> Any:
    if isinstance(value, s.Ref) and len(value.parts) == 1:
        name = value.parts[0]
    elif isinstance(value, s.String):
        name = value.value
    else:
        return conv.type_error(value, " or ".join(f"a {k} name" for k in ref.kinds), ctx)
    for kind in ref.kinds:
        if (kind, name) in conv.scope.decls:
            ctx.deps.add((kind, name))
            return name
    names = conv.scope.names_of(*ref.kinds)
    kinds = " or ".join(ref.kinds)
    hint = did_you_mean(name, names)
    if hint is None:
        hint = not_found_hint(conv.scope, name, kinds) or (
            f"declared {kinds}s: " + ", ".join(sorted(names))
            if names
            else f"no {kinds} is declared; import a file that declares one"
        )
    ctx.diags.error(value.pos, f"{ctx.what}: unknown {kinds} '{name}'", hint, code="unknown-name")
    return FAIL


def lead(conv: Converter, value: s.Value, ctx: Ctx) -> Any:
    if isinstance(value, s.Ref) and len(value.parts) == 1:
        name = value.parts[0]
    elif isinstance(value, s.String):
        name = value.value
    else:
        return conv.type_error(value, "a lead name", ctx)
    canonical = canonical_lead(name)
    if canonical is None:
        ctx.diags.error(
            value.pos,
            f"{ctx.what}: unknown lead '{name}'",
            did_you_mean(name, known_leads()) or "leads are " + ", ".join(known_leads()),
            code="unknown-lead",
        )
        return FAIL
    return canonical


def colour(conv: Converter, value: s.Value, ctx: Ctx) -> Any:
    if isinstance(value, s.Colour):
        return normalise_hex(value.hex)
    if isinstance(value, s.Ref) and len(value.parts) == 1:
        name = value.parts[0].lower()
        if name in NAMED:
            return NAMED[name]
        close = difflib.get_close_matches(name, NAMED, n=1, cutoff=0.85)
        hint = f"did you mean '{close[0]}'?" if close else "write it as #rrggbb, e.g. #f4cccc"
        ctx.diags.error(value.pos, f"{ctx.what}: unknown colour '{value.parts[0]}'", hint, code="unknown-colour")
        return FAIL
    return conv.type_error(value, "a colour such as #e06666", ctx)


def check_template(conv: Converter, value: s.String, ctx: Ctx) -> bool:
    try:
        conv.jinja.parse(value.value)
        return True
    except TemplateSyntaxError as exc:
        line = value.pos.line + (exc.lineno or 1) - 1
        end_col = value.pos.col + 1 if line != value.pos.line else value.pos.end_col
        ctx.diags.error(
            Pos(value.pos.file, line, value.pos.col, line, end_col),
            f"{ctx.what}: template error: {exc.message}",
            code="template-syntax",
        )
        return False
