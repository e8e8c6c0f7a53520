"""Checks across declarations: defaults that name a declaration, splits that a source declares."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from ..errors import Diagnostics, Pos, did_you_mean
from ..ir import Corpus, From, Instruct, Source, Suite
from ..ir.base import Choice, Decl, RefTo
from ..resolve import Scope
from .context import ByIdentity
from .schema import field_markers, is_union, marker, unwrap

Key = tuple[str, str]


def check_default_references(
    scope: Scope,
    diags: Diagnostics,
    cls: type[BaseModel],
    values: dict[str, Any],
    what: str,
    deps: set[Key],
    where: Pos,
) -> None:
    """A default that names a declaration (`layout = "4x3"`) must exist, and counts as a use."""
    for fname, info in cls.model_fields.items():
        if fname in values or info.is_required() or not isinstance(info.default, str):
            continue
        tp, markers = field_markers(info)
        members = typing.get_args(tp) if is_union(tp) else (tp,)
        ref = marker(markers, RefTo) or next(
            (r for m in members if (r := marker(unwrap(m)[1], RefTo)) is not None), None
        )
        if ref is None:
            continue
        found = next((k for k in ref.kinds if (k, info.default) in scope.decls), None)
        if found is not None:
            deps.add((found, info.default))
            continue
        kinds = " or ".join(ref.kinds)
        diags.error(
            where,
            f"{what} uses the default {kinds} '{info.default}', which is not declared",
            f"import a file that declares it (the shipped ones are in specs/), or set `{fname} = …`",
            code="unknown-default",
        )


def check_splits(
    scope: Scope, diags: Diagnostics, decls: dict[Key, Decl], positions: ByIdentity[dict[str, Pos]]
) -> None:
    """A corpus or suite may only name splits that its source declares."""
    for decl in list(decls.values()):
        froms: list[From] = []
        if isinstance(decl, Corpus):
            froms = list(decl.sources)
        elif isinstance(decl, Suite):
            froms = [f for t in decl.tasks for f in t.sources]
        for f in froms:
            source = decls.get(("source", f.source))
            if f.split is None or not isinstance(source, Source):
                continue
            names = [name for sp in source.split for name in sp.parts]
            if f.split in names:
                continue
            pos = (positions.get(f) or {}).get("split") or scope.decls[(decl.kind, decl.name)].name.pos
            hint = did_you_mean(f.split, names) or (
                f"its splits are {', '.join(names)}"
                if names
                else f"declare one in source '{f.source}': `split by strat_fold {{ train = 1..8; test = 9..10 }}`"
            )
            diags.error(pos, f"source '{f.source}' has no split '{f.split}'", hint, code="unknown-split")


def _field_pos(scope: Scope, origins: dict[Key, Any], key: Key, field: str) -> Pos:
    """Where a declaration's setting was written, else the declaration's name."""
    origin = (origins.get(key) or {}).get(field)
    return origin.pos if origin is not None and origin.pos is not None else scope.decls[key].name.pos


def check_instruct_uses(scope: Scope, diags: Diagnostics, decls: dict[Key, Decl], origins: dict[Key, Any]) -> None:
    """A corpus asks `single` and `dialogue` instructs in its `tasks`, and revises its reports with a
    `report` one in `revise`: each mode has one place, where it means something."""
    for key, decl in decls.items():
        if not isinstance(decl, Corpus):
            continue

        names = list(decl.tasks.options) if isinstance(decl.tasks, Choice) else list(decl.tasks)
        for name in names:
            inst = decls.get(("instruct", str(name)))
            if isinstance(inst, Instruct) and inst.mode == "report":
                diags.error(
                    _field_pos(scope, origins, key, "tasks"),
                    f"instruct '{name}' revises reports (mode = report): it is not a question to ask",
                    f"name it in the corpus's `revise = {name}`, and ask report tasks (`answer = record.report`)",
                    code="instruct-mode",
                )
        if decl.revise is not None:
            inst = decls.get(("instruct", decl.revise))
            if isinstance(inst, Instruct) and inst.mode != "report":
                diags.error(
                    _field_pos(scope, origins, key, "revise"),
                    f"`revise` names instruct '{decl.revise}', whose mode is {inst.mode}, not report",
                    f"name it in `tasks` instead, or set `mode = report` in instruct '{decl.revise}'",
                    code="instruct-mode",
                )


QA_ADAPTERS = ("ecgqa",)  # the sources whose records carry questions (ECG-QA)


def check_select_all(
    scope: Scope, diags: Diagnostics, decls: dict[Key, Decl], positions: ByIdentity[dict[str, Pos]]
) -> None:
    """A `select_all` suite task asks the questions a record carries (ECG-QA's): over a source whose
    records carry none it would plan no item at all, and say nothing."""
    for decl in list(decls.values()):
        if not isinstance(decl, Suite):
            continue
        for task in decl.tasks:
            if task.form != "select_all":
                continue
            for f in task.sources:
                source = decls.get(("source", f.source))
                if not isinstance(source, Source) or source.adapter in QA_ADAPTERS:
                    continue
                where = positions.get(task) or {}
                pos = where.get("form") or where.get("id") or scope.decls[(decl.kind, decl.name)].name.pos
                diags.error(
                    pos,
                    f"task '{task.id}' of suite '{decl.name}' is `select_all`, which asks the questions a record "
                    f"carries, and source '{f.source}' ({source.adapter}) has none",
                    "take it `from` an ECG-QA source (`source NAME from ecgqa`), or ask `multi_label` of this source",
                    code="select-all-source",
                )
