"""Training the heterogeneous GNN (``gnn/model.py``) on the merchants' labels.

Labels (:func:`merchant_labels`): ``label`` ``'fraud'`` -> ring 1, ``'legit'`` -> ring 0,
no label -> unlabelled; an observed ``defaulted`` -> its value, otherwise masked out.

**Positive-unlabelled learning.** A few percent of merchants carry a ring label and
about 1% of merchants are ring members, so the unlabelled merchants are almost all
honest. They enter the ring loss as negatives with a small weight
(``unlabelled_weight``, 0.05 by default): the network learns from the whole graph what
ordinary looks like, while a hidden ring member among them costs little. Positives are
up-weighted so that both classes weigh the same (``ring_pos_weight=None``); the ring
output is therefore a ranking score, not a calibrated probability (calibrate it
downstream). The default head is trained without re-weighting (``pd_pos_weight=1``),
so its probabilities stay close to the observed default rate.

**Split by group.** A ring's members share identifiers, payers and payments; a random
node split puts some of a ring in training and the rest in validation and measures
recall of rings already seen. :func:`label_groups` joins the labelled-fraud merchants
that are linked directly (payments, supply, shipments) or through one shared node
(phone, device, account, address, owner, agent, consumer) shared by at most
``max_shared`` merchants; :func:`group_folds` keeps each group in one fold. The
validation fold (one of ``round(1 / val_fraction)``) is left out of every loss and
decides early stopping: ring AUPRC (validation labelled fraud against every other
validation merchant) and default AUROC (validation merchants with an observed
``defaulted``). Each head keeps its own best epoch.

**No labels.** Without any ring or default label the encoder is trained by Deep Graph
Infomax (Velickovic et al., ICLR 2019; a merchant's embedding against the graph's
summary, with shuffled features as negatives): the embeddings are returned and both
probabilities are None; the caller falls back to unsupervised scores.

**Cross-fitting.** :func:`cross_fit` gives every merchant a prediction from a model
that never saw its label, in ``folds`` folds by group, so that a gradient-boosted tree
can take the GNN's output as a feature without leakage.

Runs are deterministic under ``seed`` (``threads`` CPU threads, deterministic
algorithms): the same input and seed give the same scores.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import average_precision_score, roc_auc_score
from torch_geometric.data import HeteroData
from torch_geometric.nn import DeepGraphInfomax

from guanxi.gnn.hetero import MERCHANT, REV, Standardiser, parse_type_key, type_key
from guanxi.gnn.model import (
    ConvKind,
    HeteroGNN,
    adjacency,
    aggregates_by_product,
    reads_edge_values,
)
from guanxi.gnn.no_compiler import use_deterministic_algorithms
from guanxi.gnn.workers import Step, in_processes, in_threads
from guanxi.progress import ProgressFn

__all__ = ["CrossFit", "TrainSettings", "Trained", "cross_fit", "group_folds", "label_groups",
           "merchant_labels", "train", "train_and_cross_fit"]

ArrayLike = np.ndarray | torch.Tensor | pd.Series


@dataclass(frozen=True)
class TrainSettings:
    """The network and its training; every field has the default used in scoring."""

    hidden: int = 32
    """64 measured no better on the dev graph, at twice the time (docs/scoring.md)."""
    layers: int = 2
    conv: ConvKind = "sage"
    aggr: str | tuple[str, ...] = "mean"
    dropout: float = 0.2
    static: tuple[str, ...] = ()
    """Node types only sending their own features (``HeteroGNN``'s ``static``)."""
    lr: float = 0.003
    """0.01 made early stopping less stable between seeds (docs/scoring.md)."""
    weight_decay: float = 1e-4
    epochs: int = 150
    """Most epochs; early stopping usually ends sooner."""
    patience: int = 20
    """Epochs without a better validation score (every head) before stopping."""
    min_epochs: int = 10
    eval_every: int = 1
    """Validate every this many epochs (a forward pass without dropout each time)."""
    unlabelled_weight: float = 0.05
    """Weight of an unlabelled merchant as a ring negative (PU learning); 0 leaves
    unlabelled merchants out of the ring loss."""
    ring_pos_weight: float | None = None
    """Weight of a labelled ring member; None: the negatives' total weight over the
    number of positives (balanced)."""
    pd_pos_weight: float = 1.0
    pd_loss_weight: float = 1.0
    """Weight of the default loss next to the ring loss."""
    val_fraction: float = 0.2
    """Share of the groups held out for early stopping; 0: none (train ``epochs``)."""
    max_shared: int = 50
    """A node shared by more merchants (a busy agent, a popular payer) does not join
    fraud groups."""
    ssl_epochs: int = 100
    """Epochs of Deep Graph Infomax when there are no labels."""
    cross_fit_epochs: int = 20
    """Epochs of each fold's model in :func:`cross_fit` (no early stopping there). 40
    until 2026-12-05: 20 changed credit AUC by -0.005 and +0.001 on two development
    graphs and cut training by a third, which put 100k merchants back within 15 minutes
    (docs/performance.md)."""
    threads: int = 1
    """Torch threads. One: on two cores shared with Neo4j or another job, two threads
    waited on each other and made each step 4 to 100 times slower (measured)."""


@dataclass
class Trained:
    """A trained network: its weights per head, how it was trained and what it saw."""

    config: dict[str, object]
    """``HeteroGNN(**config)`` is the network."""
    states: dict[str, dict[str, torch.Tensor]]
    """Weights at the best epoch of each head: ``"ring"``, ``"pd"``; ``"embedding"``
    for an encoder trained without labels."""
    settings: TrainSettings
    standardiser: Standardiser | None
    """The scales of the training input: build another graph's input with
    ``model_input(ex, x, standardiser=trained.standardiser)``."""
    seed: int
    best_epoch: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    """One dict per epoch: ``epoch``, ``loss`` and, when measured, ``val_ring_auprc``,
    ``val_pd_auc``."""
    seconds: float = 0.0

    @property
    def supervised(self) -> bool:
        """Trained on labels (else the embeddings of Deep Graph Infomax only)."""
        return "ring" in self.states or "pd" in self.states

    def to_state(self) -> dict[str, object]:
        """Tensors and plain values only, string keys (an artefact's ``model_state``,
        read back with ``torch.load(weights_only=True)``); :meth:`from_state` inverts."""
        config = dict(self.config)
        config["edge_dims"] = {type_key(k): v for k, v in self.config["edge_dims"].items()}
        config["static"] = list(self.config["static"])
        if not isinstance(config["aggr"], str):
            config["aggr"] = list(config["aggr"])
        settings = {k: list(v) if isinstance(v, tuple) else v
                    for k, v in asdict(self.settings).items()}
        return {"config": config, "states": self.states, "settings": settings,
                "standardiser": self.standardiser.to_state() if self.standardiser else None,
                "seed": self.seed, "best_epoch": dict(self.best_epoch),
                "history": list(self.history), "seconds": self.seconds}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> Trained:
        """The :class:`Trained` saved by :meth:`to_state`."""
        config = dict(state["config"])
        config["edge_dims"] = {parse_type_key(k): v for k, v in config["edge_dims"].items()}
        config["static"] = tuple(config["static"])
        if not isinstance(config["aggr"], str):
            config["aggr"] = tuple(config["aggr"])
        settings = TrainSettings(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in state["settings"].items()})
        scales = state["standardiser"]
        return cls(config, state["states"], settings,
                   Standardiser.from_state(scales) if scales is not None else None,
                   state["seed"], dict(state["best_epoch"]), list(state["history"]),
                   state["seconds"])

    def model(self, head: str | None = None) -> HeteroGNN:
        """The network with the weights of ``head`` (the first available when None)."""
        head = head or next(iter(self.states))
        net = HeteroGNN(**self.config)
        net.load_state_dict(self.states[head])
        net.eval()
        return net

    @property
    def aggregates_by_product(self) -> bool:
        """``HeteroGNN.aggregates_by_product`` of the network: :meth:`predict` then
        aggregates over ``adjacency``, and for some merchants computes what their
        outputs read only (``HeteroGNN.encode_rows``), not a whole pass cut to them."""
        return aggregates_by_product(self.config["conv"], self.config["aggr"])

    @property
    def reads_edge_values(self) -> bool:
        """Whether the network reads edge attributes or weights: without, its input
        can leave them out (``model_input(..., edge_values=False)``)."""
        return reads_edge_values(self.config["conv"])

    def predict(self, data: HeteroData, merchants: np.ndarray | None = None
                ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
        """Scores of ``data``'s merchants; ``merchants``: ``(K,)`` positions, to score
        only those (on what their scores read: ``HeteroGNN.run``).

        Returns
        -------
        ring_prob : (M,) or (K,) float64, or None
            Ring-membership score in [0, 1] (None: trained without ring labels).
        pd_prob : (M,) or (K,) float64, or None
            Probability of default (None: trained without default labels).
        embedding : (M, H) or (K, H) float32
            The merchant embeddings (of the ring head's weights when there is one).
        """
        if merchants is not None and len(merchants) == 0:
            return (np.empty(0) if "ring" in self.states else None,
                    np.empty(0) if "pd" in self.states else None,
                    np.empty((0, self.config["hidden"]), dtype=np.float32))
        self._check_scales(data)
        # Heads whose weights are those of one epoch share one pass; the others run in
        # threads side by side (grad mode is per thread, hence no_grad in each).
        by_epoch: dict[object, str] = {}
        for head in self.states:
            by_epoch.setdefault(self.best_epoch.get(head, head), head)

        nets = {head: self.model(head) for head in by_epoch.values()}
        # Built once for both heads (0.1 s at 100,000 merchants).
        edges = adjacency(data) if self.aggregates_by_product else None

        rows = None if merchants is None else torch.as_tensor(merchants, dtype=torch.int64)
        # Likewise what those merchants' outputs read (0.5 s and 80 MB each).
        field = (next(iter(nets.values())).receptive_field(
                     data.x_dict, edges, torch.unique(rows, sorted=True))
                 if rows is not None and edges is not None else None)

        def run(head: str) -> object:
            with torch.no_grad():
                return nets[head].run(data, edges, rows, field)

        with _deterministic(None, self.settings.threads):
            ran = dict(zip(by_epoch.values(),
                           in_threads([partial(run, h) for h in by_epoch.values()]), strict=True))
        outputs = {head: ran[by_epoch[self.best_epoch.get(head, head)]] for head in self.states}
        ring = pd_ = None
        if "ring" in outputs:
            ring = torch.sigmoid(outputs["ring"].ring_logit).double().numpy()
        if "pd" in outputs:
            pd_ = torch.sigmoid(outputs["pd"].pd_logit).double().numpy()
        first = outputs.get("ring", next(iter(outputs.values())))
        return ring, pd_, first.embedding.numpy()

    def _check_scales(self, data: HeteroData) -> None:
        theirs = getattr(data, "standardiser", None)
        ours = self.standardiser
        if theirs is None or ours is None or theirs is ours:
            return
        for key in theirs.mean:
            if key in ours.mean and not (
                    np.allclose(theirs.mean[key], ours.mean[key])
                    and np.allclose(theirs.std[key], ours.std[key])):
                raise ValueError(f"the input's {key} features are on other scales than the "
                                 "training input's; build it with model_input(ex, x, "
                                 "standardiser=trained.standardiser)")


@dataclass
class CrossFit:
    """Out-of-fold predictions: each merchant's from the fold model that did not see it."""

    ring: np.ndarray | None
    """(M,) ring score, None without ring labels."""
    pd: np.ndarray | None
    """(M,) probability of default, None without default labels."""
    fold: np.ndarray
    """(M,) int: the fold each merchant was held out in."""
    ring_by_fold: np.ndarray | None = None
    """(folds, M): fold ``k``'s model's ring score of every merchant, the graph as a
    network that never saw fold ``k``'s labels scores it; None as ``ring``."""
    pd_by_fold: np.ndarray | None = None
    """(folds, M): likewise, the probability of default."""


def merchant_labels(merchants: pd.DataFrame
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(y_ring, ring_mask, y_pd, pd_mask)`` from ``Exported.merchants``.

    ``y_ring`` 1 for ``'fraud'``, 0 otherwise; ``ring_mask`` True where a label is
    known (``'fraud'`` or ``'legit'``); ``y_pd`` ``defaulted`` (0 where unknown);
    ``pd_mask`` True where ``defaulted`` is observed.

    >>> frame = pd.DataFrame({"label": ["fraud", None, "legit"],
    ...                       "defaulted": pd.array([None, 1, 0], dtype="Int8")})
    >>> [a.tolist() for a in merchant_labels(frame)]
    [[1.0, 0.0, 0.0], [True, False, True], [0.0, 1.0, 0.0], [False, True, True]]
    """
    label = merchants["label"].astype(object)
    y_ring = (label == "fraud").to_numpy(dtype=np.float64)
    ring_mask = label.isin(["fraud", "legit"]).to_numpy(dtype=bool)
    defaulted = merchants["defaulted"]
    pd_mask = defaulted.notna().to_numpy(dtype=bool)
    y_pd = defaulted.fillna(0).to_numpy(dtype=np.float64)
    return y_ring, ring_mask, y_pd, pd_mask


def label_groups(data: HeteroData, positive: ArrayLike, *, max_shared: int = 50) -> np.ndarray:
    """Groups of linked positive merchants: the unit of every split.

    Two positives are in one group when a path of positives joins them, each step a
    direct merchant-to-merchant edge (any relation, either direction) or a node of
    another type (identifier, consumer) that both touch and that at most
    ``max_shared`` merchants touch.

    Returns ``(M,)`` int64: group 0, 1, ... (by first member) for positives, -1 otherwise.

    >>> import torch
    >>> from torch_geometric.data import HeteroData
    >>> d = HeteroData()
    >>> d["Merchant"].num_nodes, d["Phone"].num_nodes = 5, 2
    >>> d["Merchant", "PAID", "Merchant"].edge_index = torch.tensor([[0], [1]])
    >>> d["Merchant", "USES", "Phone"].edge_index = torch.tensor([[2, 3, 4], [0, 0, 1]])
    >>> label_groups(d, np.array([1, 1, 1, 1, 0])).tolist()
    [0, 0, 1, 1, -1]
    """
    positive = _numpy(positive).astype(bool)
    m = positive.shape[0]
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for key in data.edge_types:
        src, rel, dst = key
        if rel.startswith(REV) or MERCHANT not in (src, dst):
            continue
        index = data[key].edge_index.numpy()
        if src == dst:
            keep = positive[index[0]] & positive[index[1]]
            rows.append(index[0, keep])
            cols.append(index[1, keep])
            continue
        merchant, other = (index[0], index[1]) if src == MERCHANT else (index[1], index[0])
        shared_by = np.bincount(other)
        keep = positive[merchant] & (shared_by[other] <= max_shared)
        if not keep.any():
            continue
        # Positives touching the same node: join each to the first one seen there.
        merchant, other = merchant[keep], other[keep]
        first = np.full(other.max() + 1, -1, dtype=np.int64)
        order = np.argsort(other, kind="stable")
        starts = np.r_[True, other[order][1:] != other[order][:-1]]
        first[other[order][starts]] = merchant[order][starts]
        rows.append(merchant)
        cols.append(first[other])
    if rows:
        r, c = np.concatenate(rows), np.concatenate(cols)
        adjacency = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(m, m)).tocsr()
        _, component = connected_components(adjacency, directed=False)
    else:
        component = np.arange(m)
    groups = np.full(m, -1, dtype=np.int64)
    chosen = np.flatnonzero(positive)
    _, number = np.unique(component[chosen], return_inverse=True)
    # Number groups by their first member, independent of the component labels.
    first_member = np.full(number.max() + 1 if len(number) else 0, m, dtype=np.int64)
    np.minimum.at(first_member, number, chosen)
    renumber = np.argsort(np.argsort(first_member, kind="stable"), kind="stable")
    groups[chosen] = renumber[number]
    return groups


def group_folds(groups: ArrayLike, folds: int, *, seed: int) -> np.ndarray:
    """A fold per merchant: each group whole in one fold, folds with near-equal numbers
    of grouped merchants (largest groups first, each to the emptiest fold, ties broken
    at random); ungrouped merchants (-1) uniformly at random.

    >>> group_folds(np.array([0, 0, 1, 1, 2, -1]), 2, seed=0).tolist()
    [0, 0, 1, 1, 1, 0]
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, not {folds}")
    groups = _numpy(groups).astype(np.int64)
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, folds, size=groups.shape[0])
    ids, sizes = np.unique(groups[groups >= 0], return_counts=True)
    order = rng.permutation(len(ids))
    order = order[np.argsort(-sizes[order], kind="stable")]
    load = np.zeros(folds)
    for i in order:
        emptiest = np.flatnonzero(load == load.min())
        f = int(rng.choice(emptiest))
        load[f] += sizes[i]
        fold[groups == ids[i]] = f
    return fold


def train(data: HeteroData, y_ring: ArrayLike | None, ring_mask: ArrayLike | None,
          y_pd: ArrayLike | None, pd_mask: ArrayLike | None, *,
          settings: TrainSettings | None = None, seed: int = 0,
          progress: ProgressFn | None = None) -> Trained:
    """Train the network on ``data`` (``gnn.hetero.model_input``).

    Parameters
    ----------
    data : HeteroData
        The input graph; ``M`` merchants.
    y_ring, ring_mask : (M,) arrays
        Ring label (1 fraud, 0 legit) and where it is known; unlabelled merchants are
        weighted negatives (see the module docstring). None: no ring labels.
    y_pd, pd_mask : (M,) arrays
        Default (1/0) and where it is observed. None: no default labels.
    settings : TrainSettings
    seed : int
        Initial weights, dropout and the validation split.
    progress : ProgressFn, optional
        ``progress("train GNN", epoch, epochs)`` after each epoch; the last call has
        ``done == total``.

    Returns
    -------
    Trained
        With ``predict(data) -> (ring_prob, pd_prob, embedding)``; both probabilities
        None when there were no labels at all (embeddings from Deep Graph Infomax).
    """
    settings = settings or TrainSettings()
    m = data[MERCHANT].num_nodes
    ring_y, ring_known, pd_y, pd_known = _labels(m, y_ring, ring_mask, y_pd, pd_mask)
    has_ring = bool((ring_y[ring_known] == 1).any())
    has_pd = bool(pd_known.any())
    standardiser = getattr(data, "standardiser", None)
    with _deterministic(seed, settings.threads):
        if not (has_ring or has_pd):
            return _self_supervised(data, settings, seed, standardiser, progress)
        holdout = np.zeros(m, dtype=bool)
        if settings.val_fraction > 0:
            positive = (ring_y == 1) & ring_known
            groups = label_groups(data, positive, max_shared=settings.max_shared)
            k = max(2, round(1 / settings.val_fraction))
            holdout = group_folds(groups, k, seed=seed) == 0
            if not ((positive & holdout).any() and (positive & ~holdout).any()):
                holdout &= ~positive  # one group: no ring validation, all of it trains
        can_ring = has_ring and bool((ring_y[holdout & ring_known] == 1).any())
        can_pd = has_pd and bool((pd_known & holdout).any())
        validate = can_ring or can_pd
        return _fit(data, ring_y if has_ring else None, ring_known, pd_y if has_pd else None,
                    pd_known, holdout, validate, settings, seed, standardiser, progress,
                    task="train GNN", epochs=settings.epochs)


def cross_fit(data: HeteroData, y_ring: ArrayLike | None, ring_mask: ArrayLike | None,
              y_pd: ArrayLike | None, pd_mask: ArrayLike | None, *,
              settings: TrainSettings | None = None, seed: int = 0, folds: int = 5,
              epochs: int | None = None, progress: ProgressFn | None = None) -> CrossFit:
    """Out-of-fold predictions for every merchant, ``folds`` folds by group.

    Fold ``k``'s model trains on the labels of the other folds (fold ``k``'s merchants,
    labelled or not, are out of its loss) for ``epochs`` epochs (default
    ``settings.cross_fit_epochs``; pass ``trained.best_epoch`` values to match a full
    run), without early stopping, and predicts fold ``k``. Labelled-fraud groups
    (:func:`label_groups`) stay whole in one fold.

    Parameters
    ----------
    data, y_ring, ring_mask, y_pd, pd_mask, settings
        As for :func:`train`.
    seed : int
        The folds; fold ``k``'s model is seeded ``seed + k``.
    folds : int
        Number of folds (at least 2); each costs one training of ``epochs`` epochs.
    epochs : int, optional
        Epochs of every fold's model; default ``settings.cross_fit_epochs``.
    progress : ProgressFn, optional
        ``progress("cross-fit GNN", done, folds * epochs)`` after each epoch.

    Returns
    -------
    CrossFit
        ``ring`` and ``pd`` ``(M,)`` (None for a task without labels; NaN in a fold
        whose complement has no positive to learn from), ``fold`` ``(M,)``, and every
        fold model's scores of every merchant, ``ring_by_fold`` and ``pd_by_fold``
        ``(folds, M)``.
    """
    plan = _FoldPlan(data, y_ring, ring_mask, y_pd, pd_mask, settings or TrainSettings(),
                     seed, folds, epochs)
    return plan.combine(in_processes(plan.jobs(), task="cross-fit GNN", progress=progress))


def train_and_cross_fit(data: HeteroData, y_ring: ArrayLike | None,
                        ring_mask: ArrayLike | None, y_pd: ArrayLike | None,
                        pd_mask: ArrayLike | None, *, settings: TrainSettings | None = None,
                        seed: int = 0, folds: int = 5, progress: ProgressFn | None = None
                        ) -> tuple[Trained, CrossFit | None]:
    """:func:`train` and :func:`cross_fit` at once, every network side by side
    (``gnn/workers.py``): the same results as calling both in turn. The CrossFit is None
    when there were no labels (the network is then self-supervised).

    ``progress("train GNN", done, total)`` counts the epochs of every network.
    """
    settings = settings or TrainSettings()
    plan = _FoldPlan(data, y_ring, ring_mask, y_pd, pd_mask, settings, seed, folds, None)

    def whole(step: Step) -> Trained:
        return train(data, y_ring, ring_mask, y_pd, pd_mask, settings=settings, seed=seed,
                     progress=lambda task, done, total: step(done, total or done))

    # Built once here first: PyG writes each conv class's generated code to a temporary
    # file the first time the class is built, and forked workers end without the exit
    # handler that removes it (gnn/model.py). They inherit this one instead.
    with torch.random.fork_rng(devices=[]):
        _network(data, settings)
    done = in_processes([whole, *plan.jobs()], task="train GNN", progress=progress)
    trained = done[0]
    return trained, (plan.combine(done[1:]) if trained.supervised else None)


class _FoldPlan:
    """:func:`cross_fit`'s folds, as jobs for ``gnn/workers.py``, and their union."""

    def __init__(self, data: HeteroData, y_ring: ArrayLike | None, ring_mask: ArrayLike | None,
                 y_pd: ArrayLike | None, pd_mask: ArrayLike | None, settings: TrainSettings,
                 seed: int, folds: int, epochs: int | None) -> None:
        m = data[MERCHANT].num_nodes
        self.data, self.settings, self.seed, self.folds = data, settings, seed, folds
        self.ring_y, self.ring_known, self.pd_y, self.pd_known = _labels(
            m, y_ring, ring_mask, y_pd, pd_mask)
        self.has_ring = bool((self.ring_y[self.ring_known] == 1).any())
        self.has_pd = bool(self.pd_known.any())
        self.positive = (self.ring_y == 1) & self.ring_known
        self.fold = group_folds(label_groups(data, self.positive,
                                             max_shared=settings.max_shared),
                                folds, seed=seed)
        self.epochs = epochs or settings.cross_fit_epochs

    def jobs(self) -> list[Callable[[Step], tuple[np.ndarray | None, np.ndarray | None]]]:
        """One job per fold (none without labels): every merchant's ring and default
        scores from a network that never saw the fold's labels."""
        if not (self.has_ring or self.has_pd):
            return []
        return [partial(self._fold, k) for k in range(self.folds)]

    def _fold(self, k: int, step: Step) -> tuple[np.ndarray | None, np.ndarray | None]:
        held = self.fold == k
        fixed = replace(self.settings, epochs=self.epochs, min_epochs=self.epochs)
        fit_ring = self.has_ring and bool((self.positive & ~held).any())
        with _deterministic(None, self.settings.threads):
            trained = _fit(self.data, self.ring_y if fit_ring else None, self.ring_known,
                           self.pd_y if self.has_pd else None, self.pd_known, held, False,
                           fixed, self.seed + k, None,
                           lambda task, done, total: step(done, total),
                           task="cross-fit GNN", epochs=self.epochs)
            r, p, _ = trained.predict(self.data)
        return r, p

    def combine(self, outputs: list[tuple[np.ndarray | None, np.ndarray | None]]) -> CrossFit:
        m = self.fold.shape[0]
        ring = np.full((self.folds, m), np.nan) if self.has_ring else None
        pd_ = np.full((self.folds, m), np.nan) if self.has_pd else None
        for k, (r, p) in enumerate(outputs):
            if ring is not None and r is not None:
                ring[k] = r
            if pd_ is not None and p is not None:
                pd_[k] = p
        rows = np.arange(m)
        return CrossFit(None if ring is None else ring[self.fold, rows],
                        None if pd_ is None else pd_[self.fold, rows], self.fold, ring, pd_)


def _network(data: HeteroData, settings: TrainSettings) -> HeteroGNN:
    """A fresh network for ``data`` with ``settings``' shape."""
    return HeteroGNN.from_data(data, hidden=settings.hidden, layers=settings.layers,
                               conv=settings.conv, aggr=settings.aggr,
                               dropout=settings.dropout, static=settings.static)


def _fit(data: HeteroData, ring_y: np.ndarray | None, ring_known: np.ndarray,
         pd_y: np.ndarray | None, pd_known: np.ndarray, holdout: np.ndarray, validate: bool,
         settings: TrainSettings, seed: int, standardiser: Standardiser | None,
         progress: ProgressFn | None, *, task: str, epochs: int) -> Trained:
    """Full-batch training with the ``holdout`` merchants out of every loss; early
    stopping on them when ``validate``."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = _network(data, settings)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr,
                                 weight_decay=settings.weight_decay)
    args = model.arguments(data)
    train_set = ~holdout
    heads: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # head: (target, weight)
    if ring_y is not None:
        heads["ring"] = _ring_targets(ring_y, ring_known, train_set, settings)
    if pd_y is not None:
        weight = (pd_known & train_set).astype(np.float64)
        weight[pd_y == 1] *= settings.pd_pos_weight
        heads["pd"] = (torch.from_numpy(pd_y).float(), torch.from_numpy(weight).float())
    best: dict[str, float] = {h: -math.inf for h in heads}
    states: dict[str, dict[str, torch.Tensor]] = {}
    best_epoch: dict[str, int] = {}
    history: list[dict[str, float]] = []
    report = progress or (lambda task, done, total: None)
    for epoch in range(1, epochs + 1):
        model.train()
        optimiser.zero_grad()
        out = model(*args)
        loss = torch.zeros(())
        for head, (target, weight) in heads.items():
            logit = out.ring_logit if head == "ring" else out.pd_logit
            scale = settings.pd_loss_weight if head == "pd" else 1.0
            loss = loss + scale * _weighted_bce(logit, target, weight)
        loss.backward()
        optimiser.step()
        row: dict[str, float] = {"epoch": epoch, "loss": loss.item()}
        if validate and (epoch % settings.eval_every == 0 or epoch == epochs):
            scores = _validation_scores(model, args, ring_y, ring_known, pd_y, pd_known,
                                        holdout)
            row.update(scores)
            for head in heads:
                value = scores.get(f"val_{head}_{'auprc' if head == 'ring' else 'auc'}")
                if value is not None and value > best[head] + 1e-6:
                    best[head] = value
                    states[head] = copy.deepcopy(model.state_dict())
                    best_epoch[head] = epoch
        history.append(row)
        report(task, epoch, epochs)
        stale = [epoch - best_epoch.get(h, 0) >= settings.patience for h in heads]
        if validate and epoch >= settings.min_epochs and all(stale):
            break
    for head in heads:  # without validation, or a head never measured: the last epoch
        if head not in states:
            states[head] = copy.deepcopy(model.state_dict())
            best_epoch[head] = epoch
    report(task, epochs, epochs)
    return Trained(model.config(), states, settings, standardiser, seed, best_epoch, history,
                   time.perf_counter() - start)


def _ring_targets(ring_y: np.ndarray, known: np.ndarray, train_set: np.ndarray,
                  settings: TrainSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Target and weight per merchant: labelled 1 and 0, unlabelled 0 at
    ``unlabelled_weight``, held-out merchants 0; positives balanced."""
    positive = known & (ring_y == 1) & train_set
    weight = np.where(known, 1.0, settings.unlabelled_weight) * train_set
    weight[positive] = 0.0
    pos_weight = settings.ring_pos_weight
    if pos_weight is None:
        pos_weight = weight.sum() / max(int(positive.sum()), 1)
    weight[positive] = pos_weight
    target = positive.astype(np.float64)
    return torch.from_numpy(target).float(), torch.from_numpy(weight).float()


def _weighted_bce(logit: torch.Tensor, target: torch.Tensor, weight: torch.Tensor
                  ) -> torch.Tensor:
    total = weight.sum()
    if total <= 0:
        return torch.zeros(())
    loss = F.binary_cross_entropy_with_logits(logit, target, reduction="none")
    return (loss * weight).sum() / total


def _validation_scores(model: HeteroGNN, args: tuple, ring_y: np.ndarray | None,
                       ring_known: np.ndarray, pd_y: np.ndarray | None, pd_known: np.ndarray,
                       holdout: np.ndarray) -> dict[str, float]:
    """Ring AUPRC (held-out labelled fraud against every other held-out merchant) and
    default AUROC (held-out merchants with an observed default)."""
    model.eval()
    with torch.no_grad():
        out = model(*args)
    scores: dict[str, float] = {}
    if ring_y is not None:
        y = ((ring_y == 1) & ring_known)[holdout]
        if 0 < y.sum() < len(y):
            scores["val_ring_auprc"] = float(average_precision_score(
                y, out.ring_logit.numpy()[holdout]))
    if pd_y is not None:
        chosen = holdout & pd_known
        y = pd_y[chosen]
        if 0 < y.sum() < len(y):
            scores["val_pd_auc"] = float(roc_auc_score(y, out.pd_logit.numpy()[chosen]))
    return scores


def _self_supervised(data: HeteroData, settings: TrainSettings, seed: int,
                     standardiser: Standardiser | None,
                     progress: ProgressFn | None) -> Trained:
    """Deep Graph Infomax on the encoder; the merchant embeddings are the output."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    encoder = _network(data, settings)
    args = encoder.arguments(data)

    def corrupt(x_dict: dict, *rest: object) -> tuple:
        shuffled = {t: x[torch.randperm(x.shape[0])] for t, x in x_dict.items()}
        return (shuffled, *rest)

    dgi = DeepGraphInfomax(settings.hidden, encoder=_Encoder(encoder),
                           summary=lambda z, *a, **k: torch.sigmoid(z.mean(dim=0)),
                           corruption=corrupt)
    optimiser = torch.optim.Adam(dgi.parameters(), lr=settings.lr)
    best, best_epoch, state = math.inf, 0, copy.deepcopy(encoder.state_dict())
    history: list[dict[str, float]] = []
    report = progress or (lambda task, done, total: None)
    task, epochs = "train GNN (self-supervised)", settings.ssl_epochs
    for epoch in range(1, epochs + 1):
        dgi.train()
        optimiser.zero_grad()
        pos, neg, summary = dgi(*args)
        loss = dgi.loss(pos, neg, summary)
        loss.backward()
        optimiser.step()
        value = loss.item()
        history.append({"epoch": epoch, "loss": value})
        if value < best - 1e-4:
            best, best_epoch, state = value, epoch, copy.deepcopy(encoder.state_dict())
        report(task, epoch, epochs)
        if epoch - best_epoch >= settings.patience and epoch >= settings.min_epochs:
            break
    report(task, epochs, epochs)
    return Trained(encoder.config(), {"embedding": state}, settings, standardiser, seed,
                   {"embedding": best_epoch}, history, time.perf_counter() - start)


class _Encoder(torch.nn.Module):
    """The network as DGI's encoder: its merchant embeddings."""

    def __init__(self, net: HeteroGNN) -> None:
        super().__init__()
        self.net = net

    def reset_parameters(self) -> None:
        self.net.reset_parameters()

    def forward(self, *args: object) -> torch.Tensor:
        return self.net.encode(*args)


def _labels(m: int, y_ring: ArrayLike | None, ring_mask: ArrayLike | None,
            y_pd: ArrayLike | None, pd_mask: ArrayLike | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def arrays(y: ArrayLike | None, mask: ArrayLike | None, name: str
               ) -> tuple[np.ndarray, np.ndarray]:
        if y is None:
            return np.zeros(m), np.zeros(m, dtype=bool)
        y = _numpy(y).astype(np.float64)
        mask = np.ones(m, dtype=bool) if mask is None else _numpy(mask).astype(bool)
        if y.shape != (m,) or mask.shape != (m,):
            raise ValueError(f"{name} labels and mask must have shape ({m},) for the "
                             f"{m} merchants, not {y.shape} and {mask.shape}")
        bad = mask & ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"{name} labels must be 0 or 1 where known; "
                             f"{int(bad.sum())} are not")
        return np.where(mask, y, 0.0), mask
    ring_y, ring_known = arrays(y_ring, ring_mask, "ring")
    pd_y, pd_known = arrays(y_pd, pd_mask, "default")
    return ring_y, ring_known, pd_y, pd_known


def _numpy(a: ArrayLike) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    if isinstance(a, pd.Series):
        return a.to_numpy()
    return np.asarray(a)


@contextmanager
def _deterministic(seed: int | None, threads: int) -> Iterator[None]:
    """Deterministic algorithms on ``threads`` threads, the random generator seeded
    with ``seed`` (None: untouched); the caller's settings and generator state are
    restored afterwards."""
    old_threads = torch.get_num_threads()
    old_mode = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(old_threads)
        use_deterministic_algorithms(old_mode, warn_only=old_warn)
