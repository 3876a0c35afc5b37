"""gnn/model.py: the heterogeneous GNN's shapes, per convolution and graph shape."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from torch_geometric.data import HeteroData

from guanxi.gnn.model import EdgeSAGEConv, GNNOutput, HeteroGNN, adjacency

CONVS = ("sage", "edge", "graph")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One thread: on a busy machine two OpenMP threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def four_merchants(with_consumers: bool = True) -> HeteroData:
    """Four merchants paying in a line, with reverses; optionally three consumers
    paying them and a phone shared by merchants 0 and 1 (all with reverses)."""
    data = HeteroData()
    data["Merchant"].x = torch.randn(4, 5)
    line = torch.tensor([[0, 1, 2], [1, 2, 3]])
    edges = {("Merchant", "PAID", "Merchant"): (line, 3)}
    if with_consumers:
        data["Consumer"].x = torch.randn(3, 2)
        data["Phone"].x = torch.randn(1, 1)
        edges[("Consumer", "PAID", "Merchant")] = (torch.tensor([[0, 1, 2, 2], [0, 0, 1, 3]]), 3)
        edges[("Merchant", "USES", "Phone")] = (torch.tensor([[0, 1], [0, 0]]), 0)
    for (src, rel, dst), (index, width) in edges.items():
        for key, idx in (((src, rel, dst), index), ((dst, f"rev_{rel}", src), index.flip(0))):
            data[key].edge_index = idx
            if width:
                data[key].edge_attr = torch.randn(idx.shape[1], width)
                data[key].edge_weight = torch.rand(idx.shape[1])
    return data


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_output_shapes(conv: str, layers: int) -> None:
    data = four_merchants()
    model = HeteroGNN.from_data(data, hidden=16, layers=layers, conv=conv)
    out = model.run(data)

    assert isinstance(out, GNNOutput)
    assert out.ring_logit.shape == (4,)
    assert out.pd_logit.shape == (4,)
    assert out.embedding.shape == (4, 16)
    assert all(torch.isfinite(t).all() for t in out)


@pytest.mark.parametrize("conv", CONVS)
def test_merchants_and_payments_only(conv: str) -> None:
    data = four_merchants(with_consumers=False)
    model = HeteroGNN.from_data(data, hidden=8, conv=conv)

    assert model.run(data).embedding.shape == (4, 8)


def test_the_last_layer_computes_only_what_reaches_merchants() -> None:
    model = HeteroGNN.from_data(four_merchants(), hidden=8, layers=2)

    first, last = model.layer_types
    assert len(first) == 6
    assert {key[2] for key in last} == {"Merchant"}
    assert len(last) == 4
    assert [len(conv.convs) for conv in model.convs] == [6, 4]


def test_edge_types_missing_at_scoring_time_are_skipped() -> None:
    model = HeteroGNN.from_data(four_merchants(), hidden=8, conv="edge")
    model.eval()
    smaller = four_merchants(with_consumers=False)
    smaller["Merchant"].x = torch.randn(4, 5)

    assert model.run(smaller).ring_logit.shape == (4,)


def test_neighbours_change_a_merchants_output() -> None:
    torch.manual_seed(0)
    data = four_merchants()
    model = HeteroGNN.from_data(data, hidden=8, dropout=0.0)
    model.eval()
    before = model.run(data).embedding
    data["Consumer"].x[2] += 5.0  # pays merchants 1 and 3 only
    after = model.run(data).embedding

    changed = (before - after).abs().sum(dim=1) > 1e-6
    assert changed.tolist() == [True, True, True, True]  # 0 and 2 at two hops


def random_graph(seed: int) -> HeteroData:
    """60 merchants and 200 consumers with random payments (repeated pairs, unsorted,
    some merchants paid by no one), with reverses."""
    g = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data["Merchant"].x = torch.randn(60, 5, generator=g)
    data["Consumer"].x = torch.randn(200, 2, generator=g)
    paid = torch.stack([torch.randint(0, 200, (900,), generator=g),
                        torch.randint(0, 50, (900,), generator=g)])
    line = torch.randint(0, 60, (2, 120), generator=g)
    for key, index in ((("Consumer", "PAID", "Merchant"), paid),
                       (("Merchant", "PAID", "Merchant"), line)):
        data[key].edge_index = index
        data[key[2], f"rev_{key[1]}", key[0]].edge_index = index.flip(0)
    return data


def test_adjacency_gives_the_outputs_edge_indices_give_bit_for_bit() -> None:
    torch.manual_seed(1)
    data = random_graph(2)
    model = HeteroGNN.from_data(data, hidden=16)
    model.eval()
    assert model.aggregates_by_product

    with torch.no_grad():
        scattered, product = model.run(data), model.run(data, adjacency(data))

    for a, b in zip(scattered, product, strict=True):
        assert torch.equal(a, b)


def test_adjacency_lists_each_targets_sources_in_edge_order() -> None:
    data = random_graph(3)
    key = ("Consumer", "PAID", "Merchant")
    src, dst = data[key].edge_index

    adj = adjacency(data)[key]

    assert adj.shape == (60, 200)
    rows = adj.crow_indices()
    for target in (0, 7, 49, 55):  # 55: paid by no one
        assert adj.col_indices()[rows[target]:rows[target + 1]].tolist() \
            == src[dst == target].tolist()


def test_adjacency_of_edges_already_in_target_order_keeps_their_order() -> None:
    data = random_graph(5)
    key = ("Merchant", "rev_PAID", "Consumer")
    src, dst = data[key].edge_index
    order = torch.argsort(dst, stable=True)
    data[key].edge_index = torch.stack([src[order], dst[order]])  # as an export gives it

    adj = adjacency(data)[key]

    rows = adj.crow_indices()
    for target in (0, 3, 150, 199):
        assert adj.col_indices()[rows[target]:rows[target + 1]].tolist() \
            == src[dst == target].tolist()


def test_adjacency_refuses_an_edge_to_a_node_that_does_not_exist() -> None:
    data = random_graph(4)
    data["Merchant", "PAID", "Merchant"].edge_index[1, 5] = 60

    with pytest.raises(ValueError, match="Merchant-PAID-Merchant has an edge to a node"):
        adjacency(data)


@pytest.mark.parametrize(("conv", "aggr"), [("edge", "mean"), ("graph", "mean"),
                                            ("sage", ("mean", "max")), ("sage", "sum")])
def test_only_sage_with_mean_aggregates_by_product(conv: str, aggr) -> None:
    assert not HeteroGNN.from_data(four_merchants(), conv=conv, aggr=aggr
                                   ).aggregates_by_product


@pytest.mark.parametrize("conv", ["sage", "edge"])
def test_several_aggregations(conv: str) -> None:
    data = four_merchants()
    model = HeteroGNN.from_data(data, hidden=8, conv=conv, aggr=("mean", "max"))

    assert model.run(data).embedding.shape == (4, 8)


def test_config_rebuilds_the_same_network() -> None:
    data = four_merchants()
    model = HeteroGNN.from_data(data, hidden=8, conv="edge", aggr="max", dropout=0.1)
    copy = HeteroGNN(**model.config())
    copy.load_state_dict(model.state_dict())
    model.eval()
    copy.eval()

    assert torch.equal(model.run(data).ring_logit, copy.run(data).ring_logit)


def test_bad_arguments_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="conv must be"):
        HeteroGNN({"Merchant": 3}, {}, conv="gat")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no Merchant features"):
        HeteroGNN({"Consumer": 3}, {})
    with pytest.raises(ValueError, match="one aggregation"):
        HeteroGNN({"Merchant": 3}, {}, conv="graph", aggr=("mean", "max"))
    with pytest.raises(ValueError, match="cannot be static"):
        HeteroGNN({"Merchant": 3}, {}, static=("Merchant",))


def test_edge_sage_conv_shapes() -> None:
    x = torch.randn(4, 8)
    edge_index = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    edge_attr = torch.randn(4, 3)

    conv = EdgeSAGEConv(8, 16, edge_dim=3)
    assert conv(x, edge_index, edge_attr).shape == (4, 16)
    bipartite = EdgeSAGEConv((8, 4), 16, edge_dim=3)
    assert bipartite((x, torch.randn(2, 4)), edge_index, edge_attr).shape == (2, 16)
    plain = EdgeSAGEConv(8, 16)
    assert plain(x, edge_index).shape == (4, 16)
    assert str(conv) == "EdgeSAGEConv(8, 16, edge_dim=3)"


def test_generated_sources_are_removed_at_exit(tmp_path) -> None:
    """PyG writes each conv's generated ``propagate`` to the temporary folder; a process
    that built the network leaves none there once it ends."""
    import subprocess
    import sys

    script = (
        "import glob, os, torch\n"
        "from torch_geometric.data import HeteroData\n"
        "from guanxi.gnn.model import HeteroGNN\n"
        "data = HeteroData()\n"
        "data['Merchant'].x = torch.randn(3, 2)\n"
        "data['Merchant', 'PAID', 'Merchant'].edge_index = torch.tensor([[0, 1], [1, 2]])\n"
        "for conv in ('sage', 'edge', 'graph'):\n"
        "    HeteroGNN.from_data(data, hidden=4, conv=conv).run(data)\n"
        "print(len(glob.glob(os.path.join(os.environ['TMPDIR'], '*.py'))))\n")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # their compiled copies must go too
    own = tmp_path / "label_propagate.py"  # a user's module of a like name stays
    own.write_text("")
    script = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import label_propagate\n" \
        + script
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) >= 3  # written while it ran
    left = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert [name for name in left if "_propagate_" in name or "_edge_updater_" in name] == []
    assert own.exists()


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("static", [(), ("Consumer",)])
def test_a_few_merchants_outputs_are_those_of_the_whole_pass(layers: int,
                                                             static: tuple[str, ...]) -> None:
    torch.manual_seed(5)
    data = random_graph(6)
    model = HeteroGNN.from_data(data, hidden=16, layers=layers, static=static)
    model.eval()
    edges = adjacency(data)
    merchants = torch.tensor([41, 3, 3, 57, 10])  # unsorted, repeated; 57: no payer

    with torch.no_grad():
        whole, some = model.run(data, edges), model.run(data, edges, merchants)

    for a, b in zip(whole, some, strict=True):
        assert b.shape[0] == 5
        # The messages are the same; a linear layer over fewer rows may round its last
        # bit otherwise.
        assert torch.allclose(a[merchants], b, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("graph", "merchants"), [
    (four_merchants, [3]), (four_merchants, [2, 3]),  # 2, 3: no phone
    (lambda: random_graph(6), [57]), (lambda: random_graph(6), [55, 57]),  # no payer
    (lambda: random_graph(6), [59]),
    (lambda: random_graph(6), []),
])
@pytest.mark.parametrize("layers", [1, 2])
def test_merchants_without_edges_of_a_type_have_the_outputs_of_the_whole_pass(
        graph, merchants: list[int], layers: int) -> None:
    # A relation into them cut to no edges still adds its root term, so its source
    # type stays, with no rows (review finding: a KeyError on such a type).
    torch.manual_seed(2)
    data = graph()
    model = HeteroGNN.from_data(data, hidden=8, layers=layers)
    model.eval()
    edges = adjacency(data)
    index = torch.tensor(merchants, dtype=torch.int64)

    with torch.no_grad():
        whole, some = model.run(data, edges), model.run(data, edges, index)

    assert some.embedding.shape == (len(merchants), 8)
    for a, b in zip(whole, some, strict=True):
        assert torch.allclose(a[index], b, rtol=0, atol=1e-6)


def test_a_node_type_with_no_nodes_is_read_as_no_rows() -> None:
    torch.manual_seed(3)
    data = four_merchants()
    data["Phone"].x = torch.randn(0, 1)
    for key in (("Merchant", "USES", "Phone"), ("Phone", "rev_USES", "Merchant")):
        data[key].edge_index = torch.empty(2, 0, dtype=torch.int64)
    model = HeteroGNN.from_data(data, hidden=8, layers=2)
    model.eval()
    edges = adjacency(data)

    with torch.no_grad():
        whole, some = model.run(data, edges), model.run(data, edges, torch.tensor([0, 3]))

    for a, b in zip(whole, some, strict=True):
        assert torch.allclose(a[[0, 3]], b, rtol=0, atol=1e-6)


def test_without_a_product_a_few_merchants_are_cut_from_the_whole_pass() -> None:
    data = four_merchants()
    model = HeteroGNN.from_data(data, hidden=8, conv="edge")
    model.eval()
    with torch.no_grad():
        whole, some = model.run(data), model.run(data, merchants=torch.tensor([3, 1]))

    for a, b in zip(whole, some, strict=True):
        assert torch.equal(a[[3, 1]], b)
    with pytest.raises(ValueError, match="inference with SAGE and mean"):
        model.encode_rows(data.x_dict, adjacency(data), torch.tensor([1]))
