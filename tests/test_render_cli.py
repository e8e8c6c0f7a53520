"""`ecgspec render` and `ecgspec preview`, through the functions the main CLI registers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecgspec.render.cli import main

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "data" / "samples" / "cinc2021" / "JS20000"


def test_render_writes_png_sidecar_and_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "js.png"
    assert (
        main(["render", str(RECORD), "--layout", "6x2", "--paper", "muse", "--seed", "3", "--svg", "-o", str(out)]) == 0
    )
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["render"]["layout"] == "6x2" and sidecar["render"]["paper"] == "muse"
    assert sidecar["render"]["seed"] == 3 and sidecar["render"]["renderer"] == "cairo"
    assert out.with_suffix(".svg").read_text().startswith("<svg")
    with Image.open(out) as im:
        assert im.size == (sidecar["image"]["width"], sidecar["image"]["height"])
    assert "wrote" in capsys.readouterr().err


def test_render_reference_uses_cairosvg_and_matches_the_fast_path(tmp_path: Path):
    assert main(["render", str(RECORD), "--dpi", "100", "-o", str(tmp_path / "a.png")]) == 0
    assert main(["render", str(RECORD), "--dpi", "100", "--reference", "-o", str(tmp_path / "b.png")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["render"]["renderer"] == "cairosvg"
    a = np.asarray(Image.open(tmp_path / "a.png").convert("RGB")).astype(int)
    b = np.asarray(Image.open(tmp_path / "b.png").convert("RGB")).astype(int)
    assert a.shape == b.shape == (850, 1100, 3) and np.abs(a - b).mean() < 1.0


def test_an_unknown_layout_gets_a_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["render", str(RECORD), "--layout", "3x3", "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "no layout named '3x3'" in err and "did you mean" in err
    assert not (tmp_path / "x.png").exists()


def test_an_unknown_paper_gets_a_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["render", str(RECORD), "--paper", "pagewritter", "-o", str(tmp_path / "x.png")]) == 1
    assert "did you mean 'pagewriter'?" in capsys.readouterr().err


def test_a_bad_record_is_one_message_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "bad.hea").write_text("bad 12 500 5000\nbad.mat 16x1+24 1000.0(0)/mv 16 0 10 23323 0 I\n")
    assert main(["render", str(tmp_path / "bad"), "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "bad") in err and "Traceback" not in err


def test_a_layout_that_does_not_fit_is_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["render", str(RECORD), "--paper", "fast", "-o", str(tmp_path / "x.png")]) == 1
    assert "does not fit paper 'fast' across" in capsys.readouterr().err


def test_spec_errors_are_printed_with_their_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = tmp_path / "mine.ecg"
    spec.write_text("paper mine {\n    speed = 25 mm\n}\n")
    assert main(["render", str(RECORD), "--spec", str(spec), "--paper", "mine", "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "mine.ecg:2:" in err and "error" in err


def test_a_users_spec_supplies_its_own_paper(tmp_path: Path):
    spec = tmp_path / "mine.ecg"
    spec.write_text(
        'import "layouts.ecg"\nimport "papers.ecg"\n'
        'paper mine extends standard {\n    header = "{{ record.id }} on my paper"\n}\n'
    )
    for name in ("layouts.ecg", "papers.ecg"):
        (tmp_path / name).write_text((ROOT / "specs" / name).read_text())
    out = tmp_path / "x.png"
    assert (
        main(["render", str(RECORD), "--spec", str(spec), "--paper", "mine", "--root", str(tmp_path), "-o", str(out)])
        == 0
    )
    assert json.loads(out.with_suffix(".json").read_text())["render"]["header"] == ["JS20000 on my paper"]


def test_preview_tiles_a_spec_into_a_labelled_contact_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "sheet.png"
    assert (
        main(
            ["preview", str(ROOT / "specs" / "papers.ecg"), "-n", "4", "--width", "200", "--dpi", "50", "-o", str(out)]
        )
        == 0
    )
    with Image.open(out) as im:
        assert im.size[0] == 2 * (200 + 12) + 12  # 4 thumbnails: 2 columns
    assert "4 thumbnails" in capsys.readouterr().err


def test_preview_of_one_name_renders_the_shipped_records_in_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert (
        main(
            [
                "preview",
                str(ROOT / "specs" / "papers.ecg"),
                "fast",
                "-n",
                "2",
                "--width",
                "160",
                "--dpi",
                "40",
                "-o",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    assert "2 could not render" in capsys.readouterr().err  # 4x3 does not fit at 50 mm/s: shown, not fatal
    assert main(["preview", str(ROOT / "specs" / "layouts.ecg"), "12x2", "-o", str(tmp_path / "t.png")]) == 1
    assert "did you mean" in capsys.readouterr().err


def test_render_applies_a_shipped_distortion_and_records_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "d.png"
    assert main(["render", str(RECORD), "--distort", "photo", "--seed", "2", "-o", str(out)]) == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["render"]["distort"] == "photo" and sidecar["render"]["seed"] == 2
    assert sidecar["distortions"] and all(set(d) == {"op", "params", "seed"} for d in sidecar["distortions"])
    assert "distort photo seed 2" in capsys.readouterr().err
    with Image.open(out) as im:
        assert im.size == (sidecar["image"]["width"], sidecar["image"]["height"])


def test_an_unknown_distortion_gets_a_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["render", str(RECORD), "--distort", "scaned", "-o", str(tmp_path / "x.png")]) == 1
    assert "no distort named 'scaned'; did you mean 'scanned'?" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_a_jpg_output_is_a_jpeg_at_the_quality_asked(tmp_path: Path):
    assert main(["render", str(RECORD), "--dpi", "100", "--quality", "60", "-o", str(tmp_path / "a.jpg")]) == 0
    assert main(["render", str(RECORD), "--dpi", "100", "-o", str(tmp_path / "b.jpg")]) == 0
    a, b = (tmp_path / "a.jpg").read_bytes(), (tmp_path / "b.jpg").read_bytes()
    assert a[:2] == b"\xff\xd8" and len(a) < len(b)
    with Image.open(tmp_path / "a.jpg") as im:
        assert im.format == "JPEG" and im.size == (1100, 850) and round(im.info["dpi"][0]) == 100
    assert json.loads((tmp_path / "a.json").read_text())["image"]["width"] == 1100


def test_preview_of_a_distortion_spec_shows_each_preset_beside_the_clean_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "sheet.png"
    assert (
        main(
            [
                "preview",
                str(ROOT / "specs" / "distortions.ecg"),
                "-n",
                "3",
                "--width",
                "160",
                "--dpi",
                "50",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert "3 thumbnails" in capsys.readouterr().err
    assert (
        main(
            [
                "preview",
                str(ROOT / "specs" / "distortions.ecg"),
                "aged",
                "-n",
                "3",
                "--width",
                "160",
                "--dpi",
                "50",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert "3 thumbnails" in capsys.readouterr().err
    assert main(["preview", str(ROOT / "specs" / "distortions.ecg"), "aeged", "-o", str(out)]) == 1
    assert "did you mean 'aged'?" in capsys.readouterr().err
