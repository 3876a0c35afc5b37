"""The Cluster page with AppTest: a cluster chosen by URL, its scores, members and history."""

from __future__ import annotations

import json
import re

from helpers import table_with
from streamlit.testing.v1 import AppTest

from guanxi.graph.scores import read_scores
from guanxi.ui.network import network_html, score_colour
from guanxi.ui.serve import APP

PAGE = str(APP.parent / "screens" / "cluster.py")


def _top(app_env: dict):
    clusters = read_scores(app_env["graph"], merchants=False).clusters
    return clusters.sort_values(["collusion_score", "cluster_id"], ascending=[False, True]
                                ).iloc[0]


def test_a_cluster_opened_by_url_shows_its_scores_members_and_history(app_env: dict) -> None:
    top = _top(app_env)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["cluster"] = top["cluster_id"]
    at.run()
    assert not at.exception
    assert at.selectbox(key="cluster").value == top["cluster_id"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Collusion score"] == f"{top['collusion_score']:.3f}"
    assert metrics["Members"] == str(top["size"])
    members = table_with(at, "key_member")
    assert sorted(members["id"]) == sorted(top["members"])
    assert set(members.loc[members["key_member"], "id"]) == set(top["key_members"])
    assert len(table_with(at, "run", "state", "joined")) >= 1
    factors = table_with(at, "score", "name", "value", "weight")
    assert [f["name"] for f in top["top_factors"]] == factors["name"].tolist()


def test_an_unknown_cluster_says_so_and_shows_the_top_one(app_env: dict) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["cluster"] = "C-no-such-cluster"
    at.run()
    assert not at.exception
    assert any("no cluster C-no-such-cluster" in w.value for w in at.warning)
    assert at.selectbox(key="cluster").value == _top(app_env)["cluster_id"]


def test_the_network_is_self_contained_frozen_and_highlights_top_links() -> None:
    nodes = [{"id": "a", "kind": "Merchant", "score": 0.9, "volume": 100.0},
             {"id": "b", "kind": "Merchant", "score": 0.1, "volume": 10.0},
             {"id": "Phone:1", "kind": "Phone"}]
    edges = [{"source": "a", "target": "b", "type": "PAID", "weight": 50.0},
             {"source": "a", "target": "b", "type": "SUPPLIES", "weight": 20.0},
             {"source": "a", "target": "Phone:1", "type": "USES"}]
    page = network_html(nodes, edges, highlight=[("b", "a", "SUPPLIES")])
    assert "vis-network" in page and "cdn.jsdelivr.net/npm/vis-network" not in page
    options = json.loads(re.search(r"var options = (\{.*?\n\});", page, re.S).group(1))
    assert options["physics"]["enabled"] is False
    drawn = json.loads(re.search(r"nodes = new vis.DataSet\((\[.*?\])\);", page).group(1))
    assert all("x" in n and "y" in n for n in drawn)  # positions computed here, frozen
    assert [n["color"] for n in drawn] == [score_colour(0.9), score_colour(0.1), score_colour(None)]
    assert drawn[0]["size"] > drawn[1]["size"]  # size by volume
    assert page.count('"from": "a"') == 3  # both typed links between a and b are kept
    assert "#d62728" in page  # the highlighted top link
    assert network_html(nodes, edges) == network_html(nodes, edges)  # seeded layout
