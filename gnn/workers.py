"""Independent fits side by side, one per core: the fold models of cross-fitting.

Cross-fitting trains one network per fold, and every stage of trees one booster per
fold. The fits are independent and each is deterministic on one thread, so running
them side by side changes no result, only the wall time: on two cores, training's fit
took 0.55-0.6 of the time it took in turn (docs/performance.md).

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
import pickle
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from typing import TypeVar

from guanxi.errors import GuanxiError, InputError
from guanxi.progress import ProgressFn

__all__ = ["Step", "WorkerDied", "in_processes", "in_threads", "workers"]

T = TypeVar("T")

Step = Callable[[int, int], None]
"""``step(done, total)``: a job's own progress, passed to each job of
:func:`in_processes`."""

_jobs: Sequence[Callable[[Step], object]] = ()  # inherited by forked workers


def workers() -> int:
    """How many fits run at once: ``GUANXI_WORKERS``, else the usable cores."""
    value = os.environ.get("GUANXI_WORKERS")
    if value:
        count = int(value) if re.fullmatch(r"\s*[0-9]+\s*", value) else 0
        if count < 1:
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
    progress; ``progress(task, done, total)`` gets the sums over every job.

    An exception in a job is raised here, and a worker that dies (the kernel's
    out-of-memory killer, ``kill -9``) raises :class:`WorkerDied`, once the other
    workers are stopped; so does Ctrl-C here.
    """
    global _jobs
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
    todo = context.SimpleQueue()
    for i in range(len(jobs)):
        todo.put(i)
    for _ in range(count):
        todo.put(None)  # one stop per worker
    _jobs = jobs
    running: dict[Connection, multiprocessing.process.BaseProcess] = {}
    out: dict[int, object] = {}
    try:
        for n in range(count):
            # A pipe per worker, its writing end closed here once forked: a worker that
            # dies, even halfway through sending, is then an end of file, never a wait.
            reader, writer = context.Pipe(duplex=False)
            proc = context.Process(target=_work, args=(todo, writer, os.getpid()),
                                   daemon=True, name=f"guanxi-fit-{n}")
            proc.start()
            writer.close()
            running[reader] = proc
        while running:
            for reader in wait(list(running), timeout=1.0):
                try:
                    kind, i, value = reader.recv()
                except (EOFError, OSError):  # the worker ended
                    proc = running.pop(reader)
                    proc.join()
                    if proc.exitcode != 0:
                        raise WorkerDied(proc.exitcode) from None
                    continue
                if kind == "step":
                    report(i, *value)
                elif kind == "done":
                    out[i] = pickle.loads(value)
                else:
                    error, trace = value
                    raise error from _Remote(trace)
        if len(out) < len(jobs):  # every worker ended well, yet a result is missing
            raise WorkerDied(0)
        return [out[i] for i in range(len(jobs))]
    finally:
        for proc in running.values():
            if proc.is_alive():
                proc.terminate()
        for proc in running.values():
            proc.join()
        _jobs = ()


class WorkerDied(GuanxiError):
    """A worker process ended without its result."""

    def __init__(self, exitcode: int) -> None:
        how = (f"was killed by signal {-exitcode}" if exitcode < 0
               else f"ended with exit code {exitcode}")
        super().__init__(f"a worker process training a model {how} (out of memory?)",
                         "set GUANXI_WORKERS=1 to train one model at a time, in less memory")


class _Remote(Exception):
    """The traceback of an error raised in a worker, as text."""

    def __str__(self) -> str:
        return "\n" + self.args[0]


def _work(todo: object, results: Connection, parent: int) -> None:
    """A worker: runs jobs from ``todo`` until told to stop, sending each step, result
    or error to ``results``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    while (i := todo.get()) is not None:
        try:
            value = _jobs[i](lambda d, t, i=i: results.send(("step", i, (d, t))))
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
            trace = traceback.format_exc()
            try:
                results.send(("error", i, (exc, trace)))
            except Exception:  # noqa: BLE001 - an error that does not pickle
                results.send(("error", i, (RuntimeError(repr(exc)), trace)))
            return
        # Pickled here, by value: the pipe's own pickler would share tensors through a
        # socket of this process, which ends before the parent reads them.
        results.send(("done", i, pickle.dumps(value)))


def _end_with(parent: int) -> None:
    """End this worker once its parent is gone (``kill -9`` of the command)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)
