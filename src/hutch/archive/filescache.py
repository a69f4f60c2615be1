"""The files cache: what a file looked like when it was last backed up and
which chunks hold it, so an unchanged file is not read again.

One cache per repository and archive series, a file in the repository's
cache folder (never fatal: see repo/cache.py). A new series starts from
the most recently written cache of the repository, so a backup under a new
archive name does not read everything. Keys are keyed hashes of paths (the
cache holds no names in clear). An entry not seen for MAX_AGE backups is
dropped.

An entry also says whether the file was bare (no xattrs, ACLs or kept
flags): where the mode compares ctimes, an unchanged ctime says these are
unchanged too (setting any of them moves the ctime), so a bare unchanged
file costs no listxattr nor flags ioctl.

Memory stays near 100 bytes per file of one chunk (README): entries are
fixed-size records in one buffer, chunk lists in another, found through an
open-addressing table of record numbers (4 bytes a slot), never Python
objects per file. Entries of this backup go to scratch files of the cache
folder as they come (in memory only where there is no such folder), so a
backup holds the old entries alone, and `save` copies them after the kept
old ones.

File layout: MAGIC | record count (u64) | chunk-list bytes (u64) | records |
chunk lists | BLAKE3 of all before it. A record: path key(12) | ctime(8) |
mtime(8) | size(8) | inode(8) | age(1) | chunk count(4) | offset of its
chunk list(6) | bare(1); a chunk list: (id(32) | size(4)) per chunk.
"""

import io
import os
import struct
from array import array
from collections.abc import Iterator
from typing import IO, NamedTuple

from ..errors import UsageError
from ..repo.cache import CacheDir, HashingWriter, read_checked

MAX_AGE = 20
PREFIX = "files-"
_MAGIC = b"HUTCHFC4"
_HEAD = struct.Struct(">8sQQ")
_RECORD = struct.Struct(">12sqqQQBI6s?")
_CHUNK = struct.Struct(">32sI")
_KEY = 12
_SLOT_START = struct.Struct(f"<I{_RECORD.size - 4}x")  # the key's first 4 bytes, as find reads them
_WRITE_RECORDS = 16384
_AGE_AT = _KEY + 32
_GONE = 255  # the age of an old entry that this backup replaced
_GOES = bytes(age >= MAX_AGE for age in range(256))  # ages -> 1 where the entry is dropped
_OLDER = bytes(min(age + 1, 255) for age in range(256))
_MODES = {
    "ctime,size,inode",
    "mtime,size,inode",
    "ctime,size",
    "mtime,size",
    "disabled",
}


_ORDER = ("ctime", "mtime", "size", "inode")


def check_mode(mode: str) -> str:
    """The mode in its canonical order (`size,ctime` -> `ctime,size`); UsageError if unknown."""
    parts = mode.split(",")
    normalized = mode
    if all(p in _ORDER for p in parts):
        normalized = ",".join(sorted(parts, key=_ORDER.index))
    if normalized not in _MODES:
        raise UsageError(
            f"invalid files cache mode {mode!r}; use ctime,size,inode (default), "
            "mtime,size,inode, ctime,size, mtime,size or disabled"
        )
    return normalized


class FileStamp(NamedTuple):
    """What `remember` takes of a file's stat where there is no
    os.stat_result (a file the walk's helper read)."""

    st_ctime_ns: int
    st_mtime_ns: int
    st_size: int
    st_ino: int


class Unchanged(NamedTuple):
    chunks: list  # [id, size] pairs, as an item keeps them
    bare: bool  # no xattrs, ACLs nor kept flags, as surely as the contents are unchanged
    at: int  # where the entry is, for `keep`


class _Entries:
    """Records and chunk lists in two buffers, found by key through an
    open-addressing table of record numbers + 1 (0: empty slot)."""

    def __init__(self, records: bytearray, chunks: bytearray):
        self.records = records
        self.chunks = chunks
        count = len(records) // _RECORD.size
        # Two thirds full: 6 bytes a file, and a probe finds a free slot
        # (a file not in the cache) in 5 steps on average.
        self._size = count * 3 // 2 + 1
        self._slots = slots = array("I", bytes(4 * self._size))
        table = self._size
        # Each record goes to the first free slot from where `find` starts
        # looking for its key; this loop runs once per file at every start.
        for no, (prefix,) in enumerate(_SLOT_START.iter_unpack(records), 1):
            i = prefix % table
            while slots[i]:
                i = (i + 1) % table
            slots[i] = no

    def find(self, key: bytes) -> int:
        """The byte offset of key's record, or -1."""
        slots, records, size, table = self._slots, self.records, _RECORD.size, self._size
        i = int.from_bytes(key[:4], "little") % table
        while no := slots[i]:
            start = (no - 1) * size
            if records[start : start + _KEY] == key:
                return start
            i = (i + 1) % table
        return -1


class FilesCache:
    """The files cache `name` in the repository's cache folder."""

    def __init__(self, cache: CacheDir, name: str, mode: str, key):
        self.cache = cache
        self.name = name
        self.mode = check_mode(mode)
        self._id_key = key  # the repository key: its keyed hash names the paths
        self.enabled = self.mode != "disabled" and cache.folder is not None
        self._use_ctime = "ctime" in self.mode
        self._use_inode = "inode" in self.mode
        self._old = _Entries(bytearray(), bytearray())
        self._new: _Spill | None = None
        self._keeping = self.enabled  # False once the scratch files failed
        if self.enabled:
            self._load()

    def _load(self) -> None:
        f = self.cache.open(self.name)
        if f is None:
            newest = self.cache.newest(PREFIX)
            f = self.cache.open(newest) if newest else None
        if f is None:
            return
        with f:
            try:
                head = f.read(_HEAD.size)
                if len(head) != _HEAD.size:
                    return
                magic, count, chunk_bytes = _HEAD.unpack(head)
                if magic != _MAGIC:
                    return
                # A damaged cache could name the wrong chunks for a file: check it whole.
                parts = read_checked(f, head, [count * _RECORD.size, chunk_bytes])
            except OSError:
                return  # unreadable: start over, costs one full read
        if parts is not None:
            self._old = _Entries(*parts)

    def key(self, path: bytes) -> bytes:
        """What the cache knows `path` by (a keyed hash: no names in clear);
        computed once per file by the caller, for lookup and remember."""
        if not self.enabled:
            return b""
        return self._id_key.opaque_id(b"files cache path", path)[:_KEY]

    def _unchanged(self, rec: tuple, st: os.stat_result) -> bool:
        """Compare what the mode asks for. Entries keep every field, so a
        backup under another mode still finds its unchanged files."""
        _, ctime, mtime, size, inode = rec[:5]
        if size != st.st_size or (self._use_inode and inode != st.st_ino):
            return False
        return ctime == st.st_ctime_ns if self._use_ctime else mtime == st.st_mtime_ns

    def lookup(self, key: bytes, st: os.stat_result) -> "Unchanged | None":
        """The chunk list of an unchanged file (and whether its xattrs, ACLs
        and flags are known to be none), or None. Only reads: the walk's
        helper process looks up too (archive/prescan.py)."""
        if not self.enabled:
            return None
        at = self._old.find(key)
        if at < 0:
            return None
        rec = _RECORD.unpack_from(self._old.records, at)
        if rec[5] == _GONE or not self._unchanged(rec, st):
            return None
        count, offset = rec[6], int.from_bytes(rec[7], "big")
        listed = self._old.chunks[offset : offset + count * _CHUNK.size]
        return Unchanged(
            [[chunk_id, size] for chunk_id, size in _CHUNK.iter_unpack(listed)],
            rec[8] and self._use_ctime,
            at,
        )

    def __len__(self) -> int:
        """How many entries earlier backups left."""
        return len(self._old.records) // _RECORD.size

    def keep(self, at: int) -> None:
        """The entry at `at` (Unchanged.at) served this backup: its age goes
        back to zero. An entry no backup keeps is dropped after MAX_AGE."""
        self._old.records[at + _AGE_AT] = 0

    def knows(self, key: bytes) -> bool:
        """Whether an earlier backup of the series saw the file (so a file
        that `lookup` rejects was modified, not added)."""
        return self.enabled and self._old.find(key) >= 0

    def remember(
        self, key: bytes, st: "os.stat_result | FileStamp", chunks: list, start_ns: int, bare: bool
    ) -> None:
        """Keep what the file looked like (`bare`: it had no xattrs, ACLs or
        kept flags) and which chunks hold it."""
        if not self._keeping:
            return
        # A file changed within the timestamp granularity around the start of
        # the backup could change again without a new timestamp: don't trust it.
        if max(st.st_mtime_ns, st.st_ctime_ns) >= start_ns - 1_000_000_000:
            return
        at = self._old.find(key)
        if at >= 0:
            self._old.records[at + _AGE_AT] = _GONE
        if self._new is None:
            self._new = _Spill(self.cache)
        new = self._new
        record = _RECORD.pack(
            key,
            st.st_ctime_ns,
            st.st_mtime_ns,
            st.st_size,
            st.st_ino,
            0,
            len(chunks),
            new.chunk_bytes.to_bytes(6, "big"),
            bare,
        )
        try:
            new.add(record, b"".join([_CHUNK.pack(chunk_id, size) for chunk_id, size in chunks]))
        except OSError as e:
            # Scratch space ran out: no new cache this time (the old one stays
            # and still serves the lookups of this backup).
            self.cache.failed_at(self.cache.folder or "", e)
            self._keeping = False
            new.close()

    def save(self) -> None:
        """Write the kept old entries (a backup older) and this backup's."""
        if not self._keeping:
            return
        old = self._old
        records = old.records
        size = _RECORD.size
        # Up to the first old entry that goes (too old, or replaced), the
        # records and their chunk lists go out as they are, a backup older:
        # no Python per entry there, which in an unchanged re-backup is all
        # of them. From that entry on, offsets move and each is rewritten.
        first = records[_AGE_AT::size].translate(_GOES).find(1)
        if first < 0:
            intact, intact_chunks = len(records), len(old.chunks)
        else:
            intact = first * size
            intact_chunks = int.from_bytes(_RECORD.unpack_from(records, intact)[7], "big")
        count = intact // size
        chunk_bytes = intact_chunks
        for start in range(intact, len(records), size):
            rec = _RECORD.unpack_from(records, start)
            if rec[5] < MAX_AGE:
                count += 1
                chunk_bytes += rec[6] * _CHUNK.size
        new = self._new or _Spill(CacheDir(None))

        def produce(f) -> None:
            out = HashingWriter(f)
            out.write(_HEAD.pack(_MAGIC, count + new.count, chunk_bytes + new.chunk_bytes))
            step = size * _WRITE_RECORDS
            for start in range(0, intact, step):
                part = records[start : min(intact, start + step)]
                part[_AGE_AT::size] = part[_AGE_AT::size].translate(_OLDER)
                out.write(part)
            # Records go out a block at a time: a write per record cost more
            # than making the record.
            block_out: list[bytes] = []
            offset = intact_chunks
            for start in range(intact, len(records), size):
                rec = list(_RECORD.unpack_from(records, start))
                if rec[5] < MAX_AGE:  # else too old, or replaced (_GONE)
                    rec[5] += 1
                    rec[7] = offset.to_bytes(6, "big")
                    offset += rec[6] * _CHUNK.size
                    block_out.append(_RECORD.pack(*rec))
                    if len(block_out) >= _WRITE_RECORDS:
                        out.write(b"".join(block_out))
                        block_out.clear()
            out.write(b"".join(block_out))
            block_out.clear()
            for block in new.read(new.records, size * _WRITE_RECORDS):
                for start in range(0, len(block), size):
                    rec = list(_RECORD.unpack_from(block, start))
                    rec[7] = (int.from_bytes(rec[7], "big") + chunk_bytes).to_bytes(6, "big")
                    block_out.append(_RECORD.pack(*rec))
                out.write(b"".join(block_out))
                block_out.clear()
            with memoryview(old.chunks) as chunks:
                out.write(chunks[:intact_chunks])
            for start in range(intact, len(records), size):
                kept = _RECORD.unpack_from(records, start)
                if kept[5] < MAX_AGE:
                    at = int.from_bytes(kept[7], "big")
                    out.write(old.chunks[at : at + kept[6] * _CHUNK.size])
            for block in new.read(new.chunks, 1 << 20):
                out.write(block)
            out.finish()

        try:
            self.cache.write_with(self.name, produce)
        finally:
            new.close()
            self._new = None


class _Spill:
    """This backup's records and chunk lists, set aside in two scratch files
    (in memory where the cache folder has no room for them)."""

    def __init__(self, cache: CacheDir):
        self.records: IO[bytes] = cache.scratch() or io.BytesIO()
        self.chunks: IO[bytes] = cache.scratch() or io.BytesIO()
        self.count = 0
        self.chunk_bytes = 0

    def add(self, record: bytes, chunk_list: bytes) -> None:
        self.records.write(record)
        self.chunks.write(chunk_list)
        self.count += 1
        self.chunk_bytes += len(chunk_list)

    @staticmethod
    def read(f: IO[bytes], block: int) -> Iterator[bytes]:
        """What was written to `f`, from the start, `block` bytes at a time."""
        f.seek(0)
        while data := f.read(block):
            yield data

    def close(self) -> None:
        self.records.close()
        self.chunks.close()


def cache_name(series_id: bytes) -> str:
    """The name of a series' files cache in the cache folder."""
    return f"{PREFIX}{series_id.hex()[:32]}"
