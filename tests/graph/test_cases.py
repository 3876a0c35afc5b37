"""Cases in the real Neo4j: six merchants, two clusters written by a real scoring run,
and the workflow's rules (a decision needs a note, moves follow the workflow, the audit
trail keeps who did what), a decision on a cluster keeps its members as they were,
and two users moving one case at once (two real threads: one wins, the other is told)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pandas as pd
import pytest

from guanxi.errors import InputError
from guanxi.gnn.labels import case_decisions
from guanxi.gnn.scores import ScoreSet
from guanxi.graph import cases
from guanxi.graph.cases import (
    CLEARED,
    CONFIRMED,
    IN_PROGRESS,
    OPEN,
    CaseMoved,
    assign,
    case_events,
    get_case,
    list_cases,
    move,
    open_case,
)
from guanxi.graph.connection import Graph
from guanxi.graph.scores import write_scores
from guanxi.queries import load

IDS = [f"M{i}" for i in range(1, 7)]


def _run(clusters: dict[str, list[str]], version: str, at: datetime) -> ScoreSet:
    """A scoring run whose clusters are ``clusters``; the other merchants in none."""
    where = {m: cid for cid, members in clusters.items() for m in members}
    merchants = pd.DataFrame({"merchant_id": IDS, "cluster_id": [where.get(m) for m in IDS],
                              "ring_score": 0.5, "pd": 0.1, "credit_score": 700})
    table = pd.DataFrame({"cluster_id": list(clusters), "size": [len(v) for v in clusters.values()],
                          "collusion_score": 0.5, "group_pd": 0.1, "credit_score": 700,
                          "key_members": [v[:1] for v in clusters.values()],
                          "top_factors": [[] for _ in clusters],
                          "top_links": [[] for _ in clusters],
                          "members": list(clusters.values())})
    return ScoreSet(merchants, table, version, at)


@pytest.fixture
def scored(graph: Graph) -> Graph:
    """CA = M1, M2, M3 and CB = M4, M5 in the current run; M6 in no cluster."""
    graph.write("UNWIND $ids AS id CREATE (:Merchant {id: id, name: '店' + id})", ids=IDS)
    write_scores(graph, _run({"CA": ["M1", "M2", "M3"], "CB": ["M4", "M5"]}, "v1",
                             datetime(2026, 11, 30, tzinfo=UTC)))
    return graph


def _decide(graph: Graph, case_id: str, to: str, note: str = "seen the invoices") -> cases.Case:
    move(graph, case_id, IN_PROGRESS, expected=OPEN, user="bob")
    return move(graph, case_id, to, expected=IN_PROGRESS, user="bob", note=note)


def test_a_case_on_a_cluster_is_stored_about_it_with_its_first_audit_entry(scored: Graph) -> None:
    case = open_case(scored, kind="cluster", about="CA", user="alice", note="alert 17")
    assert (case.status, case.about_kind, case.about_id) == (OPEN, "cluster", "CA")
    assert case.opened_by == "alice" and case.assignee is None and case.title == "cluster CA"
    assert case.decided_at is None and case.members is None
    about = scored.read("MATCH (:Case {id: $id})-[:ABOUT]->(x) RETURN labels(x) AS l, x.id AS x",
                        id=case.id)
    assert about == [{"l": ["Cluster"], "x": "CA"}]
    [event] = case_events(scored, case.id)
    assert (event.user, event.action, event.from_, event.to, event.note) == \
        ("alice", "opened", None, OPEN, "alert 17")
    assert event.at == case.opened_at and event.at.tzinfo is not None


def test_a_case_on_something_the_graph_lacks_is_refused_and_not_stored(scored: Graph) -> None:
    with pytest.raises(InputError, match="the graph has no cluster 'CX'"):
        open_case(scored, kind="cluster", about="CX", user="alice")
    with pytest.raises(InputError, match="the graph has no merchant 'CA'"):
        open_case(scored, kind="merchant", about="CA", user="alice")  # a cluster's id
    with pytest.raises(InputError, match="not 'shop'"):
        open_case(scored, kind="shop", about="M1", user="alice")
    with pytest.raises(InputError, match="the user is empty"):
        open_case(scored, kind="merchant", about="M1", user="  ")
    assert scored.read("MATCH (c:Case) RETURN count(c) AS n") == [{"n": 0}]


def test_the_workflow_records_who_did_what_and_a_cluster_decision_keeps_its_members(
        scored: Graph) -> None:
    case = open_case(scored, kind="cluster", about="CA", user="alice", title="刷单团伙?")
    assert assign(scored, case.id, "bob", user="alice").assignee == "bob"
    # dave saw the case unassigned: bob's assignment is not overwritten behind his back.
    with pytest.raises(CaseMoved, match=f"case {case.id} was assigned to bob meanwhile "
                                        r"\(expected nobody\)"):
        assign(scored, case.id, "dave", user="dave", expected=None)
    assert assign(scored, case.id, "bob", user="bob", expected=None).assignee == "bob"
    move(scored, case.id, IN_PROGRESS, expected=OPEN, user="bob")
    done = move(scored, case.id, CONFIRMED, expected=IN_PROGRESS, user="bob",
                note="  同一设备, circular payments  ")
    assert done.status == CONFIRMED and done.decided_by == "bob"
    assert done.decision_note == "同一设备, circular payments"  # stripped
    assert done.members == ("M1", "M2", "M3") and done.decided_at >= done.opened_at
    trail = [(e.user, e.action, e.from_, e.to) for e in case_events(scored, case.id)]
    assert trail == [("alice", "opened", None, OPEN), ("alice", "assigned", None, "bob"),
                     ("bob", "moved", OPEN, IN_PROGRESS), ("bob", "moved", IN_PROGRESS, CONFIRMED)]
    times = [e.at for e in case_events(scored, case.id)]
    assert times == sorted(times)
    # What the next training reads: every member labelled fraud.
    assert case_decisions(scored).to_dict("records") == [
        {"merchant_id": m, "decision": 1} for m in ("M1", "M2", "M3")]


def test_a_decision_needs_a_note_and_changes_nothing_without_one(scored: Graph) -> None:
    case = open_case(scored, kind="merchant", about="M6", user="alice")
    move(scored, case.id, IN_PROGRESS, expected=OPEN, user="bob")
    for note in (None, "", "   \n "):
        with pytest.raises(InputError, match="a decision needs a note"):
            move(scored, case.id, CLEARED, expected=IN_PROGRESS, user="bob", note=note)
    assert get_case(scored, case.id).status == IN_PROGRESS
    assert len(case_events(scored, case.id)) == 2
    assert case_decisions(scored).empty


@pytest.mark.parametrize(("expected", "to", "message"), [
    (OPEN, CONFIRMED, "a case cannot move from open to confirmed_fraud"),
    (OPEN, OPEN, "a case cannot move from open to open"),
    (OPEN, "closed", "unknown case status 'closed'"),
    (IN_PROGRESS, OPEN, "a case cannot move from in_progress to open"),
])
def test_moves_outside_the_workflow_are_refused(scored: Graph, expected: str, to: str,
                                                message: str) -> None:
    case = open_case(scored, kind="merchant", about="M1", user="alice")
    if expected == IN_PROGRESS:
        move(scored, case.id, IN_PROGRESS, expected=OPEN, user="alice")
    with pytest.raises(InputError, match=message):
        move(scored, case.id, to, expected=expected, user="alice", note="n")
    assert get_case(scored, case.id).status == expected


def test_a_move_from_a_status_the_case_has_left_says_where_it_is(scored: Graph) -> None:
    case = open_case(scored, kind="merchant", about="M1", user="alice")
    _decide(scored, case.id, CLEARED)
    with pytest.raises(CaseMoved, match=f"case {case.id} moved to cleared meanwhile"):
        move(scored, case.id, CONFIRMED, expected=IN_PROGRESS, user="carol", note="fraud")
    assert get_case(scored, case.id).status == CLEARED
    with pytest.raises(InputError, match="no case 'CASE-NONE'"):
        move(scored, "CASE-NONE", IN_PROGRESS, expected=OPEN, user="alice")


def test_reopening_takes_the_decision_and_its_labels_back(scored: Graph) -> None:
    case = open_case(scored, kind="merchant", about="M6", user="alice")
    _decide(scored, case.id, CONFIRMED)
    assert case_decisions(scored).to_dict("records") == [{"merchant_id": "M6", "decision": 1}]
    with pytest.raises(InputError, match="reopening a decided case needs a note"):
        move(scored, case.id, IN_PROGRESS, expected=CONFIRMED, user="bob")
    with pytest.raises(InputError, match="decided .* can no longer be reassigned"):
        assign(scored, case.id, "carol", user="bob")
    reopened = move(scored, case.id, IN_PROGRESS, expected=CONFIRMED, user="bob",
                    note="wrong merchant")
    assert reopened.decided_at is None and reopened.decision_note is None
    assert case_decisions(scored).empty
    again = move(scored, case.id, CLEARED, expected=IN_PROGRESS, user="bob", note="legit shop")
    assert again.members is None  # a merchant's case labels that merchant alone
    assert case_decisions(scored).to_dict("records") == [{"merchant_id": "M6", "decision": 0}]


def test_a_decision_on_a_retired_cluster_keeps_the_members_it_last_had(scored: Graph) -> None:
    case = open_case(scored, kind="cluster", about="CA", user="alice")
    # The next run regroups: CA is gone, CC = M1, M4.
    write_scores(scored, _run({"CC": ["M1", "M4"]}, "v2", datetime(2026, 12, 7, tzinfo=UTC)))
    assert scored.read("MATCH (:Merchant)-[i:IN_CLUSTER]->(:Cluster {id: 'CA'}) "
                       "RETURN count(i) AS n") == [{"n": 0}]
    assert _decide(scored, case.id, CLEARED).members == ("M1", "M2", "M3")
    other = open_case(scored, kind="cluster", about="CC", user="alice")
    assert _decide(scored, other.id, CONFIRMED).members == ("M1", "M4")
    # The later decision wins for M1.
    assert case_decisions(scored).set_index("merchant_id")["decision"].to_dict() == \
        {"M1": 1, "M2": 0, "M3": 0, "M4": 1}


def test_opening_again_with_the_same_ids_changes_nothing(scored: Graph) -> None:
    # What a retried transaction does after a commit it did not hear about.
    params = {"id": "CASE-R", "event": "CASE-R|1", "kind": "merchant", "about": "M2",
              "title": "t", "user": "alice", "note": None}
    for _ in range(2):
        assert scored.write(load("case_open"), **params) == [{"id": "CASE-R"}]
    counts = scored.read("MATCH (c:Case)-[:LOGGED]->(e:CaseEvent) "
                         "RETURN count(DISTINCT c) AS cases, count(e) AS events")
    assert counts == [{"cases": 1, "events": 1}]


def test_cases_are_listed_newest_change_first_with_filters(scored: Graph) -> None:
    a = open_case(scored, kind="cluster", about="CA", user="alice", assignee="bob")
    b = open_case(scored, kind="merchant", about="M6", user="alice")
    c = open_case(scored, kind="merchant", about="M5", user="alice", assignee="bob")
    assert [(e.action, e.to) for e in case_events(scored, c.id)] == \
        [("opened", OPEN), ("assigned", "bob")]
    _decide(scored, a.id, CONFIRMED)
    assert [x.id for x in list_cases(scored)] == [a.id, c.id, b.id]
    assert [x.id for x in list_cases(scored, statuses=[OPEN])] == [c.id, b.id]
    assert [x.id for x in list_cases(scored, assignee="bob", kind="merchant")] == [c.id]
    assert [x.id for x in list_cases(scored, about="CA")] == [a.id]
    assert list_cases(scored, statuses=[CLEARED]) == []


def _race(work: list) -> list[BaseException | cases.Case]:
    """Run each callable in its own thread, released together; what each returned or
    raised."""
    start = threading.Barrier(len(work))
    out: list = [None] * len(work)

    def run(i: int) -> None:
        start.wait()
        try:
            out[i] = work[i]()
        except Exception as exc:  # the loser's CaseMoved is what the test looks at
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_two_users_deciding_one_case_at_once_one_wins_the_other_is_told(scored: Graph) -> None:
    for round_ in range(6):
        case = open_case(scored, kind="cluster", about="CB", user="alice")
        move(scored, case.id, IN_PROGRESS, expected=OPEN, user="alice")
        out = _race([
            lambda c=case: move(scored, c.id, CONFIRMED, expected=IN_PROGRESS, user="bob",
                                note="ring"),
            lambda c=case: move(scored, c.id, CLEARED, expected=IN_PROGRESS, user="carol",
                                note="legit"),
        ])
        won = [o for o in out if isinstance(o, cases.Case)]
        lost = [o for o in out if isinstance(o, CaseMoved)]
        assert len(won) == 1 and len(lost) == 1, (round_, out)
        final = get_case(scored, case.id)
        assert final.status == won[0].status
        assert f"moved to {final.status} meanwhile" in lost[0].message
        decisions = [e for e in case_events(scored, case.id) if e.to in (CONFIRMED, CLEARED)]
        assert len(decisions) == 1 and decisions[0].to == final.status


def test_two_users_starting_one_case_at_once_make_one_move(scored: Graph) -> None:
    for _ in range(6):
        case = open_case(scored, kind="merchant", about="M3", user="alice")
        out = _race([lambda c=case, u=u: move(scored, c.id, IN_PROGRESS, expected=OPEN, user=u)
                     for u in ("bob", "carol")])
        assert sorted(type(o).__name__ for o in out) == ["Case", "CaseMoved"], out
        moves = [e for e in case_events(scored, case.id) if e.action == "moved"]
        assert len(moves) == 1
