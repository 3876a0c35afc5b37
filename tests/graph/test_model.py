"""The graph model agrees with the input kinds, the schema and every Cypher file that
writes what it describes: one vocabulary, checked rather than hoped for."""

from __future__ import annotations

import re

import pytest

from guanxi.graph import model
from guanxi.graph.schema import NODE_LABELS, statements
from guanxi.ingest.batches import _PAIR_QUERY, IDENTIFIER_COLUMNS
from guanxi.ingest.kinds import KINDS
from guanxi.queries import load


def test_every_input_column_named_by_the_model_exists() -> None:
    for node in model.NODES:
        if node.kind:
            assert node.column in KINDS[node.kind].columns, node
    for rel in model.RELATIONS:
        if rel.kind:
            assert set(rel.columns) <= set(KINDS[rel.kind].columns), rel
    for flow in model.WEEKLY_FLOWS:
        kinds = {r.kind for r in model.RELATIONS if r.type == flow.type}
        assert all(flow.amount in KINDS[k].columns for k in kinds), flow


def test_the_schema_constrains_every_label_of_the_model() -> None:
    assert model.node_labels() == NODE_LABELS
    ddl = " ".join(statements())
    for label in (*model.node_labels(), *model.LEDGER_LABELS, *model.JOB_LABELS):
        assert f"FOR (n:{label}) REQUIRE n.id IS UNIQUE" in ddl


@pytest.mark.parametrize("rel", [r for r in model.RELATIONS if r.family == "flow"],
                         ids=lambda r: "-".join(r.key))
def test_each_pair_query_writes_exactly_the_aggregates_its_relation_lists(
        rel: model.Relation) -> None:
    text = load(_PAIR_QUERY[rel.source, rel.type]).text
    assert f":{rel.source} {{id: r.source}}" in text and f":{rel.type}]->" in text
    variable = re.search(rf"\[(\w+):{rel.type}\]", text).group(1)
    set_here = set(re.findall(rf"\b{variable}\.(\w+)\s*=", text))
    added = {a.name for a in rel.aggregates if a.op in ("count", "sum")}
    maxima = {a.name for a in rel.aggregates if a.op == "max" and a.dtype != "datetime"}
    # New pairs take the add and max maps whole; later batches set each property.
    assert set_here == {a.name for a in rel.aggregates}
    assert all(f"r.add.{name}" in text for name in added)
    assert all(f"r.max.{name}" in text for name in maxima)


def test_the_weekly_query_adds_every_flow_property() -> None:
    text = load("ingest_weekly_flows").text
    for name in model.week_property_names():
        assert f"w.{name} = w.{name} + r.flows.{name}" in text


def test_identifier_links_follow_the_model() -> None:
    text = load("ingest_merchants").text
    for rel in model.relations_of_kind("merchants"):
        column = rel.columns[1]
        assert column in IDENTIFIER_COLUMNS
        assert (f"FOREACH (id IN r.{column} | MERGE (x:{rel.target} {{id: id}}) "
                f"MERGE (m)-[:{rel.type}]->(x))") in text


def test_lookups_name_what_they_cannot_find() -> None:
    assert model.relation("Merchant", "PAID", "Merchant").kind == "payments"
    with pytest.raises(KeyError, match="Consumer-PAID-Merchant"):
        model.relation("Merchant", "PAID", "Consumer")
    assert model.relation_types("flow") == ("PAID", "SUPPLIES", "SHIPPED_TO")
