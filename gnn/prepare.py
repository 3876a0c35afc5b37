"""Everything scoring reads, in one place: the export, links, features, communities, labels.

Training, scoring, the baselines and the evaluation all start from :func:`prepare`,
so they see the same numbers. The whole-graph algorithms run in Neo4j with GDS where
the server has it (``graph/gds.py``; otherwise in Python after a one-line notice):
connected components give each merchant's component size (a feature: both paths give
the same partition), Louvain gives the business communities that become clusters for
merchants no suspicious group takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from guanxi.gnn.features import merchant_features
from guanxi.gnn.labels import Labels, case_decisions, training_labels
from guanxi.gnn.projection import Links, merchant_links
from guanxi.graph import gds
from guanxi.graph.connection import Graph
from guanxi.graph.export import Exported, export_graph
from guanxi.progress import ProgressFn

__all__ = ["Prepared", "business_links", "link_kinds", "prepare"]


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

    @property
    def ids(self) -> np.ndarray:
        return self.ex.ids["Merchant"]

    @property
    def m(self) -> int:
        return len(self.ex.ids["Merchant"])


def link_kinds(links: Links) -> dict[str, sp.csr_matrix]:
    """Three symmetric 0/1 neighbourhoods for aggregation: ``flow`` (payments, supply,
    shipments between merchants, either way), ``shared`` (any shared identifier),
    ``co_payer`` (a consumer paying both); absent kinds are empty."""
    n = links.n
    out: dict[str, sp.csr_matrix] = {}
    groups = {"flow": list(links.directed.values()), "shared": list(links.shared.values()),
              "co_payer": [links.co_payer] if links.co_payer is not None else []}
    for name, mats in groups.items():
        total = sp.csr_matrix((n, n))
        for a in mats:
            total = total + abs(a) + abs(a).T
        pattern = (total > 0).astype(np.float64)
        pattern.setdiag(0)
        pattern.eliminate_zeros()
        out[name] = sp.csr_matrix(pattern)
    return out


def business_links(links: Links) -> sp.csr_matrix:
    """The links that bind a business group: flows and shared identifiers, not shared
    customers (two shops in one street share customers, not a fate)."""
    return links.combined({"co_payer": 0.0})


def prepare(graph: Graph, *, use_gds: bool | None = None, seed: int = 0,
            progress: ProgressFn | None = None, notice=None,
            fastrp_dim: int | None = None, exported: Exported | None = None) -> Prepared:
    """Export ``graph`` and compute what every model reads. ``notice`` gets one line
    for each whole-graph step that runs in Python for want of GDS; ``fastrp_dim``
    also computes FastRP embeddings that wide (on the same GDS projection);
    ``exported``, an export already up to date (``graph/delta.py``), is used instead of
    reading the graph again."""
    notes: list[str] = []

    def note(line: str) -> None:
        notes.append(line)
        if notice is not None:
            notice(line)

    ex = exported if exported is not None else export_graph(graph, progress=progress)
    if "Merchant" not in ex.ids or len(ex.ids["Merchant"]) == 0:
        from guanxi.errors import InputError

        raise InputError("the graph has no merchants to score",
                         "load a folder first: guanxi ingest DIR")
    links = merchant_links(ex)
    features = merchant_features(ex, links)
    ids = ex.ids["Merchant"]
    whole = gds.whole_graph(graph, use_gds=use_gds, seed=seed, fastrp_dim=fastrp_dim,
                            notice=note)
    comp = _aligned(whole.components, ids, "component")
    sizes = np.bincount(comp[comp >= 0]) if (comp >= 0).any() else np.zeros(1)
    features["log_component_size"] = np.log1p(
        np.where(comp >= 0, sizes[np.maximum(comp, 0)], 1)).astype(np.float32)
    communities = _aligned(whole.communities, ids, "community")
    embedded = None
    if whole.fastrp is not None:
        embedded = (whole.fastrp.set_index("merchant_id").reindex(ids).fillna(0.0)
                    .to_numpy(np.float32))
    labels = training_labels(ex.merchants, case_decisions(graph))
    return Prepared(ex, links, features, communities, labels, notes, embedded)


def _aligned(frame: pd.DataFrame, ids: np.ndarray, column: str) -> np.ndarray:
    """``frame[column]`` in ``ids`` order, -1 for a merchant the frame lacks (one
    loaded between the export and the algorithm)."""
    where = pd.Index(frame["merchant_id"]).get_indexer(pd.Index(ids))
    values = frame[column].to_numpy(dtype=np.int64)
    return np.where(where >= 0, values[np.maximum(where, 0)], -1)
