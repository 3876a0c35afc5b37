"""One output convention for every command: a table for people, ``--json`` for machines."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

console = Console(stderr=True, soft_wrap=True, emoji=False)
"""Progress bars, warnings and notes go to stderr so stdout stays parseable. No emoji
codes: user text such as ``root:x:0`` must print as written."""


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "iso_format"):  # neo4j.time types
        return value.iso_format()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "items") and hasattr(value, "element_id"):  # neo4j Node
        return {"element_id": value.element_id, "labels": sorted(getattr(value, "labels", [])),
                **{k: _plain(v) for k, v in value.items()}}
    return value


def to_json(data: Any) -> str:
    return json.dumps(_plain(data), ensure_ascii=False, indent=2, sort_keys=False, default=str)


_emitted = False


def emit_json(data: Any) -> None:
    global _emitted
    _emitted = True
    print(to_json(data))  # as print does, nothing when started with stdout closed


def json_emitted() -> bool:
    """Whether this process has printed a JSON document on stdout (an error after one
    must not print a second)."""
    return _emitted


def emit_rows(rows: Sequence[Mapping[str, Any]], as_json: bool, title: str | None = None) -> None:
    """Print rows as a table, or as a JSON list of objects with ``as_json``."""
    if as_json:
        emit_json(list(rows))
        return
    out = Console(emoji=False)
    if not rows:
        out.print("(no rows)")
        return
    table = Table(title=title)
    columns = list(rows[0].keys())
    for col in columns:
        table.add_column(str(col))
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    out.print(table)


def emit_record(record: Mapping[str, Any], as_json: bool, title: str | None = None) -> None:
    """Print one object as a two-column table, or as a JSON object with ``as_json``."""
    if as_json:
        emit_json(dict(record))
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in record.items():
        table.add_row(Text(str(key)), _cell(value))
    Console(emoji=False).print(table)


def _cell(value: Any) -> Text:
    """Cell text, never read as rich markup (values may hold [brackets])."""
    value = _plain(value)
    if value is None:
        return Text("")
    if isinstance(value, (dict, list)):
        return Text(json.dumps(value, ensure_ascii=False, default=str))
    return Text(str(value))


class RichProgress:
    """A ``ProgressFn`` (see ``guanxi.progress``) that draws one rich bar per task on
    stderr; use it as a context manager around the work. Disabled, it draws nothing."""

    def __init__(self, enabled: bool = True) -> None:
        self._bars = Progress(TextColumn("{task.description}"), BarColumn(),
                              MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                              disable=not enabled)
        self._tasks: dict[str, TaskID] = {}
        self._started = False

    def __enter__(self) -> RichProgress:
        # The display starts with the first task: a command that fails before any
        # progress (a bad option, an unknown model) prints its one error line and
        # nothing else, not the empty line a stopped display leaves.
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self._bars.__exit__(*exc)

    def __call__(self, task: str, done: int, total: int | None) -> None:
        if not self._started:
            self._bars.__enter__()
            self._started = True
        if task not in self._tasks:
            self._tasks[task] = self._bars.add_task(task, total=total)
        self._bars.update(self._tasks[task], completed=done, total=total)
