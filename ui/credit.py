"""Group credit for the Credit page: a cluster against its peers, who carries its risk,
and the group PD if one member fails.

The what-if is scoring's own (``gnn/group.py``, docs/scoring.md, *Cluster scores*),
rebuilt from what the graph stores: the members' PDs of the current run
(``MerchantScore.pd``), their supply and payment amounts to one another and their
shared owners and settlement accounts (``ui_member_links``). ``D[j, k]``, the share of
``j``'s trade carried by ``k``, is ``group.dependency`` of those; if ``k`` fails, each
other member ``j`` defaults with ``1 - (1 - pd_j)(1 - 0.5 D[j, k])`` and ``k`` with
certainty, and the group PD is the mean (``group.what_if``). Scoring computes ``D``
from the whole graph's links, the app from the links inside the cluster, so the two
agree where members trade mostly with each other and the app's figure is a lower bound
of contagion otherwise; it is never below the group PD itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from guanxi.gnn import group

__all__ = ["PEER_KEYS", "Exposure", "exposure", "peer_rank"]

PEER_KEYS = ("city", "category")
"""What makes clusters peers: the same main city, or the same main category."""

_TRADE = ("SUPPLIES", "PAID")
_TIES = ("SHARED_OWNER", "SHARED_ACCOUNT")
"""Common-fate ties, as in scoring: a shared owner or settlement account."""


@dataclass
class Exposure:
    """Who carries a cluster's risk: ``members`` (id, pd, ``harm``: how much healthy
    business depends on each, ``what_if_pd``: the group PD if it fails), most harmful
    first; ``base_pd``, the mean member PD."""

    members: pd.DataFrame
    base_pd: float


def exposure(members: pd.DataFrame, links: pd.DataFrame, contagion: float = 0.5) -> Exposure:
    """The what-if of every member of one cluster.

    Parameters
    ----------
    members : DataFrame
        ``id`` and ``pd`` (from ``views.node_details``); members without a PD are left
        out (the run gave none).
    links : DataFrame
        ``source``, ``target``, ``type``, ``weight`` among them (``views.member_links``).
    contagion : float
        How much of a failed partner's share of trade turns into default (scoring: 0.5).

    Examples
    --------
    >>> m = pd.DataFrame({"id": ["a", "b"], "pd": [0.1, 0.1]})
    >>> l = pd.DataFrame({"source": ["a"], "target": ["b"], "type": ["SUPPLIES"],
    ...                   "weight": [100.0]})
    >>> e = exposure(m, l)
    >>> round(e.base_pd, 3), e.members["what_if_pd"].round(3).tolist()
    (0.1, [0.775, 0.775])
    """
    scored = members.dropna(subset=["pd"]).reset_index(drop=True)
    n = len(scored)
    pos = {mid: i for i, mid in enumerate(scored["id"])}
    inside = links[links["source"].isin(pos) & links["target"].isin(pos)]
    trade = [_matrix(inside[inside["type"] == t], pos, n) for t in _TRADE]
    ties = _matrix(inside[inside["type"].isin(_TIES)], pos, n, symmetric=True)
    pd_all = scored["pd"].to_numpy(dtype=float)
    idx = np.arange(n)
    dep = group.dependency(trade, ties if ties.nnz else None)
    sub = dep.toarray()
    np.fill_diagonal(sub, 0.0)
    harm = ((1 - pd_all)[:, None] * sub).sum(axis=0)
    what = [group.what_if(idx, pd_all, dep, k, contagion) for k in range(n)]
    table = scored.loc[:, ["id", "pd"]].assign(harm=harm, what_if_pd=what)
    table = table.sort_values(["harm", "pd"], ascending=[False, False], kind="stable")
    return Exposure(table.reset_index(drop=True), float(pd_all.mean()) if n else float("nan"))


def _matrix(rows: pd.DataFrame, pos: dict[str, int], n: int,
            symmetric: bool = False) -> sp.csr_matrix:
    i = rows["source"].map(pos).to_numpy(dtype=int)
    j = rows["target"].map(pos).to_numpy(dtype=int)
    w = rows["weight"].astype(float).to_numpy()
    if symmetric:
        i, j, w = np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([w, w])
    return sp.csr_matrix((w, (i, j)), shape=(n, n))


def peer_rank(table: pd.DataFrame, cluster_id: str, by: str) -> dict[str, object]:
    """Cluster ``cluster_id`` among the clusters of ``table`` (``views.cluster_table``)
    that share its ``by`` (``city`` or ``category``): ``peers`` (how many, itself
    included), ``value`` (its city or category), ``pd_percentile`` (the share of peers
    with a lower group PD, 0-100) and the peers' median group PD and credit score.

    >>> t = pd.DataFrame({"cluster_id": ["a", "b", "c"], "city": ["x", "x", "y"],
    ...                   "group_pd": [0.1, 0.2, 0.3], "credit_score": [700, 650, 600]})
    >>> peer_rank(t, "b", "city")["pd_percentile"]
    50.0
    """
    if by not in PEER_KEYS:
        raise ValueError(f"by must be one of {PEER_KEYS}, got {by!r}")
    row = table.loc[table["cluster_id"] == cluster_id].iloc[0]
    peers = table[table[by] == row[by]] if pd.notna(row[by]) else table.iloc[0:0]
    gpd = peers["group_pd"].dropna()
    below = float((gpd < row["group_pd"]).mean() * 100) if len(gpd) else float("nan")
    return {"value": row[by], "peers": len(peers), "pd_percentile": below,
            "median_pd": float(gpd.median()) if len(gpd) else float("nan"),
            "median_credit_score": float(peers["credit_score"].median())
            if peers["credit_score"].notna().any() else float("nan")}
