"""Runs work items: in this process, or on a pool of worker processes.

Workers are fresh processes (from a fork server, never forked from the parent: a fork of a
process whose OpenCV or cairo thread pools are running can deadlock) that load the spec once and build the corpus state
themselves, so nothing large is pickled per item. At most a few items per worker are in
flight: the plan is streamed, never materialised. Each result is
stored by the worker itself (ecgspec.build.store); the parent only counts and reports.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from .item import CorpusState, do_item
from .work_items import WorkItem

_STATE: CorpusState | None = None  # a worker's own corpus state, built by _init_worker


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": result["id"],
        "status": result["status"],
        "reason": result.get("reason"),
        "resumed": bool(result.get("_resumed")),
    }


def _work(item: WorkItem, ref: Any) -> dict[str, Any]:
    assert _STATE is not None
    return _summary(do_item(_STATE, item, ref))


def run(
    state: CorpusState,
    recipe: tuple[Any, str, Path],
    items: Iterable[tuple[WorkItem, Any]],
    jobs: int,
    on_done: Callable[[dict[str, Any]], None],
) -> None:
    """Do every item; call `on_done` with each one's summary as it finishes (any order).
    `recipe` (load args, corpus name, output folder) lets a worker rebuild `state`."""
    if jobs <= 1:
        single_threaded()
        for item, ref in items:
            on_done(_summary(do_item(state, item, ref)))
        return
    # Workers fork from a clean server process that has the heavy modules imported already: as
    # safe as spawning (no inherited thread pools) and a worker starts in a fraction of the time.
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["ecgspec.build.preload"])
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=recipe) as pool:
        pending: set[Future[dict[str, Any]]] = set()
        window = jobs * 4
        for item, ref in items:
            pending.add(pool.submit(_work, item, ref))
            if len(pending) >= window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    on_done(f.result())
        for f in pending:
            on_done(f.result())


def single_threaded() -> None:
    """`--jobs N` uses N cores: each worker (and a one-job build) keeps OpenCV to one thread."""
    import cv2

    cv2.setNumThreads(1)


def _init_worker(load_args: Any, corpus: str, out: Path) -> None:
    global _STATE
    single_threaded()
    from .run import prepare_corpus

    program = load_args.load()
    _STATE = prepare_corpus(program, corpus, out, load_args.data_roots)
