"""Each ring stage of the latest trained model, scored on held-out merchants: was the
stage training chose the one that ranks unseen rings best?

Training ships the simplest of stages 0, A and B within one standard error of the best
on the caught rings, out of fold (``gnn.scorer.chosen_stage``). This scores the graph
with each stage in turn (the saved model, its ``ring_stage`` swapped) and judges it as
``guanxi evaluate`` judges the shipped scores: member AUPRC and AUROC on merchants that
were not training labels, and ring recall at K of the stage's suspicious groups ranked
by their mean ring score (the shipped clusters are ranked by a link-weighted mean).
Run by ``bench/scoring_report.py`` against its graph; alone, against the server and
models the environment names:

    .venv/bin/python bench/stage_audit.py --truth FOLDER
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from guanxi.gnn import metrics as mt
from guanxi.gnn.artefact import load_artefact
from guanxi.gnn.evaluate import ranked_groups
from guanxi.gnn.pipeline import load_scorer
from guanxi.gnn.prepare import Prepared, prepare
from guanxi.gnn.scorer import RING_STAGES, Scorer
from guanxi.gnn.truth import Truth, read_truth
from guanxi.graph.connection import open_graph


class Trained(NamedTuple):
    """The graph, the latest trained model and the truth, split as ``guanxi evaluate``
    splits them: ``held`` ``(M,)`` bool, merchants that were not training labels."""

    prep: Prepared
    scorer: Scorer
    truth: Truth
    held: np.ndarray
    trained_on: set[str]


def trained(truth_dir: str, models: str | None = None) -> Trained:
    """Read the graph the environment names, its latest model and ``truth_dir``."""
    prep = prepare(open_graph(), seed=0)
    held = prep.labels.ring < 0
    return Trained(prep, load_scorer(load_artefact(models)), read_truth(truth_dir), held,
                   set(prep.ids[~held].tolist()))


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options every audit of a trained model takes: ``--truth`` and ``--models``."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--truth", required=True, help="the synthetic folder (its truth/)")
    parser.add_argument("--models", help="models folder (default: GUANXI_MODELS_DIR)")
    return parser


def stage_audit(truth_dir: str, models: str | None = None) -> dict[str, dict[str, float]]:
    """``{"stage_0": {...}, "stage_a": {...}, "stage_b": {...}}`` metrics, and which
    stage the model ships under ``"chosen"``."""
    prep, scorer, truth, held, trained_on = trained(truth_dir, models)
    is_ring, _ = truth.align(prep.ids)
    rings, _ = truth.held_out_rings(trained_on)
    out: dict = {"chosen": scorer.ring_stage}
    for stage in RING_STAGES:
        nodes = replace(scorer, ring_stage=stage).score(prep, explain=False)
        clusters = mt.held_out_sets(ranked_groups(prep.ids, nodes.ring, nodes.groups),
                                    trained_on)
        out[f"stage_{stage}"] = {
            "member_auprc": round(float(mt.auprc(is_ring, nodes.ring, held)), 4),
            "member_auroc": round(float(mt.auroc(is_ring, nodes.ring, held)), 4),
            "ring_recall_at_k": round(float(mt.ring_recall_at_k(rings, clusters,
                                                                 len(rings))), 4)}
    return out


def main() -> None:
    args = arguments(__doc__).parse_args()
    print(json.dumps(stage_audit(args.truth, args.models), indent=2))


if __name__ == "__main__":
    main()
