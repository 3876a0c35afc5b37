"""Merchants like this one, through the vector index, against the real Neo4j: merchants
whose embeddings lie at known angles (the answer is known by heart), random ones
checked against numpy's cosine, the index replaced when the width changes, the current
run only, and each error as one clear line."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from guanxi.errors import InputError
from guanxi.gnn.scores import ScoreSet
from guanxi.graph.connection import Graph
from guanxi.graph.scores import write_scores
from guanxi.graph.similar import (
    FASTRP,
    GNN,
    INDEX_NAME,
    SIMILAR_COLUMNS,
    ensure_vector_index,
    index_info,
    similar,
    similar_rows,
)

AT_A = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
AT_B = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)

# Six merchants on the unit circle (M3 five times longer: the cosine ignores length).
ANGLES = {"M1": 0, "M2": 10, "M3": 30, "M4": 60, "M5": 100, "M6": 180}
PLANE = [[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in ANGLES.values()]
PLANE[2] = [5 * x for x in PLANE[2]]
CLUSTERS = {"CA": ["M1", "M2", "M3"], "CB": ["M4", "M5"]}  # M6 in none


def _scores(ids: list[str], vectors, *, version: str = "v1", at: datetime = AT_A,
            clusters: dict[str, list[str]] | None = None) -> ScoreSet:
    """A ScoreSet of ``ids`` with distinct, known scores; ``vectors`` None: no embeddings.
    The last merchant has no ring score."""
    clusters = clusters or {}
    cluster_of = {m: c for c, members in clusters.items() for m in members}
    n = len(ids)
    merchants = pd.DataFrame({
        "merchant_id": ids,
        "cluster_id": [cluster_of.get(m) for m in ids],
        "ring_score": [round(0.05 + 0.9 * i / n, 4) for i in range(n - 1)] + [np.nan],
        "pd": [round(0.01 + 0.3 * i / n, 4) for i in range(n)],
        "credit_score": [400 + 7 * i for i in range(n)],
    })
    table = pd.DataFrame({
        "cluster_id": list(clusters),
        "size": [len(v) for v in clusters.values()],
        "collusion_score": [0.5] * len(clusters),
        "group_pd": [0.1] * len(clusters),
        "credit_score": [600] * len(clusters),
        "key_members": [v[:1] for v in clusters.values()],
        "top_factors": [[] for _ in clusters],
        "top_links": [[] for _ in clusters],
        "members": [sorted(v) for v in clusters.values()],
    })
    embeddings = None if vectors is None else np.asarray(vectors, dtype=np.float32)
    return ScoreSet(merchants, table, version, at, embeddings)


def _merchants(graph: Graph, ids: list[str]) -> None:
    graph.write("UNWIND $ids AS id CREATE (:Merchant {id: id})", ids=ids)


def _numpy_nearest(vectors, i: int) -> list[tuple[int, float]]:
    """(row, cosine) of every other row, most similar first: the right answer."""
    v = np.asarray(vectors, dtype=np.float32).astype(np.float64)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    cos = unit @ unit[i]
    order = sorted((j for j in range(len(v)) if j != i), key=lambda j: -cos[j])
    return [(j, float(cos[j])) for j in order]


def _index_id(graph: Graph) -> int:
    [row] = graph.read("SHOW INDEXES YIELD id, name WHERE name = $name RETURN id", name=INDEX_NAME)
    return row["id"]


@pytest.fixture
def g(graph: Graph):
    """The emptied session graph without the vector indexes, which are dropped again
    after the test (emptying the graph leaves indexes)."""
    yield graph
    for index in ("merchant_embedding", "merchant_fastrp"):
        graph.write("DROP INDEX $name IF EXISTS", name=index)


@pytest.fixture
def plane(g: Graph) -> ScoreSet:
    """The six merchants of ANGLES scored (run v1), with the same vectors as GNN and as
    FastRP embeddings, and both indexes."""
    ids = list(ANGLES)
    _merchants(g, ids)
    scores = _scores(ids, PLANE, clusters=CLUSTERS)
    scores.fastrp = scores.embeddings
    write_scores(g, scores)
    ensure_vector_index(g, 2)
    ensure_vector_index(g, 2, embedding=FASTRP)
    return scores


# --- the right answer ----------------------------------------------------------------


def test_nearest_merchants_at_known_angles(g: Graph, plane: ScoreSet) -> None:
    got = similar(g, "M1", k=10)
    assert list(got.columns) == list(SIMILAR_COLUMNS)
    assert got["merchant_id"].tolist() == ["M2", "M3", "M4", "M5", "M6"]  # never M1
    expected = [math.cos(math.radians(ANGLES[m])) for m in got["merchant_id"]]
    assert got["similarity"].tolist() == pytest.approx(expected, abs=1e-6)
    assert got["similarity"].iloc[-1] == pytest.approx(-1.0, abs=1e-6)
    # Each row carries that merchant's scores of the run.
    given = plane.merchants.set_index("merchant_id")
    for row in got.itertuples(index=False):
        assert row.credit_score == given.loc[row.merchant_id, "credit_score"]
        assert row.pd == pytest.approx(given.loc[row.merchant_id, "pd"])
    assert got["ring_score"].iloc[:-1].tolist() == pytest.approx(
        given.loc[["M2", "M3", "M4", "M5"], "ring_score"].tolist())
    assert math.isnan(got["ring_score"].iloc[-1])  # M6 has none
    assert got["cluster_id"].tolist() == ["CA", "CA", "CB", "CB", None]
    assert str(got["credit_score"].dtype) == "int64"


@pytest.mark.parametrize(("k", "ids"), [(1, ["M2"]), (3, ["M2", "M3", "M4"]),
                                        (5, ["M2", "M3", "M4", "M5", "M6"])])
def test_k_is_how_many(g: Graph, plane: ScoreSet, k: int, ids: list[str]) -> None:
    assert similar(g, "M1", k=k)["merchant_id"].tolist() == ids


def test_from_the_far_side_the_order_turns_round(g: Graph, plane: ScoreSet) -> None:
    # From 180 degrees: M5 (80 away), M4 (120), M3 (150), M2 (170), M1 (180).
    got = similar(g, "M6", k=10)
    assert got["merchant_id"].tolist() == ["M5", "M4", "M3", "M2", "M1"]
    assert got["similarity"].tolist() == pytest.approx(
        [math.cos(math.radians(a)) for a in (80, 120, 150, 170, 180)], abs=1e-6)


def test_same_as_numpy_cosine_for_every_merchant(g: Graph) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(40, 16))
    ids = [f"R{i:02d}" for i in range(40)]
    _merchants(g, ids)
    write_scores(g, _scores(ids, vectors))
    ensure_vector_index(g, 16)
    for i, mid in enumerate(ids):
        nearest = _numpy_nearest(vectors, i)[:6]
        # No near tie that float32 could turn round: the order is the right answer.
        assert min(a[1] - b[1] for a, b in zip(nearest, nearest[1:], strict=False)) > 1e-5
        got = similar(g, mid, k=6)
        assert got["merchant_id"].tolist() == [ids[j] for j, _ in nearest]
        assert got["similarity"].tolist() == pytest.approx([c for _, c in nearest], abs=1e-6)


def test_a_twin_is_returned_and_the_merchant_itself_never(g: Graph) -> None:
    ids = ["M1", "M2", "M3"]
    _merchants(g, ids)
    write_scores(g, _scores(ids, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    ensure_vector_index(g, 3)
    got = similar(g, "M1", k=5)
    assert got["merchant_id"].tolist() == ["M2", "M3"]
    assert got["similarity"].tolist() == pytest.approx([1.0, 10 / 14], abs=1e-6)
    assert similar(g, "M2", k=5)["merchant_id"].tolist() == ["M1", "M3"]


def test_only_merchants_of_the_current_run(g: Graph, plane: ScoreSet) -> None:
    # A later run being written: 60 merchant scores nearer to M1 than any of the
    # current run's, and one of M1 itself. They fill the index's first candidates, so
    # the search must widen to find k of the current run.
    writing = "20270101T000000.000000Z/v9"
    g.write("UNWIND range(1, 60) AS i "
            "CREATE (:MerchantScore {id: $run + '|W' + i, run: $run, merchant: 'W' + i, "
            "        embedding: [1.0, i / 10000.0], ring_score: 0.99})", run=writing)
    g.write("CREATE (:MerchantScore {id: $run + '|M1', run: $run, merchant: 'M1', "
            "                        embedding: [1.0, 0.0]})", run=writing)
    got = similar(g, "M1", k=3)
    assert got["merchant_id"].tolist() == ["M2", "M3", "M4"]
    assert got["similarity"].tolist() == pytest.approx(
        [math.cos(math.radians(a)) for a in (10, 30, 60)], abs=1e-6)
    assert similar(g, "M1", k=10)["merchant_id"].tolist() == ["M2", "M3", "M4", "M5", "M6"]


def test_rows_for_json_hold_none_for_a_missing_score(g: Graph, plane: ScoreSet) -> None:
    rows = similar_rows(similar(g, "M1", k=10))
    assert [r["merchant_id"] for r in rows] == ["M2", "M3", "M4", "M5", "M6"]
    assert rows[-1]["ring_score"] is None and rows[-1]["cluster_id"] is None
    assert all(type(r["credit_score"]) is int and type(r["similarity"]) is float for r in rows)
    json.dumps(rows, allow_nan=False)  # strict JSON: no NaN


# --- the index -------------------------------------------------------------------------


def test_the_index_is_kept_then_replaced_when_the_width_changes(g: Graph) -> None:
    ids = ["M1", "M2", "M3", "M4"]
    _merchants(g, ids)
    four = [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [1, 1, 1, 0.5]]
    write_scores(g, _scores(ids, four))
    ensure_vector_index(g, 4)
    info = index_info(g)
    assert info["state"] == "ONLINE" and info["config"]["vector.dimensions"] == 4
    assert info["config"]["vector.similarity_function"].lower() == "cosine"
    assert info["labels"] == ["MerchantScore"] and info["properties"] == ["embedding"]
    first = _index_id(g)
    ensure_vector_index(g, 4)  # again: the same index, kept
    assert _index_id(g) == first
    assert similar(g, "M1", k=3)["merchant_id"].tolist() == ["M2", "M4", "M3"]

    # A new model with embeddings of three values: the old index no longer fits them.
    three = [[0, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0.2, 1]]
    write_scores(g, _scores(ids, three, version="v2", at=AT_B))
    with pytest.raises(InputError, match="no embeddings: the index merchant_embedding holds "
                                         "embeddings of 4 values, the merchant's has 3"):
        similar(g, "M1")
    ensure_vector_index(g, 3)
    assert _index_id(g) != first
    assert index_info(g)["config"]["vector.dimensions"] == 3
    for i, mid in enumerate(ids):
        nearest = _numpy_nearest(three, i)
        got = similar(g, mid, k=3)
        assert got["merchant_id"].tolist() == [ids[j] for j, _ in nearest]
        assert got["similarity"].tolist() == pytest.approx([c for _, c in nearest], abs=1e-6)


def test_an_index_configured_otherwise_is_replaced(g: Graph) -> None:
    g.write("CREATE VECTOR INDEX merchant_embedding FOR (s:MerchantScore) ON (s.embedding) "
            "OPTIONS {indexConfig: {`vector.dimensions`: 8, "
            "`vector.similarity_function`: 'euclidean'}}")
    ensure_vector_index(g, 8)
    config = index_info(g)["config"]
    assert config["vector.similarity_function"].lower() == "cosine"
    assert config["vector.quantization.enabled"] is False
    assert config["vector.hnsw.ef_construction"] == 32 and config["vector.hnsw.m"] == 16
    # An index of the right width, similarity and quantization but Neo4j's default HNSW
    # build (the one earlier versions made) is replaced too.
    g.write("DROP INDEX merchant_embedding")
    g.write("CREATE VECTOR INDEX merchant_embedding FOR (s:MerchantScore) ON (s.embedding) "
            "OPTIONS {indexConfig: {`vector.dimensions`: 8, "
            "`vector.similarity_function`: 'cosine', `vector.quantization.enabled`: false}}")
    assert index_info(g)["config"]["vector.hnsw.ef_construction"] == 100
    ensure_vector_index(g, 8)
    assert index_info(g)["config"]["vector.hnsw.ef_construction"] == 32


@pytest.mark.parametrize("bad", [0, -3, 4.0, True, "8", None, 4097])
def test_the_width_must_be_a_positive_int(bad) -> None:
    # Checked before the graph is touched (there is none here).
    with pytest.raises(ValueError, match="dimensions must be an int from 1 to 4096"):
        ensure_vector_index(None, bad)  # type: ignore[arg-type]


# --- errors --------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -1, 100_001, 2**31 - 1])
def test_k_out_of_range(k: int) -> None:
    with pytest.raises(InputError, match=f"k must be from 1 to 100,000, got {k}"):
        similar(None, "M1", k=k)  # type: ignore[arg-type]


def test_an_unknown_merchant(g: Graph, plane: ScoreSet) -> None:
    with pytest.raises(InputError, match="^no merchant M404 in the graph$") as caught:
        similar(g, "M404")
    assert "MATCH (m:Merchant)" in caught.value.fix


def test_each_missing_piece_is_named(g: Graph) -> None:
    ids = ["M1", "M2", "M3"]
    _merchants(g, [*ids, "M4"])
    with pytest.raises(InputError, match="^no embeddings: the graph holds no scores yet$") \
            as caught:
        similar(g, "M1")
    assert caught.value.fix.startswith("run `guanxi score` first")

    write_scores(g, _scores(ids, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(InputError, match="^no embeddings: the graph has no vector index "
                                         "merchant_embedding$"):
        similar(g, "M1")

    ensure_vector_index(g, 2)
    with pytest.raises(InputError, match="^no embeddings: merchant M4 was not scored by the "
                                         "current scoring run, 20261130T040000.000000Z/v1$"):
        similar(g, "M4")
    assert similar(g, "M1", k=1)["merchant_id"].tolist() == ["M3"]


def test_a_run_without_embeddings(g: Graph, plane: ScoreSet) -> None:
    ids = list(ANGLES)
    write_scores(g, _scores(ids, None, version="v2", at=AT_B))  # a model without the GNN
    with pytest.raises(InputError, match="^no embeddings: merchant M1 has no embedding in "
                                         "the current scoring run") as caught:
        similar(g, "M1")
    assert caught.value.fix.startswith("run `guanxi score` first")


def test_by_chooses_which_embeddings(g: Graph) -> None:
    ids = list(ANGLES)
    _merchants(g, ids)
    scores = _scores(ids, PLANE)
    # FastRP vectors in the reverse order: M1 sits where M6 does in the GNN's plane.
    scores.fastrp = np.asarray(PLANE[::-1], dtype=np.float32)
    write_scores(g, scores)
    ensure_vector_index(g, 2)
    ensure_vector_index(g, 2, embedding=FASTRP)
    assert similar(g, "M1", k=2, by=GNN)["merchant_id"].tolist() == ["M2", "M3"]
    assert similar(g, "M6", k=2, by=FASTRP)["merchant_id"].tolist() == ["M5", "M4"]
    assert similar(g, "M1", k=1, by=FASTRP)["merchant_id"].tolist() == ["M2"]
    stored = g.read("MATCH (s:MerchantScore {merchant: 'M1'}) RETURN s.fastrp AS f")[0]["f"]
    assert stored == pytest.approx(PLANE[-1])


def test_a_run_without_the_gnn_still_has_fastrp(g: Graph) -> None:
    ids = list(ANGLES)
    _merchants(g, ids)
    scores = _scores(ids, None)
    scores.fastrp = np.asarray(PLANE, dtype=np.float32)
    write_scores(g, scores)
    ensure_vector_index(g, 2, embedding=FASTRP)
    assert similar(g, "M1", k=2, by=FASTRP)["merchant_id"].tolist() == ["M2", "M3"]
    with pytest.raises(InputError, match="has no embedding") as caught:
        similar(g, "M1", by=GNN)
    assert caught.value.fix.endswith("or use --by fastrp")


def test_an_all_zero_embedding_is_one_line_with_a_way_out(g: Graph) -> None:
    ids = list(ANGLES)
    _merchants(g, ids)
    scores = _scores(ids, PLANE)
    flat = np.asarray(PLANE, dtype=np.float32)
    flat[0] = 0.0  # FastRP of a merchant with no merchant link
    scores.fastrp = flat
    write_scores(g, scores)
    ensure_vector_index(g, 2)
    ensure_vector_index(g, 2, embedding=FASTRP)
    with pytest.raises(InputError, match="^merchant M1's fastrp embedding in the current "
                                         "scoring run is all zeros") as caught:
        similar(g, "M1", by=FASTRP)
    assert "try --by gnn" in caught.value.fix
    assert similar(g, "M1", k=1, by=GNN)["merchant_id"].tolist() == ["M2"]
    # Others never list it: the index skips a vector with no direction.
    assert "M1" not in similar(g, "M2", k=5, by=FASTRP)["merchant_id"].tolist()


# --- the command ---------------------------------------------------------------------


def test_the_command(g: Graph, plane: ScoreSet, neo4j_env: dict) -> None:
    result = run_cli("similar", "M1", "-k", "2", "--json", env=neo4j_env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["merchant_id"] for r in rows] == ["M2", "M3"]
    assert list(rows[0]) == list(SIMILAR_COLUMNS)
    assert [r["similarity"] for r in rows] == pytest.approx(
        [math.cos(math.radians(10)), math.cos(math.radians(30))], abs=1e-6)
    assert rows[0]["cluster_id"] == "CA"

    table = run_cli("similar", "M6", env={**neo4j_env, "COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    at = {m: next(i for i, line in enumerate(lines) if f" {m} " in line)
          for m in ("M5", "M4", "M3", "M2", "M1")}
    assert list(at) == sorted(at, key=at.get)  # most similar first
    assert f"{math.cos(math.radians(80)):.4f}" in lines[at["M5"]]


@pytest.mark.parametrize(("args", "line"), [
    (("M404",), "error: no merchant M404 in the graph. check the id, e.g. with guanxi db "
                "query 'MATCH (m:Merchant) RETURN m.id AS id LIMIT 5'"),
    (("M1", "-k", "0"), "error: k must be from 1 to 100,000, got 0. ask for the 10 "
                        "nearest merchants with -k 10"),
])
def test_the_command_fails_in_one_line(graph: Graph, neo4j_env: dict, args: tuple[str, ...],
                                       line: str) -> None:
    result = run_cli("similar", *args, env=neo4j_env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""
    as_json = run_cli("similar", *args, "--json", env=neo4j_env)
    assert as_json.returncode == 1
    error = json.loads(as_json.stdout)["error"]
    assert error["type"] == "InputError" and line.startswith(f"error: {error['message']}. ")
