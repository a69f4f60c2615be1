"""Recreate: rewrite existing archives without the paths that patterns now
exclude, and (with a compressor) store their chunks compressed anew.

It plans, then executes. `plan_recreate` reads each archive's file list
and decides what happens to it (files dropped, chunks whose compression
is to be looked at); a dry run shows the plan; `execute_recreate` carries
out the same plan.

An archive is never changed in place. Its new version is written under
a temporary name, with the original's arrival record (its place in time:
prune goes by arrival, and a recreated archive must not look new); the
original is then soft-deleted (undelete brings it back until compact),
and the new version renamed to the original name (rename keeps the id
and the arrival record). An interruption leaves the original, or the new
version under the temporary name; never neither. With a target name the
original stays, and the new archive is a new arrival.
"""

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from ..compress import Compressor, parse_spec
from ..repo.archives import ArchiveEntry, ArchiveList
from ..repo.reader import ChunkReader
from ..repo.recompress import RecompressResult, recompress_chunks
from ..repo.repository import Repository
from ..repo.writer import RepoWriter
from .itemstream import iter_items
from .itemwriter import ItemStreamWriter
from .patterns import PatternMatcher
from .report import Reporter

TEMPORARY_SUFFIX = ".recreate-"


@dataclass
class RecreateOptions:
    matcher: PatternMatcher  # what stays (an empty matcher keeps everything)
    compressor: Compressor | None = None  # -C: for new item streams and recompressed chunks
    recompress: str = "never"  # "never", "if-different" or "always"
    comment: str | None = None  # a new comment
    target: str | None = None  # write the new version under this name; keep the original


@dataclass
class ArchiveChange:
    entry: ArchiveEntry
    dropped: list[bytes] = field(default_factory=list)  # paths left out
    dropped_files: int = 0  # regular files among them
    dropped_size: int = 0  # their size
    kept: int = 0  # items that stay
    chunks: set[bytes] = field(default_factory=set)  # data chunks of what stays

    def rewrites(self, options: RecreateOptions) -> bool:
        """Whether the archive entry itself changes."""
        comment = options.comment is not None and options.comment != self.entry.comment
        return bool(self.dropped or comment or options.target)


@dataclass
class RecreatePlan:
    options: RecreateOptions
    archives: list[ArchiveChange]

    @property
    def changed(self) -> list[ArchiveChange]:
        return [c for c in self.archives if c.rewrites(self.options)]

    def chunks(self) -> set[bytes]:
        """Chunks whose compression recompress looks at: the content and
        item streams of every selected archive."""
        if self.options.recompress == "never":
            return set()
        ids: set[bytes] = set()
        for change in self.archives:
            ids |= change.chunks
            ids.update(bytes(i) for i in change.entry.items)
        return ids


@dataclass
class RecreateResult:
    rewritten: list[str] = field(default_factory=list)  # archive names
    recompress: RecompressResult | None = None


def _keeps(matcher: PatternMatcher, path: bytes) -> bool:
    return matcher.empty or matcher.match(path)


def _share_hardlink_chunks(item: dict, groups: dict[bytes, list]) -> None:
    """Give a hardlink that holds no chunk list its group's, so that it
    keeps its content when the link that carried it is dropped."""
    hlid = item.get("hlid")
    if hlid is None or not stat.S_ISREG(item["mode"]):
        return
    if item.get("chunks"):
        groups.setdefault(hlid, item["chunks"])
    elif hlid in groups:
        item["chunks"] = groups[hlid]


def plan_recreate(
    repo: Repository, entries: list[ArchiveEntry], options: RecreateOptions
) -> RecreatePlan:
    """What recreate would do to `entries`; reads each one's file list."""
    reader = ChunkReader(repo)
    changes = []
    try:
        for entry in entries:
            change = ArchiveChange(entry)
            groups: dict[bytes, list] = {}
            for item in iter_items(reader, entry):
                _share_hardlink_chunks(item, groups)
                path = item["path"]
                regular = stat.S_ISREG(item["mode"])
                if not _keeps(options.matcher, path):
                    change.dropped.append(path)
                    change.dropped_files += regular
                    change.dropped_size += item.get("size", 0) if regular else 0
                    continue
                change.kept += 1
                change.chunks.update(bytes(c) for c, _ in item.get("chunks") or ())
            changes.append(change)
    finally:
        reader.close()
    return RecreatePlan(options, changes)


def execute_recreate(
    repo: Repository,
    plan: RecreatePlan,
    reporter: Reporter,
    on_step: Callable[[int, int, str], None] | None = None,
) -> RecreateResult:
    """Carry out `plan`: rewrite the archives that change, then recompress.
    The caller holds the exclusive lock and may delete."""
    result = RecreateResult()
    archives = ArchiveList(repo)
    options = plan.options
    compressor = options.compressor or parse_spec("lz4")
    changed = plan.changed
    new_streams: set[bytes] = set()
    for number, change in enumerate(changed):
        if on_step is not None:
            on_step(number, len(changed), "rewriting archives")
        new = _rewrite(repo, change, options.matcher, compressor, reporter)
        if options.comment is not None:
            new.comment = options.comment
        _replace(archives, change.entry, new, options.target)
        result.rewritten.append(change.entry.name)
        new_streams.update(bytes(i) for i in new.items)
    if options.recompress != "never":
        ids = plan.chunks() | new_streams

        def step(done: int, total: int) -> None:
            if on_step is not None:
                on_step(done, total, "recompressing chunks")

        result.recompress = recompress_chunks(
            repo, ids, compressor, always=options.recompress == "always", on_step=step
        )
    return result


def _rewrite(
    repo: Repository,
    change: ArchiveChange,
    matcher: PatternMatcher,
    compressor: Compressor,
    reporter: Reporter,
) -> ArchiveEntry:
    """Write the item stream of the new version; the entry is not stored yet."""
    entry = change.entry
    writer = RepoWriter(repo)
    reader = ChunkReader(repo)
    try:
        stream = ItemStreamWriter(writer, compressor)
        groups: dict[bytes, list] = {}
        for item in iter_items(reader, entry):
            _share_hardlink_chunks(item, groups)
            if not _keeps(matcher, item["path"]):
                reporter.file_status("x", item["path"])
                continue
            stream.add(item)
        items = stream.finish()
        writer.flush()
    finally:
        reader.close()
        writer.close()
    fields = entry.to_dict()
    stats = dict(entry.stats)
    if change.dropped:
        stats["nfiles"] = max(stats.get("nfiles", 0) - change.dropped_files, 0)
        stats["original_size"] = max(stats.get("original_size", 0) - change.dropped_size, 0)
    # Its reference lists are the new stream's: keyless compact goes by them.
    fields.update(items=items, refs=stream.refs, stats=stats)
    return ArchiveEntry(**fields)


def _replace(
    archives: ArchiveList, original: ArchiveEntry, new: ArchiveEntry, target: str | None
) -> None:
    """Store `new` in the place of `original` (see the module docstring)."""
    if target is not None:
        new.name = target
        archives.add(new)
        return
    name = original.name
    new.name = f"{name}{TEMPORARY_SUFFIX}{os.urandom(4).hex()}"
    archives.add(new, arrival=original.arrival)
    archives.delete(original)
    archives.rename(new, name)
