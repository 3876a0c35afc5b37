"""Capped ego networks around a merchant, and "how are these two connected".

An ego network grows one hop at a time (``queries/ui_ego_expand.cypher``): each node of
the frontier brings at most ``cap`` of its links, the strongest first, and the query
reports how many it has in all from the degree store. What is not drawn becomes a
summary node ("+812 more payers") instead of 812 nodes, so a wholesaler or an agent
with thousands of links costs one row, and the whole picture stays under
``max_nodes``. The cap is applied inside the query (``LIMIT`` per node), never by
fetching everything and trimming it here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from guanxi.graph.connection import Graph
from guanxi.graph.model import relation_types
from guanxi.queries import load
from guanxi.ui.views import node_details

__all__ = ["DEFAULT_CAP", "EGO_TYPES", "MAX_HOPS", "MAX_NODES", "Ego", "ego_network",
           "expand", "paths_between", "paths_picture"]

EGO_TYPES: tuple[str, ...] = relation_types("flow") + relation_types("identifier")
"""Relationship types an ego network may follow: money and goods, shared identifiers."""

DEFAULT_CAP = 25
"""Links drawn per expanded node."""

MAX_HOPS = 3
MAX_NODES = 300
"""The most nodes a picture holds (pyvis draws 300 frozen nodes at once)."""

_NOUNS = {("PAID", True): "payees", ("PAID", False): "payers",
          ("SUPPLIES", True): "buyers", ("SUPPLIES", False): "suppliers",
          ("SHIPPED_TO", True): "receivers", ("SHIPPED_TO", False): "shippers",
          ("USES", True): "identifiers", ("USES", False): "merchants using it",
          ("OWNED_BY", True): "owners", ("OWNED_BY", False): "merchants owned",
          ("ONBOARDED_BY", True): "agents", ("ONBOARDED_BY", False): "merchants onboarded"}
"""What the undrawn links of a (type, outgoing) are, for "+812 more payers"."""


@dataclass
class Ego:
    """An ego network as pyvis draws it (``ui/network.py``): ``nodes`` and ``edges``
    dicts; ``hidden`` counts, per node id, the links not drawn (``{"payers": 812}``)."""

    center: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    hidden: dict[str, dict[str, int]] = field(default_factory=dict)
    eids: dict[str, str] = field(default_factory=dict)
    expanded: set[str] = field(default_factory=set)

    def picture(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Nodes and edges for :func:`~guanxi.ui.network.network_html`, a summary node
        per node with undrawn links."""
        nodes = list(self.nodes.values())
        edges = list(self.edges.values())
        for node_id, counts in self.hidden.items():
            # One box per node, a line per kind: "+812 more payers\n+3 more suppliers".
            lines = [f"+{n:,} more {noun}" for noun, n in counts.items()]
            key = f"{node_id} +more"
            nodes.append({"id": key, "kind": "Summary", "label": "\n".join(lines),
                          "title": f"{', '.join(lines)} of {node_id}: expand it to see "
                                   f"the strongest"})
            edges.append({"source": node_id, "target": key, "type": "SUMMARY",
                          "title": f"{sum(counts.values()):,} links not drawn"})
        return nodes, edges


def _node_key(kind: str, node_id: str) -> str:
    # Ids are unique per label only: a phone and a merchant may both be "13800000001".
    return node_id if kind == "Merchant" else f"{kind}:{node_id}"


def ego_network(graph: Graph, run: str, merchant_id: str, *, hops: int = 2,
                types: Sequence[str] = EGO_TYPES, cap: int = DEFAULT_CAP,
                max_nodes: int = MAX_NODES) -> Ego | None:
    """The network around ``merchant_id``, ``hops`` (1 to 3) out, over ``types``.

    Each expanded node adds its ``cap`` strongest links; expansion stops once
    ``max_nodes`` are drawn. Merchants carry their scores in run ``run`` (``''``:
    none) and their volume. None when the graph holds no merchant ``merchant_id``.
    """
    _check(hops, types, cap)
    start = graph.read(load("ui_ego_start"), id=merchant_id)
    if not start:
        return None
    ego = Ego(merchant_id)
    ego.nodes[merchant_id] = {"id": merchant_id, "kind": "Merchant",
                              "label": start[0]["name"] or merchant_id}
    ego.eids[merchant_id] = start[0]["eid"]
    frontier = [merchant_id]
    for _ in range(hops):
        frontier = _grow(graph, ego, frontier, types, cap, max_nodes)
        if not frontier:
            break
    _score(graph, run, ego)
    return ego


def expand(graph: Graph, run: str, ego: Ego, node_id: str, *,
           types: Sequence[str] = EGO_TYPES, cap: int = DEFAULT_CAP,
           max_nodes: int = MAX_NODES) -> Ego:
    """``ego`` with ``node_id``'s ``cap`` strongest links added (a node the user chose
    to open); ``KeyError`` when it is not in the picture."""
    _check(1, types, cap)
    if node_id not in ego.eids:
        raise KeyError(f"{node_id} is not in this network")
    ego.expanded.discard(node_id)
    _grow(graph, ego, [node_id], types, cap, max_nodes)
    _score(graph, run, ego)
    return ego


def _check(hops: int, types: Sequence[str], cap: int) -> None:
    if not 1 <= hops <= MAX_HOPS:
        raise ValueError(f"hops must be from 1 to {MAX_HOPS}, got {hops}")
    unknown = sorted(set(types) - set(EGO_TYPES))
    if unknown or not types:
        raise ValueError(f"types must be some of {', '.join(EGO_TYPES)}, got {list(types)}")
    if not 1 <= cap <= MAX_NODES:
        raise ValueError(f"cap must be from 1 to {MAX_NODES}, got {cap}")


def _grow(graph: Graph, ego: Ego, frontier: list[str], types: Sequence[str], cap: int,
          max_nodes: int) -> list[str]:
    """Expand ``frontier`` (node keys not yet expanded) by one hop; the new nodes."""
    todo = [k for k in frontier if k not in ego.expanded and len(ego.nodes) < max_nodes]
    if not todo:
        return []
    rows = graph.read(load("ui_ego_expand"), frontier=[ego.eids[k] for k in todo],
                      types=list(types), cap=cap)
    by_eid = {ego.eids[k]: k for k in todo}
    new: list[str] = []
    for row in rows:
        here = by_eid[row["eid"]]
        ego.expanded.add(here)
        drawn: dict[tuple[str, bool], int] = {}
        for link in row["links"]:
            key = _node_key(link["kind"], str(link["id"]))
            if key not in ego.nodes:
                if len(ego.nodes) >= max_nodes:
                    continue
                ego.nodes[key] = {"id": key, "kind": link["kind"],
                                  "label": link["name"] or str(link["id"])}
                ego.eids[key] = link["eid"]
                new.append(key)
            source, target = (here, key) if link["out"] else (key, here)
            ego.edges[(source, target, link["type"])] = {
                "source": source, "target": target, "type": link["type"],
                "weight": link["amount"] if link["amount"] is not None else link["count"],
                "title": _link_title(link)}
            drawn[(link["type"], link["out"])] = drawn.get((link["type"], link["out"]), 0) + 1
        hidden = {}
        for (rtype, out), noun in _NOUNS.items():
            if rtype not in types:
                continue
            total = row["degrees"][f"{rtype}_{'out' if out else 'in'}"]
            rest = total - drawn.get((rtype, out), 0)
            if rest > 0:
                hidden[noun] = rest
        if hidden:
            ego.hidden[here] = hidden
        else:
            ego.hidden.pop(here, None)
    return new


def _link_title(link: dict[str, Any]) -> str:
    parts = [link["type"]]
    if link["count"] is not None:
        parts.append(f"{link['count']:,} times")
    if link["amount"] is not None:
        parts.append(f"{link['amount']:,.0f} yuan")
    return ", ".join(parts)


def _score(graph: Graph, run: str, ego: Ego) -> None:
    """Scores, volume and a hover text on every merchant of ``ego``."""
    merchants = [k for k, n in ego.nodes.items() if n["kind"] == "Merchant"]
    _decorate(ego.nodes, node_details(graph, run, merchants).to_dict("records"))


def _decorate(nodes: dict[str, dict[str, Any]], details: Iterable[dict[str, Any]]) -> None:
    for d in details:
        node = nodes[d["id"]]
        node.update(score=d["ring_score"], volume=d["volume"], cluster_id=d["cluster_id"])
        bits = [f"{d['id']} {d['name'] or ''}".strip(), f"{d['city'] or ''} "
                f"{d['category'] or ''}".strip()]
        if d["ring_score"] is not None:
            bits.append(f"ring score {d['ring_score']:.3f}")
        if d["cluster_id"]:
            bits.append(f"cluster {d['cluster_id']}")
        node["title"] = " · ".join(b for b in bits if b)


def paths_between(graph: Graph, run: str, a: str, b: str, *,
                  types: Sequence[str] = EGO_TYPES, limit: int = 10
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """The shortest paths (at most 6 steps, at most ``limit``) between merchants ``a``
    and ``b`` over ``types``: nodes and edges of all of them together, for one
    picture, and how many paths were found (0: not connected within 6 steps)."""
    _check(1, types, 1)
    if not 1 <= limit <= 100:
        raise ValueError(f"limit must be from 1 to 100, got {limit}")
    rows = graph.read(load("ui_shortest_paths"), a=a, b=b, types=list(types), limit=limit)
    nodes, edges = paths_picture(rows)
    by_key = {n["id"]: n for n in nodes}
    merchants = [k for k, n in by_key.items() if n["kind"] == "Merchant"]
    _decorate(by_key, node_details(graph, run, merchants).to_dict("records"))
    return nodes, edges, len(rows)


def paths_picture(rows: Iterable[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of paths (``nodes``: ``id``, ``kind``, ``name``; ``links``: ``source``,
    ``target``, ``type``, ``amount``, as ``ui_shortest_paths`` returns them) merged
    into the nodes and edges of one picture."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        # A link names its ends by id; the path's node list says of which label.
        keys = {str(n["id"]): _node_key(n["kind"], str(n["id"])) for n in row["nodes"]}
        for n in row["nodes"]:
            key = keys[str(n["id"])]
            nodes.setdefault(key, {"id": key, "kind": n["kind"],
                                   "label": n.get("name") or str(n["id"])})
        for link in row["links"]:
            s, t = keys[str(link["source"])], keys[str(link["target"])]
            edges[(s, t, link["type"])] = {"source": s, "target": t, "type": link["type"],
                                           "weight": link.get("amount")}
    return list(nodes.values()), list(edges.values())
