"""The Credit page with AppTest: peers, who carries the risk, and the what-if."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from guanxi.graph.scores import current_run, read_scores
from guanxi.ui import views
from guanxi.ui.credit import exposure
from guanxi.ui.serve import APP

PAGE = str(APP.parent / "screens" / "credit.py")


def test_the_what_if_pd_is_at_least_the_group_pd(app_env: dict) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    clusters = read_scores(app_env["graph"], merchants=False).clusters.dropna(
        subset=["group_pd"])
    riskiest = clusters.sort_values(["group_pd", "cluster_id"], ascending=[False, True]).iloc[0]
    assert at.selectbox(key="cluster").value == riskiest["cluster_id"]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Group PD"] == f"{100 * riskiest['group_pd']:.1f}%"
    fails = at.selectbox(key="fails")
    for member in fails.options[:3]:
        fails.set_value(member)
        at.run()
        metrics = {m.label: m.value for m in at.metric}
        now = float(metrics["Group PD now"].rstrip("%"))
        after = float(metrics[f"Group PD if {member} fails"].rstrip("%"))
        assert after >= now
        fails = at.selectbox(key="fails")
    assert not at.exception


def test_exposure_of_every_cluster(app_env: dict) -> None:
    g = app_env["graph"]
    run = current_run(g).run
    clusters = read_scores(g, merchants=False).clusters.dropna(subset=["group_pd"])
    for members in clusters["members"].head(5):
        details = views.node_details(g, run, members)
        risk = exposure(details, views.member_links(g, members))
        assert (risk.members["what_if_pd"] >= risk.base_pd - 1e-12).all()
        assert (risk.members["what_if_pd"] <= 1).all()
        # A failed member defaults for sure: the what-if is at least (n - 1) pd + 1 over n.
        n = len(risk.members)
        floor = (risk.base_pd * n - risk.members["pd"] + 1) / n
        assert (risk.members["what_if_pd"] >= floor - 1e-9).all()


def test_a_member_who_trades_with_the_others_hurts_more_than_an_isolated_one() -> None:
    members = pd.DataFrame({"id": ["hub", "a", "b", "alone"], "pd": [0.05, 0.05, 0.05, 0.05]})
    links = pd.DataFrame({"source": ["hub", "hub"], "target": ["a", "b"],
                          "type": ["SUPPLIES", "SUPPLIES"], "weight": [100.0, 100.0]})
    risk = exposure(members, links).members.set_index("id")
    assert risk.loc["hub", "what_if_pd"] > risk.loc["alone", "what_if_pd"]
    assert risk.index[0] == "hub"  # most harmful first
    assert risk.loc["alone", "what_if_pd"] == pytest.approx((0.05 * 3 + 1) / 4)
