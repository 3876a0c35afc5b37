"""What the pages read: plain functions that take a Graph and return frames and dicts.

No Streamlit here: pages call these and draw, tests and the bench call them directly.
Every statement is a ``queries/ui_*.cypher`` file with ``$parameters``; user text only
ever travels as a parameter value.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from guanxi.graph.connection import Graph
from guanxi.queries import load

__all__ = ["CLUSTER_TABLE_COLUMNS", "WEEKLY_COLUMNS", "cluster_score", "cluster_table",
           "binned", "lucene_text", "member_links", "merchant", "node_details", "score_histograms",
           "search_merchants", "weekly_flows"]

CLUSTER_TABLE_COLUMNS = ("cluster_id", "size", "collusion_score", "group_pd", "credit_score",
                         "event", "city", "category")

WEEKLY_COLUMNS = ("paid_in_amount", "paid_out_amount", "bought_amount", "sold_amount",
                  "received_count", "shipped_count")
"""The flows the timelines draw: money in and out, goods bought and sold, shipments."""

_LUCENE_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/]|&&|\|\|)')
_LUCENE_KEYWORDS = frozenset({"AND", "OR", "NOT", "TO"})

SEARCH_MAX = 100
"""Longest search text used (characters): a name is shorter, and Lucene refuses a query
of more than 1,024 words (a long Chinese text is one word per two characters)."""


def cluster_table(graph: Graph, run: str) -> pd.DataFrame:
    """Every cluster of run ``run`` (:data:`CLUSTER_TABLE_COLUMNS`), highest collusion
    score first; ``city`` and ``category`` are the members' most common ones."""
    rows = graph.read(load("ui_cluster_table"), run=run)
    frame = pd.DataFrame(rows[0] if rows else {}, columns=list(CLUSTER_TABLE_COLUMNS))
    for c in ("collusion_score", "group_pd", "credit_score", "size"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return frame.sort_values(["collusion_score", "cluster_id"], ascending=[False, True],
                             kind="stable").reset_index(drop=True)


def score_histograms(graph: Graph, run: str, bins: int = 20) -> dict[str, pd.DataFrame]:
    """Merchants per bin of ``ring_score`` and of ``pd`` in run ``run``, read in one pass:
    for each of the two fields a frame with columns ``from`` (the bin's lower edge) and
    ``merchants``, every bin present; a score of exactly 1 falls in the last bin."""
    counts: dict[str, dict[int, int]] = {"ring_score": {}, "pd": {}}
    for row in graph.read(load("ui_score_histograms"), run=run, bins=bins):
        for field, b in (("ring_score", row["ring_bin"]), ("pd", row["pd_bin"])):
            if b is not None:
                b = min(max(b, 0), bins - 1)
                counts[field][b] = counts[field].get(b, 0) + row["merchants"]
    edges = [round(b / bins, 3) for b in range(bins)]
    return {field: pd.DataFrame({"from": edges,
                                 "merchants": [c.get(b, 0) for b in range(bins)]})
            for field, c in counts.items()}


def cluster_score(graph: Graph, run: str, cluster_id: str) -> dict[str, Any] | None:
    """Cluster ``cluster_id`` as run ``run`` scored it, ``top_factors`` and ``top_links``
    as lists of dicts; None when that run has no such cluster."""
    rows = graph.read(load("ui_cluster_score"), run=run, cluster=cluster_id)
    if not rows:
        return None
    row = rows[0]
    for name in ("top_factors", "top_links"):
        row[name] = json.loads(row[name]) if row[name] else []
    for name in ("key_members", "members", "joined", "left"):
        row[name] = list(row[name] or [])
    return row


def node_details(graph: Graph, run: str, ids: list[str]) -> pd.DataFrame:
    """Name, city, category, scores in run ``run`` and volume (paid in plus sold, yuan)
    of merchants ``ids``, one row each, in id order; unknown ids are absent."""
    rows = graph.read(load("ui_node_details"), ids=list(ids), run=run)
    columns = ["id", "name", "city", "category", "ring_score", "pd", "credit_score",
               "cluster_id", "volume"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


def member_links(graph: Graph, ids: list[str]) -> pd.DataFrame:
    """The links among merchants ``ids``: ``source``, ``target``, ``type`` (``PAID``,
    ``SUPPLIES``, ``SHIPPED_TO``, ``SHARED_<KIND>``), ``weight`` (yuan, a count, or 1
    for a shared identifier), ``count``."""
    rows = graph.read(load("ui_member_links"), ids=list(ids))
    return pd.DataFrame(rows, columns=["source", "target", "type", "weight", "count"])


def weekly_flows(graph: Graph, ids: list[str]) -> pd.DataFrame:
    """The weekly flows of merchants ``ids`` summed per week, indexed by week (a
    Monday): every ``<flow>_count`` and ``<flow>_amount``; empty without any."""
    rows = graph.read(load("ui_weekly_flows"), ids=list(ids))
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["week"] = pd.to_datetime([w.to_native() if hasattr(w, "to_native") else w
                                    for w in frame["week"]])
    return frame.set_index("week")


def merchant(graph: Graph, run: str, merchant_id: str) -> dict[str, Any] | None:
    """Merchant ``merchant_id`` with its scores in run ``run`` (``''``: none); None when
    the graph holds no such merchant."""
    rows = graph.read(load("ui_merchant"), id=merchant_id, run=run)
    return rows[0] if rows else None


def lucene_text(text: str) -> str:
    """``text`` as a Lucene query that matches its words, special characters escaped
    (a name with brackets or a colon is not query syntax).

    >>> lucene_text('老王面馆 (人民路店)')
    '老王面馆 \\\\(人民路店\\\\)'
    """
    # AND, OR, NOT in capitals are operators to Lucene ("a AND" is a syntax error); the
    # index's analyzer lowercases words anyway, so lowercase ones match the same.
    words = [w.lower() if w in _LUCENE_KEYWORDS else w for w in text.split(" ")]
    return _LUCENE_SPECIAL.sub(r"\\\1", " ".join(words))


def search_merchants(graph: Graph, text: str, limit: int = 20) -> pd.DataFrame:
    """Merchants whose id is ``text`` or whose name matches it (the full-text index
    ``merchant_name``: Chinese names match on parts of two characters or more), best
    first: ``id``, ``name``, ``city``, ``category``. Empty for blank text; only the
    first ``SEARCH_MAX`` characters count."""
    text = text.strip()[:SEARCH_MAX]
    columns = ["id", "name", "city", "category"]
    if not text:
        return pd.DataFrame(columns=columns)
    rows = graph.read(load("ui_merchant_search"), id=text, text=lucene_text(text),
                      limit=limit)
    return pd.DataFrame(rows, columns=columns)


def binned(values: pd.Series, edges: list[float], what: str) -> pd.DataFrame:
    """How many ``values`` fall in each bin between consecutive ``edges`` (the first bin
    closed on both sides): columns ``from`` (the lower edge) and ``what``.

    >>> binned(pd.Series([0.1, 0.6, 0.7, None]), [0, 0.5, 1], "clusters")["clusters"].tolist()
    [1, 2]
    """
    counts = pd.cut(values.dropna(), bins=edges, include_lowest=True).value_counts(sort=False)
    return pd.DataFrame({"from": edges[:-1], what: counts.to_numpy()})
