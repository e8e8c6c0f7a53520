"""Rebuild the gallery: one small PNG per shipped layout, paper and printout style, each shipped
distortion preset beside the clean page, two full-resolution details, and index.md listing them.

    .venv/bin/python docs/gallery/make.py

Clean pages are rendered with the fast path at 150 dpi; distorted ones at the paper's own 200 dpi
(distortion sizes in pixels are meant for it). All are shrunk to 600 px wide, or 480 px a side
for the pairs (OpenCV INTER_AREA), and stored as 128-colour palette PNGs, to keep the folder
small (about 3.5 MB).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

import cv2
import numpy as np
from PIL import Image

from ecgspec.ir import Distort
from ecgspec.ir.distort import (
    ChartStep,
    GridStep,
    HeaderStep,
    LabelsStep,
    PaddingStep,
    RotateStep,
    TraceStep,
)
from ecgspec.program import load
from ecgspec.records import read_wfdb
from ecgspec.render import render_page
from ecgspec.render.api import spec_hash_of
from ecgspec.render.cli import SHIPPED_SPECS

WIDTH = 600
PAIR = 480  # width of each side of a clean / distorted pair
SAMPLES = ROOT / "data" / "samples"
# Scene steps together, to show what they do (not a shipped preset).
SCENE_DEMO = Distort(
    name="scene_steps",
    steps=(
        GridStep(mode="jitter", amount=0.7),
        TraceStep(width=0.35, color="#1b2f6e"),
        LabelsStep(mode="misplaced", amount=0.4),
        HeaderStep(show="off"),
        ChartStep(scale=0.9, shift_x=6.0, shift_y=2.0),
        PaddingStep(amount=12.0),
        RotateStep(angle=-2.0, fill="#6e6259"),
    ),
)


def shrink(array: np.ndarray, width: int) -> np.ndarray:
    if array.shape[1] == width:
        return array
    h = round(array.shape[0] * width / array.shape[1])
    return cv2.resize(array, (width, h), interpolation=cv2.INTER_AREA)


def pair(left: np.ndarray, right: np.ndarray, width: int = PAIR, gap: int = 8) -> np.ndarray:
    """Two pages side by side on light grey, tops aligned."""
    a, b = shrink(left, width), shrink(right, width)
    out = np.full((max(a.shape[0], b.shape[0]), 2 * width + gap, 3), 230, np.uint8)
    out[: a.shape[0], :width] = a
    out[: b.shape[0], width + gap :] = b
    return out


def save(array: np.ndarray, name: str, width: int | None = WIDTH) -> Path:
    if width is not None:
        array = shrink(array, width)
    img = Image.fromarray(array).quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path = HERE / f"{name}.png"
    img.save(path, optimize=True)
    return path


def main() -> int:
    program = load(SHIPPED_SPECS)
    if not program.ok:
        print("the shipped specs have errors; run `ecgspec check specs/`", file=sys.stderr)
        return 1
    rec = {
        name: read_wfdb(path)
        for name, path in {
            "HR06000": SAMPLES / "cinc2021" / "HR06000",
            "HR06003": SAMPLES / "cinc2021" / "HR06003",
            "JS20001": SAMPLES / "cinc2021" / "JS20001",
            "JS20002": SAMPLES / "cinc2021" / "JS20002",
            "s0010_re": SAMPLES / "ptbdb" / "s0010_re",
            "00001_lr": SAMPLES / "ptbxl" / "records100" / "00001_lr",
        }.items()
    }
    entries: list[tuple[str, str, str]] = []  # section, file, caption

    def page(section: str, name: str, layout: str, paper: str, record: str, caption: str, **layout_changes) -> None:
        lay = program.get("layout", layout)
        if layout_changes:
            lay = lay.model_copy(update=layout_changes)
        result = render_page(rec[record], lay, program.get("paper", paper), dpi=150)
        entries.append((section, save(result.array, name).name, caption))

    for layout, record in (
        ("4x3", "HR06000"),
        ("3x4", "s0010_re"),
        ("4x3_3r", "HR06003"),
        ("6x2", "JS20002"),
        ("12x1", "00001_lr"),
        ("2x6", "JS20001"),
    ):
        page(
            "Layouts (paper `standard`)",
            f"layout_{layout}",
            layout,
            "standard",
            record,
            f"`{layout}` — record {record}",
        )
    for paper in program.of_kind("paper"):
        if paper.name in ("muse", "pagewriter", "compact"):
            continue
        if paper.speed > 25:  # 4x3 is 512 mm wide at 50 mm/s: half-length columns fit
            page(
                "Papers (layout `4x3`)",
                f"paper_{paper.name}",
                "4x3",
                paper.name,
                "HR06003",
                f"`{paper.name}` — 4x3 with 1.25 s columns (2.5 s ones do not fit at {paper.speed:g} mm/s)",
                column=1.25,
            )
        else:
            page("Papers (layout `4x3`)", f"paper_{paper.name}", "4x3", paper.name, "HR06003", f"`{paper.name}`")
    for style, record in (("muse", "s0010_re"), ("pagewriter", "JS20001"), ("compact", "HR06000")):
        page(
            "Printout styles (specs/printouts.ecg, layout `4x3`)",
            f"printout_{style}",
            "4x3",
            style,
            record,
            f"`{style}` — record {record}",
        )
    # Full resolution: what a 200 dpi page looks like at 1:1.
    full = render_page(rec["s0010_re"], program.get("layout", "4x3"), program.get("paper", "muse"))
    entries.append(
        (
            "Detail",
            save(full.array[:520, :760], "detail_muse_200dpi", width=None).name,
            "`muse` at 200 dpi, 1:1: header, calibration pulse, the first panels",
        )
    )

    # Distortion presets, each beside the clean page it was made from. The seed shown is the
    # first of 0..9 at which the most of the preset's steps fire.
    lay, pap = program.get("layout", "4x3"), program.get("paper", "muse")
    clean = render_page(rec["HR06003"], lay, pap).array
    section = "Distortions (specs/distortions.ecg; clean page left, record HR06003, paper `muse`)"
    for distort in program.of_kind("distort"):
        spec_hash = spec_hash_of(program, lay.name, pap.name, distort.name)
        best = max(
            range(10),
            key=lambda seed: (
                len(render_page(rec["HR06003"], lay, pap, distort=distort, seed=seed, spec_hash=spec_hash).plan.steps),
                -seed,
            ),
        )
        result = render_page(rec["HR06003"], lay, pap, distort=distort, seed=best, spec_hash=spec_hash)
        ops = ", ".join(d["op"] for d in result.sidecar.distortions)
        entries.append(
            (
                section,
                save(pair(clean, result.array), f"distort_{distort.name}", width=None).name,
                f"`{distort.name}`, seed {best}: {ops}",
            )
        )
    demo = render_page(rec["HR06003"], lay, pap, distort=SCENE_DEMO, seed=0, spec_hash="gallery")
    entries.append(
        (
            section,
            save(pair(clean, demo.array), "distort_scene_steps", width=None).name,
            "scene steps (docs/gallery/make.py): `grid jitter`, `trace width color`, `labels misplaced`, "
            "`header off`, `chart scale shift`, `padding`, then `rotate` with a desk `fill`",
        )
    )
    aged = render_page(
        rec["s0010_re"],
        lay,
        program.get("paper", "standard"),
        distort=program.get("distort", "aged"),
        seed=1,
        spec_hash=spec_hash_of(program, lay.name, "standard", "aged"),
    )
    entries.append(
        (
            "Detail",
            save(aged.array[300:700, 150:750], "detail_aged_200dpi", width=None).name,
            "`aged` (seed 1) at 200 dpi, 1:1: " + ", ".join(d["op"] for d in aged.sidecar.distortions),
        )
    )

    # Printouts as carts make them, and ground truth for digitisation.
    section = "Filters, windows, ground truth (docs/rendering.md)"
    raw = rec["HR06003"]
    t = np.arange(raw.n_samples) / raw.fs
    wander = dataclasses.replace(
        raw,  # baseline wander, as a breathing patient or a loose electrode makes it
        signals={k: v + 0.8 * np.sin(2 * np.pi * 0.25 * t + i) for i, (k, v) in enumerate(raw.signals.items())},
    )
    twelve = program.get("layout", "12x1")
    unfiltered = render_page(wander, twelve, program.get("paper", "standard"), dpi=150).array
    filtered = render_page(wander, twelve, program.get("paper", "monitoring"), dpi=150).array
    entries.append(
        (
            section,
            save(pair(unfiltered, filtered), "filter_wander", width=None).name,
            "baseline wander on a 12x1 page: paper `standard` draws it as recorded (left); `monitoring` "
            "(0.5–40 Hz, zero-phase) draws what a cart prints and says so in the footer (right)",
        )
    )
    long = rec["s0010_re"]
    later = dataclasses.replace(long)
    later.window_start = 20.0
    first = render_page(long, lay, pap, dpi=150).array
    second = render_page(later, lay, pap, dpi=150).array
    entries.append(
        (
            section,
            save(pair(first, second), "window_start", width=None).name,
            f"a {long.duration:.0f} s record: the page from 0 s (left) and `window_start = 20 s` (right); "
            "`window = all` makes one page per window",
        )
    )
    truth = render_page(
        rec["HR06003"],
        lay,
        pap,
        distort=program.get("distort", "scanned"),
        seed=2,
        spec_hash=spec_hash_of(program, lay.name, pap.name, "scanned"),
        ground_truth=("masks",),
    )
    mask = truth.ground_truth.mask  # type: ignore[union-attr]
    palette = np.array(
        [[0, 0, 0]]
        + [
            [int(255 * c) for c in cv2.cvtColor(np.uint8([[[h * 15, 255, 230]]]), cv2.COLOR_HSV2RGB)[0, 0] / 255]
            for h in range(12)
        ],
        np.uint8,
    )
    overlay = truth.array.copy()
    on = mask > 0
    overlay[on] = palette[np.minimum(mask[on], 12)]
    entries.append(
        (
            section,
            save(pair(truth.array, overlay), "ground_truth_mask", width=None).name,
            "`ground_truth = [masks]` on a `scanned` page: each lead's trace mask, after the page's rotation and "
            "perspective, overlaid in its own colour (right)",
        )
    )

    lines = [
        "# Gallery",
        "",
        "Made by `docs/gallery/make.py` from the shipped specs and sample records; thumbnails are 600 px wide.",
        "",
    ]
    section = None
    for sec, file, caption in entries:
        if sec != section:
            lines += [f"## {sec}", ""]
            section = sec
        lines += [f"![{file}]({file})", "", caption, ""]
    (HERE / "index.md").write_text("\n".join(lines), encoding="utf-8")
    total = sum(p.stat().st_size for p in HERE.glob("*.png"))
    print(f"{len(entries)} images, {total / 1e6:.2f} MB in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
