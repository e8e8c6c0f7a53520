"""What a measurement of a record is: values with their quality, and where they came from.

A `Measure` is one number measured over the beats of a record (a median), with the share of beats
that could be measured and the spread between them; facts ask a value only where it is `confident`.
`Measurements` holds every measure of one record, from the signal (`method` names the library and
its version) or from the machine's own measurements in the record's metadata (`method = "machine"`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Polarity = Literal["positive", "negative", "biphasic", "flat"]


@dataclass(frozen=True)
class Measure:
    value: float | None  # None: not measurable on this record
    quality: float = 0.0  # 0..1: share of beats on which it could be measured (1.0 for a machine value)
    spread: float | None = None  # interquartile range over beats, in the value's unit

    @property
    def confident(self) -> bool:
        """Measured on most beats, with beats that agree (the thresholds facts rely on)."""
        return self.value is not None and self.quality >= 0.6


NOT_MEASURED = Measure(None)


@dataclass(frozen=True)
class Measurements:
    method: str  # e.g. "neurokit2 0.2.13 (dwt delineation)" or "machine"
    heart_rate: Measure = NOT_MEASURED  # beats per minute
    rr_variation: Measure = NOT_MEASURED  # coefficient of variation of the RR intervals (0.05 = 5%)
    pr: Measure = NOT_MEASURED  # ms, P onset to QRS onset
    qrs: Measure = NOT_MEASURED  # ms, QRS onset to offset
    qt: Measure = NOT_MEASURED  # ms, QRS onset to T offset
    qtc_bazett: Measure = NOT_MEASURED  # ms, QT / sqrt(RR in s)
    qtc_fridericia: Measure = NOT_MEASURED  # ms, QT / cbrt(RR in s)
    p_axis: Measure = NOT_MEASURED  # degrees, frontal plane
    qrs_axis: Measure = NOT_MEASURED
    t_axis: Measure = NOT_MEASURED
    st_level: dict[str, Measure] = field(default_factory=dict)  # lead → mV at J + 60 ms, against the PR baseline
    t_polarity: dict[str, Polarity] = field(default_factory=dict)  # lead → T-wave polarity
    beats: int = 0  # beats the medians are over

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
