"""Snapshots: what a scoring run read, kept for the next incremental run (``graph/delta.py``).

One file per database (a folder named by a hash of its address and database name),
the latest run's: saving one removes the older. The file holds plain tensors, lists,
strings and numbers only, and is read with ``torch.load(weights_only=True)``: the
folder must be writable by the refresh job, so a file in it must not be able to run
code when read (a pickle could). A SHA-256 beside it catches a damaged file (a flipped
bit in a tensor still loads), and the parts are checked against each other on load.

Text (ids, merchant columns) is kept as one tensor of UTF-8 bytes per column with the
offsets of its values (:func:`_text`): the safe loader reads a list of strings about
four times slower than the unsafe one (6 s for the 1.5 million ids of a
100,000-merchant graph), a tensor at disk speed.

>>> kept = _text(["M1", None, "商户"])
>>> kept["offsets"].tolist(), _strings(kept).tolist()
([0, 2, 2, 8], ['M1', None, '商户'])
>>> kept = _text(["M1", None, "", "C22"])
>>> kept["offsets"].tolist(), _strings(kept).tolist()
([0, 2, 2, 2, 5], ['M1', None, '', 'C22'])
>>> _strings(_text(["a\\0b", "", "商"])).tolist()
['a\\x00b', '', '商']
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from guanxi.graph import model
from guanxi.graph.connection import Graph
from guanxi.graph.export import MERCHANT_COLUMNS, Exported

__all__ = ["Snapshot", "SnapshotError", "Staged", "is_kept", "load_snapshot",
           "save_snapshot", "snapshots_dir", "stage_snapshot", "staged_meanwhile"]

log = logging.getLogger("guanxi.snapshot")

_FORMAT = 4
"""4: the weeks dense, as the export holds them (mapped when loaded, not rebuilt); 3: text
as UTF-8 tensors, only the weeks with a flow; 2: with the run's communities and FastRP;
1: the export only, text as lists."""

_STALE_PART = 3600.0
"""Seconds after which a part file left in the folder is a dead run's: a live run
writes its own in seconds, and another run's commit must not remove it."""


@dataclass
class Snapshot:
    """What a run read (``ex``) and the whole-graph results it wrote, per merchant in
    ``ex.ids["Merchant"]`` order: ``communities`` (M,) int64 (-1: none) and ``fastrp``
    (M, D) float32, or None when the run computed none; and ``computed``, arrays of
    its own a run keeps for the next (the scorer's stage-0 inputs and scores: that
    run recomputes only the rows that changed), by name, row ``i`` merchant ``i``."""

    ex: Exported
    communities: np.ndarray
    fastrp: np.ndarray | None = None
    computed: dict[str, np.ndarray] = field(default_factory=dict)

    def one_row_each(self) -> bool:
        """Whether ``communities``, ``fastrp`` and ``computed`` have one row per
        merchant of ``ex``."""
        merchants = len(self.ex.ids.get("Merchant", ()))
        return len(self.communities) == merchants and (self.fastrp is None
                                                       or len(self.fastrp) == merchants) \
            and all(len(a) == merchants for a in self.computed.values())


def snapshots_dir(models: Path) -> Path:
    """Where snapshots are kept: ``GUANXI_SNAPSHOT_DIR``, else ``snapshots`` in the
    ``models`` folder (a refresh whose models folder is mounted read-only names a
    writable one)."""
    chosen = os.environ.get("GUANXI_SNAPSHOT_DIR")
    return Path(chosen).expanduser().absolute() if chosen else models / "snapshots"


def _folder(root: Path, graph: Graph) -> Path:
    """The snapshots of ``graph``'s database: two databases scored with one models
    folder keep apart."""
    where = f"{graph.settings.uri}|{graph.settings.database or ''}"
    return root / hashlib.sha256(where.encode()).hexdigest()[:16]


def _file(run: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run) + ".pt"


def _mtime(path: Path) -> float:
    """When ``path`` was last written; 0 once it is gone (removed meanwhile)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class SnapshotError(Exception):
    """A snapshot that could not be kept, or is kept but cannot be used; the message
    says why in a few words."""


def save_snapshot(root: Path, graph: Graph, run: str, kept: Snapshot) -> Path | None:
    """Keep ``kept`` as what run ``run`` read and computed (replacing the database's older
    snapshots), with the SHA-256 of the file beside it; None, and nothing kept, when the
    export left edges out (an ingest wrote during it). Raises :class:`SnapshotError`
    when the file cannot be written (the next run then reads the whole graph)."""
    staged = stage_snapshot(root, graph, run, kept)
    return None if staged is None else staged.commit()


@dataclass(frozen=True)
class Staged:
    """A snapshot written beside the kept ones (``path``), not yet kept: a run stages
    its snapshot while it scores and writes, and keeps it (:meth:`commit`) only once its
    scores are current."""

    path: Path
    target: Path
    digest: str

    def commit(self) -> Path:
        """Keep it as ``target``, replacing the database's older snapshots and part files
        left by dead runs (a run staging beside it keeps its own); raises
        :class:`SnapshotError` when it cannot be kept (nothing is then kept). An older
        entry that cannot be removed is logged and left: the new one is kept all the same."""
        digest = self.target.parent / f"{self.target.name}.sha256"
        try:
            digest.write_text(self.digest)
            os.replace(self.path, self.target)
        except OSError as exc:
            self.discard()
            raise SnapshotError(f"could not keep it in {self.target.parent}: "
                                f"{exc.strerror or exc}") from None
        now = time.time()
        for older in self.target.parent.iterdir():
            if older in (self.target, digest) or (
                    older.suffix == ".part" and now - _mtime(older) < _STALE_PART):
                continue  # ours, or another run still staging its own
            try:
                older.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("kept the snapshot %s, but could not remove %s beside it (%s)",
                            self.target.name, older, exc.strerror or exc,
                            extra={"event": "snapshot", "kept": True})
        return self.target

    def discard(self) -> None:
        """Remove the staged file (the run it was for did not become current)."""
        self.path.unlink(missing_ok=True)


def stage_snapshot(root: Path, graph: Graph, run: str, kept: Snapshot) -> Staged | None:
    """Write ``kept`` as :func:`save_snapshot` does, but keep it only on
    :meth:`Staged.commit`; None when the export left edges out. Raises
    :class:`SnapshotError` when the file cannot be written. Reads nothing from Neo4j:
    it may run in a thread beside the run's reads and writes."""
    ex = kept.ex
    if ex.skipped:
        return None
    if not kept.one_row_each():
        raise ValueError("communities, fastrp and computed need one row per merchant "
                         f"({len(ex.ids.get('Merchant', ()))})")
    folder = _folder(root, graph)
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as fh:
            tmp = Path(fh.name)
            torch.save({"format": _FORMAT, "run": run, **_plain(ex),
                        "communities": torch.from_numpy(
                            np.array(kept.communities, dtype=np.int64)),
                        **({} if kept.fastrp is None else {"fastrp": torch.from_numpy(
                            np.array(kept.fastrp, dtype=np.float32))}),
                        "computed": {name: torch.from_numpy(np.array(values))
                                     for name, values in kept.computed.items()}}, fh)
        return Staged(tmp, folder / _file(run), _digest(tmp))
    except BaseException as exc:  # Ctrl-C too: no part file is left for an hour
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if not isinstance(exc, OSError | RuntimeError):  # torch: a full disk is RuntimeError
            raise
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SnapshotError(f"could not write it in {folder}: {why}") from None


@contextmanager
def staged_meanwhile(root: Path, graph: Graph, run: str, kept: Snapshot
                     ) -> Iterator[Callable[[], Path | None]]:
    """Stage ``kept`` (:func:`stage_snapshot`) in a thread while the block runs (a run
    scores and writes meanwhile: 1-2 s saved at 100,000 merchants). The block calls
    the function it gets once the run is current, to keep the snapshot: it returns
    and raises what :func:`save_snapshot` does. Left uncalled (the block failed), the
    staged file is removed. When the block fails, its error is the one raised, even if
    staging failed too."""
    with ThreadPoolExecutor(1, thread_name_prefix="guanxi-snapshot") as pool:
        staging = pool.submit(stage_snapshot, root, graph, run, kept)

        def keep() -> Path | None:
            staged = staging.result()
            return None if staged is None else staged.commit()

        failed = False
        try:
            yield keep
        except BaseException:
            failed = True
            raise
        finally:
            try:
                staged = staging.result()
            except SnapshotError:
                staged = None
            except Exception:
                if not failed:
                    raise
                staged = None  # the block's own error is the one to report
            if staged is not None:
                staged.discard()  # kept: already moved to its name, nothing to remove


def is_kept(root: Path, graph: Graph, run: str) -> bool:
    """Whether a snapshot of run ``run`` is kept in ``root`` (usable or not: that is
    for :func:`load_snapshot` to say)."""
    return (_folder(root, graph) / _file(run)).exists()


def load_snapshot(root: Path, graph: Graph, run: str) -> Snapshot | None:
    """What run ``run`` read and computed; None when no snapshot of it is kept. Raises
    :class:`SnapshotError` for one that is kept but cannot be used: damaged (its digest
    differs), not a snapshot guanxi wrote, or inconsistent."""
    path = _folder(root, graph) / _file(run)
    if not path.exists():
        return None
    if not path.is_file():  # a folder, or a link to a device that never ends
        raise SnapshotError("it is not a regular file")
    try:
        digest = Path(f"{path}.sha256").read_text().strip()
    except OSError:
        raise SnapshotError("it has no digest beside it") from None
    with ThreadPoolExecutor(1, thread_name_prefix="guanxi-digest") as pool:
        # Hashed while it loads and is unpacked (hashing frees the interpreter; 0.5 s at
        # 100,000 merchants, as long as the unpacking): weights_only runs no code even
        # for a damaged file, and what the unpacking makes of one (an error, or
        # nonsense) is dropped once the digest rejects it.
        before = _identity(path)
        hashing = pool.submit(_digest, path)
        try:
            # Mapped, not read: its pages come from the page cache as they are read,
            # where fresh memory for 330 MB of tensors took 1-2 s (docs/performance.md).
            # Privately: an array changed in place is the process's copy, never the file.
            kept = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:
            try:  # a file system that cannot map files: read, as before
                kept = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # said below, once the digest has its say
                kept = exc
        try:
            snapshot = _unpacked(kept, run)
        except SnapshotError as exc:
            snapshot = exc
        try:
            actual = hashing.result()
        except OSError as exc:
            raise SnapshotError(f"it cannot be read ({exc.strerror or exc})") from None
    if actual != digest:
        raise SnapshotError("its content differs from its digest (damaged)")
    # The digest is of the file the pages are mapped from only if nothing replaced or
    # rewrote it meanwhile (snapshots are replaced by renaming: a new inode).
    if _identity(path) != before:
        raise SnapshotError("it was replaced while it was read")
    if isinstance(snapshot, SnapshotError):
        raise snapshot
    return snapshot


def _unpacked(kept: dict[str, Any] | Exception, run: str) -> Snapshot:
    """The :class:`Snapshot` in what ``torch.load`` gave (or the error it raised);
    :class:`SnapshotError` when that is not a usable snapshot of run ``run``."""
    try:
        if isinstance(kept, Exception):
            raise kept
        if kept.get("format") != _FORMAT or kept.get("run") != run:
            raise SnapshotError(f"it is not format {_FORMAT} of run {run}")
        snapshot = Snapshot(_checked(_exported(kept)), kept["communities"].numpy(),
                            kept["fastrp"].numpy() if "fastrp" in kept else None,
                            {name: values.numpy()
                             for name, values in kept.get("computed", {}).items()})
        if not snapshot.one_row_each():
            raise SnapshotError("it is inconsistent: its merchants and the results kept for "
                                "them disagree")
        return snapshot
    except SnapshotError:
        raise
    except Exception as exc:  # damaged or foreign: a miss, not a crash
        # Not torch's own message: it advises loading with weights_only=False, which is
        # what a file in a writable folder must never be loaded with.
        raise SnapshotError(f"it is not a snapshot guanxi can read "
                            f"({type(exc).__name__})") from None


def _identity(path: Path) -> tuple[int, int, int, int]:
    """What tells one file, and one version of its content, from another."""
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _checked(ex: Exported) -> Exported:
    """``ex``, after checking its parts agree (an edge names a node that exists, one
    merchant row and one week row per merchant); SnapshotError when they do not."""
    sizes = {label: len(values) for label, values in ex.ids.items()}
    wrong = []
    for key in ex.data.edge_types:
        index = ex.data[key].edge_index
        if index.numel() and (index.min() < 0 or index[0].max() >= sizes.get(key[0], 0)
                              or index[1].max() >= sizes.get(key[2], 0)):
            wrong.append(f"{'-'.join(key)} edges name nodes it does not have")
        attr = ex.data[key].get("edge_attr")
        if attr is not None and attr.shape[0] != index.shape[1]:
            wrong.append(f"{'-'.join(key)} has {attr.shape[0]} attribute rows for "
                         f"{index.shape[1]} edges")
    merchants = sizes.get("Merchant", 0)
    if ex.weeks.dtype != torch.float32 or ex.weeks.dim() != 3:
        wrong.append("its weeks are not a (merchants, weeks, flows) float32 tensor")
    elif len(ex.merchants) != merchants or ex.weeks.shape[0] != merchants \
            or ex.weeks.shape[1] != len(ex.week_dates):
        wrong.append("its merchants, rows and weeks disagree")
    # Written by a guanxi whose graph model had other weekly flows or aggregates.
    aggregates = {r.key: tuple(a.name for a in r.aggregates) for r in model.RELATIONS}
    if tuple(ex.week_names) != model.week_property_names() \
            or (ex.weeks.dim() == 3 and ex.weeks.shape[2] != len(model.week_property_names())) \
            or any(aggregates.get(k) != v for k, v in ex.edge_attr_names.items()):
        wrong.append("its weekly flows or edge aggregates are not this graph model's")
    if wrong:
        raise SnapshotError(f"it is inconsistent: {wrong[0]}")
    return ex


def _text(values: Sequence[str | None]) -> dict[str, torch.Tensor]:
    """``values`` as tensors: their UTF-8 bytes end to end, the ``(n + 1,)`` offsets of
    each value's bytes, and which are missing."""
    texts = ["" if v is None else v for v in values]
    joined = "".join(texts)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    if joined.isascii():
        # One character, one byte: the lengths are the offsets, and one encode does all
        # (1.5 million ids: 0.3 s instead of 1.2 s, in a thread beside the scoring).
        np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)),
                  out=offsets[1:])
        raw = joined.encode("ascii")
    else:
        encoded = [t.encode() for t in texts]
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        raw = b"".join(encoded)
    return {"utf8": torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).copy()),
            "offsets": torch.from_numpy(offsets),
            "missing": torch.tensor([v is None for v in values], dtype=torch.bool)}


def _strings(kept: dict[str, torch.Tensor]) -> np.ndarray:
    """The object array :func:`_text` kept."""
    utf8, offsets = kept["utf8"].numpy(), kept["offsets"].numpy()
    if len(offsets) < 2:
        return np.empty(0, dtype=object)
    if not (utf8 == 0).any():
        # A NUL between values, then one decode and one split, in C: the 1.5 million
        # ids of a 100,000-merchant graph, 0.22 s sliced one by one, take 0.11 s.
        values = np.insert(utf8, offsets[1:-1], 0).tobytes().decode().split("\0")
    else:  # a NUL inside a value: sliced
        raw = utf8.tobytes()
        values = [raw[a:b].decode() for a, b in zip(offsets[:-1].tolist(),
                                                    offsets[1:].tolist(), strict=True)]
    out = np.empty(len(values), dtype=object)
    out[:] = values
    out[kept["missing"].numpy()] = None
    return out


def _plain(ex: Exported) -> dict[str, Any]:
    merchants = ex.merchants.copy()
    merchants["registered_on"] = merchants["registered_on"].dt.strftime("%Y-%m-%d")
    text = {c: _text([None if pd.isna(v) else v for v in merchants[c].tolist()])
            for c in MERCHANT_COLUMNS if c != "defaulted"}
    defaulted = torch.from_numpy(merchants["defaulted"].astype("Int8").fillna(-1)
                                 .to_numpy(np.int8))
    edges = {}
    for key in ex.data.edge_types:
        store = ex.data[key]
        edges["|".join(key)] = {"edge_index": store.edge_index,
                                **({"edge_attr": store.edge_attr} if "edge_attr" in store
                                   else {})}
    return {"ids": {label: _text(values.tolist()) for label, values in ex.ids.items()},
            "merchants": {**text, "defaulted": defaulted},
            "edges": edges,
            "edge_attr_names": {"|".join(k): list(v) for k, v in ex.edge_attr_names.items()},
            # Dense, as the export holds them: loaded, they are the file's pages (mapped),
            # where the flows alone (a quarter of the weeks, 100,000 merchants: 0.4 of
            # the size) were made dense again in 254 MB of fresh memory, and made sparse
            # again to be kept (docs/performance.md).
            "weeks": ex.weeks, "week_dates": torch.from_numpy(
                ex.week_dates.astype("datetime64[D]").astype(np.int64)),
            "week_names": list(ex.week_names)}


def _exported(kept: dict[str, Any]) -> Exported:
    ids = {label: _strings(values) for label, values in kept["ids"].items()}
    data = HeteroData()
    for label, values in ids.items():
        data[label].num_nodes = len(values)
    for name, store in kept["edges"].items():
        key = tuple(name.split("|"))
        data[key].edge_index = store["edge_index"]
        if "edge_attr" in store:
            data[key].edge_attr = store["edge_attr"]
    columns = kept["merchants"]
    merchants = pd.DataFrame({c: pd.Series(_strings(columns[c]), dtype=object)
                              for c in MERCHANT_COLUMNS if c != "defaulted"})
    merchants["registered_on"] = pd.to_datetime(merchants["registered_on"], format="%Y-%m-%d")
    defaulted = pd.Series(columns["defaulted"].numpy(), dtype="Int8")
    merchants["defaulted"] = defaulted.mask(defaulted < 0)
    return Exported(data, ids,
                    {tuple(k.split("|")): tuple(v) for k, v in kept["edge_attr_names"].items()},
                    merchants, kept["weeks"],
                    kept["week_dates"].numpy().astype("datetime64[D]"),
                    tuple(kept["week_names"]))
