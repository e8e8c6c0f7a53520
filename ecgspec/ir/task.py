"""`task`: one instruction family and question form, rendered from a Jinja template.

`answer` names a fact about the record (`record.labels`, `record.heart_rate`…). The facts are
declared here, in FACTS, so that the checker can reject an unknown one or a form it cannot be
asked in; ecgspec.targets.facts computes them, and a test keeps the two lists equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import Decl, Expr, Problem, RefTo, Template, TemplateFile

FAMILIES = ("basic", "rhythm", "morphology", "report")
FORMS = ("closed", "open", "fill_in", "multiple_choice")


@dataclass(frozen=True)
class Fact:
    """What a task may ask about a record: its shape and the forms it can be asked in.

    `shape`: `labels` (a set from a vocabulary: options and distractors come from it),
    `category` (one of fixed `values`), `number` (with a `unit`), `text` (free text; open only).
    """

    shape: Literal["labels", "category", "number", "text"]
    description: str
    values: tuple[str, ...] = ()
    unit: str = ""
    needs_labels: bool = False

    @property
    def forms(self) -> tuple[str, ...]:
        if self.shape == "text":
            return ("open",)
        if self.shape == "number":
            return ("open", "fill_in", "multiple_choice")
        return FORMS


FACTS: dict[str, Fact] = {
    "record.labels": Fact(
        "labels", "the record's statements, mapped into the task's `labels` vocabulary", needs_labels=True
    ),
    "record.heart_rate": Fact("number", "ventricular rate measured on the signal (or the machine's)", unit="bpm"),
    "record.rate": Fact(
        "category", "rate class from the measured rate", values=("bradycardia", "normal rate", "tachycardia")
    ),
    "record.regularity": Fact(
        "category", "whether RR intervals are regular (coefficient of variation < 10%)", values=("regular", "irregular")
    ),
    "record.axis": Fact(
        "category",
        "QRS axis from the net QRS deflection in leads I and aVF",
        values=("normal axis", "left axis deviation", "right axis deviation", "extreme axis deviation"),
    ),
    "record.pr": Fact("number", "PR interval from the machine's measurements", unit="ms"),
    "record.qrs": Fact("number", "QRS duration from the machine's measurements", unit="ms"),
    "record.qt": Fact("number", "QT interval from the machine's measurements", unit="ms"),
    "record.qtc": Fact("number", "corrected QT from the machine's measurements", unit="ms"),
    "record.age": Fact("number", "the patient's age", unit="years"),
    "record.sex": Fact("category", "the patient's sex", values=("female", "male")),
    "record.report": Fact("text", "the record's free-text report"),
}


class Task(Decl):
    """An ECGInstruct task: the question a template asks of a record and the answer it expects."""

    kind: ClassVar[str] = "task"

    family: Literal["basic", "rhythm", "morphology", "report"] = Field(description="instruction family")
    form: Literal["closed", "open", "fill_in", "multiple_choice"] = Field(description="question form")
    template: Annotated[str, TemplateFile()] | None = Field(
        None, description="template file under templates/ (blocks `question` and optionally `answer`)"
    )
    question: Annotated[str, Template()] | None = Field(None, description="inline question template")
    answer: Annotated[str, Expr()] = Field(description="the fact asked about: " + ", ".join(FACTS))
    labels: Annotated[str, RefTo("labels")] | None = Field(None, description="vocabulary of the answer")
    options: int = Field(4, ge=2, le=26, description="options of a multiple-choice question")
    weight: float = Field(1.0, gt=0, description="relative frequency in a corpus")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.template is not None and self.question is not None:
            out.append(
                ("question", "a task takes `template` (a file) or `question` (inline), not both", "remove one of them")
            )
        if self.template is None and self.question is None:
            out.append(("family", "a task needs a `template` (a file) or a `question` (inline)", None))
        fact = FACTS.get(self.answer)
        if fact is None:
            from ..errors import did_you_mean

            out.append(
                (
                    "answer",
                    f"unknown fact '{self.answer}'",
                    did_you_mean(self.answer, list(FACTS)) or "facts: " + ", ".join(FACTS),
                )
            )
            return out
        if self.form not in fact.forms:
            out.append(
                (
                    "form",
                    f"{self.answer} ({fact.shape}) cannot be asked as {self.form}",
                    "forms it takes: " + ", ".join(fact.forms),
                )
            )
        if fact.needs_labels and self.labels is None:
            out.append(
                ("answer", f"{self.answer} needs a vocabulary: set `labels = NAME` (a `labels` declaration)", None)
            )
        if self.form == "multiple_choice" and fact.shape == "category" and self.options > len(fact.values):
            out.append(
                (
                    "options",
                    f"{self.answer} has only {len(fact.values)} possible values, "
                    f"so a question cannot have {self.options} options",
                    f"options = {len(fact.values)}",
                )
            )
        return out
