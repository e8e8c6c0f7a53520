"""Build throughput and memory: items/s at --jobs 1 and 2, peak RSS at 1x and 10x corpus size.

    python bench/build.py [--items 420] [--runs 3] [--scale 100 1000]

Speed: the shipped demo corpus (specs/ecginstruct.ecg: real records, mixed layouts, papers and
distortions at 100 dpi; `-D variants=…` makes it reach --items) built --runs times from scratch
at each job count; the median items/s and the 2-job speed-up are printed. Memory: a corpus over
a synthetic source of N records (50 dpi, light pages, so the 10x run stays short) built in a
child process at --jobs 1; its peak RSS (getrusage) at N and 10N, and the growth.
Targets: speed-up >= 1.8x; growth < 20%.
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
    layout    = "12x1"
    distort   = mild
    distorted = 50%
    tasks     = [rate, axis]
    turns     = 1..2
    dpi       = 50 dpi
}}
"""


def _build(args: list[str], cwd: Path) -> tuple[float, int]:
    """Run `ecgspec build` in a child; return (seconds, peak RSS of the child and its workers in KiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "ecgspec", "build", *args, "--no-progress"],
        cwd=cwd,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before)


def speed(items: int, runs: int, work: Path) -> None:
    rates: dict[int, list[float]] = {1: [], 2: []}
    built = 0
    for run in range(runs):
        for jobs in (1, 2):
            out = work / f"speed-{jobs}-{run}"
            seconds, _ = _build(
                [
                    str(REPO / "specs" / "ecginstruct.ecg"),
                    "-o",
                    str(out),
                    "-j",
                    str(jobs),
                    "--limit",
                    str(items),
                    "-D",
                    f"variants={items // 10 + 1}",
                ],
                REPO,
            )
            built = json.loads((out / "build.json").read_text())["corpora"]["ecginstruct"]["items"]
            rates[jobs].append(built / seconds)
            shutil.rmtree(out)
    r1, r2 = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"demo corpus, {built} items, median of {runs} runs (whole command, process start included):")
    print(f"  --jobs 1: {r1:.2f} items/s   --jobs 2: {r2:.2f} items/s   speed-up {r2 / r1:.2f}x (target >= 1.8x)")


def memory(sizes: list[int], work: Path) -> None:
    shutil.copytree(REPO / "templates", work / "templates", dirs_exist_ok=True)
    peaks = []
    for n in sizes:
        spec = work / f"scale{n}.ecg"
        spec.write_text(SYNTH.format(count=n))
        # Each size in its own interpreter, so one run's peak does not hide the other's.
        code = (
            "import resource, subprocess, sys, time; t=time.perf_counter(); "
            f"subprocess.run([sys.executable, '-m', 'ecgspec', 'build', {str(spec)!r}, '-o', {str(work / f'o{n}')!r}, "
            "'-j', '1', '--no-progress'], check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter()-t)"
        )
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        kib, seconds = subprocess.run(
            [sys.executable, "-c", code], cwd=work, env=env, check=True, capture_output=True, text=True
        ).stdout.split()
        peaks.append(int(kib))
        print(f"  synthetic corpus of {n:>6} items: peak RSS {int(kib) / 1024:.1f} MiB ({float(seconds):.1f} s)")
    print(
        f"  growth {peaks[0] / 1024:.1f} -> {peaks[-1] / 1024:.1f} MiB: {100 * (peaks[-1] / peaks[0] - 1):+.1f}% "
        "(target < 20%)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=420)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=int, nargs=2, default=[100, 1000])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        speed(a.items, a.runs, Path(tmp))
        print("peak memory of a build, 1x and 10x:")
        memory(a.scale, Path(tmp))


if __name__ == "__main__":
    main()
