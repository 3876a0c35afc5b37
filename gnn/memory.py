"""Freed memory kept for the next arrays, instead of handed back to the kernel.

A scoring run allocates and frees arrays of tens of megabytes thousands of times: one
GNN layer's states of 400,000 consumers are 51 MB, a weekly series of 100,000
merchants 42 MB. glibc's ``malloc`` maps each block over its threshold (at most 32 MB,
however it is set) straight from the kernel and unmaps it when freed, and trims its
heap's free top, so the next block of that size faults every page in again: at
100,000 merchants one forward pass of the GNN took 406,000 page faults, half of its
1.16 s, and a whole incremental refresh 1.3 million, 4.2-5.0 s of system time on two cores.

:func:`keep_freed_memory` has ``malloc`` serve every block from its heaps and keep
what is freed there for the next block. At 100,000 merchants the forward pass then
took 0.64-0.71 s instead of 1.13-1.18 s (in the main thread; threads allocate from
heaps of their own, which keep less), and an incremental refresh 11.0-11.5 s instead
of 11.6-12.6 s in the process, four runs of each in turn, with 0.3-0.4 GB more at its
peak (3.7-3.95 GB).

Threads share **two heaps** (``M_ARENA_MAX``): glibc gives each thread a heap of its own
(up to eight per core), and what one frees the others cannot reuse, so each phase run in
threads (the features, the two GNN heads, the snapshot written beside the scoring)
faulted in memory the main thread had freed moments before; and a block over 64 MB in
a thread's heap is mapped and unmapped all the same. On a machine whose fresh memory
costs 4.7 s a gigabyte (docs/performance.md), an incremental refresh at 100,000
merchants (interleaved runs, back to back) took 16.5-17.8 s with the default, 15.1-16.9 s
with one heap for all, and 13.9-16.2 s (one run 19.6 s) with two: 300,000-370,000 page
faults instead of 380,000-445,000, and 2.7 GB at the peak instead of 3.0 GB.

It is for the commands that score and end (``score``, ``refresh``); not ``train``,
whose peak memory at 100,000 merchants is bounded, nor long-lived processes such as
the app's server.

**The model stack is imported outside the garbage collector** (:func:`imported_untracked`).
Importing torch, PyG, pandas and LightGBM makes about 470,000 objects the cyclic
collector tracks (functions, tuples, dicts), and each full collection walks every one
of them: an incremental refresh at 100,000 merchants spent 1.18 s in collections, 0.95
s of it in eight full ones, most while importing. With the collector off while
importing, and what was imported moved to its permanent generation
(``gc.freeze``: never walked again), the run spent 0.13 s. A frozen object is never
collected, so the commands that freeze are those that score and end, whose process
skips Python's teardown (``interrupts.leave``, which unfreezes when it cannot skip it).
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["imported_untracked", "keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_ARENAS = 2
"""Heaps shared by every thread (module docstring)."""
_KEEP = 2**31 - 1
"""Free heap top kept, in bytes: the largest ``int`` (``mallopt``'s value), 2 GiB."""


def keep_freed_memory() -> bool:
    """Have ``malloc`` keep freed blocks for reuse (module docstring): no block is
    mapped on its own, a heap's free top is not trimmed, and threads share
    :data:`_ARENAS` heaps (call it before starting threads: one that has its own heap
    keeps it). Returns whether it could:
    False where the C library is not glibc (macOS, musl), which then allocates as it
    always does."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    unmapped, untrimmed = mallopt(_M_MMAP_MAX, 0), mallopt(_M_TRIM_THRESHOLD, _KEEP)
    shared = mallopt(_M_ARENA_MAX, _ARENAS)
    return bool(unmapped) and bool(untrimmed) and bool(shared)


@contextmanager
def imported_untracked(*, freeze: bool) -> Iterator[None]:
    """Run the imports inside with the cyclic garbage collector off (module docstring),
    then turn it back on as it was; ``freeze``: first move every object alive to the
    collector's permanent generation, where no collection looks again (for a process
    that scores and ends; a long-lived one would keep garbage alive that way).

    >>> with imported_untracked(freeze=False):
    ...     gc.isenabled()
    False
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was:
            gc.enable()
