"""The packs of a repository and what each one holds, as the index segments
and the pack headers tell it -- what compact and check work from.

The merged chunk index (index.py) keeps one location per chunk; maintenance
needs more: every entry of every pack (duplicates included), which segment
lists which pack, segments that cannot be read, and segments that list
packs which are gone.
"""

import math
from dataclasses import dataclass, field

from ..crypto.objects import ObjectCipher
from ..errors import IntegrityError, ObjectNotFound, StoreError
from ..store.base import Store
from .index import read_pack_entries, read_segment, write_segment

# Entries per index segment written by maintenance (about 5 MB each).
SEGMENT_ENTRIES = 100_000


@dataclass
class PackTable:
    sizes: dict[str, int] = field(default_factory=dict)  # every pack in the store
    entries: dict[str, list] = field(default_factory=dict)  # pack -> [(id, offset, length)]
    listed_by: dict[str, list[str]] = field(default_factory=dict)  # pack -> segments
    segments: dict[str, dict[str, list]] = field(default_factory=dict)  # readable segments
    bad_segments: dict[str, str] = field(default_factory=dict)  # segment -> what is wrong
    missing: dict[str, list[str]] = field(default_factory=dict)  # gone pack -> segments
    unreadable: dict[str, str] = field(default_factory=dict)  # pack of unknown content -> why

    @property
    def all_segments(self) -> list[str]:
        return sorted([*self.segments, *self.bad_segments])

    def unlisted(self) -> list[str]:
        """Packs that no readable segment lists (a writer died before its segment)."""
        return sorted(p for p in self.sizes if p not in self.listed_by)

    def entry_count(self) -> int:
        return sum(len(e) for e in self.entries.values())


def scan_pack_table(store: Store, cipher: ObjectCipher, read_headers: bool = True) -> PackTable:
    """Read every segment; read the header of every pack that no readable
    segment lists (unless read_headers is False)."""
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
    if read_headers:
        for pack in table.unlisted():
            try:
                table.entries[pack] = read_pack_entries(store, cipher, pack, table.sizes[pack])
            except IntegrityError as e:
                table.unreadable[pack] = str(e)
            except ObjectNotFound:
                del table.sizes[pack]
            except StoreError as e:
                table.unreadable[pack] = str(e)
    return table


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
