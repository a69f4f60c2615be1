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

Environment settings (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_) win; other C libraries are left alone."""

import ctypes
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
ARENAS = 1
MMAP_THRESHOLD = 4 * 1024 * 1024 + 64 * 1024
# Freed heap a command that restores keeps for its next chunk buffers.
RESTORE_KEEP_FREED = 32 * 1024 * 1024


def _mallopt():
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None  # not glibc
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return mallopt


def tune() -> None:
    mallopt = _mallopt()
    if mallopt is None:
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, ARENAS)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def keep_freed(nbytes: int = RESTORE_KEEP_FREED) -> None:
    """Keep up to `nbytes` of freed heap for the next buffers instead of
    handing it back at once (glibc's default keeps 128 KiB).

    A restore frees and allocates chunk buffers (below the mmap threshold)
    in a steady cycle; each time the heap shrank, the next buffer faulted
    its pages in again, cleared: 190,000 page faults restoring the mixed
    corpus, 13,000 keeping 32 MiB, in 0.85x the time at the same peak (8
    pairs); `export-tar` took 0.79x. A backup is no faster for it and
    peaks 4-6 MiB higher, so it is the restoring command's choice, made
    when it starts."""
    mallopt = _mallopt()
    if mallopt is not None and "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        mallopt(_M_TRIM_THRESHOLD, nbytes)
