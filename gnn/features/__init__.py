"""Numeric merchant features for the collusion and credit models.

One table, one row per merchant position (``Exported.ids["Merchant"][i]``), float32,
no NaN, the same columns whatever relations the graph holds: a relation the graph
lacks leaves its columns at their neutral value (0, documented per feature in
docs/scoring.md), so a model trained on one graph scores another. Nothing reads the
``label`` or ``defaulted`` columns (they are what the models learn), nor ids, dates,
categories or cities as constants: promotion weeks, partial weeks and category
baselines come from the data.

- ``features/collusion.py``: payments received, payer overlap, bursts, promotions;
- ``features/structure.py``: cycles, supply without shipments, shared identifiers, age;
- ``features/credit.py``: trends, contagion, group shocks, concentration, size;
- ``features/weekly.py``: the per-merchant statistics of weekly series they use.

>>> import torch
>>> from torch_geometric.data import HeteroData
>>> from guanxi.graph.export import Exported
>>> from guanxi.gnn.projection import merchant_links
>>> data = HeteroData()
>>> data["Merchant"].num_nodes = 2
>>> ex = Exported(data, {}, {}, None, torch.zeros(2, 0, 12), None)
>>> table = merchant_features(ex, merchant_links(ex))
>>> table.shape == (2, len(FEATURES))
True
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np
import pandas as pd

from guanxi.gnn.features.collusion import COLLUSION, payment_features
from guanxi.gnn.features.credit import (
    CREDIT,
    TRENDS,
    Trends,
    credit_features,
    trend_window,
)
from guanxi.gnn.features.inputs import Inputs
from guanxi.gnn.features.structure import structure_features
from guanxi.gnn.projection import Links
from guanxi.gnn.workers import in_threads
from guanxi.graph.export import Exported

__all__ = ["COLLUSION", "CREDIT", "FEATURES", "TRENDS", "Table", "Trends",
           "merchant_features", "merchant_table"]

FEATURES: tuple[str, ...] = tuple(dict.fromkeys((*COLLUSION, *CREDIT)))
"""Every column of :func:`merchant_features`, in order: ``COLLUSION`` then the credit
columns not already there."""


class Table(NamedTuple):
    """What :func:`merchant_table` computes."""

    features: pd.DataFrame
    trends: Trends
    shared_weeks: np.ndarray
    """``(3,)`` int64: what every merchant's features read of the whole population and
    can tip over (the complete weeks, the promotion weeks): an incremental run whose
    base computed others re-scores every merchant."""


def merchant_features(ex: Exported, links: Links) -> pd.DataFrame:
    """The feature table of every merchant (:func:`merchant_table`)."""
    return merchant_table(ex, links).features


def merchant_table(ex: Exported, links: Links, kept: Trends | None = None) -> Table:
    """The feature table of every merchant, their :class:`Trends` (kept by a run for
    the next) and what they share (:attr:`Table.shared_weeks`).

    Parameters
    ----------
    ex : Exported
        The exported graph (``weeks`` may have ``W = 0`` or ``1``; any relation may be
        missing). ``merchants.label`` and ``merchants.defaulted`` are never read.
    links : Links
        ``merchant_links(ex)``.
    kept : Trends, optional
        The trends of a run before, per merchant of ``ex``, for those whose weekly
        rows are the same as then (``credit_features``): the table is the same, bit for
        bit, without computing them again.

    Returns
    -------
    pandas.DataFrame
        ``(M, len(FEATURES))`` float32, index ``0..M-1`` (merchant positions), columns
        ``FEATURES``; every value finite (anything not finite becomes 0, the neutral
        value). Deterministic: the same graph gives the same table.
    Trends
        The merchants' own trends, float64, and the window they were fit over.
    numpy.ndarray
        ``(3,)`` int64: the complete weeks and a fingerprint of the promotion weeks.
    """
    inp = Inputs(ex, links)
    # Side by side: numpy and pandas free the interpreter for most of each (3.7 s ->
    # 2.0 s at 100,000 merchants on two cores); the inputs they share are computed once.
    # Three jobs on two threads: the structure (0.8 s) follows whichever of the other
    # two (1.2 s and 1.6 s) ends first.
    values = {}
    for part in in_threads([partial(payment_features, inp),
                            partial(credit_features, inp, kept),
                            partial(structure_features, inp)]):
        values.update(part)
    table = np.empty((links.n, len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        table[:, j] = values[name]
    table[~np.isfinite(table)] = 0.0
    trends = Trends(np.column_stack([values[name] for name in TRENDS]),
                    np.tile(trend_window(inp), (links.n, 1)))
    return Table(pd.DataFrame(table, columns=list(FEATURES), index=pd.RangeIndex(links.n)),
                 trends, inp.shared_weeks)
