"""Render benchmark: median milliseconds per page on one core: clean pages (cairosvg path vs fast
path, against the PNG-encoding floor measured in the same run) and distorted pages (render +
the `scanned` pipeline + PNG), against ecg-image-kit when a checkout of it is given.

    .venv/bin/python bench/render.py [--rounds 3] [--layout 4x3] [--paper standard] [--dpi 200]
                                     [--distort scanned] [--kit PATH [--kit-python PYTHON]]

Every path ends with PNG bytes and its sidecar, so they compare like for like:
- cairosvg path:  compose → SVG (svgwrite) → cairosvg.svg2png → PNG bytes;
- fast path:      compose → cairo drawing → numpy RGB → PNG (ecgspec.render.png) → PNG bytes;
- PNG floor:      the same encoder on the very same page arrays: no renderer that writes PNG with
                  it can go below it (Pillow level 1 on the same arrays is printed for reference);
- distorted path: plan → compose with the scene steps → cairo → apply_raster → PNG bytes and the
                  sidecar, seeds 0, 1, 2, … (one item each), as `ecgspec render --distort` does.
- ecg-image-kit (`--kit PATH`, a local checkout; never downloaded): its generator
                  (codes/ecg-image-generator/gen_ecg_images_from_data_batch.py) run by `--kit-python`
                  (its own environment; default: this Python) on the very same record files, once
                  clean and once with `--wrinkles --augment` (its counterpart of `scanned`), at the
                  same dpi, on the same pinned CPU (the child inherits the affinity). Seconds per
                  image are the median gap between consecutive images it writes (its start-up and
                  imports left out, as the warm-up is here); the ratios are against the clean fast
                  path and the distorted path. Without `--kit` the comparison is skipped, and says so.
One process pinned to one CPU, one OpenCV thread; records are read once, before timing.
Targets: fast path ≤ 2 × floor and ≤ 120 ms (issue #3); distorted ≤ 300 ms and ≥ 20 × faster
than ecg-image-kit (issue #4). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cairosvg
import cv2
import numpy as np

from ecgspec.ir.synth import STANDARD_LEADS
from ecgspec.program import load
from ecgspec.records import Record, read_wfdb
from ecgspec.render.api import render_page, sidecar_json, spec_hash_of
from ecgspec.render.cli import SHIPPED_SPECS, shipped_records
from ecgspec.render.layout import compose
from ecgspec.render.png import COMPRESS_LEVEL, encode_png, encode_png_pillow
from ecgspec.render.raster import rasterise_fast
from ecgspec.render.sidecar import build_sidecar
from ecgspec.render.svg import to_svg

KIT_SCRIPT = "gen_ecg_images_from_data_batch.py"
KIT_DIR = Path("codes") / "ecg-image-generator"


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


@dataclass
class KitRun:
    """One run of ecg-image-kit's generator over a folder of records."""

    images: int
    wall_s: float  # the whole process: start-up, imports and every image
    per_image_s: float  # median gap between consecutive images written (start-up left out)
    error: str = ""  # the tail of its output when it failed


def kit_script(kit: Path) -> Path:
    """The generator in a checkout (its root, or its codes/ecg-image-generator folder)."""
    for candidate in (kit / KIT_DIR / KIT_SCRIPT, kit / KIT_SCRIPT):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"--kit {kit}: no {KIT_DIR / KIT_SCRIPT} there; give a local checkout of ecg-image-kit")


def run_kit(python: str, script: Path, records: list[Record], dpi: float, distorted: bool) -> KitRun:
    """ecg-image-kit on `records`: each written as a plain 12-lead WFDB record (format 16, the gain
    wfdb picks) into one input folder, as the kit reads a folder. The kit cannot read our CinC
    `.mat` samples (its rewrite of them overflows format 16) nor PTB's 15-lead records, so it is
    given the very signals ecgspec draws, in the format it reads. Its images are counted in a fresh
    output folder."""
    import wfdb

    with tempfile.TemporaryDirectory(prefix="ecgspec-bench-kit-") as tmp:
        inp, out = Path(tmp) / "in", Path(tmp) / "out"
        inp.mkdir()
        for rec in records:
            leads = [name for name in STANDARD_LEADS if name in rec.signals]
            wfdb.wrsamp(
                rec.id,
                fs=rec.fs,
                units=["mV"] * len(leads),
                sig_name=leads,
                p_signal=np.stack([rec.signals[name] for name in leads], axis=1),
                fmt=["16"] * len(leads),
                write_dir=str(inp),
            )
        cmd = [python, str(script), "-i", str(inp), "-o", str(out), "-se", "0", "-r", str(round(dpi))]
        if distorted:  # its augmentation reads the lead boxes it stores with --store_config
            cmd += ["--wrinkles", "--augment", "--store_config", "1"]
        t = time.perf_counter()
        # The kit changes into its own folder (configs, fonts); paths given to it are absolute.
        proc = subprocess.run(cmd, cwd=script.parent, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
        pngs = sorted((p for p in out.rglob("*.png") if not p.stem.endswith("-gt")), key=lambda p: p.stat().st_mtime)
        done = [p.stat().st_mtime for p in pngs]
        if proc.returncode != 0 or not pngs:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            return KitRun(len(pngs), wall, 0.0, f"exit status {proc.returncode}: " + " | ".join(tail))
        gaps = [b - a for a, b in zip(done, done[1:], strict=False)]
        per_image = statistics.median(gaps) if len(gaps) >= 2 else wall / len(pngs)
        return KitRun(len(pngs), wall, per_image)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layout", default="4x3")
    ap.add_argument("--paper", default="standard")
    ap.add_argument("--dpi", type=float, default=200.0)
    ap.add_argument("--distort", default="scanned", help="pipeline of the distorted path (default: scanned)")
    ap.add_argument(
        "--kit", type=Path, help="a local checkout of ecg-image-kit: time its generator on the same records"
    )
    ap.add_argument("--kit-python", default=sys.executable, help="the Python that runs ecg-image-kit (its environment)")
    args = ap.parse_args()
    script = kit_script(args.kit) if args.kit is not None else None
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)

    program = load(SHIPPED_SPECS)
    layout, paper = program.get("layout", args.layout), program.get("paper", args.paper)
    distort = program.get("distort", args.distort)
    spec_hash = spec_hash_of(program, layout.name, paper.name, distort.name)
    paths = shipped_records()
    records = [read_wfdb(p) for p in paths]
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
    print(f"  distorted <= 300 ms: {'yes' if ms(t_dist) <= 300 else 'NO'}")
    if script is None:
        print("  ecg-image-kit: comparison skipped (give --kit PATH, a local checkout of ecg-image-kit)")
        return 0
    failed = False
    for label, distorted, ours in (
        ("clean", False, ms(t_fast)),
        (f"wrinkles + augment vs {distort.name}", True, ms(t_dist)),
    ):
        kit = run_kit(args.kit_python, script, records, args.dpi, distorted)
        if kit.error:
            print(f"  ecg-image-kit {label}: failed after {kit.wall_s:.1f} s, {kit.images} images; {kit.error}")
            failed = True
            continue
        ratio = kit.per_image_s * 1000 / ours
        target = "   (target >= 20)" if distorted else ""
        print(
            f"  ecg-image-kit {label}: {kit.per_image_s:.2f} s/image (median; {kit.images} images of "
            f"{len(paths)} records in {kit.wall_s:.1f} s with start-up) = {ratio:.1f} x ecgspec's "
            f"{ours:.1f} ms{target}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
