"""Digitisation ground truth: trace masks, per-sample pixel coordinates and text boxes of a page.

What a digitiser is trained and graded on (the PhysioNet Challenge 2024 task; ecg-image-kit's
per-sample pixel JSON), made from what was drawn rather than read back from the pixels, and
opt-in (`render_page(..., ground_truth=...)`, a corpus's `ground_truth`), each kind in its own
file beside the image NAME.png (`files`, written by `write_outputs`):

- `masks` → NAME.mask.png: the final image's size, one grey value per pixel: 0 background,
  i + 1 where the pixel is trace ink of `leads[i]` of the sidecar (uint8; uint16 past 255 leads).
  Each lead's polyline is stroked on the clean page with the trace's own pen (width, round joins
  and caps, the rasteriser's per-column decimation) without antialiasing, so a pixel is a lead's
  when its centre lies under the pen; the label image is then carried to the final image through
  the geometric steps only (matrices and the wrinkles' and creases' displacement), nearest-
  neighbour: paper, light, noise, blur and JPEG never touch it. Overlaps: where two traces
  cross, the lead drawn later (later in `leads`) has the pixel, as its ink lies on top in the
  image. Calibration pulses, separator ticks and text are background.
- `coordinates` → NAME.coords.npz: every sample of every lead entry in final-image pixels: the
  trace's vertex of each sample (x = box[0] + (t − t0)·px_per_s, y = baseline_y − v·px_per_mV on
  the clean page) followed through `transform` and the displacement fields. numpy's compressed
  npz rather than JSON: about 20 000 samples a page are 0.2 MB instead of ~1 MB of decimal text,
  binary floats are exact, and `Coordinates.load` (or `np.load`) gives the arrays without
  parsing. Arrays (N samples over all leads, lead i in `offsets[i]:offsets[i+1]`, leads in the
  sidecar's order): `names` (str, per lead), `rhythm` (bool, per lead), `offsets` (int64, leads
  + 1), `sample` (int32: index into the record), `t` (float64 s = sample / fs), `mV` (float32: the
  value drawn, after the paper's filter if it has one), `xy` (float32 (N, 2): x, y in final-image
  pixels, continuous: pixel (r, c) covers [c, c+1) × [r, r+1)), `inside` (bool: the point lies in
  the final image; a crop can cut samples off), `fs` (float64).
- `boxes` → the sidecar's `texts`: every text item (lead names, header and footer fields) with its
  clean-page ink box and its quad in the final image (ecgspec.render.sidecar.TextInfo).
- `coco` → NAME.coco.json, `yolo` → NAME.yolo.txt: the lead boxes (a lead's sidecar box, one
  class per lead name) and the text boxes (classes `lead_name`, `header`, `footer`, `text`) as
  axis-aligned boxes of the final image: the hull of the box's outline carried through the page's
  geometry, clipped to the image; boxes left outside it are dropped. Classes are `CATEGORIES`
  for every page, so that pages of a corpus merge: YOLO class k is CATEGORIES[k], COCO category
  id k + 1 (0 is background to many COCO tools). YOLO lines: `class cx cy w h`, normalised to the
  image's width and height, six decimals. COCO: one image (id 1), annotations with `bbox`
  [x, y, w, h], `area`, `iscrowd` 0, `segmentation` (the quad, clamped to the image) and
  `attributes` {kind, text, lead}.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cairocffi as cairo
import cv2
import numpy as np

from .. import __version__
from ..leads import known_leads
from ..records import Record
from .distortions.apply import GeometricMap
from .geometry import Geometry
from .png import encode_labels
from .raster import append_polyline, decimate
from .scene import Polyline, Scene, Text
from .sidecar import LeadInfo, Sidecar, TextInfo

KINDS: tuple[str, ...] = ("masks", "coordinates", "boxes", "coco", "yolo")
TEXT_CLASSES: dict[str, str] = {"lead": "lead_name", "header": "header", "footer": "footer", "text": "text"}
CATEGORIES: tuple[str, ...] = (*known_leads(), *TEXT_CLASSES.values())
_EDGE_POINTS = 16  # points per edge when a box's outline is carried through a warp


def check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """The kinds asked for, in the canonical order, each once; ValueError for an unknown one."""
    asked = set(kinds)
    unknown = sorted(asked - set(KINDS))
    if unknown:
        raise ValueError(f"unknown ground truth {', '.join(map(repr, unknown))}: the kinds are {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in asked)


@dataclass
class Coordinates:
    """Every sample of every lead entry in final-image pixels (see the module's docstring)."""

    names: tuple[str, ...]
    rhythm: np.ndarray  # (L,) bool
    offsets: np.ndarray  # (L + 1,) int64: lead i is [offsets[i], offsets[i + 1])
    sample: np.ndarray  # (N,) int32
    t: np.ndarray  # (N,) float64, seconds
    mv: np.ndarray  # (N,) float32
    xy: np.ndarray  # (N, 2) float32, final-image pixels
    inside: np.ndarray  # (N,) bool
    fs: float

    def lead(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def to_bytes(self) -> bytes:
        """The compressed npz. Deterministic: numpy writes every zip member with the same fixed
        date, so the same arrays give the same bytes."""
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            names=np.array(self.names, dtype=str),
            rhythm=self.rhythm,
            offsets=self.offsets,
            sample=self.sample,
            t=self.t,
            mV=self.mv,
            xy=self.xy,
            inside=self.inside,
            fs=np.float64(self.fs),
        )
        return buf.getvalue()

    @classmethod
    def load(cls, path: str | Path | io.BytesIO) -> Coordinates:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                names=tuple(str(n) for n in z["names"]),
                rhythm=z["rhythm"],
                offsets=z["offsets"],
                sample=z["sample"],
                t=z["t"],
                mv=z["mV"],
                xy=z["xy"],
                inside=z["inside"],
                fs=float(z["fs"]),
            )


@dataclass
class Box:
    """A detector's target in the final image."""

    category: str  # one of CATEGORIES
    bbox: tuple[float, float, float, float]  # x, y, w, h: axis-aligned, clipped to the image
    quad: np.ndarray  # (4, 2): the corners carried through the geometry (top-left first, clockwise)
    kind: str  # "lead" for a lead's box, else the text's kind
    text: str | None = None
    lead: int | None = None


@dataclass
class GroundTruth:
    kinds: tuple[str, ...]
    mask: np.ndarray | None = None  # (H, W) uint8 / uint16 with masks
    coordinates: Coordinates | None = None  # with coordinates
    texts: list[TextInfo] | None = None  # with boxes, coco or yolo
    boxes: list[Box] | None = None  # with coco or yolo: the lead boxes, then the text boxes


def compute(
    kinds: Sequence[str],
    *,
    scene: Scene,
    geo: Geometry,
    record: Record,
    sidecar: Sidecar,
    geometry: GeometricMap,
) -> GroundTruth:
    """The ground truth of a page: `scene` and `geo` are the clean page as drawn (scene steps
    included), `sidecar` its leads and final size, `geometry` the raster steps' mapping."""
    kinds = check_kinds(kinds)
    gt = GroundTruth(kinds)
    if "masks" in kinds:
        gt.mask = carry_labels(label_page(scene, sidecar.leads), geometry)
    if "coordinates" in kinds:
        gt.coordinates = coordinates(scene, sidecar, float(record.fs), geometry)
    if {"boxes", "coco", "yolo"} & set(kinds):
        gt.texts = text_boxes(scene, geo, geometry)
    if {"coco", "yolo"} & set(kinds):
        gt.boxes = detector_boxes(sidecar, gt.texts or [], geometry)
    return gt


# ---- masks ----------------------------------------------------------------------------------------


def _traces(scene: Scene, leads: Sequence[LeadInfo]) -> list[Polyline]:
    """The trace polylines of the scene, one per lead entry and in the same order (the layout
    adds a panel and its polyline together)."""
    traces = [i for i in scene.items if isinstance(i, Polyline) and i.role.startswith("trace:")]
    names = [t.role.removeprefix("trace:") for t in traces]
    if names != [lead.name for lead in leads]:
        raise ValueError(f"the scene's traces {names} do not match the sidecar's leads {[x.name for x in leads]}")
    return traces


def label_page(scene: Scene, leads: Sequence[LeadInfo]) -> np.ndarray:
    """(H, W) uint32 of the clean page: lead index + 1 under each lead's pen, 0 elsewhere. The
    label is painted as a colour (R = high byte, G = low byte) without antialiasing, so every
    pixel holds one label exactly, the last painted where traces overlap."""
    w, h = scene.pixel_size
    k = scene.px_per_mm
    surface = cairo.ImageSurface(cairo.FORMAT_RGB24, w, h)  # starts black: label 0
    ctx = cairo.Context(surface)
    ctx.set_antialias(cairo.ANTIALIAS_NONE)
    ctx.set_operator(cairo.OPERATOR_SOURCE)
    ctx.set_line_join(cairo.LINE_JOIN_ROUND)
    ctx.set_line_cap(cairo.LINE_CAP_ROUND)
    for i, trace in enumerate(_traces(scene, leads), start=1):
        if len(trace.points) < 2:
            continue
        ctx.set_source_rgb((i >> 8) / 255.0, (i & 255) / 255.0, 0.0)
        append_polyline(ctx, decimate(trace.points * k))
        ctx.set_line_width(trace.width * k)
        ctx.stroke()
    surface.flush()
    words = np.ndarray((h, surface.get_stride() // 4), dtype=np.uint32, buffer=surface.get_data())[:, :w]
    labels = (words >> 8) & 0xFFFF  # native 0x00RRGGBB words: RRGG is the label
    out = np.array(labels, dtype=np.uint32)
    del words, labels
    surface.finish()
    return out


def carry_labels(labels: np.ndarray, geometry: GeometricMap) -> np.ndarray:
    """A clean-page label image in the final image: each final pixel takes the label of the clean
    pixel its centre comes from (nearest neighbour; 0 where it comes from off the page). uint8
    when the labels fit, else uint16."""
    small = labels.astype(np.uint8) if int(labels.max(initial=0)) <= 255 else labels.astype(np.uint16)
    if not geometry.stages:
        return small
    gx, gy = geometry.backward_grid()
    # OpenCV's pixel centres are at integers: the pixel holding continuous x is round(x - 0.5).
    gx -= 0.5
    gy -= 0.5
    return np.asarray(cv2.remap(small, gx, gy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0))


# ---- coordinates ----------------------------------------------------------------------------------


def coordinates(scene: Scene, sidecar: Sidecar, fs: float, geometry: GeometricMap) -> Coordinates:
    """Each lead entry's samples as its trace drew them, carried to the final image. The trace's
    vertices are the samples in [t0, t1] (plus, where t0 or t1 falls between two samples, a point
    interpolated there, left out here); read from the drawn polyline, the values are those drawn
    (after the paper's filter, if it has one) and the positions are exact (a scaled chart
    included): x = box[0] + (t − t0)·px_per_s, y = baseline_y − v·px_per_mV."""
    k = scene.px_per_mm
    samples, values, clean = [], [], []
    offsets = [0]
    for lead, trace in zip(sidecar.leads, _traces(scene, sidecar.leads), strict=True):
        pts = trace.points * k
        at = (lead.t0 + (pts[:, 0] - lead.box[0]) / lead.px_per_s) * fs  # fractional sample index
        idx = np.rint(at)
        keep = np.abs(at - idx) < 1e-6
        samples.append(idx[keep].astype(np.int64))
        values.append((lead.baseline_y - pts[keep, 1]) / lead.px_per_mV)
        clean.append(pts[keep])
        offsets.append(offsets[-1] + int(keep.sum()))
    idx = np.concatenate(samples) if samples else np.empty(0, dtype=np.int64)
    final = geometry.forward(np.concatenate(clean) if clean else np.empty((0, 2)))
    w, h = geometry.final_size
    inside = (final[:, 0] >= 0) & (final[:, 0] < w) & (final[:, 1] >= 0) & (final[:, 1] < h)
    return Coordinates(
        names=tuple(lead.name for lead in sidecar.leads),
        rhythm=np.array([lead.rhythm for lead in sidecar.leads], dtype=bool),
        offsets=np.asarray(offsets, dtype=np.int64),
        sample=idx.astype(np.int32),
        t=idx / fs,
        mv=np.concatenate(values).astype(np.float32) if values else np.empty(0, dtype=np.float32),
        xy=final.astype(np.float32),
        inside=inside,
        fs=fs,
    )


# ---- text and lead boxes --------------------------------------------------------------------------


def _kind(role: str) -> str:
    if role.startswith("label:"):
        return "lead"
    return role if role in ("header", "footer") else "text"


def _label_leads(scene: Scene, geo: Geometry) -> list[int | None]:
    """For each lead label of the scene, in order: the index of the panel it names (the panels are
    the sidecar's leads, in order), None when its lead was not drawn."""
    n = sum(1 for i in scene.items if isinstance(i, Text) and i.role.startswith("label:"))
    if len(geo.labels) != n:
        return [None] * n
    where = {(p.row, p.column): j for j, p in enumerate(geo.panels)}
    return [where.get((slot.row, slot.column)) for slot in geo.labels]


def ink_extents(ctx: cairo.Context, item: Text, k: float) -> tuple[float, float, float, float] | None:
    """The ink box (x0, y0, x1, y1, clean-page pixels) of a text item as the rasterisers draw it
    (cairo's toy text, the same font, size and anchor); None for a text without ink."""
    ctx.select_font_face(
        item.font, cairo.FONT_SLANT_NORMAL, cairo.FONT_WEIGHT_BOLD if item.bold else cairo.FONT_WEIGHT_NORMAL
    )
    ctx.set_font_size(item.size * k)
    xb, yb, w, h, advance, _ = ctx.text_extents(item.text)
    if w <= 0 or h <= 0:
        return None
    x = item.x * k
    if item.anchor != "start":
        x -= advance / 2 if item.anchor == "middle" else advance
    y = item.y * k
    return x + xb, y + yb, x + xb + w, y + yb + h


def text_boxes(scene: Scene, geo: Geometry, geometry: GeometricMap) -> list[TextInfo]:
    """Every text item with ink, in paint order: its clean-page ink box and its final quad."""
    surface = cairo.ImageSurface(cairo.FORMAT_RGB24, 1, 1)
    ctx = cairo.Context(surface)
    ctx.set_antialias(cairo.ANTIALIAS_DEFAULT)
    k = scene.px_per_mm
    leads = iter(_label_leads(scene, geo))
    found: list[tuple[Text, tuple[float, float, float, float], int | None]] = []
    for item in scene.items:
        if not isinstance(item, Text):
            continue
        lead = next(leads, None) if item.role.startswith("label:") else None
        box = ink_extents(ctx, item, k)
        if box is not None:
            found.append((item, box, lead))
    surface.finish()
    if not found:
        return []
    corners = np.concatenate([_corners(box) for _, box, _ in found])
    quads = geometry.forward(corners).reshape(-1, 4, 2)
    return [
        TextInfo(
            text=item.text,
            kind=_kind(item.role),
            lead=lead,
            box=tuple(float(v) for v in box),
            quad=tuple((float(x), float(y)) for x, y in quad),
        )
        for (item, box, lead), quad in zip(found, quads, strict=True)
    ]


def _corners(box: Sequence[float]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _outline(box: Sequence[float], n: int = _EDGE_POINTS) -> np.ndarray:
    """Points along a box's four edges, n per edge: what a warp may bend."""
    x0, y0, x1, y1 = box
    s = np.linspace(0.0, 1.0, n, endpoint=False)
    top = np.c_[x0 + s * (x1 - x0), np.full(n, y0)]
    right = np.c_[np.full(n, x1), y0 + s * (y1 - y0)]
    bottom = np.c_[x1 - s * (x1 - x0), np.full(n, y1)]
    left = np.c_[np.full(n, x0), y1 - s * (y1 - y0)]
    return np.concatenate([top, right, bottom, left])


def detector_boxes(sidecar: Sidecar, texts: Sequence[TextInfo], geometry: GeometricMap) -> list[Box]:
    """The lead boxes, then the text boxes, as axis-aligned boxes of the final image."""
    w, h = geometry.final_size
    wanted: list[tuple[str, Sequence[float], str, str | None, int | None]] = []
    for i, lead in enumerate(sidecar.leads):
        if lead.name in CATEGORIES:
            wanted.append((lead.name, lead.box, "lead", None, i))
    for text in texts:
        wanted.append((TEXT_CLASSES[text.kind], text.box, text.kind, text.text, text.lead))
    if not wanted:
        return []
    n = 4 * _EDGE_POINTS
    outlines = geometry.forward(np.concatenate([_outline(box) for _, box, _, _, _ in wanted])).reshape(-1, n, 2)
    quads = outlines[:, ::_EDGE_POINTS]  # the corners: each edge's first point
    out = []
    for (category, _, kind, words, index), pts, quad in zip(wanted, outlines, quads, strict=True):
        x0, y0 = max(0.0, float(pts[:, 0].min())), max(0.0, float(pts[:, 1].min()))
        x1, y1 = min(float(w), float(pts[:, 0].max())), min(float(h), float(pts[:, 1].max()))
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            continue  # cut off by a crop, or carried off the image
        out.append(Box(category, (x0, y0, x1 - x0, y1 - y0), quad, kind, words, index))
    return out


# ---- files ----------------------------------------------------------------------------------------


def coco_json(boxes: Sequence[Box], image_name: str, width: int, height: int) -> str:
    """One page's boxes as a COCO detection file (see the module's docstring)."""
    annotations = []
    for n, box in enumerate(boxes, start=1):
        x, y, bw, bh = box.bbox
        quad = np.clip(box.quad, [0.0, 0.0], [float(width), float(height)])
        annotations.append(
            {
                "id": n,
                "image_id": 1,
                "category_id": CATEGORIES.index(box.category) + 1,
                "bbox": [round(x, 3), round(y, 3), round(bw, 3), round(bh, 3)],
                "area": round(bw * bh, 3),
                "iscrowd": 0,
                "segmentation": [[round(float(v), 3) for v in quad.ravel()]],
                "attributes": {"kind": box.kind, "text": box.text, "lead": box.lead},
            }
        )
    doc: dict[str, Any] = {
        "info": {"description": "ecgspec digitisation ground truth: lead and text boxes", "ecgspec": __version__},
        "images": [{"id": 1, "file_name": image_name, "width": width, "height": height}],
        "annotations": annotations,
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "lead" if i < len(known_leads()) else "text"}
            for i, name in enumerate(CATEGORIES)
        ],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def yolo_txt(boxes: Sequence[Box], width: int, height: int) -> str:
    """One page's boxes as YOLO lines: class, centre x, centre y, width, height (normalised)."""
    lines = []
    for box in boxes:
        x, y, bw, bh = box.bbox
        cls = CATEGORIES.index(box.category)
        lines.append(f"{cls} {(x + bw / 2) / width:.6f} {(y + bh / 2) / height:.6f} {bw / width:.6f} {bh / height:.6f}")
    return "".join(line + "\n" for line in lines)


def files(gt: GroundTruth, out: Path, sidecar: Sidecar) -> list[tuple[Path, bytes | str]]:
    """The files of `gt` beside the image `out`, with their contents: NAME.mask.png,
    NAME.coords.npz, NAME.coco.json, NAME.yolo.txt (those asked for; `boxes` is in the sidecar)."""
    width, height = sidecar.image.width, sidecar.image.height
    found: list[tuple[Path, bytes | str]] = []
    if gt.mask is not None:
        found.append((out.with_suffix(".mask.png"), encode_labels(gt.mask, dpi=sidecar.image.dpi)))
    if gt.coordinates is not None:
        found.append((out.with_suffix(".coords.npz"), gt.coordinates.to_bytes()))
    if gt.boxes is not None and "coco" in gt.kinds:
        found.append((out.with_suffix(".coco.json"), coco_json(gt.boxes, out.name, width, height)))
    if gt.boxes is not None and "yolo" in gt.kinds:
        found.append((out.with_suffix(".yolo.txt"), yolo_txt(gt.boxes, width, height)))
    return found
