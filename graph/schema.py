"""The graph's schema: a unique ``id`` on every node label, and the indexes queries use.

Statements use ``IF NOT EXISTS``, so applying the schema again changes nothing.
Labels are constants of this module, never user input, which is why they may be
spliced into the DDL (Cypher does not take labels as parameters).
"""

from __future__ import annotations

import time

from guanxi.errors import QueryError
from guanxi.graph.connection import Graph
from guanxi.graph.model import JOB_LABELS, LEDGER_LABELS, node_labels

__all__ = ["NODE_LABELS", "LEDGER_LABELS", "JOB_LABELS", "statements", "apply_schema"]

NODE_LABELS: tuple[str, ...] = node_labels()
"""The node labels of the graph model (``graph/model.py``)."""

_INDEXES: tuple[str, ...] = (
    "CREATE INDEX merchant_category IF NOT EXISTS FOR (m:Merchant) ON (m.category)",
    "CREATE INDEX merchant_city IF NOT EXISTS FOR (m:Merchant) ON (m.city)",
    "CREATE INDEX merchant_label IF NOT EXISTS FOR (m:Merchant) ON (m.label)",
    "CREATE INDEX case_status IF NOT EXISTS FOR (c:Case) ON (c.status)",
    "CREATE INDEX ingest_batch_file IF NOT EXISTS FOR (b:IngestBatch) ON (b.file)",
    "CREATE INDEX ingest_batch_at IF NOT EXISTS FOR (b:IngestBatch) ON (b.at)",
    "CREATE INDEX merchant_week_merchant IF NOT EXISTS FOR (w:MerchantWeek) ON (w.merchant)",
    # Scores are kept per run (graph/scores.py): readers page through the current run's
    # scores by (run, id); the prune after a flip finds other runs' by run alone. (Names
    # differ from the score_run indexes of earlier versions, which IF NOT EXISTS would
    # otherwise take for these.)
    "CREATE INDEX score_run_state IF NOT EXISTS FOR (r:ScoreRun) ON (r.state)",
    "CREATE INDEX merchant_scores_by_run IF NOT EXISTS FOR (s:MerchantScore) ON (s.run)",
    "CREATE INDEX merchant_score_page IF NOT EXISTS "
    "FOR (s:MerchantScore) ON (s.run, s.merchant)",
    "CREATE INDEX cluster_scores_by_run IF NOT EXISTS FOR (s:ClusterScore) ON (s.run)",
    "CREATE INDEX cluster_score_page IF NOT EXISTS FOR (s:ClusterScore) ON (s.run, s.cluster)",
    "CREATE INDEX cluster_score_cluster IF NOT EXISTS FOR (s:ClusterScore) ON (s.cluster)",
    "CREATE INDEX in_cluster_run IF NOT EXISTS FOR ()-[i:IN_CLUSTER]-() ON (i.run)",
    # The cjk analyzer splits Chinese names into bigrams, so 面馆 finds 老王面馆.
    "CREATE FULLTEXT INDEX merchant_name IF NOT EXISTS FOR (m:Merchant) ON EACH [m.name] "
    "OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}",
)


def _snake(label: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in label).lstrip("_")


def statements() -> list[str]:
    """Every DDL statement of the schema, constraints first."""
    constraints = [
        f"CREATE CONSTRAINT {_snake(label)}_id IF NOT EXISTS "
        f"FOR (n:{label}) REQUIRE n.id IS UNIQUE"
        for label in NODE_LABELS + LEDGER_LABELS + JOB_LABELS
    ]
    return constraints + list(_INDEXES)


def apply_schema(graph: Graph) -> dict[str, int]:
    """Create missing constraints and indexes, wait until they are online. Safe to run
    from several processes at once.

    Returns counts: ``statements`` applied and ``created`` (new constraints or indexes).
    """
    before = _schema_names(graph)
    for ddl in statements():
        try:
            graph.write(ddl)
        except QueryError as exc:
            # IF NOT EXISTS is checked before the rule is created: a concurrent apply
            # (two ingests starting at once) can create it in between. That is success.
            if exc.code != "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists":
                raise
    _await_online(graph)
    created = len(_schema_names(graph) - before)
    return {"statements": len(statements()), "created": created}


def _await_online(graph: Graph, seconds: float = 300.0) -> None:
    """Wait until every index is online, asking now and then. Not ``db.awaitIndexes``:
    its transaction stays open while it waits, and with four processes applying the
    schema at once one index creation waited behind it until the connection timed out
    (121 s, once in CI)."""
    deadline = time.monotonic() + seconds
    delay = 0.05
    while True:
        waiting = graph.read("SHOW INDEXES YIELD name, state WHERE state <> 'ONLINE' "
                             "RETURN name, state")
        failed = [row["name"] for row in waiting if row["state"] == "FAILED"]
        if failed:
            raise QueryError(f"index {failed[0]} failed to build",
                             f"see `SHOW INDEXES` and the server's log; drop {failed[0]} "
                             "and apply the schema again")
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise QueryError(f"index {waiting[0]['name']} is not online after {seconds:.0f} s",
                             "run the command again once Neo4j has built it")
        time.sleep(delay)
        delay = min(2 * delay, 1.0)


def _schema_names(graph: Graph) -> set[str]:
    rows = graph.read("SHOW INDEXES YIELD name RETURN name")  # constraints own an index each
    return {row["name"] for row in rows}
