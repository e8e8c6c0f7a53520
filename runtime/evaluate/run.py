"""Running a plan through a backend: every item's turns, through the response cache.

Turns go in waves: first every item's turn 0, then turn 1 of the items that have one, and so on,
because a later turn carries the model's own earlier answers. Within a wave, cached responses
are taken from the cache and only the rest is sent; each response is cached the moment it
arrives, so a run that is killed loses at most the requests in flight, and the next run sends
exactly those.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ecgspec.artifacts.plan_schema import Item, Plan

from .backends.base import Backend, BackendError, Request
from .cache import ResponseCache, cache_key


@dataclass
class RunOutcome:
    responses: dict[tuple[str, int], str] = field(default_factory=dict)
    failures: dict[tuple[str, int], str] = field(default_factory=dict)
    sent: int = 0
    cached: int = 0


def _messages(item: Item, turn: int, responses: dict[tuple[str, int], str]) -> tuple[dict[str, str], ...]:
    msgs: list[dict[str, str]] = []
    for k in range(turn):
        msgs.append({"role": "user", "content": item.turns[k].question})
        msgs.append({"role": "assistant", "content": responses[(item.id, k)]})
    msgs.append({"role": "user", "content": item.turns[turn].question})
    return tuple(msgs)


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
    items = [it for t in plan.tasks if tasks is None or t.id in tasks for it in t.items]
    depth = max((len(it.turns) for it in items), default=0)
    for turn in range(depth):
        pending: list[Request] = []
        for it in items:
            if turn >= len(it.turns) or any((it.id, k) not in out.responses for k in range(turn)):
                continue  # no such turn, or an earlier turn failed
            key = cache_key(plan_hash, it.id, turn, backend.model, backend.settings)
            hit = cache.get(key)
            if hit is not None:
                out.responses[(it.id, turn)] = hit
                out.cached += 1
                continue
            image = (plan_dir / it.image) if it.image else None
            pending.append(Request(key, _messages(it, turn, out.responses), image, meta={"item": it.id}))
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
