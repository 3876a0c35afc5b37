"""gnn/group.py and gnn/credit_scale.py: cluster means, dependency, key members, what-if,
top links and the 350-950 scale, on hand-made cases whose right answer is worked out
by hand, plus invariants (rows of the dependency sum to at most 1, the what-if never
lowers the group PD, the scale falls as PD rises)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from guanxi.gnn.credit_scale import MAX_SCORE, MIN_SCORE, credit_score, pd_of_score
from guanxi.gnn.group import (
    cluster_means,
    credibility,
    credible_group_pd,
    dependency,
    key_members,
    top_links,
    what_if,
)


def dense(matrix: sp.spmatrix) -> np.ndarray:
    return np.asarray(sp.csr_matrix(matrix).toarray())


# --- cluster_means ---------------------------------------------------------------------


def test_cluster_means_plain_and_weighted() -> None:
    labels = np.array([0, 0, 1, -1, 1])
    values = np.array([0.2, 0.4, 0.9, 100.0, 0.5])
    assert np.allclose(cluster_means(labels, values), [0.3, 0.7])  # -1 is ignored
    # Cluster 0 weighted 1:3 -> (0.2 + 1.2) / 4; cluster 1: its weights sum to zero
    # (one zero, one negative, treated as zero): the plain mean.
    weights = np.array([1.0, 3.0, 0.0, 5.0, -2.0])
    assert np.allclose(cluster_means(labels, values, weights), [0.35, 0.7])


def test_cluster_means_of_a_matrix_per_column() -> None:
    labels = np.array([1, 1, 0, -1])
    values = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0], [7.0, 70.0]])
    assert np.allclose(cluster_means(labels, values), [[5.0, 50.0], [2.0, 20.0]])
    assert np.allclose(cluster_means(labels, values, np.array([1.0, 0.0, 2.0, 1.0])),
                       [[5.0, 50.0], [1.0, 10.0]])


def test_cluster_means_without_clusters_is_empty() -> None:
    assert cluster_means(np.full(3, -1), np.ones(3)).shape == (0,)


# --- dependency ------------------------------------------------------------------------


def test_dependency_of_a_supplier_and_two_buyers() -> None:
    # Supplier 0 sells 30 to 1 and 10 to 2 (A[s, t]: s sells to t).
    supply = sp.csr_matrix(np.array([[0, 30.0, 10.0], [0, 0, 0], [0, 0, 0]]))
    d = dense(dependency([supply]))
    # 0's sales are carried 3:1 by its buyers; each buyer buys everything from 0.
    assert np.allclose(d, [[0, 0.75, 0.25], [1.0, 0, 0], [1.0, 0, 0]])


def test_dependency_with_ties_and_two_trade_kinds() -> None:
    supply = sp.csr_matrix(np.array([[0, 30.0, 10.0], [0, 0, 0], [0, 0, 0]]))
    paid = sp.csr_matrix(np.array([[0, 0, 0], [0, 0, 0], [0, 8.0, 0]]))  # 2 pays 1
    ties = sp.csr_matrix(np.array([[0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]]))  # 1, 2 one owner
    d = dense(dependency([supply, paid], ties, tie_weight=0.25))
    # Row 0: supply sales only -> [0, .75, .25].
    # Row 1: supply purchases (all from 0), paid "purchases" (paid by 2), a tie with 2:
    #   ([1, 0, 0] + [0, 0, 1] + [0, 0, .25]) / 3 parts.
    # Row 2: supply purchases from 0, paid sales to 1, a tie with 1:
    #   ([1, 0, 0] + [0, 1, 0] + [0, .25, 0]) / 3.
    assert np.allclose(d, [[0, 0.75, 0.25], [1 / 3, 0, 1.25 / 3], [1 / 3, 1.25 / 3, 0]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dependency_rows_sum_to_at_most_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 30
    trade = [sp.random(n, n, density=0.1, random_state=seed + k,
                       data_rvs=lambda size: rng.uniform(1, 1e5, size)) for k in range(2)]
    ties = sp.random(n, n, density=0.05, random_state=seed + 7)
    ties = ((ties + ties.T) > 0).astype(float)
    for d in (dependency(trade), dependency(trade, ties), dependency(trade[:1], ties, 1.0)):
        rows = np.asarray(d.sum(axis=1)).ravel()
        assert d.shape == (n, n)
        assert (d.data >= 0).all()
        assert (rows <= 1 + 1e-9).all()
        assert rows.max() > 0.99  # not trivially zero: a merchant with trade sums to 1


def test_dependency_needs_something_to_depend_on() -> None:
    with pytest.raises(ValueError, match="at least one"):
        dependency([])


# --- credibility and the group PD -------------------------------------------------------


def test_clusters_that_fail_together_make_their_outcomes_count() -> None:
    # 40 clusters of 5 observed loans, every PD 0.1. Failing together: each cluster's
    # members all default or none do (4 clusters of 40 default). Independently: 20
    # defaults spread one per cluster over 20 clusters.
    labels = np.repeat(np.arange(40), 5)
    pd = np.full(200, 0.1)
    together = np.repeat((np.arange(40) < 4).astype(float), 5)
    apart = np.zeros(200)
    apart[np.arange(20) * 5] = 1.0
    kappa = credibility(labels, pd, together)
    assert kappa is not None and 0 <= kappa < 1  # one loan outweighs the PDs
    assert credibility(labels, pd, apart) is None  # no more spread than chance
    # Unknown outcomes, merchants in no cluster and a lone cluster tell nothing.
    assert credibility(labels, pd, np.full(200, np.nan)) is None
    assert credibility(np.full(200, -1), pd, together) is None
    assert credibility(np.zeros(200, dtype=int), pd, together) is None


def test_a_stronger_shared_failure_gives_a_smaller_kappa() -> None:
    # 200 clusters of 6 whose default rates scatter around the PD 0.2 by 0.15 or 0.35.
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(200), 6)
    pd = np.full(labels.size, 0.2)
    kappas = []
    for spread in (0.15, 0.35):
        rate = np.clip(0.2 + spread * rng.standard_normal(200), 0, 1)[labels]
        kappas.append(credibility(labels, pd, (rng.random(labels.size) < rate).astype(float)))
    assert kappas[0] is not None and kappas[1] is not None and kappas[1] < kappas[0]


def test_the_group_pd_moves_toward_what_the_observed_loans_did() -> None:
    # Two clusters of four, every PD 0.2, two loans observed in each: both defaulted in
    # cluster 0, neither in cluster 1. Merchant 8 is in no cluster.
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1])
    pd = np.full(9, 0.2)
    outcome = np.array([1, 1, np.nan, np.nan, 0, 0, np.nan, np.nan, 1])
    plain = credible_group_pd(labels, pd, outcome, None)
    assert np.allclose(plain, cluster_means(labels, pd))
    moved = credible_group_pd(labels, pd, outcome, 2.0)
    # 0.2 + (2 - 0.4) / (2 + 2) and 0.2 + (0 - 0.4) / 4.
    assert np.allclose(moved, [0.6, 0.1])
    # kappa 0: the observed loans alone, around the PDs; never outside [0, 1].
    assert np.allclose(credible_group_pd(labels, pd, outcome, 0.0), [1.0, 0.0])
    # No observed loan: the mean PD, whatever kappa (0 included).
    for kappa in (0.0, 0.5):
        assert np.allclose(credible_group_pd(labels, pd, np.full(9, np.nan), kappa),
                           [0.2, 0.2])


# --- key_members and what_if -----------------------------------------------------------


def hub_and_spokes() -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """Six merchants; the cluster is 1, 3, 4, 5 (0 and 2 are outsiders). 3 and 5 depend
    on 4 for all and half of their business; 1 depends on 3 for a fifth; 4 on nobody
    inside; 0 (outside) depends on 1 entirely, which must not count."""
    d = np.zeros((6, 6))
    d[3, 4] = 1.0
    d[5, 4] = 0.5
    d[1, 3] = 0.2
    d[0, 1] = 1.0
    pd = np.array([0.5, 0.1, 0.9, 0.2, 0.05, 0.3])
    return np.array([1, 3, 4, 5]), pd, sp.csr_matrix(d)


def test_key_members_rank_by_harm_then_pd() -> None:
    members, pd, dep = hub_and_spokes()
    # Harm: 4 -> (1 - .2) * 1 + (1 - .3) * .5 = 1.15; 3 -> (1 - .1) * .2 = .18;
    # 1 and 5 -> 0 (0's dependence on 1 is outside the cluster), tie broken by PD: 5
    # (.3) before 1 (.1). Positions are merchant positions, not positions in `members`.
    assert key_members(members, pd, dep, top=4).tolist() == [4, 3, 5, 1]
    assert key_members(members, pd, dep).tolist() == [4, 3, 5]
    assert key_members(members, pd, dep, top=1).tolist() == [4]


def test_a_healthy_dependant_counts_more_than_a_failing_one() -> None:
    # 0 and 1 each carry all of one dependant's business; 0's dependant (2) is healthy,
    # 1's (3) nearly defaulted: 0 hurts more.
    d = np.zeros((4, 4))
    d[2, 0] = d[3, 1] = 1.0
    order = key_members(np.arange(4), np.array([0.1, 0.1, 0.05, 0.95]), sp.csr_matrix(d))
    assert order.tolist()[:2] == [0, 1]


def test_what_if_spreads_a_failure_by_dependency() -> None:
    members, pd, dep = hub_and_spokes()
    # 4 fails: 3 -> 1 - .8 * (1 - .5 * 1) = .6; 5 -> 1 - .7 * (1 - .5 * .5) = .475;
    # 1 keeps .1; 4 itself 1.0. Mean over the four.
    assert what_if(members, pd, dep, 4, contagion=0.5) == pytest.approx(
        (0.1 + 0.6 + 1.0 + 0.475) / 4)
    # No contagion: only the failed member changes.
    assert what_if(members, pd, dep, 4, contagion=0.0) == pytest.approx(
        (0.1 + 0.2 + 1.0 + 0.3) / 4)
    # Full contagion: whoever depends wholly on 4 fails with it.
    assert what_if(members, pd, dep, 4, contagion=1.0) == pytest.approx(
        (0.1 + 1.0 + 1.0 + (1 - 0.7 * 0.5)) / 4)


def test_what_if_never_lowers_the_group_pd() -> None:
    members, pd, dep = hub_and_spokes()
    base = pd[members].mean()
    for failed in members:
        for contagion in (0.0, 0.3, 1.0):
            assert what_if(members, pd, dep, int(failed), contagion) >= base


# --- top_links -------------------------------------------------------------------------


def test_top_links_are_internal_strongest_first() -> None:
    labels = np.array([0, 0, 0, 1, 1, -1])
    score = np.array([1.0, 0.25, 1.0, 0.64, 1.0, 1.0])
    paid = np.zeros((6, 6))
    paid[0, 1] = 4.0   # inside cluster 0: 4 * sqrt(1 * .25) = 2
    paid[2, 0] = 1.0   # inside cluster 0: 1 * 1 = 1
    paid[1, 2] = 3.0   # inside cluster 0: 3 * sqrt(.25) = 1.5
    paid[2, 3] = 9.0   # between clusters: left out
    paid[4, 5] = 9.0   # to a merchant in no cluster: left out
    paid[3, 4] = 2.0   # inside cluster 1: 2 * sqrt(.64) = 1.6
    paid[4, 3] = 0.5   # the other way: the pair's weight is both ways, 2.5 * .8 = 2
    links = top_links(labels, score, {"paid": sp.csr_matrix(paid)})
    assert set(links) == {0, 1}
    assert [(i, j, k) for i, j, k, _ in links[0]] == [(0, 1, "paid"), (1, 2, "paid"),
                                                      (0, 2, "paid")]
    assert [w for *_, w in links[0]] == pytest.approx([2.0, 1.5, 1.0])
    assert links[1] == [(3, 4, "paid", pytest.approx(2.0))]
    assert len(top_links(labels, score, {"paid": sp.csr_matrix(paid)}, top=2)[0]) == 2


def test_top_links_list_a_pair_once_per_kind() -> None:
    labels = np.array([0, 0])
    phone = sp.csr_matrix(np.array([[0, 0.5], [0.5, 0]]))
    paid = sp.csr_matrix(np.array([[0, 3.0], [0, 0]]))
    links = top_links(labels, np.ones(2), {"phone": phone, "paid": paid})
    assert sorted(k for *_, k, _ in links[0]) == ["paid", "phone"]
    assert top_links(np.array([-1, -1]), np.ones(2), {"paid": paid}) == {}


def test_a_shared_identifier_link_weighs_what_the_docstring_says() -> None:
    labels = np.array([0, 0])
    phone = sp.csr_matrix(np.array([[0, 1.0], [1.0, 0]]))  # one phone, two merchants
    links = top_links(labels, np.ones(2), {"phone": phone})
    assert links[0] == [(0, 1, "phone", pytest.approx(1.0))]


# --- credit_scale ----------------------------------------------------------------------


def test_credit_score_anchors() -> None:
    # 600 at 5 %; 40 points halve the odds; clipped to 350..950.
    assert credit_score([0.05, 0.05 / 0.95 / 2 / (1 + 0.05 / 0.95 / 2)]).tolist() == [600, 640]
    assert credit_score([0.0, 1.0, 1e-9, 0.999]).tolist() == [MAX_SCORE, MIN_SCORE, 950, 350]


def test_credit_score_falls_as_pd_rises_and_stays_in_range() -> None:
    # PDs evenly spaced in log-odds from about 6e-6 to 0.95, with the ends 0 and 1.
    pd = np.concatenate([[0.0], 1 / (1 + np.exp(-np.linspace(-12, 3, 5000))), [1.0]])
    scores = credit_score(pd)
    assert scores.dtype == np.int64
    assert ((scores >= MIN_SCORE) & (scores <= MAX_SCORE)).all()
    assert (np.diff(scores) <= 0).all()
    assert scores[0] == MAX_SCORE and scores[-1] == MIN_SCORE
    # Every point of the scale is reached: it moves smoothly, not in steps.
    assert np.unique(scores).tolist() == list(range(MIN_SCORE, MAX_SCORE + 1))


def test_pd_of_score_inverts_credit_score() -> None:
    points = np.arange(MIN_SCORE, MAX_SCORE + 1)
    assert credit_score(pd_of_score(points)).tolist() == points.tolist()
