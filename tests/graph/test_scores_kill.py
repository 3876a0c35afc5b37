"""``kill -9`` of a real process in the middle of writing scores: the scores readers read
stay the previous run's, whole, and the next run completes and cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from helpers import cli_env

from guanxi.gnn.scores import ScoreSet
from guanxi.graph.connection import Graph
from guanxi.graph.scores import prune, read_scores, run_id, scoring_runs, write_scores

N = 10_000
AT_OLD = datetime(2026, 11, 1, tzinfo=UTC)
AT_NEW = datetime(2026, 11, 30, tzinfo=UTC)

# The child writes run "new" in small batches, one transaction at a time, so that it
# is surely half-way when killed.
_CHILD = """
import sys
sys.path[:0] = [{tests!r}, {here!r}]
from test_scores_kill import scores
from guanxi.graph.connection import open_graph
from guanxi.graph.scores import write_scores
write_scores(open_graph(), scores("new"), batch_size=100, workers=1)
"""


def scores(which: str) -> ScoreSet:
    """Scores of the ``N`` merchants: every tenth in a cluster of ten; "old" and "new"
    differ in every value."""
    ids = [f"M{i:05d}" for i in range(N)]
    shift = 0.0 if which == "old" else 0.5
    rng = np.random.default_rng(0 if which == "old" else 1)
    cluster_of = [f"C{i // 10:04d}" if i % 10 == 0 or i // 10 % 7 == 0 else None
                  for i in range(N)]
    merchants = pd.DataFrame({"merchant_id": ids, "cluster_id": cluster_of,
                              "ring_score": rng.random(N) * 0.5 + shift,
                              "pd": rng.random(N) * 0.1, "credit_score": rng.integers(350, 951, N)})
    members = merchants.dropna(subset=["cluster_id"]).groupby("cluster_id")["merchant_id"]
    clusters = pd.DataFrame([{"cluster_id": cid, "size": len(m), "collusion_score": 0.3 + shift,
                              "group_pd": 0.1, "credit_score": 700, "key_members": list(m[:1]),
                              "top_factors": [], "top_links": [], "members": list(m)}
                             for cid, m in members])
    at = AT_OLD if which == "old" else AT_NEW
    return ScoreSet(merchants, clusters, which, at, rng.random((N, 8), dtype=np.float32))


def test_kill_9_while_writing_leaves_the_previous_run_whole(graph: Graph, neo4j_env: dict,
                                                            tmp_path: Path) -> None:
    graph.write("UNWIND range(0, $n - 1) AS i "
                "CREATE (:Merchant {id: 'M' + right('0000' + toString(i), 5)})", n=N)
    old = scores("old")
    write_scores(graph, old)
    expected = read_scores(graph, embeddings=True)
    new_run = run_id("new", AT_NEW)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(here=str(Path(__file__).parent),
                                                tests=str(Path(__file__).parents[1]))],
        env={**os.environ, **cli_env(neo4j_env)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        written = 0
        while written < 500 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            written = graph.read("MATCH (s:MerchantScore) WHERE s.run = $run "
                                 "RETURN count(s) AS n", run=new_run)[0]["n"]
        assert child.poll() is None, child.communicate()[1].decode()[-2000:]
        # Frozen half-way (else it may finish while we read): readers read the old run.
        child.send_signal(signal.SIGSTOP)
        assert [r.state for r in scoring_runs(graph)] == ["current", "writing"]
        during = read_scores(graph)
        pd.testing.assert_frame_equal(during.merchants, expected.merchants)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert 500 <= written < N
    assert [(r.run, r.state) for r in scoring_runs(graph)] == [
        (run_id("old", AT_OLD), "current"), (new_run, "writing")]
    after = read_scores(graph, embeddings=True)
    pd.testing.assert_frame_equal(after.merchants, expected.merchants)
    pd.testing.assert_frame_equal(after.clusters, expected.clusters)
    np.testing.assert_array_equal(after.embeddings, expected.embeddings)
    # A refresh that finds nothing to write still removes what the dead run wrote (its
    # indexed embeddings too), and leaves the current run whole.
    left = graph.read("MATCH (s:MerchantScore) WHERE s.run = $run RETURN count(s) AS n",
                      run=new_run)[0]["n"]
    assert left >= written
    current = scoring_runs(graph)[0]
    pruned = prune(graph, current.run, current.merchant_run)
    assert (pruned.merchant_scores, pruned.failed_runs) == (left, 1)
    assert graph.read("MATCH (s:MerchantScore) RETURN count(s) AS n") == [{"n": N}]
    assert [r.state for r in scoring_runs(graph)] == ["current", "failed"]
    pd.testing.assert_frame_equal(read_scores(graph).merchants, expected.merchants)
    # The next run completes, and what the dead one wrote is gone.
    summary = write_scores(graph, scores("new"))
    assert summary.merchants == N
    back = read_scores(graph)
    assert back.model_version == "new"
    assert (back.merchants["ring_score"] >= 0.5).all()
    assert graph.read("MATCH (s:MerchantScore) RETURN count(s) AS n") == [{"n": N}]
    assert [r.state for r in scoring_runs(graph)] == ["replaced", "current"]
