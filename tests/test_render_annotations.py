"""Annotations on real rendered pages: handwritten notes, stamps, QR codes and marker strokes.

Each step is applied to a real page (a sample record, the shipped 4x3 layout and standard paper)
and compared with the same page without it: a mark changes pixels only inside the boxes its
record gives, its record replays to the same bytes, a QR code decodes back to its text with an
independent decoder (OpenCV's), and marks placed `clear` keep off the traces.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ecgspec.ir import Choice, Distort, Span
from ecgspec.ir.distort import (
    HandwritingStep,
    MarkerStep,
    QrStep,
    ResolutionStep,
    RotateStep,
    StampStep,
    Step,
)
from ecgspec.render import render_page
from ecgspec.render.api import RenderResult, sidecar_json, spec_hash_of
from ecgspec.render.distortions import Plan, item_facts, map_points
from ecgspec.render.distortions.marks import INK_LEVEL, report_words
from ecgspec.render.sidecar import Sidecar

from .test_render_distort import HR06000, JS20003, PTB, PTBXL, _program, layout, lead_scores, paper, preset, record

REPORT = "Sinusrhythmus. Linkstyp. Unspezifische ST-Veränderungen, bitte Kontrolle in 3 Monaten"


def pipeline(*steps: Step) -> Distort:
    return Distort(name="marks", steps=steps)


def render(distort: Distort | None, path: Path = HR06000, seed: int = 0) -> RenderResult:
    return render_page(record(path), layout(), paper(), distort=distort, seed=seed, spec_hash="annotations")


def marks_of(result: RenderResult) -> list[dict]:
    return [m for d in result.sidecar.distortions for m in d["params"].get("marks", [])]


def inside_boxes(shape: tuple[int, ...], boxes: list[list[float]]) -> np.ndarray:
    """Pixels whose centre lies inside any of the boxes (x0, y0, x1, y1; continuous coordinates)."""
    h, w = shape[:2]
    xs, ys = np.arange(w) + 0.5, np.arange(h) + 0.5
    out = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in boxes:
        out |= ((ys >= y0) & (ys <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]
    return out


EACH_MARK = [
    pytest.param(HandwritingStep(text="Seen, NAD", size=5.0, angle=-4.0), id="handwriting"),
    pytest.param(HandwritingStep(size=4.0, place="over", color="#202020"), id="handwriting-over"),
    pytest.param(StampStep(text="RECEIVED", shape="box", angle=12.0, fade=0.4), id="stamp-box"),
    pytest.param(StampStep(text="COPY", shape="round", date="off", angle=-20.0), id="stamp-round"),
    pytest.param(QrStep(text="HR06000 / 2024-03-01", size=16.0, angle=7.0), id="qr"),
    pytest.param(QrStep(text="label", size=14.0, label="#ffffff", place="over"), id="qr-label"),
    pytest.param(MarkerStep(shape="circle", count=2), id="marker-circle"),
    pytest.param(MarkerStep(shape="line", tool="highlighter", size=50.0), id="marker-highlighter"),
]


@pytest.mark.parametrize("step", EACH_MARK)
def test_each_mark_changes_pixels_only_inside_the_boxes_its_record_gives(step: Step) -> None:
    clean = render(None).array
    result = render(pipeline(step))
    [record_] = result.sidecar.distortions
    assert record_["op"] == step.keyword
    boxes = [m["box"] for m in record_["params"]["marks"]]
    assert boxes and all(len(m["quad"]) == 4 for m in record_["params"]["marks"])
    changed = (result.array != clean).any(axis=2)
    assert changed.sum() > 200  # it drew something
    assert not (changed & ~inside_boxes(clean.shape, boxes)).any()
    for m in record_["params"]["marks"]:
        x0, y0, x1, y1 = m["box"]
        quad = np.asarray(m["quad"])
        assert np.allclose(quad.min(axis=0), [x0, y0], atol=1e-3) and np.allclose(quad.max(axis=0), [x1, y1], atol=1e-3)
        assert 0 <= x0 < x1 <= clean.shape[1] and 0 <= y0 < y1 <= clean.shape[0]  # placed on the page


@pytest.mark.parametrize("step", [p.values[0] for p in EACH_MARK if "qr" not in p.id], ids=lambda s: s.keyword)
def test_marks_only_darken_so_no_trace_is_lightened(step: Step) -> None:
    clean = render(None).array
    page = render(pipeline(step)).array
    assert (page.astype(int) <= clean.astype(int)).all()


def test_a_page_with_marks_is_remade_from_its_sidecar_to_the_same_bytes() -> None:
    steps = pipeline(
        QrStep(text="ECG", source="record", size=15.0),
        HandwritingStep(text=Choice(options=("Seen", "NAD"), weights=(0.5, 0.5)), source="report", words=4),
        StampStep(angle=Span(lo=-20, hi=20, integer=False)),
        MarkerStep(count=2),
        RotateStep(angle=1.5),
    )
    with item_facts(record="HR06000", report=REPORT):
        result = render(steps, seed=4)
    sidecar = Sidecar.model_validate_json(sidecar_json(result.sidecar))
    assert [m["kind"] for m in marks_of(result)][:2] == ["qr", "note"]
    assert marks_of(result)[0]["text"] == "HR06000"
    assert REPORT.replace("ä", "a").find(marks_of(result)[1]["text"]) >= 0
    # Without the item's facts (the record holds the text drawn) and with them: the same page.
    again = render_page(record(), layout(), paper(), replay=Plan.from_records(sidecar.distortions))
    np.testing.assert_array_equal(again.array, result.array)
    assert again.sidecar.distortions == sidecar.distortions
    with item_facts(record="HR06000", report=REPORT):
        third = render_page(record(), layout(), paper(), replay=Plan.from_records(sidecar.distortions))
    np.testing.assert_array_equal(third.array, result.array)


def test_a_marks_box_follows_the_geometric_steps_after_it_into_the_final_image() -> None:
    note = HandwritingStep(text="repeat ECG", size=5.0, angle=3.0)
    alone = render(pipeline(note))
    moved = render(pipeline(note, RotateStep(angle=2.5), ResolutionStep(scale=0.7)))
    transform = np.asarray(moved.sidecar.transform)
    before = np.asarray(marks_of(alone)[0]["quad"])
    after = np.asarray(marks_of(moved)[0]["quad"])
    np.testing.assert_allclose(after, map_points(transform, before), atol=2e-3)
    x0, y0, x1, y1 = marks_of(moved)[0]["box"]
    assert 0 <= x0 < x1 <= moved.array.shape[1] and 0 <= y0 < y1 <= moved.array.shape[0]
    # The ink is where the box says in the final image: the note's blue is inside it.
    blue = (moved.array[..., 2].astype(int) - moved.array[..., 0].astype(int)) > 40
    assert blue.any() and not (blue & ~inside_boxes(moved.array.shape, [[x0, y0, x1, y1]])).any()


@pytest.mark.parametrize(
    "step,facts,expected",
    [
        (QrStep(text="HR06000|4x3|seed 0", size=16.0), None, "HR06000|4x3|seed 0"),
        (QrStep(text="ECG", source="record", size=14.0, angle=-9.0), "JS20003", "JS20003"),
        (QrStep(text="sticker", size=12.0, label="#ffffff", place="over"), None, "sticker"),
    ],
    ids=["declared", "record-id", "label"],
)
def test_qr_codes_decode_back_to_their_text_with_opencv(step: QrStep, facts: str | None, expected: str) -> None:
    scan = pipeline(step, RotateStep(angle=1.2))
    if facts:
        with item_facts(record=facts):
            result = render(scan, seed=2)
    else:
        result = render(scan, seed=2)
    [mark] = marks_of(result)
    assert mark["text"] == expected and mark["version"] >= 1
    x0, y0, x1, y1 = (round(v) for v in mark["box"])
    pad = 20
    crop = result.array[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    assert text == expected, (text, points)


def test_handwriting_from_the_report_writes_consecutive_words_of_it_and_falls_back_to_its_text() -> None:
    step = HandwritingStep(text="Seen", source="report", words=3)
    with item_facts(report=REPORT):
        params = render(pipeline(step), seed=1).sidecar.distortions[0]["params"]
    assert params["source"] == "report" and params["from"] == "report" and len(params["text"].split()) == 3
    assert params["text"] in "Sinusrhythmus. Linkstyp. Unspezifische ST-Veranderungen, bitte Kontrolle in 3 Monaten"
    plain = render(pipeline(step), seed=1).sidecar.distortions[0]["params"]
    assert plain["from"] == "text" and plain["text"] == "Seen"
    assert report_words("a b c d", 10, 0.99) == "a b c d" and report_words("", 2, 0.5) == ""


@pytest.mark.parametrize(
    "step",
    [HandwritingStep(text="cf. old ECG", size=5.0), QrStep(text="clear of the traces", size=15.0)],
    ids=["handwriting", "qr"],
)
def test_marks_placed_clear_keep_off_the_traces_and_the_printed_text(step: Step) -> None:
    for path in (HR06000, JS20003, PTBXL):
        clean = render(None, path).array
        result = render(pipeline(step), path, seed=3)
        [mark] = marks_of(result)
        x0, y0, x1, y1 = (int(v) for v in mark["box"])
        region = clean[y0 : y1 + 1, x0 : x1 + 1]
        assert (region.max(axis=2) >= INK_LEVEL).all(), path.name  # no ink of the page under the mark


def test_the_annotated_preset_keeps_every_lead_legible() -> None:
    """The shipped `annotated` preset: notes and codes on blank paper, stamps and marker strokes
    in colours lighter than trace ink and only darkening: every lead reads back (r >= 0.9)."""
    spec_hash = spec_hash_of(_program(), "4x3", "standard", "annotated")
    problems, fired = [], set()
    for path in (HR06000, JS20003, PTB, PTBXL):
        for seed in (0, 1):
            result = render_page(
                record(path), layout(), paper(), distort=preset("annotated"), seed=seed, spec_hash=spec_hash
            )
            fired |= {d["op"] for d in result.sidecar.distortions}
            for lead, r, _, kept in lead_scores(record(path), result):
                if r < 0.9 or kept < 0.6:
                    problems.append(f"{path.name} seed {seed} {lead}: r={r:.3f}, {kept:.0%} kept")
    assert not problems, "\n".join(problems)
    assert {"handwriting", "stamp", "marker"} <= fired


_RENDER = """
import hashlib, sys
from ecgspec.program import load
from ecgspec.records import read_wfdb
from ecgspec.render import render_page
from ecgspec.render.api import sidecar_json, spec_hash_of
from ecgspec.render.cli import SHIPPED_SPECS
from ecgspec.render.distortions import item_facts
program = load(SHIPPED_SPECS)
rec = read_wfdb(sys.argv[1])
with item_facts(record=rec.id, report="Sinus rhythm. Left axis deviation. Nonspecific ST changes"):
    r = render_page(rec, program.get("layout", "4x3"), program.get("paper", "standard"),
                    distort=program.get("distort", "annotated"), seed=int(sys.argv[2]),
                    spec_hash=spec_hash_of(program, "4x3", "standard", "annotated"))
print(hashlib.sha256(r.array.tobytes()).hexdigest(), hashlib.sha256(sidecar_json(r.sidecar).encode()).hexdigest())
"""


def test_annotated_pages_are_the_same_bytes_in_separate_processes() -> None:
    def run(seed: int) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _RENDER, str(HR06000), str(seed)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    a, b, c = run(5), run(5), run(6)
    assert a == b and a != c
    # And here, through the same API.
    program = _program()
    with item_facts(record="HR06000", report="Sinus rhythm. Left axis deviation. Nonspecific ST changes"):
        r = render_page(
            record(),
            layout(),
            paper(),
            distort=program.get("distort", "annotated"),  # type: ignore[arg-type]
            seed=5,
            spec_hash=spec_hash_of(program, "4x3", "standard", "annotated"),
        )
    here = [hashlib.sha256(r.array.tobytes()).hexdigest(), hashlib.sha256(sidecar_json(r.sidecar).encode()).hexdigest()]
    assert a.split() == here
    json.dumps(r.sidecar.distortions)
