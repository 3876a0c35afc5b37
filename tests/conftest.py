"""Fixtures shared by every test: one real local Neo4j for the session.

The session starts its own server (the same code path as ``guanxi db start``) on a
free port with a temporary data directory, and stops it at the end, so ``make test``
leaves nothing running. Tests that need an empty graph use ``graph``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port

from guanxi.graph import server
from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.settings import Settings, resolve


@pytest.fixture(scope="session")
def neo4j_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("neo4j")
    cfg = server.ServerConfig(data_dir, port=free_port(), heap="1g", pagecache="512m")
    server.start(cfg)
    try:
        yield data_dir
    finally:
        server.stop(data_dir)


@pytest.fixture(scope="session")
def neo4j_settings(neo4j_dir: Path) -> Settings:
    return resolve(neo4j_dir)


@pytest.fixture(scope="session")
def neo4j_env(neo4j_dir: Path) -> dict[str, str]:
    """Environment that points a child ``guanxi`` process at the session server."""
    return {"GUANXI_DATA_DIR": str(neo4j_dir)}


@pytest.fixture
def graph(neo4j_settings: Settings) -> Graph:
    """The session server, emptied, with the schema applied."""
    g = open_graph(neo4j_settings)
    g.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    # Scoring makes the vector indexes with the embeddings' widths; a test starts
    # without them.
    for index in ("merchant_embedding", "merchant_fastrp"):
        g.write("DROP INDEX $name IF EXISTS", name=index)
    apply_schema(g)
    return g
