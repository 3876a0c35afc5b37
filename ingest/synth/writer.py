"""Turning integer codes into the text of the input files, and writing them.

Ids are random draws (a ring's members get ids as scattered as anyone's): merchants
``M`` + 7 digits, consumers ``C`` + 8 digits, persons ``P`` + 9 digits, agents ``SP``
+ 5 digits, business groups ``G`` + 7 digits; phones are 11-digit mobile numbers,
devices terminal serial numbers, bank accounts 16-19 digits behind a real bank's BIN.
CSV is UTF-8 with a header, amounts with two decimals; Parquet holds the same text
columns and amounts as doubles. Big files are written in chunks of ``ROWS`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from guanxi.ingest.synth.calendar import DATA_DAYS, DATA_START, DAY
from guanxi.ingest.synth.consumers import Consumers
from guanxi.ingest.synth.params import stream
from guanxi.ingest.synth.pools import BANKS, PHONE_PREFIXES
from guanxi.ingest.synth.world import World

__all__ = ["ROWS", "IdText", "TableWriter", "amounts", "make_ids", "numbered", "prefixed"]

ROWS = 1_000_000


def prefixed(prefix: str | pa.Array, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` as a string array (vectorised)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


@dataclass
class IdText:
    """Text of every code: index an array with a code to get the id as written.

    ``payer`` is indexed by payer code (merchants first, then consumers, see
    :mod:`events`); ``merchant`` and ``consumer`` are zero-copy slices of it.
    """

    payer: pa.Array
    merchant: pa.Array
    consumer: pa.Array
    person: pa.Array
    phone: pa.Array
    device: pa.Array
    bank: pa.Array
    agent: pa.Array
    group: pa.Array


def make_ids(world: World, consumers: Consumers, seed: int) -> IdText:
    """Random, unique id text for every code the run minted."""
    rng = stream(seed, "ids")
    codes = world.codes

    def unique(n: int, space: int) -> np.ndarray:
        # Distinct numbers in [1, space) in O(n): a cumulative sum of random gaps, then
        # shuffled so the order of codes says nothing about the order of ids.
        p = min(1.0, 1.2 * n / space)
        while True:
            x = np.cumsum(rng.geometric(p, n))
            if n == 0 or x[-1] < space:
                return x[rng.permutation(n)]

    phone = unique(codes.phone, len(PHONE_PREFIXES) * 10**8) - 1
    prefix = pa.array(PHONE_PREFIXES).take(pa.array(phone // 10**8))
    vendor = np.array(["SN", "LDT", "NW", "ZF"])[rng.integers(0, 4, codes.device)]
    serial = unique(codes.device, 16**10)
    bank = rng.integers(0, len(BANKS), codes.bank)
    body = unique(codes.bank, 10**9 - 1)
    lead = rng.integers(0, 10**4, codes.bank)
    accounts = [BANKS[b][1] + f"{ld:04d}"[: BANKS[b][2] - 15] + f"{x:09d}"
                for b, ld, x in zip(bank.tolist(), lead.tolist(), body.tolist(), strict=True)]
    payer = pa.concat_arrays([prefixed("M", unique(world.n, 10**7 - 1), 7),
                              prefixed("C", unique(consumers.total, 10**8 - 1), 8)])
    return IdText(
        payer=payer,
        merchant=payer.slice(0, world.n),
        consumer=payer.slice(world.n),
        person=prefixed("P", unique(codes.person, 10**9 - 1), 9),
        phone=prefixed(prefix, phone % 10**8, 8),
        device=pa.array([f"{v}{s:010X}" for v, s in zip(vendor.tolist(), serial.tolist(),
                                                          strict=True)]),
        bank=pa.array(accounts),
        agent=prefixed("SP", unique(len(world.agent_city), 10**5 - 1), 5),
        group=prefixed("G", unique(int(world.group.max()) + 1, 10**7 - 1), 7),
    )


def amounts(cents: np.ndarray, fmt: str, scale: int = 2) -> pa.Array:
    """Money (or weights) from integer minor units: exact decimals in CSV, doubles in Parquet."""
    cents = np.asarray(cents, np.int64)
    if fmt == "parquet":
        return pa.array(cents / 10**scale)
    words = np.zeros(2 * len(cents), np.int64)  # decimal128 = little-endian (low, high) words
    words[0::2] = cents
    words[1::2] = np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(18, scale), len(cents), [None, pa.py_buffer(words)])


def numbered(prefix: str, ts: np.ndarray, start: int, width: int) -> pa.Array:
    """Document numbers ``prefix`` + yyyymmdd of ``ts`` + running number from ``start``."""
    compact = pa.array([(DATA_START + timedelta(days=i)).strftime("%Y%m%d")
                        for i in range(DATA_DAYS + 1)])
    day = compact.take(pa.array(np.asarray(ts, np.int64) // DAY))
    seq = prefixed(day, np.arange(start + 1, start + len(ts) + 1), width)
    return pc.binary_join_element_wise(prefix, seq, "") if prefix else seq


class TableWriter:
    """Write one file kind as CSV or Parquet, one chunk at a time."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str) -> None:
        self.path = path
        self.rows = 0
        if fmt == "csv":
            # pyarrow quotes header names; write a plain header line ourselves.
            self._file: pa.NativeFile | None = pa.OSFile(str(path), "wb")
            self._file.write((",".join(schema.names) + "\n").encode())
            self._csv: pacsv.CSVWriter | None = pacsv.CSVWriter(
                self._file, schema,
                write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))
            self._pq: pq.ParquetWriter | None = None
        else:
            self._file = None
            self._csv = None
            self._pq = pq.ParquetWriter(str(path), schema)

    def write(self, columns: dict[str, pa.Array]) -> None:
        table = pa.table(columns)
        if self._csv is not None:
            self._csv.write_table(table)
        elif self._pq is not None:
            self._pq.write_table(table, row_group_size=ROWS)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._csv is not None:
            self._csv.close()
        if self._file is not None:
            self._file.close()
        if self._pq is not None:
            self._pq.close()

    @staticmethod
    def schema(columns: dict[str, pa.Array]) -> pa.Schema:
        return pa.schema([(k, v.type) for k, v in columns.items()])

