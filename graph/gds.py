"""Whole-graph algorithms on merchants: inside Neo4j with GDS, or the same in Python.

The local server runs open-source Graph Data Science (GDS, ``graph/server.py``); a
server named by ``NEO4J_URI`` may not (Aura Free, many team servers). Each helper
here therefore has two paths over **one projection**, :class:`MerchantProjection`:

- with GDS, the projection is built inside Neo4j (a Cypher projection with
  ``gds.graph.project``), the algorithm streams its result back, and the in-memory
  graph is dropped in a ``finally`` (unique name per call, so a failure, or two runs
  at once, leave none behind);
- without it, the same pairs are read into Python and networkx (or numpy, for
  FastRP) computes the same thing, after exactly one line through ``notice``.

``use_gds=None`` (the default) takes GDS when the server has it; ``False`` forces
the Python path (tests run both); ``True`` requires GDS. Results are DataFrames with
``merchant_id`` and one column per output. Component and community numbers are
renumbered 0, 1, 2, ... in the order of each group's smallest merchant id, so the
two paths give equal frames when they find the same partition.

>>> MerchantProjection().flows
('PAID', 'SUPPLIES', 'SHIPPED_TO')
>>> _canonical(pd.DataFrame({"merchant_id": ["m3", "m1", "m2"], "group": [7, 9, 7]}),
...            "group")["group"].tolist()
[0, 1, 1]
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from guanxi.errors import GuanxiError, QueryError, ServerError
from guanxi.graph import model
from guanxi.graph.connection import Graph
from guanxi.graph.server import GDS_VERSION_CYPHER
from guanxi.queries import Query

__all__ = ["MERCHANTS", "MerchantProjection", "NoticeFn", "WholeGraph", "components", "fastrp",
           "gds_graph", "gds_version", "louvain", "merchant_links", "whole_graph"]

log = logging.getLogger("guanxi.gds")

NoticeFn = Callable[[str], None]
"""Receives the one-line notice that a step runs in Python for want of GDS (a command
passes its console; without one the line is logged as a warning on ``guanxi.gds``)."""

_NO_PROCEDURE = "Neo.ClientError.Procedure.ProcedureNotFound"
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _merchant_types(family: str, target: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(
        r.type for r in model.RELATIONS
        if r.family == family and r.source == "Merchant" and target in (None, r.target)))


@dataclass(frozen=True)
class MerchantProjection:
    """The merchant-to-merchant graph the algorithms run on, defined once for both paths.

    Two merchants are linked when a flow (``flows``: payments, supply, shipments
    between merchants, either direction) joins them, or when they share an identifier
    node (``identifiers``: phone, device, account, address, owner, agent). The link is
    undirected and its weight ``links`` counts the distinct relationships and shared
    identifiers behind it (a payment each way counts 2). Every merchant is a node,
    linked or not.

    An identifier shared by more than ``max_share`` merchants is left out: it links
    every pair of them (k merchants, k(k-1)/2 links), so one large onboarding agent or
    shopping-mall address would join thousands of merchants into one clique, which
    says little about any two of them and would swamp both the memory and the
    communities.
    """

    flows: tuple[str, ...] = _merchant_types("flow", "Merchant")
    identifiers: tuple[str, ...] = _merchant_types("identifier", None)
    max_share: int = 50

    def __post_init__(self) -> None:
        # Types are spelled into the statement (Cypher takes no parameter there).
        for name in (*self.flows, *self.identifiers):
            if not _NAME.match(name):
                raise ValueError(f"{name!r} is not a relationship type")

    def pairs(self) -> str:
        """Cypher giving ``a``, ``b`` (merchant nodes, ``a.id < b.id``) and ``links``.

        It takes ``$max_share``; both paths use it (:func:`merchant_links` and
        :func:`gds_graph`), so they see the same graph.
        """
        parts = []
        if self.flows:
            parts.append(
                f"MATCH (a:Merchant)-[:{'|'.join(self.flows)}]-(b:Merchant) "
                "WHERE a.id < b.id RETURN a, b")
        if self.identifiers:
            # One row per merchant pair and identifier they share.
            parts.append(
                f"MATCH (m:Merchant)-[:{'|'.join(self.identifiers)}]->(x) "
                "WITH x, collect(DISTINCT m) AS ms WHERE 2 <= size(ms) <= $max_share "
                "UNWIND ms AS a UNWIND ms AS b WITH a, b WHERE a.id < b.id RETURN a, b")
        if not parts:
            return "MATCH (a:Merchant) WHERE false WITH a, a AS b, 0 AS links"
        return ("CALL () { " + " UNION ALL ".join(parts) + " } "
                "WITH a, b, count(*) AS links")


MERCHANTS = MerchantProjection()
"""The default projection: every merchant-to-merchant flow and identifier type."""


def gds_version(graph: Graph) -> str | None:
    """The version of Graph Data Science on the server, None where it has none.

    Works on any server, including one named by ``NEO4J_URI`` (Aura Free has no GDS:
    None).
    """
    try:
        rows = graph.read(Query("gds_version", GDS_VERSION_CYPHER))
    except QueryError as exc:
        if exc.code == _NO_PROCEDURE:
            return None
        raise
    return rows[0]["version"] if rows else None


def merchant_links(graph: Graph, projection: MerchantProjection = MERCHANTS) -> pd.DataFrame:
    """The projection's links as a frame: ``source``, ``target`` (merchant ids,
    ``source < target``) and ``links`` (weight), sorted; what the Python path runs on."""
    frame = graph.frame(Query("gds_merchant_links",
                              projection.pairs() + " RETURN a.id AS source, b.id AS target, "
                              "links ORDER BY source, target"),
                        max_share=projection.max_share)
    if frame.empty:
        frame = pd.DataFrame({"source": [], "target": [], "links": []})
    return frame.astype({"source": object, "target": object, "links": "int64"})


def _merchant_ids(graph: Graph) -> list[str]:
    rows = graph.read(Query("gds_merchant_ids",
                            "MATCH (m:Merchant) RETURN collect(m.id) AS ids"))
    return sorted(rows[0]["ids"]) if rows else []


@contextlib.contextmanager
def gds_graph(graph: Graph, projection: MerchantProjection = MERCHANTS) -> Iterator[str]:
    """Project ``projection`` into GDS's memory; yields the graph's name; drops it after.

    Use it to run several algorithms on one projection (pass the name as
    ``graph_name``). The name is unique per call; the drop is in a ``finally``, so
    an error in the algorithm (or here) leaves no in-memory graph behind. Every call
    goes to the server that answers writes: an in-memory graph lives on one server.
    """
    with _projected(graph, projection) as (name, _, _):
        yield name


@contextlib.contextmanager
def _projected(graph: Graph, projection: MerchantProjection) -> Iterator[tuple[str, int, int]]:
    """:func:`gds_graph`, yielding the name, node count and relationship count."""
    name = f"guanxi-merchants-{uuid.uuid4().hex[:12]}"
    project = Query("gds_project_merchants", f"""
        CALL () {{
          {projection.pairs()} RETURN a, b, links
          UNION ALL
          MATCH (a:Merchant) RETURN a, null AS b, 0 AS links
        }}
        // GDS numbers nodes in the order rows arrive, and Louvain's result depends on
        // that numbering: rows in merchant-id order make it a function of the data,
        // not of the node ids a (parallel) load happened to assign.
        WITH a, b, links ORDER BY b IS NOT NULL, a.id, b.id
        RETURN gds.graph.project($name, a, b,
            CASE WHEN b IS NULL THEN {{}}
                 ELSE {{relationshipProperties: {{links: toFloat(links)}}}} END,
            {{undirectedRelationshipTypes: ['*']}}) AS g
    """)
    try:
        rows = graph.write(project, name=name, max_share=projection.max_share)
        made = rows[0]["g"] if rows else None
        # No merchant at all: GDS makes no graph (nothing to run on, nothing to drop).
        yield (name, made["nodeCount"], made["relationshipCount"]) if made else (name, 0, 0)
    finally:
        try:
            graph.write(Query("gds_drop", "CALL gds.graph.drop($name, false) YIELD graphName "
                                          "RETURN graphName"), name=name)
        except GuanxiError as exc:  # the server went away (and its memory with it)
            log.warning("could not drop GDS graph %s: %s", name, exc.message)


def _canonical(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """``frame`` sorted by merchant id, ``column`` renumbered 0.. by first appearance.

    GDS and networkx number groups arbitrarily; after this the same partition gives
    the same numbers.
    """
    frame = frame.sort_values("merchant_id", kind="stable").reset_index(drop=True)
    frame[column] = pd.factorize(frame[column])[0].astype("int64")
    return frame


def _want_gds(graph: Graph, use_gds: bool | None, graph_name: str | None, what: str,
              python: str, notice: NoticeFn | None) -> bool:
    """Whether to run on GDS; says once, through ``notice``, when Python stands in."""
    if graph_name is not None:
        return True  # a projection made by gds_graph: GDS is there
    if use_gds is False:
        return False
    if gds_version(graph) is not None:
        return True
    if use_gds:
        raise ServerError(f"Neo4j at {graph.settings.uri} has no Graph Data Science library",
                          "start the local server with it (`guanxi db start`), or let guanxi "
                          "compute in Python (use_gds=None)")
    line = (f"notice: the server has no Graph Data Science library; computing {what} "
            f"in Python ({python})")
    if notice is None:
        log.warning("%s", line)
    else:
        notice(line)
    return False


def _stream(graph: Graph, graph_name: str | None, projection: MerchantProjection,
            call: str, config: dict[str, Any], weighted: bool = True
            ) -> list[dict[str, Any]]:
    """Run ``call`` on ``graph_name``, or on a fresh projection; [] when it has no node.

    ``call`` takes ``$name`` and ``$config``: ``config``, plus the weight property
    when ``weighted`` and the graph has links (GDS knows no property ``links`` on a
    graph without any, and refuses to run).
    """
    query = Query("gds_stream", call)

    def run(name: str, nodes: int, links: int) -> list[dict[str, Any]]:
        if not nodes:
            return []
        weight = {"relationshipWeightProperty": "links"} if weighted and links else {}
        return graph.write(query, name=name, config={**config, **weight})

    if graph_name is not None:
        rows = graph.read(Query("gds_graph_size", "CALL gds.graph.list($name) "
                                "YIELD nodeCount, relationshipCount "
                                "RETURN nodeCount, relationshipCount"), name=graph_name)
        if not rows:
            raise QueryError(f"GDS has no graph named {graph_name!r}",
                             "use the name that gds_graph() yields, inside its with-block")
        return run(graph_name, rows[0]["nodeCount"], rows[0]["relationshipCount"])
    with _projected(graph, projection) as (name, nodes, links):
        return run(name, nodes, links)


def _nx_graph(graph: Graph, projection: MerchantProjection) -> Any:
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(_merchant_ids(graph))
    links = merchant_links(graph, projection)
    g.add_weighted_edges_from(
        zip(links["source"], links["target"], links["links"].astype(float), strict=True),
        weight="links")
    return g


def components(graph: Graph, *, use_gds: bool | None = None,
               projection: MerchantProjection = MERCHANTS, graph_name: str | None = None,
               notice: NoticeFn | None = None) -> pd.DataFrame:
    """Weakly connected components of the merchant projection.

    Returns ``merchant_id``, ``component`` (0.. in order of each component's smallest
    merchant id), one row per merchant, sorted by id. GDS: ``gds.wcc``; Python:
    ``networkx.connected_components``; both give the same frame.
    """
    if _want_gds(graph, use_gds, graph_name, "connected components", "networkx", notice):
        rows = _stream(graph, graph_name, projection, """
            CALL gds.wcc.stream($name, $config) YIELD nodeId, componentId
            RETURN collect(gds.util.asNode(nodeId).id) AS merchant_id,
                   collect(componentId) AS component""", {}, weighted=False)
        frame = pd.DataFrame(rows[0] if rows else {"merchant_id": [], "component": []})
    else:
        import networkx as nx

        g = _nx_graph(graph, projection)
        frame = pd.DataFrame(
            [(m, i) for i, part in enumerate(nx.connected_components(g)) for m in part],
            columns=["merchant_id", "component"])
    return _canonical(frame, "component")


def louvain(graph: Graph, *, use_gds: bool | None = None, seed: int = 0,
            concurrency: int = 1, projection: MerchantProjection = MERCHANTS,
            graph_name: str | None = None, notice: NoticeFn | None = None) -> pd.DataFrame:
    """Louvain communities of the merchant projection, weighted by ``links``.

    Returns ``merchant_id``, ``community`` (0.. in order of each community's smallest
    merchant id), sorted by id. GDS: ``gds.louvain`` (one thread by default: with more
    its result depends on thread timing); Python: ``networkx.community
    .louvain_communities`` with ``seed``. Louvain is a heuristic, so the two paths
    find the same communities where they are clear, and may differ at the margins.
    """
    if _want_gds(graph, use_gds, graph_name, "Louvain communities", "networkx", notice):
        rows = _stream(graph, graph_name, projection, """
            CALL gds.louvain.stream($name, $config) YIELD nodeId, communityId
            RETURN collect(gds.util.asNode(nodeId).id) AS merchant_id,
                   collect(communityId) AS community""", {"concurrency": concurrency})
        frame = pd.DataFrame(rows[0] if rows else {"merchant_id": [], "community": []})
    else:
        import networkx as nx

        g = _nx_graph(graph, projection)
        # GDS's default tolerance (1e-4) as networkx's threshold, for like stopping.
        parts = nx.community.louvain_communities(g, weight="links", threshold=1e-4, seed=seed)
        frame = pd.DataFrame([(m, i) for i, part in enumerate(parts) for m in part],
                             columns=["merchant_id", "community"])
    return _canonical(frame, "community")


def fastrp(graph: Graph, *, dim: int = 64, seed: int = 0,
           iteration_weights: Sequence[float] = (0.0, 1.0, 1.0),
           normalization_strength: float = 0.0, use_gds: bool | None = None,
           concurrency: int = 1, projection: MerchantProjection = MERCHANTS,
           graph_name: str | None = None, notice: NoticeFn | None = None) -> pd.DataFrame:
    """FastRP node embeddings of the merchant projection, weighted by ``links``.

    Returns ``merchant_id`` and ``fastrp_0`` ... ``fastrp_{dim-1}``, sorted by id.
    FastRP (Chen et al., 2019): a sparse random vector per merchant, scaled by its
    degree to the power ``normalization_strength``, is averaged over neighbours again
    and again; each round is L2-normalised and the rounds are summed with
    ``iteration_weights`` (the first weighs 1-hop neighbours). GDS: ``gds.fastRP``;
    Python: the same steps in numpy (:func:`_fastrp_numpy`). The two draw different
    random vectors, so their numbers differ; what they share is the geometry (merchants
    with like neighbourhoods get close vectors). Deterministic under ``seed``.
    """
    if dim < 1:
        raise ValueError("dim must be at least 1")
    if _want_gds(graph, use_gds, graph_name, "FastRP embeddings", "numpy", notice):
        rows = _stream(graph, graph_name, projection, """
            CALL gds.fastRP.stream($name, $config) YIELD nodeId, embedding
            RETURN collect(gds.util.asNode(nodeId).id) AS merchant_id,
                   collect(embedding) AS embedding""",
            {"embeddingDimension": dim, "randomSeed": seed,
             "iterationWeights": [float(w) for w in iteration_weights],
             "normalizationStrength": float(normalization_strength),
             "concurrency": concurrency})
        ids = rows[0]["merchant_id"] if rows else []
        matrix = np.asarray(rows[0]["embedding"] if rows else [], dtype=np.float64)
    else:
        ids = _merchant_ids(graph)
        matrix = _fastrp_numpy(ids, merchant_links(graph, projection), dim, seed,
                               iteration_weights, normalization_strength)
    frame = pd.DataFrame(matrix.reshape(len(ids), dim),
                         columns=[f"fastrp_{i}" for i in range(dim)])
    frame.insert(0, "merchant_id", ids)
    return frame.sort_values("merchant_id", kind="stable").reset_index(drop=True)


def _fastrp_numpy(ids: Sequence[str], links: pd.DataFrame, dim: int, seed: int,
                  iteration_weights: Sequence[float],
                  normalization_strength: float) -> np.ndarray:
    """FastRP in numpy over an undirected weighted edge list (no GDS needed).

    >>> links = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"], "links": [1, 1]})
    >>> e = _fastrp_numpy(["a", "b", "c", "d"], links, 8, 0, (0.0, 1.0, 1.0), 0.0)
    >>> e.shape, bool(np.allclose(e[3], 0))  # d has no neighbours
    ((4, 8), True)
    """
    n = len(ids)
    rng = np.random.default_rng(seed)
    index = {m: i for i, m in enumerate(ids)}
    src = links["source"].map(index).to_numpy(dtype=np.int64)
    dst = links["target"].map(index).to_numpy(dtype=np.int64)
    weight = links["links"].to_numpy(dtype=np.float64)
    # Each undirected link carries neighbours' vectors both ways.
    frm, to, w = np.concatenate([src, dst]), np.concatenate([dst, src]), np.tile(weight, 2)
    # Very sparse random projection (Achlioptas): +-sqrt(3) with probability 1/6 each.
    random = rng.choice([-np.sqrt(3.0), 0.0, np.sqrt(3.0)], size=(n, dim), p=[1 / 6, 2 / 3, 1 / 6])
    if normalization_strength:
        degree = np.bincount(frm, minlength=n).astype(np.float64)
        scale = np.where(degree > 0, degree, 1.0) ** normalization_strength
        random *= scale[:, None]
    result = np.zeros((n, dim))
    current = random
    for iteration_weight in iteration_weights:
        spread = np.zeros((n, dim))
        np.add.at(spread, to, current[frm] * w[:, None])
        # L2 per row; a merchant's degree only scales its row, so normalising rows
        # makes the sum equal to the average over neighbours the paper uses.
        norms = np.linalg.norm(spread, axis=1, keepdims=True)
        current = np.divide(spread, norms, out=np.zeros_like(spread), where=norms > 0)
        result += iteration_weight * current
    return result


@dataclass
class WholeGraph:
    """What scoring reads from the whole merchant graph: :func:`components`,
    :func:`louvain` and, when asked for, :func:`fastrp` frames."""

    components: pd.DataFrame
    communities: pd.DataFrame
    fastrp: pd.DataFrame | None = None


def whole_graph(graph: Graph, *, use_gds: bool | None = None, seed: int = 0,
                fastrp_dim: int | None = None, notice: NoticeFn | None = None) -> WholeGraph:
    """Components, Louvain communities (``seed``) and FastRP (``fastrp_dim`` wide; None:
    not computed) of :data:`MERCHANTS`, on **one** GDS projection where the server has
    GDS: projecting is most of each algorithm's time (at 100,000 merchants, 25 s for the
    three on one projection against 47 s on three). Without GDS, each step runs in
    Python as the functions above do, with their notices."""
    shared = use_gds is not False and gds_version(graph) is not None

    @contextlib.contextmanager
    def place() -> Iterator[dict[str, Any]]:
        if shared:
            with gds_graph(graph) as name:
                yield {"graph_name": name}
        else:
            yield {"use_gds": use_gds, "notice": notice}

    with place() as where:
        wcc = components(graph, **where)
        communities = louvain(graph, seed=seed, **where)
        embedded = (fastrp(graph, dim=fastrp_dim, seed=seed, **where)
                    if fastrp_dim is not None else None)
    return WholeGraph(wcc, communities, embedded)
