"""The `ecgspec` command. Exit status: 0 ok, 1 errors in a spec, 2 misuse of the command line."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import time
from pathlib import Path

from . import __version__
from .atomic import os_error_message, write_atomic
from .checking import check_diagnostics, unique
from .cli_options import add_spec_options
from .errors import Diagnostic, Diagnostics, SourceCache, format_all
from .formatter import format_module
from .parser import parse_module
from .program import Program, load
from .resolve import display_path


def _colour(stream: object) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("NO_COLOR") is None


def _expand(paths: list[str], parser: argparse.ArgumentParser) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(p.rglob("*.ecg")))
        elif p.is_file():
            files.append(p)
        else:
            parser.error(f"no such file or folder: {raw}")
    return files


def _exit_code(diags: list[Diagnostic]) -> int:
    """2 when the command line itself is wrong (a bad -D), 1 for errors in a spec, else 0."""
    errors = [d for d in diags if d.severity == "error"]
    if any(d.code.startswith("define") for d in errors):
        return 2
    return 1 if errors else 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _report(diags: list[Diagnostic], sources: SourceCache) -> tuple[int, int]:
    shown = unique(diags)
    if shown:
        print(format_all(shown, sources, _colour(sys.stderr)), file=sys.stderr)
    return sum(d.severity == "error" for d in shown), sum(d.severity == "warning" for d in shown)


def _load_each(files: list[Path], args: argparse.Namespace) -> tuple[list[Program], SourceCache]:
    """Each file loaded on its own, so that a syntax error in one hides nothing in another."""
    sources = SourceCache()
    programs = [
        load([f], root=args.root, defines=args.define, templates=args.templates, sources=sources) for f in files
    ]
    return programs, sources


def cmd_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    files = _expand(args.paths, parser)
    programs, sources = _load_each(files, args)
    diags = check_diagnostics(programs, sources)  # what the language server shows, too
    errors, warnings = _report(diags, sources)
    decls = len({(display_path(p.scope.decl_file[k]), k) for p in programs for k in p.scope.decls})
    summary = (
        f"checked {_plural(len(files), 'file')}, {_plural(decls, 'declaration')}: "
        f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    )
    print(summary, file=sys.stderr)
    return _exit_code(diags)


def cmd_fmt(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    files = _expand(args.paths, parser)
    args.check = args.check or args.diff  # asking to see the changes never makes them
    sources = SourceCache()
    changed = 0
    failed = 0
    for f in files:
        text = f.read_text(encoding="utf-8")
        name = display_path(f.resolve())
        sources.add(name, text)
        diags = Diagnostics()
        module = parse_module(text, name, diags)
        if diags.errors:
            _report(diags.items, sources)
            failed += 1
            continue
        out = format_module(module)
        if out == text:
            continue
        changed += 1
        if args.check:
            print(f"would reformat {name}", file=sys.stderr)
            if args.diff:
                sys.stdout.writelines(
                    difflib.unified_diff(
                        text.splitlines(True), out.splitlines(True), f"{name} (now)", f"{name} (formatted)"
                    )
                )
        else:
            write_atomic(f, out)  # a crash leaves the old file or the new one
            print(f"formatted {name}", file=sys.stderr)
    verb = "would reformat" if args.check else "reformatted"
    print(f"{len(files)} file{'s' * (len(files) != 1)}: {changed} {verb}, {failed} with syntax errors", file=sys.stderr)
    if failed:
        return 1
    return 1 if (args.check and changed) else 0


def cmd_explain(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .explain import explain_json, explain_text, find

    path = Path(args.file)
    if not path.is_file():
        parser.error(f"no such file: {args.file}")
    program = load([path], root=args.root, defines=args.define, templates=args.templates)
    errors, _ = _report([d for d in program.diagnostics if d.severity == "error"], program.sources)
    if errors:
        return _exit_code(program.diagnostics)
    if args.name is None:
        keys = sorted(program.decls, key=lambda k: (program.position(k).file, program.position(k).line))
        if args.json:
            print(
                json.dumps(
                    {"spec_hash": program.spec_hash(), "declarations": [explain_json(program, k) for k in keys]},
                    indent=2,
                )
            )
        else:
            print(f"# spec hash {program.spec_hash()}")
            for k in keys:
                print(f"{k[0]:8} {k[1]:24} {program.hash_of(*k)[:12]}  {program.position(k)}")
        return 0
    matches, names = find(program, args.name)
    if not matches:
        from .errors import did_you_mean

        hint = did_you_mean(args.name.rpartition(":")[2], names)
        print(f"ecgspec explain: no declaration named '{args.name}'" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 1
    if len(matches) > 1:
        options = ", ".join(f"{k}:{n}" for k, n in matches)
        print(f"ecgspec explain: '{args.name}' names several declarations; write one of {options}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(explain_json(program, matches[0]), indent=2))
    else:
        print(explain_text(program, matches[0]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecgspec", description="Compile .ecg specs into ECG-image datasets.")
    parser.add_argument("--version", action="version", version=f"ecgspec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def spec_options(p: argparse.ArgumentParser) -> None:
        add_spec_options(p)

    p = sub.add_parser("check", help="check specs and report every error with its position")
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    add_spec_options(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("fmt", help="format specs in the canonical layout (comments kept)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    p.add_argument("--diff", action="store_true", help="print what would change, and change nothing (implies --check)")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("explain", help="show a declaration after imports, extends, lets and defaults")
    p.add_argument("file", metavar="FILE")
    p.add_argument("name", nargs="?", metavar="NAME", help="a declaration name, or KIND:NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_spec_options(p)
    p.set_defaults(func=cmd_explain)

    # Each stage registers its own commands; their modules import heavy libraries only when run.
    from importlib import import_module

    for module in (
        "ecgspec.render.cli",
        "ecgspec.sources.cli",
        "ecgspec.measure_cli",
        "ecgspec.build.cli",
        "ecgspec.build.plan_cli",
        "ecgspec.lsp.cli",
        "runtime.cli",
    ):
        try:
            register = import_module(module).add_commands
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            continue  # a stage not installed (runtime is part of the checkout, not of every wheel)
        register(sub)
    return parser


def _internal_error(exc: Exception) -> int:
    if os.environ.get("ECGSPEC_DEBUG"):
        raise exc
    print(
        f"ecgspec: internal error ({type(exc).__name__}: {exc}); this is a bug in ecgspec, "
        "not in your spec. Rerun with ECGSPEC_DEBUG=1 for details and report it.",
        file=sys.stderr,
    )
    return 3


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        code: int = args.func(args, parser)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # A full disk, a folder we may not write to: the environment, said in words, not a bug.
        message = os_error_message(exc)
        if message is None or os.environ.get("ECGSPEC_DEBUG"):
            return _internal_error(exc)
        print(f"ecgspec: {message}", file=sys.stderr)
        return 1
    except Exception as exc:
        return _internal_error(exc)
    if os.environ.get("ECGSPEC_TIMING"):
        print(f"{args.command}: {time.perf_counter() - start:.3f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
