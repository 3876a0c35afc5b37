"""Overview: what the graph holds, how the scores spread, the cluster leaderboard."""

import streamlit as st

from guanxi.graph.scores import scoring_runs
from guanxi.graph.stats import graph_counts
from guanxi.ui import views
from guanxi.ui.common import cluster_table_of, require_graph, require_run, score_histograms_of

graph = require_graph()
st.title("Overview")

stats = graph_counts(graph)
nodes, rels = stats["nodes"], stats["relationships"]
cols = st.columns(5)
cols[0].metric("Merchants", f"{nodes.get('Merchant', 0):,}")
cols[1].metric("Consumers", f"{nodes.get('Consumer', 0):,}")
cols[2].metric("Payment links", f"{rels.get('PAID', 0):,}")
cols[3].metric("Supply links", f"{rels.get('SUPPLIES', 0):,}")
cols[4].metric("Shipment links", f"{rels.get('SHIPPED_TO', 0):,}")

run = require_run(graph)
runs = scoring_runs(graph)
last = max((r for r in runs if r.state in ("current", "replaced")), key=lambda r: r.run)
st.caption(f"Model **{run.model_version}** · scored {run.scored_at:%Y-%m-%d %H:%M} UTC · "
           f"last refresh {last.scored_at:%Y-%m-%d %H:%M} UTC ({last.kind}) · "
           f"{len(runs)} runs kept · run `{run.run}`")

table = cluster_table_of(graph.settings.uri, run.run, graph)

histograms = score_histograms_of(graph.settings.uri, run.run, graph)
st.subheader("How the scores spread")
left, right = st.columns(2)
with left:
    st.markdown("Merchants by ring score")
    st.bar_chart(histograms["ring_score"], x="from", y="merchants")
    st.markdown("Clusters by collusion score")
    st.bar_chart(views.binned(table["collusion_score"], [i / 20 for i in range(21)],
                              "clusters"), x="from", y="clusters")
with right:
    st.markdown("Merchants by probability of default")
    st.bar_chart(histograms["pd"], x="from", y="merchants")
    st.markdown("Clusters by credit score (350-950)")
    st.bar_chart(views.binned(table["credit_score"], list(range(350, 951, 50)), "clusters"),
                 x="from", y="clusters")

st.subheader("Cluster leaderboard")
sort_labels = {"collusion_score": "Collusion score", "group_pd": "Group PD",
               "credit_score": "Credit score", "size": "Size"}
f1, f2, f3, f4, f5 = st.columns([2, 1, 2, 2, 2])
sort = f1.selectbox("Sort by", list(sort_labels), format_func=sort_labels.get, key="sort")
# Credit scores read riskiest (lowest) first, the rest highest first; a key per sort so
# that choosing another sort starts from its own default.
descending = f2.toggle("Highest first", value=sort != "credit_score", key=f"descending_{sort}")
cities = f3.multiselect("City", sorted(table["city"].dropna().unique()), key="city")
categories = f4.multiselect("Category", sorted(table["category"].dropna().unique()),
                            key="category")
min_size = f5.number_input("Size at least", min_value=1, value=1, step=1, key="min_size")
low, high = st.slider("Collusion score", 0.0, 1.0, (0.0, 1.0), 0.01, key="collusion")
board = table[(table["size"] >= min_size) & table["collusion_score"].between(low, high)]
if cities:
    board = board[board["city"].isin(cities)]
if categories:
    board = board[board["category"].isin(categories)]
board = board.sort_values([sort, "cluster_id"], ascending=[not descending, True],
                          na_position="last", kind="stable").reset_index(drop=True)
board.insert(0, "open", "cluster?cluster=" + board["cluster_id"])
st.caption(f"{len(board):,} of {len(table):,} clusters")
st.dataframe(board, hide_index=True, key="leaderboard", column_config={
    "open": st.column_config.LinkColumn("Open", display_text="open"),
    "collusion_score": st.column_config.ProgressColumn("Collusion", min_value=0, max_value=1,
                                                       format="%.3f"),
    "group_pd": st.column_config.NumberColumn("Group PD", format="%.3f"),
    "credit_score": st.column_config.NumberColumn("Credit score", format="%d")})
