"""Warm-up: read once what the first views read, when the app starts.

The first view of a page after ``guanxi ui`` starts took about two seconds where later
ones took a third of that: the app's modules were imported, Neo4j planned each query
for the first time, and the store's pages were read from disk. :func:`warm` does that
work once, in the background of the server process (``ui/preload.py``), before anyone
asks. The Overview's run-wide reads (cluster table, histograms) go straight into the
pages' caches (``ui/common.py``), so its first view costs what a later one does.
"""

from __future__ import annotations

import contextlib
import logging
import time

import altair as alt
import pandas as pd

from guanxi.errors import GuanxiError
from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.scores import NoScores, current_run, scoring_runs
from guanxi.graph.settings import resolve
from guanxi.graph.similar import FASTRP, similar
from guanxi.graph.stats import graph_counts
from guanxi.queries import load
from guanxi.ui import views
from guanxi.ui.common import cluster_table_of, score_histograms_of
from guanxi.ui.ego import ego_network
from guanxi.ui.network import network_html
from guanxi.ui.report import cluster_picture

__all__ = ["warm", "warm_quietly", "warm_store"]

log = logging.getLogger(__name__)


def warm() -> float:
    """Fill the Overview's caches, run the Cluster page's and the Merchant page's reads
    once (the top cluster, its first member's network and look-alikes), lay out that
    cluster's picture, build a chart, then read the store (:func:`warm_store`); the
    seconds it took. A graph without scores gets the store read alone."""
    started = time.monotonic()
    graph = open_graph(resolve())
    graph_counts(graph)
    scoring_runs(graph)
    with contextlib.suppress(NoScores):  # the pages say so; the store is worth reading
        _warm_pages(graph, current_run(graph).run)
    warm_store(graph)
    return time.monotonic() - started


def _warm_pages(graph: Graph, run: str) -> None:
    table = cluster_table_of(graph.settings.uri, run, graph)
    score_histograms_of(graph.settings.uri, run, graph)
    if not table.empty:
        score = views.cluster_score(graph, run, table["cluster_id"].iloc[0])
        members = views.node_details(graph, run, score["members"])
        network_html(*cluster_picture(members, views.member_links(graph, score["members"])))
        views.weekly_flows(graph, score["members"])
        first = score["members"][0]
        views.search_merchants(graph, first)
        views.merchant(graph, run, first)
        ego_network(graph, run, first)
        views.weekly_flows(graph, [first])
        with contextlib.suppress(GuanxiError):  # no embeddings yet: the page says so
            similar(graph, first, k=10, by=FASTRP)
    # The Overview's charts: Altair loads and checks against its Vega-Lite schema the
    # first time a chart is built.
    alt.Chart(pd.DataFrame({"from": [0.0], "n": [1]})).mark_bar().encode(
        x="from", y="n").to_dict()


def warm_store(graph: Graph) -> int:
    """Read every merchant's links and what they lead to once, so that Neo4j's page cache
    holds what ego networks read; the number of links read. Neo4j Community keeps no page
    cache profile across restarts (Enterprise's warm-up), so without this the first look
    at each neighbourhood after a start reads the disk (100k merchants: about 10 s,
    once, in the background; ``bench/ui_bench.py``)."""
    return graph.read(load("ui_warm_store"))[0]["links"]


def warm_quietly() -> None:
    """:func:`warm`, for a background thread: a server that is not there yet, or holds
    no scores, is the pages' to report, not the warm-up's."""
    try:
        log.info("warmed the app in %.1f s", warm())
    except Exception as exc:  # noqa: BLE001 -- best effort: any failure only means a colder first view
        log.info("no warm-up: %s", exc)
