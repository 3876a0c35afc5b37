"""Planting collusion rings: who is in each ring and which identifiers they share.

Members are drawn from the honest world (they keep serving real customers, the
camouflage), never from a position, id or date range that would give them away:
merchant ids are random and files are sorted by id or time. Shell merchants are the
exception by design: they are (re)registered together by one agent and take the
ring's identifiers. :mod:`typologies` then writes each ring's transactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from guanxi.ingest.synth.calendar import DATA_DAYS
from guanxi.ingest.synth.params import TYPOLOGIES, Profile, SynthParams, stream
from guanxi.ingest.synth.pools import CATEGORIES
from guanxi.ingest.synth.world import World

__all__ = ["Ring", "plant_rings"]

_CODES = [c.code for c in CATEGORIES]
_ELIGIBLE = {
    "circular_trading": ("restaurant", "convenience", "wholesaler", "repair", "clothing",
                         "hardware", "pharmacy", "fruit", "tea_bakery"),
    "promotion_farming": ("restaurant", "snack", "convenience", "fruit", "tea_bakery",
                          "market_stall", "hair_salon"),
    "cash_out": tuple(_CODES),
    "shell_merchants": ("convenience", "restaurant", "clothing", "snack", "repair", "fruit",
                        "hardware", "tea_bakery"),
    "fake_supply_chain": tuple(_CODES),
}
_FRONT = ("clothing", "repair", "hardware", "convenience", "wholesaler", "pharmacy")


@dataclass
class Ring:
    """One planted ring: members (merchant codes) and its typology-specific roles.

    ``lead`` members are the cash-out fronts or the fake suppliers (first in
    ``members``); ``crew`` holds consumer codes acting for the ring (farming crew,
    cash-out payers, shell activators), filled in by :mod:`typologies`.
    """

    index: int
    typology: str
    members: np.ndarray
    lead: int = 0
    crew: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    first_day: int = DATA_DAYS


def plant_rings(world: World, params: SynthParams) -> list[Ring]:
    """Choose ring members and rewrite what the typology makes them share.

    Sets ``world.ring``; shell members get new registration dates, agent, business
    group and shared identifiers; cash-out and promotion rings share some identifiers.
    Ring ``index`` order is shuffled across typologies.
    """
    rng = stream(params.seed, "rings")
    prof = params.profile
    counts = params.ring_counts()
    typology = np.array([t for t in TYPOLOGIES for _ in range(counts[t])])
    typology = typology[rng.permutation(len(typology))]
    budget = world.n // 2  # never more than half the merchants in rings
    sizes = _sizes(rng, prof, len(typology), budget)
    free = np.ones(world.n, bool)
    single = np.bincount(world.group)[world.group] == 1
    codes = world.category_codes
    eligible = {t: np.isin(codes, _ELIGIBLE[t]) & (single if t == "shell_merchants" else True)
                for t in TYPOLOGIES}
    by_city = {c: np.flatnonzero(world.city == c) for c in np.unique(world.city).tolist()}
    rings = []
    for i, (t, size) in enumerate(zip(typology.tolist(), sizes.tolist(), strict=True)):
        ok = eligible[t] & free
        members = _draw(rng, world, ok, free, by_city, size, same_district=t == "promotion_farming")
        ring = Ring(index=i, typology=t, members=members)
        _roles(rng, world, ring)
        free[members] = False
        world.ring[members] = i
        world.rate[members] *= prof.ring_popularity
        _share(rng, world, ring, prof)
        rings.append(ring)
    return rings


def _sizes(rng: np.random.Generator, prof: Profile, n: int, budget: int) -> np.ndarray:
    lo, hi = prof.size
    size = lo + ((hi - lo + 1) * rng.random(n) ** 1.6).astype(np.int64)
    while size.sum() > budget and size.max() > 3:
        size = np.maximum(3, size * 3 // 4)
    return size


def _draw(rng: np.random.Generator, world: World, ok: np.ndarray, free: np.ndarray,
          by_city: dict[int, np.ndarray], size: int, same_district: bool) -> np.ndarray:
    """Members around a random seed merchant: same city (or district), widening if short."""
    pool = np.flatnonzero(ok)
    if len(pool) == 0:
        pool = np.flatnonzero(free)
    seed = pool[rng.integers(len(pool))]
    city = by_city[int(world.city[seed])]
    near = city[ok[city]]
    if same_district or rng.random() < 0.6:
        local = near[world.district[near] == world.district[seed]]
        if len(local) >= size:
            near = local
    if len(near) < size:
        near = pool if len(pool) >= size else np.flatnonzero(free)
    near = near[near != seed]
    rest = near[rng.choice(len(near), min(size - 1, len(near)), replace=False)]
    return np.r_[seed, rest].astype(np.int64)


def _roles(rng: np.random.Generator, world: World, ring: Ring) -> None:
    """Put the leads first: cash-out fronts (high-ticket shops), fake suppliers (wholesalers)."""
    m = ring.members
    if ring.typology == "cash_out":
        score = np.isin(world.category_codes[m], _FRONT) + rng.random(len(m))
        ring.members = m[np.argsort(-score, kind="stable")]
        ring.lead = max(1, len(m) // 3)
    elif ring.typology == "fake_supply_chain":
        score = (world.category_codes[m] == "wholesaler") + rng.random(len(m))
        ring.members = m[np.argsort(-score, kind="stable")]
        ring.lead = int(rng.integers(1, max(2, min(3, len(m) - 1)) + 1))


def _share(rng: np.random.Generator, world: World, ring: Ring, prof: Profile) -> None:
    """Rewrite identifiers and onboarding the way each typology really shares them."""
    m, t = ring.members, ring.typology
    agent = _ring_agent(rng, world, m[0])
    if t == "shell_merchants":
        base = int(rng.integers(-prof.shell_age, DATA_DAYS - 60))
        world.reg_day[m] = base + rng.integers(0, prof.reg_spread, len(m))
        world.agent[m] = np.where(rng.random(len(m)) < 0.4 + 0.6 * prof.shared_id, agent,
                                  world.agent[m])
        world.group[m] = world.group.max() + 1
        world.rate[m] *= rng.uniform(0.05, 0.1 + 0.5 * (1 - prof.shared_id), len(m))
        world.promo[m] = -1
        _pool_ids(rng, world, m, prof.shared_id, ("owner", "phone", "device", "bank", "address"))
    elif t == "cash_out":
        receivers = m[ring.lead:]
        _pool_ids(rng, world, receivers, prof.shared_id, ("owner", "phone", "bank"))
        fronts = m[:ring.lead]
        link = fronts[rng.random(len(fronts)) < 0.6 * prof.shared_id]
        if len(link):
            kind = ("phone", "bank", "owner")[int(rng.integers(3))]
            getattr(world, kind)[link] = getattr(world, kind)[receivers[0]]
    elif t == "promotion_farming":
        take = rng.random(len(m)) < 0.8 * prof.shared_id
        world.agent[m[take]] = agent
        dev = m[rng.random(len(m)) < 0.3 * prof.shared_id]
        if len(dev) > 1:
            world.device[dev] = world.codes.fresh("device", 1)[0]
    else:
        take = rng.random(len(m)) < 0.3 * prof.shared_id
        world.agent[m[take]] = agent


def _pool_ids(rng: np.random.Generator, world: World, m: np.ndarray, p: float,
              kinds: tuple[str, ...]) -> None:
    """Members take identifiers from small ring pools; each shares at least one kind."""
    take = rng.random((len(m), len(kinds))) < p
    take[np.arange(len(m)), rng.integers(0, len(kinds), len(m))] = True
    for j, kind in enumerate(kinds):
        arr = getattr(world, kind)
        if kind == "address":
            pool = arr[m[:max(1, len(m) // 6)]]
        else:
            fresh_kind = "person" if kind == "owner" else kind
            pool = world.codes.fresh(fresh_kind, int(rng.integers(1, 4)))
        rows = m[take[:, j]]
        arr[rows] = pool[rng.integers(0, len(pool), len(rows))]


def _ring_agent(rng: np.random.Generator, world: World, member: int) -> int:
    local = np.flatnonzero(world.agent_city == world.city[member])
    if len(local) == 0:
        local = np.arange(len(world.agent_city))
    return int(local[rng.integers(len(local))])

