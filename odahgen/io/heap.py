"""Keep NumPy's large temporaries on the C heap (glibc only; elsewhere a no-op).

glibc's malloc serves every block above its mmap threshold (128 KB at first) with a fresh
``mmap`` and hands it back with ``munmap`` on free, and it returns the top of the heap to the
system once more than 128 KB of it is free. Batched NumPy kinematics allocates and frees
temporaries of 0.1-10 MB many times a second (IK's normal equations on 120 frames: a
(120, 41, 19) feature array, (120, U, U) twist products), so each of them costs page faults on
fresh memory. :func:`keep_temporaries_on_heap` raises both thresholds for the process: blocks
up to :data:`MMAP_THRESHOLD` come from the heap, and up to :data:`TRIM_THRESHOLD` of freed heap
is kept for reuse. Measured on bench/ik.py's real trial (2-core Xeon): the normal equations of
120 frames called over and over 52 -> 38 us per frame; one 600-frame ``run_ik_tree`` with
registration only 0.320 -> 0.313 s CPU (~2-3 %: between its calls other allocations keep the
heap top busy, so glibc trims less there than in the repeated call).
The cost is memory the process keeps after a peak: at most TRIM_THRESHOLD of free heap.

The thresholds are process-wide and inherited by forked workers. Set from the environment
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``), glibc's own settings win: then this
leaves them alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: largest block served from the heap instead of its own mmap (glibc's maximum on 64-bit)
MMAP_THRESHOLD = 32 * 1024 * 1024
#: most free memory kept at the top of the heap before it is returned to the system
TRIM_THRESHOLD = 64 * 1024 * 1024

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_done: bool | None = None


def keep_temporaries_on_heap() -> bool:
    """Raise glibc's mmap and trim thresholds once per process (see the module docstring);
    True where they are set (now or before), False where the C library has no ``mallopt``
    or the user set them in the environment."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
