"""Every named query loads and runs against the real Neo4j."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guanxi import queries
from guanxi.graph.connection import Graph
from guanxi.graph.model import week_property_names

# Parameters for each query file; a new .cypher file must be added here.
_PAIR = {"first_ms": 1735689600000, "last_ms": 1735689600000, "max": {"amount_max": 10.0}}
_PAYMENT = _PAIR | {"target": "M1", "add": {"count": 1, "amount": 10.0, "amount_sq": 100.0,
                                            "round_count": 1, "night_count": 0}}
_RUN = {"run": "20260101T000000.000000Z/v1", "model_version": "v1",
        "scored_at": datetime(2026, 1, 1, tzinfo=UTC)}
_FLOWS = dict.fromkeys(week_property_names(), 0) | {"paid_in_count": 1, "paid_in_amount": 9.5}
PARAMS: dict[str, dict] = {
    "stats_nodes": {},
    "stats_relationships": {},
    "stats_aggregated_rows": {},
    "merchant_ids": {},
    "server_version": {},
    "scores_read_point": {"window": 300},
    "export_merchants": {"after": "", "limit": 10, "ids": None},
    "ingest_history": {"limit": 10},
    "ingest_since": {"since": datetime(2026, 1, 1, tzinfo=UTC), "seen": ["b1"]},
    "ingest_merchants": {"rows": [{"id": "M1", "props": {"name": "老王面馆"}, "phone": ["138"],
                                   "device_id": [], "bank_account": [], "address": [],
                                   "owner_id": ["P1"], "agent_id": ["SP1"]}]},
    "ingest_merchants_unlink": {"ids": ["M0"]},
    "ingest_identifier_mates": {"ids": ["M0"]},
    "ingest_paid_by_consumer": {"rows": [_PAYMENT | {"source": "C1"}]},
    "ingest_paid_by_merchant": {"rows": [_PAYMENT | {"source": "M1"}]},
    "ingest_supplies": {"rows": [_PAIR | {"source": "M1", "target": "M1", "add": {
        "count": 1, "amount": 10.0, "round_count": 1}}]},
    "ingest_shipped_to": {"rows": [{"source": "M1", "target": "M1", "first_ms": 0, "last_ms": 0,
                                    "add": {"count": 1, "weight_kg": 2.5}, "max": {}}]},
    "ingest_weekly_flows": {"rows": [{"id": "M1|2025-01-06", "merchant": "M1",
                                      "week": "2025-01-06", "flows": _FLOWS}]},
    "ingest_labels": {"rows": [{"id": "M1", "label": "fraud", "source": "test", "ts_ms": None}]},
    "ingest_defaults": {"rows": [{"id": "M1", "defaulted": 1, "observed_on": "2025-06-30"}]},
    "ledger_lock_file": {"key": "k", "content": {"size": 1, "head": b"x"}},
    "ledger_file": {"key": "k"},
    "ledger_take_file": {"key": "k", "owner": {"id": "1@h/0.00", "pid": 1, "host": "h"}},
    "ledger_heartbeat": {"key": "k", "owner": "1@h/0.00"},
    "ledger_begin_file": {"key": "k", "owner": "1@h/0.00", "generation": 0,
                          "props": {"kind": "payments", "batch_size": 10}},
    "ledger_record_batch": {"id": "k:0:0", "key": "k", "generation": 0, "n": 0, "token": "t",
                            "owner": "1@h/0.00", "merchants": ["M1"]},
    "ledger_applied_batches": {"key": "k", "generation": 0},
    "ledger_finish_file": {"key": "k", "owner": "1@h/0.00", "summary": {"rows_read": 1}},
    "ledger_release_file": {"key": "k", "owner": "1@h/0.00"},
    "ledger_same_start": {"kind": "payments", "key": "k"},
    "ledger_unrecorded": {"kind": "payments"},
    "job_lock_merge": {"name": "refresh"},
    "job_lock": {"name": "refresh"},
    "job_lock_take": {"name": "refresh", "owner": {"id": "1@h/0.00", "pid": 1, "host": "h"},
                      "job": "refresh"},
    "job_lock_heartbeat": {"name": "refresh", "owner": "1@h/0.00"},
    "job_lock_release": {"name": "refresh", "owner": "1@h/0.00"},
    "case_decisions": {"decided": ["confirmed_fraud", "cleared"]},
    "case_open": {"id": "CASE-1", "event": "CASE-1|0", "kind": "merchant", "about": "M1",
                  "title": "老王面馆", "user": "alice", "note": None},
    "case_lock": {"id": "CASE-1"},
    "case_state": {"id": "CASE-1", "event": "CASE-1|1"},
    "case_assign": {"id": "CASE-1", "event": "CASE-1|1", "from": None, "to": "bob",
                    "user": "alice", "note": None},
    "case_move": {"id": "CASE-1", "event": "CASE-1|2", "from": "open", "to": "in_progress",
                  "decided": False, "members": None, "user": "bob", "note": None},
    "case_cluster_members": {"cluster": "C1"},
    "case_by_id": {"id": "CASE-1"},
    "case_list": {"statuses": ["open"], "assignee": None, "kind": None, "about": None,
                  "limit": 10},
    "case_events": {"id": "CASE-1"},
    "embedding_index": {"name": "merchant_embedding", "prop": "embedding"},
    "fastrp_index_create": {"name": "merchant_fastrp", "options": {"indexConfig": {
        "vector.dimensions": 2, "vector.similarity_function": "cosine",
        "vector.quantization.enabled": False}}},
    "embedding_index_create": {"name": "merchant_embedding", "options": {"indexConfig": {
        "vector.dimensions": 2, "vector.similarity_function": "cosine",
        "vector.quantization.enabled": False}}},
    "embedding_index_await": {"name": "merchant_embedding", "seconds": 60},
    "embedding_index_drop": {"name": "merchant_embedding"},
    "embedding_of_merchant": {"id": "M1", "run": _RUN["run"], "prop": "fastrp"},
    "similar_merchants": {"id": "M1", "run": _RUN["run"], "index": "merchant_fastrp",
                          "prop": "fastrp", "candidates": 5},
    "scores_write_clusters": _RUN | {"rows": [{
        "id": "C1", "size": 1, "collusion_score": 0.5, "group_pd": 0.1, "credit_score": 700,
        "key_members": ["M1"], "top_factors": "[]", "top_links": "[]", "members": ["M1"],
        "event": "new", "joined": ["M1"], "left": [], "merged_from": [], "split_into": []}]},
    "scores_write_merchants": _RUN | {"rows": [{
        "id": "M1", "cluster_id": "C1", "ring_score": 0.5, "pd": 0.1, "credit_score": 700,
        "embedding": [0.1, 0.2], "fastrp": [0.3, 0.4]}], "staged": False},
    "scores_begin_run": _RUN | {"kind": "full", "as_of": _RUN["scored_at"], "seen": []},
    "scores_previous_members": {"run": _RUN["run"]},
    "scores_flip": {"run": _RUN["run"], "scored_at": _RUN["scored_at"],
                    "counts": {"merchants": 1, "clusters": 1, "memberships": 1}},
    "scores_flip_incremental": {"run": _RUN["run"], "base": "no-such-run", "retired": [],
                                "scored_at": _RUN["scored_at"], "read_merchants": None},
    "ingest_touched": {"since": datetime(2026, 1, 1, tzinfo=UTC), "seen": []},
    "scores_prune": {"run": _RUN["run"], "merchant_run": _RUN["run"], "limit": 10},
    "scores_drop_failed": {"run": _RUN["run"], "limit": 10},
    "scores_cluster_history": {"cluster": "C1"},
    "scores_runs": {},
    "scores_run_counts": {"run": _RUN["run"]},
    "scores_merchants_page": {"run": _RUN["run"], "embeddings": True, "after": "", "limit": 10},
    "scores_merchants_of": {"run": _RUN["run"], "ids": ["M1"]},
    "scores_clusters_page": {"run": _RUN["run"], "after": "", "limit": 10},
    "scores_training_data": {},
    "ui_cluster_table": {"run": _RUN["run"]},
    "ui_warm_store": {},
    "ui_score_histograms": {"run": _RUN["run"], "bins": 20},
    "ui_merchant": {"id": "M1", "run": _RUN["run"]},
    "ui_merchant_search": {"id": "M1", "text": "面馆", "limit": 5},
    "ui_ego_start": {"id": "M1"},
    "ui_ego_expand": {"frontier": ["4:x:0"], "types": ["PAID", "USES"], "cap": 5},
    "ui_node_details": {"ids": ["M1"], "run": _RUN["run"]},
    "ui_shortest_paths": {"a": "M1", "b": "M1", "types": ["PAID"], "limit": 5},
    "ui_cluster_score": {"cluster": "C1", "run": _RUN["run"]},
    "ui_member_links": {"ids": ["M1"]},
    "ui_weekly_flows": {"ids": ["M1"]},
    "ui_riskiest_merchants": {"min_score": 0.1, "limit": 5},
    "ui_shared_identifiers": {"id": "M1", "limit": 5},
}


_FIRST = ("ingest_merchants", "ledger_lock_file", "ledger_take_file", "job_lock_merge",
          "job_lock_take", "embedding_index_create", "fastrp_index_create", "case_open")
_LAST = ("ledger_release_file", "job_lock_release", "embedding_index_drop")


def _order(name: str) -> tuple[int, str]:
    if name in _FIRST:
        return -len(_FIRST) + _FIRST.index(name), name
    return (1 if name in _LAST else 0), name


def test_every_query_file_has_test_parameters() -> None:
    assert set(queries.names()) == set(PARAMS)


def test_every_query_runs_in_file_order(graph: Graph) -> None:
    # One graph for all, in an order where each query finds what it needs.
    for name in sorted(PARAMS, key=_order):
        query = queries.load(name)
        assert query.name == name
        assert ("$" in query.text) == bool(PARAMS[name]), name
        graph.write(query, **PARAMS[name])
    paid = graph.read("MATCH (:Consumer {id: 'C1'})-[p:PAID]->(:Merchant {id: 'M1'}) "
                      "RETURN p.count AS n")
    assert paid == [{"n": 1}]


def test_unknown_query_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="stats_nodes"):
        queries.load("no_such_query")
