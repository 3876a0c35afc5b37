"""Export of the graph from Neo4j to a PyTorch Geometric ``HeteroData``, in chunks.

Everything read is named by the graph model (``graph/model.py``): the node types are
``Merchant`` and the ends of the exported relations, the edge types are the model's
``(source, type, target)`` triples, edge attributes are their aggregates in model order,
and the weekly tensor holds the ``MerchantWeek`` flows (``model.week_property_names()``).
What a graph lacks (a relation never loaded, a label without nodes, no weeks) is absent
from the result, never an error: a folder of merchants and payments exports.

Reads go through :meth:`Graph.frames`: each page is one row of lists, paged by the
indexed ``id`` of a node label, so memory holds one page of Neo4j's answer plus the
arrays built so far, never a dict per row. Node ``i`` of a type is ``ids[label][i]``,
ids in ``id`` order; ids are mapped to positions with ``pandas.Index.get_indexer``.

The export is not one snapshot (each page is its own read): run it while no ingest
writes. An edge or week whose end appeared after that end's label was read is left out
and counted in ``Exported.skipped``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from guanxi import queries
from guanxi.errors import InputError
from guanxi.graph import model
from guanxi.graph.connection import Graph
from guanxi.progress import ProgressFn
from guanxi.queries import Query

__all__ = ["Exported", "export_graph", "exported_relations", "FAMILIES", "MERCHANT_COLUMNS",
           "side_by_side"]

EdgeType = tuple[str, str, str]
T = TypeVar("T")

FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(r.family for r in model.RELATIONS))
"""Relation families of the model (``flow``, ``identifier``, ``membership``)."""

MERCHANT_COLUMNS: tuple[str, ...] = ("id", "name", "category", "city", "district",
                                     "registered_on", "label", "defaulted")
"""Columns of ``Exported.merchants`` (``queries/export_merchants.cypher``)."""

# The time-series label of the model (graph/model.py, NODES): one node per merchant and
# week with properties `merchant`, `week` and model.week_property_names().
WEEK_LABEL = "MerchantWeek"


@dataclass
class Exported:
    """The graph as PyG tensors, and the way back to Neo4j ids.

    Shapes: ``data[label].num_nodes`` = ``|V_label|``; ``data[key].edge_index``
    ``(2, |E_key|)`` int64 (row 0 sources, row 1 targets, positions in ``ids``);
    ``data[key].edge_attr`` ``(|E_key|, A_key)`` float32, only for relations with
    aggregates (identifier relations have none); ``weeks`` ``(|V_Merchant|, W, F)``.
    """

    data: HeteroData
    """Node types present with ``num_nodes`` (no features: those are ``gnn/``'s), edge
    types present with ``edge_index`` and, where the relation has aggregates,
    ``edge_attr``."""
    ids: dict[str, np.ndarray]
    """Per node type present, ``ids[label][i]`` is the Neo4j ``id`` of node ``i``."""
    edge_attr_names: dict[EdgeType, tuple[str, ...]]
    """The columns of each ``edge_attr``: the relation's aggregates in model order. A
    datetime is epoch seconds (float32 holds them to within 64 s). Kept here, not on the
    edge store, because PyG treats a list as long as the edges as a per-edge attribute."""
    merchants: pd.DataFrame
    """``MERCHANT_COLUMNS``; row ``i`` is merchant ``i``: text as ``str`` (None where
    missing), ``registered_on`` datetime64 (NaT), ``defaulted`` nullable Int8 (NA)."""
    weeks: torch.Tensor
    """``(|V_Merchant|, W, F)`` float32: ``weeks[i, w, f]`` is flow ``week_names[f]`` of
    merchant ``i`` in the week starting ``week_dates[w]``, zero when it had none."""
    week_dates: np.ndarray
    """``(W,)`` datetime64[D]: every Monday from the first week with activity to the last,
    without gaps, so the second axis of ``weeks`` is time."""
    week_names: tuple[str, ...] = model.week_property_names()
    skipped: dict[str, int] = field(default_factory=dict)
    """Edges (per ``'Source-TYPE-Target'``) and ``'weeks'`` left out because an end was
    not among the nodes read (written during the export)."""

    def index(self, label: str, ids: Iterable[str]) -> np.ndarray:
        """Positions of the Neo4j ``ids`` among ``label``'s nodes, -1 where unknown."""
        known = self.ids.get(label, np.empty(0, dtype=object))
        return pd.Index(known).get_indexer(list(ids))


def export_graph(graph: Graph, *, families: Sequence[str] = ("flow", "identifier"),
                 chunk: int = 100_000, workers: int = 2,
                 progress: ProgressFn | None = None) -> Exported:
    """Read the graph into a ``HeteroData`` with the id map back to Neo4j.

    Parameters
    ----------
    graph : Graph
        Where to read.
    families : sequence of str
        Relation families to export (``FAMILIES``); relations that scoring writes
        (no input ``kind``, e.g. ``IN_CLUSTER``) are never exported.
    chunk : int
        Rows per page: nodes of a label or ``MerchantWeek`` nodes; for an edge type,
        source nodes with all their edges of that type.
    workers : int
        Reads run at once (labels first, then relations and weeks). Two keep a
        two-core machine busy: one read's page decodes here while Neo4j computes the
        other's. 1 reads one after another.
    progress : ProgressFn, optional
        Called on this thread as ``progress(task, done, total)`` for each label
        (``"export Merchant"``, nodes), relation (``"export Consumer-PAID->Merchant"``,
        edges) and ``"export weeks"`` (``MerchantWeek`` nodes), at the start and after
        each page; the last call of a task has ``done == total``.

    Returns
    -------
    Exported
        See :class:`Exported` for the shapes.
    """
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown relation families {unknown}; choose from {list(FAMILIES)}")
    if chunk < 1 or workers < 1:
        raise ValueError(f"chunk and workers must be at least 1, not {chunk} and {workers}")
    report = progress or _silent
    relations = exported_relations(families)

    labels = [label for label in _node_types(relations) if label != "Merchant"]
    merchants, *others = side_by_side(
        [partial(_read_merchants, graph, chunk),
         *(partial(_read_ids, graph, label, chunk) for label in labels)], workers, report)
    ids = {"Merchant": merchants["id"].to_numpy(dtype=object)}
    ids.update(zip(labels, others, strict=True))
    ids = {label: values for label, values in ids.items() if len(values)}
    index = {label: pd.Index(values) for label, values in ids.items()}

    # Relations never loaded, or with an end that has no nodes, cost no pass at all.
    present = [(rel, expected) for rel in relations
               if rel.source in index and rel.target in index
               and (expected := edge_count(graph, rel))]
    # The longest reads first (the weeks are about as long as the largest relation),
    # so that the last to finish is a short one.
    longest = sorted(present, key=lambda p: -p[1])
    (weeks, dates, lost), *read = side_by_side(
        [partial(_read_weeks, graph, index.get("Merchant", pd.Index([])), chunk),
         *(partial(_read_relation, graph, rel, index, expected, chunk)
           for rel, expected in longest)], workers, report)

    data = HeteroData()
    for label, values in ids.items():
        data[label].num_nodes = len(values)
    skipped = {"weeks": lost} if lost else {}
    names: dict[EdgeType, tuple[str, ...]] = {}
    by_key = {rel.key: result for (rel, _), result in zip(longest, read, strict=True)}
    for rel, _ in present:  # model order
        edge_index, edge_attr, lost = by_key[rel.key]
        if lost:
            skipped["-".join(rel.key)] = lost
        if edge_index.shape[1] == 0:
            continue
        data[rel.key].edge_index = edge_index
        if edge_attr is not None:
            data[rel.key].edge_attr = edge_attr
            names[rel.key] = tuple(a.name for a in rel.aggregates)
    return Exported(data, ids, names, merchants, weeks, dates, skipped=skipped)


def exported_relations(families: Sequence[str] = ("flow", "identifier")
                       ) -> list[model.Relation]:
    """The model's relations of ``families`` that ingest writes (``kind`` set), in model
    order: what :func:`export_graph` reads. Each of the default families' has a
    merchant at one end at least."""
    return [r for r in model.RELATIONS if r.family in families and r.kind is not None]


class _Stopped(Exception):
    """Raised in a worker's progress call once another read has failed."""


def side_by_side(jobs: list[Callable[[ProgressFn], T]], workers: int,
                 report: ProgressFn | None = None) -> list[T]:
    """``job(progress)`` for each job, ``workers`` at a time; results in job order.

    Progress calls are relayed to ``report`` (None: dropped) on this thread (a rich bar
    or a Streamlit widget may not be drawn from another). The first failure stops the
    other reads at their next page and is raised here.
    """
    report = report or _silent
    if workers == 1 or len(jobs) <= 1:
        return [job(report) for job in jobs]
    calls: queue.SimpleQueue[tuple[str, int, int | None]] = queue.SimpleQueue()
    stop = threading.Event()

    def relay(task: str, done: int, total: int | None) -> None:
        if stop.is_set():
            raise _Stopped
        calls.put((task, done, total))

    def drain() -> None:
        while not calls.empty():
            report(*calls.get())

    with ThreadPoolExecutor(workers, thread_name_prefix="guanxi-export") as pool:
        futures = [pool.submit(job, relay) for job in jobs]
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                drain()
                for future in finished:
                    future.result()  # raises the read's error
        except BaseException:
            stop.set()
            for future in pending:
                future.cancel()
            raise
    drain()
    return [future.result() for future in futures]


def _silent(task: str, done: int, total: int | None) -> None:
    pass


def _node_types(relations: Sequence[model.Relation]) -> list[str]:
    """``Merchant`` and every end of ``relations``, in the model's label order."""
    ends = {"Merchant"} | {r.source for r in relations} | {r.target for r in relations}
    return [label for label in model.node_labels() if label in ends]


# Statements below splice labels, types and property names into their text: these are
# constants of graph/model.py, never input, and Cypher takes none of them as parameters
# (graph/schema.py does the same). Values always travel as $parameters.

def node_count(graph: Graph, label: str) -> int:
    """Nodes of ``label`` (answered from Neo4j's count store, no scan)."""
    return counts(graph, [label], [])[0][label]


def edge_count(graph: Graph, rel: model.Relation) -> int:
    """Edges of ``rel``, at most: Neo4j's count store knows a type with one end's label,
    not both, so this is the smaller of the two counts (exact for every relation of the
    model, each of whose types has one label on at least one side). No scan."""
    return counts(graph, [], [rel])[1][rel.key]


def counts(graph: Graph, labels: Sequence[str], relations: Sequence[model.Relation]
           ) -> tuple[dict[str, int], dict[tuple[str, str, str], int]]:
    """:func:`node_count` of each of ``labels`` and :func:`edge_count` of each of
    ``relations``, from one statement (a round trip each cost 10-15 ms)."""
    parts, names = [], []
    for i, label in enumerate(labels):
        parts.append(f"CALL () {{ MATCH (n:{label}) RETURN count(n) AS n{i} }}")
        names.append(f"n{i}")
    for i, rel in enumerate(relations):
        parts.append(f"CALL () {{ MATCH (:{rel.source})-[r:{rel.type}]->() "
                     f"RETURN count(r) AS a{i} }}")
        parts.append(f"CALL () {{ MATCH ()-[r:{rel.type}]->(:{rel.target}) "
                     f"RETURN count(r) AS b{i} }}")
        names += [f"a{i}", f"b{i}"]
    # Labels and types come from graph/model.py (constants, never input).
    row = graph.read(Query(f"export_count({len(labels)} labels, {len(relations)} relations)",
                           " ".join(parts) + " RETURN " + ", ".join(names)))[0]
    return ({label: row[f"n{i}"] for i, label in enumerate(labels)},
            {rel.key: min(row[f"a{i}"], row[f"b{i}"]) for i, rel in enumerate(relations)})


def _read_merchants(graph: Graph, chunk: int, report: ProgressFn) -> pd.DataFrame:
    """Merchants in id order: ``MERCHANT_COLUMNS``, typed."""
    task, total = "export Merchant", node_count(graph, "Merchant")
    report(task, 0, total)
    parts = []
    for part in graph.frames(queries.load("export_merchants"), key="id", chunk=chunk,
                             ids=None):
        parts.append(part)
        report(task, sum(map(len, parts)), total)
    return typed_merchants(parts)


def typed_merchants(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Pages of ``export_merchants`` as one ``MERCHANT_COLUMNS`` frame, typed."""
    if parts:
        frame = pd.concat(parts, ignore_index=True)
    else:
        frame = pd.DataFrame({column: pd.Series([], dtype=object) for column in MERCHANT_COLUMNS})
    # One dtype whatever the pages held (pandas infers str, or object for a page of
    # nulls): text as Python str, None where missing, the same under pandas 2 and 3.
    for column in ("id", "name", "category", "city", "district", "label"):
        text = frame[column].astype(object)
        frame[column] = text.where(text.notna(), None)
    frame["registered_on"] = pd.to_datetime(frame["registered_on"], format="%Y-%m-%d")
    frame["defaulted"] = _outcomes(frame["id"], frame["defaulted"])
    return frame[list(MERCHANT_COLUMNS)]


def _outcomes(ids: pd.Series, stored: pd.Series) -> pd.Series:
    """``defaulted`` as nullable Int8 0/1; anything else stored there is an ``InputError``.

    Ingest writes only 0 and 1, but a graph edited by hand (or by another tool) may hold
    2, "yes" or 0.5, which would train and score as nonsense: name one such merchant.
    """
    as_number = pd.to_numeric(stored.astype(object), errors="coerce")
    bad = stored.notna() & ~as_number.isin([0, 1])
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        value = stored.iloc[first]
        value = value.item() if isinstance(value, np.generic) else value
        raise InputError(
            f"merchant {ids.iloc[first]!r} has defaulted = {value!r} in the graph "
            f"({int(bad.sum())} merchant(s) hold a value other than 0 or 1)",
            "set it to 0 (repaid) or 1 (defaulted), or remove it, e.g. guanxi db query "
            "\"MATCH (m:Merchant {id: $id}) SET m.defaulted = 1\" -p id=...; or ingest the "
            "defaults file again")
    return as_number.astype("Int8")


def _read_ids(graph: Graph, label: str, chunk: int, report: ProgressFn) -> np.ndarray:
    """``(|V_label|,)`` object array of the label's ids, in id order."""
    task, total = f"export {label}", node_count(graph, label)
    report(task, 0, total)
    query = Query(f"export_ids({label})",
                  f"MATCH (n:{label}) WHERE n.id > $after WITH n ORDER BY n.id LIMIT $limit "
                  "RETURN collect(n.id) AS id")
    parts: list[np.ndarray] = []
    done = 0
    if total:
        for part in graph.frames(query, key="id", chunk=chunk):
            parts.append(part["id"].to_numpy(dtype=object))
            done += len(part)
            report(task, done, total)
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def _relation_query(rel: model.Relation) -> Query:
    """One page of ``rel.source`` nodes that have such edges, and all their edges, one
    row of flat lists (source id, target id, each aggregate).

    The page is ``$limit`` sources, each with at least one edge, so it has at least
    ``$limit`` rows unless it is the last, which is what ``Graph.frames`` takes to go on;
    rows keep the sources' id order, so its last source id is where the next page starts.
    (Nested lists per source, or a subquery per source, measured 2-3x slower.)
    """
    values = relation_columns(rel)
    return Query(f"export_edges({'-'.join(rel.key)})",
                 f"MATCH (s:{rel.source}) WHERE s.id > $after\n"
                 f"  AND EXISTS {{ (s)-[:{rel.type}]->(:{rel.target}) }}\n"
                 "WITH s ORDER BY s.id LIMIT $limit\n"
                 f"MATCH (s)-[r:{rel.type}]->(t:{rel.target})\n"
                 f"RETURN {', '.join(values)}")


def relation_columns(rel: model.Relation) -> list[str]:
    """The RETURN items of an edge read of ``rel`` over ``(s)-[r]->(t)``: ``id``
    (source), ``target`` and ``a0``, ``a1``, ... (the aggregates), each a list."""
    # NaN for a missing aggregate: collect() would skip a null and shift the lists.
    values = ["collect(s.id) AS id", "collect(coalesce(t.id, '')) AS target"]
    for i, agg in enumerate(rel.aggregates):
        # Datetimes cross the wire as epoch seconds: numbers, not objects per value.
        expression = f"r.{agg.name}.epochSeconds" if agg.dtype == "datetime" else f"r.{agg.name}"
        values.append(f"collect(coalesce({expression}, 0.0 / 0.0)) AS a{i}")
    return values


def edge_rows(part: pd.DataFrame, rel: model.Relation, index: dict[str, pd.Index]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """One page of a ``relation_columns`` read as source and target positions in
    ``index``, ``(n, A)`` float32 aggregates (None without aggregates) and the number
    of edges left out (an end not in ``index``)."""
    source = index[rel.source].get_indexer(part["id"].to_numpy(dtype=object))
    target = index[rel.target].get_indexer(part["target"].to_numpy(dtype=object))
    keep = (source >= 0) & (target >= 0)
    attrs = None
    if rel.aggregates:
        columns = [part[f"a{i}"].to_numpy(dtype=np.float64) for i in range(len(rel.aggregates))]
        attrs = np.column_stack(columns)[keep].astype(np.float32)
    return source[keep], target[keep], attrs, int((~keep).sum())


def sorted_edges(source: np.ndarray, target: np.ndarray, attrs: np.ndarray | None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``edge_index`` and ``edge_attr`` in (source, target) order: the store returns a
    node's edges in the order a (parallel) load created them, and float sums over
    edges depend on their order."""
    # One stable sort of one key: an export's edges come mostly in order already (the
    # kept part of an incremental read wholly), which the sort's runs make cheap.
    width = int(target.max()) + 1 if len(target) else 1
    order = np.argsort(source.astype(np.int64) * width + target, kind="stable")
    edge_index = torch.from_numpy(np.stack([source[order], target[order]]).astype(np.int64))
    return edge_index, None if attrs is None else torch.from_numpy(attrs[order])


def _read_relation(graph: Graph, rel: model.Relation, index: dict[str, pd.Index],
                   expected: int, chunk: int, report: ProgressFn
                   ) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """``edge_index`` ``(2, |E|)`` int64, ``edge_attr`` ``(|E|, A)`` float32 (None when
    the relation has no aggregates) and the number of edges left out."""
    task = f"export {rel.source}-{rel.type}->{rel.target}"
    report(task, 0, expected)
    width = len(rel.aggregates)
    sources: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    attrs: list[np.ndarray] = []
    done = lost = 0
    for part in graph.frames(_relation_query(rel), key="id", chunk=chunk):
        source, target, attr, left_out = edge_rows(part, rel, index)
        lost += left_out
        sources.append(source)
        targets.append(target)
        if attr is not None:
            attrs.append(attr)
        done += len(part)
        report(task, done, max(done, expected))
    report(task, done, done)
    stacked = None
    if width:
        stacked = np.concatenate(attrs) if attrs else np.empty((0, width), np.float32)
    edge_index, edge_attr = sorted_edges(_cat(sources, np.int64), _cat(targets, np.int64),
                                         stacked)
    return edge_index, edge_attr, lost


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)


def week_columns() -> list[str]:
    """The RETURN items of a ``MerchantWeek`` read over ``w``: id, merchant id, the
    week's year and day of the year (numbers: a date object per row, or date arithmetic
    in Cypher, measured 2-3x slower) and the flows in model order, zero where a
    property is missing; each a list."""
    return ["collect(w.id) AS id", "collect(coalesce(w.merchant, '')) AS merchant",
            "collect(coalesce(w.week.year, 0)) AS year",
            "collect(coalesce(w.week.ordinalDay, 0)) AS day",
            *(f"collect(coalesce(w.{name}, 0)) AS {name}" for name in model.week_property_names())]


def _weeks_query() -> Query:
    """One page of ``MerchantWeek`` nodes (``week_columns``)."""
    return Query("export_weeks",
                 f"MATCH (w:{WEEK_LABEL}) WHERE w.id > $after\n"
                 "WITH w ORDER BY w.id LIMIT $limit\n"
                 f"RETURN {', '.join(week_columns())}")


def week_rows(part: pd.DataFrame, merchants: pd.Index
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One page of a ``week_columns`` read as merchant positions in ``merchants``, days
    since 1970-01-01 of each week's Monday, ``(n, F)`` float32 flows, and the number of
    weeks left out (merchant not in ``merchants``, or no week date)."""
    names = model.week_property_names()
    row = merchants.get_indexer(part["merchant"].to_numpy(dtype=object))
    year = part["year"].to_numpy(dtype=np.int64)
    keep = (row >= 0) & (year > 0)  # year 0: the week had no date
    # Days since 1970-01-01 of each week's date: January 1st, plus the day of year.
    january = (year[keep] - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    day = january.astype(np.int64) + part["day"].to_numpy(np.int64)[keep] - 1
    flows = np.column_stack([part[n].to_numpy(dtype=np.float64) for n in names])
    return row[keep], day, flows[keep].astype(np.float32), int((~keep).sum())


def _read_weeks(graph: Graph, merchants: pd.Index, chunk: int, report: ProgressFn
                ) -> tuple[torch.Tensor, np.ndarray, int]:
    """The dense ``(|V_Merchant|, W, F)`` float32 tensor, its ``(W,)`` Mondays and the
    number of weeks left out (merchant not exported, or no week date)."""
    task, total = "export weeks", node_count(graph, WEEK_LABEL)
    report(task, 0, total)
    rows: list[np.ndarray] = []
    days: list[np.ndarray] = []
    values: list[np.ndarray] = []
    done = lost = 0
    if total:
        for part in graph.frames(_weeks_query(), key="id", chunk=chunk):
            row, day, flows, left_out = week_rows(part, merchants)
            rows.append(row)
            days.append(day)
            values.append(flows)
            lost += left_out
            done += len(part)
            report(task, done, total)
    weeks, dates = dense_weeks(len(merchants), _cat(rows, np.int64), _cat(days, np.int64),
                               np.concatenate(values) if values else None)
    return weeks, dates, lost


def dense_weeks(merchants: int, row: np.ndarray, day: np.ndarray, values: np.ndarray | None,
                first: int | None = None, last: int | None = None
                ) -> tuple[torch.Tensor, np.ndarray]:
    """The ``(merchants, W, F)`` tensor of week rows (``week_rows``) and its ``(W,)``
    Mondays: every week from the first day to the last, widened to ``first`` and
    ``last`` (days since 1970-01-01) when given."""
    names = model.week_property_names()
    ends = [d for d in (first, last) if d is not None]
    if len(day) == 0 and not ends:
        empty = torch.zeros((merchants, 0, len(names)), dtype=torch.float32)
        return empty, np.empty(0, dtype="datetime64[D]")
    seen = [int(day.min()), int(day.max())] if len(day) else []
    start, end = min(seen + ends), max(seen + ends)
    dense = np.zeros((merchants, (end - start) // 7 + 1, len(names)), dtype=np.float32)
    if len(day):
        dense[row, (day - start) // 7] = values
    dates = np.datetime64(start, "D") + 7 * np.arange(dense.shape[1])
    return torch.from_numpy(dense), dates.astype("datetime64[D]")
