"""The connection module against the real session Neo4j."""

from __future__ import annotations

import pytest
from helpers import free_port

from guanxi.errors import QueryError, ServerError
from guanxi.graph.connection import Graph, connect, open_graph
from guanxi.graph.settings import Settings
from guanxi.queries import Query


def test_node_round_trip_with_parameters(graph: Graph) -> None:
    graph.write("CREATE (m:Merchant {id: $id, name: $name, score: $score})",
                id="M1", name="老王面馆", score=0.25)
    rows = graph.read("MATCH (m:Merchant {id: $id}) RETURN m.name AS name, m.score AS score",
                      id="M1")
    assert rows == [{"name": "老王面馆", "score": 0.25}]


def test_constraint_violation_is_a_clear_error(graph: Graph) -> None:
    graph.write("CREATE (:Merchant {id: $id})", id="M1")
    with pytest.raises(QueryError) as info:
        graph.write(Query("create_merchant", "CREATE (:Merchant {id: $id})"), id="M1")
    message = info.value.one_line()
    assert "create_merchant" in message
    assert "already exists" in message and "MERGE" in message
    assert graph.read("MATCH (m:Merchant) RETURN count(m) AS n") == [{"n": 1}]


def test_syntax_error_names_the_query(graph: Graph) -> None:
    with pytest.raises(QueryError, match="broken_query.*not valid Cypher"):
        graph.read(Query("broken_query", "MATCH (n RETURN n"))


def test_managed_transaction_commits_all_or_nothing(graph: Graph) -> None:
    def work(tx):
        tx.run("CREATE (:Person {id: 'P1'})").consume()
        tx.run("CREATE (:Person {id: 'P1'})").consume()  # violates the constraint

    with pytest.raises(QueryError):
        graph.transaction(work, "two_persons")
    assert graph.read("MATCH (p:Person) RETURN count(p) AS n") == [{"n": 0}]


def test_one_driver_per_process(neo4j_settings: Settings) -> None:
    assert connect(neo4j_settings) is connect(neo4j_settings)
    assert open_graph(neo4j_settings).driver is open_graph(neo4j_settings).driver


def test_unreachable_server_is_a_server_error() -> None:
    settings = Settings(f"bolt://127.0.0.1:{free_port()}", "neo4j", "x", "neo4j", external=True)
    with pytest.raises(ServerError, match="cannot reach Neo4j"):
        open_graph(settings).verify()
