"""The create pipeline: walk -> read -> chunk -> id -> dedup -> compress ->
encrypt -> pack -> upload.

The walk, reading and chunking run in the calling thread. A small file
(most files of most machines) is read whole and its one chunk processed
right there: handing a few KiB to a thread pool costs more (a future, two
queue hand-offs, lock traffic, the GIL changing hands) than hashing,
compressing and sealing them (in a long folder, the walk's helper
process does part of the small files: archive/prescan.py). The chunks of
larger files go to a thread pool for id, dedup check, compression and
encryption (the C code they call releases the GIL); packs are uploaded by
the writer's own thread. Items stay in walk order: each waits in an
ordered queue until its chunks are done, then goes into the item stream.
What waits there is bounded in bytes and in items.
"""

import datetime
import os
import pwd
import socket
import stat
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from ..chunker import DEFAULT as DEFAULT_CHUNKER
from ..chunker import Chunker, ChunkerParams
from ..compress import Compressor, parse_spec
from ..crypto.objects import ObjectKind
from ..errors import ArchiveExists, HutchError
from ..repo.archives import ArchiveEntry, ArchiveList, check_archive_name
from ..repo.repository import Repository
from ..repo.writer import RepoWriter
from ..workers import count as worker_count
from ..workers import submit
from .filescache import FilesCache, FileStamp, Unchanged, cache_name
from .flags import add_flags
from .item import item_from_stat, read_xattrs
from .itemwriter import ItemStreamWriter, item_packer
from .patterns import PatternMatcher
from .report import Reporter
from .walk import Walker

# Bytes read and not yet in a pack. Since the next block is read and cut
# ahead (chunker.py), 16 MiB made a first backup of 1.1 GiB about 9% faster
# than 8 MiB but its peak RSS 14 MiB larger (32 MiB, measured before the
# read-ahead, was 24 MiB larger than 16); 6 MiB took 3-5 MiB off 8 in the
# same time on disk (1.04x, 8 pairs, 0.82-1.15). Into object storage 6 MiB
# took 1.09x the time of 8 (5 pairs, 0.88-1.25): stores that take several
# puts at once keep 8 MiB, as they keep 8 MiB packs (repo/pack.py).
WINDOW_BYTES = 6 * 1024 * 1024
PARALLEL_WINDOW_BYTES = 8 * 1024 * 1024
MAX_QUEUED_ITEMS = 4096
# Files up to this size are read in one go and chunked in the calling thread.
INLINE_MAX = 128 * 1024
CACHEDIR_TAG = b"CACHEDIR.TAG"


class BackupFailed(HutchError):
    """The pipeline failed (store error, ...): the backup stops, nothing is committed."""


@dataclass
class CreateOptions:
    compression: Compressor = field(default_factory=lambda: parse_spec("lz4"))
    chunker_params: ChunkerParams = DEFAULT_CHUNKER
    files_cache: str = "ctime,size,inode"
    one_file_system: bool = False
    numeric_ids: bool = False
    exclude_caches: bool = False
    exclude_if_present: list[bytes] = field(default_factory=list)
    exclude_nodump: bool = False
    read_special: bool = False
    dry_run: bool = False
    comment: str = ""
    timestamp: str | None = None
    series: str = ""
    command_line: list[str] = field(default_factory=list)
    stdin_name: str = "stdin"
    stdin_mode: int = 0o660
    threads: int = 0


@dataclass
class Stats:
    nfiles: int = 0
    original_size: int = 0
    compressed_size: int = 0
    deduplicated_size: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(slots=True)
class _Pending:
    """An item on its way into the item stream; a file read in chunks keeps
    the chunks still being processed (`futures`, in file order) apart from
    those already stored (`chunks`)."""

    item: dict
    status: str  # one letter a file where `packed`
    futures: deque[Future] = field(default_factory=deque)
    chunks: list | None = None
    st: os.stat_result | None = None
    cache_key: bytes = b""  # the files cache's name for it, where st is set
    size: int = 0
    unsettled: int = 0  # bytes of `futures`
    bare: bool = False  # reading its xattrs, ACLs and flags found none
    # Items the helper packed: their bytes, their chunk ids, their paths.
    packed: tuple[bytes, list[bytes], list[bytes]] | None = None


def local_timestamp(t: float | None = None) -> str:
    """ISO 8601 local time with microseconds and offset, e.g.
    2024-05-06T07:08:09.123456+0200; microseconds keep archives made within
    one second in order."""
    moment = datetime.datetime.fromtimestamp(t if t is not None else time.time()).astimezone()
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f%z")


class ArchiveCreator:
    def __init__(self, repo: Repository, options: CreateOptions, reporter: Reporter):
        self.repo = repo
        self.options = options
        self.reporter = reporter
        self.key = repo.key
        self.chunker = Chunker(options.chunker_params, repo.key.chunker_seed)
        self.compressor = options.compression
        self.stats = Stats()
        self.start_ns = time.time_ns()
        self._queue: deque[_Pending] = deque()
        self._in_flight = 0
        self._window = PARALLEL_WINDOW_BYTES if repo.store.parallel_puts > 1 else WINDOW_BYTES
        self._hardlinks: dict[tuple[int, int], bytes] = {}
        self._hardlink_chunks: dict[bytes, list] = {}
        self._item_packer = item_packer()  # the helper's (`recognise`)
        # Each `run` makes its own.
        self.writer: RepoWriter
        self.items: ItemStreamWriter
        self.files_cache: FilesCache
        self._pool: ThreadPoolExecutor | None = None
        self._read_ahead: ThreadPoolExecutor | None = None

    # -- the chunk work that runs in threads ---------------------------

    def _process_chunk(
        self, data: bytes | memoryview
    ) -> tuple[bytes, int, bytes | bytearray | None, int]:
        chunk_id = self.key.chunk_id(data)
        if self.writer.has(chunk_id):
            return chunk_id, len(data), None, 0
        compressed = self.compressor.compress(data)
        blob = self.writer.cipher.seal(ObjectKind.CHUNK, chunk_id, compressed)
        return chunk_id, len(data), blob, len(compressed)

    # -- the ordered queue ---------------------------------------------

    def _enqueue(self, pending: _Pending) -> None:
        self._queue.append(pending)
        self._drain(self._window if len(self._queue) <= MAX_QUEUED_ITEMS else -1)

    def _drain(self, limit: int) -> None:
        while self._queue:
            head = self._queue[0]
            futures = head.futures
            if futures and self._in_flight <= limit and not all(f.done() for f in futures):
                return
            self._queue.popleft()
            self._finish(head)

    def _settle(self, pending: _Pending, limit: int = -1) -> None:
        """Store the processed chunks of `pending`, oldest first, until no
        more than `limit` bytes are in flight (-1: all of them)."""
        assert pending.chunks is not None
        while pending.futures and self._in_flight > limit:
            try:
                chunk_id, size, blob, csize = pending.futures.popleft().result()
            except Exception as e:
                # Not the current file's fault: the pipeline itself failed.
                where = os.fsdecode(pending.item["path"])
                raise BackupFailed(f"backup failed: {e} (while storing {where})") from e
            self._in_flight -= size
            pending.unsettled -= size
            self._store(chunk_id, blob, csize)
            pending.chunks.append([chunk_id, size])

    def _finish(self, pending: _Pending) -> None:
        item = pending.item
        if pending.packed is not None:
            packed, ids, paths = pending.packed
            self.items.add_packed(packed, ids)
            for path, status in zip(paths, pending.status, strict=True):
                self.reporter.file_status(status, path)
            return
        if pending.futures:
            self._settle(pending)
        if pending.chunks is not None:
            item["chunks"] = pending.chunks
            if "hlid" in item:
                self._hardlink_chunks.setdefault(item["hlid"], pending.chunks)
            if pending.st is not None:
                self.files_cache.remember(
                    pending.cache_key, pending.st, pending.chunks, self.start_ns, pending.bare
                )
        elif "hlid" in item and item["hlid"] in self._hardlink_chunks:
            item["chunks"] = self._hardlink_chunks[item["hlid"]]
        self.items.add(item)
        self.reporter.file_status(pending.status, item["path"])

    # -- running a backup ----------------------------------------------

    def backup_paths(self, name: str, paths: list[bytes], matcher: PatternMatcher) -> ArchiveEntry:
        """Back up file system paths (the walk decides what goes in)."""

        def produce():
            walker = Walker(self, matcher)
            try:
                for path in paths:
                    walker.walk_root(path)
            finally:
                walker.close()

        return self.run(name, produce)

    def backup_stream(self, name: str, stream) -> ArchiveEntry:
        """Back up one stream (stdin) as one regular file."""
        return self.run(name, lambda: self._add_stdin(stream))

    def run(self, name: str, produce: Callable[[], None]) -> ArchiveEntry:
        """Make an archive of what `produce` adds through `add_item` and
        `add_stream_item`; commit it unless this is a dry run."""
        check_archive_name(name)
        archives = ArchiveList(self.repo)
        with ThreadPoolExecutor(max_workers=1) as preload:
            # The chunk index loads while the archive list is read: through a
            # server, their round trips overlap. If loading fails, the first
            # use of the index below loads it again and reports why.
            preload.submit(lambda: self.repo.index)
            taken = not self.options.dry_run and archives.exists(name)
        if taken:
            raise ArchiveExists(f"archive {name!r} already exists; choose another name")
        start = time.time()
        series_id = self.key.opaque_id(b"series", (self.options.series or name).encode())
        self.files_cache = FilesCache(
            self.repo.cache, cache_name(series_id), self.options.files_cache, self.key
        )
        self.writer = RepoWriter(self.repo, dry_run=self.options.dry_run)
        self.items = ItemStreamWriter(self.writer, self.compressor)
        threads = self.options.threads or worker_count()
        self._pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
        self._read_ahead = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
            if threads > 1
            else None
        )
        try:
            produce()
            self._drain(-1)
            entry = ArchiveEntry(
                name=name,
                items=self.items.finish(),
                refs=self.items.refs,
                time=self.options.timestamp or local_timestamp(start),
                end=local_timestamp(),
                hostname=socket.gethostname(),
                username=_username(),
                comment=self.options.comment,
                command_line=self.options.command_line,
                chunker_params=self.options.chunker_params.describe(),
                stats=self.stats.to_dict(),
                series=series_id,
            )
            if self.options.dry_run:
                return entry
            self.writer.flush()
            archives.add(entry)  # the commit point
            self.files_cache.save()
            return entry
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
            if self._read_ahead is not None:
                self._read_ahead.shutdown(wait=True)
            self.writer.close()
            self.reporter.finish_progress()

    # -- called by the walker ------------------------------------------

    def add_item(self, item: dict, status: str) -> None:
        self._enqueue(_Pending(item, status))

    def add_regular(self, fs_path: bytes, path: bytes, st: os.stat_result) -> None:
        item = item_from_stat(path, st, self.options.numeric_ids)
        if st.st_nlink > 1:
            hl_key = (st.st_dev, st.st_ino)
            hlid = self._hardlinks.get(hl_key)
            if hlid is not None:
                item["hlid"] = hlid
                item["size"] = st.st_size
                read_xattrs(fs_path, item)  # every link shows the inode's xattrs and ACLs
                add_flags(fs_path, st, item)
                self.stats.nfiles += 1
                self._enqueue(_Pending(item, "h"))
                return
            item["hlid"] = os.urandom(16)
        self._add_file(fs_path, path, st, item)
        # Only a file that was read leads its hardlink group: if reading the
        # first link failed, the next one carries the content.
        if "hlid" in item:
            self._hardlinks[(st.st_dev, st.st_ino)] = item["hlid"]
        self.stats.nfiles += 1

    def _reuse(self, fs_path: bytes, st: os.stat_result, item: dict, known: Unchanged) -> bool:
        """Whether the chunks the files cache names for the unchanged file
        are all in the repository; if so, `item` gets the rest of what it
        holds (its xattrs, ACLs and flags, unless known to be none)."""
        index = self.repo.index
        if not all(chunk_id in index for chunk_id, _ in known.chunks):
            return False
        if not known.bare:
            read_xattrs(fs_path, item)
            add_flags(fs_path, st, item)
        item["size"] = st.st_size
        return True

    # -- files the walk's helper process did ---------------------------

    def can_prescan(self) -> bool:
        """Whether a helper process could take files off the walk: more
        than one thread (a pool) and a real backup."""
        return self._pool is not None and not self.options.dry_run

    def recognise(self, fs_path: bytes, path: bytes, st: os.stat_result, room: int) -> tuple | None:
        """In the helper: what the walk would store of a regular file of one
        link, as (status, packed item, size, chunk ids, files cache entry,
        new chunks). An unchanged file's entry is where the files cache
        holds it; a small file read here has its entry to remember and its
        chunks the index did not have, sealed, as [id, blob, compressed
        size]. None leaves the file to the walk: a large file, a new one of
        more than `room` bytes, one that changed while it was read."""
        item = item_from_stat(path, st, self.options.numeric_ids)
        key = self.files_cache.key(path)
        known = self.files_cache.lookup(key, st)
        if known is not None and self._reuse(fs_path, st, item, known):
            item["chunks"] = known.chunks
            ids = [chunk_id for chunk_id, _ in known.chunks]
            return "U", self._item_packer.pack(item), st.st_size, ids, known.at, []
        if st.st_size > min(INLINE_MAX, room):
            return None
        status = "M" if known is None and self.files_cache.knows(key) else "A"
        read = _read_small_file(fs_path, st, item)
        if read is None:
            return None
        data, bare = read
        chunks, blobs = [], []
        for piece in self.chunker.chunks(data) if data else ():
            chunk_id, size, blob, csize = self._process_chunk(piece)
            if blob is not None:
                blobs.append([chunk_id, blob, csize])
            chunks.append([chunk_id, size])
        item["size"] = len(data)
        item["chunks"] = chunks
        entry = [key, st.st_ctime_ns, st.st_mtime_ns, st.st_size, st.st_ino, bare, chunks]
        ids = [chunk_id for chunk_id, _ in chunks]
        return status, self._item_packer.pack(item), len(data), ids, entry, blobs

    def add_recognised(
        self,
        paths: list[bytes],
        statuses: str,
        packed: bytes,
        size: int,
        ids: list[bytes],
        kept: list[int],
        remembered: list[list],
        blobs: list[list],
    ) -> None:
        """Take a run of files the helper did (`recognise`): their items
        packed one after the other, a status letter each, their bytes and
        chunk ids, the files cache entries of the unchanged ones and those
        of the ones read, and the chunks sealed for them.

        A chunk the helper found in the index (its copy from the fork) is
        in the repository: the index only grows during a backup, and it is
        built for readers in other threads (an entry is never missed
        while it changes), which a copy taken at any moment is."""
        for at in kept:
            self.files_cache.keep(at)
        for key, ctime, mtime, file_size, inode, bare, chunks in remembered:
            stamp = FileStamp(ctime, mtime, file_size, inode)
            self.files_cache.remember(key, stamp, chunks, self.start_ns, bare)
        for chunk_id, blob, csize in blobs:
            if not self.writer.has(chunk_id):  # the helper does not know what the walk stored
                self.writer.add_new(chunk_id, blob)
                self.stats.compressed_size += csize
                self.stats.deduplicated_size += len(blob)
        self.stats.nfiles += len(paths)
        self.stats.original_size += size
        self._enqueue(_Pending({"path": paths[0]}, statuses, packed=(packed, ids, paths)))
        self.reporter.progress(
            original_size=self.stats.original_size, nfiles=self.stats.nfiles, path=paths[-1]
        )

    def _add_file(self, fs_path: bytes, path: bytes, st: os.stat_result, item: dict) -> None:
        if self.options.dry_run:
            self._enqueue(_Pending(item, "-"))
            return
        cache_key = self.files_cache.key(path)
        known = self.files_cache.lookup(cache_key, st)
        if known is not None and self._reuse(fs_path, st, item, known):
            self.files_cache.keep(known.at)
            self.stats.original_size += st.st_size
            self._enqueue(_Pending(item, "U", chunks=known.chunks))
            return
        status = "M" if known is None and self.files_cache.knows(cache_key) else "A"
        pending = _Pending(item, status, st=st, cache_key=cache_key)
        fd, pending.bare = _open_with_metadata(fs_path, st, item)
        try:
            try:
                if st.st_size <= INLINE_MAX:
                    size = self._read_small(fd, pending, st.st_size)
                else:
                    with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
                        size = self._read_chunks(f, pending, path)
            except OSError:
                # The file is skipped: forget what of it is still in flight
                # (chunks of it already stored stay unreferenced until compact).
                self._in_flight -= pending.unsettled
                self.stats.original_size -= pending.size
                raise
            after = os.fstat(fd)
        finally:
            os.close(fd)
        item["size"] = size
        if _changed(st, after, size):
            pending.status = "C"
            pending.st = None  # never trust the files cache for a file that changed
            self.reporter.warning(f"{os.fsdecode(fs_path)}: file changed while we backed it up")
        self._enqueue(pending)

    def _read_small(self, fd: int, pending: _Pending, expected: int) -> int:
        """Read a small file whole and store its chunks in this thread."""
        data = _read_all(fd, expected)
        chunks = []
        for piece in self.chunker.chunks(data) if data else ():
            chunk_id, size, blob, csize = self._process_chunk(piece)
            if blob is not None:  # found missing just now, in this thread
                self.writer.add_new(chunk_id, blob)
                self.stats.compressed_size += csize
                self.stats.deduplicated_size += len(blob)
            chunks.append([chunk_id, size])
        pending.chunks = chunks
        self.stats.original_size += len(data)
        self.reporter.progress(
            original_size=self.stats.original_size,
            nfiles=self.stats.nfiles,
            path=pending.item["path"],
        )
        return len(data)

    def _store(self, chunk_id: bytes, blob: bytes | bytearray | None, csize: int) -> None:
        if blob is not None and not self.writer.has(chunk_id):
            self.writer.add(chunk_id, blob)
            self.stats.compressed_size += csize
            self.stats.deduplicated_size += len(blob)

    def add_special_content(self, fs_path: bytes, path: bytes, st: os.stat_result) -> None:
        """--read-special: the bytes a device or pipe yields, as a regular file."""
        item = item_from_stat(path, st, self.options.numeric_ids)
        item["mode"] = stat.S_IFREG | stat.S_IMODE(st.st_mode)
        item.pop("rdev", None)
        self.stats.nfiles += 1
        pending = _Pending(item, "A")
        if not self.options.dry_run:
            with open(fs_path, "rb", buffering=0) as f:
                item["size"] = self._read_chunks(f, pending, path)
        self._enqueue(pending)

    def _read_chunks(self, f, pending: _Pending, path: bytes) -> int:
        size = 0
        pending.chunks = []
        for data in self.chunker.chunks_of_file(f, self._read_ahead):
            size += len(data)
            pending.size = size
            pending.unsettled += len(data)
            self._in_flight += len(data)
            pending.futures.append(submit(self._pool, self._process_chunk, data))
            self.stats.original_size += len(data)
            if self._in_flight > self._window:
                # Files before this one first; then this file's own chunks,
                # so that a large file holds no more than the window either.
                self._drain(self._window)
                self._settle(pending, self._window)
            self.reporter.progress(
                original_size=self.stats.original_size, nfiles=self.stats.nfiles, path=path
            )
        return size

    def add_stream_item(self, item: dict, stream) -> None:
        """Add a regular-file item whose content is read from `stream` (an
        object with read(n)); sets item["size"]."""
        self.stats.nfiles += 1
        pending = _Pending(item, "A")
        item["size"] = self._read_chunks(stream, pending, item["path"])
        self._enqueue(pending)

    def _add_stdin(self, stream) -> None:
        now = time.time_ns()
        item = {
            "path": os.fsencode(self.options.stdin_name).lstrip(b"/"),
            "mode": stat.S_IFREG | self.options.stdin_mode,
            "uid": os.getuid(),
            "gid": os.getgid(),
            "user": _username(),
            "group": None,
            "mtime": now,
            "atime": now,
            "ctime": now,
        }
        self.add_stream_item(item, stream)


def _read_small_file(fs_path: bytes, st: os.stat_result, item: dict) -> tuple[bytes, bool] | None:
    """The content of a small file and whether it is bare (no xattrs, ACLs
    or flags, which go into `item`); None if it changed while read."""
    fd, bare = _open_with_metadata(fs_path, st, item)
    try:
        data = _read_all(fd, st.st_size)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    return None if _changed(st, after, len(data)) else (data, bare)


def _open_with_metadata(fs_path: bytes, st: os.stat_result, item: dict) -> tuple[int, bool]:
    """The file opened for reading, its xattrs, ACLs and flags in `item`,
    and whether it is bare (whatever metadata they add, they add keys)."""
    fd = _open_for_reading(fs_path)
    try:
        plain = len(item)
        read_xattrs(fs_path, item)
        add_flags(fs_path, st, item, fd)
    except BaseException:
        os.close(fd)
        raise
    return fd, len(item) == plain


def _read_all(fd: int, expected: int) -> bytes:
    data = os.read(fd, expected + 1)
    if len(data) > expected:  # it grew: read on to the end
        parts = [data]
        while block := os.read(fd, 1024 * 1024):
            parts.append(block)
        data = b"".join(parts)
    return data


def _changed(st: os.stat_result, after: os.stat_result, size: int) -> bool:
    """Whether a file read `size` bytes long and then found as `after` is
    other than the walk's lstat `st` saw: one changed, or replaced by
    another, since then is not trusted (nor remembered in the cache)."""
    return (st.st_mtime_ns, st.st_size, st.st_ino) != (
        after.st_mtime_ns,
        after.st_size,
        after.st_ino,
    ) or size != after.st_size


def _open_for_reading(fs_path: bytes) -> int:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY
    noatime = getattr(os, "O_NOATIME", 0)
    try:
        fd = os.open(fs_path, flags | noatime)
    except PermissionError:
        # O_NOATIME needs ownership of the file (or CAP_FOWNER, which root
        # lacks in some containers): read it without rather than not at all.
        if not noatime:
            raise
        fd = os.open(fs_path, flags)
    return fd


def _username() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())
