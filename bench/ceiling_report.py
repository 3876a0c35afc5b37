"""How high the scores can go on a synthetic graph: ceilings that no model can pass.

For each seed (``hard`` unless told), three numbers bound what any ring score or
grouping can reach, one what any credit score can, and one (with ``--score``) what any
group PD can:

- **Trace share**: the generator is rerun in memory and, for every planted ring member,
  asks whether anything in the data ties it to its ring: a payment or invoice with
  another member, a payment from the ring's crew (its fake or recruited payers), an
  owner, phone, device, bank account or address shared with another member, or (shell
  rings) registration together. A member with none of these is drawn the way an honest
  merchant is, so no model can rank it above honest merchants: member AUPRC cannot
  exceed about the trace share. It is generous: a single crew payment counts as a trace.
- **Every label known**: the features the scorer computes (``gnn/features``), with
  gradient-boosted trees fitted on *every* merchant's true label in 5 folds that keep
  each ring in one fold (``gnn/trees.fit_folds``), own features and own plus
  neighbour aggregates (the GADBench baseline's columns). Its out-of-fold AUPRC is what
  these features allow when labels are not scarce.
- **Rings with half their members traced**: a true ring counts as found when a cluster
  has Jaccard >= 0.5 with it; a cluster of its traced members alone reaches that only when
  they are at least half the ring. The share of rings where they are bounds ring recall
  at K (as generously: it assumes the traced members are grouped, and nothing else; and
  it counts every ring, where ``guanxi evaluate`` counts the held-out members of the
  rings not wholly labelled).
- **Credit, Bayes AUC**: the generator's credit outcomes are drawn again 200 times with
  the world held fixed (health, size, age, category, rings, trade links); the mean is each
  merchant's true probability of default over the horizon, bust-outs and contagion
  included. Its AUC against the realised defaults of the merchants without an observed
  loan (those ``guanxi evaluate`` scores) is the best any credit model can reach there.
- **Group PD, Bayes rank correlation** (``--score``): the shipped scorer is trained and
  run (``guanxi train``, ``guanxi score``, defaults), and on *its* clusters, the ones
  ``guanxi evaluate`` judges, each cluster's expected default rate (the mean true
  probability of its members without an observed loan) is ranked against the rate they
  realised, like the shipped group PD is (clusters with two such members or more). On
  small clusters the realised rate is mostly chance. Not a strict bound: a scorer also
  sees cluster-mates' observed loans, which share bust-outs and contagion with them.

Each seed: ``guanxi synth``, a fresh local Neo4j, ``guanxi ingest``, then the features
in this process. Prints JSON and saves it with ``--out``. Example:

    .venv/bin/python bench/ceiling_report.py --seeds 105 106 107 \\
        --out bench/results/ceiling_20k.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from guanxi.gnn import metrics
from guanxi.graph import server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scoring_report import SETTINGS, free_port, guanxi  # noqa: E402

_SHARED = ("owner", "phone", "device", "bank", "address")
_DRAWS, _DRAWS_FROM = 200, 10_000
_LEAST_MERCHANTS = 2_000


def planted(merchants: int, seed: int, difficulty: str) -> tuple[dict, pd.DataFrame]:
    """The generator rerun in memory, as ``guanxi synth`` runs it: the ring trace share
    and the credit ceiling (module docstring), and per merchant id its true probability
    of default, realised default and whether its loan was observed."""
    from guanxi.ingest.synth.consumers import build_consumers
    from guanxi.ingest.synth.credit import simulate_credit
    from guanxi.ingest.synth.params import SynthParams
    from guanxi.ingest.synth.rings import plant_rings
    from guanxi.ingest.synth.trade import build_trade
    from guanxi.ingest.synth.typologies import ring_events
    from guanxi.ingest.synth.world import build_world
    from guanxi.ingest.synth.writer import make_ids

    params = SynthParams(merchants=merchants, seed=seed, difficulty=difficulty).validate()
    world = build_world(params)
    consumers = build_consumers(world, params)
    rings = plant_rings(world, params)
    trade = build_trade(world, params)
    pay, supply, _ = ring_events(world, consumers, rings, params)
    credit = simulate_credit(world, trade, rings, params)
    # Every draw of the credit stream with the world held fixed: their mean is each
    # merchant's true probability of default, what no model can beat.
    pd_ = np.mean([simulate_credit(world, trade, rings,
                                   dataclasses.replace(params, seed=_DRAWS_FROM + k)).defaulted
                   for k in range(_DRAWS)], axis=0)
    held_out = ~credit.loan
    truth = pd.DataFrame({"true_pd": pd_, "defaulted": credit.defaulted.astype(float),
                          "loan": credit.loan},
                         index=make_ids(world, consumers, params.seed).merchant.to_pylist())
    return ({"trace": _traced(world, rings, pay, supply),
             "credit_bayes_auc": round(metrics.auroc(credit.defaulted[held_out].astype(float),
                                                     pd_[held_out]), 4)}, truth)


def _traced(world, rings, pay, supply) -> dict:
    """Share of planted ring members that anything in the data ties to their ring."""
    ring_of = world.ring
    payer, payee = pay.payer.astype(np.int64), pay.payee.astype(np.int64)
    traced = np.zeros(world.n, bool)
    inner = (payer < world.n) & (payee < world.n)
    same = inner.copy()
    same[inner] = (ring_of[payer[inner]] == ring_of[payee[inner]]) & (ring_of[payer[inner]] >= 0)
    traced[payer[same]] = traced[payee[same]] = True
    s, b = supply.supplier.astype(np.int64), supply.buyer.astype(np.int64)
    both = (ring_of[s] == ring_of[b]) & (ring_of[s] >= 0)
    traced[s[both]] = traced[b[both]] = True
    for ring in rings:
        m = ring.members
        if ring.typology == "shell_merchants":
            traced[m] = True
            continue
        crew = set((ring.crew + world.n).tolist())
        from_crew = np.fromiter((p in crew for p in payer.tolist()), bool, len(payer))
        traced[np.intersect1d(payee[from_crew], m)] = True
        for kind in _SHARED:
            values = getattr(world, kind)[m]
            _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
            traced[m[counts[inverse] > 1]] = True
    members = ring_of >= 0
    typology = np.array([rings[r].typology if r >= 0 else "" for r in ring_of.tolist()])
    by = {t: round(float(traced[typology == t].mean()), 3)
          for t in sorted(set(typology[members].tolist()))}
    half = [2 * int(traced[r.members].sum()) >= len(r.members) for r in rings]
    return {"members": int(members.sum()), "traced": int(traced[members].sum()),
            "share": round(float(traced[members].mean()), 3), "by_typology": by,
            "rings": len(rings), "rings_half_traced": round(float(np.mean(half)), 3)
            if rings else None}


def every_label(truth: Path, data_dir: Path) -> dict:
    """Out-of-fold AUPRC and AUROC of trees fitted on every merchant's true label."""
    from guanxi.gnn.baselines.gbdt import aggregate_names, neighbour_aggregate
    from guanxi.gnn.prepare import link_kinds, prepare
    from guanxi.gnn.trees import fit_folds
    from guanxi.graph.connection import open_graph
    from guanxi.graph.settings import resolve

    prep = prepare(open_graph(resolve(data_dir)), seed=0)
    names = list(prep.features.columns)
    x = prep.features[names].to_numpy(np.float32)
    rings = pd.read_csv(truth / "truth" / "rings.csv", dtype=str)
    ring_of = dict(zip(rings.merchant_id, rings.ring_id, strict=True))
    kind_of = dict(zip(rings.merchant_id, rings.typology, strict=True))
    ids = [str(i) for i in prep.ids]
    y = np.array([i in ring_of for i in ids], dtype=float)
    groups = np.array([ring_of.get(i, f"merchant {i}") for i in ids])
    kinds = link_kinds(prep.links)
    wide = np.hstack([x, neighbour_aggregate(x, kinds)]).astype(np.float32)
    wide_names = names + aggregate_names(names, list(kinds))
    out: dict = {"members": int(y.sum())}
    if y.sum() < 50:
        out["note"] = "under 50 ring members: these figures say little"
    everyone = np.ones(prep.m, bool)
    columns = {"own": (x, names), "own_and_neighbours": (wide, wide_names)}
    typology = np.array([kind_of.get(i, "") for i in ids])
    for key, (cols, cnames) in columns.items():
        oof = fit_folds(cols, y, everyone, cnames, groups=groups, seed=0).oof
        # One typology's members against every honest merchant.
        by = {t: round(metrics.auprc(y, oof, (typology == t) | (y == 0)), 4)
              for t in sorted(set(typology.tolist()) - {""})}
        out[key] = {"auprc": round(metrics.auprc(y, oof), 4),
                    "auroc": round(metrics.auroc(y, oof), 4), "auprc_by_typology": by}
    return out


def group_pd(truth: pd.DataFrame, export: Path) -> dict:
    """On the clusters of ``guanxi scores export`` (folder ``export``): the rank
    correlation with the default rate their members without an observed loan realised,
    of the shipped group PD and of their mean true probability of default (clusters
    with two such members or more, as ``guanxi evaluate`` counts them)."""
    members = pd.read_csv(export / "merchants.csv", dtype={"merchant_id": str,
                                                           "cluster_id": str})
    clusters = pd.read_csv(export / "clusters.csv", dtype={"cluster_id": str})
    held = members.join(truth, on="merchant_id", how="inner")
    held = held[held["cluster_id"].notna() & ~held["loan"].astype(bool)]
    per = held.groupby("cluster_id").agg(n=("true_pd", "size"), expected=("true_pd", "mean"),
                                         realised=("defaulted", "mean"))
    per = per[per["n"] >= 2].join(clusters.set_index("cluster_id")["group_pd"])
    per = per[per["group_pd"].notna()]
    if len(per) < 3:
        return {"clusters": len(per), "note": "under 3 clusters: no rank correlation"}
    return {"clusters": len(per), "held_out_members": int(per["n"].sum()),
            "median_members": float(per["n"].median()),
            "shipped_spearman": round(metrics.spearman(per["group_pd"].to_numpy(),
                                                       per["realised"].to_numpy()), 4),
            "bayes_spearman": round(metrics.spearman(per["expected"].to_numpy(),
                                                     per["realised"].to_numpy()), 4)}


def one(setting: str, seed: int, merchants: int, root: Path, score: bool) -> dict:
    folder = root / f"{setting}-{seed}"
    data_dir = root / f"neo4j-{setting}-{seed}"
    env = {**os.environ, "GUANXI_DATA_DIR": str(data_dir),
           "GUANXI_MODELS_DIR": str(root / f"models-{setting}-{seed}")}
    env.pop("NEO4J_URI", None)
    difficulty = SETTINGS[setting][1]
    result: dict = {"setting": setting, "seed": seed, "merchants": merchants}
    t = time.perf_counter()
    found, truth = planted(merchants, seed, difficulty)
    result.update(found)
    guanxi("synth", "--merchants", str(merchants), "--seed", str(seed), "--out", str(folder),
           "--force", *SETTINGS[setting], env=env)
    server.start(server.ServerConfig(data_dir, free_port(), "2g", "1g"))
    try:
        guanxi("db", "init", env=env)
        guanxi("ingest", str(folder), "--rejects", str(root / f"rejects-{seed}.csv"), env=env)
        result["every_label"] = every_label(folder, data_dir)
        if score:
            guanxi("train", env=env)
            guanxi("score", env=env)
            guanxi("scores", "export", "--out", str(root / f"export-{seed}"), env=env)
            result["group_pd"] = group_pd(truth, root / f"export-{seed}")
        result["seconds"] = round(time.perf_counter() - t, 1)
        return result
    finally:
        server.stop(data_dir)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--merchants", type=int, default=20_000)
    parser.add_argument("--setting", choices=["hard", "medium"], default="hard")
    parser.add_argument("--out", type=Path, help="also save the JSON here")
    parser.add_argument("--score", action="store_true",
                        help="also train and run the shipped scorer, for the group-PD "
                             "ceiling on its clusters (about 4 more minutes per seed)")
    args = parser.parse_args()
    if min(args.seeds) < 0:
        parser.error("--seeds must be non-negative integers")
    if args.merchants < _LEAST_MERCHANTS:
        parser.error(f"--merchants must be at least {_LEAST_MERCHANTS:,}: fewer give too few "
                     "rings to fit every fold (20,000 is the report's size)")
    if args.out and not os.access(args.out.parent, os.W_OK):
        parser.error(f"--out {args.out}: its folder does not exist or cannot be written")
    root = Path(tempfile.mkdtemp(prefix="guanxi-ceiling-"))
    runs: list[dict] = []
    try:
        for seed in args.seeds:
            failed = {"failed_seed": seed}
            try:
                runs.append(one(args.setting, seed, args.merchants, root, args.score))
                failed = {}
            finally:  # a seed that fails loses only itself, and says so
                if args.out:
                    args.out.write_text(json.dumps({**summary(args, runs), **failed},
                                                   indent=2) + "\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(summary(args, runs), indent=2))


def summary(args: argparse.Namespace, runs: list[dict]) -> dict:
    """The report: the seeds' runs so far and their medians."""

    def median(get) -> float | None:
        values = [v for v in map(get, runs) if v is not None]
        return round(statistics.median(values), 4) if values else None

    return {"setting": args.setting, "merchants": args.merchants,
            "seeds": [r["seed"] for r in runs],
            "median": {"trace_share": median(lambda r: r["trace"]["share"]),
                       "rings_half_traced": median(lambda r: r["trace"]["rings_half_traced"]),
                       "credit_bayes_auc": median(lambda r: r["credit_bayes_auc"]),
                       "every_label_own_auprc":
                           median(lambda r: r["every_label"]["own"]["auprc"]),
                       "every_label_own_and_neighbours_auprc":
                           median(lambda r: r["every_label"]["own_and_neighbours"]["auprc"]),
                       **({"group_pd_shipped_spearman": median(
                           lambda r: r["group_pd"].get("shipped_spearman")),
                           "group_pd_bayes_spearman": median(
                           lambda r: r["group_pd"].get("bayes_spearman"))}
                          if args.score else {})},
            "runs": runs}

if __name__ == "__main__":
    main()
