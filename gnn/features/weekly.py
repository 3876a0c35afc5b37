"""Per-merchant statistics of weekly series: bursts, promotion weeks, robust trends.

Every function takes ``(M, W)`` arrays (merchants x weeks, ``W`` may be 0 or 1) and
returns ``(M,)`` float64 arrays, finite, with a documented neutral value where a merchant
has too few active weeks. Nothing here knows a calendar: promotion weeks are found in
the data.

>>> x = np.array([[0., 1., 1., 4.], [0., 0., 0., 0.]])
>>> burst(x).tolist()
[4.0, 0.0]
>>> top_share(x, 1).tolist()
[0.6666666666666666, 0.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["complete_weeks", "burst", "top_share", "promotion_weeks", "first_active",
           "weeks_since_active", "robust_trend", "to_blocks", "ratio"]


def ratio(num: np.ndarray, den: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """``num / den`` elementwise, ``fill`` where ``den`` is 0 (or the result not finite)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    out = np.full(np.broadcast(num, den).shape, fill, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    out[~np.isfinite(out)] = fill
    return out


def complete_weeks(activity: np.ndarray, cut: float = 0.5) -> slice:
    """The weeks to keep: all but a partial first or last week.

    An export usually ends (and may start) mid-week, so that week holds a few days of
    flows and looks like a collapse for everyone. The first (last) week is dropped when
    the population's activity in it is below ``cut`` times the median of the four
    weeks next to it. ``activity``: ``(W,)`` population totals per week.
    """
    w = len(activity)
    start, stop = 0, w
    if w >= 3:
        if activity[-1] < cut * np.median(activity[max(0, w - 5):w - 1]):
            stop -= 1
        if activity[0] < cut * np.median(activity[1:min(w, 5)]):
            start += 1
    return slice(start, stop)


def burst(x: np.ndarray) -> np.ndarray:
    """``max_w x / median of x over active weeks (x > 0)``; 0 for a merchant never active.

    A ring's activity comes in a few weeks (before a loan application, in a promotion);
    an honest shop's busiest week is a small multiple of its ordinary one.
    """
    m, w = x.shape
    if w == 0:
        return np.zeros(m)
    s = np.sort(x, axis=1)
    active = (x > 0).sum(axis=1)
    lo = np.clip(w - active + (active - 1) // 2, 0, w - 1)
    hi = np.clip(w - active + active // 2, 0, w - 1)
    rows = np.arange(m)
    median = (s[rows, lo] + s[rows, hi]) / 2
    return ratio(s[:, -1], np.where(active > 0, median, 0.0))


def top_share(x: np.ndarray, k: int = 6) -> np.ndarray:
    """Share of the total in the ``k`` largest weeks; 0 for a merchant never active."""
    if x.shape[1] == 0:
        return np.zeros(x.shape[0])
    k = min(k, x.shape[1])
    top = np.partition(x, x.shape[1] - k, axis=1)[:, -k:].sum(axis=1)
    return ratio(top, x.sum(axis=1))


def promotion_weeks(activity: np.ndarray, *, window: int = 9, floor: float = 0.05,
                    sigmas: float = 3.0) -> np.ndarray:
    """``(W,)`` bool: weeks whose population activity is unusually high.

    .. math::
        r_w = \\log \\frac{a_w}{\\mathrm{median}(a_{w-4}, \\dots, a_{w+4})}, \\qquad
        \\text{promotion}_w = r_w > \\max(\\text{floor}, \\text{sigmas} \\cdot
        1.4826 \\, \\mathrm{MAD}(r))

    Campaign weeks (red envelopes per paying customer) lift everyone's traffic a
    little, so they stand out in the population total against its rolling median,
    whatever the calendar; a slow trend or a season moves the median along with it.
    Fewer than ``window // 2 + 1`` weeks: none.
    """
    a = np.asarray(activity, np.float64)
    if len(a) <= window // 2 or a.sum() <= 0:
        return np.zeros(len(a), dtype=bool)
    base = pd.Series(a).rolling(window, center=True, min_periods=1).median().to_numpy()
    r = np.log(np.maximum(a, 1e-9) / np.maximum(base, 1e-9))
    mad = 1.4826 * np.median(np.abs(r - np.median(r)))
    return r > max(floor, sigmas * mad)


def first_active(x: np.ndarray) -> np.ndarray:
    """``(M,)`` int: index of the first week with ``x > 0``; ``W`` when never."""
    if x.shape[1] == 0:
        return np.zeros(x.shape[0], dtype=np.int64)
    active = x > 0
    return np.where(active.any(axis=1), active.argmax(axis=1), x.shape[1])


def weeks_since_active(x: np.ndarray) -> np.ndarray:
    """``(M,)`` float: complete weeks after the last one with ``x > 0``; ``W`` when
    never active."""
    return first_active(x[:, ::-1]).astype(np.float64)


def robust_trend(y: np.ndarray, start: np.ndarray, *, iterations: int = 5,
                 per: float = 52.0, least: int = 4, bound: float = 10.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Huber regression of each row of ``y`` on time, from step ``start[i]`` to the end.

    .. math::
        \\min_{a, b} \\sum_{w \\ge s_i} \\rho_c(y_{iw} - a - b w), \\qquad
        c = 1.345 \\cdot 1.25 \\cdot \\mathrm{mean}|r|

    solved by iteratively reweighted least squares (weights ``min(1, c / |r|)``), all
    merchants at once. The span runs to the end of the data, not to the last active
    week, so that takings that stop show as a fall; it starts at the first activity, so
    that a young shop is not "growing" from the zeros before it opened. Returns
    ``(slope * per, rms)``: the slope per ``per`` steps (a year) and the root mean
    square of the residuals over the span (the volatility around the trend); both 0
    with fewer than ``least`` steps in the span (too young to say). The slope is
    clipped to ``+-bound`` (a factor ``e**10`` a year): beyond that a few weeks' slope
    says "opened" or "stopped", not a rate, and would swamp the partners' means that
    contagion takes.
    """
    m, w = y.shape
    least = max(least, 3)
    if w < least:
        return np.zeros(m), np.zeros(m)
    t = np.arange(w, dtype=np.float64)[None, :]
    span = t >= start[:, None]
    enough = span.sum(axis=1) >= least
    weight = span.astype(np.float64)
    slope = np.zeros(m)
    for _ in range(iterations):
        total = weight.sum(axis=1)
        tm = ratio((weight * t).sum(axis=1), total)
        ym = ratio((weight * y).sum(axis=1), total)
        dt = t - tm[:, None]
        slope = ratio((weight * dt * (y - ym[:, None])).sum(axis=1),
                      (weight * dt * dt).sum(axis=1))
        resid = np.where(span, y - ym[:, None] - slope[:, None] * dt, 0.0)
        scale = 1.345 * 1.25 * ratio(np.abs(resid).sum(axis=1), span.sum(axis=1))
        weight = span * np.minimum(1.0, ratio(scale[:, None], np.abs(resid), fill=1.0))
    rms = np.sqrt(ratio((resid * resid).sum(axis=1), span.sum(axis=1)))
    slope = np.clip(slope * per, -bound, bound)
    return np.where(enough, slope, 0.0), np.where(enough, rms, 0.0)



def to_blocks(x: np.ndarray, start: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum weeks into blocks of ``size``, aligned to the end of the data.

    Returns ``(M, W // size)`` block totals (a leading remainder of weeks is dropped)
    and, per merchant, the first block that lies wholly after week ``start[i]``.
    Four-week blocks average out the weeks with no payment at all of a small shop,
    which otherwise dominate a regression on its log amounts.

    >>> b, first = to_blocks(np.arange(10.)[None, :], np.array([2]), 4)
    >>> b.tolist(), first.tolist()
    ([[14.0, 30.0]], [1])
    """
    m, w = x.shape
    count = w // size
    offset = w - count * size
    blocks = x[:, offset:].reshape(m, count, size).sum(axis=2)
    first = np.clip(-((offset - start - 1) // size), 0, count)  # ceil((start+1-offset)/size)
    return blocks, first
