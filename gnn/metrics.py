"""Evaluation metrics: merchant scores against the truth, clusters against true rings.

Plain functions, numpy in and floats out, so that every model and baseline is measured
the same way. Two rules of the evaluation live here as arguments:

- **Only what was not a training label is scored.** Each score metric takes a ``mask``
  (``held_out_mask(merchants.label)``: merchants that were neither ``fraud`` nor
  ``legit``), and :func:`held_out_sets` strips labelled merchants from rings and
  clusters, so a ring the investigators already caught cannot be "recovered".
- **A ring is found when a cluster overlaps it by Jaccard >= 0.5** (the usual threshold
  in community-recovery work; at 0.5 no cluster can match two disjoint rings unless it
  is exactly their union of two equal halves, so a match is essentially one-to-one).

Rows whose outcome ``y`` is NaN (unknown) are left out of every score metric, and a
metric that is undefined on what is left (one class only, fewer than two rows) is NaN,
never a warning or an error, so a summary table can show it as missing.

>>> auprc(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.2]))
1.0
>>> ring_recall_at_k([{"a", "b"}, {"c", "d"}], [{"a", "b", "x"}, {"c", "x", "y"}])
0.5
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = ["RingRecovery", "auprc", "auroc", "brier", "held_out_mask", "held_out_sets",
           "jaccard", "recall_per_typology", "ring_recall_at_k", "ring_recovery",
           "ring_recovery_f1", "spearman"]

TRAINING_LABELS: tuple[str, ...] = ("fraud", "legit")
"""Values of ``merchants.label`` that are training labels; anything else is unlabelled."""

# Jaccard is a ratio of integers, so 2/4 is exactly 0.5; the tolerance only keeps a
# threshold such as 1/3 from failing on its own rounding.
_TOLERANCE = 1e-12


class RingRecovery(NamedTuple):
    """Precision, recall and F1 of predicted clusters against true rings."""

    precision: float
    recall: float
    f1: float


# -- merchant scores ---------------------------------------------------------------------

def _rows(y: np.ndarray, score: np.ndarray, mask: np.ndarray | None
          ) -> tuple[np.ndarray, np.ndarray]:
    """``y`` and ``score`` as float arrays on the masked rows with a known ``y``."""
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError(f"y and score must be 1-d arrays of one length, not {y.shape} "
                         f"and {score.shape}")
    keep = ~np.isnan(y)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != y.shape:
            raise ValueError(f"mask must have the shape of y {y.shape}, not {mask.shape}")
        keep &= mask
    return y[keep], score[keep]


def _two_classes(y: np.ndarray) -> bool:
    return bool(np.any(y == 1) and np.any(y == 0))


def auprc(y: np.ndarray, score: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Area under the precision-recall curve, as average precision.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over thresholds in decreasing score order
    (``sklearn.metrics.average_precision_score``, no interpolation). Chance level is the
    positive share, so it is the metric for rare positives such as ring members.

    Parameters
    ----------
    y : (N,) 0/1 outcomes, NaN where unknown (left out).
    score : (N,) higher means more likely positive.
    mask : (N,) bool, optional; only rows where it is true are scored.

    Returns
    -------
    float in [0, 1]; NaN without both classes.

    Examples
    --------
    Positives ranked 1st and 3rd: precision 1 at recall 1/2, 2/3 at recall 1.

    >>> round(auprc(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])), 4)
    0.8333
    >>> auprc(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.7]), mask=np.array([1, 1, 0]))
    1.0
    """
    y, score = _rows(y, score, mask)
    return float(average_precision_score(y, score)) if _two_classes(y) else float("nan")


def auroc(y: np.ndarray, score: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Area under the ROC curve: ``P(score(pos) > score(neg)) + 0.5 P(tie)``.

    Arguments as for :func:`auprc`; NaN without both classes.

    >>> auroc(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]))
    0.75
    """
    y, score = _rows(y, score, mask)
    return float(roc_auc_score(y, score)) if _two_classes(y) else float("nan")


def brier(y: np.ndarray, p: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Brier score ``mean((p_i - y_i)^2)`` of probabilities ``p``: lower is better.

    It rewards calibration as well as ranking (a lender reads ``p`` as a PD). Arguments
    as for :func:`auprc`; NaN when no row is left.

    >>> round(brier(np.array([1, 0, np.nan]), np.array([0.8, 0.4, 0.5])), 12)
    0.1
    """
    y, p = _rows(y, p, mask)
    if not len(y):
        return float("nan")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("brier needs probabilities in [0, 1]")
    return float(np.mean((p - y) ** 2))


def spearman(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Spearman rank correlation: Pearson correlation of the ranks (ties averaged).

    Rows where either value is NaN are left out; NaN when fewer than two rows are left
    or one side is constant.

    >>> round(spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 40, 30])), 12)
    0.8
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    b, a = _rows(b, a, mask)  # drops NaN in b; then NaN in a:
    keep = ~np.isnan(a)
    a, b = a[keep], b[keep]
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def held_out_mask(labels: Iterable[object]) -> np.ndarray:
    """True for merchants that were not training labels (neither ``fraud`` nor ``legit``).

    Pass ``merchants.label`` of the export; evaluate every score on this mask.

    >>> import pandas as pd
    >>> held_out_mask(["fraud", None, "legit", "", pd.NA]).tolist()
    [False, True, False, True, True]
    """
    # isinstance first: `pd.NA in (...)` raises instead of answering.
    return np.array([not (isinstance(label, str) and label in TRAINING_LABELS)
                     for label in labels], dtype=bool)


# -- rings and clusters ------------------------------------------------------------------

def jaccard(a: set[str], b: set[str]) -> float:
    """``|a ∩ b| / |a ∪ b|``; 0 for two empty sets.

    >>> jaccard({"a", "b"}, {"b", "c", "d", "a"})
    0.5
    """
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def held_out_sets(sets: Iterable[set[str]], exclude: Iterable[str]) -> list[set[str]]:
    """The sets without the ``exclude`` ids (training labels), empty ones dropped,
    order kept.

    Use it on the true rings and on the ranked clusters alike, so a caught ring is
    neither a target nor a free hit.

    >>> [sorted(s) for s in held_out_sets([{"a", "b"}, {"c"}, {"d", "e"}], ["a", "c"])]
    [['b'], ['d', 'e']]
    """
    gone = set(exclude)
    kept = (set(s) - gone for s in sets)
    return [s for s in kept if s]


def _matches(rings: Sequence[set[str]], clusters: Sequence[set[str]], threshold: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Which rings and which clusters have a partner with Jaccard >= ``threshold``.

    Intersections are counted through an index member -> ring (a merchant is in at most
    one true ring), so the cost is the total size of the clusters, not rings x clusters.
    """
    ring_of: dict[str, int] = {}
    for r, ring in enumerate(rings):
        for member in ring:
            ring_of[member] = r
    ring_found = np.zeros(len(rings), dtype=bool)
    cluster_hit = np.zeros(len(clusters), dtype=bool)
    for c, cluster in enumerate(clusters):
        overlap: dict[int, int] = {}
        for member in cluster:
            r = ring_of.get(member)
            if r is not None:
                overlap[r] = overlap.get(r, 0) + 1
        for r, common in overlap.items():
            union = len(rings[r]) + len(cluster) - common
            if common / union >= threshold - _TOLERANCE:
                ring_found[r] = True
                cluster_hit[c] = True
    return ring_found, cluster_hit


def _checked(rings: Sequence[set[str]], threshold: float) -> list[set[str]]:
    if not 0 < threshold <= 1:
        raise ValueError(f"jaccard must be in (0, 1], not {threshold}")
    rings = [set(r) for r in rings]
    seen: set[str] = set()
    for ring in rings:
        if seen & ring:
            raise ValueError("true rings must be disjoint (a merchant is in at most one ring)")
        seen |= ring
    return rings


def ring_recall_at_k(true_rings: Sequence[set[str]], clusters: Sequence[set[str]],
                     k: int | None = None, jaccard: float = 0.5) -> float:
    """Share of true rings matched by one of the ``k`` best clusters.

    ``recall@k = |{r : max_{c in top k} J(r, c) >= jaccard}| / |rings|`` with
    ``J(r, c) = |r ∩ c| / |r ∪ c|``. ``clusters`` are ranked best first; ``k`` defaults
    to the number of true rings (an investigator given as many cases as there are
    rings). Empty rings are ignored; NaN without any ring.

    Examples
    --------
    >>> rings = [{"a", "b"}, {"c", "d", "e"}]
    >>> ring_recall_at_k(rings, [{"a", "b", "x", "y"}, {"c", "d", "e"}])  # J = 0.5, 1
    1.0
    >>> ring_recall_at_k(rings, [{"z"}, {"c", "d", "e"}, {"a", "b"}])  # k = 2
    0.5
    """
    rings = [r for r in _checked(true_rings, jaccard) if r]
    if not rings:
        return float("nan")
    k = len(rings) if k is None else k
    if k < 0:
        raise ValueError(f"k must be at least 0, not {k}")
    found, _ = _matches(rings, [set(c) for c in clusters[:k]], jaccard)
    return float(found.mean())


def ring_recovery(true_rings: Sequence[set[str]], predicted_clusters: Sequence[set[str]],
                  jaccard: float = 0.5) -> RingRecovery:
    """Precision, recall and F1 of a set of flagged clusters against the true rings.

    ``precision = |{c : max_r J(r, c) >= jaccard}| / |clusters|``,
    ``recall = |{r : max_c J(r, c) >= jaccard}| / |rings|``,
    ``F1 = 2 P R / (P + R)`` (0 when both are 0). Pass only the clusters a model flags;
    NaN where a denominator is empty.

    >>> ring_recovery([{"a", "b"}, {"c", "d"}], [{"a", "b"}, {"x", "y"}, {"z"}])
    RingRecovery(precision=0.3333333333333333, recall=0.5, f1=0.4)
    """
    rings = [r for r in _checked(true_rings, jaccard) if r]
    clusters = [set(c) for c in predicted_clusters if c]
    found, hit = _matches(rings, clusters, jaccard)
    precision = float(hit.mean()) if len(clusters) else float("nan")
    recall = float(found.mean()) if rings else float("nan")
    if np.isnan(precision) or np.isnan(recall):
        f1 = float("nan")
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return RingRecovery(precision, recall, float(f1))


def ring_recovery_f1(true_rings: Sequence[set[str]], predicted_clusters: Sequence[set[str]],
                     jaccard: float = 0.5) -> float:
    """The F1 of :func:`ring_recovery`.

    >>> round(ring_recovery_f1([{"a", "b"}], [{"a", "b"}, {"c"}]), 4)
    0.6667
    """
    return ring_recovery(true_rings, predicted_clusters, jaccard).f1


def recall_per_typology(true_rings: Sequence[set[str]], typologies: Sequence[str],
                        clusters: Sequence[set[str]], k: int | None = None,
                        jaccard: float = 0.5) -> dict[str, float]:
    """:func:`ring_recall_at_k` within each typology, with one ``k`` for all.

    ``typologies[i]`` is the typology of ``true_rings[i]``. ``k`` defaults to the total
    number of (non-empty) rings: the clusters compete for the same top ``k`` whatever
    the typology, as they would on an investigator's desk. Keys in first-seen order.

    >>> recall_per_typology([{"a", "b"}, {"c", "d"}, {"e", "f"}], ["cash_out", "shell",
    ...                     "shell"], [{"a", "b"}, {"c", "d"}, {"x"}], k=2)
    {'cash_out': 1.0, 'shell': 0.5}
    """
    if len(true_rings) != len(typologies):
        raise ValueError(f"{len(true_rings)} rings but {len(typologies)} typologies")
    pairs = [(set(r), t) for r, t in zip(true_rings, typologies, strict=True) if r]
    rings = _checked([r for r, _ in pairs], jaccard)
    k = len(rings) if k is None else k
    if k < 0:
        raise ValueError(f"k must be at least 0, not {k}")
    found, _ = _matches(rings, [set(c) for c in clusters[:k]], jaccard)
    result: dict[str, list[bool]] = {}
    for (_, typology), hit in zip(pairs, found, strict=True):
        result.setdefault(typology, []).append(bool(hit))
    return {t: float(np.mean(hits)) for t, hits in result.items()}
