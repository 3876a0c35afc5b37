"""``guanxi ingest`` end to end against the real Neo4j: tiny hand-built folders
where the right graph is known."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import MERCHANTS, PAYMENTS, SHIPMENTS, SUPPLY, run_cli

from guanxi.errors import InputError
from guanxi.graph.connection import Graph
from guanxi.ingest.load import IngestOptions, ingest_folder

LABELS = pd.DataFrame({"merchant_id": ["M2", "M5"], "label": ["fraud", "Legit"],
                       "source": ["investigation", "audit"], "ts": ["2025-03-01", ""]})
DEFAULTS = pd.DataFrame({"merchant_id": ["M1", "M4"], "defaulted": ["0", "1"],
                         "observed_on": ["2025-06-30", "2025-05-01"]})


def write_folder(folder: Path, encoding: str = "utf-8", **frames: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, frame in frames.items():
        frame.to_csv(folder / f"{kind}.csv", index=False, encoding=encoding)
    return folder


def full_folder(folder: Path) -> Path:
    return write_folder(folder, merchants=MERCHANTS, payments=PAYMENTS, supply=SUPPLY,
                        shipments=SHIPMENTS, labels=LABELS, defaults=DEFAULTS)


def load(graph: Graph, folder: Path, **options) -> dict:
    options.setdefault("rejects", folder.parent / f"{folder.name}-rejects.csv")
    report = ingest_folder(graph, folder, IngestOptions(**options))
    return report.as_dict()


def snapshot(graph: Graph) -> dict:
    """Everything ingest writes, as plain sorted values (for whole-graph equality)."""
    nodes = graph.read("MATCH (n) WHERE NOT n:IngestFile AND NOT n:IngestBatch "
                       "RETURN labels(n)[0] AS label, n {.*} AS props ORDER BY label, n.id")
    rels = graph.read(
        "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS type, b.id AS b, r {.*} AS props "
        "ORDER BY a, type, b")
    for rel in rels:
        for key, value in rel["props"].items():
            if isinstance(value, float):
                rel["props"][key] = round(value, 6)
    return {"nodes": nodes, "relationships": rels}


def test_golden_path_builds_the_expected_graph(graph: Graph, tmp_path: Path) -> None:
    report = load(graph, full_folder(tmp_path / "in"))
    assert report["error"] is None
    assert [(f["kind"], f["status"], f["rows_read"], f["rejected"]) for f in report["files"]] == [
        ("merchants", "loaded", 5, 0), ("payments", "loaded", 8, 0), ("supply", "loaded", 3, 0),
        ("shipments", "loaded", 2, 0), ("labels", "loaded", 2, 0), ("defaults", "loaded", 2, 0)]

    m1 = graph.read("MATCH (m:Merchant {id: 'M1'}) RETURN m {.*} AS m")[0]["m"]
    assert m1["name"] == "老王面馆" and m1["district"] == "西湖区"
    assert str(m1["registered_on"]) == "2020-01-05"
    assert m1["defaulted"] == 0 and "label" not in m1
    shared = graph.read("MATCH (m:Merchant)-[:USES]->(:Phone {id: '13800000002'}) "
                        "RETURN collect(m.id) AS ids")[0]["ids"]
    assert sorted(shared) == ["M2", "M3"]
    owners = graph.read("MATCH (m:Merchant)-[:OWNED_BY]->(p:Person) RETURN m.id AS m, p.id AS p "
                        "ORDER BY m")
    assert owners == [{"m": "M1", "p": "P1"}, {"m": "M2", "p": "P2"}, {"m": "M3", "p": "P2"},
                      {"m": "M4", "p": "P3"}]
    assert graph.read("MATCH (:Merchant)-[r:ONBOARDED_BY]->() RETURN count(r) AS n")[0]["n"] == 5

    paid = graph.read(
        "MATCH (a)-[p:PAID]->(b) RETURN a.id AS a, labels(a)[0] AS kind, b.id AS b, "
        "p.count AS n, p.amount AS amount, p.amount_max AS max, p.round_count AS round, "
        "p.night_count AS night, toString(p.first_ts) AS first, toString(p.last_ts) AS last "
        "ORDER BY a, b")
    assert paid[0] == {"a": "C1", "kind": "Consumer", "b": "M1", "n": 2, "amount": 35.5,
                       "max": 20.5, "round": 0, "night": 1,
                       "first": "2025-01-01T12:00:00Z", "last": "2025-01-02T02:30:00Z"}
    m2m3 = next(p for p in paid if p["a"] == "M2")
    assert (m2m3["kind"], m2m3["n"], m2m3["amount"], m2m3["round"]) == ("Merchant", 2, 8000.0, 2)
    assert len(paid) == 6 and sum(p["n"] for p in paid) == 8

    supply = graph.read("MATCH (a)-[s:SUPPLIES]->(b) RETURN a.id AS a, b.id AS b, "
                        "s.count AS n, s.amount AS amount ORDER BY b")
    assert supply == [{"a": "M3", "b": "M2", "n": 2, "amount": 3500.5},
                      {"a": "M3", "b": "M4", "n": 1, "amount": 800.0}]
    shipped = graph.read("MATCH (a)-[s:SHIPPED_TO]->(b) RETURN s.count AS n, s.weight_kg AS w")
    assert shipped == [{"n": 2, "w": 120.5}]
    labels = graph.read("MATCH (m:Merchant) WHERE m.label IS NOT NULL "
                        "RETURN m.id AS id, m.label AS label, m.label_source AS source ORDER BY id")
    assert labels == [{"id": "M2", "label": "fraud", "source": "investigation"},
                      {"id": "M5", "label": "legit", "source": "audit"}]

    weeks = {(w["m"], w["week"]): w["w"] for w in graph.read(
        "MATCH (w:MerchantWeek) RETURN w.merchant AS m, toString(w.week) AS week, "
        "w {.*} AS w")}
    m1 = weeks["M1", "2024-12-30"]  # Wed 1 Jan to Fri 3 Jan 2025: Monday 30 Dec
    assert (m1["paid_in_count"], m1["paid_in_amount"], m1["paid_out_count"]) == (3, 135.5, 0)
    assert weeks["M2", "2024-12-30"]["paid_out_amount"] == 5000.0  # merchant paying merchant
    assert weeks["M2", "2025-02-03"]["paid_out_count"] == 1
    m3 = weeks["M3", "2025-01-20"]
    assert (m3["sold_count"], m3["sold_amount"], m3["shipped_count"]) == (2, 2300.5, 1)
    assert weeks["M2", "2024-12-30"]["received_amount"] == 120.5  # shipments: kilograms
    assert weeks["M3", "2024-12-30"]["paid_in_amount"] == 5000.0
    assert len(weeks) == len({(w["m"], w["week"]) for w in graph.read(
        "MATCH (w:MerchantWeek) RETURN w.merchant AS m, w.week AS week")})

    by_kind = {r["kind"]: r["ms"] for r in graph.read(
        "MATCH (f:IngestFile), (b:IngestBatch {file: f.id}) UNWIND b.merchants AS m "
        "WITH f.kind AS kind, m ORDER BY m RETURN kind, collect(DISTINCT m) AS ms")}
    assert by_kind["payments"] == ["M1", "M2", "M3", "M4", "M5"]
    assert by_kind["supply"] == ["M2", "M3", "M4"] and by_kind["labels"] == ["M2", "M5"]


def test_loading_twice_changes_nothing(graph: Graph, tmp_path: Path) -> None:
    folder = full_folder(tmp_path / "in")
    load(graph, folder)
    before = snapshot(graph)
    again = load(graph, folder)
    assert {f["status"] for f in again["files"]} == {"skipped"}
    assert snapshot(graph) == before


def test_split_load_equals_whole_load(graph: Graph, tmp_path: Path) -> None:
    january = PAYMENTS[PAYMENTS["ts"] < "2025-02"]
    february = PAYMENTS[PAYMENTS["ts"] >= "2025-02"]
    assert len(january) and len(february)
    load(graph, full_folder(tmp_path / "whole"))
    whole = snapshot(graph)

    graph.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS")
    load(graph, write_folder(tmp_path / "jan", merchants=MERCHANTS, payments=january,
                             supply=SUPPLY.iloc[:1], shipments=SHIPMENTS.iloc[:1]))
    load(graph, write_folder(tmp_path / "feb", merchants=MERCHANTS, payments=february,
                             supply=SUPPLY.iloc[1:], shipments=SHIPMENTS.iloc[1:],
                             labels=LABELS, defaults=DEFAULTS))
    assert snapshot(graph) == whole


def test_small_batches_give_the_same_graph(graph: Graph, tmp_path: Path) -> None:
    folder = full_folder(tmp_path / "in")
    load(graph, folder)
    whole = snapshot(graph)
    graph.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS")
    load(graph, folder, batch_size=2)
    assert snapshot(graph) == whole


def test_unknown_merchants_are_rejected_with_their_lines(graph: Graph, tmp_path: Path) -> None:
    payments = pd.concat([PAYMENTS, pd.DataFrame({
        "payer_id": ["C9", "M1"], "payee_id": ["M404", "M1"], "amount": ["5", "5"],
        "ts": ["2025-01-01", "2025-01-01"]})], ignore_index=True)
    supply = pd.DataFrame({"supplier_id": ["M3", "X1"], "buyer_id": ["M2", "M2"],
                           "amount": ["1", "2"], "ts": ["2025-01-01"] * 2})
    folder = write_folder(tmp_path / "in", merchants=MERCHANTS, payments=payments, supply=supply)
    report = load(graph, folder, max_reject_rate=0.5)
    assert report["error"] is None
    rejects = pd.read_csv(tmp_path / "in-rejects.csv", dtype=str)
    rows = rejects[["source_file", "line", "column", "value"]].values.tolist()
    assert rows == [["payments.csv", "10", "payee_id", "M404"],
                    ["payments.csv", "11", "payee_id", "M1"],
                    ["supply.csv", "3", "supplier_id", "X1"]]
    assert "unknown merchant id" in rejects["reason"].iloc[0]
    assert "payer_id equals payee_id" in rejects["reason"].iloc[1]
    assert graph.read("MATCH ()-[p:PAID]->() RETURN sum(p.count) AS n")[0]["n"] == 8
    assert graph.read("MATCH (m:Merchant) RETURN count(m) AS n")[0]["n"] == 5


def test_reject_rate_above_the_limit_writes_nothing_of_that_file(tmp_path: Path, graph: Graph,
                                                                  neo4j_env: dict) -> None:
    bad = PAYMENTS.copy()
    bad.loc[0, "amount"] = "-5"
    bad.loc[1, "ts"] = "2999-01-01T00:00:00"
    bad.loc[2, "payee_id"] = ""
    folder = write_folder(tmp_path / "in", merchants=MERCHANTS, payments=bad)
    rejects = tmp_path / "rejects.csv"
    result = run_cli("ingest", str(folder), "--rejects", str(rejects), "--max-reject-rate",
                     "0.2", "--quiet", env=neo4j_env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: payments.csv: 3 of 8 rows rejected (37.5%)")
    assert "nothing from this file was written" in last and "Traceback" not in result.stderr
    assert graph.read("MATCH ()-[p:PAID]->() RETURN count(p) AS n")[0]["n"] == 0
    assert graph.read("MATCH (m:Merchant) RETURN count(m) AS n")[0]["n"] == 5  # good file stays
    reasons = pd.read_csv(rejects, dtype=str)
    assert reasons["line"].tolist() == ["2", "3", "4"]
    assert reasons["column"].tolist() == ["amount", "ts", "payee_id"]

    # Under a looser limit the same folder loads, exit 0, with the rejects reported.
    result = run_cli("ingest", str(folder), "--rejects", str(rejects), "--max-reject-rate",
                     "0.5", "--json", env=neo4j_env)
    assert result.returncode == 0, result.stderr
    payments = json.loads(result.stdout)["files"][1]
    assert (payments["status"], payments["rejected"], payments["rows_written"]) == ("loaded", 3, 5)


def test_gbk_file_with_chinese_names_round_trips(graph: Graph, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "in", encoding="gbk", merchants=MERCHANTS, payments=PAYMENTS)
    assert "老王面馆".encode("gbk") in (folder / "merchants.csv").read_bytes()
    assert load(graph, folder)["error"] is None
    names = graph.read("MATCH (m:Merchant) RETURN m.name AS name, m.district AS d ORDER BY m.id")
    assert [n["name"] for n in names] == MERCHANTS["name"].tolist()
    assert names[0]["d"] == "西湖区"


def test_mapping_renames_columns_and_names_files(graph: Graph, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_folder(folder, merchants=MERCHANTS)
    PAYMENTS.rename(columns={"payer_id": "from_account", "payee_id": "to_account",
                             "ts": "paid_at"}).to_csv(folder / "txn_2025.csv", index=False)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[payments]\nfile = "txn_2025.csv"\ntimezone = "UTC"\n'
                       '[payments.columns]\nfrom_account = "payer_id"\n'
                       'to_account = "payee_id"\npaid_at = "ts"\n', encoding="utf-8")
    report = load(graph, folder, mapping=mapping)
    assert report["error"] is None and report["files"][1]["rows_written"] == 8
    assert graph.read("MATCH ()-[p:PAID]->() RETURN sum(p.count) AS n")[0]["n"] == 8


def test_missing_folder_is_one_clear_line(tmp_path: Path, neo4j_env: dict) -> None:
    result = run_cli("ingest", str(tmp_path / "nope"), env=neo4j_env)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and "nope" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_file_fails_before_anything_is_written(graph: Graph, tmp_path: Path,
                                                         neo4j_env: dict) -> None:
    folder = write_folder(tmp_path / "in", merchants=MERCHANTS)
    (folder / "payments.csv").write_bytes(b"PK\x03\x04 this is a zip, not a CSV")
    result = run_cli("ingest", str(folder), "--quiet", env=neo4j_env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "payments.csv" in last and "zip" in last
    # Files are inspected before any is written: nothing of the folder is loaded.
    assert graph.read("MATCH (m:Merchant) RETURN count(m) AS n")[0]["n"] == 0


@pytest.mark.parametrize("fmt", ["parquet"])
def test_parquet_folder_gives_the_same_graph_as_csv(graph: Graph, tmp_path: Path,
                                                    fmt: str) -> None:
    load(graph, full_folder(tmp_path / "csv"))
    from_csv = snapshot(graph)
    graph.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS")
    folder = tmp_path / fmt
    folder.mkdir()
    for kind, frame in {"merchants": MERCHANTS, "payments": PAYMENTS, "supply": SUPPLY,
                        "shipments": SHIPMENTS, "labels": LABELS, "defaults": DEFAULTS}.items():
        frame.replace("", None).to_parquet(folder / f"{kind}.parquet", index=False)
    load(graph, folder)
    assert snapshot(graph) == from_csv


def test_folder_without_merchants_needs_merchants_in_the_graph(graph: Graph,
                                                               tmp_path: Path) -> None:
    only_payments = write_folder(tmp_path / "feb", payments=PAYMENTS)
    with pytest.raises(InputError, match="has no merchants file and the graph has no merchants"):
        load(graph, only_payments)
    assert graph.read("MATCH (n:Consumer) RETURN count(n) AS n")[0]["n"] == 0
    load(graph, write_folder(tmp_path / "jan", merchants=MERCHANTS))
    report = load(graph, only_payments)
    assert report["error"] is None and report["files"][0]["rows_written"] == 8


# --- the same bytes under another name or mapping ------------------------------------

def paid_rows(graph: Graph) -> int:
    return graph.read("MATCH ()-[p:PAID]->() RETURN sum(p.count) AS n")[0]["n"]


@pytest.mark.parametrize("mapping_text", [
    '[payments]\nfile = "payments.csv"\n',  # restates the default
    '[payments]\ntimezone = "Asia/Shanghai"\n',  # reads the same bytes differently
    '[payments]\nencoding = "utf-8"\n[payments.columns]\nPAYER_ID = "payer_id"\n',
])
def test_a_changed_mapping_never_loads_the_same_bytes_twice(graph: Graph, tmp_path: Path,
                                                             mapping_text: str) -> None:
    folder = full_folder(tmp_path / "in")
    load(graph, folder)
    before = snapshot(graph)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(mapping_text, encoding="utf-8")
    again = load(graph, folder, mapping=mapping)
    assert again["error"] is None
    assert {f["status"] for f in again["files"]} == {"skipped"}
    payments = again["files"][1]
    if "timezone" in mapping_text:
        assert payments["note"].startswith("already loaded under another mapping")
        assert any('"timezone": "UTC"' in w and "not loaded twice" in w and "payments.csv" in w
                   for w in again["warnings"])
    else:
        assert payments["note"] == "already loaded (same content)"
    assert snapshot(graph) == before and paid_rows(graph) == 8


def test_the_same_bytes_under_another_name_and_folder_are_recognised(graph: Graph,
                                                                      tmp_path: Path) -> None:
    load(graph, full_folder(tmp_path / "in"))
    before = snapshot(graph)
    other = tmp_path / "copy"
    other.mkdir()
    for name in ("merchants.csv", "payments.csv"):
        (other / name.replace(".csv", "_2025.csv")).write_bytes((tmp_path / "in" / name)
                                                                .read_bytes())
    mapping = tmp_path / "m.toml"
    mapping.write_text('[merchants]\nfile = "merchants_2025.csv"\n'
                       '[payments]\nfile = "payments_2025.csv"\n', encoding="utf-8")
    report = load(graph, other, mapping=mapping)
    assert [f["status"] for f in report["files"]] == ["skipped", "skipped"]
    assert snapshot(graph) == before


def test_reload_replaces_merchants_and_never_adds_payments_twice(graph: Graph,
                                                                 tmp_path: Path) -> None:
    folder = full_folder(tmp_path / "in")
    load(graph, folder)
    mapping = tmp_path / "m.toml"  # swap city and district, phone and device
    mapping.write_text('[merchants.columns]\ndistrict = "city"\ncity = "district"\n'
                       'phone = "device_id"\ndevice_id = "phone"\n', encoding="utf-8")
    plain = load(graph, folder, mapping=mapping)
    assert plain["files"][0]["status"] == "skipped"
    assert "--reload" in " ".join(plain["warnings"])

    reloaded = load(graph, folder, mapping=mapping, reload=True)
    assert reloaded["error"] is None
    statuses = {f["kind"]: f["status"] for f in reloaded["files"]}
    assert statuses["merchants"] == "reloaded" and statuses["payments"] == "skipped"
    assert "would count them twice" in reloaded["files"][1]["note"]
    m1 = graph.read("MATCH (m:Merchant {id: 'M1'}) RETURN m.city AS city, m.district AS d")
    assert m1 == [{"city": "西湖区", "d": "杭州"}]
    # Links are replaced too: the old reading's phone and device links are gone, and an
    # identifier node no merchant uses any more with them.
    links = graph.read("MATCH (:Merchant {id: 'M1'})-[:USES]->(x) "
                       "RETURN labels(x)[0] AS label, x.id AS id ORDER BY label, id")
    assert links == [{"label": "Address", "id": "西湖路1号"},
                     {"label": "BankAccount", "id": "6222000011112222"},
                     {"label": "Device", "id": "13800000001"}, {"label": "Phone", "id": "D1"}]
    assert graph.read("MATCH (x:Phone {id: '13800000001'}) RETURN count(x) AS n") == [{"n": 0}]
    assert graph.read("MATCH (:Merchant)-[r:OWNED_BY]->() RETURN count(r) AS n") == [{"n": 4}]
    assert graph.read("MATCH (m:Merchant) RETURN count(m) AS n")[0]["n"] == 5
    assert paid_rows(graph) == 8
    # The reload is recorded: the same mapping again skips, as any load does.
    assert {f["status"] for f in load(graph, folder, mapping=mapping)["files"]} == {"skipped"}


def test_a_reload_touches_the_merchants_that_shared_an_identifier(graph: Graph,
                                                                  tmp_path: Path) -> None:
    # M4, M5 first, then M1-M3, which share agents with them (SP1: M1, M2, M5; SP2: M3, M4).
    load(graph, write_folder(tmp_path / "first", merchants=MERCHANTS.iloc[3:]))
    folder = write_folder(tmp_path / "in", merchants=MERCHANTS.iloc[:3])
    load(graph, folder)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[merchants.columns]\nphone = "device_id"\ndevice_id = "phone"\n',
                       encoding="utf-8")
    assert load(graph, folder, mapping=mapping, reload=True)["error"] is None
    # The reload replaced M1-M3's links: the refresh job must also re-score the
    # merchants that shared an identifier with them (they may have lost the link).
    touched = graph.read("MATCH (b:IngestBatch) WITH b ORDER BY b.at DESC LIMIT 1 "
                         "RETURN b.merchants AS ids")[0]["ids"]
    assert sorted(touched) == ["M1", "M2", "M3", "M4", "M5"]


def test_option_values_out_of_range_are_refused_by_name(graph: Graph, tmp_path: Path,
                                                         neo4j_env: dict) -> None:
    folder = full_folder(tmp_path / "in")
    for option, value, says in (("--workers", "0", "--workers must be at least 1 (got 0)"),
                                ("--batch-size", "-5", "--batch-size must be at least 1"),
                                ("--max-reject-rate", "nan", "--max-reject-rate must be between")):
        result = run_cli("ingest", str(folder), option, value, env=neo4j_env)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().startswith(f"error: {says}"), result.stderr
    assert graph.read("MATCH (m:Merchant) RETURN count(m) AS n")[0]["n"] == 0


def test_columns_no_kind_knows_are_named_once_per_file(graph: Graph, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "in", merchants=MERCHANTS.assign(vip="y"),
                          payments=PAYMENTS.assign(memo="x", Terminal="t1"))
    report = load(graph, folder)
    assert report["error"] is None
    unused = [w for w in report["warnings"] if "columns not used" in w]
    assert unused == ["merchants.csv: columns not used: vip (rename them in a mapping file if "
                      "they are needed)",
                      "payments.csv: columns not used: memo, Terminal (rename them in a mapping "
                      "file if they are needed)"]


# --- a file that extends one already loaded ---------------------------------------------

def _wipe(graph: Graph) -> None:
    graph.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")


def _many_payments(n: int) -> pd.DataFrame:
    """``n`` payments among the five merchants (enough bytes to pass HEAD_BYTES)."""
    base = pd.concat([PAYMENTS] * (n // len(PAYMENTS) + 1), ignore_index=True).iloc[:n]
    return base.assign(amount=[f"{10 + i * 0.37:.2f}" for i in range(n)])


@pytest.mark.parametrize("rows", [8, 400])
def test_a_file_with_rows_appended_loads_only_the_new_rows(graph: Graph, tmp_path: Path,
                                                           rows: int) -> None:
    """Monday's exports, then the same files with rows appended (Tuesday's plain,
    Wednesday's gzipped): the graph equals one load of Wednesday's files."""
    payments = PAYMENTS if rows == 8 else _many_payments(rows)
    days = {"monday": rows * 5 // 8, "tuesday": rows * 7 // 8, "wednesday": rows}
    whole = write_folder(tmp_path / "whole", merchants=MERCHANTS, payments=payments,
                         supply=SUPPLY, shipments=SHIPMENTS)
    assert load(graph, whole)["error"] is None
    want = snapshot(graph)
    _wipe(graph)

    assert load(graph, write_folder(tmp_path / "monday", merchants=MERCHANTS,
                                    payments=payments.iloc[:days["monday"]],
                                    supply=SUPPLY.iloc[:1], shipments=SHIPMENTS.iloc[:1])
                )["error"] is None
    tuesday = load(graph, write_folder(tmp_path / "tuesday",
                                       payments=payments.iloc[:days["tuesday"]],
                                       supply=SUPPLY, shipments=SHIPMENTS))
    assert tuesday["error"] is None
    files = {f["kind"]: f for f in tuesday["files"]}
    assert files["payments"]["rows_read"] == days["tuesday"] - days["monday"]
    assert files["payments"]["after_line"] == days["monday"] + 1  # the header and Monday's
    assert files["payments"]["note"].startswith(
        f"rows after line {days['monday'] + 1:,} only: the lines before are "
        f"{(tmp_path / 'monday' / 'payments.csv').resolve()}")
    assert files["supply"]["rows_read"] == 2 and files["shipments"]["rows_read"] == 1

    wednesday = tmp_path / "wednesday"
    wednesday.mkdir()
    payments.to_csv(wednesday / "payments.csv.gz", index=False, compression="gzip")
    report = load(graph, wednesday)
    assert report["error"] is None
    assert report["files"][0]["rows_read"] == rows - days["tuesday"]
    assert report["files"][0]["after_line"] == days["tuesday"] + 1  # the longest loaded start
    assert snapshot(graph) == want
    assert paid_rows(graph) == rows
    # Monday's and Tuesday's files again: already loaded, nothing counted twice.
    for day in ("monday", "tuesday"):
        again = load(graph, tmp_path / day)
        assert {f["status"] for f in again["files"]} == {"skipped"}
    assert snapshot(graph) == want


def test_a_start_whose_last_line_has_no_line_end_is_refused(graph: Graph,
                                                            tmp_path: Path) -> None:
    monday = write_folder(tmp_path / "monday", merchants=MERCHANTS, payments=PAYMENTS.iloc[:5])
    cut = (monday / "payments.csv").read_bytes().rstrip(b"\n")
    (monday / "payments.csv").write_bytes(cut)  # its last row may have been cut short
    assert load(graph, monday)["error"] is None
    before = snapshot(graph)
    tuesday = tmp_path / "tuesday"
    tuesday.mkdir()
    (tuesday / "payments.csv").write_bytes(cut + b"0\n" + b"C9,M1,5,2025-01-09\n")
    report = load(graph, tuesday)
    assert report["error"]["message"] == (
        f"payments.csv begins with all of {(monday / 'payments.csv').resolve()} (loaded "
        f"{_finished(graph)}), which ends without a line end after its last row: that row "
        "may have changed, so the rows that are new are not known")
    assert report["files"][0]["status"] == "failed"
    assert snapshot(graph) == before and paid_rows(graph) == 5


def test_an_extension_read_under_other_settings_is_refused(graph: Graph,
                                                           tmp_path: Path) -> None:
    assert load(graph, write_folder(tmp_path / "monday", merchants=MERCHANTS,
                                    payments=PAYMENTS.iloc[:5]))["error"] is None
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[payments]\ntimezone = "Asia/Shanghai"\n', encoding="utf-8")
    report = load(graph, write_folder(tmp_path / "tuesday", payments=PAYMENTS),
                  mapping=mapping)
    said = report["error"]["message"]
    assert "which was read with" in said and "would now be read with" in said
    assert said.index("UTC") < said.index("would now") < said.index("Asia/Shanghai")
    assert paid_rows(graph) == 5


@pytest.mark.parametrize("second", ["edited", "older"])
def test_a_file_repeating_loaded_rows_without_extending_them_is_refused(
        graph: Graph, tmp_path: Path, second: str) -> None:
    """Same header and first rows as a loaded file (well past HEAD_BYTES), but not that
    file with rows appended: a re-export with one row edited, or an older, shorter
    export loaded after the longer one."""
    payments = _many_payments(400)
    first = payments.iloc[:300] if second == "edited" else payments
    assert load(graph, write_folder(tmp_path / "first", merchants=MERCHANTS,
                                    payments=first))["error"] is None
    before = snapshot(graph)
    if second == "edited":
        again = payments.copy()
        again.loc[200, "amount"] = "99.99"
    else:
        again = payments.iloc[:300]
    report = load(graph, write_folder(tmp_path / "second", payments=again))
    loaded = (tmp_path / "first" / "payments.csv").resolve()
    assert report["error"]["message"] == (
        f"payments.csv begins with the same rows as {loaded} (loaded "
        f"{_finished(graph)}) but is not that file with rows appended: loading it would "
        "count those rows twice")
    assert snapshot(graph) == before


def test_small_exports_loaded_out_of_order_count_each_row_once(graph: Graph,
                                                               tmp_path: Path) -> None:
    """Files under HEAD_BYTES: Monday's, Wednesday's, then Tuesday's (which Wednesday's
    holds): Tuesday's is refused, not loaded again after Monday's rows."""
    for day, rows in (("monday", 3), ("wednesday", 8)):
        assert load(graph, write_folder(tmp_path / day, merchants=MERCHANTS,
                                        payments=PAYMENTS.iloc[:rows]))["error"] is None
    report = load(graph, write_folder(tmp_path / "tuesday", payments=PAYMENTS.iloc[:5]))
    assert "begins with the same rows as" in report["error"]["message"]
    assert paid_rows(graph) == 8


@pytest.mark.parametrize("ending", [b"\r", b"\r\n"])
def test_rows_appended_to_a_file_with_other_line_ends(graph: Graph, tmp_path: Path,
                                                      ending: bytes) -> None:
    lines = (PAYMENTS.to_csv(index=False)).encode().splitlines()
    whole = ending.join(lines) + ending
    monday = ending.join(lines[:4]) + ending  # the header and three rows
    for day, data in (("monday", monday), ("tuesday", whole)):
        folder = write_folder(tmp_path / day, merchants=MERCHANTS)
        (folder / "payments.csv").write_bytes(data)
        report = load(graph, folder)
        assert report["error"] is None
    assert report["files"][1]["after_line"] == 4 and report["files"][1]["rows_read"] == 5
    assert paid_rows(graph) == 8


def test_a_start_that_ends_inside_a_quoted_field_is_refused(graph: Graph,
                                                            tmp_path: Path) -> None:
    """Monday's file stops inside a quoted field (its last row was rejected); Tuesday's
    completes that row: which rows are new is not known."""
    lines = PAYMENTS.to_csv(index=False).splitlines(keepends=True)
    monday = "".join(lines[:4]) + 'C3,M4,8.8,"2025-\n'
    folder = write_folder(tmp_path / "monday", merchants=MERCHANTS)
    (folder / "payments.csv").write_text(monday)
    assert load(graph, folder, max_reject_rate=1.0)["error"] is None
    folder = write_folder(tmp_path / "tuesday")
    (folder / "payments.csv").write_text(monday + '01-03T18:00"\n' + "".join(lines[5:]))
    said = load(graph, folder)["error"]["message"]
    assert "which ends inside a quoted field: that row may have changed" in said
    assert paid_rows(graph) == 3


def test_rows_of_a_file_another_ingest_is_loading_wait_for_it(graph: Graph,
                                                            tmp_path: Path) -> None:
    from guanxi.graph import ledger
    from guanxi.ingest.mapping import load_mapping
    from guanxi.ingest.reader import discover

    monday = write_folder(tmp_path / "monday", merchants=MERCHANTS, payments=PAYMENTS.iloc[:5])
    assert load(graph, write_folder(tmp_path / "m", merchants=MERCHANTS))["error"] is None
    # Another ingest (this live process) has claimed Monday's payments and is checking them.
    [src] = [s for s in discover(monday, load_mapping(None)) if s.kind == "payments"]
    ledger.claim_file(graph, ledger.file_key(src.sha256, src.kind), ledger.Owner.me(),
                      src.name, content={"kind": src.kind, "name": src.name, "path": "mon",
                                         "sha256": src.sha256, "size": src.size_bytes,
                                         "head": src.head})
    report = load(graph, write_folder(tmp_path / "tuesday", payments=PAYMENTS))
    assert report["error"]["exit_code"] == 75
    assert "repeats rows of mon, which another ingest is loading: pid" in \
        report["error"]["message"]
    assert paid_rows(graph) in (0, None)


def _finished(graph: Graph) -> str:
    row = graph.read("MATCH (f:IngestFile {kind: 'payments'}) "
                     "RETURN toString(f.finished_at) AS at")[0]
    return row["at"][:19].replace("T", " ")
