"""Incremental scoring: which merchants and clusters a load of new data can change.

A refresh after an ingest re-scores only what the new data reaches. Ingest records
the merchants each batch touched (``IngestBatch.merchants``); from those ``T``:

1. **Reach.** A merchant's scores read its own features (which already look one
   merchant link away: payers, suppliers, shared identifiers, customers in common),
   its neighbours' first-stage scores and the loans of merchants sharing a
   counterparty with it (one more link) and the GNN's ``L`` layers: new
   data can move the scores of merchants up to ``reach = 1 + max(1, L)`` links from
   ``T`` (``L`` = 0 without the GNN), over every kind of link the scorer aggregates
   (``prepare.link_kinds``: flows, shared identifiers, shared payers).
2. **Influence.** Within that reach, what a change does to a merchant is diluted by
   the merchant's other links: the GNN and the neighbour features average over
   neighbours, so a touched merchant weighs ``1/deg(u)`` on a neighbour ``u``, and a
   product of such shares on merchants further away. On real merchant graphs every
   merchant is three links from almost every other (one wholesaler, one busy
   customer suffice: 1% of merchants touched reach 99% of a 20k-merchant graph in
   three links), so the whole reach is the whole graph. A merchant is re-scored when
   its *influence* ``i_u = max_h (P^h t)_u`` (``P`` the row-normalised link pattern,
   ``t`` the indicator of ``T``, ``h <= reach``) is at least ``tolerance``.
3. **Closure over clusters.** Cluster scores and a member's credit inputs read the
   whole cluster, so the re-scored set ``S`` grows until every cluster, old or new,
   that holds one of ``S`` lies wholly inside ``S``. Clusters with none of ``S`` keep
   their members and scores; the re-scored clusters are exactly those ``S``'s merchants
   belong to, or move between.

4. **Only what moved is written.** Of ``S``, a merchant whose new scores are those
   stored (:func:`moved`: same cluster and credit score, ring score and PD within
   ``SCORE_TOLERANCE``, embeddings within ``EMBEDDING_TOLERANCE`` of their length)
   keeps its stored score: most of ``S`` moves by less (at 100,000 merchants, 1% of
   them touched: about 4,600 of 21,000 were written), and each score written is two
   insertions into vector indexes.

Everything outside ``S`` keeps the previous run's scores, unless what every merchant's
features share moved (the complete weeks, the promotion weeks: ``Table.shared_weeks``): the
run then re-scores every merchant (``gnn/pipeline.py``). What it misses: changes
below ``tolerance`` (a hub's many neighbours each move it a little), a maximum over
neighbours that a touched merchant now tops, and what no neighbourhood bounds (the
share of merchants the grouping step considers, how far its weighted core peels along
a chain of candidates, the size of a merchant's connected component, peers' trends by
city and category). docs/operations.md gives the
measured difference from a full refresh; the test holds it to a stated bound.

>>> import scipy.sparse as sp
>>> chain = sp.csr_matrix(([1, 1, 1, 1, 1, 1], ([0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2])),
...                       shape=(4, 4))
>>> influence(chain, np.array([True, False, False, False]), 3).round(2).tolist()
[1.0, 0.5, 0.25, 0.25]
>>> closed(np.array([True, False, False, False]), {"a": [0, 1]}, {"b": [2, 3]}).tolist()
[True, True, False, False]
>>> close(np.array([0.5, np.nan, 0.2]), np.array([0.50001, np.nan, np.nan]), 1e-4).tolist()
[True, True, False]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import scipy.sparse as sp

from guanxi.gnn.clusters import parts
from guanxi.gnn.prepare import Prepared
from guanxi.gnn.scores import ScoreSet

__all__ = ["EMBEDDING_TOLERANCE", "SCORE_TOLERANCE", "TOLERANCE", "Delta", "changed_only",
           "close", "closed", "influence", "moved", "reach", "rescored", "to_rescore"]

TOLERANCE = 0.02
"""Least influence (module docstring) that gets a merchant re-scored: a merchant with
more than 50 links is not re-scored for one touched neighbour."""

SCORE_TOLERANCE = 1e-4
"""Least change of a re-scored merchant's ring score or PD that gets it written."""

EMBEDDING_TOLERANCE = 1e-3
"""Least change of a re-scored merchant's embedding, relative to its length, that gets
it written: a cosine with it then moves by less than 1e-6."""


@dataclass(frozen=True)
class Delta:
    """An incremental run's start: the current run it builds on (``base``, its id); the
    ingest batches whose changes are re-scored: those applied after ``since``, but for
    ``seen`` (batches the base run already read)."""

    base: str
    since: datetime
    seen: tuple[str, ...] = ()


def reach(gnn_layers: int) -> int:
    """Merchant links over which new data can change a merchant's scores (module
    docstring): ``1 + max(1, gnn_layers)``.

    >>> reach(2), reach(0)
    (3, 2)
    """
    return 1 + max(1, gnn_layers)


def influence(adjacency: sp.csr_matrix, touched: np.ndarray, hops: int) -> np.ndarray:
    """``(M,)`` influence of the ``touched`` merchants on each merchant within ``hops``
    links of the symmetric ``(M, M)`` ``adjacency`` (any nonzero is a link): ``1`` on
    ``touched``, else ``max_h (P^h t)_u`` with ``P`` the row-normalised link pattern."""
    pattern = (adjacency != 0).astype(np.float64).tocsr()
    degree = np.asarray(pattern.sum(axis=1)).ravel()
    step = sp.diags(1.0 / np.maximum(degree, 1.0)) @ pattern
    spread = np.asarray(touched, dtype=np.float64)
    best = spread.copy()
    for _ in range(hops):
        spread = step @ spread
        best = np.maximum(best, spread)
    return best


def closed(start: np.ndarray, before: Mapping[str, Sequence[int]],
           after: Mapping[str, Sequence[int]]) -> np.ndarray:
    """``(M,)`` bool: ``start`` grown until every cluster of ``before`` or ``after``
    (cluster id -> member positions) holding one of it lies wholly inside it."""
    inside = np.asarray(start, dtype=bool).copy()
    clusters = [np.asarray(m, dtype=np.int64) for m in (*before.values(), *after.values())]
    clusters = [m for m in clusters if m.size]
    pending = True
    while pending:
        pending = False
        for members in clusters:
            hit = inside[members]
            if hit.any() and not hit.all():
                inside[members] = True
                pending = True
    return inside


def rescored(adjacency: sp.csr_matrix, touched: np.ndarray, hops: int,
             before: Mapping[str, Sequence[int]], after: Mapping[str, Sequence[int]],
             tolerance: float) -> np.ndarray:
    """``(M,)`` bool: the merchants an incremental refresh re-scores (module docstring):
    those the ``touched`` ones influence at least ``tolerance`` within ``hops`` links,
    closed over the ``before`` (previous run) and ``after`` (this computation)
    clusters."""
    return closed(influence(adjacency, touched, hops) >= tolerance, before, after)


def to_rescore(prep: Prepared, labels: np.ndarray, previous: Mapping[str, Sequence[str]],
               touched: Sequence[str], hops: int, tolerance: float = TOLERANCE
               ) -> np.ndarray:
    """``(M,)`` bool: the merchants of ``prep`` an incremental run re-scores
    (:func:`rescored`), closed over the ``previous`` clusters (id -> member ids) and
    this run's cluster ``labels`` (``(M,)``, -1: none).

    ``touched``: ids of the merchants ingest changed (unknown ids are ignored).
    """
    index = pd.Index(prep.ids)
    start = np.zeros(prep.m, dtype=bool)
    start[_positions(index, touched)] = True
    before = {cid: _positions(index, members) for cid, members in previous.items()}
    after = {int(labels[part[0]]): part for part in parts(labels)
             if part.size and labels[part[0]] >= 0}
    adjacency = sum(prep.kinds.values(), sp.csr_matrix((prep.m, prep.m)))
    return rescored(adjacency, start, hops, before, after, tolerance)


def _positions(index: pd.Index, ids: Sequence[str]) -> np.ndarray:
    """Positions in ``index`` of the ``ids`` it has."""
    found = index.get_indexer(list(ids))
    return found[found >= 0]


def changed_only(prep: Prepared, scores: ScoreSet, previous: Mapping[str, Sequence[str]],
                 keep: np.ndarray) -> tuple[ScoreSet, list[str]]:
    """What an incremental run writes: ``scores`` (of every merchant of ``prep``, in its
    order) cut to the merchants ``keep`` marks (:func:`to_rescore`) and the clusters
    that hold them, and the ``previous`` clusters (id -> member ids) they left behind
    empty, to retire."""
    index = pd.Index(prep.ids)
    # A boolean array, not a list: an empty list would select no column, not no row.
    clusters = scores.clusters[np.array([bool(keep[_positions(index, members)].any())
                                         for members in scores.clusters["members"]],
                                        dtype=bool)]
    written = set(clusters["cluster_id"])
    retired = sorted(cid for cid, members in previous.items()
                     if cid not in written and keep[_positions(index, members)].any())
    rows = np.flatnonzero(keep)
    cut = ScoreSet(scores.merchants.iloc[rows].reset_index(drop=True),
                   clusters.reset_index(drop=True), scores.model_version, scores.scored_at,
                   None if scores.embeddings is None else scores.embeddings[rows],
                   None if scores.fastrp is None else scores.fastrp[rows])
    return cut, retired


def close(new: np.ndarray, old: np.ndarray, tolerance: float) -> np.ndarray:
    """``(n,)`` bool: ``new`` within ``tolerance`` of ``old``, or both missing (NaN)."""
    new = np.asarray(new, dtype=np.float64)
    old = np.asarray(old, dtype=np.float64)
    return (np.isnan(new) & np.isnan(old)) | (np.abs(new - old) <= tolerance)


def moved(cut: ScoreSet, stored: pd.DataFrame, score_tolerance: float = SCORE_TOLERANCE,
          embedding_tolerance: float = EMBEDDING_TOLERANCE) -> ScoreSet:
    """``cut`` (what :func:`changed_only` gives) without the merchants whose ``stored``
    scores (indexed by merchant id: ``graph.scores.stored_scores``) it would leave as
    they are: in no cluster before and after, the same credit score, ring score and PD
    within ``score_tolerance``, each embedding within ``embedding_tolerance`` of its
    stored length. Members of the clusters ``cut`` re-scores all stay: a cluster is
    written with its members."""
    m = cut.merchants.reset_index(drop=True)
    old = stored.reindex(m["merchant_id"].astype(str))
    same = old["merchant_id"].notna().to_numpy().copy()
    same &= m["cluster_id"].isna().to_numpy() & old["cluster_id"].isna().to_numpy()
    for column in ("ring_score", "pd"):
        same &= close(pd.to_numeric(m[column]), pd.to_numeric(old[column]), score_tolerance)
    same &= close(pd.to_numeric(m["credit_score"]).astype("float64"),
                  pd.to_numeric(old["credit_score"]).astype("float64"), 0)
    for name, column in (("embeddings", "embedding"), ("fastrp", "fastrp")):
        new = getattr(cut, name)
        rows = np.flatnonzero(same)
        if new is None:
            same[rows] &= old[column].iloc[rows].isna().to_numpy()
            continue
        before = old[column].iloc[rows].tolist()
        width = new.shape[1]
        fits = np.array([v is not None and len(v) == width for v in before], dtype=bool)
        same[rows[~fits]] = False
        rows = rows[fits]
        if rows.size:
            was = np.array([v for v, ok in zip(before, fits, strict=True) if ok],
                           dtype=np.float64)
            gap = np.linalg.norm(new[rows].astype(np.float64) - was, axis=1)
            same[rows] &= gap <= embedding_tolerance * np.maximum(
                np.linalg.norm(was, axis=1), 1e-12)
    keep = np.flatnonzero(~same)
    return ScoreSet(m.iloc[keep].reset_index(drop=True), cut.clusters, cut.model_version,
                    cut.scored_at,
                    None if cut.embeddings is None else cut.embeddings[keep],
                    None if cut.fastrp is None else cut.fastrp[keep])
