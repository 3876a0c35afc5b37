"""``gnn/metrics.py``: hand-made cases with known answers, and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from guanxi.gnn import metrics

Y = np.array([1, 0, 1, 0])
S = np.array([0.9, 0.8, 0.7, 0.1])


def test_perfect_and_reversed_rankings() -> None:
    y = np.array([0, 0, 1, 1, 0])
    s = np.array([0.1, 0.2, 0.9, 0.8, 0.3])
    assert metrics.auprc(y, s) == 1.0
    assert metrics.auroc(y, s) == 1.0
    assert metrics.auroc(y, -s) == 0.0
    # Worst ranking: the positives at ranks 4 and 5 -> AP = (1/4 + 2/5) / 2.
    assert metrics.auprc(y, -s) == pytest.approx((1 / 4 + 2 / 5) / 2)


def test_known_precision_recall_curve() -> None:
    # Positives ranked 1st and 3rd: precision 1 at recall 1/2, 2/3 at recall 1.
    assert metrics.auprc(Y, S) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # Pairs (pos, neg) ordered right: (0.9, 0.8), (0.9, 0.1), (0.7, 0.1); wrong: (0.7, 0.8).
    assert metrics.auroc(Y, S) == pytest.approx(3 / 4)


def test_ties_count_half() -> None:
    assert metrics.auroc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5


def test_mask_and_unknown_outcomes_leave_rows_out() -> None:
    mask = np.array([True, True, False, True])
    assert metrics.auprc(Y, S, mask) == 1.0  # the badly ranked positive is masked
    y = np.array([1, 0, np.nan, 0])
    assert metrics.auprc(y, S) == 1.0
    assert metrics.brier(np.array([1, np.nan]), np.array([0.5, 0.9])) == 0.25


def test_undefined_metrics_are_nan() -> None:
    assert math.isnan(metrics.auprc(np.array([0, 0]), np.array([0.1, 0.2])))
    assert math.isnan(metrics.auroc(np.array([1, 1]), np.array([0.1, 0.2])))
    assert math.isnan(metrics.brier(np.array([np.nan]), np.array([0.5])))
    assert math.isnan(metrics.spearman(np.array([1, 1, 1]), np.array([1, 2, 3])))


def test_brier_exact_and_checked() -> None:
    assert metrics.brier(np.array([1, 0, 1, 0]), np.array([1.0, 0.0, 0.5, 0.5])) == 0.125
    with pytest.raises(ValueError, match="probabilities"):
        metrics.brier(np.array([1]), np.array([1.5]))


def test_spearman() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert metrics.spearman(a, a**3) == pytest.approx(1.0)
    assert metrics.spearman(a, -a) == pytest.approx(-1.0)
    # d = (0, 0, 1, -1): rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert metrics.spearman(a[:4], np.array([1, 2, 4, 3])) == pytest.approx(0.8)
    assert metrics.spearman(np.array([1, np.nan, 3, 2]), np.array([1, 5, 3, 2])) == 1.0


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="one length"):
        metrics.auprc(np.array([1, 0]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="mask"):
        metrics.auroc(Y, S, np.array([True]))


def test_row_order_changes_nothing() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = rng.random(200) + 0.3 * y
    perm = rng.permutation(200)
    assert metrics.auprc(y[perm], s[perm]) == pytest.approx(metrics.auprc(y, s))
    assert metrics.auroc(y[perm], s[perm]) == pytest.approx(metrics.auroc(y, s))


def test_held_out_mask() -> None:
    mask = metrics.held_out_mask(np.array(["fraud", None, "legit", "x"], dtype=object))
    assert mask.tolist() == [False, True, False, True]


# -- rings -------------------------------------------------------------------------------

def _ids(prefix: str, n: int) -> set[str]:
    return {f"{prefix}{i}" for i in range(n)}


def test_jaccard_exactly_one_half_counts_and_049_does_not() -> None:
    ring = _ids("r", 49)
    assert metrics.ring_recall_at_k([ring], [ring | _ids("x", 51)]) == 0.0  # 49 / 100
    ring50 = _ids("r", 50)
    assert metrics.ring_recall_at_k([ring50], [ring50 | _ids("x", 50)]) == 1.0  # 50 / 100
    assert metrics.ring_recall_at_k([{"a", "b"}], [{"a", "b", "c", "d"}]) == 1.0  # 2 / 4
    assert metrics.ring_recall_at_k([{"a", "b"}], [{"a", "c", "d"}]) == 0.0  # 1 / 4


def test_jaccard_threshold_is_an_argument() -> None:
    rings, clusters = [{"a", "b", "c"}], [{"a", "b", "x"}]  # J = 2 / 4
    assert metrics.ring_recall_at_k(rings, clusters, jaccard=0.5) == 1.0
    assert metrics.ring_recall_at_k(rings, clusters, jaccard=0.51) == 0.0
    with pytest.raises(ValueError, match="jaccard"):
        metrics.ring_recall_at_k(rings, clusters, jaccard=0)


def test_recall_at_k_counts_only_the_top_k() -> None:
    rings = [{"a", "b"}, {"c", "d"}, {"e", "f"}]
    clusters = [{"a", "b"}, {"z"}, {"y"}, {"c", "d"}, {"e", "f"}]
    assert metrics.ring_recall_at_k(rings, clusters) == pytest.approx(1 / 3)  # k = 3
    assert metrics.ring_recall_at_k(rings, clusters, k=4) == pytest.approx(2 / 3)
    assert metrics.ring_recall_at_k(rings, clusters, k=5) == 1.0
    assert metrics.ring_recall_at_k(rings, clusters, k=0) == 0.0
    assert math.isnan(metrics.ring_recall_at_k([], clusters))


def test_one_cluster_finds_one_ring_of_two_disjoint() -> None:
    # A cluster holding two rings of 3 has Jaccard 3/6 with each: both count at 0.5,
    # the exact boundary; any larger cluster matches neither.
    rings = [{"a", "b", "c"}, {"d", "e", "f"}]
    assert metrics.ring_recall_at_k(rings, [rings[0] | rings[1]], k=1) == 1.0
    assert metrics.ring_recall_at_k(rings, [rings[0] | rings[1] | {"x"}], k=1) == 0.0


def test_rings_must_be_disjoint() -> None:
    with pytest.raises(ValueError, match="disjoint"):
        metrics.ring_recall_at_k([{"a", "b"}, {"b", "c"}], [{"a"}])


def test_ring_recovery_precision_recall_f1() -> None:
    rings = [{"a", "b"}, {"c", "d"}, {"e", "f", "g"}]
    clusters = [{"a", "b"}, {"c", "d", "x", "y"}, {"q", "r"}, {"e"}]
    result = metrics.ring_recovery(rings, clusters)
    assert result.precision == 0.5  # 2 of 4 clusters match
    assert result.recall == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert metrics.ring_recovery_f1(rings, clusters) == result.f1
    assert metrics.ring_recovery_f1(rings, [{"x"}]) == 0.0
    assert math.isnan(metrics.ring_recovery(rings, []).precision)


def test_recall_per_typology() -> None:
    rings = [{"a", "b"}, {"c", "d"}, {"e", "f"}, {"g", "h"}]
    typologies = ["cash_out", "shell", "shell", "cash_out"]
    clusters = [{"c", "d"}, {"a", "b"}, {"x"}, {"y"}, {"e", "f"}]
    assert metrics.recall_per_typology(rings, typologies, clusters) == {
        "cash_out": 0.5, "shell": 0.5}  # k = 4: {e, f} is 5th
    assert metrics.recall_per_typology(rings, typologies, clusters, k=5) == {
        "cash_out": 0.5, "shell": 1.0}
    with pytest.raises(ValueError, match="typologies"):
        metrics.recall_per_typology(rings, typologies[:2], clusters)


def test_relabelled_ids_change_nothing() -> None:
    rings = [{"a", "b", "c"}, {"d", "e"}]
    clusters = [{"a", "b", "x"}, {"d"}, {"d", "e", "y"}]
    rename = {i: f"M{n:07d}" for n, i in enumerate("abcdexy"[::-1])}

    def moved(sets: list[set[str]]) -> list[set[str]]:
        return [{rename[i] for i in s} for s in sets]

    assert (metrics.ring_recall_at_k(moved(rings), moved(clusters), k=3)
            == metrics.ring_recall_at_k(rings, clusters, k=3) == 1.0)
    assert metrics.ring_recovery(moved(rings), moved(clusters)) == metrics.ring_recovery(
        rings, clusters)


def test_held_out_sets_remove_training_labels() -> None:
    rings = [{"a", "b"}, {"c", "d"}]
    clusters = [{"a", "b"}, {"c", "d", "x", "y"}]
    # Ring {a, b} was a training label: it is neither a target nor a hit.
    kept_rings = metrics.held_out_sets(rings, ["a", "b"])
    kept_clusters = metrics.held_out_sets(clusters, ["a", "b"])
    assert kept_rings == [{"c", "d"}]
    assert kept_clusters == [{"c", "d", "x", "y"}]
    assert metrics.ring_recall_at_k(kept_rings, kept_clusters) == 1.0
