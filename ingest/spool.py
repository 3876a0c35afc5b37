"""Validated rows of one file, parked on disk between the validate and write passes.

Two layouts, both giving batches whose membership depends only on the file's bytes
(never on which rows an earlier, interrupted run accepted), so that the ingest
ledger can resume a file exactly:

- **by line**: batch ``n`` holds the valid rows of source lines
  ``[n * batch_size, (n + 1) * batch_size)``; used for merchants, labels, defaults.
- **by key**: batch ``n`` holds every valid row whose key (the payee of a payment, the
  buyer of an invoice or shipment) hashes to bucket ``n`` of ``buckets``. All rows of a
  (payer, payee) pair then land in one batch and are aggregated once per file, and
  concurrent batches never share a payee. Rows go to at most 64 files on disk, so
  memory holds one file's worth (about ``rows / 64``), not the whole input.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["Spool", "bucket_of", "remove_stale_spools"]

_MAX_FILES = 64
_INT_TYPES = {"_line": pa.int64(), "ts_ms": pa.int64(), "ts_hour": pa.int8(),
              "ts_dow": pa.int8(), "ts_week": pa.int32(), "defaulted": pa.int8(),
              "_bucket": pa.int64()}
_FLOATS = {"amount", "weight_kg"}


def bucket_of(keys: pd.Series, buckets: int) -> np.ndarray:
    """Stable bucket numbers of ``keys`` (same in every process and run)."""
    return (pd.util.hash_array(keys.to_numpy(dtype=object)) % np.uint64(buckets)).astype(np.int64)


def remove_stale_spools(root: Path | None = None) -> list[Path]:
    """Delete spool folders (``guanxi-spool-<pid>-*`` in ``root``, default the temp dir)
    whose ingest process is gone, as a ``kill -9`` leaves them; return what was removed.

    A folder counts as stale when its pid runs no more, or runs a process started after
    the folder was made (a recycled pid).
    """
    root = Path(root or tempfile.gettempdir())
    removed = []
    for path in root.glob("guanxi-spool-*-*"):
        pid = path.name.split("-")[2]
        with contextlib.suppress(OSError, ValueError):
            made = path.stat().st_mtime
            try:
                alive = psutil.Process(int(pid)).create_time() <= made + 1
            except psutil.NoSuchProcess:
                alive = False
            if not alive:
                shutil.rmtree(path)
                removed.append(path)
    return removed


def _schema(frame: pd.DataFrame) -> pa.Schema:
    fields = []
    for name in frame.columns:
        if name in _INT_TYPES:
            fields.append(pa.field(name, _INT_TYPES[name]))
        elif name in _FLOATS:
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


class Spool:
    """Write valid chunks with :meth:`write`, then read batches with :meth:`batches`.

    ``key`` names the column to bucket by (None: batches by line); ``buckets`` is the
    number of batches to hash into.
    """

    def __init__(self, folder: Path, key: str | None = None, buckets: int = 1) -> None:
        self.folder, self.key, self.buckets = folder, key, max(1, buckets)
        self.files = min(self.buckets, _MAX_FILES) if key else 1
        self._writers: dict[int, pq.ParquetWriter] = {}
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self.rows += len(frame)
        if self.key is None:
            self._append(0, frame)
            return
        frame = frame.assign(_bucket=bucket_of(frame[self.key], self.buckets))
        target = frame["_bucket"].to_numpy() % self.files
        for f in np.unique(target):
            self._append(int(f), frame[target == f])

    def _append(self, f: int, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, schema=_schema(frame), preserve_index=False)
        writer = self._writers.get(f)
        if writer is None:
            writer = self._writers[f] = pq.ParquetWriter(self.folder / f"part-{f}.parquet",
                                                         table.schema)
        writer.write_table(table)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def batches(self, batch_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(batch number, rows)`` in a fixed order; see the module docstring."""
        self.close()
        if self.key is None:
            yield from self._line_batches(batch_size)
            return
        for f in range(self.files):
            path = self.folder / f"part-{f}.parquet"
            if not path.exists():
                continue
            frame = pq.read_table(path).to_pandas()
            buckets = frame.pop("_bucket").to_numpy()
            for n in np.unique(buckets):
                yield int(n), frame[buckets == n]

    def _line_batches(self, batch_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
        path = self.folder / "part-0.parquet"
        if not path.exists():
            return
        pending: list[pd.DataFrame] = []
        current = -1
        for record_batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            frame = record_batch.to_pandas()
            numbers = frame["_line"].to_numpy() // batch_size
            for n in np.unique(numbers):  # lines ascend, so batch numbers do too
                if pending and n != current:
                    yield int(current), pd.concat(pending, ignore_index=True)
                    pending = []
                current = n
                pending.append(frame[numbers == n])
        if pending:
            yield int(current), pd.concat(pending, ignore_index=True)
