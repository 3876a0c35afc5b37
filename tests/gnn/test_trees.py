"""gnn/trees.py: fold models fit side by side are the models fit in turn."""

from __future__ import annotations

import os
import subprocess
import sys

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


_TRAIN_WHILE_PREDICTING = """
import threading
import numpy as np
from guanxi.gnn.trees import fit_folds

rng = np.random.default_rng(0)
X = rng.random((20000, 40)).astype(np.float32)
y = (X[:, 0] + rng.random(20000) > 1).astype(float)
ready = fit_folds(X, y, np.ones(20000, bool), [str(i) for i in range(40)], folds=2,
                  params={"n_estimators": 20})
done = threading.Event()

def predicting():
    while not done.is_set():
        ready.raw(X[:100])
        ready.contributions(X[:10])

side = threading.Thread(target=predicting)
side.start()
for seed in range(16):
    fit_folds(X, y, np.ones(20000, bool), [str(i) for i in range(40)], folds=2, seed=seed,
              params={"n_estimators": 40})
done.set()
side.join()
print("survived")
"""


def test_training_survives_a_prediction_in_another_thread() -> None:
    # Training's stages fit and predict in threads side by side. A LightGBM prediction
    # left at its default thread count crashed a training thread (SIGSEGV) in make test.
    done = subprocess.run([sys.executable, "-c", _TRAIN_WHILE_PREDICTING],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "GUANXI_WORKERS": "1"})
    assert done.returncode == 0 and "survived" in done.stdout, done.stderr[-2000:]


def _moving_rows() -> tuple:
    """Trees on four features (the last pure noise) and rows moved by every size, from
    a hair to across the whole range, with zeros and missing values among them."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=600) * 0.3 > 0.8).astype(float)
    x[:40, 2] = 0.0
    e = fit_folds(x, y, np.ones(600, bool), ["a", "b", "c", "d"], seed=0, folds=2,
                  params={"n_estimators": 40})
    new = x.copy()
    scale = 10.0 ** rng.integers(-9, 1, size=x.shape)
    new += rng.normal(size=x.shape) * scale * (rng.random(size=x.shape) < 0.5)
    new[40:60, 2] = 1e-40  # from exactly zero to LightGBM's zero
    new[60:70, 1] = np.nan
    new[70:80] = x[70:80]  # unmoved
    return e, x.astype(np.float32), new.astype(np.float32)  # what the scorer passes


def test_same_leaves_means_every_tree_sends_the_row_to_the_same_leaf() -> None:
    e, old, new = _moving_rows()

    same = e.same_leaves(old, new)

    leaves = [np.array_equal(b.predict(old[i:i + 1], pred_leaf=True),
                             b.predict(new[i:i + 1], pred_leaf=True))
              for i in range(len(old)) for b in e.boosters]
    truly = np.array(leaves).reshape(len(old), len(e.boosters)).all(axis=1)
    assert not (same & ~truly).any()  # never a row whose leaves changed
    assert np.array_equal(e.raw(old[same]), e.raw(new[same]))
    assert same[70:80].all()
    assert not same[40:70].any()  # zero to almost zero, and a value become missing
    moved = ~np.all(old == new, axis=1)
    assert (same & moved).sum() > 100  # most small moves cross no split
    assert (~same & moved).sum() > 100


def test_same_leaves_without_readable_splits_is_bit_for_bit() -> None:
    e, old, new = _moving_rows()
    e.__dict__["_splits"] = None  # as when the model text is not as expected

    assert np.array_equal(e.same_leaves(old, new), np.all(old == new, axis=1))
