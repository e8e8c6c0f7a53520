"""Paper realism on real rendered pages: the crumpled-paper texture and irregular stains.

`crumple` shades the paper from a height field of crease lines lit from one side, as a gain, so
the traces stay dark and every lead reads back; with `displace` it also moves the paper, by no
more than its recorded bound. Stains are blots with ragged outlines and tide lines, or cup rings,
never plain discs.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ecgspec.ir import Distort
from ecgspec.ir.distort import CrumpleStep, StainStep, Step
from ecgspec.render import render_page
from ecgspec.render.api import RenderResult, sidecar_json, spec_hash_of
from ecgspec.render.distortions import Applied, Plan, apply_raster
from ecgspec.render.distortions.crumple import BRIGHTEST, DARKEST, LINE_DARK
from ecgspec.render.sidecar import Sidecar

from .test_render_distort import HR06000, JS20003, PTB, PTBXL, _program, layout, lead_scores, paper, preset, record

PX_PER_MM = 200 / 25.4


def pipeline(*steps: Step) -> Distort:
    return Distort(name="paper", steps=steps)


def render(distort: Distort | None, seed: int = 0) -> RenderResult:
    return render_page(record(), layout(), paper(), distort=distort, seed=seed, spec_hash="crumple")


# ---- crumple ---------------------------------------------------------------------------------------


def test_crumple_shades_the_paper_in_facets_and_keeps_the_ink_dark() -> None:
    clean = render(None).array
    result = render(pipeline(CrumpleStep(strength=0.5, creases=40)))
    page = result.array
    params = result.sidecar.distortions[0]["params"]
    assert len(params["lines"]) == 40 and params["max_displacement_px"] == 0.0
    assert 0 <= params["light_azimuth"] < 360 and 30 <= params["light_elevation"] <= 50
    paper_px = clean.min(axis=2) == 255
    ink = clean.max(axis=2) < 40
    # A grey gain: the paper darkens by up to DARKEST × strength (and a crease line by a further
    # LINE_DARK × strength), never more; every channel alike.
    shaded = page[paper_px].astype(int)
    assert shaded.min() >= math.floor(255 * (1 - DARKEST * 0.5) * (1 - LINE_DARK * 0.5)) - 1
    assert np.ptp(shaded, axis=1).max() <= 1
    assert (shaded[:, 0] < 235).mean() > 0.1  # a good share of the page lies in shade
    # Trace ink stays dark: a lit facet brightens it by BRIGHTEST × strength at most.
    assert (page[ink].astype(float) <= clean[ink] * (1 + BRIGHTEST * 0.5) + 1).all() and page[ink].max() < 60
    # Facets: the shading is flat within a facet and changes sharply at a crease, so most of its
    # change between neighbouring pixels is small, a few are large.
    grey = page[..., 1].astype(float)
    steps = np.abs(np.diff(grey, axis=1))[paper_px[:, 1:] & paper_px[:, :-1]]
    assert np.median(steps) <= 1 and np.percentile(steps, 99.9) >= 3


def test_crumple_displacement_stays_within_its_recorded_bound() -> None:
    """Dots on a white page, crumpled with no shading: each moves, by at most the bound."""
    h, w = 600, 800
    page = np.full((h, w, 3), 255, np.uint8)
    centres = [(x + 0.5, y + 0.5) for x in range(60, w - 40, 80) for y in range(60, h - 40, 80)]
    for x, y in centres:
        cv2.circle(page, (int(x - 0.5), int(y - 0.5)), 4, (0, 0, 0), -1)
    step = Applied("crumple", "raster", {"strength": 0.0, "creases": 40, "displace": 0.4}, seed=9)
    result = apply_raster(page.copy(), [step], px_per_mm=4.0, background=(255, 255, 255))
    bound = result.records[0]["params"]["max_displacement_px"]
    assert bound == pytest.approx(0.4 * 4.0) and result.max_warp_px == pytest.approx(bound)
    grey = 255.0 - result.img[..., 0].astype(float)
    moves = []
    for x, y in centres:
        x0, y0 = int(x) - 8, int(y) - 8
        patch = grey[y0 : y0 + 17, x0 : x0 + 17]
        ys, xs = np.mgrid[y0 : y0 + 17, x0 : x0 + 17] + 0.5
        moves.append(math.hypot((xs * patch).sum() / patch.sum() - x, (ys * patch).sum() / patch.sum() - y))
    assert max(moves) <= bound + 0.05
    assert max(moves) > 0.2 * bound  # it does move the paper


def test_the_crumpled_preset_keeps_every_lead_legible_at_its_shipped_strength() -> None:
    """`crumpled`: crumple at strength 0.3–0.6 with 30–60 creases, then a scan. The shading is a
    gain that keeps paper above trace ink: every lead reads back with r >= 0.9."""
    spec_hash = spec_hash_of(_program(), "4x3", "standard", "crumpled")
    problems = []
    strengths = []
    for path in (HR06000, JS20003, PTB, PTBXL):
        for seed in (0, 1, 2):
            result = render_page(
                record(path), layout(), paper(), distort=preset("crumpled"), seed=seed, spec_hash=spec_hash
            )
            strengths += [d["params"]["strength"] for d in result.sidecar.distortions if d["op"] == "crumple"]
            for lead, r, _, kept in lead_scores(record(path), result):
                if r < 0.9 or kept < 0.6:
                    problems.append(f"{path.name} seed {seed} {lead}: r={r:.3f}, {kept:.0%} kept")
    assert not problems, "\n".join(problems)
    assert len(strengths) == 12 and max(strengths) > 0.45  # every page crumpled, some near the top


def test_a_crumpled_page_is_remade_from_its_sidecar_to_the_same_bytes() -> None:
    spec_hash = spec_hash_of(_program(), "4x3", "standard", "crumpled")
    result = render_page(record(PTBXL), layout(), paper(), distort=preset("crumpled"), seed=3, spec_hash=spec_hash)
    sidecar = Sidecar.model_validate_json(sidecar_json(result.sidecar))
    again = render_page(record(PTBXL), layout(), paper(), replay=Plan.from_records(sidecar.distortions))
    np.testing.assert_array_equal(again.array, result.array)
    assert again.sidecar.distortions == sidecar.distortions


_RENDER = """
import hashlib, sys
import cv2
from ecgspec.program import load
from ecgspec.records import read_wfdb
from ecgspec.render import render_page
from ecgspec.render.api import spec_hash_of
from ecgspec.render.cli import SHIPPED_SPECS
cv2.setNumThreads(int(sys.argv[2]))
program = load(SHIPPED_SPECS)
r = render_page(read_wfdb(sys.argv[1]), program.get("layout", "4x3"), program.get("paper", "standard"),
                distort=program.get("distort", "crumpled"), seed=7,
                spec_hash=spec_hash_of(program, "4x3", "standard", "crumpled"))
print(hashlib.sha256(r.array.tobytes()).hexdigest())
"""


def test_crumpled_pages_are_the_same_bytes_in_separate_processes_and_thread_counts() -> None:
    outputs = set()
    for threads in (1, 4):
        done = subprocess.run(
            [sys.executable, "-c", _RENDER, str(HR06000), str(threads)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout.strip())
    program = _program()
    here = render_page(
        record(),
        layout(),
        paper(),
        distort=preset("crumpled"),
        seed=7,
        spec_hash=spec_hash_of(program, "4x3", "standard", "crumpled"),
    )
    outputs.add(hashlib.sha256(here.array.tobytes()).hexdigest())
    assert len(outputs) == 1


# ---- stains ---------------------------------------------------------------------------------------


def _outline_radii(stained: np.ndarray, cx: float, cy: float, bins: int = 72) -> np.ndarray:
    """The farthest stained pixel from (cx, cy) in each of `bins` directions (NaN where none)."""
    ys, xs = np.nonzero(stained)
    dx, dy = xs + 0.5 - cx, ys + 0.5 - cy
    angle = ((np.arctan2(dy, dx) + math.pi) / (2 * math.pi) * bins).astype(int) % bins
    radius = np.hypot(dx, dy)
    out = np.full(bins, np.nan)
    for b in range(bins):
        sel = radius[angle == b]
        if sel.size:
            out[b] = sel.max()
    return out


def test_stains_are_not_circles_blots_have_ragged_outlines_and_rings_uneven_strength() -> None:
    """Many stains, each alone on a white page: a blot's outline radius varies by more than 8%
    (standard deviation over its mean, around the recorded centre); a cup ring is darker on one
    side than the other. Both kinds occur."""
    kinds: dict[str, int] = {"blot": 0, "ring": 0}
    n = 1000
    for seed in range(40):
        page = np.full((n, n, 3), 255, np.uint8)
        step = Applied("stain", "raster", {"count": 1, "size": 40.0, "color": "#b08850"}, seed=seed)
        result = apply_raster(page, [step], px_per_mm=4.0, background=(255, 255, 255))
        [s] = result.records[0]["params"]["stains"]
        cx, cy = s["centre"]
        reach = 1.6 * s["radius_px"]
        if not (reach < cx < n - reach and reach < cy < n - reach):
            continue  # partly off the page: its outline cannot be measured whole
        kinds[s["kind"]] += 1
        darkness = 255.0 - result.img[..., 2].astype(float)  # blue is absorbed most
        x0, y0, x1, y1 = s["box"]
        outside = np.ones(darkness.shape, bool)
        outside[y0:y1, x0:x1] = False
        assert darkness[outside].max() == 0  # nothing outside its recorded box
        if s["kind"] == "blot":
            # The body of the blot: its droplets (small, apart from it) are left out.
            _, labels, stats, _ = cv2.connectedComponentsWithStats((darkness > 8).astype(np.uint8))
            body = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            radii = _outline_radii(body, cx, cy)
            assert np.nanstd(radii) / np.nanmean(radii) > 0.08, (seed, np.nanstd(radii) / np.nanmean(radii))
        else:
            # The ring's peak darkness in each of 36 directions: strong on one side, faint or
            # broken on another.
            ys, xs = np.mgrid[0:n, 0:n] + 0.5
            rho = np.hypot(xs - cx, ys - cy) / s["radius_px"]
            bins = ((np.arctan2(ys - cy, xs - cx) + math.pi) / (2 * math.pi) * 36).astype(int) % 36
            near = (rho > 0.6) & (rho < 1.5)
            peaks = np.array([darkness[near & (bins == b)].max() for b in range(36)])
            assert np.percentile(peaks, 90) > 1.3 * np.percentile(peaks, 10), (seed, peaks)
    assert kinds["blot"] >= 5 and kinds["ring"] >= 1, kinds


def test_an_aged_page_with_stains_keeps_its_traces_dark() -> None:
    clean = render(None).array
    page = render(pipeline(StainStep(count=6, size=40.0), StainStep(count=3, size=50.0, color="#cdbf9f")), seed=2).array
    ink = clean.max(axis=2) < 40
    assert page[ink].max() < 60
    assert (page != clean).any(axis=2).mean() > 0.02
