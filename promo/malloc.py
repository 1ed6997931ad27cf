"""Give large freed buffers back to the operating system (glibc only).

A worker that scores an audience reads the whole purchase history into pandas frames,
hundreds of MB, and frees them. glibc serves allocations above a threshold with their own
memory maps, returned to the system on free, but raises that threshold each time such a
buffer is freed (up to 32 MB), so from then on the frames come from the heap and their
memory stays with the worker for good. Fixing the threshold keeps them mapped.
bench/worker_memory.py measures the effect; gunicorn's master calls this before forking.
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3
THRESHOLD_BYTES = 1 << 20


def return_large_buffers_to_the_system(threshold: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold for this process (and the processes it forks); False
    where there is no glibc (macOS, musl), which changes nothing."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
