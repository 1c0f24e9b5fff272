"""The C allocator's settings for a long-running gateway process.

glibc serves a large allocation (128 KiB and up by default) with its own memory mapping, handed
back to the system when freed, but raises that threshold each time such a block is freed, up to
32 MiB. A gateway allocates blocks of that size for every long request (orjson's output buffers,
zlib's state for stored conversations), so after the first few the threshold has risen and they
come from the heap, where a crowd of long streams leaves them scattered between live objects:
1,000 Codex-shaped streams held about 40 MB more (`store: true`) that the process never gave back.
Fixing the threshold keeps such blocks mapped and returned. ``GLIBC_TUNABLES`` can still set
another one (``glibc.malloc.mmap_threshold``): then it is left alone.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 128 * 1024  # glibc's own default, without its dynamic raising


def fix_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold; False where the C library is not glibc or it is set already."""
    if "mmap_threshold" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        # The process's own symbols, the C library's among them (find_library would run ldconfig).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
