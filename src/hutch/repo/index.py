"""The chunk index: chunk id -> (pack, offset, length).

The repository holds it as index segments (`index/<hash>`, sealed), each
listing the entries of some packs. Packs that no segment lists yet (a
writer died before writing its segment) are read directly from their
headers, so their chunks are found and reused; so are the packs of a
damaged segment. A local cache keeps the merged index between runs, keyed
by the set of segments it covers, with a checksum so that a damaged cache
is rebuilt rather than trusted.
"""

import bisect
import os
import struct
import sys
from concurrent.futures import ThreadPoolExecutor

import blake3
import msgpack

from ..crypto.objects import ObjectCipher, ObjectKind
from ..errors import IntegrityError, ObjectNotFound, StoreError
from ..store.base import Store
from .cache import CacheDir, HashingWriter, read_checked
from .pack import TAIL_GUESS, NeedMore, parse_tail

SEGMENT_ID = b"index segment"
# A chunk's id is split: its first 4 bytes, as a number, go to a sorted
# array that C code (bisect) searches; the rest of the id and the location
# go to a record at the same place in a second table. 4 + 40 bytes a chunk.
_PREFIX = struct.Struct("=I")
_RECORD = struct.Struct(">28sIII")  # id[4:], pack number, offset, length
_CACHE_VERSION = 5  # 5: the table's parts as they are in memory
# The cache file: head size (u32) | head (msgpack) | prefixes | records |
# BLAKE3 of all before it. Read and written without a copy of the table.
_HEAD_SIZE = struct.Struct(">I")
# The recent entries (a dict, about 240 bytes each) are merged into the
# table (44 bytes each) once there are more than MERGE_AT of them and more
# than 1/MERGE_SHARE of the table: at most 44 + 240/48 = 49 bytes per chunk
# once the table holds MERGE_AT * MERGE_SHARE chunks, and 4 MiB below that.
MERGE_AT = 16384
MERGE_SHARE = 48
CACHE_NAME = "chunks"


class _Table:
    """The merged entries: prefixes (u32 in this machine's byte order,
    sorted) and records (_RECORD per chunk, in the same order)."""

    __slots__ = ("prefixes", "records", "numbers")

    def __init__(self, prefixes: bytes | bytearray, records: bytes | bytearray):
        self.prefixes = prefixes
        self.records = records
        self.numbers = memoryview(prefixes).cast("I")  # what bisect searches

    def __len__(self) -> int:
        return len(self.numbers)


_EMPTY = _Table(b"", b"")


class ChunkIndex:
    """Chunk id -> (pack, offset, length), compact enough for tens of
    millions of chunks: a sorted table of fixed 44-byte entries searched by
    bisection, plus a dict of the entries added since the table was last
    rebuilt. The dict is merged into the table once it holds more than a
    48th of the entries, so memory stays below 50 bytes per chunk.

    Readers in other threads may run during a merge: the table is replaced
    (both its parts at once) before the dict, and readers look at the dict
    first, so an entry is never missed."""

    def __init__(self):
        self.packs: list[str] = []
        self._pack_no: dict[str, int] = {}
        self._table = _EMPTY
        self._recent: dict[bytes, tuple[int, int, int]] = {}
        # The index segments whose entries it holds: what its cache says it
        # covers, so that the next command reads only the segments after them.
        self.segments: set[str] = set()

    def _find(self, chunk_id: bytes) -> tuple[int, int, int] | None:
        table = self._table
        at, found = _locate(table, chunk_id)
        return _RECORD.unpack_from(table.records, at * _RECORD.size)[1:] if found else None

    def _get(self, chunk_id: bytes) -> tuple[int, int, int] | None:
        found = self._recent.get(chunk_id)
        return found if found is not None else self._find(chunk_id)

    def __contains__(self, chunk_id: bytes) -> bool:
        return chunk_id in self._recent or _locate(self._table, chunk_id)[1]

    def __len__(self) -> int:
        return len(self._table) + len(self._recent)

    def pack_number(self, pack: str) -> int:
        no = self._pack_no.get(pack)
        if no is None:
            no = self._pack_no[pack] = len(self.packs)
            self.packs.append(pack)
        return no

    def add_pack(self, pack: str, entries) -> None:
        no = self.pack_number(pack)
        for chunk_id, offset, length in entries:
            if self._get(chunk_id) is None:
                self._recent[chunk_id] = (no, offset, length)
        if len(self._recent) > max(MERGE_AT, len(self._table) // MERGE_SHARE):
            self._merge()

    def _merge(self) -> None:
        """Splice the recent entries into the table: each is placed by a
        search from the last one's place, and the table is copied once."""
        if not self._recent:
            return
        table = self._table
        prefix_parts: list = []
        record_parts: list = []
        done = 0  # entries of the old table already placed
        with memoryview(table.prefixes) as prefixes, memoryview(table.records) as records:
            for chunk_id in sorted(self._recent):
                at, _ = _locate(table, chunk_id, done)
                prefix_parts += (
                    prefixes[done * _PREFIX.size : at * _PREFIX.size],
                    _PREFIX.pack(int.from_bytes(chunk_id[:4], "big")),
                )
                record_parts += (
                    records[done * _RECORD.size : at * _RECORD.size],
                    _RECORD.pack(chunk_id[4:], *self._recent[chunk_id]),
                )
                done = at
            prefix_parts.append(prefixes[done * _PREFIX.size :])
            record_parts.append(records[done * _RECORD.size :])
            self._table = _Table(b"".join(prefix_parts), b"".join(record_parts))
        self._recent = {}

    def lookup(self, chunk_id: bytes) -> tuple[str, int, int]:
        """(pack name, offset, length); KeyError if unknown."""
        found = self._get(chunk_id)
        if found is None:
            raise KeyError(chunk_id)
        no, offset, length = found
        return self.packs[no], offset, length

    def known_packs(self) -> set[str]:
        return set(self.packs)

    def __iter__(self):
        """Every chunk id, in id order."""
        self._merge()
        table = self._table
        return (
            number.to_bytes(4, "big") + table.records[i * _RECORD.size : i * _RECORD.size + 28]
            for i, number in enumerate(table.numbers)
        )

    def parts(self) -> tuple[list[str], bytes | bytearray, bytes | bytearray]:
        """What `from_parts` takes: the pack names, the prefixes and the
        records (merged first), without copying them."""
        self._merge()
        return self.packs, self._table.prefixes, self._table.records

    @classmethod
    def from_parts(
        cls, packs: list[str], prefixes: bytes | bytearray, records: bytes | bytearray
    ) -> "ChunkIndex":
        """An index over `parts()` of another, read in this machine's byte order."""
        if (
            len(prefixes) % _PREFIX.size
            or len(records) != len(prefixes) // _PREFIX.size * _RECORD.size
        ):
            raise ValueError("chunk index records are cut short")
        idx = cls()
        for pack in packs:
            idx.pack_number(pack)
        idx._table = _Table(prefixes, records)
        return idx


def _locate(table: _Table, chunk_id: bytes, lo: int = 0) -> tuple[int, bool]:
    """Where `chunk_id`'s entry is in `table` (searching from entry `lo`
    on), or where it would go; and whether it is there. The table is passed
    in, not read from the index: a merge in another thread may replace the
    index's table while a caller still works with the place found."""
    numbers = table.numbers
    prefix = int.from_bytes(chunk_id[:4], "big")
    lo = bisect.bisect_left(numbers, prefix, lo)
    # Most searches end here (a new chunk's prefix is not in the table) or
    # find the prefix once: a second bisection only where ids share it.
    if lo == len(numbers) or numbers[lo] != prefix:
        return lo, False
    hi = lo + 1
    if hi < len(numbers) and numbers[hi] == prefix:
        hi = bisect.bisect_right(numbers, prefix, hi)
    # Ids that share the first 4 bytes: rare among keyed hashes, but planted
    # entries may share them by the million, so halve here too.
    rest, records, size = chunk_id[4:], table.records, _RECORD.size
    while lo < hi:
        mid = (lo + hi) // 2
        key = records[mid * size : mid * size + 28]
        if key < rest:
            lo = mid + 1
        elif key > rest:
            hi = mid
        else:
            return mid, True
    return lo, False


def write_segment(store: Store, cipher: ObjectCipher, packs: dict[str, list]) -> str:
    """Write one index segment listing `packs` (name -> entries); return its name."""
    plain = msgpack.packb({"packs": {p: [list(e) for e in es] for p, es in packs.items()}})
    blob = cipher.seal(ObjectKind.INDEX, SEGMENT_ID, plain)
    name = "index/" + blake3.blake3(blob).hexdigest()
    store.put(name, blob)
    return name


def read_segment(store: Store, cipher: ObjectCipher, name: str) -> dict[str, list]:
    blob = store.get(name)
    # A segment is named by the hash of its bytes, as a pack is: a copy under
    # another name is no segment (compact would keep it next to the original).
    if blake3.blake3(blob).hexdigest() != name.split("/", 1)[1]:
        raise IntegrityError("its content does not match its name")
    plain = cipher.open(ObjectKind.INDEX, SEGMENT_ID, blob)
    try:
        packs = msgpack.unpackb(plain)["packs"]
        return {p: [(bytes(i), int(o), int(n)) for i, o, n in es] for p, es in packs.items()}
    except (ValueError, TypeError, KeyError, msgpack.UnpackException):
        raise IntegrityError(f"index segment {name} is malformed") from None


def read_pack_entries(
    store: Store, cipher: ObjectCipher, pack: str, size: int, guess: int = TAIL_GUESS
) -> list:
    """The entries of one pack, read from its header (`guess`: how many
    bytes from the end to read first)."""
    want = min(size, guess)
    tail = store.get(f"packs/{pack}", size - want, want)
    try:
        return parse_tail(tail, size, cipher)
    except NeedMore as more:
        tail = store.get(f"packs/{pack}", size - more.size, more.size)
        return parse_tail(tail, size, cipher)


def all_locations(store: Store, cipher: ObjectCipher) -> dict[bytes, list]:
    """Every copy of every chunk, from every pack's header: chunk id ->
    [(pack, offset, length)]. Costs a read per pack; for reads that failed."""
    locations: dict[bytes, list] = {}
    for info in store.list("packs"):
        pack = info.name.split("/", 1)[1]
        try:
            entries = read_pack_entries(store, cipher, pack, info.size)
        except (IntegrityError, StoreError):
            continue
        for chunk_id, offset, length in entries:
            locations.setdefault(chunk_id, []).append((pack, offset, length))
    return locations


def load_index(store: Store, cipher: ObjectCipher, cache: CacheDir | None) -> ChunkIndex:
    """The merged index of the repository, using and refreshing the cache."""
    # Two listings that do not depend on each other: through a server (or
    # from object storage, page by page) they wait out their latency at once.
    # Entries of a pack listed in a segment but not among the packs are left
    # out below, whichever listing a concurrent writer's pack made it into.
    with ThreadPoolExecutor(max_workers=1) as pool:
        listing_packs = pool.submit(store.list, "packs")
        segments = {info.name for info in store.list("index")}
        packs = {info.name.split("/", 1)[1]: info.size for info in listing_packs.result()}
    cached = _read_cache(cache)
    # A cache that knows a segment or pack that is gone is stale: trusting it
    # could deduplicate against a chunk that no longer exists.
    if cached is not None and cached.segments <= segments and cached.known_packs() <= packs.keys():
        index, learned = cached, False
    else:
        index, learned = ChunkIndex(), True
    for name in sorted(segments - index.segments):
        try:
            for pack, entries in read_segment(store, cipher, name).items():
                # A segment may outlive a pack removed by hand; its entries
                # would point nowhere (check --repair tidies the segment).
                if pack in packs:
                    index.add_pack(pack, entries)
        except ObjectNotFound:
            continue  # removed since listing (compact): its packs are read below if present
        except IntegrityError:
            # A segment only repeats what pack headers say: read those instead.
            continue
        index.segments.add(name)
        learned = True
    known = index.known_packs()
    for pack, size in packs.items():
        if pack not in known:
            try:
                index.add_pack(pack, read_pack_entries(store, cipher, pack, size))
                learned = True
            except (IntegrityError, StoreError):
                # Damaged, vanished or unreadable (write-only): nothing to
                # reuse here; check reports damage.
                continue
    # A cache that was current stays as it is: rewriting it cost every
    # command a write of 44 bytes per chunk (44 MB for a million).
    if learned:
        write_cache(cache, index)
    return index


def _read_cache(cache: CacheDir | None) -> ChunkIndex | None:
    f = cache.open(CACHE_NAME) if cache is not None else None
    if f is None:
        return None
    with f:
        try:
            first = f.read(_HEAD_SIZE.size)
            if len(first) != _HEAD_SIZE.size:
                return None
            (head_size,) = _HEAD_SIZE.unpack(first)
            if head_size > os.fstat(f.fileno()).st_size:
                return None
            head = first + f.read(head_size)
            d = msgpack.unpackb(head[_HEAD_SIZE.size :])
            if d.get("v") != _CACHE_VERSION or d.get("order") != sys.byteorder:
                return None
            count = d["entries"]
            # A damaged entry would send reads to the wrong place: check it whole.
            parts = read_checked(f, head, [count * _PREFIX.size, count * _RECORD.size])
            if parts is None:
                return None
            index = ChunkIndex.from_parts(d["packs"], *parts)
            index.segments = set(d["segments"])
            return index
        except (
            OSError,
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            msgpack.UnpackException,
        ):
            return None  # damaged: rebuild from the repository


def write_cache(cache: CacheDir | None, index: ChunkIndex) -> None:
    """Save `index` and the segments it covers in the cache folder."""
    if cache is None:
        return
    packs, prefixes, records = index.parts()
    head = msgpack.packb(
        {
            "v": _CACHE_VERSION,
            "segments": sorted(index.segments),
            "packs": packs,
            "order": sys.byteorder,
            "entries": len(prefixes) // _PREFIX.size,
        }
    )

    def produce(f) -> None:
        out = HashingWriter(f)
        for part in (_HEAD_SIZE.pack(len(head)), head, prefixes, records):
            out.write(part)
        out.finish()

    cache.write_with(CACHE_NAME, produce)
