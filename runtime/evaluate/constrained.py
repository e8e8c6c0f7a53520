"""Constrained answers: the backend is asked for a JSON reply of a fixed shape, and that reply is the answer.

A multiple_choice, multi_label or select_all task whose `extract.mode` is `constrained` is asked its last
turn (the scored one) with a JSON schema (`schema_for`): the OpenAI backend sends it as `response_format`
(`json_schema`, which `vllm serve` enforces as structured outputs), the in-process vllm backend as structured
outputs / guided decoding; transformers cannot enforce it. The question also gets one sentence saying what
shape to answer in (`instruction`), so a backend that cannot enforce the shape still asks for it. Earlier
turns stay free text.

    multiple_choice   {"answer": "B"}              one of the item's letters
    multi_label       {"labels": ["MI", "STTC"]}    distinct codes among the task's labels and answers
    select_all        {"options": ["…", "…"]}       distinct texts among the item's options

`read` parses and validates the reply against that shape; a reply that does not match (not JSON, text
around the JSON, a code fence, a duplicated key, an unknown or repeated value, a missing or extra key) is
a counted failure, `Extracted(None)` or `Extracted(())` with `fallback=True`, and is never repaired: no
fence is stripped, no duplicate dropped, no random letter drawn. An empty list of labels or options is a
valid answer (the model says none applies), not a failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from ecgspec.artifacts.plan_schema import LETTERS, Item, Task

from .extract import Extracted

FORMS: Final = ("multiple_choice", "multi_label", "select_all")
# Each form's single key in the reply object.
KEYS: Final = {"multiple_choice": "answer", "multi_label": "labels", "select_all": "options"}


def is_constrained(task: Task) -> bool:
    """Whether a task's answers are asked for as JSON (only the three closed forms can be)."""
    return task.extract.mode == "constrained" and task.form in FORMS


def mode_of(task: Task) -> str:
    """How a task's numbers were read out of the responses, for the report."""
    if is_constrained(task):
        return "constrained (json schema)"
    if task.extract.llm is not None and task.form in FORMS:
        return f"LLM extractor: {task.extract.llm.name}"
    return "free text"


def choices(task: Task, item: Item) -> list[str]:
    """The values a reply may hold: the item's letters, the task's classes, or the item's options."""
    if task.form == "multiple_choice":
        return list(LETTERS[: len(item.options or ())])
    if task.form == "multi_label":
        return [*task.labels, *task.extract.answers]
    if task.form == "select_all":
        return list(item.options or ())
    raise ValueError(f"task '{task.id}' is {task.form}: only {', '.join(FORMS)} answers have a fixed shape")


def schema_for(task: Task, item: Item, *, allow_none: bool = False) -> dict[str, Any]:
    """The JSON schema of a reply to `item`'s last turn. `allow_none` lets a multiple-choice answer be null
    (the LLM extractor's "the response chooses no option"); a list may be empty in any case.

    Every property is required and none other allowed, as OpenAI's strict mode requires. `uniqueItems`
    says what a list answer is (a set); vllm serve's xgrammar cannot enforce it and falls back to another
    grammar backend for such schemas, and `read` rejects a repeated value in any case."""
    values = choices(task, item)
    key = KEYS[task.form]
    prop: dict[str, Any]
    if task.form == "multiple_choice":
        prop = (
            {"type": ["string", "null"], "enum": [*values, None]} if allow_none else {"type": "string", "enum": values}
        )
    else:
        prop = {"type": "array", "items": {"type": "string", "enum": values}, "uniqueItems": True}
    return {"type": "object", "properties": {key: prop}, "required": [key], "additionalProperties": False}


def instruction(task: Task, item: Item) -> str:
    """The sentence added to a constrained question: the reply's shape, in words."""
    values = choices(task, item)
    if task.form == "multiple_choice":
        return (
            'Reply with only a JSON object {"answer": "X"}, where X is the letter of your answer '
            f"({', '.join(values)})."
        )
    if task.form == "multi_label":
        return (
            'Reply with only a JSON object {"labels": [...]} listing every label that applies, '
            f"each one of: {', '.join(values)}."
        )
    shown = ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
    return (
        'Reply with only a JSON object {"options": [...]} listing every option that applies, '
        f"each written exactly as one of: {shown}."
    )


@dataclass(frozen=True)
class Reading:
    """A structured reply read: the answer, and why it was refused where it was (None when valid)."""

    extracted: Extracted
    problem: str | None = None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        # json.loads would keep the last value silently: which answer was meant is unknown.
        raise ValueError(f"key {repeated[0]!r} appears more than once")
    return dict(pairs)


def parse(task: Task, item: Item, text: str, *, allow_none: bool = False) -> Reading:
    """A reply checked against `schema_for(task, item)`: the answer it holds, or the first problem found."""
    empty: tuple[str, ...] | None = None if task.form == "multiple_choice" else ()

    def invalid(problem: str) -> Reading:
        return Reading(Extracted(empty, fallback=True), problem)

    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        return invalid(f"not a JSON object: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except ValueError as exc:  # a duplicated key
        return invalid(str(exc))
    key = KEYS[task.form]
    if not isinstance(obj, dict):
        return invalid(f"not a JSON object but {type(obj).__name__}")
    if set(obj) != {key}:
        return invalid(f"expected exactly the key {key!r}, got {', '.join(map(repr, obj)) or 'none'}")
    values = choices(task, item)
    got = obj[key]
    if task.form == "multiple_choice":
        if got is None and allow_none:
            return Reading(Extracted(None, fallback=True))
        if not isinstance(got, str) or got not in values:
            return invalid(f"{key} {got!r} is not one of {', '.join(values)}")
        return Reading(Extracted(got))
    if not isinstance(got, list):
        return invalid(f"{key} is not a list")
    unknown = [v for v in got if not isinstance(v, str) or v not in values]
    if unknown:
        return invalid(f"{key} holds {unknown[0]!r}, not one of the allowed values")
    if len(set(got)) != len(got):
        return invalid(f"{key} names a value more than once")
    return Reading(Extracted(tuple(v for v in values if v in got)))


def read(task: Task, item: Item, text: str) -> Extracted:
    """The answer of a constrained reply; an invalid reply is `fallback=True` with no answer (scored wrong)."""
    return parse(task, item, text).extracted
