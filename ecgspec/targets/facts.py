"""Facts about a record that a task may ask, each grounded in the record itself.

Labels come from the record's codes through a `labels` vocabulary; numbers from the machine's
measurements when the source has them, else from the signal (ecgspec.records.measure); text
from the record's report. A fact that cannot be established for a record is `Unknown` with a
reason, and the task skips that record (the build report counts it) rather than guess.

The names and shapes are declared in ecgspec.ir.task.FACTS (so the checker knows them); this
module computes each of them, one function per fact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir.task import FACTS


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


def _meta_number(subject: Subject, key: str, what: str) -> int | Unknown:
    value = subject.meta.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return round(value)
    return Unknown(f"no {what} in the record's measurements")


def heart_rate(subject: Subject, labels: Any) -> int | Unknown:
    machine = subject.meta.get("heart_rate")
    if isinstance(machine, (int, float)) and not isinstance(machine, bool) and 20 <= machine <= 300:
        return round(machine)
    rate = subject.record.rhythm.heart_rate
    if rate is None or not 20 <= rate <= 300:
        return Unknown("too few beats detected to measure the rate")
    return round(rate)


def rate(subject: Subject, labels: Any) -> str | Unknown:
    bpm = heart_rate(subject, labels)
    if isinstance(bpm, Unknown):
        return bpm
    # A rate within 3 bpm of a boundary is left unasked: measurement error could flip its class.
    if 57 <= bpm <= 63 or 97 <= bpm <= 103:
        return Unknown("rate too close to a class boundary (57-63 or 97-103 bpm)")
    return "bradycardia" if bpm < 60 else "tachycardia" if bpm > 100 else "normal rate"


def regularity(subject: Subject, labels: Any) -> str | Unknown:
    peaks = np.asarray(subject.record.rhythm.peaks, dtype=float)
    if len(peaks) < 5:
        return Unknown("too few beats to judge regularity")
    rr = np.diff(peaks)
    cv = float(np.std(rr) / np.mean(rr))
    if cv < 0.08:
        return "regular"
    if cv > 0.15:
        return "irregular"
    return Unknown("RR variation borderline (8-15%)")


def qrs_axis_degrees(record: Any) -> float | None:
    """The frontal QRS axis from the net QRS deflection in I and aVF, averaged over beats.

    aVF sees the frontal vector scaled by √3/2 (augmented lead), lead I unscaled; the axis is
    the angle of (I, aVF / (√3/2)). Each beat's deflection is measured against the median of
    the PR segment before it."""
    if "I" not in record.signals or "aVF" not in record.signals:
        return None
    fs = record.fs
    peaks = (np.asarray(record.rhythm.peaks) * fs).astype(int)
    half, b0, b1 = int(0.06 * fs), int(0.20 * fs), int(0.12 * fs)
    n = record.n_samples
    peaks = peaks[(peaks - b0 >= 0) & (peaks + half < n)]
    if len(peaks) < 3:
        return None
    net = []
    for lead in ("I", "aVF"):
        x = record.signals[lead]
        areas = [float(np.sum(x[p - half : p + half] - np.median(x[p - b0 : p - b1]))) for p in peaks]
        net.append(float(np.median(areas)))
    i_net, avf_net = net
    if abs(i_net) + abs(avf_net) < 1e-9:
        return None
    return math.degrees(math.atan2(avf_net / (math.sqrt(3) / 2), i_net))


def axis(subject: Subject, labels: Any) -> str | Unknown:
    machine = subject.meta.get("qrs_axis")
    if isinstance(machine, (int, float)) and not isinstance(machine, bool) and -180 <= machine <= 360:
        deg = float(machine)
    else:
        measured = qrs_axis_degrees(subject.record)
        if measured is None:
            return Unknown("the QRS axis cannot be measured (no leads I and aVF, or too few beats)")
        deg = measured
    deg = (deg + 180) % 360 - 180
    # Borderline axes are left unasked: 15 degrees is about the spread between methods.
    for edge in (-90, -30, 90, 180, -180):
        if abs(deg - edge) < 15:
            return Unknown("axis within 15° of a class boundary")
    if -30 <= deg <= 90:
        return "normal axis"
    if -90 <= deg < -30:
        return "left axis deviation"
    if 90 < deg <= 180:
        return "right axis deviation"
    return "extreme axis deviation"


def record_labels(subject: Subject, labels: Any) -> tuple[str, ...] | Unknown:
    found = tuple(labels.map(statements(subject.codes, subject.source_labels)))
    if not found:
        return Unknown(f"no statement of the record maps into the '{labels.name}' vocabulary")
    return found


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
    "record.pr": lambda s, _: _meta_number(s, "pr", "PR interval"),
    "record.qrs": lambda s, _: _meta_number(s, "qrs", "QRS duration"),
    "record.qt": lambda s, _: _meta_number(s, "qt", "QT interval"),
    "record.qtc": lambda s, _: _meta_number(s, "qtc", "QTc"),
    "record.age": age,
    "record.sex": sex,
    "record.report": report,
}

assert set(COMPUTE) == set(FACTS), "ecgspec.ir.task.FACTS and the computed facts must list the same names"


def fact_value(name: str, subject: Subject, labels: Any = None) -> Value:
    """The value of fact `name` for `subject` (labels: the task's LabelSet, for label facts)."""
    return COMPUTE[name](subject, labels)
