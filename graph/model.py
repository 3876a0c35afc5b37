"""The graph model: every node label and every relationship, described once.

Ingest, the schema, the export to PyTorch Geometric and the app's type filters read
these tables instead of spelling labels, types and properties themselves. One
vocabulary throughout: a relationship goes from its **source** to its **target**; the
input *kind* (``payments``) and its *columns* (``payer_id``, ``payee_id``) are the names
of the files; the *type* (``PAID``) is the name in Neo4j.

A :class:`Relation` is one (source label, type, target label) triple, which is also
a PyG ``HeteroData`` edge type; ``PAID`` has two (from a ``Consumer``, from a
``Merchant``) and ``USES`` four (to a ``Phone``, ``Device``, ``BankAccount``,
``Address``).

>>> [r.key for r in relations_of_kind("supply")]
[('Merchant', 'SUPPLIES', 'Merchant')]
>>> relation("Consumer", "PAID", "Merchant").columns
('payer_id', 'payee_id')
>>> [a.name for a in relation("Merchant", "SHIPPED_TO", "Merchant").aggregates]
['count', 'weight_kg', 'first_ts', 'last_ts']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["NodeLabel", "Aggregate", "Relation", "WeeklyFlow", "NODES", "RELATIONS",
           "WEEKLY_FLOWS", "LEDGER_LABELS", "JOB_LABELS", "node_labels", "relation",
           "relations_of_kind", "relation_types", "week_property_names"]


@dataclass(frozen=True)
class NodeLabel:
    """A node label: where its ids come from, and what it is for."""

    label: str
    kind: str | None
    """Input kind whose rows create it (None: created by scoring or the app)."""
    column: str | None
    """Column of that kind holding the node's ``id``."""
    about: str


@dataclass(frozen=True)
class Aggregate:
    """One property of an aggregated relationship: how a pair's rows combine into it.

    ``of`` names a column of the validated rows (``amount``, ``ts_ms``) or a derived
    one (``amount_sq``, ``round``, ``night``: see ``ingest/batches.py``); ``count``
    counts rows. Sums and counts add, ``min``/``max`` keep the extreme, so a pair's
    totals are the same however its rows are split into batches and files.
    """

    name: str
    op: Literal["count", "sum", "min", "max"]
    of: str | None = None
    dtype: Literal["int", "float", "datetime"] = "float"


@dataclass(frozen=True)
class Relation:
    """One relationship triple and the input it comes from."""

    source: str
    type: str
    target: str
    kind: str | None
    """Input kind whose rows create it (None: created by scoring or the app)."""
    columns: tuple[str, str] | None
    """(source column, target column) of that kind."""
    family: Literal["flow", "identifier", "membership"]
    """``flow``: money or goods, aggregated per pair; ``identifier``: a shared phone,
    device, account, address, owner or agent; ``membership``: clusters and cases."""
    aggregates: tuple[Aggregate, ...] = ()
    about: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """The PyG edge type ``(source, type, target)``."""
        return (self.source, self.type, self.target)


@dataclass(frozen=True)
class WeeklyFlow:
    """One side of a flow relation, summed per merchant and week (``MerchantWeek``).

    ``side`` says which end the merchant is: ``target`` (paid, bought, received) or
    ``source`` (paid out, sold, shipped). Properties: ``<name>_count``, ``<name>_amount``.
    """

    name: str
    type: str
    side: Literal["source", "target"]
    amount: str
    """Column summed as the amount (shipments have no amount: their weight)."""


_TS = (Aggregate("first_ts", "min", "ts_ms", "datetime"),
       Aggregate("last_ts", "max", "ts_ms", "datetime"))
_PAID = (Aggregate("count", "count", None, "int"), Aggregate("amount", "sum", "amount"),
         Aggregate("amount_sq", "sum", "amount_sq"), Aggregate("amount_max", "max", "amount"),
         Aggregate("round_count", "sum", "round", "int"),
         Aggregate("night_count", "sum", "night", "int"), *_TS)
_SUPPLIES = (Aggregate("count", "count", None, "int"), Aggregate("amount", "sum", "amount"),
             Aggregate("amount_max", "max", "amount"),
             Aggregate("round_count", "sum", "round", "int"), *_TS)
_SHIPPED = (Aggregate("count", "count", None, "int"), Aggregate("weight_kg", "sum", "weight_kg"),
            *_TS)

NODES: tuple[NodeLabel, ...] = (
    NodeLabel("Merchant", "merchants", "merchant_id", "a shop or business that takes payments"),
    NodeLabel("Consumer", "payments", "payer_id", "a payer whose id is not a merchant's"),
    NodeLabel("Phone", "merchants", "phone", "a phone number merchants registered with"),
    NodeLabel("Device", "merchants", "device_id", "a payment terminal or phone device"),
    NodeLabel("BankAccount", "merchants", "bank_account", "a settlement account"),
    NodeLabel("Address", "merchants", "address", "a registered address"),
    NodeLabel("Person", "merchants", "owner_id", "the merchant's owner"),
    NodeLabel("ServiceProvider", "merchants", "agent_id", "the onboarding agent or ISV"),
    NodeLabel("MerchantWeek", None, None,
              "one merchant's flows in one week (id: '<merchant id>|<Monday>')"),
    NodeLabel("Cluster", None, None,
              "a group of merchants found by scoring; its id persists across runs"),
    NodeLabel("ScoreRun", None, None,
              "one scoring run: state, model version, time; readers read the current one"),
    NodeLabel("MerchantScore", None, None,
              "a merchant's scores and embedding in one run (id: '<run>|<merchant id>')"),
    NodeLabel("ClusterScore", None, None,
              "a cluster's scores and membership changes in one run (id: '<run>|<cluster id>')"),
    NodeLabel("Case", None, None, "an investigation opened in the app"),
    NodeLabel("CaseEvent", None, None,
              "one entry of a case's audit trail (id: '<case id>|<random>'), never changed"),
)

LEDGER_LABELS: tuple[str, ...] = ("IngestFile", "IngestBatch")
"""Bookkeeping of ``guanxi ingest`` (``graph/ledger.py``), not part of the model."""

JOB_LABELS: tuple[str, ...] = ("JobLock",)
"""Bookkeeping of batch jobs (``graph/lock.py``: one writer of scores at a time), not
part of the model."""

_IDENTIFIERS = (("USES", "phone", "Phone"), ("USES", "device_id", "Device"),
                ("USES", "bank_account", "BankAccount"), ("USES", "address", "Address"),
                ("OWNED_BY", "owner_id", "Person"), ("ONBOARDED_BY", "agent_id", "ServiceProvider"))

RELATIONS: tuple[Relation, ...] = (
    Relation("Consumer", "PAID", "Merchant", "payments", ("payer_id", "payee_id"), "flow",
             _PAID, "payments from a consumer, one relationship per (payer, payee)"),
    Relation("Merchant", "PAID", "Merchant", "payments", ("payer_id", "payee_id"), "flow",
             _PAID, "payments between merchants, one relationship per (payer, payee)"),
    Relation("Merchant", "SUPPLIES", "Merchant", "supply", ("supplier_id", "buyer_id"), "flow",
             _SUPPLIES, "invoices and purchase orders, one per (supplier, buyer)"),
    Relation("Merchant", "SHIPPED_TO", "Merchant", "shipments", ("shipper_id", "receiver_id"),
             "flow", _SHIPPED, "shipments, one per (shipper, receiver)"),
    *(Relation("Merchant", rtype, label, "merchants", ("merchant_id", column), "identifier",
               about=f"the merchant's {column}") for rtype, column, label in _IDENTIFIERS),
    Relation("Merchant", "IN_CLUSTER", "Cluster", None, None, "membership",
             about="cluster membership in one scoring run (its ``run`` property)"),
    Relation("Case", "ABOUT", "Cluster", None, None, "membership", about="a case on a cluster"),
    Relation("Case", "ABOUT", "Merchant", None, None, "membership", about="a case on a merchant"),
    Relation("Case", "LOGGED", "CaseEvent", None, None, "membership",
             about="an entry of the case's audit trail"),
)

WEEKLY_FLOWS: tuple[WeeklyFlow, ...] = (
    WeeklyFlow("paid_in", "PAID", "target", "amount"),
    WeeklyFlow("paid_out", "PAID", "source", "amount"),
    WeeklyFlow("bought", "SUPPLIES", "target", "amount"),
    WeeklyFlow("sold", "SUPPLIES", "source", "amount"),
    WeeklyFlow("received", "SHIPPED_TO", "target", "weight_kg"),
    WeeklyFlow("shipped", "SHIPPED_TO", "source", "weight_kg"),
)


def node_labels() -> tuple[str, ...]:
    """Every node label of the model (each has a unique ``id``)."""
    return tuple(n.label for n in NODES)


def relation_types(family: str | None = None) -> tuple[str, ...]:
    """Distinct relationship types, in model order, optionally of one ``family``."""
    return tuple(dict.fromkeys(r.type for r in RELATIONS if family in (None, r.family)))


def relation(source: str, rtype: str, target: str) -> Relation:
    """The relation ``(source, rtype, target)``; ``KeyError`` names the known ones."""
    for r in RELATIONS:
        if r.key == (source, rtype, target):
            return r
    raise KeyError(f"no relation {source}-{rtype}->{target}; known: "
                   + ", ".join("-".join(r.key) for r in RELATIONS))


def relations_of_kind(kind: str) -> tuple[Relation, ...]:
    """The relations that rows of input ``kind`` create."""
    return tuple(r for r in RELATIONS if r.kind == kind)


def week_property_names() -> tuple[str, ...]:
    """The ``MerchantWeek`` properties that hold flows, in model order.

    >>> week_property_names()[:2]
    ('paid_in_count', 'paid_in_amount')
    """
    return tuple(f"{f.name}_{part}" for f in WEEKLY_FLOWS for part in ("count", "amount"))
