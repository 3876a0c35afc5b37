"""The strong baselines of the field, run in one harness against the same metrics.

Each baseline is a function that returns a :class:`BaselineResult`: one score per
merchant, aligned to ``Exported.ids["Merchant"]``, and, where it forms groups, the
groups ranked best first. Baselines take what they need as arguments (the export, link
matrices, feature arrays, labels) and compute no features of their own, so every model
in the comparison sees the same inputs.

- :mod:`~guanxi.gnn.baselines.fraudar`: FRAUDAR dense-block peeling (unsupervised).
- :mod:`~guanxi.gnn.baselines.gbdt`: gradient-boosted trees on own plus
  neighbour-aggregated features (GADBench's strongest), and the credit GBDT.
- :mod:`~guanxi.gnn.baselines.louvain_rules`: Louvain communities scored by red-flag
  rules with thresholds taken from the population.

Training labels come only from the export (``gnn/labels.py``: ``merchants.label`` and
case decisions, ``merchants.defaulted``), never from ``truth/``; :func:`pu_labels` turns
the ring labels into what a supervised baseline trains on.

>>> y, train, weight = pu_labels(np.array([1, -1, 0, -1]), unlabelled_weight=0.1)
>>> y.tolist(), train.tolist(), weight.tolist()
([1.0, 0.0, 0.0, 0.0], [True, True, True, True], [1.0, 0.1, 1.0, 0.1])
>>> pu_labels(np.array([1, -1, 0, -1]))[1].tolist()
[True, False, True, False]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["BaselineResult", "pu_labels"]


@dataclass
class BaselineResult:
    """What a baseline returns.

    ``scores`` ``(|V_Merchant|,)`` float64, higher is more suspicious (or more likely
    to default), in the order of ``Exported.ids["Merchant"]``; ``clusters`` merchant-id
    sets ranked best first (empty for a baseline that forms no groups) with their
    ``cluster_scores`` ``(len(clusters),)``, non-increasing.
    """

    scores: np.ndarray
    clusters: list[set[str]] = field(default_factory=list)
    cluster_scores: np.ndarray = field(default_factory=lambda: np.empty(0))


def pu_labels(ring: np.ndarray, unlabelled_weight: float | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows, targets and weights from ring labels ``1`` fraud, ``0`` legit,
    ``-1`` unlabelled (``gnn.labels.ring_labels``).

    With ``unlabelled_weight`` None only labelled rows train. With a weight ``w`` the
    unlabelled rows join as negatives of weight ``w``: positive-unlabelled (PU)
    learning, since nearly every unlabelled merchant is honest and the few hidden ring
    members among them should pull little; score such rows out of fold (``gbdt`` does)
    or each would be scored by a model that learned its own "0".

    Returns
    -------
    ``(y, train_mask, weight)``, each ``(M,)``: float64 0/1, bool, float64.
    """
    ring = np.asarray(ring)
    if not np.isin(ring, (-1, 0, 1)).all():
        raise ValueError("ring labels must be 1 (fraud), 0 (legit) or -1 (unlabelled)")
    labelled = ring >= 0
    y = (ring == 1).astype(np.float64)
    if unlabelled_weight is None:
        return y, labelled, np.ones(len(y))
    if not 0 < unlabelled_weight <= 1:
        raise ValueError(f"unlabelled_weight must be in (0, 1] or None, not {unlabelled_weight}")
    return y, np.ones(len(y), dtype=bool), np.where(labelled, 1.0, unlabelled_weight)
