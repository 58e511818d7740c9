"""Give freed memory back to the operating system.

glibc keeps memory a long batch freed (maps evicted from the session cache, decoded photos) in
its heaps, fragmented, so a window that has classified 10,000 photos held ~2x what it used.
`malloc_trim` returns those pages; elsewhere (macOS, Windows, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time

#: at most one trim per this many seconds (a trim of a 2 GB heap takes ~10-30 ms)
TRIM_INTERVAL_S = 2.0

_last_trim = 0.0
_trim = None


def _malloc_trim():
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _trim = libc.malloc_trim
            except (OSError, AttributeError):  # not glibc
                pass
    return _trim


def release_freed_memory(force: bool = False) -> bool:
    """Trim the C heap, at most every TRIM_INTERVAL_S unless forced; True if it trimmed."""
    global _last_trim
    trim = _malloc_trim()
    now = time.monotonic()
    if not trim or (not force and now - _last_trim < TRIM_INTERVAL_S):
        return False
    _last_trim = now
    trim(0)
    return True
