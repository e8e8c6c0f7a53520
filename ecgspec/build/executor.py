"""Runs work items: in this process, or on a pool of worker processes.

Workers are fresh processes (from a fork server, never forked from the parent: a fork of a
process whose OpenCV or cairo thread pools are running can deadlock) that load the spec once and build the corpus state
themselves, so nothing large is pickled per item. At most a few items per worker are in
flight: the plan is streamed, never materialised. Each result is
stored by the worker itself (ecgspec.build.store); the parent only counts and reports.

Workers and the fork server die with the build: on Linux the kernel sends them SIGKILL when their
parent dies (`prctl(PR_SET_PDEATHSIG)`, set in the fork server by ecgspec.build.preload and in
each worker by its initialiser), and on any system a thread in each worker watches its parent
id and ends the worker once it changes. So a build killed with `kill -9` leaves no process
writing into OUT behind it; a rerun resumes (items are stored atomically, one file each).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from .item import CorpusState, do_item
from .work_items import WorkItem

_STATE: CorpusState | None = None  # a worker's own corpus state, built by _init_worker
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_SECONDS = 0.25  # how often a worker's watchdog looks at its parent id


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
    executor: str = "local",
    address: str | None = None,
) -> None:
    """Do every item; call `on_done` with each one's summary as it finishes (any order).
    `recipe` (load args, corpus name, output folder) lets a worker rebuild `state`.
    `executor="ray"` runs them on a Ray cluster at `address` instead (ecgspec.build.ray_executor)."""
    if executor == "ray":
        from .ray_executor import run_ray

        run_ray(state, recipe, items, jobs, on_done, address)
        return
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
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=(*recipe, os.getpid())
    ) as pool:
        pending: set[Future[dict[str, Any]]] = set()
        window = jobs * 4
        try:
            for item, ref in items:
                pending.add(pool.submit(_work, item, ref))
                if len(pending) >= window:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        on_done(f.result())
            for f in pending:
                on_done(f.result())
        except BaseException:
            # A failed item (a full disk) stops the build: the queued items are dropped, not run.
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def single_threaded() -> None:
    """`--jobs N` uses N cores: each worker (and a one-job build) keeps OpenCV to one thread."""
    import cv2

    cv2.setNumThreads(1)


def die_with_parent(*, watch: bool, build: int | None = None) -> None:
    """End this process when its parent dies: the kernel's parent-death signal (Linux), and with
    `watch` a daemon thread that polls the parent id and whether the build's process `build` is
    still there (any system). Not the thread in the fork server, which must stay single-threaded
    to fork safely: it ends by itself once its last worker has ended (the workers hold its pipe)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent:  # the parent died before the signal was set
        os._exit(1)
    if watch:
        threading.Thread(target=_watchdog, args=(parent, build), name="ecgspec-watchdog", daemon=True).start()


def _watchdog(parent: int, build: int | None) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        # Reparented, or the build gone: nobody is left to take this worker's results.
        if os.getppid() != parent or (build is not None and not _exists(build)):
            os._exit(1)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process now has the id
        return True
    return True


def _init_worker(load_args: Any, corpus: str, out: Path, build: int) -> None:
    global _STATE
    die_with_parent(watch=True, build=build)
    single_threaded()
    from .run import prepare_corpus

    program = load_args.load()
    _STATE = prepare_corpus(program, corpus, out, load_args.data_roots)
