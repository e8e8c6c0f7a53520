"""The generator's and the judge's prompts: sandboxed Jinja templates over a record's facts.

What a request asks for (family, form, style, answer format, turns) is drawn from a stream seeded by
the instruct's name, the record and the request's index, and nothing else: editing a paper or a
corpus's mix leaves every prompt, and so every cached reply, as it was. A template has blocks
`system` and `user` (without blocks it is the user message) and sees:

    record    id, source, age, sex, report (the English revision when the corpus revises reports),
              report_original, labels (described through the instruct's vocabulary), label_codes,
              measurements (heart_rate, rate, regularity, axis, pr, qrs, qt, qtc: each only where the
              record establishes it, so test them with `is defined`)
    request   mode, index, family, form, style, style_text, answer_format, format_text, turns, options
    examples  the instruct's few-shot examples that fit the request (family, form, style, format)
    schema    the JSON schema of the reply, as indented text
    pair      (the judge only) question, answer, options, family, form, turns
    criteria  (the judge only) the instruct's rubric criteria; `scale` is 5
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from ..draw import draw, stream
from ..ir.instruct import ANSWER_FORMATS, STYLES, Instruct
from ..targets.facts import Subject, Unknown, fact_value
from ..targets.prompts import PromptError, render_block
from . import replies

MEASURES = {
    "heart_rate": "record.heart_rate",
    "rate": "record.rate",
    "regularity": "record.regularity",
    "axis": "record.axis",
    "pr": "record.pr",
    "qrs": "record.qrs",
    "qt": "record.qt",
    "qtc": "record.qtc",
}


def measurements(subject: Subject) -> dict[str, Any]:
    """A record's measurements that it establishes (the facts' own rules: confident, away from margins).
    Computed before a template runs, never inside it: a signal measured within the template's render
    budget would count against it."""
    out = {}
    for name, fact in MEASURES.items():
        value = fact_value(fact, subject)
        if not isinstance(value, Unknown):
            out[name] = value
    return out


@dataclass(frozen=True)
class Draw:
    """What one request asks for."""

    index: int
    family: str
    form: str
    style: str
    answer_format: str
    turns: int

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "family": self.family,
            "form": self.form,
            "style": self.style,
            "answer_format": self.answer_format,
            "turns": self.turns,
        }


def draw_request(instruct: Instruct, record_id: str, index: int) -> Draw:
    rng = stream("synth", instruct.name, record_id, index)
    family = str(draw(instruct.family, rng))
    form = str(draw(instruct.form, rng)) if instruct.mode == "single" else "open"
    style = str(draw(instruct.style, rng))
    answer_format = str(draw(instruct.answer_format, rng))
    turns = max(1, int(draw(instruct.turns, rng))) if instruct.mode == "dialogue" else 1
    return Draw(index, family, form, style, answer_format, turns)


def seed_of(*parts: object) -> int:
    """A request's sampling seed: fixed by what it is, so a rerun asks the same, and a retry differs."""
    return int(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def record_view(
    subject: Subject,
    source: str,
    labels: tuple[str, ...],
    descriptions: Mapping[str, str],
    report: str | None,
    with_measurements: bool = True,
) -> dict[str, Any]:
    meta = subject.meta
    view: dict[str, Any] = {
        "id": subject.key,
        "source": source,
        "labels": [descriptions.get(code, code) for code in labels],
        "label_codes": list(labels),
        "measurements": measurements(subject) if with_measurements else {},
    }
    for key, fact in (("age", "record.age"), ("sex", "record.sex")):
        value = fact_value(fact, subject)
        if not isinstance(value, Unknown):
            view[key] = value
    if report:
        view["report"] = report
    if subject.report:
        view["report_original"] = subject.report.strip()
    del meta
    return view


def _examples(instruct: Instruct, d: Draw) -> list[dict[str, Any]]:
    out = []
    for ex in instruct.examples:
        if any(
            want is not None and want != got
            for want, got in (
                (ex.family, d.family),
                (ex.form, d.form if instruct.mode == "single" else None),
                (ex.style, d.style),
                (ex.format, d.answer_format),
            )
            if got is not None
        ):
            continue
        item = ex.model_dump(exclude_none=True)
        if ex.turns:
            item["turns"] = [
                {"question": ex.turns[i], "answer": ex.turns[i + 1]} for i in range(0, len(ex.turns) - 1, 2)
            ]
        out.append(item)
    return out


class SynthPrompter:
    """Renders one instruct's generator and judge prompts; a template that fails is a located PromptError."""

    def __init__(self, instruct: Instruct, env: Any, where: str):
        self.instruct = instruct
        self.where = where
        self._templates: dict[str, Any] = {}
        # Whether a template (or one it includes) reads the measurements: only then are they measured.
        self.uses_measurements = _mentions(env, [n for n in (instruct.prompt, instruct.rubric) if n], "measurements")
        for field in ("prompt", "rubric"):
            name = getattr(instruct, field)
            if name is None:
                continue
            try:
                self._templates[field] = env.get_template(name)
            except TemplateError as exc:
                raise PromptError(where, f"instruct '{instruct.name}': template '{name}': {exc}") from None

    def _messages(self, field: str, ctx: dict[str, Any]) -> tuple[dict[str, str], ...]:
        tmpl = self._templates[field]
        name = getattr(self.instruct, field)
        try:
            system = render_block(tmpl, "system", ctx) if "system" in tmpl.blocks else None
            user = render_block(tmpl, "user", ctx) if "user" in tmpl.blocks else render_block(tmpl, "question", ctx)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            raise PromptError(
                f"{tmpl.filename}:{line}:1" if line and tmpl.filename else self.where,
                f"instruct '{self.instruct.name}': template '{name}': {exc}",
                "the template may use record, request, examples and schema (the judge's also pair, criteria); "
                "test a field with `is defined`",
            ) from None
        if not user:
            raise PromptError(self.where, f"instruct '{self.instruct.name}': template '{name}' renders an empty prompt")
        out: list[dict[str, str]] = []
        if system:
            out.append({"role": "system", "content": system})
        out.append({"role": "user", "content": user})
        return tuple(out)

    def reply_schema(self, d: Draw) -> dict[str, Any]:
        return replies.schema(self.instruct.mode, family=d.family, form=d.form, turns=d.turns)

    def generator(self, record: dict[str, Any], d: Draw) -> tuple[tuple[dict[str, str], ...], dict[str, Any]]:
        """The generator's messages for one request, and the schema of its reply."""
        sch = self.reply_schema(d)
        request = {
            "mode": self.instruct.mode,
            **d.as_json(),
            "style_text": STYLES[d.style],
            "format_text": ANSWER_FORMATS[d.answer_format],
            "options": self.instruct.options,
        }
        ctx = {
            "record": record,
            "request": request,
            "examples": _examples(self.instruct, d),
            "schema": _schema_text(self.instruct.mode, d.family, d.form, d.turns),
            "instruct": {"name": self.instruct.name, "mode": self.instruct.mode},
        }
        return self._messages("prompt", ctx), sch

    def judge(self, record: dict[str, Any], pair: dict[str, Any]) -> tuple[tuple[dict[str, str], ...], dict[str, Any]]:
        sch = replies.schema("judge")
        ctx = {
            "record": record,
            "pair": pair,
            "criteria": list(self.instruct.criteria),
            "scale": 5,
            "schema": _schema_text("judge", None, None, None),
            "instruct": {"name": self.instruct.name, "mode": self.instruct.mode},
        }
        return self._messages("rubric", ctx), sch


@functools.lru_cache(maxsize=256)
def _schema_text(mode: str, family: str | None, form: str | None, turns: int | None) -> str:
    return json.dumps(replies.schema(mode, family=family, form=form, turns=turns), indent=2)


def _mentions(env: Any, names: list[str], word: str) -> bool:
    from jinja2.meta import find_referenced_templates

    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen or env.loader is None:
            continue
        seen.add(name)
        try:
            source, _, _ = env.loader.get_source(env, name)
            refs = find_referenced_templates(env.parse(source))
        except TemplateError:
            return True  # reported where it is rendered; measure to be safe
        if word in source:
            return True
        pending += [r for r in refs if r is not None]
    return False


def retry_messages(messages: tuple[dict[str, str], ...], reply: str, reason: str) -> tuple[dict[str, str], ...]:
    """The conversation that asks again: the first request, the reply that failed, and why it failed."""
    return (
        *messages,
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": f"That reply cannot be used: {reason}. Reply again with one JSON object that follows the "
            "schema and the instructions, and nothing else.",
        },
    )


def prompt_hash(messages: tuple[dict[str, str], ...]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
