"""Records: an ECG as every later stage sees it, whatever file or database it came from.

A `Record` holds each lead in millivolts under its canonical name (ecgspec.leads), so every later
stage can trust two things: `signals["aVR"]` is aVR whatever the file called it, and 1.0 is 1 mV
whatever the file's units and ADC gain were. Everything else a header might print (age, sex,
diagnosis codes, the recording date) goes into `meta`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np


@dataclass
class Record:
    """One ECG recording: leads in mV at one sampling rate, plus what its header says.

    `signals` maps canonical lead names (ecgspec.leads) to 1-D arrays in mV, all of the same
    length. `meta` holds header facts (`age`, `sex`, `date`, `dx`…) and reading notes
    (`nan_samples`: per lead, how many missing samples were filled in).

    `window_start` is where the page drawn of it begins, in seconds of the record: a corpus's
    `window` (ecgspec.build.work_items) sets it for a record longer than a page, and the layout
    engine starts every panel's time there, so the sidecar's `t0`/`t1` stay times of the source
    record. The signals are always the whole record (facts and measurements read all of it).
    """

    id: str
    fs: float
    signals: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    window_start: float = 0.0

    @property
    def n_samples(self) -> int:
        return len(next(iter(self.signals.values()))) if self.signals else 0

    @property
    def duration(self) -> float:
        """Length in seconds (samples / fs)."""
        return self.n_samples / self.fs if self.fs else 0.0

    @property
    def leads(self) -> tuple[str, ...]:
        return tuple(self.signals)

    @cached_property
    def rhythm(self) -> Any:
        """R peaks and heart rate measured on the signal (ecgspec.records.measure), computed once."""
        from .measure import measure_rhythm

        return measure_rhythm(self)


def fill_nan(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Missing samples (NaN, WFDB's marker for an invalid ADC value) filled by linear
    interpolation; ends take the nearest valid value and an all-missing lead becomes 0 mV."""
    bad = ~np.isfinite(x)
    n = int(bad.sum())
    if n == 0:
        return x, 0
    if n == len(x):
        return np.zeros_like(x), n
    idx = np.arange(len(x))
    x = x.copy()
    x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return x, n
