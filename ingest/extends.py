"""A file that extends one already loaded: its content begins with all of that file's.

Exports are often written again with the new rows appended: Monday's ``payments.csv``,
then on Tuesday the same file with Tuesday's rows at its end. Its bytes are new, so the
ledger, which knows a file by its whole content, would load every row again and count
Monday's payments twice. :func:`find_base` finds the longest file of the same kind in
the ledger whose whole content is the start of this one; the load then reads only the
rows after that file's last line. A file that repeats a loaded file's first data row
without extending it (an edited re-export, an older and shorter export, another header)
is refused: its rows would count twice.

The ledger keeps each file's first :data:`~guanxi.ingest.reader.HEAD_BYTES` bytes from
the moment a load claims it, so two loads started together see each other: the later
one to compare refuses (or waits for) the other, never both load the same rows.

Only kinds whose rows add to totals (payments, supply, shipments) need this; rows that
set properties (merchants, labels, defaults) can be read again without harm. Only a CSV
whose line end is the byte ``\\n`` (UTF-8, GBK, GB18030, Latin-1, ...) is compared: a
Parquet file has no byte prefix of rows, and UTF-16 is loaded whole.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from guanxi.errors import InputError
from guanxi.graph.connection import Graph
from guanxi.graph.lock import STALE_SECONDS, Holder, LockHeld, holder_gone
from guanxi.ingest.csv_stream import open_bytes, read_block
from guanxi.ingest.reader import HEAD_BYTES, SourceFile
from guanxi.queries import load

__all__ = ["ADDITIVE", "Base", "find_base", "first_row", "line_end_is_a_byte"]

ADDITIVE = frozenset({"payments", "supply", "shipments"})
"""Kinds whose rows add to pair totals and weekly flows: a row read twice counts twice."""

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Base:
    """A loaded file whose content is the start of another's: its ledger ``key``, where
    it was loaded from (``named``), ``lines`` (its line ends: the other file's new rows
    start on line ``lines + 1``) and when it finished (``finished``)."""

    key: str
    named: str
    lines: int
    finished: str


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


def first_row(head: bytes) -> bytes | None:
    """The first data row in a file's first bytes, without its line end (None when the
    header and one whole row are not both in them).

    >>> first_row(b"payer_id,payee_id\\r\\nC1,M1\\r\\nC2")
    b'C1,M1'
    """
    ends = [m.end() for m in _LINE_END.finditer(head)][:2]
    if len(ends) < 2:
        return None
    return head[ends[0]:ends[1]].rstrip(b"\r\n") or None


def find_base(graph: Graph, src: SourceFile, key: str, reading: dict[str, Any]
              ) -> tuple[Base | None, int]:
    """The longest file of ``src``'s kind in the ledger whose whole content is the
    start of ``src``'s (None: none), and how many loaded files of the kind have no first
    bytes recorded (loaded by an older guanxi: not compared). ``key`` is ``src``'s own
    ledger key, ``reading`` how it is read (``digest`` and ``settings``).

    Raises ``InputError`` when ``src`` would count rows twice, or which rows are new is
    not known: a loaded file with the same first data row that is not its start; a base
    that is only partly loaded, read under other settings, or that ends inside a row
    (no line end after its last row, or inside a quoted field). Raises ``LockHeld``
    (exit 75) while another ingest is loading that file: wait for it, then run again.
    """
    if (src.kind not in ADDITIVE or src.format != "csv" or not src.head
            or not line_end_is_a_byte(src.encoding)):
        return None, 0
    unrecorded = graph.read(load("ledger_unrecorded"), kind=src.kind)[0]["n"]
    rows = [r for r in graph.read(load("ledger_same_start"), kind=src.kind, key=key)
            # a claim whose holder died before writing anything holds no rows
            if not (r["status"] == "new" and holder_gone(r, r["idle_seconds"], STALE_SECONDS))]
    if not rows:
        return None, unrecorded
    head, row1 = src.head, first_row(src.head)
    starts = [r for r in rows if r["size"] < src.size_bytes
              and head[:min(r["size"], HEAD_BYTES)] == bytes(r["head"])]
    found = _prefixes(src, starts)
    bases = {r["key"] for r, *_ in found}
    for r in rows:
        if r["key"] not in bases and row1 is not None and first_row(bytes(r["head"])) == row1:
            _busy(r, src.name)
            raise InputError(f"{src.name} begins with the same rows as {_named(r)} (loaded "
                             f"{_when(r)}) but is not that file with rows appended: loading "
                             "it would count those rows twice",
                             "give a file of only the rows not loaded yet (with the header "
                             "line), or load it into an empty graph")
    if not found:
        return None, unrecorded
    r, lines, cut = found[-1]
    _busy(r, src.name)
    if cut:
        raise InputError(f"{src.name} begins with all of {_named(r)} (loaded {_when(r)}), "
                         f"which ends {cut}: that row may have changed, so the rows that "
                         "are new are not known",
                         "put the new rows in a file of their own (with the header line)")
    if r["reading"] != reading["digest"]:
        raise InputError(f"{src.name} begins with all of {_named(r)}, which was read "
                         f"with {r['reading_settings']}, and would now be read with "
                         f"{reading['settings']}",
                         "load it with the mapping (and encoding) that file was loaded with")
    return Base(r["key"], _named(r), lines, _when(r)), unrecorded


def _busy(r: dict[str, Any], name: str) -> None:
    """Refuse while file ``r`` is not fully loaded: its rows are not all in the graph."""
    if r["status"] == "done":
        return
    if r.get("owner") and not holder_gone(r, r["idle_seconds"], STALE_SECONDS):
        raise LockHeld(f"{name} repeats rows of {_named(r)}, which another ingest is "
                       f"loading: {Holder.of(r, r['idle_seconds']).describe()}",
                       f"wait for it to finish, then load {name} again")
    raise InputError(f"{name} repeats rows of {_named(r)}, which is only partly loaded",
                     f"finish loading {_named(r)} first (run guanxi ingest on its folder "
                     f"again), then load {name}")


def _prefixes(src: SourceFile, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int,
                                                                         str]]:
    """The ``rows`` (ledger files) whose content starts ``src``, shortest first, each
    with its number of line ends (``\\n``, ``\\r\\n`` or a lone ``\\r``, as the reader
    counts lines) and, when it does not end between two rows, where it ends instead.
    One pass over the content, hashing up to each candidate's size in turn."""
    by_size: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_size.setdefault(int(row["size"]), []).append(row)
    sizes = iter(sorted(by_size))
    target = next(sizes, None)
    digest, done, counts, last = hashlib.sha256(), 0, [0, 0, 0, 0], b""
    found = []

    def take(part: bytes) -> None:
        nonlocal last
        crlf_across = last == b"\r" and part[:1] == b"\n"
        counts[0] += part.count(b"\n")
        counts[1] += part.count(b"\r")
        counts[2] += part.count(b"\r\n") + crlf_across
        counts[3] += part.count(b'"')
        last = part[-1:] or last
        digest.update(part)

    with open_bytes(src) as f:
        while target is not None and (block := read_block(f, src)):
            while target is not None and done + len(block) >= target:
                part, block = block[:target - done], block[target - done:]
                take(part)
                done = target
                lines = counts[0] + counts[1] - counts[2]
                cut = ("inside a quoted field" if counts[3] % 2 else
                       "" if last in (b"\n", b"\r") else "without a line end after its last row")
                found += [(row, lines, cut) for row in by_size[target]
                          if row["sha256"] == digest.hexdigest()]
                target = next(sizes, None)
            take(block)
            done += len(block)
    return found


def _named(r: dict[str, Any]) -> str:
    return str(r.get("path") or r.get("name"))


def _when(r: dict[str, Any]) -> str:
    return str(r.get("finished_at") or "")[:19].replace("T", " ") or "not finished"
