"""The ingest ledger: which files and batches ``guanxi ingest`` has applied, kept in Neo4j.

Loading is exactly-once because each batch's writes and its ``IngestBatch`` record
commit in one transaction: after a crash, a batch is either fully applied and
recorded, or neither. A file is keyed by the hash of its bytes, its kind and its
column mapping; once done, only its ``IngestFile`` record remains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import neo4j

from guanxi.graph.connection import Graph
from guanxi.queries import Query, load

__all__ = ["file_key", "file_record", "begin_file", "applied_batches", "apply_batch",
           "finish_file"]

Statement = tuple[Query, dict[str, Any]]


def file_key(sha256: str, kind: str, mapping_digest: str) -> str:
    """The ledger key of a file: same bytes, kind and mapping give the same key."""
    return hashlib.sha256(f"{sha256}|{kind}|{mapping_digest}".encode()).hexdigest()


def file_record(graph: Graph, key: str) -> dict[str, Any] | None:
    return graph.read(load("ledger_file"), key=key)[0]["file"]


def begin_file(graph: Graph, key: str, props: dict[str, Any]) -> dict[str, Any]:
    """Create the file's record, or return the one an interrupted load left."""
    return graph.write(load("ledger_begin_file"), key=key, props=props)[0]["file"]


def applied_batches(graph: Graph, key: str) -> set[int]:
    return {row["n"] for row in graph.read(load("ledger_applied_batches"), key=key)}


def apply_batch(graph: Graph, key: str, n: int, statements: Sequence[Statement]) -> dict | None:
    """Run ``statements`` and record batch ``n`` in one managed transaction.

    Returns the summed write counters, or None when the batch was already applied
    (by this run's retry or an earlier run). Safe to retry as a whole.
    """
    batch_id = f"{key}:{n}"

    def work(tx: neo4j.ManagedTransaction) -> dict | None:
        check = load("ledger_batch_applied")
        if tx.run(check.text, id=batch_id).single()["applied"]:
            return None
        totals = {"nodes_created": 0, "relationships_created": 0, "properties_set": 0}
        for query, params in statements:
            counters = tx.run(query.text, params).consume().counters
            totals["nodes_created"] += counters.nodes_created
            totals["relationships_created"] += counters.relationships_created
            totals["properties_set"] += counters.properties_set
        tx.run(load("ledger_record_batch").text, id=batch_id, key=key, n=n).consume()
        return totals

    names = "+".join(dict.fromkeys(q.name for q, _ in statements)) or "ledger"
    return graph.transaction(work, names)


def finish_file(graph: Graph, key: str, summary: dict[str, Any]) -> None:
    graph.write(load("ledger_finish_file"), key=key, summary=summary)
