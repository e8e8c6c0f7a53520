"""A corpus's render mix: each item draws its layout, paper and (by the declared ratio) its
distortion pipeline from its own stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecgspec.cli import main
from ecgspec.draw import stream
from ecgspec.render.mix import draw_render

from .helpers import REPO, check_text

CORPUS = """
import "specs/layouts.ecg"
import "specs/papers.ecg"
import "specs/distortions.ecg"

source samples from wfdb {
    root = "data/samples"
}

corpus demo {
    from samples
    layout    = choice["4x3": 0.6, "12x1": 0.2, "6x2": 0.2]
    paper     = choice[standard: 0.7, aged: 0.3]
    distort   = choice[scanned: 0.5, photo: 0.3, aged: 0.2]
    distorted = RATIO
}
"""


def _corpus(tmp_path: Path, ratio: str):
    import shutil

    shutil.copytree(REPO / "specs", tmp_path / "specs")
    program = check_text(tmp_path, CORPUS.replace("RATIO", ratio))
    assert program.ok, program.diagnostics
    return program, program.get("corpus", "demo")


def test_the_declared_share_of_items_is_distorted_and_the_rest_clean(tmp_path: Path) -> None:
    program, corpus = _corpus(tmp_path, "50%")
    h = program.hash_of("corpus", "demo")
    choices = [draw_render(corpus, stream(h, "item", i)) for i in range(3000)]
    distorted = [c for c in choices if c.distort is not None]
    assert 0.47 < len(distorted) / len(choices) < 0.53
    assert 0.56 < sum(c.layout == "4x3" for c in choices) / len(choices) < 0.64
    assert 0.46 < sum(c.distort == "scanned" for c in distorted) / len(distorted) < 0.54


def test_an_item_draws_the_same_render_whatever_the_order(tmp_path: Path) -> None:
    program, corpus = _corpus(tmp_path, "50%")
    h = program.hash_of("corpus", "demo")
    forward = [draw_render(corpus, stream(h, "item", i)) for i in range(50)]
    backward = [draw_render(corpus, stream(h, "item", i)) for i in reversed(range(50))]
    assert forward == backward[::-1]


def test_changing_the_ratio_keeps_each_items_layout_and_paper(tmp_path: Path) -> None:
    half_program, half = _corpus(tmp_path / "a", "50%")
    none_program, none = _corpus(tmp_path / "b", "0%")
    for i in range(200):
        key = ("item", i)
        a = draw_render(half, stream("same", *key))
        b = draw_render(none, stream("same", *key))
        assert (a.layout, a.paper) == (b.layout, b.paper) and b.distort is None


def test_preview_of_a_corpus_shows_its_render_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _corpus(tmp_path, "50%")  # writes tmp_path/spec.ecg beside a copy of specs/
    out = tmp_path / "sheet.png"
    args = [
        "preview",
        str(tmp_path / "spec.ecg"),
        "demo",
        "-n",
        "4",
        "--width",
        "160",
        "-o",
        str(out),
        "--root",
        str(tmp_path),
    ]
    assert main(args) == 0
    assert out.stat().st_size > 0 and "4 thumbnails" in capsys.readouterr().err
