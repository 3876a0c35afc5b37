"""The Cluster page with AppTest: a cluster chosen by URL, its scores, members and history."""

from __future__ import annotations

import json
import re

from helpers import as_shown, table_with
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
    assert any("no cluster C-no-such-cluster" in as_shown(w.value) for w in at.warning)
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


def test_hover_text_shows_names_as_written_and_never_as_markup() -> None:
    def titles(page: str) -> list[str]:
        drawn = json.loads(re.search(r"nodes = new vis.DataSet\((\[.*?\])\);", page).group(1))
        return [n["title"] for n in drawn]

    plain = [{"id": "a", "title": "张记 & 李记 <批发>"}, {"id": "b", "title": "b"}]
    page = network_html(plain, [])
    assert titles(page) == ["张记 & 李记 <批发>", "b"]  # drawn as text by vis-network
    assert "popup.innerHTML" not in page
    # A title with "href" makes pyvis draw every node's title as HTML: all are escaped.
    linky = [{"id": "a", "title": '<a href="javascript:alert(1)">x</a>'},
             {"id": "b", "title": "<img src=x onerror=alert(1)>"}]
    page = network_html(linky, [])
    assert "popup.innerHTML" in page
    assert titles(page) == ['&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;',
                            "&lt;img src=x onerror=alert(1)&gt;"]



def test_a_summary_box_sits_beside_its_node() -> None:
    from guanxi.ui.ego import Ego

    ego = Ego("a", nodes={k: {"id": k, "kind": "Merchant"} for k in "abc"},
              edges={("a", "b", "PAID"): {"source": "a", "target": "b", "type": "PAID"},
                     ("b", "c", "PAID"): {"source": "b", "target": "c", "type": "PAID"}},
              hidden={"b": {"payers": 812, "suppliers": 3}})
    nodes, edges = ego.picture()
    box = next(n for n in nodes if n["kind"] == "Summary")
    assert box["label"] == "+812 more payers\n+3 more suppliers"  # one box per node
    page = network_html(nodes, edges)
    drawn = {n["id"]: n for n in json.loads(
        re.search(r"nodes = new vis.DataSet\((\[.*?\])\);", page).group(1))}
    gap = [abs(drawn[box["id"]][k] - drawn["b"][k]) for k in ("x", "y")]
    assert 0 < max(gap) <= 80  # 0.08 of the layout's unit, drawn x1000
