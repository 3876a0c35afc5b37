"""Validating chunks from ``reader.read_chunks``: typed rows to load, one reject per bad row.

Values are parsed in vectorised pandas (numbers, timestamps, dates, flags); the rules on
the parsed columns are a pandera ``DataFrameSchema`` validated lazily, whose failure cases
map back to rows through their index. A row that breaks several rules becomes a single
reject listing every failing column, value and reason.

Rules (``kinds.py`` names the columns):

- required columns are non-empty; ids are at most 200 characters;
- ``amount`` is a finite number > 0 and at most ``MAX_AMOUNT`` (10^12); ``weight_kg``,
  when given, a finite number >= 0 and at most ``MAX_WEIGHT_KG`` (10^9): larger values are
  typing errors, and sums and squares of them would overflow;
- ``ts`` is an ISO 8601 date or date-time (or ``ts_format`` / ``ts_unit`` of the mapping),
  naive values being wall-clock time in the mapping's timezone, not before
  ``EARLIEST_TS`` (1970-01-01 UTC) and not later than ``now``. ISO 8601 means exactly
  ``YYYY-MM-DD``, optionally followed by ``T`` or a space and ``HH:MM[:SS[.fraction]]``
  (up to 9 digits) and an optional ``Z``, ``+HH``, ``+HH:MM`` or ``+HHMM`` (or ``-``);
- dates (``registered_on``, ``observed_on``), when given, are ``YYYY-MM-DD`` (or an ISO
  8601 date-time as above, which keeps its date), not before ``EARLIEST_DATE``
  (1900-01-01) and not after today in the mapping's timezone;
- ``label`` is ``fraud`` or ``legit``; ``defaulted`` is 0/1, true/false or yes/no;
- a payment, supply or shipment does not go from an id to itself;
- a ``merchant_id`` appears once; later rows with it are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pandera.pandas as pandera
from pandera.errors import SchemaErrors

from guanxi.errors import InputError
from guanxi.ingest.kinds import kind as get_kind
from guanxi.ingest.mapping import KindMapping

__all__ = ["Validated", "Validator", "MAX_ID_LENGTH", "REJECT_COLUMNS", "EARLIEST_TS",
           "EARLIEST_DATE", "MAX_AMOUNT", "MAX_WEIGHT_KG"]

MAX_AMOUNT = 1e12
"""The largest ``amount`` accepted (a trillion yuan): anything larger is a typing error."""
MAX_WEIGHT_KG = 1e9
"""The largest ``weight_kg`` accepted (a million tonnes)."""

MAX_ID_LENGTH = 200
EARLIEST_TS = datetime(1970, 1, 1, tzinfo=UTC)
"""An earlier ``ts`` is rejected: ``ts is before 1970-01-01 UTC``."""
EARLIEST_DATE = date(1900, 1, 1)
"""An earlier date is rejected: ``registered_on is before 1900-01-01``."""
REJECT_COLUMNS = ("line", "column", "value", "reason")
_VALUE_CHARS = 200  # a reject keeps at most this much of a value
_DISTINCT = {"payments": ("payer_id", "payee_id"), "supply": ("supplier_id", "buyer_id"),
             "shipments": ("shipper_id", "receiver_id")}
_FLAGS = {"0": 0, "1": 1, "false": 0, "true": 1, "no": 0, "yes": 1}
_LABELS = ("fraud", "legit")
# An offset or Z after a time of day; a bare date's "-05" must not count as one.
_AWARE = r"[T ]\d.*(?:Z|[+-]\d\d(?::?\d\d)?)$"
# The ISO 8601 that is accepted, whole value: a date, optionally a time and an offset.
_ISO = r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d(?::?\d\d)?)?)?"
_MS_PER = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
_EARLIEST_MS = int(EARLIEST_TS.timestamp() * 1000)
_UNITS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


@dataclass
class Validated:
    """The outcome of one chunk.

    ``valid``: rows that passed, typed (see :class:`Validator`), with ``_line``, index
    reset. ``rejects``: one row per rejected source row, columns ``line`` (int64),
    ``column``, ``value``, ``reason`` (str; several failures joined by "," and "; ").
    """

    valid: pd.DataFrame
    rejects: pd.DataFrame


class Validator:
    """Checks the chunks of one file of ``kind`` and types the rows that pass.

    Keep one Validator per file: it remembers accepted merchant ids across chunks (a
    dict, about 100 bytes per merchant).

    Parameters
    ----------
    kind : str
        The file kind.
    km : KindMapping
        Supplies ``ts_format``, ``ts_unit`` and ``timezone``.
    now : datetime, optional
        Timezone-aware "now" for the future checks; default ``datetime.now(UTC)``.

    Notes
    -----
    ``valid`` always has every column of the kind, in ``kinds.py`` order, ``ts`` replaced
    by ``ts_ms`` (UTC epoch milliseconds, int64), ``ts_hour`` (local hour 0-23, int8) and
    ``ts_dow`` (0 = Monday, int8), ``ts_week`` (the local Monday of its week, in days
    since 1970-01-01, int32) -- nullable ``Int64``/``Int8``/``Int32`` for labels, whose ``ts``
    is optional -- then ``_line``. ``amount`` and ``weight_kg`` are float64 (``weight_kg``
    NaN when empty), ``defaulted`` int8, ``label`` lower case; ids, other text and dates
    (``YYYY-MM-DD``) are ``str`` with NaN for empty cells.

    Examples
    --------
    >>> v = Validator("payments", KindMapping("payments"))
    >>> chunk = pd.DataFrame({"payer_id": ["C1", "C2"], "payee_id": ["M1", "C2"],
    ...                       "amount": ["10.5", "3"], "ts": ["2024-05-01T12:00", "2024-05-01"],
    ...                       "_line": [2, 3]})
    >>> out = v.validate(chunk)
    >>> out.valid[["payer_id", "amount", "ts_ms", "ts_hour", "_line"]].values.tolist()
    [['C1', 10.5, 1714564800000, 12, 2]]
    >>> out.rejects.values.tolist()
    [[3, 'payee_id', 'C2', 'payer_id equals payee_id']]
    """

    def __init__(self, kind: str, km: KindMapping, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware, e.g. datetime.now(UTC)")
        self.kind = get_kind(kind)
        self.km = km
        self._zone = ZoneInfo(km.timezone)
        self._now_ms = int(now.timestamp() * 1000)
        self._now_year = now.year
        self._today = now.astimezone(self._zone).date().isoformat()
        self._schema = self._build_schema()
        self._seen: dict[str, int] = {}  # merchant_id -> line of its accepted row

    def validate(self, chunk: pd.DataFrame) -> Validated:
        """Split ``chunk`` (a frame from ``read_chunks``) into typed rows and rejects."""
        raw = chunk.reset_index(drop=True)
        fails = _Failures(raw, self.kind.columns)
        typed = self._parse(raw, fails)
        try:
            self._schema.validate(typed, lazy=True, inplace=True)
        except SchemaErrors as e:
            self._add_schema_failures(e.failure_cases, fails)
        if "_error" in raw:
            fails.malformed(raw["_error"], raw["_raw"])
        ok = ~fails.mask()
        if self.kind.name == "merchants":
            self._duplicates(typed, raw["_line"], ok, fails)
            ok = ~fails.mask()
        valid = typed.loc[ok].reset_index(drop=True)
        return Validated(self._finish(valid, raw["_line"][ok]), fails.rejects(raw["_line"]))

    # --- parsing ------------------------------------------------------------------

    def _parse(self, raw: pd.DataFrame, fails: _Failures) -> pd.DataFrame:
        k, typed = self.kind, {}
        for c in k.columns:
            s = raw[c] if c in raw else pd.Series(np.nan, index=raw.index, dtype="str")
            if c in k.amounts or c == "weight_kg":
                typed[c] = pd.to_numeric(s, errors="coerce").astype("float64")
                fails.parse(s, typed[c], c, "positive" if c in k.amounts else "non_negative")
            elif c in k.timestamps:
                when = self._timestamps(s)
                fails.parse(s, when, c, "timestamp", self._ts_shape())
                ms = when.dt.tz_localize(None).to_numpy("datetime64[ms]").view("i8")
                typed["ts_ms"] = pd.Series(ms, index=s.index, dtype="float64").where(when.notna())
                local = when.dt.tz_convert(self._zone)
                typed["ts_hour"], typed["ts_dow"] = local.dt.hour, local.dt.day_of_week
                # Integer days, not Timestamps: rows outside the window must not overflow.
                wall_ms = local.dt.tz_localize(None).to_numpy("datetime64[ms]").view("i8")
                week = np.floor_divide(wall_ms, 86_400_000) - local.dt.day_of_week
                typed["ts_week"] = pd.Series(week, index=s.index, dtype="float64"
                                             ).where(when.notna())
            elif c in k.dates:
                first10 = s.str.slice(0, 10)
                shaped = s.str.fullmatch(_ISO, na=False)
                real = pd.to_datetime(first10.where(shaped), format="%Y-%m-%d", errors="coerce")
                typed[c] = first10.where(real.notna())
                fails.parse(s, typed[c], c, "date")
            elif c == "label":
                typed[c] = s.str.lower()
            elif c == "defaulted":
                typed[c] = s.str.lower().map(_FLAGS).astype("float64")
                fails.parse(s, typed[c], c, "flag")
            else:
                typed[c] = s
        return pd.DataFrame(typed, index=raw.index)

    def _ts_shape(self) -> str:
        if self.km.ts_unit:
            return f"a number of {_UNITS[self.km.ts_unit]} since 1970-01-01 UTC"
        if self.km.ts_format:
            return f"a time in the format {self.km.ts_format!r}"
        return "an ISO 8601 date or date-time"

    def _timestamps(self, s: pd.Series) -> pd.Series:
        """``s`` as UTC datetimes (ms), NaT where missing or not parseable.

        Values sure to be out of range come as one millisecond before ``EARLIEST_TS`` or
        one second after now, which the rules then reject, rather than overflowing.
        """
        km = self.km
        if km.ts_unit:
            return self._epoch(s)
        if km.ts_format:
            try:
                if "%z" in km.ts_format or "%Z" in km.ts_format:
                    out = pd.to_datetime(s, format=km.ts_format, utc=True, errors="coerce")
                else:
                    out = self._localize(pd.to_datetime(s, format=km.ts_format,
                                                        errors="coerce"))
            except (ValueError, TypeError, OverflowError) as e:
                raise InputError(f"cannot read ts of {self.kind.name} with ts_format "
                                 f"{km.ts_format!r}: {e}",
                                 f"fix ts_format for {self.kind.name} in the mapping") from None
            return out.dt.as_unit("ms")
        shaped = s.str.fullmatch(_ISO, na=False)
        # Years compared as text (four digits): before 1969 is early whatever the offset.
        early = shaped & (s < str(EARLIEST_TS.year - 1)).fillna(False)
        late = shaped & (s >= str(self._now_year + 2)).fillna(False)
        s = s.where(shaped & ~early & ~late)
        # Naive and offset-carrying values parse apart: pandas refuses a mix in one call.
        aware = s.str.contains(_AWARE, regex=True, na=False)
        naive = pd.to_datetime(s.where(~aware), format="ISO8601", errors="coerce")
        out = self._localize(naive).dt.as_unit("ms")
        if aware.any():
            offset = pd.to_datetime(s[aware], format="ISO8601", utc=True, errors="coerce")
            out[aware] = offset.dt.as_unit("ms")
        return self._out_of_range(out.dt.as_unit("ms"), early, late)

    def _epoch(self, s: pd.Series) -> pd.Series:
        unit = self.km.ts_unit
        number = pd.to_numeric(s, errors="coerce")
        if number.dtype == object:
            number = number.astype("float64")
        ms = number.astype("float64") * _MS_PER[unit]
        finite = pd.Series(np.isfinite(ms), index=s.index)
        early, late = finite & (ms < _EARLIEST_MS), finite & (ms > self._now_ms)
        ok = finite & ~early & ~late
        # where(ok, 0) keeps integers whole: nanoseconds do not fit a float exactly
        out = pd.to_datetime(number.where(ok, 0), unit=unit, utc=True).dt.as_unit("ms")
        return self._out_of_range(out.where(ok), early, late)

    def _out_of_range(self, out: pd.Series, early: pd.Series, late: pd.Series) -> pd.Series:
        if early.any():
            out[early] = pd.Timestamp(_EARLIEST_MS - 1, unit="ms", tz="UTC")
        if late.any():
            out[late] = pd.Timestamp(self._now_ms + 1000, unit="ms", tz="UTC")
        return out

    def _localize(self, naive: pd.Series) -> pd.Series:
        # A wall-clock time that occurs twice (DST ends) is taken as its first occurrence;
        # one that never occurs (DST starts) moves forward by the gap.
        local = naive.dt.tz_localize(self._zone, ambiguous=np.ones(len(naive), bool),
                                     nonexistent="shift_forward")
        return local.dt.tz_convert("UTC")

    # --- rules --------------------------------------------------------------------

    def _build_schema(self) -> pandera.DataFrameSchema:
        k, columns = self.kind, {}
        for c in k.ids:
            longest = pandera.Check(lambda s: s.str.len() <= MAX_ID_LENGTH, name="max_length")
            columns[c] = pandera.Column(None, nullable=c not in k.required, checks=longest)
        for c in k.amounts:
            positive = pandera.Check(lambda s: np.isfinite(s) & (s > 0), name="positive")
            plausible = pandera.Check(lambda s: ~(s > MAX_AMOUNT), name="max_amount")
            columns[c] = pandera.Column(None, nullable=False, checks=[positive, plausible])
        if "weight_kg" in k.columns:
            non_negative = pandera.Check(lambda s: np.isfinite(s) & (s >= 0), name="non_negative")
            heavy = pandera.Check(lambda s: ~(s > MAX_WEIGHT_KG), name="max_weight")
            columns["weight_kg"] = pandera.Column(None, nullable=True, checks=[non_negative, heavy])
        if k.timestamps:
            past = pandera.Check(lambda s: s <= self._now_ms, name="not_future")
            since = pandera.Check(lambda s: s >= _EARLIEST_MS, name="not_before")
            columns["ts_ms"] = pandera.Column(None, nullable="ts" not in k.required,
                                              checks=[since, past])
        for c in k.dates:
            past = pandera.Check(lambda s: s <= self._today, name="not_future")
            since = pandera.Check(lambda s: s >= EARLIEST_DATE.isoformat(), name="not_before")
            columns[c] = pandera.Column(None, nullable=True, checks=[since, past])
        if "label" in k.columns:
            columns["label"] = pandera.Column(None, nullable=False, checks=pandera.Check(
                lambda s: s.isin(_LABELS), name="label"))
        if "defaulted" in k.columns:
            columns["defaulted"] = pandera.Column(None, nullable=False)
        checks = []
        if k.name in _DISTINCT:
            a, b = _DISTINCT[k.name]
            checks.append(pandera.Check(lambda d: d[a].isna() | d[b].isna() | (d[a] != d[b]),
                                        name="distinct"))
        return pandera.DataFrameSchema(columns, checks=checks)

    def _add_schema_failures(self, cases: pd.DataFrame, fails: _Failures) -> None:
        for (column, check), group in cases.groupby(["column", "check"], sort=False):
            rows = group["index"].to_numpy(np.int64)
            if check == "distinct":
                first, second = _DISTINCT[self.kind.name]
                fails.add(np.unique(rows), second, "distinct", first)
            elif check == "not_before":
                earliest = f"{EARLIEST_TS:%Y-%m-%d} UTC" if column == "ts_ms" \
                    else EARLIEST_DATE.isoformat()
                fails.add(rows, "ts" if column == "ts_ms" else column, check, earliest)
            else:
                fails.add(rows, "ts" if column == "ts_ms" else column,
                          "required" if check == "not_nullable" else check)

    def _duplicates(self, typed: pd.DataFrame, lines: pd.Series, ok: pd.Series,
                    fails: _Failures) -> None:
        """Reject a merchant_id already accepted, in this chunk or an earlier one."""
        ids, at = typed["merchant_id"][ok], lines[ok]
        first_here = ~ids.duplicated(keep="first")
        earlier = np.fromiter((self._seen.get(x, 0) for x in ids), np.int64, len(ids))
        first_line = pd.Series(at[first_here].to_numpy(), index=ids[first_here].to_numpy())
        seen_on = np.where(earlier > 0, earlier, ids.map(first_line).to_numpy(np.int64))
        dup = (earlier > 0) | ~first_here.to_numpy()
        fresh = ~dup
        self._seen.update(zip(ids[fresh], at[fresh].tolist(), strict=True))
        fails.add(ids.index[dup].to_numpy(), "merchant_id", "duplicate", seen_on[dup])

    def _finish(self, valid: pd.DataFrame, lines: pd.Series) -> pd.DataFrame:
        k, optional_ts = self.kind, "ts" in self.kind.optional
        casts = {c: "float64" for c in (*k.amounts, "weight_kg") if c in valid}
        if k.timestamps:
            casts.update(ts_ms="Int64" if optional_ts else "int64",
                         ts_hour="Int8" if optional_ts else "int8",
                         ts_dow="Int8" if optional_ts else "int8",
                         ts_week="Int32" if optional_ts else "int32")
        if "defaulted" in valid:
            casts["defaulted"] = "int8"
        valid = valid.astype(casts)
        valid["_line"] = lines.to_numpy(np.int64)
        return valid


class _Failures:
    """Failed (row, column, rule) triples of one chunk, turned into rejects at the end."""

    def __init__(self, raw: pd.DataFrame, columns: tuple[str, ...]) -> None:
        self._raw, self._order = raw, {c: i for i, c in enumerate(columns)}
        self._parts: list[pd.DataFrame] = []
        self._failed = np.zeros(len(raw), bool)

    def parse(self, raw: pd.Series, parsed: pd.Series, column: str, rule: str,
              extra: object = None) -> None:
        """Values present in ``raw`` whose parse gave nothing fail ``rule``."""
        bad = raw.notna().to_numpy() & parsed.isna().to_numpy()
        self.add(np.flatnonzero(bad), column, rule, extra)

    def add(self, rows: np.ndarray, column: str, rule: str, extra: object = None) -> None:
        """Rows ``rows`` fail ``rule`` on ``column``; ``extra`` (one, or one per row)
        completes the reason."""
        if not len(rows):
            return
        values = self._raw[column].to_numpy()[rows] if column in self._raw else [np.nan] * len(rows)
        values = ["" if pd.isna(v) else str(v)[:_VALUE_CHARS] for v in values]
        extras = extra if isinstance(extra, np.ndarray) else [extra] * len(rows)
        reasons = [_reason(column, rule, v, x) for v, x in zip(values, extras, strict=True)]
        self._parts.append(pd.DataFrame({
            "row": rows, "order": self._order.get(column, -1), "column": column,
            "value": values, "reason": reasons, "seq": len(self._parts)}))
        self._failed[rows] = True

    def malformed(self, errors: pd.Series, raws: pd.Series) -> None:
        """Rows the CSV reader could not split: their own reason replaces all others."""
        rows = np.flatnonzero(errors.notna().to_numpy())
        if not len(rows):
            return
        self._parts = [p[~p["row"].isin(rows)] for p in self._parts]
        self._parts.append(pd.DataFrame({
            "row": rows, "order": -1, "column": "", "value": raws.to_numpy()[rows],
            "reason": errors.to_numpy()[rows], "seq": len(self._parts)}))
        self._failed[rows] = True

    def mask(self) -> np.ndarray:
        return self._failed.copy()

    def rejects(self, lines: pd.Series) -> pd.DataFrame:
        empty = pd.DataFrame({"line": pd.Series([], dtype="int64"),
                              **{c: pd.Series([], dtype="str") for c in REJECT_COLUMNS[1:]}})
        if not self._parts:
            return empty
        f = pd.concat(self._parts, ignore_index=True)
        # A parse failure and a rule on the same cell: keep the first (the parse's) reason.
        f = f.sort_values(["row", "order", "seq"], kind="stable")
        f = f.drop_duplicates(["row", "column"])
        several = f["row"].duplicated(keep=False).to_numpy()
        one = f.loc[~several, ["row", "column", "value", "reason"]]
        joined = f[several].groupby("row", sort=False).agg(
            column=("column", ",".join), value=("value", ",".join), reason=("reason", "; ".join))
        out = pd.concat([one.set_index("row"), joined]).sort_index()
        out.insert(0, "line", lines.to_numpy(np.int64)[out.index.to_numpy()])
        return out.reset_index(drop=True).astype({c: "str" for c in REJECT_COLUMNS[1:]})


def _reason(column: str, rule: str, value: str, extra: object) -> str:
    got = f" (got {value!r})"
    match rule:
        case "required":
            return f"{column} is required"
        case "max_length":
            return f"{column} is longer than {MAX_ID_LENGTH} characters"
        case "positive":
            return f"{column} must be a positive number{got}"
        case "non_negative":
            return f"{column} must be a number >= 0{got}"
        case "max_amount":
            return f"{column} is above {MAX_AMOUNT:,.0f}{got}"
        case "max_weight":
            return f"{column} is above {MAX_WEIGHT_KG:,.0f}{got}"
        case "timestamp":
            return f"{column} must be {extra or 'an ISO 8601 date or date-time'}{got}"
        case "date":
            return f"{column} must be a date YYYY-MM-DD{got}"
        case "not_future":
            return f"{column} is in the future"
        case "not_before":
            return f"{column} is before {extra}"
        case "label":
            return f"{column} must be fraud or legit{got}"
        case "flag":
            return f"{column} must be 0 or 1 (or true/false, yes/no){got}"
        case "distinct":
            return f"{extra} equals {column}"
        case "duplicate":
            return f"duplicate {column}; first seen on line {extra}"
    raise AssertionError(f"no reason for rule {rule!r}")
