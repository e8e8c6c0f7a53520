"""Constructing an IR object from converted values, and reporting what the model itself rejects."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from .. import syntax as s
from ..errors import Diagnostics, Pos
from .context import FAIL
from .schema import example


def locate(value: s.Value | None, at_: Any) -> Pos | None:
    """The position of a part of a written value: `("row", i)`, `("item", i, j)` of a matrix,
    or `("value", name)` / `("key", name)` of a list or map."""
    if value is None or at_ is None or not isinstance(value, s.ListValue):
        return None
    kind = at_[0]
    if kind == "row" and at_[1] < len(value.rows) and value.rows[at_[1]]:
        row = value.rows[at_[1]]
        return row[0].pos.to(row[-1].pos)
    if kind == "item" and at_[1] < len(value.rows) and at_[2] < len(value.rows[at_[1]]):
        return value.rows[at_[1]][at_[2]].pos
    if kind in ("value", "key"):
        for item in value.items:
            targets = [item.value] if kind == "key" else [item.weight] if item.weight is not None else [item.value]
            for t in targets:
                leaves = t.items if isinstance(t, s.ListValue) else (s.Item(t, None, t.pos),)
                for leaf in leaves:
                    v = leaf.value
                    text = v.dotted if isinstance(v, s.Ref) else v.value if isinstance(v, s.String) else None
                    if text == at_[1]:
                        return v.pos
    return None


def construct(
    cls: type[BaseModel],
    values: dict[str, Any],
    pos: Pos,
    what: str,
    positions: dict[str, Pos],
    diags: Diagnostics,
    written: dict[str, s.Value] | None = None,
    clean: bool = True,
) -> Any:
    """Construct the IR object, or report and return FAIL. Cross-field checks (`problems()`) run
    only on a declaration without other errors, so that one mistake is not reported twice."""
    if any(v is FAIL for v in values.values()) or any(
        isinstance(v, tuple) and any(x is FAIL for x in v) for v in values.values()
    ):
        return FAIL
    missing = [f for f, info in cls.model_fields.items() if info.is_required() and f not in values]
    for f in missing:
        info = cls.model_fields[f]
        shown = example(info)
        desc = f" ({info.description})" if info.description else ""
        hint: str | None = f"add `{f} = {shown}`{desc}" if shown != "…" else f"add `{f}`{desc}"
        message = f"{what} is missing `{f}`"
        if f == "adapter":
            message = f"{what} has no `from ADAPTER` in its head"
            hint = getattr(cls, "headers", {}).get("from", "").replace("the adapter: ", "adapters: ") or None
        elif f == "version":
            message = f'{what} has no `version "…"` in its head'
            hint = 'write it after the name: `suite NAME version "1.0" { … }`'
        diags.error(pos, message, hint, code="missing-setting")
    if missing:
        return FAIL
    try:
        obj = cls(**values)
    except ValidationError as exc:  # a constraint the converter does not know about
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else ""
            diags.error(positions.get(loc, pos), f"{what}: `{loc}` {err['msg'].lower()}", code="invalid")
        return FAIL
    problems = getattr(obj, "problems", None)
    if problems is not None and clean:
        bad = False
        for problem in problems():
            fname, message, problem_hint = problem[:3]
            at_ = problem[3] if len(problem) > 3 else None
            where = locate((written or {}).get(fname), at_) or positions.get(fname, pos)
            diags.error(where, f"{what}: {message}", problem_hint, code="invalid")
            bad = True
        if bad:
            return FAIL
    return obj
