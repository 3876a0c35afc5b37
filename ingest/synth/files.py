"""The files of one run, one function per kind, columns exactly as in ``ingest/kinds.py``.

Merchants, defaults and the truth files are sorted by merchant id (random, so a
file position says nothing); payments, invoices, shipments and labels by time, like
the logs they stand for. Each function returns the number of rows it wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from guanxi.ingest.kinds import KINDS
from guanxi.ingest.synth.calendar import date_strings, ts_strings
from guanxi.ingest.synth.credit import Credit
from guanxi.ingest.synth.events import Payments, Shipments, Supply
from guanxi.ingest.synth.labels import SOURCES, Labels
from guanxi.ingest.synth.params import stream
from guanxi.ingest.synth.pools import CARRIERS, CATEGORIES, CHANNELS, CITIES
from guanxi.ingest.synth.rings import Ring
from guanxi.ingest.synth.world import World
from guanxi.ingest.synth.writer import ROWS, IdText, TableWriter, amounts, numbered, prefixed

__all__ = [
    "ring_text",
    "write_defaults",
    "write_labels",
    "write_merchants",
    "write_payments",
    "write_shipments",
    "write_supply",
    "write_truth",
]

Tick = Callable[[int, int], None]


def _path(out: Path, kind: str, fmt: str) -> Path:
    return out / f"{kind}.{fmt}"


def _nullable(text: pa.Array, codes: np.ndarray) -> pa.Array:
    """``text[codes]`` with null where the code is -1 (an empty CSV field)."""
    return text.take(pa.array(np.maximum(codes, 0), mask=codes < 0))


def _write(out: Path, kind: str, fmt: str, columns: dict[str, pa.Array]) -> int:
    assert tuple(columns) == KINDS[kind].columns, (kind, tuple(columns))
    writer = TableWriter(_path(out, kind, fmt), TableWriter.schema(columns), fmt)
    writer.write(columns)
    writer.close()
    return writer.rows


def ring_text(n_rings: int) -> pa.Array:
    """Ring ids ``R0001``...; ring indices are already shuffled across typologies."""
    return prefixed("R", np.arange(1, n_rings + 1), max(4, len(str(n_rings))))


def write_merchants(out: Path, fmt: str, world: World, ids: IdText) -> tuple[int, pa.Table]:
    """The merchants file; also returns its table so the manifest can count identifiers."""
    order = pc.sort_indices(ids.merchant).to_numpy()
    city_names = pa.array([c for c, _, _ in CITIES])
    columns = {
        "merchant_id": ids.merchant.take(pa.array(order)),
        "name": pa.array(world.names).take(pa.array(order)),
        "category": pa.array([c.label for c in CATEGORIES]).take(pa.array(world.category[order])),
        "city": city_names.take(pa.array(world.city[order])),
        "district": pa.array(world.district_names).take(pa.array(world.district[order])),
        "registered_on": date_strings(world.reg_day[order]),
        "owner_id": ids.person.take(pa.array(world.owner[order])),
        "phone": ids.phone.take(pa.array(world.phone[order])),
        "device_id": _nullable(ids.device, world.device[order]),
        "bank_account": ids.bank.take(pa.array(world.bank[order])),
        "address": pa.array(world.book.texts).take(pa.array(world.address[order])),
        "agent_id": _nullable(ids.agent, world.agent[order]),
    }
    return _write(out, "merchants", fmt, columns), pa.table(columns)


def write_payments(out: Path, fmt: str, payments: Payments, ids: IdText,
                   tick: Tick | None = None) -> int:
    """The payments file in time order, written in chunks of ``ROWS``."""
    order = np.argsort(payments.ts, kind="stable")
    payer_text = ids.payer
    channels = pa.array([c for c, _ in CHANNELS])
    writer = None
    chunks = max(1, -(-len(order) // ROWS))
    for c in range(chunks):
        idx = order[c * ROWS:(c + 1) * ROWS]
        ts = payments.ts[idx]
        columns = {
            "payer_id": payer_text.take(pa.array(payments.payer[idx])),
            "payee_id": ids.merchant.take(pa.array(payments.payee[idx])),
            "amount": amounts(payments.cents[idx], fmt),
            "ts": ts_strings(ts),
            "channel": channels.take(pa.array(payments.channel[idx].astype(np.int64))),
            "payment_id": numbered("", ts, c * ROWS, 10),
        }
        if writer is None:
            assert tuple(columns) == KINDS["payments"].columns
            writer = TableWriter(_path(out, "payments", fmt), TableWriter.schema(columns), fmt)
        writer.write(columns)
        if tick:
            tick(c + 1, chunks)
    assert writer is not None
    writer.close()
    return writer.rows


def write_supply(out: Path, fmt: str, supply: Supply, ids: IdText) -> int:
    """The supply file (invoices) in time order."""
    s = supply.by_time()
    return _write(out, "supply", fmt, {
        "supplier_id": ids.merchant.take(pa.array(s.supplier)),
        "buyer_id": ids.merchant.take(pa.array(s.buyer)),
        "amount": amounts(s.cents, fmt),
        "ts": ts_strings(s.ts),
        "invoice_id": numbered("FP", s.ts, 0, 8),
    })


def write_shipments(out: Path, fmt: str, shipments: Shipments, ids: IdText, seed: int) -> int:
    """The shipments file in time order; waybill numbers carry the carrier's prefix."""
    s = shipments.by_time()
    rng = stream(seed, "waybills")
    prefix = pa.array([p for _, p, _ in CARRIERS]).take(pa.array(s.carrier.astype(np.int64)))
    return _write(out, "shipments", fmt, {
        "shipper_id": ids.merchant.take(pa.array(s.shipper)),
        "receiver_id": ids.merchant.take(pa.array(s.receiver)),
        "ts": ts_strings(s.ts),
        "shipment_id": prefixed(prefix, rng.choice(10**12, len(s), replace=False), 12),
        "weight_kg": amounts(s.decikg, fmt, scale=1),
        "carrier": pa.array([c for c, _, _ in CARRIERS]).take(pa.array(s.carrier.astype(np.int64))),
    })


def write_labels(out: Path, fmt: str, labels: Labels, ids: IdText) -> int:
    """The labels file in time order."""
    return _write(out, "labels", fmt, {
        "merchant_id": ids.merchant.take(pa.array(labels.merchant)),
        "label": pa.array(np.where(labels.fraud, "fraud", "legit")),
        "ts": ts_strings(labels.ts),
        "source": pa.array(SOURCES).take(pa.array(labels.source.astype(np.int64))),
    })


def write_defaults(out: Path, fmt: str, credit: Credit, ids: IdText) -> int:
    """Outcomes of the merchants with an observed loan, by merchant id."""
    m = np.flatnonzero(credit.loan)
    m = m[pc.sort_indices(ids.merchant.take(pa.array(m))).to_numpy()]
    return _write(out, "defaults", fmt, {
        "merchant_id": ids.merchant.take(pa.array(m)),
        "defaulted": pa.array(credit.defaulted[m].astype(np.int8)),
        "observed_on": date_strings(credit.observed_day[m]),
    })


def write_truth(out: Path, world: World, rings: list[Ring], credit: Credit,
                ids: IdText) -> dict[str, int]:
    """``truth/rings.csv`` and ``truth/merchants.csv`` (always CSV: they are for evaluation)."""
    folder = out / "truth"
    folder.mkdir(exist_ok=True)
    ring_ids = ring_text(len(rings))
    rows = [(r.index, r.typology, m) for r in rings for m in r.members.tolist()]
    ring_idx = np.array([r[0] for r in rows], np.int64)
    member = np.array([r[2] for r in rows], np.int64)
    member_text = ids.merchant.take(pa.array(member))
    order = np.lexsort((pc.sort_indices(pc.sort_indices(member_text)).to_numpy(), ring_idx))
    rings_table = {
        "ring_id": ring_ids.take(pa.array(ring_idx[order])),
        "typology": pa.array([rows[i][1] for i in order.tolist()], pa.string()),
        "merchant_id": member_text.take(pa.array(order)),
    }
    order = pc.sort_indices(ids.merchant).to_numpy()
    merchants_table = {
        "merchant_id": ids.merchant.take(pa.array(order)),
        "ring_id": _nullable(ring_ids, world.ring[order].astype(np.int64)),
        "defaulted": pa.array(credit.defaulted[order].astype(np.int8)),
        "business_group_id": ids.group.take(pa.array(world.group[order])),
    }
    counts = {}
    for name, cols in (("rings", rings_table), ("merchants", merchants_table)):
        writer = TableWriter(folder / f"{name}.csv", TableWriter.schema(cols), "csv")
        writer.write(cols)
        writer.close()
        counts[name] = writer.rows
    return counts
