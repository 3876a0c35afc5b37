"""Everything scoring reads, in one place: the export, links, features, communities, labels.

Training, scoring, the baselines and the evaluation all start from :func:`prepare`,
so they see the same numbers. The whole-graph algorithms run in Neo4j with GDS where
the server has it (``graph/gds.py``; otherwise in Python after a one-line notice):
connected components give each merchant's component size (a feature: both paths give
the same partition), Louvain gives the business communities that become clusters for
merchants no suspicious group takes.

An incremental run (``gnn/incremental.py``) does not run them on the whole graph again:
it finds the components in Python from the export (:func:`components`, the same
partition: new links can join components, and a component's size moves scores),
and takes over the communities and FastRP embeddings of the run it builds on
(:class:`Carried`). Louvain over the whole graph is what a run cannot do locally; a
few new payments move its communities at the margins, if at all, and a merchant that
is new joins the community it has most links into (new merchants linked only to one
another form one). ``--full`` computes them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from guanxi.gnn.features import TRENDS, Trends, merchant_table
from guanxi.gnn.labels import Labels, case_decisions, training_labels
from guanxi.gnn.projection import Links, edges, merchant_links, no_diagonal
from guanxi.graph import gds, model
from guanxi.graph.connection import Graph
from guanxi.graph.export import Exported, export_graph
from guanxi.progress import ProgressFn

__all__ = ["Carried", "Prepared", "business_links", "components", "link_kinds", "prepare"]


@dataclass(frozen=True)
class Carried:
    """The whole-graph results of an earlier run, for :func:`prepare` to take over:
    its merchants ``ids`` (M0,), their Louvain ``communities`` (M0,) int64 (-1: none)
    and ``fastrp`` embeddings (M0, D) float32, or None; and what its scorer kept for
    the next run (``computed``, rows in ``ids`` order: ``Scorer.first_stage``)."""

    ids: np.ndarray
    communities: np.ndarray
    fastrp: np.ndarray | None = None
    computed: Mapping[str, np.ndarray] = field(default_factory=dict)
    reread: np.ndarray | None = None
    """Ids of the merchants read again since (ingest touched them) when the export
    given to :func:`prepare` is the run's brought up to date (``graph/delta.py``):
    every other merchant's weekly rows are then the run's. None: not known, and no
    trend is carried."""
    _last: list = field(default_factory=list, init=False, repr=False, compare=False)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """``(len(ids),)`` int64: where each of ``ids`` is in the run's ``ids``, -1 for a
        merchant it did not have. Kept for the last ``ids`` array asked about: a run
        asks about its merchants several times, and each hash of 100,000 ids costs
        0.06 s. Read it, do not change it.

        >>> kept = Carried(np.array(["a", "b"], dtype=object), np.array([4, 7]))
        >>> ids = np.array(["b", "c"], dtype=object)
        >>> kept.positions(ids).tolist(), kept.positions(ids) is kept.positions(ids)
        ([1, -1], True)
        >>> kept.positions(np.array(["a"], dtype=object)).tolist()
        [0]
        """
        if not self._last or self._last[0] is not ids:
            self._last[:] = [ids, pd.Index(self.ids).get_indexer(pd.Index(ids))]
        return self._last[1]

    def trends_for(self, ids: np.ndarray) -> Trends | None:
        """The run's :class:`~guanxi.gnn.features.Trends` of ``ids`` for
        ``merchant_table``: of the merchants it had and nobody touched since (the
        others' window ``-1``, to compute); None when it kept none or ``reread`` is
        not known."""
        values, window = self.computed.get("trends"), self.computed.get("trends_window")
        if self.reread is None or values is None or window is None or values.ndim != 2 \
                or values.shape[1] != len(TRENDS) or window.shape != (len(values), 3):
            return None
        where = self.positions(ids)
        same = (where >= 0) & ~pd.Index(ids).isin(self.reread)
        out = Trends(np.zeros((len(ids), len(TRENDS))), np.full((len(ids), 3), -1, np.int64))
        out.values[same] = values[where[same]]
        out.window[same] = window[where[same]]
        return out

    def communities_for(self, ids: np.ndarray, adjacency: sp.csr_matrix) -> np.ndarray:
        """(M,) the communities of ``ids``: a merchant carried keeps its own; a new one
        joins the community that holds most of its ``adjacency`` weight (ties: the
        lower number); new merchants linked only to one another form a new community
        each group; a new merchant with no link has none (-1).

        >>> kept = Carried(np.array(["a", "b"], dtype=object), np.array([4, 7]))
        >>> links = sp.csr_matrix(np.array([[0, 0, 1, 0, 0], [0, 0, 2, 0, 0],
        ...                                 [1, 2, 0, 0, 0], [0, 0, 0, 0, 1],
        ...                                 [0, 0, 0, 1, 0]], float))
        >>> kept.communities_for(np.array(["a", "b", "c", "d", "e"], dtype=object),
        ...                      links).tolist()
        [4, 7, 7, 8, 8]
        """
        where = self.positions(ids)
        out = np.where(where >= 0, self.communities[np.maximum(where, 0)], -1)
        new = np.flatnonzero(where < 0)
        if new.size:
            adjacency = sp.csr_matrix(adjacency)
            rows = adjacency[new].tocoo()
            theirs = out[rows.col]
            linked = pd.DataFrame({"row": rows.row, "community": theirs, "weight": rows.data})
            linked = linked[linked["community"] >= 0]
            best = (linked.groupby(["row", "community"], as_index=False)["weight"].sum()
                    .sort_values(["row", "weight", "community"], ascending=[True, False, True],
                                 kind="stable")
                    .drop_duplicates("row"))
            out[new[best["row"].to_numpy()]] = best["community"].to_numpy()
            alone = new[out[new] < 0]
            among = adjacency[alone][:, alone]
            groups = connected_components(among, directed=False)[1]
            sizes = np.bincount(groups) if groups.size else np.zeros(0, np.int64)
            linked = sizes[groups] >= 2
            _, fresh = np.unique(groups[linked], return_inverse=True)
            out[alone[linked]] = max(int(self.communities.max(initial=-1)),
                                     int(out.max(initial=-1))) + 1 + fresh
        return out.astype(np.int64)

    def fastrp_for(self, ids: np.ndarray) -> np.ndarray | None:
        """(M, D) the embeddings of ``ids``, zeros for a merchant not carried."""
        if self.fastrp is None:
            return None
        where = self.positions(ids)
        out = np.zeros((len(ids), self.fastrp.shape[1]), dtype=np.float32)
        out[where >= 0] = self.fastrp[where[where >= 0]]
        return out


@dataclass
class Prepared:
    """One graph, ready to score. Arrays are in ``ex.ids["Merchant"]`` order."""

    ex: Exported
    links: Links
    features: pd.DataFrame
    """(M, F) float32 merchant features (``gnn/features``) plus ``log_component_size``."""
    communities: np.ndarray
    """(M,) int64 Louvain community of each merchant."""
    labels: Labels
    notes: list[str] = field(default_factory=list)
    fastrp: np.ndarray | None = None
    """(M, D) float32 FastRP embeddings (zeros for a merchant the algorithm did not
    see), when :func:`prepare` was asked for them."""
    trends: Trends | None = None
    """The merchants' own trends behind the credit features, kept by a run for the
    next (:meth:`Carried.trends_for`)."""
    shared_weeks: np.ndarray | None = None
    """(3,) int64: what every merchant's features share (``Table.shared_weeks``)."""

    @property
    def ids(self) -> np.ndarray:
        return self.ex.ids["Merchant"]

    @cached_property
    def kinds(self) -> dict[str, sp.csr_matrix]:
        """``link_kinds(self.links)``, computed once: the scorer, the incremental set
        and the evaluation all aggregate over it."""
        return link_kinds(self.links)

    @cached_property
    def strength(self) -> sp.csr_matrix:
        """``links.combined()``, computed once (0.25 s at 100,000 merchants): grouping
        and the cluster table both read it. Read it, do not change it."""
        return self.links.combined()

    @cached_property
    def business(self) -> sp.csr_matrix:
        """:func:`business_links` of ``links``, computed once here: the credit inputs
        and the clusters both read it. Read it, do not change it."""
        return business_links(self.links)

    @property
    def m(self) -> int:
        return len(self.ex.ids["Merchant"])


def link_kinds(links: Links) -> dict[str, sp.csr_matrix]:
    """Three symmetric 0/1 neighbourhoods for aggregation: ``flow`` (payments, supply,
    shipments between merchants, either way), ``shared`` (any shared identifier),
    ``co_payer`` (a consumer paying both); absent kinds are empty. Each has sorted
    indices and no diagonal."""
    n = links.n
    # The shared and co-payer links are symmetric with positive weights (``Links``):
    # their sum has the pattern of the union, with no transpose to add (0.2-0.3 s of
    # the 0.5-0.7 s at 100,000 merchants, where 2.4 million co-payer links dominate).
    groups = {"flow": [abs(a) + abs(a).T for a in links.directed.values()],
              "shared": list(links.shared.values()),
              "co_payer": [links.co_payer] if links.co_payer is not None else []}
    return {name: _pattern(n, mats) for name, mats in groups.items()}


def _pattern(n: int, mats: list[sp.csr_matrix]) -> sp.csr_matrix:
    """``(n, n)`` float64 ones where any of the non-negative ``mats`` is non-zero, off
    the diagonal, indices sorted."""
    total = sp.csr_matrix((n, n))
    for a in mats:
        total = total + a
    total = no_diagonal(total)
    total.data = np.ones(total.nnz)
    return total


def business_links(links: Links) -> sp.csr_matrix:
    """The links that bind a business group: flows and shared identifiers, not shared
    customers (two shops in one street share customers, not a fate)."""
    return links.combined({"co_payer": 0.0})


def components(ex: Exported, links: Links) -> np.ndarray:
    """(M,) int64 connected component of each merchant in the merchant projection
    (``gds.MerchantProjection``: a flow between two merchants either way, or an
    identifier ``links.shared`` counts), from the export: the partition
    ``gds.components`` finds in Neo4j, numbered otherwise."""
    n = links.n
    rows, cols = [], []
    for relation in model.RELATIONS:
        if relation.family == "flow" and relation.source == relation.target == "Merchant":
            found = edges(ex, relation.key)
            if found is not None:
                rows.append(found[0])
                cols.append(found[1])
    for shared in links.shared.values():
        coo = shared.tocoo()
        rows.append(coo.row.astype(np.int64))
        cols.append(coo.col.astype(np.int64))
    src = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    dst = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    pattern = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    return connected_components(pattern, directed=False)[1].astype(np.int64)


def prepare(graph: Graph, *, use_gds: bool | None = None, seed: int = 0,
            progress: ProgressFn | None = None, notice=None,
            fastrp_dim: int | None = None, exported: Exported | None = None,
            carried: Carried | None = None) -> Prepared:
    """Export ``graph`` and compute what every model reads. ``notice`` gets one line
    for each whole-graph step that runs in Python for want of GDS; ``fastrp_dim``
    also computes FastRP embeddings that wide (on the same GDS projection);
    ``exported``, an export already up to date (``graph/delta.py``), is used instead of
    reading the graph again; with ``carried`` (FastRP as wide as ``fastrp_dim``, if
    asked for) no whole-graph algorithm runs: components come from the export, the
    communities and FastRP from ``carried`` (module docstring)."""
    notes: list[str] = []

    def note(line: str) -> None:
        notes.append(line)
        if notice is not None:
            notice(line)

    ex = exported if exported is not None else export_graph(graph, progress=progress)
    if "Merchant" not in ex.ids or len(ex.ids["Merchant"]) == 0:
        from guanxi.errors import InputError

        raise InputError("the graph has no merchants to train on or score",
                         "load a folder first: guanxi ingest DIR")
    ids = ex.ids["Merchant"]
    width = None if carried is None or carried.fastrp is None else carried.fastrp.shape[1]
    local = carried is not None and width == fastrp_dim
    with ThreadPoolExecutor(1, thread_name_prefix="guanxi-gds") as pool:
        # Neo4j runs the whole-graph algorithms on its cores while this process
        # computes the features.
        running = None if local else pool.submit(
            gds.whole_graph, graph, use_gds=use_gds, seed=seed, fastrp_dim=fastrp_dim,
            notice=note)
        links = merchant_links(ex)
        features, trends, shared_weeks = merchant_table(
            ex, links, None if carried is None else carried.trends_for(ids))
        whole = None if running is None else running.result()
    business = None
    if whole is None:
        comp = components(ex, links)
        business = business_links(links)
        communities = carried.communities_for(ids, business)
        embedded = carried.fastrp_for(ids) if fastrp_dim is not None else None
    else:
        comp = _aligned(whole.components, ids, "component")
        communities = _aligned(whole.communities, ids, "community")
        embedded = None
        if whole.fastrp is not None:
            embedded = (whole.fastrp.set_index("merchant_id").reindex(ids).fillna(0.0)
                        .to_numpy(np.float32))
    sizes = np.bincount(comp[comp >= 0]) if (comp >= 0).any() else np.zeros(1)
    features["log_component_size"] = np.log1p(
        np.where(comp >= 0, sizes[np.maximum(comp, 0)], 1)).astype(np.float32)
    labels = training_labels(ex.merchants, case_decisions(graph))
    prep = Prepared(ex, links, features, communities, labels, notes, embedded, trends,
                    shared_weeks)
    if business is not None:
        prep.business = business  # computed already: the cached property takes it
    return prep


def _aligned(frame: pd.DataFrame, ids: np.ndarray, column: str) -> np.ndarray:
    """``frame[column]`` in ``ids`` order, -1 for a merchant the frame lacks (one
    loaded between the export and the algorithm)."""
    where = pd.Index(frame["merchant_id"]).get_indexer(pd.Index(ids))
    values = frame[column].to_numpy(dtype=np.int64)
    return np.where(where >= 0, values[np.maximum(where, 0)], -1)
