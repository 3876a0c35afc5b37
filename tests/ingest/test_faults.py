"""Interrupted loads lose and duplicate nothing: a real ``kill -9`` of a real ingest
process, and a real ``kill -9`` of the Neo4j server, in the middle of a load."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import GUANXI, as_in_a_terminal, cli_env, run_cli

from guanxi.graph import server
from guanxi.graph.connection import Graph

PAYMENT_ROWS = 60_000
BATCH = 500  # small batches: many transactions, so the kill lands mid-file


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 merchants and 60k payments (1% between merchants), written as CSV."""
    rng = np.random.default_rng(5)
    out = tmp_path_factory.mktemp("faults")
    merchants = [f"M{i:04d}" for i in range(300)]
    pd.DataFrame({"merchant_id": merchants, "name": [f"店{i}" for i in range(300)]}).to_csv(
        out / "merchants.csv", index=False)
    consumers = np.array([f"C{i:05d}" for i in range(5000)])
    payer = consumers[rng.integers(0, 5000, PAYMENT_ROWS)].astype(object)
    by_merchant = rng.random(PAYMENT_ROWS) < 0.01
    payer[by_merchant] = np.array(merchants)[rng.integers(0, 150, by_merchant.sum())]
    payee = np.array(merchants)[150 + rng.zipf(1.6, PAYMENT_ROWS) % 150]
    seconds = np.sort(rng.integers(0, 180 * 86400, PAYMENT_ROWS))
    ts = pd.Timestamp("2025-01-01") + pd.to_timedelta(seconds, unit="s")
    pd.DataFrame({
        "payer_id": payer, "payee_id": payee,
        "amount": np.round(rng.lognormal(3, 1, PAYMENT_ROWS), 2).clip(0.01),
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S"),
    }).to_csv(out / "payments.csv", index=False)
    return out


def expected_pairs(folder: Path) -> pd.DataFrame:
    """What PAID must hold, computed from the file with pandas alone."""
    rows = pd.read_csv(folder / "payments.csv", dtype={"payer_id": str, "payee_id": str})
    grouped = rows.groupby(["payer_id", "payee_id"]).agg(
        n=("amount", "size"), amount=("amount", "sum"), first=("ts", "min"), last=("ts", "max"))
    return grouped.reset_index().sort_values(["payer_id", "payee_id"], ignore_index=True)


def graph_pairs(graph: Graph) -> pd.DataFrame:
    rows = graph.read(
        "MATCH (a)-[p:PAID]->(m:Merchant) RETURN a.id AS payer_id, m.id AS payee_id, "
        "p.count AS n, p.amount AS amount, "
        "left(toString(p.first_ts), 19) AS first, left(toString(p.last_ts), 19) AS last")
    return pd.DataFrame(rows).sort_values(["payer_id", "payee_id"], ignore_index=True)


def assert_graph_equals_file(graph: Graph, folder: Path, files: int = 2) -> None:
    """PAID pairs and the weekly flows received and made equal pandas' aggregation of the
    file; ``files`` ledger files are done."""
    want, got = expected_pairs(folder), graph_pairs(graph)
    assert len(got) == len(want)
    assert got["n"].sum() == PAYMENT_ROWS
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)
    rows = pd.read_csv(folder / "payments.csv", dtype={"payer_id": str, "payee_id": str})
    ts = pd.to_datetime(rows["ts"])
    rows["week"] = (ts.dt.normalize() - pd.to_timedelta(ts.dt.day_of_week, unit="D")).dt.strftime(
        "%Y-%m-%d")
    weeks = rows.groupby(["payee_id", "week"]).agg(n=("amount", "size"), amount=("amount", "sum"))
    got_weeks = pd.DataFrame(graph.read(
        "MATCH (w:MerchantWeek) WHERE w.paid_in_count > 0 RETURN w.merchant AS payee_id, "
        "toString(w.week) AS week, w.paid_in_count AS n, w.paid_in_amount AS amount"))
    pd.testing.assert_frame_equal(got_weeks.set_index(["payee_id", "week"]).sort_index(),
                                  weeks.sort_index(), check_dtype=False, rtol=1e-9)
    paid_out = graph.read("MATCH (w:MerchantWeek) RETURN sum(w.paid_out_count) AS n, "
                          "sum(w.paid_out_amount) AS amount")[0]
    by_merchants = rows[rows["payer_id"].str.startswith("M")]
    assert paid_out["n"] == len(by_merchants)
    assert paid_out["amount"] == pytest.approx(by_merchants["amount"].sum(), rel=1e-9)
    payers = graph.read("MATCH (c:Consumer) RETURN count(c) AS n")[0]["n"]
    assert payers == want.loc[~want["payer_id"].str.startswith("M"), "payer_id"].nunique()
    assert graph.read("MATCH (f:IngestFile) RETURN f.status AS s, count(*) AS n"
                      ) == [{"s": "done", "n": files}]
    # Nobody holds a claim once loads have ended, however they ended.
    assert graph.read("MATCH (f:IngestFile) WHERE f.owner IS NOT NULL RETURN count(f) AS n"
                      )[0]["n"] == 0


def start_ingest(folder: Path, env: dict, tmp_path: Path) -> subprocess.Popen:
    """A real ``guanxi ingest`` in the background, with small batches."""
    return subprocess.Popen(
        [*GUANXI, "ingest", str(folder), "--batch-size", str(BATCH), "--quiet",
         "--rejects", str(tmp_path / "rejects.csv")],
        env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=as_in_a_terminal)


def wait_for_batches(graph: Graph, proc: subprocess.Popen, at_least: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        applied = graph.read("MATCH (b:IngestBatch) RETURN count(b) AS n")[0]["n"]
        if applied >= at_least:
            return applied
        assert proc.poll() is None, f"ingest ended before it could be interrupted: {proc.stderr}"
        time.sleep(0.05)
    raise AssertionError("no batches were written within 120 s")


def test_kill_9_mid_load_then_resume_equals_a_clean_load(graph: Graph, folder: Path,
                                                         neo4j_env: dict, tmp_path: Path) -> None:
    proc = start_ingest(folder, neo4j_env, tmp_path)
    wait_for_batches(graph, proc, at_least=5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    payments = graph.read("MATCH (f:IngestFile {name: 'payments.csv'}) RETURN f.status AS s")
    assert payments == [{"s": "loading"}]
    partial = graph.read("MATCH ()-[p:PAID]->() RETURN sum(p.count) AS n")[0]["n"]
    assert 0 < partial < PAYMENT_ROWS
    spools = list(Path(tempfile.gettempdir()).glob(f"guanxi-spool-{proc.pid}-*"))
    assert spools, "the killed ingest left no spool folder: the cleanup below tests nothing"

    resumed = run_cli("ingest", str(folder), "--batch-size", "2000", "--json", env=neo4j_env)
    assert resumed.returncode == 0, resumed.stderr
    assert not any(path.exists() for path in spools)  # the next run cleans up after a kill
    assert '"batches_resumed": 0' not in resumed.stdout.split('"payments"')[-1]
    assert "resumed with the batch size it started with (500)" in resumed.stdout
    assert_graph_equals_file(graph, folder)


def test_neo4j_killed_mid_load_then_the_next_run_finishes(graph: Graph, folder: Path,
                                                           neo4j_dir: Path, tmp_path: Path,
                                                           neo4j_env: dict) -> None:
    env = {**neo4j_env, "GUANXI_RETRY_SECONDS": "2"}
    proc = start_ingest(folder, env, tmp_path)
    wait_for_batches(graph, proc, at_least=5)
    status = server.status(neo4j_dir)
    os.kill(status.pid, signal.SIGKILL)  # a crash: Neo4j recovers from its log on restart
    try:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1
        assert err.strip().splitlines()[-1].startswith("error: cannot reach Neo4j")
    finally:
        port = int(status.uri.rsplit(":", 1)[1])
        server.start(server.ServerConfig(neo4j_dir, port=port, heap="1g", pagecache="512m"))
    again = run_cli("ingest", str(folder), "--quiet", env=neo4j_env)
    assert again.returncode == 0, again.stderr
    assert_graph_equals_file(graph, folder)


def test_ctrl_c_mid_load_says_how_to_resume(graph: Graph, folder: Path, neo4j_env: dict,
                                            tmp_path: Path) -> None:
    proc = start_ingest(folder, neo4j_env, tmp_path)
    wait_for_batches(graph, proc, at_least=3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted: run the same command again to resume" in err
    assert "Traceback" not in err
    again = run_cli("ingest", str(folder), "--quiet", env=neo4j_env)
    assert again.returncode == 0, again.stderr
    assert_graph_equals_file(graph, folder)


# --- two ingests of one folder at once ---------------------------------------------

def _second_ingest_outcome(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


@pytest.mark.parametrize("after_batches", [0, 5, 45, 89])
def test_two_ingests_at_once_count_every_row_once(graph: Graph, folder: Path, neo4j_env: dict,
                                                  tmp_path: Path, after_batches: int) -> None:
    """A second ``guanxi ingest`` of the same folder, started together with the first or
    at its early, middle or last batches (92 in all), never adds a row twice."""
    first = start_ingest(folder, neo4j_env, tmp_path / "a")
    if after_batches:
        wait_for_batches(graph, first, at_least=after_batches)
    second = start_ingest(folder, neo4j_env, tmp_path / "b")
    outcomes = [_second_ingest_outcome(first), _second_ingest_outcome(second)]
    codes = sorted(code for code, _ in outcomes)
    assert codes in ([0, 0], [0, 75]), outcomes
    for code, err in outcomes:
        assert "Traceback" not in err
        if code == 75:  # the one that found the file claimed says by whom, in one line
            last = err.strip().splitlines()[-1]
            assert last.startswith("error: another ingest of "), err
            assert " is running: pid " in last and "wait for it to finish" in last
    assert_graph_equals_file(graph, folder)


def test_a_stopped_ingest_taken_over_cannot_add_its_batches_later(
        graph: Graph, folder: Path, neo4j_env: dict, tmp_path: Path) -> None:
    """The worst race: an ingest is frozen (SIGSTOP) mid-load, a second one takes its
    claim once the heartbeat is stale and finishes the file, then the first wakes up."""
    # Frozen inside a batch, it holds that batch's pairs until the server ends the
    # batch's transaction: 5 s here instead of 300, so the takeover need not wait.
    first = start_ingest(folder, {**neo4j_env, "GUANXI_BATCH_TIMEOUT": "5"}, tmp_path / "a")
    wait_for_batches(graph, first, at_least=20)
    os.kill(first.pid, signal.SIGSTOP)
    try:
        held = run_cli("ingest", str(folder), "--quiet", "--batch-size", str(BATCH),
                       env=neo4j_env)
        assert held.returncode == 75, held.stderr  # alive and fresh: not taken over yet
        # Frozen between two batches it is "running"; frozen inside its heartbeat's
        # transaction, it holds the record's lock until the server ends that transaction.
        assert "error: another ingest of payments.csv " in held.stderr
        time.sleep(3)  # let its claim go stale (GUANXI_LOCK_STALE_SECONDS below)
        second = run_cli("ingest", str(folder), "--quiet",
                         env={**neo4j_env, "GUANXI_LOCK_STALE_SECONDS": "2"})
        assert second.returncode == 0, second.stderr
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 75, err
    assert "taken over" in err.strip().splitlines()[-1]
    assert_graph_equals_file(graph, folder)


def test_kill_9_while_loading_appended_rows_then_resume_counts_each_row_once(
        graph: Graph, folder: Path, neo4j_env: dict, tmp_path: Path) -> None:
    """Monday's file (the first half of the rows) is loaded; the whole file, Monday's rows
    and more, is killed mid-load and resumed: every row counts once."""
    monday = tmp_path / "monday"
    monday.mkdir()
    shutil.copy(folder / "merchants.csv", monday)
    data = (folder / "payments.csv").read_bytes()
    half = PAYMENT_ROWS // 2
    cut = [i for i, byte in enumerate(data) if byte == ord("\n")][half] + 1  # header + half
    (monday / "payments.csv").write_bytes(data[:cut])
    assert run_cli("ingest", str(monday), "--quiet", env=neo4j_env).returncode == 0
    before = graph.read("MATCH (b:IngestBatch) RETURN count(b) AS n")[0]["n"]

    proc = start_ingest(folder, neo4j_env, tmp_path)
    wait_for_batches(graph, proc, at_least=before + 3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = graph.read("MATCH ()-[p:PAID]->() RETURN sum(p.count) AS n")[0]["n"]
    assert half < partial < PAYMENT_ROWS
    record = graph.read("MATCH (f:IngestFile {status: 'loading'}) RETURN f.base_lines AS n")
    assert record == [{"n": half + 1}]

    resumed = run_cli("ingest", str(folder), "--batch-size", "2000", "--json", env=neo4j_env)
    assert resumed.returncode == 0, resumed.stderr
    payments = json.loads(resumed.stdout)["files"][1]
    assert payments["after_line"] == half + 1 and payments["batches_resumed"] >= 3
    assert_graph_equals_file(graph, folder, files=3)

