"""A validated batch of one file kind, as parameterised write statements.

Payments, supply and shipments are aggregated per (source, target) pair within the
batch, as ``graph/model.py`` says for each relation, before they are sent: the Cypher
then adds counts and sums to the pair's relationship, so a pair's totals are the same
however its rows are split into batches or files. The same rows are also summed per
merchant and local week (``MerchantWeek``, one row per merchant and week carrying every
flow of ``WEEKLY_FLOWS``) so trends survive the per-pair aggregation: the targets' flows
in the pair's batch, the sources' flows (``weekly_flows(..., side="source")``) summed
over the whole file and written after, in batches of their own.

Every statement's rows use one shape for pairs: ``{source, target, add: {count, sums},
max: {maxima}, first_ms, last_ms}``. Statement parameters are plain lists of dicts
(``UNWIND $rows``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from guanxi.graph.model import WEEKLY_FLOWS, Relation, relations_of_kind, week_property_names
from guanxi.graph.writes import Statement
from guanxi.queries import load

__all__ = ["Prepared", "statements", "weekly_flows", "weekly_statements", "IDENTIFIER_COLUMNS",
           "NIGHT_HOURS"]

IDENTIFIER_COLUMNS = tuple(r.columns[1] for r in relations_of_kind("merchants"))
"""Merchant columns that name another node (``ingest_merchants.cypher`` links them)."""

NIGHT_HOURS = range(0, 6)
"""Local hours counted as night (cash-out and farming crews often pay then)."""

_MERCHANT_PROPS = ("name", "category", "city", "district")
_PAIR_QUERY = {("Consumer", "PAID"): "ingest_paid_by_consumer",
               ("Merchant", "PAID"): "ingest_paid_by_merchant",
               ("Merchant", "SUPPLIES"): "ingest_supplies",
               ("Merchant", "SHIPPED_TO"): "ingest_shipped_to"}
_DAY = np.datetime64("1970-01-01", "D")


@dataclass
class Prepared:
    """What one batch writes: its statements and the merchants whose data it changes."""

    statements: list[Statement]
    merchants: list[str] = field(default_factory=list)


def statements(kind: str, batch: pd.DataFrame, merchant_payer: np.ndarray | None = None,
               replace: bool = False) -> Prepared:
    """The statements that write ``batch`` (rows of ``kind`` from ``Validator``).

    ``merchant_payer`` (payments only) marks rows whose payer is a merchant. ``replace``
    (merchants only, for ``--reload``) first removes the identifier links of the batch's
    merchants, so the rows replace them rather than add to them.
    """
    if batch.empty:
        return Prepared([])
    if kind == "merchants":
        ids = sorted(batch["merchant_id"].unique())
        unlink = [(load("ingest_merchants_unlink"), {"ids": ids})] if replace else []
        return Prepared(unlink + _merchants(batch), ids)
    if kind == "labels":
        rows = pd.DataFrame({"id": batch["merchant_id"], "label": batch["label"],
                             "source": batch["source"], "ts_ms": batch["ts_ms"].astype("Int64")})
        return Prepared([(load("ingest_labels"), {"rows": _records(rows)})],
                        sorted(batch["merchant_id"].unique()))
    if kind == "defaults":
        rows = pd.DataFrame({"id": batch["merchant_id"], "defaulted": batch["defaulted"],
                             "observed_on": batch["observed_on"]})
        return Prepared([(load("ingest_defaults"), {"rows": _records(rows)})],
                        sorted(batch["merchant_id"].unique()))
    relations = relations_of_kind(kind)
    if not relations:
        raise ValueError(f"unknown file kind {kind!r}")
    rows = _derived(batch)
    source_is_merchant = np.ones(len(rows), bool)
    if kind == "payments":
        source_is_merchant = (np.zeros(len(rows), bool) if merchant_payer is None
                              else np.asarray(merchant_payer, bool))
    out: list[Statement] = []
    for rel in relations:
        part = rows[source_is_merchant == (rel.source == "Merchant")]
        if len(part):
            out.append((load(_PAIR_QUERY[rel.source, rel.type]), {"rows": _pairs(part, rel)}))
    # Only the target side's weeks here: batches partition targets, so no two batches
    # written at once touch one MerchantWeek. The source side follows in its own batches.
    weeks = _weekly(kind, rows, merchant_payer, "target")
    sources = rows.loc[source_is_merchant, relations[0].columns[0]].unique().tolist()
    merchants = sorted(set(weeks["merchant"]) | set(sources))
    return Prepared([*out, *weekly_statements(weeks).statements], merchants)


def weekly_flows(kind: str, rows: pd.DataFrame, merchant_payer: np.ndarray | None = None,
                 side: str = "target") -> pd.DataFrame:
    """Count and amount of each flow of ``kind`` on one ``side``, per merchant and week.

    Columns ``merchant``, ``week`` (days since 1970-01-01 of the local Monday) and every
    ``week_property_names()`` column (zero for flows of other kinds or sides). Partial
    tables of one file add up: ``pd.concat(parts).groupby(["merchant", "week"]).sum()``.
    """
    return _weekly(kind, _derived(rows), merchant_payer, side)


def _weekly(kind: str, rows: pd.DataFrame, merchant_payer: np.ndarray | None,
            side: str) -> pd.DataFrame:
    """``weekly_flows`` of rows that already have ``_derived``'s columns."""
    rel = relations_of_kind(kind)[0]
    if side == "source" and kind == "payments":  # only a merchant payer has weekly flows
        mask = np.zeros(len(rows), bool) if merchant_payer is None else np.asarray(
            merchant_payer, bool)
        rows = rows[mask]
    column = rel.columns[0] if side == "source" else rel.columns[1]
    names = list(week_property_names())
    parts = []
    for flow in WEEKLY_FLOWS:
        if flow.type == rel.type and flow.side == side:
            grouped = rows.groupby([column, "ts_week"], sort=False).agg(
                count=(column, "size"), amount=(flow.amount, "sum"))
            grouped.columns = [f"{flow.name}_count", f"{flow.name}_amount"]
            parts.append(grouped)
    table = pd.concat(parts, axis=1).reindex(columns=names).fillna(0)
    table.index.names = ["merchant", "week"]
    return table.reset_index()


def weekly_statements(table: pd.DataFrame) -> Prepared:
    """The statement that adds a ``weekly_flows`` table to ``MerchantWeek`` nodes."""
    if table.empty:
        return Prepared([])
    names = list(week_property_names())
    table = table.sort_values(["merchant", "week"], kind="stable")
    table = table.astype({n: "int64" for n in names if n.endswith("_count")})
    weeks = (_DAY + table["week"].to_numpy(np.int64)).astype(str)
    rows = [{"id": f"{m}|{w}", "merchant": m, "week": w, "flows": f}
            for m, w, f in zip(table["merchant"].tolist(), weeks.tolist(),
                               _records(table[names]), strict=True)]
    return Prepared([(load("ingest_weekly_flows"), {"rows": rows})],
                    sorted(table["merchant"].unique()))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values, missing values as None."""
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def _merchants(batch: pd.DataFrame) -> list[Statement]:
    props = batch.reindex(columns=_MERCHANT_PROPS).assign(
        registered_on=pd.to_datetime(batch["registered_on"], format="%Y-%m-%d").dt.date
    )
    rows = [{"id": mid, "props": {k: v for k, v in p.items() if v is not None}}
            for mid, p in zip(batch["merchant_id"], _records(props), strict=True)]
    for column in IDENTIFIER_COLUMNS:
        values = batch[column].astype(object).where(batch[column].notna(), None)
        for row, value in zip(rows, values, strict=True):
            row[column] = [] if value is None else [value]
    return [(load("ingest_merchants"), {"rows": rows})]


def _derived(batch: pd.DataFrame) -> pd.DataFrame:
    """The batch plus the derived columns aggregates may name: ``amount_sq``, ``round``
    (a whole multiple of 10 yuan) and ``night`` (local hour in ``NIGHT_HOURS``)."""
    extra: dict[str, Any] = {}
    if "amount" in batch:
        cents = np.round(batch["amount"].to_numpy() * 100).astype(np.int64)
        extra.update(amount_sq=batch["amount"] ** 2, round=(cents % 1000 == 0).astype(np.int64))
    if "ts_hour" in batch:
        extra["night"] = batch["ts_hour"].isin(NIGHT_HOURS).astype(np.int64)
    if "weight_kg" in batch:
        extra["weight_kg"] = batch["weight_kg"].fillna(0.0)
    return batch.assign(**extra).reset_index(drop=True)


def _pairs(rows: pd.DataFrame, rel: Relation) -> list[dict[str, Any]]:
    """One row per (source, target) with the relation's aggregates (see ``Aggregate``)."""
    source, target = rel.columns
    specs = {a.name: (source, "size") if a.op == "count" else (a.of, a.op)
             for a in rel.aggregates}
    grouped = rows.groupby([source, target], sort=True).agg(**specs).reset_index()
    add = [a.name for a in rel.aggregates if a.op in ("count", "sum")]
    top = [a.name for a in rel.aggregates if a.op == "max" and a.dtype != "datetime"]
    for a in rel.aggregates:
        if a.dtype == "int":
            grouped[a.name] = grouped[a.name].astype("int64")
    sums, maxes = _records(grouped[add]), _records(grouped[top])
    return [{"source": s, "target": t, "add": a, "max": m, "first_ms": f, "last_ms": last}
            for s, t, a, m, f, last in zip(grouped[source].tolist(), grouped[target].tolist(),
                                           sums, maxes, grouped["first_ts"].tolist(),
                                           grouped["last_ts"].tolist(), strict=True)]
