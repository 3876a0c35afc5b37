"""Finding input files and reading them: encodings, formats, columns, chunks, line numbers."""

from __future__ import annotations

import gzip
import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guanxi.errors import InputError
from guanxi.ingest.mapping import KindMapping, Mapping, load_mapping
from guanxi.ingest.reader import (
    SourceFile,
    count_rows,
    discover,
    read_chunks,
    unknown_columns,
)

NO_MAPPING = Mapping({})
MERCHANTS_ZH = ("merchant_id,name,city\n"
                "M1,老王面馆,上海\nM2,华联便利店,杭州\nM3,\"张记，烧烤\",北京\n")


def write(folder: Path, name: str, text: str | bytes, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def only(folder: Path, mapping: Mapping = NO_MAPPING) -> SourceFile:
    (src,) = discover(folder, mapping)
    return src


def read_all(src: SourceFile, km: KindMapping | None = None, chunk_rows: int = 100_000,
             ) -> pd.DataFrame:
    chunks = list(read_chunks(src, km or KindMapping(src.kind), chunk_rows))
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with missing values as None, for exact comparisons."""
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


# --- discover ---------------------------------------------------------------------


def test_discover_finds_one_file_per_kind_in_load_order(tmp_path):
    write(tmp_path, "payments.csv", "payer_id,payee_id,amount,ts\nC1,M1,5,2024-01-01\n")
    merchants = write(tmp_path, "Merchants.CSV", "merchant_id\nM1\n")
    with gzip.open(tmp_path / "supply.csv.gz", "wt") as f:
        f.write("supplier_id,buyer_id,amount,ts\nM1,M2,9,2024-01-01\n")
    labels = pa.table({"merchant_id": ["M1"], "label": ["fraud"]})
    pq.write_table(labels, tmp_path / "labels.parquet")
    write(tmp_path, "notes.txt", "ignored")
    write(tmp_path / "truth", "merchants.csv", "merchant_id\nX\n")

    found = discover(tmp_path, NO_MAPPING)

    assert [(s.kind, s.name, s.format) for s in found] == [
        ("merchants", "Merchants.CSV", "csv"), ("payments", "payments.csv", "csv"),
        ("supply", "supply.csv.gz", "csv"), ("labels", "labels.parquet", "parquet")]
    assert [s.encoding for s in found] == ["utf-8", "utf-8", "utf-8", None]
    assert found[0].sha256 == hashlib.sha256(merchants.read_bytes()).hexdigest()
    assert found[0].size_bytes == merchants.stat().st_size
    assert found[0].path == merchants


def test_discover_uses_the_mapping_file_name(tmp_path):
    write(tmp_path, "txn_2025.csv", "payer_id,payee_id,amount,ts\n")
    write(tmp_path, "payments.csv", "payer_id,payee_id,amount,ts\n")
    mapping = Mapping({"payments": KindMapping("payments", file="txn_2025.csv")})
    assert only(tmp_path, mapping).name == "txn_2025.csv"


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "input folder {p}/nope does not exist"),
    ("file", "{p}/a.csv is not a folder"),
    ("mapped", "{p} has no file 'txn.csv' (the mapping's file for payments)"),
    ("both", "{p} has 2 files for payments: payments.csv, payments.parquet"),
])
def test_discover_errors(tmp_path, setup, message):
    folder, mapping = tmp_path, NO_MAPPING
    if setup == "missing":
        folder = tmp_path / "nope"
    elif setup == "file":
        folder = write(tmp_path, "a.csv", "x\n")
    elif setup == "mapped":
        mapping = Mapping({"payments": KindMapping("payments", file="txn.csv")})
    else:
        write(tmp_path, "payments.csv", "payer_id\n")
        pq.write_table(pa.table({"payer_id": ["C1"]}), tmp_path / "payments.parquet")
    with pytest.raises(InputError) as err:
        discover(folder, mapping)
    assert err.value.message == message.format(p=tmp_path)
    assert err.value.fix


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_discover_unreadable_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0)
    try:
        with pytest.raises(InputError, match="cannot list folder"):
            discover(folder, NO_MAPPING)
    finally:
        folder.chmod(0o755)


# --- encodings ----------------------------------------------------------------------


@pytest.mark.parametrize("mapped", [None, "gbk", "gb18030"])
def test_gbk_file_reads_back_exactly(tmp_path, mapped):
    write(tmp_path, "merchants.csv", MERCHANTS_ZH, encoding="gbk")
    km = KindMapping("merchants", encoding=mapped)
    src = only(tmp_path, Mapping({"merchants": km}))
    assert src.encoding == (mapped or "gb18030")
    frame = read_all(src, km)
    assert frame["name"].tolist() == ["老王面馆", "华联便利店", "张记，烧烤"]
    assert frame["city"].tolist() == ["上海", "杭州", "北京"]


def test_gbk_multibyte_character_cut_by_the_sample_is_fine(tmp_path):
    rows = "".join(f"M{i:05d},{'面' * 50}\n" for i in range(12000)).encode("gbk")
    data = b"merchant_id,name \n" + rows  # the space puts the 1 MiB mark inside a '面'
    with pytest.raises(UnicodeDecodeError, match="incomplete multibyte sequence"):
        data[: 1 << 20].decode("gb18030")
    write(tmp_path, "merchants.csv", data)
    src = only(tmp_path)
    assert src.encoding == "gb18030"
    frame = read_all(src)
    assert len(frame) == 12000 and set(frame["name"]) == {"面" * 50}


def test_utf8_bom_is_detected_and_stripped(tmp_path):
    write(tmp_path, "merchants.csv", "\ufeff" + MERCHANTS_ZH)
    src = only(tmp_path)
    assert src.encoding == "utf-8-sig"
    assert read_all(src).columns.tolist() == ["merchant_id", "name", "city", "_line"]
    # A mapping that says plain utf-8 still finds merchant_id behind the BOM.
    assert read_all(src, KindMapping("merchants", encoding="utf-8"))["merchant_id"].tolist() == [
        "M1", "M2", "M3"]


def test_undecodable_file(tmp_path):
    write(tmp_path, "merchants.csv", b"merchant_id,name\nM1,\xff\xfe\xff\n")
    with pytest.raises(InputError) as err:
        discover(tmp_path, NO_MAPPING)
    assert err.value.one_line() == ("cannot decode merchants.csv as UTF-8 or GBK. "
                                    "set `encoding` for merchants in the mapping")


def test_decode_error_after_the_sample_is_a_reject_for_that_line(tmp_path):
    rows = "".join(f"M{i:07d},shop\n" for i in range(100_000))  # 1.4 MB of ASCII
    write(tmp_path, "merchants.csv",
          b"merchant_id,name\n" + rows.encode() + b"M9,\xff\nM10,after\n")
    src = only(tmp_path)
    assert src.encoding == "utf-8"
    frame = read_all(src)
    assert len(frame) == 100_002
    assert records(frame.tail(2)) == [
        {"merchant_id": None, "name": None, "_line": 100_002, "_raw": "M9,\ufffd",
         "_error": "line is not valid UTF-8 (the file is read as UTF-8); "
                   "re-save the file in one encoding"},
        {"merchant_id": "M10", "name": "after", "_line": 100_003, "_error": None, "_raw": None}]


# --- not CSV or Parquet -----------------------------------------------------------------


def test_excel_workbook_named_csv(tmp_path):
    with zipfile.ZipFile(tmp_path / "merchants.csv", "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(InputError, match="merchants.csv is an Excel workbook or zip archive, "
                                         "not a CSV file"):
        discover(tmp_path, NO_MAPPING)


def test_binary_garbage_named_csv(tmp_path):
    write(tmp_path, "payments.csv", bytes(range(256)) * 10)
    with pytest.raises(InputError, match="payments.csv is not a text CSV file"):
        discover(tmp_path, NO_MAPPING)


def test_parquet_named_csv(tmp_path):
    pq.write_table(pa.table({"merchant_id": ["M1"]}), tmp_path / "merchants.csv")
    with pytest.raises(InputError, match="merchants.csv is a Parquet file, not a CSV file"):
        discover(tmp_path, NO_MAPPING)


def test_corrupt_parquet(tmp_path):
    write(tmp_path, "merchants.parquet", "merchant_id\nM1\n")
    with pytest.raises(InputError, match="merchants.parquet is not a readable Parquet file"):
        discover(tmp_path, NO_MAPPING)


# --- columns ----------------------------------------------------------------------------


def test_read_chunks_gives_canonical_stripped_strings(tmp_path):
    write(tmp_path, "payments.csv",
          " Payer_ID ,PAYEE_ID,amount,ts,note,channel\n"
          " C1 , M1 ,007, 2024-01-05T10:00:00 ,hello, \n"
          "C2,M2,1.50,2024-01-06,,qr\n")
    frame = read_all(only(tmp_path))
    assert frame.columns.tolist() == ["payer_id", "payee_id", "amount", "ts", "channel", "_line"]
    assert records(frame) == [
        {"payer_id": "C1", "payee_id": "M1", "amount": "007", "ts": "2024-01-05T10:00:00",
         "channel": None, "_line": 2},
        {"payer_id": "C2", "payee_id": "M2", "amount": "1.50", "ts": "2024-01-06",
         "channel": "qr", "_line": 3}]
    assert all(pd.api.types.is_string_dtype(frame[c]) for c in frame.columns[:-1])
    assert frame["_line"].dtype == np.int64


def test_mapping_renames_columns(tmp_path):
    write(tmp_path, "txn.csv", "From_Account,to_account,amt,time,payer_id_old\n"
                               "C1,M1,5,2024-01-01,x\n")
    mapping = load_mapping(write(tmp_path / "cfg", "mapping.toml", """
[payments]
file = "txn.csv"
[payments.columns]
from_account = "payer_id"
to_account = "payee_id"
amt = "amount"
time = "ts"
"""))
    src = only(tmp_path, mapping)
    frame = read_all(src, mapping.for_kind("payments"))
    assert records(frame) == [{"payer_id": "C1", "payee_id": "M1", "amount": "5",
                               "ts": "2024-01-01", "_line": 2}]


def test_mapping_can_swap_two_canonical_names(tmp_path):
    write(tmp_path, "payments.csv", "payee_id,payer_id,amount,ts\nM1,C1,5,2024-01-01\n")
    km = KindMapping("payments", columns={"payee_id": "payer_id", "payer_id": "payee_id"})
    frame = read_all(only(tmp_path), km)
    assert frame[["payer_id", "payee_id"]].values.tolist() == [["M1", "C1"]]


def test_missing_required_column(tmp_path):
    write(tmp_path, "payments.csv", "payer_id,amount,ts\nC1,5,2024-01-01\n")
    chunks = read_chunks(only(tmp_path), KindMapping("payments"))
    with pytest.raises(InputError) as err:
        next(chunks)
    assert err.value.one_line() == (
        "payments.csv lacks required column(s) payee_id (found: payer_id, amount, ts). "
        "rename them in a mapping file (--mapping)")


def test_missing_required_column_mentions_an_unused_rename(tmp_path):
    write(tmp_path, "payments.csv", "payer_id,to,amount,ts\n")
    km = KindMapping("payments", columns={"to_account": "payee_id"})
    with pytest.raises(InputError, match="the mapping's to_account is not in the file either"):
        read_all(only(tmp_path), km)


def test_two_columns_for_one_canonical_name(tmp_path):
    write(tmp_path, "payments.csv", "payer_id,payee_id,amount,amt,ts\n")
    km = KindMapping("payments", columns={"amt": "amount"})
    with pytest.raises(InputError,
                       match="payments.csv has two columns for amount: 'amount' and 'amt'"):
        read_all(only(tmp_path), km)


def test_empty_and_header_only_files(tmp_path):
    write(tmp_path / "a", "merchants.csv", "merchant_id,name\n")
    assert list(read_chunks(only(tmp_path / "a"), KindMapping("merchants"))) == []
    write(tmp_path / "b", "merchants.csv", "")
    with pytest.raises(InputError, match="merchants.csv is empty"):
        read_all(only(tmp_path / "b"))


# --- chunks and line numbers ---------------------------------------------------------------


def test_chunks_of_three_over_ten_rows(tmp_path):
    write(tmp_path, "merchants.csv", "merchant_id\n" + "".join(f"M{i}\n" for i in range(10)))
    chunks = list(read_chunks(only(tmp_path), KindMapping("merchants"), chunk_rows=3))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [c["_line"].tolist() for c in chunks] == [[2, 3, 4], [5, 6, 7], [8, 9, 10], [11]]
    assert [c["merchant_id"].tolist() for c in chunks][3] == ["M9"]
    assert all(c.index.tolist() == list(range(len(c))) for c in chunks)


def test_line_numbers_count_blank_lines_quoted_newlines_and_crlf(tmp_path):
    write(tmp_path, "merchants.csv",
          "merchant_id,address\r\n"
          "M1,\"1 Road\r\nFloor 2\"\r\n"  # lines 2-3
          "\r\n"                           # line 4: blank, skipped
          ",\r\n"                          # line 5: every field empty, skipped
          "M2,\"a \"\"quoted\"\", b\"\r\n"  # line 6
          "M3,x")                          # line 7, no final newline
    frame = read_all(only(tmp_path), chunk_rows=2)
    assert frame["_line"].tolist() == [2, 6, 7]
    assert frame["address"].tolist() == ["1 Road\r\nFloor 2", 'a "quoted", b', "x"]


def test_row_with_wrong_field_count_is_flagged_with_its_line(tmp_path):
    write(tmp_path, "merchants.csv",
          "merchant_id,name\nM1,a\nM2,\"x\ny\"\nM3\nM4,b,extra\n   \nM5,c\n")
    frame = read_all(only(tmp_path))
    assert records(frame) == [
        {"merchant_id": "M1", "name": "a", "_line": 2, "_error": None, "_raw": None},
        {"merchant_id": "M2", "name": "x\ny", "_line": 3, "_error": None, "_raw": None},
        {"merchant_id": None, "name": None, "_line": 5, "_error": "expected 2 fields, found 1",
         "_raw": "M3"},
        {"merchant_id": None, "name": None, "_line": 6, "_error": "expected 2 fields, found 3",
         "_raw": "M4,b,extra"},
        {"merchant_id": "M5", "name": "c", "_line": 8, "_error": None, "_raw": None}]


def test_malformed_row_after_many_good_rows(tmp_path):
    # Far enough in that pyarrow has streamed several blocks before it stumbles.
    good = "".join(f"C{i},M{i % 7},{i + 1},2024-01-01\n" for i in range(300_000))
    write(tmp_path, "payments.csv",
          "payer_id,payee_id,amount,ts\n" + good + "bad,row\nC,M,1,2024\n")
    chunks = list(read_chunks(only(tmp_path), KindMapping("payments")))
    lines = np.concatenate([c["_line"].to_numpy() for c in chunks])
    assert lines.tolist() == list(range(2, 300_004))
    last = chunks[-1]
    assert last["_error"].dropna().tolist() == ["expected 4 fields, found 2"]
    assert last.loc[last["_error"].notna(), "_line"].tolist() == [300_002]
    assert all("_error" not in c for c in chunks[:-1])


LONG = "x" * 131_073  # one character over MAX_FIELD_CHARS
TOO_LONG = "field longer than 131072 characters"


@pytest.mark.parametrize("before", ["", "M0,a,b\n"], ids=["pyarrow", "after-malformed-row"])
def test_a_field_over_128_kib_rejects_only_its_row(tmp_path, before):
    write(tmp_path, "merchants.csv",
          f"merchant_id,name\n{before}M1,a\nM2,{LONG}\nM3,\"{'y' * 131_072}\"\nM4,b\n")
    frame = read_all(only(tmp_path))
    first = 2 + bool(before)
    assert frame["_line"].tolist()[-4:] == [first, first + 1, first + 2, first + 3]
    assert frame["merchant_id"].fillna("-").tolist()[-4:] == ["M1", "-", "M3", "M4"]
    bad = frame[frame["_error"] == TOO_LONG]
    assert bad["_line"].tolist() == [first + 1]
    assert bad["_raw"].tolist() == ["M2," + "x" * 197]
    assert len(frame["name"].iloc[-2]) == 131_072  # the limit itself is fine


def test_a_field_longer_than_a_pyarrow_block_is_a_reject_too(tmp_path):
    huge = "z" * (5 << 20)
    write(tmp_path, "merchants.csv", f"merchant_id,name\nM1,a\nM2,{huge}\nM3,b\n")
    frame = read_all(only(tmp_path))
    assert records(frame) == [
        {"merchant_id": "M1", "name": "a", "_line": 2, "_error": None, "_raw": None},
        {"merchant_id": None, "name": None, "_line": 3, "_error": TOO_LONG,
         "_raw": "M2," + "z" * 197},
        {"merchant_id": "M3", "name": "b", "_line": 4, "_error": None, "_raw": None}]


def test_a_long_quoted_field_spanning_lines_says_so_and_later_lines_stay_exact(tmp_path):
    long_lines = "\n".join(["w" * 1000] * 200)  # 200 lines, 200,199 characters
    write(tmp_path, "merchants.csv",
          f'merchant_id,address\nM1,a\nM2,"{long_lines}"\nM3,b\n')
    frame = read_all(only(tmp_path))
    # Every line the long field swallowed is a reject of its own (they count as rows).
    assert frame["_line"].tolist() == [2, *range(3, 203), 203]
    assert set(frame["_error"].tolist()[1:-1]) == {
        f"{TOO_LONG} (the row runs from line 3 to 202: is a quote not closed?)"}
    assert frame["merchant_id"].fillna("-").tolist() == ["M1", *["-"] * 200, "M3"]


@pytest.mark.parametrize("rows", [30, 80_000])  # pyarrow's path, and past its first block
def test_a_quote_never_closed_rejects_every_line_it_swallows(tmp_path, rows):
    body = "".join(f"Q{i:05d},M1,{i + 1},2025-01-01\n" for i in range(rows))
    write(tmp_path, "payments.csv",
          f'payer_id,payee_id,amount,ts,note\nC0,M1,5,2025-01-01,"never closed\n{body}')
    frame = read_all(only(tmp_path))
    assert frame["_line"].tolist() == list(range(2, rows + 3))
    assert frame["_error"].notna().all()
    assert frame["_error"].iat[0] == (
        f"a quote opened in the row on line 2 is never closed: lines 2 to {rows + 2} (the "
        "end of the file) are read as one field; close the quote")


def test_a_quoted_line_break_that_is_closed_is_one_row(tmp_path):
    write(tmp_path, "merchants.csv",
          'merchant_id,address\nM1,"杭州\n西湖路1号"\nM2,"a ""quoted"" word"\nM3,b\n')
    frame = read_all(only(tmp_path))
    assert "_error" not in frame
    assert frame["_line"].tolist() == [2, 4, 5]
    assert frame["address"].tolist() == ["杭州\n西湖路1号", 'a "quoted" word', "b"]


def test_a_stray_quote_inside_a_field_is_not_an_open_quote(tmp_path):
    write(tmp_path, "merchants.csv", 'merchant_id,name\nM1,12" pizza\nM2,b\n')
    frame = read_all(only(tmp_path))
    assert "_error" not in frame and frame["name"].tolist() == ['12" pizza', "b"]


def test_unknown_columns_csv(tmp_path):
    write(tmp_path, "payments.csv",
          "\ufeffFrom ,payee_ID,amount,ts, Note ,payer_id_old,,Channel,\nC1,M1,5,2024-01-01,,,,,\n")
    km = KindMapping("payments", columns={"from": "payer_id"})
    src = only(tmp_path)
    assert unknown_columns(src, km) == ["Note", "payer_id_old"]
    assert unknown_columns(src, KindMapping("payments")) == ["From", "Note", "payer_id_old"]
    # read_chunks drops exactly those
    assert read_all(src, km).columns.tolist() == [
        "payer_id", "payee_id", "amount", "ts", "channel", "_line"]


def test_unknown_columns_swapped_names_and_parquet(tmp_path):
    pq.write_table(pa.table({"payee_id": ["M1"], "payer_id": ["C1"], "amount": [1.0],
                             "ts": ["2024-01-01"], "memo": ["x"]}), tmp_path / "payments.parquet")
    km = KindMapping("payments", columns={"payee_id": "payer_id", "payer_id": "payee_id"})
    assert unknown_columns(only(tmp_path), km) == ["memo"]


def test_unknown_columns_of_an_empty_csv_is_the_usual_error(tmp_path):
    write(tmp_path, "merchants.csv", "")
    with pytest.raises(InputError, match="merchants.csv is empty"):
        unknown_columns(only(tmp_path), KindMapping("merchants"))


def test_gzip_csv_reads_like_plain_csv(tmp_path):
    text = "merchant_id,name\nM1,a\nM2,b\n"
    write(tmp_path / "plain", "merchants.csv", text)
    (tmp_path / "gz").mkdir()
    with gzip.open(tmp_path / "gz" / "merchants.csv.gz", "wt") as f:
        f.write(text)
    plain, gz = read_all(only(tmp_path / "plain")), read_all(only(tmp_path / "gz"))
    pd.testing.assert_frame_equal(plain, gz)
    assert count_rows(only(tmp_path / "gz"), KindMapping("merchants")) == 2


# --- Parquet ----------------------------------------------------------------------------


def test_parquet_values_become_strings_numbered_like_csv_lines(tmp_path):
    table = pa.table({
        "payer_id": ["C1", " C2 ", None],
        "payee_id": pa.array(["M1", "M2", "M3"]).dictionary_encode(),
        "amount": [5.0, 1.25, 3.0],
        "ts": pa.array([pd.Timestamp("2024-01-05 10:00"), pd.Timestamp("2024-01-06"), None],
                       pa.timestamp("us")),
        "payment_id": pa.array([1, 2, 3], pa.int64()),
        "ignored": [True, False, True],
    })
    pq.write_table(table, tmp_path / "payments.parquet")
    src = only(tmp_path)
    chunks = list(read_chunks(src, KindMapping("payments"), chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 1]
    frame = pd.concat(chunks, ignore_index=True)
    assert records(frame) == [
        {"payer_id": "C1", "payee_id": "M1", "amount": "5", "ts": "2024-01-05 10:00:00.000000",
         "payment_id": "1", "_line": 2},
        {"payer_id": "C2", "payee_id": "M2", "amount": "1.25", "ts": "2024-01-06 00:00:00.000000",
         "payment_id": "2", "_line": 3},
        {"payer_id": None, "payee_id": "M3", "amount": "3", "ts": None, "payment_id": "3",
         "_line": 4}]
    assert count_rows(src, KindMapping("payments")) == 3


def test_parquet_missing_required_column(tmp_path):
    pq.write_table(pa.table({"payer_id": ["C1"], "payee": ["M1"], "amount": [1.0],
                             "ts": ["2024-01-01"]}), tmp_path / "payments.parquet")
    with pytest.raises(InputError, match=r"payments.parquet lacks required column\(s\) payee_id "
                                         r"\(found: payer_id, payee, amount, ts\)"):
        read_all(only(tmp_path))


def test_parquet_nested_column_is_refused(tmp_path):
    pq.write_table(pa.table({"merchant_id": [["M1"]]}), tmp_path / "merchants.parquet")
    with pytest.raises(InputError, match="column 'merchant_id' of merchants.parquet has type"):
        read_all(only(tmp_path))


def test_count_rows_csv(tmp_path):
    write(tmp_path, "merchants.csv", "merchant_id\nM1\nM2\nM3")
    assert count_rows(only(tmp_path), KindMapping("merchants")) == 3


def test_old_mac_line_endings_and_a_header_spanning_two_lines(tmp_path):
    write(tmp_path / "cr", "merchants.csv", "merchant_id,name\rM1,a\rM2,b\r")
    assert read_all(only(tmp_path / "cr"))["_line"].tolist() == [2, 3]
    write(tmp_path / "nl", "merchants.csv", '"merchant\n_id",name\nM1,a\nM2,b\n')
    km = KindMapping("merchants", columns={"merchant\n_id": "merchant_id"})
    frame = read_all(only(tmp_path / "nl"), km)
    assert frame[["merchant_id", "_line"]].values.tolist() == [["M1", 3], ["M2", 4]]
