"""The layout engine, the sidecar, the templates and the two rasterisers, on real records."""

from __future__ import annotations

import io
import itertools
import json
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecgspec.ir import Layout, Paper
from ecgspec.leads import CHEST
from ecgspec.program import load
from ecgspec.records import Record, read_wfdb
from ecgspec.render import FitError, TemplateError, render_page, write_outputs
from ecgspec.render.layout import compose, page_size
from ecgspec.render.raster import rasterise_fast, rasterise_reference
from ecgspec.render.scene import Polyline, Segments, Text
from ecgspec.render.sidecar import Sidecar
from ecgspec.render.svg import to_svg

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
HR06000 = SAMPLES / "cinc2021" / "HR06000"
PTB = SAMPLES / "ptbdb" / "s0010_re"


@lru_cache(maxsize=1)
def _program():
    program = load([ROOT / "specs" / n for n in ("layouts.ecg", "papers.ecg", "printouts.ecg")])
    assert program.ok, program.diagnostics
    return program


def layout(name: str) -> Layout:
    return _program().get("layout", name)  # type: ignore[return-value]


def paper(base: str, **changes) -> Paper:
    p = _program().get("paper", base)
    return p.model_copy(update=changes) if changes else p  # type: ignore[return-value]


@cache
def record(path: Path = HR06000) -> Record:
    return read_wfdb(path)


# ---- the sidecar -----------------------------------------------------------------------------


def test_sidecar_has_exactly_the_documented_keys(tmp_path: Path):
    result = render_page(record(), layout("4x3"), paper("standard"), seed=7)
    write_outputs(result, tmp_path / "page.png")
    data = json.loads((tmp_path / "page.json").read_text())
    assert set(data) == {"image", "paper", "leads", "record", "render", "transform", "warp_px", "distortions"}
    assert set(data["image"]) == {"width", "height", "dpi", "clean_width", "clean_height"}
    assert set(data["paper"]) == {"speed_mm_s", "gain_mm_mV", "px_per_mm"}
    assert set(data["record"]) == {"source", "id", "fs", "synthetic"}
    assert {"layout", "paper", "seed"} <= set(data["render"])
    for lead in data["leads"]:
        assert set(lead) == {"name", "box", "baseline_y", "t0", "t1", "px_per_s", "px_per_mV", "rhythm", "quad"}
        assert len(lead["box"]) == 4 and len(lead["quad"]) == 4
    assert data["transform"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert data["distortions"] == [] and data["warp_px"] == 0.0
    assert (data["image"]["clean_width"], data["image"]["clean_height"]) == (2200, 1700)
    assert data["render"]["seed"] == 7 and data["render"]["layout"] == "4x3"
    assert data["record"] == {"source": str(HR06000), "id": "HR06000", "fs": 500.0, "synthetic": False}
    assert Sidecar.model_validate(data) == result.sidecar


def test_written_png_holds_the_array_and_the_sidecar_size(tmp_path: Path):
    result = render_page(record(), layout("4x3"), paper("standard"))
    written = write_outputs(result, tmp_path / "out" / "page.png", svg=True)
    assert [p.name for p in written] == ["page.png", "page.json", "page.svg"]
    with Image.open(written[0]) as im:
        assert im.size == (result.sidecar.image.width, result.sidecar.image.height) == (2200, 1700)
        assert round(im.info["dpi"][0]) == 200
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), result.array)  # lossless
    assert not list((tmp_path / "out").glob(".*tmp"))  # atomic writes leave no temporary files


def test_4x3_has_staggered_columns_and_a_full_length_rhythm_strip():
    sc = render_page(record(), layout("4x3"), paper("standard")).sidecar
    assert [lead.name for lead in sc.leads] == [
        "I",
        "aVR",
        "V1",
        "V4",
        "II",
        "aVL",
        "V2",
        "V5",
        "III",
        "aVF",
        "V3",
        "V6",
        "II",
    ]
    panels = {(lead.name, lead.rhythm): lead for lead in sc.leads}
    for lead, k in (("I", 0), ("aVR", 1), ("V1", 2), ("V4", 3)):
        assert panels[(lead, False)].t0 == pytest.approx(2.5 * k)
        assert panels[(lead, False)].t1 == pytest.approx(min(2.5 * (k + 1), 9.998))
    strip = panels[("II", True)]
    assert (strip.t0, strip.t1) == (0.0, pytest.approx(9.998))
    # Columns continue each other across the page: x is linear in t along a row.
    row = [panels[(n, False)] for n in ("I", "aVR", "V1", "V4")]
    for a, b in itertools.pairwise(row):
        assert b.box[0] == pytest.approx(a.box[0] + (b.t0 - a.t0) * a.px_per_s)
        assert a.baseline_y == b.baseline_y


def test_simultaneous_windows_start_every_column_at_zero():
    lay = layout("4x3").model_copy(update={"windows": "simultaneous"})
    sc = render_page(record(), lay, paper("standard")).sidecar
    assert {lead.t0 for lead in sc.leads} == {0.0}
    assert {round(lead.t1, 3) for lead in sc.leads if not lead.rhythm} == {2.5}


@pytest.mark.parametrize(
    "name,rows,cols", [("3x4", 3, 4), ("6x2", 6, 2), ("12x1", 12, 1), ("2x6", 2, 6), ("4x3_3r", 4 + 2, 4)]
)
def test_every_shipped_layout_lays_out_its_lead_matrix(name: str, rows: int, cols: int):
    lay = layout(name)
    sc = render_page(record(), lay, paper("standard")).sidecar
    matrix = [lead for lead in sc.leads if not lead.rhythm]
    assert len(matrix) == len(lay.leads) * cols
    assert len({lead.baseline_y for lead in sc.leads}) == rows
    assert [lead.name for lead in sc.leads if lead.rhythm] == list(lay.rhythm)
    for lead in sc.leads:  # every box is on the page and spans its time window exactly
        x0, y0, x1, y1 = lead.box
        assert 0 <= x0 < x1 <= sc.image.width and 0 <= y0 < lead.baseline_y < y1 <= sc.image.height
        assert x1 - x0 == pytest.approx((lead.t1 - lead.t0) * lead.px_per_s)


def test_chest_gain_halves_v1_to_v6_and_the_sidecar_says_so():
    sc = render_page(record(), layout("4x3"), paper("half_chest")).sidecar
    k = sc.paper.px_per_mm
    for lead in sc.leads:
        assert lead.px_per_mV == pytest.approx((5.0 if lead.name in CHEST else 10.0) * k)
    assert sc.paper.gain_mm_mV == 10.0 and sc.render.chest_gain_mm_mV == 5.0


def test_mixed_gain_rows_get_a_stepped_calibration_pulse():
    scene, _ = compose(record(), layout("4x3"), paper("half_chest"))
    pulses = [item for item in scene.items if isinstance(item, Polyline) and item.role == "calibration"]
    assert len(pulses) == 4
    heights = {round(float(p.points[:, 1].max() - p.points[:, 1].min()), 3) for p in pulses}
    assert heights == {10.0}  # rows start with a limb lead
    row = pulses[0].points[:, 1]
    assert sorted({round(float(row.max() - y), 3) for y in row}) == [0.0, 5.0, 10.0]  # 10 mm step, then 5 mm


@pytest.mark.parametrize("speed,gain", [(12.5, 10.0), (25.0, 5.0), (25.0, 20.0)])
def test_speed_and_gain_set_the_sidecar_scale(speed: float, gain: float):
    sc = render_page(record(), layout("4x3"), paper("standard", speed=speed, gain=gain)).sidecar
    assert sc.paper.speed_mm_s == speed and sc.paper.gain_mm_mV == gain
    for lead in sc.leads:
        assert lead.px_per_s == pytest.approx(speed * 200 / 25.4)
        assert lead.px_per_mV == pytest.approx(gain * 200 / 25.4)


def test_named_pages_turn_with_orientation_and_custom_sizes_are_taken_as_written():
    assert page_size(paper("standard")) == (279.4, 215.9)
    assert page_size(paper("a4")) == (297.0, 210.0)
    assert page_size(paper("a4", orientation="portrait")) == (210.0, 297.0)
    custom = paper("standard", size=(300.0, 120.0), name="strip")
    assert page_size(custom) == (300.0, 120.0)
    result = render_page(record(), Layout(name="II", leads=(("II",),), column=10.0), custom)
    assert result.array.shape[:2] == (round(120 * 200 / 25.4), round(300 * 200 / 25.4))


def test_a_layout_too_wide_for_the_page_is_a_fit_error_naming_what_does_not_fit():
    with pytest.raises(FitError) as info:
        render_page(record(), layout("4x3"), paper("fast"))
    message = str(info.value)
    assert "'4x3'" in message and "'fast'" in message and "across" in message
    assert "50 mm/s" in message and "512.0 mm" in message and "263.4 mm" in message


def test_a_layout_too_tall_for_the_page_is_a_fit_error_naming_the_rows():
    with pytest.raises(FitError) as info:
        render_page(record(), layout("12x1"), paper("double_gain"))
    message = str(info.value)
    assert "down" in message and "12 rows" in message and "20 mm/mV" in message


def test_the_same_layout_fits_at_half_the_column_length():
    short = layout("4x3").model_copy(update={"column": 1.25})
    sc = render_page(record(), short, paper("fast")).sidecar
    assert max(lead.box[2] for lead in sc.leads) < sc.image.width


def test_a_record_shorter_than_the_page_draws_what_exists():
    full = record()
    n = int(4.0 * full.fs)
    short = Record(id="short", fs=full.fs, signals={k: v[:n] for k, v in full.signals.items()}, meta=full.meta)
    sc = render_page(short, layout("4x3"), paper("standard")).sidecar
    last = (n - 1) / full.fs
    by_name = {(lead.name, lead.rhythm): lead for lead in sc.leads}
    assert ("V1", False) not in by_name and ("V4", False) not in by_name  # 5–7.5 s and 7.5–10 s: nothing
    assert by_name[("aVR", False)].t1 == pytest.approx(last)  # 2.5 s to where the record ends
    assert by_name[("II", True)].t1 == pytest.approx(last)


def test_leads_the_record_lacks_leave_blank_labelled_panels():
    two = read_wfdb(HR06000, leads=["I", "II"])
    result = render_page(two, layout("4x3"), paper("standard"))
    assert [lead.name for lead in result.sidecar.leads] == ["I", "II", "II"]
    assert result.sidecar.render.missing_leads == ["aVR", "V1", "V4", "aVL", "V2", "V5", "III", "aVF", "V3", "V6"]
    labels = {item.text for item in result.scene.items if isinstance(item, Text) and item.role.startswith("label")}
    assert {"aVR", "V6"} <= labels


def test_grid_false_draws_no_grid_and_colours_come_from_the_paper():
    scene, _ = compose(record(), layout("4x3"), paper("nogrid"))
    assert not [i for i in scene.items if isinstance(i, Segments) and i.role.startswith("grid")]
    scene, _ = compose(record(), layout("4x3"), paper("bw"))
    grids = {i.role: i.colour for i in scene.items if isinstance(i, Segments) and i.role.startswith("grid")}
    assert grids == {"grid:minor": "#d9d9d9", "grid:major": "#8c8c8c"}
    traces = {i.colour for i in compose(record(), layout("4x3"), paper("aged"))[0].items if isinstance(i, Polyline)}
    assert traces == {"#3a3a3a"}


def test_grid_major_lines_fall_on_the_chart_corner_every_major_mm():
    scene, geo = compose(record(), layout("4x3"), paper("standard"))
    major = next(i for i in scene.items if isinstance(i, Segments) and i.role == "grid:major")
    vertical = np.sort(major.xy[major.xy[:, 0] == major.xy[:, 2], 0])
    np.testing.assert_allclose(np.diff(vertical), 5.0)
    assert vertical[0] == pytest.approx(geo.grid[0])


# ---- header and footer templates ----------------------------------------------------------


def _texts(result) -> str:
    return "\n".join(i.text for i in result.scene.items if isinstance(i, Text))


def test_header_template_renders_record_fields():
    result = render_page(record(), layout("4x3"), paper("muse"))
    header = result.sidecar.render.header
    assert header[0].startswith("ID HR06000")
    assert "Female   59 yr" in header[1] and "Vent. rate   69 BPM" in header[1]
    assert "RR interval   872 ms" in header[2]  # mean RR of the NeuroKit2 beats (871 with the numpy detector)
    assert "25 mm/s   10 mm/mV" in result.sidecar.render.footer[0]
    assert "Vent. rate   69 BPM" in _texts(result)


def test_header_uses_values_the_record_states_over_measured_ones():
    rec = record()
    stated = Record(
        rec.id,
        rec.fs,
        rec.signals,
        {**rec.meta, "heart_rate": 71, "pr": 160, "qrs": 92, "qt": 380, "qtc": 405, "qrs_axis": 40},
        rec.source,
    )
    header = "\n".join(render_page(stated, layout("4x3"), paper("muse")).sidecar.render.header)
    assert "Vent. rate   71 BPM" in header and "PR interval   160 ms" in header
    assert "QRS duration   92 ms" in header and "QT/QTc   380/405 ms" in header and "P-R-T axes   * 40 *" in header


def test_header_context_adds_names_for_the_template():
    p = paper("standard", header="{{ hospital }} · {{ record.name }} · {{ record.id }}")
    result = render_page(
        record(), layout("4x3"), p, header_context={"hospital": "St Elsewhere", "record": {"name": "DOE, JANE"}}
    )
    assert result.sidecar.render.header == ["St Elsewhere · DOE, JANE · HR06000"]


def test_every_printout_style_renders_every_shipped_record_header():
    for style in ("muse", "pagewriter", "compact"):
        for path in (HR06000, PTB, SAMPLES / "ptbxl" / "records100" / "00001_lr"):
            result = render_page(record(path), layout("4x3"), paper(style))
            assert record(path).id in "\n".join(result.sidecar.render.header)


@pytest.mark.parametrize(
    "template,words",
    [
        ("{{ record.age | no_such_filter }}", ["paper 'broken' header", "no_such_filter"]),
        ("{{ record.id ", ["paper 'broken' header", "line 1"]),
        ("{{ 1 / 0 }}", ["paper 'broken' header", "ZeroDivisionError"]),
        ("{{ record.leads.append('X') }}", ["paper 'broken' header", "not allowed", "append"]),
        ("{{ record.nothing.deeper }}", ["paper 'broken' header", "nothing"]),
    ],
)
def test_a_template_error_in_a_paper_is_a_clear_error(template: str, words: list[str]):
    broken = paper("standard", name="broken", header=template)
    with pytest.raises(TemplateError) as info:
        render_page(record(), layout("4x3"), broken)
    for word in words:
        assert word in str(info.value)
    assert "Traceback" not in str(info.value)


def test_footer_errors_name_the_footer():
    with pytest.raises(TemplateError, match="paper 'broken' footer"):
        render_page(record(), layout("4x3"), paper("standard", name="broken", footer="{% for %}"))


# ---- the two rasterisers and the SVG -------------------------------------------------------


def test_fast_and_reference_rasters_agree_on_a_4x3_page():
    scene, _ = compose(record(PTB), layout("4x3"), paper("muse"))
    fast = rasterise_fast(scene).astype(np.int16)
    ref = rasterise_reference(scene).astype(np.int16)
    assert fast.shape == ref.shape == (1700, 2200, 3)
    diff = np.abs(fast - ref)
    # Measured: mean 0.10 grey levels, 0.005% of pixels off by more than 64: antialiasing of edges
    # (cairosvg strokes the grid, the fast path fills it) and text hinting.
    assert diff.mean() <= 0.5
    assert (diff.max(axis=2) > 64).mean() <= 0.001


def test_svg_is_millimetres_with_a_line_grid_never_a_pattern():
    scene, _ = compose(record(), layout("4x3"), paper("standard"))
    svg = to_svg(scene)
    assert "<pattern" not in svg
    assert 'viewBox="0,0,279.4,215.9"' in svg.replace(" ", ",") or 'viewBox="0 0 279.4 215.9"' in svg
    assert 'width="279.4000mm"' in svg
    assert svg.count('class="trace-') == 13 and svg.count('class="grid-') == 2


def test_a_png_round_trip_keeps_the_pixels_exactly():
    result = render_page(record(), layout("3x4"), paper("pink"))
    buf = io.BytesIO()
    Image.fromarray(result.array).save(buf, format="PNG", compress_level=1)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")), result.array)


def test_png_encoding_is_lossless_for_flat_and_noisy_pages_and_says_the_dpi():
    from ecgspec.render.png import encode_png, profile

    clean = render_page(record(), layout("4x3"), paper("standard")).array
    noisy = np.clip(clean.astype(np.int16) + np.random.default_rng(0).normal(0, 6, clean.shape), 0, 255).astype(
        np.uint8
    )
    assert (profile(clean), profile(noisy)) == ("flat", "noisy")
    for page in (clean, noisy):
        for kind in ("flat", "noisy", None):
            with Image.open(io.BytesIO(encode_png(page, dpi=300, kind=kind))) as im:
                assert round(im.info["dpi"][0]) == 300
                np.testing.assert_array_equal(np.asarray(im.convert("RGB")), page)
