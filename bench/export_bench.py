"""Export speed: ``export_graph`` (Neo4j -> PyG ``HeteroData``) on an already-loaded graph.

Reads the server guanxi would use (``NEO4J_URI``, else the local one in
``GUANXI_DATA_DIR``). Prints JSON: seconds in all and per stage (from the first to the
last progress call of each task; count queries between stages are in the total only),
nodes, edges and weeks exported, the client's peak RSS and, for a local server, the
server's, both sampled in a background thread. With ``--workers`` above 1 the stages
overlap and a short one reads as 0 (progress reaches this thread every 0.2 s); use
``--workers 1`` for each stage's own time. ``--profile`` adds the functions that took
the most time (cProfile, on stderr). Example:

    guanxi db start --data-dir /tmp/exp20k/neo4j --port 7721
    guanxi synth --merchants 20000 --seed 7 --out /tmp/exp20k/data
    GUANXI_DATA_DIR=/tmp/exp20k/neo4j guanxi ingest /tmp/exp20k/data
    GUANXI_DATA_DIR=/tmp/exp20k/neo4j .venv/bin/python bench/export_bench.py
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from contextlib import nullcontext

# bench/ is sys.path[0] when this file runs as a script: share the RSS sampler.
from ingest_bench import PeakRss

from guanxi.graph import server
from guanxi.graph.connection import open_graph
from guanxi.graph.export import FAMILIES, export_graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--families", nargs="+", default=["flow", "identifier"],
                        choices=FAMILIES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    graph = open_graph()
    graph.verify()
    server_pid = None
    if not graph.settings.external and graph.settings.data_dir is not None:
        server_pid = server.status(graph.settings.data_dir).pid

    stages: dict[str, list[float]] = {}

    def progress(task: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        stages.setdefault(task, [now, now])[1] = now

    load_before = os.getloadavg()[0]  # other work on the machine skews the figures
    profiler = cProfile.Profile() if args.profile else None
    started = time.monotonic()
    with PeakRss(os.getpid()) as client, \
            (PeakRss(server_pid) if server_pid else nullcontext()) as jvm:
        if profiler:
            profiler.enable()
        out = export_graph(graph, families=args.families, chunk=args.chunk,
                           workers=args.workers, progress=progress)
        if profiler:
            profiler.disable()
    seconds = time.monotonic() - started

    data = out.data
    result = {
        "benchmark": "export",
        "uri": graph.settings.uri,
        "chunk": args.chunk,
        "workers": args.workers,
        "families": args.families,
        "cores": os.cpu_count(),
        "load_average_before": round(load_before, 2),
        "seconds": round(seconds, 1),
        "stage_seconds": {task: round(last - first, 2) for task, (first, last) in stages.items()},
        "nodes": {t: data[t].num_nodes for t in data.node_types},
        "edges": {"-".join(k): data[k].num_edges for k in data.edge_types},
        "weeks": {"merchants": out.weeks.shape[0], "weeks": out.weeks.shape[1],
                  "flows": out.weeks.shape[2],
                  "nonzero_merchant_weeks": int(out.weeks.abs().sum(dim=2).gt(0).sum())},
        "skipped": out.skipped,
        "client_peak_rss_mb": client.peak_mb,
        "server_peak_rss_mb": jvm.peak_mb if server_pid else None,
    }
    total_edges = sum(result["edges"].values())
    result["edges_per_s"] = round(total_edges / seconds) if seconds else None
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
