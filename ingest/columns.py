"""Matching a file's header to its kind's canonical columns, and cutting tables down to them.

``match_columns`` gives the canonical name each header name stands for (after the
mapping's renames; headers matched after stripping whitespace and BOMs,
case-insensitively); ``plan_columns`` turns that into source column index -> canonical
name and checks required columns and clashes; ``unused_columns`` lists the names that
stand for nothing (the reader drops those columns). ``select_columns`` turns a table of
source columns ``c0..cN`` into the canonical columns (trimmed, empty cells missing) plus
``_line``, dropping blank rows. Both the CSV and the Parquet readers use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from guanxi.errors import InputError
from guanxi.ingest.kinds import KINDS
from guanxi.ingest.mapping import KindMapping

if TYPE_CHECKING:
    from guanxi.ingest.reader import SourceFile

__all__ = ["match_columns", "unused_columns", "plan_columns", "select_columns"]


def match_columns(kind: str, km: KindMapping, header: list[str]) -> list[str | None]:
    """The canonical column each header name stands for, or ``None``, in header order.

    Names are matched after stripping whitespace and BOMs, case-insensitively; a rename in
    ``km.columns`` wins over a canonical name (so a mapping may swap two columns).
    """
    renames = {source.strip().lower(): target for source, target in km.columns.items()}
    canonical = {c.lower(): c for c in KINDS[kind].columns}
    keys = (_clean(name).lower() for name in header)
    return [renames[key] if key in renames else canonical.get(key) for key in keys]


def unused_columns(kind: str, km: KindMapping, header: list[str]) -> list[str]:
    """Header names (stripped) that stand for no column of ``kind``; blank names left out.

    Examples
    --------
    >>> unused_columns("merchants", KindMapping("merchants"), ["Merchant_ID ", "note", ""])
    ['note']
    """
    return [_clean(name) for name, target in zip(header, match_columns(kind, km, header),
                                                 strict=True)
            if target is None and _clean(name)]


def plan_columns(src: SourceFile, km: KindMapping, header: list[str]) -> dict[int, str]:
    """Source column index -> canonical name; checks required columns and clashes."""
    kind = KINDS[src.kind]
    plan: dict[int, str] = {}
    where: dict[str, int] = {}
    cleaned = [_clean(h) for h in header]
    for i, target in enumerate(match_columns(src.kind, km, header)):
        if target is None:
            continue
        if target in where:
            raise InputError(f"{src.name} has two columns for {target}: "
                             f"{cleaned[where[target]]!r} and {cleaned[i]!r}",
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


def _clean(name: str) -> str:
    return name.replace("\ufeff", "").strip()


def select_columns(table: pa.Table, lines: np.ndarray, plan: dict[int, str], *, skip_blank: bool,
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
