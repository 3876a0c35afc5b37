"""The app's speed on one synthetic graph (issue 15: on 100k merchants, a capped 2-hop
ego network query p95 <= 200 ms, every page ready within 1 s, 300 nodes drawn frozen).
Prints JSON.

Synthesises the graph, loads it into a fresh local Neo4j, trains (trees only, ``--no-gnn``:
the app reads scores, not how they were made) and scores it, then measures:

- ``ego_2hop``: ``ui.ego.ego_network`` (2 hops, all link types but the agent, cap 25 per
  node, at most 300 nodes; the expansion queries plus the scores and volumes of the
  merchants drawn) around ``--samples`` random merchants, and around the merchant with
  the most payers. ``ego_2hop_first_touch``: the first look at each, right after the
  server started (page cache cold); ``ego_2hop_first_touch_after_warm_up``: first looks
  at other merchants after the store read of the app's warm-up (``ui.warm.warm_store``);
- ``paths``: shortest paths between random pairs of merchants linked within 2 hops;
- ``render``: ``ui.network.network_html`` (layout and HTML) of the ego networks, and of
  a 300-node picture;
- ``pages``: each page run by Streamlit's ``AppTest`` (the script's own time: queries,
  layout and HTML, not the browser's drawing), first run and the median of later runs.

Example:

    .venv/bin/python bench/ui_bench.py --merchants 10000 --out bench/results/ui_10k.json

At 100k merchants, measure the graph that bench/refresh_bench.py scored and kept::

    .venv/bin/python bench/refresh_bench.py --merchants 100000 --train-merchants 10000 \
        --keep /tmp/g100k --out bench/results/refresh_100k.json
    .venv/bin/python bench/ui_bench.py --data-dir /tmp/g100k --out bench/results/ui_100k.json
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from score_bench import clear_graph, emit, synth  # bench/ is the script's folder, on sys.path
from scoring_report import free_port

from guanxi.graph import server
from guanxi.graph.connection import open_graph
from guanxi.graph.scores import NoScores, current_run
from guanxi.graph.settings import resolve

BIN = Path(sys.executable).parent
APP = Path(__file__).resolve().parents[1] / "ui"


def stats(seconds: list[float]) -> dict:
    """p50, p95 and max of ``seconds``, in milliseconds."""
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1),
            "max_ms": round(ms[-1], 1)}


def clock(work, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = work(*args, **kwargs)
    return time.perf_counter() - started, result


def bench_queries(graph, run: str, samples: int, seed: int) -> dict:
    from guanxi.ui.ego import EGO_TYPES, ego_network, paths_between
    from guanxi.ui.network import network_html
    from guanxi.ui.warm import warm_store

    types = [t for t in EGO_TYPES if t != "ONBOARDED_BY"]
    ids = [r["id"] for r in graph.read("MATCH (m:Merchant) RETURN m.id AS id ORDER BY id")]
    rng = random.Random(seed)
    chosen = rng.sample(ids, len(ids))[:samples]
    _warm(graph, run, rng.sample(ids, 5), types)  # compile the query plans
    # First touch: these neighbourhoods were never read since the server started, so
    # their pages may not be in the page cache. Then the same merchants again: an
    # investigator's second look, and a server that has been up a while.
    first_times = [clock(ego_network, graph, run, mid, hops=2, types=types, cap=25)[0]
                   for mid in chosen]
    # What guanxi ui's warm-up reads as it starts (Neo4j Community keeps no page cache
    # profile across restarts), then first looks at merchants not looked at before.
    store_s, _ = clock(warm_store, graph)
    looked = set(chosen)
    after = rng.sample([i for i in ids if i not in looked], samples)
    after_times = [clock(ego_network, graph, run, mid, hops=2, types=types, cap=25)[0]
                   for mid in after]
    ego_times, render_times, sizes = [], [], []
    for mid in chosen:
        seconds, ego = clock(ego_network, graph, run, mid, hops=2, types=types, cap=25)
        ego_times.append(seconds)
        sizes.append(len(ego.nodes))
        if len(render_times) < 50:
            nodes, edges = ego.picture()
            render_times.append(clock(network_html, nodes, edges)[0])
    dense = graph.read("MATCH (m:Merchant) RETURN m.id AS id, COUNT { (m)<-[:PAID]-() } AS n "
                       "ORDER BY n DESC LIMIT 1")[0]
    dense_times = [clock(ego_network, graph, run, dense["id"], hops=2, types=types,
                         cap=25)[0] for _ in range(5)]
    pairs = graph.read("MATCH (a:Merchant)-[:SUPPLIES|PAID]-(:Merchant)-[:SUPPLIES|PAID]-"
                       "(b:Merchant) WHERE a.id < b.id RETURN a.id AS a, b.id AS b "
                       "ORDER BY a, b LIMIT 2000")
    pairs = rng.sample(pairs, min(len(pairs), max(20, samples // 4)))
    path_times = [clock(paths_between, graph, run, p["a"], p["b"], types=types)[0]
                  for p in pairs]
    big = ego_network(graph, run, dense["id"], hops=3, types=types, cap=100, max_nodes=300)
    nodes, edges = big.picture()
    big_render = [clock(network_html, nodes, edges)[0] for _ in range(3)]
    return {"ego_2hop_first_touch": stats(first_times),
            "store_warm_up_s": round(store_s, 2),
            "ego_2hop_first_touch_after_warm_up": stats(after_times),
            "ego_2hop": {**stats(ego_times), "nodes_p50": statistics.median(sizes),
                         "nodes_max": max(sizes)},
            "ego_2hop_densest": {**stats(dense_times), "merchant": dense["id"],
                                 "payers": dense["n"]},
            "paths": stats(path_times) if path_times else None,
            "render": stats(render_times),
            "render_300": {**stats(big_render), "nodes": len(big.nodes),
                           "edges": len(big.edges)}}


def _warm(graph, run: str, ids: list[str], types: list[str]) -> None:
    """Ego networks whose time is not counted: the first queries compile their plans."""
    from guanxi.ui.ego import ego_network

    for mid in ids:
        ego_network(graph, run, mid, hops=2, types=types, cap=25)


def bench_pages(graph, run: str, repeats: int) -> dict:
    """Each page's first view and the median of ``repeats`` more, as in a started app:
    the libraries ``guanxi ui`` preloads are imported, its warm-up has run, and
    Streamlit has run a script (its own first-run set-up) before the first page is
    timed."""
    from streamlit.testing.v1 import AppTest

    from guanxi.ui.common import cluster_table_of, score_histograms_of
    from guanxi.ui.preload import import_libraries
    from guanxi.ui.warm import warm

    import_libraries()
    AppTest.from_string("import streamlit as st\nst.write('up')").run()
    warm()  # what guanxi ui does in the background as it starts

    top = graph.read("MATCH (s:ClusterScore {run: $run}) RETURN s.cluster AS c "
                     "ORDER BY s.collusion_score DESC LIMIT 1", run=run)
    merchant = graph.read("MATCH (m:Merchant) RETURN m.id AS id ORDER BY id LIMIT 1")[0]["id"]
    params = {"overview": {}, "cluster": {"cluster": top[0]["c"]} if top else {},
              "merchant": {"merchant": merchant}, "credit": {}, "saved_queries": {}}
    out = {}
    for page, query in params.items():
        times = []
        for _ in range(repeats + 1):
            at = AppTest.from_file(str(APP / "screens" / f"{page}.py"), default_timeout=300)
            for k, v in query.items():
                at.query_params[k] = v
            seconds, _ = clock(at.run)
            if at.exception:
                raise RuntimeError(f"page {page} failed: {at.exception[0].message}")
            times.append(seconds)
        out[page] = {"first_s": round(times[0], 3),
                     "median_s": round(statistics.median(times[1:]), 3)}
    # The Overview's first view of a run the warm-up did not read (a refresh landed
    # while the app ran): its per-run caches are empty, the server is warm.
    cluster_table_of.clear()
    score_histograms_of.clear()
    at = AppTest.from_file(str(APP / "screens" / "overview.py"), default_timeout=300)
    out["overview"]["new_run_s"] = round(clock(at.run)[0], 3)
    return out


def _pages(data_dir: str, run: str, repeats: int) -> dict:
    os.environ["GUANXI_DATA_DIR"] = data_dir
    return bench_pages(open_graph(resolve(Path(data_dir))), run, repeats)


def fresh_process_pages(data_dir: Path, run: str, repeats: int) -> dict:
    """:func:`bench_pages` in a new interpreter: nothing of the app imported yet, as in
    an app just started (the queries timed before have loaded much of it here)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_pages, (str(data_dir), run, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--difficulty", default="medium")
    parser.add_argument("--samples", type=int, default=200,
                        help="merchants whose ego network is timed")
    parser.add_argument("--repeats", type=int, default=5, help="warm runs of each page")
    parser.add_argument("--no-score", action="store_true",
                        help="skip train and score (ego and path timings only)")
    parser.add_argument("--train-merchants", type=int, default=0,
                        help="train on another synthetic graph of this many merchants and "
                             "score the big one with that model (training at 100k takes "
                             "longer than the bench can wait)")
    parser.add_argument("--data-dir", type=Path,
                        help="a local Neo4j folder that already holds a scored graph (e.g. "
                             "kept by bench/refresh_bench.py --keep): started and measured, "
                             "nothing loaded")
    parser.add_argument("--heap", default="2g")
    parser.add_argument("--pagecache", default="",
                        help="Neo4j page cache (default: the store's size on disk plus a "
                             "quarter, at least 512m, as Neo4j's guidance sizes it)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guanxi-ui-bench-") as tmp:
        root = Path(tmp)
        neo4j = args.data_dir.resolve() if args.data_dir else root / "neo4j"
        env = {**os.environ, "GUANXI_DATA_DIR": str(neo4j),
               "GUANXI_MODELS_DIR": str(root / "models")}
        env.pop("NEO4J_URI", None)
        os.environ.update(GUANXI_DATA_DIR=env["GUANXI_DATA_DIR"])
        os.environ.pop("NEO4J_URI", None)
        pagecache = args.pagecache or _pagecache_for(neo4j)
        server.start(server.ServerConfig(neo4j, free_port(), args.heap, pagecache))
        try:
            prepared = {} if args.data_dir else load(args, root, env)
            graph = open_graph(resolve(neo4j))
            merchants = graph.read("MATCH (m:Merchant) RETURN count(m) AS n")[0]["n"]
            try:
                run = current_run(graph).run
            except NoScores:
                run = ""
            queries = bench_queries(graph, run, args.samples, args.seed)
            pages = fresh_process_pages(neo4j, run, args.repeats) if run else None
        finally:
            server.stop(neo4j)
    made = {"graph": f"kept in {args.data_dir} by another bench"} if args.data_dir else {
        "graph": "synthesised here", "seed": args.seed, "difficulty": args.difficulty,
        "train_merchants": args.train_merchants or merchants}
    result = {"merchants": merchants, **made,
              "cpus": os.cpu_count(), "load_avg": os.getloadavg(), "prepare_s": prepared,
              "store_mb": _store_mb(neo4j), "heap": args.heap, "pagecache": pagecache,
              **queries, "pages": pages}
    emit(result, args.out)


def _store_mb(neo4j: Path) -> int:
    store = neo4j / "data" / "databases" / "neo4j"
    files = store.rglob("*") if store.exists() else []
    return round(sum(f.stat().st_size for f in files if f.is_file()) / 2**20)


def _pagecache_for(neo4j: Path) -> str:
    """A page cache that holds the store and a quarter more; a graph loaded here
    starts empty, so 1g for it."""
    size = _store_mb(neo4j)
    return f"{max(512, round(size * 1.25))}m" if size else "1g"


def load(args: argparse.Namespace, root: Path, env: dict[str, str]) -> dict[str, float]:
    """Synthesise the graph, ingest, train (``--train-merchants``: on another, smaller
    graph) and score; seconds per step."""
    prepared: dict[str, float] = {}

    def step(*words: str) -> None:
        seconds, _ = clock(subprocess.run, [str(BIN / "guanxi"), *words], env=env,
                           check=True, stdout=subprocess.DEVNULL)
        prepared[words[0]] = round(seconds, 1)

    if args.train_merchants and not args.no_score:
        synth(args.train_merchants, args.seed + 1000, args.difficulty, root / "train", env)
        step("ingest", str(root / "train"), "--quiet")
        step("train", "--no-gnn")
        clear_graph(env)
    synth(args.merchants, args.seed, args.difficulty, root / "data", env)
    step("ingest", str(root / "data"), "--quiet")
    if not args.no_score:
        if not args.train_merchants:
            step("train", "--no-gnn")
        step("score")
    return prepared

if __name__ == "__main__":
    main()
