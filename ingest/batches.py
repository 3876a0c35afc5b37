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

__all__ = ["statements", "IDENTIFIER_LINKS", "NIGHT_HOURS"]

Statement = tuple[Query, dict[str, Any]]

IDENTIFIER_LINKS: dict[str, str] = {
    "phone": "ingest_merchant_phone",
    "device_id": "ingest_merchant_device",
    "bank_account": "ingest_merchant_bank_account",
    "address": "ingest_merchant_address",
    "owner_id": "ingest_merchant_owner",
    "agent_id": "ingest_merchant_agent",
}
"""Merchant columns that name another node, and the query that links it."""

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
    props = _records(batch.reindex(columns=_MERCHANT_PROPS))
    registered = _records(batch.reindex(columns=["registered_on"]))
    rows = [
        {"id": mid, "props": {k: v for k, v in p.items() if v is not None},
         "registered_on": reg["registered_on"]}
        for mid, p, reg in zip(batch["merchant_id"], props, registered, strict=True)
    ]
    out: list[Statement] = [(load("ingest_merchants"), {"rows": rows})]
    for column, query in IDENTIFIER_LINKS.items():
        if column not in batch:
            continue
        links = batch[["merchant_id", column]].dropna()
        if len(links):
            # Sorted, so concurrent batches lock shared identifiers in one order.
            links = links.rename(columns={"merchant_id": "merchant", column: "id"})
            links = links.sort_values(["id", "merchant"], kind="stable")
            out.append((load(query), {"links": _records(links)}))
    return out


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
    for row in rows:
        row["payer"] = row.pop("source")
        row["payee"] = row.pop("target")
    return rows


def _supply_pairs(batch: pd.DataFrame) -> list[dict[str, Any]]:
    return _pairs(_amount_flags(batch), "supplier_id", "buyer_id", amount=("amount", "sum"),
                  amount_max=("amount", "max"), round_count=("round", "sum"))


def _shipment_pairs(batch: pd.DataFrame) -> list[dict[str, Any]]:
    weights = batch.assign(weight_kg=batch["weight_kg"].fillna(0.0))
    return _pairs(weights, "shipper_id", "receiver_id", weight_kg=("weight_kg", "sum"))
