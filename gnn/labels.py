"""Training labels: the labels and defaults files, overridden by investigators' decisions.

Ring labels per merchant are ``1`` (fraud), ``0`` (legit, cleared) or ``-1``
(unlabelled, the normal case for nearly every merchant). A decided ``Case`` (status
``confirmed_fraud`` or ``cleared``, written by the app) labels the merchant it is
about, or every member a cluster had when it was decided, and overrides the files;
of two decisions on one merchant the later wins. Default labels are the observed
``defaulted`` outcome (NaN where no loan was observed).

>>> ex_labels = pd.Series(["fraud", None, "legit"])
>>> decisions = pd.DataFrame({"merchant_id": ["m2"], "decision": [0]})
>>> ring_labels(ex_labels, ["m1", "m2", "m3"], decisions).tolist()
[1, 0, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from guanxi import queries
from guanxi.graph.connection import Graph

__all__ = ["CONFIRMED", "CLEARED", "Labels", "case_decisions", "ring_labels", "training_labels"]

CONFIRMED, CLEARED = "confirmed_fraud", "cleared"


@dataclass
class Labels:
    """``ring`` (M,) int8 in {1, 0, -1}; ``defaulted`` (M,) float64 0/1, NaN unknown."""

    ring: np.ndarray
    defaulted: np.ndarray
    from_cases: int = 0

    def counts(self) -> dict[str, int]:
        return {"fraud": int((self.ring == 1).sum()), "legit": int((self.ring == 0).sum()),
                "defaults_observed": int(np.isfinite(self.defaulted).sum()),
                "defaulted": int(np.nansum(self.defaulted)), "from_cases": self.from_cases}


def case_decisions(graph: Graph) -> pd.DataFrame:
    """``merchant_id``, ``decision`` (1 confirmed fraud, 0 cleared), latest per merchant."""
    rows = graph.read(queries.load("case_decisions"), decided=[CONFIRMED, CLEARED])
    pairs = [(m, 1 if r["status"] == CONFIRMED else 0) for r in rows for m in r["merchants"]]
    frame = pd.DataFrame(pairs, columns=["merchant_id", "decision"])
    # Rows come oldest first: the last decision on a merchant is the one that counts.
    return frame.drop_duplicates("merchant_id", keep="last").reset_index(drop=True)


def ring_labels(file_labels: pd.Series, merchant_ids: Sequence[str],
                decisions: pd.DataFrame | None = None) -> np.ndarray:
    """(M,) int8 ring labels from the labels file, then case decisions on top."""
    text = file_labels.astype(object)
    ring = np.where(text == "fraud", 1, np.where(text == "legit", 0, -1)).astype(np.int8)
    if decisions is not None and len(decisions):
        where = pd.Index(np.asarray(merchant_ids, dtype=object)).get_indexer(
            decisions["merchant_id"])
        known = where >= 0
        ring[where[known]] = decisions["decision"].to_numpy()[known]
    return ring


def training_labels(merchants: pd.DataFrame, decisions: pd.DataFrame | None = None) -> Labels:
    """Labels for the exported ``merchants`` frame (``Exported.merchants``)."""
    ring = ring_labels(merchants["label"], merchants["id"], decisions)
    defaulted = pd.to_numeric(merchants["defaulted"], errors="coerce").astype(float).to_numpy()
    return Labels(ring, defaulted, 0 if decisions is None else len(decisions))
