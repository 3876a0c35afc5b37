"""Gradient-boosted trees fit by folds: out-of-fold scores, a model to score new graphs,
calibration and per-feature contributions.

Every tree model in guanxi (the shipped scorer's stages and the GADBench baseline)
is fit the same way: the training rows are split into ``folds`` (stratified, and by
group where groups are given, so no ring spans two folds); each fold is scored by a
model that never saw it; rows outside training get the mean of the fold models, and
so does any later graph (:meth:`Ensemble.predict`). Each fold model stops early on a
stratified fifth of its own rows, never on the fold it scores.

Calibration is Platt's: ``p = sigmoid(a * logit(s) + b)`` fit on the out-of-fold
scores of the training rows with their own weights, so a balanced (reweighted) model
that ranks well still returns probabilities.

>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 3)); y = (X[:, 0] + rng.normal(size=400) > 1).astype(float)
>>> e = fit_folds(X, y, np.ones(400, bool), ["a", "b", "c"], seed=0, folds=3)
>>> bool(roc_auc_score(y, e.oof) > 0.75), e.predict(X[:2]).shape, e.contributions(X[:2]).shape
(True, (2,), (2, 3))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.metrics import roc_auc_score  # noqa: F401  (used by the doctest)
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from guanxi.gnn.workers import in_threads

__all__ = ["Ensemble", "PARAMS", "fit_folds", "logit"]

PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 31,
    "min_child_samples": 20, "subsample": 0.8, "subsample_freq": 1,
    "colsample_bytree": 0.5, "reg_lambda": 1.0, "n_estimators": 1000,
    "deterministic": True, "force_row_wise": True, "verbose": -1, "num_threads": 1,
    "max_bin": 63,
}
"""LightGBM defaults, in the range GADBench tuned over: shallow-ish trees with column
subsampling because hundreds of aggregate columns are strongly correlated. One thread:
on a busy two-core machine LightGBM's OpenMP threads wait on each other (measured 12x
slower with two); 63 bins cost nothing measurable in quality and a third of the time."""

_ONE_THREAD = {"num_threads": 1}
"""Every prediction's too. LightGBM keeps the thread count of its last call in one
process-wide variable: a prediction without it (the default, all cores) while another
thread trains on one thread makes that training index buffers sized for one thread
with two, and the process dies (SIGSEGV; tests/gnn/test_trees.py reproduces it)."""

_EARLY_STOP = 50
_ZERO = float(np.float32(1e-35))
"""LightGBM's ``kZeroThreshold`` (the float ``1e-35f``, a hair above the double 1e-35):
a value this close to zero may take a split's default direction instead of comparing
with its threshold."""


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


@dataclass
class Ensemble:
    """Fold models of one target, with the out-of-fold scores they were judged by.

    ``oof`` (N,) are raw (uncalibrated) scores of the fitting rows; ``calibration``
    ``(a, b)`` maps a raw score ``s`` to ``sigmoid(a * logit(s) + b)``.
    """

    boosters: list[lgb.Booster]
    names: list[str]
    oof: np.ndarray
    calibration: tuple[float, float] = (1.0, 0.0)

    def raw(self, X: np.ndarray) -> np.ndarray:
        """(N,) mean of the fold models' probabilities."""
        X = np.asarray(X, dtype=np.float32)
        if not len(X):  # LightGBM divides by the row count
            return np.empty(0)
        return np.mean(in_threads([partial(b.predict, X, **_ONE_THREAD) for b in self.boosters]),
                       axis=0)

    def fold_raw(self, k: int, X: np.ndarray) -> np.ndarray:
        """(N,) probabilities of fold model ``k`` alone (uncalibrated)."""
        return self.boosters[k].predict(np.asarray(X, dtype=np.float32), **_ONE_THREAD)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        return 1 / (1 + np.exp(-(a * logit(raw) + b)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(N,) calibrated probabilities."""
        return self.calibrate(self.raw(X))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(N, F) mean SHAP values (log-odds) of each feature over the fold models."""
        X = np.asarray(X, dtype=np.float32)
        if not len(X):
            return np.empty((0, X.shape[1]))
        out = np.mean(in_threads([partial(b.predict, X, pred_contrib=True, **_ONE_THREAD)
                                  for b in self.boosters]), axis=0)
        return out[:, :-1]  # the last column is the expected value

    def same_leaves(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: whether row ``new[i]`` reaches, in every tree, the leaf row
        ``old[i]`` reaches (``old`` and ``new`` ``(N, F)``), so that its scores are the
        same bit for bit.

        A value that moved decides the same way at every split on its feature when no
        threshold ``t`` of that feature lies between the two (LightGBM sends ``x <= t``
        left). A value that is or was missing (NaN) or zero (LightGBM may send both
        their own way), or on a categorical split, counts as deciding otherwise; so
        does every moved row when the models' splits cannot be read.

        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(400, 2)); y = (X[:, 0] > 0.5).astype(float)
        >>> e = fit_folds(X, y, np.ones(400, bool), ["a", "b"], seed=0, folds=2)
        >>> X = X.astype(np.float32); moved = X + np.float32(1e-6)
        >>> same = e.same_leaves(X, moved)
        >>> bool(same.mean() > 0.9), bool((e.raw(X[same]) == e.raw(moved[same])).all())
        (True, True)
        """
        # As the trees see them (raw() predicts float32), compared as LightGBM does: in
        # float64, a column at a time (the whole of both, 48,000 rows at 100,000
        # merchants, took 160 MB of fresh memory).
        old = np.asarray(old, dtype=np.float32)
        new = np.asarray(new, dtype=np.float32)
        differ = ~((old == new) | (np.isnan(old) & np.isnan(new)))
        same = ~differ.any(axis=1)
        splits = self._splits
        if splits is None:
            return same
        thresholds, categorical = splits
        affected = np.zeros(len(old), dtype=bool)
        for j in np.flatnonzero(differ.any(axis=0)):
            rows = np.flatnonzero(differ[:, j])
            a, b = old[rows, j].astype(np.float64), new[rows, j].astype(np.float64)
            hit = (np.isnan(a) | np.isnan(b) | (np.abs(a) <= _ZERO) | (np.abs(b) <= _ZERO)
                   | (j < len(categorical) and categorical[j]))
            if j < len(thresholds) and len(thresholds[j]):
                hit |= (np.searchsorted(thresholds[j], a, "left")
                        != np.searchsorted(thresholds[j], b, "left"))
            affected[rows] |= hit
        return ~affected

    @cached_property
    def _splits(self) -> tuple[list[np.ndarray], np.ndarray] | None:
        """Per feature, the sorted thresholds of its numerical splits over every tree,
        and whether it has a categorical split; None when the model text is not as
        expected. Read from LightGBM's model text (one section per tree)."""
        found: dict[int, list[float]] = {}
        categorical: set[int] = set()
        try:
            for booster in self.boosters:
                tree: dict[str, list[str]] = {}
                for line in booster.model_to_string().splitlines():
                    key, sep, value = line.partition("=")
                    if key == "Tree" and sep:
                        tree = {}
                    elif key == "is_linear" and value.strip() != "0":
                        return None  # a leaf's value depends on the features: not here
                    elif key in ("split_feature", "threshold", "decision_type"):
                        tree[key] = value.split()
                        if key != "decision_type":
                            continue
                        features, cuts, kinds = (tree.get(k, ()) for k in
                                                 ("split_feature", "threshold", "decision_type"))
                        if not len(features) == len(cuts) == len(kinds):
                            return None
                        for f, t, d in zip(features, cuts, kinds, strict=True):
                            if int(d) & 1:  # LightGBM's categorical-split bit
                                categorical.add(int(f))
                            else:
                                found.setdefault(int(f), []).append(float(t))
        except ValueError:
            return None
        width = max([*found, *categorical], default=-1) + 1
        thresholds = [np.unique(np.asarray(found.get(j, []), dtype=np.float64))
                      for j in range(width)]
        return thresholds, np.isin(np.arange(width), sorted(categorical))

    def state(self) -> dict[str, Any]:
        """Plain data for the artefact (model text, names, calibration)."""
        return {"boosters": [b.model_to_string() for b in self.boosters],
                "names": list(self.names), "calibration": list(self.calibration)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Ensemble:
        return cls([lgb.Booster(model_str=s) for s in state["boosters"]], list(state["names"]),
                   np.empty(0), tuple(state["calibration"]))


def fit_folds(X: np.ndarray, y: np.ndarray, train_mask: np.ndarray, names: Sequence[str], *,
              seed: int = 0, weight: np.ndarray | None = None, balanced: bool = True,
              folds: int = 5, groups: np.ndarray | None = None,
              fold_of: np.ndarray | None = None, metric: str = "average_precision",
              params: Mapping[str, Any] | None = None) -> Ensemble:
    """Fit ``folds`` LightGBM models and Platt calibration; see the module docstring.

    Parameters
    ----------
    X : (N, F) features; y : (N,) 0/1 targets, read on ``train_mask`` rows only.
    weight : (N,) sample weights (PU learning: lower for unlabelled rows), default 1.
    balanced : reweight positives so both classes weigh the same (ranking); the
        calibration still fits the unbalanced weights.
    groups : (N,) group ids kept within one fold.
    fold_of : (N,) the fold of each row, 0 to ``folds - 1``, instead of a split of its
        own: ``boosters[k]`` then never learns a row of fold ``k``, the fold some other
        model (the GNN's cross-fit) held out too.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.float64)
    train_mask = np.asarray(train_mask, dtype=bool)
    n = len(X)
    if y.shape != (n,) or train_mask.shape != (n,) or X.shape[1] != len(names):
        raise ValueError(f"X {X.shape}, y {y.shape}, train_mask {train_mask.shape} and "
                         f"{len(names)} names do not agree")
    weight = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    train = np.flatnonzero(train_mask)
    target = y[train]
    if not np.isin(target, (0.0, 1.0)).all():
        raise ValueError("y must be 0 or 1 on every training row")
    positives = int(target.sum())
    if folds < 2 or min(positives, len(train) - positives) < folds:
        raise ValueError(f"need at least {folds} rows of each class to train on, not "
                         f"{positives} positives of {len(train)} rows")
    w = weight[train].copy()
    if balanced:
        w[target == 1] *= w[target == 0].sum() / w[target == 1].sum()
    options = {**PARAMS, "metric": metric, **(params or {})}
    if fold_of is not None:
        at = np.asarray(fold_of)[train]
        if not np.isin(at, np.arange(folds)).all():
            raise ValueError(f"fold_of must be 0 to {folds - 1} on every training row")
        split = [(np.flatnonzero(at != k), np.flatnonzero(at == k)) for k in range(folds)]
    elif groups is None:
        split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(train, target)
    else:
        split = StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(
            train, target, np.asarray(groups)[train])
    oof = np.zeros(n)
    rest = np.flatnonzero(~train_mask)
    splits = list(split)
    boosters = in_threads([partial(_fit, X[train[fit_at]], target[fit_at], w[fit_at],
                                   weight[train[fit_at]], options, seed + fold)
                           for fold, (fit_at, _) in enumerate(splits)])
    for booster, (_, score_at) in zip(boosters, splits, strict=True):
        oof[train[score_at]] = booster.predict(X[train[score_at]], **_ONE_THREAD)
        if len(rest):
            oof[rest] += booster.predict(X[rest], **_ONE_THREAD) / folds
    ensemble = Ensemble(boosters, list(names), oof)
    ensemble.calibration = _platt(oof[train], target, weight[train])
    return ensemble


def _fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, w_plain: np.ndarray,
         options: dict[str, Any], seed: int) -> lgb.Booster:
    """One model, early-stopped on a stratified fifth of its rows (their own weights,
    unbalanced: for log-loss that stops at the best calibrated model)."""
    # A fold can leave a single positive to learn from (a caught ring of four and one
    # merchant alone, five folds): too few to stratify, so the split is plain.
    counts = np.unique(y, return_counts=True)[1]
    fit, stop = train_test_split(np.arange(len(y)), test_size=0.2,
                                 stratify=y if counts.min() >= 2 else None,
                                 random_state=seed)
    model = lgb.LGBMClassifier(**{**options, "random_state": seed})
    model.fit(X[fit], y[fit], sample_weight=w[fit], eval_X=(X[stop],), eval_y=(y[stop],),
              eval_sample_weight=[w_plain[stop]],
              callbacks=[lgb.early_stopping(_EARLY_STOP, verbose=False)])
    booster = model.booster_
    best = model.best_iteration_ or booster.current_iteration()
    # Keep only the trees early stopping chose, so the booster alone predicts as fit.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def _platt(raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    z = logit(raw)[:, None]
    lr = LogisticRegression(C=1e4).fit(z, y, sample_weight=w)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])
