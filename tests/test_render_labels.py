"""Where lead labels go: `label_position` of a paper. Carts print them at a fixed place per
panel (`above`, `below`, `fixed`); `dodge`, the default, moves them off the trace. Real records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgspec.ir import Paper
from ecgspec.records import Record
from ecgspec.render.fonts import advance
from ecgspec.render.geometry import Geometry
from ecgspec.render.layout import _hits, compose
from ecgspec.render.scene import Polyline, Scene

from .helpers import REPO, check_text, messages, sample_record, shipped_layout, shipped_paper

SAMPLES = REPO / "data" / "samples"
RECORDS = [
    SAMPLES / "cinc2021" / "HR06000",
    SAMPLES / "cinc2021" / "HR06004",
    SAMPLES / "cinc2021" / "JS20000",
    SAMPLES / "cinc2021" / "JS20003",
    SAMPLES / "ptbdb" / "s0010_re",
    SAMPLES / "ptbxl" / "records100" / "00001_lr",
]


layout = shipped_layout
paper = shipped_paper
record = sample_record


def swinging(rec: Record) -> Record:
    """The record with a 2 Hz swing of ±3 mV on every lead: a trace that passes every place of
    its row, labels included (no real record does, but a label that stays put must stay put)."""
    t = np.arange(rec.n_samples) / rec.fs
    swing = 3.0 * np.sin(2 * np.pi * 2.0 * t)
    return Record(rec.id, rec.fs, {k: v + swing for k, v in rec.signals.items()}, dict(rec.meta), rec.source)


def labels(geo: Geometry) -> dict[tuple[str, int, int], tuple[float, float]]:
    return {(s.lead, s.row, s.column): (s.x, s.y) for s in geo.labels}


def baselines(geo: Geometry) -> dict[tuple[int, int], float]:
    return {(p.row, p.column): p.baseline for p in geo.panels}


def traces(scene: Scene) -> list[np.ndarray]:
    return [i.points for i in scene.items if isinstance(i, Polyline) and i.role.startswith("trace:")]


def on_trace(scene: Scene, geo: Geometry, p: Paper) -> set[tuple[str, int, int]]:
    """The labels whose box (as the layout engine measures one) touches a trace."""
    size, pad = p.font_size, p.trace_width + 0.3
    out = set()
    for s in geo.labels:
        width = advance(s.lead, p.font, size) + 0.2
        if _hits(traces(scene), s.x - pad, s.y - 0.8 * size - pad, s.x + width + pad, s.y + 0.25 * size + pad):
            out.add((s.lead, s.row, s.column))
    return out


@pytest.mark.parametrize("position", ["above", "below", "fixed"])
@pytest.mark.parametrize("lay", ["4x3", "12x1", "6x2"])
def test_fixed_placements_put_each_lead_label_at_one_place_whatever_the_trace(position: str, lay: str):
    # No header: the swinging record has no heart rate to print (and a header moves no label).
    p = paper("standard", label_position=position, header=None)
    pages = [compose(rec, layout(lay), p) for rec in [*map(record, RECORDS), swinging(record(RECORDS[0]))]]
    first = labels(pages[0][1])
    assert first
    for _, geo in pages[1:]:
        assert labels(geo) == first
    # The same places on the pages with traces through them: some of these labels sit on ink.
    assert any(on_trace(scene, geo, p) for scene, geo in pages)
    # ...at the start of their panel: 0.8 mm in, like the dodging label's first choice.
    for slot in pages[0][1].labels:
        assert slot.x == pytest.approx(slot.left + 0.8)


def test_above_below_and_fixed_are_where_they_say():
    rec = record(RECORDS[0])
    size = paper("standard").font_size
    for position in ("above", "below", "fixed"):
        _, geo = compose(rec, layout("4x3"), paper("standard", label_position=position))
        base = baselines(geo)
        for s in geo.labels:
            if position == "above":
                assert s.y < base[s.row, s.column]  # the text's foot above the baseline
            elif position == "below":
                assert s.y - 0.8 * size > base[s.row, s.column]  # the top of the text below it
            else:
                assert s.y - 0.8 * size == pytest.approx(s.top + 0.35 * size)  # at the top of the row


def test_label_offset_is_the_gap_to_the_baseline_or_the_row_top():
    rec = record(RECORDS[0])
    size = paper("standard").font_size
    for position, gap in (("above", 3.0), ("below", 2.0), ("fixed", 1.0)):
        _, geo = compose(rec, layout("4x3"), paper("standard", label_position=position, label_offset=gap))
        base = baselines(geo)
        for s in geo.labels:
            if position == "above":
                assert s.y == pytest.approx(base[s.row, s.column] - gap)
            elif position == "below":
                assert s.y - 0.8 * size == pytest.approx(base[s.row, s.column] + gap)
            else:
                assert s.y - 0.8 * size == pytest.approx(s.top + gap)


def test_dodge_is_the_default_and_keeps_labels_off_the_trace():
    assert paper("standard").label_position == "dodge"
    moved = 0
    for path in RECORDS:
        for lay in ("4x3", "12x1"):
            scene, geo = compose(record(path), layout(lay), paper("standard"))
            assert labels(geo) == labels(
                compose(record(path), layout(lay), paper("standard", label_position="dodge"))[1]
            )
            assert not on_trace(scene, geo, paper("standard")), (path.name, lay)
            # Where the trace runs through the usual place (above the baseline), the label moved.
            _, fixed = compose(record(path), layout(lay), paper("standard", label_position="above"))
            moved += sum(labels(geo)[k] != v for k, v in labels(fixed).items())
    assert moved >= 5


def test_shipped_printout_styles_place_labels_as_their_carts_do():
    assert paper("muse").label_position == "above"
    assert paper("pagewriter").label_position == "above"
    assert paper("compact").label_position == "dodge"


def test_a_label_offset_on_dodging_labels_is_a_spec_error(tmp_path: Path):
    p = check_text(tmp_path, "paper p { label_offset = 2 mm }\n")
    assert any("`label_offset` places labels that stay put" in m for m in messages(p)), messages(p)
    ok = check_text(tmp_path / "ok", "paper p { label_position = below; label_offset = 2 mm }\n")
    assert ok.ok, ok.diagnostics
    bad = check_text(tmp_path / "bad", "paper p { label_position = left }\n")
    assert not bad.ok
