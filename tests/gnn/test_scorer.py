"""The choice of the stage whose ring score ships (``scorer.chosen_stage``), and the
inputs each stage learns from (``scorer.fit_scorer``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from guanxi.gnn import scorer
from guanxi.gnn.baselines.gbdt import neighbour_aggregate
from guanxi.gnn.labels import Labels
from guanxi.gnn.prepare import Carried, Prepared, link_kinds
from guanxi.gnn.projection import merchant_links
from guanxi.gnn.scorer import CONTEXT, ScorerSettings, chosen_stage, fit_scorer
from guanxi.gnn.trees import Ensemble, fit_folds


def _labels(rings: int, size: int, cleared: int, unlabelled: int) -> tuple[np.ndarray, np.ndarray]:
    """``rings`` caught rings of ``size`` members (1), ``cleared`` merchants (0),
    ``unlabelled`` (-1); and fold groups: a ring is one group, every other merchant its own."""
    ring = np.r_[np.ones(rings * size), np.zeros(cleared), -np.ones(unlabelled)].astype(int)
    groups = np.r_[np.repeat(np.arange(rings), size), rings + np.arange(cleared + unlabelled)]
    return ring, groups


def test_a_later_stage_ships_only_when_it_leads_by_more_than_the_noise() -> None:
    rng = np.random.default_rng(3)
    ring, groups = _labels(rings=8, size=5, cleared=400, unlabelled=100)
    caught = ring == 1
    weak = rng.normal(size=ring.size) + 0.8 * caught
    strong = rng.normal(size=ring.size) + 3.0 * caught
    # As good, by its own noise: whichever leads on these labels, it is not clear.
    alike = rng.normal(size=ring.size) + 0.8 * caught
    chosen, quality, se = chosen_stage({"0": weak, "a": strong}, ring, groups)
    assert chosen == "a" and quality["a"] > quality["0"] + se["0"]
    assert se["a"] == 0.0  # the best's shortfall from itself
    chosen, quality, se = chosen_stage({"0": weak, "a": alike}, ring, groups)
    assert chosen == "0" and quality["a"] > quality["0"]
    # Whole rings resampled: eight caught rings measure a lead more roughly than forty
    # independent members would.
    alone = chosen_stage({"0": weak, "a": strong}, ring)[2]
    assert se["0"] > 0 and chosen_stage({"0": weak, "a": strong}, ring, groups)[2]["0"] \
        > alone["0"]


def test_without_cleared_merchants_the_simplest_stage_ships() -> None:
    ring, groups = _labels(rings=6, size=5, cleared=0, unlabelled=200)
    scores = {"0": np.linspace(0, 1, ring.size), "b": np.linspace(1, 0, ring.size)}
    assert chosen_stage(scores, ring, groups) == ("0", {"0": None, "b": None},
                                                  {"0": None, "b": None})


def test_the_same_seed_gives_the_same_choice() -> None:
    rng = np.random.default_rng(0)
    ring, groups = _labels(rings=6, size=4, cleared=200, unlabelled=50)
    scores = {s: rng.normal(size=ring.size) + (ring == 1) for s in ("0", "a", "b")}
    assert chosen_stage(scores, ring, groups, seed=4) == chosen_stage(scores, ring, groups,
                                                                      seed=4)


def test_one_caught_ring_measures_nothing() -> None:
    ring, groups = _labels(rings=1, size=9, cleared=30, unlabelled=100)
    scores = {"0": np.linspace(0, 1, ring.size), "a": np.linspace(1, 0, ring.size)}
    assert chosen_stage(scores, ring, groups) == ("0", {"0": None, "a": None},
                                                  {"0": None, "a": None})
    # Nine members counted one by one would have seemed to measure it.
    assert chosen_stage(scores, ring)[1]["a"] is not None


# --- the next stage's training inputs: each merchant's from its own fold's models -------


def test_each_merchant_learns_from_inputs_its_own_folds_models_computed(make_export,
                                                                       monkeypatch) -> None:
    # Eight caught rings of five (a chain of payments), each member also paid by an
    # unlabelled shop that looks like it (feature 0 high): the shops are what trees
    # that learnt a ring lift, and what a caught member's neighbour scores would carry.
    rng = np.random.default_rng(0)
    n, size, rings = 240, 5, 8
    members = rings * size
    paid = []
    for r in range(rings):
        ring = list(range(size * r, size * r + size))
        paid += [(a, b, 1, 100.0) for a, b in zip(ring, ring[1:], strict=False)]
        paid += [(members + m, m, 1, 50.0) for m in ring]
    ex = make_export(n, paid=paid)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    x[: 2 * members, 0] += 3.0  # members and their shops alike
    label = np.r_[np.ones(members), -np.ones(members), np.zeros(80),
                  -np.ones(n - 2 * members - 80)].astype(np.int8)
    prep = Prepared(ex, merchant_links(ex), pd.DataFrame(x, columns=["a", "b", "c"]),
                    np.zeros(n, dtype=np.int64), Labels(label, np.full(n, np.nan)))
    fits: list[tuple[np.ndarray, dict, Ensemble]] = []
    fit_stacked = scorer._fit_stacked

    def spy(X: np.ndarray, names: list[str], **kw) -> tuple:
        out = fit_stacked(X, names, **kw)
        fits.append((X, kw, out[2]))
        return out

    monkeypatch.setattr(scorer, "_fit_stacked", spy)
    fit_scorer(prep, ScorerSettings(use_gnn=False, folds=2))
    (_, kw0, honest_0), (z_fit, kw_a, honest_a), (zb_fit, _, _) = fits
    fold = kw0["fold"]
    assert all(len(set(fold[size * r: size * r + size])) == 1 for r in range(rings))
    kinds = link_kinds(prep.links)
    columns = slice(3, 3 + 3 * len(kinds))  # graph_inputs' neighbour-score columns
    for k, booster in enumerate(honest_0.boosters):
        rows = fold == k
        want = neighbour_aggregate(booster.predict(x)[:, None], kinds)
        assert np.allclose(z_fit[rows, columns], want[rows], atol=1e-6)
        # The fold's trees never learnt its rows: out of fold, by their own model.
        assert np.allclose(honest_a.oof[rows], honest_a.boosters[k].predict(z_fit[rows]))
    # Scoring's inputs are another matter: the deployed trees' (``apply``), not these.
    assert not np.allclose(kw_a["apply"][:, columns], z_fit[:, columns])
    # Stage B reads the group context of the same fold's stage-A scores.
    assert zb_fit.shape[1] == z_fit.shape[1] + len(CONTEXT)
    assert np.array_equal(zb_fit[:, : z_fit.shape[1]], z_fit)


def test_others_mean_is_the_mean_over_the_other_members_of_the_cluster() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 4)).astype(np.float32) * 1e3
    labels = rng.integers(-1, 9, size=60)
    labels[labels == 8] = 20  # a label number with gaps below it
    labels[3] = 30  # a cluster of one: no other member
    got = scorer.others_mean(x, labels)
    assert got.shape == x.shape and got.dtype == np.float32
    for i in range(60):
        others = np.flatnonzero((labels == labels[i]) & (np.arange(60) != i))
        want = (x[others].astype(np.float64).mean(axis=0) if labels[i] >= 0 and others.size
                else np.zeros(4))
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-3)
    assert not got[3].any() and not got[labels < 0].any()
    assert not scorer.others_mean(x, np.full(60, -1)).any()


def test_partner_outcomes_read_each_link_kinds_observed_loans(make_export) -> None:
    # m0 supplies m1, m2 and m3; m4 supplies m3 too; m1 and m4 share a phone; m5 is
    # alone. Loans observed: m1 defaulted, m2 repaid, m4 defaulted; m0, m3, m5 have none.
    ex = make_export(6, supply=[(0, 1, 1, 10.0), (0, 2, 1, 10.0), (0, 3, 1, 10.0),
                                (4, 3, 1, 10.0)],
                     identifiers={"Phone": [(1, 0), (4, 0)]})
    links = merchant_links(ex)
    outcome = np.array([np.nan, 1, 0, np.nan, 1, np.nan])
    prep = Prepared(ex, links, pd.DataFrame({"a": np.zeros(6)}), np.zeros(6, dtype=np.int64),
                    Labels(np.full(6, -1, dtype=np.int8), outcome))
    table, names = scorer.partner_outcomes(prep)
    kinds = len(scorer.PARTNER_KINDS) + len(scorer.COUNTERPARTY_KINDS)
    assert table.shape == (6, 2 * kinds) and table.dtype == np.float32
    col = {name: table[:, i] for i, name in enumerate(names)}
    # Suppliers and buyers, either way; never the merchant's own outcome.
    assert col["partners_supply_default_rate"].tolist() == [0.5, 0, 0, 1, 0, 0]
    np.testing.assert_allclose(np.expm1(col["partners_supply_observed"]), [2, 0, 0, 1, 0, 0],
                               atol=1e-6)
    assert col["partners_phone_default_rate"].tolist() == [0, 1, 0, 0, 1, 0]
    # All kinds together: m1 sees m0 (no loan) and m4 (defaulted).
    assert col["partners_business_default_rate"].tolist() == [0.5, 1, 0, 1, 1, 0]
    # The other buyers of one's suppliers: m1 sees m2 (and m3, no loan); m3 sees m1
    # and m2 through m0, nobody through m4.
    assert col["partners_supply_same_source_default_rate"].tolist() == [0, 0, 1, 0.5, 0, 0]
    np.testing.assert_allclose(np.expm1(col["partners_supply_same_source_observed"]),
                               [0, 1, 1, 2, 0, 0], atol=1e-6)
    # The other suppliers of one's buyers: m0 shares m3 with m4 (defaulted); m4 sees m0,
    # who has no loan.
    assert col["partners_supply_same_target_default_rate"].tolist() == [1, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(np.expm1(col["partners_supply_same_target_observed"]),
                               [1, 0, 0, 0, 0, 0], atol=1e-6)
    # Kinds the graph lacks, and the merchant alone, read zeros.
    assert not col["partners_paid_observed"].any() and not table[5].any()
    assert not col["partners_paid_same_source_observed"].any()
    # Nobody's loan observed: all zeros, the same columns.
    bare = Prepared(ex, links, prep.features, prep.communities,
                    Labels(prep.labels.ring, np.full(6, np.nan)))
    empty, same = scorer.partner_outcomes(bare)
    assert same == names and not empty.any()


def test_first_stage_predicts_only_the_rows_whose_features_changed(make_export) -> None:
    rng = np.random.default_rng(7)
    n = 120
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] + rng.normal(size=n) > 1).astype(float)
    names = ["a", "b", "c"]
    trees = fit_folds(x, y, np.ones(n, dtype=bool), names, folds=2,
                      params={"n_estimators": 20})
    ex = make_export(n)
    prep = Prepared(ex, merchant_links(ex), pd.DataFrame(x, columns=names),
                    np.zeros(n, dtype=np.int64), Labels(np.full(n, -1, np.int8),
                                                        np.full(n, np.nan)))
    model = scorer.Scorer(ScorerSettings(use_gnn=False), names, None, trees, None, None, None)
    everything = trees.raw(x)
    first = model.first_stage(prep)
    assert first.predicted is None and np.array_equal(first.s0, everything)
    # What a run before kept: merchants in another order, one not in this graph, the
    # features of two changed since across the splits of feature a (from below the
    # lowest to the largest values: every split lies between), two moved by a hair
    # (across none), and a sentinel score where the trees decide as they did.
    order = rng.permutation(n)[: n - 1]  # one merchant is new here
    old_x = x[order].copy()
    crossed = np.argsort(x[order, 0])[-2:]
    old_x[crossed, 0] = x[:, 0].min() - 1.0
    hair = np.setdiff1d(np.arange(len(order)), crossed)[:2]
    old_x[hair, 1] = np.nextafter(old_x[hair, 1], np.float32(np.inf))
    old_s0 = np.full(len(order), 0.5)
    carried = Carried(ex.ids["Merchant"][order], np.zeros(len(order), np.int64), None,
                      {"x": old_x, "s0": old_s0})
    first = model.first_stage(prep, carried)
    new = np.setdiff1d(np.arange(n), order)
    predicted = np.r_[order[crossed], new]
    assert first.predicted == len(predicted)
    assert np.array_equal(first.s0[predicted], everything[predicted])
    rest = np.setdiff1d(np.arange(n), predicted)
    assert (first.s0[rest] == 0.5).all()  # carried, not predicted
    # The hair's breadth changed no leaf: the carried score is the prediction.
    assert np.array_equal(trees.raw(old_x[hair]), everything[order[hair]])
    assert not trees.same_leaves(old_x[crossed], x[order[crossed]]).any()
    # Kept for the next run: exactly this run's inputs and scores.
    assert set(first.kept()) == {"x", "s0"} and first.kept()["x"] is first.x
    # Carried with the scores of the same rows, the result is the prediction of all.
    carried = Carried(ex.ids["Merchant"][order], np.zeros(len(order), np.int64), None,
                      {"x": x[order], "s0": everything[order]})
    assert np.array_equal(model.first_stage(prep, carried).s0, everything)
    # A feature that is NaN in both runs is the same, and so is -0.0 against 0.0 (the
    # trees decide alike); one that became NaN is predicted.
    x_odd = x.copy()
    x_odd[0, 2], x_odd[1, 2], x_odd[2, 0] = np.nan, -0.0, np.nan
    old_odd = x_odd.copy()
    old_odd[1, 2], old_odd[2, 0] = 0.0, 0.25
    prep_odd = Prepared(ex, prep.links, pd.DataFrame(x_odd, columns=names), prep.communities,
                        prep.labels)
    carried = Carried(ex.ids["Merchant"], np.zeros(n, np.int64), None,
                      {"x": old_odd, "s0": np.full(n, 0.5)})
    first = model.first_stage(prep_odd, carried)
    assert first.predicted == 1 and first.s0[0] == first.s0[1] == 0.5
    assert trees.raw(old_odd[1:2])[0] == trees.raw(x_odd[1:2])[0]
    assert first.s0[2] == trees.raw(x_odd[2:3])[0]
    # Kept by a scorer of other features: not used.
    carried = Carried(ex.ids["Merchant"], np.zeros(n, np.int64), None,
                      {"x": np.zeros((n, 4), np.float32), "s0": np.zeros(n)})
    assert np.array_equal(model.first_stage(prep, carried).s0, everything)
