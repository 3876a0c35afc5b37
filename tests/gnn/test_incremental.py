"""What an incremental run writes of what it re-scored (gnn/incremental.py: moved)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from guanxi.gnn.incremental import SCORE_TOLERANCE, moved
from guanxi.gnn.scores import CLUSTER_COLUMNS, ScoreSet


def _cut(**change: list) -> ScoreSet:
    """Four re-scored merchants, none in a cluster, with 2-wide embeddings."""
    merchants = pd.DataFrame({"merchant_id": ["A", "B", "C", "D"],
                              "cluster_id": [None] * 4, "ring_score": [0.1, 0.2, 0.3, 0.4],
                              "pd": [0.01, 0.02, np.nan, 0.04],
                              "credit_score": pd.array([800, 790, None, 770], dtype="Int64")})
    for column, values in change.items():
        merchants[column] = values
    return ScoreSet(merchants, pd.DataFrame(columns=list(CLUSTER_COLUMNS)), "v1",
                    embeddings=np.array([[1, 0], [0, 1], [1, 1], [2, 0]], np.float32))


def _stored() -> pd.DataFrame:
    frame = pd.DataFrame({"merchant_id": ["A", "B", "C", "D"], "cluster_id": [None] * 4,
                          "ring_score": [0.1, 0.2, 0.3, 0.4], "pd": [0.01, 0.02, None, 0.04],
                          "credit_score": [800, 790, None, 770],
                          "embedding": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]],
                          "fastrp": [None] * 4})
    return frame.set_index("merchant_id", drop=False)


def test_nothing_moved_nothing_written() -> None:
    assert moved(_cut(), _stored()).merchants.empty


def test_a_score_moved_past_the_tolerance_is_written_with_its_embedding() -> None:
    step = SCORE_TOLERANCE * 0.5
    cut = _cut(ring_score=[0.1 + step, 0.2 + 3 * SCORE_TOLERANCE, 0.3, 0.4],
               pd=[0.01, 0.02, 0.5, 0.04])
    out = moved(cut, _stored())
    assert list(out.merchants["merchant_id"]) == ["B", "C"]
    np.testing.assert_array_equal(out.embeddings, [[0, 1], [1, 1]])


def test_a_credit_score_a_cluster_or_an_embedding_that_changed_is_written() -> None:
    cut = _cut(credit_score=pd.array([801, 790, None, 770], dtype="Int64"),
               cluster_id=[None, "K1", None, None])
    cut.clusters = pd.DataFrame([{"cluster_id": "K1", "size": 1, "members": ["B"]}],
                                columns=list(CLUSTER_COLUMNS))
    cut.embeddings[3] = [2.0, 0.01]  # 0.5% of its length: past 0.1%
    stored = _stored()
    stored.loc["C", "embedding"] = None  # stored without one
    assert list(moved(cut, stored).merchants["merchant_id"]) == ["A", "B", "C", "D"]


def test_a_merchant_with_no_stored_score_is_written() -> None:
    out = moved(_cut(), _stored().drop(index="D"))
    assert list(out.merchants["merchant_id"]) == ["D"]


def test_a_member_of_a_rescored_cluster_is_written_even_unmoved() -> None:
    cut = _cut(cluster_id=["K1", "K1", None, None])
    cut.clusters = pd.DataFrame([{"cluster_id": "K1", "size": 2, "members": ["A", "B"]}],
                                columns=list(CLUSTER_COLUMNS))
    stored = _stored()
    stored["cluster_id"] = ["K1", "K1", None, None]
    out = moved(cut, stored)
    assert list(out.merchants["merchant_id"]) == ["A", "B"]
    assert list(out.clusters["cluster_id"]) == ["K1"]
