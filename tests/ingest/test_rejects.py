"""The rejects CSV: header always, quoting, counts, folders, append, unwritable paths."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from guanxi.errors import InputError
from guanxi.ingest.rejects import HEADER, RejectsWriter


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["line", "column", "value", "reason"]).astype(
        {"line": "int64"})


def read(path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_header_is_written_even_without_rejects(tmp_path):
    path = tmp_path / "rejects.csv"
    with RejectsWriter(path) as out:
        out.write("payments.csv", frame([]))
        assert out.count == 0
    assert read(path) == [list(HEADER)]
    assert HEADER == ("source_file", "line", "column", "value", "reason")


def test_values_with_commas_quotes_newlines_and_chinese_round_trip(tmp_path):
    path = tmp_path / "out" / "deeper" / "rejects.csv"  # folders are created
    tricky = [(7, "name,city", '老王面馆,"上海"', "too long; x"),
              (12, "", "a\nb", "expected 2 fields, found 3")]
    with RejectsWriter(path) as out:
        out.write("merchants.csv", frame(tricky))
        out.write("payments.csv", frame([(3, "amount", "-5",
                                          "amount must be a positive number (got '-5')")]))
        assert out.count == 3
    assert read(path)[1:] == [
        ["merchants.csv", "7", "name,city", '老王面馆,"上海"', "too long; x"],
        ["merchants.csv", "12", "", "a\nb", "expected 2 fields, found 3"],
        ["payments.csv", "3", "amount", "-5", "amount must be a positive number (got '-5')"]]
    assert path.read_bytes().decode("utf-8").count("老王面馆") == 1


def test_missing_values_are_written_empty(tmp_path):
    path = tmp_path / "rejects.csv"
    with RejectsWriter(path) as out:
        out.write("a.csv", frame([(2, "ts", None, "ts is required")]))
    assert read(path)[1] == ["a.csv", "2", "ts", "", "ts is required"]


def test_a_new_writer_starts_the_file_anew_unless_appending(tmp_path):
    path = tmp_path / "rejects.csv"
    with RejectsWriter(path) as out:
        out.write("a.csv", frame([(2, "x", "1", "bad")]))
    with RejectsWriter(path, append=True) as out:
        out.write("b.csv", frame([(3, "y", "2", "worse")]))
        assert out.count == 1
    assert [r[0] for r in read(path)] == ["source_file", "a.csv", "b.csv"]
    with RejectsWriter(path) as out:
        pass
    assert read(path) == [list(HEADER)]


def test_append_to_a_missing_file_writes_the_header(tmp_path):
    path = tmp_path / "new.csv"
    with RejectsWriter(path, append=True):
        pass
    assert read(path) == [list(HEADER)]


def test_unwritable_path(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError) as err:
        RejectsWriter(blocker / "rejects.csv")
    assert err.value.message.startswith(f"cannot write rejects file {blocker / 'rejects.csv'}")
    assert err.value.fix == "pass --rejects with a writable path elsewhere"


def test_frame_without_reject_columns_is_a_bug(tmp_path):
    with RejectsWriter(tmp_path / "r.csv") as out, pytest.raises(ValueError, match="reason"):
        out.write("a.csv", pd.DataFrame({"line": [1], "column": ["x"], "value": ["y"]}))
