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
from urllib.parse import urlsplit, urlunsplit

import neo4j
import pandas as pd
import streamlit as st

from guanxi.errors import GuanxiError, ServerError
from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.scores import NoScores, ScoringRun, current_run
from guanxi.graph.settings import Settings, resolve
from guanxi.ui import views
from guanxi.ui.network import network_html

__all__ = ["USER_HEADER_ENV", "cluster_table_of", "current_user", "fmt_pd", "fmt_score", "md",
           "page_param", "picture", "public_uri", "require_graph", "require_run",
           "score_histogram_of", "unreachable_message"]

USER_HEADER_ENV = "GUANXI_UI_USER_HEADER"
"""Names the request header (set by an SSO proxy) that holds the user's name."""


def public_uri(uri: str) -> str:
    """``uri`` without a user name or password (``bolt://u:p@h:7687`` -> ``bolt://h:7687``).

    >>> public_uri("neo4j+s://neo4j:secret@db.example.com:7687")
    'neo4j+s://db.example.com:7687'
    """
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#!|<>~$])")


def md(text: object) -> str:
    """``text`` (a URL parameter, a name, a case title: anything a user or a file
    wrote) as Markdown that shows it as typed: the marks that make links, images,
    headings, emphasis, HTML, maths and ``:red[...]`` escaped; on one line.

    >>> print(md("![x](http://e.example) :red[hi] C-1.2"))
    \\!\\[x\\]\\(http://e.example\\) :red\\[hi\\] C-1.2
    """
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


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

    The banner never shows the URI as given (it may hold a user and password) nor an
    error's text that quotes it: only the URI without them, and what failed."""
    where = public_uri(os.environ.get("NEO4J_URI") or "") or "the local server"
    try:
        settings = resolve()
        where = public_uri(settings.uri)
        graph = _open((settings.uri, settings.user, settings.database), settings)
        graph.verify()
    except (GuanxiError, ValueError, neo4j.exceptions.Neo4jError,
            neo4j.exceptions.DriverError) as exc:
        reason = _reason(exc)
        st.error(unreachable_message(where) + (f" ({reason})" if reason else ""))
        st.stop()
    return graph


def _reason(exc: Exception) -> str:
    """What failed besides the server not answering (empty then), without the text of
    the error: it may quote a URI with its password."""
    if isinstance(exc, ServerError) and " refused user " in exc.message:
        return "the user name or password was refused: check NEO4J_USERNAME and NEO4J_PASSWORD"
    if isinstance(exc, ServerError):
        return ""
    return f"{type(exc).__name__}: check NEO4J_URI and NEO4J_DATABASE"


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


@st.cache_data(show_spinner=False, max_entries=8)
def score_histogram_of(uri: str, run: str, field: str, _graph: Graph) -> pd.DataFrame:
    """:func:`views.score_histogram` of run ``run``, read once per run and server."""
    return views.score_histogram(_graph, run, field)


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
