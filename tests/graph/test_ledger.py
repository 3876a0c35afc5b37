"""The ingest ledger against the real Neo4j: claims, take-overs, and batches applied once."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from guanxi.graph import ledger
from guanxi.graph.connection import Graph
from guanxi.graph.writes import Batch
from guanxi.queries import Query

KEY = ledger.file_key("ab" * 32, "payments")
ADD = Query("test_add", "MERGE (n:Counter {id: 'c'}) ON CREATE SET n.v = 0 SET n.v = n.v + 1")


@pytest.fixture
def sleeper() -> Iterator[ledger.Owner]:
    """Another live process on this host, as a claim holder."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield ledger.Owner(proc.pid, socket.gethostname(), psutil.Process(proc.pid).create_time())
    finally:
        proc.kill()
        proc.wait()


def counter(graph: Graph) -> int | None:
    rows = graph.read("MATCH (n:Counter {id: 'c'}) RETURN n.v AS v")
    return rows[0]["v"] if rows else None


def test_a_claim_held_by_a_live_process_is_refused_with_who_and_since(
        graph: Graph, sleeper: ledger.Owner) -> None:
    first = ledger.claim_file(graph, KEY, sleeper, "payments.csv")
    assert first["status"] == "new"
    with pytest.raises(ledger.LockHeld) as err:
        ledger.claim_file(graph, KEY, ledger.Owner.me(), "payments.csv")
    assert f"another ingest of payments.csv is running: pid {sleeper.pid} on " in str(err.value)
    assert err.value.exit_code == 75


def test_a_claim_whose_holder_died_is_taken_over(graph: Graph, sleeper: ledger.Owner) -> None:
    ledger.claim_file(graph, KEY, sleeper, "payments.csv")
    psutil.Process(sleeper.pid).kill()
    psutil.Process(sleeper.pid).wait()
    me = ledger.Owner.me()
    ledger.claim_file(graph, KEY, me, "payments.csv")
    assert graph.read("MATCH (f:IngestFile) RETURN f.owner AS o") == [{"o": me.id}]


def test_a_silent_claim_from_another_host_goes_stale(graph: Graph) -> None:
    far = ledger.Owner(1, "another-host", 0.0)
    ledger.claim_file(graph, KEY, far, "payments.csv")
    with pytest.raises(ledger.LockHeld):  # fresh: it might be alive over there
        ledger.claim_file(graph, KEY, ledger.Owner.me(), "payments.csv")
    graph.write("MATCH (f:IngestFile) SET f.heartbeat = datetime() - duration('PT2M')")
    ledger.claim_file(graph, KEY, ledger.Owner.me(), "payments.csv", stale_seconds=60)


def test_releasing_a_file_that_never_began_leaves_no_record(graph: Graph) -> None:
    me = ledger.Owner.me()
    ledger.claim_file(graph, KEY, me, "payments.csv")
    ledger.release_file(graph, KEY, me)
    assert graph.read("MATCH (f:IngestFile) RETURN count(f) AS n") == [{"n": 0}]


def test_a_batch_is_applied_once_and_keeps_the_merchants_it_touched(graph: Graph) -> None:
    me = ledger.Owner.me()
    ledger.claim_file(graph, KEY, me, "payments.csv")
    ledger.begin_file(graph, KEY, me, 0, {"kind": "payments", "batch_size": 10})
    apply = ledger.recorded(KEY, 0, me)
    batch = Batch(3, [(ADD, {})], rows=1, merchants=["M1", "M2"])
    assert apply(graph, batch) is not None
    assert apply(graph, batch) is None  # the second time finds its record
    assert counter(graph) == 1
    assert ledger.applied_batches(graph, KEY, 0) == {3}
    assert ledger.applied_batches(graph, KEY, 1) == set()  # a reload starts afresh
    assert graph.read("MATCH (b:IngestBatch) RETURN b.merchants AS m") == [{"m": ["M1", "M2"]}]


def test_a_writer_whose_claim_was_taken_over_writes_nothing(graph: Graph,
                                                            sleeper: ledger.Owner) -> None:
    me = ledger.Owner.me()
    ledger.claim_file(graph, KEY, me, "payments.csv")
    graph.write("MATCH (f:IngestFile) SET f.owner = $other", other=sleeper.id)
    with pytest.raises(ledger.LockLost):
        ledger.recorded(KEY, 0, me)(graph, Batch(0, [(ADD, {})], rows=1))
    assert counter(graph) is None
    assert graph.read("MATCH (b:IngestBatch) RETURN count(b) AS n") == [{"n": 0}]
    with pytest.raises(ledger.LockLost):
        ledger.finish_file(graph, KEY, me, {"rows_read": 1})


def test_the_heartbeat_notices_a_lost_claim(graph: Graph, sleeper: ledger.Owner) -> None:
    me = ledger.Owner.me()
    ledger.claim_file(graph, KEY, me, "payments.csv")
    with ledger.Heartbeat(graph, KEY, me, every=0.05) as beat:
        graph.write("MATCH (f:IngestFile) SET f.owner = $other", other=sleeper.id)
        for _ in range(200):
            if beat.lost:
                break
            time.sleep(0.05)
    assert beat.lost


def test_a_record_locked_by_a_frozen_transaction_counts_as_held(
        graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process frozen inside a transaction that wrote the file's record holds its lock;
    a claim waits at most CLAIM_TIMEOUT, then says the file is held."""
    me = ledger.Owner.me()
    ledger.claim_file(graph, KEY, me, "payments.csv")
    ledger.begin_file(graph, KEY, me, 0, {"kind": "payments", "batch_size": 10})
    monkeypatch.setattr(ledger, "CLAIM_TIMEOUT", 2.0)
    with graph.driver.session(database=graph.database) as session:
        frozen = session.begin_transaction()
        frozen.run("MATCH (f:IngestFile {id: $key}) SET f.heartbeat = datetime()", key=KEY)
        try:
            with pytest.raises(ledger.LockHeld, match="keeps its ledger record locked"):
                ledger.claim_file(graph, KEY, ledger.Owner(1, "elsewhere", 0.0), "payments.csv")
        finally:
            frozen.rollback()
