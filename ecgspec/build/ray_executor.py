"""Runs work items on a Ray cluster (`ecgspec build --executor ray`).

The same scheme as the local process pool (ecgspec.build.executor): a pool of Ray actors, one
per CPU requested, each loading the spec and building its corpus state once from the recipe;
items are streamed to them with a bounded number in flight (the plan is never materialised);
each actor stores its items' results itself (ecgspec.build.store: atomic, one file per item
under OUT/.work) and returns only a small summary, which the driver passes to `on_done` as it
comes. So OUT must be a folder every Ray worker sees at the same path: a local cluster, or a
shared filesystem mounted alike on every node. The final merge runs in the driver, as with the
local executor, so the output is byte-identical to a local build's.

A worker that dies (a node lost, a process killed) is restarted by Ray and its unfinished
items are run again (actor `max_restarts` and `max_task_retries`). Items are deterministic
and stored atomically by id, so an item that was stored before its worker died is taken
from the store (or rewritten with identical bytes): nothing is lost or duplicated.

Ray is imported only here and only when asked for: it is the `ray` extra.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .item import CorpusState, do_item
from .work_items import WorkItem

# Fault injection for the tests: "N:MARKER" makes the first actor to store its Nth item create
# the file MARKER and die at once (`os._exit(1)`), as a lost node would; once per MARKER.
CRASH_ENV = "ECGSPEC_BUILD_RAY_CRASH_AFTER"
MAX_RESTARTS = 4  # per actor: a worker that keeps dying ends the build
IN_FLIGHT_PER_ACTOR = 4  # queued on each actor, so none waits on the driver between items


class RayMissing(RuntimeError):
    """`--executor ray` without Ray installed."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayMissing("--executor ray needs Ray, which is not installed: pip install 'ecgspec[ray]'") from None
    return ray


class _Worker:
    """One Ray actor: a corpus state built once, then items done one at a time."""

    def __init__(self, load_args: Any, corpus: str, out: Path, crash: str | None) -> None:
        from .executor import single_threaded
        from .run import prepare_corpus

        single_threaded()
        self.state = prepare_corpus(load_args.load(), corpus, out, load_args.data_roots)
        self.crash = crash
        self.done = 0

    def work(self, item: WorkItem, ref: Any) -> dict[str, Any]:
        from .executor import _summary

        summary = _summary(do_item(self.state, item, ref))
        self.done += 1
        if self.crash is not None:
            _maybe_crash(self.crash, self.done)
        return summary


def _maybe_crash(spec: str, done: int) -> None:
    after, _, marker = spec.partition(":")
    if done < int(after) or not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os._exit(1)


def absolute_recipe(recipe: tuple[Any, str, Path]) -> tuple[Any, str, Path]:
    """The recipe with every path absolute: a Ray worker's working directory is not ours."""
    from ..resolve import default_root

    load_args, corpus, out = recipe
    root = load_args.root if load_args.root is not None else default_root(list(load_args.paths))
    load_args = dataclasses.replace(
        load_args,
        paths=tuple(p.resolve() for p in load_args.paths),
        root=root.resolve(),
        templates=tuple(p.resolve() for p in load_args.templates),
        data_roots=tuple(p.resolve() for p in load_args.data_roots),
    )
    return load_args, corpus, out.resolve()


def connect(address: str | None, jobs: int) -> bool:
    """Connect this process to the Ray cluster at `address` (`ray://HOST:10001`, `auto`), or
    start a local one of `jobs` CPUs when there is none; returns whether one was started (then
    `disconnect` shuts it down). Already connected: nothing to do."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
        return False
    ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
    return True


def disconnect() -> None:
    import_ray().shutdown()


def run_ray(
    state: CorpusState,
    recipe: tuple[Any, str, Path],
    items: Iterable[tuple[WorkItem, Any]],
    jobs: int,
    on_done: Callable[[dict[str, Any]], None],
    address: str | None = None,
) -> None:
    """Do every item on `jobs` Ray actors; call `on_done` with each summary as it finishes.
    Connects to the cluster at `address` (`ray://HOST:10001`, `auto`), to the one this
    process is already connected to, or else starts a local one of `jobs` CPUs and shuts it
    down at the end. `state` is unused: each actor builds its own from `recipe`."""
    del state
    ray = import_ray()
    started = connect(address, jobs)
    actors: list[Any] = []
    try:
        cpus = int(ray.cluster_resources().get("CPU", jobs))
        if jobs > cpus:
            print(f"ecgspec: the Ray cluster has {cpus} CPUs: using {cpus} workers, not {jobs}", file=sys.stderr)
            jobs = max(1, cpus)
        worker = ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(_Worker)
        load_args, corpus, out = absolute_recipe(recipe)
        crash = os.environ.get(CRASH_ENV) or None
        actors = [worker.remote(load_args, corpus, out, crash) for _ in range(jobs)]
        _drive(ray, actors, items, on_done)
    finally:
        for actor in actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # pragma: no cover - already gone with the cluster
                pass
        if started:
            disconnect()


def _drive(
    ray: Any, actors: list[Any], items: Iterable[tuple[WorkItem, Any]], on_done: Callable[[dict[str, Any]], None]
) -> None:
    """Feed items to the least busy actor, at most IN_FLIGHT_PER_ACTOR each; report as they finish."""
    load = [0] * len(actors)
    owner: dict[Any, int] = {}  # object ref -> the actor doing it

    def finish(block: bool) -> None:
        if not owner:
            return
        done, _ = ray.wait(list(owner), num_returns=1, timeout=None if block else 0)
        for ref in done:
            load[owner.pop(ref)] -= 1
            on_done(ray.get(ref))

    for item, ref in items:
        while min(load) >= IN_FLIGHT_PER_ACTOR:
            finish(block=True)
        i = load.index(min(load))
        owner[actors[i].work.remote(item, ref)] = i
        load[i] += 1
    while owner:
        finish(block=True)
