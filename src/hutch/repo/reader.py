"""Reading many chunks fast: fetches run ahead of the consumer in threads,
adjacent chunks of one pack are fetched in one read, and large chunks are
decrypted and decompressed in those threads too (small ones by the
consumer, see POOL_OPENS_FROM).

Every chunk is checked against its id (a keyed hash of its plaintext), so
not even a client holding the key can pass off other content under an id.
When the index points to a copy that fails, the reader looks for another
copy in every pack's header before it gives up: an index segment written
by a misbehaving client can send reads astray, never lose data."""

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import overload

from ..compress import decompress
from ..crypto.objects import ObjectKind
from ..errors import HutchError, IntegrityError, ObjectNotFound, StoreError
from ..workers import count as worker_count
from .index import all_locations
from .repository import Repository

# Read ahead and the largest read. A local folder answers at once: 8 MiB
# in runs of 2 restored 200,000 small files in the same time as 16 in runs
# of 4 (1.00x, 10 pairs) with a peak 21 MiB lower (73 against 94 MiB), and
# the mixed corpus in 1.07x (12 pairs, 0.85-1.39). Stores that take several
# requests at once (`Store.parallel_puts`: through serve, object storage)
# wait out latency on every one, and read 16 MiB ahead in runs of 4 per
# request.
LOCAL_WINDOW_BYTES = 8 * 1024 * 1024
LOCAL_MAX_RUN_BYTES = 2 * 1024 * 1024
WINDOW_BYTES = 16 * 1024 * 1024
MAX_RUN_BYTES = 4 * 1024 * 1024
# Chunks stored in fewer bytes are opened (authenticated, decrypted,
# decompressed) by the consumer, all of a run when it takes the run, not by
# the thread that fetched them: for a small chunk the libraries hold the
# GIL throughout and the Python around them costs as much as they do, so
# the pool ran nothing in parallel but fought the consumer for the GIL
# after each of its system calls. Restoring 200,000 small files took 0.85x
# the time (about 4 MiB more at the peak: a run's stored and opened chunks
# at once); opening them one at a time between the files was no faster.
POOL_OPENS_FROM = 64 * 1024
# What a run that is not fetched (a passed chunk, one missing from the
# index) counts against the window at least: weighing nothing, any number
# of them would queue up ahead of the consumer.
UNFETCHED_WEIGHT = 64 * 1024


@dataclass(slots=True, frozen=True)
class Passed:
    """Stands in a chunk stream for a chunk the consumer will find by itself
    (archive/repeats.py): yielded in its place, in order, never fetched."""

    cid: bytes
    size: int


@dataclass(slots=True)
class _Sealed:
    """A fetched chunk, still to be opened."""

    cid: bytes
    blob: memoryview
    pack: str


@dataclass(slots=True)
class _Run:
    """Chunks that sit back to back in one pack, fetched in one read."""

    pack: str | None  # None: a chunk missing from the index, or passed
    start: int
    members: list[tuple[bytes, int, int]]  # (id, offset, length)
    total: int  # bytes to read from start
    weight: int  # the larger of stored and plaintext sizes
    passed: Passed | None = None


class ChunkReader:
    def __init__(self, repo: Repository, threads: int | None = None):
        self.repo = repo
        # Two more than the workers: fetches wait on I/O as much as on the CPU.
        self._pool = ThreadPoolExecutor(max_workers=threads or worker_count() + 2)
        self._elsewhere: dict[bytes, list] | None = None
        requests = repo.store.parallel_puts
        if requests > 1:
            self._window, self._max_run = WINDOW_BYTES * requests, MAX_RUN_BYTES * requests
        else:
            self._window, self._max_run = LOCAL_WINDOW_BYTES, LOCAL_MAX_RUN_BYTES
        self._elsewhere_lock = threading.Lock()

    def get(self, kind: int, chunk_id: bytes) -> bytes:
        result = next(self.iter_get(kind, [chunk_id]))
        if isinstance(result, HutchError):
            raise result
        return result

    def iter_get(
        self, kind: int, chunk_ids: Iterable[bytes], window: int | None = None
    ) -> Iterator[bytes | HutchError]:
        """Plaintexts of `chunk_ids` in order; a chunk that cannot be read
        yields its error instead, so the caller can name what it damages.
        About `window` bytes are read ahead (default: the store's)."""
        return self.iter_get_sized(kind, ((cid, 0) for cid in chunk_ids), window)

    @overload
    def iter_get_sized(
        self, kind: int, chunks: Iterable[tuple[bytes, int]], window_bytes: int | None = None
    ) -> Iterator[bytes | HutchError]: ...

    @overload
    def iter_get_sized(
        self,
        kind: int,
        chunks: Iterable[tuple[bytes, int] | Passed],
        window_bytes: int | None = None,
    ) -> Iterator[bytes | HutchError | Passed]: ...

    def iter_get_sized(
        self,
        kind: int,
        chunks: Iterable[tuple[bytes, int] | Passed],
        window_bytes: int | None = None,
    ) -> Iterator[bytes | HutchError | Passed]:
        """Like `iter_get`, for (id, plaintext size) pairs: the sizes (where
        known) bound what is read ahead, so well-compressed data does not
        pile up in memory. A `Passed` comes out as it went in."""
        window: deque = deque()
        in_flight = 0
        if window_bytes is None:
            window_bytes = self._window
        for run in self._runs(chunks):
            window.append((self._pool.submit(self._fetch_run, kind, run), run.weight))
            in_flight += run.weight
            while in_flight > window_bytes:
                fut, weight = window.popleft()
                in_flight -= weight
                yield from self._opened(kind, fut.result())
        while window:
            yield from self._opened(kind, window.popleft()[0].result())

    def _opened(self, kind: int, results: list) -> list[bytes | HutchError]:
        return [
            self._open_or_elsewhere(kind, r.cid, r.blob, r.pack) if type(r) is _Sealed else r
            for r in results
        ]

    def _runs(self, chunks: Iterable[tuple[bytes, int] | Passed]) -> Iterator[_Run]:
        """Group consecutive chunks that sit back to back in one pack."""
        run: _Run | None = None
        for chunk in chunks:
            if isinstance(chunk, Passed):
                if run:
                    yield run
                    run = None
                yield _Run(None, 0, [], 0, max(chunk.size, UNFETCHED_WEIGHT), passed=chunk)
                continue
            cid, size = chunk
            try:
                pack, offset, length = self.repo.index.lookup(cid)
            except KeyError:
                if run:
                    yield run
                    run = None
                yield _Run(None, 0, [(cid, 0, 0)], 0, max(size, UNFETCHED_WEIGHT))
                continue
            weight = max(length, size)
            if (
                run
                and run.pack == pack
                and run.start + run.total == offset
                and run.total + length <= self._max_run
            ):
                run.members.append((cid, offset, length))
                run.total += length
                run.weight += weight
                continue
            if run:
                yield run
            run = _Run(pack, offset, [(cid, offset, length)], length, weight)
        if run:
            yield run

    def _fetch_run(self, kind: int, run: _Run) -> list:
        if run.passed is not None:
            return [run.passed]
        pack, start, members, total = run.pack, run.start, run.members, run.total
        if pack is None:
            cid = members[0][0]
            return [IntegrityError(f"chunk {cid.hex()[:16]} is missing from the index")]
        try:
            data = self.repo.store.get(f"packs/{pack}", start, total)
        except ObjectNotFound:
            missing = IntegrityError(f"pack {pack[:16]} is missing")
            return [self._from_elsewhere(kind, m[0], pack, missing) for m in members]
        except StoreError as e:
            return [e] * len(members)
        results: list = []
        for cid, offset, length in members:
            blob = memoryview(data)[offset - start : offset - start + length]
            if len(blob) != length:
                truncated = IntegrityError(f"pack {pack[:16]} is truncated")
                results.append(self._from_elsewhere(kind, cid, pack, truncated))
            elif length < POOL_OPENS_FROM:
                results.append(_Sealed(cid, blob, pack))
            else:
                results.append(self._open_or_elsewhere(kind, cid, blob, pack))
        return results

    def _open_or_elsewhere(self, kind: int, cid: bytes, blob, pack: str) -> bytes | HutchError:
        try:
            return self._open(kind, cid, blob)
        except HutchError as e:
            return self._from_elsewhere(kind, cid, pack, e)

    def _open(self, kind: int, cid: bytes, blob) -> bytes:
        plain = decompress(self.repo.cipher.open(kind, cid, blob))
        if kind in (ObjectKind.CHUNK, ObjectKind.ITEMS) and self.repo.key.chunk_id(plain) != cid:
            raise IntegrityError(f"chunk {cid.hex()[:16]} does not match its id")
        return plain

    def _from_elsewhere(self, kind: int, cid: bytes, bad_pack: str, error: HutchError):
        """Another good copy of `cid`, or `error` if there is none."""
        with self._elsewhere_lock:
            if self._elsewhere is None:
                self._elsewhere = all_locations(self.repo.store, self.repo.cipher)
        for pack, offset, length in self._elsewhere.get(cid, ()):
            if pack == bad_pack:
                continue
            try:
                return self._open(kind, cid, self.repo.store.get(f"packs/{pack}", offset, length))
            except HutchError:
                continue
        return error

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
