"""Independent fits side by side, one per core: the fold models of cross-fitting.

Cross-fitting trains one network per fold, and every stage of trees one booster per
fold. The fits are independent and each is deterministic on one thread, so running
them side by side changes no result, only the wall time: on two cores, about half.

- **Threads** (:func:`in_threads`) for LightGBM and for inference: LightGBM and
  torch release the GIL while they compute.
- **Forked processes** (:func:`in_processes`) for training networks: dropout draws
  from one random generator per process, so two networks trained in threads of one
  process would draw from each other's stream and no longer repeat under a seed. A
  forked worker shares the parent's graph without copying it; it ignores Ctrl-C (the
  parent stops it), and ends itself if the parent dies (``kill -9``).

The number of workers is the number of cores this process may use, or
``GUANXI_WORKERS`` when set (1: everything in turn, in this process).

>>> in_threads([lambda: 1, lambda: 2])
[1, 2]
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from guanxi.progress import ProgressFn

__all__ = ["Step", "in_processes", "in_threads", "workers"]

T = TypeVar("T")

Step = Callable[[int, int], None]
"""``step(done, total)``: a job's own progress, passed to each job of
:func:`in_processes`."""

_jobs: Sequence[Callable[[Step], object]] = ()  # inherited by forked workers
_steps: multiprocessing.queues.SimpleQueue | None = None  # workers' steps to the parent


def workers() -> int:
    """How many fits run at once: ``GUANXI_WORKERS``, else the usable cores."""
    value = os.environ.get("GUANXI_WORKERS")
    if value:
        count = int(value) if value.strip().isdigit() else 0
        if count < 1:
            from guanxi.errors import InputError

            raise InputError(f"GUANXI_WORKERS must be a whole number of at least 1, not "
                             f"{value!r}", "unset it to use every core, or set 1 to fit "
                             "one model at a time")
        return count
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def in_threads(jobs: Sequence[Callable[[], T]], count: int | None = None) -> list[T]:
    """Each job's result, in order, from ``count`` threads (default :func:`workers`)."""
    count = min(count or workers(), len(jobs))
    if count <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(count, thread_name_prefix="guanxi-fit") as pool:
        return list(pool.map(lambda job: job(), jobs))


def in_processes(jobs: Sequence[Callable[[Step], T]], *, task: str,
                 progress: ProgressFn | None = None, count: int | None = None) -> list[T]:
    """Each job's result, in order, from ``count`` forked processes (default
    :func:`workers`). Job ``i`` is called with a ``step(done, total)`` for its own
    progress; ``progress(task, done, total)`` gets the sums over every job. An
    exception in a job is raised here once the others are stopped."""
    global _jobs, _steps
    count = min(count or workers(), len(jobs))
    done = [0] * len(jobs)
    totals = [0] * len(jobs)

    def report(i: int, d: int, total: int) -> None:
        done[i], totals[i] = d, total
        if progress is not None:
            progress(task, sum(done), sum(totals))

    if count <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [job(lambda d, t, i=i: report(i, d, t)) for i, job in enumerate(jobs)]
    context = multiprocessing.get_context("fork")
    _jobs, _steps = jobs, context.SimpleQueue()
    try:
        with context.Pool(count, initializer=_worker_start, initargs=(os.getpid(),)) as pool:
            pending = [pool.apply_async(_run, (i,)) for i in range(len(jobs))]
            while not all(p.ready() for p in pending):
                while not _steps.empty():
                    report(*_steps.get())
                for p in pending:
                    if p.ready() and not p.successful():
                        p.get()  # raises the job's error; leaving the pool stops the rest
                time.sleep(0.1)
            while not _steps.empty():
                report(*_steps.get())
            return [p.get() for p in pending]  # leaving the pool stops the workers
    finally:
        _jobs, _steps = (), None


def _run(i: int) -> object:
    steps = _steps
    return _jobs[i](lambda done, total: steps.put((i, done, total)))


def _worker_start(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)

