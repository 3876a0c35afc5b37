"""The saved queries users run from the app: which ``queries/`` files, their parameters,
and the checks a form's text must pass before it reaches Neo4j.

The other ``queries/`` files are the tool's own (ingest, the ledger, scoring writes) and
are not offered. A form gives text; :func:`parse` turns each field into the value its
parameter needs or says, in one line, what is wrong with it. A query whose rows have
``nodes`` and ``links`` columns returns paths, which the page also draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from guanxi.graph.connection import Graph
from guanxi.queries import load
from guanxi.ui.ego import EGO_TYPES

__all__ = ["SAVED", "Param", "SavedQuery", "parse", "run_saved"]


@dataclass(frozen=True)
class Param:
    """One parameter: its name in the query, a label, its kind (``text``, ``int``,
    ``float``, ``types``: relationship types, comma-separated), bounds, a default."""

    name: str
    label: str
    kind: str = "text"
    default: str = ""
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class SavedQuery:
    name: str
    title: str
    about: str
    params: tuple[Param, ...]
    fixed: tuple[tuple[str, Any], ...] = ()
    """Parameters the form does not ask for."""


_LIMIT = Param("limit", "Rows at most", "int", "50", 1, 10_000)

SAVED: dict[str, SavedQuery] = {q.name: q for q in (
    SavedQuery("ui_riskiest_merchants", "Riskiest merchants",
               "The current run's merchants by ring score, highest first.",
               (Param("min_score", "Ring score at least (0-1)", "float", "0.5", 0, 1), _LIMIT)),
    SavedQuery("ui_shared_identifiers", "Who shares an identifier with a merchant",
               "Merchants with the same phone, device, account, address, owner or agent.",
               (Param("id", "Merchant id"), _LIMIT)),
    SavedQuery("ui_shortest_paths", "How are two merchants connected",
               "Shortest paths of at most 6 steps (drawn as a graph).",
               (Param("a", "First merchant id"), Param("b", "Second merchant id"),
                Param("types", "Link types (comma-separated)", "types",
                      ", ".join(t for t in EGO_TYPES if t != "ONBOARDED_BY")),
                Param("limit", "Paths at most", "int", "10", 1, 100))),
    SavedQuery("scores_cluster_history", "A cluster's history",
               "Its scores and members in every scoring run.",
               (Param("cluster", "Cluster id"),)),
    SavedQuery("ui_weekly_flows", "A merchant's weekly flows",
               "Payments, supply and shipments per week.",
               (Param("ids", "Merchant ids (comma-separated)", "list"),)),
)}


def parse(query: SavedQuery, form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The parameters of ``query`` from ``form`` (field name -> text), and the problems
    found, one line each (empty when every field is usable)."""
    values: dict[str, Any] = dict(query.fixed)
    problems = []
    for p in query.params:
        text = str(form.get(p.name, p.default)).strip()
        try:
            values[p.name] = _value(p, text)
        except ValueError as exc:
            problems.append(f"{p.label}: {exc}")
    return values, problems


def _value(p: Param, text: str) -> Any:
    if not text:
        raise ValueError("required")
    if p.kind in ("int", "float"):
        try:
            number = int(text) if p.kind == "int" else float(text)
        except ValueError:
            what = "a whole number" if p.kind == "int" else "a number"
            raise ValueError(f"{text!r} is not {what}") from None
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        if (p.low is not None and number < p.low) or (p.high is not None and number > p.high):
            raise ValueError(f"{text} is out of range: give {p.low:g} to {p.high:g}")
        return number
    if p.kind in ("list", "types"):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if p.kind == "types":
            unknown = [t for t in items if t not in EGO_TYPES]
            if unknown:
                raise ValueError(f"unknown type {unknown[0]!r}: use some of "
                                 f"{', '.join(EGO_TYPES)}")
        if not items:
            raise ValueError("required")
        return items
    return text


def run_saved(graph: Graph, query: SavedQuery, values: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``query`` run with ``values``, as a frame (columns in query order)."""
    rows = graph.read(load(query.name), **values)
    # Neo4j's dates and times as Python's, which a table (Arrow) can hold.
    return pd.DataFrame([{k: v.to_native() if hasattr(v, "to_native") else v
                          for k, v in row.items()} for row in rows])
