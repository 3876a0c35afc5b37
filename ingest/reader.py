"""Finding a folder's input files and reading them in chunks of canonical string columns.

``discover`` finds one file per kind (``<kind>.csv``, ``<kind>.csv.gz`` or
``<kind>.parquet``, or the mapping's ``file``), checks that it is a CSV or Parquet file,
resolves a CSV's encoding and hashes its bytes. ``read_chunks`` streams a file as
DataFrames of at most ``chunk_rows`` rows: canonical column names, every value a stripped
string or missing, and ``_line``, the row's line in the source file.

CSV is parsed by pyarrow's streaming reader; line numbers are exact, quoted fields
spanning lines included. A row with the wrong number of fields switches the rest of the
file to Python's ``csv`` module, which reports such rows (see :func:`read_chunks`) instead
of failing the file. Memory is bounded by the chunk size, not the file size.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from guanxi.errors import InputError
from guanxi.ingest.kinds import KINDS, LOAD_ORDER
from guanxi.ingest.mapping import KindMapping, Mapping

__all__ = ["SourceFile", "discover", "read_chunks", "count_rows"]

_BLOCK = 1 << 20  # bytes per read when hashing, sampling and transcoding
_ARROW_BLOCK = 4 << 20  # bytes per pyarrow CSV block (~100k short rows)
_SLOW_ROWS = 50_000  # rows per table on the csv-module path
_SUFFIXES = (".csv", ".csv.gz", ".parquet")
_NOT_CSV = {b"PK\x03\x04": "an Excel workbook or zip archive",
            b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook", b"PAR1": "a Parquet file"}


@dataclass(frozen=True)
class SourceFile:
    """One input file found by :func:`discover`.

    ``encoding`` is the resolved text encoding of a CSV (from the mapping or detected),
    ``None`` for Parquet; ``sha256`` and ``size_bytes`` describe the bytes on disk.
    """

    kind: str
    path: Path
    format: Literal["csv", "parquet"]
    encoding: str | None
    sha256: str
    size_bytes: int

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

    A CSV row with too few or too many fields comes through with its columns missing and
    two more columns, ``_error`` (the reason) and ``_raw`` (its fields); they appear only
    in chunks that hold such a row, and the validator rejects those rows.

    Raises
    ------
    InputError
        Before any row: required columns are missing, or two columns map to one canonical
        column. While reading: a decode error (with its approximate line) or a file that
        cannot be parsed.

    Examples
    --------
    >>> for chunk in read_chunks(src, mapping.for_kind(src.kind)):  # doctest: +SKIP
    ...     print(chunk.columns.tolist())
    ['payer_id', 'payee_id', 'amount', 'ts', '_line']
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    tables = _parquet_tables(src, km, chunk_rows) if src.format == "parquet" \
        else _csv_tables(src, km)
    for table in _rechunk(tables, chunk_rows):
        frame = table.to_pandas()
        if "_error" in frame and frame["_error"].isna().all():
            frame = frame.drop(columns=["_error", "_raw"])
        yield frame


def count_rows(src: SourceFile, km: KindMapping) -> int:
    """The number of data rows, for progress bars.

    Parquet: exact, from the footer. CSV: lines after the header, counted by streaming
    the bytes; blank lines and quoted line breaks make it an upper bound.
    """
    if src.format == "parquet":
        return _parquet_file(src).metadata.num_rows
    lines, last = 0, b"\n"
    with _open_bytes(src) as f:
        while block := _read(f, src):
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
        sample, at_eof = _sample(src)
        head = sample[:4]
        if head in _NOT_CSV:
            fix = "rename it to .parquet" if head == b"PAR1" else "save it as CSV (UTF-8)"
            raise InputError(f"{path.name} is {_NOT_CSV[head]}, not a CSV file", fix)
        encoding = km.encoding or _detect_encoding(src, sample, at_eof)
        src = SourceFile(kind, path, "csv", encoding, "", 0)
    digest, size = hashlib.sha256(), 0
    with _open_raw(src) as f:
        while block := _read(f, src):
            digest.update(block)
            size += len(block)
    return SourceFile(kind, path, src.format, src.encoding, digest.hexdigest(), size)


def _sample(src: SourceFile) -> tuple[bytes, bool]:
    """The first MiB of a CSV's (gunzipped) bytes, and whether that is all of them."""
    with _open_bytes(src) as f:
        sample = _read(f, src)
        return sample, not _read(f, src, 1)


def _detect_encoding(src: SourceFile, sample: bytes, at_eof: bool) -> str:
    if b"\x00" in sample:
        raise InputError(f"{src.name} is not a text CSV file (it contains NUL bytes)",
                         "export it as CSV (UTF-8) or Parquet")
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):  # GB18030 is a superset of GBK and GB2312
        try:
            # final=False unless at the end: the sample may cut a multi-byte character
            codecs.getincrementaldecoder(encoding)().decode(sample, final=at_eof)
            return encoding
        except UnicodeDecodeError:
            pass
    raise InputError(f"cannot decode {src.name} as UTF-8 or GBK",
                     f"set `encoding` for {src.kind} in the mapping")


# --- byte and text streams -----------------------------------------------------


@contextmanager
def _open_raw(src: SourceFile) -> Iterator[io.BufferedReader]:
    try:
        f = src.path.open("rb")
    except OSError as e:
        raise InputError(f"cannot read {src.path}: {e.strerror}", "check its permissions") from None
    with f:
        yield f


@contextmanager
def _open_bytes(src: SourceFile) -> Iterator[BinaryIO]:
    """The file's bytes, gunzipped when they start with the gzip magic number."""
    with _open_raw(src) as f:
        if f.peek(2)[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=f) as g:
                yield g
        else:
            yield f


def _read(f: BinaryIO, src: SourceFile, size: int = _BLOCK) -> bytes:
    try:
        return f.read(size)
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"cannot read {src.name}: {e}",
                         "check that the file is complete (re-copy or re-export it)") from None


class _Utf8Reader(io.RawIOBase):
    """A CSV's bytes as UTF-8, whatever its encoding; a decode error names the line.

    UTF-8 input is only validated and passes through unchanged (a BOM included).
    """

    def __init__(self, f: BinaryIO, src: SourceFile) -> None:
        self._f, self._src = f, src
        self._encoding = src.encoding or "utf-8"
        self._decoder = codecs.getincrementaldecoder(self._encoding)("strict")
        self._passthrough = codecs.lookup(self._encoding).name in ("utf-8", "utf-8-sig")
        self._out, self._pos, self._lines, self._eof = memoryview(b""), 0, 0, False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return self.readall()
        while self._pos == len(self._out) and not self._eof:
            self._fill()
        end = min(self._pos + size, len(self._out))
        out = self._out[self._pos: end].tobytes()
        self._pos = end
        return out

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def _fill(self) -> None:
        block = _read(self._f, self._src)
        self._eof = not block
        try:
            text = self._decoder.decode(block, final=self._eof)
        except UnicodeDecodeError as e:
            line = self._lines + block[: max(e.start, 0)].count(b"\n") + 1
            raise InputError(
                f"cannot decode {self._src.name} as {self._encoding} near line {line}",
                f"set `encoding` for {self._src.kind} in the mapping, "
                "or re-save the file as UTF-8") from None
        self._out = memoryview(block if self._passthrough else text.encode("utf-8"))
        self._pos = 0
        self._lines += block.count(b"\n")


@contextmanager
def _open_text(src: SourceFile) -> Iterator[io.TextIOWrapper]:
    with _open_bytes(src) as f:
        yield io.TextIOWrapper(io.BufferedReader(_Utf8Reader(f, src), _BLOCK),
                               encoding="utf-8", newline="")


# --- CSV -------------------------------------------------------------------------


def _csv_tables(src: SourceFile, km: KindMapping) -> Iterator[pa.Table]:
    """Tables of the file's string columns ``c0..cN`` plus ``_line``, in file order."""
    with _open_text(src) as text:
        reader = csv.reader(text)
        try:
            header = next(reader, None)
        except csv.Error as e:
            raise InputError(f"cannot parse the header of {src.name}: {e}",
                             "the first line must name the columns, separated by commas") from None
        header_lines = reader.line_num
    if not header:
        what = "is empty" if header is None else "starts with a blank line"
        raise InputError(f"{src.name} {what}", "the first line must name the columns")
    plan = _plan(src, km, header)
    names = [f"c{i}" for i in range(len(header))]
    options = dict(
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=header_lines,
                                       block_size=_ARROW_BLOCK),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                             strings_can_be_null=False))
    first = header_lines + 1
    with _open_bytes(src) as f:
        for batch in _arrow_batches(_Utf8Reader(f, src), options):
            if batch is None:
                break
            lines, first = _line_numbers(batch, first)
            yield _select(pa.Table.from_batches([batch]), lines, plan, skip_blank=True)
        else:
            return
    yield from _slow_tables(src, plan, len(header), first)


def _arrow_batches(stream: io.RawIOBase, options: dict) -> Iterator[pa.RecordBatch | None]:
    """pyarrow's batches, then ``None`` if it stopped at a row it cannot parse.

    That is almost always a row with too few or too many fields; the caller reads the
    rest with the csv module, which can report such rows one by one.
    """
    try:
        yield from pacsv.open_csv(stream, **options)
    except pa.ArrowInvalid:
        yield None


def _line_numbers(batch: pa.RecordBatch, first: int) -> tuple[np.ndarray, int]:
    """Each row's first line, and the line after the batch: rows span 1 + embedded \\n."""
    extra = np.zeros(batch.num_rows, np.int64)
    for column in batch.columns:
        extra += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False)
    lines = first + np.arange(batch.num_rows, dtype=np.int64) + np.cumsum(extra) - extra
    end = int(lines[-1] + extra[-1] + 1) if batch.num_rows else first
    return lines, end


def _slow_tables(src: SourceFile, plan: dict[int, str], width: int,
                 first: int) -> Iterator[pa.Table]:
    """Rows from line ``first`` on via the csv module, reporting malformed rows."""
    rows: list[list[str]] = []
    lines: list[int] = []
    errors: list[str | None] = []
    raws: list[str | None] = []
    empty = [""] * width
    with _open_text(src) as text:
        reader = csv.reader(text)
        end = 0
        while True:
            start = end + 1
            try:
                record = next(reader, None)
            except csv.Error as e:
                raise InputError(f"cannot parse {src.name} near line {start}: {e}",
                                 "fix the quoting on that line") from None
            if record is None:
                break
            end = reader.line_num
            if start < first:  # the header, and rows pyarrow already read
                continue
            if len(record) == width:
                rows.append(record)
                errors.append(None)
                raws.append(None)
            elif any(field.strip() for field in record):
                rows.append(empty)
                errors.append(f"expected {width} fields, found {len(record)}")
                raws.append(",".join(record)[:200])
            else:
                continue
            lines.append(start)
            if len(rows) == _SLOW_ROWS:
                yield _slow_table(rows, lines, errors, raws, plan, width)
                rows, lines, errors, raws = [], [], [], []
    if rows:
        yield _slow_table(rows, lines, errors, raws, plan, width)


def _slow_table(rows: list[list[str]], lines: list[int], errors: list[str | None],
                raws: list[str | None], plan: dict[int, str], width: int) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * width
    table = pa.table({f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)})
    flagged = {"_error": pa.array(errors, pa.string()), "_raw": pa.array(raws, pa.string())}
    return _select(table, np.asarray(lines, np.int64), plan, skip_blank=True, flagged=flagged)


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
    plan = _plan(src, km, names)
    wanted = sorted(plan)
    offset = 2  # row 0 is numbered like the first data line of a CSV
    try:
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=[names[i] for i in wanted]):
            columns = {f"c{i}": _as_text(src, names[i], batch.column(j))
                       for j, i in enumerate(wanted)}
            lines = np.arange(offset, offset + batch.num_rows, dtype=np.int64)
            offset += batch.num_rows
            yield _select(pa.table(columns), lines, plan, skip_blank=False)
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


# --- shared ----------------------------------------------------------------------


def _plan(src: SourceFile, km: KindMapping, header: list[str]) -> dict[int, str]:
    """Source column index -> canonical name; checks required columns and clashes."""
    kind = KINDS[src.kind]
    renames = {source.strip().lower(): target for source, target in km.columns.items()}
    canonical = {c.lower(): c for c in kind.columns}
    plan: dict[int, str] = {}
    where: dict[str, int] = {}
    cleaned = [h.replace("\ufeff", "").strip() for h in header]
    for i, name in enumerate(cleaned):
        key = name.lower()
        target = renames[key] if key in renames else canonical.get(key)
        if target is None:
            continue
        if target in where:
            raise InputError(f"{src.name} has two columns for {target}: "
                             f"{cleaned[where[target]]!r} and {name!r}",
                             "drop one, or rename one in a mapping file (--mapping)")
        plan[i], where[target] = target, i
    missing = [c for c in kind.required if c not in where]
    if missing:
        found = ", ".join(cleaned[:20]) + (", ..." if len(cleaned) > 20 else "")
        unused = [s for s, t in km.columns.items() if t in missing]
        note = f"; the mapping's {', '.join(unused)} is not in the file either" if unused else ""
        raise InputError(f"{src.name} lacks required column(s) {', '.join(missing)} "
                         f"(found: {found or 'none'}){note}",
                         "rename them in a mapping file (--mapping)")
    return dict(sorted(plan.items(), key=lambda item: kind.columns.index(item[1])))


def _select(table: pa.Table, lines: np.ndarray, plan: dict[int, str], *, skip_blank: bool,
            flagged: dict[str, pa.Array] | None = None) -> pa.Table:
    """Canonical columns (trimmed, empty -> null), ``_line`` and ``flagged``; drops blank rows.

    A row flagged with an ``_error`` is never blank: its fields were left empty on purpose.
    """
    trimmed = {name: pc.utf8_trim_whitespace(table[name]) for name in table.column_names}
    empty = {name: pc.equal(col, "") for name, col in trimmed.items()}
    out = {canon: pc.if_else(empty[f"c{i}"], pa.scalar(None, pa.string()), trimmed[f"c{i}"])
           for i, canon in plan.items()}
    out["_line"] = pa.array(lines, pa.int64())
    out.update(flagged or {})
    result = pa.table(out)
    if skip_blank and empty:
        blank = _all(empty.values())
        if flagged:
            blank = pc.and_(blank, pc.is_null(flagged["_error"]))
        result = result.filter(pc.invert(blank))
    return result


def _all(masks: Iterable[pa.ChunkedArray]) -> pa.ChunkedArray:
    it = iter(masks)
    acc = next(it)
    for mask in it:
        acc = pc.and_(acc, mask)
    return acc


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
