"""The mark phase of compact: every chunk that the archives in `archives/`
reference -- the pieces of their item streams and the chunks of every item
(including `chunks_healthy`, the original chunks of a file that check
--repair patched with zeros, so that the file can still heal).

An archive whose entry or item stream cannot be read makes the mark
incomplete: compact must not sweep then, so this raises instead of
guessing."""

from dataclasses import dataclass, field

from ..errors import IntegrityError
from ..repo.archives import ArchiveList
from ..repo.compact import CompactPlan, choose_copies, plan_compact
from ..repo.packtable import scan_pack_table
from ..repo.reader import ChunkReader
from ..repo.repository import Repository
from .itemstream import iter_items

REPAIR_HINT = "run 'hutch check --repair' first"


@dataclass
class References:
    needed: set[bytes] = field(default_factory=set)  # item streams and file contents
    healthy: set[bytes] = field(default_factory=set)  # lost chunks a repaired file hopes for
    lists: set[str] = field(default_factory=set)  # the reference lists the archives publish


def referenced_chunks(repo: Repository, on_archive=None) -> References:
    """Ids of all chunks that some archive needs; `on_archive(entry)` is
    called as each archive is read (progress)."""
    archives = ArchiveList(repo)
    entries = archives.list()
    if archives.damaged:
        raise IntegrityError(
            f"archive entries {', '.join(sorted(archives.damaged))} cannot be read, so it is "
            f"unknown which chunks they need; nothing was removed ({REPAIR_HINT})"
        )
    refs = References()
    reader = ChunkReader(repo)
    try:
        for entry in entries:
            if on_archive is not None:
                on_archive(entry)
            refs.needed.update(bytes(i) for i in entry.items)
            refs.lists.update(entry.refs)
            try:
                for item in iter_items(reader, entry):
                    for chunk_id, _ in item.get("chunks") or ():
                        refs.needed.add(bytes(chunk_id))
                    for chunk_id, _ in item.get("chunks_healthy") or ():
                        refs.healthy.add(bytes(chunk_id))
            except IntegrityError as e:
                raise IntegrityError(
                    f"{e}; it is unknown which chunks this archive needs, so nothing was "
                    f"removed ({REPAIR_HINT})"
                ) from None
    finally:
        reader.close()
    refs.healthy -= refs.needed
    return refs


def plan_compaction(repo: Repository, threshold: float, on_archive=None) -> CompactPlan:
    """Mark, then plan the sweep: what compact would do to `repo` now;
    `on_archive(entry)` as in referenced_chunks."""
    refs = referenced_chunks(repo, on_archive)
    table = scan_pack_table(repo.store, repo.cipher, headers="all")
    chosen = choose_copies(repo, table, refs.needed | refs.healthy)
    deleted = [info.name for info in repo.store.list("deleted")]
    plan = plan_compact(table, refs.needed, deleted, threshold, refs.healthy, chosen)
    plan.refs = sorted(i.name for i in repo.store.list("refs") if i.name[5:] not in refs.lists)
    return plan
