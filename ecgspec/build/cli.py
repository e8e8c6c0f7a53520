"""`ecgspec build`: compile a spec's corpora into images, prompts, manifests and build.json.

Exit status: 0 built (some records may have been skipped, and are reported), 1 a problem in
the spec or its templates (located, nothing half-written) or in writing the output (a full disk,
no permission: worded, and a rerun resumes), or, with `--strict`, any record skipped or broken
(the build is still written, and the count and first reasons printed), 2 misuse (`-o` a file, or a folder that is not a
build of these corpora without `--force`).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ecgspec.ir.corpus import Corpus

from ..cli_options import add_spec_options

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
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where items run: local worker processes (default), or a Ray cluster (the `ray` extra; "
        "-j N is then the number of Ray CPUs/actors, and OUT must be a path every Ray node sees: "
        "a local cluster or a shared filesystem)",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="with --executor ray: the cluster to connect to (ray://HOST:10001, or auto for the one "
        "`ray start` runs on this node; default: start a local cluster of -j CPUs for this build)",
    )
    add_spec_options(p, data_root=True)
    p.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="do only shard I of N (0-based) of every corpus's items, for a job array or many machines "
        "sharing OUT; a last build without --shard merges them",
    )
    p.add_argument(
        "--synth-only",
        action="store_true",
        help="run only the corpora's synthesis stage (LLM-written instructions; replies cached in "
        "OUT/synth/cache.sqlite), e.g. before a sharded build",
    )
    p.add_argument(
        "--synth-cache",
        type=Path,
        default=None,
        metavar="FILE",
        help="the reply cache of synthesis (default OUT/synth/cache.sqlite): share one between builds, "
        "and a reply is never asked for twice",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="build into OUT even if it is a non-empty folder that is not a build of these corpora",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 after the build when any record was skipped or broken (the `skipped` and `failed` "
        "counts of build.json), printing the count and the first reasons",
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("export", help="export a built corpus as Parquet for Hugging Face `datasets`")
    p.add_argument("build", type=Path, metavar="OUT", help="a folder written by `ecgspec build`")
    p.add_argument("corpus", metavar="CORPUS", help="the corpus to export")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="Parquet file (default: OUT/hf/CORPUS.parquet); with --format webdataset or --shard-size, the folder "
        "or fsspec URL (s3://, gs://, file://, memory://) of the shards (default: OUT/shards/FORMAT)",
    )
    p.add_argument("--no-embed", action="store_true", help="store image paths instead of the PNG bytes")
    p.add_argument(
        "--format",
        choices=("parquet", "webdataset"),
        default="parquet",
        help="parquet (default) or webdataset: tar shards of samples KEY.png, KEY.json, KEY.conversations.json",
    )
    p.add_argument(
        "--shard-size",
        default=None,
        metavar="SIZE",
        help="write shards of at most SIZE bytes (1GB, 512MiB) or items (1000) and an index CORPUS.shards.json "
        "(default for webdataset: 1GB; parquet without it: one file)",
    )
    p.set_defaults(func=cmd_export)


def _err(message: str) -> None:
    print(f"ecgspec: {message}", file=sys.stderr)


def cmd_build(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import time

    from ..atomic import os_error_message
    from ..errors import did_you_mean, format_all
    from ..program import load
    from ..sources import SourceError
    from ..targets.prompts import PromptError
    from .run import (
        BuildError,
        LoadArgs,
        build_corpus,
        summary_table,
        synthesis_lines,
        synthesise_corpus,
        write_build_json,
    )
    from .work_items import IdCollision

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
    if args.ray_address is not None and args.executor != "ray":
        parser.error("--ray-address needs --executor ray")
    if args.executor == "ray":
        from .ray_executor import RayMissing, import_ray

        try:
            import_ray()
        except RayMissing as exc:
            _err(str(exc))
            return 1
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
    problem = _check_output(out, names if not args.only else args.only, program.spec_hash(), args.force)
    if problem is not None:
        code, message = problem
        _err(message)
        return code
    if shard is None:  # what writers killed mid-write left; shards may share OUT and be writing now
        _sweep(out, [c.name for c in corpora] + [s.name for s in suites])
    start = time.perf_counter()
    reports = []
    load_args = LoadArgs(
        tuple(args.specs),
        args.root,
        tuple(args.define),
        tuple(args.templates or ()),
        tuple(p.resolve() for p in args.data_root),
    )
    plan_lines: list[str] = []
    ray_started = False
    if args.executor == "ray" and corpora:
        from .ray_executor import connect

        try:
            ray_started = connect(args.ray_address, jobs)
        except ConnectionError as exc:
            _err(f"cannot connect to the Ray cluster at {args.ray_address}: {exc}")
            return 1
    try:
        for corpus in corpora if args.synth_only else ():
            plan_lines += synthesis_lines(
                corpus.name, synthesise_corpus(program, corpus, out, load_args, args.limit, args.synth_cache)
            )
        for corpus in corpora if not args.synth_only else ():
            done = build_corpus(
                program,
                corpus,
                out,
                load_args,
                jobs=jobs,
                limit=args.limit,
                progress=args.progress,
                shard=shard,
                executor=args.executor,
                ray_address=args.ray_address,
                synth_cache=args.synth_cache,
            )
            if isinstance(done, int):
                plan_lines.append(
                    f"corpus {corpus.name}: shard {shard[0]}/{shard[1]} done ({done} items); "  # type: ignore[index]
                    "build again without --shard, once every shard is done, to merge"
                )
            else:
                reports.append(done)
        for suite in suites if shard is None and not args.synth_only else ():
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
    except IdCollision as exc:
        _err(f"cannot build {exc}")
        return 1
    except OSError as exc:
        if (said := os_error_message(exc)) is None:
            raise
        _err(f"{said} (the items finished so far are kept: building again resumes where this stopped)")
        return 1
    finally:
        if ray_started:
            from .ray_executor import disconnect

            disconnect()
    if reports:
        try:
            write_build_json(out, program, reports, time.perf_counter() - start)
        except OSError as exc:
            if (said := os_error_message(exc)) is None:
                raise
            _err(said)
            return 1
        print(summary_table(reports))
    for line in plan_lines:
        print(line)
    print(f"wrote {out}/")
    if args.strict:
        problems = strict_problems(reports)
        if problems:
            print(problems, file=sys.stderr)
            return 1
    return 0


# What `--strict` prints of the reasons: the first few, the rest are in build.json.
STRICT_REASONS = 5


def strict_problems(reports: list[Any]) -> str | None:
    """What `build --strict` fails on: every corpus's skipped and broken records (build.json's
    `skipped`, which counts the `failed` ones as "broken record", and its broken index entries),
    worded with the count and the first reasons; None when there are none."""
    total = 0
    per_corpus: list[str] = []
    reasons: list[str] = []
    for r in reports:
        skipped = r.counts.skipped
        n = sum(skipped.values())
        if not n:
            continue
        total += n
        per_corpus.append(f"{r.name}: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
        reasons += [f"{r.name}: {f['source']}:{f['record']}: {f['reason']}" for f in r.counts.failed]
        reasons += [f"{r.name}: {s['path']}: {s['record']}: {s['reason']}" for s in r.reader_skipped]
        listed = {"broken record", "broken index entry"}
        reasons += [f"{r.name}: {v} items: {k}" for k, v in sorted(skipped.items()) if k not in listed]
    if not total:
        return None
    lines = [
        f"ecgspec: --strict: {total} record{'s' * (total != 1)} skipped or broken ({'; '.join(per_corpus)})",
        *(f"  {line}" for line in reasons[:STRICT_REASONS]),
    ]
    if len(reasons) > STRICT_REASONS:
        lines.append(f"  … and {len(reasons) - STRICT_REASONS} more (see build.json)")
    return "\n".join(lines)


def cmd_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    manifest = args.build / "manifests" / f"{args.corpus}.json"
    if not manifest.is_file():
        built = sorted(p.stem for p in (args.build / "manifests").glob("*.json"))
        _err(
            f"{manifest}: no such manifest"
            + (f" (built: {', '.join(built)})" if built else "; run `ecgspec build` first")
        )
        return 2
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            _err("export needs pyarrow: pip install 'ecgspec[eval]'")
            return 2
    if args.format == "webdataset" or args.shard_size is not None:
        return _export_shards(args)
    from .parquet import export_parquet

    out = Path(args.output) if args.output else args.build / "hf" / f"{args.corpus}.parquet"
    n = export_parquet(args.build, args.corpus, out, embed=not args.no_embed)
    print(f"wrote {out} ({n} rows)")
    return 0


def _export_shards(args: argparse.Namespace) -> int:
    """`ecgspec export … --format webdataset|parquet --shard-size SIZE -o URL` (shards.py)."""
    try:
        import fsspec  # noqa: F401
    except ImportError:
        _err("sharded export needs fsspec: pip install fsspec (and s3fs, gcsfs … for remote URLs)")
        return 2
    from .shards import export_shards, parse_shard_size

    try:
        size = parse_shard_size(args.shard_size or "1GB")
    except ValueError as exc:
        _err(f"--shard-size {exc}")
        return 2
    url = args.output or str(args.build / "shards" / args.format)
    index = export_shards(args.build, args.corpus, url, fmt=args.format, size=size, embed=not args.no_embed)
    n = len(index["shards"])
    print(f"wrote {n} {args.format} shards ({index['items']} items) and {args.corpus}.shards.json to {url}")
    return 0


_IGNORED = {".DS_Store", ".gitkeep", ".gitignore"}  # what leaves a folder empty, for -o


def _check_output(out: Path, names: list[str], spec_hash: str, force: bool) -> tuple[int, str] | None:
    """Whether OUT can be built into: (exit status, message) where it cannot. It must be a folder
    (made here) that we may write to, and empty, or an earlier build of these corpora (which
    resumes), or `--force`d."""
    from ..atomic import AtomicWriter, os_error_message

    if out.exists() and not out.is_dir():
        return 2, f"-o {out}: is a file, not a folder; -o takes the folder to build into"
    try:
        entries = sorted(p.name for p in out.iterdir() if p.name not in _IGNORED) if out.is_dir() else []
        out.mkdir(parents=True, exist_ok=True)
        AtomicWriter(out / ".ecgspec-probe").abort()  # a folder we may not write to fails now, not mid-build
    except OSError as exc:
        message = os_error_message(exc, "cannot write into") or f"cannot write into {out}: {exc.strerror or exc}"
        return (2 if exc.errno in (errno.ENOTDIR, errno.EEXIST) else 1), f"-o {out}: {message}"
    if not entries or force or _is_build_of(out, names, spec_hash):
        return None
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    return 2, (
        f"-o {out}: the folder is not empty ({shown}) and is not an earlier build of "
        f"{', '.join(names)}; choose a new or empty folder, or pass --force to build into it "
        "(files of the same names are replaced)"
    )


def _is_build_of(out: Path, names: list[str], spec_hash: str) -> bool:
    """Whether OUT holds an earlier build of any of `names` (corpora or suites): its build.json
    records the same spec or one of these corpora, or a build of one was started there (its
    item results or images, or a suite's plan)."""
    import json

    try:
        recorded = json.loads((out / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if isinstance(recorded, dict) and str(recorded.get("schema", "")).startswith("ecgspec.build/"):
        if recorded.get("spec_hash") == spec_hash or set(recorded.get("corpora") or ()) & set(names):
            return True
    return (
        any(
            (out / ".work" / n).is_dir()
            or (out / "images" / n).is_dir()
            or (out / "plans" / f"{n}.json").is_file()
            or (out / "synth" / f"{n}.sqlite").is_file()
            for n in names
        )
        or (out / "synth" / "cache.sqlite").is_file()
    )  # a synthesis was begun here


def _sweep(out: Path, names: list[str]) -> None:
    """Remove the temporary files of writers that were killed mid-write in OUT's folders of `names`."""
    from ..atomic import sweep_temporaries

    for folder in (out, out / "prompts", out / "manifests", out / "plans", out / "synth"):
        sweep_temporaries(folder)
    for name in names:
        sweep_temporaries(out / ".work" / name)
        sweep_temporaries(out / "images" / name, recursive=True)


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
