"""Measurements of a record: from the signal (NeuroKit2, `signal.py`) and from the machine's own
measurements in the record's metadata (`machine.py`), with the quality facts need to trust them."""

from __future__ import annotations

from typing import Any

from .types import NOT_MEASURED, Measure, Measurements, Polarity


def measure_signal(record: Any) -> Measurements:
    """The record's measurements from its signal (cached per record; imports NeuroKit2 lazily)."""
    from .signal import measure_signal as run

    return run(record)


__all__ = ["NOT_MEASURED", "Measure", "Measurements", "Polarity", "measure_signal"]
