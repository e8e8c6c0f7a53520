"""A `suite` compiled into an evaluation plan (plans/NAME.json) from the spec's own sources.

Each suite task's `from` steps are walked like a corpus's (hashed `limit`s, stable order); each
record is rendered clean on the task's layout and paper, and asked the task's question in its
form: the true labels (multi_label), one true diagnosis among distractors from the vocabulary
(multiple_choice), the data's own question (select_all, ECG-QA), or the record's report (report).
Targets come from the record's statements through the task's `labels`, as in a corpus.

A task with only `items` (a released file) is left to `ecgspec import-released`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..artifacts.plan import Item, Plan, Task, Turn
from ..artifacts.suite_tasks import plan_header, task_shell
from ..draw import stream
from ..records import RecordError
from ..render.errors import RenderError
from .facts import statements
from .prompts import LETTERS, PromptError, make_environment, render_block

DEFAULT_PROMPTS = {"multi_label": "bench/multi_label.j2", "multiple_choice": "bench/multiple_choice.j2",
                   "select_all": "bench/select_all.j2", "report": "bench/report.j2"}


@dataclass
class TaskReport:
    id: str
    items: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    note: str | None = None

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _question(env: Any, task: Any, ctx: dict[str, Any], where: str) -> str:
    from jinja2 import TemplateError

    name = task.prompt or DEFAULT_PROMPTS.get(task.form)
    try:
        if task.question:
            tmpl = env.from_string(task.question)
        elif name is None:
            raise PromptError(where, f"task '{task.id}': an open task needs a `question` or a `prompt`")
        else:
            tmpl = env.get_template(name)
        text = render_block(tmpl, "question", ctx) or ""
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        at = f"{Path(env.loader.searchpath[0]) / name}:{line}:1" if (name and not task.question and line) else where
        raise PromptError(at, f"suite task '{task.id}': template error: {exc}") from None
    if not text:
        raise PromptError(where, f"suite task '{task.id}': the question renders empty")
    return text


def compile_suite(program: Any, suite_name: str, out: Path, *, data_roots: list[Path] | None = None,
                  skip_missing: bool = False, limit: int | None = None) -> tuple[Path, list[TaskReport]]:
    """Write OUT/plans/SUITE.json and its images under OUT/images/SUITE/; return the plan path and
    per-task counts. Raises SourceError for a task whose data are not there (unless skip_missing)."""
    from ..build.plan import plan_sources, safe_name, walk
    from ..render.api import render_page, write_outputs
    from ..sources import SourceError, label_set, open_source

    suite = program.get("suite", suite_name)
    header = plan_header(program, suite)
    env = make_environment(program.templates)
    tasks: list[Task] = []
    reports: list[TaskReport] = []
    for st in suite.tasks:
        rep = TaskReport(st.id)
        reports.append(rep)
        where = str(program.position(("suite", suite.name)))
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
        layout, paper = program.get("layout", st.layout), program.get("paper", st.paper)
        shell = task_shell(program, st)
        vocab = list(labels.vocabulary) if labels is not None else []
        describe = (lambda x, ls=labels: ls.descriptions.get(x, x)) if labels is not None else (lambda x: x)
        pseudo = SimpleNamespace(name=f"{suite.name}/{st.id}", sources=st.sources, limit=st.limit, variants=1)
        plans = plan_sources(pseudo, header["suite_hash"], readers, limit)  # type: ignore[arg-type]
        items: list[Item] = []
        for _work, ref in walk(pseudo, plans, readers, limit):  # type: ignore[arg-type]
            base_id = f"{st.id}/{safe_name(ref.source)}-{safe_name(ref.key)}"
            rng = stream(header["suite_hash"], base_id)
            truth = labels.map(statements(ref.codes, ref.labels)) if labels is not None else tuple(ref.labels)
            ctx: dict[str, Any] = {"labels": vocab, "descriptions": dict(labels.descriptions) if labels else {},
                                   "record": {"id": ref.key, "source": ref.source}, "options": [], "choices": []}
            questions: list[tuple[str, Any, list[str] | None, str | None]] = []  # (id, target, options, question)
            if st.form == "multi_label":
                if labels is None:
                    rep.skip("the task names no `labels`")
                    continue
                questions.append((base_id, tuple(truth), None, _question(env, st, ctx, where)))
            elif st.form == "multiple_choice":
                # Without its own `labels`, a task chooses among its source's vocabulary.
                own = labels if labels is not None else readers[ref.source].labels
                pool_true = list(truth)
                universe = list(own.vocabulary) if own is not None else []
                if labels is None and own is not None:
                    describe = (lambda x, own=own: own.descriptions.get(x, x))
                others = [v for v in universe if v not in pool_true]
                if not pool_true or not others:
                    rep.skip("no true label in the vocabulary, or no distractor")
                    continue
                correct = pool_true[int(rng.integers(len(pool_true)))]
                k = min(st.options - 1, len(others))
                chosen = [correct, *(others[int(i)] for i in rng.choice(len(others), size=k, replace=False))]
                chosen = [chosen[int(i)] for i in rng.permutation(len(chosen))]
                options = [describe(c) for c in chosen]
                ctx.update(options=options, choices=[f"{LETTERS[i]}. {o}" for i, o in enumerate(options)])
                questions.append((base_id, LETTERS[chosen.index(correct)], options, _question(env, st, ctx, where)))
            elif st.form == "select_all":
                if not ref.qa:
                    rep.skip("the record has no questions")
                    continue
                for i, qa in enumerate(ref.qa):
                    opts = list(qa.get("options") or []) or None
                    ctx.update(qa=qa, options=opts or [])
                    questions.append((f"{base_id}/q{i}", tuple(str(a) for a in qa.get("answer") or ()), opts,
                                      _question(env, st, ctx, where)))
            elif st.form == "report":
                if not (ref.report or "").strip():
                    rep.skip("the record has no report")
                    continue
                questions.append((base_id, ref.report.strip(), None, _question(env, st, ctx, where)))
            else:  # open: the question is the task's own, judged against no fixed reference
                questions.append((base_id, None, None, _question(env, st, ctx, where)))

            rel = f"images/{suite.name}/{st.id}/{safe_name(ref.source)}-{safe_name(ref.key)}.png"
            target = out / rel
            if not target.is_file():
                try:
                    record = readers[ref.source].read(ref)
                    result = render_page(record, layout, paper, seed=suite.seed, spec_hash=header["suite_hash"],
                                         key=base_id)
                    write_outputs(result, target)
                except (RecordError, RenderError) as exc:
                    rep.skip(f"broken record: {exc}")
                    continue
            for qid, tgt, opts, question in questions:
                items.append(Item(id=qid, image=f"../{rel}", turns=(Turn(question=question),), target=tgt,
                                  options=tuple(opts) if opts else None, record=f"{ref.source}/{ref.key}",
                                  patient=ref.patient))
                rep.items += 1
        tasks.append(Task(**shell, items=tuple(items)))
    try:
        plan = Plan(**header, tasks=tuple(tasks))
    except ValueError as exc:
        raise PromptError(str(program.position(("suite", suite.name))), f"suite '{suite.name}': {exc}") from None
    path = out / "plans" / f"{suite.name}.json"
    from ..build.store import write_atomic

    write_atomic(path, json.dumps(plan.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False) + "\n")
    return path, reports
