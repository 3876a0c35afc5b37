"""Hand-built exported graphs for gnn/ tests: a few merchants and edges whose features
are known, without Neo4j (``build_export``), as ``graph/export.py`` would return them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import HeteroData

from guanxi.graph import model
from guanxi.graph.export import MERCHANT_COLUMNS, Exported

Row = Sequence[float]


def build_export(n: int, *, paid: Sequence[Row] = (), consumer_paid: Sequence[Row] = (),
                 supply: Sequence[Row] = (), shipped: Sequence[Row] = (),
                 identifiers: Mapping[str, Sequence[tuple[int, int]]] | None = None,
                 weeks: np.ndarray | None = None, start: str = "2024-07-01",
                 merchants: Mapping[str, Sequence] | None = None) -> Exported:
    """An :class:`Exported` of ``n`` merchants (ids ``m0``, ``m1``, ...).

    ``paid`` / ``consumer_paid``: ``(payer, payee, count, amount[, round, night[,
    first_ts, last_ts]]])`` (times in epoch seconds, default a year apart)
    (payer a merchant or a consumer position; every payment of a pair the same size,
    so ``amount_sq = amount**2 / count``); ``supply``: ``(supplier, buyer, count,
    amount)``; ``shipped``: ``(shipper, receiver, count)``; ``identifiers``: per target
    label (``"Phone"``, ``"ServiceProvider"``, ...) ``(merchant, identifier)`` pairs;
    ``weeks``: ``(n, W, 12)`` (default one week of zeros); ``merchants``: columns to
    set in the merchants frame (default: no category, city, dates).
    """
    data = HeteroData()
    data["Merchant"].num_nodes = n
    ids: dict[str, np.ndarray] = {"Merchant": np.array([f"m{i}" for i in range(n)], object)}
    names: dict[tuple[str, str, str], tuple[str, ...]] = {}

    def add(key: tuple[str, str, str], rows: list[list[float]]) -> None:
        rel = model.relation(*key)
        src = torch.tensor([int(r[0]) for r in rows], dtype=torch.int64)
        dst = torch.tensor([int(r[1]) for r in rows], dtype=torch.int64)
        data[key].edge_index = torch.stack([src, dst])
        if rel.aggregates:
            attrs = [[float(v) for v in r[2:]] for r in rows]
            data[key].edge_attr = torch.tensor(attrs, dtype=torch.float32)
            names[key] = tuple(a.name for a in rel.aggregates)

    def payments(rows: Sequence[Row]) -> list[list[float]]:
        out = []
        for r in rows:
            s, t, count, amount, *rest = r
            rnd, night, first, last = (list(rest) + [0, 0, 1.72e9, 1.75e9][len(rest):])[:4]
            out.append([s, t, count, amount, amount**2 / count, amount / count, rnd, night,
                        first, last])
        return out

    if paid:
        add(("Merchant", "PAID", "Merchant"), payments(paid))
    if consumer_paid:
        consumers = 1 + max(int(r[0]) for r in consumer_paid)
        data["Consumer"].num_nodes = consumers
        ids["Consumer"] = np.array([f"c{i}" for i in range(consumers)], object)
        add(("Consumer", "PAID", "Merchant"), payments(consumer_paid))
    if supply:
        add(("Merchant", "SUPPLIES", "Merchant"),
            [[s, t, c, a, a / c, 0, 1.72e9, 1.75e9] for s, t, c, a in supply])
    if shipped:
        add(("Merchant", "SHIPPED_TO", "Merchant"),
            [[s, t, c, 10.0 * c, 1.72e9, 1.75e9] for s, t, c in shipped])
    for label, pairs in (identifiers or {}).items():
        rel = next(r for r in model.RELATIONS
                   if r.family == "identifier" and r.target == label)
        count = 1 + max(x for _, x in pairs)
        data[label].num_nodes = count
        ids[label] = np.array([f"{label[0].lower()}{i}" for i in range(count)], object)
        add(rel.key, [[m, x] for m, x in pairs])

    frame = pd.DataFrame({c: [None] * n for c in MERCHANT_COLUMNS}, dtype=object)
    frame["id"] = ids["Merchant"]
    for column, values in (merchants or {}).items():
        frame[column] = list(values)
    frame["registered_on"] = pd.to_datetime(frame["registered_on"])
    frame["defaulted"] = pd.to_numeric(frame["defaulted"]).astype("Int8")
    if weeks is None:
        weeks = np.zeros((n, 1, len(model.week_property_names())), dtype=np.float32)
    dates = np.datetime64(start, "D") + 7 * np.arange(weeks.shape[1])
    return Exported(data, ids, names, frame, torch.as_tensor(weeks, dtype=torch.float32),
                    dates.astype("datetime64[D]"))


def weekly(n: int, w: int, **flows: Mapping[int, Sequence[float]]) -> np.ndarray:
    """``(n, w, 12)`` weeks: ``flows[name][merchant]`` is that merchant's series of
    ``name`` (``paid_in_amount``, ...), zeros elsewhere."""
    names = model.week_property_names()
    out = np.zeros((n, w, len(names)), dtype=np.float32)
    for name, series in flows.items():
        for merchant, values in series.items():
            out[merchant, :, names.index(name)] = values
    return out


@pytest.fixture
def make_export() -> Callable[..., Exported]:
    return build_export


@pytest.fixture
def make_weeks() -> Callable[..., np.ndarray]:
    return weekly


# --- A small synthetic folder for the scoring tests (test_pipeline, test_cli_scoring) ---

SCORING_SYNTH = {"merchants": 400, "seed": 3, "difficulty": "easy", "rings_per_10k": 150,
                 "label_fraction": 0.6}
"""400 merchants, 6 rings (5 labelled: 83 fraud labels, enough for 5 folds), 31
observed defaults: small enough to train in seconds, big enough for every model."""


@pytest.fixture(scope="session")
def scoring_folder(tmp_path_factory: pytest.TempPathFactory):
    """``guanxi synth`` of :data:`SCORING_SYNTH`, written once per session (read-only:
    tests that need other files copy what they need)."""
    from guanxi.ingest.synth import SynthParams, generate

    folder = tmp_path_factory.mktemp("scoring") / "synth"
    summary = generate(SynthParams(**SCORING_SYNTH), folder)
    assert summary.manifest["labels"]["fraud"] >= 25  # at least 5 per fold
    return folder


@pytest.fixture(scope="module")
def manifest(scoring_folder: Path) -> dict:
    return json.loads((scoring_folder / "manifest.json").read_text(encoding="utf-8"))
