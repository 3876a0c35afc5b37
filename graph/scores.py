"""Scores in Neo4j: write a scoring run's :class:`~guanxi.gnn.scores.ScoreSet`, read it
back, export it to CSV files.

What a run writes (``docs/graph-model.md``):

- on each scored ``Merchant``: ``ring_score``, ``pd``, ``credit_score``, ``cluster_id``,
  ``model_version``, ``scored_at``, ``score_run`` and, when the run has embeddings,
  ``embedding`` (a list of floats);
- a ``Cluster`` per cluster: ``size``, ``collusion_score``, ``group_pd``,
  ``credit_score``, ``key_members`` (ids), ``top_factors`` and ``top_links`` (JSON
  text: a property cannot hold a map), ``model_version``, ``scored_at``, ``score_run``;
- ``(:Merchant)-[:IN_CLUSTER {score_run}]->(:Cluster)`` for each member.

**A run replaces the previous one.** Its id, :func:`run_id`, is the UTC time it
scored at then its model version (``20261130T042501.123456Z/v3``), so run ids sort by
time. Every batch stamps what it writes with that id (``score_run``); then the *switch*
removes what carries another id: memberships of other runs are deleted, clusters of
other runs are deleted (or, when a ``Case`` is about one, kept for the case with
``retired_at`` set and no members), merchants that this run did not score lose their
scores. The switch finds those through the ``score_run`` indexes (two ranges around
the new id, no scan), so it is one small transaction unless much changed (it works
in slices of ``50,000`` until nothing is left). Writing the same ScoreSet again stamps
the same id and leaves the same graph; a write that died is finished by writing the
same ScoreSet again. While a write is under way the graph holds two runs (merchants
written so far carry the new one, scores are set in place): :func:`scoring_runs`
lists both, :func:`read_scores` reads the latest run's rows only. A reader that must
never see half a refresh needs a pointer to the current run, flipped after the switch;
every node and membership already names its run for that. One write at a time: the
switch of one run removes what another run, written at the same time, has written.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guanxi.errors import GuanxiError, InputError
from guanxi.gnn.scores import CLUSTER_COLUMNS, MERCHANT_COLUMNS, ScoreSet
from guanxi.graph.connection import Graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.writes import Batch, WriteTotals, write_batches
from guanxi.progress import ProgressFn
from guanxi.queries import load

__all__ = ["NoScores", "ScoringRun", "WriteSummary", "run_id", "write_scores",
           "scoring_runs", "read_scores", "export_folder", "export_scores",
           "format_factors", "MERCHANT_FILE_COLUMNS", "CLUSTER_FILE_COLUMNS"]

MERCHANT_FILE_COLUMNS = ("merchant_id", "cluster_id", "ring_score", "pd", "credit_score")
CLUSTER_FILE_COLUMNS = ("cluster_id", "size", "collusion_score", "group_pd", "credit_score",
                        "top_factors")

_SWITCH_LIMIT = 50_000
"""Stale items removed per transaction of the switch."""


class NoScores(GuanxiError):
    """The graph holds no scores (or not those of the run asked for)."""


@dataclass(frozen=True)
class ScoringRun:
    """One run whose scores the graph holds, and how many nodes carry it."""

    run: str
    model_version: str
    scored_at: datetime
    merchants: int
    clusters: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WriteSummary:
    """What :func:`write_scores` wrote and what the switch removed.

    ``merchants``, ``clusters``, ``memberships`` count what carries the run id after the
    write; ``merchants_missing`` the ScoreSet's merchants the graph does not hold
    (skipped); ``memberships_removed``, ``clusters_removed``, ``clusters_retired``
    (kept for a case) and ``merchants_cleared`` what the switch took from other runs.
    ``totals``: the batches' counters (``graph/writes.py``).
    """

    run: str
    model_version: str
    scored_at: datetime
    merchants: int = 0
    merchants_missing: int = 0
    clusters: int = 0
    memberships: int = 0
    memberships_removed: int = 0
    clusters_removed: int = 0
    clusters_retired: int = 0
    merchants_cleared: int = 0
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
                 progress: ProgressFn | None = None) -> WriteSummary:
    """Write ``scores`` to the graph, replacing the previous run's scores completely.

    Batches of whole clusters with their members' scores, then the unclustered
    merchants, about ``batch_size`` merchants each, ``workers`` transactions at a time
    (``graph/writes.py``); then the switch (see the module's docstring). Idempotent.
    ``progress("write scores", rows, total)`` counts merchant and cluster rows.

    Raises ``ValueError`` when ``scores`` contradicts itself (a duplicate id, a
    merchant in a cluster the clusters table lacks, members that disagree with the
    merchants' ``cluster_id``, embeddings of the wrong length).
    """
    started = time.monotonic()
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    merchants, clusters, embeddings = _checked(scores)
    apply_schema(graph)  # the switch finds other runs through the score_run indexes
    scored_at = _utc(scores.scored_at)
    run = run_id(scores.model_version, scored_at)
    stamp = {"run": run, "model_version": scores.model_version, "scored_at": scored_at}
    totals = write_batches(graph, _batches(merchants, clusters, embeddings, stamp, batch_size),
                           workers=workers, progress=progress, task="write scores",
                           total_rows=len(merchants) + len(clusters))
    summary = WriteSummary(run, scores.model_version, scored_at, totals=totals)
    _switch(graph, run, scored_at, summary)
    counts = graph.read(load("scores_run_counts"), run=run)[0]
    summary.merchants, summary.clusters = counts["merchants"], counts["clusters"]
    summary.memberships = counts["memberships"]
    summary.merchants_missing = len(merchants) - summary.merchants
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _checked(scores: ScoreSet) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray | None]:
    """The merchant and cluster tables, checked and sorted by cluster, then id; the
    embeddings in the same order."""
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
    embeddings = scores.embeddings
    if embeddings is not None:
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape[0] != len(m):
            raise ValueError(f"embeddings must be (merchants, D) = ({len(m)}, D), "
                             f"got {embeddings.shape}")
    order = m.assign(_pos=np.arange(len(m))).sort_values(
        ["cluster_id", "merchant_id"], na_position="last", kind="stable")["_pos"].to_numpy()
    m = m.iloc[order].reset_index(drop=True)
    if embeddings is not None:
        embeddings = embeddings[order]
    c = c.sort_values("cluster_id", kind="stable").reset_index(drop=True)
    return m, c, embeddings


def _batches(m: pd.DataFrame, c: pd.DataFrame, embeddings: np.ndarray | None,
             stamp: dict[str, Any], size: int) -> Iterator[Batch]:
    """Whole clusters with their members (so batches share no node), then the rest."""
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
                         None if embeddings is None else embeddings[first_merchant:stop],
                         stamp)
            n += 1
            first_cluster, first_merchant = i + 1, stop
    for start in range(clustered, len(m), size):
        stop = min(start + size, len(m))
        yield _batch(n, m.iloc[start:stop], c.iloc[0:0],
                     None if embeddings is None else embeddings[start:stop], stamp)
        n += 1


def _batch(n: int, m: pd.DataFrame, c: pd.DataFrame, embeddings: np.ndarray | None,
           stamp: dict[str, Any]) -> Batch:
    # pandas may hold a missing cluster_id as NaN (a str column): None for Neo4j.
    cluster_of = [None if _missing(cid) else cid for cid in m["cluster_id"]]
    merchant_rows = [
        {"id": mid, "cluster_id": cid, "ring_score": _float(ring), "pd": _float(p),
         "credit_score": _int(credit), "embedding": None}
        for mid, cid, ring, p, credit in zip(m["merchant_id"], cluster_of, m["ring_score"],
                                             m["pd"], m["credit_score"], strict=True)]
    if embeddings is not None:
        for row, vector in zip(merchant_rows, embeddings.astype(np.float64).tolist(),
                               strict=True):
            row["embedding"] = vector
    members: dict[str, list[str]] = {}
    for mid, cid in zip(m["merchant_id"], cluster_of, strict=True):
        if cid is not None:
            members.setdefault(cid, []).append(mid)
    cluster_rows = [
        {"id": cid, "size": _int(r.size), "collusion_score": _float(r.collusion_score),
         "group_pd": _float(r.group_pd), "credit_score": _int(r.credit_score),
         "key_members": [] if _missing(r.key_members) else [str(x) for x in r.key_members],
         "top_factors": _json(r.top_factors), "top_links": _json(r.top_links),
         "members": members.get(cid, [])}
        for cid, r in zip(c["cluster_id"], c.itertuples(index=False), strict=True)]
    statements = []
    if cluster_rows:
        statements.append((load("scores_write_clusters"), {"rows": cluster_rows, **stamp}))
    if merchant_rows:
        statements.append((load("scores_write_merchants"), {"rows": merchant_rows, **stamp}))
    return Batch(n, statements, len(merchant_rows) + len(cluster_rows))


def _switch(graph: Graph, run: str, scored_at: datetime, summary: WriteSummary) -> None:
    """Remove what other runs left, in transactions of at most ``_SWITCH_LIMIT`` each."""
    names = ("scores_unlink_stale", "scores_retire_clusters", "scores_clear_merchants")
    params = {"run": run, "scored_at": scored_at, "limit": _SWITCH_LIMIT}

    def work(tx) -> list[dict[str, int]]:
        return [tx.run(load(name).text, params).single().data() for name in names]

    while True:
        unlinked, clusters, cleared = graph.transaction(work, "+".join(names))
        summary.memberships_removed += unlinked["n"]
        summary.clusters_retired += clusters["retired"]
        summary.clusters_removed += clusters["n"] - clusters["retired"]
        summary.merchants_cleared += cleared["n"]
        if max(unlinked["n"], clusters["n"], cleared["n"]) < _SWITCH_LIMIT:
            return


# --- read -------------------------------------------------------------------------


def scoring_runs(graph: Graph, *, required: bool = False) -> list[ScoringRun]:
    """The runs whose scores the graph holds, oldest first: one after a complete
    write, none before the first, two while a write is under way (or after one was
    interrupted: write the same scores again, or score again, to finish it).

    ``required``: raise :class:`NoScores` rather than return none.
    """
    runs: dict[str, dict[str, Any]] = {}
    for row in graph.read(load("scores_runs")):
        run = runs.setdefault(row["run"], {"run": row["run"], "merchants": 0, "clusters": 0,
                                           "model_version": row["model_version"],
                                           "scored_at": _native(row["scored_at"])})
        run["merchants"] += row["merchants"]
        run["clusters"] += row["clusters"]
    if required and not runs:
        raise NoScores("no scores in the graph yet", "run `guanxi score` first")
    return [ScoringRun(**runs[k]) for k in sorted(runs)]


def read_scores(graph: Graph, *, run: str | ScoringRun | None = None,
                embeddings: bool = False, chunk: int = 100_000,
                progress: ProgressFn | None = None) -> ScoreSet:
    """The scores the graph holds, as a ScoreSet: the latest run's, or ``run``'s (its
    id, or a :class:`ScoringRun` from :func:`scoring_runs`, which saves reading them).

    Merchants and clusters come in id order, a cluster's ``members`` too (its
    ``key_members`` in their stored order); ``top_factors`` and ``top_links`` as lists
    of dicts again. A score the run did not give is NaN (``cluster_id`` None);
    ``credit_score`` is int64 unless one is missing. ``embeddings=True`` also reads the
    merchants' embeddings (``(M, D)`` float32, None when the run wrote none).
    ``progress("read merchant scores" | "read cluster scores", rows, total)``.

    Raises :class:`NoScores` when the graph holds none (or not ``run``'s).
    """
    if isinstance(run, ScoringRun):
        chosen = run
    elif run is None:
        chosen = scoring_runs(graph, required=True)[-1]
    else:
        runs = scoring_runs(graph, required=True)
        chosen = next((r for r in runs if r.run == run), None)
        if chosen is None:
            raise NoScores(f"the graph holds no scores of run {run!r}",
                           "it holds " + ", ".join(r.run for r in runs))
    merchants = _read_pages(graph, "scores_merchants_page", "merchant_id", chunk, progress,
                            "read merchant scores", chosen.merchants,
                            run=chosen.run, embeddings=embeddings)
    clusters = _read_pages(graph, "scores_clusters_page", "cluster_id", chunk, progress,
                           "read cluster scores", chosen.clusters, run=chosen.run)
    vectors = merchants.pop("embedding") if "embedding" in merchants else pd.Series([])
    matrix = None
    if embeddings and len(vectors) and vectors.notna().all():
        matrix = np.asarray(vectors.tolist(), dtype=np.float32)
    merchants = _typed(merchants, MERCHANT_COLUMNS, {"ring_score", "pd"}, {"credit_score"})
    clusters = _typed(clusters, CLUSTER_COLUMNS, {"collusion_score", "group_pd"},
                      {"size", "credit_score"})
    for name in ("top_factors", "top_links", "key_members", "members"):
        parse = json.loads if name.startswith("top_") else list
        clusters[name] = pd.Series([[] if _missing(v) else parse(v) for v in clusters[name]],
                                   index=clusters.index, dtype=object)
    return ScoreSet(merchants, clusters, chosen.model_version, chosen.scored_at, matrix)


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
    return out


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
