"""Keep freed memory inside the benchmark process instead of handing it back to the OS.

glibc's malloc serves buffers above 128 KiB with a fresh ``mmap`` and unmaps them on free, so every
step's large temporaries (the [N, L, V] logits, the log-softmax inside cross-entropy) are
page-faulted in afresh: on the benchmark's CPU model that makes a cross-entropy cost ~7 ms instead
of ~1 ms. Raising the mmap and trim thresholds (``mallopt``; the same as the environment variables
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``) keeps those pages in the heap for reuse.
It changes timings only, never results, and applies to every agent and to the floor alike.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
