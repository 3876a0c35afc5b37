"""gnn/trees.py: fold models fit side by side are the models fit in turn."""

from __future__ import annotations

import numpy as np
import pytest

from guanxi.gnn.trees import fit_folds


def test_folds_fit_side_by_side_are_the_folds_fit_in_turn(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=600) > 1.5).astype(float)
    train = rng.random(600) < 0.8  # the other rows get the fold models' mean
    fits = {}
    for count in ("1", "2"):
        monkeypatch.setenv("GUANXI_WORKERS", count)
        fits[count] = fit_folds(X, y, train, list("abcd"), seed=4, folds=4)
    one, two = fits["1"], fits["2"]

    assert [b.model_to_string() for b in one.boosters] == \
        [b.model_to_string() for b in two.boosters]
    assert np.array_equal(one.oof, two.oof)
    assert one.calibration == two.calibration
    assert np.array_equal(one.predict(X), two.predict(X))
    assert np.array_equal(one.contributions(X), two.contributions(X))
    assert len({b.model_to_string() for b in one.boosters}) == 4  # four different folds


def test_given_folds_are_kept_and_one_positive_left_to_learn_from_still_fits() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.zeros(200)
    y[:5] = 1
    # A caught ring of four in fold 0 and one caught merchant in fold 1: fold 0's model
    # learns from a single positive.
    fold = rng.integers(0, 5, 200)
    fold[:4], fold[4] = 0, 1
    e = fit_folds(X, y, np.ones(200, bool), list("abc"), fold_of=fold, folds=5, seed=0)
    for k, booster in enumerate(e.boosters):
        assert np.allclose(e.oof[fold == k], booster.predict(X[fold == k]))
    with pytest.raises(ValueError, match="fold_of must be 0 to 4"):
        fit_folds(X, y, np.ones(200, bool), list("abc"), fold_of=np.where(fold == 4, 5, fold),
                  folds=5)
