"""``guanxi ingest``: a folder of input files into Neo4j, validated and exactly once.

Files load in ``LOAD_ORDER`` (merchants first). Each file goes through two passes:

1. **validate**: stream it in chunks, type and check every row (``Validator``), check
   that every merchant it names is known (merchants already in Neo4j), write rejects,
   and spool the valid rows to a temporary Parquet file. A file whose reject rate is
   above ``max_reject_rate`` stops the load here: nothing of it is written.
2. **write**: send the spooled rows in batches; each batch's writes and its ledger
   record commit in one managed transaction (see ``graph/ledger.py``).

A batch is the valid rows of a fixed range of source lines (``_line // batch_size``),
so batch membership never shifts between an interrupted load and its resumption.
Loading stops at the first file that fails; files before it stay loaded, and the
next run skips them (same bytes, kind and mapping) and resumes the rest.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from guanxi.errors import GuanxiError, InputError, RejectRateExceeded
from guanxi.graph import ledger
from guanxi.graph.connection import Graph
from guanxi.graph.schema import apply_schema
from guanxi.ingest.batches import statements
from guanxi.ingest.mapping import KindMapping, load_mapping
from guanxi.ingest.reader import SourceFile, count_rows, discover, read_chunks
from guanxi.ingest.rejects import RejectsWriter
from guanxi.ingest.validate import REJECT_COLUMNS, Validator
from guanxi.output import console
from guanxi.queries import load

__all__ = ["IngestOptions", "FileReport", "IngestReport", "ingest_folder"]

_MERCHANT_REFS = {
    "payments": ("payee_id",),
    "supply": ("supplier_id", "buyer_id"),
    "shipments": ("shipper_id", "receiver_id"),
    "labels": ("merchant_id",),
    "defaults": ("merchant_id",),
}
"""Columns that must name a known merchant (rows naming an unknown one are rejected)."""

_INT_COLUMNS = {"_line": pa.int64(), "ts_ms": pa.int64(), "ts_hour": pa.int8(),
                "ts_dow": pa.int8(), "defaulted": pa.int8()}
_FLOAT_COLUMNS = {"amount", "weight_kg"}


@dataclass(frozen=True)
class IngestOptions:
    mapping: Path | None = None
    rejects: Path | None = None
    batch_size: int = 10_000
    max_reject_rate: float = 0.05
    chunk_rows: int = 100_000
    progress: bool = True
    now: datetime | None = None


@dataclass
class FileReport:
    kind: str
    file: str
    status: str = "pending"  # loaded | skipped | failed
    rows_read: int = 0
    rejected: int = 0
    rows_written: int = 0
    batches: int = 0
    batches_resumed: int = 0
    nodes_created: int = 0
    relationships_created: int = 0
    properties_set: int = 0
    seconds: float = 0.0
    note: str = ""


@dataclass
class IngestReport:
    folder: str
    rejects_file: str
    files: list[FileReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest_folder(graph: Graph, folder: Path, options: IngestOptions = IngestOptions()
                  ) -> IngestReport:
    """Load every input file of ``folder``; see the module docstring.

    Never raises for a file that fails: the report's ``error`` says why (the caller
    decides the exit code). Raises ``InputError`` for an unusable folder or mapping.
    """
    started = time.monotonic()
    if options.batch_size < 1 or not 0 <= options.max_reject_rate <= 1:
        raise InputError("--batch-size must be >= 1 and --max-reject-rate within 0..1")
    mapping = load_mapping(options.mapping)
    sources = discover(folder, mapping)
    if not sources:
        raise InputError(f"{folder} holds no input files (merchants.csv, payments.csv, ...)",
                         "see docs/ingest.md for file names, or name files in a --mapping")
    rejects_path = options.rejects or _default_rejects_path(folder)
    report = IngestReport(str(folder), str(rejects_path))
    apply_schema(graph)
    kinds = {s.kind for s in sources}
    if "merchants" not in kinds and not graph.read("MATCH (m:Merchant) RETURN m.id LIMIT 1"):
        raise InputError(f"{folder} has no merchants file and the graph has no merchants",
                         "add merchants.csv (every payee must be a known merchant)")
    if "payments" not in kinds:
        report.warnings.append("no payments file in this folder")

    progress = _progress(options.progress)
    known: pd.Index | None = None
    with RejectsWriter(rejects_path) as rejects, progress or nullcontext():
        for src in sources:
            file_report = FileReport(src.kind, src.name)
            report.files.append(file_report)
            if src.kind != "merchants" and known is None:
                known = pd.Index([r["id"] for r in graph.read(load("merchant_ids"))])
            try:
                _load_file(graph, src, mapping.for_kind(src.kind), options, known, rejects,
                           progress, file_report)
            except GuanxiError as exc:
                file_report.status = "failed"
                report.error = exc.one_line()
                break
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _default_rejects_path(folder: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(".guanxi") / "rejects" / f"{folder.resolve().name}-{stamp}.csv"


def _progress(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def _load_file(graph: Graph, src: SourceFile, km: KindMapping, options: IngestOptions,
               known: pd.Index | None, rejects: RejectsWriter, progress: Progress | None,
               report: FileReport) -> None:
    started = time.monotonic()
    key = ledger.file_key(src.sha256, src.kind, km.digest())
    record = ledger.file_record(graph, key)
    if record and record.get("status") == "done":
        report.status = "skipped"
        report.note = "already loaded (same content and mapping)"
        report.rows_read = record.get("rows_read", 0)
        report.rejected = record.get("rejected", 0)
        return
    with tempfile.TemporaryDirectory(prefix="guanxi-spool-") as tmp:
        spool = Path(tmp) / "valid.parquet"
        _validate_pass(src, km, options, known, rejects, progress, report, spool)
        rate = report.rejected / report.rows_read if report.rows_read else 0.0
        if rate > options.max_reject_rate:
            raise RejectRateExceeded(
                f"{src.name}: {report.rejected} of {report.rows_read} rows rejected "
                f"({rate:.1%}), above --max-reject-rate {options.max_reject_rate:.1%}; "
                "nothing from this file was written",
                f"see the reasons in {rejects.path}, fix the file, and run again "
                "(or raise --max-reject-rate)",
            )
        props = {"kind": src.kind, "name": src.name, "sha256": src.sha256,
                 "mapping": km.digest(), "batch_size": options.batch_size}
        record = ledger.begin_file(graph, key, props)
        batch_size = int(record["batch_size"])
        if batch_size != options.batch_size:
            report.note = f"resumed with the batch size it started with ({batch_size})"
        _write_pass(graph, src, key, batch_size, known, progress, report, spool)
    summary = {"rows_read": report.rows_read, "rejected": report.rejected,
               "rows_written": report.rows_written, "batches": report.batches}
    ledger.finish_file(graph, key, summary)
    report.status = "loaded"
    report.seconds = round(time.monotonic() - started, 2)


def _validate_pass(src: SourceFile, km: KindMapping, options: IngestOptions,
                   known: pd.Index | None, rejects: RejectsWriter, progress: Progress | None,
                   report: FileReport, spool: Path) -> None:
    validator = Validator(src.kind, km, options.now)
    task = progress.add_task(f"check {src.name}", total=count_rows(src, km)) if progress else None
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in read_chunks(src, km, options.chunk_rows):
            result = validator.validate(chunk)
            valid, bad = _check_references(src.kind, result.valid, known)
            if len(bad):
                bad = pd.concat([result.rejects, bad], ignore_index=True)
            else:
                bad = result.rejects
            if len(bad):
                rejects.write(src.name, bad.sort_values("line", kind="stable"))
            report.rows_read += len(chunk)
            report.rejected += len(bad)
            table = _to_arrow(valid)
            writer = writer or pq.ParquetWriter(spool, table.schema)
            writer.write_table(table)
            if progress:
                progress.update(task, advance=len(chunk))
    finally:
        if writer:
            writer.close()
    if writer is None:  # an empty file still gets an (empty) spool
        pq.write_table(_to_arrow(pd.DataFrame({"_line": pd.Series([], "int64")})), spool)


def _check_references(kind: str, valid: pd.DataFrame, known: pd.Index | None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    columns = _MERCHANT_REFS.get(kind, ())
    if not columns or known is None or valid.empty:
        return valid, pd.DataFrame(columns=REJECT_COLUMNS)
    unknown = {c: known.get_indexer(valid[c]) < 0 for c in columns}
    bad = np.logical_or.reduce(list(unknown.values()))
    if not bad.any():
        return valid, pd.DataFrame(columns=REJECT_COLUMNS)
    rows = []
    for i in np.flatnonzero(bad):
        cols = [c for c in columns if unknown[c][i]]
        rows.append({
            "line": int(valid["_line"].iat[i]),
            "column": ",".join(cols),
            "value": ",".join(str(valid[c].iat[i]) for c in cols),
            "reason": "unknown merchant id: list it in a merchants file loaded first",
        })
    return valid[~bad].reset_index(drop=True), pd.DataFrame(rows, columns=REJECT_COLUMNS)


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    fields = []
    for name in frame.columns:
        if name in _INT_COLUMNS:
            fields.append(pa.field(name, _INT_COLUMNS[name]))
        elif name in _FLOAT_COLUMNS:
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)


def _batches(spool: Path, batch_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Spooled rows grouped by batch number ``_line // batch_size`` (lines ascend)."""
    pending: list[pd.DataFrame] = []
    current = -1
    for record_batch in pq.ParquetFile(spool).iter_batches(batch_size=65_536):
        frame = record_batch.to_pandas()
        numbers = frame["_line"].to_numpy() // batch_size
        for n in np.unique(numbers):
            if pending and n != current:
                yield int(current), pd.concat(pending, ignore_index=True)
                pending = []
            current = n
            pending.append(frame[numbers == n])
    if pending:
        yield int(current), pd.concat(pending, ignore_index=True)


def _write_pass(graph: Graph, src: SourceFile, key: str, batch_size: int,
                known: pd.Index | None, progress: Progress | None, report: FileReport,
                spool: Path) -> None:
    already = ledger.applied_batches(graph, key)
    total = pq.ParquetFile(spool).metadata.num_rows
    task = progress.add_task(f"write {src.name}", total=total) if progress else None
    for n, batch in _batches(spool, batch_size):
        payer_is_merchant = None
        if src.kind == "payments" and known is not None:
            payer_is_merchant = known.get_indexer(batch["payer_id"]) >= 0
        report.batches += 1
        if n in already:
            report.batches_resumed += 1
        else:
            counters = ledger.apply_batch(graph, key, n,
                                          statements(src.kind, batch, payer_is_merchant))
            if counters is None:
                report.batches_resumed += 1
            else:
                report.nodes_created += counters["nodes_created"]
                report.relationships_created += counters["relationships_created"]
                report.properties_set += counters["properties_set"]
        report.rows_written += len(batch)
        if progress:
            progress.update(task, advance=len(batch))
