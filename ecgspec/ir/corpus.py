"""`corpus`: records × renders × tasks → an instruction-tuning set (the ECGInstruct recipe)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import annotated_types as at
from pydantic import Field

from .base import Choice, Decl, Ident, Prob, Problem, RefTo, Statement, Unit, Varying


class From(Statement):
    """`from SOURCE [split NAME] [weight W] [limit N]`: where items come from."""

    keyword: ClassVar[str] = "from"
    positional: ClassVar[tuple[str, ...]] = ("source",)
    source: Annotated[str, RefTo("source", "synth")]
    split: Annotated[str, Ident()] | None = None
    weight: float = Field(1.0, gt=0)
    limit: int | None = Field(None, ge=1)


LayoutRef = Annotated[str, RefTo("layout")]
PaperRef = Annotated[str, RefTo("paper")]
DistortRef = Annotated[str, RefTo("distort")]
TaskRef = Annotated[str, RefTo("task", "instruct")]
# Turns of one conversation: at least one, and no more than a conversation can fill without asking a
# fact twice many times over (the build never asks one twice).
Turns = Annotated[int, at.Ge(1), at.Le(50)]


class Corpus(Decl):
    """A training corpus: which records, rendered how, asked what."""

    kind: ClassVar[str] = "corpus"
    statements: ClassVar[dict[str, type[Any]]] = {"from": From}

    sources: tuple[From, ...] = ()
    layout: LayoutRef | Choice = Field("4x3", description="layout, or a weighted choice of layouts")
    paper: PaperRef | Choice = Field("standard", description="paper, or a weighted choice of papers")
    distort: DistortRef | Choice | None = Field(None, description="distortion pipeline(s) for distorted renders")
    distorted: Prob = Field(0.5, ge=0, le=1, description="share of images that are distorted (PULSE: about 1:1)")
    tasks: tuple[TaskRef, ...] | Choice = Field((), description="tasks, or a weighted choice of tasks")
    revise: Annotated[str, RefTo("instruct")] | None = Field(
        None, description="a `report` instruct: its English structured revisions are the target of report tasks"
    )
    turns: Varying[Turns] = Field(1, description="conversation turns per image, 1 to 50 (or a range of them)")
    refill: bool = Field(
        False,
        description="a turn whose family no task can answer for the record is asked of another family "
        "instead; by default it stays empty (counted in build.json's `families`), so that the families "
        "keep the shares their task weights give them",
    )
    hide_in_header: bool = Field(
        False,
        description="the page of an item leaves out of its header and footer each fact its questions ask "
        "(a heart-rate question's page prints no rate: `---`, or nothing where the template tests "
        "`is defined`); `check` warns of a corpus whose papers print what its tasks ask",
    )
    variants: int = Field(1, ge=1, le=100, description="images rendered per record")
    limit: int | None = Field(None, ge=1, description="at most this many items (shared by the `from` weights)")
    seed: int = Field(0, description="seed of every draw in the corpus")
    dpi: Annotated[float, Unit("resolution")] | None = Field(
        None, ge=30, le=1200, description="image resolution (default: the paper's); 100 dpi is 1100x850 px on letter"
    )
    image_format: Literal["png", "jpeg"] = Field("png", description="file format of the images")
    quality: int = Field(90, ge=1, le=100, description="JPEG quality, when `image_format = jpeg`")
    window: Literal["first", "all", "random"] = Field(
        "first",
        description="which part of a record longer than a page each image shows: the window from `window_start`, "
        "one page per window (each its own item), or a window drawn per item",
    )
    window_start: Annotated[float, Unit("time")] = Field(
        0.0, ge=0, le=86400, description="where the first window starts (`first` and `all`)"
    )
    ground_truth: tuple[Literal["masks", "coordinates", "boxes", "coco", "yolo"], ...] = Field(
        (),
        description="digitisation ground truth beside each image: per-lead trace masks (PNG, after distortion), "
        "per-sample pixel coordinates, boxes of every text item (sidecar), those boxes as COCO or YOLO files",
    )

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if not self.sources:
            out.append(("sources", "a corpus needs at least one `from SOURCE` line", None))
        if self.distorted > 0 and self.distort is None:
            out.append(
                (
                    "distorted",
                    f"{self.distorted:.0%} of images are to be distorted, but no `distort` is set",
                    "name a pipeline with `distort = NAME` (a declared `distort`), or write `distorted = 0%`",
                )
            )
        return out
