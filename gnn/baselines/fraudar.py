"""FRAUDAR: camouflage-resistant dense blocks of payers and payees, by greedy peeling.

Hooi, Song, Beutel, Shah, Shin, Faloutsos, *FRAUDAR: Bounding Graph Fraud in the Face of
Camouflage*, KDD 2016. On the bipartite graph payer x payee with edge weights

    w_ij = 1 / log(d_j + c)        (d_j: number of payers of payee j; c = 5)

the suspiciousness of a node set ``S = A ∪ B`` (payers ``A``, payees ``B``) is the
density ``g(S) = f(S) / |S|`` with ``f(S) = sum_{i in A, j in B} w_ij``. Greedy peeling
removes, one at a time, the node whose removal lowers ``f`` least (the smallest weighted
degree among the nodes left) and keeps the densest set seen; it is within a factor 2 of
the densest set. Down-weighting popular payees is what resists camouflage: fraudsters
who also pay honest, busy shops add edges of little weight there, while a crew paying
the same few small shops forms a block of heavy edges. Several blocks are found as the
paper suggests: remove the edges inside each block found and peel again.

Here payers are consumers and merchants (a merchant paying a merchant; a supplier
invoicing a buyer counts as paying it), payees are merchants, from ``PAID`` and
``SUPPLIES``. A merchant's score is the density of the densest block it is in, on
either side; a block's cluster is its merchants, payers and payees.

>>> import scipy.sparse as sp
>>> m = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.]]))
>>> [(b.rows.tolist(), b.cols.tolist()) for b in fraudar(m, blocks=1)]
[([0, 1], [0, 1])]
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from guanxi.gnn.baselines import BaselineResult
from guanxi.graph.export import EdgeType, Exported

__all__ = ["Block", "column_weights", "fraudar", "fraudar_baseline", "payer_matrix", "peel"]


_UNIT = float(2**32)
"""Peeling weights are whole multiples of ``1 / _UNIT`` (see :func:`peel`)."""

PAYER_RELATIONS: tuple[EdgeType, ...] = (("Consumer", "PAID", "Merchant"),
                                         ("Merchant", "PAID", "Merchant"),
                                         ("Merchant", "SUPPLIES", "Merchant"))
"""Relations whose source pays (or invoices) the target merchant."""


@dataclass(frozen=True)
class Block:
    """A dense block: row (payer) and column (payee) positions and its density ``g``."""

    rows: np.ndarray
    cols: np.ndarray
    density: float


def column_weights(matrix: sp.spmatrix, c: float = 5.0) -> sp.csr_matrix:
    """The binary pattern of ``matrix`` with ``w_ij = 1 / log(d_j + c)``.

    ``d_j`` is the number of non-zeros of column ``j``; ``c`` > 1 keeps every weight
    finite and positive (the paper's ``c = 5``).

    >>> column_weights(sp.csr_matrix(np.array([[1, 3], [0, 2.]]))).toarray().round(3)
    array([[0.558, 0.514],
           [0.   , 0.514]])
    """
    if c <= 1:
        raise ValueError(f"c must be greater than 1, not {c}")
    pattern = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    pattern.eliminate_zeros()
    pattern.data[:] = 1.0
    degree = np.asarray(pattern.sum(axis=0)).ravel()
    pattern.data *= (1.0 / np.log(degree + c))[pattern.indices]
    return pattern


def peel(weights: sp.spmatrix) -> Block:
    """The densest block greedy peeling finds in one weighted bipartite matrix.

    Rows and columns are one node set of size ``R + C``; each step removes the node with
    the smallest weighted degree among those left (a binary heap with lazy updates:
    a changed degree is pushed again and stale entries are skipped when popped), so the
    cost is ``O(E log E)``. Nodes without edges never belong to the best block and are
    left out from the start. Weights are rounded to multiples of ``2^-32`` first, so
    degrees are exact integer sums and ties go to the lower node number, rows before
    columns, on any machine.

    Shapes: ``weights`` ``(R, C)`` non-negative -> ``Block(rows (|A|,), cols (|B|,))``.
    An empty matrix gives an empty block of density 0.
    """
    weights = sp.csr_matrix(weights, dtype=np.float64)
    n_rows, n_cols = weights.shape
    n = n_rows + n_cols
    if not weights.nnz:
        return Block(np.empty(0, np.int64), np.empty(0, np.int64), 0.0)
    both = sp.bmat([[None, weights], [weights.T, None]], format="csr", dtype=np.float64)
    both.eliminate_zeros()
    # Weights as integers in units of 2^-32: degrees are then exact sums (no drift
    # after a million subtractions), and a heap entry is one int, degree << bits | node,
    # which the heap compares several times faster than a (degree, node) tuple.
    both = sp.csr_matrix((np.rint(both.data * _UNIT).astype(np.int64), both.indices,
                          both.indptr), shape=both.shape)
    both.eliminate_zeros()  # a weight under 2^-33 is no edge
    bits = max(n - 1, 1).bit_length()
    degree = np.asarray(both.sum(axis=1)).ravel().astype(np.int64)
    active = degree > 0
    if not active.any():
        return Block(np.empty(0, np.int64), np.empty(0, np.int64), 0.0)
    # Python lists: the loop below touches single elements, which numpy makes slow.
    indptr, indices, data = both.indptr.tolist(), both.indices.tolist(), both.data.tolist()
    deg = degree.tolist()
    heap = [(d << bits) | u for u, d in enumerate(deg) if d]
    heapq.heapify(heap)
    removed = bytearray(n)
    mask = (1 << bits) - 1
    total, size = sum(deg) // 2, int(active.sum())
    best, best_step, order = total / size, 0, []
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        entry = pop(heap)
        u = entry & mask
        if removed[u] or entry >> bits != deg[u]:
            continue  # removed already, or a stale degree
        removed[u] = 1
        order.append(u)
        total -= deg[u]
        size -= 1
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            if not removed[v]:
                d = deg[v] - data[k]
                deg[v] = d
                if d:
                    push(heap, (d << bits) | v)
                else:
                    # Degree 0 (a consumer whose only shop just went): it would be
                    # popped next at no cost to f, and the density only rises while
                    # such nodes go, so it leaves now without a trip through the heap.
                    removed[v] = 1
                    order.append(v)
                    size -= 1
        if size and total / size > best:
            best, best_step = total / size, len(order)
    keep = active.copy()
    keep[np.asarray(order[:best_step], dtype=np.int64)] = False
    nodes = np.flatnonzero(keep)
    return Block(nodes[nodes < n_rows], nodes[nodes >= n_rows] - n_rows, best / _UNIT)


def fraudar(matrix: sp.spmatrix, blocks: int = 10, c: float = 5.0) -> list[Block]:
    """Up to ``blocks`` dense blocks of a payer x payee matrix, in the order found.

    The weights are :func:`column_weights` of the whole matrix (computed once, as in
    the paper); after each block its inner edges are removed and peeling starts again
    on what is left. Stops early when no edge is left. Deterministic: no randomness.

    Parameters
    ----------
    matrix : (R, C) sparse; any non-zero is an edge (amounts are not used).
    blocks : int, at least 1.
    c : float, the weighting constant (> 1).

    Returns
    -------
    list of :class:`Block`, row and column positions into ``matrix``.
    """
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1, not {blocks}")
    weights = column_weights(matrix, c).tocoo()
    rows, cols, data = weights.row, weights.col, weights.data
    found: list[Block] = []
    for _ in range(blocks):
        if not len(data):
            break
        block = peel(sp.csr_matrix((data, (rows, cols)), shape=weights.shape))
        found.append(block)
        in_rows = np.zeros(weights.shape[0], dtype=bool)
        in_cols = np.zeros(weights.shape[1], dtype=bool)
        in_rows[block.rows] = True
        in_cols[block.cols] = True
        outside = ~(in_rows[rows] & in_cols[cols])
        rows, cols, data = rows[outside], cols[outside], data[outside]
    return found


def payer_matrix(ex: Exported, relations: Sequence[EdgeType] = PAYER_RELATIONS
                 ) -> tuple[sp.csr_matrix, np.ndarray]:
    """The binary payer x payee matrix of an export.

    Rows are the consumers, then the merchants (as payers), in ``ex.ids`` order; columns
    the merchants. A pair linked by several relations is one edge.

    Returns
    -------
    ``(matrix (|V_Consumer| + M, M) float64, row_merchant (|V_Consumer| + M,) int64)``:
    ``row_merchant[r]`` is the merchant position of row ``r``, -1 for a consumer.
    """
    n_merchants = len(ex.ids.get("Merchant", ()))
    n_consumers = len(ex.ids.get("Consumer", ()))
    offset = {"Consumer": 0, "Merchant": n_consumers}
    rows, cols = [], []
    for key in relations:
        source, _, target = key
        if source not in offset or target != "Merchant":
            raise ValueError(f"{'-'.join(key)} is not a payer -> merchant relation")
        if key not in ex.data.edge_types:
            continue  # not loaded: the paper's graph is whatever flows exist
        edge_index = ex.data[key].edge_index.numpy()
        rows.append(edge_index[0] + offset[source])
        cols.append(edge_index[1])
    shape = (n_consumers + n_merchants, n_merchants)
    row = np.concatenate(rows) if rows else np.empty(0, np.int64)
    col = np.concatenate(cols) if cols else np.empty(0, np.int64)
    matrix = sp.csr_matrix((np.ones(len(row)), (row, col)), shape=shape)
    matrix.data[:] = 1.0  # duplicates were summed
    row_merchant = np.concatenate([np.full(n_consumers, -1), np.arange(n_merchants)])
    return matrix, row_merchant.astype(np.int64)


def fraudar_baseline(ex: Exported, blocks: int = 10, c: float = 5.0,
                     relations: Sequence[EdgeType] = PAYER_RELATIONS) -> BaselineResult:
    """FRAUDAR on an export: merchant scores and the blocks' merchants as clusters.

    ``score_i = max {g(S_b) : merchant i in block b}`` (payer or payee side), 0 outside
    every block; clusters are the blocks' merchant sets ranked by density (a block of
    consumers and a single shop is a cluster of one). Deterministic.
    """
    matrix, row_merchant = payer_matrix(ex, relations)
    ids = ex.ids.get("Merchant", np.empty(0, dtype=object))
    scores = np.zeros(len(ids))
    groups: list[tuple[float, np.ndarray]] = []
    for block in fraudar(matrix, blocks, c):
        members = np.union1d(block.cols, row_merchant[block.rows][row_merchant[block.rows] >= 0])
        scores[members] = np.maximum(scores[members], block.density)
        groups.append((block.density, members))
    groups.sort(key=lambda g: -g[0])  # stable: equal densities keep the order found
    return BaselineResult(scores, [set(ids[m].tolist()) for _, m in groups],
                          np.array([d for d, _ in groups]))
