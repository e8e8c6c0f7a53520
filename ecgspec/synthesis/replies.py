"""What a generator or a judge must reply: one JSON object of a declared shape, validated in every case.

The JSON schemas below are sent for guided decoding where the backend offers it (`vllm serve`
structured outputs, OpenAI `response_format`); a reply is validated with pydantic all the same,
because not every backend guides and a guided reply can still be cut short by `max_tokens`. A
single pair's schema pins the family and form that were asked for, so a guided reply cannot
drift to another, and the form's own rules are checked here (a fill-in has its blank, a
multiple-choice answer names one of its options, a closed answer says yes or no).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK = "___"
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)
_REFUSAL = re.compile(
    r"(?i)\b(i\s*(?:'m| am)\s+(?:sorry|unable|not able)|i\s+can(?:no|')t|i\s+cannot|cannot (?:help|assist|comply)"
    r"|as an ai|i won't|i will not)\b"
)
_BLANKS = re.compile(r"_{3,}")
_LETTER = re.compile(r"^\s*\(?([A-Z])\s*[).:]?(?:\s|$)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PairReply(_Strict):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    family: Literal["basic", "rhythm", "morphology", "report"]
    form: Literal["closed", "open", "fill_in", "multiple_choice"]
    options: list[str] | None


class TurnReply(_Strict):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class DialogueReply(_Strict):
    turns: list[TurnReply] = Field(min_length=1)


class RevisionReply(_Strict):
    report: str = Field(min_length=1)


class VerdictReply(_Strict):
    score: float
    reason: str


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """Every object closed and every property required: what OpenAI's strict mode and xgrammar accept."""
    if schema.get("type") == "object" or "properties" in schema:
        schema["additionalProperties"] = False
        schema["required"] = list(schema.get("properties", {}))
    for value in schema.values():
        if isinstance(value, dict):
            _closed(value)
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, dict):
                    _closed(v)
    schema.pop("title", None)
    return schema


@functools.lru_cache(maxsize=256)
def schema(
    mode: str, *, family: str | None = None, form: str | None = None, turns: int | None = None
) -> dict[str, Any]:
    """The JSON schema of a reply: `single` (pinned to the family and form asked for), `dialogue` (with
    exactly `turns` turns), `report` (a revision) or `judge` (a verdict). Cached: callers must not change it."""
    models: dict[str, type[_Strict]] = {
        "single": PairReply,
        "dialogue": DialogueReply,
        "report": RevisionReply,
        "judge": VerdictReply,
    }
    model = models[mode]
    out = _closed(model.model_json_schema())
    if mode == "single":
        if family:
            out["properties"]["family"] = {"type": "string", "enum": [family]}
        if form:
            out["properties"]["form"] = {"type": "string", "enum": [form]}
        if form == "multiple_choice":
            out["properties"]["options"] = {"type": "array", "items": {"type": "string"}, "minItems": 2}
    if mode == "dialogue" and turns:
        out["properties"]["turns"].update(minItems=turns, maxItems=turns)
    if mode == "judge":
        out["properties"]["score"].update(minimum=0, maximum=5)
    return out


@dataclass(frozen=True)
class Invalid:
    """A reply that cannot be used, and why (the retry prompt tells the model; the build counts it)."""

    kind: Literal["refused", "malformed_json", "schema", "form"]
    reason: str


def _json_object(text: str) -> dict[str, Any] | Invalid:
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start == -1 or end < start:
        if _REFUSAL.search(text):
            return Invalid("refused", text.strip()[:200])
        return Invalid("malformed_json", "the reply holds no JSON object")
    try:
        obj = json.loads(body[start : end + 1])
    except json.JSONDecodeError as exc:
        return Invalid("malformed_json", f"the JSON does not parse: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if not isinstance(obj, dict):
        return Invalid("malformed_json", "the JSON is not an object")
    return obj


def _validated(model: type[_Strict], text: str) -> Any:
    obj = _json_object(text)
    if isinstance(obj, Invalid):
        return obj
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the object"
        return Invalid("schema", f"{where}: {first['msg']}")


@dataclass(frozen=True)
class Pair:
    """A validated question and answer, with what its answer is scored against."""

    question: str
    answer: str
    family: str
    form: str
    options: list[str] | None
    target: Any  # a letter (multiple choice), "yes"/"no" (closed), else the answer text


def _no_image_token(*texts: str) -> Invalid | None:
    if any("<image>" in t for t in texts):
        return Invalid("form", "the text may not contain `<image>`: the build places the image itself")
    return None


def pair(text: str, family: str, form: str) -> Pair | Invalid:
    """A single pair from a reply, checked against the family and form that were asked for."""
    reply = _validated(PairReply, text)
    if isinstance(reply, Invalid):
        return reply
    question, answer = reply.question.strip(), reply.answer.strip()
    if bad := _no_image_token(question, answer):
        return bad
    if not question or not answer:
        return Invalid("schema", "the question and the answer must not be empty")
    if reply.family != family or reply.form != form:
        return Invalid("form", f"asked for a {family} {form} question, got {reply.family} {reply.form}")
    options = [o.strip() for o in reply.options or [] if o.strip()] or None
    target: Any = answer
    if form == "fill_in":
        if not _BLANKS.search(question):
            return Invalid("form", f"a fill-in question needs a blank `{BLANK}`")
        question = _BLANKS.sub(BLANK, question)
    elif form == "closed":
        first = re.match(r"\W*(yes|no)\b", answer, re.IGNORECASE)
        if not first:
            return Invalid("form", "a closed question's answer starts with yes or no")
        target = first.group(1).lower()
    elif form == "multiple_choice":
        if options is None or not 2 <= len(options) <= len(LETTERS):
            return Invalid("form", "a multiple-choice question needs 2 to 26 `options`")
        options = [re.sub(r"^\(?[A-Z][).:]\s+", "", o) for o in options]  # "B. x" and "(B) x" are "x"
        if len(set(options)) != len(options):
            return Invalid("form", "the options must differ")
        if not all(o in question for o in options):  # show them, lettered, as the templated tasks do
            question = question + "\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
        m = _LETTER.match(answer)
        if m and LETTERS.index(m.group(1)) < len(options):
            target = m.group(1)
        else:
            named = [i for i, o in enumerate(options) if o.lower() in answer.lower()]
            if len(named) != 1:
                return Invalid("form", "a multiple-choice answer names exactly one option, by its letter")
            target = LETTERS[named[0]]
            answer = f"{target}. {answer}"
    elif options is not None:
        options = None  # only a multiple-choice question has options
    return Pair(question, answer, family, form, options, target)


def dialogue(text: str, turns: int) -> list[tuple[str, str]] | Invalid:
    reply = _validated(DialogueReply, text)
    if isinstance(reply, Invalid):
        return reply
    out = [(t.question.strip(), t.answer.strip()) for t in reply.turns]
    if len(out) != turns:
        return Invalid("form", f"asked for {turns} turns, got {len(out)}")
    if any(not q or not a for q, a in out):
        return Invalid("schema", "every turn needs a question and an answer")
    if bad := _no_image_token(*(x for t in out for x in t)):
        return bad
    return out


def revision(text: str) -> str | Invalid:
    reply = _validated(RevisionReply, text)
    if isinstance(reply, Invalid):
        return reply
    report = reply.report.strip()
    if len(report.split()) < 3:
        return Invalid("form", "the revised report is too short to be a report")
    if bad := _no_image_token(report):
        return bad
    return report


@dataclass(frozen=True)
class Verdict:
    score: float | None
    reason: str = ""
    failure: Literal["refusal", "malformed_json", "out_of_range"] | None = None


def verdict(text: str) -> Verdict:
    """A judge's verdict; a refusal, malformed JSON or a score outside 0-5 is a failure, never a number."""
    reply = _validated(VerdictReply, text)
    if isinstance(reply, Invalid):
        kind: Literal["refusal", "malformed_json"] = "refusal" if reply.kind == "refused" else "malformed_json"
        return Verdict(None, reply.reason, kind)
    if not 0 <= reply.score <= 5:
        return Verdict(None, f"score {reply.score:g} is outside 0-5", "out_of_range")
    return Verdict(reply.score, reply.reason)
