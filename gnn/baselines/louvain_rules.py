"""Community detection plus red-flag rules: how an investigation team works without ML.

Louvain (Blondel et al., *Fast unfolding of communities in large networks*, J. Stat.
Mech. 2008; networkx ``louvain_communities``) cuts the merchant x merchant link graph
into communities maximising modularity

    Q = (1 / 2m) sum_ij [A_ij - gamma k_i k_j / 2m] 1[c_i = c_j],

then every community of at least two merchants is checked against transparent rules,
each a threshold on a community-level aggregate of one merchant feature:

    flag_r(C) = 1[ agg_r({x_ir : i in C}) >= t_r ]    (or <= t_r for a "low" rule),

with ``t_r`` the ``q_r``-quantile of the same aggregate over all communities of two or
more merchants: a community is flagged when it stands out among its peers, wherever
the data's scale lies; no threshold is a constant of any generator. Size is the one
prior: a ring is a small group (``size_range``, default 3-50 merchants, wide enough for
every published ring size we know, and never tuned to a data set).

The community score is ``flags(C) + 0.99 * mean_r pct_r(C)``, ``pct_r`` the community's
percentile among its peers in the rule's direction: the number of red flags decides,
the percentiles only order communities with the same count. A merchant's score is its
community's (0 for a merchant alone); clusters are the communities ranked by score.

>>> import pandas as pd, scipy.sparse as sp
>>> a = sp.csr_matrix(np.kron(np.eye(3), np.ones((3, 3))) - np.eye(9))  # 3 triangles
>>> x = pd.DataFrame({"round": [.9, .8, .9, .1, .2, .1, .0, .1, .2]})
>>> r = louvain_rules(a, x, [Rule("round amounts", "round", quantile=0.6)], seed=0)
>>> [sorted(c) for c in r.clusters][0], r.cluster_scores.round(2).tolist()
([0, 1, 2], [2.99, 1.66, 1.33])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from guanxi.gnn.baselines import BaselineResult

__all__ = ["DEFAULT_RULES", "Rule", "communities", "louvain_rules", "rule_flags"]

Statistic = Literal["mean", "max", "spread"]


@dataclass(frozen=True)
class Rule:
    """One red flag: ``statistic`` of feature ``column`` over a community's members,
    flagged when at or above the ``quantile`` of the communities (``high``) or at or
    below it (not ``high``). ``spread`` is the standard deviation."""

    name: str
    column: str
    statistic: Statistic = "mean"
    high: bool = True
    quantile: float = 0.9


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("dense shared identifiers", "shared_weight_total"),
    Rule("reciprocal merchant payments", "paid_reciprocal_share"),
    Rule("round amounts", "in_round_share"),
    Rule("supply without shipments", "supply_unshipped_invoice_share"),
    Rule("synchronized registration", "age_end_days", "spread", high=False, quantile=0.1),
)
"""The red flags of an investigator's checklist, on ``gnn.features`` columns: members
sharing many identifiers, paying each other both ways, taking round amounts, invoicing
without shipments, and registered at about the same time (low spread of account age)."""

_TIE_SCALE = 0.99  # percentiles order ties in the flag count, never overturn it


def communities(adjacency: sp.spmatrix, seed: int = 0, resolution: float = 1.0) -> np.ndarray:
    """Louvain community of each merchant on ``A + A^T`` (a directed matrix counts in
    both directions), merchants without links alone.

    Returns
    -------
    (M,) int64 community numbers ``0..C-1``, numbered by each community's lowest
    merchant position (the same partition always gets the same numbers).
    """
    a = sp.csr_matrix(adjacency, dtype=np.float64)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square, not {a.shape}")
    if (a.data < 0).any():
        raise ValueError("adjacency weights must be non-negative")
    sym = sp.triu(a + a.T, k=1).tocoo()
    graph = nx.Graph()
    graph.add_nodes_from(range(a.shape[0]))
    graph.add_weighted_edges_from(zip(sym.row.tolist(), sym.col.tolist(), sym.data.tolist(),
                                      strict=True))
    found = nx.community.louvain_communities(graph, weight="weight", resolution=resolution,
                                             seed=seed)
    labels = np.empty(a.shape[0], dtype=np.int64)
    for number, members in enumerate(sorted(found, key=min)):
        labels[list(members)] = number
    return labels


def rule_flags(labels: np.ndarray, features: pd.DataFrame, rules: Sequence[Rule],
               size_range: tuple[int, int] = (3, 50)) -> pd.DataFrame:
    """The rule table: one row per community of two or more merchants.

    Columns: ``size``, per rule its aggregate (the rule's name) and ``<name> flag``
    (bool), then ``size flag``, ``flags`` (count, the size rule included), ``score``.
    Index: community number.
    """
    missing = [r.column for r in rules if r.column not in features.columns]
    if missing:
        raise ValueError(f"features lack the rule columns {missing}; pass rules whose "
                         f"columns are among {list(features.columns)}")
    low, high = size_range
    if not 1 <= low <= high:
        raise ValueError(f"size_range must be (low, high) with 1 <= low <= high, not {size_range}")
    for rule in rules:
        if not 0 < rule.quantile < 1:
            raise ValueError(f"rule {rule.name!r}: quantile must be in (0, 1)")
    frame = features[[r.column for r in rules]].astype(np.float64)
    frame.columns = [r.name for r in rules]
    groups = frame.groupby(np.asarray(labels))
    size = groups.size()
    table = pd.DataFrame({"size": size})
    for rule in rules:
        how = {"mean": "mean", "max": "max", "spread": "std"}[rule.statistic]
        table[rule.name] = groups[rule.name].agg(how)
    table = table[table["size"] >= 2].copy()
    percentiles = []
    for rule in rules:
        value = table[rule.name]
        threshold = value.quantile(rule.quantile)
        table[f"{rule.name} flag"] = value >= threshold if rule.high else value <= threshold
        pct = value.rank(pct=True, method="average")
        percentiles.append(pct if rule.high else 1 - pct + 1 / max(len(value), 1))
    table["size flag"] = table["size"].between(low, high)
    flags = [f"{r.name} flag" for r in rules] + ["size flag"]
    table["flags"] = table[flags].sum(axis=1).astype(np.int64)
    tie = pd.concat(percentiles, axis=1).mean(axis=1) if percentiles else 0.0
    table["score"] = table["flags"] + _TIE_SCALE * tie
    return table


def louvain_rules(adjacency: sp.spmatrix, features: pd.DataFrame,
                  rules: Sequence[Rule] = DEFAULT_RULES, seed: int = 0,
                  resolution: float = 1.0, size_range: tuple[int, int] = (3, 50),
                  ids: Sequence[str] | None = None) -> BaselineResult:
    """Louvain communities scored by red-flag rules.

    Parameters
    ----------
    adjacency : (M, M) sparse non-negative merchant link weights (e.g.
        ``Links.combined()``).
    features : (M, F) DataFrame in merchant order holding each rule's column.
    rules : the red flags (``DEFAULT_RULES``).
    seed : Louvain's seed; the same seed gives the same result.
    resolution : Louvain's ``gamma``; above 1 favours smaller communities.
    size_range : (low, high), the plausible ring size.
    ids : merchant ids for the clusters (``Exported.ids["Merchant"]``); merchant
        positions (int) when None.

    Returns
    -------
    BaselineResult: ``scores`` (M,), the community score of each merchant (0 alone);
    clusters the communities of two or more, best first (ties: lower community number).
    """
    if len(features) != adjacency.shape[0]:
        raise ValueError(f"features have {len(features)} rows, adjacency {adjacency.shape}")
    labels = communities(adjacency, seed, resolution)
    table = rule_flags(labels, features.reset_index(drop=True), rules, size_range)
    scores = np.zeros(len(labels))
    if len(table):
        scored = table["score"].reindex(labels).to_numpy()
        scores = np.nan_to_num(scored, nan=0.0)
    ranked = table.sort_values("score", ascending=False, kind="stable")
    names = np.asarray(ids, dtype=object) if ids is not None else np.arange(len(labels))
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], ranked.index.to_numpy())
    sizes = ranked["size"].to_numpy()
    clusters = [set(names[order[b:b + s]].tolist()) for b, s in zip(bounds, sizes, strict=True)]
    return BaselineResult(scores, clusters, ranked["score"].to_numpy(np.float64))
