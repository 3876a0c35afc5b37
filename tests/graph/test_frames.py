"""Frame reads against the real Neo4j: ``Graph.frame`` and the chunked ``Graph.frames``."""

from __future__ import annotations

import pandas as pd
import pytest

from guanxi.errors import QueryError
from guanxi.graph.connection import Graph

PAGE = ("MATCH (m:Merchant) WHERE m.id > $after AND m.city = $city "
        "WITH m ORDER BY m.id LIMIT $limit "
        "RETURN collect(m.id) AS id, collect(m.n) AS n")


@pytest.fixture
def merchants(graph: Graph) -> pd.DataFrame:
    rows = [{"id": f"M{i:05d}", "n": i, "city": "杭州" if i % 3 else "温州"} for i in range(2500)]
    graph.write("UNWIND $rows AS r CREATE (m:Merchant) SET m = r", rows=rows)
    return pd.DataFrame(rows)


def test_frames_pages_through_every_row_once_in_key_order(graph: Graph,
                                                          merchants: pd.DataFrame) -> None:
    parts = list(graph.frames(PAGE, key="id", chunk=700, city="杭州"))
    want = merchants[merchants["city"] == "杭州"].reset_index(drop=True)
    assert [len(p) for p in parts] == [700, 700, 266]
    got = pd.concat(parts, ignore_index=True)
    assert got["id"].tolist() == want["id"].tolist()  # ordered, no gaps, no repeats
    assert got["n"].tolist() == want["n"].tolist()


def test_frames_of_nothing_yields_nothing(graph: Graph) -> None:
    assert list(graph.frames(PAGE, key="id", city="nowhere")) == []


def test_frames_needs_its_key_among_the_columns(graph: Graph, merchants: pd.DataFrame) -> None:
    with pytest.raises(QueryError, match="returned no list 'id' to page by"):
        list(graph.frames("MATCH (m:Merchant) WHERE m.id > $after WITH m LIMIT $limit "
                          "RETURN collect(m.n) AS n", key="id"))


def test_frame_is_the_rows_as_a_dataframe(graph: Graph, merchants: pd.DataFrame) -> None:
    frame = graph.frame("MATCH (m:Merchant) WHERE m.n < $top RETURN m.id AS id, m.n AS n "
                        "ORDER BY id", top=5)
    assert frame.columns.tolist() == ["id", "n"]
    assert frame.values.tolist() == [[f"M{i:05d}", i] for i in range(5)]
