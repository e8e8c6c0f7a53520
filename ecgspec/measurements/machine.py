"""The machine's own measurements (in a record's metadata), and a record's measurements merged:
the machine's where the record has them, the signal's otherwise, each remembering its method.

The readers write the machine's values under normalised keys (ecgspec.sources.mimic; MUSE
exports and synthetic records alike): `heart_rate` in bpm, `rr`, `pr`, `qrs`, `qt`, `qtc` in ms
(QTc by Bazett), `p_axis`, `qrs_axis`, `t_axis` in degrees. A machine value counts (quality 1.0)
only where it is a finite number in its plausible range; anything else is not measured, and the
signal is asked instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .types import NOT_MEASURED, Measure, Measurements, Polarity

MACHINE = "machine"

# meta key → (Measurements field, plausible low, plausible high), units as the readers write them.
PLAUSIBLE: dict[str, tuple[str, float, float]] = {
    "heart_rate": ("heart_rate", 20.0, 300.0),
    "pr": ("pr", 50.0, 600.0),
    "qrs": ("qrs", 40.0, 250.0),
    "qt": ("qt", 150.0, 750.0),
    "qtc": ("qtc_bazett", 200.0, 750.0),
    "p_axis": ("p_axis", -180.0, 360.0),
    "qrs_axis": ("qrs_axis", -180.0, 360.0),
    "t_axis": ("t_axis", -180.0, 360.0),
}

# The scalar measures of a `Measurements`, in its order (per lead ones apart).
SCALARS = (
    "heart_rate",
    "rr_variation",
    "pr",
    "qrs",
    "qt",
    "qtc_bazett",
    "qtc_fridericia",
    "p_axis",
    "qrs_axis",
    "t_axis",
)


def _number(meta: Mapping[str, Any], key: str) -> float | None:
    value = meta.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def machine_measurements(meta: Mapping[str, Any]) -> Measurements:
    """The machine's measurements in `meta` (quality 1.0 where present and plausible). Axes are
    brought to (-180°, 180°]; QTc by Fridericia (and by Bazett, when the machine gives none) is
    derived from the machine's QT and rate."""
    values: dict[str, Measure] = {}
    for key, (name, low, high) in PLAUSIBLE.items():
        v = _number(meta, key)
        if v is None or not low <= v <= high:
            continue
        if name.endswith("axis"):
            v = -((-v + 180.0) % 360.0 - 180.0)  # (-180, 180]
        values[name] = Measure(v, 1.0)
    rr = _number(meta, "rr")
    if (rr is None or rr <= 0) and "heart_rate" in values:
        rr = 60000.0 / float(values["heart_rate"].value or 0.0)
    if "qt" in values and rr is not None and 200.0 <= rr <= 3000.0:
        qt = float(values["qt"].value or 0.0)
        values["qtc_fridericia"] = Measure(round(qt / (rr / 1000.0) ** (1 / 3), 1), 1.0)
        values.setdefault("qtc_bazett", Measure(round(qt / math.sqrt(rr / 1000.0), 1), 1.0))
    return Measurements(method=MACHINE, **values)  # type: ignore[arg-type]


@dataclass
class Measured:
    """A record's measurements, machine first: `get(name)` gives the machine's measure where it has
    one, the signal's otherwise, and which method gave it. The signal is measured only when asked
    for (it needs the waveform and NeuroKit2), once."""

    machine: Measurements
    measure_signal: Callable[[], Measurements]
    _signal: Measurements | None = field(default=None, init=False, repr=False)

    @property
    def signal(self) -> Measurements:
        if self._signal is None:
            self._signal = self.measure_signal()
        return self._signal

    @property
    def signal_measured(self) -> bool:
        """Whether the signal has been measured (so asking for its method costs nothing)."""
        return self._signal is not None

    def get(self, name: str) -> tuple[Measure, str]:
        """The measure `name` (a scalar field of Measurements) and the method that gave it."""
        if name not in SCALARS:
            raise KeyError(name)
        mine: Measure = getattr(self.machine, name)
        if mine.value is not None:
            return mine, MACHINE
        return getattr(self.signal, name), self.signal.method

    def method(self, name: str) -> str | None:
        """The method behind measure `name` (per-lead `st_level`/`t_polarity`: always the signal),
        without measuring anything: None where the signal would be asked but has not been yet."""
        if name in SCALARS and getattr(self.machine, name).value is not None:
            return MACHINE
        return self._signal.method if self._signal is not None else None

    @property
    def st_level(self) -> dict[str, Measure]:
        return self.signal.st_level

    @property
    def t_polarity(self) -> dict[str, Polarity]:
        return self.signal.t_polarity

    def merged(self) -> tuple[Measurements, dict[str, str]]:
        """One `Measurements` with every measure from where `get` takes it, and measure → method."""
        values: dict[str, Measure] = {}
        methods: dict[str, str] = {}
        for name in SCALARS:
            m, how = self.get(name)
            values[name] = m
            if m is not NOT_MEASURED and m.value is not None:
                methods[name] = how
        sig = self.signal
        if sig.st_level:
            methods["st_level"] = sig.method
        if sig.t_polarity:
            methods["t_polarity"] = sig.method
        kinds = sorted(set(methods.values()))
        merged = Measurements(
            method=" + ".join(kinds) if kinds else sig.method,
            st_level=dict(sig.st_level),
            t_polarity=dict(sig.t_polarity),
            beats=sig.beats,
            **values,
        )
        return merged, methods


def measured(subject: Any) -> Measured:
    """The merged measurements of a subject (anything with `meta` and a lazily read `record`)."""

    def from_signal() -> Measurements:
        from . import measure_signal  # looked up when called, so a test may replace it

        return measure_signal(subject.record)

    return Measured(machine_measurements(subject.meta), from_signal)


__all__ = ["MACHINE", "PLAUSIBLE", "SCALARS", "Measured", "machine_measurements", "measured"]
