"""Tests of utils/allocator.py: glibc serves training-sized buffers from its heap once it is called.

Each case runs in a fresh interpreter, since the settings are process-wide.
"""

from __future__ import annotations

import ctypes.util
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Allocates 16 MiB through libc and prints how many bytes glibc then holds in mmapped chunks.
PROBE = """
import ctypes, ctypes.util, sys
sys.path.insert(0, {root!r})
from utils.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
applied = keep_freed_memory() if {apply} else None
before = libc.mallinfo2().hblkhd
buffer = libc.malloc(16 * 2**20)
print(applied, libc.mallinfo2().hblkhd - before)
"""

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or ctypes.util.find_library("c") is None,
    reason="the settings are glibc's",
)


def _probe(apply: bool) -> tuple[str, int]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(root=str(REPO_ROOT), apply=apply)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    applied, mmapped = result.stdout.split()
    return applied, int(mmapped)


@glibc_only
def test_default_glibc_serves_a_16_mib_buffer_with_mmap() -> None:
    # The baseline the setting changes: without it the buffer is a fresh mapping, unmapped on free.
    assert _probe(apply=False)[1] >= 16 * 2**20


@glibc_only
def test_keep_freed_memory_serves_it_from_the_heap() -> None:
    applied, mmapped = _probe(apply=True)
    assert applied == "True"
    assert mmapped == 0
