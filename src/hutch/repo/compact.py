"""Compact: give back the space of chunks that no archive references, by
mark and sweep (no reference counts).

The caller marks: it passes the set of chunk ids that the archives in
`archives/` reference (their item-stream chunks and the chunks of every
item; see archive/references.py). What each pack holds comes from the
pack's own header, never from an index segment (which any writing client
can forge); of a chunk stored several times, the copy kept is one that
was read and checked against its id (choose_copies). The sweep then looks
at every pack:
- a pack holding no live chunk is deleted;
- a pack whose unused share (bytes of objects nobody needs, duplicates
  included) is above the threshold is rewritten: its live objects are
  copied, still sealed, into new packs, and it is deleted;
- any other pack stays as it is.
A new index listing the surviving packs replaces the old segments, and the
entries of soft-deleted archives (`deleted/`) are removed for good.

Compact needs the exclusive lock: a running backup may count on chunks
that no archive references yet (its archive entry is written last), so it
must not run next to one. The caller holds the lock; it is checked again
before anything is deleted.

Crash safety -- the order of the steps:
1. new packs are written (until step 2 they are read from their headers);
2. the new index segments are written (both old and new index now work);
3. deleted/ entries are removed: from here on undelete cannot bring back an
   archive whose chunks step 5 may remove;
4. the old segments are deleted (no segment lists a pack that step 5 removes);
5. the emptied and rewritten packs are deleted.
A crash at any moment leaves a repository that reads; the next compact
finds what is left to do by the same mark and sweep.
"""

import time
from collections.abc import Set
from dataclasses import dataclass, field

from ..errors import ObjectNotFound, StoreError
from ..store.arrivals import Arrival, read_arrival
from ..store.schema import WITNESSED, arrival_name
from .packcopy import PackCopier
from .packtable import SEGMENT_ENTRIES, PackTable, write_segments
from .repository import Repository
from .verify import object_is_intact

DEFAULT_THRESHOLD = 10.0  # percent
ORPHAN_AGE = 24 * 3600  # seconds: an arrival record without its object is swept after this


@dataclass
class PackRewrite:
    pack: str
    size: int
    entries: list  # everything the pack holds
    live: list  # the entries to copy

    @property
    def live_bytes(self) -> int:
        return sum(e[2] for e in self.live)

    @property
    def unused_share(self) -> float:
        total = sum(e[2] for e in self.entries)
        return 1 - self.live_bytes / total if total else 1.0


@dataclass
class CompactPlan:
    threshold: float
    drop: dict[str, int] = field(default_factory=dict)  # pack -> size: nothing live
    rewrite: list[PackRewrite] = field(default_factory=list)
    keep: dict[str, list] = field(default_factory=dict)  # pack -> entries, as they are
    untouched: dict[str, str] = field(default_factory=dict)  # unreadable packs -> why
    hints: dict[str, list] = field(default_factory=dict)  # what segments say they hold
    deleted_archives: list[str] = field(default_factory=list)  # deleted/ names
    refs: list[str] = field(default_factory=list)  # reference lists no live archive uses
    old_segments: list[str] = field(default_factory=list)  # replaced by new ones
    rewrite_index: bool = False
    live_chunks: int = 0
    missing_chunks: int = 0  # live, but in no pack: damage for check to report

    @property
    def drop_bytes(self) -> int:
        return sum(self.drop.values())

    @property
    def rewrite_bytes(self) -> int:
        return sum(r.size for r in self.rewrite)

    @property
    def freed_estimate(self) -> int:
        return self.drop_bytes + sum(r.size - r.live_bytes for r in self.rewrite)

    def is_empty(self) -> bool:
        return not (
            self.drop or self.rewrite or self.deleted_archives or self.refs or self.rewrite_index
        )


@dataclass
class CompactResult:
    packs_deleted: int = 0
    packs_rewritten: int = 0
    packs_written: int = 0
    bytes_deleted: int = 0
    bytes_written: int = 0
    archives_removed: int = 0
    segments_written: int = 0
    segments_deleted: int = 0
    records_deleted: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return self.bytes_deleted - self.bytes_written


def choose_copies(repo: Repository, table: PackTable, live: set[bytes]) -> dict[bytes, str]:
    """For each live chunk stored in more than one pack, the pack whose copy
    to keep: the earliest arrived copy that is what its id says (read and
    checked with the key). A client with the key can plant garbage under a
    real id; the genuine copy arrived first and passes the check. A chunk
    none of whose copies passes is left out: all its copies stay."""
    copies: dict[bytes, list] = {}
    for pack, entries in table.entries.items():
        for chunk_id, offset, length in entries:
            if chunk_id in live:
                copies.setdefault(chunk_id, []).append((pack, offset, length))
    several = {c: locs for c, locs in copies.items() if len({loc[0] for loc in locs}) > 1}
    arrived: dict[str, int | None] = {}
    for locs in several.values():
        for pack, _, _ in locs:
            if pack not in arrived:
                record = read_arrival(repo.store, f"packs/{pack}")
                arrived[pack] = record.time_ns if record is not None else None
    chosen = {}
    for chunk_id, locs in several.items():
        locs.sort(key=lambda loc: (arrived[loc[0]] is None, arrived[loc[0]] or 0, loc[0]))
        for pack, offset, length in locs:
            try:
                blob = repo.store.get(f"packs/{pack}", offset, length)
            except StoreError:
                continue
            if len(blob) == length and object_is_intact(repo, chunk_id, blob):
                chosen[chunk_id] = pack
                break
    return chosen


def plan_compact(
    table: PackTable,
    needed: set[bytes],
    deleted_archives: list[str],
    threshold: float,
    wanted: Set[bytes] = frozenset(),
    chosen: dict[bytes, str] | None = None,
) -> CompactPlan:
    """Decide for every pack. `needed`: chunks the archives use; `wanted`:
    chunks kept where they exist but not missed where they do not (the lost
    chunks of repaired files, which may come back); `chosen`: for chunks
    with several copies, the pack whose copy to keep (choose_copies; any
    other live chunk keeps every copy). `threshold` is the unused share in
    percent above which a pack is rewritten."""
    live = needed | wanted
    chosen = chosen or {}
    plan = CompactPlan(threshold=threshold, deleted_archives=sorted(deleted_archives))
    plan.untouched = dict(table.unreadable)
    plan.hints = dict(table.hints)
    stored: set[bytes] = set()
    for pack in sorted(table.entries):
        entries = table.entries[pack]
        keep, seen = [], set()
        for entry in entries:
            chunk_id = entry[0]
            if chunk_id in live and chunk_id not in seen and chosen.get(chunk_id, pack) == pack:
                seen.add(chunk_id)
                keep.append(entry)
        stored |= seen
        if not keep:
            plan.drop[pack] = table.sizes[pack]
            continue
        rewrite = PackRewrite(pack, table.sizes[pack], entries, keep)
        if rewrite.unused_share * 100 > threshold:
            plan.rewrite.append(rewrite)
        else:
            plan.keep[pack] = entries
    plan.live_chunks = len(stored)
    plan.missing_chunks = len(needed - stored)
    needed_segments = max(1, -(-table.entry_count() // SEGMENT_ENTRIES))
    plan.rewrite_index = bool(
        plan.drop
        or plan.rewrite
        or table.bad_segments
        or table.missing
        or table.disagreeing
        or any(p in table.entries for p in table.unlisted())
        or len(table.all_segments) > needed_segments
    )
    if plan.rewrite_index:
        plan.old_segments = table.all_segments
    return plan


def _check_lock(repo: Repository) -> None:
    if repo.lock is not None:
        repo.lock.check()


def _copy_live(repo: Repository, rewrite: PackRewrite, out: PackCopier) -> bool:
    """Copy the live objects of one pack; False (nothing copied) if one of
    them is damaged: then the pack stays as it is, for check to look at."""
    data = repo.store.get(f"packs/{rewrite.pack}")
    blobs = []
    for obj_id, offset, length in rewrite.live:
        blob = data[offset : offset + length]
        if len(blob) != length or not object_is_intact(repo, obj_id, blob):
            return False
        blobs.append((obj_id, blob))
    for obj_id, blob in blobs:
        out.add(obj_id, blob)
    return True


def execute_compact(repo: Repository, plan: CompactPlan, on_step=None) -> CompactResult:
    """Carry out `plan` in the crash-safe order of the module docstring.
    `on_step(text)` is told about each phase (for progress)."""
    result = CompactResult()
    store = repo.store
    step = on_step or (lambda text: None)
    out = PackCopier(repo)
    surviving = {**plan.hints, **plan.keep}
    rewritten: dict[str, int] = {}
    for rewrite in plan.rewrite:
        step(f"rewriting pack {rewrite.pack[:16]}")
        if _copy_live(repo, rewrite, out):
            rewritten[rewrite.pack] = rewrite.size
        else:
            surviving[rewrite.pack] = rewrite.entries
            result.warnings.append(
                f"pack {rewrite.pack} holds a damaged object and was left as it is; "
                "run 'hutch check' to find out what it damages"
            )
    out.finish()
    result.packs_written = len(out.written)
    result.bytes_written = out.bytes_written
    surviving.update(out.written)
    if plan.rewrite_index:
        step("writing the index")
        _check_lock(repo)
        result.segments_written = len(write_segments(store, repo.cipher, surviving))
    _check_lock(repo)
    for name in plan.deleted_archives:
        result.archives_removed += _delete(store, name)
    for name in plan.refs:
        _delete(store, name)
    for name in plan.old_segments:
        result.segments_deleted += _delete(store, name)
    step("deleting packs")
    for pack, size in [*plan.drop.items(), *rewritten.items()]:
        _check_lock(repo)
        if _delete(store, f"packs/{pack}"):
            result.bytes_deleted += size
            result.packs_deleted += 1
    result.packs_rewritten = len(rewritten)
    gone = [*plan.deleted_archives, *plan.refs, *plan.old_segments]
    gone += [f"packs/{p}" for p in plan.drop]
    gone += [f"packs/{p}" for p in rewritten]
    result.records_deleted = sweep_records(store, gone)
    return result


def sweep_records(store, gone: list[str], keep_tombstones: bool = False) -> int:
    """Remove the arrival records of objects that are gone: those this
    compact deleted, and those of uploads that never completed. A record
    is written just before its object, so one that is young may belong to
    an upload in progress: only records older than ORPHAN_AGE are swept
    without their object having been deleted here. keep_tombstones: keep
    the records of packs compact removed (see keyless.mark_removed) while
    index segments may still list them."""
    deleted_here = {arrival_name(name) for name in gone}
    present = {arrival_name(i.name) for ns in (*WITNESSED, "deleted") for i in store.list(ns)}
    count = 0
    for info in store.list("arrivals"):
        if info.name in present:
            continue
        if info.name in deleted_here:
            count += _delete(store, info.name)
            continue
        try:
            record = Arrival.from_bytes(store.get(info.name))
        except ObjectNotFound:
            continue
        if record is not None and record.removed is not None and keep_tombstones:
            continue
        if record is None or time.time_ns() - record.time_ns > ORPHAN_AGE * 1e9:
            count += _delete(store, info.name)
    return count


def _delete(store, name: str) -> int:
    try:
        store.delete(name)
        return 1
    except ObjectNotFound:
        return 0
