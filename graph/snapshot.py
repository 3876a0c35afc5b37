"""Snapshots: what a scoring run read, kept for the next incremental run (``graph/delta.py``).

One file per database (a folder named by a hash of its address and database name),
the latest run's: saving one removes the older. The file holds plain tensors, lists,
strings and numbers only, and is read with ``torch.load(weights_only=True)``: the
folder must be writable by the refresh job, so a file in it must not be able to run
code when read (a pickle could).

>>> plain = _plain_frame(pd.DataFrame({"id": ["M1"], "defaulted": pd.array([pd.NA], "Int8")}))
>>> plain
{'id': ['M1'], 'defaulted': [None]}
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from guanxi.graph.connection import Graph
from guanxi.graph.export import MERCHANT_COLUMNS, Exported

__all__ = ["load_snapshot", "save_snapshot", "snapshots_dir"]

log = logging.getLogger("guanxi.snapshot")

_FORMAT = 1


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


def save_snapshot(root: Path, graph: Graph, run: str, ex: Exported) -> Path | None:
    """Keep ``ex`` as what run ``run`` read (replacing the database's older snapshots);
    None, and nothing kept, when the export left edges out (an ingest wrote during it)
    or the file cannot be written (logged: the next run reads the whole graph)."""
    if ex.skipped:
        return None
    folder = _folder(root, graph)
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as fh:
            tmp = Path(fh.name)
            torch.save({"format": _FORMAT, "run": run, **_plain(ex)}, fh)
        target = folder / _file(run)
        os.replace(tmp, target)
        for older in folder.iterdir():
            if older != target:
                older.unlink(missing_ok=True)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        log.warning("could not keep the snapshot of run %s in %s: %s", run, folder, exc)
        return None
    return target


def load_snapshot(root: Path, graph: Graph, run: str) -> Exported | None:
    """What run ``run`` read, if its snapshot is kept and readable; else None."""
    path = _folder(root, graph) / _file(run)
    if not path.exists():
        return None
    try:
        kept = torch.load(path, map_location="cpu", weights_only=True)
        if kept.get("format") != _FORMAT or kept.get("run") != run:
            return None
        return _exported(kept)
    except Exception as exc:  # a damaged or foreign file is a miss, not an error
        log.warning("could not read the snapshot %s: %s", path, exc)
        return None


def _plain_frame(frame: pd.DataFrame) -> dict[str, list]:
    return {c: [None if pd.isna(v) else v for v in frame[c].tolist()] for c in frame.columns}


def _plain(ex: Exported) -> dict[str, Any]:
    merchants = ex.merchants.copy()
    merchants["registered_on"] = merchants["registered_on"].dt.strftime("%Y-%m-%d")
    merchants["defaulted"] = merchants["defaulted"].astype(object)
    edges = {}
    for key in ex.data.edge_types:
        store = ex.data[key]
        edges["|".join(key)] = {"edge_index": store.edge_index,
                                **({"edge_attr": store.edge_attr} if "edge_attr" in store
                                   else {})}
    return {"ids": {label: values.tolist() for label, values in ex.ids.items()},
            "merchants": _plain_frame(merchants[list(MERCHANT_COLUMNS)]),
            "edges": edges,
            "edge_attr_names": {"|".join(k): list(v) for k, v in ex.edge_attr_names.items()},
            "weeks": ex.weeks, "week_dates": torch.from_numpy(
                ex.week_dates.astype("datetime64[D]").astype(np.int64)),
            "week_names": list(ex.week_names)}


def _exported(kept: dict[str, Any]) -> Exported:
    ids = {label: np.array(values, dtype=object) for label, values in kept["ids"].items()}
    data = HeteroData()
    for label, values in ids.items():
        data[label].num_nodes = len(values)
    for name, store in kept["edges"].items():
        key = tuple(name.split("|"))
        data[key].edge_index = store["edge_index"]
        if "edge_attr" in store:
            data[key].edge_attr = store["edge_attr"]
    merchants = pd.DataFrame({c: pd.Series(v, dtype=object)
                              for c, v in kept["merchants"].items()})
    merchants["registered_on"] = pd.to_datetime(merchants["registered_on"], format="%Y-%m-%d")
    merchants["defaulted"] = pd.to_numeric(merchants["defaulted"]).astype("Int8")
    return Exported(data, ids,
                    {tuple(k.split("|")): tuple(v) for k, v in kept["edge_attr_names"].items()},
                    merchants, kept["weeks"],
                    kept["week_dates"].numpy().astype("datetime64[D]"),
                    tuple(kept["week_names"]))
