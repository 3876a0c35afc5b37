"""The fixed calendar of every synthetic run: data year, credit horizon, promotions, rhythms.

Nothing depends on today's date, so a run made next year gives the same bytes.
Internally a time is an integer: days or seconds since ``DATA_START`` 00:00:00
(local time, no time zone); only the writer turns them into ISO 8601 text.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DATA_DAYS",
    "DATA_START",
    "DAY",
    "HORIZON_DAYS",
    "HORIZON_START",
    "HOURLY",
    "PROMOTIONS",
    "date_strings",
    "day_index",
    "hours",
    "in_windows",
    "season",
    "ts_strings",
]

DATA_START = date(2024, 7, 1)
"""First day of payments, supply and shipments (a Monday)."""
DATA_DAYS = 365
"""2024-07-01 .. 2025-06-30 inclusive."""
HORIZON_START = date(2025, 7, 1)
HORIZON_DAYS = 365
"""Credit horizon 2025-07-01 .. 2026-06-30 inclusive: defaults are dated inside it."""
DAY = 86_400


def day_index(d: date) -> int:
    """Days from ``DATA_START`` to ``d`` (negative before it)."""
    return (d - DATA_START).days


PROMOTIONS: tuple[tuple[str, int, int], ...] = tuple(
    (name, day_index(a), day_index(b))
    for name, a, b in (
        ("国庆", date(2024, 10, 1), date(2024, 10, 7)),
        ("双11", date(2024, 11, 1), date(2024, 11, 11)),
        ("双12", date(2024, 12, 1), date(2024, 12, 12)),
        ("春节红包", date(2025, 1, 20), date(2025, 2, 12)),
        ("五一", date(2025, 4, 28), date(2025, 5, 5)),
        ("618", date(2025, 6, 1), date(2025, 6, 18)),
    )
)
"""Promotion windows (name, first day, last day): scan-to-get-red-envelope campaigns pay
merchants per paying customer; honest traffic rises a little, farming crews a lot."""

_SPRING_CLOSED = (day_index(date(2025, 1, 26)), day_index(date(2025, 2, 6)))
_NEW_YEAR_SHOPPING = (day_index(date(2025, 1, 15)), day_index(date(2025, 1, 27)))

# Hourly traffic shapes (24 weights, hour 0..23); categories point at one by name.
HOURLY: dict[str, np.ndarray] = {
    "meal": np.array([1, .5, .2, .1, .1, .2, .6, 1.5, 2, 2, 3, 9, 14, 10, 4, 2.5, 3, 8, 12, 10,
                      6, 4, 3, 2], float),
    "breakfast": np.array([.3, .1, .1, .1, .5, 4, 12, 16, 13, 7, 4, 3, 3, 2, 1.5, 1.5, 2, 2.5,
                           2, 1.5, 1, .8, .5, .3], float),
    "morning": np.array([.1, .1, .1, .3, 1.5, 5, 10, 12, 11, 9, 7, 5, 3, 2, 1.5, 2, 3, 4, 3, 1.5,
                         .6, .2, .1, .1], float),
    "allday": np.array([1, .6, .3, .2, .2, .4, 1.5, 3.5, 4.5, 4, 4, 4.5, 5, 4.5, 4, 4, 4.5, 5.5,
                        6.5, 7, 6.5, 5, 3.5, 2], float),
    "afternoon": np.array([.3, .1, .05, .05, .05, .1, .3, 1, 2, 3, 4, 5, 5.5, 6, 7, 7.5, 8, 8.5,
                           8, 7.5, 6, 4, 2, 1], float),
    "business": np.array([.05, .05, .05, .05, .1, .4, 2, 6, 10, 11, 11, 9, 6, 8, 10, 10, 9, 7, 4,
                          2, 1, .5, .2, .1], float),
    "evening": np.array([.3, .1, .05, .05, .05, .05, .1, .3, .8, 2, 4, 5, 5, 5, 5.5, 6, 6.5, 7,
                         8, 9.5, 10, 8, 4, 1], float),
}


def season(weekend_factor: float, closes_for_new_year: bool, new_year_boost: float) -> np.ndarray:
    """Relative daily traffic of one category over the data year, shape ``(DATA_DAYS,)``.

    Weekends scale by ``weekend_factor``; shops run by migrant owners close over the
    Spring Festival; some categories sell more in the fortnight before it; every
    promotion lifts honest traffic by 10% (customers chase the red envelopes too).
    """
    days = np.arange(DATA_DAYS)
    w = np.where(days % 7 >= 5, weekend_factor, 1.0)
    w = w * np.where(in_windows(days), 1.1, 1.0)
    lo, hi = _NEW_YEAR_SHOPPING
    w[lo:hi + 1] *= new_year_boost
    if closes_for_new_year:
        lo, hi = _SPRING_CLOSED
        w[lo:hi + 1] *= 0.3
    return w


def in_windows(days: np.ndarray,
               windows: tuple[tuple[str, int, int], ...] = PROMOTIONS) -> np.ndarray:
    """Boolean mask: which ``days`` fall inside any of ``windows``."""
    mask = np.zeros(np.shape(days), bool)
    for _, a, b in windows:
        mask |= (days >= a) & (days <= b)
    return mask


def hours(rng: np.random.Generator, shape_index: np.ndarray,
          shapes: list[np.ndarray]) -> np.ndarray:
    """Seconds after midnight, the hour drawn from ``shapes[shape_index[i]]``.

    Vectorised inverse-CDF over stacked cumulative tables: row ``k`` of the table is
    offset by ``k`` so one ``searchsorted`` serves every shape at once.
    """
    cum = np.stack([np.cumsum(s) / s.sum() for s in shapes])
    cum[:, -1] = 1.0
    flat = (cum + np.arange(len(shapes))[:, None]).ravel()
    u = rng.random(len(shape_index))
    pos = np.searchsorted(flat, shape_index + u, side="right")
    hour = np.minimum(pos - shape_index * 24, 23)
    return hour * 3600 + rng.integers(0, 3600, len(shape_index))


_DAY_TEXT: pa.Array | None = None
_SECOND_TEXT: pa.Array | None = None


def _lookups() -> tuple[pa.Array, pa.Array]:
    # Formatting through two small lookup tables is ~10x faster than strftime per row.
    global _DAY_TEXT, _SECOND_TEXT
    if _DAY_TEXT is None or _SECOND_TEXT is None:
        n = DATA_DAYS + HORIZON_DAYS + 1
        _DAY_TEXT = pa.array([(DATA_START + timedelta(days=i)).isoformat() for i in range(n)])
        s = np.arange(DAY)
        _SECOND_TEXT = pa.array([f"T{h:02d}:{m:02d}:{x:02d}"
                                 for h, m, x in zip(s // 3600, s // 60 % 60, s % 60, strict=True)])
    return _DAY_TEXT, _SECOND_TEXT


def ts_strings(seconds: np.ndarray) -> pa.Array:
    """ISO 8601 local date-times (``2025-03-14T12:31:07``) for seconds since ``DATA_START``."""
    days_text, secs_text = _lookups()
    seconds = np.asarray(seconds, np.int64)
    d = days_text.take(pa.array(seconds // DAY))
    t = secs_text.take(pa.array(seconds % DAY))
    return pc.binary_join_element_wise(d, t, "")


def date_strings(days: np.ndarray) -> pa.Array:
    """ISO dates (``2025-03-14``) for day indices; days before ``DATA_START`` are allowed."""
    days = np.asarray(days, np.int64)
    if len(days) == 0:
        return pa.array([], pa.string())
    lo, hi = int(days.min()), int(days.max())
    table = pa.array([(DATA_START + timedelta(days=i)).isoformat() for i in range(lo, hi + 1)])
    return table.take(pa.array(days - lo))
