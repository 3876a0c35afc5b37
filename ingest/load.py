"""``guanxi ingest``: a folder of input files into Neo4j, validated and exactly once.

Files load in ``LOAD_ORDER`` (merchants first). Each file goes through two passes:

1. **validate**: stream it in chunks, type and check every row (``Validator``), check
   that every merchant it names is known (merchants already in Neo4j), write rejects,
   and spool the valid rows to temporary Parquet files. A file whose reject rate is
   above ``max_reject_rate`` stops the load here: nothing of it is written.
2. **write**: send the spooled rows in batches, ``workers`` transactions at a time;
   each batch's writes and its ledger record commit in one managed transaction (see
   ``graph/ledger.py``).

Batch membership depends only on the file's bytes (``spool.py``), so it never shifts
between an interrupted load and its resumption. A file is claimed in the ledger for the
whole of both passes, so a second ingest of the same bytes stops with ``LockHeld``
instead of racing the first (``graph/ledger.py``).

Loading stops at the first file that fails; files before it stay loaded, and the
next run skips them (same bytes and kind, whatever their name or mapping) and resumes
the rest.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guanxi.errors import GuanxiError, InputError, RejectRateExceeded, ServerError
from guanxi.graph import ledger
from guanxi.graph.connection import Graph
from guanxi.graph.schema import apply_schema
from guanxi.graph.writes import Batch, write_batches
from guanxi.ingest.batches import Prepared, statements, weekly_flows, weekly_statements
from guanxi.ingest.extends import find_base
from guanxi.ingest.mapping import KindMapping, load_mapping
from guanxi.ingest.reader import SourceFile, count_rows, discover, read_chunks, unknown_columns
from guanxi.ingest.rejects import RejectsWriter
from guanxi.ingest.spool import Spool, bucket_of, remove_stale_spools
from guanxi.ingest.validate import REJECT_COLUMNS, Validator
from guanxi.progress import ProgressFn
from guanxi.queries import load

__all__ = ["IngestOptions", "FileReport", "IngestReport", "ingest_folder", "RELOADABLE"]

_MERCHANT_REFS = {
    "payments": ("payee_id",),
    "supply": ("supplier_id", "buyer_id"),
    "shipments": ("shipper_id", "receiver_id"),
    "labels": ("merchant_id",),
    "defaults": ("merchant_id",),
}
"""Columns that must name a known merchant (rows naming an unknown one are rejected)."""

_BUCKET_KEYS = {"payments": "payee_id", "supply": "buyer_id", "shipments": "receiver_id"}
"""Kinds aggregated per pair, spooled by the hash of this column (see ``spool.py``)."""

_IN_FILE_ORDER = {"labels", "defaults"}
"""Kinds where the later row wins: their batches are written one at a time, in order."""

RELOADABLE = frozenset({"merchants", "labels", "defaults"})
"""Kinds whose rows set properties (the last write wins), so loading a file again under
another mapping replaces what it wrote. Payments, supply and shipments add to pair
totals: loading their bytes again would count every row twice, so it is never done."""


@dataclass(frozen=True)
class IngestOptions:
    """How to load a folder; the defaults are the command line's."""

    mapping: Path | None = None
    rejects: Path | None = None
    batch_size: int = 10_000
    max_reject_rate: float = 0.05
    chunk_rows: int = 100_000
    workers: int = 2
    progress: ProgressFn | None = None
    """Called as ``progress("check payments.csv", rows, total)``, then ``"write ..."``."""
    now: datetime | None = None
    reload: bool = False


@dataclass
class FileReport:
    kind: str
    file: str
    status: str = "pending"  # loaded | reloaded | skipped | failed
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
    after_line: int = 0
    """Lines before this one were another file already loaded (``ingest/extends.py``)."""


@dataclass
class IngestReport:
    folder: str
    rejects_file: str
    files: list[FileReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: GuanxiError | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(replace(self, error=None))
        out["error"] = self.error.as_dict() if self.error else None
        return out


def ingest_folder(graph: Graph, folder: Path, options: IngestOptions = IngestOptions()
                  ) -> IngestReport:
    """Load every input file of ``folder``; see the module docstring.

    Never raises for a file that fails: the report's ``error`` holds the
    :class:`GuanxiError` (the caller decides the exit code). Raises ``InputError`` for
    an unusable folder, mapping or option.
    """
    started = time.monotonic()
    for name, value, ok, rule in (
            ("--batch-size", options.batch_size, options.batch_size >= 1, "at least 1"),
            ("--workers", options.workers, options.workers >= 1, "at least 1"),
            ("--max-reject-rate", options.max_reject_rate,
             0 <= options.max_reject_rate <= 1, "between 0 and 1")):
        if not ok:
            raise InputError(f"{name} must be {rule} (got {value})", f"pass {name} {rule}")
    remove_stale_spools()
    mapping = load_mapping(options.mapping)
    sources = discover(folder, mapping)
    if not sources:
        raise InputError(f"{folder} holds no input files (merchants.csv, payments.csv, ...)",
                         "see docs/ingest.md for file names, or name files in a --mapping")
    rejects_path = options.rejects or _default_rejects_path(folder)
    report = IngestReport(str(folder), str(rejects_path))
    apply_schema(graph)
    kinds = {s.kind for s in sources}
    known: pd.Index | None = None
    if "merchants" not in kinds:
        known = _merchant_ids(graph)
        if known.empty:
            raise InputError(f"{folder} has no merchants file and the graph has no merchants",
                             "add merchants.csv (every payee must be a known merchant)")
    if "payments" not in kinds:
        report.warnings.append("no payments file in this folder")

    with RejectsWriter(rejects_path) as rejects:
        for src in sources:
            file_report = FileReport(src.kind, src.name)
            report.files.append(file_report)
            if src.kind != "merchants" and known is None:
                known = _merchant_ids(graph)  # after the folder's merchants are written
            km = mapping.for_kind(src.kind)
            try:
                unused = unknown_columns(src, km)
                if unused:
                    report.warnings.append(f"{src.name}: columns not used: {', '.join(unused)} "
                                           "(rename them in a mapping file if they are needed)")
                _FileLoad(graph, src, km, options, known, rejects, file_report,
                          report.warnings).run()
            except GuanxiError as exc:
                file_report.status = "failed"
                report.error = exc
                break
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _merchant_ids(graph: Graph) -> pd.Index:
    """Every merchant id in the graph, as an index for fast membership tests."""
    return pd.Index([row["id"] for row in graph.read(load("merchant_ids"))], dtype=object)


def _default_rejects_path(folder: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(".guanxi") / "rejects" / f"{folder.resolve().name}-{stamp}.csv"


@dataclass
class _FileLoad:
    """Loading one file: claim it, check it, write it, record it (module docstring)."""

    graph: Graph
    src: SourceFile
    km: KindMapping
    options: IngestOptions
    known: pd.Index | None
    rejects: RejectsWriter
    report: FileReport
    warnings: list[str]
    source_parts: list[pd.DataFrame] = field(default_factory=list)
    """The check pass's partial sums of the sources' weekly flows (``weekly_flows``)."""

    def run(self) -> None:
        started = time.monotonic()
        src = self.src
        self.key = ledger.file_key(src.sha256, src.kind)
        self.reading = _reading(src, self.km)
        self.owner = ledger.Owner.me()
        reload = self.options.reload and src.kind in RELOADABLE
        record = ledger.claim_file(self.graph, self.key, self.owner, src.name, reload=reload,
                                   content={"kind": src.kind, "name": src.name,
                                            "path": str(src.path.resolve()),
                                            "sha256": src.sha256, "size": src.size_bytes,
                                            "head": src.head})
        if record["status"] == "done" and not reload:
            self._skip(record)
            return
        try:
            with ledger.Heartbeat(self.graph, self.key, self.owner) as self.heartbeat:
                self._load(record)
        except ServerError:
            raise  # the server went away: the claim is left to go stale (or be taken over)
        except BaseException:
            with contextlib.suppress(GuanxiError):
                ledger.release_file(self.graph, self.key, self.owner)
            raise
        ledger.release_file(self.graph, self.key, self.owner)
        self.report.seconds = round(time.monotonic() - started, 2)

    def _skip(self, record: dict[str, Any]) -> None:
        src, report = self.src, self.report
        report.status = "skipped"
        report.rows_read = record.get("rows_read", 0)
        report.rejected = record.get("rejected", 0)
        when = str(record.get("finished_at", ""))[:19]
        other = record.get("reading") not in (None, self.reading["digest"])
        if self.options.reload:  # asked for, on a kind whose rows add up
            report.note = (f"not reloaded: {src.kind} rows add to pair totals, so loading "
                           "these bytes again would count them twice")
        elif other:
            report.note = f"already loaded under another mapping on {when}; not loaded again"
        else:
            report.note = "already loaded (same content)"
        if other:
            fix = ("run with --reload to replace what it wrote" if src.kind in RELOADABLE else
                   "to read it differently, load it into an empty graph")
            self.warnings.append(
                f"{src.name} (the same bytes as {record.get('name')}) was loaded on {when} "
                f"with other reading settings {record.get('reading_settings')}; these rows "
                f"are not loaded twice. {fix}")

    def _load(self, record: dict[str, Any]) -> None:
        src, km, options, report = self.src, self.km, self.options, self.report
        resuming = record["status"] == "loading"
        if resuming and record.get("reading") != self.reading["digest"]:
            raise InputError(
                f"{src.name} is partly loaded under other reading settings "
                f"{record.get('reading_settings')}",
                "finish it with the mapping it started with, then change the mapping")
        generation = int(record.get("generation") or 0) + (record["status"] == "done")
        # Rows of an earlier file this one extends are loaded already: only the lines
        # after them are read. A resumed file keeps the start it was given.
        base, unrecorded = (None, 0) if resuming or generation else find_base(
            self.graph, src, self.key, self.reading)
        if base is None and unrecorded:
            self.warnings.append(
                f"{unrecorded} {src.kind} file(s) were loaded by a guanxi that did not record "
                f"how files start: if {src.name} repeats their rows, they now count twice")
        report.after_line = base.lines if base else int(record.get("base_lines") or 0)
        lines = max(count_rows(src, km) - report.after_line, 0)
        # A resumed file keeps the batching it started with, whatever the options say now.
        batch_size = int(record["batch_size"]) if resuming else options.batch_size
        buckets = int(record["buckets"]) if resuming else max(1, math.ceil(lines / batch_size))
        if resuming and batch_size != options.batch_size:
            report.note = f"resumed with the batch size it started with ({batch_size})"
        if base is not None:
            report.note = (f"rows after line {base.lines:,} only: the lines before are "
                           f"{base.named}, loaded {base.finished}")
        elif resuming and report.after_line:
            report.note = (f"rows after line {report.after_line:,} only (the lines before "
                           f"are a file already loaded); {report.note or 'resumed'}")
        with tempfile.TemporaryDirectory(prefix=f"guanxi-spool-{os.getpid()}-") as tmp:
            spool = Spool(Path(tmp), _BUCKET_KEYS.get(src.kind), buckets)
            self._check(spool, lines)
            rate = report.rejected / report.rows_read if report.rows_read else 0.0
            if rate > options.max_reject_rate:
                raise RejectRateExceeded(
                    f"{src.name}: {report.rejected} of {report.rows_read} rows rejected "
                    f"({rate:.1%}), above --max-reject-rate {options.max_reject_rate:.1%}; "
                    "nothing from this file was written",
                    f"see the reasons in {self.rejects.path}, fix the file, and run again "
                    "(or raise --max-reject-rate)",
                )
            begun = ledger.begin_file(self.graph, self.key, self.owner, generation, {
                "kind": src.kind, "name": src.name, "sha256": src.sha256,
                "mapping": km.digest(), "reading": self.reading["digest"],
                "reading_settings": self.reading["settings"], "batch_size": batch_size,
                "buckets": buckets, "base": base.key if base else None,
                "base_lines": report.after_line})
            self._write(spool, batch_size, int(begun["generation"]))
        summary = {"rows_read": report.rows_read, "rejected": report.rejected,
                   "rows_written": report.rows_written, "batches": report.batches}
        ledger.finish_file(self.graph, self.key, self.owner, summary)
        report.status = "reloaded" if generation and not resuming else "loaded"

    def _check(self, spool: Spool, lines: int) -> None:
        """The first pass: validate, check references, write rejects, spool valid rows."""
        src, report, progress = self.src, self.report, self.options.progress
        validator = Validator(src.kind, self.km, self.options.now)
        task = f"check {src.name}"
        for chunk in read_chunks(src, self.km, self.options.chunk_rows):
            if report.after_line:
                chunk = chunk[chunk["_line"] > report.after_line]
                if chunk.empty:
                    continue
            result = validator.validate(chunk)
            valid, bad = _check_references(src.kind, result.valid, self.known)
            bad = pd.concat([result.rejects, bad], ignore_index=True) if len(bad) \
                else result.rejects
            if len(bad):
                self.rejects.write(src.name, bad.sort_values("line", kind="stable"))
            report.rows_read += len(chunk)
            report.rejected += len(bad)
            spool.write(valid)
            if src.kind in _BUCKET_KEYS and len(valid):
                self.source_parts.append(weekly_flows(src.kind, valid, self._merchant_payers(
                    valid), side="source"))
            if progress:
                progress(task, report.rows_read, lines)
        spool.close()

    def _losing_links(self, prepared: Prepared, generation: int) -> list[str]:
        """A reload of merchants replaces their identifier links: the merchants that
        shared one with them may lose it, and are touched too (for the refresh job)."""
        if self.src.kind != "merchants" or generation == 0 or not prepared.merchants:
            return []
        return sorted(self.graph.read(load("ingest_identifier_mates"),
                                      ids=prepared.merchants)[0]["ids"])

    def _merchant_payers(self, rows: pd.DataFrame) -> np.ndarray | None:
        """Which payments rows a merchant paid (None: not payments, or no merchants known)."""
        if self.src.kind != "payments" or self.known is None:
            return None
        return self.known.get_indexer(rows["payer_id"]) >= 0

    def _write(self, spool: Spool, batch_size: int, generation: int) -> None:
        """The second pass: the batches not yet in the ledger, through ``write_batches``
        (``workers`` at a time; labels and defaults one at a time, in file order)."""
        src, report = self.src, self.report
        already = ledger.applied_batches(self.graph, self.key, generation)
        skipped_rows = 0

        def pending():
            nonlocal skipped_rows
            for n, rows in spool.batches(batch_size):
                report.batches += 1
                if n in already:
                    report.batches_resumed += 1
                    skipped_rows += len(rows)
                    continue
                prepared = statements(src.kind, rows, self._merchant_payers(rows),
                                      replace=generation > 0)
                yield Batch(n, prepared.statements, len(rows),
                            prepared.merchants + self._losing_links(prepared, generation))

        def source_weeks():
            """The weekly flows of the sources (payments made, supply sold, shipments
            sent), after every pair batch: bucketed by merchant, so that no two batches
            written at once touch one MerchantWeek (no lock waits, no deadlocks)."""
            if not self.source_parts:
                return
            table = pd.concat(self.source_parts).groupby(["merchant", "week"],
                                                         as_index=False).sum()
            buckets = bucket_of(table["merchant"], spool.buckets)
            for b in np.unique(buckets):
                n = spool.buckets + int(b)
                report.batches += 1
                if n in already:
                    report.batches_resumed += 1
                    continue
                prepared = weekly_statements(table[buckets == b])
                yield Batch(n, prepared.statements, 0, prepared.merchants)

        def check() -> None:
            if self.heartbeat.lost:
                raise ledger.LockLost(f"the claim on {src.name} was taken over by another "
                                      "ingest", "run the command again once it has ended")

        def progress(task: str, done: int, total: int | None) -> None:
            if self.options.progress:  # batches applied earlier count as done
                self.options.progress(task, done + skipped_rows, total)

        workers = 1 if src.kind in _IN_FILE_ORDER else self.options.workers
        apply = ledger.recorded(self.key, generation, self.owner)
        totals = write_batches(self.graph, pending(), workers=workers, apply=apply,
                               progress=progress, task=f"write {src.name}",
                               total_rows=spool.rows, check=check)
        weekly = write_batches(self.graph, source_weeks(), workers=workers, apply=apply,
                               check=check)
        totals.merge(weekly)  # its batches carry no rows of their own: rows stay the pairs'
        report.rows_written += totals.rows + skipped_rows
        report.batches_resumed += totals.batches_skipped  # applied by a concurrent run
        report.nodes_created += totals.nodes_created
        report.relationships_created += totals.relationships_created
        report.properties_set += totals.properties_set


def _reading(src: SourceFile, km: KindMapping) -> dict[str, Any]:
    """How the file's bytes are read: the mapping less its file name, encoding resolved.

    Two mappings that read the bytes alike (one restating a default, say) compare equal.
    """
    # Headers match case-insensitively, so renaming PAYER_ID to payer_id changes nothing.
    columns = {k: v for k, v in km.columns.items() if k.strip().lower() != v.lower()}
    same = replace(km, file=None, encoding=src.encoding, columns=columns)
    settings = {k: v for k, v in asdict(same).items() if k not in ("kind", "file")}
    return {"digest": same.digest(),
            "settings": json.dumps(settings, ensure_ascii=False, sort_keys=True)}


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
