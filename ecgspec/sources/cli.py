"""`ecgspec sources SPEC [NAME]`: what a spec's sources hold, before anything is built.

Counts per split part and per label, and every record left out while listing, with the file
and the reason. Exit status: 0 ok, 1 errors in the spec or a source that cannot be opened (or
records skipped, with --strict), 2 misuse of the command line. Imports nothing heavy until run.
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
    }


def cmd_sources(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..errors import format_all, format_diagnostic
    from ..program import load
    from . import SourceError, open_source

    spec = Path(args.spec)
    if not spec.is_file():
        parser.error(f"no such spec file: {args.spec}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    program = load([spec], root=args.root, defines=args.define)
    if program.diagnostics:
        print(format_all(program.diagnostics, program.sources, sys.stderr.isatty()), file=sys.stderr)
    if not program.ok:
        return 2 if any(d.code.startswith("define") for d in program.diagnostics) else 1
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
            results.append(summarise(reader, args.split, args.limit))
        except SourceError as exc:
            print(format_diagnostic(exc.diagnostic, program.sources, sys.stderr.isatty()), file=sys.stderr)
            failed += 1
    if args.json:
        print(json.dumps({"sources": results}, indent=2))
    else:
        for r in results:
            mark = "  (synthetic: scale tests only)" if r["synthetic"] else ""
            print(f"source {r['source']} from {r['adapter']}: {r['records']} records{mark}")
            print(f"  root    {r['root']}")
            if r["splits"] and list(r["splits"]) != ["(none)"]:
                print("  splits  " + ", ".join(f"{k} {v}" for k, v in r["splits"].items()))
            if r["labels"]:
                print("  labels  " + ", ".join(f"{k} {v}" for k, v in r["labels"].items()))
            if r["skipped"]:
                print(f"  skipped {len(r['skipped'])}")
                for s in r["skipped"][: args.show_skipped]:
                    print(f"    {s['path']}: {s['key']}: {s['reason']}")
                if len(r["skipped"]) > args.show_skipped:
                    print(f"    … and {len(r['skipped']) - args.show_skipped} more (--json lists them all)")
    skipped = sum(len(r["skipped"]) for r in results)
    if failed:
        return 1
    return 1 if (args.strict and skipped) else 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sources",
        help="list what a spec's record sources hold: splits, labels, skipped records",
        description="Open each source (or NAME) of SPEC, list its records from the index "
        "(no signal is read), and count them per split part and label. Records "
        "that cannot be listed are shown with their file and the reason.",
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
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--strict", action="store_true", help="exit 1 when any record is skipped")
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
