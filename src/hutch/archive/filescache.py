"""The files cache: what a file looked like when it was last backed up and
which chunks hold it, so an unchanged file is not read again.

One cache per repository and archive series, a msgpack file in the
repository's cache folder (never fatal: see repo/cache.py). A new series
starts from the most recently written cache of the repository, so a backup
under a new archive name does not read everything.
Keys are keyed hashes of paths (the cache holds no names in clear).
An entry not seen for MAX_AGE backups is dropped.
"""

import os

import blake3
import msgpack

from ..errors import UsageError
from ..repo.cache import CacheDir

MAX_AGE = 20
PREFIX = "files-"
_VERSION = 2
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


class FilesCache:
    """The files cache `name` in the repository's cache folder."""

    def __init__(self, cache: CacheDir, name: str, mode: str, key):
        self.cache = cache
        self.name = name
        self.mode = check_mode(mode)
        self.key = key
        self.enabled = self.mode != "disabled" and cache.folder is not None
        self._use_ctime = "ctime" in self.mode
        self._use_inode = "inode" in self.mode
        self._entries: dict[bytes, list] = {}
        if self.enabled:
            self._load()

    def _load(self) -> None:
        data = self.cache.read(self.name)
        if data is None:
            newest = self.cache.newest(PREFIX)
            data = self.cache.read(newest) if newest else None
        if data is None:
            return
        try:
            body, digest = data[:-32], data[-32:]
            # A damaged cache could name the wrong chunks for a file: check it whole.
            if blake3.blake3(body).digest() != digest:
                raise ValueError("checksum mismatch")
            d = msgpack.unpackb(body)
            if d.get("v") == _VERSION:
                self._entries = d["entries"]
        except (ValueError, TypeError, KeyError, AttributeError, msgpack.UnpackException):
            self._entries = {}  # damaged: start over, costs one full read

    def _key(self, path: bytes) -> bytes:
        return self.key.opaque_id(b"files cache path", path)[:16]

    def _unchanged(self, known: list, st: os.stat_result) -> bool:
        """Compare what the mode asks for. Entries keep every field, so a
        backup under another mode still finds its unchanged files."""
        ctime, mtime, size, inode = known
        if size != st.st_size or (self._use_inode and inode != st.st_ino):
            return False
        return ctime == st.st_ctime_ns if self._use_ctime else mtime == st.st_mtime_ns

    def lookup(self, path: bytes, st: os.stat_result) -> list | None:
        """The chunk list of an unchanged file, or None."""
        if not self.enabled:
            return None
        entry = self._entries.get(self._key(path))
        if entry is None or not self._unchanged(entry[0], st):
            return None
        entry[1] = 0  # seen: age back to zero
        return entry[2]

    def knows(self, path: bytes) -> bool:
        """Whether an earlier backup of the series saw `path` (so a file that
        `lookup` rejects was modified, not added)."""
        return self.enabled and self._key(path) in self._entries

    def remember(self, path: bytes, st: os.stat_result, chunks: list, start_ns: int) -> None:
        if not self.enabled:
            return
        # A file changed within the timestamp granularity around the start of
        # the backup could change again without a new timestamp: don't trust it.
        if max(st.st_mtime_ns, st.st_ctime_ns) >= start_ns - 1_000_000_000:
            return
        signature = [st.st_ctime_ns, st.st_mtime_ns, st.st_size, st.st_ino]
        self._entries[self._key(path)] = [signature, 0, chunks]

    def save(self) -> None:
        if not self.enabled:
            return
        kept = {}
        for k, entry in self._entries.items():
            entry[1] += 1
            if entry[1] <= MAX_AGE:
                kept[k] = entry
        body = msgpack.packb({"v": _VERSION, "entries": kept})
        self.cache.write(self.name, body + blake3.blake3(body).digest())


def cache_name(series_id: bytes) -> str:
    """The name of a series' files cache in the cache folder."""
    return f"{PREFIX}{series_id.hex()[:32]}"
