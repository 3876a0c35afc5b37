"""Merchant features on hand-built graphs whose answer is known (cycles, shared phones,
falling sales, contagion), invariants (fixed columns, finite, no label read, relabelling
permutes rows), and one graph through the real Neo4j."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from guanxi.gnn.features import (
    COLLUSION,
    CREDIT,
    FEATURES,
    TRENDS,
    Trends,
    merchant_features,
    merchant_table,
    weekly,
)
from guanxi.gnn.features.credit import TRENDS_VERSION
from guanxi.gnn.features.structure import cycles
from guanxi.gnn.projection import merchant_links
from guanxi.graph.connection import Graph
from guanxi.graph.export import export_graph
from guanxi.ingest.load import IngestOptions, ingest_folder


def features(ex) -> pd.DataFrame:
    table = merchant_features(ex, merchant_links(ex))
    assert list(table.columns) == list(FEATURES)
    assert (table.dtypes == np.float32).all() and np.isfinite(table.to_numpy()).all()
    assert table.index.equals(pd.RangeIndex(len(table)))
    return table


def test_the_vocabulary_is_fixed() -> None:
    assert set(FEATURES) == set(COLLUSION) | set(CREDIT)
    assert len(set(FEATURES)) == len(FEATURES)
    assert not any("label" in f or "default" in f for f in FEATURES)


def test_a_three_cycle_counts_once_for_each_member(make_export) -> None:
    # 0 -> 1 -> 2 -> 0 and a reciprocal pair 3 <-> 4.
    ex = make_export(5, paid=[(0, 1, 1, 1000.0), (1, 2, 1, 990.0), (2, 0, 1, 980.0),
                              (3, 4, 1, 50.0), (4, 3, 1, 50.0)])
    f = features(ex)
    np.testing.assert_allclose(f["paid_cycles3"], np.log1p([1, 1, 1, 0, 0]), rtol=1e-6)
    np.testing.assert_allclose(f["paid_cycles2"], np.log1p([0, 0, 0, 1, 1]), rtol=1e-6)
    np.testing.assert_allclose(f["paid_reciprocal_share"], [0, 0, 0, 1, 1])
    np.testing.assert_allclose(f["paid_scc_log_size"], np.log([3, 3, 3, 2, 2]), rtol=1e-6)
    assert (f["supply_cycles3"] == 0).all()


def test_cycles_of_a_denser_graph() -> None:
    # 3-cycles 0 -> 1 -> 2 -> 0 and 0 -> 2 -> 3 -> 0; reciprocal pairs 0-1 and 0-2.
    a = np.zeros((4, 4))
    for s, t in [(0, 1), (1, 2), (2, 0), (2, 3), (3, 0), (1, 0), (0, 2)]:
        a[s, t] = 1
    share, two, three = cycles(a)
    assert three.tolist() == [2.0, 1.0, 2.0, 1.0]
    assert two.tolist() == [2.0, 1.0, 1.0, 0.0]
    assert share.tolist() == [2 / 3, 1 / 2, 1 / 3, 0.0]


def test_a_phone_shared_by_three(make_export) -> None:
    ex = make_export(4, identifiers={"Phone": [(0, 0), (1, 0), (2, 0), (3, 1)],
                                     "Person": [(0, 0), (1, 1), (2, 2), (3, 3)]})
    f = features(ex)
    np.testing.assert_allclose(f["shared_phone_weight"], [1, 1, 1, 0])
    np.testing.assert_allclose(f["shared_phone_merchants"], np.log1p([2, 2, 2, 0]), rtol=1e-6)
    np.testing.assert_allclose(f["id_phone_max_degree"], np.log1p([2, 2, 2, 0]), rtol=1e-6)
    assert f["shared_kinds"].tolist() == [1, 1, 1, 0]
    assert (f["shared_owner_weight"] == 0).all()


def test_falling_sales_have_a_negative_trend(make_export, make_weeks) -> None:
    w = 52
    t = np.arange(w)
    weeks = make_weeks(3, w, paid_in_amount={0: 1000 * np.exp(-t / 20),
                                             1: 1000 * np.exp(t / 40),
                                             2: np.full(w, 500.0)},
                       paid_in_count={0: np.full(w, 5.0), 1: np.full(w, 5.0),
                                      2: np.full(w, 5.0)})
    f = features(make_export(3, weeks=weeks))
    assert f["trend_paid_in"][0] < -1 < 0 < f["trend_paid_in"][1]
    assert f["trend_paid_in"][2] == pytest.approx(0, abs=1e-6)
    assert f["recent_vs_early_paid_in"][0] < 0 < f["recent_vs_early_paid_in"][1]
    assert f["trend_inflow"].tolist() == f["trend_paid_in"].tolist()  # nothing sold


def test_takings_that_stop_show_as_a_fall_and_in_weeks_since() -> None:
    y = np.log1p(np.r_[np.full(40, 100.0), np.zeros(12)])[None, :]
    slope, _ = weekly.robust_trend(y, np.array([0]))
    assert slope[0] < 0


def test_contagion_is_the_trade_weighted_mean_of_partner_trends(make_export,
                                                                 make_weeks) -> None:
    # m0 buys 300 from m1 and 100 from m2 (supply) and pays m3 100 (a purchase too);
    # m1 sells to m0 only: its buyer trend is m0's.
    w = 52
    t = np.arange(w)
    weeks = make_weeks(4, w, paid_in_amount={0: np.full(w, 50.0), 1: 100 * np.exp(t / 30),
                                             2: 100 * np.exp(-t / 30), 3: 100 + t})
    ex = make_export(4, supply=[(1, 0, 3, 300.0), (2, 0, 1, 100.0)], paid=[(0, 3, 1, 100.0)],
                     weeks=weeks)
    f = features(ex)
    trend = f["trend_inflow"].to_numpy(np.float64)
    expected = (300 * trend[1] + 100 * trend[2] + 100 * trend[3]) / 500
    assert f["contagion_supplier_trend"][0] == pytest.approx(expected, rel=1e-5)
    assert f["contagion_supplier_decline_share"][0] == pytest.approx(100 / 500)
    assert f["top_supplier_share"][0] == pytest.approx(300 / 500)
    assert f["contagion_buyer_trend"][1] == pytest.approx(trend[0], abs=1e-6)
    assert f["contagion_supplier_trend"][3] == 0 and f["contagion_log_purchases"][3] == 0


def test_group_shocks_leave_the_merchant_out(make_export, make_weeks) -> None:
    w = 52
    t = np.arange(w)
    weeks = make_weeks(4, w, paid_in_amount={0: 100 * np.exp(t / 30), 1: 100 * np.exp(-t / 30),
                                             2: np.full(w, 100.0), 3: 100 * np.exp(t / 60)})
    ex = make_export(4, weeks=weeks, merchants={"city": ["A", "A", "A", "B"],
                                                "district": ["d", "d", "e", "d"],
                                                "category": ["x", "x", "x", None]})
    f = features(ex)
    trend = f["trend_inflow"].to_numpy(np.float64)
    # District "d" of city A is m0 and m1; "d" of city B is another district.
    assert f["group_district_trend"][0] == pytest.approx(trend[1], rel=1e-5)
    assert f["group_district_trend"][3] == 0
    assert f["group_city_trend"][2] == pytest.approx((trend[0] + trend[1]) / 2, abs=1e-6)
    assert f["group_category_trend"][3] == 0 and f["category_freq"][3] == 0
    assert f["category_freq"][0] == pytest.approx(0.75)


def test_supply_without_shipments(make_export) -> None:
    ex = make_export(3, supply=[(0, 1, 3, 3000.0), (0, 2, 2, 2000.0)], shipped=[(0, 1, 1)])
    f = features(ex)
    assert f["supply_out_unshipped_share"][0] == 0.5
    assert f["supply_in_unshipped_share"].tolist()[1:] == [0.0, 1.0]
    assert f["supply_log_unshipped_invoices"][0] == pytest.approx(np.log1p(4))  # 2 + 2
    assert f["supply_unshipped_invoice_share"][0] == pytest.approx(4 / 5)


def test_tickets_payers_and_shares(make_export) -> None:
    # m0: c0 pays twice 10 yuan, c1 once 100 (round, at night); m1 pays m0 880.
    ex = make_export(2, consumer_paid=[(0, 0, 2, 20.0), (1, 0, 1, 100.0, 1, 1)],
                     paid=[(1, 0, 1, 880.0)])
    f = features(ex).iloc[0]
    assert f["in_log_count"] == pytest.approx(np.log1p(4))
    assert f["in_repeat_payer_share"] == pytest.approx(1 / 3)
    assert f["in_round_share"] == f["in_night_share"] == 0.25
    assert f["in_top_payer_share"] == pytest.approx(880 / 1000)
    assert f["m2m_in_share"] == pytest.approx(0.88)
    mean, squares = 1000 / 4, (2 * 10**2 + 100**2 + 880**2) / 4
    assert f["in_ticket_cv"] == pytest.approx(np.sqrt(squares - mean**2) / mean, rel=1e-5)


def test_a_crew_paying_two_shops_in_the_same_weeks(make_export) -> None:
    # c0-c2 each pay m0 and m1 once, days apart: a crew. c3 and c4 pay m1 and m2 all
    # year round (regulars, not brief). c5 pays m2 once and m3 once, 200 days apart.
    day, t0 = 86_400.0, 1.72e9
    once = [(0, 0, 1), (0, 1, 3), (1, 0, 2), (1, 1, 2), (2, 0, 5), (2, 1, 9),
            (5, 2, 1), (5, 3, 200)]
    rows = [(c, m, 1, 10.0, 0, 0, t0 + d * day, t0 + d * day) for c, m, d in once]
    rows += [(c, m, 12, 120.0, 0, 0, t0, t0 + 300 * day) for c in (3, 4) for m in (1, 2)]
    f = features(make_export(4, consumer_paid=rows))
    np.testing.assert_allclose(f["crew_sync_max"], np.log1p([3, 3, 0, 0]), rtol=1e-6)
    np.testing.assert_allclose(f["crew_sync_partners"], np.log1p([1, 1, 0, 0]), rtol=1e-6)
    np.testing.assert_allclose(f["crew_sync_share"], [1, 3 / 5, 0, 0], rtol=1e-6)
    # m1 and m2 share two payers, but neither is brief: no crew between them.
    np.testing.assert_allclose(f["crew_sync_ratio"], [1, 1, 0, 0], rtol=1e-6)
    # The same payments without times: nothing is brief or in step.
    untimed = [(*r[:6], 0.0, 0.0) for r in rows]
    g = features(make_export(4, consumer_paid=untimed))
    assert (g[["crew_sync_max", "crew_sync_partners", "crew_sync_share",
               "crew_sync_ratio"]].to_numpy() == 0).all()


def test_registration_cohort_and_age(make_export) -> None:
    dates = ["2024-01-01", "2024-01-05", "2024-01-08", "2024-06-01", None]
    agents = [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0)]
    ex = make_export(5, identifiers={"ServiceProvider": agents},
                     paid=[(0, 1, 1, 10.0)], merchants={"registered_on": dates})
    f = features(ex)
    # m1 has m0 (4 days) and m2 (3 days); m0 and m2 are 7 days apart: each other's too.
    np.testing.assert_allclose(f["reg_cohort_agent"], np.log1p([2, 2, 2, 0, 0]), rtol=1e-6)
    assert f["age_unknown"].tolist() == [0, 0, 0, 0, 1]
    assert f["age_end_days"][4] == 0 and f["age_end_days"][0] > f["age_end_days"][3] > 0


def test_shared_identifiers_registered_together(make_export) -> None:
    # m0, m1, m2 on one phone: m0 and m1 opened 45 days apart, m2 months later. m3 and
    # m4 share a phone, m4 with no date. An agent shared by m0 and m2 does not count;
    # an owner shared by m0 and m1 is still one partner, by two kinds.
    dates = ["2024-01-01", "2024-02-15", "2024-06-01", "2024-01-01", None]
    phones = [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1)]
    for other, kinds in (({"ServiceProvider": [(0, 0), (2, 0)]}, [1, 1, 0, 0, 0]),
                         ({"Person": [(0, 0), (1, 0)]}, [2, 2, 0, 0, 0])):
        f = features(make_export(5, identifiers={"Phone": phones, **other},
                                 paid=[(0, 1, 1, 10.0)], merchants={"registered_on": dates}))
        np.testing.assert_allclose(f["shared_cohort"], np.log1p([1, 1, 0, 0, 0]), rtol=1e-6)
        assert f["shared_cohort_kinds"].tolist() == kinds


def test_payments_only_graph_with_one_week(make_export, make_weeks) -> None:
    # Merchants and constant merchant-to-merchant payments on one date: W = 1.
    weeks = make_weeks(4, 1, paid_in_count={1: [1.0], 2: [1.0]},
                       paid_in_amount={1: [100.0], 2: [100.0]},
                       paid_out_count={0: [1.0], 1: [1.0]},
                       paid_out_amount={0: [100.0], 1: [100.0]})
    f = features(make_export(4, paid=[(0, 1, 1, 100.0), (1, 2, 1, 100.0)], weeks=weeks))
    assert f.shape == (4, len(FEATURES))
    assert f["m2m_in_share"].tolist() == [0, 1, 1, 0]


def test_the_column_set_does_not_depend_on_the_graph(make_export, make_weeks) -> None:
    bare = features(make_export(2))
    full = features(make_export(
        3, paid=[(0, 1, 1, 10.0)], consumer_paid=[(0, 0, 1, 5.0), (0, 2, 1, 5.0)],
        supply=[(1, 2, 1, 100.0)], shipped=[(1, 2, 1)],
        identifiers={"Phone": [(0, 0), (1, 0)]}, weeks=make_weeks(3, 30)))
    assert list(bare.columns) == list(full.columns) == list(FEATURES)
    assert (bare.to_numpy() == 0).sum() >= bare.size - 2 * 3  # neutral values


def graph_fixture(make_export, make_weeks):
    rng = np.random.default_rng(3)
    n, w = 12, 30
    weeks = make_weeks(n, w, paid_in_count={i: rng.poisson(3, w) for i in range(n)},
                       paid_in_amount={i: rng.gamma(2, 50, w) for i in range(n)})
    paid = [(i, (i + 1) % n, 1 + i % 3, 100.0 + i) for i in range(n)]
    consumer_paid = [(c, m, 1 + (c + m) % 2, 10.0 + m) for c in range(20)
                     for m in rng.choice(n, 3, replace=False)]
    return dict(paid=paid, consumer_paid=consumer_paid,
                supply=[(0, 5, 2, 500.0), (5, 7, 1, 50.0)], shipped=[(0, 5, 1)],
                identifiers={"Phone": [(i, i // 3) for i in range(n)],
                             "ServiceProvider": [(i, i % 2) for i in range(n)]},
                weeks=weeks,
                merchants={"category": ["a", "b", "c"] * 4, "city": ["x", "y"] * 6,
                           "district": ["p", "q", "r", "s"] * 3,
                           "registered_on": pd.date_range("2020-01-01", periods=n, freq="9D"),
                           "label": ["fraud", None, "legit"] * 4,
                           "defaulted": [1, 0, None] * 4})


def test_labels_are_never_read(make_export, make_weeks) -> None:
    parts = graph_fixture(make_export, make_weeks)
    a = features(make_export(12, **parts))
    parts["merchants"] |= {"label": [None] * 12, "defaulted": [None] * 12}
    b = features(make_export(12, **parts))
    pd.testing.assert_frame_equal(a, b)


def test_deterministic_and_relabelling_permutes_rows(make_export, make_weeks) -> None:
    parts = graph_fixture(make_export, make_weeks)
    a = features(make_export(12, **parts))
    pd.testing.assert_frame_equal(a, features(make_export(12, **parts)))
    perm = np.random.default_rng(0).permutation(12)  # old position -> new
    inv = np.argsort(perm)
    moved = dict(parts)
    moved["paid"] = [(perm[s], perm[t], *r) for s, t, *r in parts["paid"]]
    moved["consumer_paid"] = [(c, perm[m], *r) for c, m, *r in parts["consumer_paid"]]
    moved["supply"] = [(perm[s], perm[t], *r) for s, t, *r in parts["supply"]]
    moved["shipped"] = [(perm[s], perm[t], *r) for s, t, *r in parts["shipped"]]
    moved["identifiers"] = {k: [(perm[m], x) for m, x in v]
                            for k, v in parts["identifiers"].items()}
    moved["weeks"] = parts["weeks"][inv]
    moved["merchants"] = {k: list(np.asarray(v, dtype=object)[inv])
                          for k, v in parts["merchants"].items()}
    b = features(make_export(12, **moved))
    np.testing.assert_allclose(b.to_numpy()[perm], a.to_numpy(), rtol=1e-5, atol=1e-6)


def test_trends_kept_from_a_run_before_give_the_same_table(make_export, make_weeks) -> None:
    ex = make_export(12, **graph_fixture(make_export, make_weeks))
    links = merchant_links(ex)
    table, trends, _ = merchant_table(ex, links)
    assert trends.values.shape == (12, len(TRENDS)) and trends.values.dtype == np.float64
    assert (trends.window == trends.window[0]).all()
    assert trends.window[0, 0] == TRENDS_VERSION and trends.window[0, 2] > 0

    # Half carried, half computed again (their own rows only): the same table, bit
    # for bit, and the same trends.
    window = trends.window.copy()
    window[::2] = -1
    again, kept, _ = merchant_table(ex, links, Trends(trends.values, window))
    assert np.array_equal(again.to_numpy().view(np.uint32), table.to_numpy().view(np.uint32))
    assert np.array_equal(kept.values, trends.values)

    # Carried means taken, not computed: a value planted where the window matches
    # shows; nothing is taken from another window.
    planted = trends.values.copy()
    planted[:, TRENDS.index("volatility_paid_in")] = 123.0
    taken = merchant_table(ex, links, Trends(planted, window)).features
    volatility = taken["volatility_paid_in"].to_numpy()
    assert (volatility[1::2] == 123.0).all()
    assert np.array_equal(volatility[::2], table["volatility_paid_in"].to_numpy()[::2])
    for shift in ([0, 7, 0], [0, 0, -1], [1, 0, 0]):  # another window, or definition
        other = Trends(planted, trends.window + np.array(shift))
        assert np.array_equal(merchant_table(ex, links, other)[0].to_numpy(), table.to_numpy())


def test_weekly_statistics() -> None:
    x = np.array([[0, 2, 2, 2, 8.0], [0, 0, 0, 0, 0]])
    assert weekly.burst(x).tolist() == [4.0, 0.0]
    assert weekly.top_share(x, 2).tolist() == [10 / 14, 0.0]
    assert weekly.complete_weeks(np.array([0.4, 10, 11, 9, 10, 3])) == slice(1, 5)
    assert weekly.complete_weeks(np.array([10.0, 11, 9])) == slice(0, 3)
    activity = np.full(30, 100.0) * np.linspace(1, 1.3, 30)
    activity[[8, 20]] *= 1.4
    assert np.flatnonzero(weekly.promotion_weeks(activity)).tolist() == [8, 20]
    assert not weekly.promotion_weeks(np.array([1.0, 50.0])).any()  # too short to say
    blocks, first = weekly.to_blocks(np.ones((2, 9)), np.array([0, 1]), 4)  # weeks 1-4, 5-8
    assert blocks.tolist() == [[4.0, 4.0]] * 2 and first.tolist() == [0, 1]


def test_promotion_share_and_lift(make_export, make_weeks) -> None:
    w = 30
    base = np.full(w, 10.0)
    spiky = base.copy()
    spiky[[8, 20]] = 60.0  # the whole population is busy in weeks 8 and 20
    farm = np.zeros(w)
    farm[[8, 20]] = 20.0  # m2 is paid only then
    weeks = make_weeks(3, w, paid_in_count={0: spiky, 1: base, 2: farm})
    f = features(make_export(3, weeks=weeks))
    assert f["promo_share"][2] == 1.0 and f["promo_share"][1] == pytest.approx(2 / 30)
    assert f["promo_log_lift"][0] > 0 and f["promo_log_lift"][1] == pytest.approx(0, abs=1e-6)


def test_features_of_an_ingested_and_exported_graph(graph: Graph, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({
        "merchant_id": ["M1", "M2", "M3", "M4"],
        "name": ["面馆", "便利店", "批发", "水果"], "category": ["餐饮", "便利店", "批发", "水果"],
        "city": ["杭州"] * 4, "district": ["西湖区", "上城区", "上城区", "西湖区"],
        "registered_on": ["2020-01-05", "2021-03-05", "2019-07-01", ""],
        "owner_id": ["P1", "P2", "P2", "P3"], "phone": ["1380001", "1380002", "1380002", ""],
        "device_id": ["D1", "", "", ""], "bank_account": ["", "", "", ""],
        "address": ["西湖路1号", "", "", ""], "agent_id": ["SP1", "SP1", "SP2", "SP2"],
    }).to_csv(folder / "merchants.csv", index=False)
    pd.DataFrame({
        "payer_id": ["C1", "C1", "C2", "M2", "M3", "M1", "C3"],
        "payee_id": ["M1", "M2", "M1", "M3", "M1", "M2", "M4"],
        "amount": ["15", "20", "100", "5000", "4900", "4800", "8.8"],
        "ts": ["2025-01-01T12:00", "2025-01-09", "2025-01-20", "2025-01-04", "2025-01-05",
               "2025-01-06", "2025-02-03T01:00"],
    }).to_csv(folder / "payments.csv", index=False)
    pd.DataFrame({"supplier_id": ["M3", "M3"], "buyer_id": ["M2", "M4"],
                  "amount": ["2000", "800"], "ts": ["2025-01-02", "2025-01-21"]}
                 ).to_csv(folder / "supply.csv", index=False)
    pd.DataFrame({"shipper_id": ["M3"], "receiver_id": ["M2"], "ts": ["2025-01-03"],
                  "weight_kg": ["12"]}).to_csv(folder / "shipments.csv", index=False)
    report = ingest_folder(graph, folder, IngestOptions(rejects=tmp_path / "rejects.csv"))
    assert report.error is None
    ex = export_graph(graph)
    f = features(ex)
    assert f.shape == (4, len(FEATURES))
    m = dict(zip(ex.ids["Merchant"], range(4), strict=True))
    # M2 -> M3 -> M1 -> M2 is a 3-cycle; M3 ships to M2 but not to M4.
    assert [f["paid_cycles3"][m[x]] for x in ("M1", "M2", "M3", "M4")] == pytest.approx(
        np.log1p([1, 1, 1, 0]))
    assert f["supply_out_unshipped_share"][m["M3"]] == 0.5
    assert f["shared_phone_weight"][m["M2"]] == 1.0
    assert f["age_unknown"][m["M4"]] == 1.0
