"""Difficulty: easy rings stand out on a single feature, hard rings on none.

Per-merchant features an analyst computes straight from the files (shared
identifiers, merchant-to-merchant money, round amounts, burstiness, invoices without
shipments, degree, agent cohorts, ...). For every typology, the single-feature
AUROC of ring members against honest merchants must stay below 0.85 on ``hard``
(honest look-alikes, partial and weakened signals), while on ``easy`` each typology
has a feature above 0.9. Orientation-free: ``max(auc, 1 - auc)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from guanxi.ingest.synth import TYPOLOGIES, SynthParams, generate

IDENTIFIERS = ["owner_id", "phone", "device_id", "bank_account", "address"]


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUROC with average ranks for ties."""
    ranks = pd.Series(score).rank().to_numpy()
    n_pos = positive.sum()
    n_neg = len(positive) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _per_party(frame: pd.DataFrame, a: str, b: str, value: str) -> pd.DataFrame:
    both = pd.concat([frame[[a, value]].rename(columns={a: "m"}),
                      frame[[b, value]].rename(columns={b: "m"})])
    return both


def features(folder: Path) -> pd.DataFrame:
    """Simple per-merchant features, indexed by merchant id."""
    m = pd.read_csv(folder / "merchants.csv", dtype=str)
    p = pd.read_csv(folder / "payments.csv", dtype={"payer_id": str, "payee_id": str})
    s = pd.read_csv(folder / "supply.csv", dtype={"supplier_id": str, "buyer_id": str})
    sh = pd.read_csv(folder / "shipments.csv", dtype={"shipper_id": str, "receiver_id": str})
    ids = pd.Index(m.merchant_id)
    f = pd.DataFrame(index=ids)
    sharing = [m[c].map(m[c].value_counts()).fillna(1).to_numpy() - 1 for c in IDENTIFIERS]
    f["shared_ids"] = np.sum(sharing, axis=0)
    f["shared_kinds"] = np.sum([s_ > 0 for s_ in sharing], axis=0)

    m2m = p[p.payer_id.isin(ids)]
    out_amt = m2m.groupby("payer_id").amount.sum().reindex(ids, fill_value=0)
    in_amt = m2m.groupby("payee_id").amount.sum().reindex(ids, fill_value=0)
    f["m2m_amount"] = np.log1p(out_amt + in_amt)
    f["m2m_count"] = (m2m.payer_id.value_counts().reindex(ids, fill_value=0)
                      + m2m.payee_id.value_counts().reindex(ids, fill_value=0))
    cents = np.round(p.amount * 100).astype(np.int64)
    p = p.assign(whole=cents % 100 == 0, tens=cents % 1000 == 0,
                 week=(pd.to_datetime(p.ts) - pd.Timestamp("2024-07-01")).dt.days // 7)
    by_payee = p.groupby("payee_id")
    n_in = by_payee.size().reindex(ids, fill_value=0)
    f["round_share"] = by_payee.whole.mean().reindex(ids, fill_value=0)
    f["round10_share"] = by_payee.tens.mean().reindex(ids, fill_value=0)
    f["payments_in"] = n_in
    f["in_degree"] = by_payee.payer_id.nunique().reindex(ids, fill_value=0)
    f["mean_amount"] = by_payee.amount.mean().reindex(ids, fill_value=0)
    f["max_amount"] = by_payee.amount.max().reindex(ids, fill_value=0)
    weekly = p.groupby(["payee_id", "week"]).size().groupby(level=0).max()
    f["burstiness"] = (weekly.reindex(ids, fill_value=0) / n_in.clip(lower=1))
    top = p.groupby(["payee_id", "payer_id"]).size().groupby(level=0).max()
    f["top_payer_share"] = top.reindex(ids, fill_value=0) / n_in.clip(lower=1)

    shipped = set(zip(sh.shipper_id, sh.receiver_id, strict=True))
    s = s.assign(no_shipment=[k not in shipped for k in zip(s.supplier_id, s.buyer_id,
                                                            strict=True)],
                 round_invoice=np.round(s.amount * 100).astype(np.int64) % 100_000 == 0)
    inv = _per_party(s, "supplier_id", "buyer_id", "no_shipment").groupby("m").no_shipment
    f["no_shipment_share"] = inv.mean().reindex(ids, fill_value=0)
    f["invoices"] = inv.size().reindex(ids, fill_value=0)
    rnd = _per_party(s, "supplier_id", "buyer_id", "round_invoice").groupby("m").round_invoice
    f["round_invoice_share"] = rnd.mean().reindex(ids, fill_value=0)

    day = pd.to_datetime(m.registered_on).to_numpy().astype("datetime64[D]").astype(np.int64)
    cohort = np.zeros(len(m))
    for _, rows in m.groupby("agent_id").indices.items():
        d = np.sort(day[rows])
        cohort[rows] = (np.searchsorted(d, day[rows] + 3, side="right")
                        - np.searchsorted(d, day[rows] - 3, side="left") - 1)
    f["agent_cohort"] = cohort
    f["registered_on"] = day
    return f


def separability(folder: Path) -> pd.DataFrame:
    """Single-feature AUROC (orientation-free) per feature (rows) and typology (columns)."""
    f = features(folder)
    rings = pd.read_csv(folder / "truth" / "rings.csv", dtype=str)
    honest = ~f.index.isin(rings.merchant_id)
    table = {}
    for typology, members in rings.groupby("typology").merchant_id:
        ring = f.index.isin(members)
        keep = ring | honest
        table[typology] = {c: max(a, 1 - a) for c in f.columns
                           for a in [auroc(f[c].to_numpy()[keep], ring[keep])]}
    return pd.DataFrame(table)


@pytest.fixture(scope="module")
def auc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    out = {}
    for level in ("easy", "hard"):
        folder = tmp_path_factory.mktemp(level)
        generate(SynthParams(merchants=6000, seed=7, difficulty=level, rings_per_10k=80), folder,
                 force=True)
        out[level] = separability(folder)
    return out


def test_hard_is_not_separable_by_any_single_feature(auc: dict[str, pd.DataFrame]) -> None:
    hard = auc["hard"]
    assert sorted(hard.columns) == sorted(TYPOLOGIES)
    worst = hard.stack().idxmax()
    assert hard.to_numpy().max() < 0.85, f"hard is separable by {worst}: {hard.stack().max():.3f}"


def test_easy_has_a_telling_feature_for_every_typology(auc: dict[str, pd.DataFrame]) -> None:
    best = auc["easy"].max()
    assert (best > 0.9).all(), best.to_dict()


def test_features_detect_what_they_should(auc: dict[str, pd.DataFrame]) -> None:
    # The features themselves work: each typology's signature feature is telling on easy.
    easy = auc["easy"]
    assert easy.loc["m2m_amount", "circular_trading"] > 0.95
    assert easy.loc["no_shipment_share", "fake_supply_chain"] > 0.95
    assert easy.loc["agent_cohort", "shell_merchants"] > 0.9
    assert easy.loc["payments_in", "promotion_farming"] > 0.9
    assert easy.loc["max_amount", "cash_out"] > 0.9
