"""Process-wide settings of the C allocator, made once before any thread starts.

glibc gives threads that allocate their own arenas (up to eight per core).
Chunks are decrypted and decompressed in worker threads and freed in the
main thread, so the freed buffers end up spread over many half-empty arenas
that are never handed back: restoring 200,000 small files peaked at 210 MiB
with the default, 160 MiB with two arenas and 124 MiB with one. Large
buffers do not take the arena's lock (see below), small objects are
Python's own, so one arena costs little contention. A fixed mmap threshold
keeps large buffers (chunks, packs) in their own mappings, returned to the
system as soon as they are freed, instead of letting glibc raise the
threshold and keep them in the heap.

Environment settings (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_) win; other
C libraries are left alone."""

import ctypes
import os

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
ARENAS = 1
MMAP_THRESHOLD = 4 * 1024 * 1024 + 64 * 1024


def tune() -> None:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, ARENAS)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
