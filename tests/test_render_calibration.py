"""Physical calibration, measured in the pixels of the fast rasteriser's PNG: the calibration
pulse is 1 mV tall, so it must be `gain` mm high, and 200 ms wide, so it must be 0.2·`speed` mm
long — within 1 pixel, at 100, 200 and 300 dpi, for every speed and every gain."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecgspec.ir import Layout
from ecgspec.program import load
from ecgspec.records import read_wfdb
from ecgspec.render import render_page
from ecgspec.render.api import write_outputs
from ecgspec.render.digitise import ink_mask

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "data" / "samples" / "cinc2021" / "HR06001"
SETTINGS = [(12.5, 10.0), (25.0, 10.0), (50.0, 10.0), (25.0, 5.0), (25.0, 20.0)]  # (mm/s, mm/mV)


@lru_cache(maxsize=1)
def _standard():
    program = load([ROOT / "specs" / "papers.ecg"])
    assert program.ok
    return program.get("paper", "standard")


def _measure_pulse(image: np.ndarray, baseline_y: float, x_end: float, height_px: float) -> tuple[float, float, float]:
    """(height, width, baseline row) of the first calibration pulse, in pixels, read off the
    image alone: the rows of its top and of the baseline before it, the columns of its edges."""
    mask = ink_mask(image)
    top = int(baseline_y - 1.6 * height_px)
    bottom = int(baseline_y + 0.3 * height_px) + 3
    region = mask[max(top, 0) : bottom, : int(x_end)]
    cols = np.flatnonzero(region.any(axis=0))
    run_len = region.sum(axis=0)
    # Edges: columns whose ink spans most of the pulse height.
    edges = np.flatnonzero(run_len > 0.6 * height_px)
    groups = np.split(edges, np.flatnonzero(np.diff(edges) > 1) + 1)
    assert len(groups) >= 2, "did not find the two edges of the pulse"
    rise, fall = (float(np.mean(g)) for g in groups[:2])

    # Baseline: ink rows in the columns before the rising edge; top: ink rows between the edges.
    def centre_row(c0: int, c1: int) -> float:
        rows = np.flatnonzero(region[:, c0:c1].any(axis=1))
        return float(rows.mean()) + max(top, 0)

    lead_in = centre_row(int(cols[0]), int(groups[0][0]) - 2)
    plateau = centre_row(int(groups[0][-1]) + 3, int(groups[1][0]) - 2)
    return lead_in - plateau, fall - rise, lead_in + 0.5


@pytest.mark.parametrize("dpi", [100, 200, 300])
@pytest.mark.parametrize("speed,gain", SETTINGS, ids=[f"{s:g}mm-s_{g:g}mm-mV" for s, g in SETTINGS])
def test_calibration_pulse_is_gain_mm_tall_and_200_ms_long_in_the_png(
    tmp_path: Path, dpi: int, speed: float, gain: float
):
    paper = _standard().model_copy(update={"name": "cal", "speed": speed, "gain": gain, "dpi": float(dpi)})
    layout = Layout(name="II", leads=(("II",),), column=2.5)
    result = render_page(read_wfdb(RECORD), layout, paper)
    # Read the PNG as written, not the array in memory.
    png = write_outputs(result, tmp_path / "cal.png")[0]
    image = np.asarray(Image.open(io.BytesIO(png.read_bytes())).convert("RGB"))
    px_per_mm = dpi / 25.4
    lead = result.sidecar.leads[0]
    height, width, baseline = _measure_pulse(image, lead.baseline_y, lead.box[0], gain * px_per_mm)
    assert height == pytest.approx(gain * px_per_mm, abs=1.0), "1 mV is not `gain` mm"
    assert width == pytest.approx(0.2 * speed * px_per_mm, abs=1.0), "200 ms is not 0.2 × `speed` mm"
    assert baseline == pytest.approx(lead.baseline_y, abs=1.0), "the sidecar's baseline is not where 0 mV is"
    # The sidecar states the same scale, exactly.
    assert lead.px_per_mV == pytest.approx(gain * px_per_mm, rel=1e-12)
    assert lead.px_per_s == pytest.approx(speed * px_per_mm, rel=1e-12)
    assert result.sidecar.paper.px_per_mm == pytest.approx(px_per_mm, rel=1e-12)
    assert (lead.box[2] - lead.box[0]) == pytest.approx((lead.t1 - lead.t0) * lead.px_per_s)


@pytest.mark.parametrize("dpi", [100, 200, 300])
def test_page_pixels_are_the_page_in_mm_at_the_dpi(dpi: int):
    paper = _standard().model_copy(update={"dpi": float(dpi)})
    result = render_page(read_wfdb(RECORD), Layout(name="II", leads=(("II",),), column=2.5), paper)
    h, w = result.array.shape[:2]
    assert (w, h) == (round(279.4 * dpi / 25.4), round(215.9 * dpi / 25.4))
    assert (result.sidecar.image.width, result.sidecar.image.height) == (w, h)
