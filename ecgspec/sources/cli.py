"""`ecgspec sources SPEC [NAME]`: what a spec's sources hold, before anything is built.

Counts per split part and per label, and every record left out while listing, with the file
and the reason. With `--decode N`, the first N records of each source are read as a build
would read them, and each lead is described: samples, rate, min/max/mean mV and flags (missing
samples, clipped or padded runs, samples beyond ±5 mV, a flat lead), with the plausibility
verdict (`ecgspec.records.plausibility`) — what a new `format` declaration is checked with.
Exit status: 0 ok, 1 errors in the spec or a source that cannot be opened (or, with --strict,
records skipped or decoded records that are broken), 2 misuse of the command line. Imports
nothing heavy until run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def _err(message: str) -> None:
    print(f"ecgspec sources: {message}", file=sys.stderr)


def summarise(reader: Any, split: str | None, limit: int | None) -> dict[str, Any]:
    """Counts of one source; streams its refs once."""
    splits: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    count = 0
    synthetic = False
    examples: list[str] = []
    for ref in reader.refs(split):
        count += 1
        splits[ref.split or "(none)"] += 1
        labels.update(ref.labels)
        synthetic = synthetic or ref.synthetic
        if len(examples) < 3:
            examples.append(ref.key)
        if limit is not None and count >= limit:
            break
    vocab = reader.labels.vocabulary if reader.labels is not None else tuple(labels)
    return {
        "source": reader.name,
        "adapter": getattr(reader.decl, "adapter", "synth"),
        "root": str(reader.root),
        "records": count,
        "synthetic": synthetic,
        "splits": dict(sorted(splits.items())),
        "labels": {lab: labels[lab] for lab in vocab if labels[lab]},
        "first_keys": examples,
        "skipped": [{"key": s.key, "path": s.path, "reason": s.reason} for s in reader.skipped],
        "notes": list(getattr(reader, "notes", [])),  # e.g. which DICOM waveform group was read
    }


# ---- --decode: what the records really hold ----------------------------------------------------

# A lead beyond this is flagged (not refused: the plausibility check refuses beyond ±20 mV).
BEYOND_MV = 5.0
# A run of equal samples at a lead's extreme at least this long (seconds, and at least
# CLIP_MIN samples) is clipping: the front end saturated, or the export cut the values.
CLIP_SECONDS = 0.02
CLIP_MIN = 4
# A run of one value at the start or the end of a lead at least this long is padding.
PAD_SECONDS = 0.25
# A lead whose values span less than this (mV) is flat: a disconnected electrode or a zero lead.
FLAT_MV = 0.01


def _runs(x: Any) -> tuple[Any, Any, Any]:
    """Runs of equal consecutive values: (starts, lengths, values)."""
    import numpy as np

    change = np.flatnonzero(np.diff(x) != 0) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [len(x)])))
    return starts, lengths, x[starts]


def lead_stats(x: Any, fs: float, filled: int = 0) -> dict[str, Any]:
    """One lead (mV) described: samples, rate, min/max/mean over its finite samples, and flags.
    `filled` counts missing samples the reader already filled in (meta["nan_samples"])."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    n = int(x.size)
    finite = np.isfinite(x)
    missing = int(n - finite.sum()) + int(filled)
    out: dict[str, Any] = {
        "samples": n,
        "fs": fs,
        "min_mv": None,
        "max_mv": None,
        "mean_mv": None,
        "nan_share": round(missing / n, 4) if n else 0.0,
        "clipped_run": 0,
        "padding": [0, 0],
        "beyond_5mv": 0,
        "flat": False,
        "flags": [],
    }
    flags: list[str] = out["flags"]
    if missing:
        flags.append(f"missing {missing / max(n, 1):.1%} (NaN)")
    v = x[finite]
    if v.size == 0:
        flags.append("no finite samples")
        return out
    lo, hi = float(v.min()), float(v.max())
    out.update(min_mv=round(lo, 4), max_mv=round(hi, 4), mean_mv=round(float(v.mean()), 4))
    if hi - lo < FLAT_MV:
        out["flat"] = True
        flags.append(f"flat (spans {hi - lo:.3g} mV)")
        return out  # one long run: neither clipping nor padding says more
    starts, lengths, values = _runs(v)
    at_edge = (values == lo) | (values == hi)
    clip = int(lengths[at_edge].max()) if at_edge.any() else 0
    if clip >= max(CLIP_MIN, round(CLIP_SECONDS * fs)):
        out["clipped_run"] = clip
        where = hi if values[at_edge][np.argmax(lengths[at_edge])] == hi else lo
        flags.append(f"clipped: {clip} equal samples at {where:.3g} mV")
    pad_min = max(CLIP_MIN, round(PAD_SECONDS * fs))
    head = int(lengths[0]) if lengths[0] >= pad_min else 0
    tail = int(lengths[-1]) if len(lengths) > 1 and lengths[-1] >= pad_min else 0
    if head or tail:
        out["padding"] = [head, tail]
        flags.append(f"padding: {head} samples at the start, {tail} at the end")
    beyond = int(np.count_nonzero(np.abs(v) > BEYOND_MV))
    if beyond:
        out["beyond_5mv"] = beyond
        flags.append(f"beyond ±{BEYOND_MV:g} mV: {beyond} samples")
    return out


def decode_record(reader: Any, ref: Any) -> dict[str, Any]:
    """One record read as a build reads it, described lead by lead, with the verdict: `ok`, or
    why the build would leave it out (`implausible: …` from the plausibility check, or the
    reader's error). The leads are described as the file holds them, before missing samples are
    filled in and before any resampling."""
    import numpy as np

    from ..records import RecordError, fill_nan, implausible
    from .paths import display

    where = ref.path or str(reader.root)
    path = display(ref.path) if ref.path else None
    entry: dict[str, Any] = {"key": ref.key, "path": path, "split": ref.split, "labels": list(ref.labels)}
    try:
        raw = reader.load(ref)
    except RecordError as exc:
        return {**entry, "leads": {}, "verdict": "broken", "reason": str(exc)}
    except Exception as exc:  # what `read` turns into a RecordError; the kind is enough here
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return {**entry, "leads": {}, "verdict": "broken", "reason": f"{where}: cannot read record {ref.key}: {why}"}
    filled = dict(raw.meta.get("nan_samples") or {})
    wanted = [lead for lead in reader.leads if lead in raw.signals]
    leads = {lead: lead_stats(raw.signals[lead], raw.fs, filled.get(lead, 0)) for lead in wanted}
    entry.update(
        fs=raw.fs,
        samples=raw.n_samples,
        seconds=round(raw.n_samples / raw.fs, 3) if raw.fs else None,
        missing_leads=[lead for lead in reader.leads if lead not in raw.signals],
        leads=leads,
    )
    target = getattr(reader.decl, "fs", None)
    if target and raw.fs and abs(target - raw.fs) > 1e-9:
        entry["resampled_to"] = float(target)
    signals = {}
    for lead in wanted:
        x = np.asarray(raw.signals[lead], dtype=np.float64)
        signals[lead] = fill_nan(x)[0] if not np.isinf(x).any() else x
    reason = implausible(signals, raw.fs) if signals else None
    if reason is not None:
        return {**entry, "verdict": "implausible", "reason": reason}
    try:
        reader._finish(raw, ref, where)  # what `read` checks after loading: leads, lengths, NaN share
    except RecordError as exc:
        return {**entry, "verdict": "broken", "reason": str(exc)}
    return {**entry, "verdict": "ok", "reason": None}


def decode(reader: Any, split: str | None, n: int) -> dict[str, Any]:
    """The first n records of a source (or of one split part), decoded."""
    records = []
    for ref in reader.refs(split):
        records.append(decode_record(reader, ref))
        if len(records) >= n:
            break
    return {
        "source": reader.name,
        "adapter": getattr(reader.decl, "adapter", "synth"),
        "root": str(reader.root),
        "decoded": records,
        "skipped": [{"key": s.key, "path": s.path, "reason": s.reason} for s in reader.skipped],
    }


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def print_decoded(result: dict[str, Any], show_skipped: int) -> None:
    print(f"source {result['source']} from {result['adapter']}: {len(result['decoded'])} records decoded")
    print(f"  root    {result['root']}")
    for r in result["decoded"]:
        print()
        if not r["leads"]:
            print(f"record {r['key']}  {r['path'] or ''}".rstrip())
        else:
            resampled = f", resampled to {r['resampled_to']:g} Hz when read" if r.get("resampled_to") else ""
            print(
                f"record {r['key']}  {r['path'] or ''}  {r['samples']} samples at {r['fs']:g} Hz "
                f"({r['seconds']:g} s{resampled})"
            )
            print(f"  {'lead':<5} {'samples':>8} {'Hz':>6} {'min mV':>8} {'max mV':>8} {'mean mV':>8}  flags")
            for lead, s in r["leads"].items():
                print(
                    f"  {lead:<5} {s['samples']:>8} {s['fs']:>6g} {_num(s['min_mv']):>8} {_num(s['max_mv']):>8} "
                    f"{_num(s['mean_mv']):>8}  {'; '.join(s['flags']) or '-'}"
                )
            if r["missing_leads"]:
                print(f"  missing leads: {', '.join(r['missing_leads'])}")
        verdict = "ok" if r["verdict"] == "ok" else f"{r['verdict']}: {r['reason']}"
        print(f"  verdict {verdict}")
    if result["skipped"]:
        print(f"  skipped {len(result['skipped'])} while listing")
        for s in result["skipped"][:show_skipped]:
            print(f"    {s['path']}: {s['key']}: {s['reason']}")


def load_for_sources(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Any, int]:
    """The spec a source command reads (`args.spec`, `--root`, `-D`, `--limit`), loaded with its
    diagnostics printed: (program, 0), or (None, the exit code) when it does not check."""
    from ..errors import format_all
    from ..program import load

    spec = Path(args.spec)
    if not spec.is_file():
        parser.error(f"no such spec file: {args.spec}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    program = load([spec], root=args.root, defines=args.define)
    if program.diagnostics:
        print(format_all(program.diagnostics, program.sources, sys.stderr.isatty()), file=sys.stderr)
    if not program.ok:
        return None, 2 if any(d.code.startswith("define") for d in program.diagnostics) else 1
    return program, 0


def cmd_sources(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..errors import format_diagnostic
    from . import SourceError, open_source

    if args.decode is not None and args.decode < 1:
        parser.error("--decode must be at least 1")
    program, code = load_for_sources(args, parser)
    if program is None:
        return code
    names = [n for (k, n) in program.decls if k in ("source", "synth")]
    if args.name is not None:
        if args.name not in names:
            from ..errors import did_you_mean

            hint = did_you_mean(args.name, names)
            _err(f"no source named '{args.name}'" + (f"; {hint}" if hint else f" (sources: {', '.join(names)})"))
            return 2
        names = [args.name]
    if args.split is not None and args.name is None:
        parser.error("--split needs a source NAME")
    results = []
    failed = 0
    for name in names:
        try:
            reader = open_source(program, name, data_roots=args.data_root)
            if args.decode is not None:
                results.append(decode(reader, args.split, args.decode))
            else:
                results.append(summarise(reader, args.split, args.limit))
        except SourceError as exc:
            print(format_diagnostic(exc.diagnostic, program.sources, sys.stderr.isatty()), file=sys.stderr)
            failed += 1
    if args.json:
        print(json.dumps({"sources": results}, indent=2))
    elif args.decode is not None:
        for i, r in enumerate(results):
            if i:
                print()
            print_decoded(r, args.show_skipped)
    else:
        for r in results:
            mark = "  (synthetic: scale tests only)" if r["synthetic"] else ""
            print(f"source {r['source']} from {r['adapter']}: {r['records']} records{mark}")
            print(f"  root    {r['root']}")
            if r["splits"] and list(r["splits"]) != ["(none)"]:
                print("  splits  " + ", ".join(f"{k} {v}" for k, v in r["splits"].items()))
            if r["labels"]:
                print("  labels  " + ", ".join(f"{k} {v}" for k, v in r["labels"].items()))
            for note in r.get("notes", ()):
                print(f"  note    {note}")
            if r["skipped"]:
                print(f"  skipped {len(r['skipped'])}")
                for s in r["skipped"][: args.show_skipped]:
                    print(f"    {s['path']}: {s['key']}: {s['reason']}")
                if len(r["skipped"]) > args.show_skipped:
                    print(f"    … and {len(r['skipped']) - args.show_skipped} more (--json lists them all)")
    skipped = sum(len(r["skipped"]) for r in results)
    skipped += sum(d["verdict"] != "ok" for r in results for d in r.get("decoded", ()))
    if failed:
        return 1
    return 1 if (args.strict and skipped) else 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sources",
        help="list what a spec's record sources hold: splits, labels, skipped records",
        description="Open each source (or NAME) of SPEC, list its records from the index "
        "(no signal is read), and count them per split part and label. Records "
        "that cannot be listed are shown with their file and the reason. With --decode N, "
        "read the first N records instead and describe each lead and the record's verdict.",
    )
    p.add_argument("spec", metavar="SPEC", help="spec file declaring the sources")
    p.add_argument("name", nargs="?", metavar="NAME", help="one source (default: all)")
    p.add_argument("--split", default=None, help="only this split part (needs NAME)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N records per source")
    p.add_argument(
        "--data-root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder outside the spec root that sources may read (repeatable)",
    )
    p.add_argument(
        "--decode",
        type=int,
        default=None,
        metavar="N",
        help="read the first N records' signals and describe each lead: samples, rate, min/max/mean mV, "
        "flags (missing samples, clipped or padded runs, beyond ±5 mV, flat) and the plausibility verdict",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--strict", action="store_true", help="exit 1 when any record is skipped (or, with --decode, broken)"
    )
    p.add_argument("--show-skipped", type=int, default=20, metavar="N", help="skipped records to print (default 20)")
    p.add_argument(
        "-D",
        dest="define",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a `let` constant, e.g. -D ptbxl_root='\"/data/ptb-xl\"'",
    )
    p.add_argument("--root", type=Path, default=None, help="spec root (default: the working directory)")
    p.set_defaults(func=cmd_sources)
