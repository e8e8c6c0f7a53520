"""`ecgspec eval`, `ecgspec score`, `ecgspec import-released`, `ecgspec export-lmms`.

Top-level imports stay light (argparse only): `ecgspec check` registers these commands on every
start, and the heavy modules (httpx, sklearn, matplotlib, torch) load when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection
from datetime import UTC
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("eval", help="run an evaluation plan with a backend, score it and write the report")
    p.add_argument("plan", type=Path)
    p.add_argument("--backend", choices=["openai", "transformers", "vllm"], required=True)
    p.add_argument("--model", required=True, help="model name (openai) or local checkpoint folder")
    p.add_argument("--url", help="base URL of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--api-key", default=None)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--retries", type=int, default=4)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--cache", type=Path, help="response cache (default: OUT/cache.sqlite)")
    p.add_argument("--tasks", help="comma-separated task ids (default: all)")
    p.add_argument(
        "--conversation",
        help="transformers/vllm: the conversation format to prompt in (default: the "
        "one the checkpoint was trained in, else its own chat template)",
    )
    p.add_argument(
        "--add-special-tokens",
        action="store_true",
        help="openai backend on `vllm serve`: ask the server to add the tokenizer's BOS to the rendered "
        "chat (checkpoints trained in llava_v1 and llava-hf templates expect it)",
    )
    p.add_argument(
        "--show-prompts",
        type=int,
        metavar="N",
        help="transformers: print the prompts of the first N items as JSON lines {id, turn, input_ids}, "
        "exactly as given to generate(), and exit (later turns where earlier answers are cached)",
    )
    _shared(p, output_required=False)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("score", help="score predictions made elsewhere (ours or the released PULSE JSONL)")
    p.add_argument("plan", type=Path)
    p.add_argument(
        "--predictions", type=Path, required=True, action="append", help="a predictions JSONL file (repeatable)"
    )
    p.add_argument("--tasks", help="comma-separated task ids to score (default: all)")
    p.add_argument(
        "--compare-extractors",
        action="store_true",
        help="print, per task, how often the default, compat and (where declared) LLM extractors read the same "
        "answer, with examples where they differ, then score as usual",
    )
    _shared(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("import-released", help="build a plan from a suite and the released ECGBench files")
    p.add_argument("spec", type=Path)
    p.add_argument("--suite", required=True)
    p.add_argument("--released", type=Path, help="folder holding the released files (default: paths as written)")
    p.add_argument("--tasks", help="comma-separated task ids (default: every task with `items`)")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export-lmms", help="write a plan as an lmms-eval task folder")
    p.add_argument("plan", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(func=cmd_export)


def _shared(p: argparse.ArgumentParser, output_required: bool = True) -> None:
    p.add_argument("-o", "--output", type=Path, required=output_required, help="results folder")
    p.add_argument("--scoring", choices=["default", "pulse_compat"], help="override the plan's scoring mode")
    p.add_argument("--judge-url", help="OpenAI-compatible endpoint of the judge (judged tasks)")
    p.add_argument("--judge-model", help="judge model (default: the plan's pinned judge)")
    p.add_argument("--judge-timeout", type=float, default=120.0)
    p.add_argument("--judge-retries", type=int, default=3)
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score even when items have no prediction: they are left out of every metric and counted; "
        "a task with none answered has no score (without this, missing items are an error)",
    )


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _only_tasks(plan: Any, tasks: str | None, where: Path) -> Any:
    """The plan restricted to the comma-separated task ids; ArtifactError naming an unknown one."""
    from ecgspec.artifacts.plan_schema import ArtifactError

    if not tasks:
        return plan
    wanted = [t for t in tasks.split(",") if t]
    known = [t.id for t in plan.tasks]
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise ArtifactError(f"{where}: no task {', '.join(map(repr, unknown))} (tasks: {', '.join(known)})")
    return plan.model_copy(update={"tasks": tuple(t for t in plan.tasks if t.id in wanted)})


def _refuse_missing(args: argparse.Namespace, plan: Any, preds: Any, hint: str) -> int | None:
    """1 (after saying which items have no prediction) unless --allow-missing; None when scoring may go on."""
    from .score import describe_missing, missing_items

    lost = missing_items(plan, preds)
    if not lost:
        return None
    if args.allow_missing:
        print(f"warning: {describe_missing(plan, lost)}; scoring without them (--allow-missing)", file=sys.stderr)
        return None
    return _fail(
        f"{describe_missing(plan, lost)}. Nothing was scored: a missing item is not a wrong answer. {hint}"
        "To score the answered items alone (the missing ones left out and counted), pass --allow-missing."
    )


def _judge(args: argparse.Namespace, plan: Any, cache: Any) -> Any:
    if not args.judge_url:
        return None
    from .backends.openai import OpenAIBackend
    from .judge import Judge

    model = args.judge_model or plan.judge
    if not model:
        raise SystemExit(_fail("the plan pins no judge model; pass --judge-model"))
    backend = OpenAIBackend(
        url=args.judge_url,
        model=model,
        timeout=args.judge_timeout,
        retries=args.judge_retries,
        max_tokens=1024,
        json_mode=True,
    )
    return Judge(backend, cache, plan.content_hash())


def _finish(
    args: argparse.Namespace,
    plan: Any,
    preds: Any,
    judge: Any,
    backend: Any,
    extracted: Any = None,
    unguided: Collection[str] = (),
) -> int:
    """Score, write the results, predictions and report, print a line per task. `extracted`: the LLM extractors'
    outcome where `--compare-extractors` already asked for it (the same readings then make the scores);
    `unguided`: constrained tasks whose backend could not enforce the schema (their answer mode says so)."""
    import json
    from datetime import datetime

    from ecgspec.artifacts.results import Results, write_text_atomic

    from .llm_extract import LlmExtractError
    from .report import plot_task, write_report
    from .score import score_plan

    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    mode = args.scoring or plan.scoring
    try:
        readings = _llm_readings(plan, preds, out, mode, extracted)
    except LlmExtractError as exc:
        return _fail(str(exc))
    scored = score_plan(plan, preds, judge=judge, mode=mode, readings=readings)
    tasks = []
    for t in scored.tasks:
        plots = plot_task(t, scored.arrays.get(t.id, {}), out)
        update: dict[str, Any] = {"plots": tuple(plots)}
        if t.id in unguided and t.answer_mode == "constrained (json schema)":
            update["answer_mode"] = "constrained (asked in words: the backend enforced no schema)"
        tasks.append(t.model_copy(update=update))
    res = Results(
        suite=plan.suite,
        version=plan.version,
        suite_hash=plan.suite_hash,
        spec_hash=plan.spec_hash,
        plan_hash=plan.content_hash(),
        scoring=mode,
        backend=getattr(backend, "name", None),
        model=getattr(backend, "model", None),
        generation=getattr(backend, "settings", {}) or {},
        judge=judge.backend.model if judge else plan.judge,
        bootstrap=plan.bootstrap,
        seed=plan.seed,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        tasks=tuple(tasks),
    )
    res.write(out / "results" / f"{plan.suite}.json")
    write_text_atomic(out / "predictions.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in scored.rows))
    md, _ = write_report(res, out, plan=plan)
    for t in res.tasks:
        shown = ", ".join(f"{k} {m.value:.3f}" if m.value is not None else f"{k} n/a" for k, m in t.metrics.items())
        print(
            f"{t.id:>14}: {shown}  (fallbacks {t.fallbacks}, missing {t.missing}"
            + (f", judge failures {sum(t.judge.failures.values())}" if t.judge else "")
            + (f", unread by the extractor {t.extractor_failures}" if t.extractor_failures else "")
            + ")"
        )
    print(f"wrote {out / 'results' / (plan.suite + '.json')}, {md}")
    return 0


def _extracting(plan: Any) -> Any:
    """The plan's tasks whose declared extractor runs (`backend = none` declares one without running it), or
    None when there are none: extract_declared would refuse a plan that also holds a `none` extractor."""
    from .score import read_by_llm

    tasks = tuple(t for t in plan.tasks if read_by_llm(t))
    return plan.model_copy(update={"tasks": tasks}) if tasks else None


def _extract(plan: Any, preds: Any, out: Path) -> Any:
    """The declared extractors' outcome for the answers in `preds` (readings cached in OUT/cache.sqlite), or None
    when no task's extractor runs. Raises LlmExtractError for one that cannot be used."""
    from .cache import ResponseCache
    from .llm_extract import extract_declared

    asked = _extracting(plan)
    if asked is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    cache = ResponseCache(out / "cache.sqlite")
    try:
        return extract_declared(asked, {k: p.response for k, p in preds.items()}, cache)
    finally:
        cache.close()


def _llm_readings(plan: Any, preds: Any, out: Path, mode: str, got: Any = None) -> Any:
    """The declared LLM extractors' readings (`got` where already asked for, else asked now), or None when no
    task declares one that is in use, or in pulse_compat mode (the released rules read every answer there)."""
    if mode == "pulse_compat":
        return None
    got = got if got is not None else _extract(plan, preds, out)
    if got is None:
        return None
    print(
        f"extractor: {len(got.extracted)} answers read ({got.sent} asked, {got.cached} from the cache), "
        f"{len(got.failures)} unread" + (f" ({_kinds(got.counts())})" if got.failures else ""),
        file=sys.stderr,
    )
    for (item, turn), why in sorted(got.failures.items())[:5]:
        print(f"  unread: {item} turn {turn}: {why.kind}: {why.detail[:160]}", file=sys.stderr)
    return got.extracted


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def cmd_eval(args: argparse.Namespace, parser: Any = None) -> int:
    from ecgspec.artifacts.plan_schema import ArtifactError, load_plan

    from .backends.base import BackendError, make_backend
    from .cache import ResponseCache
    from .run import backend_options, run_plan, stderr_progress
    from .score import Prediction

    try:
        plan = load_plan(args.plan)
        _only_tasks(plan, args.tasks, args.plan)  # an unknown id is an error, not a run of nothing
    except ArtifactError as exc:
        return _fail(str(exc))
    opts: dict[str, Any] = {"model": args.model, "max_tokens": args.max_tokens}
    if args.show_prompts is not None:
        if args.backend != "transformers":
            return _fail("--show-prompts needs --backend transformers (other backends tokenise on their side)")
        return show_prompts(args, plan)
    if args.output is None:
        return _fail("eval needs -o/--output (the results folder)")
    if args.conversation and args.backend in ("transformers", "vllm"):
        opts["conversation"] = args.conversation
    if args.backend == "openai":
        if not args.url:
            return _fail("--backend openai needs --url")
        opts.update(
            url=args.url,
            api_key=args.api_key,
            concurrency=args.concurrency,
            retries=args.retries,
            timeout=args.timeout,
            add_special_tokens=args.add_special_tokens,
        )
    opts.update(backend_options(plan, args.backend))  # constrained tasks: ask for the answer's JSON schema
    try:
        backend = make_backend(args.backend, **opts)
    except BackendError as exc:
        return _fail(str(exc))
    tasks = set(args.tasks.split(",")) if args.tasks else None
    from .run import missing_images

    lost = missing_images(plan, args.plan.parent, tasks)
    if lost:
        return _fail(
            f"{args.plan}: {len(lost)} item image(s) missing (paths are relative to the plan's folder), e.g. {lost[0]}"
        )
    cache = ResponseCache(args.cache or args.output / "cache.sqlite")
    try:
        outcome = run_plan(plan, args.plan.parent, backend, cache, tasks=tasks, progress=stderr_progress())
        print(
            f"responses: {outcome.sent} sent, {outcome.cached} from the cache, {len(outcome.failures)} failed",
            file=sys.stderr,
        )
        for (item, turn), why in sorted(outcome.failures.items())[:10]:
            print(f"  failed: {item} turn {turn}: {why}", file=sys.stderr)
        if outcome.unguided:
            print(
                f"warning: the {args.backend} backend cannot enforce a JSON schema; the constrained answers of "
                f"{', '.join(outcome.unguided)} are asked for in the prompt and validated",
                file=sys.stderr,
            )
        preds = {k: Prediction(v) for k, v in outcome.responses.items()}
        if tasks:
            plan = plan.model_copy(update={"tasks": tuple(t for t in plan.tasks if t.id in tasks)})
        refused = _refuse_missing(
            args, plan, preds, "The responses that arrived are cached: rerun to ask again for the failed ones. "
        )
        if refused is not None:
            return refused
        return _finish(args, plan, preds, _judge(args, plan, cache), backend, unguided=outcome.unguided)
    finally:
        backend.close()
        cache.close()


def show_prompts(args: argparse.Namespace, plan: Any) -> int:
    """Each turn's ids as the transformers backend would pass them to generate(); no weights are loaded.

    A later turn carries the model's earlier answers, so it is shown only where those are in the response
    cache (`--cache`, or OUT/cache.sqlite of an earlier run)."""
    import json

    from .backends.base import BackendError, Request
    from .backends.transformers import TransformersBackend
    from .cache import ResponseCache, cache_key
    from .run import constrained_turn

    try:
        backend = TransformersBackend(
            model=args.model, max_tokens=args.max_tokens, conversation=args.conversation, load_weights=False
        )
    except BackendError as exc:
        return _fail(str(exc))
    cache_path = args.cache or (args.output / "cache.sqlite" if args.output else None)
    cache = ResponseCache(cache_path) if cache_path and cache_path.is_file() else None
    plan_hash = plan.content_hash()
    items = [(task, it) for task in plan.tasks for it in task.items][: args.show_prompts]
    for task, it in items:
        messages: list[dict[str, str]] = []
        for turn, t in enumerate(it.turns):
            guided = constrained_turn(task, it, turn)  # a constrained last turn carries its answer instruction
            messages.append({"role": "user", "content": f"{t.question}\n\n{guided[1]}" if guided else t.question})
            image = args.plan.parent / it.image if it.image else None
            ids, _ = backend.prompt(Request("", tuple(messages), image))
            print(json.dumps({"id": it.id, "turn": turn, "input_ids": ids}))
            answer = cache.get(cache_key(plan_hash, it.id, turn, backend.model, backend.settings)) if cache else None
            if answer is None:
                break
            messages.append({"role": "assistant", "content": answer})
    if cache:
        cache.close()
    return 0


def _agreement(plan: Any, preds: Any, out: Path) -> tuple[str, Any]:
    """The agreement table, and the LLM extractors' outcome it was made with (None where none runs)."""
    from .agreement import compare

    llm = _extract(plan, preds, out)
    return compare(plan, {k: p.response for k, p in preds.items()}, plan.seed, llm=llm).render(), llm


def cmd_score(args: argparse.Namespace, parser: Any = None) -> int:
    from ecgspec.artifacts.plan_schema import ArtifactError, load_plan

    from .cache import ResponseCache
    from .score import read_predictions

    try:
        plan = load_plan(args.plan)
        preds: dict[Any, Any] = {}
        for f in args.predictions:
            more = read_predictions(f, plan)
            dup = sorted(set(preds) & set(more))
            if dup:
                return _fail(f"{f}: item '{dup[0][0]}' turn {dup[0][1]} is also in an earlier predictions file")
            preds.update(more)
        plan = _only_tasks(plan, args.tasks, args.plan)
    except ArtifactError as exc:
        return _fail(str(exc))
    kept = {it.id for t in plan.tasks for it in t.items}
    preds = {k: v for k, v in preds.items() if k[0] in kept}
    answered = {t.id for t in plan.tasks if any((it.id, 0) in preds for it in t.items)}
    hint = ""
    if not preds:
        hint = "The predictions file(s) hold no prediction for these tasks. "
    elif len(answered) < len(plan.tasks):
        hint = f"To score only the tasks the predictions cover, name them: --tasks {','.join(t.id for t in plan.tasks if t.id in answered)}. "
    refused = _refuse_missing(args, plan, preds, hint)
    if refused is not None:
        return refused
    extracted = None
    if args.compare_extractors:
        from .llm_extract import LlmExtractError

        try:
            table, extracted = _agreement(plan, preds, args.output)
        except LlmExtractError as exc:
            return _fail(str(exc))
        print(table)
    cache = ResponseCache(args.output / "cache.sqlite") if args.judge_url else None
    try:
        # the readings the table was made with are the ones scored: a failure is not asked twice
        return _finish(args, plan, preds, _judge(args, plan, cache), None, extracted)
    finally:
        if cache:
            cache.close()


def cmd_import(args: argparse.Namespace, parser: Any = None) -> int:
    from ecgspec.artifacts.plan_schema import ArtifactError
    from ecgspec.errors import format_all
    from ecgspec.program import load

    from .released import released_plan

    program = load([args.spec])
    if not program.ok:
        print(format_all([d for d in program.diagnostics if d.severity == "error"], program.sources), file=sys.stderr)
        return 1
    try:
        suite = program.get("suite", args.suite)
    except KeyError:
        return _fail(f"{args.spec}: no suite '{args.suite}'")
    try:
        plan = released_plan(
            program,
            suite,
            released_dir=args.released,
            plan_path=args.output,
            only=set(args.tasks.split(",")) if args.tasks else None,
        )
    except ArtifactError as exc:
        return _fail(str(exc))
    plan.write(args.output)
    print(f"wrote {args.output}: {sum(len(t.items) for t in plan.tasks)} items in {len(plan.tasks)} tasks")
    return 0


def cmd_export(args: argparse.Namespace, parser: Any = None) -> int:
    from ecgspec.artifacts.plan_schema import ArtifactError, load_plan

    from .lmms_export import export, exported

    try:
        plan = load_plan(args.plan)
    except ArtifactError as exc:
        return _fail(str(exc))
    if not any(exported(t) for t in plan.tasks):
        return _fail(f"{args.plan}: no task lmms-eval can run (judged and multi-turn tasks are not exported)")
    try:
        files = export(plan, args.plan.parent, args.output)
    except ArtifactError as exc:
        return _fail(str(exc))
    print(f"wrote {len(files)} files to {args.output}")
    return 0
