"""``guanxi refresh`` as cron runs it: real child processes against the session's Neo4j,
on the small synthetic folder with a model trained once for the module.

Faults: two refreshes started together (one runs, the other exits 75 naming the
holder), ``kill -9`` of a refresh (the scores stay the previous run's, the next
refresh takes the dead run's lock over and completes), an unknown model version, a
Neo4j that is not there. The ``kill -9`` in the middle of the write-back itself is in
tests/graph/test_scores_kill.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import GUANXI, as_in_a_terminal, cli_env, free_port, run_cli

from guanxi.errors import InputError
from guanxi.gnn import pipeline
from guanxi.gnn.artefact import load_artefact, save_artefact
from guanxi.gnn.features.weekly import promotion_weeks
from guanxi.gnn.refresh import refresh as refresh_job
from guanxi.gnn.scorer import ScorerSettings
from guanxi.gnn.train import TrainSettings
from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.scores import NoScores, current_run, read_scores, scoring_runs
from guanxi.graph.settings import Settings
from guanxi.graph.similar import FASTRP, GNN, similar
from guanxi.ingest.load import IngestOptions, ingest_folder

FAST = ScorerSettings(use_gnn=True, gnn=TrainSettings(hidden=16, epochs=3, cross_fit_epochs=2,
                                                      ssl_epochs=2, threads=1))


@pytest.fixture(scope="module")
def job(neo4j_settings: Settings, neo4j_env: dict, scoring_folder: Path,
        tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The folder loaded into the emptied session graph, a model trained on it, and the
    children's environment (that server, that models folder)."""
    g: Graph = open_graph(neo4j_settings)
    g.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    apply_schema(g)
    rejects = tmp_path_factory.mktemp("refresh-rejects") / "rejects.csv"
    assert ingest_folder(g, scoring_folder, IngestOptions(rejects=rejects)).error is None
    models = tmp_path_factory.mktemp("refresh-models")
    version = pipeline.train(g, FAST, models=str(models)).version
    env = {**neo4j_env, "GUANXI_MODELS_DIR": str(models), "OMP_WAIT_POLICY": "PASSIVE"}
    return {"graph": g, "env": env, "version": version}


def refresh(job: dict, *args: str) -> subprocess.CompletedProcess:
    return run_cli("refresh", *args, env=job["env"])


def a_current_run(job: dict) -> None:
    """A current run to build on: the one an earlier test left, else a first refresh
    (tests that rewrite the run's read point need one, not a fresh one)."""
    try:
        current_run(job["graph"])
    except NoScores:
        assert refresh(job, "--json").returncode == 0


def cause(stderr: str) -> str:
    """The one line that says why a refresh failed: the last line on stderr, and the
    only one that starts with ``error:`` (log lines come before it, no traceback)."""
    lines = stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], lines
    assert "Traceback" not in stderr
    return lines[-1]


def wait_until_it_holds_the_lock(g: Graph, child: subprocess.Popen) -> None:
    """Return once the refresh ``child`` holds the scores lock (it is then past its model
    check and into its run); fail if it ended first."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and child.poll() is None:
        held = g.read("MATCH (l:JobLock {id: 'scores'}) RETURN l.owner_pid AS pid")
        if held and held[0]["pid"] == child.pid:
            break
        time.sleep(0.1)
    assert child.poll() is None, "the refresh ended before it could be stopped"


def test_a_refresh_makes_a_new_current_run_and_logs_json_lines(job: dict) -> None:
    result = refresh(job, "--json", "--log-json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model_version"] == job["version"] and report["kind"] == "full"
    assert report["merchants"] == 400 and report["took_over"] is None
    assert sum(report["events"].values()) == report["clusters"] > 0
    assert {"prepare", "score", "write", "total"} <= set(report["seconds"])
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # every line is JSON
    events = [line.get("event") for line in lines]
    assert events[0] == "start" and events[-1] == "done"
    assert {"stage", "progress"} <= set(events)
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    g = job["graph"]
    assert current_run(g).run == report["run"]
    scores = read_scores(g, embeddings=True)
    assert scores.model_version == job["version"] and len(scores.merchants) == 400
    # Both embeddings are in their vector indexes: similar merchants come through them.
    some = scores.merchants["merchant_id"].iloc[0]
    assert len(similar(g, some, k=3, by=GNN)) == len(similar(g, some, k=3, by=FASTRP)) == 3


def test_quiet_log_json_still_logs_the_done_line(job: dict) -> None:
    a_current_run(job)
    result = refresh(job, "--quiet", "--log-json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    # No progress or stage lines, but the outcome (the only output: stdout is empty).
    assert events[-1] == "done" and not {"start", "stage", "progress"} & set(events)
    assert result.stdout == ""


def test_nothing_ingested_means_nothing_done_unless_full(job: dict) -> None:
    first = json.loads(refresh(job, "--json").stdout)
    again = refresh(job, "--json")
    assert again.returncode == 0, again.stderr
    idle = json.loads(again.stdout)
    assert idle["kind"] == "unchanged" and idle["run"] == current_run(job["graph"]).run
    full = refresh(job, "--json", "--full")
    assert full.returncode == 0, full.stderr
    report = json.loads(full.stdout)
    # Same graph, same model: every cluster keeps its id and its members.
    assert report["kind"] == "full" and report["events"] == {"same": report["clusters"]}
    assert report["clusters_retired"] == 0
    states = {r.run: r.state for r in scoring_runs(job["graph"])}
    assert states[first["run"]] == "replaced" and states[report["run"]] == "current"


INCREMENTAL_TOLERANCE = 0.05
"""How far an incremental refresh's ring scores and PDs may be from a full refresh's
on the same graph (gnn/incremental.py says what it leaves out; docs/operations.md
gives the difference measured at 10k merchants)."""


def _more_payments(job: dict, scoring_folder: Path, tmp_path: Path, rows: int = 3) -> None:
    """Ingest ``rows`` more payments: copies of the first ones, under new ids."""
    payments = pd.read_csv(scoring_folder / "payments.csv", dtype=str).head(rows)
    payments["payment_id"] = [f"extra-{tmp_path.name}-{i}" for i in range(rows)]
    folder = tmp_path / "more"
    folder.mkdir()
    payments.to_csv(folder / "payments.csv", index=False)
    loaded = ingest_folder(job["graph"], folder,
                           IngestOptions(rejects=tmp_path / "rejects.csv"))
    assert loaded.error is None


def test_a_refresh_with_stderr_closed_runs(job: dict) -> None:
    """``2>&-`` in a crontab: no progress bars are asked of a stream that is not there."""
    a_current_run(job)
    done = subprocess.run([*GUANXI, "refresh", "--json"], stdout=subprocess.PIPE, text=True,
                          env=cli_env(job["env"]), timeout=600,
                          preexec_fn=lambda: os.close(2))
    assert done.returncode == 0
    assert json.loads(done.stdout)["kind"] in ("unchanged", "incremental")


def test_an_incremental_run_that_moved_many_scores_writes_every_score_as_a_new_run(
        job: dict, scoring_folder: Path, tmp_path: Path) -> None:
    g = job["graph"]
    a_current_run(job)
    before = current_run(g)
    _more_payments(job, scoring_folder, tmp_path)
    # A setting that is not a number stops the run before it plans or reads anything.
    bad = refresh({**job, "env": {**job["env"], "GUANXI_WHOLE_WRITE_OVER": "many"}},
                  "--json")
    assert bad.returncode == 1
    assert "GUANXI_WHOLE_WRITE_OVER must be a whole number, 0 or more, not 'many'" in bad.stderr
    assert "refresh started" not in bad.stderr and "merchants touched" not in bad.stderr
    assert current_run(g).run == before.run
    # Over the limit (here: any moved score), the run writes every score as its own,
    # as a full run does, instead of replacing the moved ones in the flip.
    result = refresh({**job, "env": {**job["env"], "GUANXI_WHOLE_WRITE_OVER": "0"}},
                     "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "incremental" and 0 < report["rescored"] < 400
    assert any("every score was written as a new run" in n for n in report["notes"])
    assert report["kept"] == {"merchants": 0, "clusters": 0, "memberships": 0}
    now = current_run(g)
    assert (now.run, now.kind, now.merchant_run) == (report["run"], "full", report["run"])
    assert g.read("MATCH (s:MerchantScore) RETURN collect(DISTINCT s.run) AS runs") == [
        {"runs": [now.run]}]
    assert len(read_scores(g).merchants) == 400


def test_new_payments_are_rescored_incrementally_and_match_a_full_refresh(
        job: dict, scoring_folder: Path, tmp_path: Path) -> None:
    g = job["graph"]
    assert refresh(job, "--json", "--full").returncode == 0
    base = read_scores(g, embeddings=True)
    _more_payments(job, scoring_folder, tmp_path)
    result = refresh(job, "--json", "--log-json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    changes = [json.loads(line) for line in result.stderr.splitlines()
               if json.loads(line).get("event") == "changes"]
    assert changes and changes[0]["batches"] >= 1 and changes[0]["merchants"] >= 1
    # Only the touched merchants were read; the rest came from the --full run's snapshot.
    read = [json.loads(line) for line in result.stderr.splitlines()
            if json.loads(line).get("event") == "read"]
    assert len(read) == 1 and read[0]["snapshot"] is True
    # Nor were communities and FastRP computed on the whole graph again.
    assert any(n.startswith("read only what changed since run ")
               and "its communities and FastRP embeddings, came from its snapshot" in n
               for n in report["notes"])
    # Stage 0 scored again only the merchants whose features changed across a split
    # (the trees score row by row: the others' scores are the --full run's, kept in
    # its snapshot).
    first = [json.loads(line) for line in result.stderr.splitlines()
             if json.loads(line).get("event") == "first_stage"]
    assert len(first) == 1 and 0 < first[0]["predicted"] < 400
    snapshots = list((Path(job["env"]["GUANXI_MODELS_DIR"]) / "snapshots").rglob("*.pt"))
    assert [p.stem for p in snapshots] == [report["run"].replace("/", "_")]
    # Only part of the graph was scored again; the run still holds every merchant.
    assert report["kind"] == "incremental" and 0 < report["rescored"] < 400
    written = 400 - report["kept"]["merchants"]
    assert report["merchants"] == 400 and 0 < written <= report["rescored"]
    assert any(n.startswith(f"{written} of the {report['rescored']} merchants re-scored moved")
               for n in report["notes"])
    inc = read_scores(g, embeddings=True)
    assert len(inc.merchants) == 400 and inc.embeddings is not None
    by_cluster = inc.merchants.dropna(subset=["cluster_id"]).groupby("cluster_id")
    assert {c: sorted(m) for c, m in by_cluster["merchant_id"]} == \
        {c: sorted(m) for c, m in zip(inc.clusters["cluster_id"], inc.clusters["members"],
                                      strict=True)}
    # What was not re-scored is the previous run's, to the bit: those merchant scores
    # keep the time they were scored at.
    kept = [r["id"] for r in g.read(
        "MATCH (r:ScoreRun {state: 'current'}) MATCH (s:MerchantScore {run: r.merchant_run}) "
        "WHERE s.scored_at <> r.scored_at RETURN s.merchant AS id")]
    assert len(kept) == report["kept"]["merchants"]
    old = base.merchants.set_index("merchant_id")
    new = inc.merchants.set_index("merchant_id")
    pd.testing.assert_frame_equal(old.loc[kept], new.loc[kept])
    rows = {m: i for i, m in enumerate(base.merchants["merchant_id"])}
    now = {m: i for i, m in enumerate(inc.merchants["merchant_id"])}
    assert all((base.embeddings[rows[m]] == inc.embeddings[now[m]]).all() for m in kept)
    # A full refresh of the same graph gives the same scores, within the tolerance.
    full = json.loads(refresh(job, "--json", "--full").stdout)
    assert full["kind"] == "full" and full["rescored"] == 400
    scored = read_scores(g).merchants.set_index("merchant_id").loc[new.index]
    for column in ("ring_score", "pd"):
        gap = (scored[column] - new[column]).abs().max()
        assert gap <= INCREMENTAL_TOLERANCE, (column, gap)
    agree = (scored["cluster_id"].fillna("") == new["cluster_id"].fillna("")).mean()
    assert agree >= 0.95


def rescores_everyone_after(job: dict, payments: pd.DataFrame, folder: Path) -> None:
    """Ingest ``payments`` (from ``folder``) after a full run: the incremental run
    re-scores every merchant, says why, and matches a full run."""
    g = job["graph"]
    folder.mkdir()
    payments.to_csv(folder / "payments.csv", index=False)
    loaded = ingest_folder(g, folder, IngestOptions(rejects=folder.parent / "rejects.csv"))
    assert loaded.error is None

    report = json.loads(refresh(job, "--json").stdout)

    assert report["kind"] == "incremental" and report["rescored"] == 400
    assert any(n.startswith("the weeks every merchant's features share moved") for n in
               report["notes"])
    new = read_scores(g).merchants.set_index("merchant_id")
    assert json.loads(refresh(job, "--json", "--full").stdout)["kind"] == "full"
    scored = read_scores(g).merchants.set_index("merchant_id").loc[new.index]
    for column in ("ring_score", "pd"):
        gap = (scored[column] - new[column]).abs().max()
        assert gap <= INCREMENTAL_TOLERANCE, (column, gap)


def test_a_new_week_rescores_every_merchant(job: dict, scoring_folder: Path,
                                             tmp_path: Path) -> None:
    """Payments a week after the data's end move the weeks every merchant's weekly
    features span: an incremental run re-scores everyone, and matches a full one."""
    assert refresh(job, "--json", "--full").returncode == 0
    payments = pd.read_csv(scoring_folder / "payments.csv", dtype=str)
    end = pd.to_datetime(payments["ts"]).max()
    later = payments.head(60).copy()
    later["payment_id"] = [f"later-{tmp_path.name}-{i}" for i in range(len(later))]
    later["ts"] = [(end + pd.Timedelta(days=8 + i % 6)).isoformat() for i in range(len(later))]
    rescores_everyone_after(job, later, tmp_path / "later")


def test_a_week_that_tips_into_a_promotion_rescores_every_merchant(
        job: dict, scoring_folder: Path, tmp_path: Path) -> None:
    """Payments to three merchants that triple a quiet week inside the data make it a
    promotion week: every merchant's promotion features move, far beyond those three,
    so an incremental run re-scores everyone, and matches a full one."""
    assert refresh(job, "--json", "--full").returncode == 0
    payments = pd.read_csv(scoring_folder / "payments.csv", dtype=str)
    week = pd.to_datetime(payments["ts"]).dt.to_period("W")
    counts = week.value_counts().sort_index()
    quiet = counts.index[~promotion_weeks(counts.to_numpy())][len(counts) // 2]
    busy = payments[week == quiet]
    few = busy[busy["payee_id"].isin(busy["payee_id"].drop_duplicates().head(3))]
    copies = pd.concat([few] * (2 * counts[quiet] // len(few) + 1), ignore_index=True)
    copies["payment_id"] = [f"tip-{tmp_path.name}-{i}" for i in range(len(copies))]
    lifted = counts.copy()
    lifted[quiet] += len(copies)
    assert promotion_weeks(lifted.to_numpy())[counts.index.get_loc(quiet)]
    rescores_everyone_after(job, copies, tmp_path / "tip")


def test_since_rescored_around_everything_ingested_after_it(job: dict) -> None:
    a_current_run(job)
    # Every ingest batch came after 2000: every merchant is touched, so the whole graph
    # is read rather than each merchant into the snapshot.
    report = json.loads(refresh(job, "--json", "--since", "2000-01-01").stdout)
    assert report["kind"] == "incremental" and report["rescored"] == 400
    assert any(n.startswith("400 merchants touched")
               and n.endswith("over 50% of the 400 in the graph: read the whole graph "
                              "(faster than reading them one by one)")
               for n in report["notes"]), report["notes"]


def test_a_damaged_snapshot_means_the_whole_graph_is_read(job: dict, scoring_folder: Path,
                                                          tmp_path: Path) -> None:
    a_current_run(job)
    for kept in (Path(job["env"]["GUANXI_MODELS_DIR"]) / "snapshots").rglob("*.pt"):
        kept.write_bytes(kept.read_bytes()[:-100])
    _more_payments(job, scoring_folder, tmp_path)
    result = refresh(job, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "incremental"
    assert any(n.endswith("cannot be used (its content differs from its digest (damaged)): "
                          "read the whole graph") for n in report["notes"]), report["notes"]


@pytest.mark.parametrize("args, says", [
    (("--since", "yesterday"), "is not a timestamp"),
    (("--since", "2999-01-01T00:00:00+08:00"), "is after the current run read the graph"),
])
def test_a_bad_since_is_one_line(job: dict, args: tuple[str, ...], says: str) -> None:
    before = current_run(job["graph"]).run
    result = refresh(job, *args)
    assert result.returncode == 1 and says in cause(result.stderr)
    assert current_run(job["graph"]).run == before


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "0001-01-01T00:00:00+08:00", ""])
def test_since_that_is_not_a_time_is_refused(text: str) -> None:
    from guanxi.cli import _timestamp

    with pytest.raises(InputError, match="is not a timestamp"):
        _timestamp(text, "--since")
    assert _timestamp("2026-11-30T08:00:00+08:00", "--since").isoformat() == \
        "2026-11-30T00:00:00+00:00"


def test_since_with_full_is_refused(job: dict) -> None:
    with pytest.raises(InputError, match="--since and --full"):
        refresh_job(job["graph"], full=True, since=datetime(2000, 1, 1, tzinfo=UTC),
                    models=job["env"]["GUANXI_MODELS_DIR"])


def test_two_refreshes_started_together_one_runs_the_other_names_it(job: dict) -> None:
    children = [subprocess.Popen([*GUANXI, "refresh", "--json", "--full"],
                                 env=cli_env(job["env"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    # Whichever takes the lock first is paused while it holds it: a 400-merchant run
    # holds it under a second, less than the other may take to import torch, and
    # would otherwise end before the other asks (a CI run saw both exit 0).
    deadline = time.monotonic() + 300
    holder = None
    try:
        while holder is None and time.monotonic() < deadline:
            held = job["graph"].read("MATCH (l:JobLock {id: 'scores'}) "
                                     "RETURN l.owner_pid AS pid")
            holder = next((c for c in children if held and held[0]["pid"] == c.pid), None)
            if holder is None:
                assert all(c.poll() is None for c in children), "a refresh ended unlocked"
                time.sleep(0.05)
        assert holder is not None
        holder.send_signal(signal.SIGSTOP)
        other = next(c for c in children if c is not holder)
        other.wait(timeout=300)
    finally:
        if holder is not None:
            holder.send_signal(signal.SIGCONT)
    results = [(c.pid, *c.communicate(timeout=600), c.returncode) for c in children]
    codes = sorted(code for *_, code in results)
    assert codes == [0, 75], [r[2][-500:] for r in results]
    winner = next(pid for pid, _, _, code in results if code == 0)
    line = cause(next(err for _, _, err, code in results if code == 75))
    assert "another refresh is running" in line and f"pid {winner} " in line


def test_kill_9_of_a_refresh_keeps_the_scores_and_the_next_takes_over(job: dict) -> None:
    g = job["graph"]
    before = current_run(g).run if scoring_runs(g) else None
    child = subprocess.Popen([*GUANXI, "refresh", "--quiet", "--full"],
                             env=cli_env(job["env"]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_it_holds_the_lock(g, child)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    runs = scoring_runs(g)
    assert (current_run(g).run if runs else None) == before  # nothing changed for readers
    result = refresh(job, "--json", "--full")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["took_over"] is not None and f"pid {child.pid} " in report["took_over"]
    assert current_run(g).run == report["run"] != before


def test_an_unknown_model_version_lists_the_saved_ones(job: dict) -> None:
    result = refresh(job, "--model", "nope")
    assert result.returncode == 1
    line = cause(result.stderr)
    assert "no model version 'nope'" in line and job["version"] in line


def test_neo4j_not_there_is_one_line_and_a_non_zero_exit(job: dict) -> None:
    env = {**job["env"], "NEO4J_URI": f"bolt://127.0.0.1:{free_port()}",
           "NEO4J_PASSWORD": "x", "GUANXI_RETRY_SECONDS": "2"}
    result = run_cli("refresh", "--log-json", "--json", env=env)
    assert result.returncode not in (0, 75)
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert lines[-1]["event"] == "failed" and "Neo4j" in lines[-1]["message"]
    assert json.loads(result.stdout)["error"]
    plain = run_cli("refresh", env=env)
    assert plain.returncode == result.returncode
    assert "Neo4j" in cause(plain.stderr)


def test_a_stopped_local_server_is_one_line_at_once(job: dict, tmp_path: Path) -> None:
    # A data dir whose server was started once and is stopped now: nothing runs that a
    # retry could reach, so the job says so without 30 s of "trying again" lines.
    stopped = tmp_path / "db"
    stopped.mkdir()
    (stopped / "password").write_text("secret\n")
    (stopped / "server.json").write_text(json.dumps({"port": free_port()}))
    env = {**job["env"], "GUANXI_DATA_DIR": str(stopped)}
    result = run_cli("refresh", env=env)
    assert result.returncode not in (0, 75)
    assert "trying again" not in result.stderr
    assert cause(result.stderr).startswith("error: cannot reach Neo4j")
    assert "guanxi db start" in result.stderr
    # Quiet, that line is all: no warning naming the query, no driver message.
    quiet = run_cli("refresh", "-q", env=env)
    assert quiet.returncode == result.returncode
    assert quiet.stderr.strip().splitlines() == [cause(result.stderr)], quiet.stderr


def test_a_batch_ingested_after_the_run_read_the_graph_is_not_skipped(job: dict) -> None:
    g = job["graph"]
    a_current_run(job)
    # As when a batch lands while the run reads the graph: the run's data is older
    # than the batch, although the run started writing after it.
    # The run could not have seen that batch.
    g.write("MATCH (r:ScoreRun {state: 'current'}) MATCH (b:IngestBatch) "
            "WITH r, max(b.at) AS last SET r.data_as_of = last - duration('PT1S') "
            "WITH r MATCH (b:IngestBatch) WHERE b.at <= r.data_as_of "
            "WITH r, collect(b.id) AS before "
            "SET r.seen_batches = [x IN r.seen_batches WHERE x IN before]")
    report = json.loads(refresh(job, "--json").stdout)
    assert report["kind"] == "incremental" and report["rescored"] > 0


def test_a_batch_still_open_when_the_run_read_the_graph_is_not_skipped(job: dict) -> None:
    g = job["graph"]
    a_current_run(job)
    # As when a batch began before the run read the graph and committed after it: its
    # `at` is earlier than the read, but the run did not see it.
    g.write("MATCH (r:ScoreRun {state: 'current'}) MATCH (b:IngestBatch) "
            "WITH r, max(b.at) AS last "
            "SET r.data_as_of = last + duration('PT1S'), r.seen_batches = []")
    report = json.loads(refresh(job, "--json").stdout)
    assert report["kind"] == "incremental" and report["rescored"] > 0
    # The same, but the run saw every batch: nothing to do.
    g.write("MATCH (r:ScoreRun {state: 'current'}) MATCH (b:IngestBatch) "
            "WITH r, max(b.at) AS last, collect(b.id) AS ids "
            "SET r.data_as_of = last + duration('PT1S'), r.seen_batches = ids")
    assert json.loads(refresh(job, "--json").stdout)["kind"] == "unchanged"


def test_a_damaged_model_file_is_one_line(job: dict, tmp_path: Path) -> None:
    import shutil

    saved = Path(job["env"]["GUANXI_MODELS_DIR"]) / job["version"]
    copy = tmp_path / "models" / job["version"]
    shutil.copytree(saved, copy)
    state = copy / json.loads((copy / "artefact.json").read_text())["parts"]["model_state"]
    state.write_bytes(state.read_bytes()[:100])
    result = run_cli("refresh", "--full", "--models", str(tmp_path / "models"),
                     env=job["env"])
    assert result.returncode == 1
    assert f"model version {job['version']}" in cause(result.stderr)
    assert "cannot be read" in cause(result.stderr)


def stopped_once_it_holds_the_lock(job: dict, sig: signal.Signals, *args: str,
                                   **popen: Any) -> tuple[int, str, str]:
    """Run ``guanxi args``, send it ``sig`` once it holds the scores lock; its exit
    status, stdout and stderr."""
    child = subprocess.Popen([*GUANXI, *args], env=cli_env(job["env"]),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    try:
        wait_until_it_holds_the_lock(job["graph"], child)
        child.send_signal(sig)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    return child.returncode, out, err


def test_sigterm_stops_the_refresh_and_frees_the_lock(job: dict) -> None:
    code, out, err = stopped_once_it_holds_the_lock(job, signal.SIGTERM, "refresh", "--full",
                                                    "--log-json", "--json")
    assert code == 130
    last = json.loads(err.strip().splitlines()[-1])
    assert last["event"] == "failed" and "interrupted" in last["message"]
    # A machine reading stdout gets an object there too.
    assert json.loads(out)["error"] == {
        "type": "Stopped", "message": last["message"], "fix": "run guanxi refresh again",
        "exit_code": 130, "committed": False}
    # Released at once: the next refresh takes no lock over.
    again = refresh(job, "--json", "--full")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["took_over"] is None


def test_ctrl_c_stops_a_score_with_one_line_and_the_current_run_stays(job: dict) -> None:
    a_current_run(job)
    before = current_run(job["graph"]).run
    code, _, err = stopped_once_it_holds_the_lock(job, signal.SIGINT, "score", "--quiet",
                                               preexec_fn=as_in_a_terminal)
    assert code == 130
    assert err.strip().splitlines()[-1].startswith("interrupted: readers see the last "
                                                   "complete scoring run"), err
    assert "Traceback" not in err
    assert current_run(job["graph"]).run == before


def test_sigterm_stops_a_score_with_json_on_stdout(job: dict) -> None:
    a_current_run(job)
    code, out, err = stopped_once_it_holds_the_lock(job, signal.SIGTERM, "score", "--json")
    assert code == 130
    line = err.strip().splitlines()[-1]
    assert line.startswith("interrupted: readers see the last complete scoring run"), err
    assert json.loads(out)["error"] == {
        "type": "Stopped", "message": line, "fix": "run guanxi score again",
        "exit_code": 130, "committed": False}


def test_scores_that_are_not_where_the_run_says_mean_a_full_run(job: dict) -> None:
    # An incremental run's merchant scores carry the id of the full run it built on;
    # a run that lost that pointer (edited by hand, or by an older guanxi) must not be
    # built on, nor read as if it held no merchant at all.
    a_current_run(job)
    g = job["graph"]
    assert refresh(job, "--json", "--since", "2000-01-01").returncode == 0
    current = current_run(g)
    assert current.kind == "incremental" and current.merchant_run != current.run
    g.write("MATCH (r:ScoreRun {id: $run}) REMOVE r.merchant_run", run=current.run)
    with pytest.raises(NoScores, match=f"records {current.merchants} merchant scores "
                                       "but 0 were found"):
        read_scores(g)
    result = refresh(job, "--json", "--since", "2000-01-01")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "full"
    assert any(n.endswith(f"but 0 carry its merchant_run {current.run}: a full run")
               for n in report["notes"])
    assert len(read_scores(g).merchants) == report["merchants"] == current.merchants


def test_full_reads_the_whole_graph_even_right_after_training(job: dict,
                                                               tmp_path: Path) -> None:
    # A new model in its own folder: a plain refresh would read only what changed since
    # its training (like `guanxi score`); --full must read everything (hand edits too).
    models = tmp_path / "models"
    pipeline.train(job["graph"], FAST, models=str(models))
    env = {**job["env"], "GUANXI_MODELS_DIR": str(models)}
    try:
        result = run_cli("refresh", "--json", "--full", env=env)
        assert result.returncode == 0, result.stderr
        assert not any("since the training" in n
                       for n in json.loads(result.stdout)["notes"])
        version = pipeline.train(job["graph"], FAST, models=str(models)).version
        result = run_cli("refresh", "--json", env=env)  # a new model: full, from its read
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["kind"] == "full"
        assert any(n.startswith("read only what changed since the training of model "
                                f"{version}") for n in report["notes"])
    finally:  # the module's own model current again, for the test after
        assert refresh(job, "--json", "--full").returncode == 0


def test_a_ring_score_without_the_gnn_runs_it_for_the_rescored_merchants_only(
        job: dict, scoring_folder: Path, tmp_path: Path) -> None:
    # Stage 0's ring score reads no GNN: an incremental run computes the GNN of the
    # re-scored merchants only, on their receptive field (gnn/receptive.py), and must
    # still match a full run. The module's model is saved again choosing stage 0.
    trained = load_artefact(Path(job["env"]["GUANXI_MODELS_DIR"]), job["version"])
    models = tmp_path / "models"
    stage_0 = save_artefact(models, model_state=trained.model_state,
                            settings=trained.settings, metrics=trained.metrics,
                            snapshot=trained.snapshot,
                            extra={**trained.extra, "ring_stage": "0"})
    assert not pipeline.load_scorer(stage_0).ring_reads_gnn
    own = {**job, "env": {**job["env"], "GUANXI_MODELS_DIR": str(models)}}
    g = job["graph"]
    try:
        assert refresh(own, "--json", "--full").returncode == 0
        _more_payments(job, scoring_folder, tmp_path)
        result = refresh(own, "--json", "--log-json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["kind"] == "incremental" and 0 < report["rescored"] < 400
        ran = [json.loads(line) for line in result.stderr.splitlines()
               if json.loads(line).get("event") == "gnn_rows"]
        assert [r["merchants"] for r in ran] == [report["rescored"]]
        new = read_scores(g, embeddings=True)
        assert not new.merchants[["ring_score", "pd", "credit_score"]].isna().any().any()
        assert np.isfinite(new.embeddings).all()

        assert json.loads(refresh(own, "--json", "--full").stdout)["kind"] == "full"

        full = read_scores(g).merchants.set_index("merchant_id")
        new = new.merchants.set_index("merchant_id").loc[full.index]
        for column in ("ring_score", "pd"):
            gap = (full[column] - new[column]).abs().max()
            assert gap <= INCREMENTAL_TOLERANCE, (column, gap)
    finally:  # the module's own model current again, for the test after
        assert refresh(job, "--json", "--full").returncode == 0


def test_a_merchant_deleted_by_hand_leaves_the_next_run(job: dict) -> None:
    # Last in the module: it takes a merchant out of the graph the other tests share.
    a_current_run(job)
    g = job["graph"]
    scored = read_scores(g).merchants["merchant_id"].tolist()
    gone = scored[0]
    g.write("MATCH (m:Merchant {id: $id}) OPTIONAL MATCH (w:MerchantWeek {merchant: $id}) "
            "DETACH DELETE m, w", id=gone)
    result = refresh(job, "--json", "--since", "2000-01-01")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Incremental, and the deleted merchant's score is not carried into the new run.
    assert report["kind"] == "incremental"
    after = read_scores(g).merchants["merchant_id"].tolist()
    assert gone not in after and len(after) == report["merchants"] == len(scored) - 1


def test_a_stop_after_the_scores_are_current_says_so(job: dict, monkeypatch) -> None:
    # A stop signal can land after the run was made current (the prune, keeping the
    # snapshot, the vector indexes): the command must not say readers see the last run.
    import guanxi.graph.similar as similar_module
    from guanxi.interrupts import StoppedAfterCommit

    def stopped(*args: Any, **kw: Any) -> None:
        raise KeyboardInterrupt  # what a SIGTERM arriving here raises

    monkeypatch.setattr(similar_module, "ensure_vector_index", stopped)
    with pytest.raises(StoppedAfterCommit) as stop:
        refresh_job(job["graph"], models=job["env"]["GUANXI_MODELS_DIR"], full=True)
    current = current_run(job["graph"]).run
    assert stop.value.done.startswith(f"run {current} is current")
    monkeypatch.undo()
    # The next refresh finds it current, and nothing ingested since.
    result = refresh(job, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "unchanged"


def test_a_stop_held_while_the_flip_ran_says_the_run_is_current(job: dict,
                                                                 monkeypatch) -> None:
    # A signal during the flip is held until the statement returns, then raised: the
    # run is current by then, and the command must say so.
    from guanxi.graph import connection
    from guanxi.interrupts import StoppedAfterCommit

    real = connection.Graph.write

    def write(self: Graph, query: Any, **params: Any) -> Any:
        out = real(self, query, **params)
        if getattr(query, "name", "") == "scores_flip":
            raise KeyboardInterrupt  # held while it ran, raised as it returned
        return out

    monkeypatch.setattr(connection.Graph, "write", write)
    with pytest.raises(StoppedAfterCommit) as stop:
        refresh_job(job["graph"], models=job["env"]["GUANXI_MODELS_DIR"], full=True)
    monkeypatch.undo()
    assert stop.value.done == f"run {current_run(job['graph']).run} is current"
