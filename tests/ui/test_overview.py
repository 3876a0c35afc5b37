"""The Overview page with AppTest against the scored session graph."""

from __future__ import annotations

import pandas as pd
from helpers import table_with
from streamlit.testing.v1 import AppTest

from guanxi.graph.scores import current_run, read_scores
from guanxi.ui.serve import APP
from guanxi.ui.views import cluster_table, score_histograms, weekly_flows

PAGE = str(APP.parent / "screens" / "overview.py")


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120).run()


def test_the_leaderboard_starts_with_the_top_cluster(app_env: dict) -> None:
    at = _page()
    assert not at.exception
    board = table_with(at, "open", "cluster_id", "collusion_score")
    clusters = read_scores(app_env["graph"], merchants=False).clusters
    top = clusters.sort_values(["collusion_score", "cluster_id"], ascending=[False, True])
    assert board["cluster_id"].iloc[0] == top["cluster_id"].iloc[0]
    assert len(board) == len(clusters)
    run = current_run(app_env["graph"])
    assert any(run.model_version in c.value for c in at.caption)
    assert at.metric[0].label == "Merchants" and at.metric[0].value == "400"


def test_sorting_and_filtering_change_the_leaderboard(app_env: dict) -> None:
    at = _page()
    at.selectbox(key="sort").set_value("group_pd").run()
    board = table_with(at, "open", "cluster_id", "collusion_score")
    pds = board["group_pd"].dropna().tolist()
    assert pds == sorted(pds, reverse=True) and pds[0] > pds[-1]
    city = board["city"].dropna().iloc[-1]
    at.multiselect(key="city").set_value([city]).run()
    filtered = table_with(at, "open", "cluster_id", "collusion_score")
    assert 1 <= len(filtered) < len(board) and set(filtered["city"]) == {city}
    at.number_input(key="min_size").set_value(int(filtered["size"].max()) + 1).run()
    assert table_with(at, "open", "cluster_id", "collusion_score").empty
    assert not at.exception


def test_credit_scores_sort_riskiest_first_after_another_sort(app_env: dict) -> None:
    at = _page()
    at.selectbox(key="sort").set_value("credit_score").run()
    scores = table_with(at, "open", "cluster_id", "collusion_score")["credit_score"].dropna()
    assert scores.tolist() == sorted(scores) and scores.iloc[0] < scores.iloc[-1]


def test_the_histograms_and_cluster_table_count_every_score(app_env: dict) -> None:
    g = app_env["graph"]
    run = current_run(g).run
    scores = read_scores(g)
    histograms = score_histograms(g, run)
    for field in ("ring_score", "pd"):
        assert len(histograms[field]) == 20
        assert histograms[field]["merchants"].sum() == scores.merchants[field].notna().sum()
        in_bin = (scores.merchants[field].dropna() * 20).clip(upper=19).astype(int)
        assert histograms[field]["merchants"].tolist() == [
            int((in_bin == b).sum()) for b in range(20)]
    table = cluster_table(g, run)
    assert sorted(table["cluster_id"]) == sorted(scores.clusters["cluster_id"])
    # Each cluster's city is its members' most common one, ties to the first in text order.
    city_of = {r["id"]: r["city"] for r in g.read("MATCH (m:Merchant) RETURN m.id AS id, "
                                                  "m.city AS city")}
    members = scores.clusters.set_index("cluster_id")["members"]
    for cid, city in zip(table["cluster_id"], table["city"], strict=True):
        counts = pd.Series([city_of[m] for m in members[cid] if city_of[m]]).value_counts()
        assert city == min(counts[counts == counts.max()].index)


def test_a_merchant_named_twice_counts_once_in_weekly_flows(app_env: dict) -> None:
    g = app_env["graph"]
    mid = g.read("MATCH (w:MerchantWeek) RETURN w.merchant AS id ORDER BY id LIMIT 1")[0]["id"]
    once = weekly_flows(g, [mid])
    assert not once.empty
    pd.testing.assert_frame_equal(weekly_flows(g, [mid, mid, mid]), once)
