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
peak (3.7-3.95 GB). Allowing one heap for all threads (``M_ARENA_MAX``) took the page
faults down further but cost as much in threads waiting for it (11.5-12.0 s).

It is for the commands that score and end (``score``, ``refresh``); not ``train``,
whose peak memory at 100,000 merchants is bounded, nor long-lived processes such as
the app's server.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_KEEP = 2**31 - 1
"""Free heap top kept, in bytes: the largest ``int`` (``mallopt``'s value), 2 GiB."""


def keep_freed_memory() -> bool:
    """Have ``malloc`` keep freed blocks for reuse (module docstring): no block is
    mapped on its own, and a heap's free top is not trimmed. Returns whether it could:
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
    return bool(unmapped) and bool(untrimmed)
