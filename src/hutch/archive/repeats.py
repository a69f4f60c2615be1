"""Repeated chunks in a restore: a large chunk that the archive holds more
than once (copies of a file, disk images, a block repeated within a file)
is fetched, authenticated, decrypted and decompressed once and read back
from where it was restored for its later places.

The planner, which runs ahead of the writer to feed the chunk reader,
puts a `Passed` in place of a chunk it has planned before; the reader
passes it through unfetched; the writer reads the chunk back from the file
it restored it to and checks it against its id, a keyed hash, since that
file is outside hutch's control and may have changed since. Anything amiss
(the file gone, replaced, changed, unreadable) and the writer fetches the
chunk from the repository after all. Each side remembers a bounded number
of ids, so memory does not grow with the archive."""

import os
import stat
from collections.abc import Callable

from ..repo.reader import Passed

# Smaller chunks come from a run of neighbours in one read; an open, a read
# and a hash of their own would cost about as much.
REPEATS_FROM = 64 * 1024
# The chunker's largest chunk. Sizes come from the archive, which a client
# holding the key can write as it likes: the read back must stay bounded.
REPEATS_UP_TO = 16 * 1024 * 1024
# Ids remembered on each side (about 4 MiB in all), at 1 MiB a chunk 16 GiB
# back into the restore; and the writer's paths, counted in full though
# the chunks of one file share theirs, so long paths cannot add more.
REMEMBERED = 16384
PATH_BYTES = 2 * 1024 * 1024


class RepeatPlanner:
    """The planner's side: which large chunks were planned already."""

    def __init__(self) -> None:
        self._seen: dict[bytes, None] = {}

    def plan(self, cid: bytes, size: int) -> tuple[bytes, int] | Passed:
        if not REPEATS_FROM <= size <= REPEATS_UP_TO:
            return cid, size
        seen = self._seen
        if cid in seen:
            del seen[cid]  # most recently used goes last, so the oldest is evicted
            seen[cid] = None
            return Passed(cid, size)
        seen[cid] = None
        if len(seen) > REMEMBERED:
            del seen[next(iter(seen))]
        return cid, size


class RestoredCopies:
    """The writer's side: where each large chunk was restored."""

    def __init__(self, chunk_id: Callable[[bytes], bytes]):
        self._chunk_id = chunk_id
        self._where: dict[bytes, tuple[bytes, int]] = {}
        self._path_bytes = 0

    def remember(self, cid: bytes, fs_path: bytes, offset: int) -> None:
        where = self._where
        if cid in where:
            return
        where[cid] = (fs_path, offset)
        self._path_bytes += len(fs_path)
        while len(where) > REMEMBERED or self._path_bytes > PATH_BYTES:
            self._forget(next(iter(where)))

    def _forget(self, cid: bytes) -> tuple[bytes, int] | None:
        location = self._where.pop(cid, None)
        if location is not None:
            self._path_bytes -= len(location[0])
        return location

    def read(self, passed: Passed) -> bytes | None:
        """The chunk, read back from where it was restored, or None."""
        location = self._forget(passed.cid)
        if location is None:
            return None
        fs_path, offset = location
        try:
            # A later item may have put a FIFO or a device in its place: look
            # before opening (opening some devices does something), and open
            # without blocking all the same.
            if not stat.S_ISREG(os.lstat(fs_path).st_mode):
                return None
            fd = os.open(fs_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None
                data = os.pread(fd, passed.size, offset)
            finally:
                os.close(fd)
        except OSError:
            return None
        if len(data) != passed.size or self._chunk_id(data) != passed.cid:
            return None
        self.remember(passed.cid, *location)  # good: keep it, as the most recent
        return data
