"""Peak memory of reading a source: 1,000 and 10,000 synthetic records, each size in its own process.

    python bench/sources.py [--sizes 1000 10000] [--fs 100]

Each child process lists a synth source's refs and reads every record (signals generated, lead
arrays touched, then dropped), the way a corpus build streams them, and reports its peak RSS
(resource.getrusage). Streaming means the peak does not grow with the count: target < 20%.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from ecgspec.program import load
from ecgspec.sources import open_source

spec = Path(sys.argv[1])
program = load(spec, root=spec.parent)
reader = open_source(program, "load_test")
start = time.perf_counter()
n = 0
checksum = 0.0
for ref in reader.refs():
    rec = reader.read(ref)
    assert rec.meta["synthetic"] is True
    checksum += float(rec.signals["II"][0])
    n += 1
elapsed = time.perf_counter() - start
print(json.dumps({"records": n, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": elapsed}))
"""


def run(count: int, fs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bench.ecg"
        spec.write_text(
            f"synth load_test {{\n    count = {count}\n    fs = {fs} Hz\n    duration = 10 s\n"
            "    heart_rate = uniform(50 bpm, 110 bpm)\n    noise = 0.02 mV\n}\n"
        )
        out = subprocess.run([sys.executable, "-c", CHILD, str(spec)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--fs", type=int, default=100, help="sampling rate of the synthetic records (Hz)")
    args = ap.parse_args()
    results = []
    for size in args.sizes:
        t = time.perf_counter()
        r = run(size, args.fs)
        results.append(r)
        print(
            f"{r['records']:>7} records: peak RSS {r['peak_rss_mb']:7.1f} MB, {r['seconds']:6.1f} s reading "
            f"({(time.perf_counter() - t):.1f} s with start-up)"
        )
    if len(results) >= 2:
        growth = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"] - 1
        verdict = "ok" if growth < 0.20 else "over the 20% target"
        print(f"growth {results[0]['records']} → {results[-1]['records']}: {growth:+.1%} ({verdict})")


if __name__ == "__main__":
    main()
