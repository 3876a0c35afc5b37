"""Ingest speed: ``guanxi ingest`` beside Neo4j's own LOAD CSV and a naive loader.

All three load the same synthetic folder into the same kind of server (a fresh local
Neo4j per contender, same heap and page cache), building the same graph: LOAD CSV
runs ``bench/load_csv/<kind>.cypher`` (one row at a time, ``IN TRANSACTIONS OF 10000
ROWS``); the naive loader sends one payment per transaction (on a sample, since a full
run would take hours). Prints JSON. Example:

    .venv/bin/python bench/ingest_bench.py --merchants 100000 --naive-rows 3000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

from guanxi.graph import server
from guanxi.graph.connection import open_graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.settings import resolve
from guanxi.graph.stats import graph_stats
from guanxi.ingest.batches import statements
from guanxi.ingest.kinds import LOAD_ORDER
from guanxi.ingest.mapping import KindMapping
from guanxi.ingest.validate import Validator
from guanxi.queries import Query

HERE = Path(__file__).resolve().parent


class PeakRss:
    """Samples the memory of a process and its children in the background.

    ``peak_mb``: the peak of their resident memory summed, each process counted in full.
    ``peak_pss_mb``: the peak of their proportional set sizes summed, pages shared
    between them (a forked worker shares most of its parent's, ``gnn/workers.py``)
    counted once: the memory the job takes from the machine. For one process the two
    differ by its share of the libraries it maps.
    """

    def __init__(self, pid: int) -> None:
        self.proc, self.peak, self.peak_pss = psutil.Process(pid), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self.proc, *self.proc.children(recursive=True)]
            except psutil.Error:
                return
            rss = pss = 0
            for proc in tree:
                with contextlib.suppress(psutil.Error, OSError):  # a child that just ended
                    resident = proc.memory_info().rss
                    rss += resident
                    pss += _pss(proc.pid, resident)
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
            # An event wait, not a sleep: __exit__'s join then returns at once instead of
            # adding up to half a second to the run being timed around it.
            self._stop.wait(0.5)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)

    @property
    def peak_pss_mb(self) -> float:
        return round(self.peak_pss / 2**20, 1)


def _pss(pid: int, rss: int) -> int:
    """The process's proportional set size in bytes, from the kernel's summary
    (``psutil.memory_full_info`` parses every mapping instead: a quarter of a core at
    this rate, taken from the job measured); ``rss`` where the kernel has none."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return rss


def fresh_server(root: Path, name: str, folder: Path, port: int, heap: str, pagecache: str):
    data_dir = root / name
    status = server.start(server.ServerConfig(data_dir, port, heap, pagecache, import_dir=folder))
    graph = open_graph(resolve(data_dir))
    apply_schema(graph)
    return data_dir, graph, status.pid


def run_guanxi(folder: Path, data_dir: Path, server_pid: int, batch_size: int) -> dict:
    env = {**os.environ, "GUANXI_DATA_DIR": str(data_dir)}
    env.pop("NEO4J_URI", None)
    cmd = [sys.executable, "-m", "guanxi", "ingest", str(folder), "--json", "--quiet",
           "--batch-size", str(batch_size), "--rejects", str(data_dir / "rejects.csv")]
    started = time.monotonic()
    with PeakRss(server_pid) as jvm:
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        with PeakRss(child.pid) as client:
            out, err = child.communicate()
    seconds = time.monotonic() - started
    if child.returncode != 0:
        raise SystemExit(f"guanxi ingest failed: {err.strip().splitlines()[-1:]}")
    report = json.loads(out)
    per_file = {f["kind"]: f["seconds"] for f in report["files"]}
    return {"seconds": round(seconds, 1), "per_file_seconds": per_file,
            "client_peak_rss_mb": client.peak_mb, "server_peak_rss_mb": jvm.peak_mb,
            "rejected": sum(f["rejected"] for f in report["files"])}


def run_load_csv(folder: Path, graph, server_pid: int) -> dict:
    per_file = {}
    started = time.monotonic()
    with PeakRss(server_pid) as jvm:
        for kind in LOAD_ORDER:
            if not (folder / f"{kind}.csv").exists():
                continue
            query = Query(f"load_csv_{kind}", (HERE / "load_csv" / f"{kind}.cypher").read_text())
            t = time.monotonic()
            graph.autocommit(query, url=f"file:///{kind}.csv")
            per_file[kind] = round(time.monotonic() - t, 1)
    return {"seconds": round(time.monotonic() - started, 1), "per_file_seconds": per_file,
            "server_peak_rss_mb": jvm.peak_mb}


def run_naive(folder: Path, graph, rows: int) -> dict:
    """Merchants loaded by guanxi's own batches (not timed), then ``rows`` payments one
    per transaction through the same Cypher guanxi uses, untimed parsing excluded."""
    km = KindMapping("payments")
    merchants = Validator("merchants", KindMapping("merchants")).validate(
        pd.read_csv(folder / "merchants.csv", dtype=str, keep_default_na=False)
        .assign(_line=lambda d: d.index + 2)).valid
    for start in range(0, len(merchants), 5000):
        for query, params in statements("merchants",
                                        merchants.iloc[start:start + 5000]).statements:
            graph.write(query, **params)
    known = pd.Index(merchants["merchant_id"])
    sample = pd.read_csv(folder / "payments.csv", dtype=str, nrows=rows, keep_default_na=False)
    valid = Validator("payments", km).validate(sample.assign(_line=sample.index + 2)).valid
    prepared = [statements("payments", valid.iloc[[i]],
                           known.get_indexer(valid["payer_id"].iloc[[i]]) >= 0).statements
                for i in range(len(valid))]
    started = time.monotonic()
    for stmts in prepared:
        for query, params in stmts:
            graph.write(query, **params)
    seconds = time.monotonic() - started
    return {"rows": len(prepared), "seconds": round(seconds, 1),
            "rows_per_s": round(len(prepared) / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merchants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--folder", type=Path, help="use this synthetic folder instead")
    parser.add_argument("--naive-rows", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--heap", default="2g")
    parser.add_argument("--pagecache", default="2g")
    parser.add_argument("--port", type=int, default=7791)
    parser.add_argument("--skip", nargs="*", default=[], choices=["load_csv", "naive"])
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="guanxi-bench-"))
    folder = args.folder
    if folder is None:
        folder = root / "data"
        subprocess.run([sys.executable, "-m", "guanxi", "synth", "--merchants",
                        str(args.merchants), "--seed", str(args.seed), "--out", str(folder),
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = manifest["rows"]
    total = sum(rows.values())
    result: dict = {"benchmark": "ingest", "merchants": manifest["parameters"]["merchants"],
                    "rows": rows, "total_rows": total, "batch_size": args.batch_size,
                    "heap": args.heap, "pagecache": args.pagecache, "cores": os.cpu_count()}
    try:
        data_dir, graph, pid = fresh_server(root, "guanxi", folder, args.port, args.heap,
                                            args.pagecache)
        ours = run_guanxi(folder, data_dir, pid, args.batch_size)
        ours["rows_per_s"] = round(total / ours["seconds"])
        ours["graph"] = graph_stats(graph)
        result["guanxi_ingest"] = ours
        print(json.dumps({"guanxi_ingest": ours}, default=str), file=sys.stderr)
        server.stop(data_dir)

        if "load_csv" not in args.skip:
            data_dir, graph, pid = fresh_server(root, "load_csv", folder, args.port, args.heap,
                                                args.pagecache)
            theirs = run_load_csv(folder, graph, pid)
            theirs["rows_per_s"] = round(total / theirs["seconds"])
            theirs["graph"] = graph_stats(graph)
            # The same graph, less guanxi's ledger (IngestFile nodes).
            ours_nodes = {k: v for k, v in ours["graph"]["nodes"].items()
                          if not k.startswith("Ingest")}
            theirs_nodes = {k: v for k, v in theirs["graph"]["nodes"].items()
                            if not k.startswith("Ingest")}
            theirs["same_graph_counts"] = (
                ours_nodes == theirs_nodes
                and ours["graph"]["relationships"] == theirs["graph"]["relationships"]
                and ours["graph"]["rows"] == theirs["graph"]["rows"])
            result["load_csv"] = theirs
            result["speedup_vs_load_csv"] = round(theirs["seconds"] / ours["seconds"], 2)
            print(json.dumps({"load_csv": theirs}, default=str), file=sys.stderr)
            server.stop(data_dir)

        if "naive" not in args.skip:
            data_dir, graph, pid = fresh_server(root, "naive", folder, args.port, args.heap,
                                                args.pagecache)
            naive = run_naive(folder, graph, args.naive_rows)
            result["naive_one_row_per_tx"] = naive
            result["speedup_vs_naive"] = round(ours["rows_per_s"] / naive["rows_per_s"], 1)
            server.stop(data_dir)
    finally:
        for child in root.iterdir():
            if (child / "server.pid").exists():
                server.stop(child)
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
