"""Batched writes against the real Neo4j: totals, progress, stopping, errors."""

from __future__ import annotations

import pytest

from guanxi.errors import QueryError
from guanxi.graph.connection import Graph
from guanxi.graph.writes import Batch, write_batches
from guanxi.queries import Query

CREATE = Query("test_create", "UNWIND $rows AS r CREATE (:Merchant {id: r})")


def batches(n: int, size: int = 10) -> list[Batch]:
    return [Batch(i, [(CREATE, {"rows": [f"M{i}-{j}" for j in range(size)]})], size)
            for i in range(n)]


@pytest.mark.parametrize("workers", [1, 3])
def test_every_batch_is_written_and_counted(graph: Graph, workers: int) -> None:
    seen: list[tuple[str, int, int | None]] = []
    totals = write_batches(graph, batches(12), workers=workers,
                           progress=lambda *event: seen.append(event), task="t",
                           total_rows=120)
    assert (totals.batches, totals.rows, totals.nodes_created) == (12, 120, 120)
    assert graph.read("MATCH (m:Merchant) RETURN count(m) AS n") == [{"n": 120}]
    assert seen[0] == ("t", 0, 120) and seen[-1] == ("t", 120, 120)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


def test_check_stops_the_run_before_the_next_batch(graph: Graph) -> None:
    sent = []

    def check() -> None:
        if len(sent) == 4:
            raise RuntimeError("stop here")
        sent.append(1)

    with pytest.raises(RuntimeError, match="stop here"):
        write_batches(graph, batches(10), workers=1, check=check)
    assert graph.read("MATCH (m:Merchant) RETURN count(m) AS n") == [{"n": 40}]


def test_a_failing_batch_raises_its_query_error(graph: Graph) -> None:
    bad = Batch(99, [(Query("test_bad", "RETURN 1/0 AS x"), {})], 1)
    with pytest.raises(QueryError, match="test_bad"):
        write_batches(graph, [*batches(2), bad], workers=2)


def test_workers_must_be_positive(graph: Graph) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        write_batches(graph, [], workers=0)
