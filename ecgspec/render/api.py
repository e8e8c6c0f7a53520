"""One call per page: `render_page` for the image and its sidecar, `write_outputs` for the files.

A page with a distortion pipeline, in one pass and without any PNG round trip:

    rng   = draw.stream(spec_hash, key, seed)          # the item's own random stream
    plan  = distortions.plan(distort, rng)             # which steps fire, every value drawn
    scene = compose + plan.scene                       # scene steps change what is drawn
    array = rasterise(scene)                           # the clean page (scene steps included)
    final = distortions.apply_raster(array, plan.raster)   # in place; transform, warp bound
    sidecar: clean-page geometry, transform, quads, warp_px, every step's record
and `write_outputs` encodes the final array once.

With `ground_truth` (any of "masks", "coordinates", "boxes", "coco", "yolo"), the raster steps are
also followed exactly (apply_raster(track=True): matrices and displacement fields) and the
page's digitisation ground truth is computed from the clean scene (ecgspec.render.ground_truth);
`write_outputs` writes it beside the image. Without it, nothing of the page changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..draw import stream
from ..ir import Distort, Layout, Paper
from ..records import Record
from .distortions import Plan, apply_raster, plan
from .distortions.apply import GeometricMap
from .distortions.marks import current_facts, item_facts
from .distortions.registry import hex_rgb
from .filters import describe as describe_filter
from .ground_truth import GroundTruth, check_kinds, compute, files
from .png import encode_image, write_atomic
from .raster import rasterise_fast, rasterise_reference
from .scene import Scene
from .scene_steps import compose_with
from .sidecar import Sidecar, build_sidecar
from .svg import to_svg

if TYPE_CHECKING:
    from ..program import Program


@dataclass
class RenderResult:
    array: np.ndarray  # (H, W, 3) uint8 RGB: the final image
    sidecar: Sidecar
    scene: Scene  # the clean page in mm, scene steps included
    plan: Plan = field(default_factory=Plan)  # the distortion steps that fired, values drawn
    ground_truth: GroundTruth | None = None  # with render_page(ground_truth=...): masks, coordinates, boxes


def item_key(record: Record) -> str:
    """What identifies a record in its random stream by default: its id. Not its path, so that
    the same record read from another folder or machine draws the same distortions. A corpus
    whose sources share ids passes its own `key` (e.g. "ptbxl/00001_lr") to `render_page`."""
    return record.id


def spec_hash_of(
    program: Program | list[Program] | tuple[Program, ...], layout: str, paper: str, distort: str | None = None
) -> str:
    """The spec hash an item's stream is seeded with: the content hashes (`Program.hash_of`,
    which follow references) of the layout, paper and distort declarations a page uses, so that
    editing any of them redraws its items and editing anything else does not. `program` may be
    a list of programs: each declaration is hashed in the first one that declares it."""
    programs = program if isinstance(program, (list, tuple)) else (program,)
    h = hashlib.sha256()
    for kind, name in (("layout", layout), ("paper", paper), ("distort", distort)):
        digest = ""
        if name is not None:
            owner = next((p for p in programs if (kind, name) in p.decls), None)
            if owner is None:
                raise KeyError(f"no {kind} named '{name}' in the programs given")
            digest = owner.hash_of(kind, name)
        h.update(f"{kind}:{digest}\n".encode())
    return h.hexdigest()


def render_page(
    record: Record,
    layout: Layout,
    paper: Paper,
    *,
    distort: Distort | None = None,
    seed: int = 0,
    spec_hash: str = "",
    key: str | None = None,
    replay: Plan | None = None,
    fast: bool = True,
    header_context: Mapping[str, Any] | None = None,
    dpi: float | None = None,
    ground_truth: tuple[str, ...] = (),
    report: str | None = None,
) -> RenderResult:
    """Render one page of `record`, distorted by `distort` when given.

    The page's randomness is the stream `ecgspec.draw.stream(spec_hash, key, seed)` (`key`
    defaults to `item_key(record)`): the same spec, record and seed give the same bytes in any
    process. `replay` applies a plan instead of drawing one (`Plan.from_records(sidecar
    .distortions)` remakes a page from its sidecar). `fast` picks the direct cairo rasteriser;
    otherwise the reference (SVG through cairosvg). `ground_truth` asks for digitisation ground
    truth (ecgspec.render.ground_truth: "masks", "coordinates", "boxes", "coco", "yolo"), kept on
    the result and written by `write_outputs`; "boxes" also adds the sidecar's `texts`. Raises
    RenderError subclasses (FitError, TemplateError), ValueError for an unknown ground truth."""
    kinds = check_kinds(ground_truth)
    item = key if key is not None else item_key(record)
    if replay is not None:
        steps = replay
    else:
        steps = plan(distort, stream(spec_hash, item, seed)) if distort is not None else Plan()
    scene, geo, scene_records = compose_with(record, layout, paper, steps.scene, header_context=header_context, dpi=dpi)
    array = rasterise_fast(scene) if fast else rasterise_reference(scene)
    clean_h, clean_w = array.shape[:2]
    transform, warp, raster_records = np.eye(3), 0.0, []
    mapping = GeometricMap((clean_w, clean_h), (clean_w, clean_h))
    if steps.raster:
        # Annotation steps may write the record's id or words of its report (a doctor's note on the page).
        # A caller's own `item_facts` block wins where it says more.
        outer = current_facts()
        known = report if report is not None else record.meta.get("report")
        with item_facts(record=outer.record or record.id, report=outer.report or known):
            done = apply_raster(
                array, steps.raster, px_per_mm=scene.px_per_mm, background=hex_rgb(paper.background), track=bool(kinds)
            )
        array, transform, warp, raster_records = done.img, done.transform, done.max_warp_px, done.records
        mapping = done.geometry or mapping
    # Every applied step's record, in pipeline order.
    scene_iter, raster_iter = iter(scene_records), iter(raster_records)
    records = [next(scene_iter) if s.stage == "scene" else next(raster_iter) for s in steps.steps]
    h, w = array.shape[:2]
    extra: dict[str, Any] = {
        "ecgspec": __version__,
        "layout_hash": layout.content_hash(),
        "paper_hash": paper.content_hash(),
        "distort": distort.name if distort else None,
        "distort_hash": distort.content_hash() if distort else None,
        "spec_hash": spec_hash,
        "key": item,
    }
    filtered = describe_filter(paper, record.fs)
    if filtered is not None:  # what the traces were filtered with (the record itself is not)
        extra["filter"] = filtered
    sidecar = build_sidecar(
        geo,
        record,
        width=w,
        height=h,
        layout=layout.name,
        paper=paper.name,
        seed=seed,
        renderer="cairo" if fast else "cairosvg",
        extra=extra,
        clean_size=(clean_w, clean_h),
        transform=transform,
        warp_px=warp,
        distortions=records,
    )
    truth = None
    if kinds:
        truth = compute(kinds, scene=scene, geo=geo, record=record, sidecar=sidecar, geometry=mapping)
        if "boxes" in kinds:
            sidecar = sidecar.model_copy(update={"texts": truth.texts})
    return RenderResult(array, sidecar, scene, steps, truth)


_NUMBER_LIST = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")


def sidecar_json(sidecar: Sidecar) -> str:
    """The sidecar as JSON text: indented, with lists of numbers (boxes, matrix rows) on one line."""
    text = json.dumps(sidecar.model_dump(mode="json"), indent=1, ensure_ascii=False)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def write_outputs(
    result: RenderResult, out: str | Path, svg: bool = False, *, quality: int | None = None
) -> list[Path]:
    """Write OUT (PNG, or JPEG when OUT ends in .jpg/.jpeg, at `quality`), OUT.json (the
    sidecar), with `svg` OUT.svg (the clean page), and the result's ground truth (OUT.mask.png,
    OUT.coords.npz, OUT.coco.json, OUT.yolo.txt: those it has), each atomically. The sidecar is
    written last, so that a page whose sidecar is there has all of its files. Returns the paths:
    the image and the sidecar first."""
    out = Path(out)
    written = [out, out.with_suffix(".json")]
    write_atomic(out, encode_image(result.array, out.suffix, dpi=result.sidecar.image.dpi, quality=quality))
    if svg:
        written.append(out.with_suffix(".svg"))
        write_atomic(written[-1], to_svg(result.scene))
    if result.ground_truth is not None:
        for path, data in files(result.ground_truth, out, result.sidecar):
            write_atomic(path, data)
            written.append(path)
    write_atomic(written[1], sidecar_json(result.sidecar))
    return written
