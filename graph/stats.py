"""Counts of what the graph holds: nodes per label, relationships per type, and the
sum of the ``count`` property on aggregated relationships (the number of source
rows behind them), which is what ``guanxi ingest`` promises to load exactly once.
"""

from __future__ import annotations

from guanxi.graph.connection import Graph
from guanxi.queries import load

__all__ = ["graph_stats"]


def graph_stats(graph: Graph) -> dict[str, dict[str, int]]:
    """``{"nodes": {label: n}, "relationships": {type: n}, "rows": {type: sum(count)}}``."""
    return {
        "nodes": {r["label"]: r["n"] for r in graph.read(load("stats_nodes"))},
        "relationships": {r["type"]: r["n"] for r in graph.read(load("stats_relationships"))},
        "rows": {r["type"]: r["rows"] for r in graph.read(load("stats_aggregated_rows"))},
    }
