"""The manifest of a run: parameters, exact row and entity counts, rings, outcomes.

A loader must reproduce ``rows`` and ``entities`` exactly (the ingest acceptance
test compares Neo4j counts with them), so every count is taken from what was
written: identifier counts from the merchants table's text, pair counts from the
event codes (codes map one-to-one to id text).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from guanxi.ingest.kinds import KINDS
from guanxi.ingest.synth.calendar import (
    DATA_DAYS,
    DATA_START,
    HORIZON_DAYS,
    HORIZON_START,
    PROMOTIONS,
)
from guanxi.ingest.synth.events import Payments, Shipments, Supply
from guanxi.ingest.synth.params import GENERATOR_VERSION, TYPOLOGIES, SynthParams

__all__ = ["MANIFEST", "entities", "manifest", "write_manifest"]

MANIFEST = "manifest.json"
_IDENTIFIERS = {"persons": "owner_id", "phones": "phone", "devices": "device_id",
                "bank_accounts": "bank_account", "addresses": "address",
                "service_providers": "agent_id"}


def _distinct_pairs(a: np.ndarray, b: np.ndarray, base: int) -> int:
    if len(a) == 0:
        return 0
    key = np.sort(a.astype(np.int64) * base + b)
    return int(1 + np.count_nonzero(key[1:] != key[:-1]))


def entities(merchants: pa.Table, payments: Payments, supply: Supply, shipments: Shipments,
             n_merchants: int, n_consumers: int) -> dict[str, Any]:
    """Exact distinct counts of every node kind and relationship pair a loader creates.

    ``consumers`` are distinct payer ids that are not merchant ids; identifier kinds
    count distinct non-empty values of their merchants column; ``pairs`` count
    distinct (payer, payee), (merchant payer, payee), (supplier, buyer) and
    (shipper, receiver).
    """
    seen = np.zeros(n_consumers, bool)
    consumer = payments.payer[payments.payer >= n_merchants] - n_merchants
    seen[consumer] = True
    counts: dict[str, Any] = {"merchants": merchants.num_rows, "consumers": int(seen.sum())}
    for name, column in _IDENTIFIERS.items():
        counts[name] = int(pc.count_distinct(merchants[column], mode="only_valid").as_py())
    m2m = payments.payer < n_merchants
    base = n_merchants + n_consumers
    counts["pairs"] = {
        "payments": _distinct_pairs(payments.payer, payments.payee, base),
        "merchant_payments": _distinct_pairs(payments.payer[m2m], payments.payee[m2m], base),
        "supply": _distinct_pairs(supply.supplier, supply.buyer, base),
        "shipments": _distinct_pairs(shipments.shipper, shipments.receiver, base),
    }
    return counts


def manifest(params: SynthParams, rows: dict[str, int], truth_rows: dict[str, int],
             ring_sizes: dict[str, list[int]], ents: dict[str, Any], credit: dict[str, Any],
             labels: dict[str, int]) -> dict[str, Any]:
    """The manifest object (no wall-clock fields: same parameters, same bytes)."""
    fmt = params.fmt
    end = DATA_START + timedelta(days=DATA_DAYS - 1)
    horizon_end = HORIZON_START + timedelta(days=HORIZON_DAYS - 1)
    return {
        "generator": "guanxi synth",
        "generator_version": GENERATOR_VERSION,
        "seed": params.seed,
        "parameters": params.as_dict(),
        "calendar": {
            "data_start": DATA_START.isoformat(), "data_end": end.isoformat(),
            "horizon_start": HORIZON_START.isoformat(), "horizon_end": horizon_end.isoformat(),
            "promotions": [{"name": name,
                            "start": (DATA_START + timedelta(days=a)).isoformat(),
                            "end": (DATA_START + timedelta(days=b)).isoformat()}
                           for name, a, b in PROMOTIONS],
        },
        "files": {**{k: f"{k}.{fmt}" for k in KINDS},
                  "truth_rings": "truth/rings.csv", "truth_merchants": "truth/merchants.csv"},
        "rows": {k: rows[k] for k in KINDS},
        "truth_rows": truth_rows,
        "rings": {t: len(ring_sizes[t]) for t in TYPOLOGIES},
        "ring_members": {t: int(sum(ring_sizes[t])) for t in TYPOLOGIES},
        "entities": ents,
        "labels": labels,
        "credit": credit,
    }


def write_manifest(out: Path, data: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (UTF-8, indented, keys in a fixed order)."""
    path = out / MANIFEST
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
