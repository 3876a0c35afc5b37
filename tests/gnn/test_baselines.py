"""``gnn/baselines/``: planted structure that each baseline must find, exact small
cases, and invariants (same seed same scores, relabelled nodes same answer)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from guanxi.gnn import metrics
from guanxi.gnn.baselines import BaselineResult, pu_labels
from guanxi.gnn.baselines.fraudar import (
    column_weights,
    fraudar,
    fraudar_baseline,
    payer_matrix,
    peel,
)
from guanxi.gnn.baselines.gbdt import (
    aggregate_names,
    credit_gbdt,
    fit_predict_gbdt,
    neighbour_aggregate,
)
from guanxi.gnn.baselines.louvain_rules import Rule, communities, louvain_rules, rule_flags
from guanxi.graph.export import Exported

FAST = {"n_estimators": 100, "n_jobs": 1}  # small trees budget: tests stay in seconds


# -- labels ------------------------------------------------------------------------------

def test_pu_labels() -> None:
    ring = np.array([1, 0, -1, -1])
    y, train, weight = pu_labels(ring)
    assert y.tolist() == [1, 0, 0, 0] and train.tolist() == [True, True, False, False]
    y, train, weight = pu_labels(ring, unlabelled_weight=0.2)
    assert train.all() and weight.tolist() == [1, 1, 0.2, 0.2]
    with pytest.raises(ValueError, match="unlabelled_weight"):
        pu_labels(ring, unlabelled_weight=0)
    with pytest.raises(ValueError, match="-1"):
        pu_labels(np.array([2]))


# -- FRAUDAR -----------------------------------------------------------------------------

def _planted(seed: int = 0, rows: int = 400, cols: int = 300, noise: float = 0.01,
             block: tuple[int, int] = (20, 10), camouflage: str | None = None
             ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Random sparse payer x payee noise with one dense block at random positions.

    ``camouflage``: each block row also pays 4 other columns, ``"random"`` ones or
    ``"popular"`` ones (five columns half of all rows pay), as in the paper's attacks.
    """
    rng = np.random.default_rng(seed)
    m = (rng.random((rows, cols)) < noise).astype(float)
    r = np.sort(rng.choice(rows, block[0], replace=False))
    c = np.sort(rng.choice(cols, block[1], replace=False))
    m[np.ix_(r, c)] = 1
    others = np.setdiff1d(np.arange(cols), c)
    if camouflage == "popular":
        m[:, others[:5]] = rng.random((rows, 5)) < 0.5
    for row in r if camouflage else ():
        pool = others[:5] if camouflage == "popular" else others
        m[row, rng.choice(pool, 4, replace=False)] = 1
    return sp.csr_matrix(m), r, c


def test_peel_finds_a_planted_block_exactly() -> None:
    m, r, c = _planted()
    block = peel(column_weights(m))
    assert block.rows.tolist() == r.tolist()
    assert block.cols.tolist() == c.tolist()
    # Density of the block: 200 edges of weight 1 / log(d_j + 5) over 30 nodes.
    d = np.asarray(m.sum(axis=0)).ravel()[c]
    assert block.density == pytest.approx(np.sum(20 / np.log(d + 5)) / 30, rel=1e-8)


def test_peel_resists_camouflage() -> None:
    # Random camouflage: the block is still found exactly.
    m, r, c = _planted(seed=1, camouflage="random")
    blocks = fraudar(m, blocks=1)
    assert blocks[0].rows.tolist() == r.tolist() and blocks[0].cols.tolist() == c.tolist()
    # Camouflage on popular columns: the fraudulent rows are still exactly the block's
    # rows; the popular columns may join it (their down-weighted edges still add density).
    m, r, c = _planted(seed=1, camouflage="popular")
    block = fraudar(m, blocks=1)[0]
    assert block.rows.tolist() == r.tolist() and set(c) <= set(block.cols.tolist())
    assert len(block.cols) <= len(c) + 5


def test_peel_answer_follows_relabelled_nodes() -> None:
    m, r, c = _planted(seed=2)
    rng = np.random.default_rng(9)
    pr, pc = rng.permutation(m.shape[0]), rng.permutation(m.shape[1])
    moved = peel(column_weights(m[pr][:, pc]))
    assert sorted(pr[moved.rows].tolist()) == r.tolist()
    assert sorted(pc[moved.cols].tolist()) == c.tolist()


def test_several_blocks_in_order_of_discovery() -> None:
    m, r, c = _planted(seed=3, block=(25, 12))
    dense = m.toarray()
    r2 = np.setdiff1d(np.arange(400), r)[:12]
    c2 = np.setdiff1d(np.arange(300), c)[-6:]
    dense[np.ix_(r2, c2)] = 1
    blocks = fraudar(sp.csr_matrix(dense), blocks=2)
    assert blocks[0].rows.tolist() == r.tolist() and blocks[0].cols.tolist() == c.tolist()
    assert blocks[1].rows.tolist() == r2.tolist() and blocks[1].cols.tolist() == c2.tolist()
    assert blocks[0].density > blocks[1].density


def test_fraudar_edge_cases() -> None:
    empty = peel(sp.csr_matrix((3, 2)))
    assert empty.rows.size == 0 and empty.density == 0
    assert fraudar(sp.csr_matrix((3, 2)), blocks=3) == []
    m = sp.csr_matrix(np.ones((2, 2)))
    assert len(fraudar(m, blocks=5)) == 1  # the first block takes every edge
    with pytest.raises(ValueError, match="blocks"):
        fraudar(m, blocks=0)
    with pytest.raises(ValueError, match="c must"):
        column_weights(m, c=1)


def test_fraudar_baseline_on_an_export(make_export: Callable[..., Exported]) -> None:
    # A crew of consumers 0-5 pays merchants 1, 2, 3 (every pair); consumers 6-17 pay
    # one shop each among 0, 4, 5; merchant 4 pays merchant 1, and merchant 2 invoices 3.
    crew = [(c, m, 1, 10.0) for c in range(6) for m in (1, 2, 3)]
    honest = [(6 + i, [0, 4, 5][i % 3], 1, 30.0) for i in range(12)]
    ex = make_export(6, consumer_paid=crew + honest, paid=[(4, 1, 1, 500.0)],
                     supply=[(2, 3, 1, 900.0)])
    matrix, row_merchant = payer_matrix(ex)
    assert matrix.shape == (18 + 6, 6) and matrix.nnz == 18 + 12 + 2
    assert row_merchant[18 + 4] == 4 and row_merchant[0] == -1
    result = fraudar_baseline(ex, blocks=3)
    assert isinstance(result, BaselineResult)
    assert result.clusters[0] == {"m1", "m2", "m3"}
    assert np.argsort(-result.scores)[:3].tolist() == [1, 2, 3]
    assert result.scores[1] == result.cluster_scores[0]
    assert list(result.cluster_scores) == sorted(result.cluster_scores, reverse=True)
    again = fraudar_baseline(ex, blocks=3)
    assert np.array_equal(again.scores, result.scores) and again.clusters == result.clusters


# -- GBDT --------------------------------------------------------------------------------

def test_neighbour_aggregate_exact() -> None:
    x = np.array([[1.0, -1.0], [2.0, -3.0], [4.0, -2.0], [8.0, 0.0]])
    a = sp.csr_matrix(np.array([[0, 1, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0], [5, 0, 0, 0.]]))
    out = neighbour_aggregate(x, {"paid_out": a, "paid_in": a.T})
    assert out.shape == (4, 2 * (2 * 2 + 1))
    # Out-neighbours: 0 -> {1, 2}, 1 -> {}, 2 -> {1}, 3 -> {0} (the weight 5 is a link).
    assert out[:, :5].tolist() == [[3, -2.5, 4, -2, 2], [0, 0, 0, 0, 0], [2, -3, 2, -3, 1],
                                   [1, -1, 1, -1, 1]]
    # In-neighbours: 1 <- {0, 2}; the max of negative values stays negative.
    assert out[1, 5:].tolist() == [2.5, -1.5, 4, -1, 2]
    assert aggregate_names(["a", "b"], ["paid_out", "paid_in"])[4:6] == [
        "paid_out_degree", "paid_in_mean_a"]


def test_neighbour_aggregate_in_chunks_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7))
    a = sp.random(50, 50, density=0.1, random_state=1, format="csr")
    whole = neighbour_aggregate(x, a)
    from guanxi.gnn.baselines import gbdt
    monkeypatch.setattr(gbdt, "_CHUNK_VALUES", 10)  # one feature at a time
    assert np.array_equal(neighbour_aggregate(x, a), whole)
    dense = a.toarray() != 0
    j = 7  # the max block of feature 0
    row = int(np.argmax(dense.sum(axis=1)))
    assert whole[row, j] == pytest.approx(x[dense[row], 0].max())


def _separable(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(float)
    x = rng.normal(size=(n, 4))
    x[:, 0] += 2.5 * y
    return x, y


def test_gbdt_learns_and_scores_unlabelled_rows() -> None:
    x, y = _separable(0)
    train = np.arange(len(y)) < 400
    scores = fit_predict_gbdt(x, y, train, seed=0, folds=3, params=FAST)
    assert scores.shape == y.shape and ((scores >= 0) & (scores <= 1)).all()
    assert metrics.auroc(y, scores, ~train) > 0.9
    assert np.array_equal(scores, fit_predict_gbdt(x, y, train, seed=0, folds=3, params=FAST))


def test_gbdt_scores_training_rows_out_of_fold() -> None:
    # Pure noise: a model scoring its own training rows would memorise them (AUROC near
    # 1); out of fold they are as unpredictable as they are.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 6))
    y = (rng.random(400) < 0.3).astype(float)
    params = {**FAST, "min_child_samples": 2, "num_leaves": 63}
    scores = fit_predict_gbdt(x, y, np.ones(400, bool), seed=0, folds=4, params=params)
    assert metrics.auroc(y, scores) < 0.65


def test_gbdt_groups_stay_in_one_fold() -> None:
    # Each group's rows share one random feature value and one label: if a group were
    # split across folds, its other rows would give its label away.
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(60), 5)
    y = np.repeat((rng.random(60) < 0.3).astype(float), 5)
    x = np.repeat(rng.normal(size=(60, 1)), 5, axis=0)
    together = fit_predict_gbdt(x, y, np.ones(300, bool), seed=0, folds=3, groups=groups,
                                params={**FAST, "min_child_samples": 3})
    apart = fit_predict_gbdt(x, y, np.ones(300, bool), seed=0, folds=3,
                             params={**FAST, "min_child_samples": 3})
    assert metrics.auroc(y, apart) > 0.8 and metrics.auroc(y, together) < 0.65


def test_gbdt_refuses_what_it_cannot_learn() -> None:
    x, y = _separable(0, n=40)
    with pytest.raises(ValueError, match="0 or 1"):
        fit_predict_gbdt(x, np.full(40, np.nan), np.ones(40, bool))
    few = np.zeros(40)
    few[:2] = 1
    with pytest.raises(ValueError, match="each class"):
        fit_predict_gbdt(x, few, np.ones(40, bool), folds=3)


def test_credit_gbdt_fits_observed_outcomes_only() -> None:
    x, y = _separable(3, n=800)
    defaulted = y.copy()
    defaulted[600:] = np.nan  # no loan observed: never a training row
    pd_ = credit_gbdt(x, defaulted, seed=0, folds=3, params=FAST)
    assert np.isfinite(pd_).all()
    assert metrics.auroc(y, pd_, np.isnan(defaulted)) > 0.85
    # No class reweighting: the mean PD stays near the observed default rate.
    assert abs(pd_[:600].mean() - y[:600].mean()) < 0.05


# -- Louvain + rules ---------------------------------------------------------------------

def _cliques(sizes: list[int], chain: bool = True) -> sp.csr_matrix:
    """Disjoint cliques, joined in a chain by one weak edge each if ``chain``."""
    blocks = [np.ones((s, s)) - np.eye(s) for s in sizes]
    a = sp.lil_matrix(sp.block_diag(blocks))
    starts = np.cumsum([0, *sizes])
    for i in range(len(sizes) - 1 if chain else 0):
        a[starts[i], starts[i + 1]] = a[starts[i + 1], starts[i]] = 0.05
    return sp.csr_matrix(a)


def test_communities_are_the_cliques_and_repeat() -> None:
    a = _cliques([5, 4, 6, 5])
    labels = communities(a, seed=1)
    assert labels.tolist() == [0] * 5 + [1] * 4 + [2] * 6 + [3] * 5
    assert np.array_equal(communities(a, seed=1), labels)
    alone = communities(sp.csr_matrix((3, 3)), seed=0)
    assert alone.tolist() == [0, 1, 2]


def test_rules_flag_the_planted_community_first() -> None:
    sizes = [5, 4, 6, 5, 4, 80]
    a = _cliques(sizes, chain=False)  # chained, the big clique would merge the small ones
    n = sum(sizes)
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"round": rng.uniform(0, 0.3, n), "age": rng.uniform(0, 2000, n)})
    ring = np.arange(5, 9)  # the second clique: round amounts, registered together
    x.loc[ring, "round"] = 0.9
    x.loc[ring, "age"] = 400 + np.arange(4)
    rules = [Rule("round", "round", quantile=0.8),
             Rule("synchronised", "age", "spread", high=False, quantile=0.2)]
    result = louvain_rules(a, x, rules, seed=0, size_range=(3, 50),
                           ids=[f"m{i}" for i in range(n)])
    assert result.clusters[0] == {f"m{i}" for i in ring}
    assert result.scores[ring].tolist() == [result.cluster_scores[0]] * 4
    assert 3 <= result.cluster_scores[0] < 4  # three flags: round, synchronised, size
    assert list(result.cluster_scores) == sorted(result.cluster_scores, reverse=True)
    table = rule_flags(communities(a, seed=0), x, rules, size_range=(3, 50))
    assert table["size flag"].tolist() == [True] * 5 + [False]  # 80 is no ring size
    assert table["flags"].tolist()[1] == 3


def test_rules_need_their_columns() -> None:
    a = _cliques([3, 3])
    with pytest.raises(ValueError, match="rule columns"):
        louvain_rules(a, pd.DataFrame({"x": np.zeros(6)}), [Rule("r", "missing")])
    with pytest.raises(ValueError, match="rows"):
        louvain_rules(a, pd.DataFrame({"x": np.zeros(5)}), [Rule("r", "x")])


def test_default_rules_read_feature_columns() -> None:
    from guanxi.gnn.baselines.louvain_rules import DEFAULT_RULES
    from guanxi.gnn.features import FEATURES

    assert {r.column for r in DEFAULT_RULES} <= set(FEATURES)


def test_peel_ignores_weights_too_small_to_count() -> None:
    m = sp.csr_matrix(np.array([[1.0, 1.0, 1e-12], [1.0, 1.0, 0.0], [0.0, 0.0, 1e-12]]))
    block = peel(m)
    assert block.rows.tolist() == [0, 1] and block.cols.tolist() == [0, 1]
    assert block.density == pytest.approx(1.0)
    assert peel(sp.csr_matrix(np.array([[1e-12]]))).rows.size == 0
