"""``guanxi refresh`` against its floor, and the GNN's embeddings against FastRP. Prints JSON.

One synthetic graph in a fresh local Neo4j: synthesise, ingest, train (the shipped
model, GNN included, ``--train-args`` to change it), then in the same run:

- **floor**: the time merely to stream the graph out of Neo4j (``graph/export.py``, in
  a child process, with its peak memory);
- **refresh**: ``guanxi refresh --json`` as real commands: the first writes the first
  run, the second (``--full``) also replaces and prunes one, a third finds nothing
  ingested and does nothing; wall time and peak memory of the Python process (Neo4j's
  own memory is its configured heap and page cache);
- **incremental**: payments to ``--new-share`` of the merchants (chosen at random, one
  new payment each, a copy of one of theirs under a new id) are ingested, then
  ``guanxi refresh`` (incremental: only what they reach), ``--incremental-runs`` times
  (other merchants each time: one run's time varies by seconds on a busy machine; the
  ratio takes the median), then ``guanxi refresh --full`` on the same graph; beside
  their times, how far the last incremental scores are from the full ones (ring
  score, PD: max, 99th percentile, mean absolute difference; share of merchants in
  the same cluster);
- **embeddings**: for every true ring member that was not a training label, its 10
  nearest merchants by cosine, with the GNN embeddings the refresh wrote and with
  FastRP (GDS, same width): the share of them in its own ring (partner precision@10)
  and the share of members with at least one ring partner among them (hit@10).

Every timed run starts on a quiet server (:func:`settle`: Neo4j under a tenth of a core
for 5 s): after a run that wrote 100,000 scores, Neo4j keeps both cores busy for minutes,
and a refresh run hours after the last one does not share them with it.

``--train-merchants N`` trains on another, smaller synthetic graph (another seed) and
scores the big one with that model, for sizes at which training alone would take
longer than the bench can wait.

Example (issue 14's sizes)::

    .venv/bin/python bench/refresh_bench.py --merchants 10000 --out bench/results/refresh_10k.json
    .venv/bin/python bench/refresh_bench.py --merchants 100000 --train-merchants 10000 \
        --out bench/results/refresh_100k.json

``--graph DIR --models DIR`` measures a graph a ``--keep`` run left (ingest takes 20
minutes at 100k) with a model already trained; the synthetic folder is made again from
``--merchants``, ``--seed`` and ``--difficulty`` (for the new payments and the truth).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from ingest_bench import PeakRss  # bench/ is the script's folder, on sys.path
from score_bench import clear_graph, emit, synth, timed
from scoring_report import free_port

from guanxi.graph import gds, server
from guanxi.graph.connection import open_graph
from guanxi.graph.scores import read_scores
from guanxi.graph.settings import resolve

BIN = Path(sys.executable).parent

_FLOOR = """
import time
from guanxi.graph.connection import open_graph
from guanxi.graph.export import export_graph
export_graph(open_graph())
"""


def settle(pid: int, *, quiet: float = 0.1, span: float = 5.0, limit: float = 300.0) -> float:
    """Wait until the Neo4j process ``pid`` has used under ``quiet`` of a core for
    ``span`` seconds (at most ``limit``); the seconds waited. After a run that wrote
    100,000 scores Neo4j works on for minutes (vector index and store upkeep) on the
    same two cores; a job run hours apart, as a refresh is, starts on a quiet server."""
    proc = psutil.Process(pid)
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if proc.cpu_percent(interval=span) < 100 * quiet:
            break
    return round(time.perf_counter() - started, 1)


def floor(env: dict[str, str]) -> dict:
    """Seconds and peak memory of streaming the graph out (a child process)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _FLOOR], env=env)
    with PeakRss(proc.pid) as peak:
        proc.wait()
    if proc.returncode:
        raise RuntimeError("the export failed")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak.peak_mb}


def neighbours(matrix: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """``(len(rows), k)`` positions of each row's k nearest others by cosine."""
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    sims = unit[rows] @ unit.T
    sims[np.arange(len(rows)), rows] = -np.inf  # never itself
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def partner_scores(ids: np.ndarray, matrix: np.ndarray, ring_of: pd.Series,
                   members: np.ndarray, k: int = 10) -> dict:
    """Partner precision@k and hit@k of ``members`` (positions) under ``matrix``."""
    near = neighbours(matrix, members, k)
    own = ring_of.reindex(ids[members]).to_numpy()
    theirs = ring_of.reindex(ids[near.ravel()]).to_numpy().reshape(near.shape)
    same = theirs == own[:, None]
    return {f"partner_precision_at_{k}": round(float(same.mean()), 4),
            f"hit_at_{k}": round(float(same.any(axis=1).mean()), 4), "members": int(len(members))}


def embedding_comparison(env: dict[str, str], folder: Path) -> dict:
    graph = open_graph(resolve(Path(env["GUANXI_DATA_DIR"])))
    scores = read_scores(graph, embeddings=True)
    if scores.embeddings is None:
        return {"note": "the model has no GNN: no embeddings to compare"}
    ids = scores.merchants["merchant_id"].to_numpy(dtype=object)
    rings = pd.read_csv(folder / "truth" / "rings.csv", dtype=str)
    labelled = set(pd.read_csv(folder / "labels.csv", dtype=str)["merchant_id"]) \
        if (folder / "labels.csv").exists() else set()
    ring_of = rings.drop_duplicates("merchant_id").set_index("merchant_id")["ring_id"]
    position = pd.Series(np.arange(len(ids)), index=ids)
    held = [m for m in ring_of.index if m not in labelled and m in position.index]
    members = position[held].to_numpy()
    fast = gds.fastrp(graph, dim=scores.embeddings.shape[1], seed=0)
    fast = fast.set_index("merchant_id").reindex(ids).fillna(0.0).to_numpy(np.float32)
    return {"dimensions": int(scores.embeddings.shape[1]),
            "gnn": partner_scores(ids, scores.embeddings, ring_of, members),
            "fastrp": partner_scores(ids, fast, ring_of, members)}


def new_payments(folder: Path, out: Path, share: float, seed: int, tag: str = "") -> int:
    """A payments file for ``share`` of the merchants: for each, one of its payments,
    drawn at random, again under a new id (``tag`` in it: another file, for a graph
    that loaded one already). Returns how many merchants it touches.

    Drawn, not the first in the file: the synthetic file is in time order, so the
    first payments piled a third of every load into the data's first week (140 loads
    lifted it by 71%, to the edge of the promotion cut, where loads tipped it)."""
    payments = pd.read_csv(folder / "payments.csv", dtype=str)
    payees = payments["payee_id"].drop_duplicates()
    chosen = payees.sample(max(1, round(share * len(payees))), random_state=seed)
    rows = (payments[payments["payee_id"].isin(set(chosen))]
            .groupby("payee_id", sort=False).sample(1, random_state=seed).copy())
    rows["payment_id"] = [f"bench-new-{tag}{i}" for i in range(len(rows))]
    out.mkdir(parents=True)
    rows.to_csv(out / "payments.csv", index=False)
    return len(rows)


def score_gap(incremental, full) -> dict:
    """How far ``incremental`` scores (a ScoreSet) are from ``full`` ones."""
    a = incremental.merchants.set_index("merchant_id")
    b = full.merchants.set_index("merchant_id").reindex(a.index)
    out: dict = {}
    for column in ("ring_score", "pd"):
        gap = (a[column] - b[column]).abs()
        out[column] = {"max": round(float(gap.max()), 4),
                       "p99": round(float(gap.quantile(0.99)), 4),
                       "mean": round(float(gap.mean()), 5)}
    same = a["cluster_id"].fillna("") == b["cluster_id"].fillna("")
    out["same_cluster_share"] = round(float(same.mean()), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--difficulty", default="hard")
    parser.add_argument("--train-args", default="", help="e.g. '--epochs 20'")
    parser.add_argument("--train-merchants", type=int, default=0,
                        help="train on a graph of this many merchants (default: the same)")
    parser.add_argument("--new-share", type=float, default=0.01,
                        help="share of merchants the new payments touch")
    parser.add_argument("--incremental-runs", type=int, default=3,
                        help="new payments and incremental refreshes, one after another")
    parser.add_argument("--keep", type=Path,
                        help="move the bench's Neo4j folder (scored graph) here at the end, "
                             "for bench/ui_bench.py --data-dir, and its models beside it "
                             "(DIR-models), for --graph DIR --models DIR-models")
    parser.add_argument("--graph", type=Path,
                        help="skip synthesising, ingesting and training: use this Neo4j "
                             "folder (one --keep left, holding --merchants/--seed/"
                             "--difficulty's graph) and --models; it is started and "
                             "stopped, never moved or removed")
    parser.add_argument("--models", type=Path, help="the trained models, with --graph")
    parser.add_argument("--heap", default="2g")
    parser.add_argument("--pagecache", default="1g")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if bool(args.graph) != bool(args.models):
        parser.error("--graph and --models go together: a kept graph and its model")
    with tempfile.TemporaryDirectory(prefix="guanxi-refresh-bench-") as tmp:
        root = Path(tmp)
        data_dir = args.graph.absolute() if args.graph else root / "neo4j"
        env = {**os.environ, "GUANXI_DATA_DIR": str(data_dir),
               "GUANXI_MODELS_DIR": str(args.models.absolute() if args.models
                                        else root / "models"),
               "OMP_WAIT_POLICY": "PASSIVE"}
        env.pop("NEO4J_URI", None)
        folder = root / "data"
        synth(args.merchants, args.seed, args.difficulty, folder, env)
        neo4j = server.start(server.ServerConfig(data_dir, free_port(), args.heap,
                                                 args.pagecache)).pid

        def quietly(command: list[str]) -> dict:
            waited = settle(neo4j)
            return {**timed(command, env), "settled_after": waited}

        try:
            if args.graph:
                ingest = train = {"seconds": None}
            elif args.train_merchants:
                synth(args.train_merchants, args.seed + 1000, args.difficulty, root / "train",
                      env)
                timed(["ingest", str(root / "train")], env)
                train = timed(["train", *args.train_args.split()], env)
                clear_graph(env)
                ingest = timed(["ingest", str(folder)], env)
            else:
                ingest = timed(["ingest", str(folder)], env)
                train = timed(["train", *args.train_args.split()], env)
            settle(neo4j)
            export = floor(env)
            # A kept graph has a current run already: the first is full all the same.
            first = quietly(["refresh", *(["--full"] if args.graph else [])])
            second = quietly(["refresh", "--full"])
            unchanged = quietly(["refresh"])
            embeddings = embedding_comparison(env, folder)
            runs = []
            for k in range(max(1, args.incremental_runs)):
                touched = new_payments(folder, root / f"new{k}", args.new_share, args.seed + k,
                                       tag=(f"{time.time_ns()}-" if args.graph else "")
                                       + (f"r{k}-" if k else ""))
                timed(["ingest", str(root / f"new{k}")], env)
                runs.append(quietly(["refresh"]))
            incremental = runs[-1]
            typical = float(np.median([r["seconds"] for r in runs]))
            graph = open_graph(resolve(Path(env["GUANXI_DATA_DIR"])))
            after_incremental = read_scores(graph)
            full = quietly(["refresh", "--full"])
            gap = score_gap(after_incremental, read_scores(graph))
        finally:
            server.stop(data_dir)
        if args.keep and not args.graph:
            shutil.move(root / "neo4j", args.keep)
            shutil.move(root / "models", f"{args.keep}-models")
    best = min(first["seconds"], second["seconds"])
    result = {
        "merchants": args.merchants, "seed": args.seed, "difficulty": args.difficulty,
        "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
        "graph": str(args.graph) if args.graph else None,
        "models": str(args.models) if args.models else None,
        "train_args": args.train_args,
        "train_merchants": None if args.graph else args.train_merchants or args.merchants,
        "ingest_seconds": ingest["seconds"],
        "train_seconds": train["seconds"], "floor_export": export,
        "refresh_first": {k: first[k] for k in ("seconds", "peak_rss_mb")}
        | {"stages": first["report"]["seconds"]},
        "refresh_second": {k: second[k] for k in ("seconds", "peak_rss_mb")}
        | {"stages": second["report"]["seconds"], "events": second["report"]["events"]},
        "refresh_unchanged": {k: unchanged[k] for k in ("seconds", "peak_rss_mb")}
        | {"kind": unchanged["report"]["kind"]},
        "refresh_over_floor": round(best / export["seconds"], 2),
        "incremental": {
            "merchants_touched": touched,
            "refresh": {k: incremental[k] for k in ("seconds", "peak_rss_mb")}
            | {"kind": incremental["report"]["kind"],
               "rescored": incremental["report"]["rescored"],
               "stages": incremental["report"]["seconds"]},
            "runs": [{"seconds": r["seconds"], "settled_after": r["settled_after"],
                      "kind": r["report"]["kind"],
                      "rescored": r["report"]["rescored"],
                      "stages": r["report"]["seconds"]} for r in runs],
            "median_seconds": typical,
            "full_refresh": {k: full[k] for k in ("seconds", "peak_rss_mb", "settled_after")}
            | {"stages": full["report"]["seconds"]},
            "over_full": round(typical / full["seconds"], 2),
            "gap_to_full": gap},
        "embeddings": embeddings,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
