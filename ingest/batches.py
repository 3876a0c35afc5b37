"""A validated batch of one file kind, as parameterised write statements.

Payments, supply and shipments are aggregated per (source, target) pair within the
batch before they are sent: the Cypher then adds counts and sums to the pair's
relationship, so a pair's totals are the same however its rows are split into
batches or files. Statement parameters are plain lists of dicts (``UNWIND $rows``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from guanxi.queries import Query, load

__all__ = ["statements", "IDENTIFIER_COLUMNS", "NIGHT_HOURS"]

Statement = tuple[Query, dict[str, Any]]

IDENTIFIER_COLUMNS = ("phone", "device_id", "bank_account", "address", "owner_id", "agent_id")
"""Merchant columns that name another node (``ingest_merchants.cypher`` links them)."""

NIGHT_HOURS = range(0, 6)
"""Local hours counted as night (cash-out and farming crews often pay then)."""

_MERCHANT_PROPS = ("name", "category", "city", "district")


def statements(kind: str, batch: pd.DataFrame, merchant_payer: np.ndarray | None = None
               ) -> list[Statement]:
    """The statements that write ``batch`` (rows of ``kind`` from ``Validator``).

    ``merchant_payer`` (payments only) marks rows whose payer is a merchant.
    """
    if batch.empty:
        return []
    if kind == "merchants":
        return _merchants(batch)
    if kind == "payments":
        is_merchant = np.zeros(len(batch), bool) if merchant_payer is None else merchant_payer
        out = []
        for flag, name in ((False, "ingest_paid_by_consumer"), (True, "ingest_paid_by_merchant")):
            part = batch[is_merchant == flag]
            if len(part):
                out.append((load(name), {"rows": _payment_pairs(part)}))
        return out
    if kind == "supply":
        return [(load("ingest_supplies"), {"rows": _supply_pairs(batch)})]
    if kind == "shipments":
        return [(load("ingest_shipped_to"), {"rows": _shipment_pairs(batch)})]
    if kind == "labels":
        rows = pd.DataFrame({"id": batch["merchant_id"], "label": batch["label"],
                             "source": batch["source"], "ts_ms": batch["ts_ms"].astype("Int64")})
        return [(load("ingest_labels"), {"rows": _records(rows)})]
    if kind == "defaults":
        rows = pd.DataFrame({"id": batch["merchant_id"], "defaulted": batch["defaulted"],
                             "observed_on": batch["observed_on"]})
        return [(load("ingest_defaults"), {"rows": _records(rows)})]
    raise ValueError(f"unknown file kind {kind!r}")


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


def _pairs(batch: pd.DataFrame, source: str, target: str, **aggs: tuple[str, str]
           ) -> list[dict[str, Any]]:
    grouped = batch.groupby([source, target], sort=True).agg(
        count=(source, "size"), first_ms=("ts_ms", "min"), last_ms=("ts_ms", "max"), **aggs
    )
    grouped = grouped.reset_index().rename(columns={source: "source", target: "target"})
    grouped["count"] = grouped["count"].astype("int64")
    return _records(grouped)


def _amount_flags(batch: pd.DataFrame) -> pd.DataFrame:
    cents = np.round(batch["amount"].to_numpy() * 100).astype(np.int64)
    return batch.assign(
        amount_sq=batch["amount"] ** 2,
        round=(cents % 1000 == 0).astype(np.int64),  # a whole multiple of 10 yuan
    )


def _payment_pairs(batch: pd.DataFrame) -> list[dict[str, Any]]:
    flagged = _amount_flags(batch).assign(
        night=batch["ts_hour"].isin(NIGHT_HOURS).astype(np.int64)
    )
    rows = _pairs(flagged, "payer_id", "payee_id", amount=("amount", "sum"),
                  amount_sq=("amount_sq", "sum"), amount_max=("amount", "max"),
                  round_count=("round", "sum"), night_count=("night", "sum"))
    sums = ("count", "amount", "amount_sq", "round_count", "night_count")
    return [{"payer": r["source"], "payee": r["target"], "first_ms": r["first_ms"],
             "last_ms": r["last_ms"], "amount_max": r["amount_max"],
             "sums": {k: r[k] for k in sums}} for r in rows]


def _supply_pairs(batch: pd.DataFrame) -> list[dict[str, Any]]:
    return _pairs(_amount_flags(batch), "supplier_id", "buyer_id", amount=("amount", "sum"),
                  amount_max=("amount", "max"), round_count=("round", "sum"))


def _shipment_pairs(batch: pd.DataFrame) -> list[dict[str, Any]]:
    weights = batch.assign(weight_kg=batch["weight_kg"].fillna(0.0))
    return _pairs(weights, "shipper_id", "receiver_id", weight_kg=("weight_kg", "sum"))
