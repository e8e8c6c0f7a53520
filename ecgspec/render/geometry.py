"""Where each lead lies on the page, in millimetres: the layout engine's answer to a digitiser.

The sidecar (ecgspec.render.sidecar) is this, in pixels. Conventions:
- x grows to the right, y downwards, origin at the page's top-left corner.
- time t (seconds of the source record) is at x = x0 + (t - t0) · mm_per_s;
- a value v (mV) is at y = baseline - v · mm_per_mV.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Panel:
    """One drawn lead window. The box spans exactly [t0, t1] across, and vertically the lead's
    row cell grown to hold all of its ink (a tall QRS may reach into the next row; the box then
    says so, and boxes of neighbouring rows overlap there)."""

    lead: str
    rhythm: bool
    x0: float
    y0: float
    x1: float
    y1: float
    baseline: float
    t0: float
    t1: float
    mm_per_s: float
    mm_per_mV: float
    row: int
    column: int


@dataclass(frozen=True, slots=True)
class LabelSlot:
    """Where a lead label was placed, and the cell it belongs to (its panel's span across, its
    row down): what a scene step that moves labels needs to know."""

    lead: str
    row: int
    column: int
    x: float  # the label's anchor: start of its baseline
    y: float
    left: float  # the panel's span across
    right: float
    top: float  # the row's cell down
    bottom: float


@dataclass(slots=True)
class Geometry:
    width: float  # page, mm
    height: float
    dpi: float
    speed: float  # mm/s
    gain: float  # mm/mV, limb leads
    chest_gain: float  # mm/mV, V1–V6 (equal to gain unless the paper halves it)
    panels: list[Panel] = field(default_factory=list)
    grid: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 of the grid, mm
    missing_leads: list[str] = field(default_factory=list)  # in the layout, not in the record
    header: list[str] = field(default_factory=list)  # the printed header lines
    footer: list[str] = field(default_factory=list)
    labels: list[LabelSlot] = field(default_factory=list)  # one per lead label, in the scene's order
