"""Clusters: groups of merchants, every merchant in at most one, with ids that persist.

Two kinds of group are wanted, and Louvain on the whole graph finds neither well (it
groups towns):

- **suspicious groups** (rings): merchants that the node scorer finds suspicious,
  joined by the links between them, weighted by how suspicious both ends are. The
  links (shared identifiers, merchant-to-merchant payments, supply, shared payers)
  decide who belongs together; the scores decide which links to follow, so a ring is
  cut out of the town around it.
- **business groups** (for group credit): the communities of the merchant projection
  (Louvain over flows and shared identifiers, in Neo4j with GDS where the server has
  it, ``graph/gds.py``), for the merchants no suspicious group took.

Ids persist: a new cluster takes the id of the previous cluster it overlaps best
(Jaccard >= 0.5, each previous id used once); others get an id derived from their
members, so the same partition always gets the same ids.

>>> import scipy.sparse as sp
>>> a = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0.]]))
>>> suspicious_groups(a, np.array([0.9, 0.8, 0.9, 0.01]), min_score=0.2).tolist()
[0, 0, -1, -1]
>>> assemble(np.array([0, 0, -1, -1]), np.array([5, 5, 7, 7])).tolist()
[0, 0, 1, 1]
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["assemble", "cluster_ids", "core", "members", "suspicious_groups"]


def suspicious_groups(adjacency: sp.spmatrix, score: np.ndarray, *, min_score: float = 0.2,
                      min_strength: float = 1.0, max_size: int = 40,
                      seed: int = 0) -> np.ndarray:
    """Groups of suspicious merchants joined by links between them.

    Merchants with ``score >= min_score`` are candidates. A candidate whose links to
    the other candidates add up to less than ``min_strength`` (``sum_j A_ij``; 1 is one
    trade link, or one identifier that only two merchants share) is dropped, and so on
    until every one left has that much (a weighted core, :func:`core`): an honest shop
    that scores high for trading with a ring, tied to it only by customers who also
    pay many other shops, would otherwise join it, and chains of such ties merge rings
    into towns. An identifier shared by ``k`` merchants gives each pair ``1 / (k - 1)``,
    so it holds a member only when the others sharing it are candidates too. The link
    between the candidates left weighs ``A_ij * sqrt(s_i * s_j)``. Connected groups of
    at least two are groups; one larger than ``max_size`` (rings are small, a town of
    mildly suspicious shops is not a ring) is split by Louvain on those weights, and a
    part still larger is left ungrouped.

    Parameters
    ----------
    adjacency : (M, M) sparse, symmetric, non-negative link strengths.
    score : (M,) ring probabilities.

    Returns
    -------
    (M,) int64: group number 0, 1, ... or -1 for merchants in no group.
    """
    n = score.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    candidates = np.flatnonzero(score >= min_score)
    sub = sp.csr_matrix(adjacency)[candidates][:, candidates]
    kept = core(sub, min_strength)
    candidates, sub = candidates[kept], sub[kept][:, kept]
    if candidates.size < 2:
        return labels
    root = np.sqrt(score[candidates])
    weights = sp.csr_matrix(sub.multiply(root[:, None]).multiply(root[None, :]))
    weights.eliminate_zeros()
    _, component = connected_components(weights, directed=False)
    next_label = 0
    for part in parts(component):
        if part.size < 2:
            continue
        pieces = [part] if part.size <= max_size else _louvain(weights, part, seed)
        for piece in pieces:
            if 2 <= piece.size <= max_size:
                labels[candidates[piece]] = next_label
                next_label += 1
    return labels


def core(adjacency: sp.spmatrix, min_strength: float) -> np.ndarray:
    """The weighted core: ``(n,)`` bool, the nodes left when nodes whose links to the
    nodes left add up to less than ``min_strength`` are removed, repeatedly.

    >>> path = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, .5], [0, .5, 0]]))
    >>> core(path, 1.0).tolist()
    [True, True, False]
    >>> core(path, 1.5).tolist()
    [False, False, False]
    """
    a = sp.csr_matrix(adjacency, dtype=np.float64)
    a = a - sp.diags(a.diagonal())  # a link with oneself keeps no one in a group
    a.data[~np.isfinite(a.data)] = 0.0  # nor does a strength that is no number
    alive = np.ones(a.shape[0], dtype=bool)
    # Strengths are sums of 1/(k - 1) shares: seven merchants on one phone hold
    # 0.999..., which is one link.
    bar = min_strength - 1e-9
    while True:
        strength = a @ alive.astype(np.float64)
        weak = alive & (strength < bar)
        if not weak.any():
            return alive
        alive &= ~weak


def parts(component: np.ndarray) -> list[np.ndarray]:
    """Positions of each value of ``component`` (``(M,)`` ints), smallest value first,
    positions in order within each.

    >>> [p.tolist() for p in parts(np.array([2, -1, 2, 0]))]
    [[1], [3], [0, 2]]
    """
    order = np.argsort(component, kind="stable")
    bounds = np.flatnonzero(np.diff(component[order])) + 1
    return np.split(order, bounds)


def _louvain(weights: sp.csr_matrix, part: np.ndarray, seed: int) -> list[np.ndarray]:
    import networkx as nx

    sub = sp.coo_matrix(weights[part][:, part])
    g = nx.Graph()
    g.add_nodes_from(range(part.size))
    g.add_weighted_edges_from(zip(sub.row.tolist(), sub.col.tolist(), sub.data.tolist(),
                                  strict=True))
    found = nx.community.louvain_communities(g, weight="weight", seed=seed)
    return [part[np.array(sorted(c), dtype=np.int64)] for c in
            sorted(found, key=lambda c: min(c))]


def assemble(suspicious: np.ndarray, communities: np.ndarray, *,
             adjacency: sp.spmatrix | None = None, max_size: int = 200) -> np.ndarray:
    """One label per merchant: suspicious groups first, then business groups.

    ``communities`` (M,) are community numbers of the whole projection (-1 for none);
    a community's merchants that no suspicious group took form a business group when
    there are between 2 and ``max_size`` of them (a community of thousands is a town,
    not a group whose members share a fate). With ``adjacency`` (M, M), those merchants
    are first split into the parts their own links join (a community's members whose
    links ran through a suspicious group share nothing left). Returns (M,) int64
    labels 0, 1, ... in order of first appearance, -1 for merchants in no cluster.
    """
    labels = np.where(suspicious >= 0, suspicious, -1).astype(np.int64)
    free = (suspicious < 0) & (communities >= 0)
    if adjacency is not None and free.any():
        idx = np.flatnonzero(free)
        sub = sp.csr_matrix(adjacency)[idx][:, idx]
        coo = sub.tocoo()
        keep = communities[idx][coo.row] == communities[idx][coo.col]
        same = sp.csr_matrix((np.ones(int(keep.sum())), (coo.row[keep], coo.col[keep])),
                             shape=sub.shape)
        _, part = connected_components(same, directed=False)
        communities = communities.copy()
        communities[idx] = part
    offset = int(suspicious.max()) + 1 if (suspicious >= 0).any() else 0
    values, inverse, counts = np.unique(communities[free], return_inverse=True,
                                        return_counts=True)
    keep = (counts >= 2) & (counts <= max_size)
    renumber = np.full(values.size, -1, dtype=np.int64)
    renumber[keep] = offset + np.arange(int(keep.sum()))
    labels[free] = renumber[inverse]
    # Renumber in order of first appearance, so equal partitions get equal labels.
    _, first = np.unique(labels, return_index=True)
    order = [int(labels[i]) for i in np.sort(first) if labels[i] >= 0]
    lookup = np.full(int(labels.max()) + 2 if labels.size else 1, -1, dtype=np.int64)
    lookup[order] = np.arange(len(order))
    return np.where(labels >= 0, lookup[labels], -1)


def members(labels: np.ndarray, merchant_ids: Sequence[str]) -> list[list[str]]:
    """Member ids of each cluster, ``members(labels, ids)[c]`` for label ``c``."""
    ids = np.asarray(merchant_ids, dtype=object)
    out: list[list[str]] = [[] for _ in range(int(labels.max()) + 1 if labels.size else 0)]
    for i in np.flatnonzero(labels >= 0):
        out[labels[i]].append(ids[i])
    return out


def cluster_ids(groups: Sequence[Sequence[str]],
                previous: Mapping[str, Sequence[str]] | None = None,
                *, overlap: float = 0.5) -> list[str]:
    """An id per group: the best-overlapping previous id, or one derived from members.

    A previous cluster passes its id to the new group with which it has the highest
    Jaccard similarity, if that is at least ``overlap``; pairs are matched greedily,
    best first, each id used once. Other groups get ``"C" + sha1(sorted members)[:12]``.

    >>> cluster_ids([["a", "b", "c"]], {"C-old": ["a", "b", "c", "d"]})
    ['C-old']
    >>> cluster_ids([["a", "b"]], {"C-old": ["a", "x", "y", "z"]})[0].startswith("C")
    True
    """
    new_sets = [frozenset(g) for g in groups]
    ids: list[str | None] = [None] * len(new_sets)
    if previous:
        owner: dict[str, list[int]] = {}
        for i, s in enumerate(new_sets):
            for m in s:
                owner.setdefault(m, []).append(i)
        pairs = []
        for old_id, old_members in previous.items():
            old = frozenset(old_members)
            shared: dict[int, int] = {}
            for m in old:
                for i in owner.get(m, ()):
                    shared[i] = shared.get(i, 0) + 1
            for i, k in shared.items():
                jaccard = k / (len(old) + len(new_sets[i]) - k)
                if jaccard >= overlap:
                    pairs.append((-jaccard, old_id, i))
        used: set[str] = set()
        for _, old_id, i in sorted(pairs):
            if ids[i] is None and old_id not in used:
                ids[i] = old_id
                used.add(old_id)
    return [given or _derived(s) for given, s in zip(ids, new_sets, strict=True)]


def _derived(group: frozenset[str]) -> str:
    digest = hashlib.sha1("\x1f".join(sorted(group)).encode("utf-8")).hexdigest()
    return "C" + digest[:12]
