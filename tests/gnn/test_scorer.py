"""The choice of the stage whose ring score ships (``scorer.chosen_stage``)."""

from __future__ import annotations

import numpy as np

from guanxi.gnn.scorer import chosen_stage


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
