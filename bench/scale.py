"""Build throughput by executor, and the planner at a million items, in one run.

    python bench/scale.py [--items 60] [--runs 3] [--count 1200000]

Speed: the shipped demo corpus (specs/ecginstruct.ecg, `-D variants=…` to reach --items, `--limit`
--items) built --runs times from scratch with the local executor at -j 1 and -j 2, and with
`--executor ray` at -j 1 and -j 2 where `ecgspec build --help` lists `--executor`; the median
items/s of each (whole command, process start included). Planner: `ecgspec plan --calibrate 0`
of a synthetic corpus of --count records in a child process; its wall time and peak RSS
(getrusage of the children). Targets: under 60 s and under 1 GiB at 1.2M items.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

SYNTH = """
import "std/layouts.ecg"
import "std/papers.ecg"
import "std/distortions.ecg"

synth load_test {{
    count      = {count}
    fs         = 250 Hz
    heart_rate = uniform(50 bpm, 110 bpm)
    seed       = 1
}}

task rate {{
    family   = basic
    form     = open
    template = "instruct/basic/rate_open.j2"
    answer   = record.heart_rate
}}

task axis {{
    family   = basic
    form     = multiple_choice
    template = "instruct/basic/axis_mcq.j2"
    answer   = record.axis
}}

corpus scale {{
    from load_test
    layout    = choice["4x3": 0.5, "12x1": 0.5]
    distort   = mild
    distorted = 50%
    tasks     = [rate, axis]
    turns     = 1..2
    dpi       = 50 dpi
}}
"""


def has_ray() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "ecgspec", "build", "--help"], cwd=REPO, env=ENV, capture_output=True, text=True
    ).stdout
    return "--executor" in help_text


def rate(items: int, jobs: int, extra: list[str], out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ecgspec", "build", str(REPO / "specs" / "ecginstruct.ecg"), "-o", str(out)]
        + ["-j", str(jobs), "--limit", str(items), "-D", f"variants={items // 10 + 1}", "--no-progress", *extra],
        cwd=REPO,
        env=ENV,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    built = json.loads((out / "build.json").read_text())["corpora"]["ecginstruct"]["items"]
    shutil.rmtree(out)
    return float(built) / seconds


def speed(items: int, runs: int, work: Path) -> None:
    setups: list[tuple[str, list[str]]] = [("local", [])]
    ray = has_ray()
    if ray:
        setups.append(("ray", ["--executor", "ray"]))
    print(f"demo corpus, {items} items, median of {runs} runs (whole command, process start included):")
    for name, extra in setups:
        cells = []
        for jobs in (1, 2):
            rates = [rate(items, jobs, extra, work / f"{name}-{jobs}-{r}") for r in range(runs)]
            cells.append(f"-j {jobs}: {statistics.median(rates):6.2f} items/s")
        print(f"  {name:<6} " + "   ".join(cells))
    if not ray:
        print("  ray executor: not available")


def planner(count: int, work: Path) -> None:
    shutil.copytree(REPO / "templates", work / "templates", dirs_exist_ok=True)
    spec = work / "synth.ecg"
    spec.write_text(SYNTH.format(count=count))
    code = (
        "import json, resource, subprocess, sys, time; t = time.perf_counter(); "
        f"p = subprocess.run([sys.executable, '-m', 'ecgspec', 'plan', {str(spec)!r}, '--json', '--calibrate', '0'], "
        "check=True, capture_output=True, text=True); s = time.perf_counter() - t; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, s, json.loads(p.stdout)['corpora']['scale']['images'])"
    )
    kib, seconds, images = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=ENV, check=True, capture_output=True, text=True
    ).stdout.split()
    print(f"planner, synthetic corpus of {int(images):,} items (--calibrate 0):")
    print(f"  {float(seconds):.1f} s (target < 60 s), peak RSS {int(kib) / 1024:.1f} MiB (target < 1024 MiB)")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ecgspec", "plan", str(spec), "--json"],
        cwd=work,
        env=ENV,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(
        f"  with --calibrate 8: {time.perf_counter() - start:.1f} s, peak RSS of the children so far {peak / 1024:.1f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=1_200_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        speed(a.items, a.runs, Path(tmp))
        planner(a.count, Path(tmp))


if __name__ == "__main__":
    main()
