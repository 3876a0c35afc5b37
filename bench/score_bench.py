"""Train + score time and peak memory on one synthetic graph (issue 13: 100k merchants
in under 15 minutes and 8 GB on two cores). Prints JSON.

Synthesises the graph, loads it into a fresh local Neo4j, then times ``guanxi train``
and ``guanxi score`` as real commands, sampling the peak memory of each (the Python process
and its forked workers, ``gnn/workers.py``: resident memory summed, and proportional set
sizes summed, which count the pages the workers share with their parent once; the
budget is on the latter; Neo4j's own memory is its configured heap and page cache). Example:

    .venv/bin/python bench/score_bench.py --merchants 100000 --out score_100k.json

``--graph DIR`` times train + score on a graph already loaded (a Neo4j folder that
``bench/refresh_bench.py --keep`` left; ingest takes 7-20 minutes at 100k): it is
started and stopped, never moved or removed; the model goes to a fresh folder, and the
new scores become the graph's current run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest_bench import PeakRss  # bench/ is the script's folder, on sys.path
from scoring_report import free_port

from guanxi.graph import server

BIN = Path(sys.executable).parent


def timed(args: list[str], env: dict[str, str]) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "guanxi"), *args, "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakRss(proc.pid) as peak:
        out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"guanxi {' '.join(args)} failed: {err[-2000:]}")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak.peak_mb,
            "peak_pss_mb": peak.peak_pss_mb, "report": json.loads(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--difficulty", default="hard")
    parser.add_argument("--train-args", default="", help="e.g. '--no-gnn'")
    parser.add_argument("--graph", type=Path,
                        help="a loaded Neo4j folder to train and score on, instead of "
                             "synthesising and ingesting --merchants (which then only "
                             "labels the JSON)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guanxi-score-bench-") as tmp:
        root = Path(tmp)
        data_dir = args.graph.absolute() if args.graph else root / "neo4j"
        env = {**os.environ, "GUANXI_DATA_DIR": str(data_dir),
               "GUANXI_MODELS_DIR": str(root / "models")}
        env.pop("NEO4J_URI", None)
        folder = root / "data"
        if not args.graph:
            synth(args.merchants, args.seed, args.difficulty, folder, env)
        server.start(server.ServerConfig(data_dir, free_port(), "4g", "2g"))
        try:
            ingest = ({"seconds": None} if args.graph
                      else timed(["ingest", str(folder)], env))
            train = timed(["train", *args.train_args.split()], env)
            score = timed(["score"], env)
        finally:
            server.stop(data_dir)
    result = {"merchants": args.merchants, "seed": args.seed, "difficulty": args.difficulty,
              "cpus": os.cpu_count(), "workers": os.environ.get("GUANXI_WORKERS", "cores"),
              "graph": str(args.graph) if args.graph else None,
              "load_average_1m": round(os.getloadavg()[0], 2),
              "train_args": args.train_args,
              "ingest_seconds": ingest["seconds"],
              "train": {k: train[k] for k in ("seconds", "peak_rss_mb", "peak_pss_mb")},
              "score": {k: score[k] for k in ("seconds", "peak_rss_mb", "peak_pss_mb")},
              "train_plus_score_seconds": round(train["seconds"] + score["seconds"], 1),
              "stages": {"train": train["report"].get("seconds"),
                         "score": score["report"].get("seconds")}}
    emit(result, args.out)


def synth(merchants: int, seed: int, difficulty: str, out: Path, env: dict[str, str]) -> None:
    """``guanxi synth`` of a graph into ``out`` (quietly)."""
    subprocess.run([str(BIN / "guanxi"), "synth", "--merchants", str(merchants),
                    "--seed", str(seed), "--difficulty", difficulty, "--out", str(out),
                    "--quiet"], env=env, check=True)


def clear_graph(env: dict[str, str]) -> None:
    """Empty the graph of the server ``env`` points at (a bench that trains on a small
    graph, then scores a big one with that model)."""
    from guanxi.graph.connection import open_graph
    from guanxi.graph.settings import resolve

    graph = open_graph(resolve(Path(env["GUANXI_DATA_DIR"])))
    graph.autocommit("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")


def emit(result: dict, out: Path | None) -> None:
    """Print the bench's JSON, and write it to ``out`` when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
