"""Benchmark ``guanxi synth``: wall time, rows per second and peak memory per size.

Each size runs the real command in its own process (``guanxi synth ... --json``);
its peak resident memory comes from ``os.wait4`` (that process alone). Prints JSON.

Usage::

    .venv/bin/python bench/synth_bench.py                       # 100k and 1M merchants
    .venv/bin/python bench/synth_bench.py --sizes 100000 --format parquet --difficulty hard
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from subprocess import Popen

GUANXI = Path(sys.executable).parent / "guanxi"


def run_one(merchants: int, difficulty: str, fmt: str, seed: int, out: Path) -> dict:
    """Run one size; return its figures (raises if the command fails)."""
    cmd = [str(GUANXI), "synth", "--merchants", str(merchants), "--seed", str(seed),
           "--difficulty", difficulty, "--format", fmt, "--out", str(out), "--force", "--json"]
    stdout, stderr = out.with_suffix(".stdout"), out.with_suffix(".stderr")
    with stdout.open("wb") as so, stderr.open("wb") as se:
        start = time.perf_counter()
        proc = Popen(cmd, stdout=so, stderr=se)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {stderr.read_text(errors='replace')}")
    summary = json.loads(stdout.read_text(encoding="utf-8"))
    rows = sum(summary["rows"].values())
    return {
        "merchants": merchants,
        "difficulty": difficulty,
        "format": fmt,
        "seconds": round(seconds, 1),
        "rows": rows,
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # Linux reports KiB
        "rows_by_file": summary["rows"],
        "bytes_written": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated merchant counts (default 100000,1000000)")
    parser.add_argument("--difficulty", default="medium", choices=["easy", "medium", "hard"])
    parser.add_argument("--format", dest="fmt", default="csv", choices=["csv", "parquet"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where to write (default: a temporary folder, removed after)")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="guanxi-synth-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            out = work / f"synth-{size}"
            results.append(run_one(size, args.difficulty, args.fmt, args.seed, out))
            shutil.rmtree(out, ignore_errors=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"benchmark": "guanxi synth", "cpus": os.cpu_count(),
                      "python": platform.python_version(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
