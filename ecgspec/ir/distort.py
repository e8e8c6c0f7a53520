"""`distort`: an ordered pipeline of steps that make a clean render look scanned or photographed.

Each step is one class below: its fields are its parameters (drawn per image when written as
a distribution), `p` is the probability that it fires. Scene steps change what is drawn;
raster steps change pixels. The implementations live with the renderer; these classes are
what a spec may say, and the checker, `explain` and the docs read them.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, ClassVar, Literal

import annotated_types as at
from pydantic import Field, SerializeAsAny, computed_field

from .base import ColourHex, Decl, Prob, Statement, Unit, Varying

Fraction = Annotated[float, Unit("fraction")]
# Shares the renderer cannot go past (a corner moved half across the page, a crop of half of each
# side, a texture stronger than the paper): rejected by `check` rather than clamped at render time.
Share45 = Annotated[float, Unit("fraction"), at.Ge(0), at.Le(0.45)]
Share = Annotated[float, Unit("fraction"), at.Ge(0), at.Le(1)]
Length = Annotated[float, Unit("length")]
Pixels = Annotated[float, Unit("pixels")]
Angle = Annotated[float, Unit("angle")]


Stage = Literal["scene", "raster", "scene or raster"]

_FILL = "border colour where the page no longer covers the image (a desk, a scanner lid); `none`: the paper colour"


def _unset(value: Any) -> bool:
    return value is None


def fill_field() -> Any:
    """The optional `fill` of the steps that uncover part of the image. Left out of dumps (and so
    of content hashes) while unset: pipelines written before it existed keep their hashes, and
    with them every random draw of their items."""
    return Field(None, description=_FILL, exclude_if=_unset)


class Step(Statement):
    """A step of a `distort` pipeline. `stage` says when it acts: `scene` steps change what is
    drawn (the renderer applies them while it lays out the page, before any pixel exists),
    `raster` steps change the pixels of the drawn page, in the order written."""

    stage: ClassVar[Stage] = "raster"
    p: Prob = Field(1.0, ge=0, le=1, description="probability that the step fires")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def op(self) -> str:
        """The step's keyword, written into dumps so that steps with like parameters differ."""
        return self.keyword


# ---- scene steps ---------------------------------------------------------------------------------


class GridStep(Step):
    """Remove the grid, make it faint, or jitter its colours."""

    keyword: ClassVar[str] = "grid"
    stage: ClassVar[Stage] = "scene"
    positional: ClassVar[tuple[str, ...]] = ("mode",)
    mode: Literal["remove", "faint", "jitter"]
    amount: Varying[Share] = Field(0.5, description="faintness or colour jitter, 0–1")


class TraceStep(Step):
    """Change the trace's width and colour."""

    keyword: ClassVar[str] = "trace"
    stage: ClassVar[Stage] = "scene"
    width: Varying[Length] | None = Field(None, description="trace width")
    color: ColourHex | None = Field(None, description="trace colour")


class LabelsStep(Step):
    """Drop or misplace lead labels."""

    keyword: ClassVar[str] = "labels"
    stage: ClassVar[Stage] = "scene"
    positional: ClassVar[tuple[str, ...]] = ("mode",)
    mode: Literal["missing", "misplaced"]
    amount: Varying[Share] = Field(1.0, description="share of labels affected")


class HeaderStep(Step):
    """Hide the header and footer text."""

    keyword: ClassVar[str] = "header"
    stage: ClassVar[Stage] = "scene"
    positional: ClassVar[tuple[str, ...]] = ("show",)
    show: Literal["on", "off"] = "off"


class PaddingStep(Step):
    """Add blank paper around the page."""

    keyword: ClassVar[str] = "padding"
    stage: ClassVar[Stage] = "scene"
    positional: ClassVar[tuple[str, ...]] = ("amount",)
    amount: Varying[Length] = Field(10.0, description="border added on each side")


class ChartStep(Step):
    """Move and scale the chart on the page."""

    keyword: ClassVar[str] = "chart"
    stage: ClassVar[Stage] = "scene"
    scale: Varying[Fraction] = Field(1.0, description="chart scale, 1 = 100%")
    shift_x: Varying[Length] = Field(0.0, description="horizontal shift")
    shift_y: Varying[Length] = Field(0.0, description="vertical shift")


# ---- raster steps: geometry -----------------------------------------------------------------------


class RotateStep(Step):
    """Rotate the page about its centre."""

    keyword: ClassVar[str] = "rotate"
    positional: ClassVar[tuple[str, ...]] = ("angle",)
    angle: Varying[Angle]
    fill: ColourHex | None = fill_field()


class PerspectiveStep(Step):
    """Photograph the page at an angle: move its corners inward by up to `strength` of its size."""

    keyword: ClassVar[str] = "perspective"
    positional: ClassVar[tuple[str, ...]] = ("strength",)
    strength: Varying[Share45]
    fill: ColourHex | None = fill_field()


class CropStep(Step):
    """Cut up to `amount` of the size from each side."""

    keyword: ClassVar[str] = "crop"
    positional: ClassVar[tuple[str, ...]] = ("amount",)
    amount: Varying[Share45]


class ShiftStep(Step):
    """Translate the page."""

    keyword: ClassVar[str] = "shift"
    x: Varying[Pixels] = 0.0
    y: Varying[Pixels] = 0.0
    fill: ColourHex | None = fill_field()


class ResolutionStep(Step):
    """Rescale the image (a low-resolution scan)."""

    keyword: ClassVar[str] = "resolution"
    positional: ClassVar[tuple[str, ...]] = ("scale",)
    scale: Varying[Fraction]


class AspectStep(Step):
    """Stretch the width by `ratio` (a scanner or screenshot with the wrong aspect)."""

    keyword: ClassVar[str] = "aspect"
    positional: ClassVar[tuple[str, ...]] = ("ratio",)
    ratio: Varying[float] = Field(description="new width / old width")


# ---- raster steps: paper ------------------------------------------------------------------------


class WrinkleStep(Step):
    """Smooth displacement field with shading, as crumpled paper."""

    keyword: ClassVar[str] = "wrinkle"
    strength: Varying[Share] = 0.5
    count: Varying[int] = 6


class CreaseStep(Step):
    """Straight folds: a line of shading with a small local displacement."""

    keyword: ClassVar[str] = "crease"
    positional: ClassVar[tuple[str, ...]] = ("count",)
    count: Varying[int] = 1
    depth: Varying[Share] = 0.4


class CrumpleStep(Step):
    """Crumpled and smoothed-out paper: a height field of crease lines, lit from one side, as a gain."""

    keyword: ClassVar[str] = "crumple"
    positional: ClassVar[tuple[str, ...]] = ("strength",)
    strength: Varying[Share] = Field(0.4, description="depth of the shading, 0–1")
    creases: Varying[int] = Field(40, description="crease lines across the page")
    displace: Varying[Length] = Field(0.0, description="largest in-plane displacement of the paper")


class TintStep(Step):
    """Move the page colour toward `color` by `amount`."""

    keyword: ClassVar[str] = "tint"
    positional: ClassVar[tuple[str, ...]] = ("color",)
    color: ColourHex
    amount: Varying[Share] = 0.2


class YellowStep(Step):
    """Yellow the paper as it ages."""

    keyword: ClassVar[str] = "yellow"
    positional: ClassVar[tuple[str, ...]] = ("amount",)
    amount: Varying[Share] = 0.3


class TextureStep(Step):
    """Paper fibre texture."""

    keyword: ClassVar[str] = "texture"
    positional: ClassVar[tuple[str, ...]] = ("strength",)
    strength: Varying[Share] = 0.2


class StainStep(Step):
    """Coffee and water stains: irregular blots with tide lines, and cup rings."""

    keyword: ClassVar[str] = "stain"
    count: Varying[int] = 1
    size: Varying[Length] = 20.0
    color: ColourHex = "#b08850"


class ShadowStep(Step):
    """A soft shadow across part of the page."""

    keyword: ClassVar[str] = "shadow"
    positional: ClassVar[tuple[str, ...]] = ("strength",)
    strength: Varying[Share] = 0.3


class LightingStep(Step):
    """A brightness gradient, as uneven light on a photographed page."""

    keyword: ClassVar[str] = "lighting"
    positional: ClassVar[tuple[str, ...]] = ("strength",)
    strength: Varying[Share] = 0.3


# ---- raster steps: annotations --------------------------------------------------------------------
# Marks that people and machines add to a printout: handwritten notes, rubber stamps, QR codes,
# marker and highlighter strokes. Each is ink on the paper, drawn as a multiply (a darkening
# gain, so that a trace under a mark stays at least as dark as it was), placed where `place`
# says, and recorded with its box in final-image pixels.

Place = Literal["clear", "over"]
_PLACE = "`clear`: on blank paper, away from traces and text (where the page has such a spot); `over`: anywhere, over traces too"


class HandwritingStep(Step):
    """Handwritten notes in pen: a script font with a hand's wobble, slant and pressure."""

    keyword: ClassVar[str] = "handwriting"
    positional: ClassVar[tuple[str, ...]] = ("text",)
    text: Varying[str] | None = Field(
        None, description="the note (`choice[...]` for a list); unset: one of a few common notes"
    )
    source: Literal["text", "report", "record"] = Field(
        "text", description="`report`: words of the record's report; `record`: its id; else (or unknown) `text`"
    )
    words: Varying[int] = Field(3, description="words taken from the report (`source report`)")
    size: Varying[Length] = Field(4.0, description="height of a capital letter")
    angle: Varying[Angle] = Field(0.0, description="rotation of the line of writing")
    color: ColourHex = Field("#1e2f8c", description="ink: a blue or black pen")
    place: Place = Field("clear", description=_PLACE)


class StampStep(Step):
    """A rubber stamp: a box or a ring of capitals and a date, in uneven, faded ink."""

    keyword: ClassVar[str] = "stamp"
    positional: ClassVar[tuple[str, ...]] = ("text",)
    text: Varying[str] | None = Field(None, description="the stamp's word; unset: RECEIVED, COPY, REVIEWED …")
    shape: Literal["box", "round", "any"] = Field("any", description="`any`: box or round, drawn per image")
    date: Literal["on", "off"] = Field("on", description="a date line (drawn from the step's seed)")
    size: Varying[Length] = Field(32.0, description="width of a box stamp, diameter of a round one")
    angle: Varying[Angle] = Field(0.0, description="rotation of the stamp")
    fade: Varying[Share] = Field(0.3, description="how unevenly inked: 0 solid, 1 barely there")
    color: ColourHex = Field("#b3203a", description="stamp ink")
    place: Place = Field("over", description=_PLACE)


class QrStep(Step):
    """A QR code printed on the page (segno), decodable back to its text."""

    keyword: ClassVar[str] = "qr"
    positional: ClassVar[tuple[str, ...]] = ("text",)
    text: Varying[str] | None = Field(None, description="what the code encodes")
    source: Literal["text", "record"] = Field(
        "text", description="`record`: the record's id (else, or when unknown, `text`)"
    )
    size: Varying[Length] = Field(16.0, description="width of the code, quiet zone included")
    angle: Varying[Angle] = Field(0.0, description="rotation of the code")
    label: ColourHex | None = Field(
        None, description="a sticker of this colour under the code; unset: printed with the page (no grid under it)"
    )
    place: Place = Field("clear", description=_PLACE)


class MarkerStep(Step):
    """Marker and highlighter strokes: lines under or along the traces, loops around a spot."""

    keyword: ClassVar[str] = "marker"
    positional: ClassVar[tuple[str, ...]] = ("shape",)
    shape: Literal["line", "circle", "any"] = Field("any", description="`any`: line or circle, per stroke")
    tool: Literal["marker", "highlighter"] = Field(
        "marker", description="a felt-tip marker (dark, narrow) or a highlighter (translucent, wide)"
    )
    count: Varying[int] = Field(1, description="strokes drawn")
    size: Varying[Length] = Field(25.0, description="length of a line, width of a circle")
    width: Varying[Length] | None = Field(None, description="stroke width; unset: 1 mm marker, 5 mm highlighter")
    color: ColourHex | None = Field(None, description="unset: red marker, yellow highlighter")
    place: Place = Field("over", description=_PLACE)


# ---- raster steps: sensor ---------------------------------------------------------------------


class NoiseStep(Step):
    """Sensor noise: gaussian (`sigma` in 0–255 levels), speckle, or salt and pepper (`amount`)."""

    keyword: ClassVar[str] = "noise"
    positional: ClassVar[tuple[str, ...]] = ("kind",)
    kind: Literal["gaussian", "speckle", "salt_pepper"] = "gaussian"
    sigma: Varying[Annotated[float, at.Ge(0), at.Le(255)]] = Field(
        5.0, description="standard deviation in 0–255 levels"
    )
    amount: Varying[Share] = Field(0.01, description="share of pixels hit (salt and pepper)")


class BlurStep(Step):
    """Gaussian blur."""

    keyword: ClassVar[str] = "blur"
    positional: ClassVar[tuple[str, ...]] = ("sigma",)
    sigma: Varying[Pixels] = 1.0


class DefocusStep(Step):
    """Disc blur of an out-of-focus camera."""

    keyword: ClassVar[str] = "defocus"
    positional: ClassVar[tuple[str, ...]] = ("radius",)
    radius: Varying[Pixels] = 2.0


class JpegStep(Step):
    """JPEG compression artefacts."""

    keyword: ClassVar[str] = "jpeg"
    positional: ClassVar[tuple[str, ...]] = ("quality",)
    quality: Varying[int] = Field(75, description="JPEG quality, 1–100")


class ContrastStep(Step):
    """Stretch the levels about mid-grey by `amount` (a photocopier's or a phone's tone curve)."""

    keyword: ClassVar[str] = "contrast"
    positional: ClassVar[tuple[str, ...]] = ("amount",)
    amount: Varying[float] = Field(1.5, description="slope of the tone curve: 1 = unchanged, 2 = twice the contrast")


class ThresholdStep(Step):
    """Black and white, as a fax or a 1-bit scan: pixels darker than `level` become black, the rest white."""

    keyword: ClassVar[str] = "threshold"
    positional: ClassVar[tuple[str, ...]] = ("level",)
    level: Varying[Share] = Field(0.55, description="luminance (share of white) below which a pixel is ink")


SIMPLE_STEPS: tuple[type[Step], ...] = (
    GridStep,
    TraceStep,
    LabelsStep,
    HeaderStep,
    PaddingStep,
    ChartStep,
    RotateStep,
    PerspectiveStep,
    CropStep,
    ShiftStep,
    ResolutionStep,
    AspectStep,
    WrinkleStep,
    CreaseStep,
    CrumpleStep,
    TintStep,
    YellowStep,
    TextureStep,
    StainStep,
    ShadowStep,
    LightingStep,
    HandwritingStep,
    StampStep,
    QrStep,
    MarkerStep,
    NoiseStep,
    BlurStep,
    DefocusStep,
    ContrastStep,
    ThresholdStep,
    JpegStep,
)


class OneOfStep(Step):
    """`one of { ... } p = 0.5`: when it fires, exactly one of its steps runs (by their `p` as weights).

    A group may hold scene and raster steps alike: the step picked acts at its own stage. A
    scene step picked from a group is drawn into the page like any scene step, so it acts before
    every raster step of the pipeline wherever the group is written; a raster step picked acts
    at the group's place in the pipeline. The group's place decides its draws either way."""

    keyword: ClassVar[str] = "one of"
    stage: ClassVar[Stage] = "scene or raster"
    takes_block: ClassVar[bool] = True
    statements: ClassVar[dict[str, type[Any]]] = {s.keyword: s for s in SIMPLE_STEPS}
    steps: tuple[SerializeAsAny[Step], ...] = ()


# Its docstring, unindented: the reference (ecgspec.docgen) prints step docstrings as they are.
OneOfStep.__doc__ = inspect.cleandoc(OneOfStep.__doc__ or "")

_ALL_STEPS: tuple[type[Step], ...] = (*SIMPLE_STEPS, OneOfStep)
STEPS: dict[str, type[Step]] = {s.keyword: s for s in _ALL_STEPS}


class Distort(Decl):
    """A distortion pipeline: steps run in the order written; `extends` appends to the base's."""

    kind: ClassVar[str] = "distort"
    statements: ClassVar[dict[str, type[Any]]] = STEPS
    steps: tuple[SerializeAsAny[Step], ...] = ()
