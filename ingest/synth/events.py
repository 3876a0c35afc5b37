"""Column-oriented event batches (payments, invoices, shipments) as integer numpy arrays.

Generators append batches; the writer sorts them by time and turns codes into text.
Merchant codes are ``0 .. M-1``; a payer code ``>= M`` is consumer ``code - M``.
Times are seconds since ``DATA_START``; money is integer fen (cents) so amounts are
exact to two decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Self

import numpy as np

__all__ = ["Batch", "Payments", "Shipments", "Supply"]


@dataclass
class Batch:
    """Equal-length arrays, one per field; subclasses name the fields."""

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

    payer: np.ndarray
    payee: np.ndarray
    ts: np.ndarray
    cents: np.ndarray
    channel: np.ndarray


@dataclass
class Supply(Batch):
    """Invoices: supplier merchant, buyer merchant, ts (s), amount in fen."""

    supplier: np.ndarray
    buyer: np.ndarray
    ts: np.ndarray
    cents: np.ndarray


@dataclass
class Shipments(Batch):
    """Shipments: shipper merchant, receiver merchant, ts (s), weight in 0.1 kg, carrier index."""

    shipper: np.ndarray
    receiver: np.ndarray
    ts: np.ndarray
    decikg: np.ndarray
    carrier: np.ndarray
