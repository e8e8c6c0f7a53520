"""The distortion engine: planning a `distort` pipeline, and what each raster step does to a page.

Pages here are synthetic (a white page with a pink grid, black polylines and dark dots at known
places): these tests pin the steps' effects, exactness and determinism, not the look of a render.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import pytest

from ecgspec.draw import stream
from ecgspec.ir import STEPS, Choice, Distort, Span, Uniform
from ecgspec.ir.distort import (
    AspectStep,
    BlurStep,
    ContrastStep,
    CreaseStep,
    CropStep,
    CrumpleStep,
    DefocusStep,
    GridStep,
    HandwritingStep,
    JpegStep,
    LightingStep,
    MarkerStep,
    NoiseStep,
    OneOfStep,
    PaddingStep,
    PerspectiveStep,
    QrStep,
    ResolutionStep,
    RotateStep,
    ShadowStep,
    ShiftStep,
    StainStep,
    StampStep,
    Step,
    TextureStep,
    ThresholdStep,
    TintStep,
    WrinkleStep,
    YellowStep,
)
from ecgspec.program import load
from ecgspec.render.distortions import RASTER, SCENE_OPS, Applied, Plan, apply_raster, map_points, plan
from ecgspec.render.distortions.draw import draw_params
from ecgspec.render.distortions.sensor import disc_kernel

from .helpers import REPO

WHITE = (255, 255, 255)
PX_PER_MM = 200 / 25.4


# ---- pages and helpers ------------------------------------------------------------------------------


def grid_page(width: int = 800, height: int = 600, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """A page like a render: paper, a pink grid every 8 px (darker every 40), black polylines."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = background
    for x in range(0, width, 8):
        img[:, x] = (224, 102, 102) if x % 40 == 0 else (247, 196, 196)
    for y in range(0, height, 8):
        img[y, :] = (224, 102, 102) if y % 40 == 0 else (247, 196, 196)
    for row in range(3):
        y = 120 + 180 * row
        xs = np.arange(40, width - 40, 4)
        ys = y + 25 * np.sin(xs / 23.0 + row) * (np.abs(np.sin(xs / 90.0)) > 0.6)
        cv2.polylines(img, [np.c_[xs, ys].astype(np.int32)], False, (0, 0, 0), 3)
    return img


def line_page(thickness: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A white page with thick black lines (horizontal, vertical, diagonal) and the mask of the
    lines' core pixels: those that stay inside the line under a shift of up to thickness/2 - 1."""
    img = grid_page()
    img[:] = np.where(img.sum(axis=2, keepdims=True) == 0, 255, img)  # keep the grid, drop the polylines
    core = np.zeros(img.shape[:2], np.uint8)
    segments = [((60, 150), (740, 150)), ((400, 60), (400, 540)), ((80, 520), (720, 260))]
    for a, b in segments:
        cv2.line(img, a, b, (0, 0, 0), thickness)
        cv2.line(core, a, b, 1, 1)
    return img, core.astype(bool)


DOTS = np.array([[200.5, 150.5], [600.5, 150.5], [400.5, 300.5], [200.5, 450.5], [600.5, 450.5], [300.5, 220.5]])


def dot_page(width: int = 800, height: int = 600) -> np.ndarray:
    """White page with a dark disc (radius 4) centred on each point of DOTS (continuous coordinates)."""
    img = np.full((height, width, 3), 255, np.uint8)
    for x, y in DOTS:
        cv2.circle(img, (int(x - 0.5), int(y - 0.5)), 4, (0, 0, 0), -1)
    return img


def find_dots(img: np.ndarray, dark: int = 200) -> np.ndarray:
    """Darkness-weighted centroids of the blobs darker than `dark`, in continuous coordinates."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64)
    n, labels = cv2.connectedComponents((grey < dark).astype(np.uint8))
    labels = np.asarray(labels)
    weight = 255.0 - grey
    out = []
    for k in range(1, n):
        rows, cols = np.nonzero(labels == k)
        w = weight[rows, cols]
        out.append([(cols + 0.5) @ w / w.sum(), (rows + 0.5) @ w / w.sum()])
    return np.array(out)


def assert_dots_follow(result_img: np.ndarray, transform: np.ndarray, tolerance: float = 1.0) -> None:
    found = find_dots(result_img)
    expected = map_points(transform, DOTS)
    assert len(found) == len(expected)
    for p in expected:
        assert np.min(np.hypot(*(found - p).T)) <= tolerance, (p, found)


def applied(step: Step, seed: int = 7) -> Applied:
    """A step as the planner would hand it over (its parameters drawn with a fixed stream)."""
    return Applied(op=step.keyword, stage=step.stage, params=draw_params(step, np.random.default_rng(seed)), seed=seed)


def run(img: np.ndarray, *steps: Step, px_per_mm: float = PX_PER_MM, background: tuple[int, int, int] = WHITE):
    return apply_raster(
        img.copy(), [applied(s, seed=11 + i) for i, s in enumerate(steps)], px_per_mm=px_per_mm, background=background
    )


@contextmanager
def cv_threads(n: int) -> Iterator[None]:
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


# One representative instance of every raster step the language has.
EVERY_RASTER_STEP: list[Step] = [
    RotateStep(angle=4.0),
    PerspectiveStep(strength=0.06),
    CropStep(amount=0.1),
    ShiftStep(x=5.5, y=-3.0),
    ResolutionStep(scale=0.7),
    AspectStep(ratio=1.2),
    WrinkleStep(strength=0.6),
    CreaseStep(count=2, depth=0.7),
    TintStep(color="#f3e7c6", amount=0.3),
    YellowStep(amount=0.5),
    TextureStep(strength=0.4),
    StainStep(count=3, size=20.0),
    ShadowStep(strength=0.4),
    LightingStep(strength=0.4),
    NoiseStep(kind="gaussian", sigma=6.0),
    NoiseStep(kind="speckle", sigma=8.0),
    NoiseStep(kind="salt_pepper", amount=0.01),
    BlurStep(sigma=1.2),
    DefocusStep(radius=2.5),
    JpegStep(quality=60),
    ContrastStep(amount=1.8),
    ThresholdStep(level=0.5),
    CrumpleStep(strength=0.5, creases=30, displace=0.1),
    HandwritingStep(text="Seen"),
    StampStep(text="COPY"),
    QrStep(text="ECG"),
    MarkerStep(shape="circle"),
]


# ---- the registry --------------------------------------------------------------------------------


def test_every_raster_step_of_the_language_has_an_implementation() -> None:
    raster_keywords = {k for k, s in STEPS.items() if s.stage == "raster" and s is not OneOfStep}
    assert raster_keywords <= set(RASTER), raster_keywords - set(RASTER)
    assert {type(s).keyword for s in EVERY_RASTER_STEP} == raster_keywords
    assert SCENE_OPS == {"grid", "trace", "labels", "header", "padding", "chart"}


# ---- planning -------------------------------------------------------------------------------------


def test_p_zero_never_fires_and_p_one_always_fires() -> None:
    pipeline = Distort(name="d", steps=(RotateStep(angle=1.0, p=0.0), BlurStep(sigma=1.0, p=1.0)))
    for i in range(50):
        assert [s.op for s in plan(pipeline, stream("h", i)).steps] == ["blur"]


def test_a_step_fires_about_as_often_as_its_p() -> None:
    pipeline = Distort(name="d", steps=(RotateStep(angle=1.0, p=0.3),))
    n = sum(bool(plan(pipeline, stream("h", i)).steps) for i in range(2000))
    assert 0.26 < n / 2000 < 0.34


def test_one_of_picks_exactly_one_child_by_the_childrens_p_as_weights() -> None:
    group = OneOfStep(steps=(BlurStep(sigma=1.0, p=0.8), DefocusStep(radius=2.0, p=0.2), JpegStep(quality=50, p=0.0)))
    pipeline = Distort(name="d", steps=(group,))
    ops = []
    for i in range(2000):
        steps = plan(pipeline, stream("h", i)).steps
        assert len(steps) == 1
        ops.append(steps[0].op)
    assert "jpeg" not in ops
    assert 0.76 < ops.count("blur") / len(ops) < 0.84


def test_a_one_of_whose_children_all_have_p_zero_runs_nothing() -> None:
    pipeline = Distort(name="d", steps=(OneOfStep(steps=(BlurStep(sigma=1.0, p=0.0),)),))
    assert plan(pipeline, stream("h", 0)).steps == ()


def test_plans_hold_the_drawn_values_and_the_records_hold_what_was_applied() -> None:
    pipeline = Distort(
        name="d",
        steps=(
            RotateStep(angle=Uniform(lo=-3, hi=3)),
            NoiseStep(kind="gaussian", sigma=Choice(options=(2.0, 9.0), weights=(0.5, 0.5))),
            CreaseStep(count=Span(lo=1, hi=3, integer=True), depth=Uniform(lo=0.2, hi=0.4)),
            JpegStep(quality=Uniform(lo=40, hi=90)),  # a whole-number setting drawn from a continuous range
        ),
    )
    for i in range(20):
        p = plan(pipeline, stream("h", i))
        rotate, noise, crease, jpeg = p.steps
        assert -3 <= rotate.params["angle"] <= 3
        assert noise.params["sigma"] in (2.0, 9.0) and noise.params["kind"] == "gaussian"
        assert crease.params["count"] in (1, 2, 3) and 0.2 <= crease.params["depth"] <= 0.4
        assert isinstance(jpeg.params["quality"], int) and 40 <= jpeg.params["quality"] <= 90
        json.dumps(p.to_json())
        result = apply_raster(grid_page(200, 150), p.raster, px_per_mm=2.0, background=WHITE)
        assert [r["op"] for r in result.records] == ["rotate", "noise", "crease", "jpeg"]
        assert result.records[0]["params"]["angle"] == rotate.params["angle"]
        assert result.records[1]["params"] == {"kind": "gaussian", "sigma": noise.params["sigma"]}
        assert result.records[2]["params"]["count"] == crease.params["count"]
        assert len(result.records[2]["params"]["folds"]) == crease.params["count"]
        assert result.records[3]["params"]["quality"] == jpeg.params["quality"]
        assert [r["seed"] for r in result.records] == [s.seed for s in p.steps]


def test_the_same_stream_gives_the_same_plan_and_the_plan_survives_json() -> None:
    pipeline = Distort(
        name="d", steps=(RotateStep(angle=Uniform(lo=-3, hi=3), p=0.5), StainStep(count=Span(lo=1, hi=4, integer=True)))
    )
    a, b = plan(pipeline, stream("h", "rec", 1)), plan(pipeline, stream("h", "rec", 1))
    assert a == b
    assert Plan.from_json(json.loads(json.dumps(a.to_json()))) == a
    assert plan(pipeline, stream("h", "rec", 2)) != a


def test_planning_takes_two_draws_per_step_whatever_fires() -> None:
    steps = (
        RotateStep(angle=Uniform(lo=-3, hi=3), p=0.5),
        OneOfStep(steps=(BlurStep(sigma=Uniform(lo=1, hi=2)),), p=0.5),
        NoiseStep(sigma=Uniform(lo=1, hi=9), p=0.5),
    )
    for i in range(20):
        rng, ref = stream("h", i), stream("h", i)
        plan(Distort(name="d", steps=steps), rng)
        ref.random(2 * len(steps))
        assert rng.random() == ref.random()


def test_editing_one_step_leaves_the_draws_of_the_others_unchanged() -> None:
    before = (
        RotateStep(angle=Uniform(lo=-3, hi=3), p=0.5),
        BlurStep(sigma=Uniform(lo=1, hi=2), p=0.3),
        NoiseStep(sigma=Uniform(lo=1, hi=9)),
    )
    after = (
        RotateStep(angle=Uniform(lo=-3, hi=3), p=0.5),
        BlurStep(sigma=_another_distribution(), p=1.0),
        NoiseStep(sigma=Uniform(lo=1, hi=9)),
    )
    for i in range(30):
        a = {s.op: s for s in plan(Distort(name="d", steps=before), stream("h", i)).steps}
        b = {s.op: s for s in plan(Distort(name="d", steps=after), stream("h", i)).steps}
        assert a.get("rotate") == b.get("rotate")
        assert a["noise"] == b["noise"]
        assert "blur" in b


def _another_distribution() -> Choice:
    """Takes a different number of draws than the uniform it replaces."""
    return Choice(options=(0.5, 1.0, 1.5), weights=(0.2, 0.3, 0.5))


def test_scene_steps_are_planned_apart_and_apply_raster_refuses_them() -> None:
    pipeline = Distort(name="d", steps=(GridStep(mode="faint", amount=Uniform(lo=0.2, hi=0.6)), BlurStep(sigma=1.0)))
    p = plan(pipeline, stream("h", 0))
    assert [s.op for s in p.scene] == ["grid"] and [s.op for s in p.raster] == ["blur"]
    assert 0.2 <= p.scene[0].params["amount"] <= 0.6 and p.scene[0].params["mode"] == "faint"
    with pytest.raises(ValueError, match="scene step"):
        apply_raster(grid_page(100, 80), p.steps, px_per_mm=2.0, background=WHITE)


# ---- determinism ------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", EVERY_RASTER_STEP, ids=lambda s: f"{s.keyword}-{getattr(s, 'kind', '')}".strip("-"))
def test_every_raster_step_is_deterministic_whatever_the_thread_count(step: Step) -> None:
    page = grid_page()
    outputs = []
    for threads in (1, 4, 1):
        with cv_threads(threads):
            r = run(page, step)
        outputs.append((r.img.tobytes(), r.img.shape, r.transform.tobytes(), json.dumps(r.records)))
    assert outputs[0] == outputs[1] == outputs[2]
    json.dumps(r.records)  # JSON-able
    assert r.img.dtype == np.uint8 and r.img.ndim == 3 and r.img.flags["C_CONTIGUOUS"]


_REPLAY = """
import hashlib, json, sys
import cv2, numpy as np
from ecgspec.render.distortions import Plan, apply_raster
from tests.test_distortions import grid_page
cv2.setNumThreads(int(sys.argv[1]))
plan = Plan.from_json(json.loads(sys.stdin.read()))
r = apply_raster(grid_page(), plan.raster, px_per_mm=7.87, background=(255, 255, 255))
print(hashlib.sha256(r.img.tobytes()).hexdigest(), r.img.shape)
"""


def test_a_plan_replays_to_the_same_bytes_in_another_process() -> None:
    import subprocess
    import sys

    p = Plan(tuple(applied(s, seed=40 + i) for i, s in enumerate(EVERY_RASTER_STEP)))
    outputs = {
        subprocess.run(
            [sys.executable, "-c", _REPLAY, str(threads)],
            input=json.dumps(p.to_json()),
            text=True,
            capture_output=True,
            check=True,
            cwd=REPO,
        ).stdout
        for threads in (1, 3)
    }
    assert len(outputs) == 1


def test_another_seed_gives_other_noise() -> None:
    page = grid_page()
    step = NoiseStep(kind="gaussian", sigma=5.0)
    a = apply_raster(page.copy(), [applied(step, 1)], px_per_mm=PX_PER_MM, background=WHITE)
    b = apply_raster(page.copy(), [applied(step, 2)], px_per_mm=PX_PER_MM, background=WHITE)
    assert not np.array_equal(a.img, b.img)


# ---- geometry: points go where the transform says --------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        RotateStep(angle=7.0),
        RotateStep(angle=-2.5),
        PerspectiveStep(strength=0.08),
        CropStep(amount=0.15),
        ShiftStep(x=12.0, y=-7.0),
        ShiftStep(x=3.4, y=2.6),
        ResolutionStep(scale=0.63),
        ResolutionStep(scale=1.37),
        AspectStep(ratio=0.8),
        AspectStep(ratio=1.25),
    ],
    ids=lambda s: f"{s.keyword}",
)
def test_a_geometric_step_moves_marked_points_where_its_transform_says(step: Step) -> None:
    r = run(dot_page(), step)
    assert_dots_follow(r.img, r.transform)
    assert r.max_warp_px == 0.0


def test_rotation_keeps_the_size_and_fills_the_corners_with_the_paper_colour() -> None:
    paper = (250, 240, 230)
    page = grid_page(background=paper)
    r = run(page, RotateStep(angle=10.0), background=paper)
    assert r.img.shape == page.shape
    assert tuple(r.img[0, 0]) == paper and tuple(r.img[-1, -1]) == paper
    assert r.records[0]["params"]["fill"] == "#faf0e6"
    # counter-clockwise as seen: the top-right corner moves up and left
    x, y = map_points(r.transform, [[800.0, 0.0]])[0]
    assert x < 800 and y < 0


def test_crop_records_its_box_and_the_final_size() -> None:
    r = run(grid_page(), CropStep(amount=0.2))
    x0, y0, x1, y1 = r.records[0]["params"]["box"]
    assert r.img.shape[:2] == (y1 - y0, x1 - x0)
    assert r.records[0]["params"]["size"] == [x1 - x0, y1 - y0]
    assert np.array_equal(r.img, grid_page()[y0:y1, x0:x1])


def test_perspective_records_the_corners_its_homography_maps_to() -> None:
    r = run(grid_page(), PerspectiveStep(strength=0.1))
    corners = map_points(r.transform, [[0, 0], [800, 0], [800, 600], [0, 600]])
    assert np.allclose(corners, r.records[0]["params"]["corners"], atol=1e-3)
    offsets = np.array(r.records[0]["params"]["offsets"])
    assert (offsets >= 0).all() and (offsets <= [80, 60]).all()


def test_resolution_and_aspect_record_the_final_size() -> None:
    r = run(grid_page(), ResolutionStep(scale=0.5), AspectStep(ratio=1.5))
    assert r.img.shape[:2] == (300, 600)
    assert r.records[0]["params"]["size"] == [400, 300] and r.records[1]["params"]["size"] == [600, 300]


def test_a_composed_pipeline_transform_is_the_product_of_its_steps_transforms() -> None:
    steps = [
        RotateStep(angle=3.0),
        CropStep(amount=0.08),
        ResolutionStep(scale=0.8),
        PerspectiveStep(strength=0.05),
        AspectStep(ratio=1.1),
        ShiftStep(x=4.0, y=-6.0),
    ]
    plans = [applied(s, seed=20 + i) for i, s in enumerate(steps)]
    whole = apply_raster(dot_page(), plans, px_per_mm=PX_PER_MM, background=WHITE)
    img, product = dot_page(), np.eye(3)
    for a in plans:
        one = apply_raster(img, [a], px_per_mm=PX_PER_MM, background=WHITE)
        img, product = one.img, one.transform @ product
    assert np.allclose(whole.transform, product, rtol=1e-9, atol=1e-9)
    assert np.array_equal(whole.img, img)
    assert_dots_follow(whole.img, whole.transform, tolerance=1.5)


# ---- paper ---------------------------------------------------------------------------------------


def test_tint_moves_a_white_background_toward_the_colour_by_the_amount() -> None:
    colour, amount = np.array([0xF3, 0xE7, 0xC6]), 0.35
    r = run(grid_page(), TintStep(color="#f3e7c6", amount=amount))
    expected = 255 + amount * (colour - 255)
    assert np.abs(r.img[4, 4].astype(float) - expected).max() <= 2  # (4, 4) is between grid lines
    assert r.records[0]["params"]["background"] == "#" + "".join(f"{round(v):02x}" for v in expected)


def test_tint_moves_any_paper_colour_toward_the_colour_by_the_amount() -> None:
    paper = (255, 245, 245)
    r = run(grid_page(background=paper), TintStep(color="#808080", amount=0.5), background=paper)
    assert np.abs(r.img[4, 4].astype(float) - (np.array(paper) + 128) / 2).max() <= 2


def test_wrinkle_displacement_stays_within_its_recorded_bound() -> None:
    r = run(dot_page(), WrinkleStep(strength=1.0, count=5))
    bound = r.max_warp_px
    assert bound == pytest.approx(1.5 * PX_PER_MM, rel=1e-6)
    assert r.records[0]["params"]["max_displacement_px"] == pytest.approx(bound, abs=1e-3)
    found = find_dots(r.img)
    moved = [np.min(np.hypot(*(found - p).T)) for p in DOTS]
    assert max(moved) <= bound + 0.5
    assert max(moved) > 0.5  # it did move them


def test_a_later_rescale_scales_the_warp_bound() -> None:
    alone = run(dot_page(), WrinkleStep(strength=0.8))
    halved = run(dot_page(), WrinkleStep(strength=0.8), ResolutionStep(scale=0.5))
    assert halved.max_warp_px == pytest.approx(alone.max_warp_px * 0.5)


def test_crease_records_its_folds_and_bounds_their_displacement() -> None:
    r = run(dot_page(), CreaseStep(count=3, depth=1.0))
    params = r.records[0]["params"]
    assert len(params["folds"]) == 3
    assert r.max_warp_px == pytest.approx(3 * 0.25 * PX_PER_MM)
    found = find_dots(r.img, dark=100)  # the folds' valleys are darker than 200
    assert max(np.min(np.hypot(*(found - p).T)) for p in DOTS) <= r.max_warp_px + 0.5


def test_crease_draws_a_shaded_line_across_the_page() -> None:
    page = np.full((600, 800, 3), 255, np.uint8)
    r = run(page, CreaseStep(count=1, depth=1.0))
    grey = r.img.min(axis=2)
    assert grey.min() < 200  # the fold's valley
    assert (grey < 250).mean() < 0.2  # a band, not a page


@pytest.mark.parametrize(
    "step",
    [
        WrinkleStep(strength=1.0, count=8),
        CreaseStep(count=3, depth=1.0),
        StainStep(count=12, size=60.0),
        TintStep(color="#c8a060", amount=1.0),
        YellowStep(amount=1.0),
        TextureStep(strength=1.0),
        ShadowStep(strength=0.5),
        LightingStep(strength=0.5),
    ],
    ids=lambda s: s.keyword,
)
def test_traces_stay_dark_under_paper_effects(step: Step) -> None:
    img, core = line_page(thickness=7)
    # At 1.5 px/mm a strength-1 wrinkle moves the page by 2.25 px at most and a depth-1 crease
    # by 0.4 px: the lines' centres stay inside the 7 px lines.
    r = run(img, step, px_per_mm=1.5)
    assert r.max_warp_px < 2.5
    assert r.img[core].max() < 60
    assert not np.array_equal(r.img, img)


def test_yellow_yellows_the_paper_more_at_the_edges() -> None:
    r = run(np.full((600, 800, 3), 255, np.uint8), YellowStep(amount=0.6))
    centre, edge = r.img[300, 400].astype(int), r.img[3, 3].astype(int)
    assert centre[2] < 240 and centre[2] < centre[0] - 10  # blue drops most: yellow
    assert edge[2] < centre[2] - 10
    bg = r.records[0]["params"]["background"]
    assert abs(int(bg[5:7], 16) - centre[2]) <= 12


def test_texture_is_a_faint_noise_about_the_paper_colour() -> None:
    page = np.full((600, 800, 3), 230, np.uint8)
    r = run(page, TextureStep(strength=0.2))
    grey = r.img[..., 0].astype(float)
    assert abs(grey.mean() - 230) < 1.0
    assert 0.5 < grey.std() < 0.02 * 230 * 1.5


def test_stains_are_brown_translucent_blobs_of_about_their_size() -> None:
    page = np.full((600, 800, 3), 255, np.uint8)
    r = run(page, StainStep(count=1, size=30.0), px_per_mm=4.0)
    stained = r.img.min(axis=2) < 250
    [stain] = r.records[0]["params"]["stains"]
    assert 0.75 * 60 <= stain["radius_px"] <= 1.25 * 60
    cx, cy = stain["centre"]
    ys, xs = np.nonzero(stained)
    assert ys.size > 0 and np.hypot(xs + 0.5 - cx, ys + 0.5 - cy).max() <= 1.6 * stain["radius_px"] + 1
    pixels = r.img[stained].astype(int)
    assert (pixels[:, 2] <= pixels[:, 0]).all()  # brown: blue absorbed most
    assert r.img.min() > 60  # translucent


def test_shadow_darkens_part_of_the_page_by_at_most_its_strength() -> None:
    r = run(np.full((600, 800, 3), 255, np.uint8), ShadowStep(strength=0.4))
    grey = r.img[..., 1].astype(float)
    assert grey.min() >= 255 * 0.6 - 2
    assert (grey < 250).mean() > 0.05 and (grey > 250).mean() > 0.2


def test_lighting_is_a_gradient_across_the_page() -> None:
    r = run(np.full((600, 800, 3), 200, np.uint8), LightingStep(strength=0.5))
    grey = r.img[..., 1].astype(float)
    assert grey.min() >= 200 * (1 - 0.5 * 0.95) - 2 and grey.max() <= 200 * 1.05 + 1
    assert grey.max() - grey.min() > 40
    # smooth: neighbouring pixels differ by a level or so
    assert np.abs(np.diff(grey, axis=1)).max() <= 2


# ---- sensor -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [3.0, 8.0])
def test_gaussian_noise_has_the_drawn_sigma(sigma: float) -> None:
    page = np.full((400, 500, 3), 128, np.uint8)
    r = run(page, NoiseStep(kind="gaussian", sigma=sigma))
    diff = r.img.astype(float) - 128
    assert diff.std() == pytest.approx(sigma, rel=0.05)
    assert abs(diff.mean()) < 0.1
    assert r.records[0]["params"] == {"kind": "gaussian", "sigma": sigma}


def test_speckle_scales_with_brightness() -> None:
    page = np.full((400, 500, 3), 200, np.uint8)
    page[:, :250] = 20
    r = run(page, NoiseStep(kind="speckle", sigma=10.0))
    bright = r.img[:, 250:].astype(float) - 200
    dark = r.img[:, :250].astype(float) - 20
    assert bright.std() == pytest.approx(10 * 200 / 255, rel=0.08)
    assert dark.std() < 1.5


def test_salt_and_pepper_hits_the_drawn_share_of_pixels() -> None:
    page = np.full((400, 500, 3), 128, np.uint8)
    r = run(page, NoiseStep(kind="salt_pepper", amount=0.02))
    hit = (r.img != 128).any(axis=2)
    assert hit.mean() == pytest.approx(0.02, abs=1e-4)
    assert set(np.unique(r.img[hit])) <= {0, 255}
    assert r.records[0]["params"]["pixels"] == int(hit.sum())


def _high_frequency_energy(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


@pytest.mark.parametrize("step", [BlurStep(sigma=1.5), DefocusStep(radius=2.5)], ids=lambda s: s.keyword)
def test_blur_and_defocus_lower_high_frequency_energy_and_keep_the_mean(step: Step) -> None:
    page = grid_page()
    r = run(page, step)
    assert _high_frequency_energy(r.img) < 0.5 * _high_frequency_energy(page)
    assert abs(r.img.mean() - page.mean()) < 0.5


def test_a_defocus_kernel_is_a_normalised_disc() -> None:
    k = disc_kernel(3.0)
    assert k.shape == (7, 7) and k.sum() == pytest.approx(1.0)
    assert k[3, 3] == pytest.approx(k[3, 1]) and k[0, 0] == 0.0
    assert disc_kernel(0.3).shape == (3, 3) and disc_kernel(0.0).shape == (1, 1)


def test_jpeg_changes_the_bytes_but_keeps_the_mean() -> None:
    # Paper below white: on a saturated page JPEG's ringing is clipped at 255 and the mean drops.
    page = grid_page(background=(235, 235, 235))
    r = run(page, JpegStep(quality=40))
    assert not np.array_equal(r.img, page)
    assert np.abs(r.img.mean(axis=(0, 1)) - page.mean(axis=(0, 1))).max() < 1.5
    assert r.records[0]["params"]["quality"] == 40 and r.records[0]["params"]["bytes"] > 0


def test_threshold_makes_the_page_black_and_white_and_keeps_the_ink() -> None:
    page = grid_page()
    r = run(page, ContrastStep(amount=2.0), ThresholdStep(level=0.5))
    assert set(np.unique(r.img)) == {0, 255}
    assert (r.img[page.sum(axis=2) == 0] == 0).all()
    assert r.records[1]["params"] == {"level": 0.5}


def test_threshold_level_decides_which_grey_becomes_ink() -> None:
    page = np.full((10, 30, 3), 255, np.uint8)
    page[:, :10], page[:, 10:20] = 100, 160  # luminance 0.39 and 0.63 of white
    assert (run(page, ThresholdStep(level=0.5)).img[0, [5, 15, 25], 0] == [0, 255, 255]).all()
    assert (run(page, ThresholdStep(level=0.7)).img[0, [5, 15, 25], 0] == [0, 0, 255]).all()


def test_contrast_stretches_levels_about_mid_grey_and_one_leaves_them() -> None:
    page = np.full((10, 10, 3), 100, np.uint8)
    assert (run(page, ContrastStep(amount=1.0)).img == 100).all()
    assert (run(page, ContrastStep(amount=2.0)).img == 72).all()  # 127.5 + 2 · (100 - 127.5)


@pytest.mark.parametrize(
    "step",
    [
        RotateStep(angle=8.0, fill="#3a2f28"),
        PerspectiveStep(strength=0.08, fill="#3a2f28"),
        ShiftStep(x=30.0, y=20.0, fill="#3a2f28"),
        ShiftStep(x=30.5, y=20.0, fill="#3a2f28"),
    ],
    ids=lambda s: f"{s.keyword}",
)
def test_fill_colours_what_the_page_no_longer_covers(step: Step) -> None:
    paper = (250, 245, 240)
    r = run(grid_page(background=paper), step, background=paper)
    assert tuple(r.img[0, 0]) == (0x3A, 0x2F, 0x28)
    assert r.records[0]["params"]["fill"] == "#3a2f28"
    assert (
        tuple(run(grid_page(background=paper), step.model_copy(update={"fill": None}), background=paper).img[0, 0])
        == paper
    )


def test_an_unset_fill_leaves_a_pipelines_content_hash_as_it_was() -> None:
    """`fill` came after the other parameters; pipelines that do not set it keep their hashes
    (and so every draw of their items)."""
    assert "fill" not in RotateStep(angle=3.0).model_dump()
    assert RotateStep(angle=3.0).content_hash() != RotateStep(angle=3.0, fill="#000000").content_hash()
    assert draw_params(RotateStep(angle=3.0), np.random.default_rng(0)) == {"angle": 3.0, "fill": None}


def test_the_language_has_threshold_contrast_and_fill(tmp_path) -> None:
    from .helpers import check_text, messages

    program = check_text(
        tmp_path,
        "distort d {\n    contrast 1.4\n    threshold 60%\n    threshold\n"
        "    rotate 3 deg fill #404040 p = 0.5\n    perspective 4% fill = #222\n"
        "    shift x 4 px fill #111111\n}\n",
    )
    assert program.ok, messages(program)
    contrast, threshold, default, rotate, perspective, shift = program.get("distort", "d").steps
    assert contrast.amount == 1.4 and threshold.level == 0.6 and default.level == 0.55
    assert (rotate.fill, perspective.fill, shift.fill) == ("#404040", "#222222", "#111111")


def test_a_one_of_group_may_hold_scene_and_raster_steps_and_the_pick_decides_the_stage() -> None:
    group = OneOfStep(steps=(PaddingStep(amount=5.0), BlurStep(sigma=1.0)))
    stages = set()
    for i in range(40):
        p = plan(Distort(name="d", steps=(group, RotateStep(angle=1.0))), stream("h", i))
        assert len(p.steps) == 2
        stages.add(p.steps[0].stage)
        assert [s.op for s in p.scene] in (["padding"], []) and p.raster[-1].op == "rotate"
    assert stages == {"scene", "raster"}


# ---- presets -------------------------------------------------------------------------------------


PRESETS = ("mild", "scanned", "photo", "aged", "fax", "heavy")


@pytest.fixture(scope="module")
def presets() -> dict[str, Distort]:
    program = load(REPO / "specs" / "distortions.ecg", root=REPO / "specs")
    assert program.ok, program.diagnostics
    return {name: program.get("distort", name) for name in PRESETS}  # type: ignore[misc]


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_plans_and_applies_on_a_letter_page(presets: dict[str, Distort], name: str) -> None:
    page = grid_page(1100, 850)
    for i in range(4):
        p = plan(presets[name], stream("presets", name, i))
        assert {s.op for s in p.scene} <= SCENE_OPS
        r = apply_raster(page.copy(), p.raster, px_per_mm=100 / 25.4, background=WHITE)
        assert r.img.dtype == np.uint8 and r.img.shape[2] == 3 and min(r.img.shape[:2]) > 300
        assert [x["op"] for x in r.records] == [s.op for s in p.raster]
        json.dumps(r.records)
        assert np.isfinite(r.transform).all() and r.max_warp_px >= 0


def test_the_legible_presets_bound_what_blurs_and_moves_traces(presets: dict[str, Distort]) -> None:
    """mild, scanned and aged are digitised by later tests: rotation ≤ 3°, wrinkles ≤ 0.3
    (≤ 0.14 mm), blur ≤ 1 px; the worst plan of many stays within that."""
    for name in ("mild", "scanned", "aged"):
        for i in range(200):
            for s in plan(presets[name], stream("bounds", name, i)).steps:
                if s.op == "rotate":
                    assert abs(s.params["angle"]) <= 3
                if s.op == "wrinkle":
                    assert s.params["strength"] <= 0.3
                if s.op == "crease":
                    assert s.params["depth"] <= 0.7
                if s.op == "blur":
                    assert s.params["sigma"] <= 1.0
                if s.op == "defocus":
                    assert s.params["radius"] <= 1.5


def _walk(steps: tuple[Step, ...]) -> Iterator[Step]:
    for s in steps:
        yield s
        if isinstance(s, OneOfStep):
            yield from _walk(s.steps)


def test_the_presets_use_only_steps_of_the_language(presets: dict[str, Distort]) -> None:
    used = {s.keyword for d in presets.values() for s in _walk(d.steps)}
    assert used <= set(STEPS)
