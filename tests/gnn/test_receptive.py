"""gnn/receptive.py: the rows and edges each layer computes for some merchants."""

from __future__ import annotations

import pytest
import torch

from guanxi.gnn.model import HeteroGNN, adjacency
from guanxi.gnn.receptive import ReceptiveField
from tests.gnn.test_model import random_graph


def within(data, layer_types: list[list[tuple[str, str, str]]], merchants: list[int]
           ) -> list[dict[str, set[int]]]:
    """Brute force: per layer, the nodes whose rows the merchants' outputs read,
    following each layer's edges backwards one edge at a time."""
    depth = len(layer_types)
    rows = [dict() for _ in range(depth + 1)]
    rows[depth] = {"Merchant": set(merchants)}
    for layer in reversed(range(depth)):
        read = {t: set(r) for t, r in rows[layer + 1].items()}
        for key in layer_types[layer]:
            if key[2] not in rows[layer + 1]:
                continue
            read.setdefault(key[0], set())  # read, if by no edge
            src, dst = data[key].edge_index.tolist()
            for s, d in zip(src, dst, strict=True):
                if d in rows[layer + 1].get(key[2], ()):
                    read.setdefault(key[0], set()).add(s)
        rows[layer] = read
    return rows


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_each_layer_reads_what_the_next_one_needs_and_no_more(layers: int) -> None:
    data = random_graph(7)
    model = HeteroGNN.from_data(data, hidden=4, layers=layers)
    merchants = [2, 17, 58]  # 58: paid by no consumer

    field = ReceptiveField(adjacency(data), model.layer_types,
                           {t: data[t].num_nodes for t in data.node_types},
                           torch.tensor(merchants))

    expected = within(data, model.layer_types, merchants)
    for layer in range(layers + 1):
        got = {t: set(r.tolist()) for t, r in field.rows[layer].items()}
        assert got == expected[layer]
    # The first layer reads less than the whole graph: the point of it.
    assert field.rows[layers - 1]["Merchant"].numel() < data["Merchant"].num_nodes


def test_a_layers_edges_are_the_rows_asked_for_in_their_order() -> None:
    data = random_graph(8)
    key = ("Consumer", "PAID", "Merchant")
    model = HeteroGNN.from_data(data, hidden=4, layers=1)
    field = ReceptiveField(adjacency(data), model.layer_types,
                           {t: data[t].num_nodes for t in data.node_types},
                           torch.tensor([4, 9]))

    cut = field.edges(0, key)

    src, dst = data[key].edge_index
    consumers = field.rows[0]["Consumer"]
    for row, merchant in enumerate((4, 9)):
        got = cut.col_indices()[cut.crow_indices()[row]:cut.crow_indices()[row + 1]]
        assert consumers[got].tolist() == src[dst == merchant].tolist()
    assert field.edges(0, ("Merchant", "rev_PAID", "Consumer")) is None  # not read


def test_no_merchants_read_no_rows_and_no_edges() -> None:
    data = random_graph(9)
    model = HeteroGNN.from_data(data, hidden=4, layers=2)
    field = ReceptiveField(adjacency(data), model.layer_types,
                           {t: data[t].num_nodes for t in data.node_types},
                           torch.tensor([], dtype=torch.int64))

    assert all(r.numel() == 0 for rows in field.rows for r in rows.values())
    key = ("Consumer", "PAID", "Merchant")
    assert field.edges(1, key).shape == (0, 0)
