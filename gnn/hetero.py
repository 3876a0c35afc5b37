"""The graph neural network's input: an export's ``HeteroData`` with features on every node
type and on every relation, and every relation doubled by its reverse.

``model_input(ex, merchant_x)`` takes the export (``graph/export.py``) and a merchant
feature matrix (``gnn/features``) and returns a new ``HeteroData``:

- ``data["Merchant"].x`` ``(M, F)``: the merchant features, standardised;
- every other node type gets a few structural features from its edges: the log of its
  degree per relation and, where the relation has aggregates (``Consumer-PAID``), the
  log of the summed count and amount, the share of round and night payments and the
  log of the active span in days; an identifier (``Phone``, ``Device``, ...) thus gets
  the log of the number of merchants that share it;
- every relation with aggregates gets ``edge_attr`` ``(|E|, A')`` (logs of count and
  amount, amount spread, round and night shares, span and recency in days, see
  :func:`edge_features`), standardised, and ``edge_weight`` ``(|E|,)`` = log(1 + count);
- every relation ``(src, TYPE, dst)`` gets its reverse ``(dst, rev_TYPE, src)`` with the
  same attributes, so that messages flow both ways (a merchant hears from the consumers
  who pay it and from the merchants it pays; an identifier from every merchant using it).
  ``Merchant-PAID->Merchant`` and its reverse stay two types: paying and being paid are
  different roles.

Standardisation is a z-score with stored means and deviations (:class:`Standardiser`),
so that a model trained on one graph scores another on the same scale: pass the
training graph's ``data.standardiser`` when building the input of the next graph.
Heavy tails are logged here (structural features) or by the features module (merchant
features); here the z-scores are clipped at ``+-clip`` and a missing value becomes 0
(the mean).

Node and edge types absent from the export are absent from the input: the model is
built from ``data.metadata()``, and a folder of merchants and merchant-to-merchant
payments is a valid input.

>>> import torch
>>> from torch_geometric.data import HeteroData
>>> raw = HeteroData()
>>> raw["Merchant"].num_nodes = 3
>>> raw["Merchant", "PAID", "Merchant"].edge_index = torch.tensor([[0, 1], [1, 2]])
>>> ex = Exported(raw, {}, {}, None, torch.zeros(3, 0, 12), None)
>>> data = model_input(ex, np.array([[1.0], [2.0], [3.0]]))
>>> data.metadata()[1]
[('Merchant', 'PAID', 'Merchant'), ('Merchant', 'rev_PAID', 'Merchant')]
>>> [round(v, 2) for v in data["Merchant"].x.squeeze(1).tolist()]
[-1.22, 0.0, 1.22]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch_geometric.data import HeteroData

from guanxi.graph.export import EdgeType, Exported

__all__ = ["Standardiser", "as_mapping", "edge_features", "feature_dims", "model_input",
           "node_features", "parse_type_key", "reverse_type", "type_key"]

MERCHANT = "Merchant"
REV = "rev_"
_DAY = 86_400.0

_BLOCK_ROWS = 16_384
"""Rows standardised at a time (:meth:`Standardiser.transform`)."""


def type_key(key: str | EdgeType) -> str:
    """The string a node or edge type is known by in a :class:`Standardiser`.

    >>> type_key(("Consumer", "PAID", "Merchant"))
    'Consumer-PAID->Merchant'
    """
    if isinstance(key, str):
        return key
    return f"{key[0]}-{key[1]}->{key[2]}"


def parse_type_key(key: str) -> str | EdgeType:
    """The node or edge type of a :func:`type_key` string.

    >>> parse_type_key("Merchant-rev_PAID->Consumer")
    ('Merchant', 'rev_PAID', 'Consumer')
    >>> parse_type_key("Phone")
    'Phone'
    """
    if "->" not in key:
        return key
    head, dst = key.rsplit("->", 1)
    src, rel = head.split("-", 1)
    return (src, rel, dst)


def reverse_type(key: EdgeType) -> EdgeType:
    """``(src, TYPE, dst)`` -> ``(dst, rev_TYPE, src)`` and back.

    >>> reverse_type(("Merchant", "USES", "Phone"))
    ('Phone', 'rev_USES', 'Merchant')
    >>> reverse_type(reverse_type(("Merchant", "USES", "Phone")))
    ('Merchant', 'USES', 'Phone')
    """
    src, rel, dst = key
    rel = rel[len(REV):] if rel.startswith(REV) else REV + rel
    return (dst, rel, src)


@dataclass
class Standardiser:
    """Per node type and per relation: column names, means and deviations.

    ``fit`` learns a table's columns, ``transform`` applies ``(x - mean) / std``, clipped
    at ``+-clip``, missing values 0. A table seen first by ``transform`` is an error:
    a model trained without it cannot use it (the caller leaves it out).

    >>> s = Standardiser()
    >>> z = s.fit_transform("Merchant", np.array([[1.0, 5.0], [3.0, 5.0]]), ("a", "b"))
    >>> z.tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    >>> s.inverse("Merchant", z).tolist()
    [[1.0, 5.0], [3.0, 5.0]]
    """

    clip: float = 10.0
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mean: dict[str, np.ndarray] = field(default_factory=dict)
    std: dict[str, np.ndarray] = field(default_factory=dict)

    def __contains__(self, key: str) -> bool:
        return key in self.mean

    def __repr__(self) -> str:
        widths = ", ".join(f"{k}: {len(v)}" for k, v in self.names.items())
        return f"Standardiser({widths})"

    def to_state(self) -> dict[str, object]:
        """Plain values and tensors (``torch.load(weights_only=True)`` reads them)."""
        return {"clip": self.clip, "names": {k: list(v) for k, v in self.names.items()},
                "mean": {k: torch.from_numpy(v.copy()) for k, v in self.mean.items()},
                "std": {k: torch.from_numpy(v.copy()) for k, v in self.std.items()}}

    @classmethod
    def from_state(cls, state: Mapping[str, object]) -> Standardiser:
        """The inverse of :meth:`to_state`."""
        return cls(float(state["clip"]),
                   {k: tuple(v) for k, v in state["names"].items()},
                   {k: v.numpy().astype(np.float64) for k, v in state["mean"].items()},
                   {k: v.numpy().astype(np.float64) for k, v in state["std"].items()})

    def fit(self, key: str, x: np.ndarray, names: tuple[str, ...] | None = None) -> None:
        """Learn the columns of ``x`` ``(N, F)`` as table ``key``; NaN are ignored."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"{key}: features must be (rows, columns), not shape {x.shape}")
        finite = np.where(np.isfinite(x), x, np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column
            mean = np.nanmean(finite, axis=0) if len(x) else np.zeros(x.shape[1])
            std = np.nanstd(finite, axis=0) if len(x) else np.ones(x.shape[1])
        mean = np.nan_to_num(mean, nan=0.0)
        std = np.where(np.isfinite(std) & (std > 1e-9), std, 1.0)
        self.names[key] = tuple(names) if names is not None else tuple(
            f"f{i}" for i in range(x.shape[1]))
        self.mean[key] = mean
        self.std[key] = std

    def transform(self, key: str, x: np.ndarray) -> np.ndarray:
        """``(N, F)`` float32 z-scores of ``x`` on the scale learnt for ``key``."""
        if key not in self.mean:
            raise KeyError(f"no standardisation learnt for {key!r}; known: {sorted(self.mean)}")
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != len(self.mean[key]):
            raise ValueError(f"{key}: expected {len(self.mean[key])} columns "
                             f"({', '.join(self.names[key])}), got shape {x.shape}")
        # In float64 (as fitted), a block of rows at a time, into the float32 result:
        # whole, the float64 copies of 100,000 merchants' features or a million
        # consumers' were 60-80 MB each, and fresh memory is what a refresh waits for.
        out = np.empty(x.shape, dtype=np.float32)
        for start in range(0, len(x), _BLOCK_ROWS):
            z = np.asarray(x[start:start + _BLOCK_ROWS], dtype=np.float64) - self.mean[key]
            z /= self.std[key]
            z[~np.isfinite(z)] = 0.0
            out[start:start + _BLOCK_ROWS] = np.clip(z, -self.clip, self.clip, out=z)
        return out

    def fit_transform(self, key: str, x: np.ndarray,
                      names: tuple[str, ...] | None = None) -> np.ndarray:
        self.fit(key, x, names)
        return self.transform(key, x)

    def inverse(self, key: str, z: np.ndarray) -> np.ndarray:
        """The values back from z-scores (those within the clip)."""
        return np.asarray(z, dtype=np.float64) * self.std[key] + self.mean[key]


def edge_features(attr: np.ndarray, names: tuple[str, ...], *, now: float | None = None
                  ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Log-scaled per-edge features from a relation's aggregates.

    ``count`` -> log(1 + count); ``amount``, ``weight_kg``, ``amount_max`` -> log(1 + x);
    ``amount_sq`` (with ``amount``, ``count``) -> log(1 + coefficient of variation of the
    amounts); ``round_count``, ``night_count`` -> share of ``count``; ``first_ts`` and
    ``last_ts`` -> log(1 + days between them) and log(1 + days from ``last_ts`` to
    ``now``, the latest ``last_ts`` when None). Another column -> sign(x) log(1 + |x|).

    Returns ``(|E|, A')`` float64 and the new column names.

    >>> f, n = edge_features(np.array([[3.0, 300.0, 2.0]]), ("count", "amount", "round_count"))
    >>> n, np.round(f, 3).tolist()
    (('log_count', 'log_amount', 'round_share'), [[1.386, 5.707, 0.667]])
    """
    attr = np.asarray(attr, dtype=np.float64)
    col = {name: attr[:, i] for i, name in enumerate(names)}
    count = col.get("count")
    denominator = np.maximum(count, 1.0) if count is not None else None
    out: list[np.ndarray] = []
    out_names: list[str] = []
    for name in names:
        x = col[name]
        if name in ("count", "amount", "weight_kg", "amount_max"):
            out.append(np.log1p(np.maximum(x, 0.0)))
            out_names.append(f"log_{name}")
        elif name == "amount_sq" and count is not None and "amount" in col:
            mean = col["amount"] / denominator
            var = np.maximum(x / denominator - mean**2, 0.0)
            out.append(np.log1p(np.sqrt(var) / np.maximum(mean, 1e-9)))
            out_names.append("log_amount_cv")
        elif name in ("round_count", "night_count") and denominator is not None:
            out.append(x / denominator)
            out_names.append(name.replace("_count", "_share"))
        elif name in ("first_ts", "last_ts"):
            continue
        else:
            out.append(np.sign(x) * np.log1p(np.abs(x)))
            out_names.append(f"log_{name}")
    if "first_ts" in col and "last_ts" in col:
        first, last = col["first_ts"], col["last_ts"]
        latest = now if now is not None else (float(np.nanmax(last)) if len(last) else 0.0)
        out.append(np.log1p(np.maximum(last - first, 0.0) / _DAY))
        out.append(np.log1p(np.maximum(latest - last, 0.0) / _DAY))
        out_names += ["log_span_days", "log_days_since_last"]
    if not out:
        return np.zeros((len(attr), 0)), ()
    return np.column_stack(out), tuple(out_names)


def node_features(ex: Exported, label: str, rows: np.ndarray | None = None
                  ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Structural features of a non-merchant node type, from the relations touching it.

    Per relation ``R`` with an end of type ``label``: ``R_log_degree``; where ``R`` has
    aggregates, also ``R_log_count``, ``R_log_amount`` (sums over the node's edges),
    ``R_round_share``, ``R_night_share`` (of the summed count) and ``R_log_span_days``
    (first to last payment). For an identifier, the degree is the number of merchants
    sharing it. Returns ``(|V_label|, F)`` float64 and the column names; with ``rows``
    (a ``(|V_label|,)`` bool mask), those rows only.
    """
    data = ex.data
    n = data[label].num_nodes
    names: list[str] = []
    columns: list[np.ndarray] = []

    def add(column: np.ndarray, name: str) -> None:
        # Cut to ``rows`` as it comes: a million consumers' whole columns, stacked, then
        # cut, were two arrays of 46 MB.
        columns.append(column if rows is None else column[rows])
        names.append(name)

    for key in data.edge_types:
        src, rel, dst = key
        for end, side in ((0, src), (1, dst)):
            if side != label:
                continue
            index = data[key].edge_index[end].numpy()
            prefix = f"{rel}_{'out' if end == 0 else 'in'}" if src == dst else rel
            add(np.log1p(np.bincount(index, minlength=n)), f"{prefix}_log_degree")
            attr = data[key].get("edge_attr")
            attr_names = ex.edge_attr_names.get(key, ())
            if attr is None or not attr_names:
                continue
            a = {name: attr[:, i].double().numpy() for i, name in enumerate(attr_names)}
            count = np.bincount(index, a["count"], minlength=n) if "count" in a else None
            for amount in ("amount", "weight_kg"):
                if amount in a:
                    add(np.log1p(np.maximum(np.bincount(index, a[amount], n), 0)),
                        f"{prefix}_log_{amount}")
            if count is not None:
                add(np.log1p(count), f"{prefix}_log_count")
                for share in ("round_count", "night_count"):
                    if share in a:
                        add(np.bincount(index, a[share], n) / np.maximum(count, 1),
                            f"{prefix}_{share.replace('_count', '_share')}")
            if "first_ts" in a and "last_ts" in a:
                first = np.full(n, np.inf)
                last = np.full(n, -np.inf)
                np.minimum.at(first, index, a["first_ts"])
                np.maximum.at(last, index, a["last_ts"])
                span = np.where(np.isfinite(first) & np.isfinite(last), last - first, 0.0)
                add(np.log1p(np.maximum(span, 0.0) / _DAY), f"{prefix}_log_span_days")
    if not columns:  # a node type without edges: a constant column keeps it well formed
        return np.zeros((n if rows is None else int(np.count_nonzero(rows)), 1)), ("none",)
    return np.column_stack(columns), tuple(names)


def model_input(ex: Exported, merchant_x: np.ndarray, *,
                standardiser: Standardiser | None = None,
                merchant_names: tuple[str, ...] | None = None,
                min_merchants: int = 2, edge_values: bool = True) -> HeteroData:
    """The GNN's input graph from an export and a merchant feature matrix.

    Parameters
    ----------
    ex : Exported
        The graph (``graph/export.py``); only ``ex.data`` and ``ex.edge_attr_names``
        are read.
    merchant_x : (M, F) array
        Merchant features in ``ex.ids["Merchant"]`` order (``gnn/features``); NaN
        allowed (they become the mean).
    standardiser : Standardiser, optional
        The scales learnt on the training graph (``data.standardiser`` of its input).
        None: learn them on this graph. A node or edge type the standardiser does not
        know is left out of the input (a model trained without it cannot use it).
    merchant_names : tuple of str, optional
        Names of the merchant feature columns, kept in the standardiser.
    min_merchants : int
        A node of another type with edges to fewer merchants is left out: a consumer
        who paid one merchant only, a phone nobody shares. It joins no merchants
        together, and what it says (its payments, that the phone is not shared) is in
        the merchant's own features and in the absence of messages; leaving it out
        saves most consumer nodes and a third of the payment edges. 1 keeps every
        node with an edge.
    edge_values : bool
        False: no ``edge_attr`` or ``edge_weight``, for a network that reads neither
        (SAGE: about 0.5 s at 100,000 merchants), nor their columns checked against
        the ``standardiser``'s; the same edges either way. Only with a ``standardiser``.

    Returns
    -------
    HeteroData
        ``[t].x`` ``(|V_t|, F_t)`` float32 for every node type; ``[e].edge_index``
        ``(2, |E_e|)`` for every relation and its reverse; ``[e].edge_attr``
        ``(|E_e|, A_e)`` float32 and ``[e].edge_weight`` ``(|E_e|,)`` where the relation
        has aggregates; ``[t].n_id`` ``(|V_t|,)`` the positions in the export of the
        nodes kept (``min_merchants``) for other types than merchants (every merchant is
        kept, in order); ``data.standardiser`` the :class:`Standardiser` used.
    """
    raw = ex.data
    if MERCHANT not in raw.node_types:
        raise ValueError("the export has no Merchant nodes; nothing to score")
    m = raw[MERCHANT].num_nodes
    merchant_x = np.asarray(merchant_x)  # float64 where fitted or scaled, a block at a time
    if merchant_x.ndim != 2 or merchant_x.shape[0] != m:
        raise ValueError(f"merchant_x must be ({m}, F) for the export's {m} merchants, "
                         f"not shape {merchant_x.shape}")
    fitting = standardiser is None
    if fitting and not edge_values:
        raise ValueError("edge_values=False needs the standardiser of a training input")
    s = standardiser if standardiser is not None else Standardiser()
    out = HeteroData()

    def scaled(key: str, x: np.ndarray, names: tuple[str, ...]) -> torch.Tensor | None:
        if fitting:
            s.fit(key, x, names)
        elif key not in s:
            return None
        return torch.from_numpy(s.transform(key, x))

    names = merchant_names or tuple(f"f{i}" for i in range(merchant_x.shape[1]))
    out[MERCHANT].x = scaled(MERCHANT, merchant_x, names)
    position: dict[str, np.ndarray] = {}  # old position -> new, -1 where left out
    for label in raw.node_types:
        if label == MERCHANT:
            continue
        keep = _merchant_degree(raw, label) >= min_merchants
        if not keep.any():
            continue
        features, feature_names = node_features(ex, label, keep)
        x = scaled(label, features, feature_names)
        if x is not None:
            out[label].x = x
            out[label].n_id = torch.from_numpy(np.flatnonzero(keep))
            position[label] = np.where(keep, np.cumsum(keep) - 1, -1)

    now = _latest(ex)
    for key in raw.edge_types:
        src, _, dst = key
        if src not in out.node_types or dst not in out.node_types:
            continue
        edge_index = raw[key].edge_index.long().clone()
        attr = raw[key].get("edge_attr")
        kept = np.ones(edge_index.shape[1], dtype=bool)
        for end, label in ((0, src), (1, dst)):
            if label in position:
                new = position[label][edge_index[end].numpy()]
                kept &= new >= 0
                edge_index[end] = torch.from_numpy(new)
        if not kept.all():
            chosen = torch.from_numpy(kept)
            edge_index = edge_index[:, chosen]
            attr = attr[chosen] if attr is not None else None
        attr_names = ex.edge_attr_names.get(key, ())
        edge_attr = weight = None
        if attr is not None and attr_names:
            if not fitting and type_key(key) not in s:
                continue
            if edge_values:
                values, new_names = edge_features(attr.numpy(), attr_names, now=now)
                edge_attr = scaled(type_key(key), values, new_names)
                if "count" in attr_names:
                    weight = torch.log1p(
                        attr[:, attr_names.index("count")].float().clamp(min=0))
                else:
                    weight = torch.ones(edge_index.shape[1])
        elif not fitting and type_key(key) in s:
            continue  # trained with attributes this graph lacks
        for k, index in ((key, edge_index), (reverse_type(key), edge_index.flip(0))):
            out[k].edge_index = index.contiguous()
            if edge_attr is not None:
                out[k].edge_attr = edge_attr
                out[k].edge_weight = weight
    out.standardiser = s
    return out


def _merchant_degree(raw: HeteroData, label: str) -> np.ndarray:
    """``(|V_label|,)``: edges between each ``label`` node and merchants, any relation."""
    degree = np.zeros(raw[label].num_nodes, dtype=np.int64)
    for src, rel, dst in raw.edge_types:
        for end, this, other in ((0, src, dst), (1, dst, src)):
            if this == label and other == MERCHANT:
                index = raw[src, rel, dst].edge_index[end].numpy()
                degree += np.bincount(index, minlength=len(degree))
    return degree


def _latest(ex: Exported) -> float | None:
    """The latest ``last_ts`` over every relation: 'now' for the recency of edges."""
    latest = None
    for key, names in ex.edge_attr_names.items():
        if "last_ts" in names and key in ex.data.edge_types:
            column = ex.data[key].edge_attr[:, names.index("last_ts")]
            if len(column):
                value = float(column.max())
                latest = value if latest is None else max(latest, value)
    return latest


def feature_dims(data: HeteroData) -> tuple[dict[str, int], dict[EdgeType, int]]:
    """Feature widths per node type and edge-attribute widths per edge type (0: none)."""
    nodes = {t: int(data[t].x.shape[1]) for t in data.node_types}
    edges: dict[EdgeType, int] = {}
    for key in data.edge_types:
        attr = data[key].get("edge_attr")
        edges[key] = int(attr.shape[1]) if attr is not None else 0
    return nodes, edges


def as_mapping(data: HeteroData, name: str) -> Mapping[EdgeType, torch.Tensor]:
    """``{edge type: data[edge type][name]}`` for the edge types that have it."""
    return {key: data[key][name] for key in data.edge_types if name in data[key]}
