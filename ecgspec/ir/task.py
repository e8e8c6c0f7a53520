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


@dataclass(frozen=True)
class Criteria:
    """The thresholds of the classification facts, and the margin around each within which a
    record is not asked (measurement error could put it on either side). One place: the facts
    (ecgspec.targets.facts), their descriptions below and docs/corpus.md follow it."""

    interval_spread: float = 40.0  # ms: an interval whose spread over beats (IQR) exceeds it is not asked
    pr_long: float = 200.0  # ms: first-degree AV block above it
    pr_margin: float = 20.0
    qrs_wide: float = 120.0  # ms: wide QRS at or above it
    qrs_margin: float = 10.0
    qtc_long_male: float = 450.0  # ms (Bazett): prolonged above it in men
    qtc_long_female: float = 460.0  # … in women, and when the sex is not known
    qtc_margin: float = 15.0
    st_elevation: float = 0.10  # mV at J+60 ms, in >= 2 contiguous leads of a group
    st_depression: float = 0.05  # mV below the PR baseline, in >= 2 contiguous leads of a group
    st_margin: float = 0.03
    axis_margin: float = 15.0  # degrees around -90, -30, 90 and 180
    rate_margin: float = 3.0  # bpm around 60 and 100
    rr_regular: float = 0.08  # RR coefficient of variation: regular below it
    rr_irregular: float = 0.15  # … irregular above it; between, not asked


CRITERIA = Criteria()

# Lead groups of the ST and T facts, and which pairs of their leads count as contiguous: adjacent
# precordial leads, and any two limb leads of the same territory (Cabrera order aVL, I, -aVR,
# II, aVF, III makes II-aVF-III and aVL-I neighbours; I/aVL and V5/V6 see the same lateral wall).
LEAD_GROUPS: dict[str, tuple[str, ...]] = {
    "anterior": ("V1", "V2", "V3", "V4"),
    "inferior": ("II", "III", "aVF"),
    "lateral": ("I", "aVL", "V5", "V6"),
}
CONTIGUOUS: dict[str, tuple[tuple[str, str], ...]] = {
    "anterior": (("V1", "V2"), ("V2", "V3"), ("V3", "V4")),
    "inferior": (("II", "aVF"), ("aVF", "III"), ("II", "III")),
    "lateral": (("aVL", "I"), ("V5", "V6"), ("I", "V5"), ("I", "V6"), ("aVL", "V5"), ("aVL", "V6")),
}

_C = CRITERIA
_MEASURED = "the machine's measurement when the record has one, else measured on the signal (NeuroKit2)"
_INTERVAL = f"{_MEASURED}; not asked where its spread over beats exceeds {_C.interval_spread:g} ms"
ST_VALUES = ("ST elevation", "ST depression", "no ST deviation")
T_VALUES = ("T-wave inversion", "no T-wave inversion")


def _st_fact(group: str) -> Fact:
    leads = ", ".join(LEAD_GROUPS[group])
    return Fact(
        "category",
        f"ST level at J+60 ms in the {group} leads ({leads}): elevation >= {_C.st_elevation:g} mV or depression "
        f">= {_C.st_depression:g} mV in 2 contiguous leads; not asked within {_C.st_margin:g} mV of either",
        values=ST_VALUES,
    )


def _t_fact(group: str) -> Fact:
    leads = ", ".join(LEAD_GROUPS[group])
    return Fact(
        "category",
        f"T waves in the {group} leads ({leads}), on the signal: inverted in 2 contiguous leads, or every "
        "contiguous pair with an upright T; flat or biphasic T waves in between are not asked",
        values=T_VALUES,
    )


FACTS: dict[str, Fact] = {
    "record.labels": Fact(
        "labels", "the record's statements, mapped into the task's `labels` vocabulary", needs_labels=True
    ),
    "record.heart_rate": Fact("number", f"ventricular rate: {_MEASURED}", unit="bpm"),
    "record.rate": Fact(
        "category",
        f"rate class from the measured rate; not asked within {_C.rate_margin:g} bpm of 60 or 100",
        values=("bradycardia", "normal rate", "tachycardia"),
    ),
    "record.regularity": Fact(
        "category",
        f"whether RR intervals are regular (coefficient of variation < {_C.rr_regular:.0%}, "
        f"irregular > {_C.rr_irregular:.0%}; between, not asked)",
        values=("regular", "irregular"),
    ),
    "record.axis": Fact(
        "category",
        f"frontal QRS axis class ({_MEASURED}); not asked within {_C.axis_margin:g} degrees of a boundary",
        values=("normal axis", "left axis deviation", "right axis deviation", "extreme axis deviation"),
    ),
    "record.pr": Fact("number", f"PR interval: {_INTERVAL}", unit="ms"),
    "record.qrs": Fact("number", f"QRS duration: {_INTERVAL}", unit="ms"),
    "record.qt": Fact("number", f"QT interval: {_INTERVAL}", unit="ms"),
    "record.qtc": Fact("number", f"corrected QT (Bazett): {_INTERVAL}", unit="ms"),
    "record.av_block": Fact(
        "category",
        f"first-degree AV block: PR > {_C.pr_long:g} ms; not asked within {_C.pr_margin:g} ms of it",
        values=("first-degree AV block", "PR not prolonged"),
    ),
    "record.wide_qrs": Fact(
        "category",
        f"QRS duration >= {_C.qrs_wide:g} ms; not asked within {_C.qrs_margin:g} ms of it",
        values=("wide QRS", "narrow QRS"),
    ),
    "record.long_qtc": Fact(
        "category",
        f"QTc (Bazett) > {_C.qtc_long_male:g} ms in men, > {_C.qtc_long_female:g} ms in women and when the sex "
        f"is unknown; not asked within {_C.qtc_margin:g} ms of it",
        values=("prolonged QTc", "QTc not prolonged"),
    ),
    "record.st_anterior": _st_fact("anterior"),
    "record.st_inferior": _st_fact("inferior"),
    "record.st_lateral": _st_fact("lateral"),
    "record.t_inversion_anterior": _t_fact("anterior"),
    "record.t_inversion_inferior": _t_fact("inferior"),
    "record.t_inversion_lateral": _t_fact("lateral"),
    "record.age": Fact("number", "the patient's age", unit="years"),
    "record.sex": Fact("category", "the patient's sex", values=("female", "male")),
    "record.report": Fact("text", "the record's free-text report"),
}

# The record fields (as header and footer templates name them: `record.heart_rate`) that print a
# fact on the page, so that a page does not show the answer to its own question: the RR interval
# gives the rate (60000 / RR), an interpretation or statement line gives the labels and the report.
_STATEMENTS = ("interpretation", "statement", "statements", "diagnosis", "report")
PRINTED_AS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("record.heart_rate", "record.rate"), ("heart_rate", "hr", "rr")),
    "record.axis": ("qrs_axis", "heart_axis"),
    **dict.fromkeys(("record.pr", "record.av_block"), ("pr",)),
    **dict.fromkeys(("record.qrs", "record.wide_qrs"), ("qrs",)),
    "record.qt": ("qt",),
    **dict.fromkeys(("record.qtc", "record.long_qtc"), ("qtc",)),
    "record.age": ("age",),
    "record.sex": ("sex",),
    **dict.fromkeys(("record.labels", "record.report"), _STATEMENTS),
}

# What people write for a fact, where its name is not a near spelling of it (`record.hr` is nearer
# `record.pr` than `record.heart_rate`): checked before the spelling guess.
FACT_ALIASES: dict[str, str] = {
    "hr": "heart_rate",
    "heartrate": "heart_rate",
    "bpm": "heart_rate",
    "ventricular_rate": "heart_rate",
    "vent_rate": "heart_rate",
    "pulse": "heart_rate",
    "rhythm": "labels",
    "diagnosis": "labels",
    "diagnoses": "labels",
    "statements": "labels",
    "codes": "labels",
    "pr_interval": "pr",
    "qrs_duration": "qrs",
    "qrs_width": "qrs",
    "qt_interval": "qt",
    "qtc_bazett": "qtc",
    "interpretation": "report",
    "text": "report",
    "gender": "sex",
    "heart_axis": "axis",
    "qrs_axis": "axis",
}


def guess_fact(written: str) -> str | None:
    """A hint for an unknown fact: what it is usually called, else the nearest spelling."""
    from ..errors import did_you_mean

    name = written.removeprefix("record.")
    if name.lower() in FACT_ALIASES:
        return f"did you mean 'record.{FACT_ALIASES[name.lower()]}'?"
    return did_you_mean(written, list(FACTS))


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
            out.append(
                ("answer", f"unknown fact '{self.answer}'", guess_fact(self.answer) or "facts: " + ", ".join(FACTS))
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
