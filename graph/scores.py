"""Scores in Neo4j: write a scoring run's :class:`~guanxi.gnn.scores.ScoreSet`, read it
back, export it to CSV files.

What a run writes (``docs/graph-model.md``):

- a ``ScoreRun`` node: id, ``state``, ``model_version``, ``scored_at``, ``kind``,
  ``started_at``, ``finished_at`` and counts;
- a ``MerchantScore`` per scored merchant (id ``<run>|<merchant id>``): ``ring_score``,
  ``pd``, ``credit_score``, ``cluster_id``, ``model_version``, ``scored_at``, and the
  embeddings the run has (lists of floats, in vector indexes: ``graph/similar.py``):
  ``fastrp`` and, with a GNN, ``embedding``;
- a ``ClusterScore`` per cluster (id ``<run>|<cluster id>``): ``size``,
  ``collusion_score``, ``group_pd``, ``credit_score``, ``key_members`` (ids),
  ``top_factors`` and ``top_links`` (JSON text: a property cannot hold a map), and how
  the cluster changed since the previous run (``event``, ``joined``, ``left``,
  ``merged_from``, ``split_into``: ``gnn/history.py``); the persistent ``Cluster`` node
  (by id, across runs: ``first_run``, ``last_run``, ``retired_at``);
- ``(:Merchant)-[:IN_CLUSTER {run}]->(:Cluster)`` for each member.

**Readers never see half a run.** They read the run whose ``ScoreRun`` is ``current``.
A new run writes everything above in batches while it is ``writing`` (nothing a
reader reads changes), then *flips*: one transaction makes it ``current`` and the old
one ``replaced``. Only then are the older runs' merchant scores and memberships
*pruned* (in slices of ``50,000``); cluster scores stay, as each cluster's history. A
run that dies before its flip (``kill -9``, a lost server) leaves the current run as
it was; the next run marks it ``failed`` and removes what it wrote. The run id,
:func:`run_id`, is the UTC time then the model version, so ids sort by time; writing
the same ScoreSet again writes the same nodes and leaves the same graph. One writer
at a time: ``guanxi score`` and ``guanxi refresh`` hold the ``scores`` job lock
(``graph/lock.py``).

**Merchant scores stay put across incremental runs.** A full run's merchant scores
carry its id. An incremental run writes only the merchants it re-scored, under its own
id; its flip moves each of them to the id the current scores carry, in place of the
merchant's old score, and records that id as the run's ``merchant_run``
(``ScoringRun.merchant_run``). So the scores readers read carry the id of the full run
the chain of incremental runs began with, and a refresh that re-scored 1% of the
merchants moves 1% of the scores, not all of them. Readers of merchant scores match
``merchant_run``, never assume it equals the run id; each score's ``scored_at`` and
``model_version`` say which run computed it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guanxi.errors import GuanxiError, InputError
from guanxi.gnn import history
from guanxi.gnn.scores import CLUSTER_COLUMNS, MERCHANT_COLUMNS, ScoreSet
from guanxi.graph.connection import Graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.writes import Batch, WriteTotals, write_batches
from guanxi.interrupts import StoppedAfterCommit
from guanxi.progress import ProgressFn
from guanxi.queries import Query, load

__all__ = ["NoScores", "ScoringRun", "WriteSummary", "run_id", "write_scores",
           "scoring_runs", "current_run", "read_scores", "stored_scores", "cluster_history",
           "drop_failed_runs", "prune", "Pruned",
           "export_folder",
           "export_scores", "format_factors", "MERCHANT_FILE_COLUMNS", "CLUSTER_FILE_COLUMNS"]

MERCHANT_FILE_COLUMNS = ("merchant_id", "cluster_id", "ring_score", "pd", "credit_score")
CLUSTER_FILE_COLUMNS = ("cluster_id", "size", "collusion_score", "group_pd", "credit_score",
                        "top_factors")

_PRUNE_LIMIT = 50_000
"""Older runs' items removed per transaction of the prune."""


class NoScores(GuanxiError):
    """The graph holds no scores (or not those of the run asked for)."""


@dataclass(frozen=True)
class ScoringRun:
    """One run the graph knows: its ``state`` (``current``, ``replaced``, ``writing``,
    ``failed``) and how many merchants and clusters it scored (0 until its flip)."""

    run: str
    model_version: str
    scored_at: datetime
    state: str = "current"
    kind: str = "full"
    merchants: int = 0
    clusters: int = 0
    started_at: datetime | None = None
    data_as_of: datetime | None = None
    """When the run read the graph: what was ingested later is not in its scores."""
    seen_batches: tuple[str, ...] = ()
    """The ingest batches that began in the window before ``data_as_of`` and were
    committed by then (``queries/scores_read_point.cypher``): the others of that window
    were still open, and are new to the next refresh."""
    merchant_run: str = ""
    """The run id its merchant scores carry: its own, or for an incremental run the
    full run its chain began with (the module docstring); "" reads as ``run``."""

    def __post_init__(self) -> None:
        if not self.merchant_run:
            self.merchant_run = self.run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WriteSummary:
    """What :func:`write_scores` wrote and what the prune removed.

    ``merchants``, ``clusters``, ``memberships`` count what the run holds after the
    write; ``merchants_missing`` the ScoreSet's merchants the graph does not hold
    (skipped); ``clusters_retired`` the clusters of the previous run this one lacks;
    ``events`` how many clusters were new, merged, split, changed or the same;
    ``merchant_scores_pruned``, ``memberships_pruned`` what older runs lost;
    ``failed_runs`` runs found dead half-written and cleaned. ``totals``: the batches'
    counters (``graph/writes.py``).
    """

    run: str
    model_version: str
    scored_at: datetime
    merchants: int = 0
    merchants_missing: int = 0
    clusters: int = 0
    memberships: int = 0
    clusters_retired: int = 0
    events: dict[str, int] = field(default_factory=dict)
    merchant_scores_pruned: int = 0
    memberships_pruned: int = 0
    failed_runs: int = 0
    kept: dict[str, int] = field(default_factory=dict)
    """Incremental runs: the merchant scores, cluster scores and memberships taken over
    from the base run (empty for a full run)."""
    seconds: float = 0.0
    totals: WriteTotals = field(default_factory=WriteTotals)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_id(model_version: str, scored_at: datetime) -> str:
    """The id of a scoring run: its UTC time, then its model version; sorts by time.

    A naive ``scored_at`` is read as UTC.

    >>> run_id("v3", datetime(2026, 11, 30, 4, 25, 1, tzinfo=UTC))
    '20261130T042501.000000Z/v3'
    """
    return f"{_utc(scored_at):%Y%m%dT%H%M%S.%fZ}/{model_version}"


# --- write ------------------------------------------------------------------------


def write_scores(graph: Graph, scores: ScoreSet, *, workers: int = 2, batch_size: int = 5_000,
                 as_of: datetime | None = None, seen_batches: Collection[str] = (),
                 base: str | None = None, retired: Collection[str] = (),
                 read_merchants: int | None = None, progress: ProgressFn | None = None,
                 check: Callable[[], None] | None = None) -> WriteSummary:
    """Write ``scores`` as a new run and make it the current one (see the module's
    docstring): begin, batches, flip, prune. Idempotent.

    Batches hold whole clusters with their members' scores, then the unclustered
    merchants, about ``batch_size`` merchants each, ``workers`` transactions at a time
    (``graph/writes.py``). ``as_of`` is recorded as the moment the scores read the
    graph (server time; default: when the write begins), ``seen_batches`` as the
    ingest batches of the window before it that the read saw (``ScoringRun``).

    **Incremental** (``base``, the current run's id): ``scores`` holds only what was
    re-scored: some merchants, and whole clusters whose members are all among them. The
    flip (``queries/scores_flip_incremental.cypher``) then puts those merchant scores in
    place of the old ones where ``base``'s are kept (its ``merchant_run``), leaves the
    other merchant scores there, hands every other membership and cluster score of
    ``base`` to the new run, and retires the ``retired`` clusters. It also removes the
    stored scores of merchants no longer in the graph, a scan of every score; a caller
    whose read matched the graph (one brought up to date from ``base``'s snapshot,
    ``graph/delta.py``) passes the merchants it found as ``read_merchants``, and the
    scan runs only when the graph holds another number at the flip. The flip fails
    (:class:`GuanxiError`, nothing changed) unless ``base`` is still current. The run's
    ``kind`` is ``incremental``, else ``full``.

    ``progress("write scores", rows, total)`` counts merchant and cluster rows.
    ``check`` runs before each batch and before the flip and may raise to stop the run
    (a job whose lock was taken over must not flip).

    Raises ``ValueError`` when ``scores`` contradicts itself (a duplicate id, a
    merchant in a cluster the clusters table lacks, members that disagree with the
    merchants' ``cluster_id``, embeddings of the wrong length).
    """
    started = time.monotonic()
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    merchants, clusters, vectors = _checked(scores)
    apply_schema(graph)
    scored_at = _utc(scores.scored_at)
    run = run_id(scores.model_version, scored_at)
    stamp = {"run": run, "model_version": scores.model_version, "scored_at": scored_at}
    before = _previous_members(graph, run)
    after = {cid: list(members) for cid, members in zip(clusters["cluster_id"],
                                                        clusters["members"], strict=True)}
    moves = history.changes(before, after)
    kind = "full" if base is None else "incremental"
    graph.write(load("scores_begin_run"), kind=kind, as_of=as_of, seen=sorted(seen_batches),
                **stamp)
    totals = write_batches(graph, _batches(merchants, clusters, vectors, moves, stamp,
                                           batch_size, staged=base is not None),
                           workers=workers, progress=progress, task="write scores",
                           total_rows=len(merchants) + len(clusters), check=check)
    summary = WriteSummary(run, scores.model_version, scored_at, totals=totals)
    written = graph.read(load("scores_run_counts"), run=run)[0]
    if check:
        check()
    if base is None:
        flipped = _flip(graph, load("scores_flip"), run=run, scored_at=scored_at,
                        counts=written)[0]
        counts = written
        merchant_run = run
    else:
        rows = _flip(graph, load("scores_flip_incremental"), run=run, base=base,
                     retired=sorted(retired), scored_at=scored_at,
                     read_merchants=read_merchants)
        if not rows:
            raise GuanxiError(f"run {base} is no longer the current run: the incremental "
                              f"run {run} built on it was not made current",
                              "run `guanxi refresh` again")
        flipped = rows[0]
        summary.kept = {"merchants": flipped["merchants_kept"],
                        "clusters": flipped["clusters_kept"],
                        "memberships": flipped["memberships_kept"]}
        counts = {"merchants": flipped["merchants"], "clusters": flipped["live"],
                  "memberships": flipped["memberships"]}
        merchant_run = flipped["merchant_run"]
    try:
        summary.merchants, summary.clusters = counts["merchants"], counts["clusters"]
        summary.memberships = counts["memberships"]
        summary.merchants_missing = len(merchants) - written["merchants"]
        summary.clusters_retired = flipped["retired"]
        for change in moves.values():
            summary.events[change.event] = summary.events.get(change.event, 0) + 1
        pruned = prune(graph, run, merchant_run)
        summary.merchant_scores_pruned = pruned.merchant_scores
        summary.memberships_pruned = pruned.memberships
        summary.failed_runs = pruned.failed_runs
    except KeyboardInterrupt:
        raise StoppedAfterCommit(f"run {run} is current") from None
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _flip(graph: Graph, query: Query, *, run: str, **params: Any) -> list[dict[str, Any]]:
    """Make ``run`` current with ``query``. A stop signal held while it ran is raised
    when it returns: the database then says whether the run became current."""
    try:
        return graph.write(query, run=run, **params)
    except KeyboardInterrupt:
        try:
            made = current_run(graph).run == run
        except Exception:  # stopping: no answer means not known to be current
            made = False
        if made:
            raise StoppedAfterCommit(f"run {run} is current") from None
        raise


def _previous_members(graph: Graph, run: str) -> dict[str, list[str]]:
    """The clusters and members of the last completed run before ``run`` (none before
    the first); writing the current run again compares with the run before it."""
    return {r["cluster"]: list(r["members"] or [])
            for r in graph.read(load("scores_previous_members"), run=run)}


@dataclass
class Pruned:
    """What :func:`prune` removed: ``merchant_scores`` and ``memberships`` of runs other
    than the current one; ``failed_runs`` runs newly found dead half-written."""

    merchant_scores: int = 0
    memberships: int = 0
    failed_runs: int = 0


def prune(graph: Graph, run: str, merchant_run: str) -> Pruned:
    """Remove the merchant scores and memberships of runs other than the current one
    ``run`` (replaced runs, runs that died half-written), ``_PRUNE_LIMIT`` of each per
    transaction, and mark the dead runs failed (:func:`drop_failed_runs`);
    ``merchant_run``: the id the current merchant scores carry. Only a holder of the
    scores lock calls it: then no other run is being written."""
    pruned = Pruned()
    while True:
        row = graph.write(load("scores_prune"), run=run, merchant_run=merchant_run,
                          limit=_PRUNE_LIMIT)[0]
        pruned.merchant_scores += row["scores"]
        pruned.memberships += row["memberships"]
        if max(row["scores"], row["memberships"]) < _PRUNE_LIMIT:
            break
    pruned.failed_runs = drop_failed_runs(graph, run)
    return pruned


def drop_failed_runs(graph: Graph, current: str) -> int:
    """Mark every run still ``writing`` other than ``current`` as ``failed`` (it died:
    the caller holds the scores lock, so no other run is being written) and remove
    its cluster scores; how many runs were newly marked."""
    failed = 0
    while True:
        row = graph.write(load("scores_drop_failed"), run=current, limit=_PRUNE_LIMIT)[0]
        failed += row["runs"]
        if row["cluster_scores"] < _PRUNE_LIMIT:
            return failed


def _checked(scores: ScoreSet) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """The merchant and cluster tables, checked and sorted by cluster, then id; the
    embeddings (``embeddings``, ``fastrp``: those the scores have) in the same order."""
    if not isinstance(scores.model_version, str) or not scores.model_version:
        raise ValueError(f"model_version must be a non-empty string, got "
                         f"{scores.model_version!r}")
    for name, frame, columns in (("merchants", scores.merchants, MERCHANT_COLUMNS),
                                 ("clusters", scores.clusters, CLUSTER_COLUMNS)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"scores.{name} lacks columns {missing}; it needs {list(columns)}")
    m = scores.merchants.reset_index(drop=True)
    c = scores.clusters.reset_index(drop=True)
    for name, ids in (("merchant_id", m["merchant_id"]), ("cluster_id", c["cluster_id"])):
        if ids.isna().any():
            raise ValueError(f"scores hold a row without {name}")
        if ids.duplicated().any():
            raise ValueError(f"{name} {ids[ids.duplicated()].iloc[0]!r} appears twice in scores")
    m = m.assign(merchant_id=m["merchant_id"].astype(str),
                 cluster_id=pd.Series([None if _missing(v) else str(v) for v in m["cluster_id"]],
                                      index=m.index, dtype=object))
    c = c.assign(cluster_id=c["cluster_id"].astype(str))
    known = set(c["cluster_id"])
    named = m["cluster_id"].dropna()
    unknown = named[~named.isin(known)]
    if len(unknown):
        raise ValueError(f"merchant {m.loc[unknown.index[0], 'merchant_id']!r} is in cluster "
                         f"{unknown.iloc[0]!r}, which scores.clusters lacks")
    by_cluster = m.dropna(subset=["cluster_id"]).groupby("cluster_id")["merchant_id"]
    held = {k: set(v) for k, v in by_cluster}
    for cid, members in zip(c["cluster_id"], c["members"], strict=True):
        given = set() if _missing(members) else {str(x) for x in members}
        if given != held.get(cid, set()):
            raise ValueError(f"cluster {cid!r}: members {sorted(given)[:5]} disagree with the "
                             f"merchants whose cluster_id it is {sorted(held.get(cid, []))[:5]}")
    vectors = {}
    for name in ("embeddings", "fastrp"):
        matrix = getattr(scores, name)
        if matrix is not None:
            matrix = np.asarray(matrix)
            if matrix.ndim != 2 or matrix.shape[0] != len(m):
                raise ValueError(f"{name} must be (merchants, D) = ({len(m)}, D), "
                                 f"got {matrix.shape}")
            vectors[name] = matrix
    order = m.assign(_pos=np.arange(len(m))).sort_values(
        ["cluster_id", "merchant_id"], na_position="last", kind="stable")["_pos"].to_numpy()
    m = m.iloc[order].reset_index(drop=True)
    c = c.sort_values("cluster_id", kind="stable").reset_index(drop=True)
    return m, c, {name: matrix[order] for name, matrix in vectors.items()}


def _batches(m: pd.DataFrame, c: pd.DataFrame, vectors: dict[str, np.ndarray],
             moves: dict[str, history.Change], stamp: dict[str, Any], size: int, *,
             staged: bool) -> Iterator[Batch]:
    """Whole clusters with their members (so batches share no node), then the rest;
    ``staged``: the embeddings are written where the incremental flip takes them from
    (``queries/scores_write_merchants.cypher``)."""
    clustered = int(m["cluster_id"].notna().sum())
    keys = m["cluster_id"].iloc[:clustered].to_numpy(dtype=object)
    ids = c["cluster_id"].to_numpy(dtype=object)
    ends = np.searchsorted(keys, ids, side="right") if clustered else np.zeros(len(c), int)
    n = 0
    first_cluster, first_merchant = 0, 0
    for i in range(len(c)):
        last = i == len(c) - 1
        if last or ends[i] - first_merchant >= size:
            stop = int(ends[i])
            yield _batch(n, m.iloc[first_merchant:stop], c.iloc[first_cluster:i + 1],
                         {k: v[first_merchant:stop] for k, v in vectors.items()},
                         moves, stamp, staged)
            n += 1
            first_cluster, first_merchant = i + 1, stop
    for start in range(clustered, len(m), size):
        stop = min(start + size, len(m))
        yield _batch(n, m.iloc[start:stop], c.iloc[0:0],
                     {k: v[start:stop] for k, v in vectors.items()}, moves, stamp, staged)
        n += 1


def _batch(n: int, m: pd.DataFrame, c: pd.DataFrame, vectors: dict[str, np.ndarray],
           moves: dict[str, history.Change], stamp: dict[str, Any], staged: bool) -> Batch:
    # pandas may hold a missing cluster_id as NaN (a str column): None for Neo4j.
    cluster_of = [None if _missing(cid) else cid for cid in m["cluster_id"]]
    merchant_rows = [
        {"id": mid, "cluster_id": cid, "ring_score": _float(ring), "pd": _float(p),
         "credit_score": _int(credit), "embedding": None, "fastrp": None}
        for mid, cid, ring, p, credit in zip(m["merchant_id"], cluster_of, m["ring_score"],
                                             m["pd"], m["credit_score"], strict=True)]
    for name, matrix in vectors.items():
        key = "embedding" if name == "embeddings" else name
        for row, vector in zip(merchant_rows, matrix.astype(np.float64).tolist(), strict=True):
            row[key] = vector
    members: dict[str, list[str]] = {}
    for mid, cid in zip(m["merchant_id"], cluster_of, strict=True):
        if cid is not None:
            members.setdefault(cid, []).append(mid)
    cluster_rows = [
        {"id": cid, "size": _int(r.size), "collusion_score": _float(r.collusion_score),
         "group_pd": _float(r.group_pd), "credit_score": _int(r.credit_score),
         "key_members": [] if _missing(r.key_members) else [str(x) for x in r.key_members],
         "top_factors": _json(r.top_factors), "top_links": _json(r.top_links),
         "members": members.get(cid, []), **asdict(moves[cid])}
        for cid, r in zip(c["cluster_id"], c.itertuples(index=False), strict=True)]
    statements = []
    if cluster_rows:
        statements.append((load("scores_write_clusters"), {"rows": cluster_rows, **stamp}))
    if merchant_rows:
        statements.append((load("scores_write_merchants"), {"rows": merchant_rows,
                                                            "staged": staged, **stamp}))
    return Batch(n, statements, len(merchant_rows) + len(cluster_rows))


# --- read -------------------------------------------------------------------------


def scoring_runs(graph: Graph) -> list[ScoringRun]:
    """Every run the graph knows, oldest first (see :class:`ScoringRun`)."""
    return [ScoringRun(row["run"], row["model_version"], _native(row["scored_at"]),
                       row["state"], row["kind"] or "full", row["merchants"], row["clusters"],
                       _native(row["started_at"]), _native(row["data_as_of"]),
                       tuple(row["seen_batches"]), row["merchant_run"])
            for row in graph.read(load("scores_runs"))]


def current_run(graph: Graph) -> ScoringRun:
    """The run readers read; :class:`NoScores` before the first run completes."""
    current = [r for r in scoring_runs(graph) if r.state == "current"]
    if not current:
        raise NoScores("no scores in the graph yet", "run `guanxi score` first")
    return current[-1]


def read_scores(graph: Graph, *, run: str | ScoringRun | None = None,
                embeddings: bool = False, merchants: bool = True, chunk: int = 100_000,
                progress: ProgressFn | None = None) -> ScoreSet:
    """The scores of the current run, or of ``run`` (its id, or a
    :class:`ScoringRun`), as a ScoreSet.

    Merchants and clusters come in id order, a cluster's ``members`` too (its
    ``key_members`` in their stored order); ``top_factors`` and ``top_links`` as lists
    of dicts again. A score the run did not give is NaN (``cluster_id`` None);
    ``credit_score`` is int64 unless one is missing. ``embeddings=True`` also reads the
    merchants' embeddings (``(M, D)`` float32, None when the run wrote none);
    ``merchants=False`` reads the clusters only (the merchants table comes back empty).
    ``progress("read merchant scores" | "read cluster scores", rows, total)``.

    Raises :class:`NoScores` when the graph holds none (or not ``run``'s: a replaced
    run keeps its cluster scores only), when ``run`` was replaced while it was
    read (without ``run``, the new current run is read instead), or when fewer or more
    merchant scores are found than the run records (changed by hand).
    """
    if run is None:
        # The current run can be replaced while it is read, and its merchant scores and
        # memberships pruned under the reader: read the new one then.
        for _ in range(3):
            chosen = current_run(graph)
            table, clusters = _read_run(graph, chosen, merchants, embeddings, chunk, progress)
            if current_run(graph).run == chosen.run:
                break
        else:
            raise NoScores("new scoring runs kept replacing the one being read",
                           "run the command again once the refreshes have finished")
    else:
        if isinstance(run, ScoringRun):
            chosen = run
        else:
            runs = scoring_runs(graph)
            chosen = next((r for r in runs if r.run == run and r.state == "current"), None)
            if chosen is None:
                raise NoScores(f"the graph holds no scores of run {run!r}",
                               "the current run is "
                               + next((r.run for r in runs if r.state == "current"), "none"))
        table, clusters = _read_run(graph, chosen, merchants, embeddings, chunk, progress)
        if current_run(graph).run != chosen.run:
            raise NoScores(f"run {chosen.run} was replaced while it was read",
                           "run the command again: it reads the new current run")
    if merchants and len(table) != chosen.merchants:
        # Scores deleted or moved by hand, or by an older guanxi: say so rather than
        # hand on a partial table as the run's.
        raise NoScores(f"run {chosen.run} records {chosen.merchants} merchant scores but "
                       f"{len(table)} were found", "run `guanxi refresh --full` to score "
                       "every merchant again")
    vectors = table.pop("embedding") if "embedding" in table else pd.Series([])
    matrix = None
    if embeddings and len(vectors) and vectors.notna().all():
        matrix = np.asarray(vectors.tolist(), dtype=np.float32)
    table = _typed(table, MERCHANT_COLUMNS, {"ring_score", "pd"}, {"credit_score"})
    clusters = _typed(clusters, CLUSTER_COLUMNS, {"collusion_score", "group_pd"},
                      {"size", "credit_score"})
    for name in ("top_factors", "top_links", "key_members", "members"):
        parse = json.loads if name.startswith("top_") else list
        clusters[name] = pd.Series([[] if _missing(v) else parse(v) for v in clusters[name]],
                                   index=clusters.index, dtype=object)
    return ScoreSet(table, clusters, chosen.model_version, chosen.scored_at, matrix)


def _read_run(graph: Graph, chosen: ScoringRun, merchants: bool, embeddings: bool,
              chunk: int, progress: ProgressFn | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One run's merchant (empty unless ``merchants``) and cluster pages, as read."""
    table = pd.DataFrame()
    if merchants:
        table = _read_pages(graph, "scores_merchants_page", "merchant_id", chunk, progress,
                            "read merchant scores", chosen.merchants,
                            run=chosen.merchant_run, embeddings=embeddings)
    clusters = _read_pages(graph, "scores_clusters_page", "cluster_id", chunk, progress,
                           "read cluster scores", chosen.clusters, run=chosen.run)
    return table, clusters


def stored_scores(graph: Graph, run: str, ids: Collection[str],
                  chunk: int = 5_000) -> pd.DataFrame:
    """The merchant scores of ``ids`` that readers read in run ``run`` (after incremental
    runs, scores computed by earlier ones: the module docstring), as stored: columns
    ``merchant_id``, ``cluster_id``, ``ring_score``, ``pd``, ``credit_score``,
    ``embedding`` and ``fastrp`` (lists of floats, or None), one row per merchant the
    run has a score of, indexed by ``merchant_id``."""
    ids = list(ids)
    columns = [*MERCHANT_COLUMNS, "embedding", "fastrp"]
    parts = [pd.DataFrame(graph.columns(load("scores_merchants_of"), run=run,
                                        ids=ids[start:start + chunk]), columns=columns)
             for start in range(0, len(ids), chunk)]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return frame.set_index("merchant_id", drop=False)


def cluster_history(graph: Graph, cluster_id: str) -> pd.DataFrame:
    """Cluster ``cluster_id`` in every completed run that scored it, oldest first:
    ``run``, ``state``, ``scored_at``, ``model_version``, its scores, and ``event``,
    ``joined``, ``left``, ``merged_from``, ``split_into`` against the run before
    (``gnn/history.py``). Raises :class:`NoScores` when no run scored it."""
    rows = graph.read(load("scores_cluster_history"), cluster=cluster_id)
    if not rows:
        raise NoScores(f"no scoring run has a cluster {cluster_id!r}",
                       "cluster ids are listed by `guanxi scores export`")
    frame = pd.DataFrame(rows)
    frame["scored_at"] = [_native(v) for v in frame["scored_at"]]
    return frame


def _read_pages(graph: Graph, name: str, key: str, chunk: int, progress: ProgressFn | None,
                task: str, total: int, **params: Any) -> pd.DataFrame:
    parts, done = [], 0
    if progress:
        progress(task, 0, total)
    for part in graph.frames(load(name), key=key, chunk=chunk, **params):
        parts.append(part)
        done += len(part)
        if progress:
            progress(task, done, total)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _typed(frame: pd.DataFrame, columns: tuple[str, ...], floats: set[str],
           ints: set[str]) -> pd.DataFrame:
    out = pd.DataFrame({c: frame[c] if c in frame else pd.Series([], dtype=object)
                        for c in columns})
    for c in floats:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in ints:
        values = pd.to_numeric(out[c], errors="coerce")
        out[c] = values.astype("int64") if values.notna().all() else values.astype("float64")
    return out


# --- export -----------------------------------------------------------------------


def export_folder(out: Path) -> Path:
    """``out``, created if missing; :class:`~guanxi.errors.InputError` when it is a file
    or cannot be written. Call it before a long read to fail early."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder",
                         "give a folder (created if missing) for merchants.csv and clusters.csv")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".guanxi-check-"):
            pass
    except OSError as exc:
        raise InputError(f"cannot write to {out}: {exc.strerror or exc}",
                         "choose a folder you can write to") from None
    for name, columns in (("merchants.csv", MERCHANT_FILE_COLUMNS),
                          ("clusters.csv", CLUSTER_FILE_COLUMNS)):
        _refuse_foreign(out / name, columns)
    return out


def _refuse_foreign(path: Path, columns: tuple[str, ...]) -> None:
    """An existing ``path`` is replaced only when it is an export: a folder of input
    files also holds a ``merchants.csv``, and it must not be lost to a mistyped --out."""
    try:
        with open(path, "rb") as fh:
            header = fh.readline(4096).rstrip(b"\r\n")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"cannot read {path} to check it before replacing it: "
                         f"{exc.strerror or exc}", "choose another --out folder") from None
    if header != ",".join(columns).encode():
        raise InputError(f"{path} exists and is not a scores export (its first line is not "
                         f"{','.join(columns)}); it is left as it is",
                         "choose another --out folder, or move that file away")


def export_scores(scores: ScoreSet, out: Path) -> dict[str, Path]:
    """Write ``out/merchants.csv`` and ``out/clusters.csv``; their paths by name.

    ``merchants.csv``: ``merchant_id, cluster_id, ring_score, pd, credit_score``;
    ``clusters.csv``: ``cluster_id, size, collusion_score, group_pd, credit_score,
    top_factors``, ``top_factors`` as one text cell (:func:`format_factors`). UTF-8,
    comma-separated, a header row, rows sorted by id; an empty cell where a score is
    missing. Each file is written to a temporary name, then renamed: a file is
    either the old one or the new one, never half.
    """
    out = export_folder(out)
    merchants = scores.merchants.loc[:, list(MERCHANT_FILE_COLUMNS)].copy()
    merchants = merchants.sort_values("merchant_id", kind="stable")
    clusters = scores.clusters.loc[:, list(CLUSTER_FILE_COLUMNS)].copy()
    clusters["top_factors"] = [format_factors(v) for v in clusters["top_factors"]]
    clusters = clusters.sort_values("cluster_id", kind="stable")
    for frame in (merchants, clusters):
        for c in ("credit_score", "size"):
            if c in frame:
                frame[c] = pd.to_numeric(frame[c], errors="coerce").round().astype("Int64")
    paths = {"merchants": out / "merchants.csv", "clusters": out / "clusters.csv"}
    for name, frame in (("merchants", merchants), ("clusters", clusters)):
        _write_csv(frame, paths[name])
    return paths


def format_factors(factors: Any) -> str:
    """A cluster's ``top_factors`` as one readable cell: ``score: name=value (weight)``
    per factor, in the given order, joined by ``"; "``; a float value to 4 significant
    digits, the weight signed with two decimals; ``=value`` left out when there is none.

    >>> format_factors([{"score": "collusion", "name": "shared_devices", "value": 3,
    ...                  "weight": 0.314}, {"score": "credit", "name": "pd_mean",
    ...                  "value": 0.0812, "weight": -0.05}])
    'collusion: shared_devices=3 (+0.31); credit: pd_mean=0.0812 (-0.05)'
    """
    if _missing(factors):
        return ""
    parts = []
    for f in factors:
        head = f"{f['score']}: " if f.get("score") else ""
        value = f.get("value")
        if _missing(value):
            shown = ""
        elif isinstance(value, float | np.floating):
            shown = f"={value:.4g}"
        else:
            shown = f"={value}"
        weight = f.get("weight")
        tail = "" if _missing(weight) else f" ({float(weight):+.2f})"
        parts.append(f"{head}{f.get('name')}{shown}{tail}")
    return "; ".join(parts)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}",
                         "choose a folder you can write to") from None


# --- values -----------------------------------------------------------------------


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _native(value: Any) -> Any:
    """A Neo4j DateTime as an aware Python datetime in UTC."""
    if hasattr(value, "to_native"):
        value = value.to_native()
    return _utc(value) if isinstance(value, datetime) else value


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return value is pd.NA or value is pd.NaT


def _float(value: Any) -> float | None:
    return None if _missing(value) else float(value)


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars and arrays as Python values, NaN as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _json(value: Any) -> str:
    return json.dumps([] if _missing(value) else _plain(value), ensure_ascii=False)
