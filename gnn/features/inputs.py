"""What the feature modules read, computed once: edges as flat arrays, weekly series,
per-merchant sums. Private to ``gnn/features``; everything is ``(M,)`` or ``(M, W)``
float64 over merchant positions, zeros where the graph lacks a relation."""

from __future__ import annotations

import hashlib
from functools import cached_property

import numpy as np
import pandas as pd

from guanxi.gnn.features.weekly import complete_weeks, first_active, promotion_weeks
from guanxi.gnn.projection import Links, edges
from guanxi.graph.export import Exported

_PAID_BY = (("Consumer", "PAID", "Merchant"), ("Merchant", "PAID", "Merchant"))
_FLOWS = (("Merchant", "PAID", "Merchant"), ("Merchant", "SUPPLIES", "Merchant"),
          ("Merchant", "SHIPPED_TO", "Merchant"), ("Consumer", "PAID", "Merchant"))
_DAY = 86_400.0


class Payments:
    """Every payment pair into a merchant (consumer and merchant payers), flat:
    ``payee (|E|,)`` int64, ``merchant_payer (|E|,)`` bool and the aggregates."""

    def __init__(self, ex: Exported) -> None:
        parts = [(key, found) for key in _PAID_BY if (found := edges(ex, key)) is not None]

        def column(name: str) -> np.ndarray:
            return np.concatenate([found[2].get(name, np.zeros(len(found[0])))
                                   for _, found in parts]) if parts else np.zeros(0)

        self.payee = np.concatenate([f[1] for _, f in parts]) if parts else np.zeros(0, int)
        self.merchant_payer = (np.concatenate([np.full(len(f[0]), k[0] == "Merchant")
                                               for k, f in parts]) if parts
                               else np.zeros(0, bool))
        self.count = column("count")
        self.amount = column("amount")
        self.amount_sq = column("amount_sq")
        self.amount_max = column("amount_max")
        self.round_count = column("round_count")
        self.night_count = column("night_count")


class Inputs:
    """Lazily computed inputs shared by the collusion and credit features."""

    def __init__(self, ex: Exported, links: Links) -> None:
        self.ex = ex
        self.links = links
        self.n = links.n
        if ex.weeks.shape[0] != self.n:
            raise ValueError(f"weeks has {ex.weeks.shape[0]} merchants, links {self.n}")

    def sum_by(self, index: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``(M,)``: ``values`` summed per merchant position ``index``."""
        return np.bincount(index, weights=values, minlength=self.n).astype(np.float64)

    def max_by(self, index: np.ndarray, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """``(M,)``: maximum of ``values`` per merchant, ``fill`` where none."""
        out = np.full(self.n, -np.inf)
        np.maximum.at(out, index, values)
        out[~np.isfinite(out)] = fill
        return out

    @cached_property
    def payments(self) -> Payments:
        return Payments(self.ex)

    @cached_property
    def amounts(self) -> dict[str, np.ndarray]:
        """``(M,)`` amount totals per flow, from the pairs: ``paid_in`` (all payers),
        ``paid_out`` (to merchants), ``bought`` and ``sold`` (invoices)."""
        p = self.payments
        out = {"paid_in": self.sum_by(p.payee, p.amount)}
        for name, key, end in (("paid_out", ("Merchant", "PAID", "Merchant"), 0),
                               ("bought", ("Merchant", "SUPPLIES", "Merchant"), 1),
                               ("sold", ("Merchant", "SUPPLIES", "Merchant"), 0)):
            found = edges(self.ex, key)
            out[name] = (self.sum_by(found[end], found[2].get("amount", np.zeros(0)))
                         if found is not None and "amount" in found[2] else np.zeros(self.n))
        return out

    @cached_property
    def _weeks(self) -> tuple[np.ndarray, slice]:
        weeks = self.ex.weeks.numpy()
        counts = [i for i, name in enumerate(self.ex.week_names) if name.endswith("_count")]
        # Column by column: a view each, where ``weeks[:, :, counts]`` copied every count
        # (100 MB at 100,000 merchants, in a run whose fresh memory is its cost).
        total = np.zeros(weeks.shape[1])
        for column in counts:
            total += weeks[:, :, column].sum(axis=0, dtype=np.float64)
        keep = complete_weeks(total)
        return weeks, keep

    @property
    def week_count(self) -> int:
        """Complete weeks (see ``weekly.complete_weeks``)."""
        weeks, keep = self._weeks
        return len(range(*keep.indices(weeks.shape[1])))

    def series(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """``(M, W)`` float64 weekly flow ``name`` (``paid_in_count``, ...) over the
        complete weeks (of the merchant positions ``rows`` only, when given); zeros
        when the export has no such flow."""
        weeks, keep = self._weeks
        count = self.n if rows is None else len(rows)
        if name not in self.ex.week_names:
            return np.zeros((count, self.week_count))
        column = self.ex.week_names.index(name)
        flow = weeks[:, keep, column]  # a view: only the rows asked for are copied
        return (flow if rows is None else flow[rows]).astype(np.float64)

    @property
    def window(self) -> tuple[int, int]:
        """The complete weeks: the day number (days since 1970-01-01) of the first,
        and how many; ``(-1, 0)`` without any (or without their dates). Two exports
        whose merchant has the same weekly rows over the same window give it the same
        series."""
        weeks, keep = self._weeks
        if not self.week_count or self.ex.week_dates is None:
            return -1, 0
        first = keep.indices(weeks.shape[1])[0]
        day = np.asarray(self.ex.week_dates[first], "datetime64[D]").astype(np.int64)
        return int(day), self.week_count

    @cached_property
    def promotion(self) -> np.ndarray:
        """``(W,)`` bool promotion weeks, from the population's payments received."""
        return promotion_weeks(self.series("paid_in_count").sum(axis=0))

    @property
    def shared_weeks(self) -> np.ndarray:
        """``(3,)`` int64: what every merchant's weekly features read of the whole
        population, beyond any neighbourhood: the complete weeks (:attr:`window`) and a
        fingerprint of which of them are promotion weeks (:attr:`promotion`). When it
        changes (a new week; a week that tips over the promotion cut), every merchant's
        features move."""
        promotion = self.promotion
        fingerprint = hashlib.blake2b(len(promotion).to_bytes(8, "little")
                                      + np.packbits(promotion).tobytes(),
                                      digest_size=8).digest()
        return np.array([*self.window, int.from_bytes(fingerprint, "little", signed=True)],
                        dtype=np.int64)

    @cached_property
    def activity_span(self) -> tuple[np.ndarray, np.ndarray, float]:
        """First and last activity (epoch seconds, NaN where none) per merchant and the
        end of the data, from the pairs' ``first_ts``/``last_ts`` of every flow relation,
        falling back on the weekly series (week starts) where pairs carry no times."""
        first = np.full(self.n, np.inf)
        last = np.full(self.n, -np.inf)
        for key in _FLOWS:
            found = edges(self.ex, key)
            if found is None or "first_ts" not in found[2]:
                continue
            src, dst, attrs = found
            ts0, ts1 = attrs["first_ts"], attrs["last_ts"]
            ok = ts0 > 0
            ends = [dst] if key[0] != "Merchant" else [src, dst]
            for end in ends:
                np.minimum.at(first, end[ok], ts0[ok])
                np.maximum.at(last, end[ok], ts1[ok])
        end = float(last.max()) if np.isfinite(last).any() else np.nan
        weeks = self.ex.weeks.numpy()
        if weeks.shape[1] and self.ex.week_dates is not None and len(self.ex.week_dates):
            seconds = (np.asarray(self.ex.week_dates, "datetime64[s]")
                       .astype(np.int64).astype(np.float64))
            active = weeks.sum(axis=2) > 0
            idx = first_active(active.astype(np.float64))
            has = idx < weeks.shape[1]
            fill = ~np.isfinite(first) & has
            first[fill] = seconds[idx[fill]]
            if np.isnan(end):
                end = float(seconds[-1] + 7 * _DAY)
        first[~np.isfinite(first)] = np.nan
        last[~np.isfinite(last)] = np.nan
        return first, last, end

    @cached_property
    def registered(self) -> np.ndarray:
        """``(M,)`` registration date in epoch seconds, NaN where unknown."""
        frame = self.ex.merchants
        if frame is None or "registered_on" not in frame:
            return np.full(self.n, np.nan)
        reg = pd.to_datetime(frame["registered_on"], errors="coerce")
        out = (reg - pd.Timestamp(0)).dt.total_seconds().to_numpy(np.float64)
        return out

    def text(self, column: str) -> pd.Series:
        """Merchant text column (category, city, ...) as str, None where missing."""
        frame = self.ex.merchants
        if frame is None or column not in frame:
            return pd.Series([None] * self.n, dtype=object)
        values = frame[column].astype(object)
        return values.where(values.notna() & (values.astype(str).str.len() > 0), None)
