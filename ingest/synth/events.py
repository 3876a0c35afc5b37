"""Column-oriented event batches (payments, invoices, shipments) as integer numpy arrays.

Generators append batches; the writer sorts them by time and turns codes into text.
Merchant codes are ``0 .. M-1``; a payer code ``>= M`` is consumer ``code - M``.
Times are seconds since ``DATA_START``; money is integer fen (cents) so amounts are
exact to two decimals. Fields are stored in the narrowest safe integer type (codes
and seconds fit in int32 for up to ``MAX_MERCHANTS``), which keeps a million-merchant
run's tens of millions of payments in a few hundred megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, Self

import numpy as np

__all__ = ["Batch", "Payments", "Shipments", "Supply"]


@dataclass
class Batch:
    """Equal-length arrays, one per field; subclasses name the fields and their dtypes."""

    dtypes: ClassVar[dict[str, type]] = {}

    def __post_init__(self) -> None:
        for f in fields(self):
            value = np.asarray(getattr(self, f.name))
            setattr(self, f.name, value.astype(self.dtypes.get(f.name, np.int64), copy=False))

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        """Concatenate batches in order (empty list gives an empty batch)."""
        if not parts:
            return cls(**{f.name: np.zeros(0, np.int64) for f in fields(cls)})
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                      for f in fields(cls)})

    def take(self, index: np.ndarray) -> Self:
        """Rows at ``index`` (a permutation or a boolean mask)."""
        return type(self)(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def by_time(self) -> Self:
        """Rows sorted by ``ts``; the stable sort keeps ties in generation order."""
        return self.take(np.argsort(self.ts, kind="stable"))  # type: ignore[attr-defined]


@dataclass
class Payments(Batch):
    """QR payments: payer code, payee merchant, ts (s), amount in fen, channel index."""

    dtypes: ClassVar[dict[str, type]] = {"payer": np.int32, "payee": np.int32, "ts": np.int32,
                                         "cents": np.int64, "channel": np.int8}
    payer: np.ndarray
    payee: np.ndarray
    ts: np.ndarray
    cents: np.ndarray
    channel: np.ndarray


@dataclass
class Supply(Batch):
    """Invoices: supplier merchant, buyer merchant, ts (s), amount in fen."""

    dtypes: ClassVar[dict[str, type]] = {"supplier": np.int32, "buyer": np.int32,
                                         "ts": np.int32, "cents": np.int64}
    supplier: np.ndarray
    buyer: np.ndarray
    ts: np.ndarray
    cents: np.ndarray


@dataclass
class Shipments(Batch):
    """Shipments: shipper merchant, receiver merchant, ts (s), weight in 0.1 kg, carrier index."""

    dtypes: ClassVar[dict[str, type]] = {"shipper": np.int32, "receiver": np.int32,
                                         "ts": np.int32, "decikg": np.int64, "carrier": np.int8}
    shipper: np.ndarray
    receiver: np.ndarray
    ts: np.ndarray
    decikg: np.ndarray
    carrier: np.ndarray
