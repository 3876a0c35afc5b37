"""An export brought up to date by reading only what ingest touched since it was made.

A refresh after a small ingest need not stream the whole graph out of Neo4j again
(at 100,000 merchants that read is 40-130 s, the largest stage of a run). Each run
keeps what it read as a **snapshot** (``graph/snapshot.py``), and the next
incremental run reads, for the merchants ingest touched since (``IngestBatch``), their
rows, every edge with one of them at an end and their weeks, and replaces those
merchants' part of the snapshot (:func:`brought_up_to_date`). Ingest only adds, and
every change it makes is on a merchant it records as touched, so the result is what
a full export would read.

That is checked, not trusted: the result must have as many nodes of every label,
edges of every relation and weeks as Neo4j's count store says (no scan); when any
differs (a node or edge added or removed by something other than ``guanxi ingest``, an
ingest running meanwhile), :class:`Stale` is raised and the caller reads the whole
graph instead. What the counts cannot see, a property changed in place by hand, is
read by the next whole-graph read (``--full``; docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from guanxi import queries
from guanxi.graph import model
from guanxi.graph.connection import Graph
from guanxi.graph.export import (
    WEEK_LABEL,
    Exported,
    counts,
    dense_weeks,
    edge_rows,
    exported_relations,
    relation_columns,
    side_by_side,
    sorted_edges,
    typed_merchants,
    week_columns,
    week_rows,
)
from guanxi.queries import Query

__all__ = ["Stale", "Touched", "brought_up_to_date", "read_touched"]

_CHUNK = 2_000
"""Touched merchants per read: a page of their edges stays a few MB."""


class Stale(Exception):
    """The snapshot brought up to date does not match the graph; the message says how."""


@dataclass(frozen=True)
class Touched:
    """What :func:`read_touched` read of the merchants ``ids`` (sorted, distinct):
    their ``rows``, their ``weeks`` and, per relation key, every edge with one of them
    at a merchant end."""

    ids: list[str]
    rows: pd.DataFrame
    weeks: pd.DataFrame
    edges: dict[tuple[str, str, str], pd.DataFrame]


def read_touched(graph: Graph, merchants: Sequence[str], *, chunk: int = _CHUNK
                 ) -> Touched:
    """Read the merchants ``merchants`` (ids; unknown ones are new) again: their rows,
    every edge with one of them at a merchant end, and their weeks, ``chunk`` merchants
    per statement. Needs no snapshot: a run reads while it loads one."""
    touched = sorted(set(merchants))
    relations = exported_relations()
    # Two reads at a time: Neo4j answers each on one core while this process waits.
    rows, weeks, *parts = side_by_side(
        [lambda _: typed_merchants(list(graph.frames(queries.load("export_merchants"),
                                                     key="id", chunk=50_000, ids=touched))),
         lambda _: _touched_weeks(graph, touched, chunk),
         *(lambda _, rel=rel: _touched_edges(graph, rel, touched, chunk) for rel in relations)],
        2)
    return Touched(touched, rows, weeks,
                   {rel.key: part for rel, part in zip(relations, parts, strict=True)})


def brought_up_to_date(graph: Graph, base: Exported, merchants: Sequence[str] | Touched
                       ) -> Exported:
    """``base`` with the merchants ``merchants`` (ids; unknown ones are new) read again
    (:func:`read_touched`, or what it read): their rows, every edge with one of them at
    a merchant end, and their weeks.

    ``base`` is used up: the result may share its tensors (a snapshot is loaded for
    one use), so read the result, not ``base``, afterwards.

    Raises :class:`Stale` when the result's counts differ from the graph's.
    """
    read = merchants if isinstance(merchants, Touched) else read_touched(graph, merchants)
    touched, rows, weeks, edges = read.ids, read.rows, read.weeks, read.edges
    relations = exported_relations()
    had = np.asarray(touched, dtype=object)[base.index("Merchant", touched) >= 0]
    gone = sorted(set(had) - set(rows["id"]))
    if gone:  # ingest never removes a merchant: something else wrote
        raise Stale(f"merchant {gone[0]} is no longer in the graph")

    # Ids: the base's and every one the new rows and edges name, in id order (one union
    # per label: hashing a million consumer ids once per relation end cost a second).
    named: dict[str, list[np.ndarray]] = {"Merchant": [rows["id"].to_numpy(dtype=object)]}
    for rel in relations:
        part = edges[rel.key]
        for label, column in ((rel.source, "id"), (rel.target, "target")):
            if len(part):
                named.setdefault(label, []).append(part[column].to_numpy(dtype=object))
    ids = dict(base.ids)
    # Where each of the base's nodes lands: ids are only ever inserted, so this comes
    # from the insertion points, not from hashing every id again (a million consumers).
    moved = {label: np.arange(len(values)) for label, values in base.ids.items()}
    for label, columns in named.items():
        ids[label], moved[label] = _union(ids.get(label), np.concatenate(columns))
    ids = {label: values for label, values in ids.items() if len(values)}
    index = {label: _Positions(values) for label, values in ids.items()}
    is_touched = np.zeros(len(ids["Merchant"]), dtype=bool)
    at = index["Merchant"].get_indexer(touched)
    is_touched[at[at >= 0]] = True

    # Merchants: the base's rows, the touched ones replaced.
    frame = base.merchants[~base.merchants["id"].isin(touched)]
    frame = pd.concat([frame, rows], ignore_index=True) if len(frame) else rows
    at = pd.Index(frame["id"]).get_indexer(ids["Merchant"])
    if (at < 0).any():  # an edge names a merchant that was not read: renamed by hand
        raise Stale(f"merchant {ids['Merchant'][np.argmax(at < 0)]} has edges but was "
                    "neither in the snapshot nor touched by ingest")
    frame = frame.iloc[at].reset_index(drop=True)

    data = HeteroData()
    for label, values in ids.items():
        data[label].num_nodes = len(values)
    names = {}
    for rel in exported_relations():
        if rel.source not in index or rel.target not in index:
            continue
        source, target, attrs = _kept_edges(base, rel, moved, is_touched)
        new_source, new_target, new_attrs, _ = edge_rows(edges[rel.key], rel, index)
        source = np.concatenate([source, new_source])
        target = np.concatenate([target, new_target])
        if attrs is not None or new_attrs is not None:
            width = len(rel.aggregates)
            attrs = np.concatenate([a if a is not None else np.empty((0, width), np.float32)
                                    for a in (attrs, new_attrs)])
        if len(source) == 0:
            continue
        edge_index, edge_attr = sorted_edges(source, target, attrs)
        data[rel.key].edge_index = edge_index
        if edge_attr is not None:
            data[rel.key].edge_attr = edge_attr
            names[rel.key] = tuple(a.name for a in rel.aggregates)

    week_tensor, week_dates = _weeks(base, weeks, index["Merchant"],
                                     moved.get("Merchant", np.empty(0, np.int64)),
                                     is_touched)
    out = Exported(data, ids, names, frame, week_tensor, week_dates)
    _check(graph, out)
    return out


def _union(known: np.ndarray | None, more: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``known`` (ids in order) with the ids of ``more`` it lacks inserted in order, and
    the ``(len(known),)`` new position of each of ``known``.

    >>> ids, moved = _union(np.array(["a", "c"], dtype=object),
    ...                     np.array(["d", "b", "c", None], dtype=object))
    >>> ids.tolist(), moved.tolist()
    (['a', 'b', 'c', 'd'], [0, 2])
    """
    known = np.empty(0, dtype=object) if known is None else known
    more = pd.unique(more[pd.notna(more)].astype(object))
    extra = np.sort(more[_Positions(known).get_indexer(more) < 0])
    if not len(extra):
        return known, np.arange(len(known))
    at = np.searchsorted(known, extra)
    # known[i] moves up by the number of ids inserted at or before it.
    moved = np.arange(len(known)) + np.searchsorted(np.sort(at), np.arange(len(known)),
                                                    side="right")
    return np.insert(known, at, extra), moved


class _Positions:
    """Positions in ``ids`` (sorted, as an export reads them) of a few ids at a time:
    a binary search, with a hash of every id only for those the search misses (an id
    out of order, should Neo4j and Python ever order two strings differently). A hash
    of a million consumer ids costs 0.3 s; the search of a few thousand, milliseconds.

    >>> _Positions(np.array(["a", "b", "d"], dtype=object)).get_indexer(["d", "c", "a"]).tolist()
    [2, -1, 0]
    """

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids
        self._hashed: pd.Index | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def get_indexer(self, values: Sequence[object] | np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=object)
        if not len(self.ids) or not len(values):
            return np.full(len(values), -1, dtype=np.int64)
        try:
            at = np.minimum(np.searchsorted(self.ids, values), len(self.ids) - 1)
            found = self.ids[at] == values
        except TypeError:  # a missing id (None) does not compare with text
            at, found = np.zeros(len(values), dtype=np.int64), np.zeros(len(values), bool)
        if found.all():
            return at.astype(np.int64)
        if self._hashed is None:
            self._hashed = pd.Index(self.ids)
        out = at.astype(np.int64)
        out[~found] = self._hashed.get_indexer(values[~found])
        return out


def _touched_edges(graph: Graph, rel: model.Relation, touched: list[str], chunk: int
                   ) -> pd.DataFrame:
    """Every edge of ``rel`` with a touched merchant at a merchant end, once, as the
    ``relation_columns`` frame."""
    ends = [end for end, label in (("s", rel.source), ("t", rel.target)) if label == "Merchant"]
    matches = [f"UNWIND $ids AS x MATCH (s:{rel.source})-[r:{rel.type}]->(t:{rel.target}) "
               f"WHERE {end}.id = x RETURN s, r, t" for end in ends]
    # Statements splice labels and types from graph/model.py (constants, never input);
    # the ids travel as $ids.
    # UNION keeps an edge between two touched merchants once per statement; one whose
    # ends fall in two chunks comes once from each, and would be counted twice.
    both = len(ends) == 2
    query = Query(f"delta_edges({'-'.join(rel.key)})",
                  "CALL () { " + " UNION ".join(matches) + " }\n"
                  f"RETURN {', '.join(relation_columns(rel))}"
                  + (", collect(elementId(r)) AS edge" if both else ""))
    part = _read(graph, query, touched, chunk)
    if not both:
        return part
    return part[~part["edge"].duplicated()].drop(columns="edge").reset_index(drop=True)


def _read(graph: Graph, query: Query, touched: list[str], chunk: int) -> pd.DataFrame:
    """``query`` (one row of lists) over ``touched``, ``chunk`` ids per statement, as
    one frame; with no id at all, its empty columns."""
    starts = range(0, max(len(touched), 1), chunk)
    return pd.concat([pd.DataFrame(graph.columns(query, ids=touched[start:start + chunk]))
                      for start in starts], ignore_index=True)


def _touched_weeks(graph: Graph, touched: list[str], chunk: int) -> pd.DataFrame:
    query = Query("delta_weeks", f"UNWIND $ids AS x MATCH (w:{WEEK_LABEL} {{merchant: x}})\n"
                                 f"RETURN {', '.join(week_columns())}")
    return _read(graph, query, touched, chunk)


def _kept_edges(base: Exported, rel: model.Relation, moved: dict[str, np.ndarray],
                touched: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The base's edges of ``rel`` with no touched merchant at an end, at their new
    positions."""
    store = base.data[rel.key] if rel.key in base.data.edge_types else None
    if store is None or rel.source not in moved or rel.target not in moved:
        return np.empty(0, np.int64), np.empty(0, np.int64), None
    source = moved[rel.source][store.edge_index[0].numpy()]
    target = moved[rel.target][store.edge_index[1].numpy()]
    keep = np.ones(len(source), dtype=bool)
    if rel.source == "Merchant":
        keep &= ~touched[source]
    if rel.target == "Merchant":
        keep &= ~touched[target]
    attrs = store.edge_attr.numpy()[keep] if "edge_attr" in store else None
    return source[keep], target[keep], attrs


def _weeks(base: Exported, part: pd.DataFrame, merchants: _Positions, moved: np.ndarray,
           touched: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """The base's weeks at the merchants' new positions, the touched merchants' replaced
    by ``part`` (a ``week_columns`` frame), over both date ranges."""
    row, day, values, _ = week_rows(part, merchants)
    old = base.weeks.numpy()
    ends = [int(base.week_dates[i].astype(np.int64)) for i in (0, -1)] if old.shape[1] else []
    if len(day):
        ends += [int(day.min()), int(day.max())]
    if not ends:
        return dense_weeks(len(merchants), row, day, values)
    start = min(ends)
    if len(moved) == len(merchants) and old.shape[1] and start == ends[0] \
            and max(ends) == ends[1]:
        # No merchant is new and no week outside the base's: the base's own tensor, its
        # touched rows replaced. A new one (254 MB at 100,000 merchants) took 0.3-0.5 s,
        # most of it the system handing over fresh memory.
        weeks, dates = old, base.week_dates
    else:
        tensor, dates = dense_weeks(len(merchants), row[:0], day[:0], values[:0], start,
                                    max(ends))
        weeks = tensor.numpy()
        if old.shape[1]:
            span = weeks[:, (ends[0] - start) // 7:][:, :old.shape[1]]
            span[moved] = old
    weeks[touched] = 0.0
    if len(day):
        weeks[row, (day - start) // 7] = values
    return torch.from_numpy(weeks), dates


def _weeks_with_a_flow(weeks: np.ndarray) -> np.ndarray:
    """``(M, W)`` bool: the merchant weeks of ``(M, W, F)`` ``weeks`` with any flow (a
    ``MerchantWeek`` node each), one flow at a time: ``weeks != 0`` whole is a bool as
    large as the weeks' values count (63 MB at 100,000 merchants)."""
    found = np.zeros(weeks.shape[:2], dtype=bool)
    for flow in range(weeks.shape[2]):
        found |= weeks[:, :, flow] != 0
    return found


def _check(graph: Graph, ex: Exported) -> None:
    """Raise :class:`Stale` unless ``ex`` counts what the graph's count store does."""
    relations = exported_relations()
    labels = sorted({"Merchant", WEEK_LABEL}
                    | {end for r in relations for end in (r.source, r.target)})
    nodes, edges = counts(graph, labels, relations)
    wrong = []
    for label in labels:
        if label == WEEK_LABEL:
            have = int(_weeks_with_a_flow(ex.weeks.numpy()).sum())
        else:
            have = len(ex.ids.get(label, ()))
        if have != nodes[label]:
            wrong.append(f"{nodes[label]} {label} nodes, not {have}")
    for rel in relations:
        have = (ex.data[rel.key].edge_index.shape[1] if rel.key in ex.data.edge_types else 0)
        if have != edges[rel.key]:
            wrong.append(f"{edges[rel.key]} {'-'.join(rel.key)} edges, not {have}")
    if wrong:
        raise Stale("the graph holds " + "; ".join(wrong[:3]))
