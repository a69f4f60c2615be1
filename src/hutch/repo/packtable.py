"""The packs of a repository and what each one holds, as the index segments
and the pack headers tell it -- what compact and check work from.

The merged chunk index (index.py) keeps one location per chunk; maintenance
needs more: every entry of every pack (duplicates included), which segment
lists which pack, segments that cannot be read, and segments that list
packs which are gone.

Index segments are written by clients, and a client may lie: they are
hints. What deletes anything (compact) reads every pack's own header
(`headers="all"`): a pack is named by the hash of its bytes, checked by the
server at upload, so its header is the pack's own word about itself.
"""

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..crypto.objects import ObjectCipher
from ..errors import IntegrityError, ObjectNotFound, StoreError
from ..store.base import Store
from .index import read_pack_entries, read_segment, write_segment

# Entries per index segment written by maintenance (about 5 MB each).
SEGMENT_ENTRIES = 100_000
# Most pack headers fit in this much of the pack's end; larger ones take a second read.
HEADER_GUESS = 64 * 1024
HEADER_READERS = 8


@dataclass
class PackTable:
    sizes: dict[str, int] = field(default_factory=dict)  # every pack in the store
    entries: dict[str, list] = field(default_factory=dict)  # pack -> [(id, offset, length)]
    listed_by: dict[str, list[str]] = field(default_factory=dict)  # pack -> segments
    segments: dict[str, dict[str, list]] = field(default_factory=dict)  # readable segments
    bad_segments: dict[str, str] = field(default_factory=dict)  # segment -> what is wrong
    missing: dict[str, list[str]] = field(default_factory=dict)  # gone pack -> segments
    unreadable: dict[str, str] = field(default_factory=dict)  # pack of unknown content -> why
    # What segments claim for packs whose header cannot be read (headers="all"):
    # kept in the index as hints, never a reason to delete.
    hints: dict[str, list] = field(default_factory=dict)
    # Segments whose word about a pack differs from the pack's header (headers="all").
    disagreeing: dict[str, list[str]] = field(default_factory=dict)  # segment -> packs

    @property
    def all_segments(self) -> list[str]:
        return sorted([*self.segments, *self.bad_segments])

    def unlisted(self) -> list[str]:
        """Packs that no readable segment lists (a writer died before its segment)."""
        return sorted(p for p in self.sizes if p not in self.listed_by)

    def entry_count(self) -> int:
        return sum(len(e) for e in self.entries.values())


def scan_pack_table(store: Store, cipher: ObjectCipher, headers: str = "unlisted") -> PackTable:
    """Read every segment, and the headers of packs: "unlisted" those that
    no readable segment lists, "all" every pack (then the headers, not the
    segments, say what a pack holds), "none" no pack."""
    table = PackTable()
    table.sizes = {info.name.split("/", 1)[1]: info.size for info in store.list("packs")}
    for info in sorted(store.list("index"), key=lambda i: i.name):
        try:
            packs = read_segment(store, cipher, info.name)
        except ObjectNotFound:
            continue
        except IntegrityError as e:
            table.bad_segments[info.name] = str(e)
            continue
        table.segments[info.name] = packs
        for pack, entries in packs.items():
            if pack not in table.sizes:
                table.missing.setdefault(pack, []).append(info.name)
                continue
            table.listed_by.setdefault(pack, []).append(info.name)
            table.entries.setdefault(pack, entries)
    if headers == "none":
        return table
    todo = sorted(table.sizes) if headers == "all" else table.unlisted()
    with ThreadPoolExecutor(max_workers=HEADER_READERS) as pool:
        results = pool.map(lambda p: _header(store, cipher, p, table.sizes[p]), todo)
        for pack, (entries, why) in zip(todo, results, strict=True):
            if entries is None and why is None:
                del table.sizes[pack]  # gone since listed
            elif entries is None:
                claimed = table.entries.pop(pack, None)
                if claimed is not None:
                    table.hints[pack] = claimed
                table.unreadable[pack] = why
            else:
                _compare(table, pack, entries)
                table.entries[pack] = entries
    return table


def _header(store: Store, cipher: ObjectCipher, pack: str, size: int):
    """(entries, None), (None, why it cannot be read), or (None, None) if gone."""
    try:
        return read_pack_entries(store, cipher, pack, size, HEADER_GUESS), None
    except ObjectNotFound:
        return None, None
    except (IntegrityError, StoreError) as e:
        return None, str(e)


def _compare(table: PackTable, pack: str, header: list) -> None:
    """Note the segments whose word about `pack` is not its header's."""
    truth = sorted(header)
    for segment in table.listed_by.get(pack, []):
        if sorted(table.segments[segment][pack]) != truth:
            table.disagreeing.setdefault(segment, []).append(pack)


def write_segments(store: Store, cipher: ObjectCipher, packs: dict[str, list]) -> list[str]:
    """List `packs` (name -> entries) in as few segments as keep each one
    under SEGMENT_ENTRIES entries; return the names written."""
    names: list[str] = []
    total = sum(len(e) for e in packs.values())
    if not packs:
        return names
    target = math.ceil(total / math.ceil(total / SEGMENT_ENTRIES)) if total else 1
    group: dict[str, list] = {}
    count = 0
    for pack in sorted(packs):
        group[pack] = packs[pack]
        count += len(packs[pack])
        if count >= target:
            names.append(write_segment(store, cipher, group))
            group, count = {}, 0
    if group:
        names.append(write_segment(store, cipher, group))
    return names
