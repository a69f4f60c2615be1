"""Storing chunks again with another compression (recreate --recompress).

A chunk's id is a keyed hash of its plaintext, so a chunk compressed anew
keeps its id; every archive that uses it, whichever, then reads the new
copy. The work is done in the crash-safe order of compact:
1. each chunk that needs it is read, checked against its id, compressed
   anew and written as a new copy into new packs, listed by a new index
   segment (the old copies still read);
2. the packs that hold old copies are rewritten without them (their other
   objects are copied as they are), or deleted if nothing else is in them;
   a new index replaces the old segments; then the old packs are deleted
   (repo/compact.py: execute_compact).
A crash before step 2 ends leaves two copies of some chunks, both good;
`compact` keeps one of them.

Which copies step 2 removes does not depend on any index segment: the
pack headers are read, and only copies of chunks whose new copy this
process wrote and checked are left out.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from ..compress import NONE, Compressor, decompress
from ..errors import IntegrityError
from .compact import CompactPlan, CompactResult, PackRewrite, execute_compact
from .packtable import scan_pack_table
from .repository import Repository
from .writer import RepoWriter


@dataclass
class RecompressResult:
    checked: int = 0  # chunks looked at
    recompressed: int = 0  # chunks stored anew
    bytes_before: int = 0  # sealed size of the old copies of those chunks
    bytes_after: int = 0  # sealed size of their new copies
    compact: CompactResult = field(default_factory=CompactResult)


def needs_recompression(tag: int, compressor: Compressor, always: bool) -> bool:
    """Whether a payload compressed with algorithm `tag` is to be stored
    anew; "auto" leaves what it would itself have stored uncompressed."""
    if always:
        return True
    if compressor.auto and tag == NONE:
        return False
    return tag != compressor.algorithm


def recompress_chunks(
    repo: Repository,
    chunk_ids: set[bytes],
    compressor: Compressor,
    always: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> RecompressResult:
    """Store each of `chunk_ids` (file content or item-stream chunks) that
    is compressed otherwise than `compressor` anew, and remove the old
    copies. `on_step(done, total)` hears of progress. The caller holds the
    exclusive lock and may delete."""
    result = RecompressResult()
    writer = RepoWriter(repo)
    moved: set[bytes] = set()
    total = len(chunk_ids)
    try:
        for cid in sorted(chunk_ids):
            result.checked += 1
            if on_step is not None:
                on_step(result.checked, total)
            pack, offset, length = repo.index.lookup(cid)
            blob = repo.store.get(f"packs/{pack}", offset, length)
            kind = blob[2] if len(blob) > 2 else 0
            payload = repo.cipher.open(kind, cid, blob)
            if not needs_recompression(payload[0], compressor, always):
                continue
            plain = decompress(payload)
            if repo.key.chunk_id(plain) != cid:
                raise IntegrityError(
                    f"chunk {cid.hex()[:16]} in pack {pack[:16]} does not match its id; "
                    "run 'hutch check --repair' first"
                )
            sealed = repo.cipher.seal(kind, cid, compressor.compress(plain))
            writer.add(cid, sealed, again=True)
            moved.add(cid)
            result.recompressed += 1
            result.bytes_before += length
            result.bytes_after += len(sealed)
        writer.flush()
    finally:
        writer.close()
    if moved:
        result.compact = execute_compact(repo, _drop_old_copies(repo, moved, writer.packs_written))
    return result


def _drop_old_copies(repo: Repository, moved: set[bytes], new_packs: list[str]) -> CompactPlan:
    """A compact plan that leaves out the copies of `moved` chunks in every
    pack but the new ones, and keeps everything else where it is."""
    table = scan_pack_table(repo.store, repo.cipher, headers="all")
    fresh = set(new_packs)
    plan = CompactPlan(threshold=0.0, rewrite_index=True)
    plan.untouched = dict(table.unreadable)
    plan.hints = dict(table.hints)
    plan.old_segments = table.all_segments
    for pack, entries in sorted(table.entries.items()):
        live = [e for e in entries if pack in fresh or e[0] not in moved]
        if len(live) == len(entries):
            plan.keep[pack] = entries
        elif not live:
            plan.drop[pack] = table.sizes[pack]
        else:
            plan.rewrite.append(PackRewrite(pack, table.sizes[pack], entries, live))
    return plan
