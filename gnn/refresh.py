"""``guanxi refresh``: the unattended job that keeps embeddings, clusters and scores fresh.

One run, under the ``scores`` job lock (``graph/lock.py``): load the model (default:
the latest trained), prepare the graph (export, features, GDS), score every merchant
and cluster, write the new run in batches and flip it current (``graph/scores.py``:
readers see the previous run until then, and keep it if the job dies), rebuild the
vector index when the embedding width changed. The run logs a start line, progress
lines, one line per stage with its seconds and a done line (JSON lines with
``--log-json``), and ends with a :class:`RefreshReport`.

A lock left by a dead run (its process gone, or silent for ``GUANXI_LOCK_STALE_SECONDS``)
is taken over, and the report says from whom.

**Incremental by default.** Unless ``full``, a refresh builds on the current run when
it was made with the same model version: ingest records the merchants each batch
touched (``IngestBatch.merchants``), and only the merchants those changes can reach,
and the clusters they belong to or move between, are re-scored, and the scores that
moved are written; the rest is taken over from the current run (``gnn/incremental.py``,
``kind`` ``incremental``). When many scores moved, every score is written as a new run
instead (``pipeline.WHOLE_WRITE_ROWS``: the stored run's ``kind`` is then ``full``, the
report's still ``incremental``, with nothing ``kept`` and a note).
The changes counted are those applied after the current run read the graph
(``ScoreRun.data_as_of``), or after ``since``, which may only be earlier. No such
batch: the current run is still fresh, no run is written (``kind`` ``unchanged``). No
current run, or another model version: a full run, and the report says why.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from guanxi.errors import InputError
from guanxi.gnn import pipeline
from guanxi.gnn.artefact import find_artefact
from guanxi.gnn.incremental import Delta
from guanxi.graph.connection import Graph
from guanxi.graph.ledger import BATCH_TIMEOUT
from guanxi.graph.lock import held
from guanxi.graph.scores import NoScores, Pruned, ScoringRun, current_run, prune
from guanxi.interrupts import StoppedAfterCommit
from guanxi.progress import ProgressFn
from guanxi.queries import load

__all__ = ["RefreshReport", "refresh"]

log = logging.getLogger("guanxi.refresh")


@dataclass
class RefreshReport:
    """What one refresh did: the run it made current (``kind`` ``full`` or
    ``incremental``), or the current one it left (``unchanged``: ``suspicious_clusters``
    None, not recomputed); counts,
    cluster events (new, merged, split, changed, same), clusters retired, seconds per
    stage, and the dead run whose lock it took over (None when the lock was free)."""

    run: str
    model_version: str
    kind: str
    merchants: int
    clusters: int
    suspicious_clusters: int | None
    clusters_retired: int
    events: dict[str, int]
    seconds: dict[str, float]
    took_over: str | None = None
    notes: list[str] = field(default_factory=list)
    rescored: int = 0
    """Merchants whose scores this run computed (0 when ``unchanged``); an incremental
    run writes those whose scores moved."""
    kept: dict[str, int] = field(default_factory=dict)
    """Incremental runs: merchant scores, cluster scores and memberships taken over
    (merchants: those not re-scored, and those re-scored that did not move); each 0
    when every score was written as a new run."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def refresh(graph: Graph, *, version: str | None = None, models: str | None = None,
            full: bool = False, since: datetime | None = None,
            progress: ProgressFn | None = None) -> RefreshReport:
    """Run one refresh: incremental, or ``full`` (every merchant, even when nothing
    changed); ``since`` re-scores around what was ingested after it (not later than
    the current run's ``data_as_of``); see the module docstring.

    Raises ``LockHeld`` when another refresh (or ``guanxi score``) is writing,
    ``ModelNotFound`` for a version that does not exist (listing those that do),
    ``InputError`` for ``since`` with ``full`` or after the current run read the graph,
    and ``ServerError`` when Neo4j cannot be reached.
    """
    if since is not None and full:
        raise InputError("--since and --full ask for different refreshes",
                         "use one: --full re-scores every merchant anyway")
    started = time.perf_counter()
    pipeline.whole_write_over()  # a bad value is said now, not after the read
    # The model first: a version that does not exist is a mistake to say at once (exit
    # 1), not after waiting for the lock (exit 75, "try later"). The run then uses this
    # version even when a newer one is saved meanwhile.
    version = find_artefact(models, version).version
    log.info("refresh started", extra={"event": "start", "model": version})
    with held(graph, pipeline.SCORES_LOCK, what="refresh") as lease:
        took_over = lease.took_over.describe() if lease.took_over else None
        if took_over:
            log.warning("took over the lock left by %s", took_over,
                        extra={"event": "lock_taken_over", "previous": took_over})
        plan = _Plan(None, None, []) if full else _plan(graph, version, since)
        if plan.fresh is not None:
            fresh = plan.fresh
            # With the lock held no run is being written: one left 'writing' died, and
            # what it wrote (up to a whole run of indexed embeddings) goes now, not at
            # the next run that writes.
            pruned = prune(graph, fresh.run, fresh.merchant_run)
            seconds = {"total": round(time.perf_counter() - started, 1)}
            log.info("nothing to do: run %s is current, made with model %s, and nothing "
                     "was ingested since %s", fresh.run, fresh.model_version,
                     since or "it read the graph",
                     extra={"event": "done", "run": fresh.run, "kind": "unchanged",
                            "seconds": seconds["total"]})
            return RefreshReport(fresh.run, fresh.model_version, "unchanged", fresh.merchants,
                                 fresh.clusters, None, 0, {}, seconds, took_over,
                                 ["nothing ingested since the current run: no new run "
                                  "(--full to score again anyway)"]
                                 + _pruned_notes(pruned))
        for line in plan.notes:
            log.info(line, extra={"event": "plan"})
        _, report = pipeline.score(graph, version=version, models=models,
                                   progress=progress, say=_notice, lease=lease,
                                   delta=plan.delta, whole=full)
        try:
            return _done(report, plan, started, took_over)
        except KeyboardInterrupt:
            raise StoppedAfterCommit(f"run {report.written['run']} is current") from None


def _pruned_notes(pruned: Pruned) -> list[str]:
    """What a run that wrote nothing removed, in words (nothing: no note)."""
    notes = []
    if pruned.failed_runs:
        notes.append(f"{pruned.failed_runs} run(s) that died half-written marked failed")
    if pruned.merchant_scores or pruned.memberships:
        notes.append(f"removed {pruned.merchant_scores} merchant scores and "
                     f"{pruned.memberships} memberships that runs other than the current "
                     "one left")
    return notes


def _done(report: pipeline.ScoreReport, plan: _Plan, started: float,
          took_over: str | None) -> RefreshReport:
    """The report of a run that wrote its scores, logged."""
    seconds = {**report.seconds, "total": round(time.perf_counter() - started, 1)}
    for stage, value in report.seconds.items():
        log.info("stage %s: %.1f s", stage, value,
                 extra={"event": "stage", "stage": stage, "seconds": value})
    written = report.written
    kind = "full" if plan.delta is None else "incremental"
    out = RefreshReport(written["run"], report.model_version, kind, written["merchants"],
                        written["clusters"], report.suspicious_clusters,
                        written["clusters_retired"], written["events"], seconds, took_over,
                        plan.notes + report.notes, report.rescored, written.get("kept", {}))
    log.info("refresh done (%s): run %s, %d merchants (%d re-scored), %d clusters in %.1f s",
             kind, out.run, out.merchants, out.rescored, out.clusters, seconds["total"],
             extra={"event": "done", "run": out.run, "kind": kind,
                    "merchants": out.merchants, "rescored": out.rescored,
                    "clusters": out.clusters, "seconds": seconds["total"]})
    return out


@dataclass
class _Plan:
    """What a refresh will do: leave ``fresh`` current, or score (incrementally from
    ``delta``, else in full), with ``notes`` saying why."""

    fresh: ScoringRun | None
    delta: Delta | None
    notes: list[str]


def _plan(graph: Graph, version: str, since: datetime | None) -> _Plan:
    """The refresh the graph calls for (see the module docstring)."""
    try:
        current = current_run(graph)
    except NoScores:
        return _Plan(None, None, ["no scores yet: a full run"])
    if current.model_version != version:
        return _Plan(None, None, [f"the current run was made with model "
                                  f"{current.model_version}, not {version}: a full run"])
    held = graph.read(load("scores_run_counts"), run=current.merchant_run)[0]["merchants"]
    if held != current.merchants:
        # Changed by hand, or by an older guanxi that moved scores at its flip: building
        # on it would carry the loss forward.
        return _Plan(None, None, [f"run {current.run} records {current.merchants} merchant "
                                  f"scores but {held} carry its merchant_run "
                                  f"{current.merchant_run}: a full run"])
    read_at = current.data_as_of or current.started_at
    if read_at is None:
        return _Plan(None, None, [f"run {current.run} does not say when it read the graph: "
                                  "a full run"])
    if since is not None and since > read_at:
        raise InputError(f"--since {since.isoformat()} is after the current run read the "
                         f"graph ({read_at.isoformat()}): what was ingested in between "
                         "would not be re-scored",
                         "give an earlier time, or leave --since out")
    seen: tuple[str, ...] = ()
    if since is None:
        # A batch that began before the run read the graph but was not yet committed
        # is not in its scores: look back as long as a batch can live, but for the
        # batches the run did read.
        since, seen = read_at - timedelta(seconds=BATCH_TIMEOUT), current.seen_batches
    changed = graph.read(load("ingest_since"), since=since, seen=list(seen))[0]
    if not changed["batches"]:
        return _Plan(current, None, [])
    log.info("%d ingest batches touched %d merchants since %s: re-scoring around them",
             changed["batches"], changed["merchants"], since.isoformat(),
             extra={"event": "changes", **changed})
    return _Plan(None, Delta(current.run, since, seen),
                 [f"incremental from run {current.run}: {changed['merchants']} merchants "
                  f"touched by {changed['batches']} ingest batches since {since.isoformat()}"])


def _notice(line: str) -> None:
    log.warning(line, extra={"event": "notice"})
