"""The guanxi app: the entry script routes to the pages, grouped by who uses them.

``guanxi ui`` runs it (``ui/serve.py``). A page opened with a cluster or a merchant
chosen reads it from the URL (``cluster?cluster=C3fa9c2e81b0``,
``merchant?merchant=M000123``), so pages link to each other.
"""

import streamlit as st

st.set_page_config(page_title="guanxi", page_icon="🕸", layout="wide")

PAGES = {
    "Investigate": [
        st.Page("screens/overview.py", title="Overview", url_path="overview", default=True),
        st.Page("screens/cluster.py", title="Cluster", url_path="cluster"),
        st.Page("screens/merchant.py", title="Merchant", url_path="merchant"),
    ],
    "Credit": [st.Page("screens/credit.py", title="Credit", url_path="credit")],
    "Cases": [st.Page("screens/cases.py", title="Cases", url_path="cases")],
    "Tools": [st.Page("screens/saved_queries.py", title="Saved queries",
                      url_path="saved-queries")],
}

st.navigation(PAGES).run()
