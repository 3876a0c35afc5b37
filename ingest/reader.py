"""Finding a folder's input files and reading them in chunks of canonical string columns.

``discover`` finds one file per kind (``<kind>.csv``, ``<kind>.csv.gz`` or
``<kind>.parquet``, or the mapping's ``file``), checks that it is a CSV or Parquet file,
resolves a CSV's encoding and hashes its bytes. ``read_chunks`` streams a file as
DataFrames of at most ``chunk_rows`` rows: canonical column names, every value a stripped
string or missing, and ``_line``, the row's line in the source file. ``unknown_columns``
names the columns of a file that ``read_chunks`` drops.

CSV streaming and parsing (exact line numbers; malformed, undecodable and over-long rows
reported rather than fatal) live in :mod:`guanxi.ingest.csv_stream`, header matching in
:mod:`guanxi.ingest.columns`; Parquet is read here, in batches. Memory is bounded by the
chunk size, not the file size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from guanxi.errors import InputError
from guanxi.ingest.columns import plan_columns, select_columns, unused_columns
from guanxi.ingest.csv_stream import (
    csv_tables,
    detect_encoding,
    open_bytes,
    read_block,
    read_header,
    read_sample,
)
from guanxi.ingest.kinds import LOAD_ORDER
from guanxi.ingest.mapping import KindMapping, Mapping

__all__ = ["HEAD_BYTES", "SourceFile", "discover", "read_chunks", "count_rows",
           "unknown_columns"]

HEAD_BYTES = 4096
"""The first bytes of a file's content, kept in the ingest ledger (``SourceFile.head``),
so that files starting alike are found without reading them (``ingest/extends.py``)."""

_SUFFIXES = (".csv", ".csv.gz", ".parquet")
_NOT_CSV = {b"PK\x03\x04": "an Excel workbook or zip archive",
            b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook", b"PAR1": "a Parquet file"}


@dataclass(frozen=True)
class SourceFile:
    """One input file found by :func:`discover`.

    ``encoding`` is the resolved text encoding of a CSV (from the mapping or detected),
    ``None`` for Parquet; ``sha256`` and ``size_bytes`` describe its content (a gzipped
    CSV's bytes once gunzipped, so a compressed copy of a file has its hash), and
    ``head`` is its first :data:`HEAD_BYTES` bytes (``ingest/extends.py``).
    """

    kind: str
    path: Path
    format: Literal["csv", "parquet"]
    encoding: str | None
    sha256: str
    size_bytes: int
    head: bytes = b""

    @property
    def name(self) -> str:
        return self.path.name


def discover(folder: Path, mapping: Mapping) -> list[SourceFile]:
    """The input files of ``folder``, one per kind found, in ``LOAD_ORDER``.

    A kind's file is the mapping's ``file`` if given, else ``<kind>.csv``,
    ``<kind>.csv.gz`` or ``<kind>.parquet`` (names matched case-insensitively). Other
    files and sub-folders are ignored; which kinds are required is the loader's business.

    Raises
    ------
    InputError
        The folder is missing or unreadable; a mapped file is missing; a kind has more
        than one file; a file is not CSV or Parquet, or its encoding is not UTF-8 or GBK
        and the mapping names none.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"input folder {folder} does not exist", "check the path")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder",
                         "pass the folder that holds merchants.csv, payments.csv, ...")
    try:
        by_name: dict[str, list[Path]] = {}
        for p in sorted(folder.iterdir()):
            if p.is_file():
                by_name.setdefault(p.name.lower(), []).append(p)
            elif p.is_dir() and p.name.lower().endswith(_SUFFIXES):
                raise InputError(f"{p} is a folder, not a file",
                                 "put the file itself there (or rename the folder)")
    except OSError as e:
        raise InputError(f"cannot list folder {folder}: {e.strerror}",
                         "check its permissions") from None
    found = []
    for kind in LOAD_ORDER:
        km = mapping.for_kind(kind)
        if km.file is not None:
            path = folder / km.file
            if not path.is_file():
                matches = by_name.get(km.file.lower(), [])
                if len(matches) != 1:
                    raise InputError(f"{folder} has no file {km.file!r} (the mapping's file "
                                     f"for {kind})", f"fix `file` under [{kind}] in the mapping")
                path = matches[0]
        else:
            paths = [p for suffix in _SUFFIXES for p in by_name.get(kind + suffix, [])]
            if len(paths) > 1:
                raise InputError(f"{folder} has {len(paths)} files for {kind}: "
                                 f"{', '.join(p.name for p in paths)}", "keep only one of them")
            if not paths:
                continue
            path = paths[0]
        found.append(_inspect(kind, path, km))
    return found


def read_chunks(src: SourceFile, km: KindMapping,
                chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """Stream ``src`` as DataFrames of at most ``chunk_rows`` rows.

    Each frame has the kind's columns that the file has (after ``km.columns`` renames;
    headers matched after stripping whitespace, case-insensitively), every value a
    string stripped of surrounding whitespace, empty cells missing (``NaN`` in pandas'
    ``str`` dtype), plus ``_line`` (int64): the row's line in a CSV, the header being
    line 1; a Parquet row ``i`` (from 0) is numbered ``i + 2`` to match. Extra columns are
    dropped. CSV rows whose fields are all empty (blank lines) are skipped.

    A CSV row that cannot be read as it stands comes through with its columns missing and
    two more columns, ``_error`` (the reason) and ``_raw`` (its fields, at most 200
    characters); they appear only in chunks that hold such a row, and the validator
    rejects those rows. Such rows are: too few or too many fields (``expected 4 fields,
    found 5``); bytes that do not decode in the file's encoding (``line is not valid UTF-8
    (the file is read as UTF-8); re-save the file in one encoding``), or in a file detected
    as GB18030 a line that can only be UTF-8 (``line is UTF-8 (the file is read as
    GB18030); ...``); a field longer than ``MAX_FIELD_CHARS`` (131,072) characters
    (``field longer than 131072 characters``). Later rows keep their exact line numbers.

    Raises
    ------
    InputError
        Before any row: the header is empty, blank or does not decode; required columns
        are missing (if the mapping's ``encoding`` is to blame, the error says so), or two
        columns map to one canonical column. While reading: an encoding that cannot read
        the file at all (e.g. UTF-16 without a BOM), or a field longer than 64 MiB
        (a quote that is never closed).

    Examples
    --------
    >>> for chunk in read_chunks(src, mapping.for_kind(src.kind)):  # doctest: +SKIP
    ...     print(chunk.columns.tolist())
    ['payer_id', 'payee_id', 'amount', 'ts', '_line']
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    tables = _parquet_tables(src, km, chunk_rows) if src.format == "parquet" \
        else csv_tables(src, km)
    for table in _rechunk(tables, chunk_rows):
        frame = table.to_pandas()
        if "_error" in frame and frame["_error"].isna().all():
            frame = frame.drop(columns=["_error", "_raw"])
        yield frame


def unknown_columns(src: SourceFile, km: KindMapping) -> list[str]:
    """Header names of ``src`` that stand for no column of its kind, in file order.

    The same matching as :func:`read_chunks` (``columns.match_columns``: after the
    mapping's renames, stripped, case-insensitive); these are the columns it drops.
    Names are stripped; blank names (a trailing comma) are left out. For Parquet, the
    schema's column names.

    Raises
    ------
    InputError
        A CSV whose header is empty, blank or undecodable, or an unreadable Parquet file.

    Examples
    --------
    >>> unknown_columns(src, mapping.for_kind(src.kind))  # doctest: +SKIP
    ['note', 'operator']
    """
    header = _parquet_file(src).schema_arrow.names if src.format == "parquet" \
        else read_header(src, km)[0]
    return unused_columns(src.kind, km, header)


def count_rows(src: SourceFile, km: KindMapping) -> int:
    """The number of data rows, for progress bars.

    Parquet: exact, from the footer. CSV: lines after the header, counted by streaming
    the bytes; blank lines and quoted line breaks make it an upper bound.
    """
    if src.format == "parquet":
        return _parquet_file(src).metadata.num_rows
    lines, last = 0, b"\n"
    with open_bytes(src) as f:
        while block := read_block(f, src):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines + (last != b"\n") - 1, 0)


# --- discovery ----------------------------------------------------------------


def _inspect(kind: str, path: Path, km: KindMapping) -> SourceFile:
    if path.name.lower().endswith((".parquet", ".pq")):
        src = SourceFile(kind, path, "parquet", None, "", 0)
        _parquet_file(src)
    else:
        src = SourceFile(kind, path, "csv", None, "", 0)
        sample, at_eof = read_sample(src)
        head = sample[:4]
        if head in _NOT_CSV:
            fix = "rename it to .parquet" if head == b"PAR1" else "save it as CSV (UTF-8)"
            raise InputError(f"{path.name} is {_NOT_CSV[head]}, not a CSV file", fix)
        encoding = km.encoding or detect_encoding(src, sample, at_eof)
        src = SourceFile(kind, path, "csv", encoding, "", 0)
    # The content, not its packaging: a gzipped copy of a file hashes like the file.
    digest, size, head = hashlib.sha256(), 0, b""
    with open_bytes(src) as f:
        while block := read_block(f, src):
            if size < HEAD_BYTES:
                head += block[:HEAD_BYTES - size]
            digest.update(block)
            size += len(block)
    return SourceFile(kind, path, src.format, src.encoding, digest.hexdigest(), size, head)


# --- Parquet -----------------------------------------------------------------------


def _parquet_file(src: SourceFile) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(src.path)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{src.name} is not a readable Parquet file ({e})",
                         "re-export it, or give it a .csv name if it is a CSV") from None


def _parquet_tables(src: SourceFile, km: KindMapping, chunk_rows: int) -> Iterator[pa.Table]:
    pf = _parquet_file(src)
    names = pf.schema_arrow.names
    plan = plan_columns(src, km, names)
    wanted = sorted(plan)
    offset = 2  # row 0 is numbered like the first data line of a CSV
    try:
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=[names[i] for i in wanted]):
            columns = {f"c{i}": _as_text(src, names[i], batch.column(j))
                       for j, i in enumerate(wanted)}
            lines = np.arange(offset, offset + batch.num_rows, dtype=np.int64)
            offset += batch.num_rows
            yield select_columns(pa.table(columns), lines, plan, skip_blank=False)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise InputError(f"cannot read {src.name} near row {offset}: {e}",
                         "re-export the Parquet file") from None


def _as_text(src: SourceFile, name: str, column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    try:
        return pc.cast(column, pa.string())
    except pa.ArrowNotImplementedError:
        raise InputError(f"column {name!r} of {src.name} has type {column.type}, not a plain value",
                         "export that column as text or a number") from None


# --- chunks ----------------------------------------------------------------------


def _rechunk(tables: Iterable[pa.Table], size: int) -> Iterator[pa.Table]:
    """Re-cut a stream of tables into tables of exactly ``size`` rows (the last fewer)."""
    pending: list[pa.Table] = []
    rows = 0
    for table in tables:
        if not table.num_rows:
            continue
        pending.append(table)
        rows += table.num_rows
        while rows >= size:
            whole = pa.concat_tables(pending, promote_options="default")
            yield whole.slice(0, size)
            rest = whole.slice(size)
            pending, rows = [rest], rest.num_rows
    if rows:
        yield pa.concat_tables(pending, promote_options="default")
