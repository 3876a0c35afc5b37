"""Collusion features from payments received: volume, tickets, payers, payer overlap,
bursts and promotion weeks. The structural ones (merchant-to-merchant cycles, supply
without shipments, shared identifiers, registration) are in ``features/structure.py``.

Every function maps :class:`Inputs` to ``{name: (M,) float64}``; docs/scoring.md
(*Features*) says why each matters to an investigator.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from guanxi.gnn.features.inputs import Inputs
from guanxi.gnn.features.structure import STRUCTURE
from guanxi.gnn.features.weekly import burst, first_active, ratio, top_share
from guanxi.gnn.projection import edges, incidence

__all__ = ["COLLUSION", "PAYMENTS", "payment_features"]

_BURST_FLOWS = ("paid_in_count", "paid_in_amount", "paid_out_amount", "sold_amount",
                "bought_amount")
_TOP_FLOWS = ("paid_in_amount", "paid_out_amount", "sold_amount", "bought_amount")
_TOP_WEEKS = 6
_STRONG_PAIR = 3  # common payers that make two shops' crowds "the same crowd"
_MAX_PAYER_MERCHANTS = 30  # as merchant_links: consumers paying more are not a crowd
_DAY = 86_400.0
_BRIEF_DAYS = 30  # a payer's dealings with a shop all within a month: a visit, a campaign
_SYNC_DAYS = 30  # two such visits to two shops within a month of each other
_SYNC_PAIR = 2  # shops sharing two such payers: a crew's work more than chance

PAYMENTS: tuple[str, ...] = (
    "in_log_count", "in_log_amount", "in_log_payers", "in_repeat_payer_share",
    "in_payments_per_payer", "in_mean_ticket_log", "in_ticket_cv", "in_max_ticket_ratio",
    "in_night_share", "in_round_share", "in_top_payer_share", "ticket_vs_category",
    "copayer_weight_max", "copayer_weight_sum", "copayer_log_partners",
    "copayer_top_share", "copayer_crew_share",
    "crew_sync_max", "crew_sync_partners", "crew_sync_share", "crew_sync_ratio",
    *(f"burst_{f}" for f in _BURST_FLOWS), *(f"top{_TOP_WEEKS}_{f}" for f in _TOP_FLOWS),
    "promo_share", "promo_log_lift", "active_week_share",
)
COLLUSION: tuple[str, ...] = (*PAYMENTS, *STRUCTURE)
"""Every collusion feature, in column order (fixed whatever the graph holds)."""


def payment_features(inp: Inputs) -> dict[str, np.ndarray]:
    """The ``PAYMENTS`` columns, ``{name: (M,) float64}``; ``structure_features`` gives
    the rest of ``COLLUSION``."""
    out = {**_payments(inp), **_overlap(inp), **_time(inp)}
    assert set(out) == set(PAYMENTS), set(out) ^ set(PAYMENTS)
    return out


def _payments(inp: Inputs) -> dict[str, np.ndarray]:
    """Volume, tickets and payers of payments received (consumers and merchants).

    Per merchant, over its payers' pairs: ``n = sum count``, ``s = sum amount``,
    ``q = sum amount_sq``; mean ticket ``s / n``; ticket coefficient of variation
    ``sqrt(q / n - (s / n)^2) / (s / n)``; largest ticket over the mean.
    """
    p = inp.payments
    count = inp.sum_by(p.payee, p.count)
    amount = inp.sum_by(p.payee, p.amount)
    payers = inp.sum_by(p.payee, np.ones(len(p.payee)))
    mean = ratio(amount, count)
    var = np.maximum(ratio(inp.sum_by(p.payee, p.amount_sq), count) - mean**2, 0.0)
    ticket = np.log1p(mean)
    category = inp.text("category")
    has = count > 0
    # The shop against its trade: a front taking 5000-yuan tickets is odd for a noodle
    # bar, not for a jeweller. Median log ticket of the category's paid merchants.
    typical = (pd.Series(ticket[has], index=np.flatnonzero(has))
               .groupby(category[has].to_numpy()).transform("median"))
    baseline = np.zeros(inp.n)
    baseline[typical.index.to_numpy()] = typical.to_numpy()
    return {
        "in_log_count": np.log1p(count),
        "in_log_amount": np.log1p(amount),
        "in_log_payers": np.log1p(payers),
        "in_repeat_payer_share": ratio(inp.sum_by(p.payee, (p.count > 1).astype(float)),
                                       payers),
        "in_payments_per_payer": ratio(count, payers),
        "in_mean_ticket_log": ticket,
        "in_ticket_cv": ratio(np.sqrt(var), mean),
        "in_max_ticket_ratio": ratio(inp.max_by(p.payee, p.amount_max), mean),
        "in_night_share": ratio(inp.sum_by(p.payee, p.night_count), count),
        "in_round_share": ratio(inp.sum_by(p.payee, p.round_count), count),
        "in_top_payer_share": ratio(inp.max_by(p.payee, p.amount), amount),
        "ticket_vs_category": np.where(has & category.notna().to_numpy(),
                                       ticket - baseline, 0.0),
    }


def _overlap(inp: Inputs) -> dict[str, np.ndarray]:
    """Payer overlap with other merchants, from consumers paying several.

    With ``P = links.co_payer`` and ``N = X^T X`` the common-payer counts (``X`` the 0/1
    consumer x merchant incidence, consumers paying 2..30 merchants, zero diagonal):
    ``copayer_weight_max = max_j P_ij``, ``copayer_weight_sum = sum_j P_ij``,
    ``copayer_top_share = max_j N_ij / payers_i`` (the share of i's consumers that also
    pay its closest partner), ``copayer_crew_share`` the share of i's consumers ``c``
    who pay at least two other merchants ``j`` with ``N_ij >= 3``: a crew sweeping the
    same shops, rather than a neighbourhood's customers scattered over many.
    """
    zero = np.zeros(inp.n)
    names = ("copayer_weight_max", "copayer_weight_sum", "copayer_log_partners",
             "copayer_top_share", "copayer_crew_share", *_SYNC)
    co = inp.links.co_payer
    key = ("Consumer", "PAID", "Merchant")
    found = edges(inp.ex, key)
    if co is None or found is None:
        return dict.fromkeys(names, zero)
    src, dst, attrs = found
    x = incidence(src, dst, int(inp.ex.data["Consumer"].num_nodes), inp.n)
    payers = np.asarray(x.sum(axis=0)).ravel()
    k = np.diff(x.indptr)
    x = x[np.flatnonzero((k >= 2) & (k <= _MAX_PAYER_MERCHANTS))]
    common = sp.csr_matrix(x.T @ x)
    common = sp.csr_matrix(common - sp.diags(common.diagonal()))
    common.eliminate_zeros()
    strong = sp.csr_matrix(common >= _STRONG_PAIR, dtype=np.float64)
    # (X @ T)[c, i] = merchants c pays that share >= 3 payers with i; read at X's pairs.
    reach = sp.csr_matrix(x @ strong).multiply(x)
    crew = np.asarray(sp.csr_matrix(reach >= 2, dtype=np.float64).sum(axis=0)).ravel()
    return {
        "copayer_weight_max": _row_max(co),
        "copayer_weight_sum": np.asarray(co.sum(axis=1)).ravel(),
        "copayer_log_partners": np.log1p(np.diff(co.indptr)),
        "copayer_top_share": ratio(_row_max(common), payers),
        "copayer_crew_share": ratio(crew, payers),
        **_crew_sync(src, dst, attrs, k, common, payers),
    }


_SYNC = ("crew_sync_max", "crew_sync_partners", "crew_sync_share", "crew_sync_ratio")


def _crew_sync(src: np.ndarray, dst: np.ndarray, attrs: Mapping[str, np.ndarray],
               k: np.ndarray, common: sp.csr_matrix, payers: np.ndarray
               ) -> dict[str, np.ndarray]:
    """Payers whose short dealings with two shops fall in the same month: a crew.

    A consumer pair is *brief* when ``last_ts - first_ts <= 30`` days; two brief pairs of
    one consumer (paying 2..30 merchants) to merchants ``i`` and ``j`` are *in step*
    when their ``first_ts`` are within 30 days. ``S_ij`` counts the consumers in step
    with ``i`` and ``j``; with ``N = common`` (all common payers):
    ``crew_sync_max = log(1 + max_j S_ij)``, ``crew_sync_partners = log(1 + |{j: S_ij
    >= 2}|)``, ``crew_sync_share`` the share of ``i``'s consumers in step with some
    ``j`` where ``S_ij >= 2``, ``crew_sync_ratio = max_{j: N_ij >= 2} S_ij / N_ij``.
    One-off visits to two shops at random times of a year fall within a month of each
    other about one time in six, and regulars are not brief; a crew activating new
    shells or farming a campaign pays the ring's shops in the same weeks, and comes to
    each only then. Pairs without times count as neither brief nor in step (all 0 in a
    graph without them).

    >>> day = 86_400.0
    >>> src, dst = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 1])
    >>> first = np.array([1, 5, 2, 9, 1, 200]) * day
    >>> out = _crew_sync(src, dst, {"first_ts": first, "last_ts": first}, np.array([2, 2, 2]),
    ...                  sp.csr_matrix(np.array([[0, 3], [3, 0]])), np.array([3.0, 3.0]))
    >>> np.expm1(out["crew_sync_max"]).round(3).tolist()  # consumers 0 and 1, not 2
    [2.0, 2.0]
    >>> out["crew_sync_share"].round(3).tolist(), out["crew_sync_ratio"].round(3).tolist()
    ([0.667, 0.667], [0.667, 0.667])
    """
    n = len(payers)
    if "first_ts" not in attrs or "last_ts" not in attrs:
        return dict.fromkeys(_SYNC, np.zeros(n))
    first, last = attrs["first_ts"], attrs["last_ts"]
    keep = ((k[src] >= 2) & (k[src] <= _MAX_PAYER_MERCHANTS) & (first > 0)
            & (last - first <= _BRIEF_DAYS * _DAY))
    e = np.flatnonzero(keep)
    e = e[np.lexsort((first[e], src[e]))]
    c, t, m = src[e], first[e], dst[e]
    # Sorted by consumer, then time: if positions p and p + lag are in step, so is every
    # shorter lag from p, so the first lag with no pair ends the search.
    left, right = [], []
    for lag in range(1, _MAX_PAYER_MERCHANTS):
        step = np.flatnonzero((c[lag:] == c[:-lag]) & (t[lag:] - t[:-lag] <= _SYNC_DAYS * _DAY))
        if step.size == 0:
            break
        left.append(step)
        right.append(step + lag)
    a = np.concatenate(left) if left else np.zeros(0, np.int64)
    b = np.concatenate(right) if right else np.zeros(0, np.int64)
    lo, hi = np.minimum(m[a], m[b]), np.maximum(m[a], m[b])
    pair, inverse, size = np.unique(lo * n + hi, return_inverse=True, return_counts=True)
    u, v = pair // n, pair % n
    together = sp.coo_matrix((np.r_[size, size], (np.r_[u, v], np.r_[v, u])),
                             shape=(n, n)).tocsr().astype(np.float64)
    strong = size[inverse] >= _SYNC_PAIR
    crew = np.zeros(n)
    seen = np.unique(np.r_[e[a[strong]], e[b[strong]]])
    np.add.at(crew, dst[seen], 1.0)
    both = np.asarray(common[u, v], dtype=np.float64).ravel() if len(pair) else np.zeros(0)
    share = np.where(both >= _SYNC_PAIR, size / np.maximum(both, 1.0), 0.0)
    top = np.zeros(n)
    np.maximum.at(top, u, share)
    np.maximum.at(top, v, share)
    return {
        "crew_sync_max": np.log1p(_row_max(together)),
        "crew_sync_partners": np.log1p(np.diff(sp.csr_matrix(together >= _SYNC_PAIR).indptr)),
        "crew_sync_share": ratio(crew, payers),
        "crew_sync_ratio": top,
    }


def _row_max(a: sp.csr_matrix) -> np.ndarray:
    """Row maxima of a non-negative sparse matrix (0 for an empty row)."""
    if a.nnz == 0:
        return np.zeros(a.shape[0])
    return np.asarray(a.max(axis=1).todense()).ravel().astype(np.float64)


def _time(inp: Inputs) -> dict[str, np.ndarray]:
    """Bursts against the merchant's own weeks, and promotion weeks from the data.

    ``burst_f = max_w f_w / median_{f_w > 0} f_w``; ``top6_f`` the share of ``f`` in its
    six largest weeks. Promotion weeks ``P`` (``weekly.promotion_weeks`` on the
    population's payments received): ``promo_share`` is the merchant's share of its
    payment count in ``P``; ``promo_log_lift = log(1 + mean count per week of P) -
    log(1 + mean count per other week)``, both over its span (first payment to the end).
    """
    out: dict[str, np.ndarray] = {}
    for flow in _BURST_FLOWS:
        out[f"burst_{flow}"] = burst(inp.series(flow))
    for flow in _TOP_FLOWS:
        out[f"top{_TOP_WEEKS}_{flow}"] = top_share(inp.series(flow), _TOP_WEEKS)
    count = inp.series("paid_in_count")
    promo = inp.promotion
    w = count.shape[1]
    t = np.arange(w)[None, :]
    span = t >= first_active(count)[:, None]
    in_promo = span & promo[None, :]
    in_base = span & ~promo[None, :]
    promo_rate = ratio((count * in_promo).sum(axis=1), in_promo.sum(axis=1))
    base_rate = ratio((count * in_base).sum(axis=1), in_base.sum(axis=1))
    out["promo_share"] = ratio(count[:, promo].sum(axis=1), count.sum(axis=1))
    out["promo_log_lift"] = np.where(in_promo.any(axis=1) & in_base.any(axis=1),
                                     np.log1p(promo_rate) - np.log1p(base_rate), 0.0)
    # Thin activity (a shell kept just alive): weeks with any flow over weeks since the
    # first; 0 for a merchant never active.
    weeks = sum(inp.series(name) for name in inp.ex.week_names if name.endswith("_count"))
    if isinstance(weeks, int):  # no flows at all
        weeks = np.zeros((inp.n, 0))
    out["active_week_share"] = ratio((weeks > 0).sum(axis=1),
                                     weeks.shape[1] - first_active(weeks))
    return out
