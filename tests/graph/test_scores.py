"""Scores into Neo4j and out to files, against the real Neo4j: six merchants, two runs
whose right answer is known, and the invariants a write must keep (writing twice
equals once, batch size and workers change nothing, a new run replaces the old one
and keeps its clusters' history, a run being written is never read). The kill -9
test of a real writer is in tests/gnn/test_refresh.py."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from guanxi.errors import GuanxiError, InputError
from guanxi.gnn.scores import ScoreSet
from guanxi.graph.connection import Graph
from guanxi.graph.scores import (
    CLUSTER_FILE_COLUMNS,
    MERCHANT_FILE_COLUMNS,
    NoScores,
    cluster_history,
    export_folder,
    export_scores,
    read_scores,
    run_id,
    scoring_runs,
    write_scores,
)
from guanxi.graph.similar import INDEX_NAME, ensure_vector_index
from guanxi.queries import load
from guanxi.ui import views

IDS = [f"M{i}" for i in range(1, 7)]
AT_A = datetime(2026, 11, 30, 4, 25, 1, 123456, tzinfo=UTC)
AT_B = datetime(2026, 12, 7, 4, 0, 0, tzinfo=UTC)
FACTORS = [{"score": "collusion", "name": "shared_devices", "value": 3, "weight": 0.314},
           {"score": "credit", "name": "pd_mean", "value": 0.0812, "weight": -0.05}]
LINKS = [{"source": "M1", "target": "M2", "type": "USES", "weight": 1.0,
          "detail": "设备 D1"}]


def _merchants_graph(graph: Graph) -> None:
    graph.write("UNWIND $ids AS id CREATE (:Merchant {id: id, name: '店' + id})", ids=IDS)


def run_a() -> ScoreSet:
    """CA = M1, M2, M3; CB = M4, M5; M6 in no cluster; embeddings of size 4."""
    merchants = pd.DataFrame({
        "merchant_id": IDS,
        "cluster_id": ["CA", "CA", "CA", "CB", "CB", None],
        "ring_score": [0.91, 0.85, 0.4, 0.12, 0.1, 0.01],
        "pd": [0.2, 0.25, 0.1, 0.05, 0.04, 0.02],
        "credit_score": [480, 455, 600, 780, 790, 880],
    })
    clusters = pd.DataFrame({
        "cluster_id": ["CA", "CB"],
        "size": [3, 2],
        "collusion_score": [0.88, 0.11],
        "group_pd": [0.31, 0.07],
        "credit_score": [430, 760],
        "key_members": [["M2", "M1"], ["M4"]],
        "top_factors": [FACTORS, []],
        "top_links": [LINKS, []],
        "members": [["M1", "M2", "M3"], ["M4", "M5"]],
    })
    embeddings = (np.arange(24, dtype=np.float32).reshape(6, 4) / 7).astype(np.float32)
    return ScoreSet(merchants, clusters, "v1", AT_A, embeddings)


def run_b() -> ScoreSet:
    """Another model: CC = M1, M4; M2, M3, M5 in no cluster; M6 not scored; no
    embeddings."""
    merchants = pd.DataFrame({
        "merchant_id": ["M1", "M2", "M3", "M4", "M5"],
        "cluster_id": ["CC", None, None, "CC", None],
        "ring_score": [0.7, 0.2, 0.1, 0.6, np.nan],
        "pd": [0.3, 0.1, 0.1, 0.2, 0.05],
        "credit_score": [500, 650, 700, 520, 800],
    })
    clusters = pd.DataFrame({
        "cluster_id": ["CC"], "size": [2], "collusion_score": [0.66], "group_pd": [0.22],
        "credit_score": [510], "key_members": [["M4"]],
        "top_factors": [[{"score": "collusion", "name": "round_share", "value": 0.5,
                          "weight": 0.2}]],
        "top_links": [[]], "members": [["M4", "M1"]],
    })
    return ScoreSet(merchants, clusters, "v2", AT_B)


def dump(graph: Graph) -> dict:
    """Everything scoring writes, for comparing two graphs."""
    return {
        "nodes": graph.read("MATCH (n) WHERE n:Merchant OR n:Cluster OR n:ClusterScore "
                            "OR n:MerchantScore RETURN labels(n) AS labels, "
                            "properties(n) AS props ORDER BY labels[0], n.id"),
        "members": graph.read("MATCH (m)-[i:IN_CLUSTER]->(c) RETURN m.id AS m, c.id AS c, "
                              "properties(i) AS props ORDER BY m, c"),
    }


def _sorted_members(scores: ScoreSet) -> pd.DataFrame:
    clusters = scores.clusters.copy()
    clusters["members"] = [sorted(m) for m in clusters["members"]]
    return clusters


def test_a_run_reads_back_equal(graph: Graph) -> None:
    _merchants_graph(graph)
    written = run_a()
    summary = write_scores(graph, written)
    assert (summary.merchants, summary.clusters, summary.memberships) == (6, 2, 5)
    assert summary.merchants_missing == 0 and summary.run == run_id("v1", AT_A)
    back = read_scores(graph, embeddings=True)
    pd.testing.assert_frame_equal(back.merchants, written.merchants)
    pd.testing.assert_frame_equal(back.clusters, _sorted_members(written))
    assert (back.model_version, back.scored_at) == ("v1", AT_A)
    np.testing.assert_array_equal(back.embeddings, written.embeddings)
    assert back.embeddings.dtype == np.float32
    assert read_scores(graph).embeddings is None  # only read when asked for


def test_cluster_properties_are_what_neo4j_can_hold(graph: Graph) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    row = graph.read("MATCH (s:ClusterScore {cluster: 'CA'}) RETURN s AS s, "
                     "valueType(s.top_factors) AS tf, valueType(s.key_members) AS km")[0]
    assert row["tf"] == "STRING NOT NULL" and row["km"].startswith("LIST<STRING")
    assert json.loads(row["s"]["top_factors"]) == FACTORS
    assert json.loads(row["s"]["top_links"])[0]["detail"] == "设备 D1"
    assert row["s"]["key_members"] == ["M2", "M1"]
    assert row["s"]["model_version"] == "v1" and row["s"]["event"] == "new"
    assert row["s"]["scored_at"].to_native() == AT_A
    assert row["s"]["id"] == f"{run_id('v1', AT_A)}|CA"


def test_embeddings_are_stored_as_lists_of_floats(graph: Graph) -> None:
    _merchants_graph(graph)
    written = run_a()
    write_scores(graph, written)
    rows = graph.read("MATCH (s:MerchantScore) RETURN s.merchant AS id, s.embedding AS e, "
                      "valueType(s.embedding) AS t ORDER BY id")
    assert {r["t"] for r in rows} == {"LIST<FLOAT NOT NULL> NOT NULL"}
    assert [r["e"] for r in rows] == written.embeddings.astype(float).tolist()


def test_a_second_run_replaces_the_first_and_keeps_its_cluster_history(graph: Graph) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    summary = write_scores(graph, run_b())
    a, b = run_id("v1", AT_A), run_id("v2", AT_B)
    assert (summary.merchant_scores_pruned, summary.memberships_pruned) == (6, 5)
    assert summary.clusters_retired == 2 and summary.events == {"new": 1}
    assert graph.read("MATCH (m)-[i:IN_CLUSTER]->(c) RETURN m.id AS m, c.id AS c, "
                      "i.run AS run ORDER BY m") == [
        {"m": "M1", "c": "CC", "run": b}, {"m": "M4", "c": "CC", "run": b}]
    assert graph.read("MATCH (s:MerchantScore) RETURN collect(DISTINCT s.run) AS runs") == [
        {"runs": [b]}]
    clusters = graph.read("MATCH (c:Cluster) RETURN c.id AS id, c.retired_at AS at, "
                          "c.last_run AS last ORDER BY id")
    assert [(r["id"], r["at"] is not None, r["last"]) for r in clusters] == [
        ("CA", True, a), ("CB", True, a), ("CC", False, b)]
    # The merchants themselves carry no scores: only MerchantScore nodes do.
    assert graph.read("MATCH (m:Merchant {id: 'M6'}) RETURN properties(m) AS p") == [
        {"p": {"id": "M6", "name": "店M6"}}]
    back = read_scores(graph)
    expected = run_b()
    pd.testing.assert_frame_equal(back.merchants, expected.merchants)
    pd.testing.assert_frame_equal(back.clusters, _sorted_members(expected))
    assert [(r.run, r.state) for r in scoring_runs(graph)] == [(a, "replaced"), (b, "current")]
    old = cluster_history(graph, "CA")
    assert list(old["run"]) == [a] and list(old["group_pd"]) == [0.31]


def test_cluster_history_records_joins_and_leaves(graph: Graph) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    later = run_a()
    later.scored_at = AT_B
    later.merchants.loc[later.merchants["merchant_id"] == "M3", "cluster_id"] = None
    later.merchants.loc[later.merchants["merchant_id"] == "M6", "cluster_id"] = "CA"
    later.clusters.at[0, "members"] = ["M1", "M2", "M6"]
    later.clusters.at[0, "group_pd"] = 0.45
    summary = write_scores(graph, later)
    assert summary.events == {"changed": 1, "same": 1}
    history = cluster_history(graph, "CA")
    assert list(history["group_pd"]) == [0.31, 0.45]
    assert list(history["event"]) == ["new", "changed"]
    assert (history.iloc[1]["joined"], history.iloc[1]["left"]) == (["M6"], ["M3"])
    with pytest.raises(NoScores, match="no scoring run has a cluster 'nope'"):
        cluster_history(graph, "nope")


def _incremental() -> ScoreSet:
    """After run A, re-scored: CA as M1, M2 (M3 left it), M3 alone; CB and M6 not
    re-scored."""
    merchants = pd.DataFrame({
        "merchant_id": ["M1", "M2", "M3"], "cluster_id": ["CA", "CA", None],
        "ring_score": [0.95, 0.9, 0.2], "pd": [0.3, 0.3, 0.1],
        "credit_score": [450, 450, 650]})
    clusters = pd.DataFrame({
        "cluster_id": ["CA"], "size": [2], "collusion_score": [0.93], "group_pd": [0.4],
        "credit_score": [410], "key_members": [["M1"]], "top_factors": [[]],
        "top_links": [[]], "members": [["M1", "M2"]]})
    embeddings = np.full((3, 4), 9.0, dtype=np.float32)
    return ScoreSet(merchants, clusters, "v1", AT_B, embeddings)


def test_an_incremental_run_keeps_what_it_did_not_rescore(graph: Graph) -> None:
    _merchants_graph(graph)
    base = run_a()
    write_scores(graph, base)
    summary = write_scores(graph, _incremental(), base=run_id("v1", AT_A))
    b = run_id("v1", AT_B)
    assert summary.kept == {"merchants": 3, "clusters": 1, "memberships": 2}
    assert (summary.merchants, summary.clusters, summary.memberships) == (6, 2, 4)
    assert summary.events == {"changed": 1} and summary.clusters_retired == 0
    assert [(r.run, r.state, r.kind) for r in scoring_runs(graph)][-1] == (
        b, "current", "incremental")
    back = read_scores(graph, embeddings=True)
    expected = base.merchants.set_index("merchant_id")
    expected.loc[["M1", "M2", "M3"]] = _incremental().merchants.set_index("merchant_id")
    pd.testing.assert_frame_equal(back.merchants.set_index("merchant_id"),
                                  expected.astype(back.merchants.set_index(
                                      "merchant_id").dtypes.to_dict()))
    np.testing.assert_array_equal(back.embeddings[:3], np.full((3, 4), 9.0, np.float32))
    np.testing.assert_array_equal(back.embeddings[3:], base.embeddings[3:])
    clusters = back.clusters.set_index("cluster_id")
    assert clusters.loc["CA", "members"] == ["M1", "M2"]
    assert clusters.loc["CB", "members"] == ["M4", "M5"] and clusters.loc["CB", "group_pd"] == 0.07
    # The merchant scores stayed where they were: one per merchant, carrying the base's
    # id, the re-scored ones (scored at AT_B) in place of the base's.
    a = run_id("v1", AT_A)
    assert scoring_runs(graph)[-1].merchant_run == a
    assert graph.read("MATCH (s:MerchantScore) RETURN s.run AS run, s.id AS id, "
                      "s.merchant AS m, s.scored_at = $at AS rescored ORDER BY m",
                      at=AT_B) == [
        {"run": a, "id": f"{a}|M{i}", "m": f"M{i}", "rescored": i <= 3} for i in range(1, 7)]
    assert list(cluster_history(graph, "CB")["event"]) == ["new", "same"]
    assert list(cluster_history(graph, "CA")["left"])[-1] == ["M3"]


def test_a_chain_of_incremental_runs_moves_only_what_each_rescored(graph: Graph) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    ensure_vector_index(graph, 4)  # in place before the incremental runs, as a refresh has it
    a, b = run_id("v1", AT_A), run_id("v1", AT_B)
    write_scores(graph, _incremental(), base=a)
    # A second incremental run re-scores M6 only; a merchant deleted by hand (M5)
    # loses its score at the flip.
    graph.write("MATCH (m:Merchant {id: 'M5'}) DETACH DELETE m")
    at_c = datetime(2026, 12, 8, tzinfo=UTC)
    c = run_id("v1", at_c)
    m6 = pd.DataFrame({"merchant_id": ["M6"], "cluster_id": [None], "ring_score": [0.5],
                       "pd": [0.5], "credit_score": [600]})
    summary = write_scores(graph, ScoreSet(m6, run_a().clusters.iloc[0:0], "v1", at_c,
                                           np.ones((1, 4), np.float32)), base=b)
    assert summary.kept["merchants"] == 4 and summary.merchants == 5
    assert [(r.run, r.state, r.merchant_run) for r in scoring_runs(graph)] == [
        (a, "replaced", a), (b, "replaced", a), (c, "current", a)]
    rows = graph.read("MATCH (s:MerchantScore) RETURN s.run AS run, s.merchant AS m, "
                      "s.scored_at AS at ORDER BY m")
    assert [(r["run"], r["m"], r["at"].to_native()) for r in rows] == [
        (a, "M1", AT_B), (a, "M2", AT_B), (a, "M3", AT_B), (a, "M4", AT_A), (a, "M6", at_c)]
    back = read_scores(graph, embeddings=True)
    # M6 had no score: the run's own copy was kept, its staged embedding moved in place.
    assert back.embeddings[-1].tolist() == [1.0] * 4
    assert back.embeddings[0].tolist() == [9.0] * 4  # replaced in place by run b's
    assert graph.read("MATCH (s:MerchantScore) WHERE s.staged_embedding IS NOT NULL "
                      "OR s.staged_fastrp IS NOT NULL RETURN count(s) AS n") == [{"n": 0}]
    # The vector index holds every current score's embedding, those moved in included,
    # and nothing else (the runs' copies are gone).
    indexed = graph.read("CALL db.index.vector.queryNodes($index, 10, [1.0, 1.0, 1.0, 1.0]) "
                         "YIELD node RETURN node.merchant AS m, node.run AS run ORDER BY m",
                         index=INDEX_NAME)
    assert indexed == [{"m": f"M{i}", "run": a} for i in (1, 2, 3, 4, 6)]
    back = back.merchants.set_index("merchant_id")
    assert list(back.index) == ["M1", "M2", "M3", "M4", "M6"]
    assert back.loc["M6", "ring_score"] == 0.5 and back.loc["M4", "ring_score"] == 0.12
    # The app reads the same scores by the run's id (its queries find merchant_run).
    assert views.merchant(graph, c, "M6")["ring_score"] == 0.5
    assert views.merchant(graph, c, "M4")["ring_score"] == 0.12
    details = views.node_details(graph, c, ["M1", "M4", "M6"]).set_index("id")
    assert details["ring_score"].tolist() == [0.95, 0.12, 0.5]
    binned = views.score_histograms(graph, c, bins=10)["ring_score"]
    assert binned["merchants"].sum() == 5 and binned.loc[5, "merchants"] == 1
    riskiest = graph.read(load("ui_riskiest_merchants"), min_score=0.4, limit=10)
    assert [r["merchant_id"] for r in riskiest] == ["M1", "M2", "M6"]
    # A full run starts a chain of its own: every older score is pruned.
    write_scores(graph, run_b())
    assert graph.read("MATCH (s:MerchantScore) RETURN collect(DISTINCT s.run) AS runs") == [
        {"runs": [run_id("v2", AT_B)]}]


def test_an_incremental_flip_looks_for_deleted_merchants_when_the_count_moved_since_the_read(
        graph: Graph) -> None:
    """``read_merchants`` is for a caller whose read matched the graph (a snapshot
    brought up to date): the flip looks for scores of deleted merchants only when the
    graph holds another number of merchants than that read found."""
    _merchants_graph(graph)
    write_scores(graph, run_a())
    stored = "MATCH (s:MerchantScore) RETURN collect(s.merchant) AS m"
    # Deleted after a read that found six: five now, so the flip looks and removes it.
    graph.write("MATCH (m:Merchant {id: 'M5'}) DETACH DELETE m")
    write_scores(graph, _incremental(), base=run_id("v1", AT_A), read_merchants=6)
    assert "M5" not in graph.read(stored)[0]["m"]
    # A read that found five, as many as the graph holds: no scan, nothing removed
    # (the score of a merchant deleted behind the count's back stays until a scan).
    graph.write("CREATE (:MerchantScore {id: 'x|M9', run: $run, merchant: 'M9'})",
                run=run_id("v1", AT_A))
    at_c = datetime(2026, 12, 8, tzinfo=UTC)
    none = ScoreSet(run_a().merchants.iloc[0:0], run_a().clusters.iloc[0:0], "v1", at_c,
                    np.ones((0, 4), np.float32))
    write_scores(graph, none, base=run_id("v1", AT_B), read_merchants=5)
    assert "M9" in graph.read(stored)[0]["m"]
    # Without it, the flip always looks.
    write_scores(graph, replace(none, scored_at=datetime(2026, 12, 9, tzinfo=UTC)),
                 base=run_id("v1", at_c))
    assert "M9" not in graph.read(stored)[0]["m"]


def test_an_incremental_run_retires_the_clusters_it_emptied(graph: Graph) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    emptied = _incremental()
    emptied.merchants["cluster_id"] = None
    emptied.clusters = emptied.clusters.iloc[0:0]
    summary = write_scores(graph, emptied, base=run_id("v1", AT_A), retired=["CA"])
    assert summary.clusters_retired == 1 and summary.clusters == 1
    assert list(read_scores(graph).clusters["cluster_id"]) == ["CB"]


def test_an_incremental_run_on_a_replaced_base_changes_nothing(graph: Graph) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    later = run_b()
    write_scores(graph, later)
    before = read_scores(graph)
    with pytest.raises(GuanxiError, match="no longer the current run"):
        write_scores(graph, _incremental(), base=run_id("v1", AT_A))
    after = read_scores(graph)
    pd.testing.assert_frame_equal(after.merchants, before.merchants)
    states = {r.run: r.state for r in scoring_runs(graph)}
    assert states[run_id("v1", AT_B)] == "writing" and states[run_id("v2", AT_B)] == "current"


def test_writing_again_changes_nothing(graph: Graph) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    first = dump(graph)
    again = write_scores(graph, run_a())
    assert dump(graph) == first
    assert (again.totals.nodes_created, again.totals.relationships_created) == (0, 0)
    assert (again.memberships_pruned, again.merchant_scores_pruned) == (0, 0)


def test_batch_size_and_workers_change_nothing(graph: Graph) -> None:
    ids = [f"M{i:04d}" for i in range(400)]
    graph.write("UNWIND $ids AS id CREATE (:Merchant {id: id})", ids=ids)
    rng = np.random.default_rng(7)
    cluster_of = [f"C{i % 37:02d}" if i % 3 else None for i in range(400)]
    merchants = pd.DataFrame({"merchant_id": ids, "cluster_id": cluster_of,
                              "ring_score": rng.random(400), "pd": rng.random(400),
                              "credit_score": rng.integers(350, 951, 400)})
    members = merchants.dropna(subset=["cluster_id"]).groupby("cluster_id")["merchant_id"]
    clusters = pd.DataFrame([{"cluster_id": cid, "size": len(m), "collusion_score": 0.5,
                              "group_pd": 0.1, "credit_score": 700, "key_members": list(m[:2]),
                              "top_factors": [], "top_links": [], "members": list(m)}
                             for cid, m in members])
    scores = ScoreSet(merchants, clusters, "v1", AT_A, rng.random((400, 3), dtype=np.float32))
    seen: list[tuple[str, int, int | None]] = []
    write_scores(graph, scores, batch_size=7, workers=3,
                 progress=lambda *event: seen.append(event))
    small = dump(graph)
    assert seen[-1] == ("write scores", 437, 437)
    graph.write("MATCH (n) WHERE n:Cluster OR n:ClusterScore OR n:MerchantScore OR n:ScoreRun "
                "DETACH DELETE n")
    write_scores(graph, scores, batch_size=10_000, workers=1)
    assert dump(graph) == small
    back = read_scores(graph, embeddings=True, chunk=50)  # several pages
    pd.testing.assert_frame_equal(back.merchants, merchants)
    np.testing.assert_array_equal(back.embeddings, scores.embeddings)


def test_a_case_keeps_its_cluster_across_runs(graph: Graph) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    graph.write("MATCH (c:Cluster {id: 'CA'}) CREATE (:Case {id: 'K1'})-[:ABOUT]->(c)")
    write_scores(graph, run_b())
    row = graph.read("MATCH (c:Cluster {id: 'CA'}) RETURN c.retired_at AS at, "
                     "COUNT { (c)<-[:IN_CLUSTER]-() } AS members, "
                     "COUNT { (:Case)-[:ABOUT]->(c) } AS cases")[0]
    assert row["at"].to_native() == AT_B and (row["members"], row["cases"]) == (0, 1)
    assert list(cluster_history(graph, "CA")["collusion_score"]) == [0.88]  # as the case saw it
    assert list(read_scores(graph).clusters["cluster_id"]) == ["CC"]
    # A later run that finds the cluster again brings it back, case and all.
    third = run_a()
    third.scored_at = datetime(2026, 12, 14, tzinfo=UTC)
    write_scores(graph, third)
    assert graph.read("MATCH (c:Cluster {id: 'CA'}) RETURN c.retired_at AS at, "
                      "COUNT { (c)<-[:IN_CLUSTER]-() } AS n, "
                      "COUNT { (:Case)-[:ABOUT]->(c) } AS cases") == [
        {"at": None, "n": 3, "cases": 1}]


def test_unknown_merchants_are_skipped_and_counted(graph: Graph) -> None:
    graph.write("UNWIND $ids AS id CREATE (:Merchant {id: id})", ids=IDS[:5])  # no M6
    summary = write_scores(graph, run_a())
    assert (summary.merchants, summary.merchants_missing) == (5, 1)
    assert graph.read("MATCH (m:Merchant {id: 'M6'}) RETURN m") == []


def test_a_run_being_written_is_not_read(graph: Graph) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    b = run_id("v2", AT_B)
    # What a run that died half-way leaves: its run node and some of its scores.
    graph.write("CREATE (:ScoreRun {id: $b, state: 'writing', model_version: 'v2', "
                "scored_at: $at}) CREATE (:MerchantScore {id: $b + '|M1', run: $b, "
                "merchant: 'M1', ring_score: 0.99})", b=b, at=AT_B)
    back = read_scores(graph)
    pd.testing.assert_frame_equal(back.merchants, run_a().merchants)
    assert [r.state for r in scoring_runs(graph)] == ["current", "writing"]
    with pytest.raises(NoScores, match="no scores of run") as info:
        read_scores(graph, run=b)
    assert info.value.fix == f"the current run is {run_id('v1', AT_A)}"
    # The next run cleans it up.
    third = run_a()
    third.scored_at = datetime(2026, 12, 14, tzinfo=UTC)
    summary = write_scores(graph, third)
    assert summary.failed_runs == 1
    assert [r.state for r in scoring_runs(graph)] == ["replaced", "failed", "current"]
    assert graph.read("MATCH (s:MerchantScore) WHERE s.run = $b RETURN count(s) AS n",
                      b=b) == [{"n": 0}]


def test_an_empty_graph_has_no_scores(graph: Graph) -> None:
    assert scoring_runs(graph) == []
    with pytest.raises(NoScores, match="no scores in the graph yet") as info:
        read_scores(graph)
    assert info.value.fix == "run `guanxi score` first"


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.clusters.at[0, "members"].append("M6"), "disagree"),
    (lambda s: s.merchants.__setitem__("cluster_id", ["CA"] * 5 + ["CZ"]), "CZ"),
    (lambda s: s.merchants.__setitem__("merchant_id", ["M1"] * 6), "appears twice"),
    (lambda s: setattr(s, "embeddings", np.zeros((5, 4), np.float32)), r"\(6, D\)"),
    (lambda s: setattr(s, "merchants", s.merchants.drop(columns="pd")), "lacks columns"),
])
def test_scores_that_contradict_themselves_are_refused(graph: Graph, change, message) -> None:
    scores = run_a()
    change(scores)
    with pytest.raises(ValueError, match=message):
        write_scores(graph, scores)


def test_export_writes_exactly_the_named_columns(tmp_path: Path) -> None:
    scores = run_a()
    scores.merchants = scores.merchants.iloc[::-1]  # export sorts by id
    paths = export_scores(scores, tmp_path / "out")
    with open(paths["merchants"], encoding="utf-8", newline="") as fh:
        merchants = list(csv.reader(fh))
    with open(paths["clusters"], encoding="utf-8", newline="") as fh:
        clusters = list(csv.reader(fh))
    assert tuple(merchants[0]) == MERCHANT_FILE_COLUMNS
    assert tuple(clusters[0]) == CLUSTER_FILE_COLUMNS
    assert merchants[1] == ["M1", "CA", "0.91", "0.2", "480"]
    assert merchants[6] == ["M6", "", "0.01", "0.02", "880"]
    assert [r[0] for r in merchants[1:]] == IDS
    assert clusters[1] == ["CA", "3", "0.88", "0.31", "430",
                           "collusion: shared_devices=3 (+0.31); credit: pd_mean=0.0812 (-0.05)"]
    assert clusters[2][-1] == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clusters.csv",
                                                                     "merchants.csv"]


def test_export_refuses_a_folder_it_cannot_use(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        export_folder(tmp_path / "f")
    with pytest.raises(InputError, match="cannot write to .*: Not a directory") as info:
        export_folder(tmp_path / "f" / "sub")
    assert info.value.fix == "choose a folder you can write to"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # no check file left


def test_export_never_replaces_a_file_that_is_not_an_export(tmp_path: Path) -> None:
    # --out pointed at the input folder by mistake: its merchants.csv must survive.
    inputs = tmp_path / "data"
    inputs.mkdir()
    (inputs / "merchants.csv").write_text("merchant_id,name\nM1,Tea\n", encoding="utf-8")
    with pytest.raises(InputError, match="merchants.csv exists and is not a scores export"):
        export_scores(run_a(), inputs)
    assert (inputs / "merchants.csv").read_text(encoding="utf-8") == "merchant_id,name\nM1,Tea\n"
    assert sorted(p.name for p in inputs.iterdir()) == ["merchants.csv"]
    paths = export_scores(run_a(), tmp_path / "out")  # an export is replaced by the next
    paths["clusters"].write_text("x\n", encoding="utf-8")
    with pytest.raises(InputError, match="clusters.csv exists and is not a scores export"):
        export_scores(run_a(), tmp_path / "out")
    paths["clusters"].unlink()
    assert export_scores(run_a(), tmp_path / "out") == paths


def test_the_cli_exports_the_stored_scores(graph: Graph, neo4j_env: dict[str, str],
                                           tmp_path: Path) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    out = tmp_path / "exports" / "latest"
    result = run_cli("scores", "export", "--out", str(out), "--json", env=neo4j_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == {"files": {"merchants": str(out / "merchants.csv"),
                                 "clusters": str(out / "clusters.csv")},
                       "rows": {"merchants": 6, "clusters": 2}, "model_version": "v1",
                       "scored_at": AT_A.isoformat()}
    assert (out / "merchants.csv").read_text(encoding="utf-8").startswith(
        "merchant_id,cluster_id,ring_score,pd,credit_score\nM1,CA,0.91,")
    table = run_cli("scores", "export", "--out", str(out), env=neo4j_env)
    assert table.returncode == 0, table.stderr
    assert "merchants.csv │ 6" in table.stdout and "clusters.csv  │ 2" in table.stdout
    assert f"written to {out}" in table.stderr


def test_the_cli_shows_a_clusters_history(graph: Graph, neo4j_env: dict[str, str]) -> None:
    _merchants_graph(graph)
    write_scores(graph, run_a())
    write_scores(graph, run_b())  # CA is gone from run B: one run in its history
    result = run_cli("scores", "history", "CA", "--json", env=neo4j_env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["run"], r["state"], r["group_pd"], r["event"]) for r in rows] == [
        (run_id("v1", AT_A), "replaced", 0.31, "new")]
    assert rows[0]["joined"] == ["M1", "M2", "M3"]
    missing = run_cli("scores", "history", "nope", env=neo4j_env)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "error: no scoring run has a cluster 'nope'. cluster ids are listed by "
        "`guanxi scores export`"]


def test_the_cli_says_in_one_line_when_nothing_is_scored(graph: Graph, neo4j_env: dict[str, str],
                                                         tmp_path: Path) -> None:
    result = run_cli("scores", "export", "--out", str(tmp_path), env=neo4j_env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: no scores in the graph yet. run `guanxi score` first"]
    result = run_cli("scores", "export", "--out", str(tmp_path), "--json", env=neo4j_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["error"]["type"] == "NoScores"


def test_the_cli_refuses_a_file_as_out(tmp_path: Path, neo4j_env: dict[str, str]) -> None:
    (tmp_path / "f.csv").write_text("x")
    result = run_cli("scores", "export", "--out", str(tmp_path / "f.csv"), env=neo4j_env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: --out {tmp_path / 'f.csv'} is a file, not a folder. give a folder (created "
        "if missing) for merchants.csv and clusters.csv"]
