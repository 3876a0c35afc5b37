"""Honest trade between merchants: supply links, invoices, shipments, merchant-to-merchant pay.

Wholesalers (a few big distributors among them) supply retailers of the goods those
retailers buy, mostly in the same city, chosen by size (preferential attachment).
Only merchants on an e-invoicing platform have their invoices in the data. A real
supply link has logistics behind it: most invoices have a shipment within a few days,
its weight in line with the amount; some links are delivered by the wholesaler's own
van and leave no shipment record. Money also moves between merchants honestly: some
links are settled by QR, retailers buy cash-and-carry at wholesalers, and owners pay
neighbouring shops from their merchant account.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from guanxi.ingest.synth.calendar import DATA_DAYS, DAY, HOURLY, hours
from guanxi.ingest.synth.consumers import tickets
from guanxi.ingest.synth.events import Payments, Shipments, Supply
from guanxi.ingest.synth.params import SynthParams, stream
from guanxi.ingest.synth.pools import CARRIERS, CATEGORIES, GOODS
from guanxi.ingest.synth.world import World, pick_in_groups

__all__ = ["M2M_CHANNEL_P", "Trade", "build_trade", "business_times", "ship"]

M2M_CHANNEL_P = np.array([0.5, 0.35, 0.15, 0.0])
"""Channel shares of merchant-to-merchant QR payments (alipay, wechat, unionpay, dcep)."""

_BUSINESS = [HOURLY["business"]]
_CARRIER_P = np.array([p for _, _, p in CARRIERS])
_GOODS_LABELS = [g.label for g in GOODS]
_PER_KG = np.array([g.yuan_per_kg for g in GOODS])
_INVOICE = np.array([g.invoice_median for g in GOODS])
_WHOLESALER = [c.code for c in CATEGORIES].index("wholesaler")


@dataclass
class Trade:
    """Honest trade events and the supply links behind them (for credit contagion)."""

    supply: Supply
    shipments: Shipments
    payments: Payments
    link_supplier: np.ndarray
    link_buyer: np.ndarray
    link_cents: np.ndarray


def business_times(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray | int = DATA_DAYS,
                   ) -> np.ndarray:
    """Seconds of business-hour events on days uniform in ``[lo, hi)``, weekends thinned."""
    lo = np.asarray(lo, np.int64)
    span = np.maximum(np.asarray(hi, np.int64) - lo, 1)
    day = lo + (rng.random(len(lo)) * span).astype(np.int64)
    weekend = (day % 7 >= 5) & (rng.random(len(lo)) < 0.7)
    day = np.where(weekend, np.where(day % 7 == 5, day - 1, day + 1), day)
    day = np.clip(day, lo, np.minimum(lo + span - 1, DATA_DAYS - 1))
    return day * DAY + hours(rng, np.zeros(len(lo), np.int64), _BUSINESS)


def ship(rng: np.random.Generator, supplier: np.ndarray, buyer: np.ndarray, ts: np.ndarray,
         cents: np.ndarray, goods: np.ndarray, carrier: np.ndarray) -> Shipments:
    """Shipments for invoices: a day before to three days after, weight from the amount."""
    day = np.clip(ts // DAY + rng.integers(-1, 4, len(ts)), 0, DATA_DAYS - 1)
    when = day * DAY + hours(rng, np.zeros(len(ts), np.int64), _BUSINESS)
    kg = cents / 100 / _PER_KG[goods] * rng.lognormal(0.0, 0.3, len(ts))
    return Shipments(shipper=supplier, receiver=buyer, ts=when,
                     decikg=np.maximum(np.round(kg * 10), 5).astype(np.int64), carrier=carrier)


def build_trade(world: World, params: SynthParams) -> Trade:
    """Draw honest supply links, invoices, shipments and merchant-to-merchant payments."""
    rng = stream(params.seed, "trade")
    prof = params.profile
    cat = world.category
    whole = np.flatnonzero(cat == _WHOLESALER)
    size = rng.pareto(1.2, len(whole)) + 1.0
    distributor = rng.random(len(whole)) < 0.15
    n_goods = len(GOODS)
    scale = np.sqrt(np.clip(world.rate / np.mean(world.rate), 0.05, 20.0))

    # Links: retailers on the e-invoicing platform buy 1-3 kinds of goods; wholesalers
    # (not distributors) buy their own goods from distributors.
    covered = rng.random(world.n) < prof.invoicing
    buyer = np.flatnonzero(covered & (cat != _WHOLESALER))
    n_links = np.minimum(1 + rng.poisson(0.5, len(buyer)), 3)
    link_b = np.repeat(buyer, n_links)
    link_g = _goods_bought(rng, cat[link_b])
    supplier = _supplier(rng, world, whole, size, link_b, link_g, n_goods)
    sub = whole[~distributor & covered[whole]]
    dist_s = _supplier(rng, world, whole[distributor], size[distributor], sub,
                       world.goods[sub].astype(np.int64), n_goods)
    link_b = np.r_[link_b, sub]
    link_g = np.r_[link_g, world.goods[sub]]
    supplier = np.r_[supplier, dist_s]
    keep = (supplier >= 0) & (supplier != link_b)
    pair = supplier[keep] * world.n + link_b[keep]
    _, first = np.unique(pair, return_index=True)
    first.sort()
    link_s, link_b, link_g = supplier[keep][first], link_b[keep][first], link_g[keep][first]

    # Invoices on each link, after both merchants exist.
    n_inv = 1 + rng.poisson(5.0 * scale[link_b])
    inv_link = np.repeat(np.arange(len(link_s)), n_inv)
    s, b, g = link_s[inv_link], link_b[inv_link], link_g[inv_link]
    start = np.clip(np.maximum(world.reg_day[s], world.reg_day[b]), 0, DATA_DAYS - 1)
    ts = business_times(rng, start)
    yuan = _INVOICE[g] * scale[b] * rng.lognormal(0.0, 0.6, len(s))
    # Some orders are whole hundreds or thousands of yuan (a pallet, a monthly standing order).
    unit = np.where(rng.random(len(s)) < 0.5, 100, 1000)
    round_ = rng.random(len(s)) < prof.round_invoice
    rounded = np.maximum(np.round(yuan / unit), 1) * unit
    cents = np.where(round_, rounded * 100, np.round(yuan * 100))
    cents = np.maximum(cents, 100).astype(np.int64)
    supply = Supply(supplier=s, buyer=b, ts=ts, cents=cents)

    # Shipments: none on own-van links, most invoices otherwise; a few returns.
    own_van = (rng.random(len(link_s)) < prof.own_van)[inv_link]
    carrier = rng.choice(len(CARRIERS), len(link_s), p=_CARRIER_P)[inv_link]
    carrier = np.where(rng.random(len(s)) < 0.8, carrier,
                       rng.choice(len(CARRIERS), len(s), p=_CARRIER_P))
    shipped = ~own_van & (rng.random(len(s)) < 0.92)
    out = ship(rng, s[shipped], b[shipped], ts[shipped], cents[shipped], g[shipped],
               carrier[shipped])
    back = rng.random(len(out)) < 0.02
    returns = Shipments(
        shipper=out.receiver[back], receiver=out.shipper[back],
        ts=np.minimum(out.ts[back] + rng.integers(3 * DAY, 10 * DAY, int(back.sum())),
                      DATA_DAYS * DAY - 1),
        decikg=np.maximum(out.decikg[back] * rng.uniform(0.05, 0.3, int(back.sum())), 5
                          ).astype(np.int64),
        carrier=out.carrier[back])
    shipments = Shipments.concat([out, returns])

    payments = Payments.concat([
        _settlements(rng, supply, prof.qr_settle, inv_link, len(link_s)),
        _cash_and_carry(rng, world, whole, size, scale, prof.cash_and_carry, n_goods),
        _owner_pays(rng, world, prof.owner_pays),
    ])
    link_cents = np.bincount(inv_link, weights=cents, minlength=len(link_s))
    return Trade(supply=supply, shipments=shipments, payments=payments,
                 link_supplier=link_s, link_buyer=link_b, link_cents=link_cents)


def _goods_bought(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Goods index of a link, drawn from what the buyer's category buys."""
    out = np.zeros(len(category), np.int64)
    for c, spec in enumerate(CATEGORIES):
        rows = np.flatnonzero(category == c)
        if not spec.buys or not len(rows):
            continue
        idx = [_GOODS_LABELS.index(label) for label, _ in spec.buys]
        p = np.array([w for _, w in spec.buys])
        out[rows] = np.array(idx)[rng.choice(len(idx), len(rows), p=p / p.sum())]
    return out


def _supplier(rng: np.random.Generator, world: World, whole: np.ndarray, size: np.ndarray,
              buyer: np.ndarray, goods: np.ndarray, n_goods: int) -> np.ndarray:
    """A wholesaler of ``goods`` for each buyer: same city by size, else any city, else -1."""
    if len(whole) == 0:
        return np.full(len(buyer), -1, np.int64)
    key = world.city[whole].astype(np.int64) * n_goods + world.goods[whole]
    local = pick_in_groups(rng, key, size, world.city[buyer].astype(np.int64) * n_goods + goods)
    far = pick_in_groups(rng, world.goods[whole].astype(np.int64), size, goods)
    far = np.where(rng.random(len(buyer)) < 0.95, np.where(local >= 0, local, far), far)
    return np.where(far >= 0, whole[np.maximum(far, 0)], -1)


def _settlements(rng: np.random.Generator, supply: Supply, rate: float, inv_link: np.ndarray,
                 n_links: int) -> Payments:
    """Invoices on QR-settled links paid buyer -> supplier within ten days."""
    settled = (rng.random(n_links) < rate)[inv_link] & (rng.random(len(supply)) < 0.8)
    ts = supply.ts[settled] + rng.integers(0, 10 * DAY, int(settled.sum()))
    partial = rng.random(len(ts)) < 0.15
    cents = np.where(partial, supply.cents[settled] * rng.uniform(0.3, 0.7, len(ts)),
                     supply.cents[settled]).astype(np.int64)
    ok = ts < DATA_DAYS * DAY
    return Payments(payer=supply.buyer[settled][ok], payee=supply.supplier[settled][ok],
                    ts=ts[ok], cents=np.maximum(cents[ok], 100),
                    channel=rng.choice(4, int(ok.sum()), p=M2M_CHANNEL_P).astype(np.int8))


def _cash_and_carry(rng: np.random.Generator, world: World, whole: np.ndarray, size: np.ndarray,
                    scale: np.ndarray, rate: float, n_goods: int) -> Payments:
    """Retailers paying a wholesaler of their goods by QR at the counter, no invoice."""
    shop = np.flatnonzero((world.category != _WHOLESALER) & (rng.random(world.n) < rate))
    goods = _goods_bought(rng, world.category[shop])
    to = _supplier(rng, world, whole, size, shop, goods, n_goods)
    shop, to = shop[to >= 0], to[to >= 0]
    k = 1 + rng.poisson(10.0, len(shop))
    payer, payee = np.repeat(shop, k), np.repeat(to, k)
    ts = business_times(rng, np.clip(np.maximum(world.reg_day[payer], world.reg_day[payee]), 0,
                                     DATA_DAYS - 1))
    yuan = 500 * scale[payer] * rng.lognormal(0.0, 0.8, len(payer))
    yuan = np.where(rng.random(len(payer)) < 0.6, np.maximum(np.round(yuan), 1), yuan)
    return Payments(payer=payer, payee=payee, ts=ts,
                    cents=np.maximum(np.round(yuan * 100), 100).astype(np.int64),
                    channel=rng.choice(4, len(payer), p=M2M_CHANNEL_P).astype(np.int8))


def _owner_pays(rng: np.random.Generator, world: World, rate: float) -> Payments:
    """Owners buying lunch or groceries nearby with the merchant account's wallet."""
    shop = np.flatnonzero(rng.random(world.n) < rate)
    k = 1 + rng.poisson(4.0, len(shop))
    payer = np.repeat(shop, k)
    payee = pick_in_groups(rng, world.district, world.rate, world.district[payer])
    ok = (payee >= 0) & (payee != payer)
    payer, payee = payer[ok], payee[ok]
    start = np.clip(np.maximum(world.reg_day[payer], world.reg_day[payee]), 0, DATA_DAYS - 1)
    day = start + (rng.random(len(payer)) * (DATA_DAYS - start)).astype(np.int64)
    ts = day * DAY + rng.integers(7 * 3600, 22 * 3600, len(payer))
    return Payments(payer=payer, payee=payee, ts=ts, cents=tickets(rng, world, payee),
                    channel=rng.choice(4, len(payer), p=M2M_CHANNEL_P).astype(np.int8))
