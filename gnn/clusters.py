"""Clusters: groups of merchants, every merchant in at most one, with ids that persist.

Two kinds of group are wanted, and Louvain on the whole graph finds neither well (it
groups towns):

- **suspicious groups** (rings): merchants that the node scorer finds suspicious,
  joined by the links between them, and kept where they persist over pools of
  candidates of several sizes (:func:`stable_groups`). The links (shared identifiers,
  merchant-to-merchant payments, supply, shared payers) decide who belongs together;
  the scores decide which links to follow, so a ring is cut out of the town around
  it.
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

__all__ = ["POOL_SHARES", "assemble", "cluster_ids", "core", "members", "stable_groups",
           "suspicious_groups"]

POOL_SHARES: tuple[float, ...] = tuple(round(float(s), 5) for s in np.geomspace(0.004, 0.05, 12))
"""The candidate pools :func:`stable_groups` compares: 0.4% to 5% of merchants, most
suspicious first, each about 1.26 times the one before."""


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
    candidates, sub = _pool_core(sp.csr_matrix(adjacency), np.flatnonzero(score >= min_score),
                                 min_strength)
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


def stable_groups(adjacency: sp.spmatrix, score: np.ndarray, *,
                  shares: Sequence[float] = POOL_SHARES, min_strength: float = 1.0,
                  max_size: int = 40) -> np.ndarray:
    """Groups of suspicious merchants that persist as the pool of candidates grows.

    One pool of candidates is a bet on how many merchants are in rings, and the best
    bet differs from graph to graph and from ring to ring: a ring whose members all
    score high is whole in a small pool and merged with its honest neighbours in a
    large one; a ring with a weak member is whole only in a larger pool. So each pool
    of ``shares`` (the ``share`` of merchants with the highest ``score``) is taken in
    turn, and in each the weighted core (:func:`core`, ``min_strength``) and its
    connected components, as in :func:`suspicious_groups`. Pools nest, so their
    components do: from the largest pool to the smallest, a component either keeps
    one part of two merchants or more (the same group, shrinking), splits into
    several (each a new group), or vanishes. A group's *stability* is the sum over the
    pools it lives in of its size times ``log(next share / share)``; a group is kept
    when its stability is at least that of the groups kept below it, and it has at
    most ``max_size`` members (excess of mass, as HDBSCAN chooses its clusters over
    density levels: Campello, Moulavi and Sander, PAKDD 2013). A group's members are
    the merchants in it in at least half of the pools it lives in (HDBSCAN's
    membership strength of at least 0.5), so a shop that joins only the largest of
    them, tied to the ring by trading with it, stays out.

    Returns
    -------
    (M,) int64: group number 0, 1, ... (in order of first member) or -1.

    >>> # A triangle of suspicious shops (0, 1, 2); shop 3 trades with two of them and
    >>> # with two honest shops (4, 5). Pools of 3, 3 and 6 shops: 3 to 5 are in the
    >>> # group in one pool of the three it lives in.
    >>> a = sp.csr_matrix(np.array([[0, 1, 1, 1, 0, 0], [1, 0, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0],
    ...                             [1, 1, 0, 0, 1, 1], [0, 0, 0, 1, 0, 1], [0, 0, 0, 1, 1, 0.]]))
    >>> score = np.array([0.9, 0.9, 0.8, 0.3, 0.2, 0.2])
    >>> stable_groups(a, score, shares=(0.5, 0.55, 1.0)).tolist()
    [0, 0, 0, -1, -1, -1]
    >>> suspicious_groups(a, score, min_score=0.1).tolist()  # the largest pool alone
    [0, 0, 0, 0, 0, 0]
    """
    n = score.shape[0]
    shares = sorted(shares)
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    a = sp.csr_matrix(adjacency)
    ratios = np.asarray(shares[1:]) / np.asarray(shares[:-1])
    steps = np.log(np.r_[ratios, ratios[-1:]] if ratios.size else [np.e])
    lives: list[dict[int, np.ndarray]] = []  # per group: level -> its members there
    parent: list[int] = []
    alive: dict[int, np.ndarray] = {}
    for level in range(len(shares) - 1, -1, -1):
        found = _pool_parts(a, order[:max(2, round(shares[level] * n))], min_strength)
        owner = np.full(n, -1, dtype=np.int64)
        for g, m in alive.items():
            owner[m] = g
        by_owner: dict[int, list[np.ndarray]] = {}
        for m in found:
            by_owner.setdefault(int(owner[m[0]]), []).append(m)
        alive = {}
        for g, pieces in by_owner.items():
            if g >= 0 and len(pieces) == 1:
                lives[g][level] = alive[g] = pieces[0]
                continue
            for m in pieces:
                lives.append({level: m})
                parent.append(g)
                alive[len(lives) - 1] = m
    return _excess_of_mass(lives, parent, steps, n, max_size)


def _pool_core(adjacency: sp.csr_matrix, pool: np.ndarray,
               min_strength: float) -> tuple[np.ndarray, sp.csr_matrix]:
    """The weighted core (:func:`core`) of ``pool`` (sorted positions): its merchants
    and the links among them."""
    sub = adjacency[pool][:, pool]
    kept = core(sub, min_strength)
    return pool[kept], sub[kept][:, kept]


def _pool_parts(adjacency: sp.csr_matrix, pool: np.ndarray,
                min_strength: float) -> list[np.ndarray]:
    """The merchants (sorted positions) of each connected part of two or more of the
    weighted core of ``pool``."""
    pool, sub = _pool_core(adjacency, np.sort(pool), min_strength)
    if pool.size < 2:
        return []
    _, component = connected_components(sub, directed=False)
    return [pool[p] for p in parts(component) if p.size >= 2]


def _excess_of_mass(lives: list[dict[int, np.ndarray]], parent: list[int],
                    steps: np.ndarray, n: int, max_size: int) -> np.ndarray:
    """Labels of the groups :func:`stable_groups` keeps (its docstring); a group's
    children come after it in ``lives``."""
    size = len(lives)
    held: list[np.ndarray] = []
    stability = np.zeros(size)
    for g, levels in enumerate(lives):
        seen, times = np.unique(np.concatenate(list(levels.values())), return_counts=True)
        held.append(seen[2 * times >= len(levels)])
        stability[g] = sum(m.size * steps[level] for level, m in levels.items())
    below = np.zeros(size)  # what the best choice under each group holds
    chosen = np.zeros(size, dtype=bool)
    for g in range(size - 1, -1, -1):
        fits = 2 <= held[g].size <= max_size
        if fits and stability[g] >= below[g]:
            chosen[g], best = True, stability[g]
        else:
            best = below[g]
        if parent[g] >= 0:
            below[parent[g]] += best
    # A group chosen under a chosen group gives way to it.
    covered = np.zeros(size, dtype=bool)
    for g in range(size):
        p = parent[g]
        covered[g] = p >= 0 and (covered[p] or chosen[p])
    labels = np.full(n, -1, dtype=np.int64)
    kept = sorted((held[g] for g in range(size) if chosen[g] and not covered[g]),
                  key=lambda m: int(m[0]))
    for number, m in enumerate(kept):
        labels[m] = number
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
