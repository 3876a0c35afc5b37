"""Progress as a plain callback, so library code never draws anything itself.

Long-running library functions take ``progress: ProgressFn | None`` and call
``progress(task, done, total)`` as work completes: ``task`` names the step ("check
payments.csv"), ``done`` counts units so far, ``total`` is the expected count or None
when unknown. The command line draws rich bars (``guanxi.output.RichProgress``), the app
draws ``st.progress``, a batch job logs (:func:`log_progress`).

>>> seen = []
>>> report = lambda task, done, total: seen.append((task, done, total))
>>> report("write payments.csv", 500, 1000)
>>> seen
[('write payments.csv', 500, 1000)]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["ProgressFn", "log_progress"]

ProgressFn = Callable[[str, int, "int | None"], None]
"""``progress(task, done, total)``; see the module docstring."""


def log_progress(logger: logging.Logger, every: float = 30.0) -> ProgressFn:
    """A ``ProgressFn`` for unattended jobs: one INFO line per task at most every
    ``every`` seconds, plus one when a task reaches its total."""
    last: dict[str, float] = {}

    def report(task: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if finished or now - last.get(task, -every) >= every:
            last[task] = now
            logger.info("%s: %d of %s", task, done, total if total is not None else "?",
                        extra={"event": "progress", "task": task, "done": done,
                               "total": total})

    return report
