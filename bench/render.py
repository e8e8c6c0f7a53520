"""Render benchmark: median milliseconds per page on one core: clean pages (cairosvg path vs fast
path, against the PNG-encoding floor measured in the same run) and distorted pages (render +
the `scanned` pipeline + PNG), against ecg-image-kit.

    .venv/bin/python bench/render.py [--rounds 3] [--layout 4x3] [--paper standard] [--dpi 200]
                                     [--distort scanned]

Every path ends with PNG bytes and its sidecar, so they compare like for like:
- cairosvg path:  compose → SVG (svgwrite) → cairosvg.svg2png → PNG bytes;
- fast path:      compose → cairo drawing → numpy RGB → PNG (ecgspec.render.png) → PNG bytes;
- PNG floor:      the same encoder on the very same page arrays: no renderer that writes PNG with
                  it can go below it (Pillow level 1 on the same arrays is printed for reference);
- distorted path: plan → compose with the scene steps → cairo → apply_raster → PNG bytes and the
                  sidecar, seeds 0, 1, 2, … (one item each), as `ecgspec render --distort` does.
ecg-image-kit's figure is external: 5.92 s per image for its wrinkles + augmentation on this
machine (measured separately; ecg-image-kit is not installed here).
One process pinned to one CPU, one OpenCV thread; records are read once, before timing.
Targets: fast path ≤ 2 × floor and ≤ 120 ms (issue #3); distorted ≤ 300 ms and ≥ 20 × faster
than ecg-image-kit (issue #4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cairosvg
import cv2

from ecgspec.program import load
from ecgspec.records import read_wfdb
from ecgspec.render.api import render_page, sidecar_json, spec_hash_of
from ecgspec.render.cli import SHIPPED_SPECS, shipped_records
from ecgspec.render.layout import compose
from ecgspec.render.png import COMPRESS_LEVEL, encode_png, encode_png_pillow
from ecgspec.render.raster import rasterise_fast
from ecgspec.render.sidecar import build_sidecar
from ecgspec.render.svg import to_svg

IMAGE_KIT_S = 5.92  # ecg-image-kit, wrinkles + augmentation, s per image on this machine (external figure)


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layout", default="4x3")
    ap.add_argument("--paper", default="standard")
    ap.add_argument("--dpi", type=float, default=200.0)
    ap.add_argument("--distort", default="scanned", help="pipeline of the distorted path (default: scanned)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)

    program = load(SHIPPED_SPECS)
    layout, paper = program.get("layout", args.layout), program.get("paper", args.paper)
    distort = program.get("distort", args.distort)
    spec_hash = spec_hash_of(program, layout.name, paper.name, distort.name)
    records = [read_wfdb(p) for p in shipped_records()]
    for rec in records:
        rec.rhythm  # measured once per record, as a corpus build caches it  # noqa: B018

    def cairosvg_path(rec) -> bytes:
        scene, geo = compose(rec, layout, paper, dpi=args.dpi)
        w, h = scene.pixel_size
        png = cairosvg.svg2png(bytestring=to_svg(scene).encode(), output_width=w, output_height=h)
        sidecar_json(
            build_sidecar(
                geo, rec, width=w, height=h, layout=layout.name, paper=paper.name, seed=0, renderer="cairosvg"
            )
        )
        return png

    def fast_path(rec) -> tuple[bytes, object]:
        result = render_page(rec, layout, paper, dpi=args.dpi)
        sidecar_json(result.sidecar)
        return encode_png(result.array, dpi=args.dpi), result.array

    def distorted_path(rec, seed: int) -> tuple[bytes, float]:
        t = time.perf_counter()
        result = render_page(rec, layout, paper, distort=distort, seed=seed, spec_hash=spec_hash, dpi=args.dpi)
        sidecar_json(result.sidecar)
        middle = time.perf_counter()
        return encode_png(result.array, dpi=args.dpi), middle - t

    cairosvg_path(records[0])  # warm caches (fonts, templates)
    fast_path(records[0])
    distorted_path(records[0], 10**6)
    t_svg, t_fast, t_floor, t_pillow, t_compose, t_raster = [], [], [], [], [], []
    t_dist, t_dist_render, d_sizes = [], [], []
    sizes = []
    for round_ in range(args.rounds):
        for i, rec in enumerate(records):
            t0 = time.perf_counter()
            cairosvg_path(rec)
            t1 = time.perf_counter()
            png, array = fast_path(rec)
            t2 = time.perf_counter()
            encode_png(array, dpi=args.dpi)  # type: ignore[arg-type]
            t_floor.append(time.perf_counter() - t2)
            t3 = time.perf_counter()
            encode_png_pillow(array, dpi=args.dpi)  # type: ignore[arg-type]
            t_pillow.append(time.perf_counter() - t3)
            t3 = time.perf_counter()
            scene, _ = compose(rec, layout, paper, dpi=args.dpi)
            t4 = time.perf_counter()
            rasterise_fast(scene)
            t5 = time.perf_counter()
            t_svg.append(t1 - t0)
            t_fast.append(t2 - t1)
            t_compose.append(t4 - t3)
            t_raster.append(t5 - t4)
            sizes.append(len(png))
            t6 = time.perf_counter()
            dpng, d_render = distorted_path(rec, round_ * len(records) + i)
            t_dist.append(time.perf_counter() - t6)
            t_dist_render.append(d_render)
            d_sizes.append(len(dpng))
    h, w = array.shape[:2]  # type: ignore[union-attr]
    n = len(t_fast)
    print(
        f"layout {layout.name}, paper {paper.name}, {w}x{h} px at {args.dpi:g} dpi; {len(records)} records "
        f"x {args.rounds} rounds = {n} images per path; one core; PNG zlib level {COMPRESS_LEVEL}"
    )
    print(f"  cairosvg path  {ms(t_svg):7.1f} ms/image (median)")
    print(
        f"  fast path      {ms(t_fast):7.1f} ms/image (median)   = compose {ms(t_compose):.1f} + cairo "
        f"{ms(t_raster):.1f} + encode and sidecar"
    )
    print(
        f"  PNG floor      {ms(t_floor):7.1f} ms/image (median)   encode of the same arrays "
        f"(Pillow level 1: {ms(t_pillow):.1f})"
    )
    print(f"  fast / floor   {ms(t_fast) / ms(t_floor):7.2f} x      (target <= 2)")
    print(f"  cairosvg/fast  {ms(t_svg) / ms(t_fast):7.2f} x")
    print(
        f"  fast <= 120 ms: {'yes' if ms(t_fast) <= 120 else 'NO'};  median PNG {statistics.median(sizes) / 1e6:.2f} MB"
    )
    print(
        f"  distorted ({distort.name}) {ms(t_dist):7.1f} ms/image (median)   = render + {distort.name} "
        f"{ms(t_dist_render):.1f} + PNG; median PNG {statistics.median(d_sizes) / 1e6:.2f} MB; "
        f"mean {1000 * statistics.mean(t_dist):.1f}, max {1000 * max(t_dist):.1f} ms"
    )
    ratio = IMAGE_KIT_S * 1000 / ms(t_dist)
    print(
        f"  vs ecg-image-kit {IMAGE_KIT_S:.2f} s/image (external figure, wrinkles + augmentation): "
        f"{ratio:.1f} x faster (target >= 20)"
    )
    print(f"  distorted <= 300 ms: {'yes' if ms(t_dist) <= 300 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
