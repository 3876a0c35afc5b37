"""Investigators' labels: a fraction of rings confirmed as fraud, a few merchants cleared.

Per typology, ``label_fraction`` of the rings were caught: all their members are
labelled ``fraud`` on the day the case closed, some weeks after the ring started,
from the source that typically uncovers that typology (card chargebacks for cash-out,
audits for fake invoices, investigations otherwise). A ``legit_fraction`` of honest
merchants were cleared by an audit or an investigation; like real clearances they
lean towards older, busier merchants. Everything else is unlabelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from guanxi.ingest.synth.calendar import DATA_DAYS, DAY
from guanxi.ingest.synth.params import TYPOLOGIES, SynthParams, stream
from guanxi.ingest.synth.rings import Ring
from guanxi.ingest.synth.world import World

__all__ = ["SOURCES", "Labels", "make_labels"]

SOURCES: tuple[str, ...] = ("investigation", "chargeback", "audit")
_FRAUD_SOURCE = {
    "cash_out": (0.4, 0.6, 0.0),
    "fake_supply_chain": (0.4, 0.0, 0.6),
    "circular_trading": (0.7, 0.0, 0.3),
    "promotion_farming": (0.8, 0.1, 0.1),
    "shell_merchants": (0.6, 0.0, 0.4),
}


@dataclass
class Labels:
    """Rows of the labels file, sorted by time: merchant code, fraud flag, ts (s), source index."""

    merchant: np.ndarray
    fraud: np.ndarray
    ts: np.ndarray
    source: np.ndarray
    labelled_rings: list[int]


def make_labels(world: World, rings: list[Ring], params: SynthParams) -> Labels:
    """Draw the labels for ``rings`` and the honest merchants of ``world``."""
    rng = stream(params.seed, "labels")
    merchant, fraud, ts, source, caught = [], [], [], [], []
    for t in TYPOLOGIES:
        of_t = [r for r in rings if r.typology == t]
        k = int(round(params.label_fraction * len(of_t)))
        for i in sorted(rng.choice(len(of_t), k, replace=False).tolist()):
            ring = of_t[i]
            m = np.sort(ring.members)
            close = min(DATA_DAYS - 1, ring.first_day + int(rng.integers(20, 120)))
            start = close * DAY + int(rng.integers(9, 17)) * 3600
            merchant.append(m)
            fraud.append(np.ones(len(m), bool))
            ts.append(start + np.sort(rng.integers(0, 3600, len(m))))
            source.append(np.full(len(m), rng.choice(3, p=_FRAUD_SOURCE[t])))
            caught.append(ring.index)

    honest = np.flatnonzero(world.ring < 0)
    k = int(round(params.legit_fraction * len(honest)))
    if k:
        age = np.clip(-world.reg_day[honest], 0, None) / 365
        w = np.sqrt(world.rate[honest] + 0.1) * (0.3 + np.tanh(age))
        m = np.sort(rng.choice(honest, k, replace=False, p=w / w.sum()))
        merchant.append(m)
        fraud.append(np.zeros(k, bool))
        ts.append(rng.integers(0, DATA_DAYS, k) * DAY + rng.integers(9 * 3600, 18 * 3600, k))
        source.append(rng.choice([0, 2], k, p=[0.3, 0.7]))

    if not merchant:
        empty = np.zeros(0, np.int64)
        return Labels(empty, empty.astype(bool), empty, empty, [])
    out = Labels(np.concatenate(merchant), np.concatenate(fraud), np.concatenate(ts),
                 np.concatenate(source), sorted(caught))
    order = np.argsort(out.ts, kind="stable")
    return Labels(out.merchant[order], out.fraud[order], out.ts[order], out.source[order],
                  out.labelled_rings)
