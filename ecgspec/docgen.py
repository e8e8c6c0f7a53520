"""docs/reference.md, generated from the IR classes: the settings of every declaration kind
and the parameters of every step. `python -m ecgspec.docgen > docs/reference.md`; a test
keeps the committed file in step with the code."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .check.schema import describe_type, field_markers, is_union, statement_fields, unwrap
from .explain import show
from .ir import KINDS, STEPS
from .ir.base import DISTRIBUTIONS
from .units import DIMENSIONS, UNITS


def _type_words(info: Any) -> str:
    tp, markers = field_markers(info)
    members = typing.get_args(tp) if is_union(tp) else (tp,)
    words: list[str] = []
    varies = False
    for m in members:
        base, _ = unwrap(m)
        if base is type(None):
            words.append("`none`")
        elif base in DISTRIBUTIONS:
            varies = True
        else:
            words.append(describe_type(typing.Annotated[m, *markers]) if markers else describe_type(m))
    text = " or ".join(dict.fromkeys(words))
    return text + (" (may vary)" if varies else "")


def _default(info: Any) -> str:
    if info.is_required():
        return "**required**"
    default = info.default if info.default is not PydanticUndefined else info.default_factory()
    tp, markers = field_markers(info)
    text = show(default, tp, markers)
    return f"`{text}`" if len(text) < 40 else "(a template, see the source)"


def _table(cls: type[BaseModel], skip: set[str]) -> list[str]:
    rows = ["| setting | value | default | meaning |", "|---|---|---|---|"]
    for name, info in cls.model_fields.items():
        if name in skip:
            continue
        rows.append(f"| `{name}` | {_type_words(info)} | {_default(info)} | {info.description or ''} |")
    return rows


def reference() -> str:
    out = [
        "# ecgspec language reference: settings and steps",
        "",
        "Generated from the IR classes in `ecgspec/ir/` by `python -m ecgspec.docgen`; do not edit by hand.",
        "The narrative reference is [language.md](language.md).",
        "",
        "## Units",
        "",
        "| unit | dimension | in canonical units |",
        "|---|---|---|",
    ]
    for unit, (dim, factor) in UNITS.items():
        canonical = "(a fraction)" if dim == "fraction" else DIMENSIONS[dim].canonical
        out.append(f"| `{unit}` | {dim} | {factor:g} {canonical} |")
    for kind, cls in KINDS.items():
        out += ["", f"## `{kind}`", "", (cls.__doc__ or "").strip().replace("\n    ", "\n"), ""]
        if set(cls.headers) - {"extends"}:
            out += ["Head: " + "; ".join(f"`{w}` — {h}" for w, h in cls.headers.items()), ""]
        stmt_fields = set(statement_fields(cls).values())
        out += _table(cls, {"name", *stmt_fields})
        for kw, st in getattr(cls, "statements", {}).items():
            if kind == "distort":
                continue
            out += [
                "",
                f"Step `{kw}`"
                + (f" (positional: {', '.join(st.positional)})" if st.positional else "")
                + f": {(st.__doc__ or '').strip()}",
                "",
            ]
            out += _table(st, {f for f in st.model_fields if f in ("steps", "sources")})
    out += [
        "",
        "## Distortion steps",
        "",
        "Written in a `distort` block in order, e.g. `rotate uniform(-3 deg, 3 deg) p = 0.5`.",
        "",
    ]
    for kw, st in STEPS.items():
        stage = getattr(st, "stage", "raster")
        pos = f"; positional: {', '.join(st.positional)}" if st.positional else ""
        out += [f"### `{kw}` ({stage}{pos})", "", (st.__doc__ or "").strip(), ""]
        out += _table(st, {"steps"})
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
