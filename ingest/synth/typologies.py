"""The transactions of each planted ring, one function per typology.

Every function gets the ring's own random stream and the difficulty profile, and
returns the ring's payments, invoices and shipments. ``participation`` decides which
members show the typology's signal at all, ``intensity`` how much, ``round_share``
how often amounts are round; see docs/data.md for how each typology shows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from guanxi.ingest.synth.calendar import DATA_DAYS, DAY, HOURLY, PROMOTIONS, hours
from guanxi.ingest.synth.consumers import Consumers, tickets
from guanxi.ingest.synth.events import Payments, Shipments, Supply
from guanxi.ingest.synth.params import Profile, SynthParams, stream
from guanxi.ingest.synth.pools import CARRIERS, CATEGORIES, CHANNELS
from guanxi.ingest.synth.rings import Ring
from guanxi.ingest.synth.trade import M2M_CHANNEL_P, business_times, ship
from guanxi.ingest.synth.world import GroupSampler, World

__all__ = ["ring_events"]

Events = tuple[Payments, Supply, Shipments]
_END = DATA_DAYS * DAY
_SHAPES = [HOURLY[c.hourly] for c in CATEGORIES]
_CARD_P = np.array([0.3, 0.2, 0.5, 0.0])  # cash-out runs on credit cards: unionpay first


def ring_events(world: World, consumers: Consumers, rings: list[Ring],
                params: SynthParams) -> Events:
    """All ring transactions; sets each ring's ``crew`` and ``first_day``."""
    makers: dict[str, Callable[..., Events]] = {
        "circular_trading": _circular, "promotion_farming": _farming, "cash_out": _cash_out,
        "shell_merchants": _shell, "fake_supply_chain": _fake_supply,
    }
    pays, sups, ships = [], [], []
    near = GroupSampler(world.district, world.rate)
    for ring in rings:
        rng = stream(params.seed, "ring", ring.index)
        p, s, sh = makers[ring.typology](rng, world, consumers, ring, params.profile, near)
        pays.append(p)
        sups.append(s)
        ships.append(sh)
        times = np.r_[p.ts, s.ts, sh.ts]
        ring.first_day = int(times.min() // DAY) if len(times) else DATA_DAYS
    return Payments.concat(pays), Supply.concat(sups), Shipments.concat(ships)


def _participants(rng: np.random.Generator, members: np.ndarray, p: float,
                  least: int) -> np.ndarray:
    """Members showing the signal: each with chance ``p``, topped up to ``least``."""
    order = members[rng.permutation(len(members))]
    show = rng.random(len(order)) < p
    show[:least] = True
    return order[show]


def _round_or_not(rng: np.random.Generator, yuan: np.ndarray, share: float, unit: float,
                  ) -> np.ndarray:
    """Fen; a ``share`` of amounts rounded to ``unit`` yuan, the rest keep their cents."""
    rounded = np.maximum(np.round(yuan / unit), 1) * unit
    out = np.where(rng.random(len(yuan)) < share, rounded, yuan)
    return np.maximum(np.round(out * 100), 100).astype(np.int64)


def _m2m(rng: np.random.Generator, payer: np.ndarray, payee: np.ndarray, ts: np.ndarray,
         cents: np.ndarray, p: np.ndarray = M2M_CHANNEL_P) -> Payments:
    ok = ts < _END
    return Payments(payer=payer[ok].astype(np.int64), payee=payee[ok].astype(np.int64),
                    ts=ts[ok].astype(np.int64), cents=cents[ok],
                    channel=rng.choice(4, int(ok.sum()), p=p).astype(np.int8))


def _none() -> tuple[Supply, Shipments]:
    return Supply.concat([]), Shipments.concat([])


def _crew(rng: np.random.Generator, world: World, consumers: Consumers, ring: Ring, size: int,
          recruited: float) -> tuple[np.ndarray, np.ndarray]:
    """Fake payers: recruited real consumers of the ring's district plus fresh ids."""
    real = int(round(size * recruited))
    home = np.full(real, world.district[ring.members[0]])
    fresh = consumers.add_crew(size - real)
    ring.crew = np.r_[consumers.pick(rng, home), fresh].astype(np.int64)
    return ring.crew, fresh


def _circular(rng: np.random.Generator, world: World, consumers: Consumers, ring: Ring,
              prof: Profile, near: GroupSampler) -> Events:
    """Turnover passed round a cycle, minus a small cut, in the weeks before loan applications."""
    parts = _participants(rng, ring.members, prof.participation, 3)
    cycles = [parts]
    if len(parts) > 3 and rng.random() < 0.5:
        cycles.append(parts[rng.permutation(len(parts))][:int(rng.integers(3, len(parts) + 1))])
    base = 8000.0 * prof.intensity ** 2
    rows: list[tuple[int, int, int, float]] = []
    for apply_day in rng.integers(60, DATA_DAYS + 30, 1 + int(rng.integers(0, 3))).tolist():
        lo, hi = max(0, apply_day - 42), min(DATA_DAYS - 1, apply_day - 3)
        if hi <= lo:
            continue
        for r in range(1 + rng.poisson(5 * prof.intensity)):
            cyc = cycles[r % len(cycles)]
            t = (lo + rng.random() * (hi - lo)) * DAY + rng.integers(8, 20) * 3600
            amount = base * rng.lognormal(0.0, 0.3)
            if rng.random() < prof.round_share:
                amount = max(1000.0, round(amount / 1000) * 1000)
            for k in range(len(cyc)):
                # Structuring: hops are split below a cap (QR limits; smaller in harder data).
                pieces = int(np.ceil(amount / (20_000 * prof.intensity ** 2)))
                for _ in range(pieces):
                    nxt = int(cyc[(k + 1) % len(cyc)])
                    rows.append((int(cyc[k]), nxt, int(t), amount / pieces))
                    t += rng.integers(60, 900)
                t += rng.uniform(0.5, 20 + 28 * (1 - prof.participation)) * 3600
                amount *= 1 - rng.uniform(0.005, 0.03)
    if not rows:
        return (Payments.concat([]), *_none())
    a = np.array(rows, dtype=float).reshape(-1, 4)
    cents = np.maximum(np.round(a[:, 3] * 100), 100).astype(np.int64)
    return (_m2m(rng, a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2], cents),
            *_none())


def _farming(rng: np.random.Generator, world: World, consumers: Consumers, ring: Ring,
             prof: Profile, near: GroupSampler) -> Events:
    """A crew paying the ring's shops in promotion windows: small round amounts, dense block."""
    shops = _participants(rng, ring.members, prof.participation, 2)
    n_crew = int(np.clip(len(ring.members) * (2 + 2 * prof.intensity), 8, 120))
    crew, fresh = _crew(rng, world, consumers, ring, n_crew, prof.recruited)
    n_win = 3 if prof.participation >= 1 else int(rng.integers(1, 3))
    density = 0.45 + 0.45 * prof.participation
    parts = []
    for w in rng.choice(len(PROMOTIONS), n_win, replace=False).tolist():
        _, a, b = PROMOTIONS[w]
        ci, si = np.nonzero(rng.random((len(crew), len(shops))) < density)
        # The bounty is per customer per shop per day: a few paid days per window.
        visits = np.minimum(1 + rng.poisson(1.5 * prof.intensity, len(ci)), b - a + 1)
        ci, si = np.repeat(ci, visits), np.repeat(si, visits)
        day = a + rng.integers(0, b - a + 1, len(ci))
        # A crew member sweeps the shops in one go; in harder data some visits are spread.
        start = 9 * 3600 + (rng.random((len(crew), b - a + 1)) * 11 * 3600).astype(np.int64)
        sweep = start[ci, day - a] + si * rng.integers(120, 600, len(ci))
        spread = hours(rng, world.category[shops[si]].astype(np.int64), _SHAPES)
        tod = np.where(rng.random(len(ci)) < prof.participation, sweep, spread)
        small = rng.choice([1.0, 2.0, 2.0, 5.0, 5.0, 8.8, 10.0], len(ci))
        cents = np.where(rng.random(len(ci)) < prof.round_share, np.round(small * 100),
                         tickets(rng, world, shops[si])).astype(np.int64)
        parts.append(Payments(payer=crew[ci] + world.n, payee=shops[si],
                              ts=np.minimum(day * DAY + tod, _END - 1), cents=cents,
                              channel=rng.choice(2, len(ci)).astype(np.int8)))
    parts.append(_cover(rng, world, ring, fresh, prof.recruited, near))
    return (Payments.concat(parts), *_none())


def _cover(rng: np.random.Generator, world: World, ring: Ring, fresh: np.ndarray,
           rate: float, near: GroupSampler) -> Payments:
    """Ordinary purchases near the ring by fresh fake payers, so their histories look lived-in."""
    k = rng.poisson(4 * rate, len(fresh))
    payer = np.repeat(fresh, k)
    district = world.district[ring.members[rng.integers(0, len(ring.members), len(payer))]]
    shop = near.pick(rng, district)
    day = rng.integers(0, DATA_DAYS, len(payer))
    p = np.array([q for _, q in CHANNELS])
    return Payments(payer=payer + world.n, payee=shop, ts=day * DAY + rng.integers(8, 22, len(day))
                    * 3600 + rng.integers(0, 3600, len(day)), cents=tickets(rng, world, shop),
                    channel=rng.choice(len(CHANNELS), len(payer), p=p).astype(np.int8))


def _cash_out(rng: np.random.Generator, world: World, consumers: Consumers, ring: Ring,
              prof: Profile, near: GroupSampler) -> Events:
    """Large card payments into fronts, passed on within days to associates' merchants."""
    fronts = _participants(rng, ring.members[:ring.lead], prof.participation, 1)
    receivers = ring.members[ring.lead:]
    crew, fresh = _crew(rng, world, consumers, ring, int(rng.integers(2, 7)), prof.recruited)
    n = 3 + rng.poisson(14 * prof.intensity)
    payer = crew[rng.integers(0, len(crew), n)]
    front = fronts[rng.integers(0, len(fronts), n)]
    lo = np.clip(world.reg_day[front], 0, DATA_DAYS - 7)
    day = lo + (rng.random(n) * (DATA_DAYS - 6 - lo)).astype(np.int64)
    ts = day * DAY + rng.integers(9 * 3600, 23 * 3600, n)
    yuan = rng.choice([3000.0, 5000, 8000, 10000, 15000, 20000], n) * rng.lognormal(0, 0.4, n)
    cents = _round_or_not(rng, yuan * prof.intensity ** 1.5, prof.round_share, 100)
    card = Payments(payer=payer + world.n, payee=front, ts=ts, cents=cents,
                    channel=rng.choice(4, n, p=_CARD_P).astype(np.int8))
    moved = rng.random(n) < 0.4 + 0.6 * prof.participation
    pieces = (1 + rng.integers(0, 1 + int(3 * (1 - prof.participation) + 2), n)) * moved
    src = np.repeat(np.flatnonzero(moved), pieces[moved])
    share = rng.uniform(0.9, 0.98, len(src)) / pieces[src]
    out = _m2m(rng, front[src], receivers[rng.integers(0, len(receivers), len(src))],
               ts[src] + rng.integers(DAY, 5 * DAY, len(src)),
               _round_or_not(rng, cents[src] / 100 * share, prof.round_share * 0.5, 100))
    cover = _cover(rng, world, ring, fresh, prof.recruited, near)
    return (Payments.concat([card, out, cover]), *_none())


def _shell(rng: np.random.Generator, world: World, consumers: Consumers, ring: Ring,
           prof: Profile, near: GroupSampler) -> Events:
    """Activation payments: a few payers make each new shop look 'active'."""
    m = ring.members
    crew, fresh = _crew(rng, world, consumers, ring, int(rng.integers(3, 9)), prof.recruited)
    k = 2 + rng.poisson(3 * prof.intensity, len(m))
    shop = np.repeat(m, k)
    start = np.clip(world.reg_day[shop], 0, DATA_DAYS - 1)
    day = np.minimum(start + rng.integers(0, 30, len(shop)), DATA_DAYS - 1)
    ts = day * DAY + hours(rng, world.category[shop].astype(np.int64), _SHAPES)
    p = Payments(payer=crew[rng.integers(0, len(crew), len(shop))] + world.n, payee=shop, ts=ts,
                 cents=tickets(rng, world, shop),
                 channel=rng.choice(2, len(shop)).astype(np.int8))
    return (Payments.concat([p, _cover(rng, world, ring, fresh, prof.recruited, near)]), *_none())


def _fake_supply(rng: np.random.Generator, world: World, consumers: Consumers, ring: Ring,
                 prof: Profile, near: GroupSampler) -> Events:
    """Invoices among members with no goods moving: round, often circular, no shipments."""
    m = ring.members
    sup, buy = m[:ring.lead], m[ring.lead:]
    edges = [(int(sup[rng.integers(len(sup))]), int(b)) for b in buy]
    if rng.random() < 0.5:
        cyc = m[rng.permutation(len(m))][:int(rng.integers(3, min(5, len(m)) + 1))]
        edges += [(int(cyc[i]), int(cyc[(i + 1) % len(cyc)])) for i in range(len(cyc))]
    e = np.array(sorted(set(edges)), np.int64).reshape(-1, 2)
    keep = rng.random(len(e)) < prof.participation
    keep[int(rng.integers(len(e)))] = True
    e = e[keep]
    n = 2 + rng.poisson(8 * prof.intensity, len(e))
    s, b = np.repeat(e[:, 0], n), np.repeat(e[:, 1], n)
    ts = business_times(rng, np.clip(np.maximum(world.reg_day[s], world.reg_day[b]), 0,
                                     DATA_DAYS - 1))
    yuan = rng.choice([5000.0, 10000, 20000, 30000, 50000], len(s)) * rng.lognormal(0, 0.3, len(s))
    cents = _round_or_not(rng, yuan * prof.intensity, prof.round_share, 1000)
    supply = Supply(supplier=s, buyer=b, ts=ts, cents=cents)
    # Harder data: a few fake invoices get a token shipment, some are paid back by QR.
    faked = rng.random(len(s)) < 0.6 * (1 - prof.participation)
    goods = np.maximum(world.goods[s[faked]], 0).astype(np.int64)
    token = ship(rng, s[faked], b[faked], ts[faked], cents[faked] // 20, goods,
                 rng.choice(len(CARRIERS), int(faked.sum())))
    paid = rng.random(len(s)) < 0.5 * (1 - prof.participation)
    back = _m2m(rng, b[paid], s[paid], ts[paid] + rng.integers(0, 10 * DAY, int(paid.sum())),
                cents[paid])
    return back, supply, token
