"""The honest merchant world: where shops are, what they sell, who runs them, how they fare.

Merchants come in business groups (a chain with one owner, or a family of relatives
each running a shop); each shop has a category, a city and district, a registration
date, an onboarding agent (a few agents onboard most shops), identifiers, a customer
traffic rate (heavy-tailed) and a latent financial health that drives its sales trend
and volatility and, later, its default hazard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from guanxi.ingest.synth.calendar import DATA_DAYS, PROMOTIONS, day_index
from guanxi.ingest.synth.identity import AddressBook, Codes, assign_identifiers
from guanxi.ingest.synth.params import SynthParams, stream
from guanxi.ingest.synth.pools import BRANDS, CATEGORIES, CITIES, GOODS, STREETS, SURNAMES

__all__ = [
    "CONSUMER_PAYMENTS_PER_MERCHANT", "GroupSampler", "World", "build_world", "pick_in_groups",
]

CONSUMER_PAYMENTS_PER_MERCHANT = 23.0
"""Mean customer payments a merchant receives over the data year (m2m and rings come on top)."""

_FIRST_REGISTRATION = day_index(date(2016, 1, 1))
_LAST_REGISTRATION = DATA_DAYS - 8
_WHOLESALER = [c.code for c in CATEGORIES].index("wholesaler")


@dataclass
class World:
    """Every merchant as parallel arrays indexed by merchant code ``0 .. n-1``.

    Identifier arrays hold integer codes (``-1`` = none). ``rate`` is expected customer
    payments per year; ``trend`` the yearly log-growth of sales, ``vol`` the monthly
    log-volatility, both driven by the latent ``health``; ``shocks`` the (n, 12) monthly
    sales multipliers drawn with that volatility; ``promo`` the promotion window
    an honest merchant runs (``-1`` none) with traffic multiplied by ``promo_lift``.
    ``ring`` is filled in by :mod:`rings` (``-1`` honest).
    """

    n: int
    city: np.ndarray
    district: np.ndarray
    category: np.ndarray
    goods: np.ndarray
    reg_day: np.ndarray
    group: np.ndarray
    chain: np.ndarray
    agent: np.ndarray
    owner: np.ndarray
    phone: np.ndarray
    device: np.ndarray
    bank: np.ndarray
    address: np.ndarray
    rate: np.ndarray
    price: np.ndarray
    health: np.ndarray
    trend: np.ndarray
    vol: np.ndarray
    shocks: np.ndarray
    promo: np.ndarray
    promo_lift: np.ndarray
    names: list[str]
    district_names: list[str]
    city_of_district: np.ndarray
    district_weight: np.ndarray
    agent_city: np.ndarray
    agent_device: np.ndarray
    book: AddressBook
    codes: Codes
    ring: np.ndarray

    @property
    def category_codes(self) -> np.ndarray:
        return np.array([c.code for c in CATEGORIES])[self.category]

    def active_fraction(self) -> np.ndarray:
        """Share of the data year each merchant is registered for."""
        return (DATA_DAYS - np.clip(self.reg_day, 0, DATA_DAYS - 1)) / DATA_DAYS


class GroupSampler:
    """Draw, for each wanted key, an index ``i`` with ``keys[i] == key`` by ``weights``.

    One sort up front; each draw is two ``searchsorted`` calls, whatever the number of
    groups (cities, districts). Keys with no candidate give ``-1``.
    """

    def __init__(self, keys: np.ndarray, weights: np.ndarray) -> None:
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        self.cum = np.cumsum(weights[self.order].astype(float))
        self.before = np.r_[0.0, self.cum]

    def pick(self, rng: np.random.Generator, want: np.ndarray) -> np.ndarray:
        lo = np.searchsorted(self.keys, want, side="left")
        hi = np.searchsorted(self.keys, want, side="right")
        u = self.before[lo] + rng.random(len(want)) * (self.before[hi] - self.before[lo])
        pos = np.clip(np.searchsorted(self.cum, u, side="right"), lo, np.maximum(hi - 1, lo))
        return np.where(hi > lo, self.order[np.minimum(pos, len(self.order) - 1)], -1)


def pick_in_groups(rng: np.random.Generator, keys: np.ndarray, weights: np.ndarray,
                   want: np.ndarray) -> np.ndarray:
    """One-off :class:`GroupSampler` draw."""
    return GroupSampler(keys, weights).pick(rng, want)


def build_world(params: SynthParams) -> World:
    """Draw the honest world for ``params`` (rings are planted afterwards)."""
    rng = stream(params.seed, "world")
    prof = params.profile
    n = params.merchants

    district_names = [d for _, _, ds in CITIES for d in ds]
    city_of_district = np.array([c for c, (_, _, ds) in enumerate(CITIES) for _ in ds])
    city_w = np.array([w for _, w, _ in CITIES], float)
    district_weight = city_w[city_of_district] * rng.gamma(4.0, 0.25, len(district_names))
    district_weight /= np.bincount(city_of_district)[city_of_district]

    # Business groups: mostly single shops; chains and families of 2..12 shops.
    size = np.where(rng.random(n) < 0.86, 1, 1 + rng.geometric(0.45, n)).clip(1, 12)
    cum = np.cumsum(size)
    n_groups = int(np.searchsorted(cum, n)) + 1
    size = size[:n_groups]
    size[-1] -= int(cum[n_groups - 1]) - n
    group = np.repeat(np.arange(n_groups), size)
    chain = ((size > 1) & (rng.random(n_groups) < 0.55))[group]
    leader = np.repeat(np.r_[0, np.cumsum(size)[:-1]], size)

    city = rng.choice(len(CITIES), n_groups, p=city_w / city_w.sum())[group]
    district = pick_in_groups(rng, city_of_district, district_weight, city)
    family = (size[group] > 1) & ~chain
    district = np.where(family & (rng.random(n) < 0.8), district[leader], district)

    shares = np.array([c.share for c in CATEGORIES])
    category = rng.choice(len(CATEGORIES), n, p=shares / shares.sum()).astype(np.int8)
    category = np.where(chain & (rng.random(n) < 0.9), category[leader], category).astype(np.int8)
    goods_w = np.array([g.share for g in GOODS])
    goods = np.where(category == _WHOLESALER, rng.choice(len(GOODS), n, p=goods_w / goods_w.sum()),
                     -1).astype(np.int8)

    # Registration: QR acceptance took off in 2016, newer shops are more numerous.
    span = _LAST_REGISTRATION - _FIRST_REGISTRATION
    reg_day = (_FIRST_REGISTRATION + span * rng.random(n) ** 0.55).astype(np.int32)

    # Agents: few onboard many (Pareto weights), each working one city.
    n_agents = max(5, n // 150)
    agent_city = rng.choice(len(CITIES), n_agents, p=city_w / city_w.sum())
    agent_w = rng.pareto(1.1, n_agents) + 1.0
    agent = pick_in_groups(rng, agent_city, agent_w, city)
    anywhere = rng.choice(n_agents, n, p=agent_w / agent_w.sum())
    agent = np.where(agent < 0, anywhere, agent)
    agent = np.where(chain & (rng.random(n) < 0.7), agent[leader], agent)
    agent = np.where(rng.random(n) < 0.12, -1, agent)  # signed up by themselves in the app

    codes = Codes()
    agent_device = codes.fresh("device", n_agents)
    book = AddressBook(district_names, city_of_district, stream(params.seed, "addresses"))
    category_codes = np.array([c.code for c in CATEGORIES])[category]
    market, market_address = _markets(rng, category_codes, district, city_of_district, agent,
                                       agent_city, agent_w, reg_day, book)
    ids = assign_identifiers(rng, group, chain, district, city, category_codes, agent,
                             agent_device, market, market_address, book, codes,
                             prof.coincidence, prof.agent_device)

    # Traffic and health. Dormant QR codes are common: registered, hardly used.
    cat_rate = np.array([c.rate for c in CATEGORIES])[category]
    rate = cat_rate * np.exp(1.1 * rng.standard_normal(n)) * np.where(chain, 1.3, 1.0)
    rate *= np.where(rng.random(n) < prof.dormant, rng.uniform(0.02, 0.15, n), 1.0)
    age_years = np.clip(-reg_day, 0, None) / 365.0
    health = 0.9 * rng.standard_normal(n) + 0.3 * np.tanh(age_years / 3.0) - 0.15
    trend = 0.35 * health + 0.2 * rng.standard_normal(n)
    vol = 0.1 + 0.25 / (1.0 + np.exp(1.5 * health))
    promo = np.where(rng.random(n) < prof.promo_merchants,
                     rng.integers(0, len(PROMOTIONS), n), -1).astype(np.int8)
    promo_lift = rng.uniform(1.8, 3.5, n)

    world = World(
        n=n, city=city, district=district, category=category, goods=goods, reg_day=reg_day,
        group=group, chain=chain, agent=agent, owner=ids["owner"], phone=ids["phone"],
        device=ids["device"], bank=ids["bank"], address=ids["address"], rate=rate,
        price=np.exp(0.25 * rng.standard_normal(n)), health=health, trend=trend, vol=vol,
        shocks=np.exp(vol[:, None] * rng.standard_normal((n, 12))),
        promo=promo, promo_lift=promo_lift, names=[], district_names=district_names,
        city_of_district=city_of_district, district_weight=district_weight,
        agent_city=agent_city, agent_device=agent_device, book=book, codes=codes,
        ring=np.full(n, -1, np.int32),
    )
    mean_rate = max(float(np.mean(rate * world.active_fraction())), 1e-9)
    world.rate *= CONSUMER_PAYMENTS_PER_MERCHANT / mean_rate
    world.names = _names(rng, world, leader)
    return world


def _markets(rng: np.random.Generator, category_codes: np.ndarray, district: np.ndarray,
             city_of_district: np.ndarray, agent: np.ndarray, agent_city: np.ndarray,
             agent_w: np.ndarray, reg_day: np.ndarray,
             book: AddressBook) -> tuple[np.ndarray, np.ndarray]:
    """Group stalls into farmers' markets; some markets had an onboarding drive.

    In a drive an agent signs up most stalls of one market within a few days: the
    honest look-alike of shell merchants onboarded together. Mutates ``agent`` and
    ``reg_day`` of those stalls; returns each merchant's market (-1) and market addresses.
    """
    market = np.full(len(district), -1, np.int64)
    addresses: list[int] = []
    stalls = np.flatnonzero(category_codes == "market_stall")
    for d in np.unique(district[stalls]).tolist():
        members = stalls[district[stalls] == d]
        k = max(1, int(np.ceil(len(members) / 35)))
        first = len(addresses)
        addresses.extend(book.market(d, int(rng.integers(0, 1000))) for _ in range(k))
        market[members] = first + rng.integers(0, k, len(members))
    order = stalls[np.argsort(market[stalls], kind="stable")]
    bounds = np.searchsorted(market[order], np.arange(len(addresses) + 1))
    for m in range(len(addresses)):
        members = order[bounds[m]:bounds[m + 1]]
        if rng.random() >= 0.4 or len(members) == 0:
            continue
        city = city_of_district[district[members[0]]]
        local = np.flatnonzero(agent_city == city)
        if len(local) == 0:
            continue
        drive_agent = local[rng.choice(len(local), p=agent_w[local] / agent_w[local].sum())]
        drive_day = int(rng.integers(_FIRST_REGISTRATION + 300, _LAST_REGISTRATION - 3))
        joined = members[rng.random(len(members)) < 0.7]
        agent[joined] = drive_agent
        reg_day[joined] = drive_day + rng.integers(0, 3, len(joined))
    return market, np.array(addresses, np.int64)


def _names(rng: np.random.Generator, world: World, leader: np.ndarray) -> list[str]:
    """Shop names as they read on the signboard: 老王面馆, 华联便利店（人民路店）, 王姐蔬菜摊."""
    n = world.n
    surname = rng.integers(0, len(SURNAMES), n)
    brand = rng.integers(0, len(BRANDS), n)[leader]
    street = rng.integers(0, len(STREETS), n)
    style = rng.integers(0, 4, n)
    pick = rng.random(n)
    names = []
    for i in range(n):
        cat = CATEGORIES[world.category[i]]
        if cat.code == "wholesaler":
            g = GOODS[world.goods[i]]
            head = BRANDS[brand[i]] if style[i] < 3 else world.district_names[world.district[i]][:2]
            names.append(head + g.names[int(pick[i] * len(g.names))])
            continue
        core = cat.names[int(pick[i] * len(cat.names))]
        s = SURNAMES[surname[i]]
        if world.chain[i]:
            names.append(f"{BRANDS[brand[i]]}{core}（{STREETS[street[i]]}店）")
        elif cat.code == "market_stall":
            names.append(f"{s}{('姐', '哥', '记', '嫂')[style[i]]}{core}")
        else:
            names.append((f"老{s}", f"{s}记", f"{s}家", BRANDS[brand[i]])[style[i]] + core)
    return names
