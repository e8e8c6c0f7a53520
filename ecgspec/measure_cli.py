"""`ecgspec measure SPEC SOURCE`: what the facts would measure on a source's records.

Per record, the machine's measurements (from the record's metadata, where its source has them)
and the signal's (NeuroKit2 on the waveform), side by side: a table, or with --json one object a
line. Exit status: 0 ok, 1 errors in the spec, a source that cannot be opened or a record that
cannot be read, 2 misuse of the command line. Imports nothing heavy until run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# (field, label, unit, decimals) of the table's scalar rows
ROWS = (
    ("heart_rate", "heart rate", "bpm", 0),
    ("rr_variation", "RR variation", "", 3),
    ("pr", "PR", "ms", 0),
    ("qrs", "QRS", "ms", 0),
    ("qt", "QT", "ms", 0),
    ("qtc_bazett", "QTc Bazett", "ms", 0),
    ("qtc_fridericia", "QTc Fridericia", "ms", 0),
    ("p_axis", "P axis", "deg", 0),
    ("qrs_axis", "QRS axis", "deg", 0),
    ("t_axis", "T axis", "deg", 0),
)
POLARITY = {"positive": "+", "negative": "-", "biphasic": "±", "flat": "0"}


def _err(message: str) -> None:
    print(f"ecgspec measure: {message}", file=sys.stderr)


def _cell(m: Any, decimals: int) -> str:
    """A measure as `value ±spread (quality)`, or `-` where not measured."""
    if m is None or m.value is None:
        return "-"
    text = f"{m.value:.{decimals}f}"
    if m.spread is not None:
        text += f" ±{m.spread:.{decimals}f}"
    if m.quality < 1.0:
        text += f" ({m.quality:.2f}{'' if m.confident else ', not confident'})"
    return text


def _has_any(measurements: Any) -> bool:
    return any(getattr(measurements, f).value is not None for f, *_ in ROWS)


def measure_one(reader: Any, ref: Any) -> dict[str, Any]:
    """One record's measurements, machine and signal, as JSON (`error` where it cannot be read)."""
    from .measurements import measure_signal
    from .measurements.machine import machine_measurements
    from .records import RecordError

    machine = machine_measurements(ref.meta)
    out: dict[str, Any] = {
        "source": reader.name,
        "record": ref.key,
        "machine": machine.as_json() if _has_any(machine) else None,
    }
    try:
        record = reader.read(ref)
        out["signal"] = measure_signal(record).as_json()
    except RecordError as exc:
        out["signal"] = None
        out["error"] = str(exc)
    return out


def table(result: dict[str, Any]) -> str:
    """One record's measurements as a text table: machine and signal side by side."""
    from .measurements import Measure

    def measure(side: dict[str, Any] | None, name: str) -> Measure | None:
        return Measure(**side[name]) if side is not None else None

    machine, signal = result["machine"], result["signal"]
    head = f"{result['source']}/{result['record']}"
    if result.get("error"):
        return f"{head}\n  cannot read: {result['error']}"
    lines = [f"{head}  signal: {signal['method']}, {signal['beats']} beats"]
    columns = ["measure", *(["machine"] if machine is not None else []), "signal"]
    rows = []
    for name, label, unit, decimals in ROWS:
        cells = [f"{label} ({unit})" if unit else label]
        if machine is not None:
            cells.append(_cell(measure(machine, name), decimals))
        cells.append(_cell(measure(signal, name), decimals))
        rows.append(cells)
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
    for r in [columns, *rows]:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    st = signal.get("st_level") or {}
    if st:
        cells = [f"{lead} {_cell(Measure(**m), 2)}" for lead, m in st.items()]
        lines.append("  ST level (mV)  " + ", ".join(cells))
    polarity = signal.get("t_polarity") or {}
    if polarity:
        lines.append("  T polarity     " + " ".join(f"{lead}{POLARITY.get(p, '?')}" for lead, p in polarity.items()))
    return "\n".join(lines)


def cmd_measure(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .errors import did_you_mean, format_diagnostic
    from .sources import SourceError, open_source
    from .sources.cli import load_for_sources

    program, code = load_for_sources(args, parser)
    if program is None:
        return code
    names = [n for (k, n) in program.decls if k in ("source", "synth")]
    if args.source not in names:
        hint = did_you_mean(args.source, names)
        _err(f"no source named '{args.source}'" + (f"; {hint}" if hint else f" (sources: {', '.join(names)})"))
        return 2
    try:
        reader = open_source(program, args.source, data_roots=args.data_root)
    except SourceError as exc:
        print(format_diagnostic(exc.diagnostic, program.sources, sys.stderr.isatty()), file=sys.stderr)
        return 1
    failed = 0
    for count, ref in enumerate(reader.refs(args.split), start=1):
        result = measure_one(reader, ref)
        failed += "error" in result
        if args.json:
            print(json.dumps(result, ensure_ascii=False), flush=True)
        else:
            print(("\n" if count > 1 else "") + table(result), flush=True)
        if args.limit is not None and count >= args.limit:
            break
    return 1 if failed else 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "measure",
        help="measure a source's records: intervals, axes, ST and T, machine and signal side by side",
        description="Read each record of SOURCE (a `source` or `synth` of SPEC) and print the "
        "measurements the facts use: the machine's (from the record's metadata) and the signal's "
        "(NeuroKit2), with each measure's spread over beats and its quality.",
    )
    p.add_argument("spec", metavar="SPEC", help="spec file declaring the source")
    p.add_argument("source", metavar="SOURCE", help="the source's name")
    p.add_argument("--split", default=None, help="only this split part")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N records")
    p.add_argument("--json", action="store_true", help="one JSON object per record and line")
    p.add_argument(
        "--data-root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder outside the spec root that sources may read (repeatable)",
    )
    p.add_argument(
        "-D",
        dest="define",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a `let` constant, e.g. -D ptbxl_root='\"/data/ptb-xl\"'",
    )
    p.add_argument("--root", type=Path, default=None, help="spec root (default: the working directory)")
    p.set_defaults(func=cmd_measure)
