"""Rebuild the gallery: one small PNG per shipped layout, paper and printout style, plus a
full-resolution detail, and index.md listing them.

    .venv/bin/python docs/gallery/make.py

Pages are rendered with the fast path at 150 dpi, shrunk to 600 px wide (OpenCV INTER_AREA)
and stored as 128-colour palette PNGs, to keep the folder small (well under 3 MB).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ecgspec.program import load  # noqa: E402
from ecgspec.render import read_wfdb, render_page  # noqa: E402
from ecgspec.render.cli import SHIPPED_SPECS  # noqa: E402

WIDTH = 600
SAMPLES = ROOT / "data" / "samples"


def save(array: np.ndarray, name: str, width: int | None = WIDTH) -> Path:
    if width is not None and array.shape[1] != width:
        h = round(array.shape[0] * width / array.shape[1])
        array = cv2.resize(array, (width, h), interpolation=cv2.INTER_AREA)
    img = Image.fromarray(array).quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path = HERE / f"{name}.png"
    img.save(path, optimize=True)
    return path


def main() -> int:
    program = load(SHIPPED_SPECS)
    if not program.ok:
        print("the shipped specs have errors; run `ecgspec check specs/`", file=sys.stderr)
        return 1
    rec = {name: read_wfdb(path) for name, path in {
        "HR06000": SAMPLES / "cinc2021" / "HR06000", "HR06003": SAMPLES / "cinc2021" / "HR06003",
        "JS20001": SAMPLES / "cinc2021" / "JS20001", "JS20002": SAMPLES / "cinc2021" / "JS20002",
        "s0010_re": SAMPLES / "ptbdb" / "s0010_re", "00001_lr": SAMPLES / "ptbxl" / "records100" / "00001_lr",
    }.items()}
    entries: list[tuple[str, str, str]] = []  # section, file, caption

    def page(section: str, name: str, layout: str, paper: str, record: str, caption: str, **layout_changes) -> None:
        lay = program.get("layout", layout)
        if layout_changes:
            lay = lay.model_copy(update=layout_changes)
        result = render_page(rec[record], lay, program.get("paper", paper), dpi=150)
        entries.append((section, save(result.array, name).name, caption))

    for layout, record in (("4x3", "HR06000"), ("3x4", "s0010_re"), ("4x3_3r", "HR06003"), ("6x2", "JS20002"),
                           ("12x1", "00001_lr"), ("2x6", "JS20001")):
        page("Layouts (paper `standard`)", f"layout_{layout}", layout, "standard", record,
             f"`{layout}` — record {record}")
    for paper in program.of_kind("paper"):
        if paper.name in ("muse", "pagewriter", "compact"):
            continue
        if paper.speed > 25:  # 4x3 is 512 mm wide at 50 mm/s: half-length columns fit
            page("Papers (layout `4x3`)", f"paper_{paper.name}", "4x3", paper.name, "HR06003",
                 f"`{paper.name}` — 4x3 with 1.25 s columns (2.5 s ones do not fit at {paper.speed:g} mm/s)",
                 column=1.25)
        else:
            page("Papers (layout `4x3`)", f"paper_{paper.name}", "4x3", paper.name, "HR06003", f"`{paper.name}`")
    for style, record in (("muse", "s0010_re"), ("pagewriter", "JS20001"), ("compact", "HR06000")):
        page("Printout styles (specs/printouts.ecg, layout `4x3`)", f"printout_{style}", "4x3", style, record,
             f"`{style}` — record {record}")
    # Full resolution: what a 200 dpi page looks like at 1:1.
    full = render_page(rec["s0010_re"], program.get("layout", "4x3"), program.get("paper", "muse"))
    entries.append(("Detail", save(full.array[:520, :760], "detail_muse_200dpi", width=None).name,
                    "`muse` at 200 dpi, 1:1: header, calibration pulse, the first panels"))

    lines = ["# Gallery", "", "Made by `docs/gallery/make.py` from the shipped specs and sample records; "
             "thumbnails are 600 px wide.", ""]
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
