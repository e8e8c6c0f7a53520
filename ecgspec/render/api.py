"""One call per page: `render_page` for the image and its sidecar, `write_outputs` for the files."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..ir import Layout, Paper
from .layout import compose
from .png import encode_png, write_atomic
from .raster import rasterise_fast, rasterise_reference
from .record import Record
from .scene import Scene
from .sidecar import Sidecar, build_sidecar
from .svg import to_svg


@dataclass
class RenderResult:
    array: np.ndarray  # (H, W, 3) uint8 RGB
    sidecar: Sidecar
    scene: Scene


def render_page(record: Record, layout: Layout, paper: Paper, *, seed: int = 0, fast: bool = True,
                header_context: Mapping[str, Any] | None = None, dpi: float | None = None) -> RenderResult:
    """Render one clean page of `record`. `fast` picks the direct cairo rasteriser; otherwise the
    reference (SVG through cairosvg). `seed` is recorded for the distortion stages to come; a
    clean page uses no randomness. Raises RenderError subclasses (FitError, TemplateError)."""
    scene, geo = compose(record, layout, paper, header_context=header_context, dpi=dpi)
    array = rasterise_fast(scene) if fast else rasterise_reference(scene)
    h, w = array.shape[:2]
    sidecar = build_sidecar(geo, record, width=w, height=h, layout=layout.name, paper=paper.name, seed=seed,
                            renderer="cairo" if fast else "cairosvg",
                            extra={"ecgspec": __version__, "layout_hash": layout.content_hash(),
                                   "paper_hash": paper.content_hash()})
    return RenderResult(array, sidecar, scene)


_NUMBER_LIST = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")


def sidecar_json(sidecar: Sidecar) -> str:
    """The sidecar as JSON text: indented, with lists of numbers (boxes, matrix rows) on one line."""
    text = json.dumps(sidecar.model_dump(mode="json"), indent=1, ensure_ascii=False)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def write_outputs(result: RenderResult, out_png: str | Path, svg: bool = False) -> list[Path]:
    """Write OUT.png, OUT.json (the sidecar) and, with `svg`, OUT.svg, each atomically.
    Returns the paths written."""
    out_png = Path(out_png)
    written = [out_png, out_png.with_suffix(".json")]
    write_atomic(out_png, encode_png(result.array, dpi=result.sidecar.image.dpi))
    write_atomic(written[1], sidecar_json(result.sidecar))
    if svg:
        written.append(out_png.with_suffix(".svg"))
        write_atomic(written[2], to_svg(result.scene))
    return written
