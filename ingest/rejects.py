"""The rejects file: every rejected row of an ingest, with its file, line and reason.

One UTF-8 CSV for all files of a run, columns ``source_file,line,column,value,reason``.
The header is always written, so a file with only a header means "nothing rejected".
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path
from types import TracebackType

import pandas as pd

from guanxi.errors import InputError
from guanxi.ingest.validate import REJECT_COLUMNS

__all__ = ["RejectsWriter", "HEADER"]

HEADER = ("source_file", *REJECT_COLUMNS)


class RejectsWriter:
    """Writes rejects as they come; a context manager.

    Parameters
    ----------
    path : Path
        The CSV to write; parent folders are created.
    append : bool
        Add to an existing rejects file (a resumed run) instead of starting it anew; the
        header is written only if the file is new or empty.

    Raises
    ------
    InputError
        The path cannot be created or written.

    Examples
    --------
    >>> with RejectsWriter(tmp / "rejects.csv") as out:  # doctest: +SKIP
    ...     out.write("payments.csv", validated.rejects)
    ...     out.count
    3
    """

    def __init__(self, path: Path, *, append: bool = False) -> None:
        self.path = Path(path)
        self._count = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not append or not self.path.exists() or self.path.stat().st_size == 0
            self._file = self.path.open("w" if not append else "a", encoding="utf-8", newline="")
        except OSError as e:
            raise self._error(e) from None
        self._csv = csv.writer(self._file)
        if fresh:
            self._rows([HEADER])

    @property
    def count(self) -> int:
        """Rows written by this writer (the header and earlier runs not counted)."""
        return self._count

    def write(self, source_file: str, rejects: pd.DataFrame) -> None:
        """Append ``rejects`` (columns line, column, value, reason) of ``source_file``."""
        missing = [c for c in REJECT_COLUMNS if c not in rejects]
        if missing:
            raise ValueError(f"rejects lack column(s) {', '.join(missing)}")
        if rejects.empty:
            return
        text = [rejects[c].fillna("").astype(str).tolist() for c in REJECT_COLUMNS[1:]]
        lines = rejects["line"].astype("int64").tolist()
        self._rows(zip(repeat(source_file), lines, *text, strict=False))
        self._count += len(rejects)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _rows(self, rows: Iterable[Sequence[object]]) -> None:
        try:
            self._csv.writerows(rows)
            self._file.flush()  # rows of a crashed run stay on disk, whole
        except OSError as e:
            raise self._error(e) from None

    def _error(self, e: OSError) -> InputError:
        return InputError(f"cannot write rejects file {self.path}: {e.strerror}",
                          "pass --rejects with a writable path elsewhere")
