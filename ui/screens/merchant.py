"""Merchant: find a merchant by id or name, its ego network (capped), how it is
connected to another merchant, merchants like it, its weekly timeline. Opened as
``merchant?merchant=<id>``."""

import pandas as pd
import streamlit as st

from guanxi.errors import GuanxiError
from guanxi.graph.scores import NoScores, current_run
from guanxi.graph.similar import FASTRP, similar
from guanxi.ui import views
from guanxi.ui.common import fmt_pd, fmt_score, md, page_param, picture, require_graph
from guanxi.ui.ego import (
    DEFAULT_CAP,
    EGO_TYPES,
    MAX_HOPS,
    MAX_NODES,
    ego_network,
    expand,
    paths_between,
)
from guanxi.ui.network import legend_markdown

graph = require_graph()
try:
    run = current_run(graph).run
except NoScores:
    run = ""  # the network and the timeline need no scores
st.title("Merchant")

text = st.text_input("Search by merchant id or name (two characters or more of a "
                     "Chinese name)", value=page_param("merchant") or "", key="search")
if not text.strip():
    st.info("Type a merchant id, or part of a name such as 面馆.")
    st.stop()
found = views.search_merchants(graph, text)
if found.empty:
    st.warning(f"no merchant with id or name '{md(text.strip()[:views.SEARCH_MAX])}': "
               "check the id, or try another part of the name")
    st.stop()
labels = {r.id: f"{r.id} · {r.name or ''} · {r.city or ''}" for r in found.itertuples()}
chosen = st.selectbox(f"{len(found)} found", list(labels), format_func=labels.get, key="pick")
st.query_params["merchant"] = chosen
m = views.merchant(graph, run, chosen)

st.header(md(m["name"] or m["id"]))
c = st.columns(6)
c[0].metric("Id", m["id"])
c[1].metric("City", m["city"] or "–")
c[2].metric("Category", m["category"] or "–")
c[3].metric("Ring score", fmt_score(m["ring_score"]))
c[4].metric("PD", fmt_pd(m["pd"]))
c[5].metric("Credit score", m["credit_score"] or "–")
if m["cluster_id"]:
    st.markdown(f"In cluster [{m['cluster_id']}](cluster?cluster={m['cluster_id']}) · "
                f"[Open a case on this merchant](cases?merchant={m['id']})")
else:
    st.markdown(f"In no cluster · [Open a case on this merchant](cases?merchant={m['id']})")

st.subheader("Network around it")
f1, f2, f3 = st.columns([1, 3, 1])
hops = f1.slider("Hops", 1, MAX_HOPS, 2, key="hops")
types = f2.multiselect("Links", list(EGO_TYPES), default=[t for t in EGO_TYPES
                                                          if t != "ONBOARDED_BY"], key="types")
cap = int(f3.number_input("Links per node at most", 1, 100, DEFAULT_CAP, key="cap"))
if not types:
    st.warning("choose at least one link type")
    st.stop()
ego = ego_network(graph, run, chosen, hops=hops, types=types, cap=cap)
opened = st.session_state.setdefault("opened", {}).setdefault(chosen, [])
for node in opened:
    if node in ego.eids:
        expand(graph, run, ego, node, types=types, cap=cap)
e1, e2 = st.columns([3, 1])
target = e1.selectbox("Expand a node", sorted(ego.nodes), key="expand_node")
if e2.button("Expand", key="expand"):
    opens = f", or open {md(target)} itself" if ego.nodes[target]["kind"] == "Merchant" else ""
    before = len(ego.edges)
    if len(ego.nodes) >= MAX_NODES:
        st.warning(f"the picture already holds {MAX_NODES} nodes, the most it draws: "
                   f"lower the hops or the links per node{opens}")
    else:
        if target not in opened:
            opened.append(target)
        expand(graph, run, ego, target, types=types, cap=cap)
        if len(ego.edges) == before:
            st.info(f"{md(target)} has no more links to draw among its {cap} strongest: "
                    f"raise the links per node to see more")
nodes, edges = ego.picture()
drawn = len(ego.nodes)
hidden = sum(sum(v.values()) for v in ego.hidden.values())
c = st.columns(3)
c[0].metric("Nodes drawn", drawn)
c[1].metric("Links drawn", len(ego.edges))
c[2].metric("Links summarised", f"{hidden:,}")
st.caption(legend_markdown() + " · grey boxes: links not drawn (expand the node to see "
                               "its strongest)")
st.iframe(picture(nodes, edges), height=580)
summary = pd.DataFrame([{"node": k, "not drawn": n, "what": noun}
                        for k, v in ego.hidden.items() for noun, n in v.items()],
                       columns=["node", "not drawn", "what"])
st.dataframe(summary, hide_index=True, key="summarised")

st.subheader("How are these two connected")
other = st.text_input("Another merchant id", key="other")
if other.strip() == chosen:
    st.info("that is this merchant: give another merchant's id")
elif other.strip():
    if views.merchant(graph, run, other.strip()) is None:
        st.warning(f"no merchant {md(other.strip())} in the graph: check the id")
    else:
        p_nodes, p_edges, found_paths = paths_between(graph, run, chosen, other.strip(),
                                                      types=types)
        st.metric("Shortest paths", found_paths)
        if found_paths:
            st.iframe(picture(p_nodes, p_edges), height=420)
        else:
            st.info(f"not connected within 6 steps over {', '.join(types)}")

st.subheader("Merchants like it")
try:
    like = similar(graph, chosen, k=10, by=FASTRP)
except GuanxiError as exc:
    st.info(exc.one_line())
else:
    st.dataframe(like.assign(open="merchant?merchant=" + like["merchant_id"]),
                 hide_index=True, key="similar", column_config={
                     "open": st.column_config.LinkColumn("Open", display_text="open")})

st.subheader("Weekly timeline")
weeks = views.weekly_flows(graph, [chosen])
if weeks.empty:
    st.info("No payments, supply or shipments recorded for this merchant.")
else:
    t1, t2, t3 = st.tabs(["Payments (yuan)", "Supply (yuan)", "Shipments (count)"])
    t1.line_chart(weeks.loc[:, ["paid_in_amount", "paid_out_amount"]])
    t2.line_chart(weeks.loc[:, ["bought_amount", "sold_amount"]])
    t3.line_chart(weeks.loc[:, ["received_count", "shipped_count"]])
