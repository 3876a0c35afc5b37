"""The receptive field of some merchants: what their GNN outputs read, layer by layer.

A network of ``L`` message-passing layers gives a merchant outputs that read its own
rows and those of nodes up to ``L`` edges away, nothing else. An incremental refresh
re-scores a fifth of the merchants or less; computing each layer only on the rows the
next one reads gives those merchants' outputs for a part of the graph's cost.

``rows[L]`` are the merchants asked for; ``rows[l]`` (of :math:`h^{(l)}`, per node type)
are ``rows[l + 1]`` and the sources of layer ``l``'s edges into them. Each layer's edges
are the rows of its transposed adjacency (``gnn.model.adjacency``) at ``rows[l + 1]``,
in their order, with the sources renumbered to positions in ``rows[l]``: a mean over
a cut row adds the same messages in the same order as over the whole row.

>>> import torch
>>> # Merchant 2 pays 1, 1 pays 0; row i of the transposed adjacency: who pays i.
>>> pays = torch.sparse_csr_tensor(torch.tensor([0, 1, 2, 2]), torch.tensor([1, 2]),
...                                torch.ones(2), size=(3, 3))
>>> key = ("Merchant", "PAID", "Merchant")
>>> field = ReceptiveField({key: pays}, [[key], [key]], {"Merchant": 3}, torch.tensor([0]))
>>> [field.rows[layer]["Merchant"].tolist() for layer in range(3)]
[[0, 1, 2], [0, 1], [0]]
>>> field.edges(1, key).to_dense().tolist()
[[0.0, 1.0]]
"""

from __future__ import annotations

import torch
from torch import Tensor

from guanxi.gnn.hetero import MERCHANT
from guanxi.graph.export import EdgeType

__all__ = ["ReceptiveField"]



def _cut(adjacency: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """``(crow, col)`` of the CSR ``adjacency`` cut to ``rows``, columns as they are."""
    crow, col = adjacency.crow_indices(), adjacency.col_indices()
    start = crow[rows]
    lengths = crow[rows + 1] - start
    new = torch.zeros(rows.numel() + 1, dtype=crow.dtype)
    torch.cumsum(lengths, 0, out=new[1:])
    # Each kept edge's position in ``col``: its row's start, plus its place in the row.
    at = torch.repeat_interleave(start - new[:-1], lengths) + torch.arange(int(new[-1]))
    return new, col[at]


class ReceptiveField:
    """The rows each layer of a network computes for ``merchants``' outputs, and its
    edges into them (module docstring).

    Args:
        edges (dict): per edge type, its transposed adjacency, a ``torch.sparse_csr``
            :math:`(|\\mathcal{V}_t|, |\\mathcal{V}_s|)` (``gnn.model.adjacency``).
        layer_types (list): the edge types each layer computes, first layer first.
        num_nodes (dict): the number of nodes of each type.
        merchants (Tensor): :math:`(K,)` sorted, unique merchant positions.
    """

    def __init__(self, edges: dict[EdgeType, Tensor], layer_types: list[list[EdgeType]],
                 num_nodes: dict[str, int], merchants: Tensor) -> None:
        depth = len(layer_types)
        self.layer_types = [list(types) for types in layer_types]
        """The edge types each layer computes, as given."""
        self._num_nodes = dict(num_nodes)
        self._where: dict[tuple[int, str], Tensor] = {}
        self.rows: list[dict[str, Tensor]] = [{} for _ in range(depth + 1)]
        """``rows[l][t]``: the sorted positions of the type-``t`` rows of
        :math:`h^{(l)}` that are read; ``rows[L]`` holds only the merchants."""
        self.rows[depth] = {MERCHANT: merchants}
        self._cuts: list[dict[EdgeType, tuple[Tensor, Tensor]]] = [{} for _ in range(depth)]
        for layer in reversed(range(depth)):
            after = self.rows[layer + 1]
            read = {t: torch.zeros(n, dtype=torch.bool) for t, n in num_nodes.items()}
            for t, r in after.items():
                read[t][r] = True
            # A type stays, with no rows, when an edge type from it is cut to none: a
            # SAGE layer's output over no edges is still its root term.
            kept = set(after)
            for key in layer_types[layer]:
                if key in edges and key[2] in after and key[0] in read:
                    crow, col = _cut(edges[key], after[key[2]])
                    self._cuts[layer][key] = (crow, col)
                    read[key[0]][col] = True
                    kept.add(key[0])
            self.rows[layer] = {t: read[t].nonzero().ravel() for t in kept}

    def positions(self, layer: int, node_type: str, subset: Tensor) -> Tensor:
        """Positions in ``rows[layer][node_type]`` of ``subset``, each one of which
        must be among those rows (a node outside them maps to -1, unchecked: the
        callers only ask for rows the field put there)."""
        key = (layer, node_type)
        if key not in self._where:
            rows = self.rows[layer][node_type]
            # A dense map, not a search: a million lookups in a sorted array of 400,000
            # took 0.2 s.
            where = torch.full((self._num_nodes[node_type],), -1, dtype=torch.int64)
            where[rows] = torch.arange(rows.numel())
            self._where[key] = where
        return self._where[key][subset]

    def edges(self, layer: int, key: EdgeType) -> Tensor | None:
        """Layer ``layer``'s edges of type ``key`` into its rows ``rows[layer + 1]``
        from ``rows[layer]``: a ``torch.sparse_csr`` of shape ``(len(rows[layer +
        1][t]), len(rows[layer][s]))``; None when the layer has none."""
        if key not in self._cuts[layer]:
            return None
        crow, col = self._cuts[layer][key]
        return torch.sparse_csr_tensor(crow, self.positions(layer, key[0], col),
                                       torch.ones(col.numel()),
                                       size=(crow.numel() - 1,
                                             self.rows[layer][key[0]].numel()),
                                       check_invariants=False)
