"""A case as one self-contained HTML file: what was decided, on what evidence, by whom.

:func:`case_report` reads the case, its audit trail and what it is about (the
cluster's or merchant's scores in the current run, the network), and
:func:`render` writes the page. Everything is inside the one file: the network
picture is ``ui/network.network_html`` (vis-network inlined) in an ``<iframe
srcdoc>``, the styles are inline, and the two Bootstrap links pyvis adds for menus
the picture does not use are taken out, so the file opens offline and the same years
later. Every value from the graph or a user (names, notes) is HTML-escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from guanxi.graph.cases import Case, CaseEvent, case_events, get_case
from guanxi.graph.connection import Graph
from guanxi.graph.scores import NoScores, current_run, format_factors
from guanxi.ui import views
from guanxi.ui.ego import ego_network
from guanxi.ui.network import FAMILY_COLOURS, network_html

__all__ = ["Evidence", "case_report", "cluster_picture", "render", "report_name"]

# pyvis links Bootstrap from a CDN for its filter and select menus (off here).
_CDN = re.compile(r'<(?:link|script)\b[^>]*(?:href|src)="https?://[^"]*bootstrap[^"]*"[^>]*>'
                  r'(?:\s*</script>)?')


@dataclass
class Evidence:
    """What the report shows about the case's subject, as read when it is made."""

    run: str | None
    """The scoring run the scores come from (None: the graph holds no scores)."""
    scores: dict[str, Any]
    """Label -> value: collusion score, group PD, credit score, ring score, ..."""
    factors: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    """The top links behind a cluster's score (``source``, ``target``, ``type``, ...)."""
    members: pd.DataFrame = field(default_factory=pd.DataFrame)
    network: str | None = None
    """The pyvis page of the network, or None when there is nothing to draw."""


def report_name(case: Case) -> str:
    """The report's file name.

    >>> from datetime import UTC
    >>> t = datetime(2026, 11, 30, tzinfo=UTC)
    >>> report_name(Case("CASE-1A", "open", "", "cluster", "C1", None, "a", t, t))
    'case-CASE-1A.html'
    """
    return f"case-{case.id}.html"


def cluster_picture(members: pd.DataFrame, links: pd.DataFrame
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Nodes and edges of a cluster's network for ``network_html``, from
    ``views.node_details`` (members) and ``views.member_links`` (links)."""
    nodes = [{"id": r.id, "kind": "Merchant", "label": r.name or r.id, "score": r.ring_score,
              "volume": r.volume, "title": f"{r.id} {r.name or ''} · ring score "
                                           f"{_number(r.ring_score)} · PD {_number(r.pd)}"}
             for r in members.itertuples()]
    edges = [{"source": r.source, "target": r.target, "type": r.type, "weight": r.weight,
              "title": f"{r.type} ({r.count:,})"} for r in links.itertuples()]
    return nodes, edges


def case_report(graph: Graph, case_id: str, *, made_by: str, made_at: datetime) -> str:
    """The report of case ``case_id`` as an HTML document (``made_by``, ``made_at``:
    who exported it, when; printed in its footer)."""
    case = get_case(graph, case_id)
    return render(case, case_events(graph, case_id), _evidence(graph, case),
                  made_by=made_by, made_at=made_at)


def _evidence(graph: Graph, case: Case) -> Evidence:
    try:
        run = current_run(graph).run
    except NoScores:
        run = None
    if case.about_kind == "merchant":
        m = views.merchant(graph, run or "", case.about_id) or {}
        scores = {"Ring score": m.get("ring_score"), "PD": m.get("pd"),
                  "Credit score": m.get("credit_score"), "Cluster": m.get("cluster_id"),
                  "Name": m.get("name"), "City": m.get("city"), "Category": m.get("category")}
        ego = ego_network(graph, run or "", case.about_id, hops=1)
        network = network_html(*ego.picture(), height=520) if ego else None
        return Evidence(run, scores, network=network)
    score = views.cluster_score(graph, run, case.about_id) if run else None
    # The members a decision labelled; before a decision, those the cluster has now.
    ids = list(case.members or (score or {}).get("members") or [])
    members = views.node_details(graph, run or "", ids) if ids else pd.DataFrame()
    if not score:
        return Evidence(run, {"Scores": "not in the current scoring run"}, members=members,
                        network=_cluster_network(graph, members, ids, []))
    scores = {"Collusion score": score["collusion_score"], "Group PD": score["group_pd"],
              "Credit score": score["credit_score"], "Members": score["size"],
              "Key members": ", ".join(score["key_members"]),
              "Since the last run": score.get("event")}
    return Evidence(run, scores, score["top_factors"], score["top_links"], members,
                    _cluster_network(graph, members, ids, score["top_links"]))


def _cluster_network(graph: Graph, members: pd.DataFrame, ids: list[str],
                     top: Sequence[dict[str, Any]]) -> str | None:
    if members.empty:
        return None
    nodes, edges = cluster_picture(members, views.member_links(graph, ids))
    return network_html(nodes, edges, height=520,
                        highlight=[(t["source"], t["target"], t["type"]) for t in top])


def render(case: Case, events: Sequence[CaseEvent], evidence: Evidence, *, made_by: str,
           made_at: datetime) -> str:
    """The report as one HTML document; nothing in it is fetched from elsewhere."""
    e = html.escape
    decided = [("Decision", case.status.replace("_", " ")),
               ("Decided by", case.decided_by), ("Decided at", _time(case.decided_at)),
               ("Note", case.decision_note)] if case.decided else \
        [("Decision", f"none yet (status: {case.status.replace('_', ' ')})")]
    facts = [("Case", case.id), ("Title", case.title),
             ("About", f"{case.about_kind} {case.about_id}"), *decided,
             ("Assignee", case.assignee), ("Opened by", case.opened_by),
             ("Opened at", _time(case.opened_at)),
             ("Members labelled", ", ".join(case.members) if case.members else None)]
    parts = [f"<h1>Case {e(case.id)}: {e(case.title)}</h1>", _table_of(facts)]
    parts.append(f"<h2>Scores</h2><p class=small>Scoring run: {e(evidence.run or 'none')}</p>")
    parts.append(_table_of(list(evidence.scores.items())))
    if evidence.factors:
        parts.append("<h2>Top factors</h2>"
                     + _frame_html(pd.DataFrame(evidence.factors))
                     + f"<p class=small>{e(format_factors(evidence.factors))}</p>")
    if evidence.links:
        parts.append("<h2>Top links behind the score</h2>" + _frame_html(
            pd.DataFrame(evidence.links)))
    if evidence.network:
        legend = " · ".join(f"<span style='color:{c}'>■</span> {e(family)}"
                            for family, c in FAMILY_COLOURS.items())
        parts.append(f"<h2>Network</h2><p class=small>{legend} · node colour: score (green "
                     "low, red high), size: volume · thick red: the top links</p>"
                     f"<iframe title=network srcdoc=\"{e(_offline(evidence.network))}\">"
                     "</iframe>")
    if not evidence.members.empty:
        parts.append("<h2>Members</h2>" + _frame_html(evidence.members))
    rows = [[_time(ev.at), ev.user, ev.action, ev.from_, ev.to, ev.note] for ev in events]
    parts.append("<h2>Audit trail</h2>" + _frame_html(pd.DataFrame(
        rows, columns=["when (UTC)", "who", "what", "from", "to", "note"])))
    parts.append(f"<p class=small>Exported by {e(made_by)} at {e(_time(made_at))} from "
                 f"guanxi.</p>")
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>Case {e(case.id)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


_STYLE = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",system-ui,sans-serif;margin:2em;
color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}.small{color:#666;font-size:.9em}
iframe{width:100%;height:560px;border:1px solid #ccc}
"""


def _offline(page: str) -> str:
    return _CDN.sub("", page)


def _table_of(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_cell(v))}</td></tr>"
                   for k, v in pairs if v is not None and v != "")
    return f"<table>{rows}</table>"


def _frame_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, datetime):
        return _time(value)
    return str(value)


def _number(value: Any) -> str:
    return "–" if value is None or value != value else f"{float(value):.4g}"


def _time(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"
