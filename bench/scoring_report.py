"""Scoring quality on unseen synthetic data, beside the baselines; writes docs/results.md.

For each setting and seed: ``guanxi synth`` into a temporary folder, a fresh local
Neo4j, ``guanxi ingest``, ``guanxi train``, ``guanxi score``, ``guanxi evaluate --truth
--json`` (the shipped scorer and every baseline), and, for the ablation, the same with
``guanxi train --no-gnn``. Everything runs through the real commands. Prints JSON and
saves it; with ``--docs`` also writes the markdown report. Seeds here must never have
been used while developing (development used seeds 1, 2, 3 and 5). Example:

    .venv/bin/python bench/scoring_report.py --seeds 101 102 103 --docs docs/results.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from guanxi.graph import server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
SETTINGS = {
    "hard": ["--difficulty", "hard"],
    "medium": ["--difficulty", "medium"],
    "payments_only": ["--difficulty", "medium"],
}
TARGETS = {  # hard, medians over seeds (issue 13)
    "member_auprc": 0.9, "ring_recall_at_k": 0.9, "credit_auc": 0.8,
    "cluster_group_pd_spearman": 0.5,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def guanxi(*args: str, env: dict[str, str], timeout: float = 3600) -> dict:
    """Run a guanxi command with --json; its JSON output, or a RuntimeError."""
    proc = subprocess.run([str(BIN / "guanxi"), *args, "--json"], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"guanxi {' '.join(args)} failed ({proc.returncode}): "
                           f"{proc.stdout[-500:]} {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def one(setting: str, seed: int, merchants: int, root: Path, ablation: bool,
        train_args: list[str]) -> dict:
    folder = root / f"{setting}-{seed}"
    data_dir = root / f"neo4j-{setting}-{seed}"
    env = {**os.environ, "GUANXI_DATA_DIR": str(data_dir),
           "GUANXI_MODELS_DIR": str(root / f"models-{setting}-{seed}")}
    env.pop("NEO4J_URI", None)
    guanxi("synth", "--merchants", str(merchants), "--seed", str(seed), "--out", str(folder),
           "--force", *SETTINGS[setting], env=env)
    if setting == "payments_only":
        for kind in ("supply", "shipments", "labels", "defaults"):
            for p in folder.glob(f"{kind}.*"):
                p.unlink()
    server.start(server.ServerConfig(data_dir, free_port(), "2g", "1g"))
    try:
        result: dict = {"setting": setting, "seed": seed, "merchants": merchants, "seconds": {}}
        t = time.perf_counter()
        guanxi("db", "init", env=env)
        guanxi("ingest", str(folder), "--rejects", str(root / f"rejects-{setting}-{seed}.csv"),
               env=env)
        result["seconds"]["ingest"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        result["train"] = guanxi("train", *train_args, env=env)
        result["seconds"]["train"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        result["score"] = guanxi("score", env=env)
        result["seconds"]["score"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        result["evaluate"] = guanxi("evaluate", "--truth", str(folder), env=env)
        result["seconds"]["evaluate"] = round(time.perf_counter() - t, 1)
        # Was the stage training chose the best on these held-out rings? Each stage of
        # the same model, judged the same way (bench/stage_audit.py).
        audit = subprocess.run([sys.executable, str(HERE / "stage_audit.py"), "--truth",
                                str(folder)], env=env, capture_output=True, text=True,
                               timeout=3600)
        if audit.returncode != 0:
            raise RuntimeError(f"bench/stage_audit.py failed: {audit.stderr[-2000:]}")
        stages = json.loads(audit.stdout)
        result["ring_stage"] = stages.pop("chosen")
        result["evaluate"]["models"].update(stages)
        if ablation and "--no-gnn" not in train_args:
            guanxi("train", "--no-gnn", env=env)
            guanxi("score", env=env)
            no_gnn = guanxi("evaluate", "--truth", str(folder), "--no-baselines", env=env)
            result["evaluate"]["models"]["shipped_without_gnn"] = no_gnn["models"]["shipped"]
        return result
    finally:
        server.stop(data_dir)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def medians(runs: list[dict]) -> dict[str, dict[str, float | None]]:
    """Per model, the median of each numeric metric over the runs."""
    out: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for model, metrics in run["evaluate"]["models"].items():
            for name, value in metrics.items():
                if isinstance(value, int | float) and value is not None:
                    out.setdefault(model, {}).setdefault(name, []).append(float(value))
    return {m: {k: round(statistics.median(v), 4) for k, v in d.items()} for m, d in out.items()}


def _seeds_run(report: dict) -> list[int]:
    return sorted({r["seed"] for b in report["settings"].values() for r in b["runs"]})


def markdown(report: dict) -> str:
    lines = ["# Results: scoring quality against ground truth", "",
             f"`guanxi train {report.get('train_args', '')}`".replace(" `", "`") + " per graph.",
             "",
             "Written by `bench/scoring_report.py` (rerun it to refresh every figure here); "
             f"{report['merchants']:,} merchants per graph, seeds {_seeds_run(report)} (never "
             "used while developing), medians over the seeds. All metrics are on merchants "
             "that were not training labels (see docs/scoring.md, *Evaluation*).", ""]
    metric_names = ["member_auprc", "member_auroc", "ring_recall_at_k", "ring_recovery_f1",
                    "credit_auc", "credit_brier", "cluster_group_pd_spearman"]
    for setting, block in report["settings"].items():
        lines += [f"## {setting}", "", "| model | " + " | ".join(metric_names) + " |",
                  "|---|" + "---|" * len(metric_names)]
        for model, m in block["medians"].items():
            cells = ["" if m.get(k) is None else f"{m[k]:.3f}" for k in metric_names]
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
        if setting == "hard":
            lines += ["Targets (issue 13, hard):", ""]
            ship = block["medians"].get("shipped", {})
            best = max((m.get("member_auprc", 0) for k, m in block["medians"].items()
                        if k not in ("shipped", "shipped_without_gnn")
                        and not k.startswith("stage_")), default=0)
            own = block["medians"].get("credit_gbdt_own", {}).get("credit_auc")
            checks = [(f"member AUPRC >= 0.9 and >= best baseline + 0.05 ({best:.3f} + 0.05)",
                       ship.get("member_auprc"), max(0.9, best + 0.05)),
                      ("ring recall at K >= 0.9", ship.get("ring_recall_at_k"), 0.9),
                      (f"credit AUC >= 0.8 and >= own-features GBDT + 0.03 ({own})",
                       ship.get("credit_auc"), max(0.8, (own or 0) + 0.03)),
                      ("cluster group-PD rank correlation >= 0.5",
                       ship.get("cluster_group_pd_spearman"), 0.5)]
            for text, value, bar in checks:
                ok = value is not None and value >= bar
                lines.append(f"- {text}: {value} -> **{'met' if ok else 'NOT met'}**")
            lines.append("")
        per_typ = [r["evaluate"]["models"]["shipped"].get("recall_per_typology", {})
                   for r in block["runs"]]
        if any(per_typ):
            lines.append("Shipped recall at K per typology, per seed: " + "; ".join(
                json.dumps(t, ensure_ascii=False) for t in per_typ))
            lines.append("")
        if all("ring_stage" in r for r in block["runs"]):
            lines.append("Ring stage shipped per seed (the `stage_*` rows: each stage of "
                         "the same model, its groups ranked by mean score): " + ", ".join(
                             f"{r['seed']}: {r['ring_stage']}" for r in block["runs"]))
            lines.append("")
        lines.append("Seconds per seed (ingest, train, score, evaluate): " + "; ".join(
            json.dumps(r["seconds"]) for r in block["runs"]))
        lines.append("")
    return "\n".join(lines) + "\n"


KEPT = "<!-- Sections below are not written by bench/scoring_report.py: it keeps them. -->"


def write_docs(path: Path, text: str) -> None:
    """Write the report to ``path``, keeping what follows :data:`KEPT` in the old file
    (other benches' sections)."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = old[old.index(KEPT):] if KEPT in old else ""
    path.write_text(text.rstrip("\n") + "\n\n" + kept if kept else text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    parser.add_argument("--merchants", type=int, default=20_000)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--extra-seeds", type=int, default=1,
                        help="seeds for settings other than hard (the first N of --seeds)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scoring_20k.json")
    parser.add_argument("--docs", type=Path, help="also write the markdown report here")
    parser.add_argument("--from-json", type=Path,
                        help="only rewrite --docs from a saved report (no runs)")
    parser.add_argument("--train-args", default="",
                        help="extra arguments for guanxi train, e.g. '--no-gnn'")
    args = parser.parse_args()
    if args.from_json:
        if args.docs:
            write_docs(args.docs, markdown(json.loads(args.from_json.read_text())))
        return
    report = {"merchants": args.merchants, "seeds": args.seeds, "train_args": args.train_args,
              "settings": {}}
    with tempfile.TemporaryDirectory(prefix="guanxi-scoring-") as tmp:
        for setting in args.settings:
            seeds = args.seeds if setting == "hard" else args.seeds[: args.extra_seeds]
            runs: list[dict] = []
            for seed in seeds:
                print(f"{setting} seed {seed} ...", file=sys.stderr, flush=True)
                runs.append(one(setting, seed, args.merchants, Path(tmp),
                                ablation=setting == "hard", train_args=args.train_args.split()))
                # Saved after every run: a long report interrupted keeps what it measured.
                report["settings"][setting] = {"runs": runs, "medians": medians(runs)}
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
                if args.docs:
                    write_docs(args.docs, markdown(report))
    print(json.dumps({s: b["medians"] for s, b in report["settings"].items()}, indent=2))
    if args.docs:
        write_docs(args.docs, markdown(report))


if __name__ == "__main__":
    main()
