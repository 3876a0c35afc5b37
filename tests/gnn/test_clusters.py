"""gnn/clusters.py: suspicious groups, assembled clusters and persistent ids, on hand-made
graphs whose right answer is known, plus invariants (a relabelled merchant order or
group numbering changes nothing, same seed same answer)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from guanxi.gnn.cluster_scores import cluster_table
from guanxi.gnn.clusters import (
    assemble,
    cluster_ids,
    core,
    members,
    stable_groups,
    suspicious_groups,
)
from guanxi.gnn.features import merchant_features
from guanxi.gnn.incremental import changed_only
from guanxi.gnn.labels import Labels
from guanxi.gnn.pipeline import scores_of
from guanxi.gnn.prepare import Prepared
from guanxi.gnn.projection import merchant_links
from guanxi.gnn.scorer import NodeScores, unsupervised_ring


def sym(n: int, edges: list[tuple[int, int, float]]) -> sp.csr_matrix:
    """A symmetric ``(n, n)`` link-strength matrix from ``(i, j, w)`` triples."""
    a = np.zeros((n, n))
    for i, j, w in edges:
        a[i, j] = a[j, i] = w
    return sp.csr_matrix(a)


def clique(nodes: range | list[int], w: float = 1.0) -> list[tuple[int, int, float]]:
    return [(i, j, w) for i, j in itertools.combinations(nodes, 2)]


def partition(labels: np.ndarray) -> set[frozenset[int]]:
    """The groups of ``labels`` as sets of positions, whatever their numbers."""
    return {frozenset(np.flatnonzero(labels == g).tolist()) for g in np.unique(labels[labels >= 0])}


# --- suspicious_groups ----------------------------------------------------------------


def two_rings_and_an_honest_bridge() -> tuple[sp.csr_matrix, np.ndarray]:
    """Ring {0, 1, 2} and ring {3, 4, 5} (triangles, strength 1), merchant 6 honest
    (score 0.05) linked to one member of each; 7 and 8 are suspicious loners."""
    edges = clique([0, 1, 2]) + clique([3, 4, 5]) + [(2, 6, 1.0), (6, 3, 1.0)]
    score = np.array([0.9, 0.8, 0.7, 0.95, 0.6, 0.85, 0.05, 0.9, 0.9])
    return sym(9, edges), score


def test_two_rings_joined_through_an_honest_merchant_are_split() -> None:
    adjacency, score = two_rings_and_an_honest_bridge()
    labels = suspicious_groups(adjacency, score, min_score=0.2)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, -1, -1, -1]


def test_the_honest_merchant_joins_them_once_it_is_a_candidate() -> None:
    # The same graph with the bridge suspicious: one connected group of seven.
    adjacency, score = two_rings_and_an_honest_bridge()
    score[6] = 0.5
    labels = suspicious_groups(adjacency, score, min_score=0.2)
    assert labels.tolist() == [0, 0, 0, 0, 0, 0, 0, -1, -1]


def test_candidates_below_min_score_are_excluded() -> None:
    # A triangle 0-1-2 where 2 scores 0.19 < 0.2: only 0 and 1 form a group; a linked
    # pair 3-4 where 4 is below: no group (a group needs two candidates).
    adjacency = sym(5, clique([0, 1, 2]) + [(3, 4, 1.0)])
    score = np.array([0.9, 0.2, 0.19, 0.9, 0.1])
    assert suspicious_groups(adjacency, score, min_score=0.2).tolist() == [0, 0, -1, -1, -1]
    # Raise the bar above 0.2 and merchant 1 leaves too: nothing is left.
    assert suspicious_groups(adjacency, score, min_score=0.5).tolist() == [-1] * 5
    # Lower it and 2 and 4 join.
    assert suspicious_groups(adjacency, score, min_score=0.05).tolist() == [0, 0, 0, 1, 1]


def test_fewer_than_two_candidates_or_no_links_give_no_group() -> None:
    adjacency = sym(3, [(0, 1, 1.0)])
    assert suspicious_groups(adjacency, np.array([0.9, 0.1, 0.1])).tolist() == [-1, -1, -1]
    empty = sp.csr_matrix((3, 3))
    assert suspicious_groups(empty, np.array([0.9, 0.9, 0.9])).tolist() == [-1, -1, -1]


def test_a_candidate_tied_to_a_ring_by_weak_links_only_is_left_out() -> None:
    # Ring {0, 1, 2}; 3 scores high but shares only two customers with it (0.3 each,
    # 0.6 in all): below one full link, so it stays out and the ring is found alone.
    adjacency = sym(4, clique([0, 1, 2]) + [(2, 3, 0.3), (1, 3, 0.3)])
    score = np.array([0.9, 0.8, 0.7, 0.9])
    assert suspicious_groups(adjacency, score).tolist() == [0, 0, 0, -1]
    # Ask for no least strength and it joins, as before the weighted core.
    assert suspicious_groups(adjacency, score, min_strength=0.0).tolist() == [0, 0, 0, 0]
    # One more customer in common (0.9) is still less than one trade link ...
    three = sym(4, clique([0, 1, 2]) + [(2, 3, 0.3), (1, 3, 0.3), (0, 3, 0.3)])
    assert suspicious_groups(three, score).tolist() == [0, 0, 0, -1]
    # ... a trade link with a member is one.
    traded = sym(4, clique([0, 1, 2]) + [(2, 3, 1.0)])
    assert suspicious_groups(traded, score).tolist() == [0, 0, 0, 0]


def test_a_chain_of_weak_ties_no_longer_merges_two_rings() -> None:
    # Rings {0, 1, 2} and {5, 6, 7} (triangles); suspicious shops 3 and 4 chain them
    # with weak ties: 3 holds 0.6 + 0.3 and 4 the same, under one full link each.
    edges = clique([0, 1, 2]) + clique([5, 6, 7]) + [(2, 3, 0.6), (3, 4, 0.3), (4, 5, 0.6)]
    score = np.full(8, 0.9)
    assert partition(suspicious_groups(sym(8, edges), score)) == {
        frozenset({0, 1, 2}), frozenset({5, 6, 7})}
    assert partition(suspicious_groups(sym(8, edges), score, min_strength=0.0)) == {
        frozenset(range(8))}


def test_the_core_is_peeled_until_it_holds() -> None:
    # A path 0-1-2-3 of full links: the ends hold 1, the middle 2. At 1.5 the ends go,
    # and then the middle pair holds only 1 each and goes too: nothing is left.
    path = sym(4, [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0)])
    assert core(path, 1.0).tolist() == [True] * 4
    assert core(path, 1.5).tolist() == [False] * 4
    assert core(sym(3, clique([0, 1, 2])), 2.0).tolist() == [True] * 3


@pytest.mark.parametrize("k", [2, 3, 7, 8, 11, 14, 23])
def test_k_merchants_on_one_identifier_hold_one_link_each(k: int) -> None:
    # Resource allocation gives each pair 1/(k - 1); summed in floating point it is
    # 0.999... for some k, which is still one link.
    shared = sym(k, clique(range(k), 1.0 / (k - 1)))
    assert core(shared, 1.0).all()
    assert suspicious_groups(shared, np.full(k, 0.9)).tolist() == [0] * k


def test_a_link_with_oneself_or_one_of_no_number_holds_no_one() -> None:
    looped = sp.csr_matrix(np.array([[0.6, 0.4], [0.4, 0.6]]))
    assert core(looped, 1.0).tolist() == [False, False]
    assert core(looped, 1.0).tolist() == core(sym(2, [(0, 1, 0.4)]), 1.0).tolist()
    assert np.allclose(looped.diagonal(), 0.6)  # the caller's matrix is left alone
    broken = sym(3, clique([0, 1]) + [(1, 2, float("nan"))])
    assert core(broken, 1.0).tolist() == [True, True, False]


def two_cliques_with_a_weak_link() -> sp.csr_matrix:
    """Cliques {0..5} and {6..11} (strength 1) joined by one weak link 5-6 (0.05)."""
    return sym(12, clique(range(6)) + clique(range(6, 12)) + [(5, 6, 0.05)])


def test_a_group_above_max_size_is_split_by_louvain() -> None:
    adjacency = two_cliques_with_a_weak_link()
    score = np.full(12, 0.9)
    # Within max_size the weak link holds the twelve together ...
    assert suspicious_groups(adjacency, score, max_size=40).tolist() == [0] * 12
    # ... above it Louvain cuts exactly the weak link.
    split = suspicious_groups(adjacency, score, max_size=8)
    assert split.tolist() == [0] * 6 + [1] * 6


def test_a_part_louvain_cannot_bring_under_max_size_is_left_ungrouped() -> None:
    # A clique of ten is one community; with max_size 8 nobody is grouped, while the
    # separate pair 10-11 still is.
    adjacency = sym(12, clique(range(10)) + [(10, 11, 1.0)])
    labels = suspicious_groups(adjacency, np.full(12, 0.9), max_size=8)
    assert labels.tolist() == [-1] * 10 + [0, 0]


def test_groups_do_not_depend_on_merchant_order_or_repeat_calls() -> None:
    adjacency = two_cliques_with_a_weak_link()
    score = np.linspace(0.3, 0.95, 12)
    first = suspicious_groups(adjacency, score, max_size=8, seed=3)
    assert np.array_equal(first, suspicious_groups(adjacency, score, max_size=8, seed=3))
    perm = np.random.default_rng(0).permutation(12)
    permuted = suspicious_groups(adjacency[perm][:, perm], score[perm], max_size=8, seed=3)
    back = np.empty_like(permuted)
    back[perm] = permuted
    assert partition(back) == partition(first) == {frozenset(range(6)), frozenset(range(6, 12))}


# --- stable_groups ---------------------------------------------------------------------

# Pools of 3 to 7 of 100 merchants; merchants 7 to 99 are unlinked and score 0.01.
POOLS = (0.03, 0.04, 0.05, 0.06, 0.07)


def scores(*top: float) -> np.ndarray:
    return np.r_[top, np.full(100 - len(top), 0.01)]


def test_two_rings_that_the_largest_pool_bridges_stay_two() -> None:
    # Ring A (0-2) is whole from the pool of 3 on, ring B (3-5) from the pool of 5 (two
    # of it) and 6; the bridge 6 joins them in the pool of 7 only.
    adjacency = sym(100, clique([0, 1, 2]) + clique([3, 4, 5]) + [(2, 6, 1.0), (6, 3, 1.0)])
    score = scores(0.95, 0.94, 0.93, 0.92, 0.91, 0.90, 0.5)
    labels = stable_groups(adjacency, score, shares=POOLS)
    assert partition(labels) == {frozenset({0, 1, 2}), frozenset({3, 4, 5})}
    # One pool of 7, the grouping of models saved before the pools: one group.
    one = suspicious_groups(adjacency, score, min_score=0.4)
    assert partition(one) == {frozenset(range(7))}


def test_a_ring_keeps_out_the_town_its_trading_partner_brings() -> None:
    # Ring 0-2; 3 trades with two of its members and with a town 4-6. Two suspicious
    # loners (7, 8) fill the pools of 4 and 5, so 3 joins in the pools of 6 and 7 and
    # the town in that of 7: two and one of the five pools the group lives in.
    adjacency = sym(100, clique([0, 1, 2]) + [(3, 0, 1.0), (3, 1, 1.0)] + clique([3, 4, 5, 6]))
    score = scores(0.9, 0.85, 0.8, 0.4, 0.3, 0.2, 0.15, 0.6, 0.5)
    labels = stable_groups(adjacency, score, shares=POOLS)
    assert partition(labels) == {frozenset({0, 1, 2})}
    # Without the loners 3 is in four pools of five and 4 in three: they join; 5 and
    # 6, in two and one, do not.
    near = stable_groups(adjacency, scores(0.9, 0.85, 0.8, 0.4, 0.3, 0.2, 0.15), shares=POOLS)
    assert partition(near) == {frozenset(range(5))}


def test_a_ring_whole_only_in_the_largest_pools_is_found_there() -> None:
    # Ring 0-4 whose members score 0.9 to 0.5, and nothing else linked: the pools of 3
    # and 4 hold part of it, those of 5 to 7 all of it, so all five are members.
    adjacency = sym(100, clique(range(5)))
    labels = stable_groups(adjacency, scores(0.9, 0.8, 0.7, 0.6, 0.5), shares=POOLS)
    assert partition(labels) == {frozenset(range(5))}
    # A lone pair is a group; fewer than two linked candidates are none.
    pair = stable_groups(sym(100, [(0, 1, 1.0)]), scores(0.9, 0.8), shares=POOLS)
    assert partition(pair) == {frozenset({0, 1})}
    assert (stable_groups(sym(100, []), scores(0.9, 0.8), shares=POOLS) == -1).all()


def test_a_group_over_max_size_is_no_group() -> None:
    # The ring of five above, with room for four: a town of mildly suspicious shops is
    # not a ring, and no part of it split off in any pool.
    adjacency = sym(100, clique(range(5)))
    labels = stable_groups(adjacency, scores(0.9, 0.8, 0.7, 0.6, 0.5), shares=POOLS,
                           max_size=4)
    assert (labels == -1).all()


def test_stable_groups_are_disjoint_bounded_and_independent_of_merchant_order() -> None:
    rng = np.random.default_rng(5)
    n = 400
    edges = [(int(i), int(j), float(w)) for i, j, w in
             zip(rng.integers(0, n, 900), rng.integers(0, n, 900), rng.uniform(0.3, 2, 900),
                 strict=True) if i != j]
    adjacency = sym(n, edges)
    score = rng.permutation(n) / n  # distinct: no ties for the order to break
    labels = stable_groups(adjacency, score, shares=(0.05, 0.1, 0.2, 0.3), max_size=12)
    sizes = np.bincount(labels[labels >= 0])
    assert labels.max() >= 2 and sizes.min() >= 2 and sizes.max() <= 12
    perm = rng.permutation(n)
    moved = stable_groups(adjacency[perm][:, perm], score[perm],
                          shares=(0.05, 0.1, 0.2, 0.3), max_size=12)
    assert partition(labels) == {frozenset(perm[list(g)].tolist()) for g in partition(moved)}


# --- assemble --------------------------------------------------------------------------


def test_assemble_puts_suspicious_groups_first_then_business_groups() -> None:
    suspicious = np.array([0, 0, -1, -1, -1, 1, 1, -1])
    communities = np.array([5, 5, 7, 7, 9, 3, 3, -1])
    # Suspicious 0 -> 0; community 7's two free merchants -> a business group; community
    # 9 has one free merchant (no group); suspicious 1; merchant 7 has no community.
    # Numbered by first appearance: 0, business 1, suspicious-1 2.
    assert assemble(suspicious, communities).tolist() == [0, 0, 1, 1, -1, 2, 2, -1]


def test_assemble_gives_a_community_only_its_free_merchants() -> None:
    # Merchants 0 and 1 are a ring inside community 4; 2 and 3, also in it, form the
    # business group; a lone free member of a community would be no group.
    assert assemble(np.array([0, 0, -1, -1]), np.array([4, 4, 4, 4])).tolist() == [0, 0, 1, 1]
    assert assemble(np.array([0, 0, 0, -1]), np.array([4, 4, 4, 4])).tolist() == [0, 0, 0, -1]


def test_assemble_leaves_communities_above_max_size_out() -> None:
    suspicious = np.full(7, -1)
    communities = np.array([1, 1, 1, 2, 2, 8, 8])
    assert assemble(suspicious, communities, max_size=2).tolist() == [-1, -1, -1, 0, 0, 1, 1]
    assert assemble(suspicious, communities, max_size=3).tolist() == [0, 0, 0, 1, 1, 2, 2]


def test_assemble_numbers_equal_partitions_equally() -> None:
    communities = np.array([9, 9, 2, 2, 2, 6, 6])
    a = assemble(np.array([-1, -1, 1, 1, -1, 0, 0]), communities)
    b = assemble(np.array([-1, -1, 0, 0, -1, 5, 5]), communities + 100)
    assert a.tolist() == b.tolist() == [0, 0, 1, 1, -1, 2, 2]


def test_assemble_of_nothing_is_nothing() -> None:
    assert assemble(np.full(3, -1), np.full(3, -1)).tolist() == [-1, -1, -1]
    assert assemble(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []


def test_members_lists_each_cluster_in_merchant_order() -> None:
    labels = np.array([1, 0, -1, 1, 0])
    assert members(labels, ["a", "b", "c", "d", "e"]) == [["b", "e"], ["a", "d"]]


# --- cluster_ids -----------------------------------------------------------------------


@pytest.mark.parametrize(("new", "kept"), [
    (["a", "b", "c", "d"], True),   # Jaccard 1
    (["a", "b", "c"], True),        # 3/4
    (["a", "b"], True),             # 2/4 = 0.5: the bound is inclusive
    (["a", "b", "c", "d", "e", "f", "g", "h"], True),  # 4/8
    (["a", "b", "c", "d", "e", "f", "g", "h", "i"], False),  # 4/9
    (["a"], False),                 # 1/4
    (["a", "x", "y"], False),       # 1/6
])
def test_a_previous_id_persists_at_jaccard_of_one_half_or_more(new: list[str], kept: bool) -> None:
    got = cluster_ids([new], {"C-old": ["a", "b", "c", "d"]})
    assert (got == ["C-old"]) is kept
    if not kept:
        assert re.fullmatch(r"C[0-9a-f]{12}", got[0])


def test_a_previous_id_is_used_once() -> None:
    # Both halves of C-old overlap it by exactly 0.5: the first takes the id, the other
    # gets a derived one.
    got = cluster_ids([["a", "b"], ["c", "d"]], {"C-old": ["a", "b", "c", "d"]})
    assert got[0] == "C-old"
    assert got[1] != "C-old" and got[1] == cluster_ids([["c", "d"]])[0]


def test_the_best_overlap_wins_each_new_group_takes_one_id() -> None:
    # C-small overlaps the new group 2/3, C-exact 3/3: C-exact wins although it comes
    # second; C-small is not reused for the other group (Jaccard 0 there).
    previous = {"C-small": ["a", "b"], "C-exact": ["a", "b", "c"]}
    got = cluster_ids([["x", "y"], ["a", "b", "c"]], previous)
    assert got[1] == "C-exact"
    assert got[0] not in previous
    # Two previous clusters split 1:1 onto two new ones each keep their id.
    previous = {"P": ["a", "b", "c"], "Q": ["d", "e", "f"]}
    assert cluster_ids([["d", "e", "f", "g"], ["a", "b"]], previous) == ["Q", "P"]


def test_derived_ids_depend_on_the_members_only() -> None:
    one = cluster_ids([["m2", "m1", "m3"], ["m9", "m8"]])
    assert one == cluster_ids([["m8", "m9"], ["m3", "m1", "m2"]])[::-1]
    assert one == cluster_ids([["m1", "m2", "m3"], ["m8", "m9"]], {"C-x": ["z1", "z2"]})
    assert len(set(one)) == 2
    assert all(re.fullmatch(r"C[0-9a-f]{12}", i) for i in one)
    assert cluster_ids([["m1", "m2"]]) != cluster_ids([["m1", "m3"]])
    assert cluster_ids([]) == []


# --- cluster_table: the clusters as scored rows --------------------------------------------


def path_of_four(make_export) -> tuple[Prepared, NodeScores]:
    """m0 -> m1 -> m2 -> m3 pay each other along a path, all in one community; m1 and m2
    are a suspicious group. No labels, no trees: scores as an unsupervised model gives."""
    ex = make_export(4, paid=[(0, 1, 1, 100.0), (1, 2, 1, 100.0), (2, 3, 1, 100.0)])
    links = merchant_links(ex)
    prep = Prepared(ex, links, pd.DataFrame(index=range(4)), np.zeros(4, dtype=np.int64),
                    Labels(np.full(4, -1, dtype=np.int8), np.full(4, np.nan)))
    nodes = NodeScores(ring=np.array([0.1, 0.9, 0.8, 0.1]), pd=None,
                       groups=np.array([-1, 0, 0, -1]), embedding=None,
                       ring_inputs=np.zeros((4, 0), dtype=np.float32), ring_names=[],
                       credit_inputs=None, credit_names=[])
    return prep, nodes


def test_cluster_table_scores_the_ring_and_leaves_out_unlinked_leftovers(make_export) -> None:
    prep, nodes = path_of_four(make_export)
    table, of_merchant = cluster_table(prep, nodes)
    # m0 and m3 share a community but no link once the ring m1-m2 is taken: no group.
    ring_id = cluster_ids([["m1", "m2"]])[0]
    assert of_merchant.tolist() == [None, ring_id, ring_id, None]
    assert len(table) == 1
    ring = table.iloc[0]
    assert ring["members"] == ["m1", "m2"]
    # Both members link to the group with strength 1: the plain mean.
    assert ring["collusion_score"] == pytest.approx(0.85)
    assert ring["group_pd"] is None and ring["credit_score"] is None  # no PD model
    assert ring["key_members"] == ["m1", "m2"]  # by ring score without a PD
    # A flow counts one per linked pair (as in Links.combined), not its yuan.
    assert ring["top_links"] == [{"source": "m1", "target": "m2", "type": "PAID",
                                  "weight": pytest.approx(np.sqrt(0.9 * 0.8), abs=1e-3)}]
    assert ring["top_factors"] == []


def test_a_table_of_some_clusters_gives_their_rows_as_the_whole_table_does(make_export
                                                                         ) -> None:
    # Two rings, m1-m2 and m5-m6, on two paths: an incremental run re-scoring m6 needs
    # the second ring's row only, the same row the whole table has.
    ex = make_export(8, paid=[(0, 1, 1, 100.0), (1, 2, 1, 100.0), (2, 3, 1, 100.0),
                              (4, 5, 2, 50.0), (5, 6, 2, 50.0), (6, 7, 2, 50.0)])
    prep = Prepared(ex, merchant_links(ex), pd.DataFrame(index=range(8)),
                    np.zeros(8, dtype=np.int64),
                    Labels(np.full(8, -1, dtype=np.int8), np.full(8, np.nan)))
    # Each member's own contributions: a row of the table must average its members'.
    contrib = np.column_stack([np.arange(8.0), 8.0 - np.arange(8.0)])
    nodes = NodeScores(ring=np.array([0.1, 0.9, 0.8, 0.1, 0.2, 0.7, 0.6, 0.1]), pd=None,
                       groups=np.array([-1, 0, 0, -1, -1, 1, 1, -1]), embedding=None,
                       ring_inputs=contrib.astype(np.float32), ring_names=["up", "down"],
                       credit_inputs=None, credit_names=[], ring_contrib=contrib)
    whole, of_merchant = cluster_table(prep, nodes)
    only = np.zeros(8, dtype=bool)
    only[6] = True
    some, of_merchant_too = cluster_table(prep, nodes, only=only)
    assert len(whole) == 2 and some["members"].tolist() == [["m5", "m6"]]
    assert some.iloc[0].to_dict() == whole.set_index("cluster_id", drop=False).loc[
        some.iloc[0]["cluster_id"]].to_dict()
    assert some.iloc[0]["top_factors"][0] == {"score": "collusion", "name": "up",
                                              "value": 5.5, "weight": 5.5}
    assert of_merchant_too.tolist() == of_merchant.tolist()  # every merchant's cluster
    # Re-scoring m7 alone (in no cluster): no cluster row, and the cut is m7's row.
    lone = np.zeros(8, dtype=bool)
    lone[7] = True
    scores = scores_of(prep, nodes, "v1", only=lone)
    assert scores.clusters.empty
    cut, retired = changed_only(prep, scores, {}, lone)
    assert cut.merchants["merchant_id"].tolist() == ["m7"] and cut.clusters.empty
    assert retired == []


def test_every_cluster_of_an_unsupervised_model_has_an_explanation(make_export) -> None:
    prep, nodes = path_of_four(make_export)
    table, _ = cluster_table(prep, nodes)
    assert all(row.top_factors or row.top_links for row in table.itertuples())


def test_without_labels_a_dense_block_of_payers_ranks_first(make_export) -> None:
    # Eight consumers pay the same four shops, each of them; forty others pay one of
    # eight other shops each: the unsupervised score puts the block's shops first.
    block = [(c, m, 3, 300.0) for c in range(8) for m in range(4)]
    scattered = [(8 + c, 4 + c % 8, 2, 150.0) for c in range(40)]
    ex = make_export(12, consumer_paid=block + scattered)
    links = merchant_links(ex)
    features = merchant_features(ex, links)
    prep = Prepared(ex, links, features, np.zeros(12, dtype=np.int64),
                    Labels(np.full(12, -1, dtype=np.int8), np.full(12, np.nan)))
    names = list(features.columns)
    ring, unusual, dense = unsupervised_ring(prep, features.to_numpy(np.float32), names)
    assert set(np.argsort(-ring)[:4].tolist()) == {0, 1, 2, 3}
    assert ((ring >= 0) & (ring <= 1)).all()
    assert dense[:4].tolist() == [1.0] * 4 and (dense[4:] < 1).all()
    assert unusual.shape == features.shape


def test_without_payments_the_unsupervised_score_keeps_its_range(make_export) -> None:
    ex = make_export(5, identifiers={"Phone": [(0, 0), (1, 0)]})
    links = merchant_links(ex)
    features = merchant_features(ex, links)
    prep = Prepared(ex, links, features, np.zeros(5, dtype=np.int64),
                    Labels(np.full(5, -1, dtype=np.int8), np.full(5, np.nan)))
    ring, _, dense = unsupervised_ring(prep, features.to_numpy(np.float32),
                                       list(features.columns))
    assert (dense == 0).all()
    assert ring.max() == 1.0 and ring.min() == 0.0  # no block: the tie-break alone, on [0, 1]
