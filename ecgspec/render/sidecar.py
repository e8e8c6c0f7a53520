"""The per-image JSON sidecar: everything a grader or a digitiser needs to read the image back.

Its keys are fixed (extra keys are rejected, missing ones too) so that tools can rely on them:

    image:       {width, height, dpi, clean_width, clean_height}
    paper:       {speed_mm_s, gain_mm_mV, px_per_mm}
    leads:       [{name, box: [x0, y0, x1, y1], baseline_y, t0, t1, px_per_s, px_per_mV, rhythm,
                   quad: [[x, y] × 4]}]
    record:      {source, id, fs}
    render:      {layout, paper, seed, renderer, …}
    transform:   3×3 matrix, clean-page pixels → final pixels (the identity for a clean page)
    warp_px:     bound on the non-linear displacement (wrinkles, creases) in final pixels (the
                 ground truth below follows the displacement itself)
    distortions: [{op, params, seed}, …] every step applied, in pipeline order
    texts:       [{text, kind, lead, box, quad}, …] every text item, only when the page's ground truth
                 asks for boxes (absent otherwise: a page without it is as it always was)

Two pixel spaces. The *clean page* is the page as drawn, scene steps included (a scaled chart,
padding), before any raster step: `clean_width` × `clean_height` pixels at `dpi`. Each lead's
box, baseline_y, px_per_s and px_per_mV are in it. The *final image* is what the PNG holds:
`width` × `height`. A clean-page point p goes to transform · p (homogeneous) in the final image,
up to `warp_px` more where the paper was wrinkled or creased; `quad` is a lead box's corners
(top-left, top-right, bottom-right, bottom-left) so mapped. For a clean page the two coincide.

Pixel coordinates: origin at the top-left corner of the image, x right, y down, continuous: the
pixel in row r and column c covers [c, c+1) × [r, r+1) and its centre is (c + 0.5, r + 0.5).
A sample at time t (seconds of the source record) with value v (mV) of a lead is drawn on the
clean page at x = box[0] + (t - t0) · px_per_s and y = baseline_y - v · px_per_mV.

Digitisation ground truth (`render_page(..., ground_truth=("masks", "coordinates", "boxes", "coco",
"yolo"))`, any subset; ecgspec.render.ground_truth), beside the image NAME.png:

- `texts` (boxes): one entry per text item drawn, in paint order: `text`; `kind`: `lead` (a lead
  name), `header`, `footer` or `text`; `lead`: for a lead name, the index in `leads` of the panel it
  names (null otherwise, or for a lead the record lacks); `box`: the ink extents [x0, y0, x1, y1] on
  the clean page (as a lead's box); `quad`: its corners (top-left, top-right, bottom-right,
  bottom-left) in the final image, through `transform` and the wrinkles' and creases' displacement.
- NAME.mask.png (masks): one grey value per pixel of the final image: 0 background, i + 1 on the
  trace ink of `leads[i]` (8-bit, 16-bit past 255 leads). Each lead's polyline is drawn on the
  clean page with its pen (round joins and caps, no antialiasing: a pixel is the lead's when its
  centre is under the pen), then carried to the final image through the geometric steps alone,
  nearest-neighbour; paper, light, noise, blur and JPEG do not touch it. Where traces cross, the
  lead drawn later (later in `leads`) has the pixel, as its ink lies on top in the image.
- NAME.coords.npz (coordinates): every sample of every lead entry, in final-image pixels
  (ecgspec.render.ground_truth.Coordinates: `xy`, `t`, `sample`, `mV`, `inside`, per lead by
  `offsets`).
- NAME.coco.json / NAME.yolo.txt (coco, yolo): the lead boxes and the text boxes as a detector's
  targets in the final image (classes: ecgspec.render.ground_truth.CATEGORIES).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from ..records import Record
from .geometry import Geometry


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageInfo(_Strict):
    width: int = Field(description="pixels of the final image")
    height: int = Field(description="pixels of the final image")
    dpi: float = Field(description="pixels per inch of the clean page; px_per_mm = dpi / 25.4")
    clean_width: int = Field(description="pixels of the clean page: the space of the lead geometry")
    clean_height: int = Field(description="pixels of the clean page")


class PaperInfo(_Strict):
    speed_mm_s: float = Field(description="paper speed, mm per second")
    gain_mm_mV: float = Field(description="limb-lead gain, mm per mV (chest leads: see each lead's px_per_mV)")
    px_per_mm: float


class LeadInfo(_Strict):
    name: str = Field(description="canonical lead name (I, II, III, aVR, aVL, aVF, V1…V6)")
    box: tuple[float, float, float, float] = Field(
        description="x0, y0, x1, y1 in pixels: across exactly [t0, t1]; down the lead's row, grown to hold "
        "all of its ink (boxes of neighbouring rows overlap where tall waves cross)"
    )
    baseline_y: float = Field(description="pixel row of 0 mV")
    t0: float = Field(description="seconds of the source record at box[0]")
    t1: float = Field(description="seconds of the source record at box[2]")
    px_per_s: float
    px_per_mV: float = Field(description="includes the paper's chest gain for V1–V6")
    rhythm: bool = Field(False, description="a full-length rhythm strip rather than a matrix panel")
    quad: tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]] = Field(
        description="the box's corners (top-left, top-right, bottom-right, bottom-left) mapped through "
        "`transform`: where the lead lies in the final image"
    )


class RecordInfo(_Strict):
    source: str
    id: str
    fs: float
    # A synthetic record (ecgspec.sources.synth) is marked in every artifact: never for correctness.
    synthetic: bool = False


class RenderInfo(BaseModel):
    """How the image was made. Fixed keys first; more may follow (hashes, versions)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    layout: str
    paper: str
    seed: int
    renderer: str = Field(description="'cairo' (fast path) or 'cairosvg' (reference)")


class TextInfo(_Strict):
    text: str
    kind: str = Field(description="'lead' (a lead name), 'header', 'footer' or 'text'")
    lead: int | None = Field(None, description="for a lead name: the index in `leads` of the panel it names")
    box: tuple[float, float, float, float] = Field(
        description="x0, y0, x1, y1 in clean-page pixels: the text's ink extents"
    )
    quad: tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]] = Field(
        description="the box's corners (top-left, top-right, bottom-right, bottom-left) in the final image, "
        "through `transform` and any displacement of the paper"
    )


class Sidecar(_Strict):
    image: ImageInfo
    paper: PaperInfo
    leads: list[LeadInfo]
    record: RecordInfo
    render: RenderInfo
    transform: tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
    warp_px: float = Field(0.0, description="bound on the displacement beyond `transform`, final pixels")
    distortions: list[dict[str, Any]] = Field(default_factory=list)
    texts: list[TextInfo] | None = Field(None, description="text boxes: only with the `boxes` ground truth")

    @model_serializer(mode="wrap")
    def _without_absent_texts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A page rendered without ground truth has no `texts` key at all, not `null`: its sidecar
        # stays byte for byte what it was before the key existed.
        data: dict[str, Any] = handler(self)
        if data.get("texts", ()) is None:
            del data["texts"]
        return data


IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def corners(box: tuple[float, float, float, float]) -> np.ndarray:
    """A box's corners, top-left, top-right, bottom-right, bottom-left: (4, 2)."""
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def map_through(transform: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Points (N, 2) through a 3×3 matrix, with the homogeneous division."""
    h = np.c_[xy, np.ones(len(xy))] @ np.asarray(transform, dtype=np.float64).T
    return h[:, :2] / h[:, 2:3]


def build_sidecar(
    geo: Geometry,
    record: Record,
    *,
    width: int,
    height: int,
    layout: str,
    paper: str,
    seed: int,
    renderer: str,
    extra: dict[str, Any] | None = None,
    clean_size: tuple[int, int] | None = None,
    transform: np.ndarray | None = None,
    warp_px: float = 0.0,
    distortions: list[dict[str, Any]] | None = None,
) -> Sidecar:
    """The sidecar of a page: the Geometry (mm) in clean-page pixels, `transform` (clean page →
    final image; default the identity) and its consequences: each lead's quad."""
    k = geo.dpi / 25.4
    matrix = np.eye(3) if transform is None else np.asarray(transform, dtype=np.float64)
    leads = []
    for p in geo.panels:
        box = (p.x0 * k, p.y0 * k, p.x1 * k, p.y1 * k)
        quad = map_through(matrix, corners(box))
        leads.append(
            LeadInfo(
                name=p.lead,
                box=box,
                baseline_y=p.baseline * k,
                t0=p.t0,
                t1=p.t1,
                px_per_s=p.mm_per_s * k,
                px_per_mV=p.mm_per_mV * k,
                rhythm=p.rhythm,
                quad=tuple(tuple(float(v) for v in pt) for pt in quad),
            )
        )
    clean_w, clean_h = clean_size if clean_size is not None else (width, height)
    render: dict[str, Any] = {
        "layout": layout,
        "paper": paper,
        "seed": seed,
        "renderer": renderer,
        "chest_gain_mm_mV": geo.chest_gain,
        "missing_leads": list(geo.missing_leads),
        "header": list(geo.header),
        "footer": list(geo.footer),
    }
    render.update(extra or {})
    return Sidecar(
        image=ImageInfo(width=width, height=height, dpi=geo.dpi, clean_width=clean_w, clean_height=clean_h),
        paper=PaperInfo(speed_mm_s=geo.speed, gain_mm_mV=geo.gain, px_per_mm=k),
        leads=leads,
        record=RecordInfo(
            source=record.source, id=record.id, fs=record.fs, synthetic=bool(record.meta.get("synthetic", False))
        ),
        render=RenderInfo(**render),
        transform=tuple(tuple(float(v) for v in row) for row in matrix),
        warp_px=float(warp_px),
        distortions=list(distortions or []),
    )
