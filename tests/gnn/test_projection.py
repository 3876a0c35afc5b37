"""Merchant links on hand-built graphs whose right answer is known, and invariants
(symmetry, absent parts absent, relabelling merchants permutes the links)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from guanxi.gnn.projection import DIRECTED, SHARED, Links, merchant_links


def dense(a: sp.csr_matrix) -> np.ndarray:
    return np.asarray(a.todense())


def test_a_phone_of_three_merchants_weighs_half_per_pair(make_export) -> None:
    ex = make_export(4, identifiers={"Phone": [(0, 0), (1, 0), (2, 0), (3, 1)]})
    links = merchant_links(ex)
    assert set(links.shared) == {"phone"}
    expected = np.full((4, 4), 0.5)
    expected[3, :] = expected[:, 3] = 0
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(dense(links.shared["phone"]), expected)


def test_identifier_weights_add_over_identifiers_and_skip_crowds(make_export) -> None:
    # m0 and m1 share two addresses of two merchants each: 1 + 1; address 2 has four
    # merchants, over max_share=3, and is skipped.
    pairs = [(0, 0), (1, 0), (0, 1), (1, 1), (2, 2), (3, 2), (4, 2), (5, 2)]
    links = merchant_links(make_export(6, identifiers={"Address": pairs}), max_share=3)
    s = dense(links.shared["address"])
    assert s[0, 1] == s[1, 0] == 2.0
    assert s[2:].sum() == 0


def test_names_come_from_the_identifier_label(make_export) -> None:
    ex = make_export(2, identifiers={label: [(0, 0), (1, 0)] for label in
                                     ("Phone", "Device", "BankAccount", "Address", "Person",
                                      "ServiceProvider")})
    assert set(merchant_links(ex).shared) == set(SHARED) == {
        "phone", "device", "account", "address", "owner", "agent"}


def test_co_payers(make_export) -> None:
    # c0 pays m0, m1, m2 (1/2 a pair); c1 pays m0 and m1 (1); c2 pays only m3 (nothing);
    # c3 pays all five, more than max_payer_merchants=4 (skipped).
    rows = [(0, 0, 1, 5), (0, 1, 1, 5), (0, 2, 1, 5), (1, 0, 2, 5), (1, 1, 1, 5), (2, 3, 1, 5),
            *((3, m, 1, 5) for m in range(5))]
    p = dense(merchant_links(make_export(5, consumer_paid=rows),
                             max_payer_merchants=4).co_payer)
    assert p[0, 1] == p[1, 0] == 1.5
    assert p[0, 2] == p[1, 2] == 0.5
    assert p[3].sum() == p[4].sum() == 0 and np.all(np.diag(p) == 0)


def test_directed_flows(make_export) -> None:
    ex = make_export(3, paid=[(0, 1, 2, 300.0), (1, 1, 1, 9.0)],
                     supply=[(2, 0, 3, 1200.0)], shipped=[(2, 0, 2)])
    links = merchant_links(ex)
    assert set(links.directed) == set(DIRECTED)
    paid = dense(links.directed["paid"])
    assert paid[0, 1] == 300.0 and paid.sum() == 300.0  # payer -> payee, no self-payment
    assert dense(links.directed["supply"])[2, 0] == 1200.0
    assert dense(links.directed["shipped"])[2, 0] == 2.0


def test_absent_relations_are_absent(make_export) -> None:
    links = merchant_links(make_export(3))
    assert (links.n, links.directed, links.shared, links.co_payer) == (3, {}, {}, None)
    assert links.combined().shape == (3, 3) and links.combined().nnz == 0


def test_combined_is_symmetric_and_weighted(make_export) -> None:
    ex = make_export(4, paid=[(0, 1, 5, 1e6), (1, 0, 1, 10.0)],
                     identifiers={"Phone": [(1, 0), (2, 0)]},
                     consumer_paid=[(0, 2, 1, 5), (0, 3, 1, 5)])
    links = merchant_links(ex)
    c = dense(links.combined())
    np.testing.assert_allclose(c, c.T)
    # A payment link is 0/1 whatever the amount, in either direction.
    assert c[0, 1] == 1.0 and c[1, 2] == 1.0 and c[2, 3] == 1.0
    c = dense(links.combined({"paid": 0.0, "phone": 3.0}))
    assert c[0, 1] == 0 and c[1, 2] == 3.0 and c[2, 3] == 1.0
    # A kind this graph lacks is ignored, an unknown one refused.
    assert links.combined({"supply": 2.0}).nnz == links.combined().nnz
    with pytest.raises(ValueError, match="unknown link kinds"):
        links.combined({"phones": 1.0})


def test_relabelling_merchants_permutes_the_links(make_export) -> None:
    rows = dict(paid=[(0, 1, 1, 10.0), (1, 2, 1, 20.0), (3, 0, 2, 5.0)],
                consumer_paid=[(0, 0, 1, 5), (0, 2, 1, 5), (1, 1, 1, 5), (1, 3, 1, 5)],
                supply=[(2, 3, 1, 100.0)])
    perm = np.array([2, 0, 3, 1])  # old position -> new position

    a = merchant_links(make_export(4, **rows))
    b = merchant_links(make_export(
        4, paid=[(perm[s], perm[t], *r) for s, t, *r in rows["paid"]],
        consumer_paid=[(c, perm[m], *r) for c, m, *r in rows["consumer_paid"]],
        supply=[(perm[s], perm[t], *r) for s, t, *r in rows["supply"]]))
    for x, y in ((a.combined(), b.combined()), (a.directed["paid"], b.directed["paid"]),
                 (a.co_payer, b.co_payer)):
        np.testing.assert_allclose(dense(x), dense(y)[np.ix_(perm, perm)])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        merchant_links(None, max_share=1)  # type: ignore[arg-type]
    assert Links(2).kinds() == ()


def test_link_kinds_are_the_symmetric_patterns_of_each_family() -> None:
    from guanxi.gnn.prepare import link_kinds

    # One way each, a merchant paying itself (no link), a pair linked twice.
    paid = sp.csr_matrix(([5.0, 4.0, 3.0], ([0, 1, 3], [1, 1, 2])), shape=(4, 4))
    supply = sp.csr_matrix(([7.0], ([2], [3])), shape=(4, 4))
    phone = sp.csr_matrix(([0.5, 0.5, 0.0, 0.0], ([0, 3, 1, 2], [3, 0, 2, 1])), shape=(4, 4))
    links = Links(4, directed={"paid": paid, "supply": supply}, shared={"phone": phone})

    kinds = link_kinds(links)

    assert list(kinds) == ["flow", "shared", "co_payer"]
    assert dense(kinds["flow"]).tolist() == [[0, 1, 0, 0], [1, 0, 0, 0],
                                             [0, 0, 0, 1], [0, 0, 1, 0]]
    # A stored zero is no link.
    assert dense(kinds["shared"]).tolist() == [[0, 0, 0, 1], [0, 0, 0, 0],
                                               [0, 0, 0, 0], [1, 0, 0, 0]]
    assert kinds["co_payer"].nnz == 0
    for a in kinds.values():
        assert a.has_sorted_indices and set(a.data) <= {1.0}
