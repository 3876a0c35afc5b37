"""gnn/history.py: how clusters changed between two runs, on memberships whose answer
is known by heart."""

from __future__ import annotations

from guanxi.gnn.history import Change, changes, gone


def test_the_same_cluster_is_same_and_a_new_id_is_new() -> None:
    out = changes({"C1": ["a", "b"]}, {"C1": ["b", "a"], "C2": ["x", "y"]})
    assert out["C1"] == Change("same")
    assert out["C2"] == Change("new", joined=["x", "y"])


def test_joins_and_leaves() -> None:
    out = changes({"C1": ["a", "b", "c"]}, {"C1": ["a", "b", "d"]})
    assert out["C1"] == Change("changed", joined=["d"], left=["c"])


def test_a_cluster_absorbed_whole_is_merged_into_the_one_that_kept_its_id() -> None:
    out = changes({"C1": ["a", "b", "c"], "C2": ["d", "e"]}, {"C1": ["a", "b", "c", "d", "e"]})
    assert out["C1"] == Change("merged", joined=["d", "e"], merged_from=["C2"])
    assert gone({"C1": [], "C2": []}, out) == ["C2"]


def test_two_clusters_joined_under_a_new_id_is_a_merge() -> None:
    out = changes({"C1": ["a", "b"], "C2": ["c", "d"]}, {"C9": ["a", "b", "c", "d"]})
    assert out["C9"].event == "merged" and out["C9"].merged_from == ["C1", "C2"]


def test_a_part_that_leaves_to_form_its_own_cluster_is_a_split() -> None:
    out = changes({"C1": ["a", "b", "c", "d", "e"]}, {"C1": ["a", "b"], "C7": ["c", "d", "e"]})
    assert out["C1"] == Change("split", left=["c", "d", "e"], split_into=["C7"])
    assert out["C7"].event == "new"


def test_a_cluster_halved_between_two_others_merged_into_neither() -> None:
    # Half of C3 goes each way: no majority, so neither side absorbed it.
    before = {"C1": ["a", "b", "c"], "C2": ["d", "e", "f"], "C3": ["x", "y"]}
    out = changes(before, {"C1": ["a", "b", "c", "x"], "C2": ["d", "e", "f", "y"]})
    assert out["C1"] == Change("changed", joined=["x"])
    assert out["C2"] == Change("changed", joined=["y"])
    assert gone(before, out) == ["C3"]
