"""Running a plan through a backend: every item's turns, through the response cache.

Turns go in waves: first every item's turn 0, then turn 1 of the items that have one, and so on,
because a later turn carries the model's own earlier answers. Within a wave, cached responses
are taken from the cache and only the rest is sent; each response is cached the moment it
arrives, so a run that is killed loses at most the requests in flight, and the next run sends
exactly those.

A task whose answers are constrained (`extract.mode = "constrained"`, runtime.evaluate.constrained) is asked
its last turn with the reply's JSON schema on the request and the shape in words after the question; the
schema and that sentence are part of the turn's cache key. `backend_options` says how a backend must be made
for such a plan (the OpenAI backend sends a schema as `response_format` only when made with
`guided="json_schema"`), and a run notes the constrained tasks its backend did not enforce.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecgspec.artifacts.plan_schema import Item, Plan, Task

from .backends.base import Backend, BackendError, Request
from .cache import ResponseCache, cache_key
from .constrained import instruction, is_constrained, schema_for


@dataclass
class RunOutcome:
    responses: dict[tuple[str, int], str] = field(default_factory=dict)
    failures: dict[tuple[str, int], str] = field(default_factory=dict)
    sent: int = 0
    cached: int = 0
    # Constrained tasks asked through a backend that does not enforce a schema: their replies were asked for
    # in words only (and are validated when scored), which a report should say.
    unguided: list[str] = field(default_factory=list)


def _messages(
    item: Item, turn: int, responses: dict[tuple[str, int], str], suffix: str = ""
) -> tuple[dict[str, str], ...]:
    msgs: list[dict[str, str]] = []
    for k in range(turn):
        msgs.append({"role": "user", "content": item.turns[k].question})
        msgs.append({"role": "assistant", "content": responses[(item.id, k)]})
    question = item.turns[turn].question
    msgs.append({"role": "user", "content": f"{question}\n\n{suffix}" if suffix else question})
    return tuple(msgs)


def constrained_turn(task: Task, item: Item, turn: int) -> tuple[dict[str, Any], str] | None:
    """(schema, instruction) where this turn is asked for a constrained answer: the last turn of a
    constrained task; None for every other turn."""
    if not is_constrained(task) or turn != len(item.turns) - 1:
        return None
    return schema_for(task, item), instruction(task, item)


def backend_options(plan: Plan, kind: str) -> dict[str, Any]:
    """Options `make_backend(kind, …)` needs for this plan: a plan with a constrained task needs the OpenAI
    backend to send schemas as `response_format` (vllm guides to a request's schema by default; transformers
    cannot). Decided on the whole plan, not the tasks run, so that every run of a plan keys alike."""
    if kind == "openai" and any(is_constrained(t) for t in plan.tasks):
        return {"guided": "json_schema"}
    return {}


def missing_images(plan: Plan, plan_dir: Path, tasks: set[str] | None = None) -> list[str]:
    """Items whose image file is not there (checked before anything is sent)."""
    return [
        f"{t.id}/{it.id}: {plan_dir / it.image}"
        for t in plan.tasks
        if tasks is None or t.id in tasks
        for it in t.items
        if it.image and not (plan_dir / it.image).is_file()
    ]


def run_plan(
    plan: Plan,
    plan_dir: Path,
    backend: Backend,
    cache: ResponseCache,
    *,
    tasks: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunOutcome:
    plan_hash = plan.content_hash()
    out = RunOutcome()
    chosen = [t for t in plan.tasks if tasks is None or t.id in tasks]
    task_of = {it.id: t for t in chosen for it in t.items}
    items = [it for t in chosen for it in t.items]
    if not backend.guides_schema:
        out.unguided = [t.id for t in chosen if is_constrained(t)]
    depth = max((len(it.turns) for it in items), default=0)
    for turn in range(depth):
        pending: list[Request] = []
        for it in items:
            if turn >= len(it.turns) or any((it.id, k) not in out.responses for k in range(turn)):
                continue  # no such turn, or an earlier turn failed
            ask = constrained_turn(task_of[it.id], it, turn)
            schema, suffix = ask if ask is not None else (None, "")
            # The plan hash already tells a constrained task from a free one; the schema and the sentence are
            # keyed too, so that a change in how either is written is never answered from the cache.
            extra = "" if ask is None else hashlib.sha256(json.dumps([schema, suffix]).encode()).hexdigest()
            key = cache_key(plan_hash, it.id, turn, backend.model, backend.settings, extra=extra)
            hit = cache.get(key)
            if hit is not None:
                out.responses[(it.id, turn)] = hit
                out.cached += 1
                continue
            image = (plan_dir / it.image) if it.image else None
            messages = _messages(it, turn, out.responses, suffix)
            pending.append(Request(key, messages, image, meta={"item": it.id}, schema=schema))
        for req, text in backend.generate(pending):
            item_id = req.meta["item"]
            if isinstance(text, BackendError):
                out.failures[(item_id, turn)] = str(text)
                continue
            cache.put(
                req.key,
                plan_hash=plan_hash,
                item=item_id,
                turn=turn,
                model=backend.model,
                settings=backend.settings,
                response=text,
            )
            out.responses[(item_id, turn)] = text
            out.sent += 1
            if progress is not None:
                progress(f"{item_id} turn {turn}")
    return out


def stderr_progress(every: int = 50) -> Callable[[str], None]:
    count = 0

    def report(what: str) -> None:
        nonlocal count
        count += 1
        if count % every == 0:
            print(f"  {count} responses ({what})", file=sys.stderr, flush=True)

    return report
