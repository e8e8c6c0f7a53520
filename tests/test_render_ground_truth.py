"""Digitisation ground truth (ecgspec.render.ground_truth): trace masks, per-sample pixel
coordinates and text boxes, on real sample records and real renders, clean and distorted.

The ink a page really has is found by differencing: the same scene without the lead traces (or
without the text) drawn and put through the same raster steps (each step's noise comes from its
own seed, so everything but the traces cancels). A pixel is trace ink where the traces darken it
by at least half (clean pages: the antialiased pen's half coverage, what a pixel-centre mask
marks) or by 30% (distorted pages, where blur and resampling spread the ink thinner).
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache, lru_cache
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
from PIL import Image

from ecgspec.ir import Distort, Layout, Paper
from ecgspec.ir.distort import CreaseStep, PerspectiveStep, ResolutionStep, RotateStep, WrinkleStep
from ecgspec.program import load
from ecgspec.records import Record, read_wfdb
from ecgspec.render import render_page, write_outputs
from ecgspec.render.api import RenderResult, sidecar_json, spec_hash_of
from ecgspec.render.cli import SHIPPED_SPECS, main
from ecgspec.render.distortions import apply_raster
from ecgspec.render.distortions.apply import GeometricMap
from ecgspec.render.distortions.fields import sample_field
from ecgspec.render.distortions.registry import hex_rgb
from ecgspec.render.ground_truth import CATEGORIES, Coordinates, coordinates
from ecgspec.render.raster import rasterise_fast
from ecgspec.render.scene import Polyline, Scene, Segments, Text
from ecgspec.render.sidecar import Sidecar

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
HR06000 = SAMPLES / "cinc2021" / "HR06000"
JS20003 = SAMPLES / "cinc2021" / "JS20003"  # tall QRS complexes that cross into the next row
PTB = SAMPLES / "ptbdb" / "s0010_re"  # 1000 Hz: the rasteriser decimates its traces
PTBXL = SAMPLES / "ptbxl" / "records100" / "00001_lr"  # 100 Hz
ALL = ("masks", "coordinates", "boxes", "coco", "yolo")


@lru_cache(maxsize=1)
def _program():
    program = load(SHIPPED_SPECS)
    assert program.ok, program.diagnostics
    return program


@cache
def record(path: Path = HR06000) -> Record:
    return read_wfdb(path)


def render(
    path: Path = HR06000,
    *,
    preset: str | Distort | None = None,
    seed: int = 0,
    lay: str = "4x3",
    pap: str = "standard",
    ground_truth: tuple[str, ...] = ALL,
) -> RenderResult:
    program = _program()
    distort = program.get("distort", preset) if isinstance(preset, str) else preset
    named = preset if isinstance(preset, str) else None
    layout, paper = program.get("layout", lay), program.get("paper", pap)
    assert isinstance(layout, Layout) and isinstance(paper, Paper)
    return render_page(
        record(path),
        layout,
        paper,
        distort=distort,  # type: ignore[arg-type]
        seed=seed,
        spec_hash=spec_hash_of(program, lay, pap, named),
        ground_truth=ground_truth,
    )


def without(result: RenderResult, drop: type, role: str = "") -> np.ndarray:
    """The page as `result` drew it, less the scene items of type `drop` (whose role starts with
    `role`), through the same raster steps."""
    scene = result.scene
    kept = [i for i in scene.items if not (isinstance(i, drop) and getattr(i, "role", "").startswith(role))]
    array = rasterise_fast(Scene(scene.width, scene.height, scene.dpi, kept))
    if result.plan.raster:
        paper = _program().get("paper", result.sidecar.render.paper)
        background = hex_rgb(paper.background)  # type: ignore[union-attr]
        array = apply_raster(array, result.plan.raster, px_per_mm=scene.px_per_mm, background=background).img
    return array


def trace_ink(result: RenderResult, share: float) -> np.ndarray:
    """Pixels the lead traces darken by at least `share` of what was there without them."""
    bare = without(result, Polyline, "trace:").astype(np.int32).sum(axis=2)
    drawn = result.array.astype(np.int32).sum(axis=2)
    return (bare - drawn) >= share * np.maximum(bare, 1)


def near(mask: np.ndarray) -> np.ndarray:
    """Pixels within 1 px (8-neighbourhood) of `mask`."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def landing(xy: np.ndarray, where: np.ndarray) -> float:
    """Share of the points (final-image pixels) that fall on a pixel of `where`."""
    h, w = where.shape
    ok = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    pts = xy[ok]
    return float(where[np.floor(pts[:, 1]).astype(int), np.floor(pts[:, 0]).astype(int)].mean())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


# ---- masks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "lay"), [(HR06000, "4x3"), (JS20003, "12x1"), (PTB, "4x3"), (PTBXL, "6x2"), (HR06000, "12x1")]
)
def test_mask_covers_the_drawn_trace_ink_on_clean_pages(path: Path, lay: str):
    result = render(path, lay=lay, ground_truth=("masks", "coordinates"))
    mask = result.ground_truth.mask  # type: ignore[union-attr]
    assert mask is not None and mask.dtype == np.uint8 and mask.shape == result.array.shape[:2]
    assert iou(mask > 0, trace_ink(result, 0.5)) >= 0.9  # measured 0.93-0.97 over the 16 records
    # One label per lead entry, in the sidecar's order: each lead's samples lie on its own label
    # (except where another lead's trace crosses it and, drawn later, has the pixel).
    assert set(np.unique(mask)) == set(range(len(result.sidecar.leads) + 1))
    coords = result.ground_truth.coordinates  # type: ignore[union-attr]
    assert coords is not None
    for i in range(len(result.sidecar.leads)):
        xy = coords.xy[coords.lead(i)]
        assert landing(xy, near(mask == i + 1)) >= 0.97


def test_the_mask_leaves_out_calibration_pulses_ticks_and_text():
    result = render(ground_truth=("masks",))
    mask = result.ground_truth.mask > 0  # type: ignore[union-attr]
    for kind, role in ((Polyline, "calibration"), (Segments, "separators"), (Text, "")):
        other = (without(result, kind, role).astype(int) - result.array.astype(int)).max(axis=2) > 64
        # Where a tick crosses a trace the pixel is both: the trace's (and the mask's).
        assert other.sum() > 100 and (mask & other).sum() <= 0.05 * other.sum(), role


# ---- coordinates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [HR06000, PTBXL])
def test_coordinates_are_the_samples_where_the_sidecar_puts_them_on_a_clean_page(path: Path):
    result = render(path, ground_truth=("coordinates",))
    coords = result.ground_truth.coordinates  # type: ignore[union-attr]
    assert coords is not None and coords.inside.all()
    rec = record(path)
    for i, lead in enumerate(result.sidecar.leads):
        s = coords.lead(i)
        assert coords.names[i] == lead.name and bool(coords.rhythm[i]) == lead.rhythm
        # Every sample of [t0, t1], once, in order.
        first, last = int(np.ceil(lead.t0 * rec.fs - 1e-9)), int(np.floor(lead.t1 * rec.fs + 1e-9))
        np.testing.assert_array_equal(coords.sample[s], np.arange(first, last + 1))
        np.testing.assert_array_equal(coords.t[s], coords.sample[s] / rec.fs)
        np.testing.assert_allclose(coords.mv[s], rec.signals[lead.name][coords.sample[s]], atol=1e-5)
        x = lead.box[0] + (coords.t[s] - lead.t0) * lead.px_per_s
        y = lead.baseline_y - coords.mv[s].astype(np.float64) * lead.px_per_mV
        np.testing.assert_allclose(coords.xy[s], np.c_[x, y], atol=2e-3)


def test_coordinates_follow_what_a_filtering_paper_draws():
    """A paper that filters what it draws: the coordinates are the filtered trace's, on its ink."""
    program = _program()
    if ("paper", "monitoring") not in program.decls:
        pytest.skip("no filtering paper in the shipped specs")
    result = render(pap="monitoring", ground_truth=("masks", "coordinates"))
    coords = result.ground_truth.coordinates  # type: ignore[union-attr]
    assert coords is not None
    raw = np.concatenate([record().signals[n][coords.sample[coords.lead(i)]] for i, n in enumerate(coords.names)])
    assert np.abs(coords.mv - raw).max() > 0.05  # the baseline filter moved the trace
    assert landing(coords.xy, near(trace_ink(result, 0.5))) >= 0.99


def _pages(preset: str, wanted: set[str], most: int = 16):
    """Pages of a shipped preset (HR06000, seeds 0, 1, …) until every geometric step of `wanted`
    has fired on one of them; each page where a geometric step fired."""
    seen: set[str] = set()
    for seed in range(most):
        result = render(preset=preset, seed=seed, ground_truth=("masks", "coordinates"))
        fired = {d["op"] for d in result.sidecar.distortions} & (wanted | {"resolution", "crop", "shift", "aspect"})
        if fired - seen:
            seen |= fired
            yield result
        if wanted <= seen:
            return
    raise AssertionError(f"{preset}: {sorted(wanted - seen)} never fired in {most} seeds")


@pytest.mark.parametrize(
    ("preset", "wanted"),
    [("scanned", {"rotate", "wrinkle", "crease", "resolution"}), ("photo", {"rotate", "perspective", "wrinkle"})],
)
def test_mapped_coordinates_land_on_ink_on_distorted_pages(preset: str, wanted: set[str]):
    for result in _pages(preset, wanted):
        coords = result.ground_truth.coordinates  # type: ignore[union-attr]
        mask = result.ground_truth.mask  # type: ignore[union-attr]
        assert coords is not None and mask is not None and mask.shape == result.array.shape[:2]
        xy = coords.xy[coords.inside]
        assert len(xy) > 0.9 * len(coords.xy)
        # measured: 100% within 1 px of the real ink, 100% of the mask (99.4% on it exactly)
        assert landing(xy, near(trace_ink(result, 0.3))) >= 0.95, result.sidecar.distortions
        assert landing(xy, near(mask > 0)) >= 0.99


def test_wrinkles_and_creases_are_followed_not_just_the_transform():
    """Strong wrinkles and folds (displacements of 10+ px): the warp-mapped samples land on ink,
    the samples mapped through `transform` alone do not."""
    distort = Distort(
        name="strong",
        steps=(
            WrinkleStep(strength=1.0, count=6),
            CreaseStep(count=3, depth=1.0),
            RotateStep(angle=4.0),
            PerspectiveStep(strength=0.05),
            ResolutionStep(scale=0.8),
        ),
    )
    result = render(preset=distort, seed=1, ground_truth=("masks", "coordinates"))
    assert result.sidecar.warp_px > 10
    ink = near(trace_ink(result, 0.3))
    coords = result.ground_truth.coordinates  # type: ignore[union-attr]
    assert coords is not None
    assert landing(coords.xy, ink) >= 0.98  # measured 1.0
    size = (result.sidecar.image.width, result.sidecar.image.height)
    only_transform = GeometricMap(size, size, [np.asarray(result.sidecar.transform)])
    plain = coordinates(result.scene, result.sidecar, record().fs, only_transform)
    assert landing(plain.xy, ink) < 0.85  # measured 0.57-0.67
    assert iou(result.ground_truth.mask > 0, trace_ink(result, 0.3)) > 0.6  # type: ignore[union-attr]


def test_forward_and_backward_mappings_agree():
    """A clean-page point carried to the final image (`forward`, which inverts each warp by
    iteration) and back (`backward_grid`, what the mask is made with) comes back to itself."""
    result = render(preset="photo", seed=1, ground_truth=())
    assert {"wrinkle", "rotate", "crop"} <= {d["op"] for d in result.sidecar.distortions}
    mapping = _mapping(result)
    clean = np.random.default_rng(0).uniform([300, 300], [1900, 1400], size=(500, 2))
    final = mapping.forward(clean)
    gx, gy = mapping.backward_grid()
    back = np.c_[sample_field(gx, final[:, 0], final[:, 1]), sample_field(gy, final[:, 0], final[:, 1])]
    np.testing.assert_allclose(back, clean, atol=0.02)


def _mapping(result: RenderResult) -> GeometricMap:
    done = apply_raster(
        rasterise_fast(result.scene),
        result.plan.raster,
        px_per_mm=result.scene.px_per_mm,
        background=(255, 255, 255),
        track=True,
    )
    assert done.geometry is not None and done.geometry.warped
    np.testing.assert_allclose(done.transform, np.asarray(result.sidecar.transform))
    return done.geometry


# ---- text boxes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "seed", "pap"), [(None, 0, "muse"), ("scanned", 0, "standard"), ("photo", 2, "standard")]
)
def test_text_boxes_contain_the_lead_name_text_ink(preset: str | None, seed: int, pap: str):
    result = render(preset=preset, seed=seed, pap=pap, ground_truth=("boxes",))
    texts = result.sidecar.texts
    assert texts is not None
    kinds = {t.kind for t in texts}
    assert {"lead", "header", "footer"} <= kinds
    ink = (without(result, Text).astype(int) - result.array.astype(int)).max(axis=2) > 40
    inside = np.zeros(ink.shape, np.uint8)
    for t in texts:
        corners = np.round((np.asarray(t.quad) - 0.5) * 16).astype(np.int32)  # OpenCV's centres, 1/16 px
        one = np.zeros_like(inside)
        cv2.fillPoly(one, [corners], 1, shift=4)
        assert (ink & (cv2.dilate(one, np.ones((3, 3), np.uint8)) > 0)).any(), t  # each box holds ink
        inside |= one
    inside = cv2.dilate(inside, np.ones((3, 3), np.uint8))
    assert (ink & (inside == 0)).sum() <= 0.005 * ink.sum()  # measured: 0 (19 px of 9739 under defocus)
    for t in texts:
        if t.kind == "lead":
            assert t.lead is not None and result.sidecar.leads[t.lead].name == t.text


# ---- COCO and YOLO --------------------------------------------------------------------------------

COCO_SCHEMA = {
    "type": "object",
    "required": ["images", "annotations", "categories"],
    "properties": {
        "images": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "file_name", "width", "height"],
                "properties": {
                    "id": {"type": "integer"},
                    "file_name": {"type": "string"},
                    "width": {"type": "integer", "minimum": 1},
                    "height": {"type": "integer", "minimum": 1},
                },
            },
        },
        "annotations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "image_id", "category_id", "bbox", "area", "iscrowd"],
                "properties": {
                    "id": {"type": "integer"},
                    "image_id": {"type": "integer"},
                    "category_id": {"type": "integer", "minimum": 1},
                    "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                    "area": {"type": "number", "exclusiveMinimum": 0},
                    "iscrowd": {"enum": [0, 1]},
                    "segmentation": {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "number"}, "minItems": 6},
                    },
                },
            },
        },
        "categories": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
            },
        },
    },
}


@pytest.mark.parametrize("preset", [None, "photo"])
def test_coco_and_yolo_files_follow_their_formats(tmp_path: Path, preset: str | None):
    result = render(preset=preset, seed=2, ground_truth=("coco", "yolo"))
    written = write_outputs(result, tmp_path / "page.png")
    coco = json.loads((tmp_path / "page.coco.json").read_text())
    jsonschema.validate(coco, COCO_SCHEMA)
    (image,) = coco["images"]
    w, h = image["width"], image["height"]
    assert image["file_name"] == "page.png" and (w, h) == (result.sidecar.image.width, result.sidecar.image.height)
    ids = {c["id"]: c["name"] for c in coco["categories"]}
    assert list(ids.values()) == list(CATEGORIES) and len(ids) == len(CATEGORIES)
    anns = coco["annotations"]
    assert len({a["id"] for a in anns}) == len(anns)
    names = [ids[a["category_id"]] for a in anns]
    assert sum(n in ("I", "II", "V6") for n in names) >= 3 and "lead_name" in names and "header" in names
    for a in anns:
        x, y, bw, bh = a["bbox"]
        assert a["image_id"] == image["id"] and bw > 0 and bh > 0
        assert 0 <= x and 0 <= y and x + bw <= w + 1e-3 and y + bh <= h + 1e-3
    lines = (tmp_path / "page.yolo.txt").read_text().splitlines()
    assert len(lines) == len(anns)
    for line, a in zip(lines, anns, strict=True):
        cls, cx, cy, bw, bh = line.split()
        assert int(cls) == a["category_id"] - 1 and CATEGORIES[int(cls)] == ids[a["category_id"]]
        cx, cy, bw, bh = (float(v) for v in (cx, cy, bw, bh))
        assert 0 < bw <= 1 and 0 < bh <= 1
        assert -1e-6 <= cx - bw / 2 and cx + bw / 2 <= 1 + 1e-6 and -1e-6 <= cy - bh / 2 and cy + bh / 2 <= 1 + 1e-6
        x, y, abw, abh = a["bbox"]
        assert cx == pytest.approx((x + abw / 2) / w, abs=2e-6) and bw == pytest.approx(abw / w, abs=2e-6)
    assert "texts" not in json.loads(written[1].read_text())  # boxes in the sidecar only when asked


# ---- nothing changes without it; the same page gives the same files ---------------------------------


@pytest.mark.parametrize("preset", [None, "scanned"])
def test_without_ground_truth_nothing_changes(tmp_path: Path, preset: str | None):
    plain = render(preset=preset, seed=0, ground_truth=())
    assert plain.ground_truth is None
    paths = write_outputs(plain, tmp_path / "a" / "page.png")
    assert [p.name for p in paths] == ["page.png", "page.json"]
    assert "texts" not in json.loads(paths[1].read_text())
    with_gt = render(preset=preset, seed=0, ground_truth=("masks", "coordinates", "coco", "yolo"))
    other = write_outputs(with_gt, tmp_path / "b" / "page.png")
    assert other[0].read_bytes() == paths[0].read_bytes() and other[1].read_bytes() == paths[1].read_bytes()
    boxed = render(preset=preset, seed=0, ground_truth=("boxes",))
    assert np.array_equal(boxed.array, plain.array)
    assert sidecar_json(boxed.sidecar.model_copy(update={"texts": None})) == paths[1].read_text()
    assert Sidecar.model_validate_json(sidecar_json(boxed.sidecar)) == boxed.sidecar  # the schema takes texts


_SUBPROCESS = """
import sys
from pathlib import Path
from ecgspec.program import load
from ecgspec.records import read_wfdb
from ecgspec.render import render_page, write_outputs
from ecgspec.render.api import spec_hash_of
from ecgspec.render.cli import SHIPPED_SPECS
p = load(SHIPPED_SPECS)
r = render_page(read_wfdb(sys.argv[1]), p.get("layout", "4x3"), p.get("paper", "standard"),
                distort=p.get("distort", "photo"), seed=1, spec_hash=spec_hash_of(p, "4x3", "standard", "photo"),
                ground_truth=("masks", "coordinates", "boxes", "coco", "yolo"))
write_outputs(r, Path(sys.argv[2]))
"""


def test_the_same_page_twice_gives_identical_ground_truth_files(tmp_path: Path):
    first = write_outputs(render(preset="photo", seed=1), tmp_path / "a" / "page.png")
    second = write_outputs(render(preset="photo", seed=1), tmp_path / "b" / "page.png")
    subprocess.run([sys.executable, "-c", _SUBPROCESS, str(HR06000), str(tmp_path / "c" / "page.png")], check=True)
    names = [p.name for p in first]
    assert names == ["page.png", "page.json", "page.mask.png", "page.coords.npz", "page.coco.json", "page.yolo.txt"]
    for p, q in zip(first, second, strict=True):
        assert p.read_bytes() == q.read_bytes(), p.name
        assert p.read_bytes() == (tmp_path / "c" / p.name).read_bytes(), p.name
    with Image.open(first[2]) as im:
        assert im.mode == "L" and im.size == (json.loads(first[1].read_text())["image"]["width"], im.size[1])
    loaded = Coordinates.load(first[3])
    assert loaded.names == tuple(lead.name for lead in Sidecar.model_validate_json(first[1].read_text()).leads)


# ---- the command line -----------------------------------------------------------------------------


def test_render_command_writes_the_ground_truth_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "hr.png"
    argv = ["render", str(HR06000), "--distort", "scanned", "--seed", "1", "--ground-truth", "masks,coordinates,boxes"]
    assert main([*argv, "-o", str(out)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"hr.png", "hr.json", "hr.mask.png", "hr.coords.npz"}
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["texts"] and {"text", "kind", "lead", "box", "quad"} == set(sidecar["texts"][0])
    with Image.open(tmp_path / "hr.mask.png") as im:
        assert im.size == (sidecar["image"]["width"], sidecar["image"]["height"])
    assert "hr.mask.png" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["render", str(HR06000), "--ground-truth", "masks,bones", "-o", str(tmp_path / "x.png")])
    assert exit_.value.code == 2 and "unknown ground truth 'bones'" in capsys.readouterr().err
