"""``guanxi evaluate``: the stored scores and every baseline against ground truth.

All figures are on merchants that were **not training labels**: ring metrics skip the
merchants with a ``fraud``/``legit`` label or a case decision (and true rings and
clusters lose those members, so a caught ring is neither a target nor a free hit);
credit metrics skip the merchants with an observed loan outcome. The shipped scorer
is read from Neo4j (what ``guanxi score`` wrote); the baselines are fit here, on the
same training labels, in the same harness:

- ``gbdt_own`` and ``gbdt_graph``: LightGBM (PU, like the shipped scorer) on own
  features, and on own + neighbour-aggregated features (GADBench), scored as the
  shipped trees are (mean of the fold models); their groups formed by the shipped
  grouping step with its default settings;
- ``fraudar``: dense-subgraph peeling of payers x payees (Hooi et al. 2016);
- ``louvain_rules``: Louvain communities scored by red-flag rules;
- ``credit_gbdt_own``: LightGBM on each merchant's own features (credit only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guanxi.errors import InputError
from guanxi.gnn import metrics as mt
from guanxi.gnn.baselines import BaselineResult, pu_labels
from guanxi.gnn.baselines.fraudar import fraudar_baseline
from guanxi.gnn.baselines.gbdt import credit_gbdt, neighbour_aggregate
from guanxi.gnn.baselines.louvain_rules import louvain_rules
from guanxi.gnn.clusters import stable_groups
from guanxi.gnn.prepare import Prepared, prepare
from guanxi.gnn.scorer import ScorerSettings
from guanxi.gnn.scores import ScoreSet
from guanxi.gnn.trees import fit_folds
from guanxi.gnn.truth import Truth, read_truth
from guanxi.graph.connection import Graph
from guanxi.progress import ProgressFn

__all__ = ["evaluate", "evaluate_prepared", "ranked_groups"]


def evaluate(graph: Graph, truth_dir: str | Path, *, seed: int = 0, baselines: bool = True,
             progress: ProgressFn | None = None, say=None) -> dict[str, Any]:
    """Metrics of the stored scores and of each baseline; see the module docstring."""
    from guanxi.graph.scores import read_scores

    truth = read_truth(truth_dir)
    scores = read_scores(graph)
    _check_overlap(truth, scores.merchants["merchant_id"], truth_dir)
    prep = prepare(graph, seed=seed, progress=progress, notice=say)
    return evaluate_prepared(prep, scores, truth, seed=seed, baselines=baselines,
                             progress=progress)


def evaluate_prepared(prep: Prepared, scores: ScoreSet, truth: Truth, *, seed: int = 0,
                      baselines: bool = True, progress: ProgressFn | None = None
                      ) -> dict[str, Any]:
    report = progress or (lambda *a: None)
    ids = prep.ids
    held = prep.labels.ring < 0
    credit_held = ~np.isfinite(prep.labels.defaulted)
    is_ring, defaulted = truth.align(ids)
    known = ~np.isnan(defaulted)
    trained_on = set(ids[~held].tolist())
    eval_rings, eval_types = truth.held_out_rings(trained_on)

    shipped = _shipped(scores, ids)
    out: dict[str, Any] = {
        "held_out": {"merchants": int(held.sum()), "ring_members": int((is_ring & held).sum()),
                     "rings": len(eval_rings), "credit_merchants": int((credit_held & known).sum()),
                     "credit_defaults": int(np.nansum(defaulted[credit_held]))},
        "models": {}}

    def ring_block(scores_: np.ndarray, clusters: list[set[str]]) -> dict[str, Any]:
        ranked = mt.held_out_sets(clusters, trained_on)
        k = len(eval_rings)
        flagged = ranked[:k]
        return {
            "member_auprc": _r(mt.auprc(is_ring, scores_, held)),
            "member_auroc": _r(mt.auroc(is_ring, scores_, held)),
            "ring_recall_at_k": _r(mt.ring_recall_at_k(eval_rings, ranked, k)),
            "ring_recovery_f1": _r(mt.ring_recovery_f1(eval_rings, flagged)),
            "recall_per_typology": {t: _r(v) for t, v in mt.recall_per_typology(
                eval_rings, eval_types, ranked, k).items()},
        }

    def credit_block(pd_: np.ndarray) -> dict[str, Any]:
        mask = credit_held & known
        return {"credit_auc": _r(mt.auroc(np.nan_to_num(defaulted), pd_, mask)),
                "credit_brier": _r(mt.brier(np.nan_to_num(defaulted), pd_, mask))}

    ship = ring_block(shipped["ring"], shipped["clusters"])
    if shipped["pd"] is not None:
        ship.update(credit_block(shipped["pd"]))
        ship["cluster_group_pd_spearman"] = _r(_group_pd_corr(scores, ids, defaulted,
                                                              credit_held & known))
    out["models"]["shipped"] = ship
    if not baselines:
        return out

    report("baselines", 0, 4)
    x = prep.features.to_numpy(np.float32)
    kinds = prep.kinds
    z = np.hstack([x, neighbour_aggregate(x, kinds)])
    if (prep.labels.ring == 1).sum() >= 5:
        y, train, w = pu_labels(prep.labels.ring, 0.05)
        labelled = prep.labels.ring >= 0
        for name, features in (("gbdt_own", x), ("gbdt_graph", z)):
            model = fit_folds(features, y, train, [f"f{i}" for i in range(features.shape[1])],
                              seed=seed, weight=w)
            # Deployed like the shipped scorer: the mean of the fold models, out of
            # fold only for the labels they learnt.
            g = np.where(labelled, model.oof, model.raw(features))
            out["models"][name] = ring_block(g, _groups_of(prep, g))
    report("baselines", 1, 4)
    fr = fraudar_baseline(prep.ex)
    out["models"]["fraudar"] = ring_block(fr.scores, fr.clusters)
    report("baselines", 2, 4)
    lr: BaselineResult = louvain_rules(prep.strength, prep.features, seed=seed, ids=ids)
    out["models"]["louvain_rules"] = ring_block(lr.scores, lr.clusters)
    report("baselines", 3, 4)
    observed = np.isfinite(prep.labels.defaulted)
    if observed.sum() >= 10:
        out["models"]["credit_gbdt_own"] = credit_block(
            credit_gbdt(x, prep.labels.defaulted, seed))
    report("baselines", 4, 4)
    return out


def _r(v: float) -> float | None:
    return None if v is None or np.isnan(v) else round(float(v), 4)


def _shipped(scores: ScoreSet, ids: np.ndarray) -> dict[str, Any]:
    m = scores.merchants.set_index("merchant_id").reindex(pd.Index(ids, dtype=object))
    ring = m["ring_score"].astype(float).fillna(0.0).to_numpy()
    pd_ = m["pd"].astype(float).to_numpy()
    pd_ = None if np.isnan(pd_).all() else np.nan_to_num(pd_, nan=float(np.nanmean(pd_)))
    table = scores.clusters.sort_values("collusion_score", ascending=False, kind="stable")
    return {"ring": ring, "pd": pd_, "clusters": [set(c) for c in table["members"]]}


def _groups_of(prep: Prepared, score: np.ndarray) -> list[set[str]]:
    """A baseline's groups: the shipped grouping step, with its default settings, on
    the baseline's scores, ranked by their mean score."""
    settings = ScorerSettings()
    groups = stable_groups(prep.strength, score, shares=settings.candidate_shares,
                           min_strength=settings.min_link_strength,
                           max_size=settings.max_cluster_size)
    return ranked_groups(prep.ids, score, groups)


def ranked_groups(ids: np.ndarray, score: np.ndarray, groups: np.ndarray) -> list[set[str]]:
    """The ids of each group of ``groups`` (``(M,)``, -1 none), highest mean ``score``
    first: how the harness ranks groups that carry no score of their own."""
    ranked = []
    for g in np.unique(groups[groups >= 0]):
        idx = np.flatnonzero(groups == g)
        ranked.append((float(score[idx].mean()), set(ids[idx].tolist())))
    return [s for _, s in sorted(ranked, key=lambda t: -t[0])]


def _check_overlap(truth: Truth, scored: pd.Series, truth_dir: str | Path) -> None:
    """Refuse a truth folder that describes another graph: with no scored merchant in
    it every metric would be computed on nothing, and printed as if it meant something."""
    known = scored.isin(truth.defaulted.index)
    if len(scored) and not known.any():
        raise InputError(
            f"the truth in {truth_dir} lists none of the {len(scored)} scored merchants "
            f"(e.g. {scored.iloc[0]!r}): it comes from another dataset",
            "pass the truth folder guanxi synth wrote beside the data that was ingested")


def _group_pd_corr(scores: ScoreSet, ids: np.ndarray, defaulted: np.ndarray,
                   mask: np.ndarray) -> float:
    """Spearman of clusters' group PD with the default rate their held-out members
    reached (clusters with at least two such members)."""
    where = pd.Series(np.arange(ids.size), index=pd.Index(ids, dtype=object))
    pds, rates = [], []
    for row in scores.clusters.itertuples():
        if row.group_pd is None or pd.isna(row.group_pd):
            continue
        pos = where.reindex(list(row.members)).dropna().to_numpy(dtype=np.int64)
        pos = pos[mask[pos]]
        if pos.size >= 2:
            pds.append(float(row.group_pd))
            rates.append(float(defaulted[pos].mean()))
    if len(pds) < 3:
        return float("nan")
    return mt.spearman(np.array(pds), np.array(rates))
