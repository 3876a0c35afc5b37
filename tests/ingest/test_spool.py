"""The spool between the two passes: batches that depend only on the file's bytes, and
cleanup of the folders a killed ingest leaves (no Neo4j needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from guanxi.ingest.spool import Spool, bucket_of, remove_stale_spools


def rows(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"payee_id": [f"M{i}" for i in rng.integers(0, 50, n)],
                         "amount": rng.random(n), "_line": np.arange(2, n + 2)})


def test_buckets_are_the_same_in_another_process() -> None:
    keys = pd.Series([f"M{i}" for i in range(100)])
    here = bucket_of(keys, 7).tolist()
    code = ("import pandas as pd; from guanxi.ingest.spool import bucket_of; "
            "print(bucket_of(pd.Series([f'M{i}' for i in range(100)]), 7).tolist())")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": "123"}, check=True)
    assert there.stdout.strip() == str(here)


def test_by_key_every_row_of_a_payee_is_in_one_batch_whatever_the_chunking(tmp_path: Path
                                                                          ) -> None:
    data = rows(3000)
    batches = {}
    for chunks in (1, 7):
        spool = Spool(tmp_path / str(chunks), "payee_id", buckets=12)
        (tmp_path / str(chunks)).mkdir()
        for part in np.array_split(np.arange(len(data)), chunks):
            spool.write(data.iloc[part])
        batches[chunks] = {n: sorted(b["_line"]) for n, b in spool.batches(100)}
    assert batches[1] == batches[7]
    seen = {}
    for n, lines in batches[1].items():
        for payee in data.set_index("_line").loc[lines, "payee_id"].unique():
            assert seen.setdefault(payee, n) == n
    assert sum(len(v) for v in batches[1].values()) == 3000


def test_by_line_batches_are_line_ranges(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    data = rows(250).iloc[::2]  # every other line was rejected
    spool.write(data)
    got = {n: (b["_line"].min(), b["_line"].max()) for n, b in spool.batches(100)}
    assert got == {0: (2, 98), 1: (100, 198), 2: (200, 250)}


def test_stale_spool_folders_go_and_live_ones_stay(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dead = tmp_path / f"guanxi-spool-{gone}-abc"
    mine = tmp_path / f"guanxi-spool-{os.getpid()}-def"
    other = tmp_path / "guanxi-spool-notapid-x"
    for folder in (dead, mine, other):
        folder.mkdir()
        (folder / "part-0.parquet").write_bytes(b"x")
    assert remove_stale_spools(tmp_path) == [dead]
    assert not dead.exists() and mine.exists() and other.exists()
