"""Counts of what the graph holds: nodes per label, relationships per type, and the
sum of the ``count`` property on aggregated relationships (the number of source
rows behind them), which is what ``guanxi ingest`` promises to load exactly once.
"""

from __future__ import annotations

from guanxi.graph.connection import Graph
from guanxi.queries import load

__all__ = ["graph_counts", "graph_stats"]


def graph_counts(graph: Graph) -> dict[str, dict[str, int]]:
    """``{"nodes": {label: n}, "relationships": {type: n}}`` from the count store: no
    scan, so it costs the same on any graph (the app's Overview reads it)."""
    return {
        "nodes": {r["label"]: r["n"] for r in graph.read(load("stats_nodes"))},
        "relationships": {r["type"]: r["n"] for r in graph.read(load("stats_relationships"))},
    }


def graph_stats(graph: Graph) -> dict[str, dict[str, int]]:
    """:func:`graph_counts` and ``"rows": {type: sum(count)}``, which reads every
    aggregated relationship (seconds on millions of links)."""
    return {**graph_counts(graph),
            "rows": {r["type"]: r["rows"] for r in graph.read(load("stats_aggregated_rows"))}}
