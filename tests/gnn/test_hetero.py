"""gnn/hetero.py: the GNN's input graph from an export and merchant features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from guanxi.gnn.hetero import (
    Standardiser,
    edge_features,
    feature_dims,
    model_input,
    node_features,
    reverse_type,
)
from guanxi.graph.export import Exported

PAID_NAMES = ("count", "amount", "amount_sq", "amount_max", "round_count", "night_count",
              "first_ts", "last_ts")
DAY = 86_400.0


def _paid(rows: list[tuple[float, float, float, float, float]]) -> torch.Tensor:
    """PAID aggregates from (count, amount, round_count, night_count, first_day) rows:
    equal amounts, a one-day span."""
    out = []
    for count, amount, rounds, nights, first in rows:
        ticket = amount / count
        out.append([count, amount, count * ticket**2, ticket, rounds, nights,
                    first * DAY, (first + 1) * DAY])
    return torch.tensor(out, dtype=torch.float32)


def small_export() -> Exported:
    """Five merchants, three consumers, two phones.

    Consumer 0 pays merchants 0 and 1, consumer 1 pays merchant 1, consumer 2 pays
    merchant 2; merchant 0 pays merchant 1; merchants 0, 1, 2 share phone 0, merchant 3
    has phone 1, merchant 4 none.
    """
    data = HeteroData()
    data["Merchant"].num_nodes = 5
    data["Consumer"].num_nodes = 3
    data["Phone"].num_nodes = 2
    key = ("Consumer", "PAID", "Merchant")
    data[key].edge_index = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]])
    data[key].edge_attr = _paid([(2, 200, 2, 0, 0), (1, 50, 0, 1, 3), (4, 100, 0, 0, 1),
                                 (1, 10, 1, 0, 9)])
    mm = ("Merchant", "PAID", "Merchant")
    data[mm].edge_index = torch.tensor([[0], [1]])
    data[mm].edge_attr = _paid([(3, 300, 3, 0, 2)])
    data["Merchant", "USES", "Phone"].edge_index = torch.tensor([[0, 1, 2, 3], [0, 0, 0, 1]])
    names = {key: PAID_NAMES, mm: PAID_NAMES}
    return Exported(data, {}, names, None, torch.zeros(5, 0, 12), None)


def payments_only() -> Exported:
    data = HeteroData()
    data["Merchant"].num_nodes = 4
    key = ("Merchant", "PAID", "Merchant")
    data[key].edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    data[key].edge_attr = _paid([(1, 10, 0, 0, 0), (2, 20, 1, 0, 0), (3, 30, 0, 1, 0)])
    return Exported(data, {}, {key: PAID_NAMES}, None, torch.zeros(4, 0, 12), None)


def test_every_node_type_has_features_and_every_relation_its_reverse() -> None:
    data = model_input(small_export(), np.arange(10.0).reshape(5, 2), min_merchants=1)

    assert sorted(data.node_types) == ["Consumer", "Merchant", "Phone"]
    assert data["Merchant"].x.shape == (5, 2)
    assert data["Consumer"].x.shape[0] == 3
    assert data["Phone"].x.shape == (2, 1)
    assert sorted(data.edge_types) == sorted([
        ("Consumer", "PAID", "Merchant"), ("Merchant", "rev_PAID", "Consumer"),
        ("Merchant", "PAID", "Merchant"), ("Merchant", "rev_PAID", "Merchant"),
        ("Merchant", "USES", "Phone"), ("Phone", "rev_USES", "Merchant")])
    for key in data.edge_types:
        assert data[key].edge_index.dtype == torch.int64
        back = data[reverse_type(key)].edge_index
        assert torch.equal(data[key].edge_index.flip(0), back)
    paid = data["Consumer", "PAID", "Merchant"]
    assert paid.edge_attr.shape == (4, 8) and paid.edge_attr.dtype == torch.float32
    assert paid.edge_weight.tolist() == pytest.approx(np.log1p([2, 1, 4, 1]).tolist())
    assert "edge_attr" not in data["Merchant", "USES", "Phone"]
    for t in data.node_types:
        assert torch.isfinite(data[t].x).all()


def test_structural_features_count_what_the_edges_say() -> None:
    ex = small_export()
    phone, names = node_features(ex, "Phone")
    assert names == ("USES_log_degree",)
    assert phone[:, 0].tolist() == pytest.approx(np.log1p([3, 1]).tolist())  # merchants sharing

    consumer, names = node_features(ex, "Consumer")
    col = dict(zip(names, consumer.T, strict=True))
    assert col["PAID_log_degree"].tolist() == pytest.approx(np.log1p([2, 1, 1]).tolist())
    assert col["PAID_log_count"].tolist() == pytest.approx(np.log1p([3, 4, 1]).tolist())
    assert col["PAID_log_amount"].tolist() == pytest.approx(np.log1p([250, 100, 10]).tolist())
    assert col["PAID_round_share"].tolist() == pytest.approx([2 / 3, 0, 1])
    assert col["PAID_night_share"].tolist() == pytest.approx([1 / 3, 0, 0])
    # consumer 0 paid on days 0-1 and 3-4: four days from first to last
    assert col["PAID_log_span_days"][0] == pytest.approx(np.log1p(4))


def test_structural_features_of_some_rows_are_those_rows() -> None:
    ex = small_export()
    rows = np.array([True, False, True])
    whole, names = node_features(ex, "Consumer")
    some, some_names = node_features(ex, "Consumer", rows)
    assert some_names == names
    assert np.array_equal(some, whole[rows])


def test_edge_features_are_logs_and_shares() -> None:
    attr = _paid([(2, 200, 1, 0, 0)]).numpy()
    values, names = edge_features(attr, PAID_NAMES, now=10 * DAY)
    got = dict(zip(names, values[0], strict=True))
    assert got["log_count"] == pytest.approx(np.log1p(2))
    assert got["log_amount"] == pytest.approx(np.log1p(200))
    assert got["log_amount_cv"] == pytest.approx(0.0, abs=1e-6)  # equal tickets
    assert got["round_share"] == pytest.approx(0.5)
    assert got["log_span_days"] == pytest.approx(np.log1p(1))
    assert got["log_days_since_last"] == pytest.approx(np.log1p(9))


def test_merchants_and_payments_only() -> None:
    data = model_input(payments_only(), np.ones((4, 3)))

    assert data.node_types == ["Merchant"]
    assert sorted(data.edge_types) == [("Merchant", "PAID", "Merchant"),
                                       ("Merchant", "rev_PAID", "Merchant")]
    nodes, edges = feature_dims(data)
    assert nodes == {"Merchant": 3}
    assert edges[("Merchant", "PAID", "Merchant")] == 8
    assert data["Merchant"].x.abs().max() == 0  # constant columns standardise to 0


def test_merchant_features_are_standardised_and_missing_values_become_the_mean() -> None:
    x = np.array([[1.0, 10.0], [2.0, np.nan], [3.0, 30.0], [4.0, 10.0], [5.0, 30.0]])
    z = model_input(small_export(), x)["Merchant"].x.numpy()

    assert z[:, 0].mean() == pytest.approx(0, abs=1e-6)
    assert z[:, 0].std() == pytest.approx(1, abs=1e-5)
    assert z[1, 1] == 0.0


def test_a_second_graph_is_put_on_the_first_graphs_scale() -> None:
    first = model_input(small_export(), np.arange(5.0)[:, None])
    s = first.standardiser
    second = model_input(small_export(), np.arange(5.0)[:, None] * 2, standardiser=s)
    assert torch.equal(first["Consumer"].x, second["Consumer"].x)

    assert second.standardiser is s
    expected = (np.arange(5.0) * 2 - s.mean["Merchant"][0]) / s.std["Merchant"][0]
    assert second["Merchant"].x[:, 0].tolist() == pytest.approx(expected.tolist(), rel=1e-5)
    assert torch.equal(first["Phone"].x, second["Phone"].x)


def test_nodes_linking_fewer_than_two_merchants_are_left_out() -> None:
    ex = small_export()
    before = ex.data["Consumer", "PAID", "Merchant"].edge_index.clone()
    data = model_input(ex, np.ones((5, 1)))

    assert data["Consumer"].n_id.tolist() == [0]  # consumer 0 pays merchants 0 and 1
    assert data["Phone"].n_id.tolist() == [0]  # phone 0 is shared by 0, 1, 2
    assert data["Consumer", "PAID", "Merchant"].edge_index.tolist() == [[0, 0], [0, 1]]
    assert data["Consumer", "PAID", "Merchant"].edge_attr.shape == (2, 8)
    assert data["Merchant", "USES", "Phone"].edge_index.tolist() == [[0, 1, 2], [0, 0, 0]]
    assert data["Merchant"].x.shape[0] == 5
    assert torch.equal(ex.data["Consumer", "PAID", "Merchant"].edge_index, before)
    # the kept consumer's features are those it had: degree 2 (log 3)
    consumer, _ = node_features(ex, "Consumer")
    assert data.standardiser.inverse("Consumer", data["Consumer"].x.numpy())[0, 0] == \
        pytest.approx(consumer[0, 0])


def test_a_type_the_standardiser_never_saw_is_left_out() -> None:
    s = model_input(payments_only(), np.ones((4, 1))).standardiser
    data = model_input(small_export(), np.ones((5, 1)), standardiser=s)

    assert data.node_types == ["Merchant"]
    assert sorted(data.edge_types) == [("Merchant", "PAID", "Merchant"),
                                       ("Merchant", "rev_PAID", "Merchant")]


@pytest.mark.parametrize("trained_on", [small_export, payments_only])
def test_without_edge_values_the_input_has_the_same_nodes_and_edges(trained_on) -> None:
    ex = trained_on()
    s = model_input(ex, np.ones((ex.data["Merchant"].num_nodes, 1))).standardiser
    x = np.arange(5.0)[:, None]
    full = model_input(small_export(), x, standardiser=s)

    bare = model_input(small_export(), x, standardiser=s, edge_values=False)

    assert bare.node_types == full.node_types
    for t in full.node_types:
        assert torch.equal(bare[t].x, full[t].x)
    assert sorted(bare.edge_types) == sorted(full.edge_types)
    for key in full.edge_types:
        assert torch.equal(bare[key].edge_index, full[key].edge_index)
        assert "edge_attr" not in bare[key] and "edge_weight" not in bare[key]
    assert any("edge_attr" in full[key] for key in full.edge_types)


def test_learning_scales_needs_the_edge_values() -> None:
    with pytest.raises(ValueError, match="needs the standardiser"):
        model_input(small_export(), np.ones((5, 1)), edge_values=False)


def test_standardiser_round_trips() -> None:
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=(50, 4))
    s = Standardiser(clip=100.0)
    z = s.fit_transform("Merchant", x, ("a", "b", "c", "d"))

    assert np.allclose(s.inverse("Merchant", z), x, atol=1e-4)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-5)
    assert s.names["Merchant"] == ("a", "b", "c", "d")
    with pytest.raises(ValueError, match="expected 4 columns"):
        s.transform("Merchant", x[:, :3])
    with pytest.raises(KeyError, match="no standardisation"):
        s.transform("Consumer", x)


def test_standardiser_clips_outliers() -> None:
    s = Standardiser(clip=3.0)
    s.fit("t", np.r_[np.zeros(99), 1.0][:, None])
    assert s.transform("t", np.array([[1e6], [-1e6]]))[:, 0].tolist() == [3.0, -3.0]


def test_standardising_in_blocks_is_the_formula_bit_for_bit() -> None:
    # More rows than one block (hetero._BLOCK_ROWS), float32 in as a run gives them.
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(40_000, 3)) * 5 + 2).astype(np.float32)
    x[::9, 1] = np.nan
    x[7, 2] = np.inf
    s = Standardiser()
    s.fit("t", x)
    z = (x.astype(np.float64) - s.mean["t"]) / s.std["t"]
    expected = np.clip(np.where(np.isfinite(z), z, 0.0), -s.clip, s.clip).astype(np.float32)
    assert np.array_equal(s.transform("t", x), expected)
    assert s.transform("t", x[:0]).shape == (0, 3)


def test_wrong_feature_rows_are_an_error() -> None:
    with pytest.raises(ValueError, match=r"merchant_x must be \(5, F\)"):
        model_input(small_export(), np.ones((4, 2)))
