"""`ecgspec plan SPEC`: a dry run of `ecgspec build` — items, images, questions, render mix,
bytes on disk and CPU time of each corpus the files declare, from the sources' indexes alone
(ecgspec.build.planner). Exit status: 0 ok, 1 errors in the spec or a source that cannot be
opened, 2 misuse of the command line. Imports nothing heavy until run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..cli_options import add_spec_options


def _err(message: str) -> None:
    print(f"ecgspec plan: {message}", file=sys.stderr)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def _hours(h: float) -> str:
    if h < 1 / 60:
        return f"{h * 3600:.0f} s"
    if h < 1:
        return f"{h * 60:.1f} min"
    if h < 48:
        return f"{h:.1f} h"
    return f"{h / 24:.1f} d"


def _shares(row: dict[str, float], images: int) -> str:
    cells = sorted(row.items(), key=lambda kv: (-kv[1], kv[0]))
    return "  ".join(f"{k} {100 * s:.1f}% ({images * s:,.0f})" for k, s in cells)


def text(plan: dict[str, Any]) -> str:
    """The plan as a readable table, one block per corpus."""
    lines: list[str] = []
    for name, c in plan["corpora"].items():
        lines.append(f"corpus {name}: {c['records']:,} records x {c['variants']} variants -> {c['images']:,} images")
        if c["limit"] is not None:
            lines.append(f"  limit        {c['limit']:,} items")
        for src, s in c["sources"].items():
            broken = f", {s['broken_index_entries']} broken index entries" if s["broken_index_entries"] else ""
            lines.append(f"  from {src:<8} {s['records']:>10,} records {s['images']:>10,} images{broken}")
        lines.append("  render")
        for what in ("layout", "paper", "distort"):
            lines.append(f"    {what:<8} {_shares(c['render'][what], c['images'])}")
        q = c["questions"]
        cal = "calibrated_per_task" in q
        lines.append(
            f"  questions    {q['expected']:,.0f} expected ({q['turns_mean']:.2f} turns an image)"
            + (f", {q['calibrated']:,.0f} calibrated" if cal else "")
        )
        if "families_drawn" in q:
            drawn = q["families_drawn"]
            total = sum(drawn.values()) or 1.0
            cells = "  ".join(f"{g} {100 * n / total:.1f}% ({n:,.0f})" for g, n in drawn.items())
            lines.append(f"  families     {cells} turns drawn; one its family cannot answer stays empty")
            measured = (c.get("calibration") or {}).get("families") or {}
            if measured:
                cells = "  ".join(f"{g} {f['filled']}/{f['drawn']}" for g, f in measured.items())
                lines.append(f"    calibration: turns filled/drawn  {cells}")
        head = f"    {'task':<28} {'expected':>12}"
        if cal:
            head += f" {'answerable':>11} {'calibrated':>12}"
        lines.append(head)
        for task, n in sorted(q["per_task"].items(), key=lambda kv: (-kv[1], kv[0])):
            row = f"    {task:<28} {n:>12,.0f}"
            if cal:
                share = q["answerable"].get(task)
                row += (
                    f" {'-' if share is None else f'{100 * share:.0f}%':>11} {q['calibrated_per_task'][task]:>12,.0f}"
                )
            lines.append(row)
        lines.append(f"    ({q['record_dependent']})")
        b = c["bytes"]
        per = b["per_image"]
        lines.append(
            f"  disk         {_size(b['total'])} ({_size(b['without_work'])} without OUT/.work), from {b['from']}: "
            f"{_size(per['image'])} image + {_size(per['sidecar'])} sidecar + {_size(per['prompt'])} prompts "
            f"+ {_size(per['work'])} .work an image"
        )
        if c.get("synthesis"):
            lines += _synthesis_text(c["synthesis"])
        t = c["time"]
        cb = c["calibration"]
        if t is None:
            lines.append("  time         not measured (run with --calibrate N)")
        else:
            lines.append(
                f"  cpu          {t['cpu_hours']:,.2f} CPU-hours at {t['seconds_per_item']:.2f} s an item "
                f"(calibration: {cb['items']} items, {cb['ok']} ok, {cb['skipped']} skipped, {cb['failed']} failed)"
            )
            walls = "  ".join(f"{w} workers {_hours(h)}" for w, h in t["wall_hours"].items())
            lines.append(f"  wall         {walls}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _synthesis_text(sy: dict[str, Any]) -> list[str]:
    lines = [f"  synthesis    {sy['records']:,} records (prompts measured on {sy['sampled']})"]
    for name, row in sy["instructs"].items():
        off = sy["off"].get(name)
        lines.append(
            f"    {name:<20} {row['mode']:<8} {row['requests']:>10,} requests  {row['prompt_tokens_mean']:>7,.0f} tokens "
            f"in  ~{row['reply_tokens_estimate']:,.0f} out" + (f"  ({off})" if off else "")
        )
        if "judge" in row:
            j = row["judge"]
            lines.append(
                f"    {'':<20} judge    {j['requests']:>10,} requests  {j['prompt_tokens_mean']:>7,.0f} tokens in"
            )
    for name, m in sy["models"].items():
        lines.append(
            f"    llm {name}: {m['tokens_in']:,} tokens in, {m['tokens_out']:,} out -> {_hours(m['wall_hours'])} at "
            f"{m['throughput']:g} tokens/s out and {m['prefill']:g} in, {m['gpu_hours']:,.1f} GPU-hours on {m['gpus']} "
            f"GPUs ({m['tokens']})"
        )
    for p in sy["prompts"]:
        lines.append(
            f"  prompt: {p['instruct']} for {p['record']} ({p['tokens']:,} tokens): {json.dumps(p['request'])}"
        )
        for m in p["messages"]:
            lines.append(f"    [{m['role']}]")
            lines += [f"      {x}" for x in m["content"].splitlines()]
    return lines


def cmd_plan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..errors import did_you_mean, format_all
    from ..program import load
    from ..targets.prompts import PromptError
    from .planner import plan_corpus, plan_json
    from .run import BuildError
    from .work_items import IdCollision

    if args.calibrate < 0:
        parser.error("--calibrate must be 0 or more")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if any(w < 1 for w in args.workers):
        parser.error("--workers takes counts of 1 or more")
    for spec in args.specs:
        if not spec.is_file():
            _err(f"{spec}: no such spec file")
            return 2
    program = load(list(args.specs), root=args.root, defines=args.define, templates=args.templates)
    color = sys.stderr.isatty()
    if program.diagnostics:
        print(format_all(program.diagnostics, program.sources, color), file=sys.stderr)
    if not program.ok:
        return 1
    entry = {spec.resolve() for spec in args.specs}
    names = [
        d.name
        for d in program.of_kind("corpus")
        if Path(program.scope.decls[("corpus", d.name)].name.pos.file).resolve() in entry
    ]
    for name in args.only:
        if name not in names:
            hint = did_you_mean(name, names)
            _err(f"no corpus named '{name}'" + (f"; {hint}" if hint else f" (the spec declares: {', '.join(names)})"))
            return 2
    if args.only:
        names = [n for n in names if n in args.only]
    if not names:
        _err("the spec declares no corpus to plan")
        return 1
    roots = tuple(p.resolve() for p in args.data_root)
    plans = []
    try:
        for name in names:
            plans.append(
                plan_corpus(
                    program,
                    name,
                    data_roots=roots,
                    limit=args.limit,
                    calibrate_items=args.calibrate,
                    show_prompts=args.show_prompts,
                )
            )
    except BuildError as exc:
        print(format_all(exc.diagnostics, program.sources, color), file=sys.stderr)
        return 1
    except IdCollision as exc:
        _err(str(exc))
        return 1
    except PromptError as exc:  # a synthesis template that fails for a sample record
        print(str(exc), file=sys.stderr)
        return 1
    data = plan_json(program, plans, tuple(args.workers))
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(text(data))
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="a dry run of `build`: items, images, questions, render mix, disk and CPU time per corpus",
        description="Plan a build of SPEC's corpora without building it: records and images (after "
        "`limit`, `variants` and the `from` weights), the questions each task is expected to get, the "
        "render mix, bytes on disk and CPU time, from the sources' indexes alone. --calibrate N builds "
        "N items into a temporary folder (one job) to measure time, bytes and each task's answerable share.",
    )
    p.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="spec files")
    p.add_argument("--json", action="store_true", help="print one JSON object (schema ecgspec.plan/1)")
    p.add_argument(
        "--calibrate",
        type=int,
        default=8,
        metavar="N",
        help="build N sample items to measure time, bytes and answerable shares (default 8; 0: none)",
    )
    p.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 8, 64, 512],
        metavar="W",
        help="worker counts to project the wall time for (default 1 8 64 512)",
    )
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="plan only this corpus (repeatable)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="at most N items per corpus, as `build`")
    p.add_argument(
        "--show-prompts",
        type=int,
        default=0,
        metavar="N",
        help="print the first N synthesis prompts exactly as they would be sent, with their token counts",
    )
    add_spec_options(p, data_root=True)
    p.set_defaults(func=cmd_plan)
