"""Credit features: the merchant's own trend and volatility, contagion from its trade
partners, shocks to the groups it belongs to, concentration, size, age and where it
trades.

A merchant's *trend* is the robust slope of ``log(1 + weekly amount)`` from its first
active week to the end of the data, in log units per year (``weekly.robust_trend``).
``trend_inflow`` (payments received plus goods sold) is the one spread to neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from guanxi.gnn.features.inputs import Inputs
from guanxi.gnn.features.weekly import (
    first_active,
    ratio,
    robust_trend,
    to_blocks,
    weeks_since_active,
)

__all__ = ["CREDIT", "TRENDS", "TRENDS_VERSION", "Trends", "credit_features",
           "trend_window"]

_GROUPS = ("district", "category", "city")
_BLOCK = 4  # weeks summed before fitting a trend
_NEIGHBOURS = ("address", "owner")

TRENDS: tuple[str, ...] = (
    "trend_paid_in", "trend_paid_in_count", "trend_sold", "trend_inflow", "volatility_paid_in",
    "volatility_inflow", "recent_vs_early_paid_in", "recent_vs_early_inflow",
    "weeks_since_inflow",
)
"""The columns of a merchant's own weekly series alone (``_own``): a run can carry
them from the last for a merchant whose weekly rows and window are the same."""
TRENDS_VERSION = 1
"""The definition of ``TRENDS`` (their order, ``_own`` and what it calls): change it
with them, and a run carries none computed under another."""
OWN: tuple[str, ...] = (
    *TRENDS,
    "contagion_supplier_trend", "contagion_buyer_trend", "contagion_supplier_decline_share",
    "contagion_buyer_decline_share", "contagion_log_purchases", "contagion_log_sales",
    *(f"group_{g}_trend" for g in (*_NEIGHBOURS, *_GROUPS)),
    "top_supplier_share", "top_buyer_share", "log_total_flow",
    "category_freq",
)
"""Columns computed here."""
BORROWED: tuple[str, ...] = ("in_top_payer_share", "in_log_payers", "in_repeat_payer_share",
                             "age_end_days", "age_first_activity_days", "age_unknown")
"""Collusion columns a credit model uses as well (computed once, in ``collusion``)."""
CREDIT: tuple[str, ...] = (*OWN, *BORROWED)
"""Every credit feature, in column order (fixed whatever the graph holds)."""


@dataclass(frozen=True)
class Trends:
    """Each merchant's ``TRENDS`` columns ``values`` (M, T) float64, and ``window``
    (M, 3) int64: the ``TRENDS_VERSION`` and the :attr:`Inputs.window` (first week's
    day number, weeks) they were computed with; what a run keeps for the next one's
    :func:`credit_features`."""

    values: np.ndarray
    window: np.ndarray

    def kept(self) -> dict[str, np.ndarray]:
        """The arrays a snapshot keeps, by name (``Snapshot.computed``)."""
        return {"trends": self.values, "trends_window": self.window}


def credit_features(inp: Inputs, kept: Trends | None = None) -> dict[str, np.ndarray]:
    """The ``OWN`` columns: ``{name: (M,) float64}``.

    ``kept``: the :class:`Trends` of a run before, per merchant of this graph, for the
    merchants whose weekly rows are the same as then (the others' window ``-1``):
    where its window is this graph's (:func:`trend_window`), a merchant keeps its
    values, the numbers computing them gives (each row's come from its own series).
    """
    rows = None
    if kept is not None and inp.window[0] >= 0:
        rows = np.flatnonzero((kept.window != trend_window(inp)).any(axis=1))
        if len(rows) == inp.n:
            rows = None
    out = _own(inp, rows)
    if rows is not None:
        for j, name in enumerate(TRENDS):
            column = kept.values[:, j].astype(np.float64)
            column[rows] = out[name]
            out[name] = column
    trend = out["trend_inflow"]
    out.update(_contagion(inp, trend))
    out.update(_groups(inp, trend))
    out.update(_where(inp))
    assert set(out) == set(OWN), set(out) ^ set(OWN)
    return out


def trend_window(inp: Inputs) -> np.ndarray:
    """``(3,)`` int64: ``TRENDS_VERSION`` and :attr:`Inputs.window`, what a merchant's
    ``TRENDS`` depend on beside its own weekly rows."""
    return np.array([TRENDS_VERSION, *inp.window], dtype=np.int64)


def _own(inp: Inputs, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Trend and volatility (RMS of the log amounts around the trend) of four-week
    blocks (single weeks when the data has fewer than 16), recent against early (weekly
    mean log amount of the span's last quarter minus its first), and the weeks since
    the last inflow (``W`` for a merchant never paid).

    A trend's span starts with the first block wholly after the first active week: that
    week is active by definition (and often partial), so counting it would tilt every
    thin merchant's slope downwards. ``trend_paid_in_count`` is the trend of the number
    of payments, less noisy than amounts for a shop whose tickets vary a lot.

    ``rows``: the merchant positions to compute (default: all); each row's values come
    from its own series alone.
    """
    out: dict[str, np.ndarray] = {}
    size = _BLOCK if inp.week_count >= 4 * _BLOCK else 1
    paid_in, sold = inp.series("paid_in_amount", rows), inp.series("sold_amount", rows)
    series = {"paid_in": paid_in, "paid_in_count": inp.series("paid_in_count", rows),
              "sold": sold, "inflow": paid_in + sold}
    for name, x in series.items():
        start = first_active(x)
        blocks, first = to_blocks(x, start, size)
        trend, rms = robust_trend(np.log1p(blocks), first, per=52.0 / size)
        out[f"trend_{name}"] = trend
        if name in ("paid_in", "inflow"):
            out[f"volatility_{name}"] = rms
            out[f"recent_vs_early_{name}"] = _recent_vs_early(np.log1p(x), start)
    out["weeks_since_inflow"] = weeks_since_active(series["inflow"])
    return out


def _recent_vs_early(y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``mean(y over the last q weeks) - mean(y over the first q weeks of the span)``,
    ``q = max(1, span // 4)``; 0 for a span under two weeks."""
    m, w = y.shape
    span = w - start
    q = np.maximum(span // 4, 1)
    cum = np.concatenate([np.zeros((m, 1)), np.cumsum(y, axis=1)], axis=1)
    rows = np.arange(m)
    s = np.minimum(start, w)
    early = cum[rows, np.minimum(s + q, w)] - cum[rows, s]
    late = cum[:, w] - cum[rows, np.maximum(w - q, 0)]
    return np.where(span >= 2, ratio(late - early, q), 0.0)


def _contagion(inp: Inputs, trend: np.ndarray) -> dict[str, np.ndarray]:
    """Trade-weighted trends of the merchant's suppliers and buyers.

    Purchases ``B_ij = supply_ji + paid_ij`` (goods invoiced by ``j`` to ``i``, money
    ``i`` paid ``j``) and sales ``S_ij = supply_ij + paid_ji``, from ``links.directed``:

    .. math::
        \\text{supplier\\_trend}_i = \\frac{\\sum_j B_{ij} \\, t_j}{\\sum_j B_{ij}}, \\qquad
        \\text{supplier\\_decline\\_share}_i = \\frac{\\sum_j B_{ij} [t_j < 0]}
        {\\sum_j B_{ij}}

    and the same over ``S`` for buyers; 0 without partners (``contagion_log_purchases``
    and ``_sales``, ``log(1 + sum_j B_ij)``, tell a model which zeros are real).
    ``top_supplier_share = max_j B_ij / sum_j B_ij``, likewise for buyers.
    """
    n = inp.n
    bought = sp.csr_matrix((n, n))
    sold = sp.csr_matrix((n, n))
    if (supply := inp.links.directed.get("supply")) is not None:
        bought, sold = bought + supply.T, sold + supply
    if (paid := inp.links.directed.get("paid")) is not None:
        bought, sold = bought + paid, sold + paid.T
    out: dict[str, np.ndarray] = {}
    declining = (trend < 0).astype(np.float64)
    for role, side, matrix in (("supplier", "purchases", bought), ("buyer", "sales", sold)):
        matrix = sp.csr_matrix(matrix)
        total = np.asarray(matrix.sum(axis=1)).ravel()
        out[f"contagion_{role}_trend"] = ratio(matrix @ trend, total)
        out[f"contagion_{role}_decline_share"] = ratio(matrix @ declining, total)
        out[f"contagion_log_{side}"] = np.log1p(total)
        top = (np.asarray(matrix.max(axis=1).todense()).ravel() if matrix.nnz
               else np.zeros(n))
        out[f"top_{role}_share"] = ratio(top, total)
    return out


def _groups(inp: Inputs, trend: np.ndarray) -> dict[str, np.ndarray]:
    """Group shocks: the mean trend of the other merchants of its district (within its
    city: district names repeat across cities), category and city, and the
    identifier-weighted mean ``sum_j S_ij t_j / sum_j S_ij`` over merchants sharing its
    address or owner (``links.shared``). The merchant itself is excluded; 0 alone."""
    out: dict[str, np.ndarray] = {}
    for kind in _NEIGHBOURS:
        s = inp.links.shared.get(kind)
        out[f"group_{kind}_trend"] = (ratio(s @ trend, np.asarray(s.sum(axis=1)).ravel())
                                      if s is not None else np.zeros(inp.n))
    for group in _GROUPS:
        codes = _codes(inp, group)
        valid = codes >= 0
        size = np.bincount(codes[valid], minlength=codes.max() + 1 if valid.any() else 0)
        total = np.bincount(codes[valid], weights=trend[valid], minlength=len(size))
        c = np.where(valid, codes, 0)
        others = np.where(valid, size[c] - 1, 0) if len(size) else np.zeros(inp.n)
        own_sum = np.where(valid, total[c] - trend, 0.0) if len(size) else np.zeros(inp.n)
        out[f"group_{group}_trend"] = ratio(own_sum, others)
    return out


def _codes(inp: Inputs, group: str) -> np.ndarray:
    """``(M,)`` int group number, -1 where the merchant has none."""
    values = inp.text(group)
    if group == "district":
        city = inp.text("city").fillna("")
        values = (city + "\x1f" + values).where(values.notna(), None)
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64)


def _where(inp: Inputs) -> dict[str, np.ndarray]:
    """Size (``log(1 + amounts in and out, payments and supply)``) and the category's
    frequency: the share of merchants with the same category (0 where missing). A
    frequency, not a name: a tree can split on it, and it means the same on a graph
    whose categories it never saw. Places are left out: how big a merchant's city is
    says nothing about collusion or credit that a model should carry from one data
    source to another (on our synthetic data it is a shortcut to one typology), and
    the place's own shocks are the ``group_*_trend`` columns."""
    out = {"log_total_flow": np.log1p(sum(inp.amounts.values()))}
    for group in ("category",):
        codes = _codes(inp, group)
        valid = codes >= 0
        size = np.bincount(codes[valid], minlength=codes.max() + 1 if valid.any() else 0)
        out[f"{group}_freq"] = np.where(valid, size[np.where(valid, codes, 0)], 0) / max(
            inp.n, 1) if len(size) else np.zeros(inp.n)
    return out
