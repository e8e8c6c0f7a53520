"""One call per page: `render_page` for the image and its sidecar, `write_outputs` for the files.

A page with a distortion pipeline, in one pass and without any PNG round trip:

    rng   = draw.stream(spec_hash, key, seed)          # the item's own random stream
    plan  = distortions.plan(distort, rng)             # which steps fire, every value drawn
    scene = compose + plan.scene                       # scene steps change what is drawn
    array = rasterise(scene)                           # the clean page (scene steps included)
    final = distortions.apply_raster(array, plan.raster)   # in place; transform, warp bound
    sidecar: clean-page geometry, transform, quads, warp_px, every step's record
and `write_outputs` encodes the final array once.
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
from .distortions.registry import hex_rgb
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
) -> RenderResult:
    """Render one page of `record`, distorted by `distort` when given.

    The page's randomness is the stream `ecgspec.draw.stream(spec_hash, key, seed)` (`key`
    defaults to `item_key(record)`): the same spec, record and seed give the same bytes in any
    process. `replay` applies a plan instead of drawing one (`Plan.from_records(sidecar
    .distortions)` remakes a page from its sidecar). `fast` picks the direct cairo rasteriser;
    otherwise the reference (SVG through cairosvg). Raises RenderError subclasses (FitError,
    TemplateError)."""
    item = key if key is not None else item_key(record)
    if replay is not None:
        steps = replay
    else:
        steps = plan(distort, stream(spec_hash, item, seed)) if distort is not None else Plan()
    scene, geo, scene_records = compose_with(record, layout, paper, steps.scene, header_context=header_context, dpi=dpi)
    array = rasterise_fast(scene) if fast else rasterise_reference(scene)
    clean_h, clean_w = array.shape[:2]
    transform, warp, raster_records = np.eye(3), 0.0, []
    if steps.raster:
        done = apply_raster(array, steps.raster, px_per_mm=scene.px_per_mm, background=hex_rgb(paper.background))
        array, transform, warp, raster_records = done.img, done.transform, done.max_warp_px, done.records
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
    return RenderResult(array, sidecar, scene, steps)


_NUMBER_LIST = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")


def sidecar_json(sidecar: Sidecar) -> str:
    """The sidecar as JSON text: indented, with lists of numbers (boxes, matrix rows) on one line."""
    text = json.dumps(sidecar.model_dump(mode="json"), indent=1, ensure_ascii=False)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def write_outputs(
    result: RenderResult, out: str | Path, svg: bool = False, *, quality: int | None = None
) -> list[Path]:
    """Write OUT (PNG, or JPEG when OUT ends in .jpg/.jpeg, at `quality`), OUT.json (the
    sidecar) and, with `svg`, OUT.svg (the clean page), each atomically. Returns the paths."""
    out = Path(out)
    written = [out, out.with_suffix(".json")]
    write_atomic(out, encode_image(result.array, out.suffix, dpi=result.sidecar.image.dpi, quality=quality))
    write_atomic(written[1], sidecar_json(result.sidecar))
    if svg:
        written.append(out.with_suffix(".svg"))
        write_atomic(written[2], to_svg(result.scene))
    return written
