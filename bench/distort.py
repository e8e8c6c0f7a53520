"""Distortion engine throughput on one core: each raster step, every preset, and the PNG encode
of the result (ecgspec.render.png, and Pillow level 1 for comparison). For whole pages (render +
`scanned` + PNG on the shipped records, against ecg-image-kit) see bench/render.py.

    .venv/bin/python bench/distort.py [--repeat N] [--plans N]

The page is 2200x1700 RGB (letter at 200 dpi): white, pink grid lines every 8 px (darker every
40), black polylines. Each step runs with representative parameters; a preset's figure is the
median over `--plans` plans (each plan is one item: which steps fire varies), and its mean,
which is what a corpus pays per image. Pinned to one CPU (os.sched_setaffinity) with
cv2.setNumThreads(1), so figures are per worker process.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgspec.draw import stream
from ecgspec.ir.distort import (
    AspectStep,
    BlurStep,
    ContrastStep,
    CreaseStep,
    CropStep,
    DefocusStep,
    JpegStep,
    LightingStep,
    NoiseStep,
    PerspectiveStep,
    ResolutionStep,
    RotateStep,
    ShadowStep,
    ShiftStep,
    StainStep,
    Step,
    TextureStep,
    ThresholdStep,
    TintStep,
    WrinkleStep,
    YellowStep,
)
from ecgspec.program import load
from ecgspec.render.distortions import Applied, apply_raster, plan
from ecgspec.render.distortions.draw import draw_params
from ecgspec.render.png import encode_png

WIDTH, HEIGHT = 2200, 1700
# The parameters that a noise kind reads (the others are drawn but unused).
RELEVANT: dict[tuple[str, object], tuple[str, ...]] = {
    ("noise", "gaussian"): ("kind", "sigma"),
    ("noise", "speckle"): ("kind", "sigma"),
    ("noise", "salt_pepper"): ("kind", "amount"),
}
PX_PER_MM = 200 / 25.4
WHITE = (255, 255, 255)

STEPS: list[Step] = [
    RotateStep(angle=2.0),
    PerspectiveStep(strength=0.05),
    CropStep(amount=0.03),
    ShiftStep(x=10.0, y=-5.0),
    ShiftStep(x=10.5, y=-5.5),
    ResolutionStep(scale=0.7),
    AspectStep(ratio=1.05),
    WrinkleStep(strength=0.5, count=6),
    CreaseStep(count=2, depth=0.5),
    TintStep(color="#f3e7c6", amount=0.3),
    YellowStep(amount=0.4),
    TextureStep(strength=0.3),
    StainStep(count=2, size=30.0),
    ShadowStep(strength=0.3),
    LightingStep(strength=0.3),
    NoiseStep(kind="gaussian", sigma=5.0),
    NoiseStep(kind="speckle", sigma=5.0),
    NoiseStep(kind="salt_pepper", amount=0.005),
    BlurStep(sigma=1.0),
    DefocusStep(radius=1.5),
    DefocusStep(radius=3.0),
    ContrastStep(amount=1.3),
    ThresholdStep(level=0.6),
    JpegStep(quality=75),
]


def page() -> np.ndarray:
    img = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    for x in range(0, WIDTH, 8):
        img[:, x] = (224, 102, 102) if x % 40 == 0 else (247, 196, 196)
    for y in range(0, HEIGHT, 8):
        img[y, :] = (224, 102, 102) if y % 40 == 0 else (247, 196, 196)
    rng = np.random.default_rng(0)
    for row in range(4):
        xs = np.arange(80, WIDTH - 80, 2)
        ys = 250 + 380 * row + np.cumsum(rng.normal(0, 1.5, xs.size)) + 60 * (rng.random(xs.size) < 0.01)
        cv2.polylines(img, [np.c_[xs, ys].astype(np.int32)], False, (0, 0, 0), 2, cv2.LINE_AA)
    return img


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def png(img: np.ndarray) -> bytes:
    return encode_png(img)


def png_pillow(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per step (median)")
    parser.add_argument("--plans", type=int, default=40, help="plans per preset")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    clean = page()
    print(f"page {WIDTH}x{HEIGHT} RGB, one core, OpenCV {cv2.__version__}, numpy {np.__version__}")
    print(f"{'step':34s} {'ms':>8s}")
    for i, step in enumerate(STEPS):
        a = Applied(step.keyword, "raster", draw_params(step, np.random.default_rng(i)), seed=i)
        label = f"{step.keyword} " + " ".join(
            f"{k}={v}" for k, v in a.params.items() if k in RELEVANT.get((step.keyword, a.params.get("kind")), a.params)
        )

        def once(a: Applied = a) -> object:
            return apply_raster(clean.copy(), [a], px_per_mm=PX_PER_MM, background=WHITE)

        one = median_ms(once, args.repeat)
        print(f"{label[:34]:34s} {one:8.1f}")
    print(f"{'(page copy, included above)':34s} {median_ms(clean.copy, args.repeat):8.1f}")

    program = load(ROOT / "specs" / "distortions.ecg", root=ROOT / "specs")
    for name in ("mild", "scanned", "aged", "photo", "fax", "heavy"):
        pipeline = program.get("distort", name)
        ms: list[float] = []
        enc: list[float] = []
        enc_pil: list[float] = []
        size: list[float] = []
        for k in range(args.plans):
            p = plan(pipeline, stream("bench", name, k))  # type: ignore[arg-type]
            img = clean.copy()
            t = time.perf_counter()
            r = apply_raster(img, p.raster, px_per_mm=PX_PER_MM, background=WHITE)
            t1 = time.perf_counter()
            data = png(r.img)
            t2 = time.perf_counter()
            png_pillow(r.img)
            ms.append(1000 * (t1 - t))
            enc.append(1000 * (t2 - t1))
            enc_pil.append(1000 * (time.perf_counter() - t2))
            size.append(len(data) / 1e6)
        print(
            f"preset {name:8s} distort median {statistics.median(ms):6.1f} mean {statistics.mean(ms):6.1f} "
            f"max {max(ms):6.1f} ms | PNG encode mean {statistics.mean(enc):6.1f} ms "
            f"(Pillow {statistics.mean(enc_pil):6.1f}), {statistics.mean(size):.1f} MB  ({args.plans} plans)"
        )
    print(f"{'PNG encode of the clean page':34s} {median_ms(lambda: png(clean), args.repeat):8.1f}")


if __name__ == "__main__":
    main()
