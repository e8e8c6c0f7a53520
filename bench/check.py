"""Time to check every shipped spec (target: under 0.3 s on one core).

Prints the cold time (a fresh process: imports, LALR tables, checking) and the warm median
(checking again in a process that has built its parser), each as the median of several runs.
Run: python bench/check.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLD = """
import time, sys
t0 = time.perf_counter()
from pathlib import Path
from ecgspec.program import load
files = sorted(Path(sys.argv[1]).rglob('*.ecg'))
for f in files:
    p = load([f], root=Path(sys.argv[2]))
    assert p.ok, p.diagnostics
print(time.perf_counter() - t0)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, inherited by children
    specs = REPO / "specs"
    files = sorted(specs.rglob("*.ecg"))
    cold = [
        float(
            subprocess.run(
                [sys.executable, "-c", COLD, str(specs), str(REPO)], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(args.runs)
    ]
    from ecgspec.program import load

    load([files[0]], root=REPO)  # build the parser once
    warm = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        for f in files:
            load([f], root=REPO)
        warm.append(time.perf_counter() - t0)
    lines = sum(len(f.read_text().splitlines()) for f in files)
    print(f"shipped specs: {len(files)} files, {lines} lines")
    print(
        f"check, cold process (imports + parser tables + checking): median {statistics.median(cold) * 1000:.0f} ms "
        f"over {args.runs} runs"
    )
    print(
        f"check, warm (parser built):                              median {statistics.median(warm) * 1000:.1f} ms "
        f"over {args.runs} runs"
    )
    print("target: under 300 ms on one core")


if __name__ == "__main__":
    main()
