"""The synthetic folder loads with zero rejects and the graph matches its manifest."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli

from guanxi.graph.connection import Graph
from guanxi.graph.stats import graph_stats


def test_synth_folder_loads_exactly(graph: Graph, tmp_path: Path, neo4j_env: dict) -> None:
    folder = tmp_path / "synth"
    made = run_cli("synth", "--merchants", "3000", "--seed", "3", "--out", str(folder),
                   "--difficulty", "hard", "--quiet")
    assert made.returncode == 0, made.stderr
    loaded = run_cli("ingest", str(folder), "--json", env=neo4j_env)
    assert loaded.returncode == 0, loaded.stderr
    report = json.loads(loaded.stdout)
    assert report["error"] is None
    assert {f["kind"]: f["rejected"] for f in report["files"]} == {
        k: 0 for k in ("merchants", "payments", "supply", "shipments", "labels", "defaults")}

    manifest = json.loads((folder / "manifest.json").read_text())
    rows, entities = manifest["rows"], manifest["entities"]
    stats = graph_stats(graph)
    nodes, rels, behind = stats["nodes"], stats["relationships"], stats["rows"]
    assert {
        "Merchant": nodes["Merchant"], "Consumer": nodes["Consumer"], "Person": nodes["Person"],
        "Phone": nodes["Phone"], "Device": nodes["Device"],
        "BankAccount": nodes["BankAccount"], "Address": nodes["Address"],
        "ServiceProvider": nodes["ServiceProvider"],
    } == {
        "Merchant": entities["merchants"], "Consumer": entities["consumers"],
        "Person": entities["persons"], "Phone": entities["phones"],
        "Device": entities["devices"], "BankAccount": entities["bank_accounts"],
        "Address": entities["addresses"], "ServiceProvider": entities["service_providers"],
    }
    pairs = entities["pairs"]
    assert (rels["PAID"], rels["SUPPLIES"], rels["SHIPPED_TO"]) == (
        pairs["payments"], pairs["supply"], pairs["shipments"])
    assert (behind["PAID"], behind["SUPPLIES"], behind["SHIPPED_TO"]) == (
        rows["payments"], rows["supply"], rows["shipments"])
    m2m = graph.read("MATCH (:Merchant)-[p:PAID]->(:Merchant) RETURN count(p) AS n")[0]["n"]
    assert m2m == pairs["merchant_payments"]
    labelled = graph.read("MATCH (m:Merchant) RETURN count(m.label) AS labels, "
                          "count(m.defaulted) AS defaults")[0]
    assert labelled == {"labels": rows["labels"], "defaults": rows["defaults"]}
