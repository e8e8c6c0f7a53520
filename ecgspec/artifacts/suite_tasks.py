"""A `suite` declaration → the plan's header and its tasks without items.

Shared by every way a plan is made: the compiler (`ecgspec build`, which adds items rendered from
sources) and the released-file importer (runtime.evaluate.released). The task's extraction rules,
labels, synonyms, rubric text and criteria all come from the declarations, so two plans of the
same suite read answers the same way whichever way their items were made.

The suite hash covers the suite declaration, everything it refers to (labels, sources, layouts,
papers: `Program.hash_of`) and the text of its rubric templates, which a declaration names by path.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ..template_loader import find_template, search_path, searched_text
from .plan_schema import Extract, ExtractorModel, Task

if TYPE_CHECKING:
    from ..program import Program


def _rubric_text(program: Program, rel: str | None) -> str | None:
    """The text of rubric template `rel`, found as the build finds templates: the spec's folders in
    order, then the shipped library (which alone answers `std/NAME`). `check` has reported a rubric
    no folder holds, so a program that gets here has it."""
    if rel is None:
        return None
    folders = program.template_folders or search_path(program.templates)
    path = find_template(folders, rel)
    if path is None:
        raise FileNotFoundError(f"no rubric template '{rel}' in {searched_text(folders, rel)}")
    return path.read_text(encoding="utf-8")


def suite_hash(program: Program, suite: Any) -> str:
    h = hashlib.sha256(program.hash_of("suite", suite.name).encode())
    for t in suite.tasks:
        text = _rubric_text(program, t.rubric)
        if text is not None:
            h.update(f"\0{t.rubric}\0{text}".encode())
    return h.hexdigest()


def plan_header(program: Program, suite: Any) -> dict[str, Any]:
    """The Plan fields that come from the suite: pass them with `tasks=[…]` to Plan(...)."""
    return {
        "schema": "ecgspec.plan/1",
        "suite": suite.name,
        "version": suite.version,
        "suite_hash": suite_hash(program, suite),
        "spec_hash": program.spec_hash(),
        "scoring": suite.scoring,
        "judge": suite.judge,
        "bootstrap": suite.bootstrap,
        "seed": suite.seed,
    }


def task_shell(program: Program, task: Any) -> dict[str, Any]:
    """The Task fields of a suite task (everything but `items`), as a dict for Task(**shell, items=…)."""
    labels: tuple[str, ...] = ()
    synonyms: dict[str, tuple[str, ...]] = {}
    if task.labels:
        decl = program.get("labels", task.labels)
        labels = tuple(decl.vocabulary or ())
        synonyms = {k: tuple(v) for k, v in decl.synonyms.items()}
    for cls, words in task.synonyms.items():  # whole-answer classes' words, and extra words for labels
        synonyms[cls] = (*synonyms.get(cls, ()), *(w for w in words if w not in synonyms.get(cls, ())))
    return {
        "id": task.id,
        "form": task.form,
        "labels": labels,
        "synonyms": synonyms,
        "metrics": tuple(task.metrics),
        "rubric": _rubric_text(program, task.rubric),
        "criteria": tuple(task.criteria),
        "extract": Extract(
            rules=tuple(task.extract),
            fallback=task.fallback,
            answers=tuple(task.answers),
            mode=task.answer_mode,
            negation=tuple(task.negation),
            llm=_extractor(program, task.extractor),
        ),
    }


def _extractor(program: Program, name: str | None) -> ExtractorModel | None:
    if name is None:
        return None
    llm = program.get("llm", name)
    return ExtractorModel(
        name=name,
        backend=llm.backend,
        model=llm.model,
        url=llm.url,
        api_key_env=llm.api_key_env,
        temperature=llm.temperature,
        max_tokens=llm.max_tokens,
        timeout=llm.timeout,
        retries=llm.retries,
        concurrency=llm.concurrency,
    )


def empty_task(program: Program, task: Any) -> Task:
    return Task(**task_shell(program, task))
