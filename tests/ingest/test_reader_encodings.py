"""Encodings: one per file, detected from the sample's lines; lines that do not fit it are
rejects with their line number, never mis-decoded and never the end of the file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from guanxi.errors import InputError
from guanxi.ingest.csv_stream import detect_encoding
from guanxi.ingest.mapping import KindMapping, Mapping
from guanxi.ingest.reader import SourceFile, discover, read_chunks
from guanxi.ingest.validate import Validator

NAMES = ["微信支付", "老王面馆", "华联超市", "张记烧烤", "上海超市"]
NOT_UTF8 = "line is not valid UTF-8 (the file is read as UTF-8); re-save the file in one encoding"
IS_UTF8 = "line is UTF-8 (the file is read as GB18030); re-save the file in one encoding"
# 支付宝 in GBK read as UTF-8: D6 A7 happens to be UTF-8 (U+05A7), the rest is not.
ALIPAY_AS_UTF8 = "M9," + "支付宝".encode("gbk").decode("utf-8", "replace")


def write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def only(folder: Path, km: KindMapping | None = None) -> SourceFile:
    (src,) = discover(folder, Mapping({km.kind: km}) if km else Mapping({}))
    return src


def read_all(src: SourceFile, km: KindMapping | None = None) -> pd.DataFrame:
    return pd.concat(read_chunks(src, km or KindMapping(src.kind)), ignore_index=True)


def flagged(frame: pd.DataFrame) -> list[tuple[int, str, str]]:
    """(line, _error, _raw) of the rows the reader flagged."""
    if "_error" not in frame:
        return []
    bad = frame[frame["_error"].notna()]
    return list(zip(bad["_line"].tolist(), bad["_error"].tolist(), bad["_raw"].tolist(),
                    strict=True))


def merchants(lines: list[bytes]) -> bytes:
    return b"merchant_id,name\n" + b"".join(lines)


def sample_of(data: bytes, tmp_path: Path) -> str:
    src = SourceFile("merchants", write(tmp_path, "merchants.csv", data), "csv", None, "", 0)
    return detect_encoding(src, data, True)


# --- one file, one encoding ----------------------------------------------------------


def test_utf8_file_with_one_gbk_line_keeps_utf8_and_rejects_that_line(tmp_path):
    utf8 = [f"M{i},{name}\n".encode() for i, name in enumerate(NAMES)]
    write(tmp_path, "merchants.csv", merchants([*utf8[:3], "M9,支付宝\n".encode("gbk"), *utf8[3:]]))
    src = only(tmp_path)
    assert src.encoding == "utf-8"
    frame = read_all(src)
    good = frame[frame["_error"].isna()]
    assert good["name"].tolist() == NAMES  # not 寰俊鏀粯
    assert good["_line"].tolist() == [2, 3, 4, 6, 7]
    assert flagged(frame) == [(5, NOT_UTF8, ALIPAY_AS_UTF8)]
    rejects = Validator("merchants", KindMapping("merchants")).validate(frame).rejects
    assert rejects.values.tolist() == [[5, "", ALIPAY_AS_UTF8, NOT_UTF8]]


def test_gbk_file_with_one_utf8_line_keeps_gbk_and_rejects_that_line(tmp_path):
    gbk = [f"M{i},{name}\n".encode("gbk") for i, name in enumerate(NAMES)]
    write(tmp_path, "merchants.csv", merchants([*gbk, "M9,微信支付\n".encode()]))
    src = only(tmp_path)
    assert src.encoding == "gb18030"
    frame = read_all(src)
    assert frame.loc[frame["_error"].isna(), "name"].tolist() == NAMES
    assert flagged(frame) == [(7, IS_UTF8, "M9,微信支付")]


def test_lines_that_do_not_fit_far_beyond_the_sample_are_rejects_with_exact_lines(tmp_path):
    body = [f"M{i:07d},{NAMES[i % 5]}\n".encode() for i in range(100_000)]  # 2 MB of UTF-8
    tail = ["M9,支付宝\n".encode("gbk"), b"M10,\xff\n", "M11,\"多行\n地址\"\n".encode(), b"M12,x"]
    write(tmp_path, "merchants.csv", merchants(body + tail))
    src = only(tmp_path)
    assert src.encoding == "utf-8"
    frame = read_all(src)
    assert flagged(frame) == [(100_002, NOT_UTF8, ALIPAY_AS_UTF8),
                              (100_003, NOT_UTF8, "M10,\ufffd")]
    good = frame[frame["_error"].isna()]
    assert good["_line"].tolist()[-3:] == [100_001, 100_004, 100_006]
    assert good["name"].tolist()[-2:] == ["多行\n地址", "x"]


def test_utf8_lines_appended_to_a_gbk_file_are_rejects(tmp_path):
    body = [f"M{i:07d},{NAMES[i % 5]}\n".encode("gbk") for i in range(100_000)]
    tail = [f"M{i},{name}\n".encode() for i, name in enumerate(NAMES)] + [b"M99,ok\r\n"]
    write(tmp_path, "merchants.csv", merchants(body + tail))
    src = only(tmp_path)
    assert src.encoding == "gb18030"
    frame = read_all(src)
    assert flagged(frame) == [(100_002 + i, IS_UTF8, f"M{i},{name}")
                              for i, name in enumerate(NAMES)]
    good = frame[frame["_error"].isna()]
    assert len(good) == 100_001 and set(good["name"].iloc[:-1]) == set(NAMES)
    assert good["_line"].iloc[-1] == 100_007


def test_bad_bytes_on_a_later_line_of_a_quoted_field_name_that_line(tmp_path):
    utf8 = [f"M{i},{name}\n".encode() for i, name in enumerate(NAMES)]
    write(tmp_path, "merchants.csv",
          merchants([*utf8, b'M8,"line 1\nline \xff2\nline 3"\n', b"M9,ok\n"]))
    frame = read_all(only(tmp_path))
    assert flagged(frame) == [(7, NOT_UTF8.replace("line", "line 8", 1),
                               "M8,line 1\nline \ufffd2\nline 3")]
    assert frame["_line"].tolist()[-1] == 10


def test_mapped_gbk_rejects_lines_that_are_not_gbk(tmp_path):
    lines = [f"M{i},{name}\n".encode("gbk") for i, name in enumerate(NAMES)]
    write(tmp_path, "merchants.csv", merchants([*lines[:2], b"M9,\xff\xfe\n", *lines[2:]]))
    km = KindMapping("merchants", encoding="gbk")
    frame = read_all(only(tmp_path, km), km)
    assert flagged(frame) == [
        (4, "line is not valid GBK (the file is read as GBK); re-save the file in one encoding",
         "M9,\ufffd\ufffd")]
    assert frame.loc[frame["_error"].isna(), "name"].tolist() == NAMES


def test_a_marked_row_with_the_wrong_field_count_says_why_it_is_unreadable(tmp_path):
    utf8 = [f"M{i},{name}\n".encode() for i, name in enumerate(NAMES)]
    write(tmp_path, "merchants.csv", merchants([*utf8, b"M8,\xff,extra\n", b"M9,b,c\n"]))
    assert flagged(read_all(only(tmp_path))) == [(7, NOT_UTF8, "M8,\ufffd,extra"),
                                                 (8, "expected 2 fields, found 3", "M9,b,c")]


# --- detection -----------------------------------------------------------------------


def test_gbk_lines_that_happen_to_be_utf8_do_not_make_a_file_utf8(tmp_path):
    # 楼 is C2 A5 in GBK: also valid UTF-8 (¥). Six of twenty lines are such accidents.
    accidents = [f"M{i},楼\n".encode("gbk") for i in range(6)]
    plain = [f"M{i},{NAMES[i % 5]}\n".encode("gbk") for i in range(6, 20)]
    assert accidents[0].decode("utf-8") == "M0,¥\n"
    data = merchants(accidents + plain)
    assert sample_of(data, tmp_path) == "gb18030"
    write(tmp_path / "f", "merchants.csv", data)
    assert read_all(only(tmp_path / "f"))["name"].tolist()[:6] == ["楼"] * 6  # not rejected


@pytest.mark.parametrize(("utf8", "gbk", "expected"), [
    (5, 0, "utf-8"), (5, 1, "utf-8"), (1, 2, "utf-8"), (1, 3, "gb18030"), (0, 5, "gb18030"),
])
def test_detection_counts_non_ascii_lines(tmp_path, utf8, gbk, expected):
    lines = [b"M0,ascii only\n"] * 10
    lines += [f"M{i},{NAMES[i % 5]}\n".encode() for i in range(utf8)]
    lines += [f"M{i},{NAMES[i % 5]}\n".encode("gbk") for i in range(gbk)]
    assert sample_of(merchants(lines), tmp_path) == expected


def test_mostly_undecodable_sample_is_refused(tmp_path):
    data = merchants([b"M1,\xff\xfe\n", b"M2,\xff\n", "M3,老王\n".encode("gbk")])
    with pytest.raises(InputError, match="cannot decode merchants.csv as UTF-8 or GBK"):
        sample_of(data, tmp_path)


# --- encodings that cannot read the file ----------------------------------------------


PAYMENTS = b"payer_id,payee_id,amount,ts\nC1,M1,5,2024-01-01\n"


@pytest.mark.parametrize(("encoding", "message"), [
    ("utf-16", "cannot decode payments.csv as utf-16: UTF-16 stream does not start with BOM. "
               "set `encoding` for payments in the mapping to the file's encoding"),
    ("utf-16-le", "cannot decode payments.csv as utf-16-le: its header is not valid utf-16-le. "
                  "re-save the file in one encoding, or set `encoding` for payments"),
    ("cp500", "cannot decode payments.csv as cp500: its header reads as UTF-8. "
              "set `encoding` for payments in the mapping to utf-8, or remove it"),
])
def test_a_mapped_encoding_that_does_not_fit_is_one_line(tmp_path, encoding, message):
    write(tmp_path, "payments.csv", PAYMENTS)
    km = KindMapping("payments", encoding=encoding)
    with pytest.raises(InputError) as err:
        read_all(only(tmp_path, km), km)
    assert err.value.one_line().startswith(message)


def test_utf16_with_a_bom_reads(tmp_path):
    write(tmp_path, "payments.csv", PAYMENTS.decode().encode("utf-16"))
    km = KindMapping("payments", encoding="utf-16")
    frame = read_all(only(tmp_path, km), km)
    assert frame[["payer_id", "amount", "_line"]].values.tolist() == [["C1", "5", 2]]


def test_header_that_does_not_decode_is_one_line(tmp_path):
    write(tmp_path, "merchants.csv", "merchant_id,名称\nM1,a\n".encode("gbk"))
    km = KindMapping("merchants", encoding="utf-8")
    with pytest.raises(InputError, match="cannot decode merchants.csv as UTF-8: its header is "
                                         "not valid UTF-8"):
        read_all(only(tmp_path, km), km)


def test_validated_names_never_hold_markers(tmp_path):
    utf8 = [f"M{i},{name}\n".encode() for i, name in enumerate(NAMES)]
    write(tmp_path, "merchants.csv", merchants([*utf8, b"M8,\xc4\xe3\n", b"M9,ok\n"]))
    out = Validator("merchants", KindMapping("merchants"), datetime(2025, 1, 1, tzinfo=UTC))
    result = out.validate(read_all(only(tmp_path)))
    assert result.valid["name"].tolist() == [*NAMES, "ok"]
    assert result.rejects["line"].tolist() == [7]
    text = "".join(result.valid["name"]) + "".join(result.rejects["value"])
    assert "\ufdd0" not in text and "\ufdd1" not in text
    assert result.valid["_line"].dtype == np.int64


def test_utf16_with_a_byte_order_mark_is_detected(tmp_path):
    text = "merchant_id,name\nM1,老王面馆\nM2,华联\n"
    (tmp_path / "merchants.csv").write_bytes(text.encode("utf-16"))
    src = discover(tmp_path, Mapping({}))[0]
    assert src.encoding == "utf-16"
    frame = pd.concat(read_chunks(src, KindMapping("merchants")))
    assert frame["name"].tolist() == ["老王面馆", "华联"] and frame["_line"].tolist() == [2, 3]
