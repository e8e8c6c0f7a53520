"""Units of the language: each unit belongs to one dimension and converts to its canonical unit.

The IR stores canonical numbers only (mm, s, Hz, mm/s, mm/mV, mV, deg, dpi, px, fraction),
so `2500 ms` and `2.5 s` mean, and hash, the same.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    canonical: str
    noun: str  # "a speed", used in messages
    example: str  # shown in hints


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("length", "mm", "a length", "5 mm"),
        Dimension("pixels", "px", "a size in pixels", "2 px"),
        Dimension("resolution", "dpi", "a resolution", "200 dpi"),
        Dimension("time", "s", "a duration", "2.5 s"),
        Dimension("frequency", "Hz", "a frequency", "500 Hz"),
        Dimension("speed", "mm/s", "a paper speed", "25 mm/s"),
        Dimension("gain", "mm/mV", "a gain", "10 mm/mV"),
        Dimension("voltage", "mV", "a voltage", "1 mV"),
        Dimension("angle", "deg", "an angle", "3 deg"),
        Dimension("fraction", "%", "a fraction", "30%"),
    )
}

# unit → (dimension, factor to the canonical unit)
UNITS: dict[str, tuple[str, float]] = {
    "mm": ("length", 1.0),
    "cm": ("length", 10.0),
    "in": ("length", 25.4),
    "px": ("pixels", 1.0),
    "dpi": ("resolution", 1.0),
    "s": ("time", 1.0),
    "ms": ("time", 0.001),
    "Hz": ("frequency", 1.0),
    "bpm": ("frequency", 1.0 / 60.0),
    "mm/s": ("speed", 1.0),
    "mm/mV": ("gain", 1.0),
    "mV": ("voltage", 1.0),
    "µV": ("voltage", 0.001),
    "uV": ("voltage", 0.001),
    "deg": ("angle", 1.0),
    "%": ("fraction", 0.01),
}


def dimension_of(unit: str) -> Dimension:
    return DIMENSIONS[UNITS[unit][0]]


def to_canonical(value: float, unit: str) -> float:
    return value * UNITS[unit][1]


def describe(unit: str | None) -> str:
    """'a length (mm)' for a unit, 'a plain number' for none."""
    if unit is None:
        return "a plain number"
    d = dimension_of(unit)
    return f"{d.noun} ({unit})"
