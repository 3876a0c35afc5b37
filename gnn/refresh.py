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

**Nothing changed, nothing done.** Unless ``full``, a refresh first asks whether the
current run is still fresh: made with the same model version, and no ingest batch
applied since that run read the graph (``IngestBatch.at`` against ``ScoreRun.data_as_of``;
each batch lists the merchants it touched). Then it writes no run and says so
(``kind`` ``unchanged``). Any change re-scores everything: re-scoring only the
neighbourhoods that changed is not built yet.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from guanxi.gnn import pipeline
from guanxi.gnn.artefact import load_artefact
from guanxi.graph.connection import Graph
from guanxi.graph.lock import held
from guanxi.graph.scores import NoScores, ScoringRun, current_run, drop_failed_runs
from guanxi.progress import ProgressFn
from guanxi.queries import load

__all__ = ["RefreshReport", "refresh"]

log = logging.getLogger("guanxi.refresh")


@dataclass
class RefreshReport:
    """What one refresh did: the run it made current (``kind`` ``full``), or the current
    one it left (``unchanged``: ``suspicious_clusters`` None, not recomputed); counts,
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def refresh(graph: Graph, *, version: str | None = None, models: str | None = None,
            full: bool = False, progress: ProgressFn | None = None) -> RefreshReport:
    """Run one refresh (``full``: even when nothing changed); see the module docstring.

    Raises ``LockHeld`` when another refresh (or ``guanxi score``) is writing,
    ``ModelNotFound`` for a version that does not exist (listing those that do), and
    ``ServerError`` when Neo4j cannot be reached.
    """
    started = time.perf_counter()
    # The model first: a version that does not exist is a mistake to say at once (exit
    # 1), not after waiting for the lock (exit 75, "try later"). The run then uses this
    # version even when a newer one is saved meanwhile.
    version = load_artefact(models, version).version
    log.info("refresh started", extra={"event": "start", "model": version})
    with held(graph, pipeline.SCORES_LOCK, what="refresh") as lease:
        took_over = lease.took_over.describe() if lease.took_over else None
        if took_over:
            log.warning("took over the lock left by %s", took_over,
                        extra={"event": "lock_taken_over", "previous": took_over})
        fresh = None if full else _still_fresh(graph, version, models)
        if fresh is not None:
            seconds = {"total": round(time.perf_counter() - started, 1)}
            log.info("nothing to do: run %s is current, made with model %s, and nothing "
                     "was ingested since it started", fresh.run, fresh.model_version,
                     extra={"event": "done", "run": fresh.run, "kind": "unchanged",
                            "seconds": seconds["total"]})
            # With the lock held no run is being written: one left 'writing' died.
            failed = drop_failed_runs(graph, fresh.run)
            return RefreshReport(fresh.run, fresh.model_version, "unchanged", fresh.merchants,
                                 fresh.clusters, None, 0, {}, seconds, took_over,
                                 ["nothing ingested since the current run: no new run "
                                  "(--full to score again anyway)"]
                                 + ([f"{failed} run(s) that died half-written cleaned up"]
                                    if failed else []))
        _, report = pipeline.score(graph, version=version, models=models,
                                   progress=progress, say=_notice, lease=lease)
    seconds = {**report.seconds, "total": round(time.perf_counter() - started, 1)}
    for stage, value in report.seconds.items():
        log.info("stage %s: %.1f s", stage, value,
                 extra={"event": "stage", "stage": stage, "seconds": value})
    written = report.written
    out = RefreshReport(written["run"], report.model_version, "full", written["merchants"],
                        written["clusters"], report.suspicious_clusters,
                        written["clusters_retired"], written["events"], seconds, took_over,
                        report.notes)
    log.info("refresh done: run %s, %d merchants, %d clusters in %.1f s", out.run,
             out.merchants, out.clusters, seconds["total"],
             extra={"event": "done", "run": out.run, "merchants": out.merchants,
                    "clusters": out.clusters, "seconds": seconds["total"]})
    return out


def _still_fresh(graph: Graph, version: str, models: str | None) -> ScoringRun | None:
    """The current run when nothing calls for a new one (see the module docstring)."""
    try:
        current = current_run(graph)
    except NoScores:
        return None
    since = current.data_as_of or current.started_at
    if current.model_version != version or since is None:
        return None
    changed = graph.read(load("ingest_since"), since=since)[0]
    if changed["batches"]:
        log.info("%d ingest batches touched %d merchants since run %s: scoring again",
                 changed["batches"], changed["merchants"], current.run,
                 extra={"event": "changes", **changed})
        return None
    return current


def _notice(line: str) -> None:
    log.warning(line, extra={"event": "notice"})
