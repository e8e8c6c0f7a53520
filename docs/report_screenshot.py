"""Make docs/images/report.png, the picture of an evaluation report in docs/evaluation.md: the shipped
sample suite (specs/ecgbench_samples.ecg) built, answered offline by a fixed, imperfect "model" (per-label
scores for the rhythms, one wrong and one unreadable multiple-choice answer), scored by `ecgspec score`,
and report.html screenshotted by headless Chromium.

    .venv/bin/python docs/report_screenshot.py            # rewrites docs/images/report.png
    .venv/bin/python docs/report_screenshot.py -o DIR     # also keeps the report (report.html, plots) in DIR

Needs a `chromium` (or `chromium-browser`, `google-chrome`) binary; Debian: apt-get install chromium.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PNG = ROOT / "docs" / "images" / "report.png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    return next((p for name in BROWSERS if (p := shutil.which(name))), None)


def sample_answers(plan_path: Path) -> list[dict[str, object]]:
    """predictions.jsonl lines for the sample plan: rhythm scores that rank the targets high except on one
    record, and multiple-choice answers right but for one wrong letter and one that names no option."""
    from ecgspec.artifacts.plan_schema import load_plan

    rows: list[dict[str, object]] = []
    for task in load_plan(plan_path).tasks:
        for k, it in enumerate(task.items):
            if task.form == "multi_label":
                scores = {c: round(0.05 + 0.04 * j, 2) for j, c in enumerate(task.labels)}
                for c in it.target or ():
                    scores[c] = 0.9 - 0.1 * k
                if not it.target:  # a record with no rhythm label: the model is unsure of everything
                    scores = {c: 0.4 for c in scores}
                if k == 1:  # one record where the model takes the rhythm for the first label
                    scores = {**{c: min(s, 0.35) for c, s in scores.items()}, task.labels[0]: 0.7}
                said = [c for c, s in scores.items() if s >= 0.5]
                rows.append({"id": it.id, "response": ", ".join(said) or "none of these", "scores": scores})
            else:
                letters = "ABCDEFGH"[: len(it.options or ())]
                wrong = letters[(letters.index(str(it.target)) + 1) % len(letters)]
                answer = {1: f"Answer: {wrong}", 2: "I cannot tell from this tracing."}.get(k, f"Answer: {it.target}")
                rows.append({"id": it.id, "response": answer})
    return rows


def build_sample_report(out: Path) -> Path:
    """The sample suite built, answered and scored into out/; returns out/report/report.html."""
    from ecgspec.artifacts.plan_schema import load_plan
    from ecgspec.artifacts.results import Results
    from ecgspec.cli import main
    from runtime.evaluate.report import write_report

    bench = out / "bench"
    spec = ROOT / "specs" / "ecgbench_samples.ecg"
    if main(["build", str(spec), "--root", str(ROOT), "-o", str(bench), "-j", "1", "--no-progress"]) != 0:
        raise SystemExit("building the sample suite failed")
    plan_path = bench / "plans" / "ecgbench_samples.json"
    preds = out / "predictions.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in sample_answers(plan_path)))
    report = out / "report"
    if main(["score", str(plan_path), "--predictions", str(preds), "-o", str(report)]) != 0:
        raise SystemExit("scoring the sample answers failed")
    # the report again, with the plan, so that each task row names its answer mode
    res = Results.model_validate_json((report / "results" / "ecgbench_samples.json").read_text())
    write_report(res, report, plan=load_plan(plan_path))
    return report / "report.html"


def screenshot(html: Path, png: Path, width: int = 1100, height: int = 2300, timeout: float = 120) -> None:
    """A headless Chromium screenshot of a local page, with no network, sync or profile of its own."""
    browser = find_chromium()
    if browser is None:
        raise SystemExit("no chromium binary on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            html.resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not png.is_file():
        raise SystemExit(f"chromium failed ({done.returncode}): {done.stderr.strip()[-800:]}")


def shrink(png: Path, margin: int = 24) -> None:
    """The blank window below the page cut off, and a 256-colour palette: the page is flat colours and
    text, and the PNG a fraction of the size."""
    from PIL import Image, ImageChops

    with Image.open(png) as im:
        rgb = im.convert("RGB")
    box = ImageChops.difference(rgb, Image.new("RGB", rgb.size, "white")).getbbox()
    if box is not None:
        rgb = rgb.crop((0, 0, rgb.width, min(rgb.height, box[3] + margin)))
    small = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(png, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, help="keep the report in this folder (default: a temporary one)")
    ap.add_argument("--png", type=Path, default=PNG)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        out = args.output or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        html = build_sample_report(out)
        args.png.parent.mkdir(parents=True, exist_ok=True)
        screenshot(html, args.png)
        shrink(args.png)
    print(f"wrote {args.png} ({args.png.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
