"""`ecgspec build`: compile a spec's corpora into images, prompts, manifests and build.json.

Exit status: 0 built (some records may have been skipped, and are reported), 1 a problem in
the spec or its templates (located, nothing half-written), 2 misuse.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ecgspec.ir.corpus import Corpus

if TYPE_CHECKING:
    from ..program import Program


def add_commands(sub: Any) -> None:
    p = sub.add_parser("build", help="build a spec's corpora: images, prompts/, manifests/ (LLaVA) and build.json")
    p.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="spec files")
    p.add_argument("-o", "--output", type=Path, default=None, help="output folder (default: out/SPEC-NAME)")
    p.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="build only this corpus or suite (repeatable)"
    )
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="leave out of a plan the suite tasks whose data are not there (default: an error)",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="at most N items per corpus")
    p.add_argument(
        "-j", "--jobs", type=int, default=None, metavar="N", help="worker processes (default: the number of CPUs)"
    )
    p.add_argument(
        "-D",
        dest="define",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a `let` constant, e.g. -D ptbxl_root='\"/data/ptbxl\"'",
    )
    p.add_argument("--root", type=Path, default=None, help="spec root (default: the working directory)")
    p.add_argument("--templates", type=Path, default=None, help="templates folder (default: the nearest templates/)")
    p.add_argument(
        "--data-root",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="a folder outside the spec root that sources may read (repeatable)",
    )
    p.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="do only shard I of N (0-based) of every corpus's items, for a job array or many machines "
        "sharing OUT; a last build without --shard merges them",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("export", help="export a built corpus as Parquet for Hugging Face `datasets`")
    p.add_argument("build", type=Path, metavar="OUT", help="a folder written by `ecgspec build`")
    p.add_argument("corpus", metavar="CORPUS", help="the corpus to export")
    p.add_argument("-o", "--output", type=Path, default=None, help="Parquet file (default: OUT/hf/CORPUS.parquet)")
    p.add_argument("--no-embed", action="store_true", help="store image paths instead of the PNG bytes")
    p.set_defaults(func=cmd_export)


def _err(message: str) -> None:
    print(f"ecgspec: {message}", file=sys.stderr)


def cmd_build(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import time

    from ..errors import did_you_mean, format_all
    from ..program import load
    from ..sources import SourceError
    from ..targets.prompts import PromptError
    from .run import BuildError, LoadArgs, build_corpus, summary_table, write_build_json

    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        parser.error("--jobs must be at least 1")
    shard = None
    if args.shard is not None:
        try:
            i, n = (int(x) for x in args.shard.split("/"))
        except ValueError:
            parser.error("--shard takes I/N, e.g. --shard 0/4")
        if not (n >= 1 and 0 <= i < n):
            parser.error(f"--shard {args.shard}: I must be between 0 and N-1")
        shard = (i, n)
    for spec in args.specs:
        if not spec.is_file():
            _err(f"{spec}: no such spec file")
            return 2
    program = load(list(args.specs), root=args.root, defines=args.define, templates=args.templates)
    color = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    if program.diagnostics:
        print(format_all(program.diagnostics, program.sources, color), file=sys.stderr)
    if not program.ok:
        return 1
    # What the files on the command line declare is built; what they import is a library.
    entry = {spec.resolve() for spec in args.specs}
    corpora = [cast(Corpus, d) for d in program.of_kind("corpus") if _declared_in(program, d, entry)]
    suites = [d for d in program.of_kind("suite") if _declared_in(program, d, entry)]
    names = [c.name for c in corpora] + [s.name for s in suites]
    for name in args.only:
        if name not in names:
            hint = did_you_mean(name, names)
            _err(
                f"no corpus or suite named '{name}'"
                + (f"; {hint}" if hint else f" (the spec declares: {', '.join(names) or 'none'})")
            )
            return 2
    if args.only:
        corpora = [c for c in corpora if c.name in args.only]
        suites = [s for s in suites if s.name in args.only]
    if not corpora and not suites:
        _err("the spec declares no corpus or suite to build")
        return 1
    out = args.output or Path("out") / args.specs[0].stem
    start = time.perf_counter()
    reports = []
    load_args = LoadArgs(
        tuple(args.specs), args.root, tuple(args.define), args.templates, tuple(p.resolve() for p in args.data_root)
    )
    plan_lines: list[str] = []
    try:
        for corpus in corpora:
            done = build_corpus(
                program, corpus, out, load_args, jobs=jobs, limit=args.limit, progress=args.progress, shard=shard
            )
            if isinstance(done, int):
                plan_lines.append(
                    f"corpus {corpus.name}: shard {shard[0]}/{shard[1]} done ({done} items); "  # type: ignore[index]
                    "build again without --shard, once every shard is done, to merge"
                )
            else:
                reports.append(done)
        for suite in suites if shard is None else ():
            plan_lines += _compile_plan(program, suite.name, out, load_args, args)
    except BuildError as exc:
        print(format_all(exc.diagnostics, program.sources, color), file=sys.stderr)
        return 1
    except SourceError as exc:
        print(format_all([exc.diagnostic], program.sources, color), file=sys.stderr)
        if suites:
            print("  (pass --skip-missing to leave out the suite tasks whose data are not there)", file=sys.stderr)
        return 1
    except PromptError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if reports:
        write_build_json(out, program, reports, time.perf_counter() - start)
        print(summary_table(reports))
    for line in plan_lines:
        print(line)
    print(f"wrote {out}/")
    return 0


def cmd_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    manifest = args.build / "manifests" / f"{args.corpus}.json"
    if not manifest.is_file():
        built = sorted(p.stem for p in (args.build / "manifests").glob("*.json"))
        _err(
            f"{manifest}: no such manifest"
            + (f" (built: {', '.join(built)})" if built else "; run `ecgspec build` first")
        )
        return 2
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        _err("export needs pyarrow: pip install 'ecgspec[eval]'")
        return 2
    from .parquet import export_parquet

    out = args.output or args.build / "hf" / f"{args.corpus}.parquet"
    n = export_parquet(args.build, args.corpus, out, embed=not args.no_embed)
    print(f"wrote {out} ({n} rows)")
    return 0


def _declared_in(program: Program, decl: Any, entry: set[Path]) -> bool:
    return Path(program.scope.decls[(decl.kind, decl.name)].name.pos.file).resolve() in entry


def _compile_plan(program: Program, suite: str, out: Path, load_args: Any, args: argparse.Namespace) -> list[str]:
    from .suite_plan import compile_suite

    path, reports = compile_suite(
        program, suite, out, data_roots=list(load_args.data_roots), skip_missing=args.skip_missing, limit=args.limit
    )
    total = sum(r.items for r in reports)
    lines = [f"suite {suite}: {total} items in {path}"]
    for r in reports:
        extra = f"  ({r.note})" if r.note else ""
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(r.skipped.items()))
        lines.append(f"  {r.id:<16} {r.items} items" + (f", skipped {skipped}" if skipped else "") + extra)
    return lines
