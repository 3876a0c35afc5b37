"""Streaming a CSV file's bytes and text, and parsing it into Arrow tables.

The byte streams (gunzipped when the bytes start with the gzip magic number) also serve
hashing and row counting. ``read_sample`` and ``detect_encoding`` resolve a CSV's
encoding from its first MiB: UTF-8, UTF-8 with a BOM, or GB18030 (a superset of GBK).
The text is transcoded to UTF-8 as it streams; a decode error names its approximate line.

CSV is parsed by pyarrow's streaming reader; line numbers are exact, quoted fields
spanning lines included. A row with the wrong number of fields switches the rest of the
file to Python's ``csv`` module, which reports such rows (see
:func:`guanxi.ingest.reader.read_chunks`) instead of failing the file. Memory is bounded
by the block size, not the file size.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from guanxi.errors import InputError
from guanxi.ingest.columns import plan_columns, select_columns
from guanxi.ingest.mapping import KindMapping

if TYPE_CHECKING:
    from guanxi.ingest.reader import SourceFile

__all__ = ["open_raw", "open_bytes", "read_block", "read_sample", "detect_encoding",
           "csv_tables"]

_BLOCK = 1 << 20  # bytes per read when hashing, sampling and transcoding
_ARROW_BLOCK = 4 << 20  # bytes per pyarrow CSV block (~100k short rows)
_SLOW_ROWS = 50_000  # rows per table on the csv-module path


# --- encoding --------------------------------------------------------------------


def read_sample(src: SourceFile) -> tuple[bytes, bool]:
    """The first MiB of a CSV's (gunzipped) bytes, and whether that is all of them."""
    with open_bytes(src) as f:
        sample = read_block(f, src)
        return sample, not read_block(f, src, 1)


def detect_encoding(src: SourceFile, sample: bytes, at_eof: bool) -> str:
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
def open_raw(src: SourceFile) -> Iterator[io.BufferedReader]:
    try:
        f = src.path.open("rb")
    except OSError as e:
        raise InputError(f"cannot read {src.path}: {e.strerror}", "check its permissions") from None
    with f:
        yield f


@contextmanager
def open_bytes(src: SourceFile) -> Iterator[BinaryIO]:
    """The file's bytes, gunzipped when they start with the gzip magic number."""
    with open_raw(src) as f:
        if f.peek(2)[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=f) as g:
                yield g
        else:
            yield f


def read_block(f: BinaryIO, src: SourceFile, size: int = _BLOCK) -> bytes:
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
        block = read_block(self._f, self._src)
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
    with open_bytes(src) as f:
        yield io.TextIOWrapper(io.BufferedReader(_Utf8Reader(f, src), _BLOCK),
                               encoding="utf-8", newline="")

# --- CSV -------------------------------------------------------------------------


def csv_tables(src: SourceFile, km: KindMapping) -> Iterator[pa.Table]:
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
    plan = plan_columns(src, km, header)
    names = [f"c{i}" for i in range(len(header))]
    options = dict(
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=header_lines,
                                       block_size=_ARROW_BLOCK),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                             strings_can_be_null=False))
    first = header_lines + 1
    with open_bytes(src) as f:
        for batch in _arrow_batches(_Utf8Reader(f, src), options):
            if batch is None:
                break
            lines, first = _line_numbers(batch, first)
            yield select_columns(pa.Table.from_batches([batch]), lines, plan, skip_blank=True)
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
    return select_columns(table, np.asarray(lines, np.int64), plan, skip_blank=True,
                          flagged=flagged)
