"""Whether a record can be an ECG at all: one check for every record from every reader.

A reader turns what a file says into millivolts; a file can say nonsense that is still numbers.
A header whose gain is 1e-297 makes every sample ±1e300 mV, a float export can hold infinities,
a broken export can hold leads with no samples. Drawn, such a record is a line across the page
and a label that no longer matches its picture. `implausible` says why a record cannot be an
ECG (or None), and `check_plausible` raises the RecordError that the build reports as a broken
record and skips. Missing samples (NaN) are the readers' business: they are filled in and
counted (`meta["nan_samples"]`), and a lead that is mostly missing is refused by the source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import RecordError

# A surface ECG stays within a few mV; a QRS of 5 mV is already extreme, and common front ends
# saturate at ±5 to ±32 mV. A lead beyond ±20 mV for more than a few samples (a pacing spike or
# an ADC glitch is a few) is not an ECG in millivolts: a wrong gain, unit or file.
MAX_MV = 20.0
MAX_SAMPLES_BEYOND = 5
# No sample of an ECG, glitch or not, reaches a volt: one such sample would cross the whole page.
HARD_MAX_MV = 1000.0


def implausible(signals: Mapping[str, np.ndarray], fs: float) -> str | None:
    """Why these leads (mV) at this rate (Hz) cannot be an ECG, or None when they can."""
    if not isinstance(fs, (int, float)) or not math.isfinite(fs) or fs <= 0:
        return f"the sampling rate is {fs!r}, not a positive number"
    if not signals:
        return "the record has no leads"
    for lead, values in signals.items():
        x = np.asarray(values)
        if x.ndim != 1 or x.size == 0:
            return f"lead {lead} has no samples"
        if not np.issubdtype(x.dtype, np.number):
            return f"lead {lead} is not numeric"
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            return f"lead {lead} has {bad} samples that are not finite numbers"
        peak = float(np.max(np.abs(x)))
        if peak > HARD_MAX_MV:
            return f"lead {lead} reaches {_mv(peak)}, which no ECG does (a wrong gain or unit?)"
        beyond = int(np.count_nonzero(np.abs(x) > MAX_MV))
        if beyond > MAX_SAMPLES_BEYOND:
            return (
                f"lead {lead} is beyond ±{MAX_MV:g} mV for {beyond} samples (up to {_mv(peak)}): "
                "not an ECG in millivolts (a wrong gain or unit?)"
            )
    return None


def check_plausible(signals: Mapping[str, np.ndarray], fs: float, where: str | Path) -> None:
    """RecordError naming `where` when the leads cannot be an ECG (see `implausible`)."""
    reason = implausible(signals, fs)
    if reason is not None:
        raise RecordError(where, f"implausible record: {reason}")


def _mv(value: float) -> str:
    return f"{value:.3g} mV"
