"""Structural collusion features: merchant-to-merchant payments and their cycles, supply
without shipments, shared identifiers, registration age and cohort.

Every function maps :class:`Inputs` to ``{name: (M,) float64}``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from guanxi.gnn.features.inputs import Inputs
from guanxi.gnn.features.weekly import ratio
from guanxi.gnn.projection import IDENTIFIERS, SHARED, edges

__all__ = ["STRUCTURE", "structure_features", "cycles"]

_DAY = 86_400.0
_COHORT_DAYS = 7  # registered by the same agent within a week either side
_SHARED_COHORT_DAYS = 60  # sharing a phone, account... and registered within two months
_NOT_OWN = ("agent",)  # an onboarding agent serves many shops: not the merchant's own id
_KINDS = ("paid", "supply")

STRUCTURE: tuple[str, ...] = (
    "m2m_in_share", "m2m_out_share", "m2m_passthrough", "m2m_log_payers",
    "m2m_log_payees", "m2m_out_round_share",
    *(f"{k}_{s}" for k in _KINDS
      for s in ("reciprocal_share", "cycles2", "cycles3", "scc_log_size")),
    "supply_out_log_count", "supply_in_log_count", "supply_out_unshipped_share",
    "supply_in_unshipped_share", "supply_unshipped_invoice_share",
    "supply_log_unshipped_invoices", "supply_round_share",
    *(f"shared_{k}_{s}" for k in SHARED for s in ("merchants", "weight")),
    *(f"id_{k}_max_degree" for k in SHARED),
    "shared_kinds", "shared_weight_total",
    "age_first_activity_days", "age_end_days", "age_unknown", "reg_cohort_agent",
    "shared_cohort", "shared_cohort_kinds",
)
"""Column order of the structural collusion features."""


def structure_features(inp: Inputs) -> dict[str, np.ndarray]:
    """All of ``STRUCTURE``."""
    return {**_m2m(inp), **_cycles(inp), **_supply(inp), **_shared(inp), **_age(inp),
            **_shared_cohort(inp)}


def cycles(a: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reciprocity and short cycles of a directed graph, per node.

    With ``A`` the 0/1 adjacency without self-loops: reciprocal partners
    ``diag(A^2)_i = sum_j A_ij A_ji`` (directed 2-cycles), directed 3-cycles through
    ``i``: ``diag(A^3)_i = sum_j (A^2)_ij A_ji`` (each cycle ``i -> j -> k -> i`` counted
    once per member), and the reciprocal share ``diag(A^2)_i / |N(i)|``, ``N(i)`` the
    partners in either direction. Money going round ``A -> B -> C -> A`` before a loan
    application shows as a 3-cycle for each member.

    Returns ``(reciprocal_share, cycles2, cycles3)``, each ``(n,)`` float64.

    >>> a = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]]))
    >>> [c.tolist() for c in cycles(a)]
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """
    a = sp.csr_matrix(a, dtype=np.float64)
    a = sp.csr_matrix(a - sp.diags(a.diagonal()))
    a.eliminate_zeros()
    a.data[:] = 1.0
    at = sp.csr_matrix(a.T)
    two = np.asarray(a.multiply(at).sum(axis=1)).ravel()
    three = np.asarray(sp.csr_matrix(a @ a).multiply(at).sum(axis=1)).ravel()
    partners = np.diff(sp.csr_matrix(a + at).indptr)
    return ratio(two, partners), two, three


def _m2m(inp: Inputs) -> dict[str, np.ndarray]:
    """Merchant-to-merchant payments against all money in and out.

    ``m2m_in_share = paid in by merchants / paid in``; ``m2m_out_share = paid out /
    (paid in + paid out)``; ``m2m_passthrough = min(in, out) / max(in, out)``: a front
    that passes on 95% of what it takes is near 1, a shop near 0.
    """
    p = inp.payments
    total_in = inp.sum_by(p.payee, p.amount)
    m2m_in = inp.sum_by(p.payee, p.amount * p.merchant_payer)
    found = edges(inp.ex, ("Merchant", "PAID", "Merchant"))
    if found is None:
        src = dst = np.zeros(0, np.int64)
        out_amount = out_count = out_round = np.zeros(inp.n)
    else:
        src, dst, attrs = found
        out_amount = inp.sum_by(src, attrs.get("amount", np.zeros(len(src))))
        out_count = inp.sum_by(src, attrs.get("count", np.zeros(len(src))))
        out_round = inp.sum_by(src, attrs.get("round_count", np.zeros(len(src))))
    return {
        "m2m_in_share": ratio(m2m_in, total_in),
        "m2m_out_share": ratio(out_amount, total_in + out_amount),
        "m2m_passthrough": ratio(np.minimum(total_in, out_amount),
                                 np.maximum(total_in, out_amount)),
        "m2m_log_payers": np.log1p(inp.sum_by(dst, np.ones(len(dst)))),
        "m2m_log_payees": np.log1p(inp.sum_by(src, np.ones(len(src)))),
        "m2m_out_round_share": ratio(out_round, out_count),
    }


def _cycles(inp: Inputs) -> dict[str, np.ndarray]:
    """``cycles`` of the payment and supply graphs, and ``<kind>_scc_log_size``:
    ``log`` of the size of the merchant's strongly connected component (0 alone), i.e.
    whether money can come back to it by any route: a ring's cycle may be longer than
    three, while honest payments (shop -> wholesaler) mostly run one way; the one giant
    component of honest trade is large, a ring's is small."""
    out = {}
    for kind in _KINDS:
        a = inp.links.directed.get(kind)
        share, two, three = (cycles(a) if a is not None
                             else (np.zeros(inp.n),) * 3)
        out[f"{kind}_reciprocal_share"] = share
        out[f"{kind}_cycles2"] = np.log1p(two)
        out[f"{kind}_cycles3"] = np.log1p(three)
        size = np.ones(inp.n)
        if a is not None and a.nnz:
            _, component = connected_components(a, directed=True, connection="strong")
            size = np.bincount(component)[component].astype(np.float64)
        out[f"{kind}_scc_log_size"] = np.log(size)
    return out


def _supply(inp: Inputs) -> dict[str, np.ndarray]:
    """Invoices against shipments, pair by pair in the same direction.

    A pair's unshipped invoices are ``max(0, invoices - shipments)``; a supply pair is
    unshipped when the supplier never shipped to the buyer. Without any shipments in
    the graph every pair is unshipped (the feature then says nothing, and a model
    trained where logistics exist should not be used on such a graph).
    """
    names = ("supply_out_log_count", "supply_in_log_count", "supply_out_unshipped_share",
             "supply_in_unshipped_share", "supply_unshipped_invoice_share",
             "supply_log_unshipped_invoices", "supply_round_share")
    found = edges(inp.ex, ("Merchant", "SUPPLIES", "Merchant"))
    if found is None:
        return dict.fromkeys(names, np.zeros(inp.n))
    src, dst, attrs = found
    invoices = attrs.get("count", np.ones(len(src)))
    shipped = inp.links.directed.get("shipped")
    shipments = (np.asarray(shipped[src, dst]).ravel() if shipped is not None
                 else np.zeros(len(src)))
    none = (shipments == 0).astype(np.float64)
    gap = np.maximum(invoices - shipments, 0.0)
    pairs_out = inp.sum_by(src, np.ones(len(src)))
    pairs_in = inp.sum_by(dst, np.ones(len(dst)))
    inv_out, inv_in = inp.sum_by(src, invoices), inp.sum_by(dst, invoices)
    gap_both = inp.sum_by(src, gap) + inp.sum_by(dst, gap)
    round_both = inp.sum_by(src, attrs.get("round_count", np.zeros(len(src)))) + \
        inp.sum_by(dst, attrs.get("round_count", np.zeros(len(src))))
    return {
        "supply_out_log_count": np.log1p(inv_out),
        "supply_in_log_count": np.log1p(inv_in),
        "supply_out_unshipped_share": ratio(inp.sum_by(src, none), pairs_out),
        "supply_in_unshipped_share": ratio(inp.sum_by(dst, none), pairs_in),
        "supply_unshipped_invoice_share": ratio(gap_both, inv_out + inv_in),
        "supply_log_unshipped_invoices": np.log1p(gap_both),
        "supply_round_share": ratio(round_both, inv_out + inv_in),
    }


def _shared(inp: Inputs) -> dict[str, np.ndarray]:
    """Per identifier kind: other merchants sharing one (``shared_<k>_merchants``, log),
    the resource-allocation weight ``sum_j S_ij`` (``shared_<k>_weight``, the number of
    its identifiers used by 2..max_share merchants), and ``id_<k>_max_degree``,
    ``log(1 + max over its identifiers of (k_x - 1))`` without the cap, so that a
    phone used by 300 shops still shows."""
    out: dict[str, np.ndarray] = {}
    kinds = np.zeros(inp.n)
    total = np.zeros(inp.n)
    for kind in SHARED:
        s = inp.links.shared.get(kind)
        partners = np.diff(s.indptr) if s is not None else np.zeros(inp.n)
        weight = np.asarray(s.sum(axis=1)).ravel() if s is not None else np.zeros(inp.n)
        out[f"shared_{kind}_merchants"] = np.log1p(partners)
        out[f"shared_{kind}_weight"] = weight
        kinds += partners > 0
        total += weight
        out[f"id_{kind}_max_degree"] = np.zeros(inp.n)
        key = IDENTIFIERS.get(kind)
        if key is not None and (found := edges(inp.ex, key)) is not None:
            merchant, ident, _ = found
            pairs = np.unique(np.stack([merchant, ident]), axis=1)
            degree = np.bincount(pairs[1], minlength=int(inp.ex.data[key[2]].num_nodes))
            out[f"id_{kind}_max_degree"] = np.log1p(inp.max_by(pairs[0],
                                                               degree[pairs[1]] - 1.0))
    out["shared_kinds"] = kinds
    out["shared_weight_total"] = total
    return out


def _age(inp: Inputs) -> dict[str, np.ndarray]:
    """Days from registration to the first activity and to the end of the data (a
    merchant never active: to the end); ``age_unknown`` 1 where registration is
    missing (both ages then 0); ``reg_cohort_agent``: ``log(1 + other merchants of
    the same onboarding agent registered within 7 days)``, shells come in batches."""
    reg = inp.registered
    first, _, end = inp.activity_span
    known = np.isfinite(reg)
    start = np.where(np.isfinite(first), first, end)
    age_first = np.where(known, (start - reg) / _DAY, 0.0)
    age_end = np.where(known, (end - reg) / _DAY, 0.0)
    out = {
        "age_first_activity_days": np.nan_to_num(age_first),
        "age_end_days": np.nan_to_num(age_end),
        "age_unknown": (~known).astype(np.float64),
        "reg_cohort_agent": np.zeros(inp.n),
    }
    key = IDENTIFIERS.get("agent")
    found = edges(inp.ex, key) if key is not None else None
    if found is not None:
        merchant, agent, _ = found
        ok = known[merchant]
        merchant, agent = merchant[ok], agent[ok]
        day = np.floor(reg[merchant] / _DAY).astype(np.int64)
        # One sorted key per (agent, day): a window of +-7 days is two binary searches.
        offset = day.min() if len(day) else 0
        span = (day.max() - offset + 4 * _COHORT_DAYS) if len(day) else 1
        code = agent.astype(np.int64) * span + (day - offset + 2 * _COHORT_DAYS)
        order = np.sort(code)
        within = (np.searchsorted(order, code + _COHORT_DAYS, side="right")
                  - np.searchsorted(order, code - _COHORT_DAYS, side="left") - 1)
        out["reg_cohort_agent"] = np.log1p(inp.max_by(merchant, within.astype(np.float64)))
    return out


def _shared_cohort(inp: Inputs) -> dict[str, np.ndarray]:
    """Identifiers shared with merchants registered at about the same time (within
    60 days either side), over its own identifiers (every kind but the onboarding
    agent): ``shared_cohort = log(1 + such merchants)``, ``shared_cohort_kinds`` the
    kinds that link it to one. Shell merchants are opened in a batch with a few phones,
    accounts and owners between them; a chain's shops share an owner too, but mostly
    open over years. A missing date is never close to another."""
    reg = inp.registered
    count = np.zeros(inp.n)
    kinds = np.zeros(inp.n)
    union = None
    for kind, s in inp.links.shared.items():
        if kind in _NOT_OWN or s.nnz == 0:
            continue
        pairs = sp.coo_matrix(s)
        close = np.abs(reg[pairs.row] - reg[pairs.col]) <= _SHARED_COHORT_DAYS * _DAY
        kinds += np.bincount(pairs.row[close], minlength=inp.n) > 0
        near = sp.csr_matrix((np.ones(int(close.sum())), (pairs.row[close], pairs.col[close])),
                             shape=s.shape)
        union = near if union is None else union + near
    if union is not None:
        count = np.diff(union.indptr).astype(np.float64)  # partners, once whatever the kinds
    return {"shared_cohort": np.log1p(count), "shared_cohort_kinds": kinds}
