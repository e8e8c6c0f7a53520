"""`paper`: the physical printout: grid, speed and gain, page, ink, header and footer."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import annotated_types as at
from pydantic import Field

from .base import ColourHex, Decl, Problem, Template, Unit

Length = Annotated[float, Unit("length")]
# A side of a custom page: some paper, and no more than a metre (A0 is 841 x 1189 mm; at 1200 dpi a
# metre is already 47,000 pixels).
PageSide = Annotated[float, Unit("length"), at.Gt(0), at.Le(1000)]
PageName = Literal["letter", "a4", "a5", "legal"]

DEFAULT_HEADER = (
    "{{ record.id }}   {{ record.sex | default('') }} {{ record.age | default('') }}"
    "   HR {{ record.heart_rate | round | int }} bpm"
)
# `paper.filter` is the filter the page applied ("0.5–40 Hz ~50 Hz", empty when none); a record's own
# `filter` (what its cart applied before storing it) is printed only when the paper applies none.
DEFAULT_FOOTER = "{{ paper.speed }} mm/s   {{ paper.gain }} mm/mV   {{ paper.filter or record.filter | default('') }}"
Frequency = Annotated[float, Unit("frequency")]
LabelPosition = Literal["dodge", "above", "below", "fixed"]


class Paper(Decl):
    """A paper style and printout: what a machine prints on, and how.

    Speed and gain fix the physical calibration: 1 s is `speed` mm along the trace and 1 mV is
    `gain` mm across it, at any `dpi`.
    """

    kind: ClassVar[str] = "paper"

    background: ColourHex = Field("#ffffff", description="colour of the paper")
    grid: bool = Field(True, description="draw the grid; `false` for blank paper")
    minor: Length = Field(1.0, gt=0, le=50, description="minor grid spacing")
    major: Length = Field(5.0, gt=0, le=100, description="major grid spacing")
    minor_color: ColourHex = Field("#f7c4c4", description="minor grid line colour")
    major_color: ColourHex = Field("#e06666", description="major grid line colour")
    minor_width: Length = Field(0.08, gt=0, le=5, description="minor grid line width")
    major_width: Length = Field(0.2, gt=0, le=5, description="major grid line width")
    speed: Annotated[float, Unit("speed")] = Field(25.0, ge=1, le=500, description="paper speed")
    gain: Annotated[float, Unit("gain")] = Field(10.0, ge=0.5, le=200, description="limb-lead gain")
    chest_gain: Annotated[float, Unit("gain")] | None = Field(
        None, ge=0.5, le=200, description="chest-lead gain (V1–V6) when it differs, e.g. half gain"
    )
    highpass: Frequency | None = Field(
        None,
        gt=0,
        le=10,
        description="high-pass cut-off against baseline wander (zero-phase, -3 dB), e.g. 0.05 Hz or 0.5 Hz; "
        "`none`: off",
    )
    lowpass: Frequency | None = Field(
        None, gt=0, le=1000, description="low-pass cut-off (zero-phase, -3 dB), e.g. 40 Hz or 150 Hz; `none`: off"
    )
    notch: Frequency | None = Field(
        None, gt=0, le=1000, description="mains notch (zero-phase), 50 Hz or 60 Hz; `none`: off"
    )
    dpi: Annotated[float, Unit("resolution")] = Field(200.0, ge=30, le=1200, description="raster resolution")
    size: PageName | tuple[PageSide, PageSide] = Field(
        "letter", description="page: a name or [width, height], each side more than 0 and at most 1000 mm"
    )
    orientation: Literal["landscape", "portrait"] = Field("landscape", description="page orientation")
    margin: Length = Field(8.0, ge=0, le=100, description="blank border around the chart")
    trace_color: ColourHex = Field("#000000", description="ink colour of the traces")
    trace_width: Length = Field(0.25, gt=0, le=5, description="trace line width")
    text_color: ColourHex = Field("#000000", description="colour of labels, header and footer")
    font: str = Field("DejaVu Sans", description="font family of all text")
    font_size: Length = Field(3.0, gt=0, le=30, description="text height")
    label_position: LabelPosition = Field(
        "dodge",
        description="lead labels at the start of each panel: `above` or `below` the baseline, or `fixed` at the "
        "top of the row, where they stay whatever the trace does (as carts print them); `dodge`: above, "
        "moved off the trace",
    )
    label_offset: Length | None = Field(
        None,
        ge=0,
        le=50,
        description="gap between the label and the baseline (`above`, `below`) or the row's top (`fixed`); "
        "default: scaled to the row",
    )
    header: Annotated[str, Template()] | None = Field(DEFAULT_HEADER, description="header template (Jinja)")
    footer: Annotated[str, Template()] | None = Field(DEFAULT_FOOTER, description="footer template (Jinja)")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.major < self.minor:
            out.append(
                (
                    "major",
                    f"major grid spacing ({self.major:g} mm) is finer than the minor one ({self.minor:g} mm)",
                    "swap `minor` and `major`",
                )
            )
        if self.highpass is not None and self.lowpass is not None and self.lowpass <= self.highpass:
            out.append(
                (
                    "lowpass",
                    f"the low-pass cut-off ({self.lowpass:g} Hz) is not above the high-pass one "
                    f"({self.highpass:g} Hz): nothing would be left to print",
                    "for example `highpass = 0.5 Hz` and `lowpass = 40 Hz`",
                )
            )
        if self.label_offset is not None and self.label_position == "dodge":
            out.append(
                (
                    "label_offset",
                    "`label_offset` places labels that stay put; dodging labels move to wherever the trace is not",
                    "set `label_position = above`, `below` or `fixed`, or remove `label_offset`",
                )
            )
        return out
