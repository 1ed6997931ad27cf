"""Handing freed heap memory back to the operating system."""
from __future__ import annotations

import ctypes


def give_back_memory() -> None:
    """Return the freed heap to the system after a build. A build's temporaries (read
    chunks, sorts and sums over 1.5M purchases; a campaign history or recent demand read
    whole) come from glibc's heap, which keeps their pages otherwise (about 200 MB after
    an audience build: docs/benchmarks.md, worker memory; tens of MB a round of audience
    refreshes: bench/soak.py)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):    # not glibc: nothing to do
        pass
