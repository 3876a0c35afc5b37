"""The connection module against the real session Neo4j."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from helpers import GUANXI, cli_env, free_port
from neo4j.time import Date

from guanxi.errors import QueryError, ServerError
from guanxi.graph import server
from guanxi.graph.connection import Graph, connect, open_graph
from guanxi.graph.settings import Settings, resolve
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


def test_a_uri_the_driver_refuses_is_a_server_error() -> None:
    settings = Settings("bolt://127.0.0.1:7687?policy=eu", "neo4j", "x", "neo4j", external=True)
    with pytest.raises(ServerError, match="is not usable: Routing context"):
        connect(settings)


def test_values_python_cannot_hold(graph: Graph) -> None:
    graph.write("CREATE (:Merchant {id: 'M1', founded: date('-0044-03-15')})")
    rows = graph.printable("MATCH (m:Merchant) RETURN m, m.founded AS founded, "
                           "[m.founded] AS listed, {on: m.founded} AS mapped, "
                           "date('2024-08-01') AS fine")
    assert rows == [{"m": {"id": "M1", "founded": "-0044-03-15"}, "founded": "-0044-03-15",
                     "listed": ["-0044-03-15"], "mapped": {"on": "-0044-03-15"},
                     "fine": Date(2024, 8, 1)}]
    with pytest.raises(QueryError, match="query ad-hoc returned a value Python cannot hold"):
        graph.read("MATCH (m:Merchant) RETURN m.founded AS founded")


def _running_queries(graph: Graph, marker: str) -> int:
    # The marker is a parameter, so that this statement does not find itself.
    return graph.read("SHOW TRANSACTIONS YIELD currentQuery WHERE currentQuery CONTAINS $marker "
                      "RETURN count(*) AS n", marker=marker)[0]["n"]


def test_a_server_killed_mid_run_is_one_line_and_not_retried_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GUANXI_RETRY_SECONDS", "2")
    data_dir = tmp_path / "db"
    port = free_port()
    started = server.start(server.ServerConfig(data_dir, port=port, heap="512m",
                                               pagecache="128m"))
    try:
        graph = open_graph(resolve(data_dir))
        graph.write("CREATE (:Probe)")  # a pooled connection, as in the middle of a run
        marker = "AS a UNWIND range(1, 100000) AS b"  # 10^10 rows: runs for minutes
        query = subprocess.Popen(
            [*GUANXI, "db", "query", f"UNWIND range(1, 100000) {marker} RETURN count(*) AS n"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=cli_env({"GUANXI_DATA_DIR": str(data_dir), "GUANXI_RETRY_SECONDS": "2"}))
        while _running_queries(graph, marker) == 0:
            assert query.poll() is None, query.communicate()
            time.sleep(0.2)
        java = psutil.Process(started.pid)
        java.kill()
        java.wait(timeout=30)

        _, err = query.communicate(timeout=120)
        assert query.returncode == 1
        # Only the command's line: no driver log lines, no warnings.
        assert err.splitlines() == [
            f"error: cannot reach Neo4j at {started.uri}. start it with `guanxi db start "
            f"--port {port}` (or set NEO4J_URI to a running server)"]

        with pytest.raises(ServerError, match=f"cannot reach Neo4j at {started.uri}"):
            graph.write("CREATE (:Probe)")  # retries for GUANXI_RETRY_SECONDS, then gives up
        # The server is known to be away: the next call tries once, without a new window.
        caplog.set_level(logging.DEBUG, logger="neo4j")
        with pytest.raises(ServerError, match=f"cannot reach Neo4j at {started.uri}"):
            graph.transaction(lambda tx: tx.run("CREATE (:Probe)").consume(), "probe")
        opened = [r for r in caplog.records if "<OPEN>" in r.getMessage()]  # the driver's log
        assert len(opened) == 1
    finally:
        server.stop(data_dir)
