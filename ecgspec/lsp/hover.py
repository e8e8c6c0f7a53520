"""Hover: `ecgspec explain` of the declaration under the cursor (its resolved values and where
each came from), a constant's value, or what a setting or step takes."""

from __future__ import annotations

from .. import syntax as s
from ..check.schema import describe_type
from ..explain import explain_text
from ..formatter import value as written
from .analysis import Analysis
from .locate import Found, candidates, find_at, names_a_constant


def _fenced(text: str) -> str:
    return f"```ecg\n{text}\n```"


def _declaration(analysis: Analysis, found: Found) -> str | None:
    program = analysis.program
    parts = []
    for key in candidates(program.scope, found):
        if key in program.decls:
            parts.append(_fenced(explain_text(program, key)))
        else:
            parts.append(_fenced(f"{key[0]} {key[1]}    # {program.position(key)}") + "\n\nnot checked: it has errors")
    return "\n\n".join(parts) or None


def _constant(analysis: Analysis, name: str) -> str:
    let = analysis.program.scope.lets[name]
    return _fenced(f"let {name} = {written(let.value)}    # {let.name.pos}")


def hover_text(analysis: Analysis, module: s.Module, line: int, col: int) -> str | None:
    """Markdown for (line, col) of `module` (1-based, in characters), or None."""
    found = find_at(module, line, col)
    if found is None:
        return None
    if found.what == "import":
        return None
    if names_a_constant(analysis.program.scope, found):
        return _constant(analysis, found.name)
    if found.what in ("decl", "ref", "header"):
        return _declaration(analysis, found)
    owner = found.owner
    if owner is None:
        return None
    if found.what == "step":
        return f"**{found.name}** (step)\n\n{(owner.__doc__ or '').strip()}"
    info = owner.model_fields.get(found.name)
    if info is None:
        return None
    default = "" if info.is_required() else f"\n\ndefault: `{info.default!r}`"
    return f"**{found.name}**: {describe_type(info.annotation)}\n\n{info.description or ''}{default}".rstrip()


__all__ = ["hover_text"]
