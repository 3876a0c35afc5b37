"""Cluster rows of a :class:`~guanxi.gnn.scores.ScoreSet` from merchant scores.

Combines ``gnn/clusters.py`` (who is in which cluster, persistent ids) and
``gnn/group.py`` (collusion score, group PD, key members, links) with the tree
contributions behind the member scores (``gnn/scorer.py``) into one row per cluster:
``top_factors`` are the features whose mean contribution over the members raises the
score most (collusion) or moves the PD most (credit), with the cluster's mean value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from guanxi.gnn import group
from guanxi.gnn.clusters import assemble, cluster_ids, members, parts
from guanxi.gnn.credit_scale import credit_score
from guanxi.gnn.prepare import Prepared
from guanxi.gnn.scorer import NodeScores
from guanxi.gnn.scores import CLUSTER_COLUMNS

__all__ = ["cluster_labels", "cluster_table", "top_factors"]

_LINK_TYPE = {"paid": "PAID", "supply": "SUPPLIES", "shipped": "SHIPPED_TO",
              "co_payer": "SHARED_PAYERS"}


def top_factors(contrib: np.ndarray, values: np.ndarray, names: Sequence[str], score: str,
                top: int = 3, sign: int = 1) -> list[dict]:
    """The ``top`` features with the largest ``sign``-signed mean contribution.

    ``contrib`` and ``values`` are (K, F) for the K members; returns dicts ``{"score",
    "name", "value", "weight"}`` (``weight`` the mean contribution in log-odds).
    """
    mean_c = contrib.mean(axis=0) * sign
    order = np.argsort(-mean_c)[:top]
    return [{"score": score, "name": names[f], "value": round(float(values[:, f].mean()), 4),
             "weight": round(float(mean_c[f] * sign), 4)} for f in order if mean_c[f] > 0]


def cluster_labels(prep: Prepared, groups: np.ndarray) -> np.ndarray:
    """``(M,)`` int64 cluster of each merchant, numbered from 0 (-1: none): the
    suspicious ``groups`` (``NodeScores.groups``), then the business communities
    (``gnn/clusters.py``)."""
    return assemble(groups, prep.communities, adjacency=prep.business)


def cluster_table(prep: Prepared, nodes: NodeScores,
                  previous: Mapping[str, Sequence[str]] | None = None, *,
                  labels: np.ndarray | None = None, only: np.ndarray | None = None
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per cluster (``scores.CLUSTER_COLUMNS``), and each merchant's cluster id
    (``(M,)`` object array, None outside any cluster).

    ``labels``: :func:`cluster_labels`, when the caller has them. ``only``: ``(M,)``
    bool, whole clusters (an incremental run scores their members' PD only); when
    given, rows only for those clusters (an incremental run writes no other): the
    explanations behind the rest are the costly part, not computed."""
    labels = cluster_labels(prep, nodes.groups) if labels is None else labels
    ids = prep.ids
    groups = members(labels, ids)
    names = cluster_ids(groups, previous)
    strength = prep.strength
    internal = _internal_strength(strength, labels)
    collusion = group.cluster_means(labels, nodes.ring, internal)
    pd_all = nodes.pd
    group_pd = (group.credible_group_pd(labels, pd_all, prep.labels.defaulted,
                                        nodes.group_pd_kappa)
                if pd_all is not None else None)
    dep = group.dependency([prep.links.directed[k] for k in ("supply", "paid")
                            if k in prep.links.directed],
                           _ties(prep)) if prep.links.directed or prep.links.shared else None
    # Flows count one per linked pair, as in Links.combined: in yuan they would bury
    # every shared phone or owner under the payments.
    kinds = {**{k: (a > 0).astype(np.float64) for k, a in prep.links.directed.items()},
             **prep.links.shared}
    if prep.links.co_payer is not None:
        kinds["co_payer"] = prep.links.co_payer
    shown = labels >= 0
    if only is not None:
        shown &= np.isin(labels, labels[np.asarray(only, dtype=bool) & shown])
        if pd_all is not None and np.isnan(pd_all[shown]).any():
            raise ValueError("only must hold whole clusters: a cluster's PD reads every "
                             "member's (gnn.incremental.closed)")
    links = group.top_links(np.where(shown, labels, -1), nodes.ring, kinds)
    clustered = np.flatnonzero(shown)
    ring_contrib, credit_contrib = nodes.contributions(clustered)
    at = np.full(labels.size, -1, dtype=np.int64)
    at[clustered] = np.arange(clustered.size)
    rows = []
    for part in parts(labels):
        if part.size == 0 or not shown[part[0]]:
            continue
        c = int(labels[part[0]])
        factors = []
        if ring_contrib is not None:
            factors += top_factors(ring_contrib[at[part]], nodes.ring_inputs[part],
                                   nodes.ring_names, "collusion")
        if credit_contrib is not None:
            factors += top_factors(credit_contrib[at[part]], nodes.credit_inputs[part],
                                   nodes.credit_names, "credit")
        key = (group.key_members(part, pd_all, dep) if pd_all is not None and dep is not None
               else part[np.argsort(-nodes.ring[part])][:3])
        gpd = None if group_pd is None else float(group_pd[c])
        rows.append({
            "cluster_id": names[c], "size": int(part.size),
            "collusion_score": float(collusion[c]), "group_pd": gpd,
            "credit_score": None if gpd is None else int(credit_score([gpd])[0]),
            "key_members": [str(ids[k]) for k in key],
            "top_factors": factors,
            "top_links": [{"source": str(ids[i]), "target": str(ids[j]),
                           "type": _LINK_TYPE.get(kind, f"SHARED_{kind.upper()}"),
                           "weight": round(float(w), 4)}
                          for i, j, kind, w in links.get(c, [])],
            "members": [str(ids[k]) for k in part],
        })
    table = pd.DataFrame(rows, columns=list(CLUSTER_COLUMNS))
    table = table.sort_values(["collusion_score", "cluster_id"], ascending=[False, True],
                              kind="stable").reset_index(drop=True)
    merchant_cluster = np.array([names[c] if c >= 0 else None for c in labels.tolist()],
                                dtype=object)
    return table, merchant_cluster


def _internal_strength(strength: sp.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """(M,) each member's total link strength to its own cluster."""
    coo = strength.tocoo()
    same = (labels[coo.row] == labels[coo.col]) & (labels[coo.row] >= 0)
    return np.bincount(coo.row[same], weights=coo.data[same], minlength=labels.size)


def _ties(prep: Prepared) -> sp.csr_matrix | None:
    """Common-fate ties: a shared owner or settlement account."""
    shared = [prep.links.shared[k] for k in ("owner", "account") if k in prep.links.shared]
    if not shared:
        return None
    total = shared[0]
    for a in shared[1:]:
        total = total + a
    return sp.csr_matrix(total)
