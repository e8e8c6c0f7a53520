"""`instruct`: instructions written by a language model from a record, judged, grounded, deduplicated.

The ECGInstruct recipe (PULSE, arXiv 2410.19008): a generator LLM writes question-answer pairs
(`single`), dialogues of 2-4 turns (`dialogue`) or an English structured report revised from the
original (`report`) for each record, from its report, its labels through a vocabulary, its
measurements and demographics, following few-shot `example`s written in the spec; a judge LLM
scores each 0-5 against a declared rubric and only those at or above `threshold` are kept. What
the build adds without an LLM: replies are validated against a schema, answers that state a
label, a rate or an interval are checked against the record's facts, near-duplicate questions are
removed, and a conversation never asks the same fact twice (ecgspec.synthesis).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from .base import Choice, Decl, Prob, Problem, RefTo, Span, Statement, TemplateFile, Unit, Varying
from .task import FAMILIES, FORMS

# What each declared style and answer format asks the generator for; templates show these texts.
STYLES: dict[str, str] = {
    "direct": "a direct question about what the ECG shows",
    "emergency": "a question set in an emergency-room scenario, as a clinician deciding quickly would ask it",
    "comparative": "a question that compares findings, leads or possible diagnoses",
    "educational": "a question a teacher would ask a student learning to read ECGs",
    "decision": "a question about the clinical decision the ECG supports",
}
ANSWER_FORMATS: dict[str, str] = {
    "short": "a short phrase",
    "free_text": "a few sentences of free text",
    "steps": "numbered reasoning steps ending in the conclusion",
    "list": "a bulleted list",
}
CRITERIA = (
    "relevant to the ECG image",
    "consistent with the record's labels and report",
    "answerable from an ECG",
    "clear",
    "no invented details",
)

Family = Literal["basic", "rhythm", "morphology", "report"]
Form = Literal["closed", "open", "fill_in", "multiple_choice"]
Style = Literal["direct", "emergency", "comparative", "educational", "decision"]
AnswerFormat = Literal["short", "free_text", "steps", "list"]


def _even(options: tuple[str, ...]) -> Choice:
    return Choice(options=options, weights=tuple(1.0 / len(options) for _ in options))


class Example(Statement):
    """`example { question = "…"; answer = "…" }`: a few-shot example, shown to the generator as data.

    A `dialogue` example writes `turns = ["Q1", "A1", "Q2", "A2"]`; a `report` example writes the
    original `report` and its revision as `answer`. Examples that declare a family, form, style or
    format are shown only for requests of that kind."""

    keyword: ClassVar[str] = "example"
    takes_block: ClassVar[bool] = True

    family: Family | None = None
    form: Form | None = None
    style: Style | None = None
    format: AnswerFormat | None = None
    report: str | None = Field(None, description="the original report (report revision)")
    question: str | None = None
    answer: str | None = None
    options: tuple[str, ...] = ()
    turns: tuple[str, ...] = Field((), description="a dialogue: question, answer, question, answer …")


class Instruct(Decl):
    """LLM-written instructions for a corpus's records (name it in a corpus's `tasks`, or a `report`
    one in its `revise`)."""

    kind: ClassVar[str] = "instruct"
    statements: ClassVar[dict[str, type[Any]]] = {"example": Example}

    mode: Literal["single", "dialogue", "report"] = Field(
        "single", description="question-answer pairs, multi-turn dialogues, or report revision"
    )
    generator: Annotated[str, RefTo("llm")] = Field(description="the model that writes (an `llm`)")
    prompt: Annotated[str, TemplateFile()] = Field(
        description="the generator's prompt: a template file with blocks `system` and `user`",
        examples=['"synth/single.j2"'],
    )
    labels: Annotated[str, RefTo("labels")] | None = Field(
        None, description="vocabulary that names the record's labels to the generator, and grounds its answers"
    )
    family: Family | Choice = Field(_even(FAMILIES), description="instruction family, or a weighted choice")
    form: Form | Choice = Field(_even(FORMS), description="question form, or a weighted choice (single)")
    style: Style | Choice = Field(_even(tuple(STYLES)), description="question style: " + ", ".join(STYLES))
    answer_format: AnswerFormat | Choice = Field(
        _even(tuple(ANSWER_FORMATS)), description="answer format: " + ", ".join(ANSWER_FORMATS)
    )
    per_record: int = Field(1, ge=1, le=100, description="pairs (or dialogues) asked for per record")
    turns: Varying[int] = Field(
        Span(lo=2, hi=4, integer=True), description="dialogue turns, from basic features to clinical implications"
    )
    options: int = Field(4, ge=2, le=26, description="options of a multiple-choice question")
    attempts: int = Field(3, ge=1, le=10, description="a reply that does not validate is asked for again, up to this")
    judge: Annotated[str, RefTo("llm")] | None = Field(None, description="the model that scores each pair 0-5")
    rubric: Annotated[str, TemplateFile()] | None = Field(
        None, description="the judge's prompt: a template file with blocks `system` and `user`"
    )
    criteria: tuple[str, ...] = Field(CRITERIA, description="what the judge scores, shown to it by the rubric")
    threshold: float = Field(4.0, ge=0, le=5, description="pairs the judge scores below this are dropped")
    quote_words: int = Field(
        8, ge=0, le=1000, description="an answer that repeats this many words of the report in a row is capped (0: off)"
    )
    quote_cap: float = Field(2.0, ge=0, le=5, description="the highest score of an answer that quotes the report")
    near_duplicate: Prob = Field(
        0.8, ge=0, le=1, description="word n-gram overlap (Jaccard) above which a question is a duplicate"
    )
    ngram: int = Field(3, ge=1, le=10, description="the n of the overlap")
    dedup: Literal["record", "corpus"] = Field("record", description="duplicates among a record's questions, or all")
    rate_tolerance: Annotated[float, Unit("frequency", "bpm")] = Field(
        10 / 60, gt=0, description="a stated heart rate further than this from the record's contradicts it"
    )
    interval_tolerance: Annotated[float, Unit("time")] = Field(
        0.02, gt=0, description="a stated PR, QRS, QT or QTc further than this from the record's contradicts it"
    )
    examples: tuple[Example, ...] = ()

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.judge is not None and self.rubric is None:
            out.append(
                ("rubric", "a judged instruct needs a `rubric` template", 'for example rubric = "synth/judge.j2"')
            )
        if self.rubric is not None and self.judge is None:
            out.append(("judge", "a `rubric` is set but no `judge` model", "name one: judge = NAME (an `llm`)"))
        if self.judge is not None and not self.criteria:
            out.append(("criteria", "the judge needs at least one criterion", None))
        for i, ex in enumerate(self.examples):
            if self.mode == "dialogue" and (not ex.turns or len(ex.turns) % 2):
                out.append(
                    ("examples", f"example {i + 1}: a dialogue example writes `turns = [question, answer, …]`", None)
                )
            elif self.mode == "report" and not (ex.report and ex.answer):
                out.append(("examples", f"example {i + 1}: a report example writes `report` and `answer`", None))
            elif self.mode == "single" and not (ex.question and ex.answer):
                out.append(("examples", f"example {i + 1}: an example writes `question` and `answer`", None))
        return out
