"""Merchant-to-merchant links projected from an exported graph.

Scoring works on merchants, but half of what ties merchants together runs through other
nodes: two shops registered with one phone, a consumer who pays both. This module folds
every relation of the model into sparse ``(M, M)`` matrices over merchant positions
(row ``i`` is ``Exported.ids["Merchant"][i]``), which features, clustering and neighbour
aggregation share:

- **directed** flows, one per merchant-to-merchant relation present: ``paid`` (amount,
  payer -> payee), ``supply`` (amount, supplier -> buyer), ``shipped`` (count,
  shipper -> receiver);
- **shared** identifiers, one symmetric matrix per identifier relation present, named for
  the relation's target (``phone``, ``device``, ``account``, ``address``, ``owner``,
  ``agent``);
- **co_payer**: consumers who pay both merchants.

Shared and co-payer weights are *resource-allocation* weights: an identifier (or a
consumer) linking ``k`` merchants adds ``1 / (k - 1)`` to each of its pairs, so that each
merchant receives at most 1 from it, whatever ``k``. A phone number that three shops use
is strong evidence for each pair; a consumer who pays twenty shops says little about any
one pair. Identifiers linking more than ``max_share`` merchants (a chain's head-office
address, a big onboarding agent) are skipped, as are consumers paying more than
``max_payer_merchants`` merchants: their pairs grow as ``k**2`` and carry almost no
weight each.

Everything is one sparse product ``B^T diag(w) B`` of an incidence matrix, never a loop
over pairs, so 100k merchants and millions of consumers take seconds.

>>> import torch
>>> from torch_geometric.data import HeteroData
>>> from guanxi.graph.export import Exported
>>> data = HeteroData()
>>> data["Merchant"].num_nodes = 3
>>> data["Phone"].num_nodes = 1
>>> data["Merchant", "USES", "Phone"].edge_index = torch.tensor([[0, 1, 2], [0, 0, 0]])
>>> ex = Exported(data, {}, {}, None, torch.zeros(3, 0, 12), None)
>>> links = merchant_links(ex)
>>> links.shared["phone"].toarray()
array([[0. , 0.5, 0.5],
       [0.5, 0. , 0.5],
       [0.5, 0.5, 0. ]])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from guanxi.graph import model
from guanxi.graph.export import Exported

__all__ = ["Links", "merchant_links", "no_diagonal", "DIRECTED", "SHARED", "IDENTIFIERS", "edges",
           "incidence"]

# Merchant-to-merchant flow relations and the aggregate each is weighted by.
_DIRECTED: dict[str, tuple[tuple[str, str, str], str]] = {
    "paid": (("Merchant", "PAID", "Merchant"), "amount"),
    "supply": (("Merchant", "SUPPLIES", "Merchant"), "amount"),
    "shipped": (("Merchant", "SHIPPED_TO", "Merchant"), "count"),
}
DIRECTED: tuple[str, ...] = tuple(_DIRECTED)
"""Names of the directed link kinds, in a fixed order."""

# Short names for identifier targets; a label the model adds later falls back to its
# lower-cased name, so a new identifier relation needs no change here.
_SHORT = {"Phone": "phone", "Device": "device", "BankAccount": "account",
          "Address": "address", "Person": "owner", "ServiceProvider": "agent"}
IDENTIFIERS: dict[str, tuple[str, str, str]] = {
    _SHORT.get(r.target, r.target.lower()): r.key
    for r in model.RELATIONS if r.family == "identifier" and r.source == "Merchant"}
"""Identifier kind -> its edge type, e.g. ``"phone" -> ("Merchant", "USES", "Phone")``."""
SHARED: tuple[str, ...] = tuple(IDENTIFIERS)
"""Names of the shared-identifier kinds of the model, in model order."""

_CO_PAYER = ("Consumer", "PAID", "Merchant")


@dataclass
class Links:
    """Merchant x merchant links from an :class:`Exported` graph.

    Every matrix is ``scipy.sparse.csr_matrix`` of shape ``(n, n)`` float64, rows and
    columns merchant positions. A kind whose relation the graph lacks is absent.
    """

    n: int
    directed: dict[str, sp.csr_matrix] = field(default_factory=dict)
    """``paid`` (amount sum, merchant payer -> payee), ``supply`` (amount, supplier ->
    buyer), ``shipped`` (shipment count, shipper -> receiver); zero diagonal (a merchant
    paying itself is no link)."""
    shared: dict[str, sp.csr_matrix] = field(default_factory=dict)
    """Per identifier kind (``SHARED``): symmetric, zero diagonal,
    ``S[i, j] = sum over identifiers x of both of 1 / (k_x - 1)``, ``k_x`` the merchants
    using ``x`` (``2 <= k_x <= max_share``)."""
    co_payer: sp.csr_matrix | None = None
    """Symmetric, zero diagonal: ``P[i, j] = sum over consumers c paying both of
    1 / (k_c - 1)``, ``k_c`` the merchants ``c`` pays (``2 <= k_c <= max_payer_merchants``);
    None without consumer payments."""

    def kinds(self) -> tuple[str, ...]:
        """Names of the link kinds present (``combined``'s weight keys)."""
        return (*self.directed, *self.shared, *(("co_payer",) if self.co_payer is not None
                                                 else ()))

    def combined(self, weights: Mapping[str, float] | None = None) -> sp.csr_matrix:
        """One symmetric ``(n, n)`` matrix of every kind, for clustering and aggregation.

        .. math::
            C = \\sum_{d \\in directed} w_d \\, \\mathbb{1}[A_d + A_d^T > 0]
              + \\sum_{s \\in shared} w_s S_s + w_{co\\_payer} P

        A directed kind counts 0/1 per pair linked in either direction: amounts span six
        orders of magnitude and would drown the identifier weights, which are at most 1
        per identifier; a trade link is one piece of evidence like a shared phone.

        Parameters
        ----------
        weights : mapping of str to float, optional
            Per kind (``paid``, ``supply``, ``shipped``, a ``SHARED`` name, ``co_payer``);
            a kind not given weighs 1, a kind the graph lacks is ignored, so one setting
            serves every graph. Weight 0 leaves a kind out.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(n, n)`` float64, symmetric, zero diagonal, no explicit zeros.
        """
        known = (*DIRECTED, *SHARED, "co_payer")
        unknown = sorted(set(weights or {}) - set(known))
        if unknown:
            raise ValueError(f"unknown link kinds {unknown}; choose from {list(known)}")
        w = {kind: 1.0 for kind in known} | dict(weights or {})
        total = sp.csr_matrix((self.n, self.n))
        for kind, a in self.directed.items():
            if w[kind]:
                pattern = ((a + a.T) > 0).astype(np.float64)
                total = total + w[kind] * pattern
        for kind, s in self.shared.items():
            if w[kind]:
                total = total + w[kind] * s
        if self.co_payer is not None and w["co_payer"]:
            total = total + w["co_payer"] * self.co_payer
        return no_diagonal(total)


def edges(ex: Exported, key: tuple[str, str, str]
          ) -> tuple[np.ndarray, np.ndarray, Mapping[str, np.ndarray]] | None:
    """Sources ``(|E|,)``, targets ``(|E|,)`` int64 and ``{aggregate: (|E|,) float64}``
    of edge type ``key``, NaN aggregates as 0; None when the export lacks it. Each
    aggregate is converted when first read (:class:`Aggregates`)."""
    if key not in ex.data.edge_types or "edge_index" not in ex.data[key]:
        return None
    store = ex.data[key]
    src, dst = store.edge_index.numpy().astype(np.int64, copy=False)
    names = ex.edge_attr_names.get(key, ()) if "edge_attr" in store else ()
    return src, dst, Aggregates(store.edge_attr.numpy() if names else None, names)


class Aggregates(Mapping[str, np.ndarray]):
    """An edge type's aggregates by name: column ``j`` of ``values`` ``(|E|, A)`` is
    ``names[j]``, read as ``(|E|,)`` float64 with NaN and infinities as 0, converted
    when first read. Most readers want a few of them, some none: converting all eight
    of 1.1 million payment pairs took 0.4 s, for each of three readers.

    >>> agg = Aggregates(np.array([[1.0, np.nan], [2.0, 3.0]], np.float32), ("a", "b"))
    >>> agg["b"].tolist(), sorted(agg), "c" in agg
    ([0.0, 3.0], ['a', 'b'], False)
    """

    def __init__(self, values: np.ndarray | None, names: Sequence[str]) -> None:
        self._values = values
        self._at = {name: j for j, name in enumerate(names)}
        self._read: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._read:
            column = self._values[:, self._at[name]].astype(np.float64)
            self._read[name] = np.nan_to_num(column, copy=False, nan=0.0, posinf=0.0,
                                             neginf=0.0)
        return self._read[name]

    def __contains__(self, name: object) -> bool:
        return name in self._at  # without converting it

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


def merchant_links(ex: Exported, *, max_share: int = 50,
                   max_payer_merchants: int = 30) -> Links:
    """Project ``ex`` onto merchants.

    Parameters
    ----------
    ex : Exported
        The exported graph; only ``Merchant`` edge types and ``Consumer-PAID->Merchant``
        are read.
    max_share : int
        Identifiers used by more merchants than this are skipped (at least 2).
    max_payer_merchants : int
        Consumers paying more merchants than this are skipped (at least 2).

    Returns
    -------
    Links
        Shapes ``(M, M)``, ``M = ex.data["Merchant"].num_nodes``.
    """
    if max_share < 2 or max_payer_merchants < 2:
        raise ValueError("max_share and max_payer_merchants must be at least 2, not "
                         f"{max_share} and {max_payer_merchants}")
    n = _merchant_count(ex)
    links = Links(n)
    for kind, (key, weight) in _DIRECTED.items():
        found = edges(ex, key)
        if found is None:
            continue
        src, dst, attrs = found
        value = attrs.get(weight, np.ones(len(src)))
        keep = src != dst
        links.directed[kind] = sp.csr_matrix((value[keep], (src[keep], dst[keep])),
                                             shape=(n, n))
    for kind, key in IDENTIFIERS.items():
        found = edges(ex, key)
        if found is None:
            continue
        src, dst, _ = found
        links.shared[kind] = _co_incidence(dst, src, int(ex.data[key[2]].num_nodes), n,
                                           max_share)
    found = edges(ex, _CO_PAYER)
    if found is not None:
        src, dst, _ = found
        links.co_payer = _co_incidence(src, dst, int(ex.data["Consumer"].num_nodes), n,
                                       max_payer_merchants)
    return links


def _merchant_count(ex: Exported) -> int:
    if "Merchant" in ex.data.node_types:
        return int(ex.data["Merchant"].num_nodes)
    return int(ex.weeks.shape[0])


def incidence(hub: np.ndarray, merchant: np.ndarray, hubs: int, n: int) -> sp.csr_matrix:
    """``(hubs, n)`` 0/1 incidence: 1 where hub (identifier, consumer) links a merchant;
    repeated pairs count once."""
    b = sp.csr_matrix((np.ones(len(hub)), (hub, merchant)), shape=(hubs, n))
    b.data[:] = 1.0
    return b


def _co_incidence(hub: np.ndarray, merchant: np.ndarray, hubs: int, n: int,
                  max_k: int) -> sp.csr_matrix:
    """``B^T diag(w) B`` with ``w_x = 1 / (k_x - 1)`` for hubs of ``2 <= k_x <= max_k``
    merchants, else 0; zero diagonal."""
    b = incidence(hub, merchant, hubs, n)
    k = np.diff(b.indptr)
    rows = np.flatnonzero((k >= 2) & (k <= max_k))
    b = b[rows]
    out = sp.csr_matrix(b.T @ sp.diags(1.0 / (k[rows] - 1.0)) @ b)
    return no_diagonal(out)


def no_diagonal(a: sp.spmatrix) -> sp.csr_matrix:
    """``a`` as CSR without its diagonal and stored zeros, indices sorted; the other
    values as they are.

    >>> no_diagonal(sp.csr_matrix(np.array([[1.0, 2.0], [0.0, 3.0]]))).toarray()
    array([[0., 2.],
           [0., 0.]])
    """
    a = sp.csr_matrix(a)
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    # A mask of the stored values, not ``a - diag(a)``: subtracting 2.4 million
    # co-payer links took 0.1 s.
    keep = (a.indices != rows) & (a.data != 0)
    if not keep.all():
        indptr = np.zeros(a.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=a.shape[0]), out=indptr[1:])
        a = sp.csr_matrix((a.data[keep], a.indices[keep], indptr), shape=a.shape)
    a.sort_indices()
    return a
