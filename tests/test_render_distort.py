"""Distorted pages, end to end: a `distort` pipeline planned from the item's stream, its scene
steps drawn into the page, its raster steps applied to the pixels, every step recorded in the
sidecar, and the page read back through the recorded transform.

Reading back: the final image is warped back onto the clean page with the inverse of the
sidecar's `transform` (cv2.warpPerspective), then digitised with the clean-page lead geometry
(ecgspec.render.digitise). Each lead is compared with its source resampled as the pen draws it
(`pen_reference`, as in test_render_fidelity.py, which explains why: the ink in a pixel column
is the middle of the range the signal covers within ± half a pen width, not one instant).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from ecgspec.draw import stream
from ecgspec.ir import Distort, Layout, Paper, Uniform
from ecgspec.ir.distort import (
    AspectStep,
    BlurStep,
    ChartStep,
    CropStep,
    GridStep,
    HeaderStep,
    LabelsStep,
    NoiseStep,
    OneOfStep,
    PaddingStep,
    PerspectiveStep,
    ResolutionStep,
    RotateStep,
    ShiftStep,
    Step,
    TraceStep,
    WrinkleStep,
)
from ecgspec.program import load
from ecgspec.records import Record, read_wfdb
from ecgspec.render import render_page, write_outputs
from ecgspec.render.api import RenderResult, sidecar_json, spec_hash_of
from ecgspec.render.cli import SHIPPED_SPECS
from ecgspec.render.digitise import digitise
from ecgspec.render.distortions import map_points, plan
from ecgspec.render.scene import Segments, Text
from ecgspec.render.sidecar import Sidecar

from .test_render_fidelity import pen_reference

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
HR06000 = SAMPLES / "cinc2021" / "HR06000"
JS20003 = SAMPLES / "cinc2021" / "JS20003"  # tall QRS complexes that reach the next row
PTB = SAMPLES / "ptbdb" / "s0010_re"  # 1000 Hz
PTBXL = SAMPLES / "ptbxl" / "records100" / "00001_lr"  # 100 Hz


@lru_cache(maxsize=1)
def _program():
    program = load(SHIPPED_SPECS)
    assert program.ok, program.diagnostics
    return program


@cache
def record(path: Path = HR06000) -> Record:
    return read_wfdb(path)


def layout(name: str = "4x3") -> Layout:
    return _program().get("layout", name)  # type: ignore[return-value]


def paper(name: str = "standard") -> Paper:
    return _program().get("paper", name)  # type: ignore[return-value]


def preset(name: str) -> Distort:
    return _program().get("distort", name)  # type: ignore[return-value]


def pipeline(*steps: Step) -> Distort:
    return Distort(name="test", steps=steps)


def render(
    distort: Distort | None,
    path: Path = HR06000,
    seed: int = 0,
    lay: str = "4x3",
    pap: str = "standard",
    spec_hash: str = "tests",
) -> RenderResult:
    return render_page(record(path), layout(lay), paper(pap), distort=distort, seed=seed, spec_hash=spec_hash)


# ---- reading a distorted page back --------------------------------------------------------------


def _cv(matrix: np.ndarray) -> np.ndarray:
    """A matrix in continuous pixel coordinates (centres at +0.5) as OpenCV's (centres at 0)."""
    half = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    return np.linalg.inv(half) @ matrix @ half


def unwarp(image: np.ndarray, sidecar: Sidecar) -> np.ndarray:
    """The final image warped back onto the clean page through the inverse of `transform`."""
    inverse = np.linalg.inv(np.asarray(sidecar.transform))
    size = (sidecar.image.clean_width, sidecar.image.clean_height)
    return cv2.warpPerspective(
        image, _cv(inverse), size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255)
    )


def lead_scores(rec: Record, result: RenderResult) -> list[tuple[str, float, float, float]]:
    """(lead, Pearson r, median |error| mV, share of columns kept) per lead of a page, read from
    its image and its sidecar as written to JSON."""
    sidecar = Sidecar.model_validate_json(sidecar_json(result.sidecar))
    image = unwarp(result.array, sidecar)
    trace_width = next((d["params"]["width"] for d in sidecar.distortions if d["op"] == "trace"), paper().trace_width)
    pen_seconds = trace_width / sidecar.paper.speed_mm_s  # a scaled chart scales pen and speed alike
    out = []
    for trace in digitise(image, sidecar):
        keep = np.isfinite(trace.v) & ~trace.ambiguous
        x = rec.signals[trace.lead.name]
        drawn = pen_reference(x, rec.fs, trace.t, pen_seconds)[keep]
        v = trace.v[keep]
        r = float(np.corrcoef(v, drawn)[0, 1]) if keep.sum() > 2 and drawn.std() > 1e-6 else 0.0
        err = float(np.median(np.abs(v - drawn))) if keep.any() else np.inf
        name = trace.lead.name + (" (rhythm)" if trace.lead.rhythm else "")
        out.append((name, r, err, float(keep.mean())))
    return out


GEOMETRIC = [
    pytest.param((RotateStep(angle=4.5),), id="rotate-4.5"),
    pytest.param((RotateStep(angle=-5.0), CropStep(amount=0.04)), id="rotate-5-crop"),
    pytest.param((PerspectiveStep(strength=0.05),), id="perspective"),
    pytest.param(
        (PerspectiveStep(strength=0.04), RotateStep(angle=2.0), CropStep(amount=0.05), ResolutionStep(scale=0.8)),
        id="perspective-rotate-crop-resize",
    ),
    pytest.param(
        (ResolutionStep(scale=0.75), AspectStep(ratio=1.1), ShiftStep(x=12.5, y=-7.25)), id="resize-aspect-shift"
    ),
]


@pytest.mark.parametrize("steps", GEOMETRIC)
def test_a_geometrically_distorted_page_reads_back_through_the_inverse_of_its_transform(steps: tuple[Step, ...]):
    problems = []
    for path in (HR06000, PTB):
        result = render(pipeline(*steps), path)
        assert [d["op"] for d in result.sidecar.distortions] == [s.keyword for s in steps]
        assert not np.allclose(result.sidecar.transform, np.eye(3))
        for name, r, _, kept in lead_scores(record(path), result):
            if r < 0.95 or kept < 0.6:
                problems.append(f"{path.name} {name}: r={r:.3f}, {kept:.0%} of columns kept")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["mild", "scanned", "aged"])
def test_pages_of_the_legible_presets_read_back_on_every_lead(name: str):
    """Wrinkles, creases, stains, texture and noise never hide a trace: every lead of every page
    reads back with r >= 0.9 (measured over 10 records x 8 seeds, 1,040 leads a preset: worst
    0.992 mild, 0.967 scanned, 0.976 aged)."""
    spec_hash = spec_hash_of(_program(), "4x3", "standard", name)
    problems = []
    fired = set()
    for path in (HR06000, JS20003, PTB, PTBXL):
        for seed in (0, 1, 2):
            result = render(preset(name), path, seed, spec_hash=spec_hash)
            fired |= {d["op"] for d in result.sidecar.distortions}
            for lead, r, _, kept in lead_scores(record(path), result):
                if r < 0.9 or kept < 0.6:
                    problems.append(f"{name} {path.name} seed {seed} {lead}: r={r:.3f}, {kept:.0%} kept")
    assert not problems, "\n".join(problems)
    assert len(fired) >= 3  # the seeds exercise several of the preset's steps


# ---- determinism ----------------------------------------------------------------------------------


def _cli_render(out: Path, seed: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecgspec.render.cli",
            "render",
            str(HR06000),
            "--distort",
            "scanned",
            "--seed",
            str(seed),
            "-o",
            str(out),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": str(seed + 7)},
    )


def test_the_same_spec_record_and_seed_give_the_same_bytes_in_separate_processes(tmp_path: Path):
    runs = [_cli_render(tmp_path / "a.png", 3), _cli_render(tmp_path / "b.png", 3), _cli_render(tmp_path / "c.png", 4)]
    for proc in runs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    a, b, c = ((tmp_path / f"{n}.png").read_bytes() for n in "abc")
    assert a == b
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    # And in this process, through the Python API with the hash the command line uses.
    program = load(SHIPPED_SPECS)
    result = render_page(
        read_wfdb(HR06000),
        program.get("layout", "4x3"),
        program.get("paper", "standard"),
        distort=program.get("distort", "scanned"),
        seed=3,
        spec_hash=spec_hash_of(program, "4x3", "standard", "scanned"),
    )
    write_outputs(result, tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes() == a
    # Another seed is another page.
    assert c != a
    assert (
        json.loads((tmp_path / "c.json").read_text())["distortions"]
        != json.loads((tmp_path / "a.json").read_text())["distortions"]
    )


def test_the_spec_hash_follows_the_declarations_a_page_uses():
    program = _program()
    base = spec_hash_of(program, "4x3", "standard", "scanned")
    assert base == spec_hash_of(program, "4x3", "standard", "scanned")
    assert base != spec_hash_of(program, "4x3", "standard", "aged")
    assert base != spec_hash_of(program, "3x4", "standard", "scanned")
    assert base != spec_hash_of(program, "4x3", "muse", "scanned")
    assert spec_hash_of(program, "4x3", "standard") != base


# ---- the sidecar ---------------------------------------------------------------------------------


MIXED = pipeline(
    GridStep(mode="faint", amount=0.5, p=0.5),
    LabelsStep(mode="missing", amount=0.3, p=0.5),
    RotateStep(angle=Uniform(lo=-3, hi=3), p=0.7),
    OneOfStep(steps=(PaddingStep(amount=5.0), BlurStep(sigma=0.8)), p=0.8),
    WrinkleStep(strength=0.25, count=5, p=0.5),
    PerspectiveStep(strength=0.03, p=0.5),
    NoiseStep(sigma=3.0, p=0.6),
)


def test_the_sidecar_lists_exactly_the_steps_that_fired_with_their_drawn_values():
    seen: set[tuple[str, ...]] = set()
    for seed in range(6):
        result = render(MIXED, seed=seed, spec_hash="sidecar")
        expected = plan(MIXED, stream("sidecar", "HR06000", seed))
        records = result.sidecar.distortions
        assert [(d["op"], d["seed"]) for d in records] == [(s.op, s.seed) for s in expected.steps]
        for d, s in zip(records, expected.steps, strict=True):
            for key, value in d["params"].items():
                if s.params.get(key) is not None:  # None: a default the step resolved (fill: the paper)
                    assert value == s.params[key], (s.op, key)
        json.dumps(records)
        seen.add(tuple(d["op"] for d in records))
        assert result.sidecar.render.seed == seed and result.sidecar.render.distort == "test"  # type: ignore[attr-defined]
    assert len(seen) >= 4  # the seeds gave different sets of steps


def test_each_lead_quad_is_its_box_mapped_through_the_transform():
    result = render(pipeline(RotateStep(angle=3.0), PerspectiveStep(strength=0.04), ResolutionStep(scale=0.7)), PTB)
    transform = np.asarray(result.sidecar.transform)
    for lead in result.sidecar.leads:
        x0, y0, x1, y1 = lead.box
        np.testing.assert_allclose(
            lead.quad, map_points(transform, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), rtol=0, atol=1e-9
        )
    h, w = result.array.shape[:2]
    assert (result.sidecar.image.width, result.sidecar.image.height) == (w, h)
    assert (result.sidecar.image.clean_width, result.sidecar.image.clean_height) == (2200, 1700)


def test_warp_px_bounds_wrinkles_and_is_zero_without_them():
    assert render(pipeline(RotateStep(angle=2.0))).sidecar.warp_px == 0.0
    wrinkled = render(pipeline(WrinkleStep(strength=0.3, count=5), ResolutionStep(scale=0.5))).sidecar
    assert wrinkled.warp_px == pytest.approx(1.5 * 0.3**2 * 200 / 25.4 * 0.5, rel=1e-3)


def test_a_clean_page_has_an_identity_transform_and_no_steps():
    sidecar = render(None).sidecar
    assert sidecar.transform == ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    assert sidecar.distortions == [] and sidecar.warp_px == 0.0
    for lead in sidecar.leads:
        x0, y0, x1, y1 = lead.box
        assert lead.quad == ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


# ---- scene steps -----------------------------------------------------------------------------------


def test_grid_remove_leaves_no_grid_colour_on_the_page():
    clean = render(None).array
    assert (np.ptp(clean, axis=2) > 0).any()  # the pink grid
    page = render(pipeline(GridStep(mode="remove"))).array
    assert np.ptp(page, axis=2).max() == 0  # black ink and grey antialiasing on white: no colour at all
    assert page.min() == 0


def test_grid_faint_fades_the_grid_toward_the_paper_by_its_amount():
    result = render(pipeline(GridStep(mode="faint", amount=0.75)))
    params = result.sidecar.distortions[0]["params"]
    assert params["major_color"] == "#f7d9d9"  # #e06666 three quarters of the way to white
    colours = {i.role: i.colour for i in result.scene.items if isinstance(i, Segments) and i.role.startswith("grid")}
    assert colours == {"grid:minor": params["minor_color"], "grid:major": params["major_color"]}


def test_grid_jitter_changes_the_grid_colours_and_keeps_them_lighter_than_ink():
    for seed in range(8):
        params = render(pipeline(GridStep(mode="jitter", amount=1.0)), seed=seed).sidecar.distortions[0]["params"]
        for key, before in (("minor_color", "#f7c4c4"), ("major_color", "#e06666")):
            after = params[key]
            assert after != before
            assert max(int(after[i : i + 2], 16) for i in (1, 3, 5)) >= 170


def test_trace_width_and_colour_change_the_pen_and_the_boxes_hold_the_ink():
    result = render(pipeline(TraceStep(width=0.5, color="#1b2f6e")))
    page = result.array
    ink = (page[..., 2] > 100) & (page[..., 0] < 40)
    assert ink.sum() > 10000  # blue traces
    clean = render(None).sidecar.leads
    for a, b in zip(clean, result.sidecar.leads, strict=True):
        assert b.box[1] <= a.box[1] and b.box[3] >= a.box[3]  # a wider pen: boxes as tall or taller
    scores = lead_scores(record(), result)
    assert min(r for _, r, _, _ in scores) >= 0.97  # a pen twice as wide blurs QRS peaks: measured 0.979


def test_header_off_leaves_the_header_and_footer_areas_blank():
    def bands(result: RenderResult) -> tuple[np.ndarray, np.ndarray]:
        grid = np.concatenate([i.xy for i in result.scene.items if isinstance(i, Segments) and i.role == "grid:major"])
        k = result.scene.px_per_mm
        top, bottom = int(grid[:, [1, 3]].min() * k) - 2, int(np.ceil(grid[:, [1, 3]].max() * k)) + 2
        return result.array[:top], result.array[bottom:]

    shown = render(None, pap="muse")
    assert all((band < 255).any() for band in bands(shown))
    hidden = render(pipeline(HeaderStep(show="off")), pap="muse")
    assert all((band == 255).all() for band in bands(hidden))
    assert hidden.sidecar.render.header == [] and hidden.sidecar.render.footer == []  # type: ignore[attr-defined]
    assert [lead.box for lead in hidden.sidecar.leads] == [lead.box for lead in shown.sidecar.leads]


def test_padding_grows_the_page_by_twice_its_amount_and_moves_the_geometry():
    clean = render(None)
    padded = render(pipeline(PaddingStep(amount=7.0)))
    k = 200 / 25.4
    a = padded.sidecar.distortions[0]["params"]["px"]
    assert a == round(7.0 * k)
    h, w = clean.array.shape[:2]
    assert padded.array.shape[:2] == (h + 2 * a, w + 2 * a)
    assert abs((w + 2 * a) - (w + 2 * 7.0 * k)) <= 1
    assert (padded.sidecar.image.clean_width, padded.sidecar.image.clean_height) == (w + 2 * a, h + 2 * a)
    # The same pixels, moved (but for a few antialiased text edges: glyphs are placed at 1/256 px)
    assert (padded.array[a : a + h, a : a + w] != clean.array).any(axis=2).mean() < 1e-3
    assert (padded.array[:a] == 255).all() and (padded.array[:, -a:] == 255).all()
    for before, after in zip(clean.sidecar.leads, padded.sidecar.leads, strict=True):
        np.testing.assert_allclose(after.box, np.add(before.box, [a, a, a, a]), atol=1e-9)
        assert after.baseline_y == pytest.approx(before.baseline_y + a)
        assert (after.px_per_s, after.px_per_mV) == (before.px_per_s, before.px_per_mV)
    assert padded.sidecar.transform == clean.sidecar.transform  # a scene step, not part of the transform


@pytest.mark.parametrize("scale,dx,dy", [(0.85, 4.0, -3.0), (1.08, -2.0, 1.5)])
def test_a_scaled_and_shifted_chart_reads_back_exactly_through_its_sidecar(scale: float, dx: float, dy: float):
    clean = render(None, PTB)
    result = render(pipeline(ChartStep(scale=scale, shift_x=dx, shift_y=dy)), PTB)
    k = 200 / 25.4
    cx, cy = 1100.0, 850.0
    for before, after in zip(clean.sidecar.leads, result.sidecar.leads, strict=True):
        assert after.px_per_s == pytest.approx(before.px_per_s * scale)
        assert after.px_per_mV == pytest.approx(before.px_per_mV * scale)
        assert after.box[0] == pytest.approx(cx + scale * (before.box[0] - cx) + dx * k)
        assert after.baseline_y == pytest.approx(cy + scale * (before.baseline_y - cy) + dy * k)
    problems = [
        f"{name}: r={r:.4f}, median error {err:.4f} mV, {kept:.0%} kept"
        for name, r, err, kept in lead_scores(record(PTB), result)
        if r < 0.99 or err > 0.03 or kept < 0.9
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("mode", ["missing", "misplaced"])
def test_labels_steps_drop_or_move_the_drawn_share_of_labels(mode: str):
    def labels(result: RenderResult) -> list[Text]:
        return [i for i in result.scene.items if isinstance(i, Text) and i.role.startswith("label:")]

    before = labels(render(None))
    result = render(pipeline(LabelsStep(mode=mode, amount=0.5)), seed=5)
    after = labels(result)
    affected = result.sidecar.distortions[0]["params"]["labels"]
    assert len(affected) == round(0.5 * len(before))
    moved = {(a.text, a.x, a.y) for a in before} - {(b.text, b.x, b.y) for b in after}
    assert sorted(t for t, _, _ in moved) == sorted(d["lead"] for d in affected)
    if mode == "missing":
        assert len(after) == len(before) - len(affected)
    else:
        assert len(after) == len(before)
    other = render(pipeline(LabelsStep(mode=mode, amount=0.5)), seed=6).sidecar.distortions[0]["params"]["labels"]
    assert other != affected  # which labels: drawn from the step's seed


def test_a_one_of_group_may_pick_a_scene_step_which_is_drawn_into_the_page():
    group = pipeline(RotateStep(angle=1.0), OneOfStep(steps=(PaddingStep(amount=4.0), BlurStep(sigma=1.0))))
    picks = {}
    for seed in range(12):
        result = render(group, seed=seed, lay="3x4")
        ops = [d["op"] for d in result.sidecar.distortions]
        picks[ops[1]] = result
        assert ops[0] == "rotate"
    padded = picks["padding"]
    # The padding was drawn before the rotation, whatever the order written: the page grew.
    assert padded.array.shape[1] == 2200 + 2 * round(4.0 * 200 / 25.4)
    assert picks["blur"].array.shape[1] == 2200


def test_a_page_is_remade_from_its_sidecars_records_alone():
    from ecgspec.render.distortions import Plan

    for name, seed in (("scanned", 1), ("aged", 2), ("fax", 0), ("photo", 3)):
        result = render(preset(name), PTBXL, seed, spec_hash=spec_hash_of(_program(), "4x3", "standard", name))
        sidecar = Sidecar.model_validate_json(sidecar_json(result.sidecar))
        again = render_page(record(PTBXL), layout(), paper(), replay=Plan.from_records(sidecar.distortions))
        np.testing.assert_array_equal(again.array, result.array)
        assert again.sidecar.distortions == sidecar.distortions
