"""Cases: investigators' work on a cluster or a merchant, kept in Neo4j with its audit trail.

A ``(:Case)-[:ABOUT]->(:Cluster|:Merchant)`` moves through four statuses::

    open -> in_progress -> confirmed_fraud | cleared
                 ^                 |
                 +---- reopen -----+

A decision (``confirmed_fraud``, ``cleared``: the values of ``gnn/labels.py``) needs a
note, and a case on a cluster records the cluster's members at that moment
(``members``): the next ``guanxi train`` reads decided cases as labels
(``queries/case_decisions.cypher``). Every change appends a ``(:CaseEvent)`` to the
case's audit trail (``(:Case)-[:LOGGED]->``): who, what, when, from what to what, why.
Entries are never changed or removed.

Two users at once: a change says which status it expects the case to be in. Its
transaction first writes the case (taking the node's lock), then reads the status, so
of two concurrent changes the second waits for the first and then finds the case
moved: :class:`CaseMoved`, "the case moved to cleared meanwhile".

Retries: the ids of a new case and of each entry are made here, once per call, so a
managed transaction that runs again after a commit it did not hear about finds its own
entry and changes nothing more.

>>> allowed_moves("in_progress")
('confirmed_fraud', 'cleared')
>>> is_decision("cleared"), is_decision("open")
(True, False)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import neo4j

from guanxi.errors import GuanxiError, InputError
from guanxi.gnn.labels import CLEARED, CONFIRMED
from guanxi.graph.connection import Graph
from guanxi.graph.scores import _native
from guanxi.queries import load

__all__ = ["OPEN", "IN_PROGRESS", "CONFIRMED", "CLEARED", "STATUSES", "DECISIONS", "KINDS",
           "Case", "CaseEvent", "CaseMoved", "allowed_moves", "is_decision", "open_case",
           "assign", "move", "get_case", "list_cases", "case_events"]

OPEN, IN_PROGRESS = "open", "in_progress"
STATUSES: tuple[str, ...] = (OPEN, IN_PROGRESS, CONFIRMED, CLEARED)
DECISIONS: tuple[str, ...] = (CONFIRMED, CLEARED)
KINDS: tuple[str, ...] = ("cluster", "merchant")
Kind = Literal["cluster", "merchant"]

_MOVES: dict[str, tuple[str, ...]] = {
    OPEN: (IN_PROGRESS,),
    IN_PROGRESS: (CONFIRMED, CLEARED),
    # Reopening takes a decision back (a mistake, new evidence): its labels go with it.
    CONFIRMED: (IN_PROGRESS,),
    CLEARED: (IN_PROGRESS,),
}

_TIMEOUT = 30.0
"""Seconds the server lets a change run, waiting for the case's lock included: a user
whose browser or process froze inside one must not hold the case for ever."""

_MAX_TEXT = 4000
"""Longest note or title kept (characters); longer input is refused, not cut."""


class CaseMoved(GuanxiError):
    """Another user changed the case between reading it and this change."""

    exit_code = 75  # try again on the case as it is now


@dataclass(frozen=True)
class Case:
    """One case as stored. Times are aware datetimes in UTC; ``members`` is set by a
    decision on a cluster (the merchant ids it labels), None otherwise."""

    id: str
    status: str
    title: str
    about_kind: str
    about_id: str
    assignee: str | None
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_note: str | None = None
    members: tuple[str, ...] | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Case:
        members = row.get("members")
        return cls(row["id"], row["status"], row.get("title") or "", row["about_kind"],
                   row["about_id"], row.get("assignee"), row["opened_by"],
                   _native(row["opened_at"]), _native(row["updated_at"]),
                   _native(row.get("decided_at")), row.get("decided_by"),
                   row.get("decision_note"), None if members is None else tuple(members))

    @property
    def decided(self) -> bool:
        return self.status in DECISIONS

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "title": self.title,
                "about_kind": self.about_kind, "about_id": self.about_id,
                "assignee": self.assignee, "opened_by": self.opened_by,
                "opened_at": self.opened_at, "updated_at": self.updated_at,
                "decided_at": self.decided_at, "decided_by": self.decided_by,
                "decision_note": self.decision_note,
                "members": None if self.members is None else list(self.members)}


@dataclass(frozen=True)
class CaseEvent:
    """One entry of a case's audit trail: ``action`` is ``opened``, ``assigned``
    (``from``/``to``: assignees) or ``moved`` (``from``/``to``: statuses)."""

    at: datetime
    user: str
    action: str
    from_: str | None
    to: str | None
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "user": self.user, "action": self.action,
                "from": self.from_, "to": self.to, "note": self.note}


def allowed_moves(status: str) -> tuple[str, ...]:
    """The statuses a case in ``status`` may move to."""
    return _MOVES.get(status, ())


def is_decision(status: str) -> bool:
    """Whether ``status`` closes a case with a decision that becomes a training label."""
    return status in DECISIONS


def open_case(graph: Graph, *, kind: Kind, about: str, user: str, title: str | None = None,
              assignee: str | None = None, note: str | None = None) -> Case:
    """Open a case on cluster or merchant ``about`` (``kind``); status ``open``, given
    to ``assignee`` when one is named.

    Raises ``InputError`` for an unknown kind, a cluster or merchant the graph does not
    have, or an empty user.
    """
    if kind not in KINDS:
        raise InputError(f"a case is about a cluster or a merchant, not {kind!r}",
                         "choose cluster or merchant")
    about = _text(about, "cluster or merchant id", required=True)
    user = _text(user, "user", required=True)
    title = _text(title, "title") or f"{kind} {about}"
    case_id = f"CASE-{uuid.uuid4().hex[:10].upper()}"
    assignee = _text(assignee, "assignee")
    rows = graph.write(load("case_open"), id=case_id, event=_event_id(case_id), kind=kind,
                       about=about, title=title, user=user, note=_text(note, "note"))
    if not rows:
        raise InputError(f"the graph has no {kind} {about!r}",
                         "pick one from the app's lists or `guanxi scores export`"
                         if kind == "cluster" else "check the merchant id (search by name)")
    if assignee:  # a second entry, so the trail says who assigned it to whom
        return assign(graph, case_id, assignee, user=user)
    return get_case(graph, case_id)


_ANYONE = object()


def assign(graph: Graph, case_id: str, assignee: str, *, user: str,
           note: str | None = None, expected: str | None | object = _ANYONE) -> Case:
    """Give case ``case_id`` to ``assignee``; a decided case cannot be reassigned.

    With ``expected`` (the assignee the user saw, None for nobody), raises
    :class:`CaseMoved` when someone else reassigned the case meanwhile.
    """
    assignee = _text(assignee, "assignee", required=True)
    user = _text(user, "user", required=True)
    event = _event_id(case_id)

    def work(tx: neo4j.ManagedTransaction) -> None:
        state = _locked_state(tx, case_id, event)
        if state["logged"] or state["assignee"] == assignee:
            return
        if expected is not _ANYONE and state["assignee"] != expected:
            raise CaseMoved(f"case {case_id} was assigned to {state['assignee'] or 'nobody'} "
                            f"meanwhile (expected {expected or 'nobody'})",
                            "look at the case again and assign it if it still needs it")
        if state["status"] in DECISIONS:
            raise InputError(f"case {case_id} is decided ({state['status']}) and can no "
                             "longer be reassigned", "reopen it first")
        tx.run(load("case_assign").text, id=case_id, event=event, user=user,
               to=assignee, note=_text(note, "note"), **{"from": state["assignee"]}).consume()

    graph.transaction(work, "case_assign", timeout=_TIMEOUT)
    return get_case(graph, case_id)


def move(graph: Graph, case_id: str, to: str, *, expected: str, user: str,
         note: str | None = None) -> Case:
    """Move case ``case_id`` from status ``expected`` to ``to``.

    A decision (``confirmed_fraud``, ``cleared``) and a reopening need a ``note``
    (``InputError`` without one); a decision on a cluster records its members.

    Raises ``InputError`` for an unknown status or a move the workflow does not allow,
    :class:`CaseMoved` when the case is no longer in ``expected`` (another user moved
    it first).
    """
    user = _text(user, "user", required=True)
    if to not in STATUSES:
        raise InputError(f"unknown case status {to!r}", f"use one of {', '.join(STATUSES)}")
    if to not in allowed_moves(expected):
        allowed = ", ".join(allowed_moves(expected)) or "nothing"
        raise InputError(f"a case cannot move from {expected} to {to}",
                         f"from {expected} it can move to {allowed}")
    note = _text(note, "note")
    if note is None and (is_decision(to) or is_decision(expected)):
        what = "a decision" if is_decision(to) else "reopening a decided case"
        raise InputError(f"{what} needs a note", "say what was found and why, in the note")
    event = _event_id(case_id)

    def work(tx: neo4j.ManagedTransaction) -> None:
        state = _locked_state(tx, case_id, event)
        if state["logged"]:
            return  # this very change, committed by an earlier attempt
        if state["status"] != expected:
            raise CaseMoved(f"case {case_id} moved to {state['status']} meanwhile "
                            f"(expected {expected})",
                            "look at the case again and decide on what it is now")
        members = None
        if is_decision(to) and state["kind"] == "cluster":
            row = tx.run(load("case_cluster_members").text, cluster=state["about"]).single()
            members = sorted(row["members"]) if row else []
        tx.run(load("case_move").text, id=case_id, event=event, to=to,
               decided=is_decision(to), members=members, user=user, note=note,
               **{"from": expected}).consume()

    graph.transaction(work, "case_move", timeout=_TIMEOUT)
    return get_case(graph, case_id)


def get_case(graph: Graph, case_id: str) -> Case:
    """Case ``case_id``; ``InputError`` when there is none."""
    rows = graph.read(load("case_by_id"), id=case_id)
    if not rows:
        raise InputError(f"no case {case_id!r}", "pick one from the list of cases")
    return Case.of(rows[0]["c"])


def list_cases(graph: Graph, *, statuses: list[str] | None = None, assignee: str | None = None,
               kind: str | None = None, about: str | None = None,
               limit: int = 500) -> list[Case]:
    """Cases, most recently changed first; each filter ``None`` means any."""
    rows = graph.read(load("case_list"), statuses=statuses or None,
                      assignee=_text(assignee, "assignee"), kind=kind,
                      about=_text(about, "id"), limit=int(limit))
    return [Case.of(row["c"]) for row in rows]


def case_events(graph: Graph, case_id: str) -> list[CaseEvent]:
    """The audit trail of case ``case_id``, oldest first."""
    return [CaseEvent(_native(r["at"]), r["user"], r["action"], r["from"], r["to"], r["note"])
            for r in graph.read(load("case_events"), id=case_id)]


def _locked_state(tx: neo4j.ManagedTransaction, case_id: str, event: str) -> dict[str, Any]:
    """The case's status, assignee and subject, read under its write lock."""
    tx.run(load("case_lock").text, id=case_id).consume()
    row = tx.run(load("case_state").text, id=case_id, event=event).single()
    if row is None:
        raise InputError(f"no case {case_id!r}", "pick one from the list of cases")
    return row.data()


def _event_id(case_id: str) -> str:
    return f"{case_id}|{uuid.uuid4().hex[:12]}"


def _text(value: str | None, what: str, *, required: bool = False) -> str | None:
    """``value`` stripped; None when blank, unless ``required`` (then ``InputError``).

    >>> _text("  老王面馆 ", "title")
    '老王面馆'
    >>> _text(" ", "note") is None
    True
    """
    text = (value or "").strip()
    if not text:
        if required:
            raise InputError(f"the {what} is empty", f"give a {what}")
        return None
    if len(text) > _MAX_TEXT:
        raise InputError(f"the {what} is {len(text)} characters long",
                         f"keep it under {_MAX_TEXT}")
    return text

