"""Signal measurements: the two R-peak detectors, and the signal measures against machine values.

    python bench/measure.py                                   # shipped samples + synthetic records
    python bench/measure.py --spec SPEC --source NAME [--limit N] [-D NAME=VALUE] [--data-root DIR]

Part 1 compares the hand-written numpy detector (`detect_r_peaks`) with the NeuroKit2 consensus
(`detect_r_peaks_nk`) on synthetic records with known beat times (ecgspec.measurements.synthetic:
three rates, 100/500/1000 Hz, clean, noisy, with a flat and with a noise-only lead) and on the
shipped real records (data/samples: PTB-XL, CinC 2021, PTB), where the reference is wfdb's XQRS on
lead II at 500 Hz. Per detector: beat-count match, median absolute timing error (ms), F1 at a
50 ms tolerance, and milliseconds per record.

Part 2 reads records of a source through ecgspec.sources and compares `measure_signal` with the
machine's measurements in each record's metadata (keys heart_rate, pr, qrs, qt, qtc, qrs_axis,
p_axis, t_axis): median absolute difference and its 90th percentile per measure. Without --spec,
it reads the shipped samples (specs/sources.ecg: ptbxl, cinc2021) and says what exists.

Decision (issue 20): the header and the facts use the NeuroKit2 consensus. Measured here: on the
19 synthetic records both detectors find every beat (F1 1.000), but the consensus places them
0.5 ms from the R peak (median) against 2.7 ms; on the 16 real records it matches XQRS's beat
count on 13 against 12, at 2.0 ms median timing difference against 8.0 ms (F1 0.985 / 0.986; the
remaining count differences are edge beats and beats XQRS misses in JS20002/JS20003). It costs
~30 ms per 10-s 12-lead record against ~1.4 ms: well within a build's budget, and cached.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from ecgspec.measurements.synthetic import SynthParams, synth_ecg
from ecgspec.records import read_wfdb
from ecgspec.records.measure import detect_r_peaks, detect_r_peaks_nk
from ecgspec.records.record import Record

SAMPLES = ROOT / "data" / "samples"
MACHINE_KEYS = {
    "heart_rate": "heart_rate",
    "pr": "pr",
    "qrs": "qrs",
    "qt": "qt",
    "qtc": "qtc_bazett",
    "qrs_axis": "qrs_axis",
    "p_axis": "p_axis",
    "t_axis": "t_axis",
}


def _match(found: np.ndarray, truth: np.ndarray, tol: float) -> tuple[float, float]:
    """(F1 at `tol` seconds, median |error| in ms of the matched beats); one-to-one, nearest first."""
    if len(found) == 0 or len(truth) == 0:
        return 0.0, float("nan")
    used = np.zeros(len(found), bool)
    errors = []
    for t in truth:
        d = np.abs(found - t)
        d[used] = np.inf
        k = int(np.argmin(d))
        if d[k] <= tol:
            used[k] = True
            errors.append(d[k])
    tp = len(errors)
    f1 = 2 * tp / (len(found) + len(truth))
    return f1, float(np.median(errors) * 1000) if errors else float("nan")


def _xqrs(rec: Record) -> np.ndarray:
    from wfdb import processing

    x, fs = rec.signals["II"], rec.fs
    if fs != 500:
        t = np.arange(len(x)) / fs
        t5 = np.arange(0, t[-1], 1 / 500)
        x, fs = np.interp(t5, t, x), 500.0
    return np.asarray(processing.xqrs_detect(x, fs=fs, verbose=False)) / fs


def _synthetic_cases() -> list[tuple[str, Record, np.ndarray]]:
    cases = []
    for hr in (50, 75, 110):
        for fs in (100, 500, 1000):
            for noise in (0.01, 0.05):
                p = SynthParams(heart_rate=hr, fs=fs, noise=noise, qt=0.36 if hr > 100 else 0.40, seed=hr + fs)
                s = synth_ecg(p)
                cases.append((f"syn hr{hr} {fs}Hz n{noise}", Record("syn", fs, s.signals), s.r_peaks))
    s = synth_ecg(SynthParams(heart_rate=70, axis=-45))
    sig = dict(s.signals)
    sig["V1"] = np.zeros_like(sig["V1"])
    sig["V2"] = np.random.default_rng(1).normal(0, 0.3, len(sig["V2"]))
    cases.append(("syn flat V1 + noise V2", Record("syn", 500, sig), s.r_peaks))
    return cases


def _real_cases() -> list[tuple[str, Record, np.ndarray]]:
    paths = [
        SAMPLES / "ptbxl" / "records100" / "00001_lr",
        *sorted(p.with_suffix("") for p in (SAMPLES / "cinc2021").glob("*.hea")),
    ]
    paths.append(SAMPLES / "ptbdb" / "s0010_re")
    out = []
    for p in paths:
        rec = read_wfdb(p)
        out.append((rec.id, rec, _xqrs(rec)))
    return out


def compare_detectors() -> None:
    detectors = {"numpy energy": detect_r_peaks, "neurokit2 consensus": detect_r_peaks_nk}
    for title, cases in (("synthetic, known beat times", _synthetic_cases()), ("real, XQRS reference", _real_cases())):
        print(f"\n== R peaks: {title} ({len(cases)} records)")
        print(f"{'detector':<22}{'count match':>12}{'median |err| ms':>17}{'F1@50ms':>9}{'ms/record':>11}")
        for name, detect in detectors.items():
            counts, errs, f1s, times = [], [], [], []
            for _, rec, truth in cases:
                stack = np.stack(list(rec.signals.values()))
                t0 = time.perf_counter()
                found = detect(stack, rec.fs) / rec.fs
                times.append((time.perf_counter() - t0) * 1000)
                f1, err = _match(found, truth, 0.050)
                counts.append(len(found) == len(truth))
                errs.append(err)
                f1s.append(f1)
            print(
                f"{name:<22}{sum(counts):>7}/{len(counts):<4}{np.nanmedian(errs):>17.1f}{np.mean(f1s):>9.3f}"
                f"{np.median(times):>11.1f}"
            )
        print("  per record (beats found: numpy / neurokit2 / reference)")
        for label, rec, truth in cases:
            stack = np.stack(list(rec.signals.values()))
            a, b = detect_r_peaks(stack, rec.fs), detect_r_peaks_nk(stack, rec.fs)
            print(f"    {label:<26} {len(a):>3} / {len(b):>3} / {len(truth):>3}")


def _records(args: argparse.Namespace) -> list[tuple[Record, dict]]:
    """(record, machine metadata) of the chosen source(s), skipping records that cannot be read."""
    from ecgspec.program import load
    from ecgspec.records import RecordError
    from ecgspec.sources import open_source

    spec = Path(args.spec) if args.spec else ROOT / "specs" / "sources.ecg"
    names = [args.source] if args.source else ["ptbxl", "cinc2021"]
    program = load([spec], root=spec.parent.parent if not args.spec else None, defines=args.define)
    if not program.ok:
        sys.exit(f"cannot load {spec}")
    out = []
    for name in names:
        reader = open_source(program, name, data_roots=args.data_root)
        for ref in reader.refs():
            try:
                rec = reader.read(ref)
            except RecordError:
                continue
            out.append((rec, {**ref.meta, **rec.meta}))
            if args.limit and len(out) >= args.limit:
                return out
    return out


def compare_with_machine(args: argparse.Namespace) -> None:
    from ecgspec.measurements.signal import measure_signal

    records = _records(args)
    print(f"\n== signal measures against machine measurements ({len(records)} records read)")
    diffs: dict[str, list[float]] = {k: [] for k in MACHINE_KEYS}
    for rec, meta in records:
        m = measure_signal(rec)
        for key, field in MACHINE_KEYS.items():
            machine = meta.get(key)
            ours = getattr(m, field).value
            if isinstance(machine, (int, float)) and not isinstance(machine, bool) and ours is not None:
                d = abs(float(machine) - ours)
                if key.endswith("axis"):
                    d = abs((d + 180) % 360 - 180)
                diffs[key].append(d)
        heart = m.heart_rate.value
        print(
            f"  {rec.id:<12} HR {heart or float('nan'):6.1f}  PR {m.pr.value or float('nan'):5.0f}"
            f"  QRS {m.qrs.value or float('nan'):4.0f}  QT {m.qt.value or float('nan'):4.0f}"
            f"  axis {m.qrs_axis.value or float('nan'):5.0f}  machine keys: "
            + (", ".join(k for k in MACHINE_KEYS if k in meta) or "none")
        )
    print(f"  {'measure':<12}{'n':>5}{'median |diff|':>15}{'p90 |diff|':>12}")
    for key, d in diffs.items():
        if d:
            print(f"  {key:<12}{len(d):>5}{np.median(d):>15.1f}{np.percentile(d, 90):>12.1f}")
        else:
            print(f"  {key:<12}{0:>5}{'(no machine value in the metadata)':>40}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=None, help="spec declaring the source (default: specs/sources.ecg)")
    ap.add_argument("--source", default=None, help="source name (default: ptbxl and cinc2021 of the samples)")
    ap.add_argument("--limit", type=int, default=None, help="at most N records")
    ap.add_argument("-D", dest="define", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--data-root", action="append", default=[], metavar="DIR")
    ap.add_argument("--skip-detectors", action="store_true", help="only part 2")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if not args.skip_detectors:
        compare_detectors()
    compare_with_machine(args)


if __name__ == "__main__":
    main()
