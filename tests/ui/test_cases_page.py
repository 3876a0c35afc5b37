"""The Cases page with ``AppTest`` against the real scored graph: open a case from a
cluster's link, assign it, a decision without a note is refused with a message, one
with a note is stored with its audit trail, a change on a case someone else moved is
refused, and the report holds the decision and nothing fetched from elsewhere."""

from __future__ import annotations

import getpass
import re
from pathlib import Path

import pytest
from helpers import as_shown
from streamlit.testing.v1 import AppTest

from guanxi.graph.cases import (
    CLEARED,
    CONFIRMED,
    IN_PROGRESS,
    assign,
    get_case,
    list_cases,
    move,
)
from guanxi.graph.scores import read_scores

PAGE = str(Path(__file__).resolve().parents[2] / "ui" / "screens" / "cases.py")


def _page(**query: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(query)
    return at.run()


def _said(at: AppTest) -> str:
    """The page's message after a change: its error, or else its success line."""
    assert not at.exception, at.exception
    return as_shown(" ".join(e.value for e in at.error)
                    or " ".join(s.value for s in at.success))


@pytest.fixture(scope="module")
def top_cluster(scored_graph: dict) -> dict:
    clusters = read_scores(scored_graph["graph"], merchants=False).clusters
    return clusters.sort_values("collusion_score", ascending=False).iloc[0].to_dict()


def test_a_case_opened_from_a_cluster_link_is_worked_to_a_decision(app_env: dict,
                                                                   top_cluster: dict) -> None:
    g, me, cid = app_env["graph"], getpass.getuser(), top_cluster["cluster_id"]
    at = _page(cluster=cid)
    assert at.radio(key="open_kind").value == "cluster"
    assert at.text_input(key="open_about").value == cid  # filled in from the link
    at.text_input(key="open_title").set_value("刷单团伙 suspected")
    at.button(key="open").click().run()
    assert _said(at).startswith("Opened CASE-")
    [case] = list_cases(g, about=cid)
    assert (case.opened_by, case.status, case.title) == (me, "open", "刷单团伙 suspected")
    assert at.selectbox(key="show_case").value == case.id

    at.text_input(key=f"assignee_{case.id}").set_value("bob")
    at.button(key="assign").click().run()
    assert _said(at) == f"{case.id} is assigned to bob."
    at.radio(key="move_to_open").set_value(IN_PROGRESS)
    at.button(key="move").click().run()
    assert get_case(g, case.id).status == IN_PROGRESS

    at.radio(key="move_to_in_progress").set_value(CONFIRMED)
    at.button(key="move").click().run()
    assert "a decision needs a note" in _said(at)
    assert get_case(g, case.id).status == IN_PROGRESS

    at.text_area(key="move_note").set_value("同一设备, shared devices and circular payments")
    at.button(key="move").click().run()
    assert _said(at) == f"{case.id} is now confirmed fraud."
    done = get_case(g, case.id)
    assert done.status == CONFIRMED and done.decided_by == me
    assert done.members == tuple(sorted(top_cluster["members"]))
    assert at.metric[0].value == "Confirmed fraud"
    assert at.text_area(key="move_note").value == ""  # cleared for the next change
    trail = at.dataframe[-1].value
    assert trail["what"].tolist() == ["opened", "assigned", "moved", "moved"]
    assert trail["who"].tolist() == [me] * 4
    assert trail["to"].tolist() == ["open", "bob", IN_PROGRESS, CONFIRMED]
    assert trail["note"].iloc[-1] == "同一设备, shared devices and circular payments"

    at.button(key="prepare_report").click().run()
    assert at.get("download_button")[0].label == "Download the report"
    case_id, report = at.session_state["report"]
    assert case_id == case.id
    assert "Confirmed fraud".lower() in report.lower() and "circular payments" in report
    assert "Audit trail" in report and "刷单团伙 suspected" in report
    assert all(m in report for m in top_cluster["members"])
    assert "new vis.Network" in report  # the network picture, inlined
    assert not re.search(r'(src|href)=(\\?"|&quot;)https?://', report), \
        "the report fetches something"


def test_a_case_someone_else_moved_meanwhile_is_not_overwritten(app_env: dict,
                                                                top_cluster: dict) -> None:
    g = app_env["graph"]
    merchant = top_cluster["members"][0]
    at = _page(merchant=merchant)
    assert at.radio(key="open_kind").value == "merchant"
    at.button(key="open").click().run()
    case_id = at.selectbox(key="show_case").value
    at.radio(key="move_to_open").set_value(IN_PROGRESS)
    at.button(key="move").click().run()
    # The page shows the case in progress; another investigator clears it first.
    move(g, case_id, CLEARED, expected=IN_PROGRESS, user="carol", note="known wholesaler")
    at.radio(key="move_to_in_progress").set_value(CONFIRMED)
    at.text_area(key="move_note").set_value("fraud")
    at.button(key="move").click().run()
    assert f"case {case_id} moved to cleared meanwhile" in _said(at)
    assert get_case(g, case_id).status == CLEARED
    assert at.metric[0].value == "Cleared"  # the page now shows what it is
    # The note written for the old state is gone: one more click reopens nothing.
    assert at.text_area(key="move_note").value == ""
    at.button(key="move").click().run()
    assert get_case(g, case_id).status == CLEARED


def test_a_reassignment_made_meanwhile_is_refused_even_after_the_page_redrew(
        app_env: dict, top_cluster: dict) -> None:
    g = app_env["graph"]
    at = _page(merchant=top_cluster["members"][-1])
    at.button(key="open").click().run()
    case_id = at.selectbox(key="show_case").value
    assign(g, case_id, "alice-team", user="alice")  # in another session, meanwhile
    # Bob types his team and presses Enter: the page redraws, showing alice-team.
    at.text_input(key=f"assignee_{case_id}").input("bob-team").run()
    assert at.metric[1].value == "alice-team"
    at.button(key="assign").click().run()
    assert _said(at) == (f"case {case_id} was assigned to alice-team meanwhile (expected "
                         "nobody). look at the case again and assign it if it still needs it")
    assert get_case(g, case_id).assignee == "alice-team"
    at.button(key="assign").click().run()  # told, he still means it
    assert get_case(g, case_id).assignee == "bob-team"


def test_a_case_on_an_unknown_cluster_says_so(app_env: dict) -> None:
    at = _page(cluster="C-NOT-THERE")
    at.button(key="open").click().run()
    assert "the graph has no cluster 'C-NOT-THERE'" in _said(at)
    assert list_cases(app_env["graph"], about="C-NOT-THERE") == []
