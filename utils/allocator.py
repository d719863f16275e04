"""C allocator settings for long training runs (glibc only)."""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameter numbers from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
# Buffers up to 32 MiB (glibc's ceiling for this setting) come from the heap, not fresh mmaps;
# up to 1 GiB of freed heap top stays in the process; the heap grows 256 MiB at a time.
SETTINGS = ((M_MMAP_THRESHOLD, 32 * 2**20), (M_TRIM_THRESHOLD, 2**30), (M_TOP_PAD, 256 * 2**20))


def keep_freed_memory() -> bool:
    """Let glibc keep freed memory for reuse instead of handing it back to the kernel.

    Every training step allocates and frees the same tensor buffers. By default glibc serves
    the big ones with mmap and returns them, and the trimmed heap top, to the kernel, which
    faults the pages back in on the next step. With these settings training is much faster with
    bit-identical results and a little more resident memory (bench/RESULTS.md, "Memory
    allocator"). Process-wide, so only entry points that train call it.

    Returns:
        True when every setting was applied; False where the C library is not glibc.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in SETTINGS)
