"""The heterogeneous graph neural network that scores merchants.

One encoder over every node and relation type of the input (``gnn/hetero.py``) and two
heads on merchants: collusion-ring membership and default over the horizon.

>>> import torch
>>> from torch_geometric.data import HeteroData
>>> data = HeteroData()
>>> data["Merchant"].x = torch.randn(4, 3)
>>> data["Merchant", "PAID", "Merchant"].edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
>>> data["Merchant", "rev_PAID", "Merchant"].edge_index = torch.tensor([[1, 2, 3], [0, 1, 2]])
>>> model = HeteroGNN.from_data(data, hidden=8)
>>> out = model.run(data)
>>> tuple(out.ring_logit.shape), tuple(out.pd_logit.shape), tuple(out.embedding.shape)
((4,), (4,), (4, 8))
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.nn import GraphConv, HeteroConv, MessagePassing, SAGEConv
from torch_geometric.nn.module_dict import ModuleDict

from guanxi.gnn.hetero import MERCHANT, as_mapping, feature_dims
from guanxi.gnn.receptive import ReceptiveField
from guanxi.graph.export import EdgeType

__all__ = ["ConvKind", "EdgeSAGEConv", "GNNOutput", "HeteroGNN", "adjacency",
           "aggregates_by_product", "reads_edge_values"]

# Identifier and consumer nodes only send messages (the last layer updates merchants
# only): by design, not the mistake PyG warns of. A filter for the process, not
# ``catch_warnings``: that swaps the process's filters, so another thread leaving its
# own block can restore them mid-build, and the warning did print under it.
warnings.filterwarnings("ignore", message="There exist node types", category=UserWarning,
                        module=r"guanxi\.gnn\.model$")

# torch's notice on every sparse CSR matrix (:func:`adjacency`); nothing to act on.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta",
                        category=UserWarning, module=r"guanxi\.gnn\.model$")


def _remove_generated_sources() -> None:
    """Remove the ``propagate`` sources PyG generated for this process.

    PyG writes each message-passing class's generated ``propagate`` (and
    ``edge_updater``) to a file in the temporary folder and never removes it: one
    file per class in every process that builds the network, so a refresh run every
    few minutes by cron would fill ``/tmp`` with thousands. At exit nothing reads them
    any more.
    """
    folder = Path(tempfile.gettempdir())
    for name, module in list(sys.modules.items()):
        source = Path(getattr(module, "__file__", None) or folder)
        # PyG's names: the module's, "_", eight random characters (NamedTemporaryFile).
        if not (name.endswith(("_propagate", "_edge_updater")) and source.parent == folder
                and source.name.startswith(f"{name}_") and source.suffix == ".py"):
            continue
        for path in (source, getattr(module, "__cached__", None)):
            if path:
                with contextlib.suppress(OSError):  # not ours to remove: leave it
                    Path(path).unlink(missing_ok=True)


atexit.register(_remove_generated_sources)

ConvKind = Literal["sage", "edge", "graph"]
"""``sage``: :class:`~torch_geometric.nn.SAGEConv`, edges unweighted; ``edge``:
:class:`EdgeSAGEConv`, messages shaped by the edge attributes; ``graph``:
:class:`~torch_geometric.nn.GraphConv` with mean aggregation weighted by log(1 + count)."""


def reads_edge_values(conv: ConvKind) -> bool:
    """Whether a network of convolution ``conv`` reads ``edge_attr`` (``edge``) or
    ``edge_weight`` (``graph``); SAGE reads neither.

    >>> reads_edge_values("sage"), reads_edge_values("edge")
    (False, True)
    """
    return conv != "sage"


class GNNOutput(NamedTuple):
    """What the network gives per merchant."""

    ring_logit: Tensor
    """``(M,)``: logit of collusion-ring membership."""
    pd_logit: Tensor
    """``(M,)``: logit of default over the horizon."""
    embedding: Tensor
    """``(M, H)``: the merchant's representation, input of both heads."""


class EdgeSAGEConv(MessagePassing):
    r"""GraphSAGE whose messages carry the edge's attributes (as GINE, Hu et al., 2020,
    "Strategies for Pre-training Graph Neural Networks", with SAGE's root weight and
    mean aggregation):

    .. math::
        \mathbf{x}^{\prime}_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2 \cdot
        \mathrm{mean}_{j \in \mathcal{N}(i)} \mathrm{ReLU}(\mathbf{x}_j +
        \mathbf{W}_e \mathbf{e}_{j,i})

    Without edge attributes (``edge_dim=0``) the message is :math:`\mathbf{x}_j`, which
    is :class:`~torch_geometric.nn.SAGEConv`.

    Args:
        in_channels (int or tuple): source and target widths, or one for both.
        out_channels (int): output width.
        edge_dim (int): width of ``edge_attr``; 0 for none. (default: ``0``)
        aggr (str or sequence): aggregation of the messages; several are
            concatenated. (default: ``"mean"``)

    Shapes:
        - **inputs:** ``x`` :math:`(|\mathcal{V}_s|, F_s)` or a pair with
          :math:`(|\mathcal{V}_t|, F_t)`, ``edge_index`` :math:`(2, |\mathcal{E}|)`,
          ``edge_attr`` :math:`(|\mathcal{E}|, D)` (optional)
        - **output:** :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(self, in_channels: int | tuple[int, int], out_channels: int,
                 edge_dim: int = 0, aggr: str | Sequence[str] = "mean") -> None:
        aggr = aggr if isinstance(aggr, str) else list(aggr)
        super().__init__(aggr=aggr)
        src, dst = (in_channels, in_channels) if isinstance(in_channels, int) else in_channels
        self.in_channels, self.out_channels, self.edge_dim = in_channels, out_channels, edge_dim
        self.lin_e = torch.nn.Linear(edge_dim, src) if edge_dim else None
        width = src * (len(aggr) if isinstance(aggr, list) else 1)
        self.lin_l = torch.nn.Linear(width, out_channels)
        self.lin_r = torch.nn.Linear(dst, out_channels, bias=False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for lin in (self.lin_e, self.lin_l, self.lin_r):
            if lin is not None:
                lin.reset_parameters()

    def forward(self, x: Tensor | tuple[Tensor, Tensor], edge_index: Tensor,
                edge_attr: Tensor | None = None) -> Tensor:
        pair = (x, x) if isinstance(x, Tensor) else x
        out = self.propagate(edge_index, x=pair, edge_attr=edge_attr,
                             size=(pair[0].size(0), pair[1].size(0)))
        return self.lin_l(out) + self.lin_r(pair[1])

    def message(self, x_j: Tensor, edge_attr: Tensor | None) -> Tensor:
        if self.lin_e is None or edge_attr is None:
            return x_j
        return F.relu(x_j + self.lin_e(edge_attr))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"edge_dim={self.edge_dim})")


class HeteroGNN(torch.nn.Module):
    r"""A heterogeneous message-passing network with two merchant heads.

    Per node type :math:`t` an input projection, then :math:`L` layers of
    :class:`~torch_geometric.nn.HeteroConv` (one convolution per edge type, summed over
    the edge types that reach a node type) with a residual, then a jumping-knowledge
    readout on merchants that keeps the merchant's own features next to what its
    neighbourhood says (ring members look ordinary one by one):

    .. math::
        \mathbf{h}^{(0)}_v &= \mathrm{ReLU}(\mathbf{W}^{in}_{t(v)} \mathbf{x}_v) \\
        \mathbf{h}^{(l+1)}_v &= \mathbf{h}^{(l)}_v + \mathrm{Dropout}(\mathrm{ReLU}(
            \mathrm{LN}_{t(v)}(\textstyle\sum_{r = (s, \cdot, t(v))}
            \mathrm{CONV}^{(l)}_r(\mathbf{h}^{(l)}_s, \mathbf{h}^{(l)}_v)))) \\
        \mathbf{z}_m &= \mathrm{ReLU}(\mathbf{W}^{jk} [\mathbf{x}_m \,\|\,
            \mathbf{h}^{(0)}_m \,\|\, \cdots \,\|\, \mathbf{h}^{(L)}_m]) \\
        \mathrm{ring}_m &= \mathbf{w}_{ring}^\top \mathrm{Dropout}(\mathbf{z}_m) + b_{ring},
        \quad \mathrm{pd}_m = \mathbf{w}_{pd}^\top \mathrm{Dropout}(\mathbf{z}_m) + b_{pd}

    with :math:`\mathrm{CONV}_r` one of ``conv`` (:data:`ConvKind`), e.g. SAGE:
    :math:`\mathbf{W}_1 \mathbf{h}_v + \mathbf{W}_2\,\mathrm{mean}_{u \in
    \mathcal{N}_r(v)} \mathbf{h}_u`. The last layer computes only the edge types that
    end at merchants (nothing else is read after it).

    Args:
        node_dims (dict): input width per node type (``data[t].x.shape[1]``).
        edge_dims (dict): edge-attribute width per edge type, 0 for none; the edge
            types the network has. Build both with :meth:`from_data`.
        hidden (int): width :math:`H` of every representation. (default: ``64``)
        layers (int): message-passing layers :math:`L`. (default: ``2``)
        conv (str): the convolution, :data:`ConvKind`. (default: ``"sage"``)
        aggr (str or sequence): aggregation within an edge type (``"mean"``, ``"max"``,
            ``"sum"`` or several, concatenated, such as ``("mean", "max")``). (default: ``"mean"``)
        dropout (float): dropout on the merchants' layer updates and before the heads
            (other node types have few, structural features; their updates are not
            dropped, which also saves drawing a mask per consumer). (default: ``0.2``)
        static (tuple of str): node types that only send their input projection
            :math:`\mathbf{h}^{(0)}` and are never updated: no convolution ends at
            them. Two-hop paths through them are lost (merchant <- consumer <- other
            merchants) for the cost of the largest node type; the payer-overlap
            features carry much of that path. (default: ``()``)

    Shapes:
        - **inputs:** ``x_dict[t]`` :math:`(|\mathcal{V}_t|, F_t)`,
          ``edge_index_dict[r]`` :math:`(2, |\mathcal{E}_r|)`, ``edge_attr_dict[r]``
          :math:`(|\mathcal{E}_r|, D_r)` and ``edge_weight_dict[r]``
          :math:`(|\mathcal{E}_r|,)` (optional)
        - **outputs:** :class:`GNNOutput`: ``ring_logit`` :math:`(M,)`, ``pd_logit``
          :math:`(M,)`, ``embedding`` :math:`(M, H)`
    """

    def __init__(self, node_dims: dict[str, int], edge_dims: dict[EdgeType, int], *,
                 hidden: int = 64, layers: int = 2, conv: ConvKind = "sage",
                 aggr: str | Sequence[str] = "mean", dropout: float = 0.2,
                 static: tuple[str, ...] = ()) -> None:
        super().__init__()
        if MERCHANT not in node_dims:
            raise ValueError(f"the input has no {MERCHANT} features; node types: "
                             f"{sorted(node_dims)}")
        if layers < 1 or hidden < 1:
            raise ValueError(f"layers and hidden must be at least 1, not {layers}, {hidden}")
        if conv not in ("sage", "edge", "graph"):
            raise ValueError(f"conv must be 'sage', 'edge' or 'graph', not {conv!r}")
        self.node_dims = dict(node_dims)
        self.edge_dims = {k: v for k, v in edge_dims.items()
                          if k[0] in node_dims and k[2] in node_dims}
        if conv == "graph" and not isinstance(aggr, str):
            raise ValueError("conv 'graph' takes one aggregation, not several")
        if MERCHANT in static:
            raise ValueError(f"{MERCHANT} cannot be static: its representation is the output")
        self.hidden, self.layers, self.conv, self.dropout = hidden, layers, conv, dropout
        self.aggr: str | tuple[str, ...] = aggr if isinstance(aggr, str) else tuple(aggr)
        self.static = tuple(static)
        self.inputs = ModuleDict({t: torch.nn.Linear(d, hidden) for t, d in node_dims.items()})
        self.convs = torch.nn.ModuleList()
        self.norms = torch.nn.ModuleList()
        self.layer_types: list[list[EdgeType]] = []
        """The edge types each layer computes."""
        for layer in range(layers):
            last = layer == layers - 1
            types = [k for k in self.edge_dims if k[2] not in self.static
                     and (not last or k[2] == MERCHANT)]
            self.layer_types.append(types)
            self.convs.append(HeteroConv({k: self._conv(k) for k in types}, aggr="sum"))
            self.norms.append(ModuleDict({t: torch.nn.LayerNorm(hidden)
                                          for t in dict.fromkeys(k[2] for k in types)}))
        width = node_dims[MERCHANT] + hidden * (layers + 1)
        self.jk = torch.nn.Linear(width, hidden)
        self.ring = torch.nn.Linear(hidden, 1)
        self.pd = torch.nn.Linear(hidden, 1)

    @classmethod
    def from_data(cls, data: HeteroData, **kwargs: object) -> HeteroGNN:
        """The network for ``data``'s node and edge types and widths (``gnn/hetero.py``)."""
        node_dims, edge_dims = feature_dims(data)
        return cls(node_dims, edge_dims, **kwargs)

    def _conv(self, key: EdgeType) -> MessagePassing:
        h = self.hidden
        aggr = self.aggr if isinstance(self.aggr, str) else list(self.aggr)
        if self.conv == "sage":
            return SAGEConv((h, h), h, aggr=aggr)
        if self.conv == "graph":
            return GraphConv((h, h), h, aggr=aggr)
        return EdgeSAGEConv((h, h), h, edge_dim=self.edge_dims[key], aggr=aggr)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def encode(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor],
               edge_attr_dict: dict[EdgeType, Tensor] | None = None,
               edge_weight_dict: dict[EdgeType, Tensor] | None = None) -> Tensor:
        """The merchant embeddings :math:`\\mathbf{z}` ``(M, H)``."""
        h = {t: F.relu(self.inputs[t](x)) for t, x in x_dict.items() if t in self.node_dims}
        edges = {k: v for k, v in edge_index_dict.items() if k in self.edge_dims
                 and k[0] in h and k[2] in h}
        extra: dict[str, dict[EdgeType, Tensor]] = {}
        if self.conv == "edge" and edge_attr_dict:
            extra["edge_attr_dict"] = {k: v for k, v in edge_attr_dict.items()
                                       if k in edges and self.edge_dims[k]}
        if self.conv == "graph" and edge_weight_dict:
            extra["edge_weight_dict"] = {k: v for k, v in edge_weight_dict.items()
                                         if k in edges}
        merchant = [x_dict[MERCHANT], h[MERCHANT]]
        for conv, norms in zip(self.convs, self.norms, strict=True):
            out = conv(h, edges, **extra)
            h = dict(h)
            for t, message in out.items():
                update = F.relu(norms[t](message))
                if t == MERCHANT:
                    update = F.dropout(update, self.dropout, self.training)
                h[t] = h[t] + update
            merchant.append(h[MERCHANT])
        return F.relu(self.jk(torch.cat(merchant, dim=-1)))

    def receptive_field(self, x_dict: dict[str, Tensor], edges: dict[EdgeType, Tensor],
                        merchants: Tensor) -> ReceptiveField:
        """What the outputs of ``merchants`` ``(K,)`` (sorted, unique positions) read,
        layer by layer (``gnn/receptive.py``): the same for every network of one
        configuration, so two heads' networks can share it."""
        return ReceptiveField({k: v for k, v in edges.items() if k in self.edge_dims},
                              self.layer_types,
                              {t: x.size(0) for t, x in x_dict.items() if t in self.node_dims},
                              merchants)

    def encode_rows(self, x_dict: dict[str, Tensor], edges: dict[EdgeType, Tensor],
                    merchants: Tensor, field: ReceptiveField | None = None) -> Tensor:
        """:meth:`encode` of ``merchants`` ``(K,)`` (sorted, unique positions) only,
        ``(K, H)``: each layer computed on the rows the next one reads
        (:meth:`receptive_field`, or ``field`` when the caller has it). ``edges``:
        :func:`adjacency`; for a network whose aggregation is a product
        (:attr:`aggregates_by_product`), in inference. The messages are the same bit for
        bit; linear layers over fewer rows may round their last bit otherwise."""
        if self.training or not self.aggregates_by_product:
            raise ValueError("encode_rows is for inference with SAGE and mean aggregation")
        if field is None:
            field = self.receptive_field(x_dict, edges, merchants)
        elif field.layer_types != self.layer_types \
                or not torch.equal(field.rows[-1][MERCHANT], merchants):
            raise ValueError("field is the receptive field of other merchants or layers")
        # In place where encode() makes a new tensor: the same values, and at 100,000
        # merchants layer 0 reads most of a million consumers (120 MB a copy, per head).
        h = {t: F.relu(self.inputs[t](x_dict[t][r]), inplace=True)
             for t, r in field.rows[0].items()}
        merchant = [x_dict[MERCHANT][merchants],
                    h[MERCHANT][field.positions(0, MERCHANT, merchants)]]
        for layer, (conv, norms) in enumerate(zip(self.convs, self.norms, strict=True)):
            after = {}
            for t, rows in field.rows[layer + 1].items():
                own = h[t][field.positions(layer, t, rows)]
                # HeteroConv's sum over edge types, in its order, added as each comes:
                # stacked first, the messages took a few hundred MB more at 100,000
                # merchants, and fresh memory is the costly part (docs/performance.md).
                # The same sums bit for bit at the shipped width (32); torch may add a
                # stack of five or more in another order at other widths (last bit).
                total = None
                for key in self.layer_types[layer]:
                    if key[2] == t and (cut := field.edges(layer, key)) is not None:
                        message = conv.convs[key]((h[key[0]], own), cut)
                        total = message if total is None else total.add_(message)
                if total is not None:
                    own = own.add_(F.relu(norms[t](total), inplace=True))
                after[t] = own
            h = after
            merchant.append(h[MERCHANT][field.positions(layer + 1, MERCHANT, merchants)])
        return F.relu(self.jk(torch.cat(merchant, dim=-1)))

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor],
                edge_attr_dict: dict[EdgeType, Tensor] | None = None,
                edge_weight_dict: dict[EdgeType, Tensor] | None = None) -> GNNOutput:
        z = self.encode(x_dict, edge_index_dict, edge_attr_dict, edge_weight_dict)
        dropped = F.dropout(z, self.dropout, self.training)
        return GNNOutput(self.ring(dropped).squeeze(-1), self.pd(dropped).squeeze(-1), z)

    def run(self, data: HeteroData, edges: dict[EdgeType, Tensor] | None = None,
            merchants: Tensor | None = None, field: ReceptiveField | None = None
            ) -> GNNOutput:
        """:meth:`forward` on a ``HeteroData`` built by ``gnn.hetero.model_input``;
        ``edges``: its :func:`adjacency`, to use instead of its edge indices.

        ``merchants``: ``(K,)`` positions; when given, the outputs of those merchants
        only (``(K,)``, ``(K,)``, ``(K, H)``), computed on their receptive field
        (:meth:`encode_rows`; ``field``: that of their sorted unique positions, when
        the caller has it) where ``edges`` are given, else cut from the whole pass.
        """
        x, edge_index, edge_attr, edge_weight = self.arguments(data)
        if merchants is None or edges is None:
            out = self(x, edge_index if edges is None else edges, edge_attr, edge_weight)
            return out if merchants is None else GNNOutput(*(o[merchants] for o in out))
        rows, back = torch.unique(merchants, sorted=True, return_inverse=True)
        z = self.encode_rows(x, edges, rows, field)[back]
        return GNNOutput(self.ring(z).squeeze(-1), self.pd(z).squeeze(-1), z)

    @property
    def aggregates_by_product(self) -> bool:
        """Whether each convolution's aggregation is a sparse-matrix product over
        :func:`adjacency` (SAGE with mean): PyG then aggregates without materialising
        one message per edge, three to four times faster on CPU. The mean's product
        adds each row's messages in the order the scatter does, so the outputs are
        the same bit for bit; a sum's product adds them in another order."""
        return aggregates_by_product(self.conv, self.aggr)

    @staticmethod
    def arguments(data: HeteroData) -> tuple[dict, dict, dict, dict]:
        """``(x_dict, edge_index_dict, edge_attr_dict, edge_weight_dict)`` of ``data``."""
        return (data.x_dict, data.edge_index_dict, dict(as_mapping(data, "edge_attr")),
                dict(as_mapping(data, "edge_weight")))

    def config(self) -> dict[str, object]:
        """The constructor's arguments: ``HeteroGNN(**model.config())`` is the same
        network (untrained)."""
        return {"node_dims": self.node_dims, "edge_dims": self.edge_dims,
                "hidden": self.hidden, "layers": self.layers, "conv": self.conv,
                "aggr": self.aggr, "dropout": self.dropout, "static": self.static}


def aggregates_by_product(conv: str, aggr: object) -> bool:
    """:attr:`HeteroGNN.aggregates_by_product` of a network of this ``conv`` and
    ``aggr``, without building it."""
    return conv == "sage" and aggr == "mean"


def adjacency(data: HeteroData) -> dict[EdgeType, Tensor]:
    r"""Each edge type of ``data`` as its transposed adjacency: a ``torch.sparse_csr``
    matrix :math:`(|\mathcal{V}_t|, |\mathcal{V}_s|)` of ones whose row :math:`i`
    lists the sources of the edges into :math:`i` in their ``edge_index`` order.

    The order is kept so that a mean over a row (``torch.sparse.mm`` with
    ``reduce="mean"``, what PyG's ``spmm`` runs on CPU) adds the messages in the order
    PyG's scatter does. For inference only: it carries no edge attributes or weights.

    >>> data = HeteroData()
    >>> data["Merchant"].x = torch.zeros(3, 1)
    >>> data["Merchant", "PAID", "Merchant"].edge_index = torch.tensor([[2, 0, 1], [1, 1, 0]])
    >>> adj = adjacency(data)[("Merchant", "PAID", "Merchant")]
    >>> adj.crow_indices().tolist(), adj.col_indices().tolist()
    ([0, 1, 3, 3], [1, 2, 0])
    """
    out = {}
    for key, index in data.edge_index_dict.items():
        source, target = data[key[0]].num_nodes, data[key[2]].num_nodes
        src, dst = index
        # torch does not check a CSR's indices (a wrong one reads out of bounds), and
        # its own check would also demand sorted columns: checked here instead.
        if index.numel() and (int(index.min()) < 0 or int(src.max()) >= source
                              or int(dst.max()) >= target):
            raise ValueError(f"{'-'.join(key)} has an edge to a node that does not exist")
        rows = torch.zeros(target + 1, dtype=torch.int64)
        torch.cumsum(torch.bincount(dst, minlength=target), 0, out=rows[1:])
        # A reverse relation of an export comes in target order already (its edges are
        # sorted by source, ``graph.export.sorted_edges``): its sort, 0.2 s for a
        # million edges, is skipped.
        ordered = bool((dst[1:] >= dst[:-1]).all())
        out[key] = torch.sparse_csr_tensor(rows, src if ordered
                                           else src[torch.argsort(dst, stable=True)],
                                           torch.ones(len(src)), size=(target, source),
                                           check_invariants=False)
    return out
