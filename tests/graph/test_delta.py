"""An export brought up to date from a snapshot equals a full export (real Neo4j, real
ingest); anything else is caught by the counts; snapshots are kept one per database."""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import cli_env

from guanxi.graph.connection import Graph
from guanxi.graph.delta import Stale, _Positions, brought_up_to_date, read_touched
from guanxi.graph.export import Exported, export_graph
from guanxi.graph.snapshot import (
    Snapshot,
    SnapshotError,
    load_snapshot,
    save_snapshot,
    snapshots_dir,
    staged_meanwhile,
)
from guanxi.ingest.load import IngestOptions, ingest_folder
from guanxi.ingest.synth import SynthParams, generate
from guanxi.queries import load


def _ingest(graph: Graph, folder: Path) -> None:
    report = ingest_folder(graph, folder, IngestOptions(rejects=folder / "rejects.csv"))
    assert report.error is None and all(f.rejected == 0 for f in report.files)


def _split(source: Path, first: Path, second: Path) -> None:
    """The first two thirds of every file in ``first``; in ``second`` the last third,
    five merchants and every row that names them."""
    first.mkdir()
    second.mkdir()
    merchants = pd.read_csv(source / "merchants.csv", dtype=str, keep_default_na=False)
    late = merchants.tail(5)  # merchants that only the second folder brings
    merchants.drop(late.index).to_csv(first / "merchants.csv", index=False)
    late.to_csv(second / "merchants.csv", index=False)
    for kind in ("payments", "supply", "shipments", "labels", "defaults"):
        frame = pd.read_csv(source / f"{kind}.csv", dtype=str, keep_default_na=False)
        names_late = frame.filter(like="_id").isin(set(late["merchant_id"])).any(axis=1)
        later = names_late | (np.arange(len(frame)) >= 2 * len(frame) // 3)
        frame[~later].to_csv(first / f"{kind}.csv", index=False)
        frame[later].to_csv(second / f"{kind}.csv", index=False)


def assert_same(a: Exported, b: Exported) -> None:
    assert a.ids.keys() == b.ids.keys()
    for label in a.ids:
        assert a.ids[label].tolist() == b.ids[label].tolist(), label
    pd.testing.assert_frame_equal(a.merchants, b.merchants)
    assert set(a.data.edge_types) == set(b.data.edge_types)
    for key in a.data.edge_types:
        assert torch.equal(a.data[key].edge_index, b.data[key].edge_index), key
        assert ("edge_attr" in a.data[key]) == ("edge_attr" in b.data[key])
        if "edge_attr" in a.data[key]:
            assert torch.equal(a.data[key].edge_attr, b.data[key].edge_attr), key
    assert a.edge_attr_names == b.edge_attr_names
    assert np.array_equal(a.week_dates, b.week_dates)
    assert torch.equal(a.weeks, b.weeks)


@pytest.fixture
def halves(graph: Graph, tmp_path: Path) -> tuple[Graph, Exported, list[str]]:
    """A synthetic graph loaded in two ingests: the export after the first, and the
    merchants the second touched (as ``guanxi refresh`` reads them)."""
    generate(SynthParams(merchants=300, seed=5, difficulty="hard"), tmp_path / "synth")
    _split(tmp_path / "synth", tmp_path / "first", tmp_path / "second")
    _ingest(graph, tmp_path / "first")
    base = export_graph(graph)
    between = datetime.now(UTC)
    _ingest(graph, tmp_path / "second")
    touched = graph.read(load("ingest_touched"), since=between, seen=[])[0]["merchants"]
    return graph, base, touched


def test_a_snapshot_brought_up_to_date_equals_a_full_export(halves, tmp_path: Path) -> None:
    graph, base, touched = halves
    assert 0 < len(touched) < len(base.ids["Merchant"]) + 5
    # Kept and read back (plain tensors and lists), it is the export it was, with the
    # run's communities and FastRP rows.
    m = len(base.ids["Merchant"])
    communities = np.arange(m) % 7 - 1
    fastrp = np.random.default_rng(0).normal(size=(m, 4)).astype(np.float32)
    assert save_snapshot(tmp_path / "kept", graph, "run-1",
                         Snapshot(base, communities, fastrp)) is not None
    kept = load_snapshot(tmp_path / "kept", graph, "run-1")
    assert_same(kept.ex, base)
    assert kept.communities.tolist() == communities.tolist()
    assert np.array_equal(kept.fastrp, fastrp)
    updated = brought_up_to_date(graph, kept.ex, touched)
    full = export_graph(graph)
    assert len(full.ids["Merchant"]) == len(base.ids["Merchant"]) + 5
    assert len(full.ids["Consumer"]) > len(base.ids["Consumer"])  # new payers came
    assert len(full.week_dates) >= len(base.week_dates)
    assert_same(updated, full)
    # Nothing touched since: the snapshot is the graph; and merchants read again that
    # did not change (none new, no week outside the base's) leave it as it was.
    assert_same(brought_up_to_date(graph, export_graph(graph), []), full)
    assert_same(brought_up_to_date(graph, export_graph(graph), touched), full)


def test_an_edge_between_touched_merchants_read_in_two_statements_counts_once(
        halves) -> None:
    graph, base, touched = halves
    full = export_graph(graph)
    chunk = 7
    # Precondition: some merchant-to-merchant edge joins two touched merchants whose
    # ids go to different statements, so both statements return it.
    statement = {merchant: i // chunk for i, merchant in enumerate(sorted(touched))}
    ids = full.ids["Merchant"]
    across = 0
    for key in full.data.edge_types:
        if key[0] == key[2] == "Merchant":
            source, target = full.data[key].edge_index.numpy()
            for s, t in zip(source, target, strict=True):
                a, b = statement.get(ids[s]), statement.get(ids[t])
                across += a is not None and b is not None and a != b
    assert across > 0
    assert_same(brought_up_to_date(graph, base, read_touched(graph, touched, chunk=chunk)),
                full)


def test_a_change_ingest_did_not_record_is_caught(halves) -> None:
    graph, first, touched = halves

    def base() -> Exported:  # one each: brought_up_to_date uses up its base
        return copy.deepcopy(first)

    untouched = sorted(set(first.ids["Merchant"]) - set(touched))[:2]
    graph.write("MATCH (a:Merchant {id: $a}), (b:Merchant {id: $b}) "
                "CREATE (a)-[:SUPPLIES {count: 1}]->(b)", a=untouched[0], b=untouched[1])
    with pytest.raises(Stale, match="Merchant-SUPPLIES-Merchant edges"):
        brought_up_to_date(graph, base(), touched)
    # A snapshot missing a touched merchant's new data fails the same way.
    with pytest.raises(Stale):
        brought_up_to_date(graph, base(), touched[1:])
    # So does a merchant removed (ingest never removes one).
    graph.write("MATCH (m:Merchant {id: $id}) DETACH DELETE m", id=untouched[0])
    with pytest.raises(Stale, match=f"merchant {untouched[0]} is no longer in the graph"):
        brought_up_to_date(graph, base(), [*touched, untouched[0]])


def test_a_merchant_renamed_by_hand_is_caught(halves) -> None:
    """A touched merchant's edge then names a merchant neither the snapshot nor the
    read holds: Stale (the caller reads the whole graph), not a KeyError."""
    graph, base, touched = halves
    found = graph.read("MATCH (m:Merchant)-[:PAID|SUPPLIES|SHIPPED_TO]-(t:Merchant) "
                       "WHERE t.id IN $touched AND NOT m.id IN $touched "
                       "RETURN m.id AS id LIMIT 1", touched=touched)
    assert found
    graph.write("MATCH (m:Merchant {id: $id}) SET m.id = $id + '-renamed'",
                id=found[0]["id"])
    with pytest.raises(Stale, match=f"merchant {found[0]['id']}-renamed has edges but"):
        brought_up_to_date(graph, base, touched)


def test_one_snapshot_per_database_the_latest_run(graph: Graph, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    graph.write("CREATE (:Merchant {id: 'M1'})-[:PAID {count: 1}]->(:Merchant {id: 'M2'})")
    ex = export_graph(graph)
    kept = Snapshot(ex, np.array([0, 0]))
    first = save_snapshot(tmp_path, graph, "20260101T000000.000000Z/v1", kept)
    assert first is not None and first.is_relative_to(tmp_path)
    again = load_snapshot(tmp_path, graph, "20260101T000000.000000Z/v1")
    assert again.ex.ids["Merchant"].tolist() == ["M1", "M2"] and again.fastrp is None
    assert again.computed == {}
    with pytest.raises(ValueError, match="one row per merchant"):
        save_snapshot(tmp_path, graph, "20260101T000000.000000Z/v1", Snapshot(ex, np.zeros(3)))
    with pytest.raises(ValueError, match="one row per merchant"):
        save_snapshot(tmp_path, graph, "20260101T000000.000000Z/v1",
                      Snapshot(ex, np.array([0, 0]), computed={"s0": np.zeros(3)}))
    # What the run's scorer keeps for the next comes back as it was.
    x = np.array([[0.25, -1.0], [3.5, 7.0]], dtype=np.float32)
    save_snapshot(tmp_path, graph, "20260101T000000.000000Z/v1",
                  Snapshot(ex, np.array([0, 0]), computed={"x": x, "s0": np.array([0.1, 0.9])}))
    again = load_snapshot(tmp_path, graph, "20260101T000000.000000Z/v1")
    assert again.computed["x"].dtype == np.float32 and np.array_equal(again.computed["x"], x)
    assert again.computed["s0"].tolist() == [0.1, 0.9]
    # One an older guanxi wrote has no "computed" at all: it loads, with none.
    kept_file = first.parent / first.name
    older = torch.load(kept_file, weights_only=True)
    del older["computed"]
    torch.save(older, kept_file)
    Path(f"{kept_file}.sha256").write_text(hashlib.sha256(kept_file.read_bytes()).hexdigest())
    again = load_snapshot(tmp_path, graph, "20260101T000000.000000Z/v1")
    assert again.computed == {} and again.ex.ids["Merchant"].tolist() == ["M1", "M2"]
    second = save_snapshot(tmp_path, graph, "20260102T000000.000000Z/v1", kept)
    assert not first.exists() and second.exists()  # the older one is gone
    assert sorted(p.name for p in second.parent.iterdir()) == [second.name,
                                                               f"{second.name}.sha256"]
    assert load_snapshot(tmp_path, graph, "20260101T000000.000000Z/v1") is None
    # Damaged: one flipped byte still loads in torch, but the digest differs.
    data = bytearray(second.read_bytes())
    data[len(data) // 2] ^= 0xFF
    second.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="differs from its digest"):
        load_snapshot(tmp_path, graph, "20260102T000000.000000Z/v1")
    # Parts that disagree (an edge naming a merchant that is not there) are refused.
    ex.data["Merchant", "PAID", "Merchant"].edge_index[1, 0] = 7
    save_snapshot(tmp_path, graph, "20260103T000000.000000Z/v1", kept)
    with pytest.raises(SnapshotError, match="inconsistent: Merchant-PAID-Merchant edges"):
        load_snapshot(tmp_path, graph, "20260103T000000.000000Z/v1")
    ex.data["Merchant", "PAID", "Merchant"].edge_index[1, 0] = 1
    ex.week_names = (*ex.week_names, "refunds")  # another guanxi's graph model
    save_snapshot(tmp_path, graph, "20260103T000000.000000Z/v2", kept)
    with pytest.raises(SnapshotError, match="not this graph model's"):
        load_snapshot(tmp_path, graph, "20260103T000000.000000Z/v2")
    ex.week_names = ex.week_names[:-1]
    ex.weeks = ex.weeks.double()  # kept dense and mapped as it is: its type is checked
    save_snapshot(tmp_path, graph, "20260103T000000.000000Z/v3", kept)
    with pytest.raises(SnapshotError, match="float32 tensor"):
        load_snapshot(tmp_path, graph, "20260103T000000.000000Z/v3")
    ex.skipped = {"weeks": 1}  # an export an ingest wrote into is not kept
    assert save_snapshot(tmp_path, graph, "20260104T000000.000000Z/v1", kept) is None
    # A folder that cannot be written: one line saying so.
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    with pytest.raises(SnapshotError, match="could not write it in "):
        save_snapshot(blocked, graph, "20260105T000000.000000Z/v1",
                      Snapshot(export_graph(graph), np.array([0, 0])))
    assert snapshots_dir(tmp_path / "models") == tmp_path / "models" / "snapshots"
    monkeypatch.setenv("GUANXI_SNAPSHOT_DIR", str(tmp_path / "cache"))
    assert snapshots_dir(tmp_path / "models") == tmp_path / "cache"


def test_a_snapshot_staged_meanwhile_is_kept_only_when_the_run_says(graph: Graph,
                                                                     tmp_path: Path) -> None:
    graph.write("CREATE (:Merchant {id: 'M1'})-[:PAID {count: 1}]->(:Merchant {id: 'M2'})")
    kept = Snapshot(export_graph(graph), np.array([0, 0]))
    first = save_snapshot(tmp_path, graph, "run-1", kept)
    # The block fails (a write lost its lock, a kill): the kept one stays, nothing else.
    with pytest.raises(RuntimeError, match="the write failed"), \
            staged_meanwhile(tmp_path, graph, "run-2", kept):
        raise RuntimeError("the write failed")
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name,
                                                              f"{first.name}.sha256"]
    # The block keeps it: it replaces the older one, and loads.
    with staged_meanwhile(tmp_path, graph, "run-3", kept) as keep:
        second = keep()
    assert sorted(p.name for p in second.parent.iterdir()) == [second.name,
                                                               f"{second.name}.sha256"]
    assert load_snapshot(tmp_path, graph, "run-3").ex.ids["Merchant"].tolist() == ["M1", "M2"]
    # A folder that cannot be written: the block still runs; keeping says why it cannot.
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    ran = False
    with staged_meanwhile(blocked, graph, "run-4", kept) as keep:
        ran = True
        with pytest.raises(SnapshotError, match="could not write it in "):
            keep()
    assert ran
    # Staging fails otherwise (no snapshot to stage) and the block fails too: the
    # block's error is the one raised; with the block fine, staging's is.
    with pytest.raises(RuntimeError, match="the write failed"), \
            staged_meanwhile(tmp_path, graph, "run-5", None):
        raise RuntimeError("the write failed")
    with pytest.raises(AttributeError), staged_meanwhile(tmp_path, graph, "run-6", None):
        pass
    # A run keeping its snapshot leaves another run's part file being written, and
    # removes one a dead run left (an hour old).
    folder = second.parent
    live, dead = folder / "other.part", folder / "dead.part"
    live.write_bytes(b"another run staging")
    dead.write_bytes(b"a run killed while staging")
    os.utime(dead, (time.time() - 7200, time.time() - 7200))
    third = save_snapshot(tmp_path, graph, "run-7", kept)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [third.name, f"{third.name}.sha256", "other.part"])
    # An entry it cannot remove (a folder) is left; the new snapshot is kept all the same.
    (folder / "junk").mkdir()
    fourth = save_snapshot(tmp_path, graph, "run-8", kept)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [fourth.name, f"{fourth.name}.sha256", "other.part", "junk"])
    assert load_snapshot(tmp_path, graph, "run-8") is not None


def test_positions_of_ids_out_of_order_are_found_all_the_same() -> None:
    # Sorted as Python sorts them, found by search; out of that order (should Neo4j ever
    # order two strings otherwise), found by hash.
    ordered = _Positions(np.array(["M1", "M2", "M3"], dtype=object))
    assert ordered.get_indexer(["M3", "M0", "M1", "M9"]).tolist() == [2, -1, 0, -1]
    shuffled = _Positions(np.array(["M2", "\U0001F600", "M1", "\uFFFD"], dtype=object))
    assert shuffled.get_indexer(["M1", "\uFFFD", "M2", "\U0001F600", "M4"]).tolist() == \
        [2, 3, 0, 1, -1]
    assert ordered.get_indexer([None, "M2"]).tolist() == [-1, 1]


_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
import numpy as np
from guanxi.graph.connection import open_graph
from guanxi.graph.export import export_graph
from guanxi.graph.snapshot import Snapshot, SnapshotError, save_snapshot
g = open_graph()
kept = Snapshot(export_graph(g), np.array([0, 0]))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails
resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))  # a disk full at 2 KB
try:
    save_snapshot(Path(sys.argv[1]), g, "run-1", kept)
except SnapshotError as exc:
    print(exc)
"""


def test_a_full_disk_or_a_folder_in_its_place_is_a_snapshot_error(
        graph: Graph, neo4j_env: dict, tmp_path: Path) -> None:
    graph.write("CREATE (:Merchant {id: 'M1'})-[:PAID {count: 1}]->(:Merchant {id: 'M2'})")
    # torch reports a full disk as a RuntimeError: it is a SnapshotError all the same,
    # and the part written is removed.
    done = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path / "full")],
                          env=cli_env(neo4j_env), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("could not write it in "), done.stdout
    assert not [p for p in (tmp_path / "full").rglob("*") if p.is_file()]
    # A folder where the snapshot should be is refused on load, not crashed on.
    kept = Snapshot(export_graph(graph), np.array([0, 0]))
    path = save_snapshot(tmp_path / "kept", graph, "run-1", kept)
    path.unlink()
    path.mkdir()
    with pytest.raises(SnapshotError, match="not a regular file"):
        load_snapshot(tmp_path / "kept", graph, "run-1")


def test_the_merchants_touched_by_many_large_batches_fit_in_transaction_memory(
        graph: Graph) -> None:
    # Ten batches touching the same 20,000 merchants: the query that carried every
    # batch's list on every row needed over 700 MiB and failed on this 1 GB server (the
    # first scoring after a 100,000-merchant ingest failed so with 2 GB).
    ids = [f"m-{i:06d}" for i in range(20_000)]
    before = datetime.now(UTC)
    for k in range(10):
        graph.write("CREATE (:IngestBatch {id: $id, at: datetime(), merchants: $ids})",
                    id=f"big-{k}", ids=ids[::-1] if k % 2 else ids)
    graph.write("CREATE (:IngestBatch {id: 'seen', at: datetime(), merchants: ['x-1']})")
    graph.write("CREATE (:IngestBatch {id: 'empty', at: datetime(), merchants: []})")
    touched = graph.read(load("ingest_touched"), since=before, seen=["seen"])[0]
    assert touched["batches"] == 11
    assert touched["merchants"] == ids
