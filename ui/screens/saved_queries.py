"""Saved queries: run the ``queries/`` files meant for users with parameters from a
form (checked first), as a table, as a graph where they return paths, and as CSV."""

import streamlit as st

from guanxi.ui.common import picture, require_graph
from guanxi.ui.ego import paths_picture
from guanxi.ui.saved import SAVED, parse, run_saved

graph = require_graph()
st.title("Saved queries")

name = st.selectbox("Query", list(SAVED), format_func=lambda n: SAVED[n].title, key="query")
query = SAVED[name]
st.caption(f"{query.about} (queries/{query.name}.cypher)")
with st.form(f"form_{name}"):
    form = {p.name: st.text_input(p.label, value=p.default, key=f"p_{name}_{p.name}")
            for p in query.params}
    submitted = st.form_submit_button("Run")
if submitted:
    values, problems = parse(query, form)
    for problem in problems:
        st.error(problem)
    if problems:
        st.stop()
    # Kept for this session: a later rerun (the CSV download is one) shows them again.
    st.session_state["saved_rows"] = (name, run_saved(graph, query, values))
last = st.session_state.get("saved_rows")
if not last or last[0] != name:
    st.stop()
rows = last[1]
st.caption(f"{len(rows):,} rows")
if {"nodes", "links"} <= set(rows.columns) and len(rows):
    nodes, edges = paths_picture(rows.to_dict("records"))
    st.iframe(picture(nodes, edges), height=460)
st.dataframe(rows, hide_index=True, key="rows")
st.download_button("Download CSV", rows.to_csv(index=False).encode("utf-8"),
                   file_name=f"{query.name}.csv", mime="text/csv", key="csv")
