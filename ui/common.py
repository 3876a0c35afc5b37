"""What every page shares: the one Graph of the app process, the banner when Neo4j is not
there, the name of the person using the app, and small formatting helpers.

Pages call :func:`require_graph` first; it returns the cached :class:`Graph` or draws a
banner that says how to start Neo4j and stops the page (no stack trace). Settings come
from ``graph/settings.resolve`` (``NEO4J_URI`` and friends, else the local server in
``GUANXI_DATA_DIR``); the password stays in this process: only the URI, without any
user name or password in it, is ever written to a page.
"""

from __future__ import annotations

import getpass
import math
import os
import re
from typing import Any

import neo4j
import pandas as pd
import streamlit as st

from guanxi.errors import GuanxiError, ServerError
from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.scores import NoScores, ScoringRun, current_run
from guanxi.graph.settings import Settings, public_uri, resolve
from guanxi.queries import load
from guanxi.ui import views
from guanxi.ui.network import network_html

__all__ = ["USER_HEADER_ENV", "cluster_table_of", "current_user", "fmt_pd", "fmt_score", "md",
           "page_param", "picture", "require_graph", "require_run",
           "score_histograms_of", "unreachable_message"]

USER_HEADER_ENV = "GUANXI_UI_USER_HEADER"
"""Names the request header (set by an SSO proxy) that holds the user's name."""


_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
"""Every ASCII punctuation mark: Markdown shows each as itself when escaped, and with
all escaped nothing is markup (links, images, emphasis, HTML, maths, ``&amp;``
entities, ``:red[...]``)."""

_AUTOLINK = re.compile(r"(://|(?<![^\W_])www(?=\.)|@)", re.IGNORECASE)
"""Where Streamlit's Markdown makes a bare URL, ``www.`` address or e-mail address a
link, whatever is escaped: a word joiner (U+2060, invisible) after each stops it."""


def md(text: object) -> str:
    """``text`` (a URL parameter, a name, a case title: anything a user or a file
    wrote) as Markdown that shows it as typed, on one line: every punctuation mark
    escaped (:data:`_PUNCTUATION`).

    >>> print(md("![x](e.example) 张记 & C-1"))
    \\!\\[x\\]\\(e\\.example\\) 张记 \\& C\\-1
    >>> md("www.e.example").startswith("www" + chr(0x2060))  # no link: an invisible mark
    True
    """
    plain = _AUTOLINK.sub("\\1\u2060", " ".join(str(text).split()))
    return _PUNCTUATION.sub(r"\\\1", plain)


def unreachable_message(where: str) -> str:
    """The banner's text when no Neo4j answers at ``where``."""
    return (f"Neo4j is not reachable at {where}: start it with `guanxi db start`, "
            f"or set NEO4J_URI")


@st.cache_resource(show_spinner=False)
def _open(key: tuple[str, str, str], _settings: Settings) -> Graph:
    # Keyed by (uri, user, database): a test or an operator who points the app at
    # another server gets another Graph. The driver itself is process-wide (connect).
    return open_graph(_settings)


def require_graph() -> Graph:
    """The app's Graph, checked to answer; otherwise a banner and ``st.stop()``.

    The banner never shows a password: settings refuse a URI with a user or password
    in it (saying so without them), and other errors name the URI without them. A
    server that answers without the database (``NEO4J_DATABASE``) gets its own line."""
    where = "the local server"
    try:
        where = public_uri(os.environ.get("NEO4J_URI") or "") or where
        settings = resolve()
        where = public_uri(settings.uri)
        graph = _open((settings.uri, settings.user, settings.database), settings)
        graph.verify()
        graph.read(load("server_version"))  # in the database the app reads: it exists
    except GuanxiError as exc:
        if isinstance(exc, ServerError) and exc.message.startswith(("cannot reach",
                                                                    "no local Neo4j")):
            st.error(unreachable_message(where))
        elif isinstance(exc, ServerError) and " refused user " in exc.message:
            st.error(unreachable_message(where) + " (the user name or password was refused: "
                     "check NEO4J_USERNAME and NEO4J_PASSWORD)")
        else:
            st.error(f"Neo4j at {where} cannot be used: {exc.one_line()}")
        st.stop()
    except (ValueError, neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError) as exc:
        st.error(unreachable_message(where) + f" ({type(exc).__name__}: check NEO4J_URI "
                 "and NEO4J_DATABASE)")
        st.stop()
    return graph


def require_run(graph: Graph) -> ScoringRun:
    """The current scoring run; otherwise a note saying how to score, and ``st.stop()``."""
    try:
        return current_run(graph)
    except NoScores as exc:
        st.info(exc.one_line())
        st.stop()


def current_user() -> str:
    """Who is using the app: the OS user running it, or, when ``GUANXI_UI_USER_HEADER``
    names a header, that request header's value (set by the SSO proxy in front of the
    app). Without that header the page stops: an anonymous request must not write an
    audit trail."""
    header = os.environ.get(USER_HEADER_ENV, "").strip()
    if not header:
        return getpass.getuser()
    value = (st.context.headers.get(header) or "").strip()
    if not value:
        st.error(f"the request has no {header} header, which {USER_HEADER_ENV} names: "
                 f"open the app through the sign-in proxy")
        st.stop()
    return value


def fmt_score(value: Any, digits: int = 3) -> str:
    """A probability-like score for a label; an en dash when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def fmt_pd(value: Any) -> str:
    """A probability of default as a percentage; an en dash when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * float(value):.1f}%"


@st.cache_data(show_spinner=False, max_entries=4)
def cluster_table_of(uri: str, run: str, _graph: Graph) -> pd.DataFrame:
    """:func:`views.cluster_table` of run ``run``, read once per run and server (a new
    run has a new id, so a refresh is seen at the next page load)."""
    return views.cluster_table(_graph, run)


@st.cache_data(show_spinner=False, max_entries=4)
def score_histograms_of(uri: str, run: str, _graph: Graph) -> dict[str, pd.DataFrame]:
    """:func:`views.score_histograms` of run ``run``, read once per run and server."""
    return views.score_histograms(_graph, run)


def page_param(name: str) -> str | None:
    """Query parameter ``name`` of the page's URL (``?cluster=...``), or None."""
    value = st.query_params.get(name)
    return value.strip() or None if isinstance(value, str) else None


@st.cache_data(show_spinner=False, max_entries=32)
def picture(nodes: list[dict], edges: list[dict],
            highlight: tuple[tuple[str, str, str], ...] = ()) -> str:
    """:func:`network.network_html`, kept for the same picture: its layout is most of a
    page's time, and a rerun that changes another widget draws the same network."""
    return network_html(nodes, edges, highlight=highlight)
