"""glibc's allocator, told to keep the megabyte buffers a fast answer passes through.

A fast upstream is read a megabyte at a time and relayed in pieces of up to a megabyte, each a fresh
allocation. glibc hands memory freed at the top of a heap back to the kernel once more than its trim
threshold is free there (2 MiB, once its dynamic threshold has grown), and the next read faults it
back in page by page: 14 000-19 000 page faults per 256 MiB relayed here, some 3 µs of CPU each (see
the README's benchmark section). Kept, the same pages are reused.

One arena, because every allocation the app makes is made under the GIL: an arena per thread would
save no contention, and each would keep free memory of its own. Settings of the operator's own
(glibc's MALLOC_* variables or GLIBC_TUNABLES) win over these.
"""

from __future__ import annotations

import os

from handler.body_reader import READ_SIZE

# mallopt's parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# The heap serves a relay's reads (READ_SIZE at most, plus the bytes object's header) and keeps room
# for several in flight; anything bigger is mapped and unmapped as before. (A larger mapping threshold
# would move a growing JSON answer into the heap, where every growth copies it: 4 MiB cost 4-7 MiB more
# peak RSS for a 64 MiB JSON answer.)
SETTINGS = {M_MMAP_THRESHOLD: READ_SIZE + 128 * 1024, M_TRIM_THRESHOLD: 8 * 2**20, M_ARENA_MAX: 1}
OPERATORS_OWN = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES")


def keep_buffers() -> bool:
    """Apply `SETTINGS`; whether the allocator took them. Not where libc has no `mallopt` (musl's
    ignores it, macOS has none), nor where the operator configured the allocator."""
    if any(name in os.environ for name in OPERATORS_OWN):
        return False
    import ctypes  # about 4 ms: paid once at start-up by `python -m handler` alone

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(parameter, value) == 1 for parameter, value in SETTINGS.items())
