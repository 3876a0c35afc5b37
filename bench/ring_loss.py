"""Where ring recall at K is lost: per held-out ring, how far its members got through
the ring score and the grouping step, and what other groupings of the same scores give.

A held-out ring (the members of a true ring that were not training labels, as ``guanxi
evaluate`` counts them) is found when one of the K best groups has Jaccard >= 0.5 with
it. It can be lost at three places, and this says which for each ring:

- **score**: too few of its members are among the candidates (the largest of the
  ``candidate_shares`` pools of the most suspicious merchants), so no group can hold
  half of it;
- **grouping**: the candidates are there but the groups leave them out (the weighted
  core drops weakly linked ones), split them, or add others;
- **rank**: a matching group exists but ranks below K.

``--variants`` regroups the same scores with one pool of candidates of each of several
shares, and least link strengths (``gnn.clusters.suspicious_groups``), to show whether
the grouping's settings are what holds recall back. Groups are ranked by their mean ring score, as
``bench/stage_audit.py`` ranks them (the shipped clusters use a link-weighted mean).
Against the server and models the environment names, after ``guanxi train``:

    .venv/bin/python bench/ring_loss.py --truth FOLDER --variants > out.json
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from stage_audit import arguments, trained

from guanxi.gnn import metrics as mt
from guanxi.gnn.clusters import suspicious_groups
from guanxi.gnn.evaluate import ranked_groups

SHARES = (0.0075, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05)
STRENGTHS = (0.5, 1.0)


def _best(ring: set[str], groups: list[set[str]]) -> tuple[float, int | None]:
    """The best Jaccard of ``ring`` with a group, and that group's rank (0 first)."""
    scored = [(mt.jaccard(ring, g), n) for n, g in enumerate(groups) if ring & g]
    if not scored:
        return 0.0, None
    j, n = max(scored, key=lambda t: (t[0], -t[1]))
    return j, n


def where_lost(*, found: bool, candidates: int, size: int, best_j: float,
               best_rank: int | None, k: int) -> str:
    """``found``, or the first place the ring was lost: ``score``, ``grouping`` or
    ``rank``.

    >>> where_lost(found=False, candidates=1, size=4, best_j=0.0, best_rank=None, k=5)
    'score'
    >>> where_lost(found=False, candidates=3, size=4, best_j=0.4, best_rank=2, k=5)
    'grouping'
    >>> where_lost(found=False, candidates=3, size=4, best_j=0.6, best_rank=9, k=5)
    'rank'
    """
    if found:
        return "found"
    if 2 * candidates < size:
        return "score"
    if best_j >= 0.5 and best_rank is not None and best_rank >= k:
        return "rank"
    return "grouping"


def ring_loss(truth_dir: str, models: str | None = None, variants: bool = False
              ) -> dict[str, Any]:
    """Recall at K, where each held-out ring was lost (``rings``: typology, size,
    members among the candidates and in a group, best Jaccard and that group's rank,
    the members' ranks among held-out merchants) and, with ``variants``, the recall of
    the same scores regrouped."""
    prep, scorer, truth, held, trained_on = trained(truth_dir, models)
    rings, typologies = truth.held_out_rings(trained_on)
    k = len(rings)
    nodes = scorer.score(prep, explain=False)
    score = nodes.ring
    share = max(scorer.settings.candidate_shares)
    candidate = score >= float(np.quantile(score, 1 - share))
    where = {m: i for i, m in enumerate(prep.ids.tolist())}
    groups = mt.held_out_sets(ranked_groups(prep.ids, score, nodes.groups), trained_on)
    held_rank = np.argsort(np.argsort(-np.where(held, score, -np.inf)))
    rows = []
    for ring, typology in zip(rings, typologies, strict=True):
        at = np.array([where[m] for m in ring])
        j, rank = _best(ring, groups)
        hit = _best(ring, groups[:k])[0] >= 0.5 - 1e-9
        n_cand = int(candidate[at].sum())
        rows.append({"typology": typology, "size": len(ring), "candidates": n_cand,
                     "grouped": int((nodes.groups[at] >= 0).sum()),
                     "best_jaccard": round(j, 3), "best_rank": rank,
                     "member_ranks": sorted(int(r) for r in held_rank[at]),
                     "lost_at": where_lost(found=hit, candidates=n_cand,
                                           size=len(ring), best_j=j, best_rank=rank, k=k)})
    out: dict[str, Any] = {
        "ring_stage": scorer.ring_stage, "k": k, "groups": len(groups),
        "ring_recall_at_k": round(mt.ring_recall_at_k(rings, groups, k), 4),
        "lost_at": {w: sum(r["lost_at"] == w for r in rows)
                    for w in ("found", "score", "grouping", "rank")},
        "rings": rows}
    if variants:
        out["variants"] = []
        for s in SHARES:
            for strength in STRENGTHS:
                g = suspicious_groups(prep.strength, score, seed=0, min_strength=strength,
                                      min_score=float(np.quantile(score, 1 - s)))
                ranked = mt.held_out_sets(ranked_groups(prep.ids, score, g), trained_on)
                out["variants"].append({
                    "candidate_share": s, "min_link_strength": strength,
                    "groups": len(ranked),
                    "ring_recall_at_k": round(mt.ring_recall_at_k(rings, ranked, k), 4)})
    return out


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--variants", action="store_true",
                        help="also regroup the scores with other candidate shares and "
                             "least link strengths")
    args = parser.parse_args()
    print(json.dumps(ring_loss(args.truth, args.models, args.variants), indent=2))


if __name__ == "__main__":
    main()
