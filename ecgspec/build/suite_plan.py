"""A `suite` compiled into an evaluation plan (plans/NAME.json) from the spec's own sources.

Each suite task's `from` steps are walked like a corpus's (hashed `limit`s, stable order); each
record is asked the task's question in its form (ecgspec.targets.suite_forms: the true labels,
one true diagnosis among distractors, the data's own question, the record's report) and
rendered clean on the task's layout and paper.

A task with only `items` (a released file) is left to `ecgspec import-released`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment

from ..artifacts.plan_schema import Item, Plan, Task, Turn
from ..artifacts.suite_tasks import plan_header, task_shell
from ..draw import stream
from ..ir import From, Suite
from ..ir.suite import SuiteTask
from ..program import Program
from ..records import RecordError
from ..render.errors import RenderError
from ..sources import SourceError, label_set, open_source
from ..sources.base import RecordRef, SourceReader
from ..sources.labels import LabelSet
from ..targets.facts import statements
from ..targets.prompts import PromptError, make_environment
from ..targets.suite_forms import FORMS, FormInput, question
from .store import write_atomic
from .work_items import plan_sources, safe_name, walk


@dataclass
class TaskReport:
    id: str
    items: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    note: str | None = None

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass(frozen=True)
class TaskSelection:
    """A suite task's records, walked like a corpus (ecgspec.build.work_items.Selection)."""

    name: str
    sources: tuple[From, ...]
    limit: int | None
    variants: int = 1


def compile_suite(
    program: Program,
    suite_name: str,
    out: Path,
    *,
    data_roots: list[Path] | None = None,
    skip_missing: bool = False,
    limit: int | None = None,
) -> tuple[Path, list[TaskReport]]:
    """Write OUT/plans/SUITE.json and its images under OUT/images/SUITE/; return the plan path and
    per-task counts. Raises SourceError for a task whose data are not there (unless skip_missing)."""
    suite = program.get("suite", suite_name)
    assert isinstance(suite, Suite)
    header = plan_header(program, suite)
    env = make_environment(program.template_folders or program.templates)
    tasks: list[Task] = []
    reports: list[TaskReport] = []
    for st in suite.tasks:
        rep = TaskReport(st.id)
        reports.append(rep)
        if not st.sources:
            rep.note = "released items only: use `ecgspec import-released`"
            continue
        try:
            readers = {s.source: open_source(program, s.source, data_roots=data_roots) for s in st.sources}
            labels = label_set(program, st.labels, data_roots) if st.labels else None
        except SourceError as exc:
            if not skip_missing:
                raise
            rep.note = f"left out: {exc.diagnostic.message}"
            continue
        items = _task_items(program, suite, st, header["suite_hash"], readers, labels, env, out, rep, limit)
        tasks.append(Task(**task_shell(program, st), items=tuple(items)))
    try:
        plan = Plan(**header, tasks=tuple(tasks))
    except ValueError as exc:
        raise PromptError(str(program.position(("suite", suite.name))), f"suite '{suite.name}': {exc}") from None
    path = out / "plans" / f"{suite.name}.json"
    write_atomic(path, json.dumps(plan.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False) + "\n")
    return path, reports


def _task_items(
    program: Program,
    suite: Suite,
    st: SuiteTask,
    suite_hash: str,
    readers: dict[str, SourceReader],
    labels: LabelSet | None,
    env: Environment,
    out: Path,
    rep: TaskReport,
    limit: int | None,
) -> list[Item]:
    """The items of one task: each selected record asked in the task's form, its page rendered once."""
    where = str(program.position(("suite", suite.name)))
    layout, paper = program.get("layout", st.layout), program.get("paper", st.paper)
    vocab = list(labels.vocabulary) if labels is not None else []
    selection = TaskSelection(f"{suite.name}/{st.id}", st.sources, st.limit)
    plans = plan_sources(selection, suite_hash, readers, limit)
    items: list[Item] = []
    for _work, ref in walk(selection, plans, readers, limit):
        base_id = f"{st.id}/{safe_name(ref.source)}-{safe_name(ref.key)}"
        truth = labels.map(statements(ref.codes, ref.labels)) if labels is not None else tuple(ref.labels)
        ctx: dict[str, Any] = {
            "labels": vocab,
            "descriptions": dict(labels.descriptions) if labels else {},
            "record": {"id": ref.key, "source": ref.source},
            "options": [],
            "choices": [],
        }
        asked = FORMS[st.form](
            FormInput(
                task=st,
                ref=ref,
                base_id=base_id,
                truth=tuple(truth),
                labels=labels,
                source_labels=readers[ref.source].labels,
                rng=stream(suite_hash, base_id),
                ctx=ctx,
                ask=lambda c: question(env, st, c, where),
            )
        )
        if isinstance(asked, str):
            rep.skip(asked)
            continue
        rel = f"images/{suite.name}/{st.id}/{safe_name(ref.source)}-{safe_name(ref.key)}.png"
        if not (out / rel).is_file():
            problem = _render(readers[ref.source], ref, layout, paper, suite, suite_hash, base_id, out / rel)
            if problem is not None:
                rep.skip(problem)
                continue
        for q in asked:
            items.append(
                Item(
                    id=q.id,
                    image=f"../{rel}",
                    turns=(Turn(question=q.text),),
                    target=q.target,
                    options=tuple(q.options) if q.options else None,
                    record=f"{ref.source}/{ref.key}",
                    patient=ref.patient,
                )
            )
            rep.items += 1
    return items


def _render(
    reader: SourceReader, ref: RecordRef, layout: Any, paper: Any, suite: Suite, suite_hash: str, key: str, target: Path
) -> str | None:
    """Render a record's clean page to `target`; a reason to skip it where the record is broken."""
    from ..render.api import render_page, write_outputs  # the drawing stack loads only when a page is drawn

    try:
        record = reader.read(ref)
        result = render_page(record, layout, paper, seed=suite.seed, spec_hash=suite_hash, key=key)
        write_outputs(result, target)
    except (RecordError, RenderError) as exc:
        return f"broken record: {exc}"
    return None
