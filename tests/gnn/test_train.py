"""gnn/train.py: labels, group splits, and a GNN that learns what features alone cannot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch_geometric.data import HeteroData

from guanxi.gnn.hetero import model_input
from guanxi.gnn.train import (
    Trained,
    TrainSettings,
    cross_fit,
    group_folds,
    label_groups,
    merchant_labels,
    train,
    train_and_cross_fit,
)
from guanxi.graph.export import Exported

# One thread: on a busy machine two OpenMP threads wait on each other at every operation.
FAST = TrainSettings(hidden=16, epochs=60, patience=60, min_epochs=60, lr=0.02,
                     cross_fit_epochs=30, threads=1)


def quick(**kwargs: object) -> TrainSettings:
    return TrainSettings(**{"hidden": 8, "threads": 1, **kwargs})
PAID_NAMES = ("count", "amount", "amount_sq", "amount_max", "round_count", "night_count",
              "first_ts", "last_ts")


def ring_town(seed: int = 0, honest: int = 150, rings: int = 10, size: int = 5
              ) -> tuple[Exported, np.ndarray, np.ndarray]:
    """Honest merchants and rings whose members look the same one by one.

    Every merchant's own features are drawn from the same distribution. An honest
    merchant has a phone of its own and pays two random honest merchants; a ring's
    members share one phone and pay each other in a cycle. The ring shows only in the
    neighbourhood (the phone is shared, the payees are members).

    Returns the export, the merchant features ``(M, 4)`` and the ring of each merchant
    (-1 honest).
    """
    rng = np.random.default_rng(seed)
    m = honest + rings * size
    ring = np.full(m, -1)
    ring[honest:] = np.repeat(np.arange(rings), size)
    phone = np.where(ring < 0, np.arange(m), honest + ring)
    _, phone = np.unique(phone, return_inverse=True)
    src, dst = [], []
    for i in range(honest):
        for j in rng.choice(np.delete(np.arange(honest), i), 2, replace=False):
            src.append(i)
            dst.append(j)
    for r in range(rings):
        members = np.flatnonzero(ring == r)
        src += members.tolist()
        dst += np.roll(members, 1).tolist()
    data = HeteroData()
    data["Merchant"].num_nodes = m
    data["Phone"].num_nodes = int(phone.max()) + 1
    data["Merchant", "USES", "Phone"].edge_index = torch.tensor(np.stack([np.arange(m), phone]))
    key = ("Merchant", "PAID", "Merchant")
    data[key].edge_index = torch.tensor(np.array([src, dst]))
    count = rng.integers(1, 5, len(src)).astype(float)
    amount = count * rng.uniform(10, 100, len(src))
    data[key].edge_attr = torch.tensor(np.stack(
        [count, amount, amount**2 / count, amount / count, np.zeros_like(count),
         np.zeros_like(count), np.zeros_like(count), np.full_like(count, 86_400.0)], 1),
        dtype=torch.float32)
    x = rng.normal(size=(m, 4))
    return Exported(data, {}, {key: PAID_NAMES}, None, torch.zeros(m, 0, 12), None), x, ring


def town_labels(ring: np.ndarray, labelled_rings: int = 6, labelled_honest: int = 60,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ring labels: every member of the first ``labelled_rings`` rings is fraud,
    ``labelled_honest`` honest merchants are legit, the rest unlabelled."""
    rng = np.random.default_rng(seed)
    y = ((ring >= 0) & (ring < labelled_rings)).astype(float)
    mask = y == 1
    mask[rng.choice(np.flatnonzero(ring < 0), labelled_honest, replace=False)] = True
    return y, mask


@pytest.fixture(scope="module")
def town() -> tuple[HeteroData, np.ndarray, np.ndarray, np.ndarray]:
    ex, x, ring = ring_town()
    y, mask = town_labels(ring)
    return model_input(ex, x), ring, y, mask


def test_merchant_labels_from_the_export() -> None:
    merchants = pd.DataFrame({"label": ["fraud", "legit", None, "fraud"],
                              "defaulted": pd.array([1, None, 0, None], dtype="Int8")})
    y_ring, ring_mask, y_pd, pd_mask = merchant_labels(merchants)

    assert y_ring.tolist() == [1, 0, 0, 1]
    assert ring_mask.tolist() == [True, True, False, True]
    assert y_pd.tolist() == [1, 0, 0, 0]
    assert pd_mask.tolist() == [True, False, True, False]


def test_groups_follow_links_between_positives(town) -> None:
    data, ring, y, mask = town
    groups = label_groups(data, y == 1)

    assert (groups[y == 0] == -1).all()
    for r in range(6):  # each labelled ring is one group, and no group spans two rings
        assert len(set(groups[ring == r])) == 1
    assert len(set(groups[y == 1])) == 6


def test_a_node_shared_by_too_many_merchants_joins_nothing(town) -> None:
    data, ring, y, _ = town
    groups = label_groups(data, y == 1, max_shared=1)  # rings share phones of 5

    assert len(set(groups[y == 1])) == 6  # still joined by their payment cycles
    only_phones = HeteroData()
    only_phones["Merchant"].num_nodes = data["Merchant"].num_nodes
    only_phones["Merchant", "USES", "Phone"].edge_index = data["Merchant", "USES",
                                                               "Phone"].edge_index
    assert len(set(label_groups(only_phones, y == 1, max_shared=1)[y == 1])) == 30
    assert len(set(label_groups(only_phones, y == 1, max_shared=5)[y == 1])) == 6


def test_group_folds_keep_groups_whole() -> None:
    groups = np.repeat(np.arange(12), [5, 4, 4, 3, 3, 3, 2, 2, 1, 1, 1, 1])
    groups = np.r_[groups, np.full(100, -1)]
    fold = group_folds(groups, 4, seed=1)

    for g in range(12):
        assert len(set(fold[groups == g])) == 1
    sizes = np.bincount(fold[groups >= 0], minlength=4)
    assert sizes.max() - sizes.min() <= 2
    assert set(fold[groups < 0]) == {0, 1, 2, 3}
    assert np.array_equal(fold, group_folds(groups, 4, seed=1))


def test_the_gnn_finds_rings_that_features_alone_cannot(town) -> None:
    data, ring, y, mask = town
    trained = train(data, y, mask, None, None, settings=FAST, seed=0)
    ring_prob, pd_prob, embedding = trained.predict(data)

    held_out = ~mask  # unlabelled: four rings of five and the honest not labelled
    truth = ring[held_out] >= 0
    assert roc_auc_score(truth, ring_prob[held_out]) > 0.9
    assert pd_prob is None
    assert embedding.shape == (len(ring), 16)

    x = data["Merchant"].x.numpy()
    alone = LogisticRegression().fit(x[mask], y[mask]).predict_proba(x)[:, 1]
    assert roc_auc_score(truth, alone[held_out]) < 0.75


def test_same_seed_same_scores(town) -> None:
    data, _, y, mask = town
    pd_y = (np.arange(len(y)) % 7 == 0).astype(float)
    settings = quick(epochs=8, min_epochs=8, conv="edge")
    first = train(data, y, mask, pd_y, np.ones(len(y), bool), settings=settings, seed=3)
    second = train(data, y, mask, pd_y, np.ones(len(y), bool), settings=settings, seed=3)

    for a, b in zip(first.predict(data), second.predict(data), strict=True):
        assert np.array_equal(a, b)
    assert first.history == second.history
    other = train(data, y, mask, pd_y, np.ones(len(y), bool), settings=settings, seed=4)
    assert not np.array_equal(first.predict(data)[0], other.predict(data)[0])


def test_merchants_and_payments_only() -> None:
    ex, x, ring = ring_town()
    key = ("Merchant", "PAID", "Merchant")
    only = HeteroData()
    only["Merchant"].num_nodes = len(ring)
    only[key].edge_index = ex.data[key].edge_index
    only[key].edge_attr = ex.data[key].edge_attr
    ex.data = only
    data = model_input(ex, x)
    y, mask = town_labels(ring)
    settings = quick(epochs=5, min_epochs=5)
    ring_prob, pd_prob, embedding = train(data, y, mask, None, None, settings=settings,
                                          seed=0).predict(data)

    assert data.node_types == ["Merchant"]
    assert ring_prob.shape == (len(ring),) and np.isfinite(ring_prob).all()
    assert pd_prob is None and embedding.shape == (len(ring), 8)


def test_without_labels_embeddings_and_no_probabilities(town) -> None:
    data, ring, _, _ = town
    settings = quick(ssl_epochs=5, min_epochs=5)
    trained = train(data, None, None, None, None, settings=settings, seed=0)
    ring_prob, pd_prob, embedding = trained.predict(data)

    assert ring_prob is None and pd_prob is None
    assert embedding.shape == (len(ring), 8) and np.isfinite(embedding).all()
    assert not trained.supervised
    # a mask without any fraud is no ring label either
    no_fraud = train(data, np.zeros(len(ring)), np.ones(len(ring), bool), None, None,
                     settings=settings, seed=0)
    assert no_fraud.predict(data)[0] is None


def test_default_labels_only(town) -> None:
    data, ring, _, _ = town
    rng = np.random.default_rng(0)
    y_pd = (rng.random(len(ring)) < 0.2).astype(float)
    observed = rng.random(len(ring)) < 0.5
    settings = quick(epochs=5, min_epochs=5)
    ring_prob, pd_prob, _ = train(data, None, None, y_pd, observed, settings=settings,
                                  seed=0).predict(data)

    assert ring_prob is None
    assert pd_prob.shape == (len(ring),) and ((pd_prob > 0) & (pd_prob < 1)).all()


def test_progress_is_reported_per_epoch(town) -> None:
    data, _, y, mask = town
    calls: list[tuple[str, int, int | None]] = []
    settings = quick(epochs=4, min_epochs=4)
    trained = train(data, y, mask, None, None, settings=settings, seed=0,
                    progress=lambda *call: calls.append(call))

    assert calls[:4] == [("train GNN", e, 4) for e in (1, 2, 3, 4)]
    assert calls[-1] == ("train GNN", 4, 4)
    assert [h["epoch"] for h in trained.history] == [1, 2, 3, 4]


def test_validation_by_group_stops_early_and_keeps_the_best_epoch(town) -> None:
    data, _, y, mask = town
    settings = quick(epochs=200, patience=5, min_epochs=5, lr=0.05)
    trained = train(data, y, mask, None, None, settings=settings, seed=0)

    assert len(trained.history) < 200
    measured = [h for h in trained.history if "val_ring_auprc" in h]
    assert measured, "a validation fold of whole rings"
    best = max(h["val_ring_auprc"] for h in measured)
    assert trained.history[trained.best_epoch["ring"] - 1]["val_ring_auprc"] == best


def test_another_graph_is_scored_on_the_training_scale(town) -> None:
    data, ring, y, mask = town
    trained = train(data, y, mask, None, None, settings=quick(epochs=3),
                    seed=0)
    ex, x, _ = ring_town(seed=1)
    other = model_input(ex, x, standardiser=trained.standardiser)
    assert trained.predict(other)[0].shape == (len(ring),)

    with pytest.raises(ValueError, match="standardiser=trained.standardiser"):
        trained.predict(model_input(ex, x * 3 + 1))


def test_cross_fit_predictions_never_see_their_own_label(town) -> None:
    data, ring, y, mask = town
    y_pd = (np.arange(len(y)) % 5 == 0).astype(float)
    settings = quick(cross_fit_epochs=6)
    first = cross_fit(data, y, mask, y_pd, np.ones(len(y), bool), settings=settings, seed=0,
                      folds=3)

    assert first.ring.shape == first.pd.shape == first.fold.shape == (len(y),)
    assert np.isfinite(first.ring).all() and np.isfinite(first.pd).all()
    for r in range(6):
        assert len(set(first.fold[ring == r])) == 1
    # flipping the labels of fold 0 changes nothing that fold 0 is scored with
    flipped_pd = np.where(first.fold == 0, 1 - y_pd, y_pd)
    second = cross_fit(data, y, mask, flipped_pd, np.ones(len(y), bool), settings=settings,
                       seed=0, folds=3)
    held = first.fold == 0
    assert np.array_equal(second.fold, first.fold)
    assert np.array_equal(first.pd[held], second.pd[held])
    assert not np.array_equal(first.pd[~held], second.pd[~held])
    # Each fold's network scores every merchant, the fold's own being the ones above;
    # fold 0's network never saw fold 0's labels, wherever the merchant it scores.
    rows = np.arange(len(y))
    assert first.ring_by_fold.shape == first.pd_by_fold.shape == (3, len(y))
    assert np.array_equal(first.ring_by_fold[first.fold, rows], first.ring)
    assert np.array_equal(first.pd_by_fold[first.fold, rows], first.pd)
    assert np.array_equal(first.pd_by_fold[0], second.pd_by_fold[0])
    assert not np.array_equal(first.pd_by_fold[1], second.pd_by_fold[1])


def test_a_trained_model_saves_as_plain_state_and_scores_the_same(town, tmp_path) -> None:
    data, _, y, mask = town
    y_pd = (np.arange(len(y)) % 4 == 0).astype(float)
    trained = train(data, y, mask, y_pd, np.ones(len(y), bool),
                    settings=quick(epochs=6, min_epochs=6, static=("Phone",)), seed=0)
    torch.save(trained.to_state(), tmp_path / "state.pt")
    back = Trained.from_state(torch.load(tmp_path / "state.pt", weights_only=True))

    assert back.settings == trained.settings
    assert back.best_epoch == trained.best_epoch
    for a, b in zip(trained.predict(data), back.predict(data), strict=True):
        assert np.array_equal(a, b)


def test_training_leaves_the_callers_random_state_alone(town) -> None:
    data, _, y, mask = town
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(data, y, mask, None, None, settings=quick(epochs=2), seed=0)

    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() >= 1


def test_networks_side_by_side_give_what_they_give_in_turn(town, monkeypatch) -> None:
    data, _, y, mask = town
    y_pd = (np.arange(len(y)) % 5 == 0).astype(float)
    observed = np.ones(len(y), bool)
    settings = quick(epochs=8, min_epochs=8, cross_fit_epochs=4)
    monkeypatch.setenv("GUANXI_WORKERS", "2")
    seen: list[tuple[str, int, int]] = []
    trained, fit = train_and_cross_fit(data, y, mask, y_pd, observed, settings=settings,
                                       seed=3, folds=3,
                                       progress=lambda *a: seen.append(a))
    monkeypatch.setenv("GUANXI_WORKERS", "1")
    alone = train(data, y, mask, y_pd, observed, settings=settings, seed=3)
    folds = cross_fit(data, y, mask, y_pd, observed, settings=settings, seed=3, folds=3)

    assert trained.best_epoch == alone.best_epoch
    for head, weights in alone.states.items():
        for name, tensor in weights.items():
            assert torch.equal(trained.states[head][name], tensor), (head, name)
    assert np.array_equal(fit.fold, folds.fold)
    assert np.array_equal(fit.ring, folds.ring) and np.array_equal(fit.pd, folds.pd)
    assert seen[-1] == ("train GNN", 8 + 3 * 4, 8 + 3 * 4)


def test_without_labels_no_folds_are_fit(town) -> None:
    data, _, y, _ = town
    trained, fit = train_and_cross_fit(data, None, None, None, None,
                                       settings=quick(ssl_epochs=3, min_epochs=1), seed=0)
    assert not trained.supervised and fit is None


def test_forked_training_leaves_no_generated_code_behind(tmp_path) -> None:
    """Training side by side in forked workers writes none of PyG's generated code to
    the temporary folder that outlives the run (workers end without exit handlers)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_train import ring_town, town_labels, quick\n"
        "from guanxi.gnn.hetero import model_input\n"
        "from guanxi.gnn.train import train_and_cross_fit\n"
        "ex, x, ring = ring_town()\n"
        "y, mask = town_labels(ring)\n"
        "train_and_cross_fit(model_input(ex, x), y, mask, None, None, seed=0, folds=2,\n"
        "                    settings=quick(epochs=3, min_epochs=1, patience=3))\n")
    env = {**os.environ, "TMPDIR": str(tmp_path), "GUANXI_WORKERS": "2"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [p.name for p in tmp_path.rglob("*_propagate_*")] == []
