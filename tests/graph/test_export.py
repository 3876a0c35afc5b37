"""Export to PyTorch Geometric against the real Neo4j: a tiny ingested folder whose graph
is known, every edge and week checked both by hand and against Neo4j's own answer, and
invariants (page size changes nothing; absent parts are absent, never errors)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import MERCHANTS, PAYMENTS, SHIPMENTS, SUPPLY

from guanxi.errors import InputError, QueryError
from guanxi.graph import model
from guanxi.graph.connection import Graph
from guanxi.graph.export import (
    MERCHANT_COLUMNS,
    Exported,
    export_graph,
    side_by_side,
    typed_merchants,
)
from guanxi.ingest.load import IngestOptions, ingest_folder
from guanxi.progress import ProgressFn

LABELS = pd.DataFrame({"merchant_id": ["M2", "M5"], "label": ["fraud", "Legit"]})
DEFAULTS = pd.DataFrame({"merchant_id": ["M1", "M4"], "defaulted": ["0", "1"]})

MONDAYS = ["2024-12-30", "2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27", "2025-02-03"]


def ingest(graph: Graph, folder: Path, **frames: pd.DataFrame) -> None:
    folder.mkdir(parents=True)
    for kind, frame in frames.items():
        frame.to_csv(folder / f"{kind}.csv", index=False)
    report = ingest_folder(graph, folder, IngestOptions(rejects=folder.parent / "rejects.csv"))
    assert report.error is None
    assert all(f.rejected == 0 for f in report.files)


@pytest.fixture
def full(graph: Graph, tmp_path: Path) -> Graph:
    ingest(graph, tmp_path / "in", merchants=MERCHANTS, payments=PAYMENTS, supply=SUPPLY,
           shipments=SHIPMENTS, labels=LABELS, defaults=DEFAULTS)
    return graph


def edges(exported: Exported, key: tuple[str, str, str]) -> dict[tuple[str, str], tuple]:
    """Each exported edge as (source id, target id) -> its attributes, through ``ids``."""
    store = exported.data[key]
    source, target = store.edge_index.numpy()
    attrs = store.edge_attr.numpy() if "edge_attr" in store else np.empty((len(source), 0))
    pairs = {(s, t): tuple(a) for s, t, a in zip(exported.ids[key[0]][source],
                                                 exported.ids[key[2]][target], attrs.tolist(),
                                                 strict=True)}
    assert len(pairs) == store.num_edges  # one edge per pair
    return pairs


def neo4j_edges(graph: Graph, rel: model.Relation) -> dict[tuple[str, str], tuple]:
    """The same, as Neo4j answers it record by record (datetimes as epoch seconds),
    cast to float32 as the export stores them."""
    rows = graph.read(f"MATCH (s:{rel.source})-[r:{rel.type}]->(t:{rel.target}) "
                      "RETURN s.id AS s, t.id AS t, properties(r) AS p")

    def value(v: object) -> float:
        v = v.to_native().timestamp() if hasattr(v, "to_native") else v
        return float(np.float32(v))

    return {(row["s"], row["t"]): tuple(value(row["p"][a.name]) for a in rel.aggregates)
            for row in rows}


def week(exported: Exported, merchant: str, monday: str) -> dict[str, float]:
    i = exported.index("Merchant", [merchant])[0]
    w = list(exported.week_dates).index(np.datetime64(monday, "D"))
    return dict(zip(exported.week_names, exported.weeks[i, w].tolist(), strict=True))


def test_nodes_and_the_id_map(full: Graph) -> None:
    out = export_graph(full)
    counts = {t: out.data[t].num_nodes for t in out.data.node_types}
    assert counts == {"Merchant": 5, "Consumer": 4, "Phone": 3, "Device": 2, "BankAccount": 1,
                      "Address": 2, "Person": 3, "ServiceProvider": 2}
    assert out.ids["Merchant"].tolist() == ["M1", "M2", "M3", "M4", "M5"]
    assert out.ids["Consumer"].tolist() == ["C1", "C2", "C3", "C4"]
    assert sorted(out.ids) == sorted(counts)
    assert out.index("Merchant", ["M3", "nobody"]).tolist() == [2, -1]
    # Nothing but num_nodes on a node type: features are gnn/'s.
    assert all(set(out.data[t].keys()) == {"num_nodes"} for t in out.data.node_types)


def test_merchants_frame_in_index_order(full: Graph) -> None:
    m = export_graph(full).merchants
    assert tuple(m.columns) == MERCHANT_COLUMNS
    assert m["id"].tolist() == ["M1", "M2", "M3", "M4", "M5"]
    assert m["name"].iat[0] == "老王面馆" and m["district"].iat[4] == "滨江区"
    assert m["registered_on"].iat[0] == pd.Timestamp("2020-01-05")
    assert pd.isna(m["registered_on"].iat[3])
    assert m["label"].isna().tolist() == [True, False, True, True, False]
    assert (m["label"].iat[1], m["label"].iat[4]) == ("fraud", "legit")
    assert m["defaulted"].tolist()[0] == 0 and m["defaulted"].tolist()[3] == 1
    assert m["defaulted"].isna().tolist() == [False, True, True, False, True]


def _page(defaulted: list) -> pd.DataFrame:
    n = len(defaulted)
    return pd.DataFrame({"id": [f"M{i}" for i in range(n)], "name": ["x"] * n,
                         "category": [None] * n, "city": [None] * n, "district": [None] * n,
                         "registered_on": ["2025-01-01"] * n, "label": [None] * n,
                         "defaulted": defaulted})


def test_loan_outcomes_are_0_or_1_whatever_type_the_graph_stored() -> None:
    frame = typed_merchants([_page([1, None, 0]), _page([True, False, 1.0])])
    assert str(frame["defaulted"].dtype) == "Int8"
    assert frame["defaulted"].tolist() == [1, pd.NA, 0, 1, 0, 1]


@pytest.mark.parametrize(("value", "shown"), [(2, "2"), ("yes", "'yes'"), (0.5, "0.5")])
def test_a_loan_outcome_that_is_not_0_or_1_names_the_merchant(value, shown: str) -> None:
    # Ingest writes only 0/1; a value set by hand would train as nonsense.
    with pytest.raises(InputError) as info:
        typed_merchants([_page([0, None, value, value])])
    line = info.value.one_line()
    assert line.startswith(f"merchant 'M2' has defaulted = {shown}")
    assert "(2 merchant(s) hold a value other than 0 or 1)" in line and "SET m.defaulted" in line


def test_payments_both_triples_with_their_aggregates(full: Graph) -> None:
    out = export_graph(full)
    by_consumer, by_merchant = ("Consumer", "PAID", "Merchant"), ("Merchant", "PAID", "Merchant")
    names = tuple(a.name for a in model.relation(*by_consumer).aggregates)
    assert out.edge_attr_names[by_consumer] == out.edge_attr_names[by_merchant] == names
    assert names == ("count", "amount", "amount_sq", "amount_max", "round_count",
                     "night_count", "first_ts", "last_ts")
    assert out.data[by_consumer].edge_attr.dtype == torch.float32
    assert out.data[by_consumer].edge_index.dtype == torch.int64

    paid = edges(out, by_consumer)
    # In (source, target) order, whatever order the store returns them in.
    assert list(paid) == [("C1", "M1"), ("C2", "M1"), ("C2", "M5"), ("C3", "M4"),
                          ("C4", "M2")]
    first, last = pd.Timestamp("2025-01-01T12:00Z"), pd.Timestamp("2025-01-02T02:30Z")
    want = np.array([2, 35.5, 15.0**2 + 20.5**2, 20.5, 0, 1, first.timestamp(),
                     last.timestamp()], dtype=np.float32)
    assert paid["C1", "M1"] == tuple(want.tolist())
    m2m3 = dict(zip(names, edges(out, by_merchant)["M2", "M3"], strict=True))
    assert list(edges(out, by_merchant)) == [("M2", "M3")]
    assert (m2m3["count"], m2m3["amount"], m2m3["round_count"]) == (2, 8000, 2)
    assert m2m3["last_ts"] - m2m3["first_ts"] == pytest.approx(31 * 86400, abs=128)


def test_every_exported_edge_is_the_pair_neo4j_holds(full: Graph) -> None:
    out = export_graph(full)
    exported = {r.key for r in model.RELATIONS if r.family in ("flow", "identifier")}
    assert set(out.data.edge_types) == exported
    for rel in model.RELATIONS:
        if rel.key in exported:
            assert edges(out, rel.key) == neo4j_edges(full, rel), rel.key


def test_flows_and_identifiers(full: Graph) -> None:
    out = export_graph(full)
    supplies = edges(out, ("Merchant", "SUPPLIES", "Merchant"))
    assert {pair: attrs[:2] for pair, attrs in supplies.items()} == {
        ("M3", "M2"): (2, 3500.5), ("M3", "M4"): (1, 800)}
    shipped = edges(out, ("Merchant", "SHIPPED_TO", "Merchant"))
    assert {pair: attrs[:2] for pair, attrs in shipped.items()} == {("M3", "M2"): (2, 120.5)}

    assert set(edges(out, ("Merchant", "USES", "Phone"))) == {
        ("M1", "13800000001"), ("M2", "13800000002"), ("M3", "13800000002"),
        ("M4", "13800000004")}
    assert set(edges(out, ("Merchant", "USES", "Address"))) == {
        ("M1", "西湖路1号"), ("M2", "解放路2号"), ("M3", "解放路2号")}
    assert set(edges(out, ("Merchant", "OWNED_BY", "Person"))) == {
        ("M1", "P1"), ("M2", "P2"), ("M3", "P2"), ("M4", "P3")}
    assert out.data["Merchant", "ONBOARDED_BY", "ServiceProvider"].num_edges == 5
    identifiers = [r.key for r in model.RELATIONS if r.family == "identifier"]
    assert all("edge_attr" not in out.data[key] for key in identifiers)
    assert not set(identifiers) & set(out.edge_attr_names)


def test_weekly_flows_tensor(full: Graph) -> None:
    out = export_graph(full)
    assert out.week_names == model.week_property_names()
    assert [str(d) for d in out.week_dates] == MONDAYS
    assert out.weeks.shape == (5, 6, 12) and out.weeks.dtype == torch.float32

    m1 = week(out, "M1", "2024-12-30")
    assert (m1["paid_in_count"], m1["paid_in_amount"]) == (3, 135.5)
    assert sum(m1.values()) == 3 + 135.5
    m3 = week(out, "M3", "2025-01-20")
    assert (m3["sold_count"], m3["sold_amount"]) == (2, 2300.5)
    assert (m3["shipped_count"], m3["shipped_amount"]) == (1, 0)
    m2 = week(out, "M2", "2025-02-03")
    assert (m2["paid_out_count"], m2["paid_out_amount"], m2["paid_in_amount"]) == (
        1, 3000, pytest.approx(12.3))

    # Every MerchantWeek node is one cell row of the tensor; every other cell is zero.
    rows = full.read("MATCH (w:MerchantWeek) RETURN w.merchant AS m, toString(w.week) AS week, "
                     "properties(w) AS p")
    seen = torch.zeros(out.weeks.shape[:2], dtype=torch.bool)
    for row in rows:
        i, w = out.index("Merchant", [row["m"]])[0], MONDAYS.index(row["week"])
        want = np.array([row["p"][n] for n in out.week_names], dtype=np.float32)
        assert out.weeks[i, w].numpy().tolist() == want.tolist()
        seen[i, w] = True
    assert not out.weeks[~seen].any()
    totals = dict(zip(out.week_names, out.weeks.sum(dim=(0, 1)).tolist(), strict=True))
    assert totals["paid_in_count"] == 8 and totals["paid_out_count"] == 2
    assert totals["bought_count"] == totals["sold_count"] == 3


def same(a: Exported, b: Exported) -> None:
    assert a.data.node_types == b.data.node_types and a.data.edge_types == b.data.edge_types
    assert all((a.ids[k] == b.ids[k]).all() for k in a.ids) and a.ids.keys() == b.ids.keys()
    for key in a.data.edge_types:
        assert edges(a, key) == edges(b, key)
    pd.testing.assert_frame_equal(a.merchants, b.merchants)
    assert torch.equal(a.weeks, b.weeks)
    assert (a.week_dates == b.week_dates).all()
    assert a.edge_attr_names == b.edge_attr_names and a.skipped == b.skipped == {}


def test_page_size_and_workers_change_nothing(full: Graph) -> None:
    whole = export_graph(full, chunk=100_000)
    same(export_graph(full, chunk=2), whole)
    same(export_graph(full, chunk=1, workers=1), whole)
    same(export_graph(full, chunk=3, workers=4), whole)


def test_a_failed_read_stops_the_others_and_is_raised() -> None:
    def failing(progress: ProgressFn) -> None:
        raise QueryError("query export_edges failed", "fix it")

    def endless(progress: ProgressFn) -> None:
        for done in range(10**9):  # stopped at its next progress call
            progress("endless", done, None)
            time.sleep(0.01)

    seen: list[tuple] = []
    with pytest.raises(QueryError, match="export_edges"):
        side_by_side([endless, failing], 2,
             lambda *call: seen.append((*call, threading.get_ident())))
    # Progress reaches the caller on its own thread (a rich bar is not thread-safe).
    assert {(task, thread) for task, _, _, thread in seen} <= {
        ("endless", threading.get_ident())}


def test_merchants_and_payments_only(graph: Graph, tmp_path: Path) -> None:
    ingest(graph, tmp_path / "in", merchants=MERCHANTS[["merchant_id"]], payments=PAYMENTS)
    out = export_graph(graph)
    assert out.data.node_types == ["Merchant", "Consumer"]
    assert set(out.data.edge_types) == {("Consumer", "PAID", "Merchant"),
                                        ("Merchant", "PAID", "Merchant")}
    assert out.merchants["name"].isna().all() and out.merchants["defaulted"].isna().all()
    assert out.weeks.shape == (5, 6, 12)
    flows = dict(zip(out.week_names, out.weeks.sum(dim=(0, 1)).tolist(), strict=True))
    assert flows["paid_in_count"] == 8 and flows["bought_count"] == flows["shipped_count"] == 0


def test_merchant_to_merchant_payments_only(graph: Graph, tmp_path: Path) -> None:
    payments = pd.DataFrame({"payer_id": ["M1", "M2"], "payee_id": ["M2", "M1"],
                             "amount": ["10", "10"], "ts": ["2025-03-05", "2025-03-05"]})
    ingest(graph, tmp_path / "in", merchants=MERCHANTS[["merchant_id"]].head(2),
           payments=payments)
    out = export_graph(graph)
    assert out.data.node_types == ["Merchant"] and sorted(out.ids) == ["Merchant"]
    assert out.data.edge_types == [("Merchant", "PAID", "Merchant")]
    assert set(edges(out, ("Merchant", "PAID", "Merchant"))) == {("M1", "M2"), ("M2", "M1")}
    assert [str(d) for d in out.week_dates] == ["2025-03-03"]
    assert out.weeks.shape == (2, 1, 12)


def test_empty_graph(graph: Graph) -> None:
    out = export_graph(graph)
    assert out.data.node_types == [] and out.data.edge_types == [] and out.ids == {}
    assert tuple(out.merchants.columns) == MERCHANT_COLUMNS and len(out.merchants) == 0
    assert out.weeks.shape == (0, 0, 12) and len(out.week_dates) == 0


def test_families_choose_the_relations(full: Graph) -> None:
    out = export_graph(full, families=("identifier",))
    assert {key[1] for key in out.data.edge_types} == {"USES", "OWNED_BY", "ONBOARDED_BY"}
    assert "Consumer" not in out.data.node_types
    assert out.weeks.shape == (5, 6, 12)  # weekly flows are the merchants', always there
    flows = export_graph(full, families=("flow",))
    assert {key[1] for key in flows.data.edge_types} == {"PAID", "SUPPLIES", "SHIPPED_TO"}
    assert flows.data.node_types == ["Merchant", "Consumer"]
    with pytest.raises(ValueError, match="unknown relation families \\['flows'\\]"):
        export_graph(full, families=("flows",))
    with pytest.raises(ValueError, match="chunk and workers must be at least 1"):
        export_graph(full, chunk=0)


def test_progress_reports_each_task_to_its_total(full: Graph) -> None:
    calls: list[tuple[str, int, int | None]] = []
    export_graph(full, chunk=2, progress=lambda *call: calls.append(call))
    last = {task: (done, total) for task, done, total in calls}
    assert {"export Merchant", "export Consumer", "export Consumer-PAID->Merchant",
            "export weeks"} <= set(last)
    assert all(done == total for done, total in last.values())
    assert ("export Merchant", 0, 5) in calls and ("export Merchant", 2, 5) in calls
