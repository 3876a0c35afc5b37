"""Cases: open a case on a cluster or a merchant, assign it, move it to a decision with a
note, see who did what, export it as one HTML file. Opened as ``cases?cluster=<id>``
or ``cases?merchant=<id>`` (the form is filled in), or ``cases?case=<id>``.

Changes go through ``graph/cases.py``; each says which status the user saw, so when
someone else moved the case meanwhile the change is refused and the page says so.
"""

from datetime import UTC, datetime
from urllib.parse import quote

import pandas as pd
import streamlit as st

from guanxi.errors import GuanxiError
from guanxi.graph.cases import (
    KINDS,
    STATUSES,
    CaseMoved,
    allowed_moves,
    assign,
    case_events,
    get_case,
    is_decision,
    list_cases,
    move,
    open_case,
)
from guanxi.ui.common import current_user, md, page_param, require_graph
from guanxi.ui.report import case_report, report_name

# A message kept by a change made on the last run: taken now, so that a page stopped by
# the banner (Neo4j away) does not show it later, when it no longer holds.
said = st.session_state.pop("said", None)
graph = require_graph()
user = current_user()
st.title("Cases")
st.caption(f"You are **{md(user)}**: your changes are recorded under this name.")

NAMES = {"open": "Open", "in_progress": "In progress", "confirmed_fraud": "Confirmed fraud",
         "cleared": "Cleared"}


def _said(kind: str, text: str) -> None:
    """Keep a message for the next run of the page (callbacks run before it)."""
    st.session_state["said"] = (kind, text)


def _open() -> None:
    s = st.session_state
    try:
        case = open_case(graph, kind=s["open_kind"], about=s["open_about"], user=user,
                         title=s["open_title"], assignee=s["open_assignee"],
                         note=s["open_note"])
    except GuanxiError as exc:
        _said("error", exc.one_line())
        return
    s["show_case"] = case.id
    s["open_title"] = s["open_note"] = ""
    _said("success", f"Opened {case.id} on {case.about_kind} {case.about_id}.")


def _assign(case_id: str) -> None:
    # The assignee this session first saw (or last set, or was told of): if someone
    # reassigned the case since, this one is refused rather than silently overwriting
    # theirs, even after reruns (Enter in a field) that redraw the page.
    s = st.session_state
    seen = f"assignee_seen_{case_id}"
    try:
        case = assign(graph, case_id, s[f"assignee_{case_id}"], user=user, expected=s[seen])
    except CaseMoved as exc:
        s[seen] = get_case(graph, case_id).assignee  # told now: the next click may go
        _said("error", exc.one_line())
        return
    except GuanxiError as exc:
        _said("error", exc.one_line())
        return
    s[seen] = case.assignee
    s.pop("report", None)  # it named the previous assignee
    _said("success", f"{case.id} is assigned to {case.assignee}.")


def _move(case_id: str, seen: str) -> None:
    # ``seen`` is the status the page showed when the user chose: if the case has
    # moved since, graph/cases.py refuses the change (CaseMoved) instead of
    # overwriting someone else's decision.
    s = st.session_state
    to = s[f"move_to_{seen}"]
    try:
        case = move(graph, case_id, to, expected=seen, user=user, note=s["move_note"])
    except CaseMoved as exc:
        # The note was written for the case as it was: kept, one more click would
        # apply it to the case as someone else left it (reopening their decision).
        s["move_note"] = ""
        _said("error", exc.one_line() + " Your note was not recorded: read the case again.")
        return
    except GuanxiError as exc:
        _said("error", exc.one_line())
        return
    s["move_note"] = ""
    s.pop("report", None)
    _said("success", f"{case.id} is now {NAMES[case.status].lower()}.")


def _report(case_id: str) -> None:
    try:
        text = case_report(graph, case_id, made_by=user, made_at=datetime.now(UTC))
    except GuanxiError as exc:
        _said("error", exc.one_line())
        return
    st.session_state["report"] = (case_id, text)


if said:
    (st.error if said[0] == "error" else st.success)(md(said[1]))

# --- open ---------------------------------------------------------------------------
asked_cluster, asked_merchant = page_param("cluster"), page_param("merchant")
if st.session_state.get("open_from") != (asked_cluster, asked_merchant):
    # Filled in from the URL once per link followed; the user's edits then stay.
    st.session_state["open_from"] = (asked_cluster, asked_merchant)
    st.session_state["open_kind"] = "merchant" if asked_merchant and not asked_cluster \
        else "cluster"
    st.session_state["open_about"] = asked_cluster or asked_merchant or ""
with st.expander("Open a case", expanded=bool(asked_cluster or asked_merchant)):
    c1, c2 = st.columns([1, 3])
    c1.radio("About a", KINDS, key="open_kind", horizontal=True)
    c2.text_input("Cluster or merchant id", key="open_about")
    about = st.session_state["open_about"].strip()
    if about:
        try:
            earlier = list_cases(graph, kind=st.session_state["open_kind"], about=about,
                                 limit=20)
        except GuanxiError as exc:
            st.warning(md(exc.one_line()))
            earlier = []
        if earlier:
            st.info(f"{len(earlier)} case(s) already about {md(about)}: "
                    + ", ".join(f"{c.id} ({NAMES[c.status].lower()})" for c in earlier))
    st.text_input("Title (optional)", key="open_title")
    st.text_input("Assign to (optional)", key="open_assignee")
    st.text_area("Why it is opened (optional)", key="open_note")
    st.button("Open the case", key="open", on_click=_open, type="primary")

# --- list ---------------------------------------------------------------------------
st.subheader("Cases")
f1, f2, f3 = st.columns([3, 2, 2])
statuses = f1.multiselect("Status", STATUSES, default=["open", "in_progress"],
                          format_func=NAMES.get, key="filter_status")
assignee = f2.text_input("Assigned to", key="filter_assignee")
kind = f3.selectbox("About", ["any", *KINDS], key="filter_kind")
try:
    found = list_cases(graph, statuses=statuses or None, assignee=assignee or None,
                       kind=None if kind == "any" else kind)
except GuanxiError as exc:
    st.warning(md(exc.one_line()))
    st.stop()
listed = pd.DataFrame([{"case": c.id, "status": NAMES[c.status], "title": c.title,
                        "about": f"{c.about_kind} {c.about_id}", "assignee": c.assignee,
                        "opened by": c.opened_by, "updated (UTC)": c.updated_at,
                        "open": f"cases?case={c.id}"} for c in found],
                      columns=["case", "status", "title", "about", "assignee", "opened by",
                               "updated (UTC)", "open"])
st.dataframe(listed, hide_index=True, key="cases", column_config={
    "open": st.column_config.LinkColumn("Open", display_text="show")})

# --- one case -----------------------------------------------------------------------
ids = [c.id for c in found]
asked_case = page_param("case")
if asked_case and st.session_state.get("case_from") != asked_case:
    st.session_state["case_from"] = st.session_state["show_case"] = asked_case
wanted = st.session_state.get("show_case")
if wanted and wanted not in ids:
    ids.insert(0, wanted)  # just opened, or named in the URL, but filtered out
if not ids:
    st.info("No cases with these filters. Open one above, or from a cluster or merchant page.")
    st.stop()
chosen = st.selectbox("Show case", ids, key="show_case")
try:
    case = get_case(graph, chosen)
except GuanxiError as exc:
    st.warning(md(exc.one_line()))
    st.stop()

st.header(f"{md(case.id)}: {md(case.title)}")
page = "cluster" if case.about_kind == "cluster" else "merchant"
m = st.columns([3, 2, 2])
m[0].metric("Status", NAMES[case.status])
m[1].metric("Assignee", case.assignee or "nobody")
m[2].metric("Opened by", case.opened_by)
st.markdown(f"About {case.about_kind} [{md(case.about_id)}]"
            f"({page}?{page}={quote(case.about_id)}) · "
            f"opened {case.opened_at:%Y-%m-%d %H:%M} UTC")
if case.decided:
    st.markdown(f"**Decision: {NAMES[case.status]}** by {md(case.decided_by)} on "
                f"{case.decided_at:%Y-%m-%d %H:%M} UTC. Note:")
    st.text(case.decision_note)  # as typed: a note is not Markdown
    if case.members:
        st.caption(f"Labels {len(case.members)} merchants at the next `guanxi train`: "
                   + ", ".join(case.members))
    else:
        st.caption("Labels this merchant at the next `guanxi train`.")

a1, a2 = st.columns(2)
with a1:
    st.markdown("**Assign**")
    st.session_state.setdefault(f"assignee_{case.id}", case.assignee or "")
    st.session_state.setdefault(f"assignee_seen_{case.id}", case.assignee)
    st.text_input("Investigator", key=f"assignee_{case.id}", disabled=case.decided)
    st.button("Assign", key="assign", on_click=_assign, args=(case.id,),
              disabled=case.decided)
with a2:
    st.markdown("**Move**")
    moves = allowed_moves(case.status)
    st.radio("To", moves, format_func=NAMES.get, key=f"move_to_{case.status}",
             horizontal=True)
    needs_note = any(is_decision(s) for s in (*moves, case.status))
    st.text_area("Decision note (required for a decision)" if needs_note else "Note",
                 key="move_note")
    st.button("Record", key="move", on_click=_move, args=(case.id, case.status),
              type="primary")

st.subheader("Audit trail")
trail = pd.DataFrame([e.as_dict() for e in case_events(graph, case.id)],
                     columns=["at", "user", "action", "from", "to", "note"])
st.dataframe(trail.rename(columns={"at": "when (UTC)", "user": "who", "action": "what"})
             .fillna(""), hide_index=True, key="trail")

st.subheader("Report")
st.button("Prepare the HTML report", key="prepare_report", on_click=_report, args=(case.id,))
ready = st.session_state.get("report")
if ready and ready[0] == case.id:
    st.download_button("Download the report", data=ready[1], file_name=report_name(case),
                       mime="text/html", key="download_report")
    st.caption("One HTML file: network, scores, factors, decision and audit trail; "
               "opens without a network connection.")
