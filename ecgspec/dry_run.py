"""`check`'s dry run of every template a build renders: task questions and answers, suite task prompts,
and papers' headers and footers, each rendered against a made-up record, so that a template's mistakes
show at check time, all at once and located in the template, instead of one per build.

The record states its rate, intervals, axis, age, sex and report the way a machine export does, and
holds a label of each vocabulary. Each task is asked with a few seeds: a closed question both about a
label the record has and one it lacks, a multiple-choice question with its options in several orders.
What is checked is what the build checks (ecgspec.targets.prompts, ecgspec.targets.suite_forms,
ecgspec.render.header): undefined names, a fill-in without its blank, a multiple-choice question that
does not show its options, `<image>` in a template, an empty question or answer; and beyond it: text
that still holds `{{` or `{%` (a tag left unclosed), and an answer block whose answer is not of the
form's shape (a closed answer that does not say yes or no as the record has it, a multiple-choice answer
without its letter, a number answer without the number). Facts that need the signal itself
(regularity, ST, T) are not asked here. Suite prompts are also asked of a few real records of the
task's sources when their index is at hand.

Declarations are dry-run one by one: a declaration with no error of its own, and none in what it
refers to, is run even when others in the spec have errors, so one run reports both.

Task templates see `record` (and the task's own names), not the `paper` or `layout` the item is drawn
on: a question is about the record, and the page's speed and gain are printed on the page itself for
the model to read (its footer), so a question that names them would give away what it should read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from jinja2 import Undefined

from .errors import Diagnostic, Pos

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from .ir.suite import SuiteTask
    from .program import Program

Key = tuple[str, str]
SEEDS = 6  # asks per task: enough for both sides of a closed question and a few option orders
SAMPLES = 2  # real records a suite prompt is also asked of, where the task's source index is at hand
_WHERE = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+)$")
_LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_FOUND = " (found by check's dry run of the template)"

# What a machine export states of a record: enough for every fact that does not read the signal.
DRY_META: dict[str, Any] = {
    "age": 61,
    "sex": "F",
    "heart_rate": 72,
    "pr": 164,
    "qrs": 92,
    "qt": 384,
    "qtc": 420,
    "p_axis": 50,
    "qrs_axis": 40,
    "t_axis": 35,
    "rr": 833,
}
DRY_REPORT = "Sinus rhythm. Normal ECG."
# What a header sees of a layout when the spec declares none (a build always draws on one): 4x3's.
DRY_LAYOUT: dict[str, Any] = {
    "name": "dry-run",
    "rows": 3,
    "columns": 4,
    "column": 2.5,
    "rhythm": ["II"],
    "windows": "shared",
    "chest_leads": ["V1", "V2", "V3", "V4", "V5", "V6"],
}
DRY_QA: dict[str, Any] = {
    "question": "Does this ECG show sinus rhythm?",
    "options": ["yes", "no", "not sure"],
    "answer": ["yes"],
    "type": "single-verify",
}


class _NoSignal(Exception):
    """The dry record has no signal: a fact that needs it is not asked."""


def dry_run(program: Program) -> list[Diagnostic]:
    """Every problem of every template a build of the spec renders, located."""
    return [*dry_run_tasks(program), *dry_run_suites(program), *dry_run_headers(program)]


# ---- which declarations can be run -------------------------------------------------------------------


def sound(program: Program) -> Callable[[Key], bool]:
    """Whether a declaration was checked without an error of its own or in anything it refers to:
    only those are dry-run, so a mistake elsewhere in the spec does not hide theirs."""
    errors = [d for d in program.diagnostics if d.severity == "error"]
    if any(d.pos.line == 0 for d in errors):  # a bad -D: any value may be wrong
        return lambda key: False
    broken: set[Key] = set()
    for key, node in program.scope.decls.items():
        span = node.pos
        if any(d.pos.file == span.file and span.line <= d.pos.line <= span.end_line for d in errors):
            broken.add(key)
    memo: dict[Key, bool] = {}

    def ok(key: Key) -> bool:
        # Iterative: a long chain of references must not exhaust the recursion limit.
        stack, seen = [key], {key}
        while stack:
            k = stack.pop()
            if memo.get(k) is False or k not in program.decls or k in broken:
                memo[key] = False
                return False
            for dep in program.deps.get(k, ()):
                if dep not in seen and memo.get(dep) is not True:
                    seen.add(dep)
                    stack.append(dep)
        memo[key] = True
        return True

    return ok


# ---- task templates ---------------------------------------------------------------------------------


def _labels(program: Program, name: str) -> Any:
    """The task's vocabulary: read as a build reads it, or from its declaration alone when its
    tables cannot be read here (they are data, maybe on another machine)."""
    from .sources import SourceError, label_set
    from .sources.labels import LabelSet

    try:
        return label_set(program, name)
    except (SourceError, OSError, KeyError):
        decl = program.get("labels", name)
        mapping = {code: tuple(targets) for code, targets in decl.map.items()}
        for v in decl.vocabulary:
            mapping.setdefault(v, (v,))
        return LabelSet(
            name,
            tuple(decl.vocabulary),
            mapping,
            frozenset(mapping),
            synonyms=dict(decl.synonyms),
            descriptions=dict(decl.descriptions),
        )


def _where(text: str, fallback: Pos) -> Pos:
    """A PromptError's place: a line of a template file, else (an inline question) the setting."""
    m = _WHERE.match(text)
    if m is None or m["file"] == "<template>":
        return fallback
    if m["file"] == fallback.file and int(m["line"]) == fallback.line:
        return fallback
    line, col = int(m["line"]), int(m["col"])
    return Pos(m["file"], line, col, line, col + 1)


def _setting_pos(program: Program, key: Key, fields: tuple[str, ...] = ("question", "template")) -> Pos:
    """Where a declaration's question or template is written (its name when neither is found)."""
    origins = program.origins.get(key, {})
    for field in fields:
        origin = origins.get(field)
        if origin is not None and origin.pos is not None:
            return origin.pos
    return program.position(key)


def environment(program: Program) -> ImmutableSandboxedEnvironment:
    """The build's Jinja environment, loading from every templates folder of the spec."""
    from .targets.prompts import make_environment

    return make_environment(program.template_folders or program.templates)


def _shape_problem(turn: Any) -> str | None:
    """Why an answer an answer block wrote does not give the answer of its form, or None."""
    answer = turn.answer.strip()
    if turn.form == "closed" and turn.target in ("yes", "no"):
        first = re.match(r"\W*(\w+)", answer)
        said = first[1].lower() if first else ""
        if said != turn.target:
            return (
                f"the closed question's answer should start with '{turn.target.capitalize()}' for this record, "
                f"but the answer block writes {answer[:60]!r}"
            )
    elif turn.form == "multiple_choice" and isinstance(turn.target, str):
        option = (turn.options or [""])[ord(turn.target) - ord("A")] if turn.options else ""
        if not re.search(rf"\b{re.escape(turn.target)}\b", answer) and (not option or option not in answer):
            return (
                f"the multiple-choice answer should name option {turn.target} ('{option}'), "
                f"but the answer block writes {answer[:60]!r}"
            )
    elif isinstance(turn.target, int) and not isinstance(turn.target, bool) and str(turn.target) not in answer:
        return f"the answer should give the value {turn.target}, but the answer block writes {answer[:60]!r}"
    return None


def dry_run_tasks(program: Program) -> list[Diagnostic]:
    """Every problem of every sound task's template, located."""
    from .records import RecordError
    from .targets.facts import Subject
    from .targets.prompts import PromptError, TaskPrompter, Turn

    ok = sound(program)
    tasks = [program.get("task", n) for (k, n) in program.decls if k == "task" and ok((k, n))]
    if not tasks:
        return []
    env = environment(program)
    out: list[Diagnostic] = []
    vocabularies: dict[str, Any] = {}

    def no_signal() -> Any:
        raise _NoSignal

    for task in tasks:
        pos = _setting_pos(program, ("task", task.name))
        labels = None
        if task.labels is not None:
            if task.labels not in vocabularies:
                vocabularies[task.labels] = _labels(program, task.labels)
            labels = vocabularies[task.labels]
        try:
            prompter = TaskPrompter(task, env, labels, str(pos))
        except PromptError as exc:
            out.append(Diagnostic("error", _where(exc.where, pos), exc.message, exc.hint, "template-dry-run"))
            continue
        if task.template is not None:
            # The file the template was read from: with several folders, not always the first.
            prompter.where = env.get_template(task.template).filename or prompter.where
        codes: dict[str, float] = {}
        if labels is not None and labels.vocabulary:
            first = labels.vocabulary[0]
            code = next((c for c, targets in labels.mapping.items() if first in targets), first)
            codes = {code: 100.0}
        context = {"record": {"id": "dry-run", "source": "dry-run", **DRY_META, "report": DRY_REPORT}}
        has_answer_block = "answer" in getattr(prompter._template, "blocks", {})
        for seed in range(SEEDS):
            subject = Subject("dry-run", codes, dict(DRY_META), DRY_REPORT, no_signal)
            try:
                turn = prompter.ask(subject, np.random.default_rng(seed), context)
            except PromptError as exc:
                hint = exc.hint
                if re.search(r"'(paper|layout)' is undefined", exc.message):
                    hint = (
                        "task templates see the record, not the page: the paper's speed and gain are printed "
                        "on the page (its footer) for the model to read"
                    )
                out.append(Diagnostic("error", _where(exc.where, pos), exc.message + _FOUND, hint, "template-dry-run"))
                break
            except (_NoSignal, RecordError):
                break  # a fact of the signal: not asked here
            if not isinstance(turn, Turn):
                continue  # the record cannot answer this task (no distractor): not a template mistake
            problem = _leftover(turn.question) or _leftover(turn.answer)
            if problem is None and has_answer_block:
                problem = _shape_problem(turn)
            if problem is not None:
                at = _where(prompter.where, pos) if task.template is not None else pos
                out.append(Diagnostic("error", at, f"task '{task.name}': {problem}{_FOUND}", None, "template-dry-run"))
                break
    return out


def _leftover(text: str) -> str | None:
    m = _LEFTOVER.search(text)
    if m is None:
        return None
    return f"the rendered text still holds `{m[0]}` (a tag or an expression not closed, or braces doubled)"


# ---- suite task prompts -----------------------------------------------------------------------------


def _suite_task_pos(program: Program, suite: str, task_id: str, setting: str | None = None) -> Pos:
    """Where a suite task (or one of its settings) is written; the suite's name if not found."""
    from . import syntax as s

    node = program.scope.decls.get(("suite", suite))
    if node is not None:
        for e in node.body.entries:
            if not (isinstance(e, s.Statement) and e.head.text == "task" and e.terms and e.block is not None):
                continue
            tid = getattr(e.terms[0], "dotted", None) or getattr(e.terms[0], "value", None)
            if str(tid) != task_id:
                continue
            for x in e.block.entries:
                if setting is not None and isinstance(x, s.Setting) and x.key.text == setting:
                    return x.value.pos
            return e.terms[0].pos
    return program.position(("suite", suite))


def _suite_contexts(program: Program, st: SuiteTask, labels: Any) -> list[tuple[str, dict[str, Any]]]:
    """(what, context) pairs the prompt is asked with: the made-up record, then a few real ones."""
    from .targets.prompts import LETTERS

    vocab = list(labels.vocabulary) if labels is not None else []
    descriptions = dict(labels.descriptions) if labels is not None else {}

    def ctx(record: dict[str, Any], qa: dict[str, Any] | None) -> dict[str, Any]:
        c: dict[str, Any] = {
            "labels": vocab,
            "descriptions": descriptions,
            "record": record,
            "options": [],
            "choices": [],
        }
        if st.form == "multiple_choice":
            pool = vocab or ["NORM", "AFIB", "STACH", "SBRAD"]
            options = [descriptions.get(v, v) for v in pool[: st.options]]
            c.update(options=options, choices=[f"{LETTERS[n]}. {o}" for n, o in enumerate(options)])
        elif st.form == "select_all":
            qa = qa or DRY_QA
            c.update(qa=qa, options=list(qa.get("options") or []))
        return c

    out = [("the made-up record", ctx({"id": "dry-run", "source": "dry-run"}, None))]
    out += [
        (f"record {source}/{ref.key}", ctx({"id": ref.key, "source": source}, qa))
        for source, ref, qa in _samples(program, st)
    ]
    return out


def _samples(program: Program, st: SuiteTask) -> list[tuple[str, Any, dict[str, Any] | None]]:
    """A few real records of the task's sources, from their index alone; none when it is not here."""
    from .sources import SourceError, open_source

    out: list[tuple[str, Any, dict[str, Any] | None]] = []
    for f in st.sources:
        try:
            reader = open_source(program, f.source)
            for ref in reader.refs(f.split):
                if st.form == "select_all":
                    out += [(f.source, ref, qa) for qa in ref.qa[:1]]
                else:
                    out.append((f.source, ref, None))
                if len(out) >= SAMPLES:
                    return out
        except (SourceError, OSError, ValueError, KeyError):
            continue  # the data are not here (or not readable): the made-up record stands alone
    return out


def dry_run_suites(program: Program) -> list[Diagnostic]:
    """Every problem of every sound suite task's prompt: missing, undefined names, options not shown."""
    from jinja2 import TemplateError, TemplateNotFound

    from .targets.prompts import render_block
    from .targets.suite_forms import DEFAULT_PROMPTS
    from .templating import find_template, searched_text

    ok = sound(program)
    suites = [program.get("suite", n) for (k, n) in program.decls if k == "suite" and ok((k, n))]
    if not suites:
        return []
    env = environment(program)
    folders = program.template_folders
    out: list[Diagnostic] = []
    vocabularies: dict[str, Any] = {}
    for suite in suites:
        for st in suite.tasks:
            if not st.sources:
                continue  # released items only: nothing of ours is asked
            name = st.prompt or DEFAULT_PROMPTS.get(st.form)
            where = _suite_task_pos(program, suite.name, st.id, "question" if st.question else "prompt")
            what = f"suite '{suite.name}' task '{st.id}'"
            if not st.question and name is None:
                continue  # an open task without a question: the checker reports it
            if not st.question and name is not None and find_template(folders, name) is None:
                default = st.prompt is None
                out.append(
                    Diagnostic(
                        "error",
                        where,
                        f"{what}: no prompt template '{name}'"
                        + (f" (the default for a {st.form} task)" if default else "")
                        + f"; looked in {searched_text(folders, name)}",
                        "pass the folder that holds it with --templates DIR (repeatable), name a shipped prompt "
                        f"as std/{name.removeprefix('std/')}, or write the task's `question`",
                        "template-dry-run",
                    )
                )
                continue
            labels = None
            if st.labels is not None and ok(("labels", st.labels)):
                if st.labels not in vocabularies:
                    vocabularies[st.labels] = _labels(program, st.labels)
                labels = vocabularies[st.labels]
            try:
                tmpl = env.from_string(st.question) if st.question else env.get_template(name or "")
            except TemplateNotFound as exc:
                out.append(Diagnostic("error", where, f"{what}: {exc.message}", None, "template-dry-run"))
                continue
            except TemplateError:
                continue  # a syntax error: the checker reports it where the template is named
            for on, ctx in _suite_contexts(program, st, labels):
                problem, at = None, where
                try:
                    text = render_block(tmpl, "question", ctx) or ""
                except TemplateError as exc:
                    line = getattr(exc, "lineno", None)
                    filename = None if st.question else (getattr(exc, "filename", None) or tmpl.filename)
                    if filename and line:
                        at = Pos(filename, line, 1, line, 2)
                    elif st.question and line:
                        at = Pos(
                            where.file, where.line + line - 1, where.col if line == 1 else 1, where.line + line - 1, 2
                        )
                    problem = f"template error: {exc.message or exc}"
                else:
                    if not text.strip():
                        problem = "the question renders empty"
                    else:
                        problem = _leftover(text)
                    if problem is None and st.form == "multiple_choice":
                        missing = [o for o in ctx["options"] if o not in text]
                        if missing:
                            problem = f"the multiple-choice question does not show its option '{missing[0]}'"
                if problem is not None:
                    out.append(
                        Diagnostic(
                            "error",
                            at,
                            f"{what}: {problem} (found by check's dry run of the prompt, asked of {on})",
                            "a prompt sees record.id, record.source, labels, descriptions, options, choices "
                            "and, for select_all, qa; test a field with `is defined`",
                            "template-dry-run",
                        )
                    )
                    break
    return out


# ---- paper headers and footers ---------------------------------------------------------------------


def _header_context(program: Program, paper: Any) -> dict[str, Any]:
    """What a header sees when a build prints the made-up record on `paper` (render.header.build_context)."""
    from .render.filters import template_values
    from .render.header import Num, layout_context, paper_context

    fs = 500.0
    record: dict[str, Any] = {
        **{k: Num(v) if isinstance(v, (int, float)) else v for k, v in DRY_META.items()},
        "id": "dry-run",
        "source": "dry-run",
        "fs": Num(fs),
        "duration": Num(10.0),
        "leads": ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
        "heart_rate_source": "record",
        "window_start": 0.0,
    }
    layouts = program.of_kind("layout")
    layout = layout_context(layouts[0]) if layouts else DRY_LAYOUT  # type: ignore[arg-type]
    return {
        "record": record,
        "paper": {**paper_context(paper), **template_values(paper, fs)},
        "layout": layout,
        "tab": "\t",
    }


def _recording(printed: list[tuple[Any, str]]) -> type[Undefined]:
    """Jinja's lenient Undefined (what a build prints: nothing), noting each one a template prints."""

    class Recording(Undefined):
        __slots__ = ()

        def __str__(self) -> str:
            printed.append((self._undefined_obj, self._undefined_name or ""))
            return ""

    return Recording


def dry_run_headers(program: Program) -> list[Diagnostic]:
    """Every sound paper's header and footer printed for the made-up record: a template that fails
    (as the build would stop on), names that print nothing, and tags left in the text."""
    from jinja2 import TemplateError

    from .templating import SandboxedTemplates

    ok = sound(program)
    papers = [program.get("paper", n) for (k, n) in program.decls if k == "paper" and ok((k, n))]
    out: list[Diagnostic] = []
    for paper in papers:
        ctx = _header_context(program, paper)
        for part in ("header", "footer"):
            source = getattr(paper, part)
            if not source:
                continue
            origin = program.origins.get(("paper", paper.name), {}).get(part)
            if origin is None or origin.pos is None:
                continue  # the default, or a base paper's: checked where it is written
            pos = origin.pos
            what = f"paper '{paper.name}' {part}"
            printed: list[tuple[Any, str]] = []

            # The build's header environment (render.header: lenient, so an undefined name prints nothing).
            env = SandboxedTemplates(autoescape=False, keep_trailing_newline=False, undefined=_recording(printed))
            try:
                text = env.from_string(source).render(**ctx)
            except TemplateError as exc:
                line = getattr(exc, "lineno", None) or 1
                at = Pos(pos.file, pos.line + line - 1, pos.col if line == 1 else 1, pos.line + line - 1, pos.col + 1)
                out.append(
                    Diagnostic(
                        "error",
                        at,
                        f"{what}: template error: {getattr(exc, 'message', None) or exc} "
                        "(found by check's dry run of the template; a build stops on it)",
                        "a header sees record.*, paper.*, layout.* and tab; test a field with `is defined`",
                        "header-dry-run",
                    )
                )
                continue
            said: set[tuple[int, str]] = set()
            for obj, name in printed:
                if (id(obj), name) in said:
                    continue
                said.add((id(obj), name))
                if obj is ctx["record"]:
                    out.append(
                        Diagnostic(
                            "warning",
                            pos,
                            f"{what}: `record.{name}` is not a field of the made-up record, so it prints nothing "
                            "where a record lacks it",
                            f"write `record.{name} | default('…')` to say what to print then; the records' "
                            "exports name their fields",
                            "header-undefined",
                        )
                    )
                else:
                    holder = next((k for k, v in ctx.items() if v is obj), None)
                    known = sorted(obj) if isinstance(obj, dict) else sorted(ctx)
                    shown = f"{holder}.{name}" if holder else name
                    out.append(
                        Diagnostic(
                            "error",
                            pos,
                            f"{what}: `{shown}` is not defined, so it prints nothing on every page",
                            f"{holder or 'a header'} has: {', '.join(known)}",
                            "header-undefined",
                        )
                    )
            problem = _leftover(text)
            if problem is not None:
                out.append(Diagnostic("error", pos, f"{what}: {problem}", None, "header-dry-run"))
    return out
