"""The Merchant page with AppTest: search by a Chinese name fragment, an unknown id, the
capped ego network around a dense merchant, and how two linked merchants connect."""

from __future__ import annotations

import pytest
from helpers import as_shown, table_with
from streamlit.testing.v1 import AppTest

from guanxi.graph.scores import current_run
from guanxi.ui.ego import MAX_NODES, ego_network, expand, paths_between
from guanxi.ui.serve import APP

PAGE = str(APP.parent / "screens" / "merchant.py")


def _page(merchant: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if merchant:
        at.query_params["merchant"] = merchant
    return at.run()


def _densest(g) -> dict:
    """The merchant with the most payers (a wholesaler or a busy shop)."""
    return g.read("MATCH (m:Merchant) RETURN m.id AS id, COUNT { (m)<-[:PAID]-() } AS payers "
                  "ORDER BY payers DESC, id LIMIT 1")[0]


def test_a_chinese_name_fragment_finds_the_merchant(app_env: dict) -> None:
    g = app_env["graph"]
    row = g.read("MATCH (m:Merchant) WHERE size(m.name) >= 4 RETURN m.id AS id, "
                 "m.name AS name ORDER BY m.id LIMIT 1")[0]
    fragment = row["name"][1:3]  # two characters from inside the name
    at = _page()
    at.text_input(key="search").input(fragment).run()
    assert not at.exception
    assert row["id"] in at.selectbox(key="pick").options or any(
        row["id"] in o for o in at.selectbox(key="pick").options)
    at.selectbox(key="pick").set_value(row["id"]).run()
    assert {m.label: m.value for m in at.metric}["Id"] == row["id"]


@pytest.mark.parametrize("text", ["AND", "a OR", "![x](http://e.example)", "面" * 1100])
def test_search_text_that_is_query_syntax_or_too_long_is_a_message(app_env: dict,
                                                                   text: str) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["merchant"] = text
    at.run()
    assert not at.exception
    # Shown as typed: no link or image from the URL takes effect.
    assert all("](" not in w.value for w in at.warning)


def test_an_unknown_id_shows_a_message(app_env: dict) -> None:
    at = _page("NO-SUCH-MERCHANT")
    assert not at.exception
    assert any("no merchant with id or name 'NO-SUCH-MERCHANT'" in as_shown(w.value)
               for w in at.warning)


def test_the_ego_network_respects_the_cap_on_a_dense_merchant(app_env: dict) -> None:
    g = app_env["graph"]
    dense = _densest(g)
    cap = 5
    assert dense["payers"] > cap
    at = _page(dense["id"])
    at.slider(key="hops").set_value(1)
    at.number_input(key="cap").set_value(cap)
    at.multiselect(key="types").set_value(["PAID"]).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Nodes drawn"]) <= 1 + cap
    summary = table_with(at, "node", "not drawn", "what")
    payers = summary[(summary["node"] == dense["id"]) & (summary["what"] == "payers")]
    drawn_payers = dense["payers"] - int(payers["not drawn"].iloc[0])
    assert 1 <= drawn_payers <= cap


def test_ego_network_hops_caps_and_expansion(app_env: dict) -> None:
    g = app_env["graph"]
    run = current_run(g).run
    dense = _densest(g)
    ego = ego_network(g, run, dense["id"], hops=2, types=["PAID", "USES"], cap=3)
    first = [e for e in ego.edges.values() if dense["id"] in (e["source"], e["target"])]
    assert len(first) <= 3
    assert len(ego.nodes) <= 1 + 3 + 3 * 3
    assert ego.nodes[dense["id"]]["score"] is not None  # scored merchants carry their score
    before = len(ego.nodes)
    leaf = next(k for k in ego.nodes if k not in ego.expanded)
    expand(g, run, ego, leaf, types=["PAID", "USES"], cap=3)
    assert leaf in ego.expanded and len(ego.nodes) >= before
    assert ego_network(g, run, "NO-SUCH-MERCHANT") is None


def test_how_two_linked_merchants_are_connected(app_env: dict) -> None:
    g = app_env["graph"]
    pair = g.read("MATCH (a:Merchant)-[:SUPPLIES]->(b:Merchant) WHERE a <> b "
                  "RETURN a.id AS a, b.id AS b ORDER BY a, b LIMIT 1")[0]
    nodes, edges, found = paths_between(g, current_run(g).run, pair["a"], pair["b"])
    assert found >= 1
    assert any(e["type"] == "SUPPLIES" and {e["source"], e["target"]} == {pair["a"], pair["b"]}
               for e in edges)
    at = _page(pair["a"])
    at.text_input(key="other").input(pair["b"]).run()
    assert not at.exception
    assert int({m.label: m.value for m in at.metric}["Shortest paths"]) >= 1


def test_expanding_a_full_picture_says_why_nothing_is_added(app_env: dict) -> None:
    at = _page(_densest(app_env["graph"])["id"])
    at.slider(key="hops").set_value(3)
    at.number_input(key="cap").set_value(100).run()
    assert {m.label: m.value for m in at.metric}["Nodes drawn"] == str(MAX_NODES)
    at.button(key="expand").click().run()
    assert not at.exception
    assert any(f"already holds {MAX_NODES} nodes" in w.value for w in at.warning)


def test_expanding_a_node_with_nothing_more_to_draw_says_so(app_env: dict) -> None:
    dense = _densest(app_env["graph"])["id"]
    at = _page(dense)
    at.slider(key="hops").set_value(1).run()
    at.selectbox(key="expand_node").set_value(dense)  # its strongest links are drawn
    at.button(key="expand").click().run()
    assert not at.exception
    assert any("has no more links to draw" in i.value for i in at.info)


def test_a_merchant_is_not_asked_how_it_connects_to_itself(app_env: dict) -> None:
    dense = _densest(app_env["graph"])["id"]
    at = _page(dense)
    at.text_input(key="other").input(f" {dense} ").run()
    assert not at.exception
    assert any("that is this merchant" in i.value for i in at.info)

