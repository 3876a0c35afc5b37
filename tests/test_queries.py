"""Every named query loads and runs against the real Neo4j."""

from __future__ import annotations

import pytest

from guanxi import queries
from guanxi.graph.connection import Graph

# Parameters for each query file; a new .cypher file must be added here.
PARAMS: dict[str, dict] = {
    "stats_nodes": {},
    "stats_relationships": {},
    "stats_aggregated_rows": {},
}


def test_every_query_file_has_test_parameters() -> None:
    assert set(queries.names()) == set(PARAMS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_query_runs(graph: Graph, name: str) -> None:
    query = queries.load(name)
    assert query.name == name and "$" not in query.text or PARAMS[name]
    graph.read(query, **PARAMS[name])


def test_unknown_query_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="stats_nodes"):
        queries.load("no_such_query")
