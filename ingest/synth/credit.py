"""Credit outcomes over the horizon: health, ring bust-outs and contagion, in rounds.

Each merchant's 12-month default hazard comes from its latent health (the same one
that drives its sales trend and volatility), its size, age and category. Rings bust
out: a ring that does takes most of its members down together. Defaults then spread
in rounds: a buyer loses supply when its wholesaler fails, a wholesaler loses
receivables when its buyers fail, and a business group's shops fall together. A
contagion default comes 20-120 days after its cause and counts only inside the
horizon. Only merchants with an observed loan reach the ``defaults`` file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from guanxi.ingest.synth.calendar import DATA_DAYS, HORIZON_DAYS
from guanxi.ingest.synth.params import SynthParams, stream
from guanxi.ingest.synth.pools import CATEGORIES
from guanxi.ingest.synth.rings import Ring
from guanxi.ingest.synth.trade import Trade
from guanxi.ingest.synth.world import World

__all__ = ["BASE_RATE", "BUST_OUT", "Credit", "simulate_credit"]

BASE_RATE = 0.03
"""Mean 12-month default probability from health alone, before rings and contagion."""

BUST_OUT = {"circular_trading": 0.45, "promotion_farming": 0.2, "cash_out": 0.5,
            "shell_merchants": 0.6, "fake_supply_chain": 0.5}
"""Chance that a ring of each typology busts out inside the horizon."""

_CATEGORY_RISK = {"restaurant": 0.3, "snack": 0.2, "tea_bakery": 0.35, "clothing": 0.3,
                  "market_stall": 0.0, "pharmacy": -0.4, "wholesaler": 0.1}
_H0, _H1 = DATA_DAYS, DATA_DAYS + HORIZON_DAYS


@dataclass
class Credit:
    """Outcome per merchant: ``defaulted`` and ``default_day`` (day index, -1 none), whether
    a loan is observed (``loan``) and the day its outcome was observed."""

    defaulted: np.ndarray
    default_day: np.ndarray
    loan: np.ndarray
    observed_day: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrate(x: np.ndarray, target: float) -> float:
    """Intercept ``a`` with ``mean(sigmoid(a + x)) == target`` (bisection, deterministic)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if _sigmoid(mid + x).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def simulate_credit(world: World, trade: Trade, rings: list[Ring], params: SynthParams) -> Credit:
    """Default outcomes for every merchant and which of them a lender observed."""
    rng = stream(params.seed, "credit")
    n = world.n
    size = np.log(world.rate + 0.5)
    size = (size - size.mean()) / (size.std() or 1.0)
    young = world.reg_day > -365
    risk = np.array([_CATEGORY_RISK.get(c.code, 0.0) for c in CATEGORIES])[world.category]
    x = -1.1 * world.health - 0.25 * size + 0.5 * young + risk + 0.5 * (world.ring >= 0)
    p = _sigmoid(_calibrate(x, BASE_RATE) + x)
    defaulted = rng.random(n) < p
    day = np.where(defaulted, rng.integers(_H0, _H1, n), -1)

    for ring in rings:
        if rng.random() < BUST_OUT[ring.typology]:
            bust = int(rng.integers(_H0, _H1 - 30))
            m = ring.members[rng.random(len(ring.members)) < 0.7]
            when = np.clip(bust + rng.normal(0, 15, len(m)).astype(int), _H0, _H1 - 1)
            first = ~defaulted[m]
            defaulted[m] = True
            day[m[first]] = when[first]

    newly = defaulted.copy()
    for _ in range(3):
        hazard, cause = _exposure(world, trade, newly, day)
        lag = rng.integers(20, 121, n)
        new = ~defaulted & (rng.random(n) < 1 - np.exp(-hazard)) & (cause + lag < _H1)
        day[new] = (cause + lag)[new]
        defaulted |= new
        newly = new

    # Lenders see bigger, older merchants more often, and those who applied for loans.
    applied = np.zeros(n, bool)
    for ring in rings:
        if ring.typology == "circular_trading":
            applied[ring.members] = True
    y = 0.5 * size + 0.4 * np.tanh(np.clip(-world.reg_day, 0, None) / 730) + 2.0 * applied
    loan = rng.random(n) < _sigmoid(_calibrate(y, params.loan_fraction) + y)
    observed = np.where(defaulted, day, _H1 - 1)
    return Credit(defaulted=defaulted, default_day=day, loan=loan, observed_day=observed)


def _exposure(world: World, trade: Trade, newly: np.ndarray,
              day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hazard from merchants that just defaulted, and the earliest such cause's day.

    Buyers: share of purchases from failed suppliers (x0.5: most find another supplier);
    suppliers: share of sales to failed buyers (x0.3); a failed shop in the business
    group (+0.25).
    """
    n = world.n
    s, b, w = trade.link_supplier, trade.link_buyer, trade.link_cents
    bought = np.bincount(b, weights=w, minlength=n)
    sold = np.bincount(s, weights=w, minlength=n)
    hit_b = newly[s]
    hit_s = newly[b]
    buyer_loss = np.bincount(b[hit_b], weights=w[hit_b], minlength=n) / np.maximum(bought, 1)
    seller_loss = np.bincount(s[hit_s], weights=w[hit_s], minlength=n) / np.maximum(sold, 1)
    in_group = np.bincount(world.group, weights=newly, minlength=world.group.max() + 1)
    group_hit = (in_group[world.group] - newly) > 0

    cause = np.full(n, np.iinfo(np.int64).max // 2, np.int64)
    np.minimum.at(cause, b[hit_b], day[s[hit_b]])
    np.minimum.at(cause, s[hit_s], day[b[hit_s]])
    first_in_group = np.full(world.group.max() + 1, np.iinfo(np.int64).max // 2, np.int64)
    np.minimum.at(first_in_group, world.group[newly], day[newly])
    cause = np.where(group_hit, np.minimum(cause, first_in_group[world.group]), cause)
    return 0.5 * buyer_loss + 0.3 * seller_loss + 0.25 * group_hit, cause
