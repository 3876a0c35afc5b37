"""The 350-950 credit score: a probability of default on the scale lenders read.

A scorecard line in log-odds (the usual "points to double the odds" form):

    score = OFFSET - FACTOR * ln(pd / (1 - pd)),  FACTOR = PDO / ln 2

with ``PDO = 40`` points and 600 at a PD of 5% (odds 1:19), clipped to 350..950 and
rounded. So 640 halves the odds of default against 600, 560 doubles them; a PD of
1% reads 695, 20% reads 510, 50% reads 430, and 350 is a PD of about 80%.
Higher is better, as on the consumer scales (芝麻信用) these merchants know.

>>> credit_score([0.05, 0.01, 0.5, 0.99, 1e-9]).tolist()
[600, 695, 430, 350, 950]
>>> round(float(pd_of_score(600)), 4)
0.05
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["ANCHOR_PD", "ANCHOR_SCORE", "MAX_SCORE", "MIN_SCORE", "PDO", "credit_score",
           "pd_of_score"]

MIN_SCORE, MAX_SCORE = 350, 950
ANCHOR_SCORE, ANCHOR_PD, PDO = 600, 0.05, 40.0
_FACTOR = PDO / math.log(2)
_OFFSET = ANCHOR_SCORE + _FACTOR * math.log(ANCHOR_PD / (1 - ANCHOR_PD))


def credit_score(pd: Sequence[float] | np.ndarray) -> np.ndarray:
    """(N,) probabilities of default -> (N,) int64 scores on 350..950."""
    p = np.clip(np.asarray(pd, dtype=np.float64), 1e-12, 1 - 1e-12)
    raw = _OFFSET - _FACTOR * np.log(p / (1 - p))
    return np.clip(np.rint(raw), MIN_SCORE, MAX_SCORE).astype(np.int64)


def pd_of_score(score: float | np.ndarray) -> np.ndarray:
    """The probability of default a score stands for (the inverse, before clipping)."""
    log_odds = (_OFFSET - np.asarray(score, dtype=np.float64)) / _FACTOR
    return 1 / (1 + np.exp(-log_odds))
