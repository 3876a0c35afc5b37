"""Whole-graph algorithms: GDS inside Neo4j and the Python fallback agree (real servers).

The session server (tests/conftest.py) runs GDS, as every local server does by
default; the fallback is forced with ``use_gds=False`` so both paths run in every
test run. A second, throwaway server without GDS checks detection and the notice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import free_port

from guanxi.errors import QueryError, ServerError
from guanxi.graph import gds, server
from guanxi.graph.connection import Graph, open_graph
from guanxi.graph.settings import resolve

# Three dense groups joined by single links, a pair apart, a merchant alone, and one
# onboarding agent shared by all (a hub the projection must leave out):
# - a1..a5 pay each other, b1..b5 supply each other, c1..c5 share one phone;
# - a5 pays b1, b5 ships to c1 (the single links between the groups);
# - d1, d2 share an address; e1 has no links.
_CLIQUES = {"a": "PAID", "b": "SUPPLIES"}
_SMALL = gds.MerchantProjection(max_share=10)


def _build(graph: Graph) -> None:
    ids = [f"{g}{i}" for g in "abc" for i in range(1, 6)] + ["d1", "d2", "e1"]
    graph.write("UNWIND $ids AS id CREATE (:Merchant {id: id})", ids=ids)
    for group, rtype in _CLIQUES.items():
        graph.write(f"""
            MATCH (x:Merchant), (y:Merchant)
            WHERE x.id STARTS WITH $g AND y.id STARTS WITH $g AND x.id < y.id
            CREATE (x)-[:{rtype} {{count: 1}}]->(y)""", g=group)
    graph.write("""
        MATCH (m:Merchant) WHERE m.id STARTS WITH 'c'
        MERGE (p:Phone {id: '+86 100'}) CREATE (m)-[:USES]->(p)""")
    graph.write("""
        MATCH (a5:Merchant {id: 'a5'}), (b1:Merchant {id: 'b1'}), (b5:Merchant {id: 'b5'}),
              (c1:Merchant {id: 'c1'}), (d1:Merchant {id: 'd1'}), (d2:Merchant {id: 'd2'})
        CREATE (a5)-[:PAID {count: 1}]->(b1), (b5)-[:SHIPPED_TO {count: 1}]->(c1),
               (d1)-[:USES]->(:Address {id: 'road 1'})<-[:USES]-(d2)""")
    graph.write("""
        CREATE (s:ServiceProvider {id: 'agent'}) WITH s
        MATCH (m:Merchant) CREATE (m)-[:ONBOARDED_BY]->(s)""")


def _groups(frame: pd.DataFrame, column: str) -> set[frozenset[str]]:
    return {frozenset(part["merchant_id"]) for _, part in frame.groupby(column)}


def _no_notice(line: str) -> None:
    raise AssertionError(f"unexpected notice: {line}")


_BIG = frozenset(f"{g}{i}" for g in "abc" for i in range(1, 6))
_CLIQUE_SETS = {frozenset(f"{g}{i}" for i in range(1, 6)) for g in "abc"}


def test_the_session_server_runs_gds(graph: Graph, neo4j_dir: Path) -> None:
    assert gds.gds_version(graph) == server.GDS_VERSION == "2.13.9"
    assert server.status(neo4j_dir).gds == "2.13.9"
    state = json.loads((neo4j_dir / "server.json").read_text())
    assert state["gds"] is True and state["gds_version"] == "2.13.9"


def test_links_follow_the_projection(graph: Graph) -> None:
    _build(graph)
    links = gds.merchant_links(graph, _SMALL)
    pairs = set(zip(links["source"], links["target"], strict=True))
    assert ("a1", "a2") in pairs and ("c1", "c5") in pairs  # a flow, a shared phone
    assert ("a5", "b1") in pairs and ("b5", "c1") in pairs and ("d1", "d2") in pairs
    assert len(links) == 3 * 10 + 3  # three 5-cliques, two bridges, one pair; no hub
    assert (links["source"] < links["target"]).all() and (links["links"] == 1).all()
    # Without the cap, the agent shared by all 18 links every pair of them.
    assert len(gds.merchant_links(graph, gds.MerchantProjection())) == 18 * 17 // 2


def test_components_are_the_same_on_gds_and_in_python(graph: Graph) -> None:
    _build(graph)
    on_gds = gds.components(graph, use_gds=True, projection=_SMALL, notice=_no_notice)
    in_python = gds.components(graph, use_gds=False, projection=_SMALL, notice=_no_notice)
    pd.testing.assert_frame_equal(on_gds, in_python)
    assert list(on_gds.columns) == ["merchant_id", "component"]
    assert _groups(on_gds, "component") == {_BIG, frozenset({"d1", "d2"}), frozenset({"e1"})}
    # The hub joins everything when the projection keeps it.
    everything = gds.components(graph, use_gds=True)
    assert everything["component"].nunique() == 1 and len(everything) == 18


def test_louvain_finds_the_same_communities_on_gds_and_in_python(graph: Graph) -> None:
    _build(graph)
    on_gds = gds.louvain(graph, use_gds=True, projection=_SMALL, notice=_no_notice)
    in_python = gds.louvain(graph, use_gds=False, projection=_SMALL, notice=_no_notice)
    assert on_gds["community"].nunique() == in_python["community"].nunique() == 5
    expected = {*_CLIQUE_SETS, frozenset({"d1", "d2"}), frozenset({"e1"})}
    assert _groups(on_gds, "community") == _groups(in_python, "community") == expected
    # Deterministic under the defaults (one thread, a seed).
    pd.testing.assert_frame_equal(on_gds, gds.louvain(graph, use_gds=True, projection=_SMALL))
    pd.testing.assert_frame_equal(in_python,
                                  gds.louvain(graph, use_gds=False, projection=_SMALL))


def _load_random(graph: Graph, merchants: list[str], pairs: list[tuple[str, str]]) -> None:
    """Empty the graph, then create ``merchants`` in the order given and pay along
    ``pairs``: the order decides the node ids Neo4j assigns."""
    graph.write("MATCH (n) DETACH DELETE n")
    graph.write("UNWIND $ids AS id CREATE (:Merchant {id: id})", ids=merchants)
    graph.write("""
        UNWIND $pairs AS p MATCH (x:Merchant {id: p[0]}), (y:Merchant {id: p[1]})
        CREATE (x)-[:PAID {count: 1}]->(y)""", pairs=[list(p) for p in pairs])


def test_louvain_does_not_depend_on_the_order_merchants_were_loaded(graph: Graph) -> None:
    # A sparse random graph has no clear communities, so Louvain's answer turns on the
    # order nodes are numbered in; a parallel ingest creates merchants in any order.
    rng = np.random.default_rng(7)
    merchants = [f"m{i:03d}" for i in range(200)]
    pairs = sorted({(merchants[i], merchants[j])
                    for i, j in rng.integers(0, 200, size=(400, 2)) if i != j})
    _load_random(graph, merchants, pairs)
    forward = gds.louvain(graph, use_gds=True, notice=_no_notice)
    _load_random(graph, merchants[::-1], pairs)
    backward = gds.louvain(graph, use_gds=True, notice=_no_notice)
    assert forward["community"].nunique() > 5
    pd.testing.assert_frame_equal(forward, backward)


def _cosine(frame: pd.DataFrame, x: str, y: str) -> float:
    vectors = frame.set_index("merchant_id")
    u, v = vectors.loc[x].to_numpy(), vectors.loc[y].to_numpy()
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


@pytest.mark.parametrize("use_gds", [True, False], ids=["gds", "numpy"])
def test_fastrp_embeds_each_clique_together(graph: Graph, use_gds: bool) -> None:
    _build(graph)
    frame = gds.fastrp(graph, dim=32, seed=7, use_gds=use_gds, projection=_SMALL,
                       notice=_no_notice)
    assert list(frame.columns) == ["merchant_id", *(f"fastrp_{i}" for i in range(32))]
    assert frame["merchant_id"].tolist() == sorted(frame["merchant_id"])
    assert len(frame) == 18
    again = gds.fastrp(graph, dim=32, seed=7, use_gds=use_gds, projection=_SMALL)
    pd.testing.assert_frame_equal(frame, again)
    assert not np.allclose(frame.iloc[:, 1:], gds.fastrp(graph, dim=32, seed=8, use_gds=use_gds,
                                                         projection=_SMALL).iloc[:, 1:])
    # Merchants of one clique (a2, a3: same neighbours) are close; across cliques not.
    assert _cosine(frame, "a2", "a3") > 0.9
    assert _cosine(frame, "a2", "c3") < _cosine(frame, "a2", "a3") - 0.3
    assert np.allclose(frame.set_index("merchant_id").loc["e1"], 0)  # no neighbours


@pytest.mark.parametrize("use_gds", [True, False], ids=["gds", "python"])
def test_no_merchants_and_merchants_without_links(graph: Graph, use_gds: bool) -> None:
    assert gds.components(graph, use_gds=use_gds).empty
    assert gds.louvain(graph, use_gds=use_gds).empty
    assert gds.fastrp(graph, dim=4, use_gds=use_gds).shape == (0, 5)
    graph.write("UNWIND ['m2', 'm1'] AS id CREATE (:Merchant {id: id})")
    assert gds.components(graph, use_gds=use_gds).to_dict("list") == {
        "merchant_id": ["m1", "m2"], "component": [0, 1]}
    assert gds.louvain(graph, use_gds=use_gds).to_dict("list") == {
        "merchant_id": ["m1", "m2"], "community": [0, 1]}
    embedded = gds.fastrp(graph, dim=4, use_gds=use_gds)
    assert embedded["merchant_id"].tolist() == ["m1", "m2"]
    assert np.allclose(embedded.iloc[:, 1:], 0)


def _guanxi_graphs(graph: Graph) -> list[str]:
    rows = graph.read("CALL gds.graph.list() YIELD graphName RETURN graphName")
    return [r["graphName"] for r in rows if r["graphName"].startswith("guanxi-")]


def test_in_memory_graphs_are_dropped_even_when_the_algorithm_fails(graph: Graph) -> None:
    _build(graph)
    gds.components(graph, use_gds=True)
    assert _guanxi_graphs(graph) == []
    with pytest.raises(QueryError):  # GDS refuses empty iteration weights
        gds.fastrp(graph, use_gds=True, iteration_weights=[])
    assert _guanxi_graphs(graph) == []
    # One projection, several algorithms, dropped at the end.
    with gds.gds_graph(graph, _SMALL) as name:
        assert _guanxi_graphs(graph) == [name]
        wcc = gds.components(graph, graph_name=name)
        communities = gds.louvain(graph, graph_name=name)
    assert _guanxi_graphs(graph) == []
    assert wcc["component"].nunique() == 3 and communities["community"].nunique() == 5


def test_whole_graph_projects_once_and_equals_the_single_steps(
        graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    _build(graph)
    projected: list[str] = []
    project = gds._projected

    def counted(*args, **kwargs):
        projected.append("projection")
        return project(*args, **kwargs)

    monkeypatch.setattr(gds, "_projected", counted)
    whole = gds.whole_graph(graph, seed=3, fastrp_dim=8, notice=_no_notice)
    assert len(projected) == 1 and _guanxi_graphs(graph) == []
    pd.testing.assert_frame_equal(whole.components, gds.components(graph, use_gds=True))
    pd.testing.assert_frame_equal(whole.communities, gds.louvain(graph, use_gds=True, seed=3))
    pd.testing.assert_frame_equal(whole.fastrp, gds.fastrp(graph, dim=8, seed=3, use_gds=True))
    assert len(projected) == 4  # the single steps project one each
    assert gds.whole_graph(graph, seed=3).fastrp is None
    # Forced to Python: the same partition, no projection, each step says nothing more.
    python = gds.whole_graph(graph, use_gds=False, seed=3, fastrp_dim=8, notice=_no_notice)
    assert len(projected) == 5
    pd.testing.assert_frame_equal(python.components, whole.components)
    assert python.fastrp.shape == whole.fastrp.shape


def test_a_server_without_gds_computes_in_python_with_one_notice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "db"
    try:
        # `guanxi db start --no-gds`
        started = server.start(server.ServerConfig(data_dir, port=free_port(), heap="512m",
                                                   pagecache="64m", gds=False))
        assert started.gds is None and started.note is None
        assert json.loads((data_dir / "server.json").read_text())["gds"] is False
        assert server.status(data_dir).gds is None
        graph = open_graph(resolve(data_dir))
        assert gds.gds_version(graph) is None
        server.stop(data_dir)

        # Default (GDS on), but GDS cannot be fetched: Maven offline with an empty
        # repository; Neo4j's own jars are already in the cache.
        cache = tmp_path / "cache"
        cache.mkdir()
        (cache / f"neo4j-{server.NEO4J_VERSION}").symlink_to(server.cache_dir())
        settings = tmp_path / "settings.xml"
        settings.write_text("<settings><offline>true</offline>"
                            f"<localRepository>{tmp_path / 'm2'}</localRepository></settings>")
        monkeypatch.setenv("GUANXI_CACHE", str(cache))
        monkeypatch.setenv("MAVEN_ARGS", f"-s {settings}")
        offline = server.start(server.ServerConfig(data_dir, port=free_port(), heap="512m",
                                                   pagecache="64m"))
        assert offline.running and offline.gds is None
        assert offline.note.startswith("started without Graph Data Science: could not fetch "
                                       f"Graph Data Science {server.GDS_VERSION}")
        assert json.loads((data_dir / "server.json").read_text())["gds"] is False
        assert not (cache / f"gds-{server.GDS_VERSION}" / ".complete").exists()

        graph = open_graph(resolve(data_dir))
        graph.write("UNWIND ['m1', 'm2', 'm3'] AS id CREATE (:Merchant {id: id})")
        graph.write("MATCH (a:Merchant {id: 'm1'}), (b:Merchant {id: 'm2'}) "
                    "CREATE (a)-[:PAID]->(b)")
        notices: list[str] = []
        frame = gds.components(graph, notice=notices.append)
        assert notices == ["notice: the server has no Graph Data Science library; computing "
                           "connected components in Python (networkx)"]
        assert frame.to_dict("list") == {"merchant_id": ["m1", "m2", "m3"],
                                         "component": [0, 0, 1]}
        gds.louvain(graph, notice=notices.append)
        gds.fastrp(graph, dim=8, notice=notices.append)
        assert [n.split("computing ")[1] for n in notices[1:]] == [
            "Louvain communities in Python (networkx)", "FastRP embeddings in Python (numpy)"]
        with pytest.raises(ServerError, match="has no Graph Data Science library"):
            gds.components(graph, use_gds=True)
    finally:
        server.stop(data_dir)
