"""The Saved queries page with AppTest: validation, a table with its CSV, a path query."""

from __future__ import annotations

from helpers import table_with
from streamlit.testing.v1 import AppTest

from guanxi.ui.saved import SAVED, parse
from guanxi.ui.serve import APP

PAGE = str(APP.parent / "screens" / "saved_queries.py")


def _submit(at: AppTest, query: str, **fields: str) -> AppTest:
    at.selectbox(key="query").set_value(query).run()
    for name, text in fields.items():
        at.text_input(key=f"p_{query}_{name}").input(text)
    at.button[0].click()
    return at.run()


def test_a_bad_parameter_shows_a_validation_error(app_env: dict) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    _submit(at, "ui_riskiest_merchants", limit="abc", min_score="2")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("'abc' is not a whole number" in e for e in errors)
    assert any("out of range" in e for e in errors)
    assert not at.dataframe


def test_the_riskiest_merchants_as_a_table_and_csv(app_env: dict) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    _submit(at, "ui_riskiest_merchants", limit="7", min_score="0")
    assert not at.exception
    rows = table_with(at, "merchant_id", "ring_score")
    assert len(rows) == 7
    assert rows["ring_score"].is_monotonic_decreasing
    at.run()  # a rerun without Run (the CSV download is one) keeps the rows
    assert len(table_with(at, "merchant_id", "ring_score")) == 7


def test_weekly_flows_come_back_as_a_table_with_their_weeks(app_env: dict) -> None:
    g = app_env["graph"]
    mid = g.read("MATCH (w:MerchantWeek) RETURN w.merchant AS id ORDER BY id LIMIT 1")[0]["id"]
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    _submit(at, "ui_weekly_flows", ids=f"{mid}, {mid}")
    assert not at.exception
    weeks = table_with(at, "week", "paid_in_amount")
    assert len(weeks) >= 1 and weeks["week"].is_monotonic_increasing


def test_a_path_query_is_drawn(app_env: dict) -> None:
    g = app_env["graph"]
    pair = g.read("MATCH (a:Merchant)-[:SUPPLIES]->(b:Merchant) WHERE a <> b "
                  "RETURN a.id AS a, b.id AS b ORDER BY a, b LIMIT 1")[0]
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    # Both queries have a "limit"; the paths' own (default 10, at most 100) is used, not
    # the 500 rows just asked of the other one.
    _submit(at, "ui_riskiest_merchants", limit="500", min_score="0")
    _submit(at, "ui_shortest_paths", a=pair["a"], b=pair["b"])
    assert not at.error
    assert not at.exception
    rows = table_with(at, "nodes", "links")
    assert len(rows) >= 1


def test_parse_checks_every_kind() -> None:
    paths = SAVED["ui_shortest_paths"]
    values, problems = parse(paths, {"a": "M1", "b": "M2", "types": "PAID, SUPPLIES",
                                     "limit": "3"})
    assert problems == [] and values == {"a": "M1", "b": "M2", "types": ["PAID", "SUPPLIES"],
                                         "limit": 3}
    _, problems = parse(paths, {"a": "", "b": "M2", "types": "PAID, LIKES", "limit": "0"})
    assert [p.split(":")[0] for p in problems] == [
        "First merchant id", "Link types (comma-separated)", "Paths at most"]
    _, problems = parse(SAVED["ui_riskiest_merchants"], {"min_score": "nan", "limit": "5"})
    assert problems == ["Ring score at least (0-1): 'nan' is not a finite number"]
