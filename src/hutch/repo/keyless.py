"""What the operator of a backup server can do with a repository without
the key: list the archives by what they publish and when they arrived,
soft-delete them (repo-prune), and free what no archive references
(compact).

Everything here reads only the server's own records (store/arrivals.py)
and what objects publish in clear (store/published.py, the id list of
each pack): keyed hashes that show equality, never content. A client that
publishes a lie harms only its own archive.

Keyless compaction deletes whole objects: packs in which no live archive
references any chunk, reference lists no archive uses, and soft-deleted
archives. Where a chunk sits inside a pack stays sealed, so a pack that
is only partly in use waits for a compact with the key (`--rewrite`).
"""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from ..errors import IntegrityError, ObjectNotFound, StoreError
from ..store.arrivals import Arrival, read_arrival
from ..store.base import Store
from ..store.published import Malformed, split_archive_object, unpack_refs
from ..store.schema import arrival_name, object_id
from .compact import sweep_records
from .pack import TAIL_GUESS, NeedMore, parse_ids

READERS = 8


@dataclass
class PublishedArchive:
    """An archive as the server sees it."""

    id: bytes
    series: bytes
    items: list[bytes]
    refs: list[str]
    arrival: Arrival | None
    size: int  # of its entry

    @property
    def name(self) -> str:
        return self.id.hex()

    @property
    def arrived(self) -> int | None:
        return self.arrival.time_ns if self.arrival is not None else None

    @property
    def client(self) -> str | None:
        return self.arrival.client if self.arrival is not None else None


def _fetch(store: Store, name: str) -> bytes | bytearray | None:
    try:
        return store.get(name)
    except ObjectNotFound:
        return None


def published_archives(
    store: Store, namespace: str = "archives"
) -> tuple[list[PublishedArchive], list[str]]:
    """(archives, names of entries whose published part does not parse)."""
    names = [i.name for i in store.list(namespace)]
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        blobs = list(pool.map(lambda n: _fetch(store, n), names))
        records = list(pool.map(lambda n: _fetch(store, arrival_name(n)), names))
    archives, damaged = [], []
    for name, blob, record in zip(names, blobs, records, strict=True):
        if blob is None:
            continue  # gone since listed
        try:
            published, _ = split_archive_object(blob)
            archive_id = object_id(name)
        except (Malformed, ValueError):
            damaged.append(name)
            continue
        arrival = Arrival.from_bytes(record) if record is not None else None
        archives.append(
            PublishedArchive(
                archive_id,
                published["series"],
                published["items"],
                published["refs"],
                arrival,
                len(blob),
            )
        )
    return archives, damaged


def soft_delete(store: Store, archive_id: bytes) -> None:
    """Move an archive's entry to deleted/, as it is (no key needed):
    undelete brings it back until compact removes it."""
    name = f"archives/{archive_id.hex()}"
    store.put(f"deleted/{archive_id.hex()}", store.get(name), overwrite=True)
    store.delete(name)


def pack_ids(store: Store, pack: str, size: int) -> list[bytes]:
    """The chunk ids a pack lists in clear."""
    want = min(size, TAIL_GUESS // 4)
    tail = store.get(f"packs/{pack}", size - want, want)
    try:
        return parse_ids(tail, size)
    except NeedMore as more:
        return parse_ids(store.get(f"packs/{pack}", size - more.size, more.size), size)


@dataclass
class KeylessPlan:
    drop: dict[str, int] = field(default_factory=dict)  # pack -> size: nothing live
    partial: dict[str, int] = field(default_factory=dict)  # pack -> size: some ids dead
    unreadable: dict[str, str] = field(default_factory=dict)  # pack -> why
    refs: list[str] = field(default_factory=list)  # reference lists no live archive uses
    deleted_archives: list[str] = field(default_factory=list)
    live_chunks: int = 0

    @property
    def drop_bytes(self) -> int:
        return sum(self.drop.values())

    def is_empty(self) -> bool:
        return not (self.drop or self.refs or self.deleted_archives)


def live_references(store: Store, archives: list[PublishedArchive]) -> set[bytes]:
    """Every chunk id the archives publish: their item streams and the ids
    in their reference lists. A missing or malformed list makes the set
    unknown: IntegrityError (nothing may be freed then)."""
    live: set[bytes] = set()
    names = sorted({r for a in archives for r in a.refs})
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        lists = list(pool.map(lambda n: _fetch(store, f"refs/{n}"), names))
    for name, data in zip(names, lists, strict=True):
        try:
            if data is None:
                raise Malformed("missing")
            live.update(unpack_refs(data))
        except Malformed:
            raise IntegrityError(
                f"reference list refs/{name} is {'missing' if data is None else 'damaged'}, so "
                "it is unknown what its archive uses; nothing was removed (run 'hutch check' "
                "with the key)"
            ) from None
    for archive in archives:
        live.update(archive.items)
    return live


def plan_keyless_compact(store: Store, on_step: Callable[[str], None] | None = None) -> KeylessPlan:
    step = on_step or (lambda text: None)
    step("reading what the archives publish")
    archives, damaged = published_archives(store)
    if damaged:
        raise IntegrityError(
            f"archive entries {', '.join(sorted(damaged))} do not parse, so it is unknown what "
            "they use; nothing was removed (run 'hutch check --repair' with the key)"
        )
    live = live_references(store, archives)
    plan = KeylessPlan(deleted_archives=sorted(i.name for i in store.list("deleted")))
    used_refs = {r for a in archives for r in a.refs}
    plan.refs = sorted(i.name for i in store.list("refs") if i.name[5:] not in used_refs)
    step("reading the packs' id lists")
    sizes = {i.name.split("/", 1)[1]: i.size for i in store.list("packs")}

    def ids_of(pack: str):
        try:
            return pack_ids(store, pack, sizes[pack]), None
        except ObjectNotFound:
            return None, None
        except (IntegrityError, StoreError) as e:
            return None, str(e)

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        results = pool.map(ids_of, sorted(sizes))
        for pack, (ids, why) in zip(sorted(sizes), results, strict=True):
            if ids is None:
                if why is not None:
                    plan.unreadable[pack] = why
                continue
            used = sum(1 for i in ids if i in live)
            plan.live_chunks += used
            if not used:
                plan.drop[pack] = sizes[pack]
            elif used < len(ids):
                plan.partial[pack] = sizes[pack]
    return plan


def execute_keyless_compact(store: Store, plan: KeylessPlan, check_lock=None) -> int:
    """Carry out the plan; the number of objects removed. Deleted archives
    go first (from then on nothing can bring back what the packs held),
    then reference lists, then packs."""
    removed = 0
    check = check_lock or (lambda: None)
    gone = [*plan.deleted_archives, *plan.refs, *(f"packs/{p}" for p in plan.drop)]
    for name in gone:
        check()
        try:
            store.delete(name)
            removed += 1
        except ObjectNotFound:
            pass
        if name.startswith("packs/"):
            mark_removed(store, name)
    sweep_records(store, [*plan.deleted_archives, *plan.refs], keep_tombstones=True)
    return removed


def mark_removed(store: Store, name: str) -> None:
    """Turn a pack's arrival record into a tombstone: the sealed index
    segments may still list the pack, and check must tell a pack compact
    removed from one that was lost."""
    record = read_arrival(store, name) or Arrival(0, 0)
    tombstone = replace(record, removed=time.time_ns())
    store.put(arrival_name(name), tombstone.to_bytes(), overwrite=True)


def removed_by_compact(store: Store, name: str) -> int | None:
    """When compact removed object `name` (ns), if it did."""
    record = read_arrival(store, name)
    return record.removed if record is not None else None
