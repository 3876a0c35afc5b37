"""A file that extends one already loaded: its content begins with all of that file's.

Exports are often written again with the new rows appended: Monday's ``payments.csv``,
then on Tuesday the same file with Tuesday's rows at its end. Its bytes are new, so the
ledger, which knows a file by its whole content, would load every row again and count
Monday's payments twice. :func:`find_base` finds the longest file of the same kind
already in the ledger whose whole content is the start of this one; the load then
reads only the rows after that file's last line (``docs/ingest.md``).

Only kinds whose rows add to totals (payments, supply, shipments) need this; rows that
set properties (merchants, labels, defaults) can be read again without harm. Only a CSV
whose line end is the byte ``\\n`` (UTF-8, GBK, GB18030, Latin-1, ...) is compared: a
Parquet file has no byte prefix of rows, and UTF-16 is loaded whole.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from guanxi.errors import InputError
from guanxi.graph.connection import Graph
from guanxi.ingest.csv_stream import open_bytes, read_block
from guanxi.ingest.reader import HEAD_BYTES, SourceFile
from guanxi.queries import load

__all__ = ["ADDITIVE", "Base", "find_base", "line_end_is_a_byte"]

ADDITIVE = frozenset({"payments", "supply", "shipments"})
"""Kinds whose rows add to pair totals and weekly flows: a row read twice counts twice."""



@dataclass(frozen=True)
class Base:
    """A loaded file whose content is the start of another's: its ledger ``key``,
    ``name``, ``lines`` (line ends in it: the other file's new rows start on line
    ``lines + 1``), ``status``, the ``reading`` digest it was read with, and when it
    finished (``finished``)."""

    key: str
    name: str
    lines: int
    status: str
    reading: str | None
    finished: str

    def check(self, name: str, reading: str) -> None:
        """Raise ``InputError`` unless the rows after this file can be loaded alone."""
        if self.status != "done":
            raise InputError(f"{name} begins with all of {self.name}, which is only partly "
                             "loaded",
                             f"finish loading {self.name} first (run guanxi ingest on its "
                             f"folder again), then load {name}")
        if self.reading != reading:
            raise InputError(f"{name} begins with all of {self.name}, which was loaded under "
                             "other reading settings: its rows would be read differently",
                             "load it with the mapping that file was loaded with")


def line_end_is_a_byte(encoding: str | None) -> bool:
    """Whether a line end in ``encoding`` is the single byte ``\\n``.

    >>> line_end_is_a_byte("gbk"), line_end_is_a_byte("utf-8-sig"), line_end_is_a_byte("utf-16")
    (True, True, False)
    """
    if encoding is None:
        return False
    try:
        one, two = "x".encode(encoding), "x\n".encode(encoding)  # a BOM comes with each
    except (LookupError, UnicodeError):
        return False
    return two == one + b"\n"


def find_base(graph: Graph, src: SourceFile) -> Base | None:
    """The longest file of ``src``'s kind in the ledger whose whole content is the
    start of ``src``'s, or None.

    Raises ``InputError`` when ``src`` would count rows twice without a base that
    says which: a loaded file with the same first :data:`HEAD_BYTES` bytes (the header
    and the first rows) that is not its start (an export edited or cut, or diverging
    from one loaded), or a base whose last line has no line end (the row it ends with
    may have been cut short there and completed here).
    """
    if (src.kind not in ADDITIVE or src.format != "csv" or not src.head_sha256
            or not line_end_is_a_byte(src.encoding)):
        return None
    rows = graph.read(load("ledger_prefix_candidates"), kind=src.kind, size=src.size_bytes,
                      head=src.head_sha256, head_bytes=HEAD_BYTES)
    if not rows:
        return None
    found = _prefixes(src, [r for r in rows if r["size"] < src.size_bytes])
    starts = {row["key"] for row, _, _ in found}
    for row in rows:
        if row["same_head"] and row["key"] not in starts:
            raise InputError(f"{src.name} begins with the same rows as {row['name']} (loaded "
                             f"{_when(row)}) but is not that file with rows appended: "
                             "loading it would count those rows twice",
                             "give a file of only the rows not loaded yet (with the header "
                             "line), or load it into an empty graph")
    if not found:
        return None
    row, lines, ends_line = found[-1]
    if not ends_line:
        raise InputError(f"{src.name} begins with all of {row['name']} (loaded "
                         f"{_when(row)}), whose last line has no line end: that row may "
                         f"have changed, so the rows that are new are not known",
                         "put the new rows in a file of their own (with the header line)")
    return Base(row["key"], row["name"], lines, row["status"], row["reading"], _when(row))


def _prefixes(src: SourceFile, rows: list[dict[str, Any]]
              ) -> list[tuple[dict[str, Any], int, bool]]:
    """The ``rows`` (ledger files) whose content starts ``src``, shortest first, each
    with its number of line ends and whether its last byte is one. One pass over the
    content, hashing up to each candidate's size in turn."""
    by_size: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_size.setdefault(int(row["size"]), []).append(row)
    sizes = iter(sorted(by_size))
    target = next(sizes, None)
    digest, done, lines, last = hashlib.sha256(), 0, 0, b""
    found = []
    with open_bytes(src) as f:
        while target is not None and (block := read_block(f, src)):
            while target is not None and done + len(block) >= target:
                part, block = block[:target - done], block[target - done:]
                digest.update(part)
                lines += part.count(b"\n")
                last = part[-1:] or last
                done = target
                found += [(row, lines, last == b"\n") for row in by_size[target]
                          if row["sha256"] == digest.hexdigest()]
                target = next(sizes, None)
            digest.update(block)
            lines += block.count(b"\n")
            last = block[-1:] or last
            done += len(block)
    return found


def _when(row: dict[str, Any]) -> str:
    return str(row.get("finished_at") or "")[:19].replace("T", " ")
