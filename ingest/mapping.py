"""Mapping files: how one folder's files differ from the column contract of ``kinds.py``.

A mapping is a TOML file with one table per kind. Every key is optional; a kind that is
not named reads with the defaults (``<kind>.csv`` or ``<kind>.parquet``, canonical
column names, encoding detected, ISO 8601 timestamps in UTC)::

    [payments]
    file = "txn_2025.csv"          # file name inside the folder
    encoding = "gbk"               # utf-8, utf-8-sig, gbk, gb18030, ...; default: detect
    ts_format = "%Y/%m/%d %H:%M"   # strptime format of `ts`; or ts_unit for epoch numbers
    timezone = "Asia/Shanghai"     # naive timestamps are wall-clock time here

    [payments.columns]             # source column = canonical column
    from_account = "payer_id"
    to_account = "payee_id"

Every problem in the file is an :class:`~guanxi.errors.InputError` that names the
offending key and what is allowed.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from guanxi.errors import InputError
from guanxi.ingest.kinds import KINDS, kind

__all__ = ["KindMapping", "Mapping", "load_mapping", "TS_UNITS"]

TS_UNITS: tuple[str, ...] = ("s", "ms", "us", "ns")
"""Units of epoch-number timestamps (``ts_unit``)."""

_KEYS = ("file", "columns", "encoding", "ts_format", "ts_unit", "timezone")


@dataclass(frozen=True)
class KindMapping:
    """How to read the file of one kind.

    Parameters
    ----------
    kind : str
        A name from ``kinds.LOAD_ORDER``.
    file : str, optional
        File name inside the input folder; ``None`` looks for ``<kind>.csv``,
        ``<kind>.csv.gz`` or ``<kind>.parquet``.
    columns : dict
        Source column name -> canonical column name, for files that use other names.
    encoding : str, optional
        Text encoding of a CSV (a Python text codec name); ``None`` detects UTF-8 or GBK.
    ts_format : str, optional
        ``strptime`` format of ``ts``, checked to read back a full date; ``None`` accepts
        ISO 8601 dates and date-times.
    ts_unit : str, optional
        ``"s"``, ``"ms"``, ``"us"`` or ``"ns"`` when ``ts`` holds epoch numbers.
    timezone : str
        IANA zone; naive timestamps are wall-clock time there, and local hours and
        "today" (for dates) are taken there.
    """

    kind: str
    file: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    ts_format: str | None = None
    ts_unit: str | None = None
    timezone: str = "UTC"

    def digest(self) -> str:
        """A stable SHA-256 hex digest of this mapping's content.

        Equal mappings give equal digests whatever the order of ``columns``, so the
        ingest ledger can tell "same file, same reading" from "same file, read anew".

        Examples
        --------
        >>> KindMapping("payments").digest() == KindMapping("payments", columns={}).digest()
        True
        """
        content = {
            "kind": self.kind,
            "file": self.file,
            "columns": dict(sorted(self.columns.items())),
            "encoding": self.encoding,
            "ts_format": self.ts_format,
            "ts_unit": self.ts_unit,
            "timezone": self.timezone,
        }
        text = json.dumps(content, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Mapping:
    """The parsed mapping file: a :class:`KindMapping` for each kind it names."""

    kinds: dict[str, KindMapping] = field(default_factory=dict)

    def for_kind(self, name: str) -> KindMapping:
        """The mapping of kind ``name``, or all defaults if the file does not name it.

        Raises ``ValueError`` for a name that is not a kind.
        """
        kind(name)
        return self.kinds.get(name) or KindMapping(kind=name)


def load_mapping(path: Path | None) -> Mapping:
    """Read and check a mapping file; ``None`` gives the empty mapping (all defaults).

    Raises
    ------
    InputError
        The file is missing, unreadable or not TOML; or it names an unknown kind or key,
        renames to a column the kind does not have, renames two columns to one, or gives
        an unknown encoding, ts_unit or timezone, an encoding that is not a text encoding
        (``rot13``, ``base64``), a ts_format that is invalid (``%Q``) or does not read
        back a full date, or both ts_format and ts_unit.

    Examples
    --------
    >>> load_mapping(None).for_kind("payments").timezone
    'UTC'
    """
    if path is None:
        return Mapping({})
    path = Path(path)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise InputError(f"mapping file {path} does not exist",
                         "check the --mapping path") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "it is not UTF-8 text"
        raise InputError(f"cannot read mapping file {path}: {reason}",
                         "check the --mapping path and the file's permissions") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"mapping file {path} is not valid TOML: {e}",
                         "fix the syntax at that line (see https://toml.io)") from None
    kinds = {}
    for name, table in data.items():
        if name not in KINDS:
            raise InputError(f"mapping file {path} names unknown kind [{name}]",
                             f"use one of: {', '.join(KINDS)}")
        if not isinstance(table, dict):
            raise InputError(f"mapping file {path}: {name} must be a table ([{name}])",
                             f"write [{name}] on its own line, then its keys")
        kinds[name] = _kind_mapping(path, name, table)
    return Mapping(kinds)


def _kind_mapping(path: Path, name: str, table: dict[str, Any]) -> KindMapping:
    where = f"mapping file {path}: [{name}]"
    for key in table:
        if key not in _KEYS:
            raise InputError(f"{where} has unknown key {key!r}", f"use one of: {', '.join(_KEYS)}")
    for key in ("file", "encoding", "ts_format", "ts_unit", "timezone"):
        if key in table and not (isinstance(table[key], str) and table[key].strip()):
            raise InputError(f"{where} {key} must be a non-empty string", f'write {key} = "..."')
    file = table.get("file")
    if file is not None and (Path(file).is_absolute() or ".." in Path(file).parts):
        raise InputError(f"{where} file {file!r} points outside the input folder",
                         "name a file inside the folder you ingest (or ingest its own folder)")
    k = kind(name)
    columns = _columns(where, k.name, k.columns, table.get("columns", {}))

    encoding = table.get("encoding")
    if encoding is not None:
        encoding = _encoding(where, encoding)

    ts_format, ts_unit = table.get("ts_format"), table.get("ts_unit")
    if (ts_format or ts_unit) and not k.timestamps:
        raise InputError(f"{where} sets {'ts_format' if ts_format else 'ts_unit'}, "
                         f"but {name} has no ts column",
                         "remove it; dates are always read as YYYY-MM-DD")
    if ts_format and ts_unit:
        raise InputError(f"{where} sets both ts_format and ts_unit",
                         "keep ts_format for text timestamps or ts_unit for epoch numbers")
    if ts_unit is not None and ts_unit not in TS_UNITS:
        raise InputError(f"{where} has unknown ts_unit {ts_unit!r}",
                         f"use one of: {', '.join(TS_UNITS)}")
    if ts_format is not None:
        _check_ts_format(where, ts_format)

    timezone = table.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"{where} has unknown timezone {timezone!r}",
                         "use an IANA name such as Asia/Shanghai or UTC") from None

    return KindMapping(kind=name, file=table.get("file"), columns=columns, encoding=encoding,
                       ts_format=ts_format, ts_unit=ts_unit, timezone=timezone)


def _encoding(where: str, name: str) -> str:
    """The codec's canonical name, if it is a text encoding that can decode bytes."""
    fix = "use e.g. utf-8, utf-8-sig, gbk or gb18030"
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise InputError(f"{where} has unknown encoding {name!r}", fix) from None
    # rot13, base64, hex, zlib, ... are codecs, but not from bytes to text
    if not getattr(info, "_is_text_encoding", True):
        raise InputError(f"{where} encoding {name!r} is not a text encoding", fix)
    try:
        codecs.decode(codecs.encode("id,name\n", info.name), info.name)
    except UnicodeError as e:  # "undefined"
        raise InputError(f"{where} encoding {name!r} cannot read text ({e})", fix) from None
    return info.name


def _check_ts_format(where: str, ts_format: str) -> None:
    """``ts_format`` must write and read back a known time, date included, in Python and
    in pandas (which parses it)."""
    import pandas as pd  # only here: the rest of this module does without

    known = datetime(2024, 8, 31, 13, 45, 56, tzinfo=UTC)
    fix = "use strptime codes such as %Y/%m/%d %H:%M (see the docs of Python's datetime)"
    try:
        text = known.strftime(ts_format)
        back = datetime.strptime(text, ts_format)
        parsed = pd.to_datetime(pd.Series([text]), format=ts_format, errors="coerce",
                                utc="%z" in ts_format or "%Z" in ts_format)
    except (ValueError, TypeError, re.error) as e:
        raise InputError(f"{where} ts_format {ts_format!r} is not a valid time format ({e})",
                         fix) from None
    if back.date() != known.date() or parsed.isna().iat[0]:
        raise InputError(f"{where} ts_format {ts_format!r} does not read back a full date "
                         f"(it writes {text!r})",
                         "include the year, month and day, e.g. %Y/%m/%d %H:%M")


def _columns(where: str, name: str, allowed: tuple[str, ...], table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise InputError(f"{where} columns must be a table",
                         f'write [{name}.columns] with lines like source_name = "canonical_name"')
    seen: dict[str, str] = {}
    for source, target in table.items():
        if not isinstance(target, str) or target not in allowed:
            raise InputError(f"{where} renames {source!r} to {target!r}, "
                             f"which is not a {name} column",
                             f"use one of: {', '.join(allowed)}")
        if target in seen:
            raise InputError(f"{where} renames both {seen[target]!r} and {source!r} to {target!r}",
                             "rename only one source column to each canonical column")
        seen[target] = source
    return dict(table)
