"""Validation: typed output per kind, every rejection with its line and reason, time zones."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guanxi.errors import InputError
from guanxi.ingest.kinds import KINDS
from guanxi.ingest.mapping import KindMapping, Mapping
from guanxi.ingest.reader import discover, read_chunks
from guanxi.ingest.validate import EARLIEST_DATE, EARLIEST_TS, REJECT_COLUMNS, Validator

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def chunk(rows: list[dict], lines: list[int] | None = None) -> pd.DataFrame:
    """A chunk as ``read_chunks`` yields it: str columns, NaN for empty, ``_line``."""
    frame = pd.DataFrame(rows).astype("str").where(pd.DataFrame(rows).notna())
    frame["_line"] = np.asarray(lines or range(2, len(rows) + 2), np.int64)
    return frame


def check(kind: str, rows: list[dict], lines: list[int] | None = None, now: datetime = NOW,
          **km: str):
    return Validator(kind, KindMapping(kind, **km), now).validate(chunk(rows, lines))


def rejects(result) -> list[tuple]:
    return [tuple(r) for r in result.rejects.itertuples(index=False)]


def ms(text: str) -> int:
    return int(pd.Timestamp(text).timestamp() * 1000)


# --- golden paths -----------------------------------------------------------------------


def test_merchants_golden():
    out = check("merchants", [
        {"merchant_id": "M1", "name": "老王面馆", "city": "上海", "registered_on": "2020-03-04"},
        {"merchant_id": "M2", "name": None, "city": "杭州",
         "registered_on": "2021-12-31T23:59:00+08:00"},
        {"merchant_id": "M3", "name": "华联便利店", "city": None, "registered_on": None}])
    assert out.rejects.empty
    assert out.valid.columns.tolist() == [*KINDS["merchants"].columns, "_line"]
    assert out.valid["registered_on"].tolist()[:2] == ["2020-03-04", "2021-12-31"]
    assert out.valid["name"].isna().tolist() == [False, True, False]
    assert out.valid["phone"].isna().all()  # absent optional columns come as missing
    assert out.valid["_line"].tolist() == [2, 3, 4]
    assert all(pd.api.types.is_string_dtype(out.valid[c]) for c in KINDS["merchants"].columns)


def test_payments_golden():
    out = check("payments", [
        {"payer_id": "C1", "payee_id": "M1", "amount": "10.5", "ts": "2024-05-01T12:00:00",
         "channel": "qr"},
        {"payer_id": "M2", "payee_id": "M1", "amount": "1e3", "ts": "2024-05-05"}])
    assert out.rejects.empty
    v = out.valid
    assert v.columns.tolist() == ["payer_id", "payee_id", "amount", "ts_ms", "ts_hour", "ts_dow",
                                  "ts_week", "channel", "payment_id", "_line"]
    assert v["amount"].tolist() == [10.5, 1000.0]
    assert v["ts_ms"].tolist() == [ms("2024-05-01T12:00:00Z"), ms("2024-05-05T00:00:00Z")]
    assert v["ts_hour"].tolist() == [12, 0] and v["ts_dow"].tolist() == [2, 6]
    monday = (pd.Timestamp("2024-04-29") - pd.Timestamp(0)).days  # both in that week
    assert v["ts_week"].tolist() == [monday, monday] and v["ts_week"].dtype == np.int32
    assert v.dtypes[["amount", "ts_ms", "ts_hour", "ts_dow", "_line"]].tolist() == [
        np.float64, np.int64, np.int8, np.int8, np.int64]
    assert v["channel"].tolist()[0] == "qr" and pd.isna(v["channel"].iat[1])


def test_supply_golden():
    out = check("supply", [{"supplier_id": "M1", "buyer_id": "M2", "amount": "2500",
                            "ts": "2024-02-02T08:00:00Z", "invoice_id": "INV-1"}])
    assert out.rejects.empty
    assert out.valid[["supplier_id", "buyer_id", "amount", "ts_ms", "invoice_id"]].values.tolist() \
        == [["M1", "M2", 2500.0, ms("2024-02-02T08:00:00Z"), "INV-1"]]


def test_shipments_golden():
    out = check("shipments", [
        {"shipper_id": "M1", "receiver_id": "M2", "ts": "2024-02-02", "weight_kg": "12.5"},
        {"shipper_id": "M1", "receiver_id": "M3", "ts": "2024-02-03", "weight_kg": None},
        {"shipper_id": "M1", "receiver_id": "M4", "ts": "2024-02-03", "weight_kg": "0"}])
    assert out.rejects.empty
    assert out.valid["weight_kg"].dtype == np.float64
    assert out.valid["weight_kg"].fillna(-1).tolist() == [12.5, -1, 0.0]


def test_labels_golden_with_optional_ts():
    out = check("labels", [
        {"merchant_id": "M1", "label": "FRAUD", "ts": "2024-06-01T09:00:00", "source": "case 7"},
        {"merchant_id": "M2", "label": "Legit", "ts": None, "source": None}])
    assert out.rejects.empty
    v = out.valid
    assert v["label"].tolist() == ["fraud", "legit"]
    assert v.dtypes[["ts_ms", "ts_hour", "ts_dow", "ts_week"]].tolist() == [
        "Int64", "Int8", "Int8", "Int32"]
    assert v["ts_ms"].iat[0] == ms("2024-06-01T09:00:00Z") and pd.isna(v["ts_ms"].iat[1])
    assert v["ts_hour"].iat[0] == 9 and pd.isna(v["ts_hour"].iat[1])


def test_defaults_golden():
    flags = ["1", "0", "TRUE", "false", "Yes", "no"]
    out = check("defaults", [{"merchant_id": f"M{i}", "defaulted": f, "observed_on": "2024-12-31"}
                             for i, f in enumerate(flags)])
    assert out.rejects.empty
    assert out.valid["defaulted"].dtype == np.int8
    assert out.valid["defaulted"].tolist() == [1, 0, 1, 0, 1, 0]
    assert out.valid["observed_on"].unique().tolist() == ["2024-12-31"]


# --- every rejection ----------------------------------------------------------------------

GOOD = {
    "merchants": {"merchant_id": "M1", "registered_on": "2020-01-01"},
    "payments": {"payer_id": "C1", "payee_id": "M1", "amount": "5", "ts": "2024-01-01"},
    "supply": {"supplier_id": "M1", "buyer_id": "M2", "amount": "5", "ts": "2024-01-01"},
    "shipments": {"shipper_id": "M1", "receiver_id": "M2", "ts": "2024-01-01", "weight_kg": "1"},
    "labels": {"merchant_id": "M1", "label": "fraud", "ts": "2024-01-01"},
    "defaults": {"merchant_id": "M1", "defaulted": "1", "observed_on": "2024-01-01"},
}
ISO = "an ISO 8601 date or date-time"


@pytest.mark.parametrize(("kind", "change", "column", "value", "reason"), [
    ("merchants", {"merchant_id": None}, "merchant_id", "", "merchant_id is required"),
    ("merchants", {"merchant_id": "M" * 201}, "merchant_id", "M" * 200,
     "merchant_id is longer than 200 characters"),
    ("merchants", {"registered_on": "2020/01/01"}, "registered_on", "2020/01/01",
     "registered_on must be a date YYYY-MM-DD (got '2020/01/01')"),
    ("merchants", {"registered_on": "2023-02-30"}, "registered_on", "2023-02-30",
     "registered_on must be a date YYYY-MM-DD (got '2023-02-30')"),
    ("merchants", {"registered_on": "2025-01-02"}, "registered_on", "2025-01-02",
     "registered_on is in the future"),
    ("payments", {"payee_id": None}, "payee_id", "", "payee_id is required"),
    ("payments", {"amount": "-5"}, "amount", "-5", "amount must be a positive number (got '-5')"),
    ("payments", {"amount": "0"}, "amount", "0", "amount must be a positive number (got '0')"),
    ("payments", {"amount": "abc"}, "amount", "abc",
     "amount must be a positive number (got 'abc')"),
    ("payments", {"amount": "inf"}, "amount", "inf",
     "amount must be a positive number (got 'inf')"),
    ("payments", {"amount": "1,000"}, "amount", "1,000",
     "amount must be a positive number (got '1,000')"),
    ("payments", {"amount": None}, "amount", "", "amount is required"),
    ("payments", {"ts": "yesterday"}, "ts", "yesterday", f"ts must be {ISO} (got 'yesterday')"),
    ("payments", {"ts": None}, "ts", "", "ts is required"),
    ("payments", {"ts": "2025-01-01T00:00:01Z"}, "ts", "2025-01-01T00:00:01Z",
     "ts is in the future"),
    ("payments", {"payer_id": "M1"}, "payee_id", "M1", "payer_id equals payee_id"),
    ("supply", {"amount": "-1"}, "amount", "-1", "amount must be a positive number (got '-1')"),
    ("supply", {"buyer_id": "M1"}, "buyer_id", "M1", "supplier_id equals buyer_id"),
    ("shipments", {"receiver_id": "M1"}, "receiver_id", "M1", "shipper_id equals receiver_id"),
    ("shipments", {"weight_kg": "-1"}, "weight_kg", "-1",
     "weight_kg must be a number >= 0 (got '-1')"),
    ("shipments", {"weight_kg": "heavy"}, "weight_kg", "heavy",
     "weight_kg must be a number >= 0 (got 'heavy')"),
    ("labels", {"label": "maybe"}, "label", "maybe", "label must be fraud or legit (got 'maybe')"),
    ("labels", {"label": None}, "label", "", "label is required"),
    ("labels", {"ts": "2024-13-01"}, "ts", "2024-13-01", f"ts must be {ISO} (got '2024-13-01')"),
    ("defaults", {"defaulted": "2"}, "defaulted", "2",
     "defaulted must be 0 or 1 (or true/false, yes/no) (got '2')"),
    ("defaults", {"defaulted": None}, "defaulted", "", "defaulted is required"),
    ("defaults", {"observed_on": "2099-01-01"}, "observed_on", "2099-01-01",
     "observed_on is in the future"),
    # ISO 8601 strictly, and a sane window
    ("payments", {"ts": "-2024-08-01"}, "ts", "-2024-08-01",
     f"ts must be {ISO} (got '-2024-08-01')"),
    ("payments", {"ts": "2024/08/01 10:00"}, "ts", "2024/08/01 10:00",
     f"ts must be {ISO} (got '2024/08/01 10:00')"),
    ("payments", {"ts": "2024-08-01Z"}, "ts", "2024-08-01Z",
     f"ts must be {ISO} (got '2024-08-01Z')"),
    ("payments", {"ts": "2024-08-01T10"}, "ts", "2024-08-01T10",
     f"ts must be {ISO} (got '2024-08-01T10')"),
    ("payments", {"ts": "20240801T100000"}, "ts", "20240801T100000",
     f"ts must be {ISO} (got '20240801T100000')"),
    ("payments", {"ts": "0000-01-01"}, "ts", "0000-01-01", "ts is before 1970-01-01 UTC"),
    ("payments", {"ts": "1600-01-01"}, "ts", "1600-01-01", "ts is before 1970-01-01 UTC"),
    ("payments", {"ts": "1969-12-31T23:59:59Z"}, "ts", "1969-12-31T23:59:59Z",
     "ts is before 1970-01-01 UTC"),
    ("payments", {"ts": "1970-01-01T07:59+08:00"}, "ts", "1970-01-01T07:59+08:00",
     "ts is before 1970-01-01 UTC"),
    ("payments", {"ts": "9999-12-31"}, "ts", "9999-12-31", "ts is in the future"),
    ("labels", {"ts": "1900-01-01"}, "ts", "1900-01-01", "ts is before 1970-01-01 UTC"),
    ("merchants", {"registered_on": "1899-12-31"}, "registered_on", "1899-12-31",
     "registered_on is before 1900-01-01"),
    ("merchants", {"registered_on": "0000-01-01"}, "registered_on", "0000-01-01",
     "registered_on is before 1900-01-01"),
    ("merchants", {"registered_on": "2020-01-01 junk"}, "registered_on", "2020-01-01 junk",
     "registered_on must be a date YYYY-MM-DD (got '2020-01-01 junk')"),
    ("defaults", {"observed_on": "-2024-08-01"}, "observed_on", "-2024-08-01",
     "observed_on must be a date YYYY-MM-DD (got '-2024-08-01')"),
])
def test_each_rejection(kind, change, column, value, reason):
    rows = [GOOD[kind], {**GOOD[kind], **change}, GOOD[kind]]
    if kind == "merchants":  # a repeated merchant_id would be a rejection of its own
        rows[0], rows[2] = {**GOOD[kind], "merchant_id": "M0"}, {**GOOD[kind], "merchant_id": "M2"}
    out = check(kind, rows, lines=[5, 7, 9])
    assert rejects(out) == [(7, column, value, reason)]
    assert out.valid["_line"].tolist() == [5, 9]
    assert out.rejects.dtypes.tolist() == [np.int64, "str", "str", "str"]
    assert out.rejects.columns.tolist() == list(REJECT_COLUMNS)


def test_several_failures_make_one_reject():
    out = check("payments", [
        {"payer_id": "C1", "payee_id": "C1", "amount": "-5", "ts": "bad"},
        {"payer_id": None, "payee_id": "M1", "amount": "x", "ts": "2024-01-01"}], lines=[3, 4])
    assert rejects(out) == [
        (3, "payee_id,amount,ts", "C1,-5,bad", "payer_id equals payee_id; "
         f"amount must be a positive number (got '-5'); ts must be {ISO} (got 'bad')"),
        (4, "payer_id,amount", ",x",
         "payer_id is required; amount must be a positive number (got 'x')")]
    assert out.valid.empty
    assert out.valid.columns.tolist()[-1] == "_line"


def test_duplicate_merchant_ids_within_and_across_chunks():
    v = Validator("merchants", KindMapping("merchants"), NOW)
    first = v.validate(chunk([{"merchant_id": "M1"}, {"merchant_id": "M2"},
                              {"merchant_id": "M1"}], [2, 3, 4]))
    second = v.validate(chunk([{"merchant_id": "M2"}, {"merchant_id": "M3"},
                               {"merchant_id": "M3"}], [5, 6, 7]))
    assert rejects(first) == [
        (4, "merchant_id", "M1", "duplicate merchant_id; first seen on line 2")]
    assert rejects(second) == [
        (5, "merchant_id", "M2", "duplicate merchant_id; first seen on line 3"),
        (7, "merchant_id", "M3", "duplicate merchant_id; first seen on line 6")]
    assert first.valid["merchant_id"].tolist() == ["M1", "M2"]
    assert second.valid["merchant_id"].tolist() == ["M3"]


def test_a_rejected_row_does_not_claim_its_merchant_id():
    out = check("merchants", [{"merchant_id": "M9", "registered_on": "bad"},
                              {"merchant_id": "M9", "registered_on": "2020-01-01"}], [7, 8])
    assert rejects(out) == [(7, "registered_on", "bad",
                             "registered_on must be a date YYYY-MM-DD (got 'bad')")]
    assert out.valid["_line"].tolist() == [8]


def test_rows_the_reader_could_not_split_are_rejected_as_such():
    frame = chunk([{"merchant_id": "M1", "name": "a"}, {"merchant_id": None, "name": None}], [2, 3])
    frame["_error"] = pd.Series([None, "expected 2 fields, found 3"], dtype="str")
    frame["_raw"] = pd.Series([None, "M2,b,c"], dtype="str")
    out = Validator("merchants", KindMapping("merchants"), NOW).validate(frame)
    assert rejects(out) == [(3, "", "M2,b,c", "expected 2 fields, found 3")]
    assert out.valid["merchant_id"].tolist() == ["M1"]
    assert "_error" not in out.valid


def test_empty_chunk():
    out = Validator("payments", KindMapping("payments"), NOW).validate(
        chunk([{"payer_id": "C1", "payee_id": "M1", "amount": "1", "ts": "2024-01-01"}]).iloc[:0])
    assert out.valid.empty and out.rejects.empty
    assert out.valid["ts_ms"].dtype == np.int64


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        Validator("payments", KindMapping("payments"), datetime(2025, 1, 1))


# --- time zones and formats ---------------------------------------------------------------


def test_naive_times_are_wall_clock_in_the_mapping_timezone():
    out = check("payments", [
        {"payer_id": "C1", "payee_id": "M1", "amount": "1", "ts": t}
        for t in ("2024-03-01T08:30:00", "2024-03-01 08:30", "2024-03-01T00:30:00Z",
                  "2024-03-01T08:30:00+08:00", "2024-03-01T03:30:00+0300", "2024-03-01")],
        timezone="Asia/Shanghai")
    assert out.rejects.empty
    assert out.valid["ts_ms"].tolist() == [ms("2024-03-01T00:30:00Z")] * 5 + [
        ms("2024-02-29T16:00:00Z")]
    assert out.valid["ts_hour"].tolist() == [8, 8, 8, 8, 8, 0]
    assert out.valid["ts_dow"].tolist() == [4] * 6  # 2024-03-01 was a Friday in Shanghai
    # Weeks are local too: Monday 2024-02-26, though the last is still Thursday in UTC.
    assert out.valid["ts_week"].tolist() == [(pd.Timestamp("2024-02-26") - pd.Timestamp(0)).days
                                             ] * 6


def test_a_local_monday_morning_opens_a_new_week_before_utc_does():
    out = check("payments", [{"payer_id": "C1", "payee_id": "M1", "amount": "1",
                               "ts": "2024-03-04T02:00:00"}], timezone="Asia/Shanghai")
    assert out.valid["ts_dow"].tolist() == [0]  # Sunday 18:00 in UTC
    assert out.valid["ts_week"].tolist() == [(pd.Timestamp("2024-03-04") - pd.Timestamp(0)).days]


def test_daylight_saving_edges_take_the_first_occurrence_or_move_forward():
    out = check("payments", [
        {"payer_id": "C1", "payee_id": "M1", "amount": "1", "ts": t}
        for t in ("2024-11-03T01:30:00", "2024-03-10T02:30:00")], timezone="America/New_York")
    assert out.valid["ts_ms"].tolist() == [ms("2024-11-03T05:30:00Z"), ms("2024-03-10T07:00:00Z")]


def test_ts_format_and_ts_unit():
    row = {"payer_id": "C1", "payee_id": "M1", "amount": "1"}
    fmt = check("payments", [{**row, "ts": "2024/03/01 08:30"}, {**row, "ts": "2024-03-01"}],
                ts_format="%Y/%m/%d %H:%M", timezone="Asia/Shanghai")
    assert fmt.valid["ts_ms"].tolist() == [ms("2024-03-01T00:30:00Z")]
    assert rejects(fmt) == [(3, "ts", "2024-03-01",
                             "ts must be a time in the format '%Y/%m/%d %H:%M' (got '2024-03-01')")]
    epoch = check("payments", [{**row, "ts": "1709253000"}, {**row, "ts": "soon"}],
                  ts_unit="s", timezone="Asia/Shanghai")
    assert epoch.valid["ts_ms"].tolist() == [1709253000000]
    assert epoch.valid["ts_hour"].tolist() == [8]  # 00:30 UTC is 08:30 in Shanghai
    assert rejects(epoch)[0][3] == \
        "ts must be a number of seconds since 1970-01-01 UTC (got 'soon')"


def test_window_edges_are_inclusive():
    row = {"payer_id": "C1", "payee_id": "M1", "amount": "1"}
    out = check("payments", [{**row, "ts": t} for t in (
        "1970-01-01T00:00:00Z", "1970-01-01T08:00+08:00", "2025-01-01T00:00:00Z")])
    assert out.rejects.empty
    assert out.valid["ts_ms"].tolist() == [0, 0, ms("2025-01-01T00:00:00Z")]
    assert (EARLIEST_TS.isoformat(), EARLIEST_DATE.isoformat()) == (
        "1970-01-01T00:00:00+00:00", "1900-01-01")
    dates = check("merchants", [{"merchant_id": "M1", "registered_on": "1900-01-01"}])
    assert dates.rejects.empty


@pytest.mark.parametrize(("unit", "value", "reason"), [
    ("s", "-1", "ts is before 1970-01-01 UTC"),
    ("ms", "-86400000", "ts is before 1970-01-01 UTC"),
    ("s", "1e30", "ts is in the future"),
    ("ns", "99999999999999999999", "ts is in the future"),
    ("ms", "1735689600001", "ts is in the future"),  # NOW + 1 ms
    ("s", "inf", "ts must be a number of seconds since 1970-01-01 UTC (got 'inf')"),
    ("us", "nan", "ts must be a number of microseconds since 1970-01-01 UTC (got 'nan')"),
])
def test_epoch_numbers_outside_the_window_are_rejects(unit, value, reason):
    row = {"payer_id": "C1", "payee_id": "M1", "amount": "1"}
    out = check("payments", [{**row, "ts": "0"}, {**row, "ts": value}], ts_unit=unit)
    assert rejects(out) == [(3, "ts", value, reason)]
    assert out.valid["ts_ms"].tolist() == [0]


def test_epoch_nanoseconds_keep_their_milliseconds():
    row = {"payer_id": "C1", "payee_id": "M1", "amount": "1"}
    out = check("payments", [{**row, "ts": "1709253000123999999"}, {**row, "ts": "-5"}],
                ts_unit="ns")
    assert out.valid["ts_ms"].tolist() == [1709253000123]


def test_ts_format_outside_the_window():
    row = {"payer_id": "C1", "payee_id": "M1", "amount": "1"}
    out = check("payments", [{**row, "ts": "1600/01/01 10:00"}, {**row, "ts": "9999/01/01 10:00"}],
                ts_format="%Y/%m/%d %H:%M")
    assert [r[3] for r in rejects(out)] == ["ts is before 1970-01-01 UTC", "ts is in the future"]


def test_a_ts_format_pandas_cannot_use_is_one_line_not_a_traceback():
    # load_mapping refuses it; a KindMapping made in code still must not traceback.
    row = {"payer_id": "C1", "payee_id": "M1", "amount": "1", "ts": "1 2024"}
    with pytest.raises(InputError) as err:
        check("payments", [row], ts_format="%Q %Y")
    assert err.value.one_line().startswith(
        "cannot read ts of payments with ts_format '%Q %Y': ")
    assert err.value.fix == "fix ts_format for payments in the mapping"


def test_future_is_relative_to_the_injected_now():
    now = datetime(2024, 6, 1, tzinfo=UTC)
    row = {"payer_id": "C1", "payee_id": "M1", "amount": "1"}
    times = ("2024-06-01T08:00:00", "2024-06-01T08:00:01", "2024-06-01T00:00:00.001Z")
    out = check("payments", [{**row, "ts": t} for t in times], now=now, timezone="Asia/Shanghai")
    assert out.valid["_line"].tolist() == [2]
    assert [r[0] for r in rejects(out)] == [3, 4]
    assert {r[3] for r in rejects(out)} == {"ts is in the future"}


def test_dates_are_in_the_future_after_today_in_the_mapping_timezone():
    now = datetime(2024, 5, 31, 20, 0, tzinfo=UTC)  # already 1 June in Shanghai
    rows = [{"merchant_id": "M1", "registered_on": "2024-06-01"}]
    assert check("merchants", rows, now=now, timezone="Asia/Shanghai").rejects.empty
    assert rejects(check("merchants", rows, now=now)) == [
        (2, "registered_on", "2024-06-01", "registered_on is in the future")]


# --- CSV and Parquet agree -----------------------------------------------------------------


def test_parquet_and_csv_give_the_same_validated_frames(tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "pq").mkdir()
    (tmp_path / "csv" / "payments.csv").write_text(
        "payer_id,payee_id,amount,ts,channel\n"
        "C1,M1,12.5,2024-01-05T10:00:00,qr\n"
        "C2,M2,-5,2024-01-06T23:59:59,\n"
        "M2,M1,0.25,2024-02-29T00:00:00,pos\n")
    pq.write_table(pa.table({
        "payer_id": ["C1", "C2", "M2"], "payee_id": ["M1", "M2", "M1"],
        "amount": [12.5, -5.0, 0.25],
        "ts": pa.array([pd.Timestamp("2024-01-05T10:00:00"), pd.Timestamp("2024-01-06T23:59:59"),
                        pd.Timestamp("2024-02-29")], pa.timestamp("ms")),
        "channel": ["qr", None, "pos"]}), tmp_path / "pq" / "payments.parquet")
    km = KindMapping("payments", timezone="Asia/Shanghai")
    results = []
    for folder in ("csv", "pq"):
        (src,) = discover(tmp_path / folder, Mapping({"payments": km}))
        validator = Validator("payments", km, NOW)
        results.append([validator.validate(c) for c in read_chunks(src, km, chunk_rows=2)])
    for from_csv, from_parquet in zip(*results, strict=True):
        pd.testing.assert_frame_equal(from_csv.valid, from_parquet.valid)
        pd.testing.assert_frame_equal(from_csv.rejects, from_parquet.rejects)
    assert [len(r.valid) for r in results[0]] == [1, 1]
    assert rejects(results[0][0]) == [(3, "amount", "-5",
                                       "amount must be a positive number (got '-5')")]


def test_amounts_and_weights_beyond_any_real_trade_are_rejected():
    out = check("payments", [
        {"payer_id": "C1", "payee_id": "M1", "amount": a, "ts": "2025-01-01"}
        for a in ("1e308", "1000000000000", "1000000000001")])
    assert [r[3] for r in rejects(out)] == ["amount is above 1,000,000,000,000 (got '1e308')",
                                            "amount is above 1,000,000,000,000 "
                                            "(got '1000000000001')"]
    assert out.valid["amount"].tolist() == [1e12]
    out = check("shipments", [{"shipper_id": "M1", "receiver_id": "M2", "ts": "2025-01-01",
                               "weight_kg": "2e9"}])
    assert [r[3] for r in rejects(out)] == ["weight_kg is above 1,000,000,000 (got '2e9')"]
