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


def _child(script: str, mode: str) -> list[str]:
    """The words ``script`` prints in a process of its own, given ``mode``."""
    return subprocess.run([sys.executable, "-c", script, mode], capture_output=True,
                          text=True, check=True).stdout.split()


def _said_and_count(script: str, mode: str) -> tuple[str, int]:
    """What ``keep_freed_memory`` said in ``script`` (``mode`` "keep"; "None"
    otherwise) and the count it printed."""
    said, count = _child(script, mode)
    return said, int(count)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc")
def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    # Ten 64 MB blocks, one after another: by default each is mapped afresh and
    # faults in its 16,384 pages; kept, the first one's pages serve the other ten.
    said, kept = _said_and_count(_CYCLES, "keep")
    _, default = _said_and_count(_CYCLES, "default")
    assert said == "True"
    assert default >= 10 * 16_000, default
    assert kept < 1_000, kept


_HEAPS = """
import ctypes, os, sys, tempfile, threading
from guanxi.gnn.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
libc.fclose.argtypes = [ctypes.c_void_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
together = threading.Barrier(6)
def allocate():  # six threads alive at once, each allocating
    libc.malloc(1 << 20)
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "info.xml").encode()
    out = libc.fopen(path, b"w")
    libc.malloc_info(0, out)
    libc.fclose(out)
    print(kept, open(path).read().count("<heap nr="))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc")
def test_threads_share_two_heaps() -> None:
    # Six threads allocating at once: by default glibc gives most their own heap,
    # whose freed memory the others cannot reuse; kept, they share two.
    said, kept = _said_and_count(_HEAPS, "keep")
    _, default = _said_and_count(_HEAPS, "default")
    assert said == "True"
    assert kept <= 2, kept
    assert default >= 3, default


_IMPORTS = """
import gc, sys
from guanxi.gnn.memory import imported_untracked
with imported_untracked(freeze=sys.argv[1] == "keep"):
    during = gc.isenabled()
    import decimal, json  # noqa: F401
print(during, gc.isenabled(), gc.get_freeze_count() > 0)
"""


@pytest.mark.parametrize("mode, frozen", [("keep", "True"), ("default", "False")])
def test_imports_run_without_the_collector_and_what_they_made_is_frozen(
        mode: str, frozen: str) -> None:
    assert _child(_IMPORTS, mode) == ["False", "True", frozen]
