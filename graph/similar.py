"""Merchants like this one: merchant embeddings in Neo4j vector indexes, and the nearest
merchants by cosine through them.

Every scoring run writes, on each merchant's ``MerchantScore`` of that run
(``graph/scores.py``), two kinds of embedding (:class:`Embedding`): ``fastrp``, FastRP
of the merchant graph (GDS), always; and ``embedding``, the graph neural network's
hidden vector, when the model has the GNN. :func:`ensure_vector_index` keeps one
vector index per kind (``merchant_fastrp``, ``merchant_embedding``): cosine
similarity, the embeddings' width, no quantization (the index holds the vectors as
written, so its nearest are the true nearest up to the approximation of its HNSW
graph), and a narrower HNSW build than Neo4j's default (:data:`_HNSW`). Another width
or build replaces the index. :func:`similar` asks one of them for a
merchant's nearest in the current run, with their scores and clusters.

FastRP is what ``guanxi similar`` uses by default: it finds a ring member's partners
far better than the GNN's vectors (docs/results.md, *Similar merchants*).

An index holds a node only when its property is a list of numbers of the index's
width; other nodes are skipped without an error (scoring writes floats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from guanxi.errors import InputError, QueryError
from guanxi.graph.connection import Graph
from guanxi.graph.scores import NoScores, ScoringRun, current_run
from guanxi.queries import load

__all__ = ["EMBEDDINGS", "FASTRP", "GNN", "INDEX_NAME", "MAX_DIMENSIONS", "SIMILAR_COLUMNS",
           "Embedding", "ensure_vector_index", "index_info", "similar", "similar_rows"]


@dataclass(frozen=True)
class Embedding:
    """One kind of merchant embedding a run writes: its name (``--by``), the
    ``MerchantScore`` property that holds it, its vector index, and the statement that
    creates the index (a property cannot be a parameter of DDL)."""

    name: str
    prop: str
    index: str
    create: str
    about: str


GNN = Embedding("gnn", "embedding", "merchant_embedding", "embedding_index_create",
                "the graph neural network's hidden vectors (a model with the GNN)")
FASTRP = Embedding("fastrp", "fastrp", "merchant_fastrp", "fastrp_index_create",
                   "FastRP of the merchant graph (GDS): who a merchant is linked to")
EMBEDDINGS = {e.name: e for e in (FASTRP, GNN)}
"""By name; FastRP first: it finds ring partners far better (docs/results.md)."""

INDEX_NAME = GNN.index
"""The vector index of the GNN embeddings, ``MerchantScore.embedding``."""

_LABEL = "MerchantScore"
"""The label the indexes cover (spelled out in ``queries/*_index_create.cypher``)."""

MAX_DIMENSIONS = 4096
"""The widest vector a Neo4j 5.26 vector index takes."""

SIMILAR_COLUMNS = ("merchant_id", "similarity", "ring_score", "pd", "credit_score",
                   "cluster_id")
"""The columns of :func:`similar`'s frame."""

MAX_K = 100_000
"""The most merchants :func:`similar` lists (Neo4j's index search takes a 32-bit count)."""

_MAX_CANDIDATES = 1_000_000

_SEARCH_WIDTH = 64
"""The fewest candidates asked of the index: its HNSW search is as wide as the number
asked, and a wider search misses fewer of the true nearest."""

_HNSW = {"vector.hnsw.m": 16, "vector.hnsw.ef_construction": 32}
"""How the indexes' HNSW graphs are built. Every merchant score a run writes is an
insertion into two of them, most of the cost of a run's write; Neo4j's default
``ef_construction`` (100) made each insertion 2.1x as costly (20,000 32-wide vectors:
3.6-3.9 s against 1.7-1.8 s) for a recall of the true 10 nearest of 0.99 against 0.98
at 40 candidates, 0.99 at this module's 64 (random vectors, the hard case)."""

_ZERO_FIX = {
    "fastrp": "FastRP gives zeros to a merchant with no link to another merchant, and to "
              "one new since the last full refresh: try --by gnn, or `guanxi refresh "
              "--full` once it has links",
    "gnn": "try --by fastrp",
}

_NO_EMBEDDINGS_FIX = {
    "gnn": "run `guanxi score` first, with a model that has the graph neural network "
           "(`guanxi train`, not --no-gnn), or use --by fastrp",
    "fastrp": "run `guanxi score` (or `guanxi refresh --full`) first: every run writes "
              "FastRP embeddings",
}


def ensure_vector_index(graph: Graph, dimensions: int, *, embedding: Embedding = GNN,
                        timeout: float = 300.0) -> None:
    """Make ``embedding``'s index (default ``merchant_embedding``) a cosine vector index
    of ``dimensions`` on its ``MerchantScore`` property, and wait until it is ONLINE.

    An index that is already so is kept (calling this again changes nothing); one of
    another width or configuration (a new model with another embedding width), or
    one that FAILED, is dropped and created again, as is another vector index on
    ``MerchantScore.embedding`` (a label and property have one vector index at most).
    Creating it indexes the embeddings already written, in the background; the wait
    covers that.

    Parameters
    ----------
    graph : Graph
    dimensions : int
        The embeddings' width, 1 to :data:`MAX_DIMENSIONS`.
    timeout : float
        Seconds to wait for the index to come online.

    Raises
    ------
    ValueError
        ``dimensions`` is not an int from 1 to :data:`MAX_DIMENSIONS`.
    QueryError
        The index is not online after ``timeout`` seconds, or its population failed.
    """
    # Checked here although the statement takes the options as a parameter: Neo4j
    # would accept 64.0 or True for a width, and its own error names no fix.
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) \
            or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise ValueError(f"dimensions must be an int from 1 to {MAX_DIMENSIONS}, "
                         f"got {dimensions!r}")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    config = {"vector.dimensions": dimensions, "vector.similarity_function": "cosine",
              "vector.quantization.enabled": False, **_HNSW}
    name = embedding.index
    for found in graph.read(load("embedding_index"), name=name, prop=embedding.prop):
        if not (found["name"] == name and _is_ours(found, config, embedding.prop)):
            graph.write(load("embedding_index_drop"), name=found["name"])
    try:
        graph.write(load(embedding.create), name=name, options={"indexConfig": config})
    except QueryError as exc:
        # IF NOT EXISTS is checked before the index is created: another process may
        # create the same index in between. That is success.
        if exc.code != "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists":
            raise
    try:
        graph.write(load("embedding_index_await"), name=name,
                    seconds=max(1, math.ceil(timeout)))
    except QueryError:
        info = index_info(graph, embedding) or {}
        state = info.get("state", "gone")
        detail = f": {info['failure']}" if info.get("failure") else ""
        raise QueryError(
            f"the vector index {name} is not online after {timeout:g} s "
            f"({state}, {info.get('percent') or 0:.0f}% populated{detail})",
            "wait and run the same command again; a FAILED index is created again "
            "then, and Neo4j's debug.log says why it failed") from None


def _is_ours(found: dict[str, Any], config: dict[str, Any], prop: str) -> bool:
    """Whether an index that SHOW INDEXES listed is the one ``config`` describes."""
    have = found.get("config") or {}
    return (found["type"] == "VECTOR" and found["state"] != "FAILED"
            and found["labels"] == [_LABEL] and found["properties"] == [prop]
            and all(str(have.get(k)).lower() == str(v).lower() for k, v in config.items()))


def index_info(graph: Graph, embedding: Embedding = GNN) -> dict[str, Any] | None:
    """``embedding``'s index as SHOW INDEXES lists it (``type``, ``state``, ``percent``
    populated, ``config`` with ``vector.dimensions``, ``failure``), or None when the
    graph has none."""
    rows = graph.read(load("embedding_index"), name=embedding.index, prop=embedding.prop)
    return next((row for row in rows if row["name"] == embedding.index), None)


def similar(graph: Graph, merchant_id: str, k: int = 10, *, by: Embedding = GNN
            ) -> pd.DataFrame:
    """The ``k`` merchants nearest to ``merchant_id`` by the cosine of their ``by``
    embeddings (:data:`GNN` or :data:`FASTRP`) in the current scoring run, found
    through that embedding's vector index.

    Only the current run's merchants are returned (:func:`_run_shown`), never the
    merchant itself (a merchant whose embedding equals its own is). Fewer than ``k``
    rows when fewer merchants of the run have embeddings. The index search is
    approximate (HNSW): on a large graph it may, rarely, miss one of the true nearest.

    Returns
    -------
    pandas.DataFrame
        ``merchant_id``; ``similarity``, the cosine of the two embeddings (-1 to 1,
        1: the same direction); the merchant's ``ring_score``, ``pd`` (NaN where the
        run gave none), ``credit_score`` (int64, float64 when one is missing) and
        ``cluster_id`` (None: in no cluster). Most similar first, ties by id.

    Raises
    ------
    InputError
        ``k`` is below 1; the graph holds no merchant ``merchant_id``; the graph holds
        no scores yet, the current run has no embedding of the merchant, or the graph
        no index of embeddings of that width ("no embeddings"); the merchant's
        embedding is all zeros; the index is still being built.
    """
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be from 1 to {MAX_K:,}, got {k}",
                         "ask for the 10 nearest merchants with -k 10")
    try:
        run: ScoringRun | None = _run_shown(graph)
    except NoScores:
        run = None
    probe = graph.read(load("embedding_of_merchant"), id=merchant_id,
                       run=run.merchant_run if run else "", prop=by.prop)[0]
    if not probe["found"]:
        raise InputError(f"no merchant {merchant_id} in the graph",
                         "check the id, e.g. with guanxi db query "
                         "'MATCH (m:Merchant) RETURN m.id AS id LIMIT 5'")
    if run is None:
        raise InputError("no embeddings: the graph holds no scores yet",
                         _NO_EMBEDDINGS_FIX[by.name])
    if probe["width"] is None:
        what = "has no embedding in" if probe["scored"] else "was not scored by"
        raise InputError(f"no embeddings: merchant {merchant_id} {what} the current "
                         f"scoring run, {run.run}", _NO_EMBEDDINGS_FIX[by.name])
    if probe["zero"]:
        raise InputError(f"merchant {merchant_id}'s {by.name} embedding in the current "
                         f"scoring run is all zeros: it has no direction to compare by "
                         f"cosine", _ZERO_FIX[by.name])
    _check_index(graph, probe["width"], by)
    candidates = max(k + 1, _SEARCH_WIDTH)
    while True:
        result = graph.read(load("similar_merchants"), id=merchant_id, run=run.merchant_run,
                            index=by.index, prop=by.prop, candidates=candidates)
        if not result:  # a new run became current, and pruned this one, meanwhile
            raise InputError("the scores changed during the search (a new scoring run)",
                             "run the same command again")
        rows = result[0]["rows"]
        # Merchant scores of another run (one being written) may fill the candidates:
        # ask for more until k remain or the index has no more to give.
        if len(rows) >= k or result[0]["candidates"] < candidates \
                or candidates >= _MAX_CANDIDATES:
            break
        candidates = min(candidates * 4, _MAX_CANDIDATES)
    return _frame(rows).head(k).reset_index(drop=True)


def _run_shown(graph: Graph) -> ScoringRun:
    """The scoring run whose merchants :func:`similar` compares: the current one, the
    run readers read (``graph/scores.py``; its merchant scores carry the id
    ``merchant_run``). The one place that chooses it: the embeddings of two runs (two
    models) are not comparable. :class:`NoScores` before the first run."""
    return current_run(graph)


def _check_index(graph: Graph, width: int, by: Embedding) -> None:
    info = index_info(graph, by)
    name = by.index
    if info is None or info["type"] != "VECTOR":
        raise InputError(f"no embeddings: the graph has no vector index {name}",
                         _NO_EMBEDDINGS_FIX[by.name])
    dimensions = (info["config"] or {}).get("vector.dimensions")
    if dimensions != width:
        raise InputError(f"no embeddings: the index {name} holds embeddings of "
                         f"{dimensions} values, the merchant's has {width}",
                         _NO_EMBEDDINGS_FIX[by.name])
    if info["state"] == "POPULATING":
        raise InputError(f"the index {name} is still being built "
                         f"({info['percent'] or 0:.0f}%)", "try again in a minute")
    if info["state"] != "ONLINE":
        raise InputError(f"no embeddings: the index {name} is {info['state']}",
                         _NO_EMBEDDINGS_FIX[by.name])


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(SIMILAR_COLUMNS))
    for c in ("similarity", "ring_score", "pd"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    credit = pd.to_numeric(frame["credit_score"], errors="coerce")
    frame["credit_score"] = credit.astype("int64" if credit.notna().all() else "float64")
    frame["cluster_id"] = pd.Series([None if _missing(v) else v for v in frame["cluster_id"]],
                                    index=frame.index, dtype=object)
    return frame.sort_values(["similarity", "merchant_id"], ascending=[False, True],
                             kind="stable")


def similar_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`similar`'s frame as JSON-ready rows: Python numbers, None for a missing
    score (NaN is not JSON)."""
    return [{c: None if _missing(v) else (v.item() if hasattr(v, "item") else v)
             for c, v in row.items()} for row in frame.to_dict("records")]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
