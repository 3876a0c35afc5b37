"""``guanxi train`` and ``guanxi score`` as library calls: graph in, artefact or scores out.

``train`` prepares the graph (``gnn/prepare.py``), fits the scorer (``gnn/scorer.py``)
and saves it as a versioned artefact with its settings, the data snapshot it saw and
its out-of-fold metrics. ``score`` loads an artefact (default: the latest), scores
every merchant and cluster of the graph and writes them to Neo4j
(``graph/scores.py``); cluster ids persist from the scores already stored.

Training keeps what it read (``graph/snapshot.py``) with the moment it read it, so the
first full scoring with the new model reads only what ingest changed since
(``graph/delta.py``) instead of the whole graph again: 30-40 s at 100,000 merchants.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guanxi.errors import InputError
from guanxi.gnn.artefact import (
    Artefact,
    data_snapshot,
    load_artefact,
    models_dir,
    save_artefact,
    writable_models_dir,
)
from guanxi.gnn.cluster_scores import cluster_labels, cluster_table
from guanxi.gnn.credit_scale import credit_score
from guanxi.gnn.incremental import Delta, changed_only, moved, reach, to_rescore
from guanxi.gnn.prepare import Carried, Prepared, prepare
from guanxi.gnn.scorer import NodeScores, Scorer, ScorerSettings, fit_scorer
from guanxi.gnn.scores import ScoreSet
from guanxi.gnn.train import Trained, TrainSettings
from guanxi.gnn.trees import Ensemble
from guanxi.graph.connection import Graph
from guanxi.graph.delta import Stale, brought_up_to_date, read_touched
from guanxi.graph.export import Exported
from guanxi.graph.ledger import BATCH_TIMEOUT
from guanxi.graph.lock import Lease, held
from guanxi.graph.snapshot import (
    Snapshot,
    SnapshotError,
    is_kept,
    load_snapshot,
    save_snapshot,
    snapshots_dir,
    staged_meanwhile,
)
from guanxi.interrupts import StoppedAfterCommit
from guanxi.progress import ProgressFn
from guanxi.queries import load

__all__ = ["FASTRP_DIMENSIONS", "SCORES_LOCK", "ScoreReport", "TrainReport", "score",
           "scores_of", "train"]

FASTRP_DIMENSIONS = 32
"""Width of the FastRP embeddings every run writes (the width measured against the
GNN's in docs/results.md)."""

SCORES_LOCK = "scores"
"""The job lock every writer of scores holds (``guanxi score``, ``guanxi refresh``)."""

_SHARED = "shared_weeks"
"""The snapshot's copy of ``Prepared.shared_weeks`` (one row per merchant, as every array a
snapshot keeps)."""

TOUCHED_READ_SHARE = 0.5
"""Share of the graph's merchants past which a run reads the whole graph rather than
the merchants ingest touched into a snapshot: at 100,000 merchants reading and merging
them took 3.0 s for 1,000, 13.2 s for 30,000, 24 s for 60,000 and 37 s for all, where
the export took 19-30 s (docs/performance.md). The first scoring after training on
another graph, or after the graph was loaded again, is that case."""

WHOLE_WRITE_ROWS = 50_000
"""Moved scores above which (and above half the merchants) an incremental run writes
every score as a new run, unless ``GUANXI_WHOLE_WRITE_OVER`` gives the number. The
flip replaces moved scores in one transaction (100,000 merchants: 2,000 in 1.1 s,
20,000 in 2.7 s, 50,000 in 5.7 s); past half of them writing every score, in batches,
costs as much (15-20 s) and keeps that transaction's size bounded on a large graph."""

Say = Callable[[str], None]

log = logging.getLogger("guanxi.score")


@dataclass
class TrainReport:
    version: str
    supervised: bool
    labels: dict[str, int]
    metrics: dict[str, Any]
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScoreReport:
    model_version: str
    scored_at: str
    merchants: int
    clusters: int
    suspicious_clusters: int
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)
    written: dict[str, Any] = field(default_factory=dict)
    """What the write did (``graph.scores.WriteSummary``): run id, counts, cluster
    events, what the prune removed; empty when not written."""
    rescored: int = 0
    """Merchants whose scores this run computed (all of them, unless incremental; an
    incremental run writes those of them whose scores moved)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _metrics(prep: Prepared, nodes: NodeScores) -> dict[str, Any]:
    """Out-of-fold quality on the training labels (the honest figure ``train`` can give
    without ground truth)."""
    from guanxi.gnn import metrics as m

    out: dict[str, Any] = {}
    known = prep.labels.ring >= 0
    y = prep.labels.ring[known]
    if known.any() and 0 < y.sum() < y.size:
        out["oof_ring_auprc_labelled"] = round(m.auprc(y, nodes.ring[known]), 4)
        out["oof_ring_auroc_labelled"] = round(m.auroc(y, nodes.ring[known]), 4)
    observed = np.isfinite(prep.labels.defaulted)
    if nodes.pd is not None and observed.any():
        d = prep.labels.defaulted[observed]
        if 0 < d.sum() < d.size:
            out["oof_credit_auc"] = round(m.auroc(d, nodes.pd[observed]), 4)
            out["oof_credit_brier"] = round(m.brier(d, nodes.pd[observed]), 4)
    return out


def train(graph: Graph, settings: ScorerSettings | None = None, *, models: str | None = None,
          progress: ProgressFn | None = None, say: Say | None = None) -> TrainReport:
    """Fit the scorer on the graph's labels and save it; see the module docstring."""
    settings = settings or ScorerSettings()
    root = writable_models_dir(models)
    clock: dict[str, float] = {}
    t = time.perf_counter()
    point = graph.read(load("scores_read_point"), window=BATCH_TIMEOUT)[0]
    prep = prepare(graph, use_gds=None, seed=settings.seed, progress=progress, notice=say)
    clock["prepare"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    # What fitting says (no labels to learn from, ...) goes in the report's notes too:
    # with --json nothing is printed, and a script must still be told.
    heard: list[str] = []

    def tell(line: str) -> None:
        heard.append(line)
        if say is not None:
            say(line)

    scorer, nodes = fit_scorer(prep, settings, progress=progress, say=tell)
    clock["fit"] = round(time.perf_counter() - t, 1)
    metrics = {**scorer.metrics, **_metrics(prep, nodes)}
    state, extra = _state(scorer)
    seen = {"read_at": point["now"].to_native().isoformat(), "read_seen": sorted(point["seen"])}
    artefact = save_artefact(models, model_state=state, settings=_settings(settings),
                             metrics=metrics, snapshot={**data_snapshot(graph), **seen},
                             extra=extra)
    # What the first scoring with this model brings up to date instead of reading it all.
    try:
        save_snapshot(snapshots_dir(root), graph, _trained_on(artefact.version),
                      Snapshot(prep.ex, prep.communities, None))
    except SnapshotError as exc:
        log.warning("no snapshot kept for scoring: %s", exc)
    return TrainReport(artefact.version, scorer.supervised, prep.labels.counts(), metrics,
                       clock, [*prep.notes, *heard])


def _trained_on(version: str) -> str:
    """The snapshot name of what training ``version`` read."""
    return f"train-{version}"


def _settings(settings: ScorerSettings) -> dict[str, Any]:
    return asdict(settings)


def _state(scorer: Scorer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scorer as an artefact: GNN weights in ``model_state``, the rest in ``extra``."""
    state: dict[str, Any] = {}
    extra: dict[str, Any] = {"feature_names": scorer.feature_names,
                             "ring_stage": scorer.ring_stage,
                             "group_pd_kappa": scorer.group_pd_kappa}
    if scorer.gnn is not None:
        for head, weights in scorer.gnn.states.items():
            state[f"gnn.{head}"] = weights
        extra["gnn"] = {"config": scorer.gnn.config, "settings": scorer.gnn.settings,
                        "standardiser": scorer.gnn.standardiser, "seed": scorer.gnn.seed,
                        "best_epoch": scorer.gnn.best_epoch}
    for name in ("stage_0", "stage_a", "stage_b", "credit"):
        model: Ensemble | None = getattr(scorer, name)
        if model is not None:
            extra[name] = model.state()
    return state, extra


def load_scorer(artefact: Artefact) -> Scorer:
    """The :class:`Scorer` saved in ``artefact``."""
    extra = artefact.extra
    settings_dict = dict(artefact.settings)
    # JSON has no tuples: the artefact's lists go back to the tuples they were.
    gnn_settings = TrainSettings(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in settings_dict.pop("gnn").items()})
    # Saved before the weighted core existed: its stage-B trees learnt the context of
    # groups made without it, so it keeps grouping that way; the same for one pool of
    # candidates before several.
    settings_dict.setdefault("min_link_strength", 0.0)
    settings_dict["candidate_shares"] = tuple(settings_dict.pop("candidate_shares", None) or
                                              (settings_dict.pop("candidate_share", 0.02),))
    settings = ScorerSettings(**settings_dict, gnn=gnn_settings)
    gnn = None
    if "gnn" in extra:
        g = extra["gnn"]
        states = {k.split(".", 1)[1]: v for k, v in artefact.model_state.items()
                  if k.startswith("gnn.")}
        gnn = Trained(g["config"], states, g["settings"], g["standardiser"], g["seed"],
                      g["best_epoch"])
    models = {n: Ensemble.from_state(extra[n]) if n in extra else None
              for n in ("stage_0", "stage_a", "stage_b", "credit")}
    # Saved before the stage was chosen: the full stack was shipped. Before the group
    # PD read observed loans: the plain mean of the members' PDs (None).
    return Scorer(settings, list(extra["feature_names"]), gnn, models["stage_0"],
                  models["stage_a"], models["stage_b"], models["credit"],
                  dict(artefact.metrics), extra.get("ring_stage", "b"),
                  extra.get("group_pd_kappa"))


def scores_of(prep: Prepared, nodes: NodeScores, model_version: str,
              previous: dict[str, list[str]] | None = None,
              scored_at: datetime | None = None, *, labels: np.ndarray | None = None,
              only: np.ndarray | None = None) -> ScoreSet:
    """The :class:`ScoreSet` of merchant scores ``nodes`` on ``prep``'s graph, scored
    at ``scored_at`` (default: now); ``labels`` and ``only`` as in
    :func:`~guanxi.gnn.cluster_scores.cluster_table`."""
    clusters, merchant_cluster = cluster_table(prep, nodes, previous, labels=labels,
                                               only=only)
    pd_ = nodes.pd
    credit, unknown = np.zeros(prep.m, dtype=np.int64), np.ones(prep.m, dtype=bool)
    if pd_ is not None:
        unknown = np.isnan(pd_)  # not computed (``Scorer.score``'s ``rows``)
        credit[~unknown] = credit_score(pd_[~unknown])
    merchants = pd.DataFrame({
        "merchant_id": prep.ids.astype(object), "cluster_id": merchant_cluster,
        "ring_score": nodes.ring.astype(float),
        "pd": pd_.astype(float) if pd_ is not None else np.nan,
        "credit_score": pd.arrays.IntegerArray(credit, unknown),
    })
    emb = None if nodes.embedding is None else nodes.embedding.astype(np.float32)
    return ScoreSet(merchants, clusters, model_version,
                    scored_at or datetime.now(UTC), embeddings=emb)


def score(graph: Graph, *, version: str | None = None, models: str | None = None,
          write: bool = True, progress: ProgressFn | None = None,
          say: Say | None = None, lease: Lease | None = None,
          delta: Delta | None = None, whole: bool = False) -> tuple[ScoreSet, ScoreReport]:
    """Score the graph with a saved model and write the scores; see the module docstring.

    Writing holds the ``scores`` job lock (one writer at a time; ``LockHeld`` names
    the holder) unless the caller holds it already and passes its ``lease``, which is
    then checked between stages (``LockLost`` once another run took it over).

    With ``delta`` the run is incremental (``gnn/incremental.py``): every merchant's
    ring score and cluster are computed, but only the merchants the ingested changes
    can reach, and the clusters they form, are re-scored (their PD and embedding the
    only ones computed), and of those only the scores that moved are written; the rest
    is taken over from ``delta.base``; or, when more than :data:`WHOLE_WRITE_ROWS`
    moved, every score is computed and written as a new run (the GNN then runs a second
    time, over every merchant). The returned ScoreSet is what was written.
    Without it, the first scoring after training reads only what changed since the
    training read the graph, unless ``whole`` (``refresh --full``: a hand edit that left
    the counts alone is read then).
    """
    if write and lease is None:
        with held(graph, SCORES_LOCK, what="scoring") as own:
            return score(graph, version=version, models=models, progress=progress, say=say,
                         lease=own, delta=delta, whole=whole)
    return _score(graph, version, models, write, progress, say, lease, delta, whole)


def whole_write_over() -> int | None:
    """``GUANXI_WHOLE_WRITE_OVER`` (None: unset, :data:`WHOLE_WRITE_ROWS` applies)."""
    value = os.environ.get("GUANXI_WHOLE_WRITE_OVER", "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[0-9]+", value):
        raise InputError("GUANXI_WHOLE_WRITE_OVER must be a whole number, 0 or more, "
                         f"not {value!r}",
                         "unset it to write every score only when over "
                         f"{WHOLE_WRITE_ROWS} and half the merchants moved")
    return int(value)


def _changes_only(graph: Graph, delta: Delta, root: Path, name: str | None = None
                  ) -> tuple[Exported | None, Carried | None, str | None]:
    """The export of ``delta.base`` kept in ``root``, brought up to date with what
    ingest touched since (``graph/delta.py``), and the whole-graph results that run
    wrote; or None, None when no such snapshot is kept or it does not match the graph;
    and a note saying which. ``name``: what the notes call the base (default: its
    run); with a name, no snapshot kept is no note (there need not be one)."""
    base = name or f"run {delta.base}"
    missing = None if name else f"no snapshot of {base} in {root}: read the whole graph"
    if not is_kept(root, graph, delta.base):
        return None, None, missing
    changed = graph.read(load("ingest_touched"), since=delta.since, seen=list(delta.seen))[0]
    touched = changed["merchants"]
    if len(touched) > TOUCHED_READ_SHARE * changed["in_graph"]:
        return None, None, (f"{len(touched)} merchants touched, over "
                            f"{TOUCHED_READ_SHARE:.0%} of the {changed['in_graph']} in the "
                            "graph: read the whole graph (faster than reading them one by one)")
    with ThreadPoolExecutor(1, thread_name_prefix="guanxi-delta") as pool:
        # Neo4j reads what ingest touched while this process loads the snapshot (1 s
        # of the 3.8 s both took one after the other at 100,000 merchants). Leaving
        # the block waits for the read: a run that falls back to reading the whole graph
        # does not read beside it.
        reading = pool.submit(read_touched, graph, touched)
        try:
            kept = load_snapshot(root, graph, delta.base)
        except SnapshotError as exc:
            return None, None, (f"the snapshot of {base} in {root} cannot be used "
                                f"({exc}): read the whole graph")
        if kept is None:  # removed since it was looked for
            return None, None, missing
        read = reading.result()
    carried = Carried(kept.ex.ids["Merchant"], kept.communities, kept.fastrp, kept.computed,
                      np.asarray(read.ids, dtype=object))
    try:
        ex = brought_up_to_date(graph, kept.ex, read)
    except Stale as exc:
        return None, None, (f"the snapshot of {base} does not match the graph "
                            f"({exc}): read the whole graph")
    rest = ("the rest came from its snapshot" if name else
            "the rest, and its communities and FastRP embeddings, came from its snapshot "
            "(--full computes them again)")
    return ex, carried, (f"read only what changed since {base} ({len(touched)} merchants "
                         f"touched); {rest}")


def _shared_moved(carried: Carried | None, prep: Prepared) -> bool:
    """Whether what every merchant's features read of the whole population
    (``Prepared.shared_weeks``: the complete weeks, the promotion weeks) is other than
    the carried run's: every merchant's features then move, far beyond the merchants
    an incremental run re-scores. True when the carried run kept none (a snapshot of an
    older guanxi): re-scoring everyone once is the safe way round. False without a
    carried run (no snapshot: the run read the whole graph, and what its base computed
    is not known; docs/operations.md)."""
    if prep.shared_weeks is None or carried is None:
        return False
    before = carried.computed.get(_SHARED)
    if before is None or before.ndim != 2 or not len(before):
        return True
    return not np.array_equal(before[0], prep.shared_weeks)


def _since_training(graph: Graph, artefact: Artefact, root: Path
                    ) -> tuple[Exported | None, str | None]:
    """A full run's read: what the training of ``artefact`` read, brought up to date,
    when its snapshot is still kept (the first scoring after training), and a note
    saying so; else None, and a note saying why when a snapshot is kept but cannot be
    used. The whole-graph algorithms run all the same: only the read is saved."""
    read_at = artefact.snapshot.get("read_at")
    if read_at is None:  # trained by an older guanxi
        return None, None
    delta = Delta(_trained_on(artefact.version), datetime.fromisoformat(read_at),
                  tuple(artefact.snapshot.get("read_seen", ())))
    ex, _, note = _changes_only(graph, delta, root,
                                name=f"the training of model {artefact.version}")
    return ex, note


def _score(graph: Graph, version: str | None, models: str | None, write: bool,
           progress: ProgressFn | None, say: Say | None, lease: Lease | None,
           delta: Delta | None, whole: bool) -> tuple[ScoreSet, ScoreReport]:
    from guanxi.graph.scores import NoScores, read_scores, run_id, stored_scores, write_scores
    from guanxi.graph.similar import FASTRP, GNN, ensure_vector_index

    def check() -> None:
        if lease is not None:
            lease.check()

    clock: dict[str, float] = {}
    # A mistake said now, not after the scoring; only incremental runs read it.
    whole_over = whole_write_over() if delta is not None else None
    artefact = load_artefact(models, version)
    scorer = load_scorer(artefact)
    t = time.perf_counter()
    # Before the read: a batch ingested while the graph is read may be missed, so the
    # run must not count as newer than it; and a batch begun before but still open is
    # not seen: the run records the batches it saw (a batch lives BATCH_TIMEOUT at most).
    point = graph.read(load("scores_read_point"), window=BATCH_TIMEOUT)[0]
    as_of = point["now"]
    snapshots = snapshots_dir(models_dir(models))
    if delta is None:
        carried = None
        exported, read = (None, None) if whole else _since_training(graph, artefact,
                                                                    snapshots)
    else:
        exported, carried, read = _changes_only(graph, delta, snapshots)
    if read is not None:
        log.info(read, extra={"event": "read", "snapshot": exported is not None})
    prep = prepare(graph, use_gds=None, seed=scorer.settings.seed, progress=progress,
                   notice=say, fastrp_dim=FASTRP_DIMENSIONS, exported=exported,
                   carried=carried)
    if read is not None:
        prep.notes.insert(0, read)
    clock["prepare"] = round(time.perf_counter() - t, 1)
    check()
    scored_at = datetime.now(UTC)
    t = time.perf_counter()
    # Carried scores are this model's only: an incremental run builds on a run of its
    # own model version (gnn/refresh.py), whose id ends with it (graph.scores.run_id).
    first = scorer.first_stage(prep, carried if delta is not None
                               and delta.base.endswith(f"/{artefact.version}") else None)
    if first.predicted is not None:
        log.info("stage 0 scored the %d merchants whose features changed across a split "
                 "of its trees (or are new); the other %d kept their scores",
                 first.predicted, prep.m - first.predicted,
                 extra={"event": "first_stage", "predicted": first.predicted})
    # What the next incremental run brings up to date instead of reading it all:
    # written while this run scores and writes, kept once its scores are current.
    with (staged_meanwhile(snapshots, graph, run_id(artefact.version, scored_at),
                           Snapshot(prep.ex, prep.communities, prep.fastrp,
                                    {**first.kept(),
                                     **(prep.trends.kept() if prep.trends else {}),
                                     **({} if prep.shared_weeks is None else
                                        {_SHARED: np.tile(prep.shared_weeks,
                                                          (prep.m, 1))})}))
          if write else nullcontext()) as keep:
        ranked = scorer.rank(prep, first)
        try:
            old = read_scores(graph, merchants=False)
            previous = {r.cluster_id: list(r.members) for r in old.clusters.itertuples()}
        except NoScores:
            previous = None
        labels = cluster_labels(prep, ranked.groups)
        moving = stored = None
        if delta is None:
            nodes = scorer.score(prep, ranked=ranked)
            scores = scores_of(prep, nodes, artefact.version, previous, scored_at,
                               labels=labels)
        else:
            # Asked after the graph was read: every batch the read may have seen is here.
            touched = graph.read(load("ingest_touched"), since=delta.since,
                                 seen=list(delta.seen))[0]["merchants"]
            hops = reach(scorer.settings.gnn.layers if scorer.gnn is not None else 0)
            moving = to_rescore(prep, labels, previous or {}, touched, hops)
            if _shared_moved(carried, prep):
                moving[:] = True
                prep.notes.append("the weeks every merchant's features share moved since "
                                  "the run this one builds on (a new complete week, one "
                                  "before the data, or a week that became or ceased to "
                                  "be a promotion week): every merchant re-scored")
            if (ranked.gnn is None and scorer.gnn is not None
                    and scorer.gnn.aggregates_by_product and 0 < moving.sum() < prep.m):
                log.info("the GNN scores the %d merchants re-scored on what their scores "
                         "read only", int(moving.sum()),
                         extra={"event": "gnn_rows", "merchants": int(moving.sum())})
            with ThreadPoolExecutor(1, thread_name_prefix="guanxi-stored") as pool:
                # Neo4j reads what is stored of them while this process scores them and
                # builds their clusters.
                reading = pool.submit(stored_scores, graph, delta.base, prep.ids[moving])
                # The others' PD and embeddings are not written: not computed.
                nodes = scorer.score(prep, ranked=ranked, rows=moving)
                scores = scores_of(prep, nodes, artefact.version, previous, scored_at,
                                   labels=labels, only=moving)
                stored = reading.result()
        scores.fastrp = prep.fastrp
        retired: list[str] = []
        base = None if delta is None else delta.base
        if delta is not None:
            scores, retired = changed_only(prep, scores, previous or {}, moving)
            rescored = len(scores.merchants)
            scores = moved(scores, stored)
            if len(scores.merchants) > (max(WHOLE_WRITE_ROWS, prep.m // 2)
                                        if whole_over is None else whole_over):
                prep.notes.append(
                    f"{len(scores.merchants)} of the {rescored} merchants re-scored moved: "
                    "every score was written as a new run, faster than replacing that "
                    "many (GUANXI_WHOLE_WRITE_OVER)")
                if not moving.all():
                    nodes = scorer.score(prep, ranked=ranked)
                scores = scores_of(prep, nodes, artefact.version, previous, scored_at,
                                   labels=labels)
                scores.fastrp = prep.fastrp
                base, retired = None, []
            else:
                prep.notes.append(f"{len(scores.merchants)} of the {rescored} merchants "
                                  "re-scored moved (or are in a re-scored cluster) and "
                                  "were written; the others keep their stored scores")
        else:
            rescored = len(scores.merchants)
        clock["score"] = round(time.perf_counter() - t, 1)
        written: dict[str, Any] = {}
        if write:
            check()
            t = time.perf_counter()
            summary = write_scores(graph, scores, as_of=as_of, seen_batches=point["seen"],
                                   progress=progress,
                                   base=base, retired=retired,
                                   # Brought up to date from the base's snapshot, the
                                   # read matched the graph's counts: none was gone then.
                                   read_merchants=(prep.m if delta is not None
                                                   and exported is not None else None),
                                   check=check if lease is not None else None)
            try:
                kept_note = None
                try:
                    if keep() is None:
                        left = ", ".join(f"{n} {what}" for what, n in prep.ex.skipped.items())
                        kept_note = (f"no snapshot kept for the next incremental run: the "
                                     f"read left out rows of merchants it did not find "
                                     f"({left}: written during the read, or left by a merchant "
                                     "deleted by hand: docs/operations.md says how to remove "
                                     "them); the next run will read the whole graph")
                except SnapshotError as exc:
                    kept_note = (f"no snapshot kept for the next incremental run ({exc}): it "
                                 "will read the whole graph")
                if kept_note is not None:
                    log.warning(kept_note, extra={"event": "snapshot", "kept": False})
                    prep.notes.append(kept_note)
                # After the flip: the indexes then fit the run readers read.
                ensure_vector_index(graph, FASTRP_DIMENSIONS, embedding=FASTRP)
                if scores.embeddings is not None:
                    ensure_vector_index(graph, scores.embeddings.shape[1], embedding=GNN)
            except KeyboardInterrupt:
                raise StoppedAfterCommit(
                    f"run {summary.run} is current; its snapshot for the next incremental "
                    "run may not be kept (that run then reads the whole graph)") from None
            clock["write"] = round(time.perf_counter() - t, 1)
            written = {k: v for k, v in summary.as_dict().items() if k != "totals"}
            if delta is not None and base is None:  # every score written as a new run
                written["kept"] = {"merchants": 0, "clusters": 0, "memberships": 0}
    suspicious = int(nodes.groups.max()) + 1 if nodes.groups.size else 0
    notes = list(prep.notes)
    if not scorer.supervised:
        notes.append("ring scores are unsupervised (no fraud labels when trained): "
                     "a ranking, not probabilities")
    report = ScoreReport(artefact.version, scores.scored_at.isoformat(), prep.m,
                         written.get("clusters", len(scores.clusters)), suspicious, clock,
                         notes, written, rescored=rescored)
    return scores, report
