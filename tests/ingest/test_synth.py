"""guanxi synth: the files it writes hold together, match the manifest and look like the world.

One medium-difficulty run of 3,000 merchants (50 rings per 10k, so every typology
has rings) is shared by the module; determinism runs its own small folders.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from guanxi.errors import InputError
from guanxi.ingest.kinds import KINDS
from guanxi.ingest.synth import SynthParams, generate

PARAMS = SynthParams(merchants=3000, seed=11, rings_per_10k=50)
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONEY = re.compile(r"^\d+\.\d{2}$")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "demo"
    generate(PARAMS, out)
    return out


def read(folder: Path, kind: str) -> pd.DataFrame:
    """A file as text, exactly as written (no type inference, empty field = NaN)."""
    return pd.read_csv(folder / f"{kind}.csv", dtype=str, keep_default_na=False,
                       na_values=[""])


@pytest.fixture(scope="module")
def frames(run: Path) -> dict[str, pd.DataFrame]:
    out = {k: read(run, k) for k in KINDS}
    out["truth_rings"] = pd.read_csv(run / "truth" / "rings.csv", dtype=str)
    out["truth_merchants"] = pd.read_csv(run / "truth" / "merchants.csv", dtype=str)
    return out


@pytest.fixture(scope="module")
def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text(encoding="utf-8"))


def test_every_kind_has_exactly_the_contract_columns(run: Path) -> None:
    for kind, spec in KINDS.items():
        header = (run / f"{kind}.csv").read_text(encoding="utf-8").split("\n", 1)[0]
        assert header.split(",") == list(spec.columns), kind


def test_every_referenced_merchant_exists(frames: dict[str, pd.DataFrame]) -> None:
    merchants = set(frames["merchants"].merchant_id)
    assert len(merchants) == PARAMS.merchants
    p = frames["payments"]
    assert set(p.payee_id) <= merchants
    consumers = p.payer_id[~p.payer_id.isin(merchants)]
    assert consumers.str.fullmatch(r"C\d{8}").all()
    assert set(frames["supply"].supplier_id) | set(frames["supply"].buyer_id) <= merchants
    sh = frames["shipments"]
    assert set(sh.shipper_id) | set(sh.receiver_id) <= merchants
    assert set(frames["labels"].merchant_id) <= merchants
    assert set(frames["defaults"].merchant_id) <= merchants
    assert set(frames["truth_rings"].merchant_id) <= merchants
    assert set(frames["truth_merchants"].merchant_id) == merchants


def test_formats_amounts_and_fixed_calendar(frames: dict[str, pd.DataFrame]) -> None:
    for kind in ("payments", "supply"):
        amount = frames[kind].amount
        assert amount.str.fullmatch(MONEY).all(), kind
        assert (amount.astype(float) > 0).all(), kind
    for kind in ("payments", "supply", "shipments", "labels"):
        ts = frames[kind].ts
        assert ts.str.fullmatch(TS).all(), kind
        assert ts.min() >= "2024-07-01T00:00:00" and ts.max() <= "2025-06-30T23:59:59", kind
    assert (frames["shipments"].weight_kg.astype(float) > 0).all()
    reg = frames["merchants"].registered_on
    assert reg.str.fullmatch(DATE).all() and reg.max() <= "2025-06-30"
    observed = frames["defaults"].observed_on
    assert observed.str.fullmatch(DATE).all()
    assert observed.min() >= "2025-07-01" and observed.max() <= "2026-06-30"
    assert set(frames["payments"].channel) <= {"alipay", "wechat", "unionpay", "dcep"}
    assert frames["payments"].payment_id.is_unique
    assert frames["supply"].invoice_id.is_unique and frames["shipments"].shipment_id.is_unique


def test_rings_match_requested_counts(frames: dict[str, pd.DataFrame], manifest: dict) -> None:
    rings = frames["truth_rings"]
    per_typology = rings.groupby("typology").ring_id.nunique().to_dict()
    expected = PARAMS.ring_counts()
    assert sum(expected.values()) == 15
    assert per_typology == {t: n for t, n in expected.items() if n}
    assert manifest["rings"] == expected
    assert rings.merchant_id.is_unique  # a merchant is in at most one ring
    assert rings.groupby("ring_id").size().min() >= 3
    tm = frames["truth_merchants"]
    assert tm.ring_id.notna().sum() == len(rings)


def test_ring_members_do_not_have_telling_ids(frames: dict[str, pd.DataFrame]) -> None:
    rank = {m: i for i, m in enumerate(sorted(frames["merchants"].merchant_id))}
    spans = []
    for _, members in frames["truth_rings"].groupby("ring_id").merchant_id:
        r = np.array([rank[m] for m in members])
        spans.append((r.max() - r.min()) / PARAMS.merchants)
    # Random ids spread a ring over most of the id range; contiguous ids would give ~0.
    assert np.mean(spans) > 0.4


def test_manifest_rows_and_entities_equal_the_files(frames: dict[str, pd.DataFrame],
                                                    manifest: dict) -> None:
    assert manifest["rows"] == {k: len(frames[k]) for k in KINDS}
    m, p = frames["merchants"], frames["payments"]
    ids = set(m.merchant_id)
    merchant_payer = p.payer_id.isin(ids)
    s, sh = frames["supply"], frames["shipments"]
    expected = {
        "merchants": len(m),
        "consumers": p.payer_id[~merchant_payer].nunique(),
        "persons": m.owner_id.nunique(),
        "phones": m.phone.nunique(),
        "devices": m.device_id.nunique(),
        "bank_accounts": m.bank_account.nunique(),
        "addresses": m.address.nunique(),
        "service_providers": m.agent_id.nunique(),
        "pairs": {
            "payments": len(p[["payer_id", "payee_id"]].drop_duplicates()),
            "merchant_payments": len(p[merchant_payer][["payer_id", "payee_id"]].drop_duplicates()),
            "supply": len(s[["supplier_id", "buyer_id"]].drop_duplicates()),
            "shipments": len(sh[["shipper_id", "receiver_id"]].drop_duplicates()),
        },
    }
    assert manifest["entities"] == expected
    assert m.device_id.isna().any() and m.agent_id.isna().any()  # printed QR, self sign-up
    assert expected["pairs"]["merchant_payments"] > 0


def test_world_is_heavy_tailed_and_local(frames: dict[str, pd.DataFrame]) -> None:
    p = frames["payments"]
    in_degree = p.groupby("payee_id").payer_id.nunique()
    assert in_degree.max() / in_degree.median() > 20
    counts = p.payee_id.value_counts()
    assert counts.iloc[: len(counts) // 100].sum() / len(p) > 0.08  # top 1% of payees
    assert 15 < len(p) / PARAMS.merchants < 40
    consumers = p.payer_id[~p.payer_id.isin(set(frames["merchants"].merchant_id))]
    assert 6 < consumers.nunique() / PARAMS.merchants < 14
    repeat = p.groupby(["payer_id", "payee_id"]).size()
    assert (repeat > 1).mean() > 0.15  # customers come back


def test_supply_links_have_logistics_behind_them(frames: dict[str, pd.DataFrame]) -> None:
    s = frames["supply"].assign(amount=lambda d: d.amount.astype(float),
                                t=lambda d: pd.to_datetime(d.ts))
    sh = frames["shipments"].assign(w=lambda d: d.weight_kg.astype(float),
                                    t=lambda d: pd.to_datetime(d.ts))
    pairs = s.merge(sh, left_on=["supplier_id", "buyer_id"],
                    right_on=["shipper_id", "receiver_id"], suffixes=("", "_sh"))
    near = pairs[(pairs.t_sh - pairs.t).dt.days.between(-2, 4)]
    matched = near.invoice_id.nunique() / len(s)
    assert 0.55 < matched < 0.97  # most invoices shipped; own-van links and fakes are not
    first = near.drop_duplicates("invoice_id")
    assert first[["amount", "w"]].corr(method="spearman").iloc[0, 1] > 0.4


def test_credit_outcomes(frames: dict[str, pd.DataFrame], manifest: dict) -> None:
    truth = frames["truth_merchants"].assign(defaulted=lambda d: d.defaulted.astype(int))
    assert 0.03 <= truth.defaulted.mean() <= 0.08
    assert truth.groupby(truth.ring_id.notna()).defaulted.mean()[True] > truth.defaulted.mean()
    d = frames["defaults"].merge(truth, on="merchant_id", suffixes=("", "_truth"))
    assert (d.defaulted.astype(int) == d.defaulted_truth).all()
    assert 0.4 < len(d) / len(truth) < 0.6
    assert manifest["credit"]["defaulted"] == truth.defaulted.sum()


def test_labels_cover_whole_rings_and_some_honest(frames: dict[str, pd.DataFrame]) -> None:
    labels, rings = frames["labels"], frames["truth_rings"]
    fraud = set(labels.merchant_id[labels.label == "fraud"])
    caught = rings[rings.merchant_id.isin(fraud)]
    assert set(caught.merchant_id) == fraud
    per_ring = rings[rings.ring_id.isin(caught.ring_id)].groupby("ring_id").merchant_id.apply(set)
    assert all(members <= fraud for members in per_ring)  # whole rings are labelled
    counts = caught.groupby("typology").ring_id.nunique()
    for t, n in PARAMS.ring_counts().items():
        assert counts.get(t, 0) == round(PARAMS.label_fraction * n)
    legit = labels.merchant_id[labels.label == "legit"]
    assert not set(legit) & set(rings.merchant_id)
    assert len(legit) == round(PARAMS.legit_fraction * (PARAMS.merchants - len(rings)))
    assert set(labels.source) <= {"investigation", "chargeback", "audit"}
    assert labels.ts.is_monotonic_increasing


def test_honest_merchants_share_identifiers_too(frames: dict[str, pd.DataFrame]) -> None:
    m = frames["merchants"]
    honest = m[~m.merchant_id.isin(set(frames["truth_rings"].merchant_id))]
    for column in ("owner_id", "phone", "bank_account", "address"):
        assert honest[column].duplicated().any(), column


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_arguments_give_identical_bytes(tmp_path: Path, fmt: str) -> None:
    params = SynthParams(merchants=1500, seed=5, difficulty="hard", fmt=fmt, rings_per_10k=40)
    generate(params, tmp_path / "a")
    generate(params, tmp_path / "b")
    a = _digest(tmp_path / "a")
    assert len(a) == len(KINDS) + 3  # six kinds, two truth files, the manifest
    assert a == _digest(tmp_path / "b")
    generate(SynthParams(merchants=1500, seed=6, difficulty="hard", fmt=fmt, rings_per_10k=40),
             tmp_path / "c")
    assert a[f"payments.{fmt}"] != _digest(tmp_path / "c")[f"payments.{fmt}"]


def test_parquet_holds_the_same_data_as_csv(tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        generate(SynthParams(merchants=800, seed=3, fmt=fmt), tmp_path / fmt)
    for kind in KINDS:
        a = read(tmp_path / "csv", kind)
        b = pd.read_parquet(tmp_path / "parquet" / f"{kind}.parquet")
        assert list(a.columns) == list(b.columns)
        for col in a.columns:
            if col in ("amount", "weight_kg"):
                assert np.allclose(a[col].astype(float), b[col]), (kind, col)
            else:
                assert a[col].fillna("").astype(str).tolist() == \
                    b[col].fillna("").astype(str).tolist(), (kind, col)


def test_existing_folder_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        generate(SynthParams(merchants=200), out)
    generate(SynthParams(merchants=200, fmt="parquet"), out, force=True)
    generate(SynthParams(merchants=200), out, force=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "payments.parquet").exists()  # no two files of one kind


@pytest.mark.parametrize("params", [
    SynthParams(merchants=99), SynthParams(merchants=500, difficulty="insane"),
    SynthParams(merchants=500, label_fraction=1.5), SynthParams(merchants=500, fmt="xlsx"),
    SynthParams(merchants=500, rings_per_10k=-1),
])
def test_bad_parameters_raise_input_error(tmp_path: Path, params: SynthParams) -> None:
    with pytest.raises(InputError) as err:
        generate(params, tmp_path / "x")
    assert err.value.fix and "\n" not in err.value.one_line()
    assert not (tmp_path / "x").exists()


def test_rhythms_and_locality(frames: dict[str, pd.DataFrame], manifest: dict) -> None:
    m = frames["merchants"].set_index("merchant_id")
    p = frames["payments"]
    p = p[~p.payer_id.isin(m.index)].assign(
        t=lambda d: pd.to_datetime(d.ts), category=lambda d: d.payee_id.map(m.category),
        district=lambda d: d.payee_id.map(m.city + m.district))
    # Restaurants peak at lunch and dinner, not mid-afternoon.
    hour = p[p.category == "餐饮"].t.dt.hour.value_counts()
    assert hour.get(12, 0) > 2 * hour.get(15, 0) and hour.get(18, 0) > 2 * hour.get(15, 0)
    # Promotions lift honest traffic too.
    daily = p.t.dt.normalize().value_counts()
    promo = pd.Series(False, index=daily.index)
    for w in manifest["calendar"]["promotions"]:
        promo |= (daily.index >= w["start"]) & (daily.index <= w["end"])
    assert daily[promo].mean() > 1.05 * daily[~promo].mean()
    # Consumers mostly shop in one district (their home).
    regular = p.groupby("payer_id").filter(lambda g: len(g) >= 3)
    home = regular.groupby("payer_id").district.agg(lambda s: s.value_counts().iloc[0] / len(s))
    assert home.mean() > 0.7


def test_nothing_involves_a_merchant_before_it_registered(frames: dict[str, pd.DataFrame]) -> None:
    registered = frames["merchants"].set_index("merchant_id").registered_on
    for kind, parties in (("payments", ("payer_id", "payee_id")),
                          ("supply", ("supplier_id", "buyer_id")),
                          ("shipments", ("shipper_id", "receiver_id"))):
        day = frames[kind].ts.str[:10]
        for party in parties:
            reg = frames[kind][party].map(registered)  # NaN for consumers
            assert (reg.isna() | (day >= reg)).all(), (kind, party)
