"""Log lines for unattended jobs (``guanxi refresh``): readable text, or one JSON object
per line for a log collector (``--log-json``).

A JSON line holds ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and the
record's structured fields (those passed as ``extra=``), e.g.::

    {"ts": "2026-11-30T08:01:02.345Z", "level": "INFO", "logger": "guanxi.refresh",
     "message": "stage write: 12.4 s", "event": "stage", "stage": "write", "seconds": 12.4}
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["JsonLines", "configure"]

# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(json_lines: bool, *, stream: TextIO | None = None,
              level: int = logging.INFO, always: Collection[str] = ()) -> None:
    """Send every log record to ``stream`` (default stderr) as JSON lines or as ``time
    level logger message`` text, ``guanxi.*`` records from ``level`` up, and those of
    INFO and up whose ``event`` is one of ``always`` (a job's outcome). The handler
    sits on the root logger, so the driver's records (``GUANXI_LOG_LEVEL``) come out in
    the same format; handlers an earlier call or ``basicConfig`` installed are replaced.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logging.getLogger().handlers = [handler]
    shown = level
    if always and level > logging.INFO:
        events = frozenset(always)
        handler.addFilter(lambda r: r.levelno >= shown or not r.name.startswith("guanxi")
                          or getattr(r, "event", None) in events)
        level = logging.INFO
    logging.getLogger("guanxi").setLevel(level)
