"""Statements of one batch: pairs aggregated as the model says, weekly flows per merchant
and local week, and the merchants the batch touches (no Neo4j needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guanxi.graph.model import week_property_names
from guanxi.ingest.batches import statements, weekly_flows, weekly_statements
from guanxi.ingest.mapping import KindMapping
from guanxi.ingest.validate import Validator


def valid(kind: str, rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).astype("str").replace("", np.nan)  # as the reader gives them
    frame["_line"] = frame.index + 2
    out = Validator(kind, KindMapping(kind)).validate(frame)
    assert out.rejects.empty, out.rejects
    return out.valid


PAYMENTS = [  # Monday 2025-01-06 and Monday 2025-01-13 weeks
    {"payer_id": "C1", "payee_id": "M1", "amount": "10", "ts": "2025-01-06T03:00"},
    {"payer_id": "C1", "payee_id": "M1", "amount": "2.5", "ts": "2025-01-12T23:00"},
    {"payer_id": "M2", "payee_id": "M1", "amount": "100", "ts": "2025-01-13T12:00"},
    {"payer_id": "C2", "payee_id": "M3", "amount": "7", "ts": "2025-01-07T12:00"},
]


def by_name(prepared) -> dict[str, list[dict]]:
    return {query.name: params["rows"] for query, params in prepared.statements}


def test_payments_become_pairs_split_by_payer_kind_with_the_model_aggregates() -> None:
    rows = valid("payments", PAYMENTS)
    prepared = statements("payments", rows, np.array([False, False, True, False]))
    out = by_name(prepared)
    consumer = out["ingest_paid_by_consumer"]
    assert [(r["source"], r["target"]) for r in consumer] == [("C1", "M1"), ("C2", "M3")]
    c1 = consumer[0]
    assert c1["add"] == {"count": 2, "amount": 12.5, "amount_sq": 106.25, "round_count": 1,
                         "night_count": 1}
    assert c1["max"] == {"amount_max": 10.0}
    assert c1["first_ms"] == rows["ts_ms"].iat[0] and c1["last_ms"] == rows["ts_ms"].iat[1]
    assert out["ingest_paid_by_merchant"][0]["add"]["count"] == 1
    assert prepared.merchants == ["M1", "M2", "M3"]  # payees and the merchant payer


def test_weekly_flows_sum_each_merchant_and_week_on_both_sides() -> None:
    rows = valid("payments", PAYMENTS)
    payers = np.array([False, False, True, False])
    weeks = by_name(statements("payments", rows, payers))["ingest_weekly_flows"]
    got = {r["id"]: r["flows"] for r in weeks}  # a pair batch: the targets' weeks
    assert sorted(got) == ["M1|2025-01-06", "M1|2025-01-13", "M3|2025-01-06"]
    assert all(list(flows) == list(week_property_names()) for flows in got.values())
    assert (got["M1|2025-01-06"]["paid_in_count"], got["M1|2025-01-06"]["paid_in_amount"]) == (
        2, 12.5)
    assert weeks[0]["merchant"] == "M1" and weeks[0]["week"] == "2025-01-06"

    sources = weekly_flows("payments", rows, payers, side="source")  # the payers' weeks
    assert sources[["merchant", "week", "paid_out_count", "paid_out_amount"]].values.tolist() \
        == [["M2", (pd.Timestamp("2025-01-13") - pd.Timestamp(0)).days, 1, 100.0]]
    assert (sources["paid_in_count"] == 0).all()  # every flow present, zero if untouched
    out = {r["id"]: r["flows"] for r in by_name(weekly_statements(sources))[
        "ingest_weekly_flows"]}
    assert out["M2|2025-01-13"]["paid_out_amount"] == 100.0


def test_partial_weekly_tables_add_up_to_the_whole() -> None:
    rows = valid("supply", [
        {"supplier_id": "M1", "buyer_id": f"M{i}", "amount": str(i), "ts": "2025-01-06"}
        for i in range(2, 6)])
    whole = weekly_flows("supply", rows, side="source")
    parts = [weekly_flows("supply", rows.iloc[i:i + 1], side="source") for i in range(4)]
    summed = pd.concat(parts).groupby(["merchant", "week"], as_index=False).sum()
    pd.testing.assert_frame_equal(summed, whole, check_dtype=False)
    assert whole[["sold_count", "sold_amount"]].values.tolist() == [[4, 14.0]]


def test_shipments_sum_weight_as_their_amount_and_a_missing_weight_as_zero() -> None:
    rows = valid("shipments", [
        {"shipper_id": "M1", "receiver_id": "M2", "ts": "2025-01-06", "weight_kg": "5.5"},
        {"shipper_id": "M1", "receiver_id": "M2", "ts": "2025-01-07", "weight_kg": ""}])
    out = by_name(statements("shipments", rows))
    assert out["ingest_shipped_to"][0]["add"] == {"count": 2, "weight_kg": 5.5}
    weeks = {r["id"]: r["flows"] for r in out["ingest_weekly_flows"]}
    assert weeks["M2|2025-01-06"]["received_count"] == 2
    assert weeks["M2|2025-01-06"]["received_amount"] == 5.5
    sent = weekly_flows("shipments", rows, side="source")
    assert sent[["merchant", "shipped_count", "shipped_amount"]].values.tolist() == [
        ["M1", 2, 5.5]]


def test_a_pair_split_over_batches_adds_up_to_the_whole() -> None:
    rows = valid("payments", PAYMENTS[:2])
    whole = by_name(statements("payments", rows))["ingest_paid_by_consumer"][0]["add"]
    halves = [by_name(statements("payments", rows.iloc[[i]]))["ingest_paid_by_consumer"][0]
              ["add"] for i in (0, 1)]
    assert {k: halves[0][k] + halves[1][k] for k in whole} == pytest.approx(whole)


def test_an_empty_batch_writes_nothing_and_an_unknown_kind_is_refused() -> None:
    assert statements("payments", pd.DataFrame()).statements == []
    with pytest.raises(ValueError, match="unknown file kind 'refunds'"):
        statements("refunds", pd.DataFrame({"x": [1]}))
