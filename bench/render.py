"""Render benchmark: median milliseconds per clean page, cairosvg path vs fast path, against the
PNG-encoding floor measured in the same run.

    .venv/bin/python bench/render.py [--rounds 3] [--layout 4x3] [--paper standard] [--dpi 200]

Every path ends with PNG bytes and its sidecar, so they compare like for like:
- cairosvg path: compose → SVG (svgwrite) → cairosvg.svg2png → PNG bytes;
- fast path:     compose → cairo drawing → numpy RGB → Pillow PNG (level 1) → PNG bytes;
- PNG floor:     Pillow encoding of the very same page arrays, with the same settings: no renderer
                 that writes PNG with Pillow can go below it.
One process, one thread (OpenCV's pool is set to 1); records are read once, before timing.
Targets (issue #3): fast path ≤ 2 × floor and ≤ 120 ms per image.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cairosvg  # noqa: E402
import cv2  # noqa: E402

from ecgspec.program import load  # noqa: E402
from ecgspec.render.api import render_page, sidecar_json  # noqa: E402
from ecgspec.render.cli import SHIPPED_SPECS, shipped_records  # noqa: E402
from ecgspec.render.layout import compose  # noqa: E402
from ecgspec.render.png import COMPRESS_LEVEL, encode_png  # noqa: E402
from ecgspec.render.raster import rasterise_fast  # noqa: E402
from ecgspec.render.record import read_wfdb  # noqa: E402
from ecgspec.render.sidecar import build_sidecar  # noqa: E402
from ecgspec.render.svg import to_svg  # noqa: E402


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layout", default="4x3")
    ap.add_argument("--paper", default="standard")
    ap.add_argument("--dpi", type=float, default=200.0)
    args = ap.parse_args()
    cv2.setNumThreads(1)

    program = load(SHIPPED_SPECS)
    layout, paper = program.get("layout", args.layout), program.get("paper", args.paper)
    records = [read_wfdb(p) for p in shipped_records()]
    for rec in records:
        rec.rhythm  # measured once per record, as a corpus build caches it  # noqa: B018

    def cairosvg_path(rec) -> bytes:  # noqa: ANN001
        scene, geo = compose(rec, layout, paper, dpi=args.dpi)
        w, h = scene.pixel_size
        png = cairosvg.svg2png(bytestring=to_svg(scene).encode(), output_width=w, output_height=h)
        sidecar_json(build_sidecar(geo, rec, width=w, height=h, layout=layout.name, paper=paper.name, seed=0,
                                   renderer="cairosvg"))
        return png

    def fast_path(rec) -> tuple[bytes, object]:  # noqa: ANN001
        result = render_page(rec, layout, paper, dpi=args.dpi)
        sidecar_json(result.sidecar)
        return encode_png(result.array, dpi=args.dpi), result.array

    cairosvg_path(records[0])  # warm caches (fonts, templates)
    fast_path(records[0])
    t_svg, t_fast, t_floor, t_compose, t_raster = [], [], [], [], []
    sizes = []
    for _ in range(args.rounds):
        for rec in records:
            t0 = time.perf_counter()
            cairosvg_path(rec)
            t1 = time.perf_counter()
            png, array = fast_path(rec)
            t2 = time.perf_counter()
            encode_png(array, dpi=args.dpi)  # type: ignore[arg-type]
            t3 = time.perf_counter()
            scene, _ = compose(rec, layout, paper, dpi=args.dpi)
            t4 = time.perf_counter()
            rasterise_fast(scene)
            t5 = time.perf_counter()
            t_svg.append(t1 - t0)
            t_fast.append(t2 - t1)
            t_floor.append(t3 - t2)
            t_compose.append(t4 - t3)
            t_raster.append(t5 - t4)
            sizes.append(len(png))
    h, w = array.shape[:2]  # type: ignore[union-attr]
    n = len(t_fast)
    print(f"layout {layout.name}, paper {paper.name}, {w}x{h} px at {args.dpi:g} dpi; {len(records)} records "
          f"x {args.rounds} rounds = {n} images per path; Pillow compress_level={COMPRESS_LEVEL}")
    print(f"  cairosvg path  {ms(t_svg):7.1f} ms/image (median)")
    print(f"  fast path      {ms(t_fast):7.1f} ms/image (median)   = compose {ms(t_compose):.1f} + cairo "
          f"{ms(t_raster):.1f} + encode and sidecar")
    print(f"  PNG floor      {ms(t_floor):7.1f} ms/image (median)   Pillow encode of the same arrays")
    print(f"  fast / floor   {ms(t_fast) / ms(t_floor):7.2f} x      (target <= 2)")
    print(f"  cairosvg/fast  {ms(t_svg) / ms(t_fast):7.2f} x")
    print(f"  fast <= 120 ms: {'yes' if ms(t_fast) <= 120 else 'NO'};  median PNG {statistics.median(sizes) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
