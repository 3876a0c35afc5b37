"""Cluster scores from member scores: collusion, group PD, key members, factors, links.

The member models (``gnn/scorer.py``) already condition each merchant's scores on its
neighbourhood and its cluster (the cluster's suspicion, its members' trends), so
correlated failure enters the members' PDs; here they are combined per cluster:

- ``collusion_score`` = the link-weighted mean of the members' ring probabilities:
  the probability that a member drawn by its weight in the group's internal links is
  a ring member. Rings are all-or-nothing, so this is the probability that the group
  is a ring; it is as calibrated as the member probabilities are.
- ``group_pd`` = the expected share of members that default over the horizon, the
  quantity the evaluation ranks against the realised rate: ``mean_i pd_i``, moved by
  what the members with an observed loan did (:func:`credible_group_pd`). A ring's
  bust-out or a shared supplier's failure takes members down together; the members'
  PDs, each fitted on its own merchant, see little of that, and the outcomes of the
  cluster's observed loans see it directly.
- ``key_members``: the members whose failure hurts the others most. With ``D[j, k]``
  the share of ``j``'s trade carried by ``k`` (``dependency``), the harm of ``k``
  failing is ``sum_j (1 - pd_j) D[j, k]`` (how much healthy business depends on it),
  ties broken by ``pd_k``.
- ``what_if(k)``: the group PD when ``k`` fails, each ``j`` then defaulting with
  ``1 - (1 - pd_j)(1 - contagion * D[j, k])``.

>>> import scipy.sparse as sp
>>> d = sp.csr_matrix(np.array([[0, 1.0, 0], [0, 0, 0], [0, 0.5, 0]]))
>>> key_members(np.array([0, 1, 2]), np.array([0.1, 0.1, 0.1]), d).tolist()
[1, 0, 2]
>>> round(what_if(np.array([0, 1, 2]), np.array([0.1, 0.1, 0.1]), d, 1, 0.5), 4)
0.625
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["cluster_means", "credibility", "credible_group_pd", "dependency", "key_members",
           "top_links", "what_if"]


def cluster_means(labels: np.ndarray, values: np.ndarray,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """(C,) or (C, F) weighted means of ``values`` (M,) or (M, F) per cluster label 0..C-1.

    Merchants with label -1 are ignored; a cluster whose weights sum to zero gets the
    plain mean.
    """
    n_clusters = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    inside = labels >= 0
    lab = labels[inside]
    vals = values[inside]
    w = np.ones(lab.size) if weights is None else np.asarray(weights, float)[inside]
    w = np.where(w > 0, w, 0.0)
    totals = np.bincount(lab, weights=w, minlength=n_clusters)
    plain = np.bincount(lab, minlength=n_clusters).astype(float)
    use_plain = (totals <= 0)[lab]
    w = np.where(use_plain, 1.0, w)
    totals = np.where(totals > 0, totals, plain)
    if vals.ndim == 1:
        return np.bincount(lab, weights=w * vals, minlength=n_clusters) / np.maximum(totals, 1e-12)
    out = np.zeros((n_clusters, vals.shape[1]))
    np.add.at(out, lab, w[:, None] * vals)
    return out / np.maximum(totals, 1e-12)[:, None]


def credibility(labels: np.ndarray, pd: np.ndarray, outcome: np.ndarray) -> float | None:
    r"""How many observed loans a cluster's own outcomes are worth against its members'
    PDs: Bühlmann-Straub's ``kappa = s^2 / tau^2``, or None where the clusters show
    no failure in common (the group PD is then the plain mean).

    Over the clusters (``labels`` 0..C-1, -1 none) with members whose ``outcome`` is
    known (0/1, NaN unknown), ``e_i = y_i - pd_i`` and ``r_c`` its mean over cluster
    ``c``'s ``n_c`` such members (``N = sum n_c``, ``r`` the mean of all ``e_i``):

    .. math::
        s^2 = \frac{\sum_c \sum_{i \in c} (e_i - r_c)^2}{\sum_c (n_c - 1)}, \qquad
        \tau^2 = \frac{\sum_c n_c (r_c - r)^2 - (C - 1) s^2}{N - \sum_c n_c^2 / N}

    ``tau^2`` is how much clusters differ in what their members' PDs miss, beyond
    chance. Fit it with out-of-fold PDs: a model scoring the loans it learnt leaves
    them nothing to miss.

    >>> labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    >>> pd = np.full(9, 0.2)
    >>> credibility(labels, pd, np.array([1, 1, 1, 0, 0, 0, 0, 1, 0.0])) > 0
    True
    >>> credibility(labels, pd, np.array([1, 0, 0, 0, 1, 0, 0, 0, 1.0])) is None
    True
    """
    known = (labels >= 0) & np.isfinite(outcome) & np.isfinite(pd)
    lab = labels[known]
    e = outcome[known] - pd[known]
    n = np.bincount(lab).astype(np.float64)
    used = n > 0
    if used.sum() < 2 or (n[used] - 1).sum() <= 0:
        return None
    r = np.bincount(lab, weights=e) / np.maximum(n, 1)
    within = float(((e - r[lab]) ** 2).sum() / (n[used] - 1).sum())
    total = n.sum()
    between = float((n * (r - e.mean()) ** 2).sum()) - (used.sum() - 1) * within
    tau2 = between / (total - float((n**2).sum()) / total)
    if not tau2 > 0:
        return None
    return float(within / tau2) if within > 0 else 0.0


def credible_group_pd(labels: np.ndarray, pd: np.ndarray, outcome: np.ndarray,
                      kappa: float | None) -> np.ndarray:
    r"""(C,) group PD: the mean PD of each cluster's members, moved by how far its members
    with a known ``outcome`` fell from their PDs, as much as their number ``n_c``
    against ``kappa`` (:func:`credibility`) allows, on [0, 1]:

    .. math::
        \text{group PD}_c = \frac{1}{|c|} \sum_{i \in c} pd_i
          + \frac{\sum_{i \in c, y_i \text{ known}} (y_i - pd_i)}{n_c + \kappa}

    ``kappa`` None: the plain mean.

    >>> labels, pd = np.array([0, 0, 1, 1]), np.array([0.1, 0.1, 0.1, 0.1])
    >>> credible_group_pd(labels, pd, np.array([1.0, np.nan, 0.0, np.nan]), 1.0).round(3).tolist()
    [0.55, 0.05]
    >>> credible_group_pd(labels, pd, np.array([1.0, np.nan, 0.0, np.nan]), None).tolist()
    [0.1, 0.1]
    """
    mean = cluster_means(labels, pd)
    if kappa is None:
        return mean
    known = (labels >= 0) & np.isfinite(outcome)
    lab = labels[known]
    n = np.bincount(lab, minlength=mean.size)
    miss = np.bincount(lab, weights=outcome[known] - pd[known], minlength=mean.size)
    move = np.divide(miss, n + kappa, out=np.zeros(mean.size), where=n > 0)
    return np.clip(mean + move, 0.0, 1.0)


def dependency(trade: list[sp.spmatrix], ties: sp.spmatrix | None = None,
               tie_weight: float = 0.25) -> sp.csr_matrix:
    """``D[j, k]``: the share of ``j``'s business that depends on ``k``.

    ``trade`` are directed (M, M) amount matrices (``A[s, t]``: ``s`` sells to / is paid
    by ``t``); each is read both ways, so ``j`` depends on its suppliers by the share
    of its purchases they carry and on its buyers by the share of its sales. ``ties``
    (symmetric, e.g. a shared owner or bank account: a common fate) add ``tie_weight``
    spread over each merchant's ties. Rows are then divided by their number of
    non-empty parts, so each row sums to at most 1.
    """
    parts: list[sp.csr_matrix] = []
    for a in trade:
        a = sp.csr_matrix(a, dtype=np.float64)
        parts.append(_row_share(a))        # j's sales carried by each buyer k
        parts.append(_row_share(a.T.tocsr()))  # j's purchases carried by each supplier k
    if ties is not None:
        t = sp.csr_matrix(ties, dtype=np.float64)
        t.setdiag(0)
        t.eliminate_zeros()
        parts.append(_row_share(t) * tie_weight)
    if not parts:
        raise ValueError("dependency needs at least one trade or ties matrix")
    total = parts[0]
    present = (np.asarray(parts[0].sum(axis=1)).ravel() > 0).astype(float)
    for p in parts[1:]:
        total = total + p
        present += np.asarray(p.sum(axis=1)).ravel() > 0
    scale = sp.diags(1.0 / np.maximum(present, 1.0))
    return sp.csr_matrix(scale @ total)


def _row_share(a: sp.csr_matrix) -> sp.csr_matrix:
    rows = np.asarray(a.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(np.where(rows > 0, 1.0 / np.where(rows > 0, rows, 1), 0.0))
                         @ a)


def key_members(members: np.ndarray, pd: np.ndarray, dep: sp.csr_matrix,
                top: int = 3) -> np.ndarray:
    """Positions of the ``top`` members (of ``members``) whose failure hurts most.

    Harm of ``k`` = ``sum_{j in group, j != k} (1 - pd_j) D[j, k]``; ties by ``pd_k``.
    """
    sub = dep[members][:, members].toarray()
    np.fill_diagonal(sub, 0.0)
    harm = ((1 - pd[members])[:, None] * sub).sum(axis=0)
    order = np.lexsort((-pd[members], -harm))
    return members[order[:top]]


def what_if(members: np.ndarray, pd: np.ndarray, dep: sp.csr_matrix, failed: int,
            contagion: float = 0.5) -> float:
    """The group PD (mean member PD) if member ``failed`` (a position) defaults."""
    shocked = pd[members].astype(float).copy()
    exposure = dep[members][:, [failed]].toarray().ravel()
    shocked = 1 - (1 - shocked) * (1 - np.clip(contagion * exposure, 0, 1))
    shocked[members == failed] = 1.0
    return float(shocked.mean())


def top_links(labels: np.ndarray, score: np.ndarray, kinds: dict[str, sp.spmatrix],
              top: int = 5) -> dict[int, list[tuple[int, int, str, float]]]:
    """The strongest internal links of each cluster: ``{label: [(i, j, kind, w), ...]}``.

    A link's weight is ``A_ij * sqrt(s_i * s_j)`` for its kind's strength ``A`` and the
    members' ring scores ``s``: the links the suspicion rests on, strongest first; a
    pair linked by several kinds appears once per kind.
    """
    found: dict[int, list[tuple[float, int, int, str]]] = {}
    root = np.sqrt(np.clip(score, 0, None))
    for name, a in kinds.items():
        a = sp.csr_matrix(a)
        # A directed kind counts both directions of a pair; a symmetric one (shared
        # identifiers, shared payers) already holds the pair's weight on both sides.
        both = a if (a != a.T).nnz == 0 else a + a.T
        coo = sp.triu(both, k=1).tocoo()
        same = (labels[coo.row] == labels[coo.col]) & (labels[coo.row] >= 0)
        rows, cols, vals = coo.row[same], coo.col[same], coo.data[same]
        weight = vals * root[rows] * root[cols]
        for i, j, w in zip(rows.tolist(), cols.tolist(), weight.tolist(), strict=True):
            found.setdefault(int(labels[i]), []).append((w, i, j, name))
    return {c: [(i, j, k, w) for w, i, j, k in sorted(v, key=lambda x: -x[0])[:top]]
            for c, v in found.items()}
