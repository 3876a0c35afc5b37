"""The scoring commands through the real ``guanxi`` (child processes, ``run_cli``) against
the session's Neo4j: ``train``, ``score``, ``evaluate`` and ``scores export`` print the
documented JSON and write the documented files, with numbers checked against the
synthetic folder's own files; their errors are one line and exit 1, without a
traceback.

The children get ``OMP_WAIT_POLICY=PASSIVE``: LightGBM and torch each run two OpenMP
threads, and on a busy two-core machine threads that spin while they wait make one
training take minutes instead of seconds. It changes no result.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli, training_labels

from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.settings import Settings
from guanxi.ingest.load import IngestOptions, ingest_folder

MERCHANT_CSV = ["merchant_id", "cluster_id", "ring_score", "pd", "credit_score"]
CLUSTER_CSV = ["cluster_id", "size", "collusion_score", "group_pd", "credit_score", "top_factors"]
RING_METRICS = {"member_auprc", "member_auroc", "ring_recall_at_k", "ring_recovery_f1",
                "recall_per_typology"}
CREDIT_METRICS = {"credit_auc", "credit_brier"}


@pytest.fixture(scope="module")
def cli(neo4j_settings: Settings, neo4j_env: dict, scoring_folder: Path,
        tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The synthetic folder loaded into the emptied session graph; the environment of
    the children (that server, a fresh models folder)."""
    g: Graph = open_graph(neo4j_settings)
    g.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    apply_schema(g)
    rejects = tmp_path_factory.mktemp("cli-rejects") / "rejects.csv"
    report = ingest_folder(g, scoring_folder, IngestOptions(rejects=rejects))
    assert report.error is None
    models = tmp_path_factory.mktemp("cli-models")
    env = {**neo4j_env, "GUANXI_MODELS_DIR": str(models), "OMP_WAIT_POLICY": "PASSIVE"}
    return {"graph": g, "env": env, "models": models}


def run_json(*args: str, env: dict) -> dict:
    """Run ``guanxi ARGS`` and parse its stdout: exactly one JSON document."""
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained(cli: dict) -> dict:
    return run_json("train", "--json", "--epochs", "3", env=cli["env"])


@pytest.fixture(scope="module")
def scored(cli: dict, trained: dict) -> dict:
    return run_json("score", "--json", env=cli["env"])


def test_train_prints_its_report(trained: dict, cli: dict, manifest: dict) -> None:
    assert set(trained) == {"version", "supervised", "labels", "metrics", "seconds", "notes"}
    assert trained["supervised"] is True
    assert trained["labels"] == training_labels(manifest)
    for key in ("oof_ring_auprc_labelled", "oof_ring_auroc_labelled", "oof_credit_auc",
                "oof_credit_brier"):
        assert 0.0 <= trained["metrics"][key] <= 1.0, key
    assert "gnn_best_epoch" in trained["metrics"]  # the GNN took part
    assert set(trained["seconds"]) == {"prepare", "fit"}
    assert trained["notes"] == []
    saved = sorted(p.name for p in cli["models"].iterdir())
    assert saved == [trained["version"], "snapshots"]  # what training read, for score
    assert (cli["models"] / trained["version"] / "artefact.json").is_file()


def test_score_prints_its_report_and_writes_the_scores(scored: dict, trained: dict, cli: dict,
                                                        manifest: dict) -> None:
    assert set(scored) == {"model_version", "scored_at", "merchants", "clusters",
                           "suspicious_clusters", "seconds", "notes", "written", "rescored"}
    assert scored["written"]["merchants"] == scored["merchants"] == scored["rescored"]
    assert scored["written"]["run"].endswith(f"/{trained['version']}")
    assert scored["model_version"] == trained["version"]
    assert scored["notes"][0].startswith(  # the first scoring after training
        f"read only what changed since the training of model {trained['version']} (0 ")
    assert scored["merchants"] == manifest["rows"]["merchants"]
    assert scored["clusters"] >= 1
    assert 0 <= scored["suspicious_clusters"] <= scored["clusters"]
    row = cli["graph"].read(
        "MATCH (r:ScoreRun {state: 'current'}) MATCH (m:MerchantScore) WHERE m.run = r.id "
        "AND m.model_version = $v "
        "RETURN count(m) AS merchants, min(m.ring_score) AS lo, max(m.ring_score) AS hi, "
        "min(m.credit_score) AS worst, max(m.credit_score) AS best", v=trained["version"])[0]
    assert row["merchants"] == scored["merchants"]
    assert 0 <= row["lo"] <= row["hi"] <= 1
    assert 350 <= row["worst"] <= row["best"] <= 950
    clusters = cli["graph"].read("MATCH (r:ScoreRun {state: 'current'}) "
                                 "MATCH (c:ClusterScore) WHERE c.run = r.id "
                                 "AND c.model_version = $v "
                                 "RETURN count(c) AS n", v=trained["version"])[0]["n"]
    assert clusters == scored["clusters"]


def held_out(folder: Path) -> dict[str, int]:
    """What ``evaluate`` must count as held out, from the folder's own files."""
    labelled = set(pd.read_csv(folder / "labels.csv", dtype=str)["merchant_id"])
    observed = set(pd.read_csv(folder / "defaults.csv", dtype=str)["merchant_id"])
    truth = pd.read_csv(folder / "truth" / "merchants.csv", dtype=str)
    held = truth[~truth["merchant_id"].isin(labelled)]
    credit = truth[~truth["merchant_id"].isin(observed) & truth["defaulted"].notna()]
    return {"merchants": len(held), "ring_members": int(held["ring_id"].notna().sum()),
            "rings": held["ring_id"].dropna().nunique(), "credit_merchants": len(credit),
            "credit_defaults": int((credit["defaulted"] == "1").sum())}


def test_evaluate_measures_the_scores_and_every_baseline(cli: dict, scored: dict,
                                                        scoring_folder: Path) -> None:
    # DIR is the synth folder: evaluate finds DIR/truth itself.
    result = run_json("evaluate", "--truth", str(scoring_folder), "--json", env=cli["env"])
    assert set(result) == {"held_out", "models"}
    assert result["held_out"] == held_out(scoring_folder)
    models = result["models"]
    assert set(models) >= {"shipped", "fraudar", "louvain_rules", "gbdt_graph",
                           "credit_gbdt_own"}
    for name in set(models) - {"credit_gbdt_own"}:  # every ring model, however many
        assert set(models[name]) >= RING_METRICS, name
        for key in RING_METRICS - {"recall_per_typology"}:
            value = models[name][key]
            assert value is None or 0.0 <= value <= 1.0, (name, key)
    assert set(models["credit_gbdt_own"]) == CREDIT_METRICS
    assert set(models["shipped"]) == RING_METRICS | CREDIT_METRICS | {"cluster_group_pd_spearman"}
    assert 0.0 <= models["shipped"]["member_auprc"] <= 1.0
    assert 0.0 <= models["shipped"]["credit_auc"] <= 1.0
    assert set(models["shipped"]["recall_per_typology"]) <= {
        "circular_trading", "promotion_farming", "cash_out", "shell_merchants",
        "fake_supply_chain"}


def test_scores_export_writes_the_documented_columns(cli: dict, scored: dict,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "export"  # created by the command
    result = run_json("scores", "export", "--out", str(out), "--json", env=cli["env"])
    assert set(result) == {"files", "rows", "model_version", "scored_at"}
    assert result["model_version"] == scored["model_version"]
    assert result["rows"] == {"merchants": scored["merchants"], "clusters": scored["clusters"]}
    assert result["files"] == {"merchants": str(out / "merchants.csv"),
                               "clusters": str(out / "clusters.csv")}
    assert sorted(p.name for p in out.iterdir()) == ["clusters.csv", "merchants.csv"]
    with open(out / "merchants.csv", encoding="utf-8", newline="") as fh:
        merchants = list(csv.reader(fh))
    with open(out / "clusters.csv", encoding="utf-8", newline="") as fh:
        clusters = list(csv.reader(fh))
    assert merchants[0] == MERCHANT_CSV
    assert clusters[0] == CLUSTER_CSV
    assert len(merchants) - 1 == scored["merchants"] and len(clusters) - 1 == scored["clusters"]

    m = pd.DataFrame(merchants[1:], columns=MERCHANT_CSV)
    c = pd.DataFrame(clusters[1:], columns=CLUSTER_CSV)
    assert m["merchant_id"].tolist() == sorted(m["merchant_id"])
    assert c["cluster_id"].tolist() == sorted(c["cluster_id"])
    assert m["ring_score"].astype(float).between(0, 1).all()
    assert m["pd"].astype(float).between(0, 1).all()
    assert m["credit_score"].str.fullmatch(r"\d{3}").all()
    assert m["credit_score"].astype(int).between(350, 950).all()
    in_cluster = m.loc[m["cluster_id"] != "", "cluster_id"]
    assert set(in_cluster) == set(c["cluster_id"])
    sizes = in_cluster.value_counts()
    assert (c.set_index("cluster_id")["size"].astype(int) == sizes.reindex(c["cluster_id"])
            ).all()
    factor = r"(collusion|credit): \w+(=\S+)? \([+-]\d+\.\d\d\)"
    for text in c["top_factors"]:
        assert re.fullmatch(rf"{factor}(; {factor})*", text), text


# --- errors ----------------------------------------------------------------------------


def error_line(result) -> str:
    """The command's one error line; checks it failed cleanly (exit 1, no traceback,
    nothing on stdout)."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.splitlines()[-1] == errors[0], result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def unknown_version(cli: dict, trained: dict) -> subprocess.CompletedProcess:
    return run_cli("score", "--model", "nope", env=cli["env"])


def test_scoring_with_an_unknown_version_lists_the_saved_ones(
        cli: dict, trained: dict, unknown_version: subprocess.CompletedProcess) -> None:
    line = error_line(unknown_version)
    assert line == (f"error: no model version 'nope' in {cli['models']}. "
                    f"saved versions: {trained['version']}")
    as_json = run_cli("score", "--model", "nope", "--json", env=cli["env"])
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error"] == {
        "type": "ModelNotFound", "message": f"no model version 'nope' in {cli['models']}",
        "fix": f"saved versions: {trained['version']}", "exit_code": 1}


def test_scoring_without_a_trained_model_says_to_train(cli: dict, tmp_path: Path) -> None:
    env = {**cli["env"], "GUANXI_MODELS_DIR": str(tmp_path / "none")}
    line = error_line(run_cli("score", env=env))
    assert line == f"error: no trained model in {tmp_path / 'none'}. run `guanxi train` first"


def test_evaluating_against_a_missing_truth_folder_is_one_line(cli: dict) -> None:
    line = error_line(run_cli("evaluate", "--truth", "/nonexistent", env=cli["env"]))
    assert line.startswith("error: no truth file /nonexistent/")
    assert "guanxi synth" in line  # the fix names where the truth comes from


def test_evaluating_against_the_truth_of_another_graph_is_refused(cli: dict, scored: dict,
                                                                  tmp_path: Path) -> None:
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "rings.csv").write_text("ring_id,typology,merchant_id\nR1,cash_out,Z1\n",
                                     encoding="utf-8")
    (truth / "merchants.csv").write_text(
        "merchant_id,ring_id,defaulted,business_group_id\nZ1,R1,0,G1\nZ2,,1,G2\n",
        encoding="utf-8")
    result = run_cli("evaluate", "--truth", str(tmp_path), "--no-baselines", env=cli["env"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert re.fullmatch(rf"error: the truth in {tmp_path} lists none of the \d+ scored "
                        r"merchants \(e\.g\. '[^']+'\): it comes from another dataset\. pass "
                        r"the truth folder guanxi synth wrote beside the data that was "
                        r"ingested", result.stderr.strip()), result.stderr


def test_a_scoring_error_is_the_only_line_on_stderr(
        unknown_version: subprocess.CompletedProcess) -> None:
    assert unknown_version.returncode == 1
    assert len(unknown_version.stderr.splitlines()) == 1, unknown_version.stderr
