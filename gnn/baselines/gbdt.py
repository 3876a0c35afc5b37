"""Gradient-boosted trees on own and neighbour-aggregated features: GADBench's baseline.

Tang et al., *GADBench: Revisiting and Benchmarking Supervised Graph Anomaly Detection*,
NeurIPS 2023 Datasets and Benchmarks: tree ensembles on a node's features plus simple
aggregates of its neighbours' (XGB-Graph, RF-Graph) beat fraud-specific GNNs on most of
ten real graphs. Here the trees are LightGBM and the neighbourhoods are the merchant
link matrices of ``gnn/projection.py``: for each link kind ``k`` with 0/1 pattern
``A_k`` and neighbour sets ``N_k(i) = {j : A_k[i, j] != 0}``,

    mean_k(i) = (1 / |N_k(i)|) sum_{j in N_k(i)} x_j,   max_k(i) = max_{j in N_k(i)} x_j,
    deg_k(i) = |N_k(i)|,

zero where ``N_k(i)`` is empty. The credit baseline is the same trees on the merchant's
own features, fit on the merchants with an observed loan outcome.

Scores are **out of fold** for every training row: the training rows are split into
``folds`` stratified folds, each fold is scored by a model that never saw it, and rows
outside training get the mean of the fold models. That matters for PU learning
(unlabelled merchants used as weak negatives, ``baselines.pu_labels``): an in-sample
score would have learned each hidden ring member's own "0". Each fold model stops
early on a stratified fifth of its own training rows, never on the fold it scores.

>>> import scipy.sparse as sp
>>> x = np.array([[1.0], [2.0], [4.0]])
>>> a = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]]))
>>> neighbour_aggregate(x, a).tolist()  # mean, max, degree
[[3.0, 4.0, 2.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from guanxi.gnn.trees import fit_folds

_CHUNK_VALUES = 4_000_000  # max edges x features held at once by the max aggregate

__all__ = ["aggregate_names", "credit_gbdt", "fit_predict_gbdt", "neighbour_aggregate",
           "positive_groups"]

def _as_dict(adjacency: sp.spmatrix | Mapping[str, sp.spmatrix]) -> dict[str, sp.csr_matrix]:
    if isinstance(adjacency, Mapping):
        return {k: sp.csr_matrix(a) for k, a in adjacency.items()}
    return {"": sp.csr_matrix(adjacency)}


def neighbour_aggregate(features: np.ndarray,
                        adjacency: sp.spmatrix | Mapping[str, sp.spmatrix]) -> np.ndarray:
    """Mean and max of each feature over each merchant's neighbours, and its degree.

    Neighbours are the non-zeros of row ``i`` (weights are not used: a link is a link);
    for a directed kind pass ``A`` for out-neighbours and ``A.T`` for in-neighbours as
    two kinds. The merchant's own features are not repeated here: stack them with
    ``np.hstack([features, neighbour_aggregate(features, adjacency)])``.

    Parameters
    ----------
    features : (M, F) float array.
    adjacency : (M, M) sparse, or a mapping of kind name -> (M, M) sparse (in the
        mapping's order).

    Returns
    -------
    ``(M, K (2F + 1))`` float32, per kind: ``F`` means, ``F`` maxima, the degree
    (:func:`aggregate_names` gives the column names).
    """
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be (M, F), not {x.shape}")
    m, f = x.shape
    blocks = []
    for kind, a in _as_dict(adjacency).items():
        if a.shape != (m, m):
            raise ValueError(f"adjacency {kind or ''} is {a.shape}, features have {m} rows")
        pattern = a.copy()
        pattern.eliminate_zeros()
        pattern.sum_duplicates()
        pattern.data = np.ones_like(pattern.data, dtype=np.float32)
        degree = np.diff(pattern.indptr).astype(np.float32)
        has = degree > 0
        mean = np.asarray(pattern @ x) / np.maximum(degree, 1)[:, None]
        peak = np.zeros((m, f), dtype=np.float32)
        starts = pattern.indptr[:-1][has]
        # reduceat over each row's neighbour slice; features in chunks so that
        # |E| x chunk values fit in memory on the largest link kinds.
        step = max(1, _CHUNK_VALUES // max(pattern.nnz, 1))
        for lo in range(0, f, step):
            if pattern.nnz:
                gathered = x[pattern.indices, lo:lo + step]
                peak[has, lo:lo + step] = np.maximum.reduceat(gathered, starts, axis=0)
        blocks += [mean.astype(np.float32), peak, degree[:, None]]
    return np.hstack(blocks) if blocks else np.empty((m, 0), dtype=np.float32)


def aggregate_names(feature_names: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """Column names of :func:`neighbour_aggregate` for a mapping with ``kinds``.

    >>> aggregate_names(["a"], ["phone"])
    ['phone_mean_a', 'phone_max_a', 'phone_degree']
    """
    names: list[str] = []
    for kind in kinds:
        names += [f"{kind}_mean_{n}" for n in feature_names]
        names += [f"{kind}_max_{n}" for n in feature_names]
        names.append(f"{kind}_degree")
    return names


def fit_predict_gbdt(X: np.ndarray, y: np.ndarray, train_mask: np.ndarray, seed: int = 0,
                     *, weight: np.ndarray | None = None, balanced: bool = True,
                     folds: int = 5, groups: np.ndarray | None = None,
                     metric: str = "average_precision", params: Mapping[str, Any] | None = None
                     ) -> np.ndarray:
    """LightGBM probabilities for every row, out of fold for the training rows.

    Class weighting (``balanced``): each training row weighs ``weight_i`` times
    ``W_0 / W_1`` if positive, 1 if negative, ``W_c`` the total weight of class ``c``,
    so both classes weigh the same (scores then rank well but are not calibrated).

    Parameters
    ----------
    X : (N, F) features.
    y : (N,) 0/1 targets; only rows in ``train_mask`` are read.
    train_mask : (N,) bool, the rows to learn from.
    seed : folds, early-stopping split and LightGBM's sampling all derive from it.
    weight : (N,) sample weights (PU: lower for unlabelled), default 1.
    balanced : reweight the classes as above.
    folds : number of cross-fitting folds (>= 2).
    groups : (N,) group ids: rows of a group stay in one fold (no ring spans a split).
    metric : LightGBM metric for early stopping (``average_precision``,
        ``binary_logloss``, ``auc``).
    params : LightGBM parameters overriding the defaults.

    Returns
    -------
    (N,) float64 in [0, 1]. The same seed, data and thread count give the same scores.
    """
    X = np.asarray(X, dtype=np.float32)
    names = [f"f{i}" for i in range(X.shape[1])]
    return fit_folds(X, y, train_mask, names, seed=seed, weight=weight, balanced=balanced,
                     folds=folds, groups=groups, metric=metric, params=params).oof


def positive_groups(adjacency: sp.spmatrix, positive: np.ndarray) -> np.ndarray:
    """Groups for :func:`fit_predict_gbdt`: the connected components that the positive
    rows form among themselves in the link graph; every other row alone.

    Labelled members of one caught ring are linked and near-identical in their
    neighbourhood features: split across folds, one would give the others away, and
    early stopping would reward memorising that ring instead of learning rings. Only
    training labels and links are read, so this is no peek at the truth.

    >>> a = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]))
    >>> positive_groups(a, np.array([True, True, True, False])).tolist()
    [0, 0, 1, 2]
    """
    positive = np.asarray(positive, dtype=bool)
    a = sp.csr_matrix(adjacency)
    a = a + a.T
    inside = sp.diags(positive.astype(float)) @ a @ sp.diags(positive.astype(float))
    _, labels = connected_components(inside, directed=False)
    # Components of non-positive rows are singletons already (no edges kept); renumber
    # in order of first appearance so the numbers say nothing but "same group".
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse]


def credit_gbdt(X: np.ndarray, defaulted: np.ndarray, seed: int = 0, *, folds: int = 5,
                params: Mapping[str, Any] | None = None) -> np.ndarray:
    """The credit baseline: PD of every merchant from its own features.

    Fit on the merchants with an observed outcome (``defaulted`` 0/1; NaN: no loan
    observed), no class reweighting and early stopping on log-loss, so the output is a
    probability of default for the observed population (Brier is meaningful); scored
    out of fold where observed, by the mean of the fold models elsewhere.

    Returns
    -------
    (N,) float64 in [0, 1].
    """
    defaulted = np.asarray(defaulted, dtype=np.float64)
    observed = ~np.isnan(defaulted)
    return fit_predict_gbdt(X, np.nan_to_num(defaulted), observed, seed, balanced=False,
                            folds=folds, metric="binary_logloss", params=params)
