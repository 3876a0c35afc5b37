"""Credit: clusters by group PD and credit score against their peers, who carries a
cluster's risk, and the group PD if a chosen member fails (method: ``ui/credit.py``)."""

import streamlit as st

from guanxi.ui import views
from guanxi.ui.common import cluster_table_of, fmt_pd, md, page_param, require_graph, require_run
from guanxi.ui.credit import PEER_KEYS, exposure, peer_rank

graph = require_graph()
run = require_run(graph)
table = cluster_table_of(graph.settings.uri, run.run, graph)
st.title("Group credit")
rated = table.dropna(subset=["group_pd"]).sort_values(["group_pd", "cluster_id"],
                                                      ascending=[False, True])
if rated.empty:
    st.info("The current run gave no group PD (the model saw no observed loans): "
            "train with a defaults file to score credit.")
    st.stop()

ids = rated["cluster_id"].tolist()
asked = page_param("cluster")
unknown = bool(asked) and asked not in ids
if unknown:
    st.warning(f"no rated cluster {md(asked)} in the current run: pick one below")
f1, f2 = st.columns([3, 1])
chosen = f1.selectbox("Cluster (highest group PD first)", ids,
                      index=0 if unknown or not asked else ids.index(asked), key="cluster")
by = f2.radio("Peers: same", PEER_KEYS, horizontal=True, key="peers")
if not unknown or chosen != ids[0]:
    st.query_params["cluster"] = chosen  # an unknown id stays in the URL until a pick
row = rated.set_index("cluster_id").loc[chosen]
rank = peer_rank(rated, chosen, by)

c = st.columns(4)
c[0].metric("Group PD", fmt_pd(row["group_pd"]))
c[1].metric("Credit score", int(row["credit_score"]))
c[2].metric(f"Peers ({by} {rank['value'] or 'unknown'})", rank["peers"])
c[3].metric("Riskier than", f"{rank['pd_percentile']:.0f}% of peers",
            help=f"peers' median group PD {fmt_pd(rank['median_pd'])}, median credit "
                 f"score {rank['median_credit_score']:.0f}")
st.markdown(f"[Open the cluster](cluster?cluster={chosen})")

peers = rated.assign(peer=rated[by] == row[by], chosen=rated["cluster_id"] == chosen)
peers["group"] = peers["chosen"].map({True: "this cluster"}).fillna(
    peers["peer"].map({True: f"same {by}", False: "other clusters"}))
st.scatter_chart(peers, x="group_pd", y="credit_score", color="group", size="size")

score = views.cluster_score(graph, run.run, chosen)
members = views.node_details(graph, run.run, score["members"])
links = views.member_links(graph, score["members"])
risk = exposure(members, links)

st.subheader("Who carries the risk")
st.caption("harm: the healthy business of the other members that depends on this one "
           "(supply and payments among members, shared owners and accounts); "
           "what-if PD: the group PD if it fails.")
shown = risk.members.merge(members.loc[:, ["id", "name", "credit_score", "volume"]], on="id")
st.dataframe(shown, hide_index=True, key="exposure", column_config={
    "pd": st.column_config.NumberColumn("PD", format="%.3f"),
    "harm": st.column_config.NumberColumn("Harm", format="%.3f"),
    "what_if_pd": st.column_config.NumberColumn("Group PD if it fails", format="%.3f")})
st.markdown("Links that carry the risk (trade among members, shared owners and accounts)")
carrying = links[links["type"].isin(["SUPPLIES", "PAID", "SHARED_OWNER", "SHARED_ACCOUNT"])]
st.dataframe(carrying.sort_values("weight", ascending=False), hide_index=True, key="links")

st.subheader("What if a member fails")
if risk.members.empty:
    st.info("No member of this cluster has a PD in the current run.")
    st.stop()
order = risk.members["id"].tolist()
default = next((k for k in score["key_members"] if k in order), order[0])
fails = st.selectbox("Member that fails (key members first)", order,
                     index=order.index(default), key="fails")
after = float(risk.members.set_index("id").loc[fails, "what_if_pd"])
w = st.columns(2)
w[0].metric("Group PD now", fmt_pd(risk.base_pd))
w[1].metric(f"Group PD if {fails} fails", fmt_pd(after),
            delta=f"{100 * (after - risk.base_pd):+.1f} points", delta_color="inverse")
st.caption("Method: each other member j then defaults with 1 - (1 - pd_j)(1 - 0.5 D[j, k]), "
           "D[j, k] the share of j's trade carried by the failed member k (docs/ui.md).")
