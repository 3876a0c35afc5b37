"""Streaming a CSV file's bytes and text, and parsing it into Arrow tables.

The byte streams (gunzipped when the bytes start with the gzip magic number) also serve
hashing and row counting. ``read_sample`` and ``detect_encoding`` resolve a CSV's
encoding from its first MiB: UTF-8, UTF-8 with a BOM, or GB18030 (a superset of GBK).

A file is decoded in that one encoding, transcoded to UTF-8 as it streams. Bytes that do
not decode do not stop the file: each undecodable sequence becomes ``UNDECODABLE``
(U+FDD0, a Unicode noncharacter), and in a file whose GB18030 was *detected*, a line that
can only be UTF-8 gets ``OTHER_ENCODING`` (U+FDD1) before its first non-ASCII character.
Both stand in for non-ASCII bytes only, so delimiters, quotes and line ends are intact and
line numbers stay exact; a row holding either comes out flagged (``_error``), as does a
row with a field longer than ``MAX_FIELD_CHARS`` characters.

CSV is parsed by pyarrow's streaming reader; line numbers are exact, quoted fields
spanning lines included. A row pyarrow cannot parse (almost always one with the wrong
number of fields, or a field longer than its block) switches the rest of the file to
Python's ``csv`` module, which reports such rows (see
:func:`guanxi.ingest.reader.read_chunks`) instead of failing the file. Memory is bounded
by the block size, not the file size.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import gzip
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

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
           "read_header", "csv_tables", "MAX_FIELD_CHARS", "UNDECODABLE", "OTHER_ENCODING"]

MAX_FIELD_CHARS = 131_072
"""A field longer than this (Python's csv default limit) rejects its row."""
UNDECODABLE = "\ufdd0"
"""Stands in for bytes that do not decode in the file's encoding."""
OTHER_ENCODING = "\ufdd1"
"""Marks a line that can only be UTF-8 in a file detected as GB18030."""

_BLOCK = 1 << 20  # bytes per read when hashing, sampling and transcoding
_ARROW_BLOCK = 4 << 20  # bytes per pyarrow CSV block (~100k short rows)
_SLOW_ROWS = 50_000  # rows per table on the csv-module path
_FIELD_CAP = 64 << 20  # csv module limit on its path: a longer field fails the file
_LINE_CAP = 16 << 20  # lines longer than this are not checked for UTF-8 (GB18030 files)
_RAW_CHARS = 200  # a flagged row keeps this much of its text in _raw
_ERRORS = "guanxi-undecodable"  # decode error handler: UNDECODABLE for bad bytes
_NUL = "guanxi-nul"  # encode error handler: a NUL for each character the codec lacks
_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gb18030": "GB18030", "gbk": "GBK",
           "gb2312": "GB2312"}


def _undecodable(e: UnicodeError) -> tuple[str, int]:
    if isinstance(e, UnicodeDecodeError):
        return UNDECODABLE, e.end
    raise e


def _nul(e: UnicodeError) -> tuple[str, int]:
    if isinstance(e, UnicodeEncodeError):
        return "\x00", e.end
    raise e


codecs.register_error(_ERRORS, _undecodable)
codecs.register_error(_NUL, _nul)


# --- encoding --------------------------------------------------------------------


def read_sample(src: SourceFile) -> tuple[bytes, bool]:
    """The first MiB of a CSV's (gunzipped) bytes, and whether that is all of them."""
    with open_bytes(src) as f:
        sample = read_block(f, src)
        return sample, not read_block(f, src, 1)


def detect_encoding(src: SourceFile, sample: bytes, at_eof: bool) -> str:
    """``utf-8-sig``, ``utf-8`` or ``gb18030``, decided by the sample's lines.

    A UTF-8 BOM gives ``utf-8-sig``, a UTF-16 BOM ``utf-16`` (as Excel's "Unicode text"
    saves). Otherwise only lines with non-ASCII bytes count
    (a line cut by the end of the sample is judged as far as it goes): UTF-8 if at least
    a third of them are valid UTF-8 (a GBK line is valid UTF-8 only by rare accident,
    so that share means UTF-8 text with some lines in another encoding); else GB18030 if
    at least half of the lines that are not UTF-8 decode as GB18030; else an error.
    """
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise InputError(f"{src.name} is not a text CSV file (it contains NUL bytes)",
                         "export it as CSV (UTF-8) or Parquet, or set `encoding` in the "
                         "mapping if it is UTF-16 without a byte-order mark")
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    lines = sample.splitlines()
    cut = lines.pop() if lines and not at_eof and not sample.endswith((b"\n", b"\r")) else b""
    utf8 = other = gbk = 0
    for line, final in [*((line, True) for line in lines), (cut, False)]:
        if line.isascii():
            continue
        if _decodes(line, "utf-8", final):
            utf8 += 1
        else:
            other += 1
            gbk += _decodes(line, "gb18030", final)
    if 2 * utf8 >= other:
        return "utf-8"
    if 2 * gbk >= other:  # GB18030 is a superset of GBK and GB2312
        return "gb18030"
    raise InputError(f"cannot decode {src.name} as UTF-8 or GBK",
                     f"set `encoding` for {src.kind} in the mapping")


def _decodes(data: bytes, encoding: str, final: bool = True) -> bool:
    try:
        if final:
            data.decode(encoding)
        else:
            codecs.getincrementaldecoder(encoding)().decode(data, False)
    except UnicodeDecodeError:
        return False
    return True


def _label(encoding: str) -> str:
    return _LABELS.get(codecs.lookup(encoding).name, encoding)


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
    """A CSV's bytes as UTF-8, undecodable bytes marked (see the module docstring).

    UTF-8 input without decode errors passes through unchanged (a BOM included).
    ``marked`` tells whether any marker has been written so far. With ``utf8_lines``
    (a detected GB18030 file), blocks are cut at line ends and lines that can only be
    UTF-8 are decoded as such and marked.
    """

    def __init__(self, f: BinaryIO, src: SourceFile, utf8_lines: bool = False) -> None:
        self._f, self._src = f, src
        self._encoding = src.encoding or "utf-8"
        self._decoder = codecs.getincrementaldecoder(self._encoding)(_ERRORS)
        self._passthrough = codecs.lookup(self._encoding).name in ("utf-8", "utf-8-sig")
        self._utf8_lines, self._tail = utf8_lines, b""
        self._out, self._pos, self._eof = memoryview(b""), 0, False
        self.marked = False
        self.quotes = 0  # '"' seen so far: odd at the end means a quote was never closed

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
        if self._utf8_lines:
            block = self._tail + block
            cut = len(block) if self._eof else max(block.rfind(b"\n"), block.rfind(b"\r")) + 1
            if not cut and len(block) < _LINE_CAP:
                self._tail, self._out, self._pos = block, memoryview(b""), 0
                return
            block, self._tail = block[: cut or len(block)], block[cut or len(block):]
        try:
            text = self._decode(block)
        except UnicodeError as e:  # not a bad byte sequence: e.g. UTF-16 without a BOM
            raise InputError(f"cannot decode {self._src.name} as {self._encoding}: {e}",
                             f"set `encoding` for {self._src.kind} in the mapping to the file's "
                             "encoding, or re-save the file as UTF-8") from None
        self.quotes += block.count(b'"')
        marked = not text.isascii() and (UNDECODABLE in text or OTHER_ENCODING in text)
        self.marked = self.marked or marked
        self._out = memoryview(block if self._passthrough and not marked
                               else text.encode("utf-8"))
        self._pos = 0

    def _decode(self, block: bytes) -> str:
        clean = not self._decoder.getstate()[0]  # no character pending from the last block
        text = self._decoder.decode(block, final=self._eof)
        if not self._utf8_lines or text.isascii() or not clean or self._decoder.getstate()[0]:
            return text
        # Only a line that is not all GB2312 can be UTF-8 read as GBK: encoding the text
        # as GB2312 (a NUL for each character it lacks) finds those lines in one pass.
        out = text.encode("gb2312", _NUL)
        if b"\x00" not in out:
            return text
        spans = _utf8_spans(block, out)
        if not spans:
            return text
        parts, pos = [], 0
        for start, end in spans:  # the text anew, those lines decoded as UTF-8, marked
            parts.append(block[pos:start].decode(self._encoding, _ERRORS))
            line = block[start:end].decode("utf-8")
            at = next(i for i, char in enumerate(line) if not char.isascii())
            parts.append(line[:at] + OTHER_ENCODING + line[at:])
            pos = end
        parts.append(block[pos:].decode(self._encoding, _ERRORS))
        return "".join(parts)


def _utf8_spans(block: bytes, out: bytes) -> list[tuple[int, int]]:
    """Byte spans of the lines of ``block`` holding a NUL in ``out`` that can only be UTF-8.

    ``out`` is the block's text encoded as GB2312; line ends match byte for byte.
    """
    codes = np.frombuffer(out.replace(b"\r", b"\n"), np.uint8)
    lines = np.unique(np.searchsorted(np.flatnonzero(codes == 10), np.flatnonzero(codes == 0)))
    ends = np.flatnonzero(np.frombuffer(block.replace(b"\r", b"\n"), np.uint8) == 10)
    spans = []
    for i in lines.tolist():
        start = int(ends[i - 1]) + 1 if i else 0
        end = int(ends[i]) if i < len(ends) else len(block)
        line = block[start:end]
        if _decodes(line, "utf-8") and not _decodes(line, "gb2312"):
            spans.append((start, end))
    return spans


@contextmanager
def _open_text(src: SourceFile, utf8_lines: bool) -> Iterator[tuple[io.TextIOWrapper,
                                                                    _Utf8Reader]]:
    with open_bytes(src) as f:
        stream = _Utf8Reader(f, src, utf8_lines)
        yield io.TextIOWrapper(io.BufferedReader(stream, _BLOCK), encoding="utf-8",
                               newline=""), stream


def _csv_reader(text: io.TextIOWrapper) -> Any:  # a _csv.reader
    # Process-wide, only ever raised: longer fields are rejected by row (MAX_FIELD_CHARS)
    # rather than failing the file, up to _FIELD_CAP.
    if csv.field_size_limit() < _FIELD_CAP:
        csv.field_size_limit(_FIELD_CAP)
    return csv.reader(text)


def _utf8_lines(src: SourceFile, km: KindMapping | None) -> bool:
    """Check lines for UTF-8 only where GB18030 was detected, not set by the mapping."""
    return (km is None or km.encoding is None) and src.encoding is not None \
        and codecs.lookup(src.encoding).name == "gb18030"


# --- CSV -------------------------------------------------------------------------


def read_header(src: SourceFile, km: KindMapping | None = None) -> tuple[list[str], int]:
    """The header's fields and the number of lines it spans.

    Raises ``InputError`` for an empty file, a blank first line, a header that cannot be
    parsed, or one that does not decode in the file's encoding.
    """
    with _open_text(src, _utf8_lines(src, km)) as (text, _):
        reader = _csv_reader(text)
        try:
            header = next(reader, None)
        except csv.Error as e:
            raise InputError(f"cannot parse the header of {src.name}: {e}",
                             "the first line must name the columns, separated by commas") from None
        lines = reader.line_num
    if not header:
        what = "is empty" if header is None else "starts with a blank line"
        raise InputError(f"{src.name} {what}", "the first line must name the columns")
    label = _label(src.encoding or "utf-8")
    for mark, what in ((UNDECODABLE, f"is not valid {label}"), (OTHER_ENCODING, "is UTF-8")):
        if any(mark in name for name in header):
            raise InputError(f"cannot decode {src.name} as {label}: its header {what}",
                             f"re-save the file in one encoding, or set `encoding` for "
                             f"{src.kind} in the mapping")
    return header, lines


def csv_tables(src: SourceFile, km: KindMapping) -> Iterator[pa.Table]:
    """Tables of the file's canonical columns plus ``_line`` (and flags), in file order."""
    header, header_lines = read_header(src, km)
    try:
        plan = plan_columns(src, km, header)
    except InputError:
        _blame_mapped_encoding(src, km)
        raise
    names = [f"c{i}" for i in range(len(header))]
    options = dict(
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=header_lines,
                                       block_size=_ARROW_BLOCK),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                             strings_can_be_null=False))
    label = _label(src.encoding or "utf-8")
    first = header_lines + 1
    with open_bytes(src) as f:
        stream = _Utf8Reader(f, src, _utf8_lines(src, km))
        held = None  # the last batch waits: only the end of the file tells if it is whole
        for batch in _arrow_batches(stream, options):
            if held is not None:
                yield _arrow_table(*held, plan, label, stream.marked)
                held = None
            if batch is None:
                break
            lines, extra, first = _line_numbers(batch, first)
            held = (pa.Table.from_batches([batch]), lines, extra)
        else:
            if held is not None:
                yield _arrow_table(*held, plan, label, stream.marked,
                                   unclosed=stream.quotes % 2 == 1)
            return
    yield from _slow_tables(src, km, plan, len(header), first)


def _blame_mapped_encoding(src: SourceFile, km: KindMapping) -> None:
    """Say so if the header fits the kind when read as detected, not as the mapping says."""
    if km.encoding is None:
        return
    try:
        detected = detect_encoding(src, *read_sample(src))
        if codecs.lookup(detected).name == codecs.lookup(km.encoding).name:
            return
        plan_columns(src, km, read_header(dataclasses.replace(src, encoding=detected))[0])
    except InputError:
        return
    raise InputError(f"cannot decode {src.name} as {km.encoding}: its header reads as "
                     f"{_label(detected)}",
                     f"set `encoding` for {src.kind} in the mapping to {detected}, or remove it")


def _arrow_batches(stream: io.RawIOBase, options: dict) -> Iterator[pa.RecordBatch | None]:
    """pyarrow's batches, then ``None`` if it stopped at a row it cannot parse.

    That is almost always a row with too few or too many fields, or a field longer than
    a block; the caller reads the rest with the csv module, which reports such rows.
    """
    try:
        yield from pacsv.open_csv(stream, **options)
    except pa.ArrowInvalid:
        yield None


def _line_numbers(batch: pa.RecordBatch, first: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Each row's first line, its extra lines (embedded \\n), and the line after the batch."""
    extra = np.zeros(batch.num_rows, np.int64)
    for column in batch.columns:
        extra += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False)
    lines = first + np.arange(batch.num_rows, dtype=np.int64) + np.cumsum(extra) - extra
    end = int(lines[-1] + extra[-1] + 1) if batch.num_rows else first
    return lines, extra, end


def _arrow_table(table: pa.Table, lines: np.ndarray, extra: np.ndarray, plan: dict[int, str],
                 label: str, marked: bool, unclosed: bool = False) -> pa.Table:
    """``select_columns`` of a pyarrow batch, flagging rows with markers or long fields,
    and with ``unclosed`` (the file ends inside a quote) its last row if it spans lines."""
    suspect = None
    if unclosed and table.num_rows and extra[-1] > 0:
        suspect = pa.array(np.arange(table.num_rows) == table.num_rows - 1)
    for column in table.columns:
        hits = []
        if marked:
            hits.append(pc.match_substring_regex(column, f"[{UNDECODABLE}{OTHER_ENCODING}]"))
        if (pc.max(pc.binary_length(column)).as_py() or 0) > MAX_FIELD_CHARS:
            hits.append(pc.greater(pc.utf8_length(column), MAX_FIELD_CHARS))
        for hit in hits:
            suspect = hit if suspect is None else pc.or_(suspect, hit)
    if suspect is None or not pc.any(suspect).as_py():
        return select_columns(table, lines, plan, skip_blank=True)
    rows = np.flatnonzero(suspect.to_numpy(zero_copy_only=False))
    errors: list[str | None] = [None] * table.num_rows
    raws: list[str | None] = [None] * table.num_rows
    bad = np.zeros(table.num_rows, bool)
    last = table.num_rows - 1
    spans = np.ones(table.num_rows, np.int64)
    for i, record in zip(rows, table.take(rows).to_pylist(), strict=True):
        fields = list(record.values())
        end = int(lines[i] + extra[i])
        if unclosed and i == last and fields[-1].endswith(("\n", "\r")):
            end -= 1  # the file's last line break, inside the open quote, starts no line
        errors[i], spans[i] = _problem(fields, int(lines[i]), end, label, unclosed and i == last)
        raws[i], bad[i] = _raw_text(fields), errors[i] is not None
    bad = pa.array(bad)
    table = pa.table({name: pc.if_else(bad, "", table[name]) for name in table.column_names})
    flagged = {"_error": pa.array(errors, pa.string()), "_raw": pa.array(raws, pa.string()),
               "_span": pa.array(spans, pa.int64())}
    return _each_line(select_columns(table, lines, plan, skip_blank=True, flagged=flagged))


def _each_line(table: pa.Table) -> pa.Table:
    """A row rejected for its quoting (``_span`` > 1), as one reject per line it spans.

    A quote opened by mistake swallows the lines up to the next quote (or the end of the
    file): each of them is a row that did not load, so each is listed, and each counts
    toward ``--max-reject-rate``. Other rejected rows stay one reject, however many
    lines a legitimate quoted line break gives them.
    """
    span = table["_span"].to_numpy(zero_copy_only=False)
    table = table.drop_columns(["_span"])
    repeat = np.where(pc.is_valid(table["_error"]).to_numpy(zero_copy_only=False), span, 1)
    if (repeat == 1).all():
        return table
    index = np.repeat(np.arange(len(repeat)), repeat)
    offset = np.arange(len(index)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    out = table.take(pa.array(index))
    lines = out["_line"].to_numpy() + offset
    return out.set_column(out.column_names.index("_line"), "_line", pa.array(lines, pa.int64()))


def _problem(fields: list[str], first: int, last: int, label: str,
             unclosed: bool = False) -> tuple[str | None, int]:
    """Why a row is flagged (None: it is not), and how many lines that rejects: all it
    spans when its quoting swallowed them, else 1. Flagged are a quote still open at the
    end of the file (``unclosed``), a marker, and a long field.

    The line of a marker is named when it is not the row's first (a quoted line break).
    """
    if unclosed and last > first:
        return (f"a quote opened in the row on line {first} is never closed: lines {first} "
                f"to {last} (the end of the file) are read as one field; close the quote",
                last - first + 1)
    for mark, what in ((UNDECODABLE, f"is not valid {label}"), (OTHER_ENCODING, "is UTF-8")):
        if any(mark in field for field in fields):
            text = ",".join(fields)
            at = first + text.count("\n", 0, text.index(mark))
            line = f"line {at}" if at > first else "line"
            return (f"{line} {what} (the file is read as {label}); "
                    "re-save the file in one encoding", 1)
    if max(map(len, fields), default=0) > MAX_FIELD_CHARS:
        spans = f" (the row runs from line {first} to {last}: is a quote not closed?)" \
            if last > first else ""
        return f"field longer than {MAX_FIELD_CHARS} characters{spans}", last - first + 1
    return None, 1


def _raw_text(fields: list[str]) -> str:
    text = ",".join(field[:_RAW_CHARS] for field in fields)[:_RAW_CHARS]
    return text.replace(UNDECODABLE, "\ufffd").replace(OTHER_ENCODING, "")


def _slow_tables(src: SourceFile, km: KindMapping, plan: dict[int, str], width: int,
                 first: int) -> Iterator[pa.Table]:
    """Rows from line ``first`` on via the csv module, reporting malformed rows."""
    rows: list[list[str]] = []
    lines: list[int] = []
    spans: list[int] = []
    errors: list[str | None] = []
    raws: list[str | None] = []
    empty = [""] * width
    label = _label(src.encoding or "utf-8")
    with _open_text(src, _utf8_lines(src, km)) as (text, stream):
        reader = _csv_reader(text)
        end = 0
        pending: tuple[list[str], int, int] | None = None  # the last row waits for the end
        while True:
            start = end + 1
            try:
                record = next(reader, None)
            except csv.Error as e:
                raise InputError(f"cannot parse {src.name} near line {start}: {e}",
                                 "fix the quoting on that line (a quote that is never closed "
                                 "runs on to the end of the file)") from None
            if record is not None and reader.line_num < first:
                end = reader.line_num  # the header, and rows pyarrow already read
                continue
            if pending is not None:
                at_end = record is None and stream.quotes % 2 == 1
                flagged = _slow_row(pending, width, label, stream.marked, at_end)
                if flagged is not None:
                    row, problem, span = flagged
                    rows.append(empty if problem else row)
                    errors.append(problem)
                    raws.append(_raw_text(row) if problem else None)
                    lines.append(pending[1])
                    spans.append(span)
                if len(rows) == _SLOW_ROWS:
                    yield _slow_table(rows, lines, spans, errors, raws, plan, width)
                    rows, lines, spans, errors, raws = [], [], [], [], []
            if record is None:
                break
            end = reader.line_num
            pending = (record, start, end)
    if rows:
        yield _slow_table(rows, lines, spans, errors, raws, plan, width)


def _slow_row(pending: tuple[list[str], int, int], width: int, label: str, marked: bool,
              unclosed: bool) -> tuple[list[str], str | None, int] | None:
    """A csv-module row, why it is flagged (None: fine) and how many lines it rejects;
    None for a blank row."""
    record, start, end = pending
    problem, span = None, 1
    if unclosed or marked or max(map(len, record), default=0) > MAX_FIELD_CHARS:
        problem, span = _problem(record, start, end, label, unclosed)
    if problem is None and len(record) != width:
        if not any(field.strip() for field in record):
            return None
        problem = f"expected {width} fields, found {len(record)}"
    return record, problem, span


def _slow_table(rows: list[list[str]], lines: list[int], spans: list[int],
                errors: list[str | None], raws: list[str | None], plan: dict[int, str],
                width: int) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * width
    table = pa.table({f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)})
    flagged = {"_error": pa.array(errors, pa.string()), "_raw": pa.array(raws, pa.string()),
               "_span": pa.array(spans, pa.int64())}
    return _each_line(select_columns(table, np.asarray(lines, np.int64), plan, skip_blank=True,
                                     flagged=flagged))
