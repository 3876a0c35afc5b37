"""The ingest ledger: which files and batches ``guanxi ingest`` has applied, kept in Neo4j.

Three rules make a load exactly-once, whatever runs at the same time or dies half-way:

- **A file is known by its bytes.** Its key is the SHA-256 of its content and its kind,
  never its name or the mapping it was read with, so the same rows are recognised in
  another folder, under another name or another mapping.
- **One process loads a file at a time.** A load first *claims* the file's
  ``IngestFile`` node (its pid, host and start); another claim fails with
  :class:`LockHeld` while the holder lives. A holder that died (same host, pid gone) or
  fell silent (no heartbeat for ``stale_seconds``, any host) is taken over. The owner,
  the staleness test, the heartbeat and the errors are the job lock's (``graph/lock.py``).
- **A batch is applied once.** Its writes and its ``IngestBatch`` record commit in one
  managed transaction that begins by ``MERGE``-ing the record under its unique id: a
  second writer of the same batch waits on that id, then finds it and writes nothing.
  Batch records are never deleted, so a writer that wakes up late (a stopped process
  whose claim was taken over) still finds every batch already applied.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

import neo4j

from guanxi.errors import InputError, QueryError
from guanxi.graph import lock
from guanxi.graph.connection import Graph
from guanxi.graph.lock import (
    CLAIM_TIMEOUT,
    HEARTBEAT_SECONDS,
    STALE_SECONDS,
    Holder,
    LockHeld,
    LockLost,
    Owner,
    brief_write,
    claim,
    holder_gone,
)
from guanxi.graph.writes import Apply, Batch, run_statements, transaction_name
from guanxi.queries import load

__all__ = ["Owner", "LockHeld", "LockLost", "file_key", "claim_file", "release_file",
           "begin_file", "applied_batches", "recorded", "finish_file", "Heartbeat"]

BATCH_TIMEOUT = 300.0
"""Server-side limit on a batch: a process frozen inside one (SIGSTOP, a hung VM) must not
hold the pairs it writes locked for ever (heartbeats: ``lock.BEAT_TIMEOUT``). The refresh
job looks back this long for batches still open when it read the graph."""


def batch_timeout() -> float:
    """:data:`BATCH_TIMEOUT`, or less when ``GUANXI_BATCH_TIMEOUT`` says so (never more:
    the refresh job's look-back must cover every batch)."""
    raw = os.environ.get("GUANXI_BATCH_TIMEOUT", "")
    try:
        return min(BATCH_TIMEOUT, max(1.0, float(raw))) if raw.strip() else BATCH_TIMEOUT
    except ValueError:
        raise InputError(f"GUANXI_BATCH_TIMEOUT={raw!r} is not a number of seconds",
                         "give seconds, at most 300, or unset it") from None


def file_key(sha256: str, kind: str) -> str:
    """The ledger key of a file: same bytes and kind give the same key.

    >>> file_key("ab" * 32, "payments") == file_key("ab" * 32, "payments")
    True
    >>> file_key("ab" * 32, "payments") == file_key("ab" * 32, "supply")
    False
    """
    return hashlib.sha256(f"{sha256}|{kind}".encode()).hexdigest()


def claim_file(graph: Graph, key: str, owner: Owner, name: str, reload: bool = False,
               stale_seconds: float = STALE_SECONDS,
               content: dict[str, Any] | None = None) -> dict[str, Any]:
    """Claim file ``key`` for ``owner`` and return its record as it was (``status``:
    ``new``, ``loading`` or ``done``). A done file is returned without being claimed,
    unless ``reload``. ``content`` (``kind``, ``name``, ``path``, ``sha256``, ``size``,
    ``head``) is recorded on a new record.

    Raises :class:`LockHeld` while another live process holds it.
    """

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        # The first statement writes the node, which takes its lock for the rest of the
        # transaction; only then is the holder read, so two claims cannot both succeed.
        tx.run(load("ledger_lock_file").text, key=key, content=content or {}).consume()
        row = tx.run(load("ledger_file").text, key=key).single()
        file, idle = dict(row["file"]), row["idle_seconds"]
        if file["status"] == "done" and not reload:
            return {"file": file}
        if file.get("owner") in (None, owner.id) or holder_gone(file, idle, stale_seconds):
            tx.run(load("ledger_take_file").text, key=key, owner=owner.params()).consume()
            return {"file": file}
        return {"file": file, "idle": idle, "held": True}

    out = claim(graph, work, "ledger_claim_file", timeout=CLAIM_TIMEOUT,
                frozen=f"another ingest of {name} keeps its ledger record locked")
    if out.get("held"):
        holder = Holder.of(out["file"], out["idle"])
        raise LockHeld(
            f"another ingest of {name} is running: {holder.describe()}",
            "wait for it to finish, then run again (files it loaded are skipped)",
        )
    return out["file"]


def release_file(graph: Graph, key: str, owner: Owner) -> None:
    """Give up the claim; a file that never began writing leaves no record."""
    brief_write(graph, "ledger_release_file", key=key, owner=owner.id)


def begin_file(graph: Graph, key: str, owner: Owner, generation: int,
               props: dict[str, Any]) -> dict[str, Any]:
    """Mark the claimed file ``loading``; a fresh load takes ``props`` and ``generation``,
    an interrupted one keeps those it started with. Returns the record."""
    rows = brief_write(graph, "ledger_begin_file", key=key, owner=owner.id,
                       generation=generation, props=props)
    if not rows:
        raise LockLost(f"the claim on {props.get('name')} was taken over by another ingest",
                       "run the command again once that ingest has ended")
    return rows[0]["file"]


def applied_batches(graph: Graph, key: str, generation: int) -> set[int]:
    return {row["n"] for row in graph.read(load("ledger_applied_batches"), key=key,
                                           generation=generation)}


def batch_id(key: str, generation: int, n: int) -> str:
    return f"{key}:{generation}:{n}"


def recorded(key: str, generation: int, owner: Owner) -> Apply:
    """An ``apply`` for :func:`~guanxi.graph.writes.write_batches` that writes each batch
    of file ``key`` exactly once, with its ``IngestBatch`` record in the same transaction.

    The record keeps the merchants the batch changed (``merchants``), which is how the
    refresh job finds what a load touched. The returned function gives the batch's write
    counters, or None when the batch was already applied (by an earlier run, a
    concurrent one, or an attempt whose commit reply was lost); it raises
    :class:`LockLost` when ``owner`` no longer holds the file.
    """

    limit = batch_timeout()

    def apply(graph: Graph, batch: Batch) -> dict[str, int] | None:
        bid = batch_id(key, generation, batch.n)

        def work(tx: neo4j.ManagedTransaction) -> dict[str, int] | None:
            token = uuid.uuid4().hex  # per attempt: a retry after a committed one finds it
            row = tx.run(load("ledger_record_batch").text, id=bid, key=key,
                         generation=generation, n=batch.n, token=token, owner=owner.id,
                         merchants=batch.merchants).single()
            if row is None or not row["mine"]:
                raise LockLost("the claim on this file was taken over by another ingest",
                               "run the command again once that ingest has ended")
            return run_statements(tx, batch.statements) if row["fresh"] else None

        try:
            return graph.transaction(work, transaction_name(batch), timeout=limit)
        except QueryError as exc:
            # Frozen (SIGSTOP, a paused VM) inside this batch, the server ended it after
            # its timeout; meanwhile another ingest may have taken the claim over. Then
            # that is the cause to report (exit 75), not the ended transaction.
            row = graph.read(load("ledger_file"), key=key)
            if row and (row[0]["file"] or {}).get("owner") != owner.id:
                raise LockLost("the claim on this file was taken over by another ingest "
                               f"while this one was stopped ({exc.code})",
                               "run the command again once that ingest has ended") from None
            raise

    return apply


def finish_file(graph: Graph, key: str, owner: Owner, summary: dict[str, Any]) -> None:
    if not brief_write(graph, "ledger_finish_file", key=key, owner=owner.id, summary=summary):
        raise LockLost("the claim on this file was taken over before it finished",
                       "run the command again once that ingest has ended")


class Heartbeat(lock.Heartbeat):
    """Refreshes the claim on file ``key`` every ``every`` seconds in a daemon thread
    while in use.

    ``lost`` turns True when the claim was taken over; writes then stop with
    :class:`LockLost` at their next batch.
    """

    def __init__(self, graph: Graph, key: str, owner: Owner,
                 every: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(lambda: bool(brief_write(graph, "ledger_heartbeat", key=key,
                                                  owner=owner.id)), every)
