"""gnn/pipeline.py (train, score) and gnn/prepare.py against the real Neo4j.

One small synthetic folder (``scoring_folder``: 400 merchants, five labelled rings,
observed loans) is loaded once for the module and trained on once; the tests then
check what ``score`` writes (ranges, every cluster scored and explained, memberships in
Neo4j), and invariants: the same seed gives the same scores, a second scoring keeps
the cluster ids, the GDS and Python paths compute the same inputs, an investigator's
decision changes the next training set, a graph without labels trains unsupervised.
The last test empties the graph for a payments-only folder.

Speed: the GNN trains for a handful of epochs on one thread, and LightGBM runs on one
thread (``trees.PARAMS`` asks for two; on a busy two-core machine two OpenMP threads
spin against each other and a five-fold fit takes minutes instead of seconds).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from helpers import training_labels
from sklearn.metrics import adjusted_rand_score

from guanxi.gnn import pipeline, trees
from guanxi.gnn.artefact import list_artefacts, load_artefact
from guanxi.gnn.cluster_scores import cluster_labels, cluster_table
from guanxi.gnn.credit_scale import credit_score
from guanxi.gnn.evaluate import evaluate
from guanxi.gnn.features import TRENDS
from guanxi.gnn.group import cluster_means, credible_group_pd
from guanxi.gnn.incremental import closed
from guanxi.gnn.labels import ring_labels
from guanxi.gnn.prepare import Carried, business_links, prepare
from guanxi.gnn.scorer import CONTEXT, RING_STAGES, ScorerSettings
from guanxi.gnn.scores import CLUSTER_COLUMNS, MERCHANT_COLUMNS, ScoreSet
from guanxi.gnn.train import TrainSettings
from guanxi.graph import gds
from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.scores import current_run, read_scores
from guanxi.graph.settings import Settings
from guanxi.ingest.load import IngestOptions, ingest_folder

FAST = ScorerSettings(use_gnn=True, gnn=TrainSettings(hidden=16, epochs=5, cross_fit_epochs=3,
                                                      ssl_epochs=3, threads=1))


@pytest.fixture(scope="module", autouse=True)
def one_tree_thread() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(trees.PARAMS, "num_threads", 1)
        yield


def load_folder(graph: Graph, folder: Path, rejects: Path) -> None:
    """Empty the graph and load ``folder`` into it, with no rejected row."""
    graph.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    apply_schema(graph)
    report = ingest_folder(graph, folder, IngestOptions(rejects=rejects))
    assert report.error is None
    assert all(f.rejected == 0 for f in report.files), [f.as_dict() for f in report.files]


@pytest.fixture(scope="module")
def loaded(neo4j_settings: Settings, scoring_folder: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Graph:
    g = open_graph(neo4j_settings)
    load_folder(g, scoring_folder, tmp_path_factory.mktemp("rejects") / "rejects.csv")
    return g


def ensure_loaded(g: Graph, folder: Path, manifest: dict, rejects: Path) -> Graph:
    """``g`` holding exactly the synthetic folder: loaded again when another module's
    ``graph`` fixture emptied it, or a test left labels removed or cases behind."""
    row = g.read("MATCH (m:Merchant) RETURN count(m) AS merchants, count(m.label) AS labels, "
                 "count(m.defaulted) AS defaults")[0]
    cases = g.read("MATCH (c:Case) RETURN count(c) AS n")[0]["n"]
    labels = manifest["labels"]["fraud"] + manifest["labels"]["legit"]
    if (row["merchants"], row["labels"], row["defaults"], cases) != (
            manifest["rows"]["merchants"], labels, manifest["rows"]["defaults"], 0):
        load_folder(g, folder, rejects)
    return g


@pytest.fixture
def synth(loaded: Graph, scoring_folder: Path, manifest: dict, tmp_path: Path) -> Graph:
    return ensure_loaded(loaded, scoring_folder, manifest, tmp_path / "rejects.csv")


@pytest.fixture(scope="module")
def trained(loaded: Graph, scoring_folder: Path, manifest: dict,
            tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, pipeline.TrainReport, list[str]]:
    """One model trained on the synthetic graph: its folder, report and notices."""
    ensure_loaded(loaded, scoring_folder, manifest, tmp_path_factory.mktemp("r") / "r.csv")
    models = tmp_path_factory.mktemp("models")
    said: list[str] = []
    report = pipeline.train(loaded, FAST, models=str(models), say=said.append)
    return models, report, said


@pytest.fixture(scope="module")
def scored(trained: tuple, loaded: Graph) -> tuple[ScoreSet, pipeline.ScoreReport]:
    """The graph scored (and written) with the trained model."""
    return pipeline.score(loaded, models=str(trained[0]))


def cluster_sets(scores: ScoreSet) -> dict[str, frozenset[str]]:
    return {row.cluster_id: frozenset(row.members) for row in scores.clusters.itertuples()}


# --- train ----------------------------------------------------------------------------


def test_train_saves_a_supervised_model_with_the_graphs_labels(trained: tuple,
                                                                manifest: dict) -> None:
    models, report, said = trained
    assert report.supervised
    assert report.labels == training_labels(manifest)
    for key in ("oof_ring_auprc_labelled", "oof_ring_auroc_labelled", "oof_credit_auc",
                "oof_credit_brier"):
        assert 0.0 <= report.metrics[key] <= 1.0, key
    assert report.metrics["labels"] == report.labels
    assert not [line for line in said if "no ring labels" in line or "no observed" in line]
    assert [a.version for a in list_artefacts(models)] == [report.version]
    scorer = pipeline.load_scorer(load_artefact(models))
    assert json.dumps(asdict(scorer.settings)) == json.dumps(asdict(FAST))  # tuples as lists
    assert scorer.supervised and scorer.stage_b is not None and scorer.credit is not None
    assert scorer.gnn is not None


def test_a_saved_model_loads_back_with_the_settings_it_was_trained_with(trained: tuple) -> None:
    scorer = pipeline.load_scorer(load_artefact(trained[0]))
    assert scorer.settings == FAST


def test_the_ring_score_ships_from_the_stage_the_held_out_rings_chose(trained: tuple,
                                                                       loaded: Graph) -> None:
    artefact = load_artefact(trained[0])
    quality = artefact.metrics["oof_ring_auprc_by_stage"]
    assert set(quality) == set(RING_STAGES)
    shortfall_se = artefact.metrics["oof_ring_auprc_se"]
    chosen = artefact.metrics["ring_stage"]
    # The simplest stage within one standard error of the best.
    best = max(quality.values())
    assert chosen == next(s for s in RING_STAGES if best - quality[s] <= shortfall_se[s])
    assert shortfall_se[max(quality, key=quality.get)] == 0.0
    scorer = pipeline.load_scorer(artefact)
    assert scorer.ring_stage == chosen
    prep = prepare(loaded, seed=FAST.seed)
    x = prep.features[scorer.feature_names].to_numpy(np.float32)
    by_stage = {s: replace(scorer, ring_stage=s).score(prep) for s in RING_STAGES}
    # Own features: the stage-0 trees' calibrated score, explained by the features.
    assert np.allclose(by_stage["0"].ring, scorer.stage_0.predict(x))
    assert by_stage["0"].ring_names == scorer.feature_names
    assert by_stage["0"].ring_model is scorer.stage_0
    assert by_stage["a"].ring_model is scorer.stage_a
    assert not set(CONTEXT) & set(by_stage["a"].ring_names)
    assert by_stage["b"].ring_names[-len(CONTEXT):] == list(CONTEXT)
    assert not np.allclose(by_stage["0"].ring, by_stage["b"].ring)
    # A model saved before the choice existed ships the full stack, as it did.
    older = replace(artefact, extra={k: v for k, v in artefact.extra.items()
                                     if k != "ring_stage"})
    assert pipeline.load_scorer(older).ring_stage == "b"


def test_the_group_pd_counts_observed_loans_as_training_measured(trained: tuple,
                                                                  loaded: Graph) -> None:
    artefact = load_artefact(trained[0])
    scorer = pipeline.load_scorer(artefact)
    assert scorer.group_pd_kappa == artefact.metrics["group_pd_kappa"]
    prep = prepare(loaded, seed=FAST.seed)
    outcome = prep.labels.defaulted
    assert np.isfinite(outcome).sum() > 0
    tables = {}
    for kappa in (scorer.group_pd_kappa, 0.5, None):
        nodes = replace(scorer, group_pd_kappa=kappa).score(prep, explain=False)
        labels = cluster_labels(prep, nodes.groups)
        table, _ = cluster_table(prep, nodes, labels=labels)
        where = dict(zip(prep.ids.tolist(), labels.tolist(), strict=True))
        at = [where[row.members[0]] for row in table.itertuples()]
        expected = credible_group_pd(labels, nodes.pd, outcome, kappa)[at]
        assert np.allclose(table["group_pd"].to_numpy(float), expected)
        tables[kappa] = (table["group_pd"].to_numpy(float), at, labels, nodes.pd)
    plain, at, labels, pd_ = tables[None]
    assert np.allclose(plain, cluster_means(labels, pd_)[at])
    observed = np.bincount(labels[(labels >= 0) & np.isfinite(outcome)],
                           minlength=labels.max() + 1)[at] > 0
    assert observed.any() and not np.allclose(tables[0.5][0][observed], plain[observed])
    # A model saved before the group PD read observed loans keeps the plain mean.
    older = replace(artefact, extra={k: v for k, v in artefact.extra.items()
                                     if k != "group_pd_kappa"})
    assert pipeline.load_scorer(older).group_pd_kappa is None


def test_credit_trees_from_before_the_partners_outcomes_read_what_they_learnt(
        trained: tuple, loaded: Graph) -> None:
    scorer = pipeline.load_scorer(load_artefact(trained[0]))
    prep = prepare(loaded, seed=FAST.seed)
    whole = scorer.score(prep, explain=False)
    assert any(n.startswith("partners_") for n in whole.credit_names)
    # Trees fitted on the inputs without the partners' outcomes, as an older model's.
    older = [i for i, n in enumerate(whole.credit_names) if not n.startswith("partners_")]
    names = [whole.credit_names[i] for i in older]
    observed = np.isfinite(prep.labels.defaulted)
    credit = trees.fit_folds(whole.credit_inputs[:, older], np.nan_to_num(prep.labels.defaulted),
                             observed, names, seed=0, balanced=False, folds=2,
                             metric="binary_logloss")
    scored = replace(scorer, credit=credit).score(prep, explain=False)
    assert scored.credit_names == names
    assert np.allclose(scored.pd, credit.predict(whole.credit_inputs[:, older]))


@pytest.mark.parametrize("stage", ["0", "b"])
def test_scoring_some_merchants_gives_them_the_scores_of_scoring_all(trained: tuple,
                                                                     loaded: Graph,
                                                                     stage: str) -> None:
    scorer = replace(pipeline.load_scorer(load_artefact(trained[0])), ring_stage=stage)
    prep = prepare(loaded, seed=FAST.seed)
    whole = scorer.score(prep)
    labels = cluster_labels(prep, whole.groups)
    # As an incremental run re-scores them: whole clusters (a cluster's PD reads all).
    some_rows = np.zeros(prep.m, dtype=bool)
    some_rows[::7] = True
    some_rows = closed(some_rows, {}, {c: np.flatnonzero(labels == c)
                                       for c in np.unique(labels[labels >= 0])})
    assert 0 < some_rows.sum() < prep.m

    # No rows: an incremental run that re-scores no merchant (review finding: a crash).
    for rows in (some_rows, np.zeros(prep.m, dtype=bool)):
        some = scorer.score(prep, rows=rows)

        # Stage 0's ring score reads no GNN: the network then runs for the rows only.
        assert scorer.ring_reads_gnn == (stage == "b")
        assert np.array_equal(whole.ring, some.ring)
        assert np.array_equal(whole.groups, some.groups)
        for a, b in ((whole.pd, some.pd), (whole.embedding, some.embedding)):
            assert np.allclose(a[rows], b[rows], rtol=0, atol=1e-6)
            assert np.isnan(b[~rows]).all()
        scores = pipeline.scores_of(prep, some, "v", only=rows)
        assert scores.merchants["credit_score"].isna().to_numpy().tolist() == \
            (~rows).tolist()


def test_a_model_saved_before_the_weighted_core_groups_as_it_was_trained(
        trained: tuple) -> None:
    artefact = load_artefact(trained[0])
    assert pipeline.load_scorer(artefact).settings.min_link_strength == \
        ScorerSettings().min_link_strength == 1.0
    older = replace(artefact, settings={k: v for k, v in artefact.settings.items()
                                        if k != "min_link_strength"})
    assert pipeline.load_scorer(older).settings.min_link_strength == 0.0


def test_a_model_saved_with_one_candidate_pool_keeps_that_pool(trained: tuple) -> None:
    artefact = load_artefact(trained[0])
    shares = pipeline.load_scorer(artefact).settings.candidate_shares
    assert shares == ScorerSettings().candidate_shares and len(shares) > 1
    settings = {k: v for k, v in artefact.settings.items() if k != "candidate_shares"}
    older = replace(artefact, settings={**settings, "candidate_share": 0.03})
    assert pipeline.load_scorer(older).settings.candidate_shares == (0.03,)


# --- score ----------------------------------------------------------------------------


def test_every_merchant_gets_scores_in_range(scored: tuple, synth: Graph,
                                             manifest: dict) -> None:
    scores, report = scored
    m = scores.merchants
    assert list(m.columns) == list(MERCHANT_COLUMNS)
    ids = {r["id"] for r in synth.read("MATCH (x:Merchant) RETURN x.id AS id")}
    assert set(m["merchant_id"]) == ids and len(m) == manifest["rows"]["merchants"]
    assert report.merchants == len(m)
    ring = m["ring_score"].to_numpy(float)
    pd_ = m["pd"].to_numpy(float)
    assert np.isfinite(ring).all() and ((ring >= 0) & (ring <= 1)).all()
    assert np.isfinite(pd_).all() and ((pd_ >= 0) & (pd_ <= 1)).all()
    assert ring.std() > 0 and pd_.std() > 0  # the scores rank, they are not constants
    credit = m["credit_score"].to_numpy(np.int64)
    assert ((credit >= 350) & (credit <= 950)).all()
    assert credit.tolist() == credit_score(pd_).tolist()


def test_the_graph_holds_what_score_returned(scored: tuple, synth: Graph) -> None:
    scores, _ = scored
    stored = read_scores(synth)
    assert stored.model_version == scores.model_version
    mine = scores.merchants.set_index("merchant_id").sort_index()
    theirs = stored.merchants.set_index("merchant_id").sort_index()
    assert np.allclose(mine["ring_score"], theirs["ring_score"])
    assert np.allclose(mine["pd"], theirs["pd"])
    assert (mine["credit_score"].astype(int) == theirs["credit_score"]).all()
    assert cluster_sets(stored) == cluster_sets(scores)


def test_every_cluster_is_scored_and_explained(scored: tuple) -> None:
    scores, report = scored
    clusters, m = scores.clusters, scores.merchants.set_index("merchant_id")
    assert list(clusters.columns) == list(CLUSTER_COLUMNS)
    assert len(clusters) >= 3 and report.clusters == len(clusters)
    assert clusters["cluster_id"].is_unique
    seen: set[str] = set()
    for row in clusters.itertuples():
        members = list(row.members)
        assert row.size == len(members) >= 2
        assert not seen & set(members), "a merchant in two clusters"
        seen |= set(members)
        assert (m.loc[members, "cluster_id"] == row.cluster_id).all()
        ring = m.loc[members, "ring_score"].to_numpy(float)
        pd_ = m.loc[members, "pd"].to_numpy(float)
        # collusion: a weighted mean of the members' ring scores; group PD: their mean PD.
        assert ring.min() - 1e-9 <= row.collusion_score <= ring.max() + 1e-9
        assert row.group_pd == pytest.approx(pd_.mean())
        assert row.credit_score == credit_score([row.group_pd])[0]
        assert 1 <= len(row.key_members) <= 3 and set(row.key_members) <= set(members)
        assert row.top_factors or row.top_links, row.cluster_id
        for f in row.top_factors:
            assert set(f) == {"score", "name", "value", "weight"}
            assert f["score"] in ("collusion", "credit") and f["weight"] >= 0  # 4 decimals
        for link in row.top_links:
            assert {link["source"], link["target"]} <= set(members)
            assert link["weight"] >= 0
    outside = m[~m.index.isin(seen)]
    assert outside["cluster_id"].isna().all()
    # Sorted most collusive first.
    assert (np.diff(clusters["collusion_score"].to_numpy(float)) <= 0).all()


def test_memberships_in_neo4j_match_the_clusters(scored: tuple, synth: Graph) -> None:
    scores, _ = scored
    run = current_run(synth).run
    rows = synth.read("MATCH (m:Merchant)-[i:IN_CLUSTER]->(c:Cluster) WHERE i.run = $run "
                      "RETURN c.id AS cluster, collect(m.id) AS members", run=run)
    assert {r["cluster"]: frozenset(r["members"]) for r in rows} == cluster_sets(scores)
    on_merchants = synth.read("MATCH (s:MerchantScore) WHERE s.run = $run "
                              "AND s.cluster_id IS NOT NULL "
                              "RETURN s.merchant AS id, s.cluster_id AS cluster", run=run)
    expected = scores.merchants.dropna(subset=["cluster_id"])
    assert {r["id"]: r["cluster"] for r in on_merchants} == dict(
        zip(expected["merchant_id"], expected["cluster_id"], strict=True))
    nodes = synth.read("MATCH (s:ClusterScore) WHERE s.run = $run RETURN s.cluster AS id, "
                       "s.size AS size, s.collusion_score AS collusion", run=run)
    table = scores.clusters.set_index("cluster_id")
    assert {r["id"] for r in nodes} == set(table.index)
    for r in nodes:
        assert r["size"] == table.loc[r["id"], "size"]
        assert r["collusion"] == pytest.approx(table.loc[r["id"], "collusion_score"])


def test_a_second_score_keeps_the_cluster_ids(trained: tuple, synth: Graph) -> None:
    models = str(trained[0])
    first, _ = pipeline.score(synth, models=models)
    before = cluster_sets(first)
    # Rename the largest stored cluster: an id the scorer could never derive, so only
    # persistence can bring it back.
    old = first.clusters.sort_values("size", ascending=False)["cluster_id"].iloc[0]
    run = current_run(synth).run
    synth.write("MATCH (c:Cluster {id: $old}) SET c.id = $new", old=old, new="C-kept-by-test")
    synth.write("MATCH (s:ClusterScore {run: $run, cluster: $old}) "
                "SET s.cluster = $new, s.id = $run + '|' + $new", run=run, old=old,
                new="C-kept-by-test")
    synth.write("MATCH (s:MerchantScore {run: $run, cluster_id: $old}) SET s.cluster_id = $new",
                run=run, old=old, new="C-kept-by-test")
    second, _ = pipeline.score(synth, models=models)
    after = cluster_sets(second)
    expected = {("C-kept-by-test" if k == old else k): v for k, v in before.items()}
    assert after == expected
    stored = read_scores(synth)
    assert "C-kept-by-test" in set(stored.clusters["cluster_id"])
    assert old not in set(stored.clusters["cluster_id"])


def test_the_same_seed_gives_the_same_scores(trained: tuple, synth: Graph,
                                            tmp_path: Path) -> None:
    models, report, _ = trained
    again = pipeline.train(synth, FAST, models=str(tmp_path))
    assert again.version != report.version
    assert again.metrics == report.metrics
    one, _ = pipeline.score(synth, models=str(models), write=False)
    two, _ = pipeline.score(synth, models=str(tmp_path), write=False)
    a = one.merchants.set_index("merchant_id").sort_index()
    b = two.merchants.set_index("merchant_id").sort_index()
    assert np.allclose(a["ring_score"], b["ring_score"])
    assert np.allclose(a["pd"], b["pd"])
    assert (a["cluster_id"].fillna("") == b["cluster_id"].fillna("")).all()
    assert cluster_sets(one) == cluster_sets(two)
    assert np.allclose(one.embeddings, two.embeddings, atol=1e-5)


# --- labels ---------------------------------------------------------------------------


def test_the_first_score_after_training_reads_only_what_changed_since(
        synth: Graph, scoring_folder: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    version = pipeline.train(synth, FAST, models=str(models)).version

    def both() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
        """A score from training's snapshot, and one after the snapshot is gone."""
        kept, report = pipeline.score(synth, models=str(models), write=False)
        saved = {p: p.read_bytes() for p in (models / "snapshots").rglob("*") if p.is_file()}
        for path in saved:
            path.unlink()
        whole, again = pipeline.score(synth, models=str(models), write=False)
        for path, content in saved.items():
            path.write_bytes(content)
        assert not any("training" in note for note in again.notes)
        return (kept.merchants.set_index("merchant_id").sort_index(),
                whole.merchants.set_index("merchant_id").sort_index(), report.notes)

    kept, whole, notes = both()
    assert notes[0].startswith(f"read only what changed since the training of model "
                               f"{version} (0 merchants touched)")
    pd.testing.assert_frame_equal(kept, whole)

    # Payments ingested between training and scoring are read; the rest is kept.
    payments = pd.read_csv(scoring_folder / "payments.csv", dtype=str).head(3)
    payments["payment_id"] = [f"after-training-{i}" for i in range(3)]
    (tmp_path / "more").mkdir()
    payments.to_csv(tmp_path / "more" / "payments.csv", index=False)
    try:
        assert ingest_folder(synth, tmp_path / "more",
                             IngestOptions(rejects=tmp_path / "rejects.csv")).error is None
        kept, whole, notes = both()
        assert notes[0].startswith(f"read only what changed since the training of model "
                                   f"{version} (")
        assert "(0 merchants touched)" not in notes[0]
        pd.testing.assert_frame_equal(kept, whole)
    finally:
        load_folder(synth, scoring_folder, tmp_path / "rejects.csv")


def test_a_score_reads_the_whole_graph_when_most_merchants_were_touched(
        synth: Graph, scoring_folder: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    pipeline.train(synth, FAST, models=str(models))
    # A payment to over half of the merchants: reading each of them into training's
    # snapshot would cost more than reading the graph.
    payments = pd.read_csv(scoring_folder / "payments.csv", dtype=str)
    payees = payments.drop_duplicates("payee_id")
    share = len(payees) / synth.read("MATCH (m:Merchant) RETURN count(m) AS n")[0]["n"]
    assert share > pipeline.TOUCHED_READ_SHARE
    payees = payees.assign(payment_id=[f"most-{i}" for i in range(len(payees))])
    (tmp_path / "more").mkdir()
    payees.to_csv(tmp_path / "more" / "payments.csv", index=False)
    try:
        assert ingest_folder(synth, tmp_path / "more",
                             IngestOptions(rejects=tmp_path / "rejects.csv")).error is None
        _, report = pipeline.score(synth, models=str(models), write=False)
        assert re.fullmatch(r"\d+ merchants touched, over 50% of the \d+ in the graph: "
                            r"read the whole "
                            r"graph \(faster than reading them one by one\)",
                            report.notes[0]), report.notes[0]
    finally:
        load_folder(synth, scoring_folder, tmp_path / "rejects.csv")


def test_a_case_decision_changes_the_next_training_set(synth: Graph) -> None:
    rows = synth.read("MATCH (m:Merchant) RETURN m.id AS id, m.label AS label ORDER BY m.id")
    unlabelled = next(r["id"] for r in rows if r["label"] is None)
    fraud = next(r["id"] for r in rows if r["label"] == "fraud")
    try:
        # On `unlabelled`: cleared first, then confirmed (the later decision counts);
        # on `fraud`: cleared, which overrides the labels file.
        synth.write("""
            MATCH (u:Merchant {id: $u}), (f:Merchant {id: $f})
            CREATE (:Case {id: 'K0', status: 'cleared',
                           decided_at: datetime() - duration('P1D')})-[:ABOUT]->(u)
            CREATE (:Case {id: 'K1', status: 'confirmed_fraud', decided_at: datetime()})
                   -[:ABOUT]->(u)
            CREATE (:Case {id: 'K2', status: 'cleared', decided_at: datetime()})-[:ABOUT]->(f)
            CREATE (:Case {id: 'K3', status: 'open'})-[:ABOUT]->(f)""", u=unlabelled, f=fraud)
        prep = prepare(synth)
    finally:
        synth.write("MATCH (c:Case) WHERE c.id IN ['K0', 'K1', 'K2', 'K3'] DETACH DELETE c")
    ids = prep.ids.tolist()
    from_files = ring_labels(prep.ex.merchants["label"], prep.ids)
    changed = np.flatnonzero(prep.labels.ring != from_files)
    assert sorted(ids[i] for i in changed) == sorted([unlabelled, fraud])
    assert prep.labels.ring[ids.index(unlabelled)] == 1
    assert prep.labels.ring[ids.index(fraud)] == 0
    assert prep.labels.counts()["from_cases"] == 2  # two merchants decided; 'open' is not


def test_no_labels_at_all_trains_unsupervised(synth: Graph, tmp_path: Path) -> None:
    saved = synth.read("MATCH (m:Merchant) WHERE m.label IS NOT NULL OR m.defaulted IS NOT NULL "
                       "RETURN m.id AS id, m.label AS label, m.defaulted AS defaulted")
    assert saved
    said: list[str] = []
    try:
        synth.write("MATCH (m:Merchant) REMOVE m.label, m.defaulted")
        report = pipeline.train(synth, FAST, models=str(tmp_path), say=said.append)
        scores, score_report = pipeline.score(synth, models=str(tmp_path), write=False)
    finally:
        synth.write("UNWIND $rows AS r MATCH (m:Merchant {id: r.id}) "
                    "SET m.label = r.label, m.defaulted = r.defaulted", rows=saved)
    assert not report.supervised
    assert report.labels == {"fraud": 0, "legit": 0, "defaults_observed": 0, "defaulted": 0,
                             "from_cases": 0}
    assert not [k for k in report.metrics if k.startswith("oof_")]
    assert any("no ring labels" in line and "unsupervised" in line for line in said)
    assert any("no observed loan outcomes" in line for line in said)
    # The report carries them too (train --json prints nothing else).
    assert any("no observed loan outcomes" in line for line in report.notes)
    scorer = pipeline.load_scorer(load_artefact(tmp_path))
    assert scorer.stage_a is None and scorer.credit is None
    ring = scores.merchants["ring_score"].to_numpy(float)
    assert np.isfinite(ring).all() and ((ring >= 0) & (ring <= 1)).all() and ring.std() > 0
    assert scores.merchants["pd"].isna().all()
    assert scores.merchants["credit_score"].isna().all()
    assert scores.clusters["group_pd"].isna().all()
    assert scores.clusters["credit_score"].isna().all()
    assert any("unsupervised" in note for note in score_report.notes)


# --- prepare: GDS and Python ----------------------------------------------------------


def needs_gds(g: Graph) -> None:
    if gds.gds_version(g) is None:
        pytest.skip("the session's Neo4j has no Graph Data Science library: only the Python "
                    "path can run (start the server with GDS to compare the two)")


def modularity(g: Graph, communities: np.ndarray, ids: np.ndarray) -> float:
    """Modularity of a partition of the merchant projection (``gds.MERCHANTS``)."""
    links = gds.merchant_links(g)
    net = nx.Graph()
    net.add_nodes_from(ids.tolist())
    net.add_weighted_edges_from(zip(links["source"], links["target"],
                                    links["links"].astype(float), strict=True), weight="links")
    parts = [set(ids[communities == c].tolist()) for c in np.unique(communities)]
    return nx.community.modularity(net, parts, weight="links")


def test_gds_and_python_paths_compute_the_same_inputs(synth: Graph) -> None:
    needs_gds(synth)
    with_gds = prepare(synth, use_gds=True, seed=0)
    python = prepare(synth, use_gds=False, seed=0)
    assert with_gds.notes == [] and python.notes == []
    # Identical features, log_component_size included: the same components.
    pd.testing.assert_frame_equal(with_gds.features, python.features)
    pd.testing.assert_frame_equal(gds.components(synth, use_gds=True),
                                  gds.components(synth, use_gds=False))
    assert np.array_equal(with_gds.labels.ring, python.labels.ring)
    # Louvain: in this graph's giant component the communities are not clear-cut
    # (networkx with another seed agrees with itself at an adjusted Rand index of only
    # 0.7-0.85), so the two paths are held to equally good partitions, not equal ones.
    q_gds = modularity(synth, with_gds.communities, with_gds.ids)
    q_python = modularity(synth, python.communities, python.ids)
    assert q_gds > 0.5 and q_python > 0.5
    assert abs(q_gds - q_python) < 0.02


def test_carried_results_stand_in_for_the_whole_graph_algorithms(synth: Graph) -> None:
    full = prepare(synth, seed=0, fastrp_dim=8)
    old = full.m - 2  # the run before knew every merchant but the last two
    carried = Carried(full.ids[:old], full.communities[:old], full.fastrp[:old])
    inc = prepare(synth, seed=0, fastrp_dim=8, carried=carried)
    # Components come from the export: the partition Neo4j finds, so the same features.
    pd.testing.assert_frame_equal(inc.features, full.features)
    assert inc.communities[:old].tolist() == full.communities[:old].tolist()
    assert np.array_equal(inc.fastrp[:old], full.fastrp[:old]) and not inc.fastrp[old:].any()
    # A new merchant joins the community of an older merchant it is linked to; linked
    # only to the other new one, they form a new community; with no link, none.
    adjacency = business_links(inc.links)
    for new in range(old, full.m):
        linked = adjacency[new].indices
        theirs = {int(c) for c in inc.communities[linked[linked < old]] if c >= 0}
        if theirs:
            assert inc.communities[new] in theirs
        elif (linked >= old).any():
            assert inc.communities[new] > full.communities[:old].max()
        else:
            assert inc.communities[new] == -1
    # Carried FastRP of another width: the whole-graph algorithms run again.
    again = prepare(synth, seed=0, fastrp_dim=4, carried=carried)
    assert again.fastrp.shape == (full.m, 4)
    assert again.communities.tolist() == full.communities.tolist()


def test_carried_trends_are_taken_for_the_merchants_nobody_touched(synth: Graph) -> None:
    full = prepare(synth, seed=0, fastrp_dim=8)
    old = full.m - 2
    kept = {name: values[:old].copy() for name, values in full.trends.kept().items()}
    column = TRENDS.index("volatility_paid_in")
    kept["trends"][:, column] = 9.5  # planted: shows where taken, not computed
    touched = full.ids[:3]
    carried = Carried(full.ids[:old], full.communities[:old], full.fastrp[:old], kept,
                      reread=touched)
    inc = prepare(synth, seed=0, fastrp_dim=8, carried=carried)
    volatility = inc.features["volatility_paid_in"].to_numpy()
    assert (volatility[3:old] == 9.5).all()
    # Touched or new: computed, as a full run does.
    computed = np.r_[0:3, old:full.m]
    assert np.array_equal(volatility[computed],
                          full.features["volatility_paid_in"].to_numpy()[computed])
    # What it keeps for the next run: the trends of this graph, the taken ones too.
    assert inc.trends.values[3, column] == 9.5 and inc.trends.values.shape == (full.m, len(TRENDS))
    # Without knowing what was read again, nothing is taken.
    blind = Carried(full.ids[:old], full.communities[:old], full.fastrp[:old], kept)
    pd.testing.assert_frame_equal(prepare(synth, seed=0, fastrp_dim=8, carried=blind).features,
                                  full.features)


def clear_communities(folder: Path, groups: int = 5, size: int = 6) -> np.ndarray:
    """A folder of ``groups`` groups of ``size`` merchants: each group shares one phone
    and its members all pay each other; group ``g`` pays group ``g + 1`` once; each
    merchant has one consumer payment. Returns each merchant's group, in id order."""
    folder.mkdir()
    ids = [f"M{g:02d}{k}" for g in range(groups) for k in range(size)]
    pd.DataFrame({"merchant_id": ids, "phone": [f"1380000{int(i[1:3]):04d}" for i in ids]}
                 ).to_csv(folder / "merchants.csv", index=False)
    rows = [(f"M{g:02d}{k}", f"M{g:02d}{j}", "100.00", "2025-01-06T10:00:00")
            for g in range(groups) for k in range(size) for j in range(size) if j != k]
    rows += [(f"M{g:02d}0", f"M{(g + 1) % groups:02d}0", "50.00", "2025-01-07T10:00:00")
             for g in range(groups)]
    rows += [(f"C{i}", m, "10.00", "2025-01-08T10:00:00") for i, m in enumerate(ids)]
    pd.DataFrame(rows, columns=["payer_id", "payee_id", "amount", "ts"]).to_csv(
        folder / "payments.csv", index=False)
    return np.repeat(np.arange(groups), size)


def test_gds_and_python_louvain_agree_where_communities_are_clear(graph: Graph,
                                                                  tmp_path: Path) -> None:
    needs_gds(graph)
    truth = clear_communities(tmp_path / "clear")
    load_folder(graph, tmp_path / "clear", tmp_path / "rejects.csv")
    with_gds = prepare(graph, use_gds=True, seed=0)
    python = prepare(graph, use_gds=False, seed=0)
    pd.testing.assert_frame_equal(with_gds.features, python.features)
    assert adjusted_rand_score(with_gds.communities, python.communities) >= 0.9
    assert adjusted_rand_score(truth, python.communities) >= 0.9
    assert adjusted_rand_score(truth, with_gds.communities) >= 0.9


# --- the payments-only graph (empties the graph: keep it last) -------------------------


@pytest.fixture(scope="module")
def payments_only(neo4j_settings: Settings, scoring_folder: Path,
                  tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[Graph, Path, pipeline.TrainReport, ScoreSet, pipeline.ScoreReport]:
    """The synthetic merchants (without identifiers) and payments, nothing else: loaded
    into the emptied graph, trained on and scored."""
    folder = tmp_path_factory.mktemp("payments-only") / "in"
    folder.mkdir()
    merchants = pd.read_csv(scoring_folder / "merchants.csv", dtype=str)
    merchants[["merchant_id", "name", "category", "city", "district", "registered_on"]].to_csv(
        folder / "merchants.csv", index=False)
    (folder / "payments.csv").write_bytes((scoring_folder / "payments.csv").read_bytes())
    g = open_graph(neo4j_settings)
    load_folder(g, folder, folder.parent / "rejects.csv")
    models = folder.parent / "models"
    report = pipeline.train(g, FAST, models=str(models))
    scores, score_report = pipeline.score(g, models=str(models))
    return g, folder, report, scores, score_report


def test_a_payments_only_graph_scores_end_to_end(payments_only: tuple,
                                                 scoring_folder: Path, manifest: dict) -> None:
    g, folder, report, scores, score_report = payments_only
    kinds = {r["kind"] for r in g.read("MATCH ()-[r]->() RETURN DISTINCT type(r) AS kind")}
    assert kinds == {"PAID", "IN_CLUSTER"}  # the payments, and the clusters scored
    assert not report.supervised
    m = scores.merchants
    assert len(m) == manifest["rows"]["merchants"] == score_report.merchants
    ring = m["ring_score"].to_numpy(float)
    assert ((ring >= 0) & (ring <= 1)).all() and ring.std() > 0
    assert m["pd"].isna().all() and m["credit_score"].isna().all()
    assert len(scores.clusters) >= 3
    for row in scores.clusters.itertuples():
        assert row.size == len(row.members) >= 2
        assert 0 <= row.collusion_score <= 1 and pd.isna(row.group_pd)
        assert {link["type"] for link in row.top_links} <= {"PAID", "SHARED_PAYERS"}
    assert cluster_sets(read_scores(g)) == cluster_sets(scores)

    result = evaluate(g, scoring_folder / "truth", seed=0)
    assert result["held_out"]["merchants"] == len(m)  # nothing was a label
    assert result["held_out"]["ring_members"] == sum(manifest["ring_members"].values())
    shipped = result["models"]["shipped"]
    assert 0.0 <= shipped["member_auroc"] <= 1.0
    assert "credit_auc" not in shipped
    assert {"fraudar", "louvain_rules"} <= set(result["models"])
    assert "gbdt_graph" not in result["models"]  # no fraud labels to fit it on
