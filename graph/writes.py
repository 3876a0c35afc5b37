"""Batched writes: many ``UNWIND $rows`` batches, a few managed transactions at a time.

Ingest loads files through it (each batch guarded by the ledger, ``graph/ledger.py``);
scoring and the refresh job write scores and embeddings back through it. A batch is a
list of statements that commit together in one managed transaction (retried as a whole
on transient errors, so its statements must be safe to run again after a rollback).
``workers`` transactions are in flight at once; the next batch is prepared while they
run, and at most ``2 * workers`` wait, so memory stays bounded whatever the input.

Example, writing one property per merchant in batches of 5,000 (``progress`` is any
callable ``(task, done, total)``; see ``guanxi.progress``)::

    batches = (Batch(n, [(load("set_scores"), {"rows": rows})], len(rows))
               for n, rows in enumerate(chunks(all_rows, 5000)))
    totals = write_batches(graph, batches, workers=2, task="write scores")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

import neo4j

from guanxi.graph.connection import Graph
from guanxi.progress import ProgressFn
from guanxi.queries import Query

__all__ = ["Statement", "Batch", "WriteTotals", "run_statements", "transaction_name",
           "write_batches"]

Statement = tuple[Query, dict[str, Any]]
"""A named query and its parameters."""

Apply = Callable[[Graph, "Batch"], "dict[str, int] | None"]
"""Writes one batch in one transaction; returns its counters, or None if it was skipped."""


@dataclass
class Batch:
    """One transaction's worth of writes: ``n`` numbers it, ``rows`` sizes it (for
    progress), ``merchants`` lists the merchants it changes (for the ledger)."""

    n: int
    statements: list[Statement]
    rows: int
    merchants: list[str] = field(default_factory=list)


@dataclass
class WriteTotals:
    """What a run of batches wrote: Neo4j's counters, summed."""

    batches: int = 0
    batches_skipped: int = 0
    rows: int = 0
    nodes_created: int = 0
    relationships_created: int = 0
    properties_set: int = 0

    def add(self, counters: dict[str, int] | None, rows: int) -> None:
        self.batches += 1
        self.rows += rows
        if counters is None:
            self.batches_skipped += 1
            return
        for name, value in counters.items():
            setattr(self, name, getattr(self, name) + value)

    def merge(self, other: WriteTotals) -> None:
        """Add ``other``'s counts to these."""
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


def run_statements(tx: neo4j.ManagedTransaction, statements: Sequence[Statement]
                   ) -> dict[str, int]:
    """Run ``statements`` in ``tx``; their summed write counters."""
    totals = {"nodes_created": 0, "relationships_created": 0, "properties_set": 0}
    for query, params in statements:
        counters = tx.run(query.text, params).consume().counters
        totals["nodes_created"] += counters.nodes_created
        totals["relationships_created"] += counters.relationships_created
        totals["properties_set"] += counters.properties_set
    return totals


def transaction_name(batch: Batch) -> str:
    """The names of a batch's queries, for errors that say which one failed."""
    return "+".join(dict.fromkeys(q.name for q, _ in batch.statements)) or "batch"


def _plain(graph: Graph, batch: Batch) -> dict[str, int]:
    return graph.transaction(lambda tx: run_statements(tx, batch.statements),
                             transaction_name(batch))


def write_batches(graph: Graph, batches: Iterable[Batch], *, workers: int = 2,
                  apply: Apply = _plain, progress: ProgressFn | None = None,
                  task: str = "write", total_rows: int | None = None,
                  check: Callable[[], None] | None = None) -> WriteTotals:
    """Write ``batches``, ``workers`` transactions at a time; return the totals.

    ``apply`` writes one batch (default: its statements in one managed transaction;
    ingest passes one that also records the batch in the ledger). ``check`` runs before
    each batch is sent and may raise to stop the run (batches in flight still finish).
    ``progress(task, rows done, total_rows)`` is called as batches complete. The first
    error raised by a batch is raised here after the batches in flight settle.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    totals = WriteTotals()
    in_flight: dict[Future, int] = {}

    def settle(done: set[Future]) -> None:
        for future in done:
            rows = in_flight.pop(future)
            totals.add(future.result(), rows)
            if progress:
                progress(task, totals.rows, total_rows)

    if progress:
        progress(task, 0, total_rows)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="guanxi-write")
    try:
        for batch in batches:
            if check:
                check()
            in_flight[pool.submit(apply, graph, batch)] = batch.rows
            if len(in_flight) >= 2 * workers:
                done, _ = wait(set(in_flight), return_when=FIRST_COMPLETED)
                settle(done)
        settle(set(in_flight))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return totals
