"""A writer session: collects sealed objects into packs, uploads them in
the background, and writes index segments listing what it uploaded.

Write order (docs/design-notes.md): packs, then index segments; the
archive entry, written by the caller after `flush()`, is the commit point.
"""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from ..crypto.objects import ObjectCipher
from .index import write_segment
from .pack import PackBuilder, target_size
from .repository import Repository

# Write a segment after this many packs or entries, so that a long backup
# that dies leaves most of its chunks findable through segments, not pack
# headers, and the entries waiting for their segment stay few.
SEGMENT_EVERY = 64
SEGMENT_ENTRIES = 16384
# A pack filled within this time is followed by one built in its memory
# (PackBuilder): copying sealed chunks into fresh memory took 18% of the
# walking thread in a first backup of large files, mostly page faults; into
# the memory of the pack before, 4%. A pack that fills slower leaves its
# memory to the system: a pack's size kept for nothing would add as much to the
# peak of a backup of small files.
REUSE_WITHIN = 0.25


class RepoWriter:
    """Uploads run `store.parallel_puts` at a time: one for a local folder
    (a pack in memory the less), more where each put waits out network
    latency (object storage: three at once took 8-10 s instead of 14-15 s
    for a 315 MiB backup with 0.5 s per PUT)."""

    def __init__(self, repo: Repository, pack_size: int | None = None, dry_run: bool = False):
        self.repo = repo
        self.dry_run = dry_run  # build packs, write nothing
        self.cipher: ObjectCipher = repo.cipher
        self.pack_size = pack_size or target_size(repo.store.parallel_puts)
        self._builder = PackBuilder()
        self._builder_since = time.monotonic()
        # Buffers of packs already stored, to build the next ones in (at
        # most one more than there are uploads at once).
        self._spare: list[bytearray] = []
        self._pending_ids: set[bytes] = set()
        self._uploaded: dict[str, list] = {}
        self._uploaded_entries = 0
        self._uploads: list[Future] = []
        self._in_flight = max(1, repo.store.parallel_puts)
        self._pool = ThreadPoolExecutor(max_workers=self._in_flight, thread_name_prefix="upload")
        self._lock = threading.Lock()
        self.bytes_uploaded = 0
        self.objects_added = 0
        self.packs_written: list[str] = []

    def has(self, obj_id: bytes) -> bool:
        """Whether the repository has, or this session is adding, `obj_id`."""
        return obj_id in self._pending_ids or obj_id in self.repo.index

    def add(self, obj_id: bytes, blob: bytes | bytearray, again: bool = False) -> None:
        """Add one sealed object, unless it is there already; `again`: add
        another copy of an object the repository has (recreate --recompress)."""
        if obj_id in self._pending_ids or (not again and obj_id in self.repo.index):
            return
        self.add_new(obj_id, blob)

    def add_new(self, obj_id: bytes, blob: bytes | bytearray) -> None:
        """Add one sealed object that the caller has just found missing (`has`)."""
        # A pack is cut before the object that would take it past its size,
        # not after: its buffer, kept to build the next pack in, would grow
        # by up to a chunk (4 MiB) past the size.
        if len(self._builder) and self._builder.size + len(blob) > self.pack_size:
            self._finish_pack()
        self._pending_ids.add(obj_id)
        self._builder.add(obj_id, blob)
        self.objects_added += 1

    def _finish_pack(self) -> None:
        builder = self._builder
        if not len(builder) or self.dry_run:
            self._new_builder(None)
            return
        fast = time.monotonic() - self._builder_since < REUSE_WITHIN
        self._wait_uploads(self._in_flight - 1)
        with self._lock:
            if not fast:
                self._spare.clear()
            self._new_builder(self._spare.pop() if self._spare else None)
        self._uploads.append(self._pool.submit(self._upload, builder, fast))

    def _new_builder(self, buffer: bytearray | None) -> None:
        self._builder = PackBuilder(buffer)
        self._builder_since = time.monotonic()

    def _upload(self, builder: PackBuilder, keep: bool) -> None:
        # Sealing the header and hashing the whole pack for its name happen
        # here, off the thread that reads and chunks the files.
        name, data = builder.finish(self.cipher)
        entries = builder.entries
        if self.repo.lock is not None:
            self.repo.lock.check()
        self.repo.store.put(f"packs/{name}", data)
        with self._lock:
            self.packs_written.append(name)
            self.bytes_uploaded += len(data)
            self._uploaded[name] = entries
            self._uploaded_entries += len(entries)
            self.repo.index.add_pack(name, entries)
            # The index has them now: the set only bridges the time in a pack.
            self._pending_ids.difference_update(e[0] for e in entries)
            if len(self._uploaded) >= SEGMENT_EVERY or self._uploaded_entries >= SEGMENT_ENTRIES:
                self._write_segment()
            if keep:  # every store is done with the bytes when put returns
                self._spare.append(data)

    def _write_segment(self) -> None:
        if self._uploaded:
            name = write_segment(self.repo.store, self.cipher, self._uploaded)
            # Every pack it lists is in the index already (_upload).
            self.repo.index.segments.add(name)
            self._uploaded = {}
            self._uploaded_entries = 0

    def _wait_uploads(self, keep: int) -> None:
        while len(self._uploads) > keep:
            self._uploads.pop(0).result()  # re-raises an upload's error here

    def flush(self) -> None:
        """Upload everything added so far and list it in an index segment."""
        self._finish_pack()
        self._wait_uploads(0)
        with self._lock:
            self._write_segment()
        if self.packs_written:
            self.repo.remember_index()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._spare.clear()
