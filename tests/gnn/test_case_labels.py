"""Investigators' decisions become the next training's labels: cases decided through
``graph/cases.py`` on the real ingested synthetic graph change what ``prepare`` (and so
``guanxi train``) learns from. A merchant unlabelled before is labelled after; a
decision on a cluster labels every member it had; reopening takes the labels back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from guanxi.gnn.prepare import prepare
from guanxi.gnn.scores import ScoreSet
from guanxi.graph.cases import CLEARED, CONFIRMED, IN_PROGRESS, OPEN, move, open_case
from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.scores import write_scores
from guanxi.graph.settings import Settings
from guanxi.ingest.load import IngestOptions, ingest_folder


@pytest.fixture(scope="module")
def loaded(neo4j_settings: Settings, scoring_folder: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """The synthetic folder loaded into the emptied session graph."""
    g = open_graph(neo4j_settings)
    g.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    apply_schema(g)
    rejects = tmp_path_factory.mktemp("case-labels") / "rejects.csv"
    assert ingest_folder(g, scoring_folder, IngestOptions(rejects=rejects)).error is None
    return g


def _ring(g: Graph) -> pd.Series:
    """The ring labels the next training would use, by merchant id."""
    prep = prepare(g)
    return pd.Series(prep.labels.ring, index=prep.ids)


def _decide(g: Graph, kind: str, about: str, to: str) -> str:
    case = open_case(g, kind=kind, about=about, user="alice")
    move(g, case.id, IN_PROGRESS, expected=OPEN, user="alice")
    move(g, case.id, to, expected=IN_PROGRESS, user="alice", note="checked by hand")
    return case.id


def test_decisions_change_the_next_trainings_labels(loaded: Graph) -> None:
    before = _ring(loaded)
    unlabelled = before.index[before.to_numpy() == -1]
    assert len(unlabelled) > 10
    lone, group = unlabelled[0], list(unlabelled[1:5])
    # A cluster made by a scoring run (three of the four unlabelled merchants now),
    # whose case is decided after the fourth joined it.
    everyone = list(before.index)
    run = ScoreSet(pd.DataFrame({"merchant_id": everyone,
                                 "cluster_id": ["CX" if m in group[:3] else None
                                                for m in everyone],
                                 "ring_score": 0.5, "pd": 0.1, "credit_score": 700}),
                   pd.DataFrame({"cluster_id": ["CX"], "size": [3], "collusion_score": [0.9],
                                 "group_pd": [0.2], "credit_score": [500],
                                 "key_members": [group[:1]], "top_factors": [[]],
                                 "top_links": [[]], "members": [sorted(group[:3])]}),
                   "v-test", datetime(2026, 11, 30, tzinfo=UTC))
    write_scores(loaded, run)
    cluster_case = open_case(loaded, kind="cluster", about="CX", user="alice")
    run.merchants.loc[run.merchants["merchant_id"] == group[3], "cluster_id"] = "CX"
    run.clusters.at[0, "members"], run.clusters.at[0, "size"] = sorted(group), 4
    run.scored_at = datetime(2026, 12, 1, tzinfo=UTC)
    write_scores(loaded, run)

    _decide(loaded, "merchant", lone, CONFIRMED)
    move(loaded, cluster_case.id, IN_PROGRESS, expected=OPEN, user="bob")
    move(loaded, cluster_case.id, CLEARED, expected=IN_PROGRESS, user="bob", note="a chain")
    after = _ring(loaded)
    assert after[lone] == 1
    assert (after[group] == 0).all()  # every member at the decision, the late one too
    changed = after.index[after.to_numpy() != before.to_numpy()]
    assert sorted(changed) == sorted([lone, *group])  # nothing else moved

    # What `guanxi train` reports it learnt from (pipeline.train: prep.labels.counts()).
    counts = prepare(loaded).labels.counts()
    assert counts["from_cases"] == 5
    assert counts["fraud"] == int((before == 1).sum()) + 1
    assert counts["legit"] == int((before == 0).sum()) + 4


def test_a_later_decision_overrides_the_labels_file_and_reopening_undoes_it(
        loaded: Graph) -> None:
    before = _ring(loaded)
    fraud = before.index[before.to_numpy() == 1][0]  # labelled fraud by the labels file
    case_id = _decide(loaded, "merchant", fraud, CLEARED)
    assert _ring(loaded)[fraud] == 0
    move(loaded, case_id, IN_PROGRESS, expected=CLEARED, user="bob", note="new evidence")
    assert _ring(loaded).equals(before)
