"""gnn/memory.py: freed blocks are kept for the next ones, in a real process."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

_CYCLES = """
import ctypes, resource, sys
from guanxi.gnn.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def block():  # 64 MB, every page written, then freed
    at = libc.malloc(64 << 20)
    libc.memset(at, 1, 64 << 20)
    libc.free(at)
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block()
before = faults()
for _ in range(10):
    block()
print(kept, faults() - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", _CYCLES, mode], capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc")
def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    # Ten 64 MB blocks, one after another: by default each is mapped afresh and
    # faults in its 16,384 pages; kept, the first one's pages serve the other ten.
    said, kept = _faults("keep")
    _, default = _faults("default")
    assert said == "True"
    assert default >= 10 * 16_000, default
    assert kept < 1_000, kept
