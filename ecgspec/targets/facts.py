"""Facts about a record that a task may ask, each grounded in the record itself.

Labels come from the record's codes through a `labels` vocabulary; numbers from the machine's
measurements when the record has them, else from the signal (ecgspec.measurements: machine
first, NeuroKit2 on the waveform otherwise), each asked only where it is confident, and each
class only away from its threshold by the margin ecgspec.ir.task.CRITERIA declares; text from
the record's report. A fact that cannot be established for a record is `Unknown` with a
reason, and the task skips that record (the build report counts it) rather than guess.

The names and shapes are declared in ecgspec.ir.task.FACTS (so the checker knows them); this
module computes each of them, one function per fact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..ir.task import CONTIGUOUS, CRITERIA, FACTS, LEAD_GROUPS
from ..measurements.machine import Measured
from ..measurements.machine import measured as measured_view
from .semantics import close, contradiction


@dataclass(frozen=True)
class Unknown:
    """A fact the record cannot answer, and why (counted in the build report)."""

    reason: str


Value = tuple[str, ...] | str | int | Unknown


@dataclass
class Subject:
    """One record as the facts see it: its index entry (labels, report, measurements) and, read
    lazily, its signal."""

    key: str
    codes: Mapping[str, float]
    meta: Mapping[str, Any]
    report: str | None
    load_record: Callable[[], Any]  # -> ecgspec.records.Record
    source_labels: tuple[str, ...] = ()  # the labels its source's vocabulary gave it
    _record: Any = None
    _measured: Measured | None = None  # machine, then signal measurements (ecgspec.measurements)

    @property
    def record(self) -> Any:
        if self._record is None:
            self._record = self.load_record()
        return self._record


def statements(codes: Mapping[str, float], source_labels: Sequence[str]) -> dict[str, float]:
    """What a task's vocabulary maps: the record's raw codes (SCP, SNOMED-CT, column names) and
    the labels its source already gave it (the CinC abbreviations AF, NSR …), so a vocabulary
    may be written over either. Source labels count as certain (likelihood 100)."""
    out = dict(codes)
    for label in source_labels:
        out.setdefault(label, 100.0)
    return out


def measured(subject: Subject) -> Measured:
    """The subject's measurements, machine first, then the signal (built once per subject)."""
    if subject._measured is None:
        subject._measured = measured_view(subject)
    return subject._measured


def _confident(subject: Subject, name: str, what: str, spread: float | None = None) -> float | Unknown:
    """Measure `name` where it is confident (and its spread over beats within `spread`); else why
    not, in a fixed wording so that the build counts it per task and reason."""
    m, _ = measured(subject).get(name)
    if m.value is None or not math.isfinite(m.value):
        return Unknown(f"the {what} could not be measured on this record")
    if not m.confident:
        return Unknown(f"the {what} was measured on too few beats to be trusted")
    if spread is not None and m.spread is not None and m.spread > spread:
        return Unknown(f"the {what} varies too much between beats")
    return float(m.value)


def _interval_ms(subject: Subject, name: str, what: str) -> float | Unknown:
    return _confident(subject, name, what, CRITERIA.interval_spread)


def _interval(name: str, what: str) -> Callable[[Subject, Any], int | Unknown]:
    def compute(subject: Subject, labels: Any) -> int | Unknown:
        value = _interval_ms(subject, name, what)
        return value if isinstance(value, Unknown) else round(value)

    return compute


def _outside(value: float, threshold: float, margin: float) -> bool:
    """Whether `value` lies at least `margin` away from `threshold` (so its class is sure)."""
    return abs(value - threshold) >= margin


def heart_rate(subject: Subject, labels: Any) -> int | Unknown:
    bpm = _confident(subject, "heart_rate", "heart rate")
    if isinstance(bpm, Unknown):
        return bpm
    if not 20 <= bpm <= 300:
        return Unknown("the measured heart rate is implausible")
    return round(bpm)


def rate(subject: Subject, labels: Any) -> str | Unknown:
    bpm = heart_rate(subject, labels)
    if isinstance(bpm, Unknown):
        return bpm
    # A rate near a boundary is left unasked: measurement error could flip its class.
    if not (_outside(bpm, 60, CRITERIA.rate_margin) and _outside(bpm, 100, CRITERIA.rate_margin)):
        return Unknown("rate too close to a class boundary (60 or 100 bpm)")
    return "bradycardia" if bpm < 60 else "tachycardia" if bpm > 100 else "normal rate"


def regularity(subject: Subject, labels: Any) -> str | Unknown:
    cv = _confident(subject, "rr_variation", "RR variation")
    if isinstance(cv, Unknown):
        return cv
    if cv < CRITERIA.rr_regular:
        return "regular"
    if cv > CRITERIA.rr_irregular:
        return "irregular"
    return Unknown("RR variation borderline (8-15%)")


def axis(subject: Subject, labels: Any) -> str | Unknown:
    deg = _confident(subject, "qrs_axis", "QRS axis")
    if isinstance(deg, Unknown):
        return deg
    deg = (deg + 180) % 360 - 180
    # Borderline axes are left unasked: 15 degrees is about the spread between methods.
    if not all(_outside(deg, edge, CRITERIA.axis_margin) for edge in (-90, -30, 90, 180, -180)):
        return Unknown("axis within 15° of a class boundary")
    if -30 <= deg <= 90:
        return "normal axis"
    if -90 <= deg < -30:
        return "left axis deviation"
    if 90 < deg <= 180:
        return "right axis deviation"
    return "extreme axis deviation"


def av_block(subject: Subject, labels: Any) -> str | Unknown:
    pr = _interval_ms(subject, "pr", "PR interval")
    if isinstance(pr, Unknown):
        return pr
    if not _outside(pr, CRITERIA.pr_long, CRITERIA.pr_margin):
        return Unknown("PR interval within the margin of 200 ms")
    return "first-degree AV block" if pr > CRITERIA.pr_long else "PR not prolonged"


def wide_qrs(subject: Subject, labels: Any) -> str | Unknown:
    qrs = _interval_ms(subject, "qrs", "QRS duration")
    if isinstance(qrs, Unknown):
        return qrs
    if not _outside(qrs, CRITERIA.qrs_wide, CRITERIA.qrs_margin):
        return Unknown("QRS duration within the margin of 120 ms")
    return "wide QRS" if qrs >= CRITERIA.qrs_wide else "narrow QRS"


def long_qtc(subject: Subject, labels: Any) -> str | Unknown:
    qtc = _interval_ms(subject, "qtc_bazett", "QTc")
    if isinstance(qtc, Unknown):
        return qtc
    limit = CRITERIA.qtc_long_male if sex(subject, labels) == "male" else CRITERIA.qtc_long_female
    if not _outside(qtc, limit, CRITERIA.qtc_margin):
        return Unknown("QTc within the margin of its limit (450 ms men, 460 ms women)")
    return "prolonged QTc" if qtc > limit else "QTc not prolonged"


def _pair_score(levels: Mapping[str, float], group: str, sign: float) -> float:
    """The largest deviation (in the direction `sign`) that two contiguous leads of `group` share."""
    return max(min(sign * levels[a], sign * levels[b]) for a, b in CONTIGUOUS[group])


def st_group(group: str) -> Callable[[Subject, Any], str | Unknown]:
    def compute(subject: Subject, labels: Any) -> str | Unknown:
        st = measured(subject).st_level
        levels: dict[str, float] = {}
        for lead in LEAD_GROUPS[group]:
            m = st.get(lead)
            if m is None or m.value is None or not m.confident:
                return Unknown(f"ST level not measured confidently in every {group} lead")
            levels[lead] = float(m.value)
        c = CRITERIA
        up, down = _pair_score(levels, group, 1.0), _pair_score(levels, group, -1.0)
        if not (_outside(up, c.st_elevation, c.st_margin) and _outside(down, c.st_depression, c.st_margin)):
            return Unknown(f"ST level within the margin of a threshold in the {group} leads")
        elevated, depressed = up >= c.st_elevation, down >= c.st_depression
        if elevated and depressed:
            return Unknown(f"both ST elevation and depression in the {group} leads")
        return "ST elevation" if elevated else "ST depression" if depressed else "no ST deviation"

    return compute


def t_inversion_group(group: str) -> Callable[[Subject, Any], str | Unknown]:
    def compute(subject: Subject, labels: Any) -> str | Unknown:
        polarity = measured(subject).t_polarity
        if any(lead not in polarity for lead in LEAD_GROUPS[group]):
            return Unknown(f"T wave not measured in every {group} lead")
        pairs = [(polarity[a], polarity[b]) for a, b in CONTIGUOUS[group]]
        if any(p == q == "negative" for p, q in pairs):
            return "T-wave inversion"
        if all("positive" in (p, q) for p, q in pairs):
            return "no T-wave inversion"
        return Unknown(f"flat or biphasic T waves in the {group} leads")

    return compute


def measurement_provenance(name: str, subject: Subject) -> dict[str, str] | None:
    """Which method gave the measures fact `name` was computed from (measure → method), for the
    turn's provenance; None for a fact that is not a measurement."""
    used = FACT_MEASURES.get(name)
    if not used or subject._measured is None:
        return None
    out = {m: how for m in used if (how := subject._measured.method(m)) is not None}
    return out or None


def record_labels(subject: Subject, labels: Any) -> tuple[str, ...] | Unknown:
    """The record's labels in the vocabulary, closed under its `implies` (a sinus tachycardia is a
    sinus rhythm, whichever source said so); a record whose labels contradict its `excludes` is
    not asked about them."""
    found = close(labels.map(statements(subject.codes, subject.source_labels)), labels)
    if not found:
        return Unknown(f"no statement of the record maps into the '{labels.name}' vocabulary")
    why = contradiction(found, labels)
    return Unknown(why) if why is not None else found


def age(subject: Subject, labels: Any) -> int | Unknown:
    value = subject.meta.get("age")
    # PTB-XL writes 300 for ages above 89 (de-identification): not a real age.
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 120:
        return int(value)
    return Unknown("the record has no usable age")


def sex(subject: Subject, labels: Any) -> str | Unknown:
    value = str(subject.meta.get("sex") or "").strip().lower()
    if value in ("f", "female", "1"):
        return "female"
    if value in ("m", "male", "0"):
        return "male"
    return Unknown("the record has no sex")


def report(subject: Subject, labels: Any) -> str | Unknown:
    text = (subject.report or "").strip()
    return text if text else Unknown("the record has no report")


COMPUTE: dict[str, Callable[[Subject, Any], Value]] = {
    "record.labels": record_labels,
    "record.heart_rate": heart_rate,
    "record.rate": rate,
    "record.regularity": regularity,
    "record.axis": axis,
    "record.pr": _interval("pr", "PR interval"),
    "record.qrs": _interval("qrs", "QRS duration"),
    "record.qt": _interval("qt", "QT interval"),
    "record.qtc": _interval("qtc_bazett", "QTc"),
    "record.av_block": av_block,
    "record.wide_qrs": wide_qrs,
    "record.long_qtc": long_qtc,
    **{f"record.st_{g}": st_group(g) for g in LEAD_GROUPS},
    **{f"record.t_inversion_{g}": t_inversion_group(g) for g in LEAD_GROUPS},
    "record.age": age,
    "record.sex": sex,
    "record.report": report,
}

# The measures each measured fact is computed from (for the provenance of its turns).
FACT_MEASURES: dict[str, tuple[str, ...]] = {
    "record.heart_rate": ("heart_rate",),
    "record.rate": ("heart_rate",),
    "record.regularity": ("rr_variation",),
    "record.axis": ("qrs_axis",),
    "record.pr": ("pr",),
    "record.qrs": ("qrs",),
    "record.qt": ("qt",),
    "record.qtc": ("qtc_bazett",),
    "record.av_block": ("pr",),
    "record.wide_qrs": ("qrs",),
    "record.long_qtc": ("qtc_bazett",),
    **{f"record.st_{g}": ("st_level",) for g in LEAD_GROUPS},
    **{f"record.t_inversion_{g}": ("t_polarity",) for g in LEAD_GROUPS},
}

assert set(COMPUTE) == set(FACTS), "ecgspec.ir.task.FACTS and the computed facts must list the same names"


def fact_value(name: str, subject: Subject, labels: Any = None) -> Value:
    """The value of fact `name` for `subject` (labels: the task's LabelSet, for label facts)."""
    return COMPUTE[name](subject, labels)
