"""Merchant networks drawn with pyvis, as one self-contained HTML string.

The page embeds the string with ``st.components.v1.html``; the case report
(``ui/screens/cases.py``) saves the same string in its HTML file. vis-network is inlined
(``cdn_resources="in_line"``), so the picture draws with no internet. Positions come
from ``networkx.spring_layout`` under a fixed seed and physics is off: the layout is
computed once, in Python, and the browser draws it frozen, so 300 nodes appear at once
instead of jiggling while a physics simulation settles (docs/ui.md).

Links are typed and coloured by family: payments, supply, shipments, shared
identifiers. Merchants are coloured by score (green, low, to red, high) and sized by
volume; the top links behind a cluster's score are drawn thick and dark.
"""

from __future__ import annotations

import html
import math
from collections.abc import Collection, Sequence
from typing import Any

import networkx as nx
from pyvis.network import Network

__all__ = ["FAMILIES", "FAMILY_COLOURS", "family_of", "legend_markdown", "network_html",
           "score_colour"]

FAMILIES: dict[str, tuple[str, ...]] = {
    "payments": ("PAID", "SHARED_PAYERS"),
    "supply": ("SUPPLIES",),
    "shipments": ("SHIPPED_TO",),
    "shared identifiers": ("USES", "OWNED_BY", "ONBOARDED_BY"),
}
"""Link families and the relationship types in each; a ``SHARED_<KIND>`` link (two
merchants with one phone, owner, ...) is a shared identifier too."""

FAMILY_COLOURS = {"payments": "#1f77b4", "supply": "#2ca02c", "shipments": "#9467bd",
                  "shared identifiers": "#ff7f0e"}

_DIRECTED = {"PAID", "SUPPLIES", "SHIPPED_TO"}
"""Types whose direction means something (who paid, supplied, shipped whom)."""

_SHAPES = {"Merchant": "dot", "Consumer": "dot", "Summary": "box"}
_PLAIN = "#9e9e9e"
_HIGHLIGHT = "#d62728"


def family_of(rtype: str) -> str:
    """The family of relationship type ``rtype``.

    >>> family_of("SUPPLIES"), family_of("SHARED_PHONE"), family_of("SHARED_PAYERS")
    ('supply', 'shared identifiers', 'payments')
    """
    for family, types in FAMILIES.items():
        if rtype in types:
            return family
    return "shared identifiers"


def score_colour(score: float | None) -> str:
    """Green (0) through yellow to red (1); grey when there is no score.

    >>> score_colour(0.0), score_colour(1.0), score_colour(None)
    ('#1a9850', '#d73027', '#9e9e9e')
    """
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return _PLAIN
    s = min(max(float(score), 0.0), 1.0)
    stops = ((0.0, (0x1a, 0x98, 0x50)), (0.5, (0xfe, 0xe0, 0x8b)), (1.0, (0xd7, 0x30, 0x27)))
    for (a, ca), (b, cb) in zip(stops, stops[1:], strict=False):
        if s <= b:
            t = (s - a) / (b - a)
            return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb,
                                                                                 strict=True))
    return "#d73027"


def legend_markdown() -> str:
    """The link colours, as a line of Markdown for the page above the picture."""
    parts = [f":{_name(c)}[■] {family}" for family, c in FAMILY_COLOURS.items()]
    return " · ".join(parts) + " · node colour: score (green low, red high), size: volume"


def _name(colour: str) -> str:
    # Streamlit's Markdown colours by name; the nearest of its palette to each family.
    return {"#1f77b4": "blue", "#2ca02c": "green", "#9467bd": "violet",
            "#ff7f0e": "orange"}[colour]


def network_html(nodes: Sequence[dict[str, Any]], edges: Sequence[dict[str, Any]], *,
                 highlight: Collection[tuple[str, str, str]] = (), height: int = 560,
                 seed: int = 0) -> str:
    """One HTML document drawing ``nodes`` and ``edges``.

    Parameters
    ----------
    nodes : sequence of dict
        ``id`` (unique), ``kind`` (``Merchant``, ``Consumer``, ``Phone``, ...,
        ``Summary`` for a "+812 more payers" stand-in), and optionally ``label`` (the
        text under it), ``score`` (0-1: colour), ``volume`` (size), ``title`` (hover
        text).
    edges : sequence of dict
        ``source``, ``target`` (node ids), ``type`` (``PAID``, ``SUPPLIES``,
        ``SHARED_PHONE``, ...), optionally ``weight`` (width) and ``title``. Several
        links between one pair are all drawn.
    highlight : collection of (source, target, type)
        Links drawn thick and red (a cluster's top links); either direction matches.
        A ``SUMMARY`` edge (to a summary node) is drawn grey and dashed.
    height : int
        Pixels.
    seed : int
        Seed of the layout: same graph, same picture.
    """
    keys = {(s, t, k) for s, t, k in highlight} | {(t, s, k) for s, t, k in highlight}
    positions = _layout(nodes, edges, seed)
    net = Network(height=f"{height}px", width="100%", directed=True,
                  cdn_resources="in_line")
    volumes = [float(n["volume"]) for n in nodes if n.get("volume")]
    top = max(volumes, default=1.0)
    titles = [str(n.get("title", n.get("label", n["id"]))) for n in nodes]
    # vis-network shows a title as text, so "A&B" must stay as it is; but when any node's
    # title holds "href", pyvis shows every node title as HTML instead: then they are
    # all escaped, and a name cannot become markup.
    as_html = any("href" in t for t in titles)
    for n, title in zip(nodes, titles, strict=True):
        x, y = positions[n["id"]]
        kind = n.get("kind", "Merchant")
        net.add_node(str(n["id"]), label=str(n.get("label", n["id"])),
                     title=html.escape(title) if as_html else title,
                     color=score_colour(n.get("score")) if kind == "Merchant" else _PLAIN,
                     shape=_SHAPES.get(kind, "square"), size=_size(n, top),
                     x=round(1000 * x, 1), y=round(1000 * y, 1))
    for e in edges:
        rtype = str(e["type"])
        hot = (e["source"], e["target"], rtype) in keys
        summary = rtype.startswith("SUMMARY")
        colour = _HIGHLIGHT if hot else _PLAIN if summary else FAMILY_COLOURS[family_of(rtype)]
        net.add_edge(str(e["source"]), str(e["target"]),
                     title=str(e.get("title", rtype)), color=colour,
                     width=6 if hot else _width(e.get("weight")),
                     arrows="to" if rtype in _DIRECTED else "",
                     dashes=summary or rtype.startswith("SHARED_"))
    net.toggle_physics(False)
    return net.generate_html(notebook=False)


def _layout(nodes: Sequence[dict[str, Any]], edges: Sequence[dict[str, Any]],
            seed: int) -> dict[Any, tuple[float, float]]:
    # Summary boxes ("+812 more payers") are left out of the spring layout and set
    # beside their node: a 300-node picture can carry 300 of them, and 600 nodes would
    # take networkx's slower sparse path (seconds instead of a fraction of one).
    summary = {n["id"] for n in nodes if n.get("kind") == "Summary"}
    g = nx.Graph()
    g.add_nodes_from(n["id"] for n in nodes if n["id"] not in summary)
    g.add_edges_from((e["source"], e["target"]) for e in edges
                     if e["source"] in g and e["target"] in g)
    # k spreads nodes a little wider than the default 1/sqrt(n): labels need room.
    positions = (nx.spring_layout(g, seed=seed, k=1.6 / math.sqrt(len(g)), iterations=40)
                 if len(g) else {})
    owner = {e["target"]: e["source"] for e in edges
             if e["target"] in summary and e["source"] in positions}
    placed: dict[Any, int] = {}
    for n in nodes:
        if n["id"] in summary:
            at = owner.get(n["id"])
            x, y = positions[at] if at is not None else (0.0, 0.0)
            # Outwards from the centre, the next summary of one node turned 40 degrees.
            turn = math.atan2(y, x) + math.radians(40) * placed.get(at, 0)
            placed[at] = placed.get(at, 0) + 1
            positions[n["id"]] = (x + 0.08 * math.cos(turn), y + 0.08 * math.sin(turn))
    return positions


def _size(node: dict[str, Any], top: float) -> float:
    kind = node.get("kind", "Merchant")
    if kind == "Summary":
        return 12
    if kind != "Merchant":
        return 7
    volume = float(node.get("volume") or 0.0)
    # Area grows with volume: log scale, so a wholesaler does not hide its buyers.
    return 10 + 25 * math.log1p(volume) / math.log1p(top) if top > 0 else 10


def _width(weight: Any) -> float:
    if weight is None:
        return 1.5
    return 1 + min(4.0, math.log1p(max(float(weight), 0.0)) / 3)
