"""Schema: a unique id per label, idempotent application."""

from __future__ import annotations

import pytest

from guanxi.errors import QueryError
from guanxi.graph.connection import Graph
from guanxi.graph.schema import NODE_LABELS, apply_schema


def test_schema_is_idempotent(graph: Graph) -> None:
    assert apply_schema(graph)["created"] == 0  # the fixture applied it already
    constraints = graph.read(
        "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type "
        "WHERE type = 'UNIQUENESS' RETURN labelsOrTypes[0] AS label, properties AS props"
    )
    unique_ids = {row["label"] for row in constraints if row["props"] == ["id"]}
    assert set(NODE_LABELS) <= unique_ids


@pytest.mark.parametrize("label", NODE_LABELS)
def test_every_label_has_a_unique_id(graph: Graph, label: str) -> None:
    # Labels come from the module constant, never from input.
    graph.write(f"CREATE (:{label} {{id: 'x'}})")
    with pytest.raises(QueryError, match="already exists"):
        graph.write(f"CREATE (:{label} {{id: 'x'}})")


def test_chinese_name_search_uses_the_fulltext_index(graph: Graph) -> None:
    graph.write("UNWIND $names AS n CREATE (:Merchant {id: n, name: n})",
                names=["老王面馆", "华联便利店", "张记面馆"])
    graph.write("CALL db.awaitIndexes(60)")
    rows = graph.read(
        "CALL db.index.fulltext.queryNodes('merchant_name', $q) YIELD node "
        "RETURN node.name AS name ORDER BY name", q="面馆")
    assert [r["name"] for r in rows] == sorted(["老王面馆", "张记面馆"])


def test_schema_applied_by_several_processes_at_once_succeeds(graph: Graph) -> None:
    from concurrent.futures import ThreadPoolExecutor

    for name in ("ingest_batch_at", "merchant_week_merchant", "merchant_city"):
        graph.write(f"DROP INDEX {name} IF EXISTS")  # names are this test's constants
    with ThreadPoolExecutor(4) as pool:  # each thread races the others to create them
        results = list(pool.map(lambda _: apply_schema(graph), range(4)))
    assert sum(r["created"] for r in results) >= 3
    names = {r["name"] for r in graph.read("SHOW INDEXES YIELD name RETURN name")}
    assert {"ingest_batch_at", "merchant_week_merchant", "merchant_city"} <= names
