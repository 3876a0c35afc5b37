"""The input file kinds of DESIGN.md (Inputs): their columns and the order they load in.

Every reader, validator, generator and writer takes column names from here, so a
column is spelled the same in files, DataFrames and Neo4j properties.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Kind", "KINDS", "LOAD_ORDER", "kind"]


@dataclass(frozen=True)
class Kind:
    """One kind of input file.

    ``ids`` are identifier columns (non-empty strings), ``amounts`` positive finite
    numbers, ``timestamps`` ISO 8601 dates or date-times, ``dates`` plain dates.
    """

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    amounts: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "merchants",
            required=("merchant_id",),
            optional=("name", "category", "city", "district", "registered_on", "owner_id",
                      "phone", "device_id", "bank_account", "address", "agent_id"),
            ids=("merchant_id",),
            dates=("registered_on",),
        ),
        Kind(
            "payments",
            required=("payer_id", "payee_id", "amount", "ts"),
            optional=("channel", "payment_id"),
            ids=("payer_id", "payee_id"),
            amounts=("amount",),
            timestamps=("ts",),
        ),
        Kind(
            "supply",
            required=("supplier_id", "buyer_id", "amount", "ts"),
            optional=("invoice_id",),
            ids=("supplier_id", "buyer_id"),
            amounts=("amount",),
            timestamps=("ts",),
        ),
        Kind(
            "shipments",
            required=("shipper_id", "receiver_id", "ts"),
            optional=("shipment_id", "weight_kg", "carrier"),
            ids=("shipper_id", "receiver_id"),
            timestamps=("ts",),
        ),
        Kind(
            "labels",
            required=("merchant_id", "label"),
            optional=("ts", "source"),
            ids=("merchant_id",),
            timestamps=("ts",),
        ),
        Kind(
            "defaults",
            required=("merchant_id", "defaulted"),
            optional=("observed_on",),
            ids=("merchant_id",),
            dates=("observed_on",),
        ),
    )
}

LOAD_ORDER: tuple[str, ...] = tuple(KINDS)
"""Merchants first, so later kinds can tell merchant ids from consumer ids."""


def kind(name: str) -> Kind:
    """Return the kind called ``name``; a ``ValueError`` lists the known kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown file kind {name!r}; known kinds: {', '.join(KINDS)}") from None
