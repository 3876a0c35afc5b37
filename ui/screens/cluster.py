"""Cluster: the network of one cluster, its scores and why, its members, its weekly
flows and its history across refreshes. Opened as ``cluster?cluster=<id>``."""

import pandas as pd
import streamlit as st

from guanxi.graph.scores import NoScores, cluster_history, format_factors
from guanxi.ui import views
from guanxi.ui.common import (
    cluster_table_of,
    fmt_pd,
    fmt_score,
    md,
    page_param,
    picture,
    require_graph,
    require_run,
)
from guanxi.ui.network import legend_markdown
from guanxi.ui.report import cluster_picture

graph = require_graph()
run = require_run(graph)
table = cluster_table_of(graph.settings.uri, run.run, graph)
st.title("Cluster")
if table.empty:
    st.info("The current scoring run found no clusters.")
    st.stop()

ids = table["cluster_id"].tolist()
asked = page_param("cluster")
unknown = bool(asked) and asked not in ids
if unknown:
    try:
        past = cluster_history(graph, asked)
    except NoScores:
        st.warning(f"no cluster {md(asked)} in the graph: pick one below, or from the "
                   f"Overview's leaderboard")
    else:
        st.warning(f"cluster {md(asked)} is not in the current scoring run (last scored "
                   f"{past['scored_at'].iloc[-1]:%Y-%m-%d}); its history:")
        st.dataframe(past, hide_index=True)
chosen = st.selectbox("Cluster (highest collusion score first)", ids,
                      index=0 if unknown or not asked else ids.index(asked), key="cluster")
if not unknown or chosen != ids[0]:
    # A link to an unknown cluster keeps its id until another is picked: a reload must
    # not show some other cluster under it.
    st.query_params["cluster"] = chosen

score = views.cluster_score(graph, run.run, chosen)
members = views.node_details(graph, run.run, score["members"])
links = views.member_links(graph, score["members"])

c = st.columns(5)
c[0].metric("Collusion score", fmt_score(score["collusion_score"]))
c[1].metric("Group PD", fmt_pd(score["group_pd"]))
c[2].metric("Credit score", "–" if score["credit_score"] is None else score["credit_score"])
c[3].metric("Members", score["size"])
c[4].metric("Since last run", score["event"] or "–")
st.markdown(f"[Open a case on this cluster](cases?cluster={chosen}) · "
            f"[Its group credit](credit?cluster={chosen})")

left, right = st.columns([3, 2])
with left:
    st.subheader("Network")
    st.caption(legend_markdown() + " · thick red: the top links behind the score")
    nodes, edges = cluster_picture(members, links)
    top = [(t["source"], t["target"], t["type"]) for t in score["top_links"]]
    st.iframe(picture(nodes, edges, tuple(top)), height=580)
with right:
    st.subheader("Why it scores so")
    factors = pd.DataFrame(score["top_factors"], columns=["score", "name", "value", "weight"])
    st.dataframe(factors, hide_index=True, key="factors")
    st.caption(format_factors(score["top_factors"]))
    st.subheader("Top links")
    st.dataframe(pd.DataFrame(score["top_links"], columns=["source", "target", "type",
                                                           "weight"]),
                 hide_index=True, key="top_links")
    st.subheader("Key members")
    st.caption("Whose failure would hurt the others most (most harmful first).")
    key = members.set_index("id").reindex(score["key_members"]).reset_index()
    st.dataframe(key.loc[:, ["id", "name", "pd", "ring_score"]], hide_index=True,
                 key="key_members")

st.subheader("Members")
table_members = members.assign(key_member=members["id"].isin(score["key_members"]),
                               open="merchant?merchant=" + members["id"])
st.dataframe(table_members, hide_index=True, key="members", column_config={
    "open": st.column_config.LinkColumn("Open", display_text="open"),
    "ring_score": st.column_config.NumberColumn("Ring score", format="%.3f"),
    "pd": st.column_config.NumberColumn("PD", format="%.3f")})

st.subheader("Weekly flows of the members together")
weeks = views.weekly_flows(graph, score["members"])
if weeks.empty:
    st.info("No weekly flows recorded for these members.")
else:
    st.line_chart(weeks.loc[:, list(views.WEEKLY_COLUMNS)])

st.subheader("History across refreshes")
history = cluster_history(graph, chosen)
st.line_chart(history.set_index("scored_at").loc[:, ["collusion_score", "group_pd"]])
st.dataframe(history, hide_index=True, key="history")
