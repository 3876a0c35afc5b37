"""Consumers and their QR payments to merchants: locality, loyalty, rhythms, ticket sizes.

About twenty consumers per merchant live in the merchants' districts (roughly ten of
them pay in a given year). A merchant's customers are mostly from its own district,
some from elsewhere in the city, a few travellers; a customer comes back several
times (``visits``). Days follow the merchant's sales trend and monthly volatility
(its health), its category's weekly and holiday rhythm and promotions; hours follow
the category's daily shape (meal peaks, morning markets); tickets are lognormal per
category and shop, often whole yuan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from guanxi.ingest.synth.calendar import DATA_DAYS, DAY, HOURLY, PROMOTIONS, hours, season
from guanxi.ingest.synth.events import Payments
from guanxi.ingest.synth.params import SynthParams, stream
from guanxi.ingest.synth.pools import CATEGORIES, CHANNELS
from guanxi.ingest.synth.world import World, pick_in_groups

__all__ = [
    "CHUNK",
    "Consumers",
    "build_consumers",
    "customer_payments",
    "sample_days",
    "tickets",
    "topups",
]

CHUNK = 25_000
"""Merchants per chunk of customer payments (each chunk has its own random stream)."""

_SHAPES = list(HOURLY)
_HOURLY = [HOURLY[k] for k in _SHAPES]
_SHAPE_OF_CAT = np.array([_SHAPES.index(c.hourly) for c in CATEGORIES])
_SEASON = np.stack([season(c.weekend, c.closes_for_new_year, c.new_year_boost) for c in CATEGORIES])
_MEDIAN = np.array([c.median for c in CATEGORIES])
_SIGMA = np.array([c.sigma for c in CATEGORIES])
_ROUND = np.array([c.round_share for c in CATEGORIES])
_VISITS = np.array([c.visits for c in CATEGORIES])
_CHANNEL_P = np.array([p for _, p in CHANNELS])
_TOPUP_CATEGORIES = ("hair_salon", "restaurant", "tea_bakery", "fruit", "clothing", "snack",
                     "convenience")
_TOPUP_YUAN = np.array([200, 300, 500, 500, 1000, 1000, 2000, 3000, 5000])
_MONTH = np.searchsorted(np.cumsum([31, 31, 30, 31, 30, 31, 31, 28, 31, 30, 31, 30]),
                         np.arange(DATA_DAYS), side="right")


@dataclass
class Consumers:
    """Consumer codes ``0 .. n-1``, sorted by home district; codes from ``n`` on are
    crews added by the rings (``extra``). ``before[i]`` is the summed activity weight
    of consumers ``0 .. i-1``, ``start[d]`` the first consumer of district ``d``."""

    n: int
    district: np.ndarray
    channel: np.ndarray
    start: np.ndarray
    before: np.ndarray
    extra: int = 0

    @property
    def total(self) -> int:
        return self.n + self.extra

    def pick(self, rng: np.random.Generator, districts: np.ndarray) -> np.ndarray:
        """A consumer living in each of ``districts``, drawn by activity weight."""
        lo, hi = self.start[districts], self.start[districts + 1]
        u = self.before[lo] + rng.random(len(districts)) * (self.before[hi] - self.before[lo])
        return np.clip(np.searchsorted(self.before[1:], u, side="right"), lo, hi - 1)

    def add_crew(self, n: int) -> np.ndarray:
        """Mint ``n`` consumer codes outside the honest population (fake payers)."""
        codes = np.arange(self.total, self.total + n, dtype=np.int64)
        self.extra += n
        return codes


def build_consumers(world: World, params: SynthParams) -> Consumers:
    """About twenty consumers per merchant, housed where the merchants are."""
    rng = stream(params.seed, "consumers")
    per_district = np.bincount(world.district, minlength=len(world.district_names))
    count = rng.poisson(20.0 * per_district)
    count = np.maximum(count, (per_district > 0).astype(int))
    district = np.repeat(np.arange(len(count), dtype=np.int16), count)
    weight = rng.lognormal(0.0, 0.8, len(district))
    channel = rng.choice(len(CHANNELS), len(district), p=_CHANNEL_P).astype(np.int8)
    return Consumers(n=len(district), district=district, channel=channel,
                     start=np.r_[0, np.cumsum(count)], before=np.r_[0.0, np.cumsum(weight)])


def customer_payments(world: World, consumers: Consumers,
                      params: SynthParams) -> Iterator[tuple[int, int, Payments]]:
    """Yield ``(chunk, chunks, payments)`` of honest customer payments, chunk by chunk."""
    chunks = max(1, -(-world.n // CHUNK))
    active = world.active_fraction()
    for c in range(chunks):
        rng = stream(params.seed, "customers", c)
        m = np.arange(c * CHUNK, min(world.n, (c + 1) * CHUNK))
        vbar = _VISITS[world.category[m]]
        k = rng.poisson(world.rate[m] * active[m] / vbar)
        rel_m = np.repeat(m, k)
        visits = rng.geometric(1.0 / _VISITS[world.category[rel_m]])
        rel_c = consumers.pick(rng, _customer_district(rng, world, consumers, rel_m))
        pay_m = np.repeat(rel_m, visits)
        pay_c = np.repeat(rel_c, visits)
        ts = sample_days(rng, world, pay_m) * DAY + hours(
            rng, _SHAPE_OF_CAT[world.category[pay_m]], _HOURLY)
        own = rng.random(len(pay_c)) < 0.85
        channel = np.where(own, consumers.channel[pay_c],
                           rng.choice(len(CHANNELS), len(pay_c), p=_CHANNEL_P)).astype(np.int8)
        yield c, chunks, Payments(payer=pay_c + world.n, payee=pay_m, ts=ts,
                                  cents=tickets(rng, world, pay_m), channel=channel)


def _customer_district(rng: np.random.Generator, world: World, consumers: Consumers,
                       merchants: np.ndarray) -> np.ndarray:
    """Home district of each customer: the shop's own 80%, its city 15%, anywhere 5%."""
    home = world.district[merchants]
    sizes = np.diff(consumers.start).astype(float)
    city = pick_in_groups(rng, world.city_of_district, sizes, world.city[merchants])
    anywhere = rng.choice(len(sizes), len(merchants), p=sizes / sizes.sum())
    r = rng.random(len(merchants))
    out = np.where(r < 0.8, home, np.where(r < 0.95, city, anywhere))
    return np.where(sizes[out] > 0, out, home)


def sample_days(rng: np.random.Generator, world: World, merchants: np.ndarray,
                weight: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Day of each payment to ``merchants``: trend, seasons, volatility, promotions.

    Days are drawn from the merchant's exponential sales trend after its registration,
    then thinned (accepted with probability weight / bound) by the category season,
    a monthly lognormal shock of the merchant's volatility and its own promotion;
    rejected draws are redrawn. ``weight(merchants, days)`` multiplies in extra factors
    bounded by 1.
    """
    n = len(merchants)
    shocks = world.shocks
    start = np.clip(world.reg_day[merchants], 0, DATA_DAYS - 1).astype(float)
    b = world.trend[merchants] / DATA_DAYS
    lift = np.where(world.promo[merchants] >= 0, world.promo_lift[merchants], 1.0)
    bound = _SEASON.max(axis=1)[world.category[merchants]] * shocks[merchants].max(axis=1) * lift
    days = np.empty(n, np.int64)
    todo = np.arange(n)
    while len(todo):
        u = rng.random(len(todo))
        length = DATA_DAYS - start[todo]
        bt = b[todo] * length
        safe = np.where(np.abs(bt) < 1e-9, 1.0, bt)
        frac = np.where(np.abs(bt) < 1e-9, u, np.log1p(u * np.expm1(safe)) / safe)
        d = np.minimum((start[todo] + frac * length).astype(np.int64), DATA_DAYS - 1)
        m = merchants[todo]
        w = _SEASON[world.category[m], d] * shocks[m, _MONTH[d]]
        w = w * np.where(_in_own_promo(world.promo[m], d), lift[todo], 1.0)
        if weight is not None:
            w = w * weight(m, d)
        ok = rng.random(len(todo)) * bound[todo] < w
        days[todo[ok]] = d[ok]
        todo = todo[~ok]
    return days


def _in_own_promo(promo: np.ndarray, days: np.ndarray) -> np.ndarray:
    starts = np.array([a for _, a, _ in PROMOTIONS])
    ends = np.array([b for _, _, b in PROMOTIONS])
    p = np.maximum(promo, 0)
    return (promo >= 0) & (days >= starts[p]) & (days <= ends[p])


def tickets(rng: np.random.Generator, world: World, merchants: np.ndarray) -> np.ndarray:
    """Ticket sizes in fen for customer payments to ``merchants``.

    Lognormal around the category median times the shop's price level; a category
    share of tickets is whole yuan (menu prices, haggled stall prices).
    """
    cat = world.category[merchants]
    yuan = _MEDIAN[cat] * world.price[merchants] * np.exp(
        _SIGMA[cat] * rng.standard_normal(len(merchants)))
    whole = rng.random(len(merchants)) < _ROUND[cat]
    yuan = np.where(whole, np.maximum(np.round(yuan), 1.0), yuan)
    return np.maximum(np.round(yuan * 100), 50).astype(np.int64)


def topups(world: World, consumers: Consumers, params: SynthParams) -> Payments:
    """Big honest tickets: stored-value card top-ups (会员卡充值) and occasional big orders.

    Hair salons, restaurants and bakeries sell prepaid cards, so honest shops also get
    large round payments from a few regulars; any shop now and then takes a banquet, a
    bulk order or a phone sale. These are the look-alikes of cash-out deposits.
    """
    rng = stream(params.seed, "topups")
    shop = np.flatnonzero(rng.random(world.n) < params.profile.topups)
    m = np.repeat(shop, 1 + rng.poisson(2.0, len(shop)))
    payer = consumers.pick(rng, world.district[m])
    ts = sample_days(rng, world, m) * DAY + hours(rng, _SHAPE_OF_CAT[world.category[m]], _HOURLY)
    card = np.isin(world.category_codes[m], _TOPUP_CATEGORIES) & (rng.random(len(m)) < 0.7)
    big = np.round(1200 * rng.lognormal(0.0, 0.8, len(m)) * 100)
    big = np.where(rng.random(len(m)) < 0.4, np.round(big, -4), big)
    cents = np.where(card, rng.choice(_TOPUP_YUAN, len(m)) * 100, np.maximum(big, 10_000))
    return Payments(payer=payer + world.n, payee=m, ts=ts, cents=cents.astype(np.int64),
                    channel=consumers.channel[payer])
