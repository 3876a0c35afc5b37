"""The shipped scorer: GNN outputs and graph features into gradient-boosted trees, in
two stages around the clusters.

For each merchant ``i`` with own features ``x_i`` (``gnn/features``) and neighbourhoods
``N_k(i)`` (``flow``, ``shared``, ``co_payer``, ``prepare.link_kinds``):

0. **Stage 0** trees on the own features alone give ``s_i``, a first ring score.
1. **Graph inputs** ``z_i = [x_i, mean/max_{N_k(i)} s, |N_k(i)|, g_ring(i), g_pd(i)]``:
   the neighbourhood's stage-0 scores per link kind (the GADBench aggregation, of one
   score instead of every feature: with a few dozen labelled ring members, a thousand
   aggregate columns overfit, measured in docs/scoring.md) plus the heterogeneous
   GNN's out-of-fold ring and default scores (``gnn/train.py``; with
   ``use_gnn=False`` they are left out: the ablation).
2. **Stage A** trees on ``z`` give a ring score ``a_i``; PU-calibrated (below). When
   trained, each merchant's ``z`` (and stage B's context) is computed by its fold's
   models, which never learnt its fold's labels (:func:`_by_fold`).
3. **Clusters** follow the links between suspicious merchants (``gnn/clusters.py``).
4. **Stage B** trees on ``[z_i, c_i]``, where ``c_i`` is the cluster context: the size
   of ``i``'s suspicious group, the mean and max stage-A score of the *other* members
   and the strength of ``i``'s links inside it. A ring member that looks ordinary
   alone is lifted by its ring-mates; a lone oddity is not.
5. **Credit** trees on ``[z_i, ring_i, d_i]`` with ``d_i`` the mean features of the
   other members of ``i``'s cluster (a group's common shock), fit on observed loans.

The ring score shipped (``ring_i`` above, and what the clusters follow) is that of the
simplest stage, 0, A or B, that ranks the held-out caught rings about as well as the
best one when trained (:func:`chosen_stage`): the stages after 0 can cost more than
they give.

Labels are the few rings investigators caught (positives) and cleared merchants; the
rest are unlabelled and enter as negatives with a small weight (PU learning). The ring
probability is Platt-calibrated on those labels: the chance that a case on the
merchant would be confirmed like the caught ones. Elkan and Noto's correction (divide
by the labelled share of positives) was tried and dropped: its estimate of that share
from so few caught rings was far too small (0.02-0.06), saturating most merchants at 1
and destroying the ranking (AUPRC 0.008 on hard).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp

from guanxi.gnn.baselines.gbdt import aggregate_names, neighbour_aggregate
from guanxi.gnn.clusters import POOL_SHARES, assemble, stable_groups, suspicious_groups
from guanxi.gnn.group import credibility
from guanxi.gnn.hetero import model_input
from guanxi.gnn.prepare import Carried, Prepared
from guanxi.gnn.projection import DIRECTED, SHARED
from guanxi.gnn.train import (
    CrossFit,
    Trained,
    TrainSettings,
    group_folds,
    label_groups,
    train_and_cross_fit,
)
from guanxi.gnn.trees import Ensemble, fit_folds
from guanxi.gnn.workers import in_threads
from guanxi.progress import ProgressFn

__all__ = ["RING_STAGES", "FirstStage", "NodeScores", "Ranked", "Scorer", "ScorerSettings",
           "chosen_stage", "fit_scorer", "others_mean"]

GNN_INPUTS = ("gnn_ring", "gnn_pd")
"""The columns of ``z`` that hold the GNN's scores."""

CONTEXT = ("group_size", "group_mean_other", "group_max_other", "group_link_strength")


@dataclass(frozen=True)
class ScorerSettings:
    seed: int = 0
    folds: int = 5
    use_gnn: bool = True
    gnn: TrainSettings = field(default_factory=TrainSettings)
    unlabelled_weight: float = 0.05
    """Weight of an unlabelled merchant as a ring negative (PU learning)."""
    candidate_shares: tuple[float, ...] = POOL_SHARES
    """Shares of merchants, most suspicious first, that the grouping step considers:
    groups that persist over these pools (``clusters.stable_groups``); with one share,
    that pool alone (``clusters.suspicious_groups``), as models saved before the
    pools existed group (their ``candidate_share``)."""
    min_link_strength: float = 1.0
    """Least sum of link strengths that keeps a candidate in a suspicious group
    (``clusters.core``)."""
    max_cluster_size: int = 40


@dataclass
class NodeScores:
    """Per merchant (M,): ``ring`` and ``pd`` probabilities, ``groups`` suspicious-group
    labels (-1 none), ``embedding`` (M, H) or None, and the tree inputs and
    contributions behind the scores (for explanations)."""

    ring: np.ndarray
    pd: np.ndarray | None
    groups: np.ndarray
    embedding: np.ndarray | None
    ring_inputs: np.ndarray
    ring_names: list[str]
    credit_inputs: np.ndarray | None
    credit_names: list[str]
    ring_contrib: np.ndarray | None = None
    """(M, F) contributions behind ``ring`` where no tree model gives them (the
    unsupervised score's own terms)."""
    ring_model: Ensemble | None = None
    """The trees behind ``ring``, whose contributions :meth:`contributions` computes
    for the rows asked for (None: ``ring_contrib`` holds them, or nothing explains)."""
    credit_model: Ensemble | None = None
    """The trees behind ``pd``, likewise."""
    group_pd_kappa: float | None = None
    """What a cluster's observed loans are worth against its members' PDs in its group
    PD (``Scorer.group_pd_kappa``)."""

    def contributions(self, rows: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(len(rows), F)`` contributions behind ``ring`` and ``pd`` of ``rows`` (or
        None): only the rows explained are computed (SHAP over every merchant of a
        100,000-merchant graph takes 7 s; only cluster members are ever explained)."""

        def computed(model: Ensemble | None, inputs: np.ndarray | None) -> np.ndarray | None:
            if model is None or inputs is None:
                return None
            return model.contributions(inputs[rows]) if len(rows) else \
                np.zeros((0, inputs.shape[1]))

        ring = (self.ring_contrib[rows] if self.ring_contrib is not None
                else computed(self.ring_model, self.ring_inputs))
        return ring, computed(self.credit_model, self.credit_inputs)


@dataclass(frozen=True)
class Ranked:
    """What :meth:`Scorer.rank` computes: every merchant's ring score and suspicious
    group, and the inputs the rest of the scoring reads."""

    x: np.ndarray
    """(M, F) float32 own features."""
    z: np.ndarray
    """(M, Z) float32 graph inputs (:func:`graph_inputs`); their GNN columns are 0
    where ``gnn`` is None."""
    z_names: list[str]
    ring: np.ndarray
    """(M,) the shipped ring score."""
    groups: np.ndarray
    """(M,) suspicious-group labels, -1: none."""
    model: Ensemble | None
    """The trees behind ``ring`` (None: the unsupervised score)."""
    zb: np.ndarray
    """(M, B) the inputs of ``model``."""
    zb_names: list[str]
    gnn: tuple[np.ndarray | None, np.ndarray | None, np.ndarray] | None
    """The GNN's ring and default scores and embeddings, when the ring score read
    them (:attr:`Scorer.ring_reads_gnn`)."""
    unusual: np.ndarray | None = None
    """(M, F) the unsupervised score's per-feature terms, else None."""
    dense: np.ndarray | None = None
    """(M,) the unsupervised score's dense-block term, else None."""


@dataclass(frozen=True)
class FirstStage:
    """``x`` (M, F) float32, the trained feature columns of a graph's merchants, and
    ``s0`` (M,) their stage-0 raw scores (None: no stage 0); ``predicted``: the rows
    whose score was computed (the others were carried: :meth:`Scorer.first_stage`)."""

    x: np.ndarray
    s0: np.ndarray | None
    predicted: int | None = None

    def kept(self) -> dict[str, np.ndarray]:
        """What a run keeps in its snapshot for the next one's :meth:`Scorer.first_stage`."""
        return {} if self.s0 is None else {"x": self.x, "s0": self.s0}


@dataclass
class Scorer:
    """A trained scorer: what :func:`fit_scorer` learnt, enough to score any graph."""

    settings: ScorerSettings
    feature_names: list[str]
    gnn: Trained | None
    stage_0: Ensemble | None
    stage_a: Ensemble | None
    stage_b: Ensemble | None
    credit: Ensemble | None
    metrics: dict[str, Any] = field(default_factory=dict)
    ring_stage: str = "b"
    """The stage whose trees give the shipped ring score (:data:`RING_STAGES`): the
    simplest within one standard error of the best on the caught rings held out when
    trained (:func:`chosen_stage`)."""
    group_pd_kappa: float | None = None
    """``gnn.group.credibility`` of the training clusters' out-of-fold PDs: how many
    observed loans a cluster's own outcomes count for in its group PD (None: they do
    not count, the group PD is the members' mean PD)."""

    @property
    def supervised(self) -> bool:
        return self.stage_a is not None

    def first_stage(self, prep: Prepared, carried: Carried | None = None) -> FirstStage:
        """The trained feature columns of ``prep`` and their stage-0 scores.

        With ``carried`` from a run of this scorer (``carried.computed`` holds its
        :meth:`FirstStage.kept`), a merchant keeps its stage-0 score when its features
        are bit for bit those it had there, or moved without crossing any split of
        the trees (:meth:`Ensemble.same_leaves`): trees score each row alone, so only
        the other rows are predicted, and the scores are those a prediction of every
        row gives. After 1% new payments at 100,000 merchants, 48,215 rows had moved
        (most through the category's typical ticket) and 1,083 crossed a split.
        """
        x = prep.features[self.feature_names].to_numpy(np.float32)
        if self.stage_0 is None:
            return FirstStage(x, None)
        old = {} if carried is None else carried.computed
        if "x" not in old or "s0" not in old or old["x"].shape[1:] != x.shape[1:] \
                or old["x"].dtype != x.dtype:
            return FirstStage(x, self.stage_0.raw(x))
        where = carried.positions(prep.ids)
        same = where >= 0
        # Bit for bit (a NaN equals itself, -0.0 does not equal 0.0).
        same[same] = (old["x"][where[same]].view(np.uint32)
                      == x[same].view(np.uint32)).all(axis=1)
        moved = np.flatnonzero((where >= 0) & ~same)
        same[moved] = self.stage_0.same_leaves(old["x"][where[moved]], x[moved])
        s0 = np.empty(prep.m)
        s0[same] = old["s0"][where[same]]
        if not same.all():
            s0[~same] = self.stage_0.raw(x[~same])
        return FirstStage(x, s0, int((~same).sum()))

    @property
    def ring_reads_gnn(self) -> bool:
        """Whether the shipped ring score (so the clusters) reads the GNN's outputs:
        stage 0 and the unsupervised score do not."""
        return (self.gnn is not None and self.settings.use_gnn and self.stage_a is not None
                and not (self.ring_stage == "0" and self.stage_0 is not None))

    def rank(self, prep: Prepared, first: FirstStage | None = None) -> Ranked:
        """The ring scores and suspicious groups of every merchant of ``prep`` (its
        features must have the trained columns: ``gnn/features`` keeps them fixed), and
        what :meth:`score` reads after them; ``first``: :meth:`first_stage`, when
        already computed. The GNN runs here only when the ring score reads it
        (:attr:`ring_reads_gnn`)."""
        first = first if first is not None else self.first_stage(prep)
        x, s0 = first.x, first.s0
        gnn = self._gnn(prep, x) if self.ring_reads_gnn else None
        z, z_names = graph_inputs(prep, x, self.feature_names, s0,
                                  *((None, None) if gnn is None else gnn[:2]),
                                  self.settings.use_gnn)
        unusual = dense = None
        model = None
        zb, zb_names = z, z_names
        if self.stage_a is None:
            ring, unusual, dense = unsupervised_ring(prep, x, self.feature_names)
        elif self.ring_stage == "0" and self.stage_0 is not None:
            model, zb, zb_names = self.stage_0, x, list(self.feature_names)
            ring = model.calibrate(s0)
        else:
            model, ring = self.stage_a, self.stage_a.predict(z)
        groups = _groups(prep, ring, self.settings)
        if self.stage_b is not None and self.ring_stage == "b":
            zb, zb_names = _with_context(prep, z, z_names, ring, groups)
            model, ring = self.stage_b, self.stage_b.predict(zb)
            groups = _groups(prep, ring, self.settings)
        return Ranked(x, z, z_names, ring, groups, model, zb, zb_names, gnn, unusual, dense)

    def score(self, prep: Prepared, *, explain: bool = True,
              first: FirstStage | None = None, ranked: Ranked | None = None,
              rows: np.ndarray | None = None) -> NodeScores:
        """Scores of every merchant of ``prep`` (as :meth:`rank`); ``ranked``: its
        :meth:`rank`, when already computed.

        ``rows``: ``(M,)`` bool, the merchants whose PD and embedding are needed; the
        others' are NaN (with their credit inputs). Where the ring score does not read
        the GNN, the network then runs on what those merchants' outputs read only
        (``gnn/receptive.py``): an incremental refresh re-scores a fifth of the
        merchants or less.
        """
        ranked = ranked if ranked is not None else self.rank(prep, first)
        rows = None if rows is None or np.all(rows) else np.asarray(rows, dtype=bool)
        gnn = ranked.gnn
        z = ranked.z
        if self.gnn is not None and gnn is None:
            gnn = self._gnn(prep, ranked.x, rows)
            if self.settings.use_gnn:
                z = z.copy()
                for at, g in zip((ranked.z_names.index(n) for n in GNN_INPUTS), gnn[:2],
                                 strict=True):
                    z[:, at] = np.nan_to_num(g, nan=0.0) if g is not None else 0.0
        embedding = None if gnn is None else gnn[2]
        if embedding is not None and rows is not None and ranked.gnn is not None:
            embedding = embedding.copy()
            embedding[~rows] = np.nan
        out = NodeScores(ranked.ring, None, ranked.groups, embedding,
                         ranked.zb, ranked.zb_names, None, [],
                         group_pd_kappa=self.group_pd_kappa)
        if self.credit is not None:
            clusters = assemble(ranked.groups, prep.communities, adjacency=prep.business)
            zc, zc_names = credit_inputs(prep, z, ranked.z_names, ranked.ring, clusters,
                                         ranked.x)
            if zc_names != self.credit.names:
                # Trees trained before an input existed (the partners' outcomes) read
                # the inputs they learnt, by name.
                keep = [zc_names.index(name) for name in self.credit.names]
                zc, zc_names = zc[:, keep], list(self.credit.names)
            if rows is None:
                out.pd = self.credit.predict(zc)
            else:
                zc[~rows] = np.nan
                out.pd = np.full(prep.m, np.nan)
                out.pd[rows] = self.credit.predict(zc[rows])
            out.credit_inputs, out.credit_names = zc, zc_names
        if explain:
            if ranked.model is not None:
                out.ring_model = ranked.model
            elif ranked.unusual is not None:
                # Unsupervised: the factors are the relative density of the merchant's
                # dense block, and how unusual each feature is (0 at the median, 1 at
                # either extreme), the terms the tie-break averages.
                out.ring_inputs = np.hstack([ranked.zb, ranked.dense[:, None]]
                                            ).astype(np.float32)
                out.ring_names = [*ranked.zb_names, DENSE_BLOCK]
                out.ring_contrib = np.zeros_like(out.ring_inputs, dtype=np.float64)
                out.ring_contrib[:, :ranked.x.shape[1]] = ranked.unusual
                out.ring_contrib[:, -1] = ranked.dense
            out.credit_model = self.credit
        return out

    def _gnn(self, prep: Prepared, x: np.ndarray, rows: np.ndarray | None = None
             ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
        """The GNN's ring and default scores and embeddings of every merchant, NaN
        outside ``rows`` (``(M,)`` bool) when given."""
        data = model_input(prep.ex, x, standardiser=self.gnn.standardiser,
                           edge_values=self.gnn.reads_edge_values)
        if rows is None:
            return self.gnn.predict(data)
        at = np.flatnonzero(rows)
        some = self.gnn.predict(data, at)
        full = []
        for part in some:
            if part is None:
                full.append(None)
                continue
            whole = np.full((prep.m, *part.shape[1:]), np.nan, dtype=part.dtype)
            whole[at] = part
            full.append(whole)
        return full[0], full[1], full[2]


def graph_inputs(prep: Prepared, x: np.ndarray, names: list[str], s0: np.ndarray | None,
                 g_ring: np.ndarray | None, g_pd: np.ndarray | None, use_gnn: bool
                 ) -> tuple[np.ndarray, list[str]]:
    """``z`` of the module docstring: own features, neighbours' stage-0 scores, GNN
    scores."""
    kinds = prep.kinds
    blocks = [x]
    out_names = list(names)
    if s0 is not None:
        blocks.append(neighbour_aggregate(s0[:, None], kinds))
        out_names += aggregate_names(["ring_s0"], list(kinds))
    if use_gnn:
        for name, g in zip(GNN_INPUTS, (g_ring, g_pd), strict=True):
            col = np.zeros(prep.m) if g is None else np.nan_to_num(g, nan=0.0)
            blocks.append(col[:, None])
            out_names.append(name)
    return _stacked(blocks), out_names


def _stacked(blocks: list[np.ndarray]) -> np.ndarray:
    """``np.hstack(blocks)`` as float32, written once: hstack of float32 and float64
    blocks makes a float64 copy first (0.3 s at 100,000 merchants)."""
    out = np.empty((len(blocks[0]), sum(b.shape[1] for b in blocks)), dtype=np.float32)
    at = 0
    for block in blocks:
        out[:, at:at + block.shape[1]] = block
        at += block.shape[1]
    return out


def _with_context(prep: Prepared, z: np.ndarray, names: list[str], score: np.ndarray,
                  groups: np.ndarray) -> tuple[np.ndarray, list[str]]:
    return np.hstack([z, _context(prep, score, groups)]), [*names, *CONTEXT]


def _context(prep: Prepared, score: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``(M, 4)`` float32 :data:`CONTEXT` of each merchant's suspicious group."""
    m = prep.m
    size = np.zeros(m)
    mean_other = np.zeros(m)
    max_other = np.zeros(m)
    strength = np.zeros(m)
    a = prep.strength
    for g in np.unique(groups[groups >= 0]):
        idx = np.flatnonzero(groups == g)
        s = score[idx]
        size[idx] = idx.size
        mean_other[idx] = (s.sum() - s) / max(idx.size - 1, 1)
        order = np.sort(s)
        top, second = order[-1], order[-2] if idx.size > 1 else 0.0
        max_other[idx] = np.where(s >= top, second, top)
        strength[idx] = np.asarray(a[idx][:, idx].sum(axis=1)).ravel()
    ctx = np.column_stack([np.log1p(size), mean_other, max_other, np.log1p(strength)])
    return ctx.astype(np.float32)


def credit_inputs(prep: Prepared, z: np.ndarray, names: list[str], ring: np.ndarray,
                  clusters: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Credit inputs: ``z``, the ring probability, the other members' mean features in
    the merchant's cluster (``clusters``: ``clusters.assemble`` of the suspicious
    groups and business communities) and the partners' observed loans."""
    f = x.shape[1]
    partners, partner_names = partner_outcomes(prep)
    out = _stacked([z, ring[:, None], others_mean(x, clusters), partners])
    ctx_names = [f"cluster_mean_{n}" for n in prep.features.columns[:f]]
    return out, [*names, "ring_probability", *ctx_names, *partner_names]


PARTNER_KINDS: tuple[str, ...] = (*DIRECTED, *SHARED, "business")
"""The links whose partners' loan outcomes a merchant's PD reads: each flow (either
way), each shared identifier, and all of them together (``Prepared.business``).
Customers in common are left out: two shops of one street share customers, not a
fate."""

COUNTERPARTY_KINDS: tuple[str, ...] = tuple(f"{kind}_{side}" for kind in DIRECTED
                                            for side in ("same_source", "same_target"))
"""The merchants that share a counterparty with a merchant, per flow: ``same_source``
receive from a merchant it receives from (the other buyers of its suppliers),
``same_target`` send to a merchant it sends to (the other suppliers of its buyers)."""


def partner_outcomes(prep: Prepared) -> tuple[np.ndarray, list[str]]:
    r"""``(M, 2 K)`` float32 and the names: per kind ``k`` of :data:`PARTNER_KINDS` and
    :data:`COUNTERPARTY_KINDS`, the default rate of the merchant's partners with an
    observed loan and how many there are,

    .. math::
        \text{rate}_{ik} = \frac{\sum_j A^k_{ij} y_j}{\sum_j A^k_{ij} o_j}, \qquad
        \text{observed}_{ik} = \log\left(1 + \sum_j A^k_{ij} o_j\right)

    (``o_j`` 1 where ``j``'s loan outcome ``y_j`` is known; ``A^k`` the kind's weights,
    a flow 1 per linked pair; rate 0 without such partners). For a counterparty kind
    :math:`A^k = F F^\top` without its diagonal, ``F`` the flow's 0/1 pattern (sources
    of ``same_target``, receivers of ``same_source`` in rows): a merchant two suppliers
    share counts twice. A merchant's own outcome never enters its row.

    Suppliers, buyers and merchants of one owner, phone or account fail together (a
    supplier's collapse, a bust-out, a family business); the loans already observed
    around a merchant show it where its own takings do not yet. Many partners carry
    no observed loan, and a supplier's collapse then shows in its *other*
    buyers' loans: the counterparty kinds read them. A kind the graph lacks gives
    zeros.

    >>> from guanxi.gnn.projection import Links
    >>> import types
    >>> supply = sp.csr_matrix(np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0.0]]))
    >>> links = Links(3, directed={"supply": supply})
    >>> prep = types.SimpleNamespace(links=links, business=links.combined(),
    ...     labels=types.SimpleNamespace(defaulted=np.array([np.nan, 1.0, 0.0])))
    >>> table, names = partner_outcomes(prep)
    >>> table[:, names.index("partners_supply_default_rate")].tolist()
    [0.5, 0.0, 0.0]
    >>> np.expm1(table[:, names.index("partners_supply_observed")]).round(3).tolist()
    [2.0, 0.0, 0.0]
    >>> table[:, names.index("partners_supply_same_source_default_rate")].tolist()
    [0.0, 0.0, 1.0]
    """
    outcome = np.asarray(prep.labels.defaulted, dtype=np.float64)
    known = np.isfinite(outcome).astype(np.float64)
    failed = np.nan_to_num(outcome)
    links = prep.links
    mats = {**{k: ((a + a.T) > 0).astype(np.float64) for k, a in links.directed.items()},
            **links.shared, "business": prep.business}
    columns, names = [], []

    def add(kind: str, observed: np.ndarray, defaults: np.ndarray) -> None:
        columns.extend([np.divide(defaults, observed, out=np.zeros(links.n),
                                  where=observed > 1e-9), np.log1p(observed)])
        names.extend([f"partners_{kind}_default_rate", f"partners_{kind}_observed"])

    for kind in PARTNER_KINDS:
        a = mats.get(kind)
        if a is None:
            add(kind, np.zeros(links.n), np.zeros(links.n))
        else:
            add(kind, np.asarray(a @ known).ravel(), np.asarray(a @ failed).ravel())
    for kind in DIRECTED:
        a = links.directed.get(kind)
        flow = None if a is None else (a > 0).astype(np.float64).tocsr()
        for side, f in (("same_source", None if flow is None else flow.T.tocsr()),
                        ("same_target", flow)):
            if f is None:
                add(f"{kind}_{side}", np.zeros(links.n), np.zeros(links.n))
                continue
            # F F^T y without forming F F^T (a wholesaler with k buyers would add k^2
            # pairs); the diagonal, the merchant itself once per counterparty, comes off.
            counterparties = np.asarray(f.sum(axis=1)).ravel()
            add(f"{kind}_{side}",
                np.maximum(f @ (f.T @ known) - counterparties * known, 0),
                np.maximum(f @ (f.T @ failed) - counterparties * failed, 0))
    return np.column_stack(columns).astype(np.float32), names


def others_mean(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(M, F)`` float32: the mean of ``x`` ``(M, F)`` over the *other* merchants with
    the merchant's label (``(M,)``, -1: none), ``(sum_c x - x_i) / (n_c - 1)``; 0 for a
    merchant alone or with none.

    >>> others_mean(np.array([[1.0], [3.0], [5.0], [7.0]]), np.array([0, 0, 0, -1])).ravel()
    array([4., 3., 2., 0.], dtype=float32)
    """
    inside = labels >= 0
    out = np.zeros(np.shape(x), dtype=np.float32)
    if not inside.any():
        return out
    at = labels[inside]
    own = np.asarray(x, dtype=np.float64)[inside]
    # Sums per cluster, not an (M, M) "same cluster" matrix: that one has n^2 entries
    # per cluster of n.
    size = np.bincount(at)
    member = sp.csr_matrix((np.ones(at.size), (at, np.arange(at.size))),
                           shape=(size.size, at.size))
    mean = np.asarray(member @ own)[at]
    mean -= own
    others = size[at] - 1
    mean /= np.maximum(others, 1)[:, None]
    mean[others == 0] = 0.0
    out[inside] = mean
    return out


DENSE_BLOCK = "dense_block_density"
"""The unsupervised ring score's explanation column: the merchant's FRAUDAR density
(of the densest block it is in), as a share of the densest block's."""


def unsupervised_ring(prep: Prepared, x: np.ndarray, names: list[str]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Without ring labels: the density of the densest block of payers and payees the
    merchant is in (FRAUDAR, ``gnn/baselines/fraudar.py``), then, for ties and merchants
    outside every block, how unusual its collusion features are (the mean distance of
    their ranks from the median) blended with its most unusual neighbourhood. On [0, 1]:

    .. math::
        s_i = 0.99 \, g_i / \max_j g_j + 0.01 \, u_i

    A ranking, not a probability; the commands say so. Unusual features alone ranked
    ring members near chance on the development graphs with their labels withheld
    (AUPRC 0.01-0.04); the densities 0.12-0.38 (docs/scoring.md).

    Returns the (M,) score, the (M, F) per-feature unusualness (0 for features that
    are not collusion features) and the (M,) relative density ``g_i / max g``, which
    explain it."""
    from guanxi.gnn.baselines.fraudar import fraudar_baseline
    from guanxi.gnn.features import COLLUSION

    cols = [i for i, n in enumerate(names) if n in COLLUSION]
    ranks = np.argsort(np.argsort(x[:, cols], axis=0), axis=0) / max(prep.m - 1, 1)
    per_feature = np.zeros_like(x, dtype=np.float64)
    per_feature[:, cols] = np.abs(ranks - 0.5) * 2  # how unusual, either way
    own = per_feature[:, cols].mean(axis=1)
    kinds = prep.kinds
    nb = neighbour_aggregate(own[:, None], kinds)
    means = nb[:, 0::3]
    unusual = 0.5 * own + 0.5 * means.max(axis=1)
    lo, hi = unusual.min(), unusual.max()
    unusual = (unusual - lo) / (hi - lo) if hi > lo else np.zeros_like(unusual)
    density = fraudar_baseline(prep.ex).scores
    top = density.max() if density.size else 0.0
    if top <= 0:  # no payments or supply: the unusual features are all there is
        return unusual, per_feature, np.zeros(prep.m)
    dense = density / top
    return 0.99 * dense + 0.01 * unusual, per_feature, dense


def _groups(prep: Prepared, ring: np.ndarray, settings: ScorerSettings) -> np.ndarray:
    """Suspicious groups over the ``candidate_shares`` pools of the most suspicious
    merchants."""
    shares = settings.candidate_shares
    if len(shares) > 1:
        return stable_groups(prep.strength, ring, shares=shares,
                             min_strength=settings.min_link_strength,
                             max_size=settings.max_cluster_size)
    threshold = float(np.quantile(ring, 1 - shares[0]))
    return suspicious_groups(prep.strength, ring, min_score=max(threshold, 1e-9),
                             min_strength=settings.min_link_strength,
                             max_size=settings.max_cluster_size, seed=settings.seed)


def fit_scorer(prep: Prepared, settings: ScorerSettings | None = None,
               progress: ProgressFn | None = None,
               say: Callable[[str], None] | None = None) -> tuple[Scorer, NodeScores]:
    """Learn the scorer on ``prep``'s labels; returns it and ``prep``'s scores.

    The scores of training merchants are out of fold (no model scores a merchant whose
    label it learnt), which is what the returned metrics judge.
    """
    settings = settings or ScorerSettings()
    report = progress or (lambda *a: None)
    names = list(prep.features.columns)
    x = prep.features.to_numpy(np.float32)
    ring_y = prep.labels.ring
    positives = int((ring_y == 1).sum())
    has_ring = positives >= settings.folds
    observed = np.isfinite(prep.labels.defaulted)
    has_pd = int(observed.sum()) >= 2 * settings.folds and \
        0 < np.nansum(prep.labels.defaulted) < observed.sum()
    metrics: dict[str, Any] = {"labels": prep.labels.counts()}

    gnn = cross = None
    g_ring = g_pd = None
    if settings.use_gnn:
        data = model_input(prep.ex, x, merchant_names=tuple(names))
        y_ring = (ring_y == 1).astype(float)
        ring_mask = ring_y >= 0
        y_pd = np.nan_to_num(prep.labels.defaulted)
        args = (y_ring if has_ring else None, ring_mask if has_ring else None,
                y_pd if has_pd else None, observed if has_pd else None)
        gnn, cross = train_and_cross_fit(data, *args, settings=settings.gnn,
                                         seed=settings.seed, folds=settings.folds,
                                         progress=report)
        if cross is not None:
            # Stacked like the trees (``_fit_stacked``): out of fold where a label was
            # learnt, the full network's score, as scoring computes it, elsewhere.
            full_ring, full_pd, _ = gnn.predict(data)
            if cross.ring is not None and full_ring is not None:
                g_ring = np.where(ring_mask, cross.ring, full_ring)
            if cross.pd is not None and full_pd is not None:
                g_pd = np.where(observed, cross.pd, full_pd)
        metrics["gnn_best_epoch"] = dict(gnn.best_epoch)
    scorer = Scorer(settings, names, gnn, None, None, None, None, metrics)
    s0 = None
    if has_ring:
        weight = np.where(ring_y >= 0, 1.0, settings.unlabelled_weight)
        target = (ring_y == 1).astype(float)
        labelled = ring_y >= 0
        rings = _caught_rings(prep, ring_y, settings)
        fold = cross.fold if cross is not None else group_folds(
            np.where(ring_y == 1, rings, -1), settings.folds, seed=settings.seed)
        stacked = partial(_fit_stacked, y=target, weight=weight, labelled=labelled,
                          fold=fold, seed=settings.seed, folds=settings.folds)
        report("train trees", 0, 4)
        scorer.stage_0, s0, honest_0 = stacked(x, names)
    z, z_names = graph_inputs(prep, x, names, s0, g_ring, g_pd, settings.use_gnn)

    if not has_ring:
        if say:
            lacking = ("no ring labels (fraud)" if positives == 0 else
                       f"{positives} ring labels (fraud), fewer than the {settings.folds} "
                       "the folds need,")
            say(f"{lacking} to learn from: ring scores are unsupervised "
                "(dense blocks of payers and payees first, then unusual merchants), not "
                "probabilities")
        nodes = scorer.score(prep)
        ring = nodes.ring
        groups = nodes.groups
    else:
        report("train trees", 1, 4)

        worlds = [graph_inputs(prep, x, names, honest_0.fold_raw(k, x), *_gnn_of_fold(cross, k),
                               settings.use_gnn)[0]
                  for k in range(len(honest_0.boosters))]
        z_fit = _by_fold(fold, worlds.__getitem__)
        scorer.stage_a, a_raw, honest_a = stacked(z_fit, z_names, apply=z)
        a_cal = scorer.stage_a.calibrate(a_raw)
        a_groups = _groups(prep, a_cal, settings)
        zb, zb_names = _with_context(prep, z, z_names, a_cal, a_groups)

        def context(k: int) -> np.ndarray:
            a = scorer.stage_a.calibrate(honest_a.fold_raw(k, worlds[k]))
            return _context(prep, a, _groups(prep, a, settings))

        zb_fit = np.hstack([z_fit, _by_fold(fold, context)])
        del worlds
        report("train trees", 2, 4)
        scorer.stage_b, b_raw, _ = stacked(zb_fit, zb_names, apply=zb)
        b_cal = scorer.stage_b.calibrate(b_raw)
        stages = {"0": scorer.stage_0.calibrate(s0), "a": a_cal, "b": b_cal}
        (scorer.ring_stage, metrics["oof_ring_auprc_by_stage"],
         metrics["oof_ring_auprc_se"]) = chosen_stage(stages, prep.labels.ring, rings,
                                                      seed=settings.seed)
        metrics["ring_stage"] = scorer.ring_stage
        ring = stages[scorer.ring_stage]
        groups = a_groups if scorer.ring_stage == "a" else _groups(prep, ring, settings)
    pd_oof = None
    if has_pd:
        clusters = assemble(groups, prep.communities, adjacency=prep.business)
        zc, zc_names = credit_inputs(prep, z, z_names, ring, clusters, x)
        scorer.credit = fit_folds(zc, np.nan_to_num(prep.labels.defaulted), observed, zc_names,
                                  seed=settings.seed, balanced=False, folds=settings.folds,
                                  metric="binary_logloss")
        pd_oof = scorer.credit.calibrate(scorer.credit.oof)
        scorer.group_pd_kappa = credibility(clusters, np.where(observed, pd_oof, np.nan),
                                            prep.labels.defaulted)
        metrics["group_pd_kappa"] = scorer.group_pd_kappa
    elif say:
        seen, bad = int(observed.sum()), int(np.nansum(prep.labels.defaulted))
        say("no observed loan outcomes (defaulted) to learn from: no PD or credit scores"
            if not seen else
            f"{seen} observed loan outcomes, {bad} of them defaults: learning a PD needs at "
            f"least {2 * settings.folds} outcomes with both repaid and defaulted loans among "
            "them; no PD or credit scores")
    report("train trees", 4, 4)
    if has_ring or scorer.credit is not None:
        # Stage B or the credit model is new since the scores above: score again. Without
        # either, the unsupervised scores above are final (FRAUDAR, their most costly
        # part, runs once).
        nodes = scorer.score(prep)
    # The training merchants' own scores are out of fold: judged, and shown, as such.
    if has_ring:
        nodes.ring = ring
        nodes.groups = groups
    if pd_oof is not None:
        nodes.pd = np.where(observed, pd_oof, nodes.pd)
    return replace(scorer, metrics=metrics), nodes


RING_STAGES: tuple[str, ...] = ("0", "a", "b")
"""The stages a ring score can come from (module docstring): own features (``0``),
graph inputs (``a``), graph inputs and cluster context (``b``)."""


def chosen_stage(scores: dict[str, np.ndarray], ring: np.ndarray,
                 groups: np.ndarray | None = None, *, rounds: int = 200, seed: int = 0
                 ) -> tuple[str, dict[str, float | None], dict[str, float | None]]:
    """The stage to ship: the simplest of ``scores`` (``(M,)`` each, simplest first, out
    of fold on the labelled merchants of ``ring``: 1 fraud, 0 cleared, -1 unlabelled)
    whose AUPRC on the labelled merchants falls short of the best one's by no more than
    one standard error of that shortfall (the one-standard-error rule of
    cross-validated model selection: Hastie, Tibshirani and Friedman, *The Elements of
    Statistical Learning*, 7.10); each stage's AUPRC; and each shortfall's standard
    error, from ``rounds`` paired bootstrap samples of the ``groups`` (``(M,)``; a
    caught ring is resampled whole; default: each merchant alone). Without both caught
    and cleared merchants among the labelled, or with one caught ring (one group), the
    simplest stage, and None for both.

    Each stage adds inputs to the one before; with a few dozen caught ring members the
    added inputs can cost more than they give (on unseen ``hard`` graphs the own-feature
    trees beat the full stack, docs/results.md), and a few dozen members measure the
    difference roughly: a later stage must beat the simpler one by more than that noise.

    >>> ring = np.array([1, 1, 1, 0, 0, 0, 0, 0, -1])
    >>> stage_0 = np.array([.9, .8, .2, .7, .3, .1, .1, .1, .5])
    >>> stage_b = np.array([.9, .8, .7, .6, .3, .1, .1, .1, .5])
    >>> chosen_stage({"0": stage_0, "b": stage_b}, ring)[:2]  # better, within the noise
    ('0', {'0': 0.8667, 'b': 1.0})
    """
    from guanxi.gnn import metrics as m

    labelled = np.flatnonzero(ring >= 0)
    y = (ring[labelled] == 1).astype(float)
    own = {name: score[labelled] for name, score in scores.items()}
    quality = {name: round(m.auprc(y, score), 4) for name, score in own.items()}
    _, member_of = np.unique(groups[labelled] if groups is not None
                             else np.arange(labelled.size), return_inverse=True)
    if not all(np.isfinite(list(quality.values()))) or np.unique(member_of[y == 1]).size < 2:
        # Only caught members labelled (no cleared merchant) or the reverse, or one caught
        # ring (folds that keep it whole leave none to learn from): nothing measures a
        # lead, so the simplest stage ships.
        return next(iter(scores)), dict.fromkeys(scores), dict.fromkeys(scores)
    best = max(quality, key=lambda name: quality[name])
    count = int(member_of.max()) + 1  # two caught rings at least, by the return above
    rng = np.random.default_rng(seed)
    shortfalls: dict[str, list[float]] = {name: [] for name in scores}
    for _ in range(rounds):
        rows = np.repeat(np.arange(y.size), np.bincount(rng.integers(0, count, count),
                                                        minlength=count)[member_of])
        values = {name: m.auprc(y[rows], score[rows]) for name, score in own.items()}
        if np.isfinite(values[best]):
            for name in scores:
                shortfalls[name].append(values[best] - values[name])
    se = {name: round(float(np.std(d, ddof=1)), 4) if len(d) > 1 else 0.0
          for name, d in shortfalls.items()}
    chosen = next(name for name in scores if quality[best] - quality[name] <= se[name])
    return chosen, quality, se


def _fit_stacked(X: np.ndarray, names: list[str], *, y: np.ndarray, weight: np.ndarray,
                 labelled: np.ndarray, fold: np.ndarray, seed: int, folds: int,
                 apply: np.ndarray | None = None) -> tuple[Ensemble, np.ndarray, Ensemble]:
    """A stage's deployed trees, the scores the next stage learns from, and the trees
    of the folds behind those scores (``boosters[k]`` never learnt fold ``k``).

    Deployed: folds without regard to rings (each fold model then learns from every
    caught ring, and the mean of the fold models ranks the unlabelled best: measured
    0.34 against 0.25 AUPRC with ring-grouped folds on hard data). Stacked: for
    labelled merchants, out-of-fold scores from the folds of ``fold``, which keep each
    caught ring whole (a ring-mate in training would make the member's score, and so
    its neighbours' aggregates, look better than an unseen ring's ever will); for the
    others, the deployed mean of ``apply`` (default ``X``: the inputs as scoring
    computes them), as scoring will compute it.
    """
    fit = partial(fit_folds, X, y, np.ones(len(y), dtype=bool), names, seed=seed,
                  weight=weight, folds=folds)
    # Both at once: with their folds in threads too, no core idles while the other
    # fits the last of five folds.
    deployed, honest = in_threads([fit, partial(fit, fold_of=fold)])
    at = X if apply is None else apply
    return deployed, np.where(labelled, honest.oof, deployed.raw(at)), honest


def _gnn_of_fold(cross: CrossFit | None, k: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Fold ``k``'s network's ring and default scores of every merchant (None without
    the network, or without the task's labels)."""
    if cross is None:
        return None, None
    return (None if cross.ring_by_fold is None else cross.ring_by_fold[k],
            None if cross.pd_by_fold is None else cross.pd_by_fold[k])


def _by_fold(fold: np.ndarray, inputs: Callable[[int], np.ndarray]) -> np.ndarray:
    """``(M, C)``: each merchant's row of ``inputs(k)`` (``(M, C)``) for its fold ``k``
    (``fold``, ``(M,)``).

    The next stage learns from inputs that read *other* merchants' scores: the
    neighbours' stage-0 scores for stage A, the group's stage-A scores for stage B. The
    deployed models learnt every caught ring, so they lift the unlabelled shops around a
    caught member (its crew's, its customers' other shops), which a ring nobody caught
    never gets; read through them, a caught member's inputs carry its own label, and
    the next stage learns from, and is chosen on, a lift its real targets lack. So
    merchant ``i`` of fold ``k`` reads every score from fold ``k``'s models, trees and
    network, none of which learnt fold ``k``'s labels (docs/scoring.md, *Stacking*).
    """
    out: np.ndarray | None = None
    for k in np.unique(fold):
        rows = fold == k
        got = inputs(int(k))
        out = np.zeros(got.shape, dtype=np.float32) if out is None else out
        out[rows] = got[rows]
    assert out is not None, "every merchant is of a fold"
    return out


def _caught_rings(prep: Prepared, ring_y: np.ndarray, settings: ScorerSettings) -> np.ndarray:
    """``(M,)``: a caught ring (linked labelled-fraud merchants, as the folds and the
    GNN's cross-fit join them) is one group; every other merchant is its own."""
    groups = label_groups(prep.ex.data, ring_y == 1, max_shared=settings.gnn.max_shared)
    own = np.arange(prep.m) + (int(groups.max()) + 1 if groups.size else 0)
    return np.where(groups >= 0, groups, own)
