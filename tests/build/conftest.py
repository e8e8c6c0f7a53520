"""A workspace for build tests: a spec root holding a copy of the shipped templates and some
real sample records, so a test may break its own copy of a record."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

MINI = """
import "std/layouts.ecg"
import "std/papers.ecg"
import "std/distortions.ecg"

labels rhythm {
    vocabulary   = [SR, AFIB, STACH, SBRAD, SARRH]
    map          = ["426783006": [SR], "164889003": [AFIB], "427084000": [STACH], "426177001": [SBRAD],
                    "427393009": [SARRH]]
    descriptions = [SR: "sinus rhythm", AFIB: "atrial fibrillation", STACH: "sinus tachycardia",
                    SBRAD: "sinus bradycardia", SARRH: "sinus arrhythmia"]
}

source cinc from wfdb {
    root = "data/cinc2021"
}

task rhythm_mcq {
    family   = rhythm
    form     = multiple_choice
    template = "instruct/rhythm/mcq.j2"
    answer   = record.labels
    labels   = rhythm
}

task rhythm_closed {
    family   = rhythm
    form     = closed
    template = "instruct/rhythm/closed.j2"
    answer   = record.labels
    labels   = rhythm
}

task rate_open {
    family   = basic
    form     = open
    template = "instruct/basic/rate_open.j2"
    answer   = record.heart_rate
}

task rate_fill {
    family   = basic
    form     = fill_in
    template = "instruct/basic/rate_fill.j2"
    answer   = record.heart_rate
}

task report_open {
    family   = report
    form     = open
    template = "instruct/report/open.j2"
    answer   = record.report
}

corpus mini {
    from cinc
    layout    = choice["4x3": 0.7, "12x1": 0.3]
    distort   = choice[scanned: 0.5, mild: 0.5]
    distorted = 50%
    tasks     = [rhythm_mcq, rhythm_closed, rate_open, rate_fill, report_open]
    turns     = 1..3
    dpi       = 60 dpi
    seed      = 5
    refill    = true
}
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """tmp_path/{mini.ecg, templates/, data/cinc2021/} — a spec root of its own."""
    shutil.copytree(REPO / "templates" / "instruct", tmp_path / "templates" / "instruct")
    shutil.copytree(REPO / "data" / "samples" / "cinc2021", tmp_path / "data" / "cinc2021")
    (tmp_path / "mini.ecg").write_text(MINI, encoding="utf-8")
    return tmp_path


def tree_bytes(folder: Path, skip: tuple[str, ...] = ("build.json", ".work")) -> dict[str, bytes]:
    """Every artifact file under `folder` (relative path → bytes), build.json's timings aside."""
    out: dict[str, bytes] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part in skip for part in rel.parts):
            out[rel.as_posix()] = p.read_bytes()
    return out
