"""gnn/trees.py: fold models fit side by side are the models fit in turn."""

from __future__ import annotations

import numpy as np

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
