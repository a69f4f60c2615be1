"""Comparing two archives of one repository, item by item: what was added,
removed, changed in content (by chunk ids, without reading data), and
changed in metadata (mode, owner, mtime, link target, xattrs and ACLs).

Both item streams are read once, side by side. Each is in walk order
(sorted within a folder), so the stream whose current path sorts first is
advanced and most pairs meet at once; an item whose partner has not shown
up yet waits in a dict. Nothing relies on that order for correctness: it
only keeps the waiting dicts small, so memory grows with the difference
between the archives, not with their size. Items still waiting at the end
exist on one side only.
"""

import heapq
import os
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..crypto.objects import ObjectKind
from ..errors import HutchError, IntegrityError
from ..repo.archives import ArchiveEntry
from ..repo.reader import ChunkReader
from .item import ACL_ACCESS, ACL_DEFAULT
from .itemstream import iter_items
from .patterns import PatternMatcher

# What a waiting item keeps: the rest (atime, ctime, ...) is never compared.
_KEPT: tuple[str, ...] = ("path", "mode", "uid", "gid", "user", "group", "mtime", "size")
_KEPT += ("chunks", "target", "hlid", "xattrs", "acl_access", "acl_default", "rdev")


@dataclass
class DiffOptions:
    content_only: bool = False  # ignore mode, owner, mtime and xattrs
    numeric_ids: bool = False  # compare uid/gid, not user and group names


@dataclass
class ItemDiff:
    """The changes of one path; each change is a dict with a "type" (added,
    removed, added directory, removed directory, added link, removed link,
    changed link, modified, mode, owner, mtime, xattrs) and its values."""

    path: bytes
    changes: list[dict] = field(default_factory=list)


def walk_key(path: bytes) -> list[bytes]:
    """Sort key of walk order: folders before what follows them by name."""
    return path.split(b"/")


class _Side:
    """One archive's filtered item stream, with the chunk lists of its
    hardlink groups (a member may leave them to the group's first item)."""

    def __init__(self, reader: ChunkReader, entry: ArchiveEntry, matcher: PatternMatcher):
        self.entry = entry
        self.hardlink_chunks: dict[bytes, list] = {}
        self._items = self._filtered(reader, entry, matcher)
        self.current: dict | None = None
        self.advance()

    def _filtered(self, reader, entry, matcher) -> Iterator[dict]:
        for item in iter_items(reader, entry):
            if not matcher.empty and not matcher.match(item["path"]):
                continue
            hlid = item.get("hlid")
            if hlid is not None:
                if "chunks" in item:
                    self.hardlink_chunks.setdefault(hlid, item["chunks"])
                elif hlid in self.hardlink_chunks:
                    item["chunks"] = self.hardlink_chunks[hlid]
            yield {k: item[k] for k in _KEPT if k in item}

    def advance(self) -> None:
        self.current = next(self._items, None)
        self.key = [] if self.current is None else walk_key(self.current["path"])


def diff_archives(
    reader: ChunkReader,
    old: ArchiveEntry,
    new: ArchiveEntry,
    matcher: PatternMatcher,
    options: DiffOptions,
) -> Iterator[ItemDiff]:
    """The paths that differ between `old` and `new`, with their changes."""
    compare = _Comparer(reader, options, old.chunker_params == new.chunker_params)
    a, b = _Side(reader, old, matcher), _Side(reader, new, matcher)
    waiting_old: dict[bytes, dict] = {}
    waiting_new: dict[bytes, dict] = {}
    while True:
        old_item, new_item = a.current, b.current
        if old_item is not None and (new_item is None or a.key <= b.key):
            item, side, mine, theirs, is_old = old_item, a, waiting_old, waiting_new, True
        elif new_item is not None:
            item, side, mine, theirs, is_old = new_item, b, waiting_new, waiting_old, False
        else:
            break
        side.advance()
        partner = theirs.pop(item["path"], None)
        if partner is None:
            mine[item["path"]] = item
            continue
        pair = (item, partner) if is_old else (partner, item)
        changes = compare.changes(*pair)
        if changes:
            yield ItemDiff(item["path"], changes)
    # One side only: in walk order, removed and added interleaved.
    removed = ((walk_key(p), 0, i) for p, i in waiting_old.items())
    added = ((walk_key(p), 1, i) for p, i in waiting_new.items())
    for _, is_added, item in heapq.merge(removed, added, key=lambda t: (t[0], t[1])):
        yield ItemDiff(item["path"], [_presence(item, "added" if is_added else "removed")])


def _presence(item: dict, verb: str) -> dict:
    mode = item["mode"]
    if stat.S_ISDIR(mode):
        return {"type": f"{verb} directory"}
    if stat.S_ISLNK(mode):
        return {"type": f"{verb} link"}
    return {"type": verb, "size": _size(item)}


def _size(item: dict) -> int:
    if "size" in item:
        return item["size"]
    return sum(size for _, size in item.get("chunks") or ())


class _Comparer:
    def __init__(self, reader: ChunkReader, options: DiffOptions, same_chunker: bool):
        self.reader = reader
        self.options = options
        # With other chunker parameters equal content gets other chunk ids:
        # then ids only tell that nothing changed, never that something did.
        self.same_chunker = same_chunker

    def changes(self, old: dict, new: dict) -> list[dict]:
        changes = []
        old_mode, new_mode = old["mode"], new["mode"]
        same_type = stat.S_IFMT(old_mode) == stat.S_IFMT(new_mode)
        if same_type and stat.S_ISREG(new_mode):
            content = self._content(old, new)
            if content is not None:
                changes.append(content)
        elif same_type and stat.S_ISLNK(new_mode):
            if old.get("target") != new.get("target"):
                changes.append({"type": "changed link"})
        elif same_type and (stat.S_ISCHR(new_mode) or stat.S_ISBLK(new_mode)):
            if old.get("rdev") != new.get("rdev"):
                changes.append({"type": "changed device"})
        if not same_type or (not self.options.content_only and old_mode != new_mode):
            changes.append(
                {
                    "type": "mode",
                    "old_mode": stat.filemode(old_mode),
                    "new_mode": stat.filemode(new_mode),
                }
            )
        if self.options.content_only:
            return changes
        old_owner, new_owner = self._owner(old), self._owner(new)
        if old_owner != new_owner:
            changes.append(
                {
                    "type": "owner",
                    "old_user": old_owner[0],
                    "old_group": old_owner[1],
                    "new_user": new_owner[0],
                    "new_group": new_owner[1],
                }
            )
        if old.get("mtime") != new.get("mtime"):
            changes.append({"type": "mtime", "old_mtime": old["mtime"], "new_mtime": new["mtime"]})
        names = _changed_xattrs(old, new)
        if names:
            changes.append({"type": "xattrs", "names": names})
        return changes

    def _owner(self, item: dict) -> tuple:
        uid, gid = item.get("uid"), item.get("gid")
        if self.options.numeric_ids:
            return uid, gid
        return item.get("user") or uid, item.get("group") or gid

    def _content(self, old: dict, new: dict) -> dict | None:
        old_chunks = [(bytes(cid), size) for cid, size in old.get("chunks") or ()]
        new_chunks = [(bytes(cid), size) for cid, size in new.get("chunks") or ()]
        if old_chunks == new_chunks:
            return None
        if not self.same_chunker and _size(old) == _size(new):
            if self._same_bytes(new["path"], old_chunks, new_chunks):
                return None
        old_count, new_count = Counter(old_chunks), Counter(new_chunks)
        added = sum(size * n for (_, size), n in (new_count - old_count).items())
        removed = sum(size * n for (_, size), n in (old_count - new_count).items())
        return {"type": "modified", "added": added, "removed": removed}

    def _same_bytes(self, path: bytes, old_chunks: list, new_chunks: list) -> bool:
        """Compare contents chunked differently, a stretch at a time."""
        old_data = self.reader.iter_get(ObjectKind.CHUNK, (cid for cid, _ in old_chunks))
        new_data = self.reader.iter_get(ObjectKind.CHUNK, (cid for cid, _ in new_chunks))
        old_buf: memoryview | None = memoryview(b"")
        new_buf: memoryview | None = memoryview(b"")
        while True:
            if not old_buf:
                old_buf = _next_data(old_data, path)
            if not new_buf:
                new_buf = _next_data(new_data, path)
            if old_buf is None or new_buf is None:
                return old_buf is None and new_buf is None
            n = min(len(old_buf), len(new_buf))
            if old_buf[:n] != new_buf[:n]:
                return False
            old_buf, new_buf = old_buf[n:], new_buf[n:]


def _next_data(chunks: Iterator, path: bytes) -> memoryview | None:
    for data in chunks:
        if isinstance(data, HutchError):
            raise IntegrityError(f"{os.fsdecode(path)}: cannot compare contents: {data}")
        if data:
            return memoryview(data)
    return None


def _changed_xattrs(old: dict, new: dict) -> list[str]:
    def all_xattrs(item: dict) -> dict:
        xattrs = dict(item.get("xattrs") or {})
        for key, name in (("acl_access", ACL_ACCESS), ("acl_default", ACL_DEFAULT)):
            if key in item:
                xattrs[name] = item[key]
        return xattrs

    a, b = all_xattrs(old), all_xattrs(new)
    return sorted(os.fsdecode(n) for n in a.keys() | b.keys() if a.get(n) != b.get(n))
