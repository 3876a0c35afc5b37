"""What scoring produces: merchant and cluster scores, the contract between ``gnn/``
(which computes them), ``graph/scores.py`` (which writes them to Neo4j and reads them
back) and the commands and app that show them.

>>> s = ScoreSet.empty("v1")
>>> list(s.merchants.columns)
['merchant_id', 'cluster_id', 'ring_score', 'pd', 'credit_score']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

__all__ = ["CLUSTER_COLUMNS", "MERCHANT_COLUMNS", "ScoreSet"]

MERCHANT_COLUMNS: tuple[str, ...] = ("merchant_id", "cluster_id", "ring_score", "pd",
                                     "credit_score")
"""One row per merchant: ``cluster_id`` None for a merchant in no cluster; ``ring_score``
the calibrated probability of taking part in a collusion ring; ``pd`` the probability
of default over the horizon; ``credit_score`` an int on 350-950 (``gnn/credit_scale.py``)."""

CLUSTER_COLUMNS: tuple[str, ...] = ("cluster_id", "size", "collusion_score", "group_pd",
                                    "credit_score", "key_members", "top_factors",
                                    "top_links", "members")
"""One row per cluster: ``key_members`` list of merchant ids (most harmful failure
first); ``top_factors`` list of ``{"score", "name", "value", "weight"}`` dicts (``score``
is ``"collusion"`` or ``"credit"``; ``weight`` the factor's signed contribution);
``top_links`` list of ``{"source", "target", "type", "weight", "detail"}`` dicts;
``members`` list of merchant ids."""


@dataclass
class ScoreSet:
    """The scores of one scoring run.

    ``embeddings`` (the GNN's) and ``fastrp`` (FastRP of the merchant graph) are each
    ``(len(merchants), D)`` float32 in the row order of ``merchants``, or None.
    """

    merchants: pd.DataFrame
    clusters: pd.DataFrame
    model_version: str
    scored_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    embeddings: np.ndarray | None = None
    fastrp: np.ndarray | None = None

    @classmethod
    def empty(cls, model_version: str) -> ScoreSet:
        return cls(pd.DataFrame(columns=list(MERCHANT_COLUMNS)),
                   pd.DataFrame(columns=list(CLUSTER_COLUMNS)), model_version)
